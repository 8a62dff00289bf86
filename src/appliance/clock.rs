//! The appliance's clock, kept by SNTP (RFC 4330, NTPv4 client mode).
//! Firewall log times, reports, DShield's too-old/too-new cut-offs,
//! certificates and sessions all read the clock, and a virtual machine's
//! clock drifts over months without correction.
//!
//! **Servers** come from the operator's settings file (`<settings>/ntp`,
//! one per line; written from the admin page), else from DHCP (option 42,
//! which the image's udhcpc script writes to `<run>/ntp-dhcp`), else
//! `pool.ntp.org`. A settings file saying `off` turns it off.
//!
//! **The loop** (`feedwall appliance clock --set`, respawned by init) asks
//! every server once per round and takes the answer with the shortest round
//! trip. An offset beyond [`STEP_THRESHOLD`] steps the clock (and writes the
//! hardware clock); a smaller one is slewed (`adjtime`). Rounds run every
//! [`POLL_SYNCED`] once synchronized, every [`POLL_UNSYNCED`] before, and at
//! once when the settings change. What happened goes to `<run>/clock.json`
//! for the status screen and the admin page.
//!
//! Answers are checked before use: server mode, a version the client
//! speaks, stratum 1-15 (0 is a "kiss of death"), not "unsynchronized",
//! our random transmit stamp echoed as the origin, a plausible round trip.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The operator's server list, in the settings directory.
pub const SETTINGS_FILE: &str = "ntp";
/// Servers DHCP named (option 42), in the run directory.
pub const DHCP_FILE: &str = "ntp-dhcp";
/// The loop's last round, in the run directory.
pub const STATUS_FILE: &str = "clock.json";
/// Used when neither the operator nor DHCP names a server.
pub const DEFAULT_SERVER: &str = "pool.ntp.org";
/// At most this many servers.
pub const MAX_SERVERS: usize = 8;
/// Offsets beyond this are stepped, smaller ones slewed.
pub const STEP_THRESHOLD: f64 = 0.128;
pub const POLL_SYNCED: Duration = Duration::from_secs(1024);
pub const POLL_UNSYNCED: Duration = Duration::from_secs(64);
/// How long one server gets to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// Round trips longer than this are not trusted.
const MAX_DELAY: f64 = 5.0;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Where the server list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The operator's settings.
    Settings,
    /// DHCP option 42.
    Dhcp,
    /// [`DEFAULT_SERVER`].
    Default,
    /// The operator turned NTP off.
    Off,
}

/// The servers in effect and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers {
    pub source: Source,
    pub servers: Vec<String>,
}

/// Checks one server entry: a host name, an IPv4 or IPv6 address, each
/// with an optional port (`host:123`, `192.0.2.1:123`, `[2001:db8::1]:123`).
pub fn check_server(s: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{s:?}: {why}"));
    if s.is_empty() || s.len() > 260 {
        return bad("not a server name");
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return bad("missing ]");
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("not an IPv6 address inside [ ]");
        }
        match after {
            "" => return Ok(()),
            p => match p.strip_prefix(':') {
                Some(p) => (None, p),
                None => return bad("unexpected text after ]"),
            },
        }
    } else if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (Some(h), p),
            None => (Some(s), ""),
        }
    };
    if let Some(h) = host {
        if h.parse::<std::net::Ipv4Addr>().is_err() && !is_host_name(h) {
            return bad("not a host name or address");
        }
    }
    if !port.is_empty() || s.ends_with(':') {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return bad("the port is not 1-65535"),
        }
    }
    Ok(())
}

/// A DNS host name (RFC 1123 letters, digits, hyphens; an optional final
/// dot).
fn is_host_name(h: &str) -> bool {
    let h = h.strip_suffix('.').unwrap_or(h);
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// What the operator asks for: servers (checked), or `off`. Blank lines and
/// `#` comments are skipped; no servers at all means "the default".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Servers(Vec<String>),
    Off,
}

