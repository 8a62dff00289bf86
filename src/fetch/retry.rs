//! Waits between attempts: exponential backoff with jitter, and the
//! server's own `Retry-After`.

use std::time::{Duration, SystemTime};

/// Wait before retry number `retry` (0 for the first retry): `base * 2^retry`
/// capped at `max`, then "equal jitter": half of it fixed, the other half
/// drawn at random (`unit` in `[0, 1)`), so feeds that failed together do not
/// all come back at the same instant.
pub(crate) fn backoff_delay(retry: u32, base: Duration, max: Duration, unit: f64) -> Duration {
    let full = base.saturating_mul(2u32.saturating_pow(retry)).min(max);
    let half = full / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// A random draw in `[0, 1)` for [`backoff_delay`].
pub(crate) fn jitter_unit() -> f64 {
    fastrand::f64()
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP date, made a
/// delay from `now` (a date in the past means "now"). `None` when it does
/// not parse.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling_with_jitter_in_the_upper_half() {
        let (base, max) = (Duration::from_secs(2), Duration::from_secs(60));
        assert_eq!(backoff_delay(0, base, max, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(0, base, max, 0.999_999).as_millis(), 1999);
        assert_eq!(backoff_delay(1, base, max, 0.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(2, base, max, 0.5), Duration::from_secs(6));
        assert_eq!(backoff_delay(10, base, max, 0.0), Duration::from_secs(30));
        assert_eq!(backoff_delay(40, base, max, 1.0), Duration::from_secs(60));
        for _ in 0..100 {
            let d = backoff_delay(3, base, max, jitter_unit());
            assert!(
                d >= Duration::from_secs(8) && d < Duration::from_secs(16),
                "{d:?}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
