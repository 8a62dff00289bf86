//! Per-device setup instructions: configuration snippets that make a
//! firewall or resolver use a device's lookups.
//!
//! A device resolves names; it never receives a push. Each lookup `L` is
//! published as chunk names `0.L.<zone>` .. `(capacity-1).L.<zone>`, each
//! with at most [`MAX_A_PER_NAME`] A and [`MAX_AAAA_PER_NAME`] AAAA records
//! (a chunk past the data answers NODATA), plus a TXT record at `L.<zone>`
//! (`"chunks=N" "entries=M" "v4=…" "v6=…" …`). A full chunk is about 64 KB,
//! so it only travels over TCP (UDP answers are truncated, TC=1), and only
//! the device's registered source address gets answers (others: REFUSED).
//!
//! What a device needs depends on its kind:
//! - resolvers (BIND, Unbound, dnsmasq, Windows DNS) forward the zone to
//!   feedwall; the firewall behind them then resolves the names;
//! - firewalls with FQDN objects (pfSense, OPNsense, MikroTik, Cisco ASA,
//!   PAN-OS, FortiGate) get one object per chunk name and a group per lookup;
//! - Linux hosts (iptables + ipset, nftables) get a script that resolves
//!   every chunk over TCP and swaps whole sets in one step, keeping the
//!   loaded sets when anything fails.
//!
//! Invariant: nothing from user input reaches a snippet unfiltered. Device
//! names and lookup titles may hold anything; they become identifiers
//! (`[A-Za-z0-9_-]`, see [`ident`]) or one-line comment text (see
//! [`comment`]). The zone and list names are reduced to DNS name characters
//! (see [`dns_name`]) before they are written anywhere.
//!
//! `tests/it/setup_snippets.rs` runs the snippets in real software: BIND,
//! Unbound and dnsmasq forwarding to a responder (and BIND without the
//! record limit, to show why it is there), the nftables and ipset scripts
//! in a network namespace, every config through its tool's syntax check.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::snapshot::writer::{DEFAULT_TTL, MAX_AAAA_PER_NAME, MAX_A_PER_NAME};

/// Firewall / resolver types a device can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    Bind,
    Unbound,
    Dnsmasq,
    WindowsDns,
    Pfsense,
    Opnsense,
    IptablesIpset,
    Nftables,
    Mikrotik,
    CiscoAsa,
    PaloAlto,
    Fortigate,
    Other,
}

impl DeviceKind {
    /// Every kind, in the order the setup page lists them.
    pub const ALL: [DeviceKind; 13] = [
        DeviceKind::Bind,
        DeviceKind::Unbound,
        DeviceKind::Dnsmasq,
        DeviceKind::WindowsDns,
        DeviceKind::Pfsense,
        DeviceKind::Opnsense,
        DeviceKind::IptablesIpset,
        DeviceKind::Nftables,
        DeviceKind::Mikrotik,
        DeviceKind::CiscoAsa,
        DeviceKind::PaloAlto,
        DeviceKind::Fortigate,
        DeviceKind::Other,
    ];

    /// The kebab-case id (the serde form), e.g. `"iptables-ipset"`.
    pub fn id(self) -> &'static str {
        match self {
            DeviceKind::Bind => "bind",
            DeviceKind::Unbound => "unbound",
            DeviceKind::Dnsmasq => "dnsmasq",
            DeviceKind::WindowsDns => "windows-dns",
            DeviceKind::Pfsense => "pfsense",
            DeviceKind::Opnsense => "opnsense",
            DeviceKind::IptablesIpset => "iptables-ipset",
            DeviceKind::Nftables => "nftables",
            DeviceKind::Mikrotik => "mikrotik",
            DeviceKind::CiscoAsa => "cisco-asa",
            DeviceKind::PaloAlto => "palo-alto",
            DeviceKind::Fortigate => "fortigate",
            DeviceKind::Other => "other",
        }
    }

    /// A human label for the kind.
    pub fn label(self) -> &'static str {
        match self {
            DeviceKind::Bind => "BIND 9",
            DeviceKind::Unbound => "Unbound",
            DeviceKind::Dnsmasq => "dnsmasq",
            DeviceKind::WindowsDns => "Windows DNS Server",
            DeviceKind::Pfsense => "pfSense",
            DeviceKind::Opnsense => "OPNsense",
            DeviceKind::IptablesIpset => "iptables + ipset",
            DeviceKind::Nftables => "nftables",
            DeviceKind::Mikrotik => "MikroTik RouterOS",
            DeviceKind::CiscoAsa => "Cisco ASA",
            DeviceKind::PaloAlto => "Palo Alto Networks (PAN-OS)",
            DeviceKind::Fortigate => "FortiGate (FortiOS)",
            DeviceKind::Other => "Other (names and dig)",
        }
    }

    /// The kind with this id, if any.
    pub fn from_id(s: &str) -> Option<DeviceKind> {
        DeviceKind::ALL.into_iter().find(|k| k.id() == s)
    }
}

/// One published lookup a device may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupNames {
    /// What the user calls it, e.g. "attackers" or "my custom lookup".
    pub title: String,
    /// Labels below the apex, e.g. "attackers" or "custom.k7m2q9xz.acct".
    pub list: String,
    /// Number of chunk names: `0.<list>.<apex>` .. `(capacity-1).<list>.<apex>`.
    pub capacity: u32,
}

/// What the snippets are written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupContext {
    /// Zone apex, e.g. "feedwall.internal".
    pub zone: String,
    /// Where feedwall's DNS answers (UDP and TCP); the port may be other than 53.
    pub servers: Vec<SocketAddr>,
    /// The lookups this device may use.
    pub lookups: Vec<LookupNames>,
    /// The device's name as the user gave it (may hold anything).
    pub device_name: String,
}

/// One piece of configuration to paste or install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub title: String,
    /// "bind", "unbound", "dnsmasq", "sh", "crontab", "nft", "powershell",
    /// "routeros", "cisco", "panos", "fortios" or "text".
    pub language: &'static str,
    /// Suggested file name (an identifier, never a path from user input).
    pub filename: String,
    pub text: String,
    pub notes: Vec<String>,
}

/// Longest lookup identifier: `fw4-<id>-new` must fit ipset's 31 characters,
/// and pfSense alias names (31) take a prefix too.
const LOOKUP_ID_MAX: usize = 20;
/// Longest device identifier (file names, cron file names).
const DEVICE_ID_MAX: usize = 32;
/// Longest comment text taken from user input.
const COMMENT_MAX: usize = 80;
/// Documentation address (RFC 5737) used when no server address is known.
const PLACEHOLDER_SERVER: &str = "192.0.2.1:53";
/// dnsmasq's largest cache (it silently caps `cache-size` there).
const DNSMASQ_CACHE_MAX: u32 = 10_000;
/// Addresses PAN-OS keeps per FQDN address object.
const PANOS_FQDN_MAX_ADDRS: u32 = 32;
/// Zones Unbound answers locally by default (RFC 6761/6303/8375/9462...): a
/// feedwall zone below one of them needs `local-zone: ... nodefault`.
const UNBOUND_DEFAULT_LOCAL_ZONES: [&str; 8] = [
    "localhost",
    "onion",
    "test",
    "invalid",
    "home.arpa",
    "resolver.arpa",
    "service.arpa",
    "in-addr.arpa",
];

/// The snippets for a device of `kind` using the lookups in `ctx`.
pub fn snippets(kind: DeviceKind, ctx: &SetupContext) -> Vec<Snippet> {
    let p = Prepared::new(ctx);
    let mut v = match kind {
        DeviceKind::Bind => bind(&p),
        DeviceKind::Unbound => unbound(&p),
        DeviceKind::Dnsmasq => dnsmasq(&p),
        DeviceKind::WindowsDns => windows_dns(&p),
        DeviceKind::Pfsense => pfsense(&p),
        DeviceKind::Opnsense => opnsense(&p),
        DeviceKind::IptablesIpset => iptables_ipset(&p),
        DeviceKind::Nftables => nftables(&p),
        DeviceKind::Mikrotik => mikrotik(&p),
        DeviceKind::CiscoAsa => cisco_asa(&p),
        DeviceKind::PaloAlto => palo_alto(&p),
        DeviceKind::Fortigate => fortigate(&p),
        DeviceKind::Other => other(&p),
    };
    let general = p.general_notes();
    if let Some(first) = v.first_mut() {
        first.notes.extend(general);
    }
    v
}