/// Reads the operator's text (the settings file or the admin form).
pub fn parse_setting(text: &str) -> Result<Setting, String> {
    let entries: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    if entries.len() == 1 && entries[0].eq_ignore_ascii_case("off") {
        return Ok(Setting::Off);
    }
    if entries.len() > MAX_SERVERS {
        return Err(format!("at most {MAX_SERVERS} servers"));
    }
    for e in &entries {
        if e.eq_ignore_ascii_case("off") {
            return Err("\"off\" stands alone".into());
        }
        check_server(e)?;
    }
    Ok(Setting::Servers(
        entries.iter().map(|e| e.to_string()).collect(),
    ))
}

/// The settings file's text for a setting.
pub fn setting_text(s: &Setting) -> String {
    let mut t = String::from(
        "# NTP servers of the appliance's clock, one per line (host, host:port,\n\
         # [IPv6]:port), or \"off\". Written from the admin page.\n",
    );
    match s {
        Setting::Off => t.push_str("off\n"),
        Setting::Servers(v) => {
            for e in v {
                t.push_str(e);
                t.push('\n');
            }
        }
    }
    t
}

/// Saves the operator's setting (`Servers(empty)` removes the file: DHCP's
/// servers or the default again).
pub fn save_setting(settings_dir: &Path, s: &Setting) -> std::io::Result<()> {
    let path = settings_dir.join(SETTINGS_FILE);
    match s {
        Setting::Servers(v) if v.is_empty() => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => super::sync_dir(settings_dir),
        },
        s => {
            std::fs::create_dir_all(settings_dir)?;
            super::write_durable(&path, setting_text(s).as_bytes())
        }
    }
}

/// The servers in effect. A damaged settings file counts as absent (and is
/// said in the status): the clock keeps working from DHCP or the default.
pub fn servers(settings_dir: &Path, run_dir: &Path) -> (Servers, Option<String>) {
    let mut problem = None;
    if let Ok(text) = std::fs::read_to_string(settings_dir.join(SETTINGS_FILE)) {
        match parse_setting(&text) {
            Ok(Setting::Off) => {
                return (
                    Servers {
                        source: Source::Off,
                        servers: vec![],
                    },
                    None,
                )
            }
            Ok(Setting::Servers(v)) if !v.is_empty() => {
                return (
                    Servers {
                        source: Source::Settings,
                        servers: v,
                    },
                    None,
                )
            }
            Ok(_) => {}
            Err(e) => problem = Some(format!("settings file ignored: {e}")),
        }
    }
    let dhcp: Vec<String> = std::fs::read_to_string(run_dir.join(DHCP_FILE))
        .unwrap_or_default()
        .split_whitespace()
        .filter(|s| s.parse::<IpAddr>().is_ok())
        .take(MAX_SERVERS)
        .map(str::to_string)
        .collect();
    let s = if dhcp.is_empty() {
        Servers {
            source: Source::Default,
            servers: vec![DEFAULT_SERVER.to_string()],
        }
    } else {
        Servers {
            source: Source::Dhcp,
            servers: dhcp,
        }
    };
    (s, problem)
}

/// The socket addresses of a server entry (port 123 unless given).
pub fn resolve(server: &str) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, 123)]);
    }
    if let Some(v6) = server.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        if let Ok(ip) = v6.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, 123)]);
        }
    }
    if let Ok(a) = server.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let with_port = if server.rsplit_once(':').is_some() {
        server.to_string()
    } else {
        format!("{server}:123")
    };
    Ok(with_port.to_socket_addrs()?.collect())
}

/// Seconds since the Unix epoch as an NTP timestamp (era 0 up to 2036,
/// era 1 after: the 32-bit seconds wrap).
pub fn to_ntp(unix: f64) -> u64 {
    let secs = unix.floor();
    let frac = ((unix - secs) * 4_294_967_296.0) as u64;
    let ntp_secs = (secs as i64 + NTP_UNIX_OFFSET as i64) as u64 & 0xffff_ffff;
    (ntp_secs << 32) | (frac & 0xffff_ffff)
}

/// An NTP timestamp as seconds since the Unix epoch; seconds below 2^31
/// (before 1968) are read as era 1 (after February 2036).
pub fn from_ntp(ts: u64) -> f64 {
    let mut secs = ts >> 32;
    if secs < 1 << 31 {
        secs += 1 << 32;
    }
    secs as f64 - NTP_UNIX_OFFSET as f64 + (ts & 0xffff_ffff) as f64 / 4_294_967_296.0
}

