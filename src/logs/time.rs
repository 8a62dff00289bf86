//! Log times: the zone a device's logs are read in, years for formats that
//! print none, and the few timestamp shapes firewall logs share.
//!
//! Many logs (BSD syslog, tcpdump `-ttt`, Windows Firewall "Local") give a
//! wall-clock time with no zone, and often no year. Those are read in the
//! device's configured zone ([`Zone`]); a missing year is the one given
//! (`--year`) or the current year, the previous one for a date that would lie
//! more than a day in the future (a December line read in January).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// The zone a device's zone-less times are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    #[default]
    Utc,
    /// A fixed offset (`+01:00`, `-0500`).
    Fixed(FixedOffset),
    /// An IANA zone (`Europe/Berlin`), daylight saving included.
    Named(chrono_tz::Tz),
}

/// A zone name that is neither `UTC`, an offset nor an IANA zone.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown time zone `{0}`: expected UTC, an offset such as +01:00, or an IANA zone such as Europe/Berlin")]
pub struct ZoneError(pub String);

impl FromStr for Zone {
    type Err = ZoneError;
    fn from_str(s: &str) -> Result<Zone, ZoneError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t.eq_ignore_ascii_case("gmt") {
            return Ok(Zone::Utc);
        }
        if let Some(off) = parse_offset(t) {
            return Ok(Zone::Fixed(off));
        }
        t.parse::<chrono_tz::Tz>()
            .map(Zone::Named)
            .map_err(|_| ZoneError(s.to_string()))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Utc => f.write_str("UTC"),
            Zone::Fixed(o) => write!(f, "{o}"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

impl Zone {
    /// A wall-clock time in this zone as Unix seconds. In a daylight-saving
    /// fold the earlier instant is taken; a time inside a spring-forward gap
    /// is read one hour later (the clock the firewall meant).
    pub fn local_to_unix(&self, t: NaiveDateTime) -> i64 {
        match self {
            Zone::Utc => t.and_utc().timestamp(),
            Zone::Fixed(o) => t.and_utc().timestamp() - i64::from(o.local_minus_utc()),
            Zone::Named(tz) => match tz.from_local_datetime(&t) {
                LocalResult::Single(d) => d.timestamp(),
                LocalResult::Ambiguous(a, _) => a.timestamp(),
                LocalResult::None => {
                    let later = t + chrono::Duration::hours(1);
                    match tz.from_local_datetime(&later) {
                        LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => d.timestamp(),
                        LocalResult::None => t.and_utc().timestamp(),
                    }
                }
            },
        }
    }

    /// The current year in this zone, at Unix time `now`.
    pub fn year_at(&self, now: i64) -> i32 {
        use chrono::Datelike;
        let utc = DateTime::<Utc>::from_timestamp(now, 0).unwrap_or_default();
        match self {
            Zone::Utc => utc.year(),
            Zone::Fixed(o) => utc.with_timezone(o).year(),
            Zone::Named(tz) => utc.with_timezone(tz).year(),
        }
    }
}

/// How zone-less and year-less times are read: the device's zone, a fixed
/// year if one was given, and "now" (for the previous-year rule).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub zone: Zone,
    /// `--year`: the year of every year-less date.
    pub year: Option<i32>,
    /// Unix seconds; year-less dates more than a day after this are taken to
    /// be from the previous year.
    pub now: i64,
}

/// One day: how far in the future a year-less date may lie (clock skew,
/// zones) before it is read as last year's.
const FUTURE_SLACK: i64 = 86_400;

impl Default for Clock {
    fn default() -> Clock {
        Clock::new(Zone::Utc, None)
    }
}

impl Clock {
    pub fn new(zone: Zone, year: Option<i32>) -> Clock {
        Clock {
            zone,
            year,
            now: crate::archive::Timestamp::now().unix(),
        }
    }

    /// A wall-clock time with its year, in the device's zone.
    pub fn local(&self, t: NaiveDateTime) -> i64 {
        self.zone.local_to_unix(t)
    }

    /// A wall-clock time without a year (BSD syslog, tcpdump): month 1-12,
    /// day, time of day and nanoseconds (dropped: records keep whole seconds).
    pub fn yearless(&self, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
        let at = |year: i32| -> Option<i64> {
            let d = NaiveDate::from_ymd_opt(year, month, day)?;
            Some(self.local(d.and_hms_opt(h, m, s.min(59))?))
        };
        if let Some(y) = self.year {
            return at(y);
        }
        let y = self.zone.year_at(self.now);
        match at(y) {
            Some(t) if t <= self.now + FUTURE_SLACK => Some(t),
            // In the future (or Feb 29 of a common year): last year's.
            _ => at(y - 1).or_else(|| at(y)),
        }
    }

