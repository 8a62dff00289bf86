//! DShield recommended block list (`block.txt`): `#` comment header, a
//! `Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail` column line, then
//! tab-separated rows. Each row yields `Start/Netblock`; a row whose `End`
//! is not the broadcast address of that network is rejected, and so is a
//! row with fewer than the three network columns or more than seven.
//! Attacks become the score and Country the country.

use std::net::IpAddr;

use crate::feeds::addr::{self, Addr};
use crate::feeds::detect::Head;
use crate::feeds::lines::{self, Lines};
use crate::feeds::parsed::{Builder, Country, Detail, Location, Parsed};
use crate::feeds::FormatOptions;

/// Start, End, Netblock, Attacks, Name, Country, email.
const COLUMNS: usize = 7;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    let mut b = Builder::default();
    let mut cols: [&[u8]; COLUMNS] = [b""; COLUMNS];
    for (n, raw) in Lines::new(lines::strip_bom(input)) {
        let line = raw.trim_ascii();
        if line.is_empty() || lines::is_comment(line) {
            b.skip();
            continue;
        }
        let mut count = 0;
        for f in line.split(|&c| c == b'\t') {
            if count < COLUMNS {
                cols[count] = f.trim_ascii();
            }
            count += 1;
        }
        if cols[0].eq_ignore_ascii_case(b"start") {
            b.skip(); // the column header line
            continue;
        }
        if count < 3 {
            b.reject(Location::Line(n), "too few columns");
            continue;
        }
        if count > COLUMNS {
            b.reject(Location::Line(n), "too many columns");
            continue;
        }
        match row(&cols[..count]) {
            Ok((net, detail)) => {
                b.entry(net, detail);
                b.record();
            }
            Err(reason) => b.reject(Location::Line(n), reason),
        }
    }
    b.finish()
}

fn row(cols: &[&[u8]]) -> Result<(ipnet::IpNet, Option<Box<Detail>>), addr::Reason> {
    let start = addr::parse_addr(cols[0])?;
    let end = addr::parse_addr(cols[1])?;
    let max = match start {
        Addr::V4(_) => 32,
        Addr::V6(_) => 128,
    };
    let len = std::str::from_utf8(cols[2])
        .ok()
        .and_then(|s| s.parse::<u8>().ok())
        .filter(|&l| l <= max)
        .ok_or("invalid netblock length")?;
    let net = addr::network(start, len);
    let end = match end {
        Addr::V4(a) => IpAddr::from(std::net::Ipv4Addr::from(a)),
        Addr::V6(a) => IpAddr::from(std::net::Ipv6Addr::from(a)),
    };
    if net.broadcast() != end {
        return Err("end of netblock does not match start/netblock");
    }
    let text = |i: usize| {
        cols.get(i)
            .and_then(|c| std::str::from_utf8(c).ok())
            .filter(|s| !s.is_empty())
    };
    let detail = Detail {
        score: text(3).and_then(|s| s.parse().ok()),
        country: text(5).and_then(Country::parse),
        ..Detail::default()
    };
    Ok((net, detail.boxed_if_any()))
}

pub fn sniff(head: &Head) -> u8 {
    let header = head.lines().take(60).any(|l| {
        let l = l.as_bytes();
        l.len() > 18 && l[..18].eq_ignore_ascii_case(b"start\tend\tnetblock")
    });
    if header {
        return 95;
    }
    let tabbed = head
        .data_lines()
        .take(5)
        .all(|l| l.split('\t').count() >= 3);
    if head.contains_ci("dshield") && tabbed && head.data_lines().next().is_some() {
        80
    } else {
        0
    }
}
