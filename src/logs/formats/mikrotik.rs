//! TODO(format): not written yet.

use crate::logs::formats::Outcome;
use crate::logs::time::Clock;

pub fn sniff(_line: &str) -> bool {
    false
}

pub fn parse(_line: &str, _clock: &Clock) -> Outcome {
    Outcome::Ignored
}
