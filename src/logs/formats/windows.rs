//! TODO(format): not written yet.

use crate::logs::formats::Outcome;
use crate::logs::time::Clock;

/// The column layout announced by the last `#Fields:` header.
#[derive(Debug, Clone, Default)]
pub struct Fields {}

pub fn sniff(_line: &str, _fields: &Fields) -> bool {
    false
}

pub fn parse(_line: &str, _clock: &Clock, _fields: &mut Fields) -> Outcome {
    Outcome::Ignored
}
