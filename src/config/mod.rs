//! Configuration: one versioned TOML file, parsed, then validated into a
//! ready [`Config`] before any work starts. Every key has a default
//! ([`defaults`]); a bad key or value is reported with its line.
//!
//! ```toml
//! version = "v1"
//! data_dir = "feedwall-data"
//!
//! [zone]
//! apex = "feedwall.internal"
//! ttl = 300
//!
//! [dns]
//! listen = ["127.0.0.1:5353"]
//!
//! [fetch]
//! timeout = "2m"
//! max_size = "64MiB"
//!
//! [gate]
//! max_shrink = 0.5
//!
//! [dshield]              # blocked entries given back to DShield; off by default
//! enabled = true
//! smtp_relay = "127.0.0.1:25"       # or url = "https://collector.example/dshield"
//! mail_from = "me@example.org"      # the address registered with DShield
//!
//! [appliance]           # only in the bootable image (written by `appliance setup`)
//! boot_dir = "/boot"     # the EFI system partition with the A/B boot slots
//! max_bundle = "512MiB"
//! reboot_after_upgrade = true
//! settings_dir = "/data/config"   # the operator's network and time servers
//! run_dir = "/run/feedwall"       # per-boot state (clock status)
//!
//! [[feed]]
//! id = "blocklist-de"
//! url = "https://lists.blocklist.de/lists/all.txt"
//! format = "plain"
//! period = "1h"          # the provider's update period; fetched every period/2
//!
//! [[list]]
//! name = "attackers"
//! feeds = ["blocklist-de"]
//! capacity = 8
//!
//! [[device]]
//! name = "fw1"
//! prefixes = ["127.0.0.1/32"]
//! ```
//!
//! Without `[[feed]]` tables the catalog ([`catalog::CATALOG`]) is known but
//! nothing is enabled; `catalog = ["feodo", ...]` enables catalog feeds by id.

pub mod catalog;
pub mod defaults;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::wire;

/// A configuration error: what is wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}, line {line}: {key}: {message}")]
    Value {
        path: String,
        line: usize,
        key: String,
        message: String,
    },
}

