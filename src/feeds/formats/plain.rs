//! Plain lists: one IP or CIDR per line (blocklist.de, CINS, Emerging
//! Threats, the Tor bulk exit list, Feodo's txt list...).
//!
//! `#` and `;` start comment lines, and a trailing comment after
//! whitespace. A range on a plain list is rejected (format `ip_range`
//! takes ranges). This is one of the two hot parsers: no allocation per
//! line.

use crate::feeds::detect::Head;
use crate::feeds::lines::{self, LineSyntax};
use crate::feeds::parsed::Parsed;
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    lines::parse_list(input, LineSyntax::Nets)
}

/// The fallback: a little more when the first lines are addresses.
pub fn sniff(head: &Head) -> u8 {
    if head.is_json() || head.first == Some(b'<') {
        return 0;
    }
    let sample: Vec<&str> = head.data_lines().take(20).collect();
    let good = sample
        .iter()
        .filter(|l| {
            crate::feeds::addr::parse_net(lines::strip_trailing_comment(l.as_bytes())).is_ok()
        })
        .count();
    if !sample.is_empty() && good * 2 >= sample.len() {
        10
    } else {
        1
    }
}
