//! Range lists: `a.b.c.d-e.f.g.h` per line (spaces around the dash allowed,
//! IPv6 too), each turned into its minimal CIDR cover; single IPs and CIDRs
//! are accepted as well. Reversed ranges, mixed families and half ranges are
//! rejected. One of the two hot parsers: no allocation per line.

use crate::feeds::addr;
use crate::feeds::detect::Head;
use crate::feeds::lines::{self, LineSyntax};
use crate::feeds::parsed::Parsed;
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    lines::parse_list(input, LineSyntax::NetsAndRanges)
}

/// Some lines are ranges and the others are addresses or CIDRs.
pub fn sniff(head: &Head) -> u8 {
    if head.is_json() || head.first == Some(b'<') {
        return 0;
    }
    let (mut ranges, mut other) = (0, 0);
    for l in head.data_lines().take(100) {
        let item = lines::strip_trailing_comment(l.as_bytes());
        if item.contains(&b'-') && addr::parse_range(item, |_| {}).is_ok() {
            ranges += 1;
        } else if addr::parse_net(item).is_ok() {
            other += 1;
        }
    }
    if ranges > 0 && (ranges + other) * 10 >= head.data_lines().take(100).count() * 8 {
        60
    } else {
        0
    }
}
