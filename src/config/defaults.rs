//! Every default of the configuration file, one named constant each.

/// Config file format version this build reads.
pub const CONFIG_VERSION: &str = "v1";
/// Data directory (snapshot, archive database, state).
pub const DATA_DIR: &str = "feedwall-data";
/// Responder listen address (UDP and TCP).
pub const DNS_LISTEN: &str = "127.0.0.1:5353";
/// Demo device registered by the embedded default.
pub const DEMO_DEVICE: &str = "127.0.0.1/32";
/// Fetch interval when a feed declares no update period: 2 hours.
pub const FETCH_INTERVAL_SECS: u64 = 2 * 3600;
/// Shortest fetch interval allowed, whatever a feed's period (politeness).
pub const MIN_FETCH_INTERVAL_SECS: u64 = 5 * 60;
/// Connect timeout of one fetch.
pub const FETCH_CONNECT_TIMEOUT_SECS: u64 = 15;
/// Total time one fetch may take, body included.
pub const FETCH_TIMEOUT_SECS: u64 = 120;
/// Largest feed body accepted (64 MiB).
pub const FETCH_MAX_BYTES: u64 = 64 << 20;
/// Attempts per fetch before the feed is marked failed until its next turn.
pub const FETCH_RETRIES: u32 = 3;
/// Feeds fetched at the same time.
pub const FETCH_CONCURRENCY: usize = 4;
/// Sanity gate: hold back a version that shrinks by more than this share.
pub const GATE_MAX_SHRINK: f64 = 0.5;
/// Sanity gate: hold back a version with a larger share of bad records.
pub const GATE_MAX_BAD_SHARE: f64 = 0.2;
/// Sanity gate: shortest IPv4 prefix a feed may list.
pub const GATE_MIN_PREFIX_V4: u8 = 8;
/// Sanity gate: shortest IPv6 prefix a feed may list.
pub const GATE_MIN_PREFIX_V6: u8 = 32;
/// Chunk names a list declares when its config says nothing.
pub const LIST_CAPACITY: u32 = 8;
/// Admin web server address (HTTPS).
pub const ADMIN_LISTEN: &str = "127.0.0.1:8443";
/// Sign-up: only the operator creates accounts unless configured open.
pub const ADMIN_SIGNUP: super::Signup = super::Signup::OperatorOnly;
/// User id of the operator account created on first start.
pub const ADMIN_OPERATOR_EMAIL: &str = "operator@feedwall.internal";
/// Devices a basic-tier account may register.
pub const ADMIN_BASIC_DEVICE_LIMIT: u32 = 3;
/// Admin session lifetime: 12 hours.
pub const ADMIN_SESSION_TTL_SECS: u64 = 12 * 3600;
/// Largest admin request body (list imports, uploads): 4 MiB.
pub const ADMIN_MAX_UPLOAD: u64 = 4 << 20;
/// Widest IPv4 prefix a subscriber may register as a device.
pub const ADMIN_SUBSCRIBER_MIN_PREFIX_V4: u8 = 16;
/// Widest IPv6 prefix a subscriber may register as a device.
pub const ADMIN_SUBSCRIBER_MIN_PREFIX_V6: u8 = 32;
/// Syslog (UDP and TCP) for firewall logs; the appliance image listens on 514.
pub const LOGS_SYSLOG_LISTEN: &[&str] = &["127.0.0.1:5514"];
/// SMTP for mailed firewall logs; the appliance image listens on 25.
pub const LOGS_SMTP_LISTEN: &[&str] = &["127.0.0.1:2525"];
/// Mail domain of per-device log addresses.
pub const LOGS_SMTP_DOMAIN: &str = "logs.feedwall.internal";
/// Largest log upload, API call or mail: 64 MiB (before decompression).
pub const LOGS_MAX_UPLOAD: u64 = 64 << 20;
/// Log entries are kept a year.
pub const LOGS_RETENTION_SECS: u64 = 365 * 86_400;
/// DShield submission is off until the operator turns it on (`[dshield]`).
pub const DSHIELD_ENABLED: bool = false;
/// Where mailed submissions go: DShield's documented report address.
pub const DSHIELD_MAIL_TO: &str = "reports@dshield.org";
/// Sender of mailed submissions. DShield ties a user id's reports to the
/// address registered with it: set this to that address.
pub const DSHIELD_MAIL_FROM: &str = "dshield@feedwall.internal";
/// How often new blocked entries are submitted: hourly.
pub const DSHIELD_INTERVAL_SECS: u64 = 3600;
/// Time one submission may take (connect, send, answer).
pub const DSHIELD_TIMEOUT_SECS: u64 = 60;
/// Most lines in one submission (about 80 bytes each).
pub const DSHIELD_MAX_LINES: usize = 10_000;
/// First retry delay after a failed submission; it doubles per attempt.
pub const DSHIELD_RETRY_MIN_SECS: u64 = 60;
/// Longest retry delay: 6 hours.
pub const DSHIELD_RETRY_MAX_SECS: u64 = 6 * 3600;
/// Target addresses are masked (IPv4 to its /24, IPv6 to its /64) before
/// they leave the appliance, as DShield's own clients offer.
pub const DSHIELD_OBFUSCATE_TARGETS: bool = true;
/// Largest upgrade bundle the appliance accepts (kernel and initramfs): 512 MiB.
pub const APPLIANCE_MAX_BUNDLE: u64 = 512 << 20;
/// The admin page reboots into a just-installed build only when told to
/// (the appliance image's config says so; a test machine must not reboot).
pub const APPLIANCE_REBOOT_AFTER_UPGRADE: bool = false;