/// A client request whose transmit stamp is `nonce`.
pub fn request(nonce: u64) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[0] = 0x23; // LI 0, version 4, mode 3 (client)
    p[40..48].copy_from_slice(&nonce.to_be_bytes());
    p
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Add this to the local clock to get the server's.
    pub offset: f64,
    /// Round trip, less the server's own time.
    pub delay: f64,
    pub stratum: u8,
}

/// Checks a server's answer to the request stamped `nonce` (sent at local
/// time `t1`, received at `t4`) and measures offset and delay.
pub fn answer(p: &[u8], nonce: u64, t1: f64, t4: f64) -> Result<Sample, String> {
    if p.len() < 48 {
        return Err(format!("answer of {} bytes", p.len()));
    }
    let (li, vn, mode) = (p[0] >> 6, (p[0] >> 3) & 7, p[0] & 7);
    if mode != 4 {
        return Err(format!("mode {mode}, not a server's answer"));
    }
    if !(1..=4).contains(&vn) {
        return Err(format!("NTP version {vn}"));
    }
    let stratum = p[1];
    if stratum == 0 {
        let code = String::from_utf8_lossy(&p[12..16]).into_owned();
        return Err(format!("kiss of death {code:?}"));
    }
    if stratum > 15 || li == 3 {
        return Err("the server is not synchronized".into());
    }
    let be = |o: usize| u64::from_be_bytes(p[o..o + 8].try_into().expect("8 bytes"));
    if be(24) != nonce {
        return Err("the answer is not to our request".into());
    }
    let (t2, t3) = (be(32), be(40));
    if t2 == 0 || t3 == 0 {
        return Err("the answer has no time".into());
    }
    let (t2, t3) = (from_ntp(t2), from_ntp(t3));
    let offset = ((t2 - t1) + (t3 - t4)) / 2.0;
    let delay = (t4 - t1) - (t3 - t2);
    // A round trip a little below zero is clock granularity.
    if !(-0.01..=MAX_DELAY).contains(&delay) || t3 < t2 {
        return Err(format!("implausible round trip ({delay:.3} s)"));
    }
    Ok(Sample {
        offset,
        delay: delay.max(0.0),
        stratum,
    })
}

fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn nonce() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return unix_now_f64().to_bits();
    }
    u64::from_ne_bytes(b)
}

/// Asks one address once.
pub fn query(addr: SocketAddr, timeout: Duration) -> Result<Sample, String> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    sock.connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let n = nonce();
    let t1 = unix_now_f64();
    sock.send(&request(n)).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 512];
    loop {
        let got = sock.recv(&mut buf);
        let t4 = unix_now_f64();
        match got {
            Ok(len) => match answer(&buf[..len], n, t1, t4) {
                // A stray datagram for another request: keep waiting.
                Err(e) if e.contains("not to our request") => {}
                r => return r,
            },
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer within {} s", timeout.as_secs()))
            }
            Err(e) => return Err(e.to_string()),
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("no answer within {} s", timeout.as_secs()));
        }
    }
}

/// The loop's report of its last round (`clock.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    pub source: Option<Source>,
    pub servers: Vec<String>,
    /// The last round got a usable answer.
    pub synchronized: bool,
    /// The server (and address) that answered best.
    pub server: Option<String>,
    /// Its measured offset and round trip, seconds.
    pub offset_secs: Option<f64>,
    pub delay_secs: Option<f64>,
    pub stratum: Option<u8>,
    /// Unix time of the last round.
    pub at: Option<i64>,
    /// The last step of the clock (seconds added) and when.
    pub last_step_secs: Option<f64>,
    pub last_step_at: Option<i64>,
    /// Why the last round got nothing, or a settings problem.
    pub error: Option<String>,
}

impl Status {
    pub fn load(run_dir: &Path) -> Option<Status> {
        serde_json::from_slice(&std::fs::read(run_dir.join(STATUS_FILE)).ok()?).ok()
    }

