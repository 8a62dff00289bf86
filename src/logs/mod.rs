//! Firewall logs in: the formats firewalls write, read into one normalised
//! [`LogRecord`] per connection.
//!
//! - [`record`]: the record (time, action, protocol, addresses, ports).
//! - [`time`]: zones and year rules for logs that print neither.
//! - [`syslog`]: RFC 3164 / RFC 5424 headers the line formats share.
//! - [`formats`]: one parser per firewall family, and per-line detection.
//! - [`reader`]: a stream (gzip or plain) through the parser, with counts.
//! - [`store`]: the log archive (append-only, hash-chained, roll-ups).
//! - [`correlate`]: which feeds listed an address at an entry's time.
//! - [`dshield`]: blocked entries given back to DShield, in batches.
//! - [`cli`]: `feedwall logs parse`.

pub mod cli;
pub mod correlate;
pub mod dshield;
pub mod formats;
pub mod ingest;
pub mod intake;
pub mod reader;
pub mod record;
pub mod report;
pub mod service;
pub mod store;
pub mod syslog;
pub mod time;

pub use formats::{Format, LineParser, Outcome};
pub use reader::{parse_stream, Summary};
pub use record::{Action, LogRecord, Proto, TcpFlags};
pub use time::{Clock, Zone};