// ---------------------------------------------------------------------------
// Sanitising user input.

/// An identifier made of `[A-Za-z0-9_-]` (no `-` when `hyphen` is false):
/// other characters become `-`/`_`, runs collapse, it starts with a letter,
/// and past `max` characters it is cut and ends in a hash of the whole
/// input, so distinct long inputs stay distinct. Never empty.
pub fn ident(raw: &str, max: usize, hyphen: bool) -> String {
    let sep = if hyphen { '-' } else { '_' };
    let mut s = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || (hyphen && c == '-') {
            c
        } else {
            sep
        };
        if c == sep && s.ends_with(sep) {
            continue;
        }
        s.push(c);
    }
    let s = s.trim_matches(|c| c == '-' || c == '_');
    let mut s = if s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.to_string()
    } else {
        format!("x{sep}{s}")
            .trim_end_matches(['-', '_'])
            .to_string()
    };
    let max = max.max(8);
    if s.len() > max {
        let h = format!("{:06x}", fnv1a(raw.as_bytes()) & 0xff_ffff);
        s.truncate(max - h.len() - 1);
        let t = s.trim_end_matches(['-', '_']).len();
        s.truncate(t);
        s.push(sep);
        s.push_str(&h);
    }
    s
}

/// One line of comment text: ASCII letters, digits and `_.,:@()+/#-`, any
/// white space (line breaks too) as one space; everything else (quotes, `$`,
/// `\`, `*`, non-ASCII) becomes `_`.
/// Safe inside `#`, `//`, `!` comments and inside double-quoted strings.
pub fn comment(raw: &str) -> String {
    let mut s = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || "_.,:@()+/#-".contains(c) {
            c
        } else if c.is_whitespace() {
            ' '
        } else {
            '_'
        };
        if c == ' ' && (s.is_empty() || s.ends_with(' ')) {
            continue;
        }
        if s.len() >= COMMENT_MAX {
            break;
        }
        s.push(c);
    }
    s.trim_end().to_string()
}

