//! TODO(format): not written yet.

use crate::logs::formats::Outcome;
use crate::logs::time::Clock;

pub fn sniff_iptables(_line: &str) -> bool {
    false
}

pub fn sniff_nftables(_line: &str) -> bool {
    false
}

pub fn parse(_line: &str, _clock: &Clock) -> Outcome {
    Outcome::Ignored
}
