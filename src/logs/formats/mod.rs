//! The firewall log formats: one file per family, each with a cheap
//! `sniff` (does this line belong to me?) and a `parse` that turns a line into
//! a record, a counted rejection (it is one of mine but malformed), or an
//! ignored line (mine, but not a connection record: a teardown, a banner).

use std::fmt;
use std::str::FromStr;

use super::record::LogRecord;
use super::time::Clock;

pub mod asa;
pub mod dshield;
pub mod filterlog;
pub mod fortigate;
pub mod mikrotik;
pub mod netfilter;
pub mod panos;
pub mod pf;
pub mod srx;
pub mod windows;

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Record(LogRecord),
    /// Looks like a firewall record of this format but is malformed: counted
    /// and kept raw, with the reason.
    Rejected(&'static str),
    /// Not a connection record (another daemon's line, another message id, a
    /// banner): counted and kept raw.
    Ignored,
    /// Format furniture: blank lines, column headers.
    Skipped,
}

/// A log format. `--format` names are [`Format::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// DShield's own tab-separated submission format.
    Dshield,
    /// Kernel LOG target lines in BSD syslog (iptables, UFW).
    Iptables,
    /// The same kernel fields from nftables `log`, RFC 3339 timestamps.
    Nftables,
    /// tcpdump text of pflog.
    Pf,
    /// pfSense/OPNsense filterlog CSV.
    Filterlog,
    /// Cisco ASA 106001, 106023, 106100.
    CiscoAsa,
    /// FortiGate key=value traffic logs.
    Fortigate,
    /// PAN-OS TRAFFIC CSV.
    Panos,
    /// Windows Firewall pfirewall.log.
    WindowsFirewall,
    /// MikroTik RouterOS firewall log.
    Mikrotik,
    /// Juniper SRX RT_FLOW, BSD text and RFC 5424 structured data.
    JuniperSrx,
}

