//! Spamhaus DROP / EDROP / DROPv6 text lists: `;` comment lines, then
//! `CIDR ; SBLnnnnnn` (the `; SBL` part is optional). The SBL id becomes the
//! entry's reference.

use crate::feeds::addr;
use crate::feeds::detect::Head;
use crate::feeds::lines::{self, Lines};
use crate::feeds::parsed::{Builder, Detail, Location, Parsed};
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    let mut b = Builder::default();
    for (n, raw) in Lines::new(lines::strip_bom(input)) {
        let line = raw.trim_ascii();
        if line.is_empty() || lines::is_comment(line) {
            b.skip();
            continue;
        }
        let (cidr, sbl) = match line.iter().position(|&c| c == b';') {
            Some(semi) => (line[..semi].trim_ascii(), line[semi + 1..].trim_ascii()),
            None => (lines::strip_trailing_comment(line), &b""[..]),
        };
        match addr::parse_net(cidr) {
            Ok(net) => {
                let reference = std::str::from_utf8(sbl)
                    .ok()
                    .filter(|s| !s.is_empty())
                    .map(Box::from);
                b.entry(
                    net,
                    Detail {
                        reference,
                        ..Detail::default()
                    }
                    .boxed_if_any(),
                );
                b.record();
            }
            Err(reason) => b.reject(Location::Line(n), reason),
        }
    }
    b.finish()
}

pub fn sniff(head: &Head) -> u8 {
    if head.is_json() {
        return 0;
    }
    let sbl = head
        .data_lines()
        .take(50)
        .filter(|l| l.contains("; SBL") || l.contains(";SBL"))
        .count();
    if sbl > 0 {
        90
    } else if head
        .comments()
        .take(20)
        .any(|c| c.to_ascii_lowercase().contains("spamhaus"))
    {
        70
    } else {
        0
    }
}
