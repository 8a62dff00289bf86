//! `feedwall appliance console`: the status screen on the VT and on the
//! serial port. It never reads input and offers no shell.
//!
//! The block is rendered from files only (the ESP's manifests and entries,
//! the kernel command line, the data directory's snapshot, health, admin
//! URL and certificate, the run directory's ready, network and one-time
//! password files, the admin database read-only), so the screen works
//! whatever state the services are in. On a VT it is redrawn every
//! [`REFRESH`]; on a serial port (`--serial`) a block is printed only when
//! its text changed, so a serial log stays short. Every block starts with
//! [`HEADER`]; lines the boot test looks for keep their exact forms:
//! `slot <a|b> build <build>`, `serving snapshot serial <n>`,
//! `one-time password: <pw>`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::state::ApplianceState;
use super::{esp, upgrade, Slot};
use crate::config::Config;

/// First line of every block.
pub const HEADER: &str = "== feedwall status ==";
/// How often the screen is refreshed (and the serial block re-checked).
pub const REFRESH: Duration = Duration::from_secs(5);

/// What the console is told.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Terminal to write to (stdout when `None`).
    pub tty: Option<PathBuf>,
    pub serial: bool,
    pub data: PathBuf,
    pub boot: PathBuf,
    pub run: PathBuf,
    pub once: bool,
    /// The booted slot (tests); default: the kernel command line's.
    pub slot: Option<Slot>,
}

/// A non-loopback address of this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub addr: IpAddr,
}

/// The machine's addresses (getifaddrs): no loopback, no IPv6 link-local.
pub fn machine_addresses() -> Vec<Iface> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getifaddrs returned; it stays
        // valid until freeifaddrs.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0 {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr whose
        // family says which struct it is.
        let addr = unsafe {
            match (*ifa.ifa_addr).sa_family as libc::c_int {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            }
        };
        let link_local_v6 = matches!(addr, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
        if addr.is_loopback() || link_local_v6 {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        out.push(Iface { name, addr });
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// A process id from a ready file is alive.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks; no memory is touched.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// The responder's ready file names a live responder.
pub fn dns_ready(run: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(run.join(super::DNS_READY_FILE)) else {
        return false;
    };
    match serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["pid"].as_i64())
    {
        Some(pid) => pid_alive(pid as i32),
        None => true,
    }
}

/// `addr` as people type it in a URL or a firewall rule, for every
/// machine address when it is unspecified.
fn shown_addrs(listen: SocketAddr, ifaces: &[Iface]) -> Vec<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return vec![listen];
    }
    ifaces
        .iter()
        .filter(|i| listen.is_ipv6() || i.addr.is_ipv4())
        .map(|i| SocketAddr::new(i.addr, listen.port()))
        .collect()
}

fn https_url(a: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let default = if tls { 443 } else { 80 };
    let host = match a.ip() {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    if a.port() == default {
        format!("{scheme}://{host}/")
    } else {
        format!("{scheme}://{host}:{}/", a.port())
    }
}

/// The listen address written in the admin URL file (`https://ADDR/`).
pub fn url_addr(url: &str) -> Option<SocketAddr> {
    let rest = url.trim().split_once("://")?.1;
    rest.split('/').next()?.parse().ok()
}

/// The SHA-256 fingerprint of the first certificate of a PEM file.
fn cert_fingerprint(path: &Path) -> Option<String> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).ok()?;
    let cert = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .next()?
        .ok()?;
    Some(crate::admin::tls::fingerprint(&cert))
}

