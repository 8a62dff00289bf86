//! The appliance's network settings, changed from the admin page and tried
//! before they are kept: a wrong static address must not lock the operator
//! out of a machine that has no shell.
//!
//! Files in the settings directory (`/data/config`):
//! - `network`: the settings in effect, read by the image's `rcS`
//!   (`address=` CIDR, `gateway=`, `dns=` lines; without `address=` the
//!   first network card uses DHCP). An operator may also write it by hand
//!   before the first boot (see `network.example`).
//! - `network.next`: saved from the admin page; applied at the next boot.
//! - `network.previous`: what was in effect before a trial.
//! - `network.trial`: present while the new settings are on trial; holds
//!   how long the operator has to confirm them.
//!
//! At boot, [`begin`] (before the network comes up) moves `network.next`
//! into place and starts a trial, or, when a trial is still open from the
//! last boot (the machine went down before it was confirmed), puts the
//! previous settings back. Once the services run, [`watch`] waits: the
//! operator confirming on the admin page (reached over the new settings)
//! ends the trial; otherwise, at the deadline, the previous settings come
//! back and the machine reboots into them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub const FILE: &str = "network";
pub const NEXT_FILE: &str = "network.next";
pub const PREVIOUS_FILE: &str = "network.previous";
pub const TRIAL_FILE: &str = "network.trial";
/// Default time to confirm new settings.
pub const DEFAULT_CONFIRM: Duration = Duration::from_secs(600);
pub const MIN_CONFIRM: Duration = Duration::from_secs(60);
pub const MAX_CONFIRM: Duration = Duration::from_secs(3600);
pub const MAX_DNS: usize = 3;

/// Network settings: DHCP, or a static IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settings {
    /// `a.b.c.d/len`; none: DHCP.
    pub address: Option<String>,
    /// The default gateway (inside the address's network).
    pub gateway: Option<String>,
    /// Resolvers (IPv4 or IPv6), at most 3; used with a static address.
    pub dns: Vec<String>,
}

impl Settings {
    pub fn dhcp() -> Settings {
        Settings {
            address: None,
            gateway: None,
            dns: vec![],
        }
    }

    pub fn is_dhcp(&self) -> bool {
        self.address.is_none()
    }

    /// `DHCP` or `static a.b.c.d/len`.
    pub fn summary(&self) -> String {
        match &self.address {
            None => "DHCP".into(),
            Some(a) => format!("static {a}"),
        }
    }
}

/// A field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Checks static settings as typed by the operator (trimmed); DHCP takes
/// none of the fields.
pub fn check(address: &str, gateway: &str, dns: &[&str]) -> Result<Settings, Invalid> {
    let (a, len) = address.split_once('/').ok_or_else(|| {
        invalid(
            "address",
            "write the address with its prefix length, e.g. 192.0.2.10/24",
        )
    })?;
    let a: Ipv4Addr = a
        .parse()
        .map_err(|_| invalid("address", format!("{a:?} is not an IPv4 address")))?;
    let len: u8 = match len.parse() {
        Ok(l) if (8..=30).contains(&l) && len.bytes().all(|b| b.is_ascii_digit()) => l,
        _ => return Err(invalid("address", "the prefix length must be 8 to 30")),
    };
    let mask = u32::MAX << (32 - len);
    let (host, net) = (u32::from(a), u32::from(a) & mask);
    if host == net || host == net | !mask {
        return Err(invalid(
            "address",
            format!("{a} is the network's own or broadcast address"),
        ));
    }
    if a.is_loopback() || a.is_multicast() || a.is_unspecified() || a.is_broadcast() {
        return Err(invalid(
            "address",
            format!("{a} cannot be a host's address"),
        ));
    }
    let gateway = match gateway {
        "" => None,
        g => {
            let g: Ipv4Addr = g
                .parse()
                .map_err(|_| invalid("gateway", format!("{g:?} is not an IPv4 address")))?;
            if u32::from(g) & mask != net || g == a {
                return Err(invalid(
                    "gateway",
                    format!(
                        "{g} is not another address in {}/{len}",
                        Ipv4Addr::from(net)
                    ),
                ));
            }
            Some(g.to_string())
        }
    };
    if dns.len() > MAX_DNS {
        return Err(invalid("dns", format!("at most {MAX_DNS} resolvers")));
    }
    let mut resolvers = Vec::new();
    for d in dns {
        let ip: IpAddr = d
            .parse()
            .map_err(|_| invalid("dns", format!("{d:?} is not an IP address")))?;
        resolvers.push(ip.to_string());
    }
    Ok(Settings {
        address: Some(format!("{a}/{len}")),
        gateway,
        dns: resolvers,
    })
}

