//! Timestamps feeds write, to Unix seconds (UTC).
//!
//! Accepted: RFC 3339 and its common relaxations (`2026-11-03T06:00:17Z`,
//! `2026-11-03 06:00:17`, `2026-11-03 06:00:17 UTC`, fractions, `+01:00` /
//! `+0100` offsets), a bare date (`2026-11-02`, midnight UTC), RFC 2822 as
//! RSS writes it (`Sat, 31 Oct 2026 14:33:00 +0000`, RFC 822 zone names),
//! and plain Unix seconds. A time without a zone is UTC.

/// Parses a timestamp; `None` when it is none of the accepted forms.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|c| c.is_ascii_digit()) {
        return if s.len() <= 12 { s.parse().ok() } else { None };
    }
    if s.as_bytes()[0].is_ascii_digit() && s.as_bytes().get(4) == Some(&b'-') {
        return iso(s);
    }
    rfc2822(s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn valid_date(y: i64, m: u32, d: u32) -> bool {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    (1..=12).contains(&m) && d >= 1 && d <= days[m as usize - 1]
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn epoch(y: i64, mo: u32, d: u32, h: u32, mi: u32, sec: u32, offset: i64) -> Option<i64> {
    if !valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset)
}

/// `+HH:MM`, `+HHMM`, `+HH`, `Z`, `UTC`, `GMT` and the RFC 822 US zones, as
/// seconds east of UTC.
fn zone(z: &str) -> Option<i64> {
    let z = z.trim();
    match z.to_ascii_uppercase().as_str() {
        "" | "Z" | "UT" | "UTC" | "GMT" => return Some(0),
        "EST" => return Some(-5 * 3600),
        "EDT" => return Some(-4 * 3600),
        "CST" => return Some(-6 * 3600),
        "CDT" => return Some(-5 * 3600),
        "MST" => return Some(-7 * 3600),
        "MDT" => return Some(-6 * 3600),
        "PST" => return Some(-8 * 3600),
        "PDT" => return Some(-7 * 3600),
        _ => {}
    }
    let sign = match z.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|&c| c != ':').collect();
    let (h, m) = match digits.len() {
        2 => (num(&digits)?, 0),
        // `get`: four bytes need not be four characters (`+1é1`).
        4 => (num(digits.get(..2)?)?, num(digits.get(2..)?)?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * i64::from(h * 3600 + m * 60))
}

fn iso(s: &str) -> Option<i64> {
    let (y, mo, d) = (num(s.get(0..4)?)?, num(s.get(5..7)?)?, num(s.get(8..10)?)?);
    if s.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    let rest = &s[10..];
    if rest.is_empty() {
        return epoch(i64::from(y), mo, d, 0, 0, 0, 0);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (h, mi) = (num(rest.get(0..2)?)?, num(rest.get(3..5)?)?);
    if rest.as_bytes().get(2) != Some(&b':') {
        return None;
    }
    let mut rest = &rest[5..];
    let mut sec = 0;
    if let Some(r) = rest.strip_prefix(':') {
        sec = num(r.get(0..2)?)?;
        rest = &r[2..];
        if let Some(frac) = rest.strip_prefix(['.', ',']) {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            rest = &frac[digits..];
        }
    }
    epoch(i64::from(y), mo, d, h, mi, sec, zone(rest)?)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn rfc2822(s: &str) -> Option<i64> {
    // [Day,] DD Mon YYYY HH:MM[:SS] [zone]
    let s = match s.find(',') {
        Some(c) => &s[c + 1..],
        None => s,
    };
    let mut parts = s.split_ascii_whitespace();
    let d = num(parts.next()?)?;
    let mon = parts.next()?.to_ascii_lowercase();
    let mo = MONTHS.iter().position(|m| mon.starts_with(m))? as u32 + 1;
    let y = num(parts.next()?)?;
    let y = match y {
        0..=49 => 2000 + y,
        50..=999 => 1900 + y,
        _ => y,
    };
    let hms = parts.next()?;
    let mut t = hms.split(':');
    let (h, mi) = (num(t.next()?)?, num(t.next()?)?);
    let sec = match t.next() {
        Some(x) => num(x)?,
        None => 0,
    };
    let offset = match parts.next() {
        Some(z) => zone(z)?,
        None => 0,
    };
    epoch(i64::from(y), mo, d, h, mi, sec, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2026-11-03T06:00:17Z"), Some(1_793_685_617));
        assert_eq!(parse_time("2026-11-03 06:00:17"), Some(1_793_685_617));
        assert_eq!(parse_time("2026-11-03 06:00:17 UTC"), Some(1_793_685_617));
        assert_eq!(
            parse_time("2026-11-03T07:00:17.123+01:00"),
            Some(1_793_685_617)
        );
        assert_eq!(parse_time("2026-11-03T01:00:17-0500"), Some(1_793_685_617));
        assert_eq!(parse_time("2026-11-03"), Some(1_793_664_000));
        assert_eq!(parse_time("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_time("2026-02-29"), None);
        assert_eq!(parse_time("2026-11-03T25:00:00Z"), None);
        assert_eq!(parse_time("2026-11-03X"), None);
    }

    #[test]
    fn rfc2822_and_unix_forms() {
        assert_eq!(
            parse_time("Tue, 03 Nov 2026 06:00:17 +0000"),
            Some(1_793_685_617)
        );
        assert_eq!(parse_time("3 Nov 2026 01:00:17 EST"), Some(1_793_685_617));
        assert_eq!(parse_time("1793682901"), Some(1_793_682_901));
        assert_eq!(parse_time("yesterday"), None);
    }

    /// Issue 3 (fuzzing the feed parsers): a zone of four bytes that are not
    /// four characters (`+1é1`, or `+\xFF0` after lossy UTF-8) was sliced
    /// inside a character; the input is `fuzz/regressions/feeds_csv-zone-*`.
    #[test]
    fn regression_issue3_non_ascii_zone_is_no_time_not_a_panic() {
        for s in [
            "2026-11-03T06:00+1é1",
            "2026-11-03T06:00:17+1é1",
            "2026-11-03 06:00:17 -é1",
            "Tue, 03 Nov 2026 06:00:17 +1é1",
            "2026-11-03T06:00:17+\u{FFFD}0",
        ] {
            assert_eq!(parse_time(s), None, "{s}");
        }
        assert_eq!(parse_time("2026-11-03T06:00:17+0000"), Some(1_793_685_617));
    }
}