/// Every format, in the order auto-detection tries them (most specific
/// markers first).
pub const ALL: [Format; 11] = [
    Format::CiscoAsa,
    Format::Fortigate,
    Format::Panos,
    Format::JuniperSrx,
    Format::Filterlog,
    Format::Mikrotik,
    Format::Pf,
    Format::Nftables,
    Format::Iptables,
    Format::WindowsFirewall,
    Format::Dshield,
];

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Dshield => "dshield",
            Format::Iptables => "iptables",
            Format::Nftables => "nftables",
            Format::Pf => "pf",
            Format::Filterlog => "filterlog",
            Format::CiscoAsa => "cisco_asa",
            Format::Fortigate => "fortigate",
            Format::Panos => "panos",
            Format::WindowsFirewall => "windows_firewall",
            Format::Mikrotik => "mikrotik",
            Format::JuniperSrx => "juniper_srx",
        }
    }

    /// Whether `line` belongs to this format's family (records, rejections
    /// and its own ignorable lines alike). Cheap: substring checks.
    pub fn sniff(self, line: &str, state: &State) -> bool {
        match self {
            Format::Dshield => dshield::sniff(line),
            Format::Iptables => netfilter::sniff_iptables(line),
            Format::Nftables => netfilter::sniff_nftables(line),
            Format::Pf => pf::sniff(line),
            Format::Filterlog => filterlog::sniff(line),
            Format::CiscoAsa => asa::sniff(line),
            Format::Fortigate => fortigate::sniff(line),
            Format::Panos => panos::sniff(line),
            Format::WindowsFirewall => windows::sniff(line, &state.windows),
            Format::Mikrotik => mikrotik::sniff(line),
            Format::JuniperSrx => srx::sniff(line),
        }
    }

    /// Parses one line (without its line end) as this format. Lines of
    /// other families come back [`Outcome::Ignored`].
    pub fn parse(self, line: &str, clock: &Clock, state: &mut State) -> Outcome {
        match self {
            Format::Dshield => dshield::parse(line, clock),
            Format::Iptables | Format::Nftables => netfilter::parse(line, clock),
            Format::Pf => pf::parse(line, clock),
            Format::Filterlog => filterlog::parse(line, clock),
            Format::CiscoAsa => asa::parse(line, clock),
            Format::Fortigate => fortigate::parse(line, clock),
            Format::Panos => panos::parse(line, clock),
            Format::WindowsFirewall => windows::parse(line, clock, &mut state.windows),
            Format::Mikrotik => mikrotik::parse(line, clock),
            Format::JuniperSrx => srx::parse(line, clock),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--format` name that is not a format.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown log format `{0}`: expected auto, dshield, iptables, nftables, pf, filterlog, cisco_asa, fortigate, panos, windows_firewall, mikrotik or juniper_srx")]
pub struct FormatError(pub String);

impl FromStr for Format {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Format, FormatError> {
        let l = s.trim().to_ascii_lowercase().replace('-', "_");
        let f = match l.as_str() {
            "dshield" | "dshield_submission" => Format::Dshield,
            "iptables" | "netfilter" | "ufw" => Format::Iptables,
            "nftables" | "nft" => Format::Nftables,
            "pf" | "pflog" => Format::Pf,
            "filterlog" | "pfsense" | "opnsense" => Format::Filterlog,
            "cisco_asa" | "asa" => Format::CiscoAsa,
            "fortigate" | "fortios" => Format::Fortigate,
            "panos" | "pan_os" | "paloalto" | "palo_alto" => Format::Panos,
            "windows_firewall" | "windows" | "pfirewall" => Format::WindowsFirewall,
            "mikrotik" | "routeros" => Format::Mikrotik,
            "juniper_srx" | "srx" | "juniper" => Format::JuniperSrx,
            _ => return Err(FormatError(s.to_string())),
        };
        Ok(f)
    }
}

/// Per-stream parser state (formats whose lines depend on a header).
#[derive(Debug, Clone, Default)]
pub struct State {
    pub windows: windows::Fields,
}

/// Parses a stream line by line: with a fixed format, or detecting the
/// format per line (a syslog stream mixes devices and daemons). Detection
/// keeps the last format that matched and only searches again when a line
/// is not of that family.
#[derive(Debug, Clone)]
pub struct LineParser {
    fixed: Option<Format>,
    current: Option<Format>,
    state: State,
    clock: Clock,
}

impl LineParser {
    /// `format` None detects per line.
    pub fn new(format: Option<Format>, clock: Clock) -> LineParser {
        LineParser {
            fixed: format,
            current: format,
            state: State::default(),
            clock,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The format of the last line that had one.
    pub fn current(&self) -> Option<Format> {
        self.current
    }

    /// One line, without its line end. Returns the format that took it
    /// (None: no format recognised the line, which is then ignored).
    pub fn parse_line(&mut self, line: &str) -> (Option<Format>, Outcome) {
        if line.trim().is_empty() {
            return (self.current, Outcome::Skipped);
        }
        if let Some(f) = self.fixed {
            return (Some(f), f.parse(line, &self.clock, &mut self.state));
        }
        let format = match self.current {
            Some(f) if f.sniff(line, &self.state) => Some(f),
            _ => ALL.into_iter().find(|f| f.sniff(line, &self.state)),
        };
        match format {
            Some(f) => {
                self.current = Some(f);
                (Some(f), f.parse(line, &self.clock, &mut self.state))
            }
            None => (None, Outcome::Ignored),
        }
    }
}

/// What the format tests share: the clock they read times with and a
/// record that the format's own sniff must claim.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Format, Outcome, State};
    use crate::logs::record::LogRecord;
    use crate::logs::time::{Clock, Zone};

    /// UTC, year 2026 for dates printed without one.
    pub fn clock() -> Clock {
        Clock {
            zone: Zone::Utc,
            year: Some(2026),
            now: 1_800_000_000,
        }
    }

    /// `line` read as `format`: claimed by its sniff, and a record.
    pub fn record(format: Format, line: &str) -> LogRecord {
        let mut state = State::default();
        assert!(format.sniff(line, &state), "{format} does not claim {line}");
        match format.parse(line, &clock(), &mut state) {
            Outcome::Record(r) => r,
            o => panic!("{format}: {o:?} for {line}"),
        }
    }
}