/// The file text `rcS` reads.
pub fn text(s: &Settings) -> String {
    let mut t = String::from("# The appliance's network, written from the admin page.\n");
    match &s.address {
        None => t.push_str("# No address: DHCP on the first network card.\n"),
        Some(a) => {
            t.push_str(&format!("address={a}\n"));
            if let Some(g) = &s.gateway {
                t.push_str(&format!("gateway={g}\n"));
            }
            for d in &s.dns {
                t.push_str(&format!("dns={d}\n"));
            }
        }
    }
    t
}

/// Reads a settings file the way `rcS` does (first `address=`, first
/// `gateway=`, every `dns=`; text after a space or `#` ignored). A missing
/// file is DHCP.
pub fn read(path: &Path) -> Settings {
    let Ok(t) = std::fs::read_to_string(path) else {
        return Settings::dhcp();
    };
    let value = |l: &str, key: &str| -> Option<String> {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        let v = v.split([' ', '\t', '#']).next().unwrap_or("");
        (!v.is_empty()).then(|| v.to_string())
    };
    let mut s = Settings::dhcp();
    for l in t.lines() {
        if s.address.is_none() {
            s.address = value(l, "address");
        }
        if s.gateway.is_none() {
            s.gateway = value(l, "gateway");
        }
        if let Some(d) = value(l, "dns") {
            s.dns.push(d);
        }
    }
    s
}

/// The trial in progress, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Trial {
    /// Seconds the operator has to confirm, from the end of the boot script.
    pub confirm_within_secs: u64,
}

