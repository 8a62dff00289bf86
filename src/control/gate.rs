//! The sanity gate: decides whether a freshly parsed feed version may
//! replace the last good one in what is published.
//!
//! A version is held back (the last good version keeps being published and
//! the feed is flagged with the reason) when it
//! - is an HTML page or an error page where a list is expected,
//! - is empty, or yields no entry at all while the last good one had some,
//! - has a larger share of bad records than allowed,
//! - shrinks by more than the allowed share against the last good version,
//! - lists a prefix shorter than the allowed minimum (/8, /32 for IPv6 by
//!   default): a feed listing 0.0.0.0/1 would block half the internet.
//!
//! It stays held back until it recovers (a later version passes) or an
//! operator accepts it.

use ipnet::IpNet;

use crate::config::GateConfig;
use crate::feeds::{Format, Parsed};

/// Why a version was held back.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldReason {
    HtmlPage,
    Empty,
    NoEntries {
        rejected: usize,
    },
    TooManyBad {
        bad: usize,
        total: usize,
        max_share: f64,
    },
    Shrunk {
        before: usize,
        after: usize,
        max_share: f64,
    },
    TooBroad {
        prefix: IpNet,
    },
}

impl std::fmt::Display for HoldReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldReason::HtmlPage => write!(f, "the body is an HTML or error page, not a list"),
            HoldReason::Empty => write!(f, "the body is empty"),
            HoldReason::NoEntries { rejected } => {
                write!(f, "no entry could be read ({rejected} records rejected)")
            }
            HoldReason::TooManyBad {
                bad,
                total,
                max_share,
            } => {
                write!(
                    f,
                    "{bad} of {total} records are bad (more than {:.0}%)",
                    max_share * 100.0
                )
            }
            HoldReason::Shrunk {
                before,
                after,
                max_share,
            } => {
                write!(
                    f,
                    "shrank from {before} to {after} entries (more than {:.0}%)",
                    max_share * 100.0
                )
            }
            HoldReason::TooBroad { prefix } => write!(f, "lists the over-broad prefix {prefix}"),
        }
    }
}

/// Checks a parsed version. `last_good` is the entry count of the last good
/// version, if any.
pub fn check(
    cfg: &GateConfig,
    body: &[u8],
    format: Format,
    parsed: &Parsed,
    last_good: Option<usize>,
) -> Result<(), HoldReason> {
    if !cfg.enabled {
        return Ok(());
    }
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(HoldReason::Empty);
    }
    if looks_like_html(body) && !matches!(format, Format::Rss) {
        return Err(HoldReason::HtmlPage);
    }
    let entries = parsed.entries.len();
    if entries == 0 && (parsed.counts.rejected > 0 || last_good.unwrap_or(0) > 0) {
        return Err(HoldReason::NoEntries {
            rejected: parsed.counts.rejected,
        });
    }
    let bad = parsed.counts.rejected;
    let total = parsed.counts.records + bad;
    if total > 0 && bad as f64 > cfg.max_bad_share * total as f64 {
        return Err(HoldReason::TooManyBad {
            bad,
            total,
            max_share: cfg.max_bad_share,
        });
    }
    if let Some(before) = last_good {
        if before > 0 && (before - entries.min(before)) as f64 > cfg.max_shrink * before as f64 {
            return Err(HoldReason::Shrunk {
                before,
                after: entries,
                max_share: cfg.max_shrink,
            });
        }
    }
    for e in &parsed.entries {
        let too_broad = match e.net {
            IpNet::V4(n) => n.prefix_len() < cfg.min_prefix_v4,
            IpNet::V6(n) => n.prefix_len() < cfg.min_prefix_v6,
        };
        if too_broad {
            return Err(HoldReason::TooBroad { prefix: e.net });
        }
    }
    Ok(())
}

/// An HTML document (a login page, a CDN error page, a 200 with "not found").
fn looks_like_html(body: &[u8]) -> bool {
    let head: Vec<u8> = body
        .iter()
        .skip_while(|b| b.is_ascii_whitespace() || **b == 0xEF || **b == 0xBB || **b == 0xBF)
        .take(512)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    head.starts_with(b"<!doctype html")
        || head.starts_with(b"<html")
        || (head.starts_with(b"<") && find(&head, b"<body").is_some())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::{parse, FormatOptions};

    fn cfg() -> GateConfig {
        crate::config::Config::from_text("", "t").unwrap().gate
    }

    fn run(body: &str, last: Option<usize>) -> Result<(), HoldReason> {
        let p = parse(body.as_bytes(), Format::Plain, &FormatOptions::default());
        check(&cfg(), body.as_bytes(), Format::Plain, &p, last)
    }

    #[test]
    fn good_versions_pass() {
        assert_eq!(run("1.2.3.4\n5.6.7.8\n", Some(2)), Ok(()));
        assert_eq!(
            run("1.2.3.4\n", Some(2)),
            Ok(()),
            "50% shrink is the limit, not over it"
        );
    }

    #[test]
    fn bad_versions_are_held_with_a_reason() {
        assert_eq!(
            run(
                "<!DOCTYPE html><html><body>Service unavailable</body></html>",
                Some(2)
            ),
            Err(HoldReason::HtmlPage)
        );
        assert_eq!(run("  \n", Some(2)), Err(HoldReason::Empty));
        assert!(matches!(
            run("1.2.3.4\n", Some(10)),
            Err(HoldReason::Shrunk {
                before: 10,
                after: 1,
                ..
            })
        ));
        assert!(matches!(
            run("1.2.3.4\nx\ny\nz\n", None),
            Err(HoldReason::TooManyBad {
                bad: 3,
                total: 4,
                ..
            })
        ));
        assert!(matches!(
            run("0.0.0.0/1\n1.2.3.4\n", None),
            Err(HoldReason::TooBroad { .. })
        ));
        assert!(matches!(
            run("2000::/3\n", None),
            Err(HoldReason::TooBroad { .. })
        ));
        assert!(matches!(
            run("garbage\n", None),
            Err(HoldReason::NoEntries { rejected: 1 }) | Err(HoldReason::TooManyBad { .. })
        ));
        let msg = run("1.2.3.4\n", Some(10)).unwrap_err().to_string();
        assert!(msg.contains("shrank from 10 to 1"), "{msg}");
    }
}
