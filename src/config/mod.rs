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
            feeds,
            lists,
            devices,
        })
    }
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