    /// A full date and time without a zone, in the device's zone.
    pub fn dated(&self, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
        let date = NaiveDate::from_ymd_opt(y, mo, d)?;
        Some(self.local(date.and_hms_opt(h, mi, s.min(59))?))
    }
}

/// `Jan`..`Dec` (case-insensitive) as 1..=12.
pub fn month_from_abbr(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if s.len() != 3 {
        return None;
    }
    M.iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// `+01:00`, `-0500`, `+01`, `Z` as a fixed offset.
pub fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s == "Z" || s == "z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    // `HH`, `HHMM` or `HH:MM`, digits only.
    let b = rest.as_bytes();
    let (hh, mm) = match b.len() {
        2 => (b, &b""[..]),
        4 => (&b[..2], &b[2..]),
        5 if b[2] == b':' => (&b[..2], &b[3..]),
        _ => return None,
    };
    let num = |d: &[u8]| -> Option<i32> {
        d.iter().try_fold(0i32, |v, c| {
            c.is_ascii_digit().then(|| v * 10 + i32::from(c - b'0'))
        })
    };
    let (h, m) = (num(hh)?, num(mm)?);
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// Reads N ASCII digits at the start of `b`.
fn digits(b: &[u8], n: usize) -> Option<u32> {
    if b.len() < n {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..n] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// A BSD syslog / tcpdump time at the start of `s`: `Nov  3 00:04:45` or
/// `Nov 03 00:11:56.935274`. Returns (month, day, h, m, s) and the rest after
/// the time (fraction skipped, leading spaces kept).
pub fn bsd_time(s: &str) -> Option<((u32, u32, u32, u32, u32), &str)> {
    let b = s.as_bytes();
    if b.len() < 15 || b[3] != b' ' {
        return None;
    }
    let month = month_from_abbr(&s[..3])?;
    let day = match (b[4], b[5]) {
        (b' ', d) if d.is_ascii_digit() => u32::from(d - b'0'),
        _ => digits(&b[4..], 2)?,
    };
    if b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let h = digits(&b[7..], 2)?;
    let m = digits(&b[10..], 2)?;
    let sec = digits(&b[13..], 2)?;
    let mut i = 15;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if h > 23 || m > 59 || sec > 60 || day == 0 || day > 31 {
        return None;
    }
    Some(((month, day, h, m, sec), &s[i..]))
}

/// An RFC 3339 timestamp at the start of `s` (`2026-11-03T00:00:57.355127+00:00`,
/// `...Z`), as Unix seconds (fraction dropped), and the rest after it.
pub fn rfc3339_prefix(s: &str) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
        return None;
    }
    let y = digits(b, 4)? as i32;
    let mo = digits(&b[5..], 2)?;
    let d = digits(&b[8..], 2)?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let h = digits(&b[11..], 2)?;
    let mi = digits(&b[14..], 2)?;
    let se = digits(&b[17..], 2)?;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        b'+' | b'-' => {
            let end = i + 6;
            if b.len() < end {
                return None;
            }
            // `get`: the six bytes may end inside a character (fuzzing).
            let off = parse_offset(s.get(i..end)?)?;
            i = end;
            i64::from(off.local_minus_utc())
        }
        _ => return None,
    };
    let t = NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, se.min(59))?;
    Some((t.and_utc().timestamp() - offset_secs, &s[i..]))
}

/// A Unix time as RFC 3339 UTC (`2026-11-03T00:01:19Z`).
pub fn rfc3339(t: i64) -> String {
    match DateTime::<Utc>::from_timestamp(t, 0) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_and_apply() {
        let t = NaiveDate::from_ymd_opt(2026, 7, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let utc = t.and_utc().timestamp();
        assert_eq!("UTC".parse::<Zone>().unwrap().local_to_unix(t), utc);
        assert_eq!(
            "+01:00".parse::<Zone>().unwrap().local_to_unix(t),
            utc - 3600
        );
        assert_eq!(
            "-0500".parse::<Zone>().unwrap().local_to_unix(t),
            utc + 5 * 3600
        );
        // Berlin in summer is UTC+2.
        assert_eq!(
            "Europe/Berlin".parse::<Zone>().unwrap().local_to_unix(t),
            utc - 7200
        );
        assert!("Mars/Olympus".parse::<Zone>().is_err());
    }

    #[test]
    fn yearless_dates_take_the_previous_year_when_in_the_future() {
        let now = NaiveDate::from_ymd_opt(2027, 1, 2)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp();
        let c = Clock {
            zone: Zone::Utc,
            year: None,
            now,
        };
        assert_eq!(
            rfc3339(c.yearless(12, 31, 23, 0, 0).unwrap()),
            "2026-12-31T23:00:00Z"
        );
        assert_eq!(
            rfc3339(c.yearless(1, 1, 23, 0, 0).unwrap()),
            "2027-01-01T23:00:00Z"
        );
        let fixed = Clock {
            year: Some(2026),
            ..c
        };
        assert_eq!(
            rfc3339(fixed.yearless(1, 1, 0, 0, 0).unwrap()),
            "2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn bsd_and_rfc3339_prefixes() {
        let ((mo, d, h, m, s), rest) = bsd_time("Nov  3 00:04:45 host x").unwrap();
        assert_eq!((mo, d, h, m, s, rest), (11, 3, 0, 4, 45, " host x"));
        let (_, rest) = bsd_time("Nov 03 00:11:56.935274 rule").unwrap();
        assert_eq!(rest, " rule");
        assert!(bsd_time("Foo  3 00:04:45 host").is_none());
        let (t, rest) = rfc3339_prefix("2026-11-03T00:00:57.355127+01:00 edge").unwrap();
        assert_eq!(
            (rfc3339(t).as_str(), rest),
            ("2026-11-02T23:00:57Z", " edge")
        );
        let (t, _) = rfc3339_prefix("2026-11-03T00:06:38.674Z").unwrap();
        assert_eq!(rfc3339(t), "2026-11-03T00:06:38Z");
    }

    /// Found by the `logs_lines` fuzz target through an RFC 5424 header: an
    /// offset whose sixth byte falls inside a character panicked.
    #[test]
    fn regression_logs_fuzz_offset_inside_a_character_is_no_time() {
        assert_eq!(rfc3339_prefix("2026-11-03T12:00:55+0000\u{e9} host"), None);
        assert_eq!(rfc3339_prefix("2026-11-03T12:00:55+\u{7f0}\u{7f0}x"), None);
    }
}