/// The status block for these files and addresses.
pub fn render(o: &ConsoleOptions, ifaces: &[Iface]) -> String {
    let mut lines: Vec<String> = vec![HEADER.to_string()];
    // Product, slot and build.
    let slot = super::booted_slot(o.slot);
    let manifest = slot.and_then(|s| upgrade::slot_manifest(&o.boot, s));
    let version = manifest
        .as_ref()
        .map(|m| m.version.clone())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let build = manifest
        .as_ref()
        .map(|m| m.build.clone())
        .unwrap_or_else(|| "unknown".into());
    match slot {
        Some(s) => lines.push(format!("feedwall {version} · slot {s} build {build}")),
        None => lines.push(format!(
            "feedwall {version} · slot unknown (no feedwall.slot= on the kernel command line)"
        )),
    }
    // Addresses.
    let network = std::fs::read_to_string(o.run.join(super::NETWORK_FILE))
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let addrs: Vec<String> = ifaces
        .iter()
        .map(|i| format!("{} {}", i.name, i.addr))
        .collect();
    lines.push(format!(
        "addresses: {}{}",
        if addrs.is_empty() {
            "none yet".to_string()
        } else {
            addrs.join(", ")
        },
        network.map(|n| format!(" ({n})")).unwrap_or_default()
    ));
    let cfg = match Config::load(&super::config_path(&o.data)) {
        Ok(c) => c,
        Err(e) => {
            lines.push(format!("config: {e}"));
            return lines.join("\n") + "\n";
        }
    };
    let data = &cfg.data_dir;
    // DNS.
    let snap = data.join(crate::control::sidecar::SNAPSHOT_FILE);
    match (dns_ready(&o.run), crate::snapshot::peek_serial(&snap)) {
        (true, Some(serial)) => {
            let lists = crate::snapshot::MappedSnapshot::open(&snap)
                .map(|s| s.get().lists.len().to_string())
                .unwrap_or_else(|_| "?".into());
            let on: Vec<String> = cfg
                .dns
                .listen
                .iter()
                .map(|l| l.port().to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            lines.push(format!(
                "DNS: serving snapshot serial {serial} with {lists} lists on port {} (UDP and TCP)",
                on.join(", ")
            ));
        }
        _ => lines.push("DNS: starting".into()),
    }
    // Admin page.
    if cfg.admin.enabled {
        let url = std::fs::read_to_string(data.join(crate::admin::URL_FILE)).ok();
        match url.as_deref().and_then(url_addr) {
            Some(a) => {
                let urls: Vec<String> = shown_addrs(a, ifaces)
                    .into_iter()
                    .map(|a| https_url(a, cfg.admin.tls))
                    .collect();
                lines.push(format!(
                    "admin page: {}",
                    if urls.is_empty() {
                        "no address yet".to_string()
                    } else {
                        urls.join("  ")
                    }
                ));
            }
            None => lines.push("admin page: starting".into()),
        }
        if cfg.admin.tls {
            let cert = cfg
                .admin
                .tls_cert
                .clone()
                .unwrap_or_else(|| data.join(crate::admin::tls::CERT_FILE));
            if let Some(fp) = cert_fingerprint(&cert) {
                lines.push(format!("certificate SHA-256: {fp}"));
            }
        }
    } else {
        lines.push("admin page: off".into());
    }
    // Firewall logs.
    if cfg.logs.enabled {
        let show = |v: &[SocketAddr]| -> String {
            let all: Vec<String> = v
                .iter()
                .flat_map(|l| shown_addrs(*l, ifaces))
                .map(|a| a.to_string())
                .collect();
            if all.is_empty() {
                "off".into()
            } else {
                all.join(", ")
            }
        };
        lines.push(format!(
            "firewall logs: syslog {} (UDP, TCP); SMTP {}",
            show(&cfg.logs.syslog_listen),
            show(&cfg.logs.smtp_listen)
        ));
    }
    // Feeds.
    let health = crate::admin::operator::read_health(data);
    if health.is_empty() {
        lines.push(format!(
            "feeds: {} configured, none fetched yet",
            cfg.feeds.len()
        ));
    } else {
        let (mut ok, mut failing, mut held) = (0, 0, 0);
        for h in health.values() {
            if h.status.starts_with("failed") {
                failing += 1;
            } else if h.held_back.is_some() || h.status.starts_with("held back") {
                held += 1;
            } else {
                ok += 1;
            }
        }
        lines.push(format!(
            "feeds: {ok} ok, {failing} failing, {held} held back"
        ));
    }
    // Network settings on trial.
    if let Some(t) = super::network::trial(&cfg.appliance.settings_dir) {
        lines.push(format!(
            "network: new settings on trial: confirm them on the admin page within {} s of the boot, or the previous ones come back",
            t.confirm_within_secs
        ));
    }
    // Clock.
    lines.push(
        super::clock::Status::load(&o.run)
            .map(|s| s.line())
            .unwrap_or_else(|| "clock: no report yet".into()),
    );
    // Operator.
    let email = &cfg.admin.operator_email;
    let otp_path = o.run.join(super::OTP_FILE);
    match crate::admin::store::operator_password_pending(&data.join(crate::admin::DB_FILE), email) {
        Ok(Some(true)) => {
            lines.push(format!("operator: {email}"));
            let pw = std::fs::read_to_string(&otp_path)
                .ok()
                .and_then(|t| t.split_whitespace().nth(1).map(str::to_string));
            match pw {
                Some(pw) => lines.push(format!(
                    "one-time password: {pw} (change it at the first login)"
                )),
                None => lines
                    .push("the operator must change its password at the first login".to_string()),
            }
        }
        Ok(Some(false)) => {
            // Changed: the one-time password is no secret to keep showing.
            let _ = std::fs::remove_file(&otp_path);
            lines.push(format!("operator: {email}"));
        }
        Ok(None) => lines.push(format!("operator: {email} (not created yet)")),
        Err(e) => lines.push(format!("operator: {email} (cannot read the accounts: {e})")),
    }
    // Upgrades.
    if let Some(r) = ApplianceState::load(data).last() {
        lines.push(format!("upgrade: {}", r.message));
    }
    if let Some(s) = slot {
        if let Ok(entries) = esp::entries(&o.boot) {
            let ours = esp::slot_entry(&entries, s).map(|e| e.version).unwrap_or(0);
            if let Some(e) = esp::slot_entry(&entries, s.other())
                .filter(|e| e.version > ours && e.name.on_trial() && !e.name.is_bad())
            {
                let b = upgrade::slot_manifest(&o.boot, s.other())
                    .map(|m| m.build)
                    .unwrap_or_else(|| e.title.clone());
                lines.push(format!(
                    "upgrade: build {b} installed in slot {}; it starts at the next restart",
                    s.other()
                ));
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Turns off echo and line editing on a terminal, so typed keys neither
/// show nor pile up (best effort: not every path is a terminal).
fn quiet_terminal(f: &std::fs::File) {
    let fd = f.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) == 0 {
            t.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG);
            let _ = libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
}

/// Drops whatever was typed.
fn flush_input(f: &std::fs::File) {
    // SAFETY: tcflush on a valid fd; an error (not a terminal) is ignored.
    unsafe {
        libc::tcflush(f.as_raw_fd(), libc::TCIFLUSH);
    }
}

/// Runs the console (forever, unless `--once`).
pub fn run(o: &ConsoleOptions) -> anyhow::Result<()> {
    if o.once {
        print!("{}", render(o, &machine_addresses()));
        return Ok(());
    }
    let mut last = String::new();
    let mut tty: Option<std::fs::File> = None;
    loop {
        let block = render(o, &machine_addresses());
        if !o.serial || block != last {
            match &o.tty {
                None => {
                    let mut out = std::io::stdout().lock();
                    if !o.serial {
                        let _ = out.write_all(b"\x1b[H\x1b[2J");
                    }
                    let _ = out.write_all(block.as_bytes());
                    let _ = out.flush();
                }
                Some(path) => {
                    if tty.is_none() {
                        match std::fs::OpenOptions::new()
                            .read(true)
                            .write(true)
                            .open(path)
                        {
                            Ok(f) => {
                                quiet_terminal(&f);
                                tty = Some(f);
                            }
                            Err(e) => {
                                tracing::warn!(tty = %path.display(), error = %e, "cannot open the console terminal");
                            }
                        }
                    }
                    if let Some(f) = &mut tty {
                        flush_input(f);
                        let mut text = String::new();
                        if !o.serial {
                            // Home, clear, no cursor.
                            text.push_str("\x1b[H\x1b[2J\x1b[3J\x1b[?25l");
                        }
                        text.push_str(&block);
                        if f.write_all(text.as_bytes()).is_err() {
                            tty = None;
                            std::thread::sleep(REFRESH);
                            continue;
                        }
                    }
                }
            }
            last = block;
        }
        std::thread::sleep(REFRESH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::bundle::testing;
    use crate::appliance::state::{Outcome, Record};

    #[test]
    fn the_block_from_a_fixture_data_dir() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let o = ConsoleOptions {
            tty: None,
            serial: true,
            data: root.join("data"),
            boot: root.join("boot"),
            run: root.join("run"),
            once: true,
            slot: Some(Slot::A),
        };
        // Before setup: no config yet.
        let b = render(&o, &[]);
        assert!(b.starts_with(HEADER), "{b}");
        assert!(b.contains("slot a build unknown"), "{b}");
        assert!(b.contains("config:"), "{b}");
        // After setup, before the services: starting.
        crate::appliance::setup::run(&crate::appliance::setup::SetupOptions {
            data: o.data.clone(),
            run: o.run.clone(),
            boot: o.boot.clone(),
            ipv6: false,
        })
        .unwrap();
        let a = esp::slot_dir(&o.boot, Slot::A);
        std::fs::create_dir_all(&a).unwrap();
        let m = testing::manifest_for("2026.1-abc", b"k", b"i");
        std::fs::write(a.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        std::fs::create_dir_all(o.boot.join(esp::ENTRIES_DIR)).unwrap();
        std::fs::write(
            o.boot.join(esp::ENTRIES_DIR).join("feedwall-a.conf"),
            esp::entry_text(Slot::A, 1, &m),
        )
        .unwrap();
        let ifaces = [
            Iface {
                name: "eth0".into(),
                addr: "192.0.2.10".parse().unwrap(),
            },
            Iface {
                name: "eth0".into(),
                addr: "2001:db8::10".parse().unwrap(),
            },
        ];
        let b = render(&o, &ifaces);
        assert!(b.contains("slot a build 2026.1-abc"), "{b}");
        assert!(
            b.contains("addresses: eth0 192.0.2.10, eth0 2001:db8::10"),
            "{b}"
        );
        assert!(b.contains("DNS: starting"), "{b}");
        assert!(b.contains("admin page: starting"), "{b}");
        assert!(
            b.contains("syslog 192.0.2.10:514 (UDP, TCP); SMTP 192.0.2.10:25"),
            "{b}"
        );
        let pw = std::fs::read_to_string(o.run.join(crate::appliance::OTP_FILE)).unwrap();
        let pw = pw.split_whitespace().nth(1).unwrap();
        assert!(b.contains(&format!("one-time password: {pw} ")), "{b}");
        assert!(b.contains("operator: operator@feedwall.internal"), "{b}");
        // The services up: snapshot, ready file, admin URL and certificate.
        let data = o.data.join("feedwall");
        let (snap, _) =
            crate::demo::build(&data.join(crate::control::sidecar::SNAPSHOT_FILE), &[]).unwrap();
        std::fs::write(
            o.run.join(crate::appliance::DNS_READY_FILE),
            format!(
                "{{\"listen\":[\"0.0.0.0:53\"],\"serial\":1,\"pid\":{}}}",
                std::process::id()
            ),
        )
        .unwrap();
        std::fs::write(o.run.join(crate::appliance::NETWORK_FILE), "eth0 dhcp\n").unwrap();
        std::fs::write(data.join(crate::admin::URL_FILE), "https://0.0.0.0:443/").unwrap();
        let cfg = Config::load(&crate::appliance::config_path(&o.data)).unwrap();
        crate::admin::tls::cert_paths(&cfg).unwrap();
        std::fs::write(
            data.join(crate::control::sidecar::HEALTH_FILE),
            r#"{"a":{"status":"ok"},"b":{"status":"failed: timeout"},"c":{"status":"held back: shrank","held_back":"shrank"}}"#,
        )
        .unwrap();
        crate::appliance::state::ApplianceState::record(
            &data,
            Record {
                at: 1,
                outcome: Outcome::RolledBack,
                build: "bad-1".into(),
                slot: "b".into(),
                message: "upgrade to bad-1 failed, rolled back to 2026.1-abc".into(),
            },
        )
        .unwrap();
        let b = render(&o, &ifaces);
        assert!(
            b.contains(&format!("serving snapshot serial {} ", snap.serial)),
            "{b}"
        );
        assert!(b.contains("(eth0 dhcp)"), "{b}");
        assert!(b.contains("admin page: https://192.0.2.10/\n"), "{b}");
        assert!(b.contains("certificate SHA-256: "), "{b}");
        assert!(b.contains("feeds: 1 ok, 1 failing, 1 held back"), "{b}");
        assert!(
            b.contains("upgrade: upgrade to bad-1 failed, rolled back"),
            "{b}"
        );
        assert_eq!(render(&o, &ifaces), b, "no clock: same files, same block");
        // The operator changed the password: no longer shown, file gone.
        let store = crate::admin::store::Store::open(&data.join(crate::admin::DB_FILE)).unwrap();
        let (a, _) = store
            .account_by_email("operator@feedwall.internal")
            .unwrap()
            .unwrap();
        store.set_password(a.id, "x", None).unwrap();
        drop(store);
        let b = render(&o, &ifaces);
        assert!(!b.contains("one-time password"), "{b}");
        assert!(!o.run.join(crate::appliance::OTP_FILE).exists());
    }

    #[test]
    fn urls_and_addresses() {
        assert_eq!(
            url_addr("https://0.0.0.0:443/\n"),
            Some("0.0.0.0:443".parse().unwrap())
        );
        assert_eq!(
            url_addr("https://[::1]:8443/"),
            Some("[::1]:8443".parse().unwrap())
        );
        assert_eq!(
            https_url("[2001:db8::1]:443".parse().unwrap(), true),
            "https://[2001:db8::1]/"
        );
        assert_eq!(
            https_url("192.0.2.1:8443".parse().unwrap(), true),
            "https://192.0.2.1:8443/"
        );
        assert!(pid_alive(std::process::id() as i32));
    }
}