    /// One line for the status screen. It changes only when a round
    /// changes the picture (not every round), so the serial console stays
    /// quiet.
    pub fn line(&self) -> String {
        let step = match (self.last_step_secs, self.last_step_at) {
            (Some(s), Some(at)) => format!(
                ", stepped {s:+.1} s at {}",
                chrono::DateTime::from_timestamp(at, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default()
            ),
            _ => String::new(),
        };
        match (self.source, self.synchronized) {
            (Some(Source::Off), _) => "clock: NTP off (set time servers on the admin page)".into(),
            (_, true) => format!(
                "clock: synchronized with {}{step}",
                self.server.as_deref().unwrap_or("?")
            ),
            (_, false) => format!(
                "clock: not synchronized ({}: {}){step}",
                self.servers.join(", "),
                self.error.as_deref().unwrap_or("no answer yet")
            ),
        }
    }
}

/// Options of `feedwall appliance clock`.
#[derive(Debug, Clone)]
pub struct ClockOptions {
    pub settings: PathBuf,
    pub run: PathBuf,
    /// Adjust the system clock (the image); without it, only measure.
    pub set: bool,
    /// One round, then exit (status 1 if not synchronized).
    pub once: bool,
}

/// One round: ask every server, use the best answer.
pub fn round(o: &ClockOptions, previous: &Status) -> Status {
    let (servers, problem) = servers(&o.settings, &o.run);
    let mut st = Status {
        source: Some(servers.source),
        servers: servers.servers.clone(),
        at: Some(super::unix_now()),
        last_step_secs: previous.last_step_secs,
        last_step_at: previous.last_step_at,
        ..Status::default()
    };
    if servers.source == Source::Off {
        return st;
    }
    let mut best: Option<(String, Sample)> = None;
    let mut errors = Vec::new();
    for s in &servers.servers {
        let addrs = match resolve(s) {
            Ok(a) if !a.is_empty() => a,
            Ok(_) => {
                errors.push(format!("{s}: no address"));
                continue;
            }
            Err(e) => {
                errors.push(format!("{s}: {e}"));
                continue;
            }
        };
        // Two addresses per name at most: a pool name has many.
        for a in addrs.into_iter().take(2) {
            match query(a, ANSWER_TIMEOUT) {
                Ok(sample) => {
                    if best.as_ref().is_none_or(|(_, b)| sample.delay < b.delay) {
                        let shown =
                            if s.parse::<IpAddr>().is_ok() || s.parse::<SocketAddr>().is_ok() {
                                s.clone()
                            } else {
                                format!("{s} ({a})")
                            };
                        best = Some((shown, sample));
                    }
                }
                Err(e) => errors.push(format!("{s}: {e}")),
            }
        }
    }
    match best {
        Some((server, sample)) => {
            st.synchronized = true;
            st.server = Some(server);
            st.offset_secs = Some(sample.offset);
            st.delay_secs = Some(sample.delay);
            st.stratum = Some(sample.stratum);
            if o.set {
                match adjust(sample.offset) {
                    Ok(true) => {
                        st.last_step_secs = Some(sample.offset);
                        st.last_step_at = Some(super::unix_now());
                    }
                    Ok(false) => {}
                    Err(e) => {
                        st.synchronized = false;
                        st.error = Some(format!("cannot set the clock: {e}"));
                    }
                }
            }
            if st.error.is_none() {
                st.error = problem;
            }
        }
        None => {
            st.error = Some(
                problem
                    .into_iter()
                    .chain(errors)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .filter(|e| !e.is_empty());
        }
    }
    st
}

/// Steps (true) or slews (false) the system clock by `offset` seconds.
fn adjust(offset: f64) -> std::io::Result<bool> {
    if offset.abs() > STEP_THRESHOLD {
        let target = unix_now_f64() + offset;
        let ts = libc::timespec {
            tv_sec: target.floor() as _,
            tv_nsec: ((target - target.floor()) * 1e9) as libc::c_long,
        };
        // SAFETY: a valid timespec, read by the call.
        if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The hardware clock too, so the next boot starts close (UTC).
        let _ = std::process::Command::new("/bin/hwclock")
            .args(["-w", "-u"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        Ok(true)
    } else {
        let micros = (offset * 1e6).round() as i64;
        let tv = libc::timeval {
            tv_sec: micros.div_euclid(1_000_000) as _,
            tv_usec: micros.rem_euclid(1_000_000) as _,
        };
        // SAFETY: a valid timeval; the old delta is not asked for.
        if unsafe { libc::adjtime(&tv, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(false)
    }
}

fn write_status(run: &Path, st: &Status) {
    let text = serde_json::to_vec_pretty(st).unwrap_or_default();
    let path = run.join(STATUS_FILE);
    let tmp = run.join(format!(".{STATUS_FILE}.tmp"));
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// Modification times of the files that name the servers.
fn inputs_stamp(o: &ClockOptions) -> Vec<Option<SystemTime>> {
    [o.settings.join(SETTINGS_FILE), o.run.join(DHCP_FILE)]
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// The loop (or one round with `once`).
pub fn run(o: &ClockOptions) -> anyhow::Result<Status> {
    std::fs::create_dir_all(&o.run).with_context(|| format!("creating {}", o.run.display()))?;
    let mut st = Status::load(&o.run).unwrap_or_default();
    loop {
        let stamp = inputs_stamp(o);
        let before = st.line();
        st = round(o, &st);
        write_status(&o.run, &st);
        if st.line() != before {
            tracing::info!("{}", st.line());
        }
        if o.once {
            return Ok(st);
        }
        let wait = if st.synchronized {
            POLL_SYNCED
        } else {
            POLL_UNSYNCED
        };
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until && inputs_stamp(o) == stamp {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_entries() {
        for ok in [
            "pool.ntp.org",
            "ntp1.example.net.",
            "time:123",
            "192.0.2.1",
            "192.0.2.1:10123",
            "2001:db8::1",
            "[2001:db8::1]",
            "[2001:db8::1]:123",
        ] {
            assert_eq!(check_server(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-bad.example",
            "a..b",
            "host:0",
            "host:65536",
            "host:",
            "host:+1",
            "[2001:db8::1",
            "[nope]:1",
            "[::1]x",
            "ex ample.org",
            "a;reboot",
            "$(id)",
            "x\ny",
            &"a".repeat(64),
        ] {
            assert!(check_server(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn settings_text_round_trips() {
        assert_eq!(parse_setting(" off \n"), Ok(Setting::Off));
        assert_eq!(parse_setting("# none\n\n"), Ok(Setting::Servers(vec![])));
        let s = parse_setting("a.example # first\n192.0.2.1:123\n").unwrap();
        assert_eq!(
            s,
            Setting::Servers(vec!["a.example".into(), "192.0.2.1:123".into()])
        );
        assert_eq!(parse_setting(&setting_text(&s)), Ok(s));
        assert_eq!(
            parse_setting(&setting_text(&Setting::Off)),
            Ok(Setting::Off)
        );
        assert!(parse_setting("off\na.example").is_err());
        assert!(parse_setting(&"a.example\n".repeat(9)).is_err());
        assert!(parse_setting("bad_name").is_err());
    }

    #[test]
    fn server_list_falls_back_to_dhcp_then_the_default() {
        let d = tempfile::tempdir().unwrap();
        let (set, run) = (d.path().join("config"), d.path().join("run"));
        std::fs::create_dir_all(&run).unwrap();
        assert_eq!(servers(&set, &run).0.source, Source::Default);
        std::fs::write(run.join(DHCP_FILE), "192.0.2.123 not-an-ip 192.0.2.124\n").unwrap();
        let (s, _) = servers(&set, &run);
        assert_eq!(
            (s.source, s.servers),
            (
                Source::Dhcp,
                vec!["192.0.2.123".to_string(), "192.0.2.124".to_string()]
            )
        );
        save_setting(&set, &Setting::Servers(vec!["time.example".into()])).unwrap();
        assert_eq!(servers(&set, &run).0.servers, vec!["time.example"]);
        save_setting(&set, &Setting::Off).unwrap();
        assert_eq!(servers(&set, &run).0.source, Source::Off);
        save_setting(&set, &Setting::Servers(vec![])).unwrap();
        assert_eq!(servers(&set, &run).0.source, Source::Dhcp);
        std::fs::write(set.join(SETTINGS_FILE), "bad name\n").unwrap();
        let (s, problem) = servers(&set, &run);
        assert_eq!(s.source, Source::Dhcp);
        assert!(problem.unwrap().contains("ignored"));
    }

    #[test]
    fn ntp_timestamps() {
        let t = 1_795_900_000.25;
        assert!((from_ntp(to_ntp(t)) - t).abs() < 1e-6);
        // After the 2036 wrap (era 1).
        let t = 2_300_000_000.5;
        assert!(to_ntp(t) >> 32 < 1 << 31);
        assert!((from_ntp(to_ntp(t)) - t).abs() < 1e-6);
    }

    fn reply(nonce: u64, t2: f64, t3: f64) -> [u8; 48] {
        let mut p = [0u8; 48];
        p[0] = 0x24; // version 4, server
        p[1] = 2;
        p[24..32].copy_from_slice(&nonce.to_be_bytes());
        p[32..40].copy_from_slice(&to_ntp(t2).to_be_bytes());
        p[40..48].copy_from_slice(&to_ntp(t3).to_be_bytes());
        p
    }

    #[test]
    fn answers_are_checked_and_measured() {
        let (t1, t4) = (1000.0 + 1_795_900_000.0, 1000.2 + 1_795_900_000.0);
        // The server is an hour ahead; 0.1 s each way, 0 s inside.
        let p = reply(7, t1 + 3600.1, t1 + 3600.1);
        let s = answer(&p, 7, t1, t4).unwrap();
        assert!((s.offset - 3600.0).abs() < 1e-3, "{s:?}");
        assert!((s.delay - 0.2).abs() < 1e-3, "{s:?}");
        assert!(answer(&p, 8, t1, t4)
            .unwrap_err()
            .contains("not to our request"));
        assert!(answer(&p[..40], 7, t1, t4).is_err());
        let mut q = p;
        q[0] = 0x23;
        assert!(answer(&q, 7, t1, t4).unwrap_err().contains("mode"));
        let mut q = p;
        q[1] = 0;
        q[12..16].copy_from_slice(b"RATE");
        assert!(answer(&q, 7, t1, t4).unwrap_err().contains("RATE"));
        let mut q = p;
        q[0] = 0xe4; // LI 3: unsynchronized
        assert!(answer(&q, 7, t1, t4).is_err());
        let q = reply(7, t1 + 10.0, t1 + 9.0); // sent before received
        assert!(answer(&q, 7, t1, t4).is_err());
        let q = reply(7, t1, t1 + 0.01);
        assert!(answer(&q, 7, t1, t1 + 30.0)
            .unwrap_err()
            .contains("round trip"));
    }

    #[test]
    fn one_round_against_a_server_on_loopback() {
        let srv = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = srv.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut b = [0u8; 48];
            let (_, from) = srv.recv_from(&mut b).unwrap();
            let nonce = u64::from_be_bytes(b[40..48].try_into().unwrap());
            let now = unix_now_f64() - 30.0; // 30 s behind
            srv.send_to(&reply(nonce, now, now), from).unwrap();
        });
        let d = tempfile::tempdir().unwrap();
        let o = ClockOptions {
            settings: d.path().join("config"),
            run: d.path().join("run"),
            set: false,
            once: true,
        };
        save_setting(&o.settings, &Setting::Servers(vec![addr.to_string()])).unwrap();
        let st = run(&o).unwrap();
        server.join().unwrap();
        assert!(st.synchronized, "{st:?}");
        assert_eq!(st.source, Some(Source::Settings));
        assert!((st.offset_secs.unwrap() + 30.0).abs() < 1.0, "{st:?}");
        assert_eq!(st.last_step_secs, None, "measured only");
        // What the status screen and the admin page read back (floats
        // through JSON text: equal to a few ulps, not bit for bit).
        let loaded = Status::load(&o.run).unwrap();
        assert_eq!(loaded.line(), st.line());
        assert!((loaded.offset_secs.unwrap() - st.offset_secs.unwrap()).abs() < 1e-9);
        assert!(st.line().starts_with("clock: synchronized with 127.0.0.1:"));
    }
}