pub fn trial(settings_dir: &Path) -> Option<Trial> {
    let t = std::fs::read_to_string(settings_dir.join(TRIAL_FILE)).ok()?;
    let secs = t
        .lines()
        .find_map(|l| l.strip_prefix("confirm_within="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CONFIRM.as_secs());
    Some(Trial {
        confirm_within_secs: secs,
    })
}

/// Saves settings for the next boot, with the time the operator will have
/// to confirm them.
pub fn save_next(settings_dir: &Path, s: &Settings, confirm: Duration) -> std::io::Result<()> {
    std::fs::create_dir_all(settings_dir)?;
    let secs = confirm.clamp(MIN_CONFIRM, MAX_CONFIRM).as_secs();
    let t = format!("{}# confirm_within={secs}\n", text(s));
    super::write_durable(&settings_dir.join(NEXT_FILE), t.as_bytes())
}

/// The pending settings, if any.
pub fn next(settings_dir: &Path) -> Option<Settings> {
    let p = settings_dir.join(NEXT_FILE);
    p.exists().then(|| read(&p))
}

/// Ends a trial: the settings in effect stay.
pub fn confirm(settings_dir: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(settings_dir.join(TRIAL_FILE)) {
        Ok(()) => {
            let _ = std::fs::remove_file(settings_dir.join(PREVIOUS_FILE));
            super::sync_dir(settings_dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Puts the settings from before the trial back.
fn restore(settings_dir: &Path) -> std::io::Result<()> {
    let prev = settings_dir.join(PREVIOUS_FILE);
    if prev.exists() {
        std::fs::rename(&prev, settings_dir.join(FILE))?;
    }
    std::fs::remove_file(settings_dir.join(TRIAL_FILE))?;
    super::sync_dir(settings_dir)
}

/// At boot, before the network comes up: start a trial of saved settings,
/// or end an unconfirmed one from the last boot. Returns what to say.
pub fn begin(settings_dir: &Path) -> anyhow::Result<Option<String>> {
    let d = settings_dir;
    if d.join(TRIAL_FILE).exists() {
        restore(d).context("restoring the previous network settings")?;
        return Ok(Some(
            "network: the new settings were never confirmed: back to the previous ones".into(),
        ));
    }
    let next = d.join(NEXT_FILE);
    if !next.exists() {
        return Ok(None);
    }
    let text_next = std::fs::read_to_string(&next).context("reading network.next")?;
    let secs = text_next
        .lines()
        .find_map(|l| l.strip_prefix("# confirm_within="))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_CONFIRM.as_secs())
        .clamp(MIN_CONFIRM.as_secs(), MAX_CONFIRM.as_secs());
    // The settings in effect now (a missing file is DHCP) become the
    // previous ones; the trial marker goes last, after every rename.
    let current = d.join(FILE);
    let previous_text =
        std::fs::read(&current).unwrap_or_else(|_| text(&Settings::dhcp()).into_bytes());
    super::write_durable(&d.join(PREVIOUS_FILE), &previous_text)?;
    std::fs::rename(&next, &current)?;
    super::write_durable(
        &d.join(TRIAL_FILE),
        format!("confirm_within={secs}\n").as_bytes(),
    )?;
    Ok(Some(format!(
        "network: trying new settings ({}); confirm them on the admin page within {secs} s or the previous ones come back",
        read(&current).summary()
    )))
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// The operator kept the new settings.
    Confirmed,
    /// Not confirmed within this many seconds: the previous settings are
    /// back in place (they take effect at the next boot).
    RolledBack(u64),
}

impl Watched {
    pub fn message(&self) -> String {
        match self {
            Watched::Confirmed => "network: the new settings were confirmed".into(),
            Watched::RolledBack(secs) => format!(
                "network: the new settings were not confirmed within {secs} s: back to the previous ones"
            ),
        }
    }
}

/// Once the services run: waits for the operator to confirm a trial; at
/// the deadline puts the previous settings back (the caller reboots into
/// them). `None` when there is no trial.
pub fn watch(settings_dir: &Path) -> anyhow::Result<Option<Watched>> {
    let Some(t) = trial(settings_dir) else {
        return Ok(None);
    };
    let on_trial = || settings_dir.join(TRIAL_FILE).exists();
    let deadline = Instant::now() + Duration::from_secs(t.confirm_within_secs);
    while on_trial() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    if !on_trial() {
        return Ok(Some(Watched::Confirmed));
    }
    restore(settings_dir).context("restoring the previous network settings")?;
    Ok(Some(Watched::RolledBack(t.confirm_within_secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_settings_are_checked() {
        let s = check(
            "192.0.2.10/24",
            "192.0.2.1",
            &["192.0.2.53", "2001:db8::53"],
        )
        .unwrap();
        assert_eq!(s.address.as_deref(), Some("192.0.2.10/24"));
        assert_eq!(read_text(&text(&s)), s);
        let bad = |a: &str, g: &str, d: &[&str]| check(a, g, d).unwrap_err().field;
        assert_eq!(bad("192.0.2.10", "", &[]), "address");
        assert_eq!(bad("192.0.2.0/24", "", &[]), "address");
        assert_eq!(bad("192.0.2.255/24", "", &[]), "address");
        assert_eq!(bad("192.0.2.10/31", "", &[]), "address");
        assert_eq!(bad("192.0.2.10/+24", "", &[]), "address");
        assert_eq!(bad("127.0.0.2/8", "", &[]), "address");
        assert_eq!(bad("2001:db8::1/64", "", &[]), "address");
        assert_eq!(bad("192.0.2.10/24; reboot", "", &[]), "address");
        assert_eq!(bad("192.0.2.10/24", "198.51.100.1", &[]), "gateway");
        assert_eq!(bad("192.0.2.10/24", "192.0.2.10", &[]), "gateway");
        assert_eq!(bad("192.0.2.10/24", "$(reboot)", &[]), "gateway");
        assert_eq!(bad("192.0.2.10/24", "192.0.2.1", &["x"]), "dns");
        assert_eq!(
            bad(
                "192.0.2.10/24",
                "192.0.2.1",
                &["1.1.1.1", "1.0.0.1", "8.8.8.8", "9.9.9.9"]
            ),
            "dns"
        );
    }

    fn read_text(t: &str) -> Settings {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("n"), t).unwrap();
        read(&d.path().join("n"))
    }

    #[test]
    fn reads_what_rcs_reads() {
        let s = read_text(
            "# x\naddress=192.0.2.10/24 # lab\ngateway=192.0.2.1\ndns=192.0.2.53\ndns=192.0.2.54\n",
        );
        assert_eq!(s.address.as_deref(), Some("192.0.2.10/24"));
        assert_eq!(s.dns, vec!["192.0.2.53", "192.0.2.54"]);
        assert!(read_text("# only a comment\n").is_dhcp());
        assert!(read(Path::new("/nonexistent/network")).is_dhcp());
    }

    #[test]
    fn a_trial_is_confirmed_or_rolled_back() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let first = check("192.0.2.10/24", "192.0.2.1", &[]).unwrap();
        std::fs::write(dir.join(FILE), text(&first)).unwrap();
        assert_eq!(begin(dir).unwrap(), None, "nothing saved: nothing to do");

        // Saved, begun, confirmed: the new settings stay.
        let second = check("192.0.2.20/24", "192.0.2.1", &[]).unwrap();
        save_next(dir, &second, Duration::from_secs(5)).unwrap();
        assert_eq!(next(dir), Some(second.clone()));
        let said = begin(dir).unwrap().unwrap();
        assert!(
            said.contains("static 192.0.2.20/24") && said.contains("within 60 s"),
            "{said}"
        );
        assert_eq!(read(&dir.join(FILE)), second);
        assert_eq!(read(&dir.join(PREVIOUS_FILE)), first);
        assert_eq!(
            trial(dir).unwrap().confirm_within_secs,
            60,
            "clamped to the minimum"
        );
        assert!(confirm(dir).unwrap());
        assert!(!confirm(dir).unwrap());
        assert_eq!(begin(dir).unwrap(), None);
        assert_eq!(read(&dir.join(FILE)), second);
        assert!(!dir.join(PREVIOUS_FILE).exists());

        // DHCP on trial, never confirmed: the next boot puts the static
        // settings back.
        save_next(dir, &Settings::dhcp(), DEFAULT_CONFIRM).unwrap();
        assert!(begin(dir).unwrap().unwrap().contains("(DHCP)"));
        assert!(read(&dir.join(FILE)).is_dhcp());
        let said = begin(dir).unwrap().unwrap();
        assert!(said.contains("never confirmed"), "{said}");
        assert_eq!(read(&dir.join(FILE)), second);
        assert!(trial(dir).is_none());

        // From no file at all (DHCP) to static, rolled back by the watch.
        std::fs::remove_file(dir.join(FILE)).unwrap();
        save_next(dir, &first, MIN_CONFIRM).unwrap();
        begin(dir).unwrap();
        std::fs::write(dir.join(TRIAL_FILE), "confirm_within=0\n").unwrap();
        assert_eq!(watch(dir).unwrap(), Some(Watched::RolledBack(0)));
        assert!(read(&dir.join(FILE)).is_dhcp());
        assert!(trial(dir).is_none());
        assert_eq!(watch(dir).unwrap(), None);
    }
}