/// A DNS name reduced to `[a-z0-9_-]` labels joined by dots (no empty
/// labels, no label starting or ending with `-`, so no name reads as a
/// command-line option; no trailing dot). Never empty.
pub fn dns_name(raw: &str) -> String {
    let labels: Vec<String> = raw
        .split('.')
        .map(|l| {
            l.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
                .trim_matches('-')
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .collect();
    if labels.is_empty() {
        "invalid".to_string()
    } else {
        labels.join(".")
    }
}

fn fnv1a(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &x| {
        (h ^ x as u32).wrapping_mul(0x0100_0193)
    })
}

// ---------------------------------------------------------------------------
// The context, sanitised once.

struct Lookup {
    /// Unique among the device's lookups, `[A-Za-z0-9-]`, at most LOOKUP_ID_MAX.
    id: String,
    /// Comment-safe title.
    title: String,
    /// DNS-safe labels below the apex.
    list: String,
    capacity: u32,
}

impl Lookup {
    /// The id with `_` for `-` (pfSense, nft).
    fn id_us(&self) -> String {
        self.id.replace('-', "_")
    }

    fn chunk(&self, i: u32, zone: &str) -> String {
        format!("{i}.{}.{zone}", self.list)
    }
}

struct Prepared {
    zone: String,
    servers: Vec<SocketAddr>,
    servers_known: bool,
    dev_id: String,
    dev: String,
    lookups: Vec<Lookup>,
}

impl Prepared {
    fn new(ctx: &SetupContext) -> Prepared {
        let mut used = HashSet::new();
        let lookups = ctx
            .lookups
            .iter()
            .map(|l| {
                let list = dns_name(&l.list);
                let base = ident(&list, LOOKUP_ID_MAX, true);
                let mut id = base.clone();
                let mut n = 2;
                // Unique also once '-' becomes '_' (nft, pfSense) and case
                // is ignored.
                while !used.insert(id.to_ascii_lowercase().replace('_', "-")) {
                    let suffix = format!("-{n}");
                    let mut b = base.clone();
                    b.truncate(LOOKUP_ID_MAX - suffix.len());
                    id = format!("{}{suffix}", b.trim_end_matches(['-', '_']));
                    n += 1;
                }
                Lookup {
                    id,
                    title: comment(&l.title),
                    list,
                    capacity: l.capacity,
                }
            })
            .collect();
        let mut servers: Vec<SocketAddr> = Vec::new();
        for s in &ctx.servers {
            if !servers.contains(s) {
                servers.push(*s);
            }
        }
        let servers_known = !servers.is_empty();
        if !servers_known {
            servers.push(PLACEHOLDER_SERVER.parse().expect("placeholder address"));
        }
        Prepared {
            zone: dns_name(&ctx.zone),
            servers,
            servers_known,
            dev_id: ident(&ctx.device_name, DEVICE_ID_MAX, true),
            dev: comment(&ctx.device_name),
            lookups,
        }
    }

    /// Every chunk name of every lookup, with its lookup.
    fn chunks(&self) -> impl Iterator<Item = (&Lookup, u32, String)> {
        self.lookups
            .iter()
            .flat_map(move |l| (0..l.capacity).map(move |i| (l, i, l.chunk(i, &self.zone))))
    }

    fn header(&self, what: &str) -> String {
        format!("feedwall, device \"{}\": {what}", self.dev)
    }

    fn non53(&self) -> Vec<SocketAddr> {
        self.servers
            .iter()
            .copied()
            .filter(|s| s.port() != 53)
            .collect()
    }

    /// A note for platforms that can only send queries to port 53
    /// (`checked`: documented so; otherwise as far as we know).
    fn port53_note(&self, platform: &str, checked: bool) -> Option<String> {
        let odd = self.non53();
        if odd.is_empty() {
            return None;
        }
        let hedge = if checked { "" } else { "As far as we know, " };
        Some(format!(
            "{hedge}{platform} sends DNS queries to port 53 only, but feedwall answers this device on {}: \
             have feedwall listen on port 53 for it, or point {platform} at a resolver (BIND, Unbound, \
             dnsmasq) that forwards the zone to that port.",
            list_addrs(&odd)
        ))
    }

    fn general_notes(&self) -> Vec<String> {
        let mut v = vec![format!(
            "feedwall answers only queries from the source address registered for device \"{}\"; \
             every other source gets REFUSED. Make sure this device queries from that address.",
            self.dev
        )];
        if !self.servers_known {
            v.push(format!(
                "No DNS address of feedwall is known yet: replace {} with it.",
                PLACEHOLDER_SERVER
            ));
        }
        if self.servers.iter().any(|s| s.ip().is_unspecified()) {
            v.push(
                "feedwall listens on a wildcard address (0.0.0.0 or ::): replace it with the \
                 address this device reaches feedwall at."
                    .to_string(),
            );
        }
        if self.lookups.is_empty() {
            v.push("This device has no lookups yet: add some, then come back here.".to_string());
        }
        v
    }
}

/// The addresses a device can reach: a wildcard listen address (0.0.0.0 or
/// ::) stands for each of the machine's own addresses of that family
/// (`machine`, loopback excluded), with the same port. Without any, the
/// wildcard stays and the page says to replace it.
pub fn reachable(servers: &[SocketAddr], machine: &[IpAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for s in servers {
        let own: Vec<SocketAddr> = if s.ip().is_unspecified() {
            machine
                .iter()
                .filter(|ip| ip.is_ipv4() == s.is_ipv4() && !ip.is_loopback())
                .map(|ip| SocketAddr::new(*ip, s.port()))
                .collect()
        } else {
            Vec::new()
        };
        let own = if own.is_empty() { vec![*s] } else { own };
        for a in own {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

fn list_addrs(v: &[SocketAddr]) -> String {
    v.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn ip_list(v: &[SocketAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for s in v {
        if !out.contains(&s.ip()) {
            out.push(s.ip());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Resolvers.

fn bind(p: &Prepared) -> Vec<Snippet> {
    let z = &p.zone;
    let mut opts = String::new();
    let _ = writeln!(
        opts,
        "// {}\n\
         // (or of each view that resolves the feedwall zone; not allowed inside the zone\n\
         // statement).\n\
         //\n\
         // BIND 9.16.50, 9.18.28, 9.20.0 and later refuse RRsets of more than 100 records\n\
         // by default, in their zones and in their cache: a forwarded feedwall chunk\n\
         // ({MAX_A_PER_NAME} A records) becomes SERVFAIL (log: \"too many records (must not exceed 100)\").\n\
         // {MAX_A_PER_NAME} is the largest chunk feedwall publishes; 0 removes the limit.\n\
         // Older BIND does not know the option: leave the line out there.\n\
         max-records-per-type {MAX_A_PER_NAME};\n\
         // The feedwall zone is unsigned and not delegated in public DNS: a validating\n\
         // BIND (dnssec-validation auto, the default) may fail to prove its answers\n\
         // insecure and return SERVFAIL (it does when the root is unreachable).\n\
         validate-except {{ \"{z}\"; }};\n\
         // feedwall answers only this device's registered address: if this host has\n\
         // several, pin the one BIND queries from (and query-source-v6 for IPv6):\n\
         // query-source address 192.0.2.10;",
        p.header("statements for the options { } block of named.conf")
    );
    let mut zone = String::new();
    let _ = writeln!(
        zone,
        "// {}\n\
         // UDP answers of a full chunk are truncated; BIND retries over TCP by itself.\n\
         zone \"{z}\" {{\n    type forward;\n    forward only;\n    forwarders {{",
        p.header("forward the feedwall zone to feedwall's DNS.")
    );
    for s in &p.servers {
        let _ = writeln!(zone, "        {} port {};", s.ip(), s.port());
    }
    zone.push_str("    };\n};\n");
    let mut notes = vec![
        format!(
            "Without max-records-per-type >= {MAX_A_PER_NAME} (or 0), BIND 9.18.28 and later return SERVFAIL for \
             every full chunk; the option is valid in options and view, not in a forward zone \
             (named-checkconf rejects it there)."
        ),
        "max-types-per-name (also new in 9.18.28, default 100) needs no change: a feedwall name \
         carries only a few record types (A, AAAA, TXT)."
            .to_string(),
        format!(
            "Then let clients (or the firewall) resolve the chunk names through this BIND, e.g. \
             dig +tcp 0.{}.{z} A.",
            p.lookups.first().map(|l| l.list.as_str()).unwrap_or("attackers")
        ),
    ];
    notes.push("Check with named-checkconf, then rndc reconfig.".to_string());
    vec![
        Snippet {
            title: "named.conf: options (record limit, DNSSEC exemption)".to_string(),
            language: "bind",
            filename: "named.conf.options".to_string(),
            text: opts,
            notes,
        },
        Snippet {
            title: "named.conf: forward zone".to_string(),
            language: "bind",
            filename: format!("feedwall-{}.named.conf", p.dev_id),
            text: zone,
            notes: vec![format!(
                "Save it beside named.conf and add include \"/etc/bind/feedwall-{}.named.conf\"; to named.conf.",
                p.dev_id
            )],
        },
    ]
}

fn zone_below_unbound_default(zone: &str) -> bool {
    UNBOUND_DEFAULT_LOCAL_ZONES
        .iter()
        .any(|d| zone == *d || zone.ends_with(&format!(".{d}")))
        || zone.ends_with("ip6.arpa")
}

fn unbound(p: &Prepared) -> Vec<Snippet> {
    let z = &p.zone;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# {}\n\
         server:\n    \
             # The zone is unsigned and not delegated in public DNS: do not validate it\n    \
             # (a validating Unbound may fail to prove its answers insecure: SERVFAIL).\n    \
             domain-insecure: \"{z}.\"\n    \
             # Lists may hold private addresses (your own deny list): keep them in answers\n    \
             # even where private-address: (DNS rebinding protection) is set.\n    \
             private-domain: \"{z}.\"",
        p.header("forward the feedwall zone to feedwall's DNS.")
    );
    if zone_below_unbound_default(z) {
        let _ = writeln!(
            t,
            "    # The zone is below a name Unbound answers locally by default: turn that off.\n    \
             local-zone: \"{z}.\" nodefault"
        );
    }
    if p.servers.iter().any(|s| s.ip().is_loopback()) {
        let _ = writeln!(
            t,
            "    # feedwall runs on this host: let Unbound send queries to localhost.\n    \
             do-not-query-localhost: no"
        );
    }
    let _ = writeln!(
        t,
        "    # feedwall answers only this device's registered address: if this host has\n    \
             # several, pin the one Unbound queries from:\n    \
             # outgoing-interface: 192.0.2.10\n\n\
         forward-zone:\n    \
             name: \"{z}.\""
    );
    for s in &p.servers {
        let _ = writeln!(t, "    forward-addr: {}@{}", s.ip(), s.port());
    }
    let _ = writeln!(
        t,
        "    # A full chunk (~64 KB) only fits a TCP answer: ask feedwall over TCP at once.\n    \
             forward-tcp-upstream: yes"
    );
    vec![Snippet {
        title: "Unbound: forward zone".to_string(),
        language: "unbound",
        filename: format!("feedwall-{}.conf", p.dev_id),
        text: t,
        notes: vec![
            "Put it in /etc/unbound/unbound.conf.d/ (Debian includes that folder), check with \
             unbound-checkconf, then unbound-control reload."
                .to_string(),
            "Unbound passes the full chunk to its own clients over TCP; over UDP they get a \
             truncated answer and retry over TCP."
                .to_string(),
        ],
    }]
}

fn dnsmasq(p: &Prepared) -> Vec<Snippet> {
    let z = &p.zone;
    let mut t = format!(
        "# {}\n",
        p.header("forward the feedwall zone to feedwall's DNS.")
    );
    for s in &p.servers {
        let _ = writeln!(t, "server=/{z}/{}#{}", s.ip(), s.port());
    }
    let _ = writeln!(
        t,
        "# feedwall answers only this device's registered address; to pin the source\n\
         # address, write the server lines as server=/{z}/ADDRESS#PORT@SOURCE-ADDRESS\n\
         # Lists may hold private addresses (your own deny list): keep them in answers\n\
         # even with stop-dns-rebind.\n\
         rebind-domain-ok=/{z}/\n\
         # Every record takes one cache entry (default 150, at most {DNSMASQ_CACHE_MAX}); a full chunk\n\
         # has {MAX_A_PER_NAME}: with a small cache these answers are not kept and every query is\n\
         # forwarded (it still works).\n\
         cache-size={DNSMASQ_CACHE_MAX}"
    );
    vec![Snippet {
        title: "dnsmasq: forward the zone".to_string(),
        language: "dnsmasq",
        filename: format!("feedwall-{}.conf", p.dev_id),
        text: t,
        notes: vec![
            "Put it in /etc/dnsmasq.d/, check with dnsmasq --test, then restart dnsmasq."
                .to_string(),
            "dnsmasq passes large answers on over TCP: clients get a truncated UDP answer and \
             retry over TCP."
                .to_string(),
            "dnsmasq can also fill ipset/nftables sets with the addresses it resolves (ipset=, \
             nftset=), but only for names some client asks for: use the iptables + ipset or \
             nftables script for complete sets."
                .to_string(),
        ],
    }]
}

fn windows_dns(p: &Prepared) -> Vec<Snippet> {
    let z = &p.zone;
    let ips = ip_list(&p.servers)
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let first = p
        .chunks()
        .next()
        .map(|(_, _, n)| n)
        .unwrap_or_else(|| format!("0.attackers.{z}"));
    let t = format!(
        "# {}\n\
         # Run on the Windows DNS server in an elevated PowerShell.\n\
         Add-DnsServerConditionalForwarderZone -Name \"{z}\" -MasterServers {ips} -ForwarderTimeout 5 -PassThru\n\
         # Check: a full chunk comes back over TCP (expect up to {MAX_A_PER_NAME} records).\n\
         (Resolve-DnsName -Name \"{first}\" -Type A -Server 127.0.0.1 -TcpOnly -DnsOnly | Where-Object Type -eq A).Count\n",
        p.header("forward the feedwall zone to feedwall's DNS.")
    );
    let mut notes = vec![
        "Windows DNS Server forwards from its own address: register that address for this device."
            .to_string(),
    ];
    notes.extend(p.port53_note("Windows DNS Server", true));
    vec![Snippet {
        title: "Windows DNS Server: conditional forwarder".to_string(),
        language: "powershell",
        filename: format!("feedwall-{}.ps1", p.dev_id),
        text: t,
        notes,
    }]
}

// ---------------------------------------------------------------------------
// Firewalls with FQDN objects.

/// The host-alias snippets shared by pfSense and OPNsense: one alias per
/// lookup, its content the chunk names, one a line (both import that form).
fn host_aliases(p: &Prepared, how: &str) -> Vec<Snippet> {
    p.lookups
        .iter()
        .map(|l| {
            let name = ident(&format!("feedwall_{}", l.id_us()), 31, false);
            let mut t = String::new();
            for i in 0..l.capacity {
                let _ = writeln!(t, "{}", l.chunk(i, &p.zone));
            }
            Snippet {
                title: format!("Alias {name} (lookup {})", l.title),
                language: "text",
                filename: format!("{name}.txt"),
                text: t,
                notes: vec![format!(
                    "{how} Name: {name}; Type: Host(s); Description: feedwall {} for {}. \
                     Use {name} as source (inbound) or destination (outbound) in a block rule.",
                    l.title, p.dev
                )],
            }
        })
        .collect()
}

fn table_entries_note(p: &Prepared) -> String {
    let total: u64 = p
        .lookups
        .iter()
        .map(|l| l.capacity as u64 * (MAX_A_PER_NAME + MAX_AAAA_PER_NAME) as u64)
        .sum();
    format!(
        "Each chunk name holds up to {MAX_A_PER_NAME} IPv4 and {MAX_AAAA_PER_NAME} IPv6 addresses: \
         with these aliases pf tables may need up to {total} entries; raise Firewall Maximum Table \
         Entries (System > Advanced > Firewall & NAT / Firewall > Settings > Advanced) if needed."
    )
}

fn override_text(p: &Prepared, port_hint: &str) -> String {
    let mut t = format!("{}\n", p.header("resolver forwarding"));
    for s in &p.servers {
        let _ = writeln!(
            t,
            "Domain: {}   Server: {}   Port: {}{port_hint}",
            p.zone,
            s.ip(),
            s.port()
        );
    }
    let _ = writeln!(
        t,
        "Custom options (only when DNSSEC validation is on; the zone is unsigned):\n\
         server:\n  domain-insecure: \"{z}.\"\n  private-domain: \"{z}.\"",
        z = p.zone
    );
    t
}

fn pfsense(p: &Prepared) -> Vec<Snippet> {
    let mut v = vec![Snippet {
        title: "DNS Resolver: domain override".to_string(),
        language: "text",
        filename: format!("feedwall-{}-resolver.txt", p.dev_id),
        text: override_text(p, " (enter it as ADDRESS@PORT when the port is not 53)"),
        notes: vec![
            "Services > DNS Resolver > General Settings > Domain Overrides > Add, one entry per \
             server. The firewall resolves alias names through this resolver."
                .to_string(),
            "Set Outgoing Network Interfaces so the queries leave from the address registered \
             for this device."
                .to_string(),
            "Put the custom options into Custom options on the same page when DNSSEC is enabled."
                .to_string(),
        ],
    }];
    let mut aliases = host_aliases(
        p,
        "Firewall > Aliases > IP > Add (or Import, pasting the names):",
    );
    if let Some(a) = aliases.first_mut() {
        a.notes.push(
            "pfSense's filterdns re-resolves alias names every Aliases Hostnames Resolve \
             Interval (System > Advanced > Firewall & NAT; default 300 s, the records' TTL)."
                .to_string(),
        );
        a.notes.push(table_entries_note(p));
    }
    v.extend(aliases);
    v
}

fn opnsense(p: &Prepared) -> Vec<Snippet> {
    let mut v = vec![Snippet {
        title: "Unbound DNS: query forwarding".to_string(),
        language: "text",
        filename: format!("feedwall-{}-resolver.txt", p.dev_id),
        text: override_text(p, ""),
        notes: vec![
            "Services > Unbound DNS > Query Forwarding > Add (domain, server IP, server port), \
             one entry per server. The firewall resolves alias names through Unbound."
                .to_string(),
            "Set Outgoing Network Interfaces (Services > Unbound DNS > Advanced) so the queries \
             leave from the address registered for this device."
                .to_string(),
        ],
    }];
    let mut aliases = host_aliases(p, "Firewall > Aliases > Add:");
    if let Some(a) = aliases.first_mut() {
        a.notes.push(
            "OPNsense re-resolves host names in aliases periodically (Firewall > Settings > \
             Advanced: Aliases Resolve Interval)."
                .to_string(),
        );
        a.notes.push(table_entries_note(p));
    }
    v.extend(aliases);
    v
}

fn mikrotik(p: &Prepared) -> Vec<Snippet> {
    let z = &p.zone;
    let mut t = format!(
        "# {}\n# Forward the feedwall zone (and its subdomains) to feedwall.\n",
        p.header("address lists from the feedwall names (RouterOS 7).")
    );
    for ip in ip_list(&p.servers) {
        let _ = writeln!(
            t,
            "/ip dns static add name={z} type=FWD forward-to={ip} match-subdomain=yes comment=\"feedwall\""
        );
    }
    t.push_str("# RouterOS resolves FQDN entries and keeps their addresses as dynamic entries.\n");
    for l in &p.lookups {
        let list = format!("feedwall-{}", l.id);
        for i in 0..l.capacity {
            let n = l.chunk(i, z);
            let _ = writeln!(
                t,
                "/ip firewall address-list add list={list} address={n} comment=\"feedwall {}\"",
                l.title
            );
            let _ = writeln!(
                t,
                "/ipv6 firewall address-list add list={list} address={n} comment=\"feedwall {}\"",
                l.title
            );
        }
    }
    t.push_str(
        "# Drop traffic from (and to) listed addresses; adjust the chains, and move the\n\
         # rules above your accept rules.\n",
    );
    for l in &p.lookups {
        let list = format!("feedwall-{}", l.id);
        for fw in ["ip", "ipv6"] {
            let _ = writeln!(
                t,
                "/{fw} firewall filter add chain=input src-address-list={list} action=drop comment=\"feedwall {}\"",
                l.title
            );
            let _ = writeln!(
                t,
                "/{fw} firewall filter add chain=forward src-address-list={list} action=drop comment=\"feedwall {}\"",
                l.title
            );
            let _ = writeln!(
                t,
                "/{fw} firewall filter add chain=forward dst-address-list={list} action=drop comment=\"feedwall {}\"",
                l.title
            );
        }
    }
    let mut notes = vec![
        "Static entries of type FWD need RouterOS 7 (a recent 7.x); on older versions point \
         /ip dns servers at a resolver that forwards the zone to feedwall."
            .to_string(),
        "RouterOS queries from the address of the interface towards feedwall: register that \
         address for this device."
            .to_string(),
        format!(
            "A full chunk is {MAX_A_PER_NAME} records (~64 KB) and needs a TCP answer; check the \
             count with /ip firewall address-list print count-only where list=feedwall-... and \
             raise /ip dns cache-size if entries are missing."
        ),
    ];
    notes.extend(p.port53_note("RouterOS", false));
    vec![Snippet {
        title: "RouterOS: DNS forwarding, address lists, filter rules".to_string(),
        language: "routeros",
        filename: format!("feedwall-{}.rsc", p.dev_id),
        text: t,
        notes,
    }]
}

fn cisco_asa(p: &Prepared) -> Vec<Snippet> {
    let mut t = format!(
        "! {}\n\
         ! The ASA resolves FQDN objects through its DNS server group. feedwall answers\n\
         ! only its own zone (REFUSED for every other name): name feedwall here only if\n\
         ! the ASA resolves nothing else, otherwise a resolver that forwards the zone to\n\
         ! feedwall. Adjust the interface name.\n\
         dns domain-lookup inside\n\
         dns server-group DefaultDNS\n",
        p.header("FQDN objects, groups and an ACL.")
    );
    for ip in ip_list(&p.servers) {
        let _ = writeln!(t, " name-server {ip}");
    }
    for l in &p.lookups {
        for i in 0..l.capacity {
            let n = l.chunk(i, &p.zone);
            let _ = writeln!(
                t,
                "object network feedwall-{id}-{i}-v4\n fqdn v4 {n}\n\
                 object network feedwall-{id}-{i}-v6\n fqdn v6 {n}",
                id = l.id
            );
        }
        let _ = writeln!(t, "object-group network feedwall-{}", l.id);
        let _ = writeln!(t, " description feedwall {}", l.title);
        for i in 0..l.capacity {
            let _ = writeln!(
                t,
                " network-object object feedwall-{id}-{i}-v4\n network-object object feedwall-{id}-{i}-v6",
                id = l.id
            );
        }
    }
    t.push_str("! Block listed sources; apply the ACL to your outside interface (adjust).\n");
    for l in &p.lookups {
        let _ = writeln!(
            t,
            "access-list feedwall-block remark feedwall {}\n\
             access-list feedwall-block extended deny ip object-group feedwall-{} any",
            l.title, l.id
        );
    }
    t.push_str(
        "access-list feedwall-block extended permit ip any any\n\
         ! access-group feedwall-block in interface outside\n",
    );
    let mut notes = vec![
        "The ASA keeps only a limited number of addresses per FQDN object (see your version's \
         limits): a chunk name carries up to 4000, far beyond that. FQDN objects suit small \
         lists; for large ones load addresses from a script (see Other) or a threat-intelligence \
         feed."
            .to_string(),
        "The ASA queries from its interface address: register that address for this device."
            .to_string(),
    ];
    notes.extend(p.port53_note("Cisco ASA", false));
    vec![Snippet {
        title: "Cisco ASA: FQDN objects, object groups, ACL".to_string(),
        language: "cisco",
        filename: format!("feedwall-{}-asa.txt", p.dev_id),
        text: t,
        notes,
    }]
}

fn palo_alto(p: &Prepared) -> Vec<Snippet> {
    let mut t = format!(
        "# {}\n\
         # (configure mode; then commit). The firewall resolves FQDN objects with its\n\
         # DNS servers. feedwall answers only its own zone (REFUSED for every other\n\
         # name): name feedwall there only if the firewall resolves nothing else,\n\
         # otherwise a resolver (or a DNS proxy rule) that forwards the zone to it:\n",
        p.header("FQDN address objects, groups, a security rule")
    );
    for (ip, which) in ip_list(&p.servers).iter().zip(["primary", "secondary"]) {
        let _ = writeln!(
            t,
            "# set deviceconfig system dns-setting servers {which} {ip}"
        );
    }
    for l in &p.lookups {
        let mut members = Vec::new();
        for i in 0..l.capacity {
            let name = format!("feedwall-{}-{i}", l.id);
            let _ = writeln!(
                t,
                "set address {name} fqdn {}\nset address {name} description \"feedwall {}\"",
                l.chunk(i, &p.zone),
                l.title
            );
            members.push(name);
        }
        if !members.is_empty() {
            let _ = writeln!(
                t,
                "set address-group feedwall-{} static [ {} ]",
                l.id,
                members.join(" ")
            );
            let _ = writeln!(
                t,
                "set rulebase security rules feedwall-{id} from any to any source feedwall-{id} \
                 destination any application any service any action deny",
                id = l.id
            );
        }
    }
    let mut notes = vec![
        format!(
            "PAN-OS keeps at most {PANOS_FQDN_MAX_ADDRS} addresses per FQDN object, while a chunk name carries up to \
             {MAX_A_PER_NAME}: FQDN objects only suit small lists. For large lists use an External Dynamic \
             List of type IP List fetched from a URL (feedwall's plain-text HTTP lists, where offered)."
        ),
        "Move the rule above your allow rules (move rulebase security rules ... top).".to_string(),
    ];
    notes.extend(p.port53_note("PAN-OS", false));
    vec![Snippet {
        title: "PAN-OS: FQDN address objects and groups".to_string(),
        language: "panos",
        filename: format!("feedwall-{}-panos.txt", p.dev_id),
        text: t,
        notes,
    }]
}

fn fortigate(p: &Prepared) -> Vec<Snippet> {
    let mut t = format!(
        "# {}\n\
         # FortiOS resolves FQDN addresses with its system DNS. feedwall answers only\n\
         # its own zone (REFUSED for every other name): name feedwall there only if the\n\
         # FortiGate resolves nothing else, otherwise a resolver that forwards the zone:\n\
         # config system dns\n",
        p.header("FQDN addresses and groups.")
    );
    for (ip, which) in ip_list(&p.servers).iter().zip(["primary", "secondary"]) {
        let _ = writeln!(t, "#     set {which} {ip}");
    }
    t.push_str("# end\n");
    for (cmd, grp) in [
        ("firewall address", "firewall addrgrp"),
        ("firewall address6", "firewall addrgrp6"),
    ] {
        let v6 = cmd.ends_with('6');
        let _ = writeln!(t, "config {cmd}");
        for (l, i, n) in p.chunks() {
            let _ = writeln!(
                t,
                "    edit \"feedwall-{}-{i}{}\"\n        set type fqdn\n        set fqdn \"{n}\"\n        \
                 set comment \"feedwall {}\"\n    next",
                l.id,
                if v6 { "-v6" } else { "" },
                l.title
            );
        }
        let _ = writeln!(t, "end\nconfig {grp}");
        for l in p.lookups.iter().filter(|l| l.capacity > 0) {
            let members: Vec<String> = (0..l.capacity)
                .map(|i| format!("\"feedwall-{}-{i}{}\"", l.id, if v6 { "-v6" } else { "" }))
                .collect();
            let _ = writeln!(
                t,
                "    edit \"feedwall-{}{}\"\n        set member {}\n    next",
                l.id,
                if v6 { "-v6" } else { "" },
                members.join(" ")
            );
        }
        t.push_str("end\n");
    }
    let mut notes = vec![
        "Use the groups as source in a deny policy above your allow policies.".to_string(),
        "FortiOS caches a limited number of addresses per FQDN address: for large lists an \
         External Connector (Threat Feed, IP address) fetched from a URL fits better \
         (feedwall's plain-text HTTP lists, where offered)."
            .to_string(),
    ];
    notes.extend(p.port53_note("FortiOS", false));
    vec![Snippet {
        title: "FortiGate: FQDN addresses and address groups".to_string(),
        language: "fortios",
        filename: format!("feedwall-{}-fortios.txt", p.dev_id),
        text: t,
        notes,
    }]
}

// ---------------------------------------------------------------------------
// Linux hosts: scripts that resolve every chunk and swap whole sets.

/// The part shared by the ipset and nftables scripts: settings, `resolve`
/// and `fetch_list`. `id` picks the identifier form for the LOOKUPS table.
fn script_prelude(p: &Prepared, what: &str, needs: &str, id: impl Fn(&Lookup) -> String) -> String {
    let mut t = format!(
        "#!/usr/bin/env bash\n\
         # {}\n\
         # Generated by feedwall. Resolves every chunk name of every lookup straight from\n\
         # feedwall over TCP (a full chunk is ~64 KB, too big for UDP) and replaces the\n\
         # sets in one step. If anything fails (feedwall unreachable, REFUSED because\n\
         # this host queries from an address not registered for the device, counts not\n\
         # matching the list's TXT record), the loaded sets are kept as they are and the\n\
         # script exits non-zero.\n\
         # Needs bash, dig (Debian: bind9-dnsutils), {needs}.\n\
         set -uo pipefail\n\n\
         # feedwall's DNS servers (\"address port\"), tried in order. To pick the source\n\
         # address of the queries, add -b ADDRESS to DIG_OPTS.\n\
         SERVERS=(\n",
        p.header(what)
    );
    for s in &p.servers {
        let _ = writeln!(t, "    \"{} {}\"", s.ip(), s.port());
    }
    let _ = writeln!(
        t,
        ")\n\
         ZONE=\"{}\"\n\
         DIG_OPTS=(+tcp +time=5 +tries=2)\n\
         # Lookups: \"id list capacity\"; chunk names 0..capacity-1 (more when the list's\n\
         # TXT record announces more chunks).\n\
         LOOKUPS=(",
        p.zone
    );
    for l in &p.lookups {
        let _ = writeln!(
            t,
            "    \"{} {} {}\" # {}",
            id(l),
            l.list,
            l.capacity,
            l.title
        );
    }
    t.push_str(
        r#")

# resolve NAME TYPE: the records of one RRset, one a line. Fails unless a server
# answered NOERROR (a chunk past the list's data is NOERROR with no records).
resolve() {
    local name=$1 type=$2 s server port out
    for s in "${SERVERS[@]}"; do
        read -r server port <<<"$s"
        if ! out=$(dig "${DIG_OPTS[@]}" +noall +comments +answer @"$server" -p "$port" "$name" "$type" 2>&1); then
            echo "feedwall: $name $type: $server port $port unreachable" >&2
            continue
        fi
        if grep -q 'status: NOERROR' <<<"$out"; then
            awk -v t="$type" '!/^;/ && $4 == t { for (i = 5; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : "\n") }' <<<"$out"
            return 0
        fi
        echo "feedwall: $name $type from $server port $port: $(grep -o 'status: [A-Z]*' <<<"$out" || echo 'no answer')" >&2
    done
    return 1
}

# fetch_list LIST CAPACITY DIR: writes DIR/v4 and DIR/v6, one address a line.
# Fails unless every chunk answered (1) and the counts match the list's TXT
# record (2).
fetch_list() {
    local list=$1 cap=$2 dir=$3 txt chunks v4 v6 i n4 n6
    txt=$(resolve "$list.$ZONE" TXT) || return 1
    chunks=$(grep -o '"chunks=[0-9]*' <<<"$txt" | head -n1 | cut -d= -f2)
    v4=$(grep -o '"v4=[0-9]*' <<<"$txt" | head -n1 | cut -d= -f2)
    v6=$(grep -o '"v6=[0-9]*' <<<"$txt" | head -n1 | cut -d= -f2)
    if [ -z "$chunks" ] || [ -z "$v4" ] || [ -z "$v6" ]; then
        echo "feedwall: $list.$ZONE TXT has no chunks/v4/v6 counts" >&2
        return 1
    fi
    if (( chunks > cap )); then cap=$chunks; fi
    : >"$dir/v4" && : >"$dir/v6" || return 1
    for ((i = 0; i < cap; i++)); do
        resolve "$i.$list.$ZONE" A >>"$dir/v4" || return 1
        resolve "$i.$list.$ZONE" AAAA >>"$dir/v6" || return 1
    done
    n4=$(wc -l <"$dir/v4")
    n6=$(wc -l <"$dir/v6")
    if (( n4 != v4 || n6 != v6 )); then
        echo "feedwall: $list: got $n4 IPv4 / $n6 IPv6 addresses, the list announces $v4 / $v6 (changed while resolving?)" >&2
        return 2
    fi
}

# fetch LIST CAPACITY DIR: fetch_list, tried again when the counts did not
# match (a new snapshot was published mid-way).
fetch() {
    fetch_list "$@"
    case $? in
        0) return 0 ;;
        2) sleep 1; fetch_list "$@" ;;
        *) return 1 ;;
    esac
}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"#,
    );
    t
}

fn lock_lines(p: &Prepared, kind: &str) -> String {
    format!(
        "# One run at a time (cron may start the next before this one ends).\n\
         if command -v flock >/dev/null; then\n    \
             exec 9>\"/run/lock/feedwall-{}-{kind}.lock\" || exit 1\n    \
             flock -n 9 || {{ echo \"feedwall: already running\" >&2; exit 0; }}\n\
         fi\n",
        p.dev_id
    )
}

fn cron(p: &Prepared, script: &str) -> Snippet {
    let mins = (DEFAULT_TTL / 60).max(1);
    Snippet {
        title: "cron: refresh every few minutes and at boot".to_string(),
        language: "crontab",
        filename: format!("feedwall-{}", p.dev_id),
        text: format!(
            "# {}\n\
             # Refresh every {mins} minutes (the records' TTL is {DEFAULT_TTL} s) and at boot.\n\
             SHELL=/bin/bash\n\
             PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
             */{mins} * * * * root /usr/local/sbin/{script} 2>&1 | logger -t feedwall\n\
             @reboot root /usr/local/sbin/{script} 2>&1 | logger -t feedwall\n",
            p.header("refresh the block lists.")
        ),
        notes: vec![format!(
            "Save it as /etc/cron.d/feedwall-{} (cron ignores file names with dots) and the \
             script as /usr/local/sbin/{script} (chmod 755).",
            p.dev_id
        )],
    }
}

fn iptables_ipset(p: &Prepared) -> Vec<Snippet> {
    let script_name = format!("feedwall-{}-ipset.sh", p.dev_id);
    let mut t = script_prelude(
        p,
        "block lists as ipsets for iptables/ip6tables.",
        "ipset, iptables",
        |l| l.id.clone(),
    );
    t.push_str(&lock_lines(p, "ipset"));
    t.push_str(
        r#"
# Rules added once per set: "chain direction" (src: from listed addresses,
# dst: to them). Adjust to taste; rules go to the top of each chain.
RULES=("INPUT src" "FORWARD src" "FORWARD dst" "OUTPUT dst")

# load_sets ID DIR: fills fresh sets and swaps them with the live ones (made
# on the first run), so the firewall never sees a half-filled set.
load_sets() {
    local id=$1 dir=$2 fam family set n max
    for fam in 4 6; do
        set="fw$fam-$id"
        family=inet
        [ "$fam" = 6 ] && family=inet6
        n=$(wc -l <"$dir/v$fam")
        max=$(( n * 2 > 65536 ? n * 2 : 65536 ))
        if ! ipset list -n "$set" >/dev/null 2>&1; then
            ipset create "$set" hash:ip family "$family" maxelem "$max" || return 1
        fi
        ipset destroy "$set-new" 2>/dev/null
        if ! { echo "create $set-new hash:ip family $family maxelem $max"
               sed "s/^/add $set-new /" "$dir/v$fam"; } | ipset restore; then
            ipset destroy "$set-new" 2>/dev/null
            return 1
        fi
        ipset swap "$set-new" "$set" || return 1
        ipset destroy "$set-new"
    done
}

# ensure_rules ID: one DROP rule per RULES entry and family, added if missing.
ensure_rules() {
    local id=$1 r chain dir
    for r in "${RULES[@]}"; do
        read -r chain dir <<<"$r"
        iptables -C "$chain" -m set --match-set "fw4-$id" "$dir" -j DROP 2>/dev/null ||
            iptables -I "$chain" -m set --match-set "fw4-$id" "$dir" -j DROP || return 1
        ip6tables -C "$chain" -m set --match-set "fw6-$id" "$dir" -j DROP 2>/dev/null ||
            ip6tables -I "$chain" -m set --match-set "fw6-$id" "$dir" -j DROP || return 1
    done
}

failed=0
for entry in "${LOOKUPS[@]}"; do
    read -r id list cap <<<"$entry"
    mkdir -p "$tmp/$id"
    if fetch "$list" "$cap" "$tmp/$id" && load_sets "$id" "$tmp/$id" && ensure_rules "$id"; then
        echo "feedwall: $list: $(wc -l <"$tmp/$id/v4") IPv4, $(wc -l <"$tmp/$id/v6") IPv6 addresses loaded" >&2
    else
        echo "feedwall: $list: not updated, the loaded sets are kept" >&2
        failed=1
    fi
done
exit $failed
"#,
    );
    vec![
        Snippet {
            title: "iptables + ipset: update script".to_string(),
            language: "sh",
            filename: script_name.clone(),
            text: t,
            notes: vec![
                "Sets are named fw4-ID (IPv4) and fw6-ID (IPv6); the script adds DROP rules that \
                 reference them once and only swaps set contents after that."
                    .to_string(),
                "Addresses of prefixes wider than /24 (IPv4) and /120 (IPv6) are not published as \
                 records; the list's TXT record counts them as wide=."
                    .to_string(),
            ],
        },
        cron(p, &script_name),
    ]
}

fn nftables(p: &Prepared) -> Vec<Snippet> {
    let script_name = format!("feedwall-{}-nft.sh", p.dev_id);
    let mut t = script_prelude(
        p,
        "block lists as nftables sets (table inet feedwall).",
        "nft",
        |l| l.id_us(),
    );
    t.push_str(
        r#"
# --check: build the ruleset and check it with nft -c (changes nothing)
# --print: print the ruleset (changes nothing)
MODE=load
case "${1:-}" in
    --check) MODE=check ;;
    --print) MODE=print ;;
    "") ;;
    *) echo "usage: $0 [--check|--print]" >&2; exit 2 ;;
esac
"#,
    );
    t.push_str(&lock_lines(p, "nft"));
    t.push_str(
        r#"
TABLE=feedwall
# Priority of the three base chains: before the usual filter chains.
PRIO="filter - 10"
ruleset="$tmp/feedwall.nft"
failed=0
{
    # Declaring what exists is a no-op; a set not refreshed below keeps its
    # elements. The chains' rules are rewritten on every run.
    echo "table inet $TABLE {"
    for entry in "${LOOKUPS[@]}"; do
        read -r id list cap <<<"$entry"
        echo "    set ${id}_v4 { type ipv4_addr; }"
        echo "    set ${id}_v6 { type ipv6_addr; }"
    done
    echo "    chain input { type filter hook input priority $PRIO; policy accept; }"
    echo "    chain forward { type filter hook forward priority $PRIO; policy accept; }"
    echo "    chain output { type filter hook output priority $PRIO; policy accept; }"
    echo "}"
    for chain in input forward output; do
        echo "flush chain inet $TABLE $chain"
    done
    for entry in "${LOOKUPS[@]}"; do
        read -r id list cap <<<"$entry"
        for fam in "ip v4" "ip6 v6"; do
            read -r proto v <<<"$fam"
            echo "add rule inet $TABLE input $proto saddr @${id}_$v counter drop"
            echo "add rule inet $TABLE forward $proto saddr @${id}_$v counter drop"
            echo "add rule inet $TABLE forward $proto daddr @${id}_$v counter drop"
            echo "add rule inet $TABLE output $proto daddr @${id}_$v counter drop"
        done
    done
    for entry in "${LOOKUPS[@]}"; do
        read -r id list cap <<<"$entry"
        mkdir -p "$tmp/$id"
        if ! fetch "$list" "$cap" "$tmp/$id"; then
            echo "feedwall: $list: not updated, the loaded sets are kept" >&2
            failed=1
            continue
        fi
        for v in v4 v6; do
            echo "flush set inet $TABLE ${id}_$v"
            awk -v s="${id}_$v" -v t="$TABLE" '
                NR % 1000 == 1 { if (NR > 1) print " }"; printf "add element inet %s %s { %s", t, s, $0; next }
                { printf ", %s", $0 }
                END { if (NR > 0) print " }" }' "$tmp/$id/$v"
        done
    done
} >"$ruleset"
[ "$failed" = 0 ] || echo "feedwall: some lists failed; the others are loaded" >&2

case "$MODE" in
    print) cat "$ruleset" ;;
    check) nft -c -f "$ruleset" || failed=1 ;;
    load) nft -f "$ruleset" || { echo "feedwall: nft refused the ruleset; nothing changed" >&2; failed=1; } ;;
esac
exit $failed
"#,
    );
    vec![
        Snippet {
            title: "nftables: update script".to_string(),
            language: "sh",
            filename: script_name.clone(),
            text: t,
            notes: vec![
                "The script writes one nft file and loads it with nft -f: one transaction, so the \
                 firewall never sees half-filled sets. Run it with --check first."
                    .to_string(),
                "Sets are ID_v4 and ID_v6 in table inet feedwall; remove everything with \
                 nft delete table inet feedwall."
                    .to_string(),
                "Addresses of prefixes wider than /24 (IPv4) and /120 (IPv6) are not published as \
                 records; the list's TXT record counts them as wide=."
                    .to_string(),
            ],
        },
        cron(p, &script_name),
    ]
}

