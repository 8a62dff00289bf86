//! `Timestamp`: a UTC instant in whole Unix seconds, as the archive stores
//! it, with the forms the CLI accepts and prints.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// A UTC instant, whole seconds since the Unix epoch. Printed in RFC 3339
/// (`2026-11-02T13:05:00Z`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A time the CLI could not read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read time `{0}`: expected RFC 3339 (2026-11-02T13:05:00Z), `YYYY-MM-DD HH:MM` (UTC), `YYYY-MM-DD` or `@UNIXSECONDS`")]
pub struct TimeParseError(pub String);

/// Accepted forms without a zone, read as UTC.
const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
];

impl Timestamp {
    /// Now, from the system clock (0 if the clock is before 1970).
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// Unix seconds.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Reads a time given on the command line: RFC 3339 with any offset,
    /// `YYYY-MM-DD HH:MM[:SS]` (also with `T`) taken as UTC, a bare date
    /// (midnight UTC), or `@` followed by Unix seconds.
    pub fn parse_cli(s: &str) -> Result<Timestamp, TimeParseError> {
        let t = s.trim();
        if let Some(secs) = t.strip_prefix('@') {
            return secs
                .parse()
                .map(Timestamp)
                .map_err(|_| TimeParseError(s.to_string()));
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(Timestamp(dt.timestamp()));
        }
        for f in NAIVE_FORMATS {
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
                return Ok(Timestamp(dt.and_utc().timestamp()));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            if let Some(dt) = d.and_hms_opt(0, 0, 0) {
                return Ok(Timestamp(dt.and_utc().timestamp()));
            }
        }
        Err(TimeParseError(s.to_string()))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(d.as_secs() as i64),
            Err(e) => Timestamp(-(e.duration().as_secs() as i64)),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::from_timestamp(self.0, 0) {
            Some(dt) => write!(f, "{}", dt.format("%Y-%m-%dT%H:%M:%SZ")),
            None => write!(f, "@{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let want = Timestamp(1_793_624_700); // 2026-11-02T13:05:00Z
        assert_eq!(want.to_string(), "2026-11-02T13:05:00Z");
        for s in [
            "2026-11-02T13:05:00Z",
            "2026-11-02T14:05:00+01:00",
            "2026-11-02 13:05",
            "2026-11-02 13:05:00",
            "2026-11-02T13:05",
            "@1793624700",
        ] {
            assert_eq!(Timestamp::parse_cli(s).unwrap(), want, "{s}");
        }
        assert_eq!(
            Timestamp::parse_cli("2026-11-02").unwrap(),
            Timestamp(1_793_577_600)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-02 13:05",
            "2026-11-02 25:00",
            "@x",
        ] {
            assert!(Timestamp::parse_cli(bad).is_err(), "{bad}");
        }
    }
}