/// The file, as written (all optional).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    version: Option<Spanned<String>>,
    data_dir: Option<PathBuf>,
    zone: Option<FileZone>,
    dns: Option<FileDns>,
    fetch: Option<FileFetch>,
    gate: Option<FileGate>,
    admin: Option<FileAdmin>,
    logs: Option<FileLogs>,
    dshield: Option<FileDshield>,
    appliance: Option<FileAppliance>,
    catalog: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    feed: Vec<FileFeed>,
    #[serde(default)]
    list: Vec<FileList>,
    #[serde(default)]
    device: Vec<FileDevice>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileZone {
    apex: Option<Spanned<String>>,
    ttl: Option<Spanned<u32>>,
    negative_ttl: Option<Spanned<u32>>,
    max_a_per_name: Option<Spanned<usize>>,
    max_aaaa_per_name: Option<Spanned<usize>>,
    expand_v4: Option<Spanned<u8>>,
    expand_v6: Option<Spanned<u8>>,
    ns_addrs: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDns {
    listen: Option<Vec<Spanned<String>>>,
    workers: Option<Spanned<usize>>,
    tcp_idle_timeout: Option<Spanned<String>>,
    tcp_max_connections: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileFetch {
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    max_size: Option<Spanned<String>>,
    retries: Option<Spanned<u32>>,
    concurrency: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileGate {
    enabled: Option<bool>,
    max_shrink: Option<Spanned<f64>>,
    max_bad_share: Option<Spanned<f64>>,
    min_prefix_v4: Option<Spanned<u8>>,
    min_prefix_v6: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileAdmin {
    enabled: Option<bool>,
    listen: Option<Spanned<String>>,
    tls: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    signup: Option<Spanned<String>>,
    signup_tier: Option<Spanned<String>>,
    operator_email: Option<Spanned<String>>,
    basic_device_limit: Option<Spanned<u32>>,
    session_ttl: Option<Spanned<String>>,
    max_upload: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    dns_addresses: Option<Vec<Spanned<String>>>,
    subscriber_min_prefix_v4: Option<Spanned<u8>>,
    subscriber_min_prefix_v6: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLogs {
    enabled: Option<bool>,
    syslog_listen: Option<Vec<Spanned<String>>>,
    smtp_listen: Option<Vec<Spanned<String>>>,
    smtp_domain: Option<Spanned<String>>,
    max_upload: Option<Spanned<String>>,
    retention: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDshield {
    enabled: Option<Spanned<bool>>,
    url: Option<Spanned<String>>,
    smtp_relay: Option<Spanned<String>>,
    mail_to: Option<Spanned<String>>,
    mail_from: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    max_lines: Option<Spanned<usize>>,
    retry_min: Option<Spanned<String>>,
    retry_max: Option<Spanned<String>>,
    obfuscate_targets: Option<bool>,
    exclude_sources: Option<Vec<Spanned<String>>>,
    exclude_targets: Option<Vec<Spanned<String>>>,
    exclude_source_ports: Option<Vec<Spanned<u16>>>,
    exclude_target_ports: Option<Vec<Spanned<u16>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileAppliance {
    boot_dir: Option<PathBuf>,
    max_bundle: Option<Spanned<String>>,
    reboot_after_upgrade: Option<bool>,
    settings_dir: Option<PathBuf>,
    run_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFeed {
    id: Spanned<String>,
    url: Spanned<String>,
    format: Spanned<String>,
    name: Option<String>,
    period: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    enabled: Option<bool>,
    provider: Option<String>,
    homepage: Option<String>,
    category: Option<String>,
    /// CSV column (name or 0-based index) or JSON field, for generic formats.
    field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileList {
    name: Spanned<String>,
    feeds: Vec<Spanned<String>>,
    capacity: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDevice {
    name: Spanned<String>,
    prefixes: Vec<Spanned<String>>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub zone: ZoneConfig,
    pub dns: DnsConfig,
    pub fetch: FetchConfig,
    pub gate: GateConfig,
    pub admin: AdminConfig,
    pub logs: LogsConfig,
    pub dshield: DshieldConfig,
    pub appliance: ApplianceConfig,
    pub feeds: Vec<FeedConfig>,
    pub lists: Vec<ListConfig>,
    pub devices: Vec<DeviceConfig>,
}

#[derive(Debug, Clone)]
pub struct ZoneConfig {
    pub apex: String,
    pub ttl: u32,
    pub negative_ttl: u32,
    pub max_a_per_name: usize,
    pub max_aaaa_per_name: usize,
    pub expand_v4: u8,
    pub expand_v6: u8,
    pub ns_addrs: Vec<IpAddr>,
}

impl ZoneConfig {
    /// The snapshot writer's zone settings for this zone.
    pub fn settings(&self) -> Result<crate::snapshot::ZoneSettings, crate::snapshot::BuildError> {
        let mut zone = crate::snapshot::ZoneSettings::new(&self.apex)?;
        zone.ttl = self.ttl;
        zone.negative_ttl = self.negative_ttl;
        zone.max_a_per_name = self.max_a_per_name;
        zone.max_aaaa_per_name = self.max_aaaa_per_name;
        zone.expand_v4 = self.expand_v4;
        zone.expand_v6 = self.expand_v6;
        if !self.ns_addrs.is_empty() {
            zone.nameservers[0].1 = self.ns_addrs.clone();
        }
        Ok(zone)
    }
}

#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub listen: Vec<SocketAddr>,
    pub workers: Option<usize>,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
}

#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub default_interval: Duration,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_bytes: u64,
    pub retries: u32,
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct GateConfig {
    pub enabled: bool,
    pub max_shrink: f64,
    pub max_bad_share: f64,
    pub min_prefix_v4: u8,
    pub min_prefix_v6: u8,
}

/// Who may create subscriber accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signup {
    /// Anyone who can reach the admin page.
    Open,
    /// Only the operator creates accounts.
    OperatorOnly,
}

/// The admin web server (`[admin]`).
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// TLS on (default). Plain HTTP only with `tls = false`, explicitly.
    pub tls: bool,
    /// The operator's certificate chain and key (PEM); a self-signed pair
    /// is generated in the data directory when absent.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub signup: Signup,
    /// Tier of accounts that sign up themselves.
    pub signup_tier: crate::admin::store::Tier,
    /// User id of the operator account created on first start.
    pub operator_email: String,
    /// Devices a basic-tier account may register.
    pub basic_device_limit: u32,
    pub session_ttl: Duration,
    /// Largest request body (uploads, imports).
    pub max_upload: u64,
    /// Base URL shown in check-in links (default from `listen`).
    pub public_url: Option<String>,
    /// DNS server addresses shown in setup instructions (default: `dns.listen`).
    pub dns_addresses: Vec<SocketAddr>,
    /// Widest device prefix a subscriber may register.
    pub subscriber_min_prefix_v4: u8,
    pub subscriber_min_prefix_v6: u8,
}

/// Firewall log intake (`[logs]`).
#[derive(Debug, Clone)]
pub struct LogsConfig {
    pub enabled: bool,
    /// Syslog over UDP and TCP on each address (empty: off).
    pub syslog_listen: Vec<SocketAddr>,
    /// SMTP on each address (empty: off).
    pub smtp_listen: Vec<SocketAddr>,
    /// The mail domain of per-device addresses (`<token>@<domain>`).
    pub smtp_domain: String,
    /// Largest log upload, API call or mail (before decompression).
    pub max_upload: u64,
    /// How long log entries are kept.
    pub retention: Duration,
}

/// Blocked log entries given back to DShield (`[dshield]`).
#[derive(Debug, Clone)]
pub struct DshieldConfig {
    pub enabled: bool,
    /// Where submissions go (None only while disabled).
    pub endpoint: Option<DshieldEndpoint>,
    /// How often new entries are submitted.
    pub interval: Duration,
    /// Time one submission may take.
    pub timeout: Duration,
    /// Most lines in one submission.
    pub max_lines: usize,
    /// First retry delay after a failure; doubles per attempt up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Target addresses masked to their /24 (IPv4) or /64 (IPv6).
    pub obfuscate_targets: bool,
    /// Entries whose source, target or port is listed here are never sent.
    pub exclude_sources: Vec<IpNet>,
    pub exclude_targets: Vec<IpNet>,
    pub exclude_source_ports: Vec<u16>,
    pub exclude_target_ports: Vec<u16>,
}

/// How DShield submissions are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DshieldEndpoint {
    /// HTTP(S) POST of the lines as `text/plain`.
    Http { url: String },
    /// A mail through a plain SMTP relay (`host:port`).
    Smtp {
        relay: String,
        mail_to: String,
        mail_from: String,
    },
}

/// The bootable appliance image (`[appliance]`): upgrades from the admin
/// page. Off (no `boot_dir`) everywhere but in the image.
#[derive(Debug, Clone)]
pub struct ApplianceConfig {
    /// The mounted EFI system partition holding the boot slots; `None`:
    /// not an appliance image (no upgrade route, no Appliance section).
    pub boot_dir: Option<PathBuf>,
    /// Largest upgrade bundle accepted.
    pub max_bundle: u64,
    /// Restart right after an upgrade or a network change from the admin
    /// page (the image sets it; tests leave it off).
    pub reboot_after_upgrade: bool,
    /// The operator's appliance settings on the data partition (network,
    /// time servers); default `/data/config`.
    pub settings_dir: PathBuf,
    /// The image's per-boot directory (clock status); default
    /// `/run/feedwall`.
    pub run_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub id: String,
    pub name: String,
    pub url: String,
    pub format: String,
    pub field: Option<String>,
    /// The provider's update period, if known.
    pub period: Option<Duration>,
    /// How often feedwall fetches it.
    pub interval: Duration,
    pub enabled: bool,
    pub provider: String,
    pub homepage: String,
    pub category: String,
}

#[derive(Debug, Clone)]
pub struct ListConfig {
    pub name: String,
    pub feeds: Vec<String>,
    pub capacity: u32,
}

#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub name: String,
    pub prefixes: Vec<IpNet>,
}

/// Parses a duration such as `90s`, `30m`, `2h`, `1d` or a bare number of
/// seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

/// Parses a size such as `512KiB`, `64MiB`, `1GiB`, `10MB` or bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    };
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Fetch interval for a feed: half its update period, at least the minimum;
/// the default interval when the period is unknown.
pub fn interval_for(period: Option<Duration>, default: Duration) -> Duration {
    match period {
        Some(p) => (p / 2).max(Duration::from_secs(defaults::MIN_FETCH_INTERVAL_SECS)),
        None => default,
    }
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn err(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Value {
            path: self.path.to_string(),
            line: self.line(span),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn duration(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) => match parse_duration(s.get_ref()) {
                Some(d) if !d.is_zero() => Ok(d),
                _ => Err(self.err(
                    s.span(),
                    key,
                    format!(
                        "{:?} is not a duration (e.g. \"90s\", \"30m\", \"2h\", \"1d\")",
                        s.get_ref()
                    ),
                )),
            },
        }
    }

    fn range<T: PartialOrd + Copy + std::fmt::Display>(
        &self,
        v: &Option<Spanned<T>>,
        key: &str,
        default: T,
        lo: T,
        hi: T,
    ) -> Result<T, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) => {
                let x = *s.get_ref();
                if x < lo || x > hi {
                    Err(self.err(s.span(), key, format!("{x} is out of range {lo}..={hi}")))
                } else {
                    Ok(x)
                }
            }
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn from_text(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let cx = Ctx { path: origin, text };
        if let Some(v) = &file.version {
            if v.get_ref() != defaults::CONFIG_VERSION {
                return Err(cx.err(
                    v.span(),
                    "version",
                    format!(
                        "{:?} is not supported (this build reads {:?})",
                        v.get_ref(),
                        defaults::CONFIG_VERSION
                    ),
                ));
            }
        }

        let z = file.zone.unwrap_or_default();
        let apex = match &z.apex {
            Some(a) => {
                wire::name_from_text(a.get_ref())
                    .map_err(|e| cx.err(a.span(), "zone.apex", e.to_string()))?;
                a.get_ref().trim_end_matches('.').to_ascii_lowercase()
            }
            None => crate::snapshot::writer::DEFAULT_ZONE.to_string(),
        };
        let mut ns_addrs = Vec::new();
        for a in z.ns_addrs.iter().flatten() {
            ns_addrs.push(a.get_ref().parse::<IpAddr>().map_err(|_| {
                cx.err(
                    a.span(),
                    "zone.ns_addrs",
                    format!("{:?} is not an IP address", a.get_ref()),
                )
            })?);
        }
        let zone = ZoneConfig {
            apex,
            ttl: cx.range(
                &z.ttl,
                "zone.ttl",
                crate::snapshot::writer::DEFAULT_TTL,
                1,
                604_800,
            )?,
            negative_ttl: cx.range(
                &z.negative_ttl,
                "zone.negative_ttl",
                crate::snapshot::writer::DEFAULT_NEGATIVE_TTL,
                1,
                86_400,
            )?,
            max_a_per_name: cx.range(
                &z.max_a_per_name,
                "zone.max_a_per_name",
                crate::snapshot::writer::MAX_A_PER_NAME,
                1,
                crate::snapshot::writer::MAX_A_PER_NAME,
            )?,
            max_aaaa_per_name: cx.range(
                &z.max_aaaa_per_name,
                "zone.max_aaaa_per_name",
                crate::snapshot::writer::MAX_AAAA_PER_NAME,
                1,
                crate::snapshot::writer::MAX_AAAA_PER_NAME,
            )?,
            expand_v4: cx.range(
                &z.expand_v4,
                "zone.expand_v4",
                crate::lists::DEFAULT_EXPAND_V4,
                16,
                32,
            )?,
            expand_v6: cx.range(
                &z.expand_v6,
                "zone.expand_v6",
                crate::lists::DEFAULT_EXPAND_V6,
                112,
                128,
            )?,
            ns_addrs,
        };

        let d = file.dns.unwrap_or_default();
        let mut listen = Vec::new();
        for l in d.listen.iter().flatten() {
            listen.push(l.get_ref().parse::<SocketAddr>().map_err(|_| {
                cx.err(
                    l.span(),
                    "dns.listen",
                    format!(
                        "{:?} is not an address:port (IPv6 as [::1]:53)",
                        l.get_ref()
                    ),
                )
            })?);
        }
        if listen.is_empty() {
            listen.push(defaults::DNS_LISTEN.parse().expect("valid default"));
        }
        let dns = DnsConfig {
            listen,
            workers: match &d.workers {
                None => None,
                Some(w) => Some(cx.range(&Some(w.clone()), "dns.workers", 1, 1, 256)?),
            },
            tcp_idle_timeout: cx.duration(
                &d.tcp_idle_timeout,
                "dns.tcp_idle_timeout",
                crate::responder::tcp::DEFAULT_IDLE_TIMEOUT,
            )?,
            tcp_max_connections: cx.range(
                &d.tcp_max_connections,
                "dns.tcp_max_connections",
                crate::responder::tcp::DEFAULT_MAX_CONNECTIONS,
                1,
                1_000_000,
            )?,
        };

        let a = file.admin.unwrap_or_default();
        let admin = AdminConfig {
            enabled: a.enabled.unwrap_or(true),
            listen: match &a.listen {
                None => defaults::ADMIN_LISTEN.parse().expect("valid default"),
                Some(l) => l.get_ref().parse().map_err(|_| {
                    cx.err(
                        l.span(),
                        "admin.listen",
                        format!("{:?} is not an address:port", l.get_ref()),
                    )
                })?,
            },
            tls: a.tls.unwrap_or(true),
            tls_cert: a.tls_cert.clone(),
            tls_key: a.tls_key.clone(),
            signup: match a.signup.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
                None => defaults::ADMIN_SIGNUP,
                Some(("open", _)) => Signup::Open,
                Some(("operator", _)) => Signup::OperatorOnly,
                Some((other, span)) => {
                    return Err(cx.err(
                        span,
                        "admin.signup",
                        format!("{other:?}: use \"open\" or \"operator\""),
                    ))
                }
            },
            signup_tier: match &a.signup_tier {
                None => crate::admin::store::Tier::Basic,
                Some(t) => crate::admin::store::Tier::parse(t.get_ref()).ok_or_else(|| {
                    cx.err(
                        t.span(),
                        "admin.signup_tier",
                        format!("{:?}: use \"basic\" or \"advanced\"", t.get_ref()),
                    )
                })?,
            },
            operator_email: match &a.operator_email {
                None => defaults::ADMIN_OPERATOR_EMAIL.to_string(),
                Some(e) => {
                    if !crate::admin::valid_email(e.get_ref()) {
                        return Err(cx.err(
                            e.span(),
                            "admin.operator_email",
                            "not an e-mail address",
                        ));
                    }
                    e.get_ref().to_ascii_lowercase()
                }
            },
            basic_device_limit: cx.range(
                &a.basic_device_limit,
                "admin.basic_device_limit",
                defaults::ADMIN_BASIC_DEVICE_LIMIT,
                0,
                1_000_000,
            )?,
            session_ttl: cx.duration(
                &a.session_ttl,
                "admin.session_ttl",
                Duration::from_secs(defaults::ADMIN_SESSION_TTL_SECS),
            )?,
            max_upload: match &a.max_upload {
                None => defaults::ADMIN_MAX_UPLOAD,
                Some(s) => match parse_size(s.get_ref()) {
                    Some(n) if n >= 1024 => n,
                    _ => {
                        return Err(cx.err(
                            s.span(),
                            "admin.max_upload",
                            format!("{:?} is not a size of at least 1KiB", s.get_ref()),
                        ))
                    }
                },
            },
            public_url: match &a.public_url {
                None => None,
                Some(u) => {
                    let t = u.get_ref().trim_end_matches('/');
                    if !(t.starts_with("https://") || t.starts_with("http://")) {
                        return Err(cx.err(
                            u.span(),
                            "admin.public_url",
                            "must start with https:// or http://",
                        ));
                    }
                    Some(t.to_string())
                }
            },
            dns_addresses: {
                let mut v = Vec::new();
                for l in a.dns_addresses.iter().flatten() {
                    v.push(l.get_ref().parse::<SocketAddr>().map_err(|_| {
                        cx.err(
                            l.span(),
                            "admin.dns_addresses",
                            format!("{:?} is not an address:port", l.get_ref()),
                        )
                    })?);
                }
                if v.is_empty() {
                    v = dns.listen.clone();
                }
                v
            },
            subscriber_min_prefix_v4: cx.range(
                &a.subscriber_min_prefix_v4,
                "admin.subscriber_min_prefix_v4",
                defaults::ADMIN_SUBSCRIBER_MIN_PREFIX_V4,
                0,
                32,
            )?,
            subscriber_min_prefix_v6: cx.range(
                &a.subscriber_min_prefix_v6,
                "admin.subscriber_min_prefix_v6",
                defaults::ADMIN_SUBSCRIBER_MIN_PREFIX_V6,
                0,
                128,
            )?,
        };
        if a.tls_cert.is_some() != a.tls_key.is_some() {
            return Err(ConfigError::Syntax {
                path: origin.to_string(),
                message: "[admin] tls_cert and tls_key go together".into(),
            });
        }

        let l = file.logs.unwrap_or_default();
        let addrs = |list: &Option<Vec<Spanned<String>>>,
                     key: &str,
                     default: &[&str]|
         -> Result<Vec<SocketAddr>, ConfigError> {
            match list {
                None => Ok(default
                    .iter()
                    .map(|d| d.parse().expect("valid default"))
                    .collect()),
                Some(v) => v
                    .iter()
                    .map(|a| {
                        a.get_ref().parse::<SocketAddr>().map_err(|_| {
                            cx.err(
                                a.span(),
                                key,
                                format!("{:?} is not an address:port", a.get_ref()),
                            )
                        })
                    })
                    .collect(),
            }
        };
        let logs = LogsConfig {
            enabled: l.enabled.unwrap_or(true),
            syslog_listen: addrs(
                &l.syslog_listen,
                "logs.syslog_listen",
                defaults::LOGS_SYSLOG_LISTEN,
            )?,
            smtp_listen: addrs(
                &l.smtp_listen,
                "logs.smtp_listen",
                defaults::LOGS_SMTP_LISTEN,
            )?,
            smtp_domain: match &l.smtp_domain {
                None => defaults::LOGS_SMTP_DOMAIN.to_string(),
                Some(d) => {
                    let t = d.get_ref().trim().to_ascii_lowercase();
                    if t.is_empty()
                        || !t
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    {
                        return Err(cx.err(d.span(), "logs.smtp_domain", "not a domain name"));
                    }
                    t
                }
            },
            max_upload: match &l.max_upload {
                None => defaults::LOGS_MAX_UPLOAD,
                Some(s) => match parse_size(s.get_ref()) {
                    Some(n) if n >= 1024 => n,
                    _ => {
                        return Err(cx.err(
                            s.span(),
                            "logs.max_upload",
                            format!("{:?} is not a size of at least 1KiB", s.get_ref()),
                        ))
                    }
                },
            },
            retention: cx.duration(
                &l.retention,
                "logs.retention",
                Duration::from_secs(defaults::LOGS_RETENTION_SECS),
            )?,
        };

        let dshield = dshield_config(
            &cx,
            file.dshield.unwrap_or_default(),
            logs.enabled && admin.enabled,
        )?;

        let ap = file.appliance.unwrap_or_default();
        let appliance = ApplianceConfig {
            boot_dir: ap.boot_dir.clone(),
            max_bundle: match &ap.max_bundle {
                None => defaults::APPLIANCE_MAX_BUNDLE,
                Some(s) => match parse_size(s.get_ref()) {
                    Some(n) if n >= 1 << 20 => n,
                    _ => {
                        return Err(cx.err(
                            s.span(),
                            "appliance.max_bundle",
                            format!("{:?} is not a size of at least 1MiB", s.get_ref()),
                        ))
                    }
                },
            },
            reboot_after_upgrade: ap
                .reboot_after_upgrade
                .unwrap_or(defaults::APPLIANCE_REBOOT_AFTER_UPGRADE),
            settings_dir: ap
                .settings_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::appliance::SETTINGS_DIR)),
            run_dir: ap
                .run_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::appliance::RUN_DIR)),
        };

        let f = file.fetch.unwrap_or_default();
        let fetch = FetchConfig {
            default_interval: cx.duration(
                &f.interval,
                "fetch.interval",
                Duration::from_secs(defaults::FETCH_INTERVAL_SECS),
            )?,
            timeout: cx.duration(
                &f.timeout,
                "fetch.timeout",
                Duration::from_secs(defaults::FETCH_TIMEOUT_SECS),
            )?,
            connect_timeout: cx.duration(
                &f.connect_timeout,
                "fetch.connect_timeout",
                Duration::from_secs(defaults::FETCH_CONNECT_TIMEOUT_SECS),
            )?,
            max_bytes: match &f.max_size {
                None => defaults::FETCH_MAX_BYTES,
                Some(s) => match parse_size(s.get_ref()) {
                    Some(n) if n > 0 => n,
                    _ => {
                        return Err(cx.err(
                            s.span(),
                            "fetch.max_size",
                            format!("{:?} is not a size (e.g. \"64MiB\")", s.get_ref()),
                        ))
                    }
                },
            },
            retries: cx.range(&f.retries, "fetch.retries", defaults::FETCH_RETRIES, 0, 10)?,
            concurrency: cx.range(
                &f.concurrency,
                "fetch.concurrency",
                defaults::FETCH_CONCURRENCY,
                1,
                64,
            )?,
        };

        let g = file.gate.unwrap_or_default();
        let gate = GateConfig {
            enabled: g.enabled.unwrap_or(true),
            max_shrink: cx.range(
                &g.max_shrink,
                "gate.max_shrink",
                defaults::GATE_MAX_SHRINK,
                0.0,
                1.0,
            )?,
            max_bad_share: cx.range(
                &g.max_bad_share,
                "gate.max_bad_share",
                defaults::GATE_MAX_BAD_SHARE,
                0.0,
                1.0,
            )?,
            min_prefix_v4: cx.range(
                &g.min_prefix_v4,
                "gate.min_prefix_v4",
                defaults::GATE_MIN_PREFIX_V4,
                0,
                32,
            )?,
            min_prefix_v6: cx.range(
                &g.min_prefix_v6,
                "gate.min_prefix_v6",
                defaults::GATE_MIN_PREFIX_V6,
                0,
                128,
            )?,
        };

        let mut feeds: Vec<FeedConfig> = Vec::new();
        for c in file.catalog.iter().flatten() {
            let Some(entry) = catalog::CATALOG.iter().find(|e| e.id == c.get_ref()) else {
                let ids: Vec<&str> = catalog::CATALOG.iter().map(|e| e.id).collect();
                return Err(cx.err(
                    c.span(),
                    "catalog",
                    format!(
                        "no catalog feed {:?} (known: {})",
                        c.get_ref(),
                        ids.join(", ")
                    ),
                ));
            };
            let period = Some(Duration::from_secs(entry.period_secs));
            feeds.push(FeedConfig {
                id: entry.id.into(),
                name: entry.name.into(),
                url: entry.url.into(),
                format: entry.format.into(),
                field: None,
                period,
                interval: interval_for(period, fetch.default_interval),
                enabled: true,
                provider: entry.provider.into(),
                homepage: entry.homepage.into(),
                category: entry.category.into(),
            });
        }
        for fe in &file.feed {
            let id = fe.id.get_ref();
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(cx.err(
                    fe.id.span(),
                    "feed.id",
                    format!("{id:?}: use letters, digits, '-' and '_'"),
                ));
            }
            if feeds.iter().any(|x| x.id == *id) {
                return Err(cx.err(
                    fe.id.span(),
                    "feed.id",
                    format!("feed {id:?} is defined twice"),
                ));
            }
            let url = fe.url.get_ref();
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("http" | "https" | "ftp" | "file")) {
                return Err(cx.err(
                    fe.url.span(),
                    "feed.url",
                    format!("{url:?}: scheme must be http, https, ftp or file"),
                ));
            }
            if crate::feeds::Format::from_name(fe.format.get_ref()).is_none() {
                return Err(cx.err(
                    fe.format.span(),
                    "feed.format",
                    format!(
                        "unknown format {:?} (known: {})",
                        fe.format.get_ref(),
                        crate::feeds::cli::format_names().join(", ")
                    ),
                ));
            }
            let period = match &fe.period {
                None => None,
                Some(_) => Some(cx.duration(&fe.period, "feed.period", Duration::ZERO)?),
            };
            let interval = match &fe.interval {
                None => interval_for(period, fetch.default_interval),
                Some(_) => cx.duration(&fe.interval, "feed.interval", Duration::ZERO)?,
            };
            feeds.push(FeedConfig {
                id: id.clone(),
                name: fe.name.clone().unwrap_or_else(|| id.clone()),
                url: url.clone(),
                format: fe.format.get_ref().clone(),
                field: fe.field.clone(),
                period,
                interval,
                enabled: fe.enabled.unwrap_or(true),
                provider: fe.provider.clone().unwrap_or_default(),
                homepage: fe.homepage.clone().unwrap_or_default(),
                category: fe.category.clone().unwrap_or_default(),
            });
        }

        let mut lists: Vec<ListConfig> = Vec::new();
        for l in &file.list {
            let name = l.name.get_ref().to_ascii_lowercase();
            crate::snapshot::list_wire_name(
                &name,
                &wire::name_from_text(&zone.apex).expect("apex checked"),
            )
            .map_err(|e| cx.err(l.name.span(), "list.name", e.to_string()))?;
            if lists.iter().any(|x| x.name == name) {
                return Err(cx.err(
                    l.name.span(),
                    "list.name",
                    format!("list {name:?} is defined twice"),
                ));
            }
            let mut ids = Vec::new();
            for f in &l.feeds {
                if !feeds.iter().any(|x| x.id == *f.get_ref()) {
                    return Err(cx.err(
                        f.span(),
                        "list.feeds",
                        format!("no feed {:?} is defined", f.get_ref()),
                    ));
                }
                ids.push(f.get_ref().clone());
            }
            lists.push(ListConfig {
                name,
                feeds: ids,
                capacity: cx.range(
                    &l.capacity,
                    "list.capacity",
                    defaults::LIST_CAPACITY,
                    1,
                    100_000,
                )?,
            });
        }

        let mut devices = Vec::new();
        for dv in &file.device {
            let mut prefixes = Vec::new();
            for p in &dv.prefixes {
                prefixes.push(crate::lists::parse_net(p.get_ref()).ok_or_else(|| {
                    cx.err(
                        p.span(),
                        "device.prefixes",
                        format!("{:?} is not an IP address or prefix", p.get_ref()),
                    )
                })?);
            }
            devices.push(DeviceConfig {
                name: dv.name.get_ref().clone(),
                prefixes,
            });
        }

        Ok(Config {
            data_dir: file
                .data_dir
                .unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR)),
            zone,
            dns,
            fetch,
            gate,
            admin,
            logs,
            dshield,
            appliance,
            feeds,
            lists,
            devices,
        })
    }
}

