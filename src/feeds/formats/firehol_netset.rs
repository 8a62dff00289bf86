//! FireHOL `.netset` / `.ipset` files: a `#` header (Maintainer, Category,
//! Entries...), then one CIDR or single IP (without `/32`) per line. Parsed
//! exactly like a plain list; bogon networks in the level-1 set are kept
//! (filtering is a later policy step).

use crate::feeds::detect::Head;
use crate::feeds::lines::{self, LineSyntax};
use crate::feeds::parsed::Parsed;
use crate::feeds::FormatOptions;

pub fn parse(input: &[u8], _opts: &FormatOptions) -> Parsed {
    lines::parse_list(input, LineSyntax::Nets)
}

pub fn sniff(head: &Head) -> u8 {
    let firehol = head.comments().take(60).any(|c| {
        let c = c.to_ascii_lowercase();
        c.contains("firehol") || c.contains("hash:net") || c.contains("hash:ip")
    });
    if firehol && !head.is_json() {
        70
    } else {
        0
    }
}
