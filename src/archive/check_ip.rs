//! Check IP: which feeds list an address (now or at a past time), by whom,
//! since when, and its whole history. `feedwall check-ip ADDR [--at TIME]`
//! prints a [`CheckIpReport`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context};

use super::prefix::canonical;
use super::{Archive, Detail, FeedMeta, Interval, Timestamp};

/// What the archive knows about one address.
#[derive(Debug, Clone)]
pub struct CheckIpReport {
    /// The address asked about (IPv4-mapped IPv6 shown as IPv4).
    pub addr: IpAddr,
    /// `None`: now; otherwise the time asked about.
    pub at: Option<Timestamp>,
    /// Intervals covering `at` (or open now).
    pub listed: Vec<Interval>,
    /// Every interval covering the address, oldest first.
    pub history: Vec<Interval>,
}

impl CheckIpReport {
    pub fn gather(
        archive: &Archive,
        addr: IpAddr,
        at: Option<Timestamp>,
    ) -> Result<CheckIpReport, super::ArchiveError> {
        let listed = match at {
            Some(t) => archive.listed_at(addr, t)?,
            None => archive.listed_now(addr)?,
        };
        let history = archive.history(addr)?;
        Ok(CheckIpReport {
            addr: canonical(addr),
            at,
            listed,
            history,
        })
    }
}

/// `feedwall check-ip ADDR [--at TIME]` on the archive at `db` (opened
/// read-only, beside a running sidecar). TIME: RFC 3339 or
/// `YYYY-MM-DD HH:MM` in UTC.
pub fn check_ip_command(db: &Path, addr: &str, at: Option<&str>) -> anyhow::Result<()> {
    let ip: IpAddr = addr
        .trim()
        .parse()
        .with_context(|| format!("`{addr}` is not an IPv4 or IPv6 address"))?;
    let at = at.map(Timestamp::parse_cli).transpose()?;
    if !db.is_file() {
        bail!(
            "no archive at {} (the sidecar creates it on its first fetch)",
            db.display()
        );
    }
    let archive = Archive::open_read_only(db)?;
    let report = CheckIpReport::gather(&archive, ip, at)?;
    print!("{report}");
    Ok(())
}

fn write_detail(f: &mut fmt::Formatter<'_>, d: &Detail) -> fmt::Result {
    let mut parts = Vec::new();
    if let Some(s) = d.score {
        parts.push(format!("score {s}"));
    }
    if let Some(c) = &d.category {
        parts.push(format!("category {c}"));
    }
    if let Some(c) = &d.country {
        parts.push(format!("country {c}"));
    }
    if let Some(r) = &d.reference {
        parts.push(format!("reference {r}"));
    }
    if !parts.is_empty() {
        write!(f, "; {}", parts.join(", "))?;
    }
    Ok(())
}

fn write_feed(f: &mut fmt::Formatter<'_>, feed: &FeedMeta) -> fmt::Result {
    let name = if feed.name.is_empty() {
        &feed.id
    } else {
        &feed.name
    };
    write!(f, "{name} [{}]", feed.id)?;
    if !feed.provider.is_empty() {
        write!(f, " by {}", feed.provider)?;
    }
    Ok(())
}

impl fmt::Display for CheckIpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.at {
            Some(t) => format!("at {t}"),
            None => "now".to_string(),
        };
        let feeds: BTreeMap<&str, &FeedMeta> = self
            .listed
            .iter()
            .map(|i| (i.feed.id.as_str(), &i.feed))
            .collect();
        if self.listed.is_empty() {
            writeln!(f, "{}: listed by no archived feed {when}", self.addr)?;
        } else {
            let s = if feeds.len() == 1 { "" } else { "s" };
            writeln!(f, "{}: listed {when} by {} feed{s}", self.addr, feeds.len())?;
            for i in &self.listed {
                write!(f, "  ")?;
                write_feed(f, &i.feed)?;
                writeln!(f)?;
                write!(
                    f,
                    "    {} since {}, last seen {}",
                    i.prefix, i.first_seen, i.last_seen
                )?;
                if let Some(e) = i.ended {
                    write!(f, ", dropped {e}")?;
                }
                write_detail(f, &i.detail)?;
                writeln!(f)?;
            }
            writeln!(f, "  sources (the lists are the providers' own, unedited):")?;
            for feed in feeds.values() {
                write!(
                    f,
                    "    {}: {}",
                    feed.id,
                    if feed.url.is_empty() { "-" } else { &feed.url }
                )?;
                if !feed.homepage.is_empty() {
                    write!(f, " (about: {})", feed.homepage)?;
                }
                writeln!(f)?;
            }
        }
        if self.history.is_empty() {
            writeln!(f, "history: never listed")?;
        } else {
            writeln!(
                f,
                "history ({} interval{}, oldest first):",
                self.history.len(),
                if self.history.len() == 1 { "" } else { "s" }
            )?;
            for i in &self.history {
                let until = match i.ended {
                    Some(e) => format!("{e} (last seen {})", i.last_seen),
                    None => format!("still listed (last seen {})", i.last_seen),
                };
                write!(f, "  {} .. {until}  {}  ", i.first_seen, i.prefix)?;
                write_feed(f, &i.feed)?;
                write_detail(f, &i.detail)?;
                writeln!(f)?;
            }
        }
        Ok(())
    }
}