/// Validates `[dshield]`. `archive`: the log archive and the accounts
/// (their DShield user ids) are there to read (`[logs]` and `[admin]` on).
fn dshield_config(
    cx: &Ctx<'_>,
    d: FileDshield,
    archive: bool,
) -> Result<DshieldConfig, ConfigError> {
    let enabled = d
        .enabled
        .as_ref()
        .map_or(defaults::DSHIELD_ENABLED, |e| *e.get_ref());
    if let Some(e) = d.enabled.as_ref().filter(|e| *e.get_ref()) {
        if !archive {
            return Err(cx.err(
                e.span(),
                "dshield.enabled",
                "DShield submission needs [logs] and [admin] enabled (it reads the log archive and the accounts' DShield user ids)",
            ));
        }
    }
    let mail = |v: &Option<Spanned<String>>, key: &str, default: &str| match v {
        None => Ok(default.to_string()),
        Some(m) if crate::admin::valid_email(m.get_ref()) => Ok(m.get_ref().clone()),
        Some(m) => Err(cx.err(m.span(), key, "not an e-mail address")),
    };
    let mail_to = mail(&d.mail_to, "dshield.mail_to", defaults::DSHIELD_MAIL_TO)?;
    let mail_from = mail(
        &d.mail_from,
        "dshield.mail_from",
        defaults::DSHIELD_MAIL_FROM,
    )?;
    let url = match &d.url {
        None => None,
        Some(u) => match url::Url::parse(u.get_ref()) {
            Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {
                Some(u.get_ref().clone())
            }
            _ => {
                return Err(cx.err(
                    u.span(),
                    "dshield.url",
                    format!("{:?} is not an http:// or https:// URL", u.get_ref()),
                ))
            }
        },
    };
    let relay = match &d.smtp_relay {
        None => None,
        Some(r) => {
            let t = r.get_ref().trim();
            match t.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty()
                        && !host.contains(char::is_whitespace)
                        && port.parse::<u16>().is_ok_and(|p| p > 0) =>
                {
                    Some(t.to_string())
                }
                _ => {
                    return Err(cx.err(
                        r.span(),
                        "dshield.smtp_relay",
                        format!("{t:?} is not host:port (IPv6 as [::1]:25)"),
                    ))
                }
            }
        }
    };
    let endpoint = match (url, relay) {
        (Some(_), Some(_)) => {
            let span = d.smtp_relay.as_ref().map(|r| r.span()).unwrap_or_default();
            return Err(cx.err(
                span,
                "dshield.smtp_relay",
                "give either url (HTTP POST) or smtp_relay (mail), not both",
            ));
        }
        (Some(url), None) => Some(DshieldEndpoint::Http { url }),
        (None, Some(relay)) => Some(DshieldEndpoint::Smtp {
            relay,
            mail_to,
            mail_from,
        }),
        (None, None) => None,
    };
    if enabled && endpoint.is_none() {
        let span = d.enabled.as_ref().map(|e| e.span()).unwrap_or_default();
        return Err(cx.err(
            span,
            "dshield.enabled",
            "set url (HTTP POST) or smtp_relay (mail) to say where submissions go",
        ));
    }
    let nets = |v: &Option<Vec<Spanned<String>>>, key: &str| -> Result<Vec<IpNet>, ConfigError> {
        v.iter()
            .flatten()
            .map(|p| {
                crate::lists::parse_net(p.get_ref()).ok_or_else(|| {
                    cx.err(
                        p.span(),
                        key,
                        format!("{:?} is not an IP address or prefix", p.get_ref()),
                    )
                })
            })
            .collect()
    };
    let ports = |v: &Option<Vec<Spanned<u16>>>| -> Vec<u16> {
        v.iter().flatten().map(|p| *p.get_ref()).collect()
    };
    let retry_min = cx.duration(
        &d.retry_min,
        "dshield.retry_min",
        Duration::from_secs(defaults::DSHIELD_RETRY_MIN_SECS),
    )?;
    let retry_max = cx.duration(
        &d.retry_max,
        "dshield.retry_max",
        Duration::from_secs(defaults::DSHIELD_RETRY_MAX_SECS),
    )?;
    if retry_max < retry_min {
        let span = d
            .retry_max
            .as_ref()
            .or(d.retry_min.as_ref())
            .map(|r| r.span())
            .unwrap_or_default();
        return Err(cx.err(
            span,
            "dshield.retry_max",
            "must not be shorter than dshield.retry_min",
        ));
    }
    Ok(DshieldConfig {
        enabled,
        endpoint,
        interval: cx.duration(
            &d.interval,
            "dshield.interval",
            Duration::from_secs(defaults::DSHIELD_INTERVAL_SECS),
        )?,
        timeout: cx.duration(
            &d.timeout,
            "dshield.timeout",
            Duration::from_secs(defaults::DSHIELD_TIMEOUT_SECS),
        )?,
        max_lines: cx.range(
            &d.max_lines,
            "dshield.max_lines",
            defaults::DSHIELD_MAX_LINES,
            1,
            1_000_000,
        )?,
        retry_min,
        retry_max,
        obfuscate_targets: d
            .obfuscate_targets
            .unwrap_or(defaults::DSHIELD_OBFUSCATE_TARGETS),
        exclude_sources: nets(&d.exclude_sources, "dshield.exclude_sources")?,
        exclude_targets: nets(&d.exclude_targets, "dshield.exclude_targets")?,
        exclude_source_ports: ports(&d.exclude_source_ports),
        exclude_target_ports: ports(&d.exclude_target_ports),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_text(text, "test.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn empty_config_takes_every_default() {
        let c = Config::from_text("", "t").unwrap();
        assert_eq!(c.zone.apex, "feedwall.internal");
        assert_eq!(
            c.dns.listen,
            vec!["127.0.0.1:5353".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.gate.max_shrink, 0.5);
        assert!(c.feeds.is_empty());
    }

    #[test]
    fn bad_keys_and_values_name_their_line() {
        assert!(err("version = \"v1\"\n[zone]\napex = \"a..b\"\n").contains("line 3: zone.apex"));
        assert!(err("[zone]\nttl = 0\n").contains("line 2: zone.ttl"));
        assert!(err("[fetch]\ntimeout = \"soon\"\n").contains("line 2: fetch.timeout"));
        let e = err("[zone]\nbogus = 1\n");
        assert!(e.contains("unknown field") && e.contains("line 2"), "{e}");
        assert!(err("version = \"v9\"").contains("line 1: version"));
        let e = err("[[feed]]\nid = \"a\"\nurl = \"gopher://x\"\nformat = \"plain\"\n");
        assert!(e.contains("line 3: feed.url"), "{e}");
        let e = err("[[feed]]\nid = \"a\"\nurl = \"file:///x\"\nformat = \"plain\"\n[[list]]\nname = \"l\"\nfeeds = [\"a\", \"b\"]\n");
        assert!(
            e.contains("line 7: list.feeds") && e.contains("\"b\""),
            "{e}"
        );
        assert!(
            err("[[device]]\nname = \"d\"\nprefixes = [\"1.2.3.4/40\"]\n")
                .contains("line 3: device.prefixes")
        );
        assert!(err("catalog = [\"nope\"]").contains("no catalog feed"));
        assert!(
            err("[[feed]]\nid = \"a\"\nurl = \"file:///x\"\nformat = \"xml-ish\"\n")
                .contains("line 4: feed.format")
        );
    }

    #[test]
    fn dshield_is_off_by_default_and_checked_when_on() {
        let c = Config::from_text("", "t").unwrap();
        assert!(!c.dshield.enabled && c.dshield.endpoint.is_none());
        assert!(c.dshield.obfuscate_targets);
        let c = Config::from_text(
            "[dshield]\nenabled = true\nsmtp_relay = \"127.0.0.1:25\"\nexclude_targets = [\"198.51.100.0/24\"]\nexclude_target_ports = [22]\nmax_lines = 50\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.dshield.endpoint,
            Some(DshieldEndpoint::Smtp {
                relay: "127.0.0.1:25".into(),
                mail_to: defaults::DSHIELD_MAIL_TO.into(),
                mail_from: defaults::DSHIELD_MAIL_FROM.into(),
            })
        );
        assert_eq!(
            (c.dshield.max_lines, c.dshield.exclude_target_ports.clone()),
            (50, vec![22])
        );
        assert!(err("[dshield]\nenabled = true\n").contains("line 2: dshield.enabled"));
        assert!(err("[dshield]\nurl = \"ftp://x\"\n").contains("line 2: dshield.url"));
        assert!(err("[dshield]\nsmtp_relay = \"mail.example\"\n")
            .contains("line 2: dshield.smtp_relay"));
        assert!(err("[dshield]\nexclude_sources = [\"1.2.3.0/33\"]\n")
            .contains("line 2: dshield.exclude_sources"));
        assert!(err("[dshield]\nmail_from = \"nobody\"\n").contains("line 2: dshield.mail_from"));
        assert!(err("[dshield]\nmax_lines = 0\n").contains("line 2: dshield.max_lines"));
        assert!(err("[dshield]\nretry_min = \"2h\"\nretry_max = \"1h\"\n")
            .contains("line 3: dshield.retry_max"));
        let e = err(
            "[logs]\nenabled = false\n[dshield]\nenabled = true\nurl = \"http://127.0.0.1:1/\"\n",
        );
        assert!(e.contains("line 4: dshield.enabled"), "{e}");
        assert!(err("[dshield]\nbogus = 1\n").contains("unknown field"));
    }

    #[test]
    fn appliance_section_is_off_by_default() {
        let c = Config::from_text("", "t").unwrap();
        assert!(c.appliance.boot_dir.is_none() && !c.appliance.reboot_after_upgrade);
        assert_eq!(c.appliance.max_bundle, defaults::APPLIANCE_MAX_BUNDLE);
        let c = Config::from_text(
            "[appliance]\nboot_dir = \"/boot\"\nmax_bundle = \"64MiB\"\nreboot_after_upgrade = true\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.appliance.boot_dir.as_deref(), Some(Path::new("/boot")));
        assert_eq!(c.appliance.max_bundle, 64 << 20);
        assert!(c.appliance.reboot_after_upgrade);
        assert!(
            err("[appliance]\nmax_bundle = \"1KiB\"\n").contains("line 2: appliance.max_bundle")
        );
        assert!(err("[appliance]\nbogus = 1\n").contains("unknown field"));
    }

    #[test]
    fn intervals_are_half_the_period_with_a_floor() {
        let c = Config::from_text("catalog = [\"feodo\", \"spamhaus-drop\"]\n[[feed]]\nid = \"x\"\nurl = \"file:///x\"\nformat = \"plain\"\n", "t").unwrap();
        assert_eq!(
            c.feeds[0].interval,
            Duration::from_secs(300),
            "5 min period, 5 min floor"
        );
        assert_eq!(c.feeds[1].interval, Duration::from_secs(12 * 3600));
        assert_eq!(
            c.feeds[2].interval,
            Duration::from_secs(2 * 3600),
            "unknown period: 2 h"
        );
    }

    #[test]
    fn catalog_formats_are_known_parsers() {
        for f in catalog::CATALOG {
            assert!(
                crate::feeds::Format::from_name(f.format).is_some(),
                "{}: {}",
                f.id,
                f.format
            );
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("2 weeks"), None);
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1x"), None);
    }
}