// ---------------------------------------------------------------------------
// Anything else: the names and how to resolve them.

fn other(p: &Prepared) -> Vec<Snippet> {
    let z = &p.zone;
    let mut names = format!(
        "# {}\n\
         # DNS: {} (UDP and TCP). Each list L has a TXT record at L.{z}\n\
         # (\"chunks=N\" \"entries=M\" \"v4=...\" \"v6=...\") and chunk names\n\
         # 0.L.{z} .. (capacity-1).L.{z}, each with up to {MAX_A_PER_NAME} A and {MAX_AAAA_PER_NAME} AAAA\n\
         # records; a chunk past the list's data answers NODATA. Full chunks need TCP.\n",
        p.header("the names to resolve."),
        list_addrs(&p.servers)
    );
    for l in &p.lookups {
        let _ = writeln!(names, "# lookup {} (list {})", l.title, l.list);
        for i in 0..l.capacity {
            let _ = writeln!(names, "{}", l.chunk(i, z));
        }
    }
    let s = p.servers[0];
    let mut sh = format!(
        "#!/bin/sh\n# {}\n",
        p.header("resolve every name with dig, over TCP.")
    );
    for l in &p.lookups {
        let _ = writeln!(
            sh,
            "dig @{ip} -p {port} +short {list}.{z} TXT",
            ip = s.ip(),
            port = s.port(),
            list = l.list
        );
        for i in 0..l.capacity {
            for ty in ["A", "AAAA"] {
                let _ = writeln!(
                    sh,
                    "dig @{} -p {} +tcp +short {} {ty}",
                    s.ip(),
                    s.port(),
                    l.chunk(i, z)
                );
            }
        }
    }
    vec![
        Snippet {
            title: "The names".to_string(),
            language: "text",
            filename: format!("feedwall-{}-names.txt", p.dev_id),
            text: names,
            notes: vec![
                "Use the names wherever your firewall takes host names, or resolve them on a \
                 schedule (every 5 minutes: the records' TTL is 300 s) into address sets."
                    .to_string(),
            ],
        },
        Snippet {
            title: "dig commands".to_string(),
            language: "sh",
            filename: format!("feedwall-{}-dig.sh", p.dev_id),
            text: sh,
            notes: vec![
                "An empty answer from a chunk name is normal (NODATA: the list has fewer chunks); \
                 REFUSED means the query came from an address not registered for this device."
                    .to_string(),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_stands_for_the_machine_s_own() {
        let servers: Vec<SocketAddr> = vec![
            "0.0.0.0:53".parse().unwrap(),
            "[::]:53".parse().unwrap(),
            "192.0.2.7:5353".parse().unwrap(),
        ];
        let machine: Vec<IpAddr> = vec![
            "10.0.2.15".parse().unwrap(),
            "2001:db8::15".parse().unwrap(),
            "192.0.2.7".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
        ];
        let got: Vec<String> = reachable(&servers, &machine)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "10.0.2.15:53",
                "192.0.2.7:53",
                "[2001:db8::15]:53",
                "192.0.2.7:5353"
            ]
        );
        // Nothing known about the machine: the wildcard stays (and the
        // page asks to replace it).
        assert_eq!(reachable(&servers[..1], &[]), servers[..1].to_vec());
    }

    fn ctx(device: &str, servers: &[&str], lookups: &[(&str, &str, u32)]) -> SetupContext {
        SetupContext {
            zone: "feedwall.internal".to_string(),
            servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            lookups: lookups
                .iter()
                .map(|(t, l, c)| LookupNames {
                    title: t.to_string(),
                    list: l.to_string(),
                    capacity: *c,
                })
                .collect(),
            device_name: device.to_string(),
        }
    }

    fn all_text(kind: DeviceKind, c: &SetupContext) -> String {
        snippets(kind, c)
            .iter()
            .map(|s| {
                format!(
                    "{}\n{}\n{}\n{}",
                    s.title,
                    s.filename,
                    s.text,
                    s.notes.join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    const HOSTILE: &str =
        "evil\"; rm -rf / #\n}; zone \"x\" {\r\n$(reboot)`id`\u{2028}ü*/ -- ../../etc";

    #[test]
    fn ids_round_trip_and_match_serde() {
        for k in DeviceKind::ALL {
            assert_eq!(DeviceKind::from_id(k.id()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.id())
            );
            let back: DeviceKind = serde_json::from_str(&format!("\"{}\"", k.id())).unwrap();
            assert_eq!(back, k);
            assert!(!k.label().is_empty());
        }
        assert_eq!(DeviceKind::IptablesIpset.id(), "iptables-ipset");
        assert_eq!(DeviceKind::from_id("nope"), None);
    }

    #[test]
    fn ident_is_safe_bounded_and_distinct() {
        assert_eq!(ident("fw box 1", 32, true), "fw-box-1");
        assert_eq!(
            ident("custom.k7m2q9xz.acct", 20, true),
            "custom-k7m2q9xz-acct"
        );
        assert_eq!(
            ident("custom.k7m2q9xz.acct", 20, false),
            "custom_k7m2q9xz_acct"
        );
        assert_eq!(ident("", 32, true), "x");
        assert_eq!(ident("---", 32, true), "x");
        assert_eq!(ident("9lives", 32, true), "x-9lives");
        let a = ident(&"a".repeat(50), 20, true);
        let b = ident(&format!("{}b", "a".repeat(49)), 20, true);
        assert!(a.len() <= 20 && b.len() <= 20);
        assert_ne!(a, b);
        let h = ident(HOSTILE, 32, true);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{h}"
        );
        assert!(h.starts_with(|c: char| c.is_ascii_alphabetic()));
    }

    #[test]
    fn comment_and_dns_name_are_safe() {
        let c = comment(HOSTILE);
        assert!(
            !c.contains(['\n', '\r', '"', '$', '`', '\\', '*', '{', '}', ';', '\'', '<', '>']),
            "{c}"
        );
        assert!(c.len() <= COMMENT_MAX);
        assert_eq!(comment(" Office\r\n FW #1\n"), "Office FW #1");
        assert_eq!(dns_name("Custom.K7.acct."), "custom.k7.acct");
        assert_eq!(dns_name("a b..c\n"), "a-b.c");
        assert_eq!(dns_name("-rf.--x-.zone"), "rf.x.zone");
        assert_eq!(dns_name(""), "invalid");
    }

    #[test]
    fn hostile_device_names_and_titles_never_break_out() {
        let c = ctx(
            HOSTILE,
            &["127.0.0.1:5353"],
            &[
                (HOSTILE, "attackers", 2),
                ("x\ny", "custom.k7m2q9xz.acct", 1),
            ],
        );
        for k in DeviceKind::ALL {
            for s in snippets(k, &c) {
                assert!(
                    s.filename
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                    "{k:?} file name {}",
                    s.filename
                );
                assert!(!s.filename.starts_with(['.', '-']));
                // Quotes, braces, command substitution, line breaks and comment
                // terminators from user input never reach a snippet.
                for bad in [
                    "evil\"",
                    "$(reboot)",
                    "`id`",
                    "zone \"x\"",
                    "#\n}",
                    "\r",
                    "\u{2028}",
                    "ü",
                    "*/ --",
                ] {
                    assert!(
                        !s.text.contains(bad) && !s.title.contains(bad),
                        "{k:?}: {bad:?} in\n{}",
                        s.text
                    );
                    assert!(
                        s.notes.iter().all(|n| !n.contains(bad)),
                        "{k:?}: {bad:?} in notes"
                    );
                }
                // What is left of the name stays on the line it started on.
                for line in s.text.lines().filter(|l| l.contains("evil")) {
                    assert!(
                        line.contains("etc"),
                        "{k:?}: device name split over lines: {line}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_chunk_name_appears_where_objects_are_needed() {
        let c = ctx(
            "edge",
            &["192.0.2.7:53"],
            &[
                ("attackers", "attackers", 4),
                ("mine", "custom.k7m2q9xz.acct", 3),
            ],
        );
        let names: Vec<String> = (0..4)
            .map(|i| format!("{i}.attackers.feedwall.internal"))
            .chain((0..3).map(|i| format!("{i}.custom.k7m2q9xz.acct.feedwall.internal")))
            .collect();
        for k in [
            DeviceKind::Pfsense,
            DeviceKind::Opnsense,
            DeviceKind::Mikrotik,
            DeviceKind::CiscoAsa,
            DeviceKind::PaloAlto,
            DeviceKind::Fortigate,
            DeviceKind::Other,
        ] {
            let t = all_text(k, &c);
            for n in &names {
                assert!(t.contains(n.as_str()), "{k:?} lacks {n}");
            }
            assert!(!t.contains("4.attackers.feedwall"), "{k:?}: past capacity");
            assert!(!t.contains("3.custom.k7m2q9xz"), "{k:?}: past capacity");
        }
        // The scripts loop over capacities from their table.
        for k in [DeviceKind::IptablesIpset, DeviceKind::Nftables] {
            let t = all_text(k, &c);
            assert!(t.contains("attackers 4\""), "{t}");
            assert!(t.contains("custom.k7m2q9xz.acct 3\""), "{t}");
            assert!(t.contains("ZONE=\"feedwall.internal\""));
        }
        // Resolver forwarding names only the zone.
        for k in [
            DeviceKind::Bind,
            DeviceKind::Unbound,
            DeviceKind::Dnsmasq,
            DeviceKind::WindowsDns,
        ] {
            let t = all_text(k, &c);
            assert!(t.contains("feedwall.internal"));
            assert!(!t.contains("1.attackers"), "{k:?}");
        }
        // pfSense: one alias per lookup, chunk names one a line.
        let pf = snippets(DeviceKind::Pfsense, &c);
        assert_eq!(pf.len(), 3);
        assert_eq!(pf[1].text.lines().count(), 4);
        assert_eq!(pf[2].text.lines().count(), 3);
        assert_eq!(pf[1].filename, "feedwall_attackers.txt");
        assert_eq!(pf[2].filename, "feedwall_custom_k7m2q9xz_acct.txt");
        // FortiGate groups name every member.
        let fg = all_text(DeviceKind::Fortigate, &c);
        assert!(fg.contains(
            "set member \"feedwall-attackers-0\" \"feedwall-attackers-1\" \"feedwall-attackers-2\" \"feedwall-attackers-3\""
        ));
    }

    #[test]
    fn ports_other_than_53_are_written_per_syntax() {
        let c = ctx(
            "r1",
            &["192.0.2.7:5353", "[2001:db8::7]:8053"],
            &[("attackers", "attackers", 1)],
        );
        let b = all_text(DeviceKind::Bind, &c);
        assert!(b.contains("192.0.2.7 port 5353;"));
        assert!(b.contains("2001:db8::7 port 8053;"));
        let u = all_text(DeviceKind::Unbound, &c);
        assert!(u.contains("forward-addr: 192.0.2.7@5353"));
        assert!(u.contains("forward-addr: 2001:db8::7@8053"));
        assert!(!u.contains("do-not-query-localhost"));
        let d = all_text(DeviceKind::Dnsmasq, &c);
        assert!(d.contains("server=/feedwall.internal/192.0.2.7#5353"));
        assert!(d.contains("server=/feedwall.internal/2001:db8::7#8053"));
        for k in [DeviceKind::IptablesIpset, DeviceKind::Nftables] {
            let t = all_text(k, &c);
            assert!(t.contains("\"192.0.2.7 5353\""));
            assert!(t.contains("\"2001:db8::7 8053\""));
        }
        assert!(all_text(DeviceKind::Other, &c).contains("dig @192.0.2.7 -p 5353 +tcp"));
        for k in [
            DeviceKind::WindowsDns,
            DeviceKind::Mikrotik,
            DeviceKind::CiscoAsa,
            DeviceKind::PaloAlto,
            DeviceKind::Fortigate,
        ] {
            let t = all_text(k, &c);
            assert!(
                t.contains("port 53 only"),
                "{k:?} must say the port is a problem"
            );
            assert!(t.contains("192.0.2.7:5353"), "{k:?}");
        }
        let p = all_text(DeviceKind::Pfsense, &c);
        assert!(p.contains("Server: 192.0.2.7   Port: 5353"));
        // Port 53 everywhere: no port warning.
        let c53 = ctx("r1", &["192.0.2.7:53"], &[("attackers", "attackers", 1)]);
        assert!(!all_text(DeviceKind::WindowsDns, &c53).contains("port 53 only"));
        assert!(all_text(DeviceKind::Bind, &c53).contains("192.0.2.7 port 53;"));
    }

    #[test]
    fn loopback_and_default_local_zones_get_their_unbound_lines() {
        let mut c = ctx("r1", &["127.0.0.1:5353"], &[]);
        assert!(all_text(DeviceKind::Unbound, &c).contains("do-not-query-localhost: no"));
        assert!(!all_text(DeviceKind::Unbound, &c).contains("nodefault"));
        c.zone = "feedwall.home.arpa".to_string();
        assert!(all_text(DeviceKind::Unbound, &c)
            .contains("local-zone: \"feedwall.home.arpa.\" nodefault"));
    }

    #[test]
    fn no_servers_or_lookups_still_yield_snippets_with_a_note() {
        let c = ctx("r1", &[], &[]);
        for k in DeviceKind::ALL {
            let v = snippets(k, &c);
            assert!(!v.is_empty(), "{k:?}");
            let notes = v[0].notes.join("\n");
            assert!(notes.contains("192.0.2.1"), "{k:?}");
            assert!(notes.contains("no lookups"), "{k:?}");
        }
    }

    #[test]
    fn lookups_with_colliding_ids_stay_distinct() {
        let c = ctx(
            "r1",
            &["192.0.2.7:53"],
            &[("a", "a.b", 1), ("b", "a-b", 1), ("c", "a_b", 1)],
        );
        let t = all_text(DeviceKind::IptablesIpset, &c);
        assert!(t.contains("\"a-b a.b 1\""), "{t}");
        assert!(t.contains("\"a-b-2 a-b 1\""), "{t}");
        assert!(t.contains("\"a_b-3 a_b 1\""), "{t}");
        let t = all_text(DeviceKind::Nftables, &c);
        assert!(t.contains("\"a_b a.b 1\""), "{t}");
        assert!(t.contains("\"a_b_2 a-b 1\""), "{t}");
        assert!(t.contains("\"a_b_3 a_b 1\""), "{t}");
    }
}
