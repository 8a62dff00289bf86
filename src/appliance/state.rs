//! The appliance's upgrade history (`appliance-state.json` in the data
//! partition): what the last upgrades did, for the console and the admin
//! page. Written by `commit` (a trial boot blessed, or a failed one rolled
//! back) and by the admin page (a build installed, waiting for a reboot).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// File name in the data partition.
pub const STATE_FILE: &str = "appliance-state.json";
/// Records kept.
pub const KEEP: usize = 20;

/// What happened to an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Written to the inactive slot; starts at the next boot.
    Installed,
    /// Booted and blessed.
    Succeeded,
    /// Its trial boot never got blessed; the old build runs again.
    RolledBack,
}

/// One event of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Unix time.
    pub at: i64,
    pub outcome: Outcome,
    /// The build the upgrade was to.
    pub build: String,
    pub slot: String,
    /// One line for people.
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplianceState {
    #[serde(default)]
    pub upgrades: Vec<Record>,
}

impl ApplianceState {
    /// The state in `data`; empty when absent or unreadable.
    pub fn load(data: &Path) -> ApplianceState {
        std::fs::read(data.join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn last(&self) -> Option<&Record> {
        self.upgrades.last()
    }

    /// Appends a record and writes the file durably.
    pub fn record(data: &Path, r: Record) -> std::io::Result<()> {
        let mut s = ApplianceState::load(data);
        s.upgrades.push(r);
        let excess = s.upgrades.len().saturating_sub(KEEP);
        s.upgrades.drain(..excess);
        let bytes = serde_json::to_vec_pretty(&s).map_err(std::io::Error::other)?;
        super::write_durable(&data.join(STATE_FILE), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_append_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ApplianceState::load(dir.path()).last().is_none());
        for i in 0..(KEEP + 3) {
            ApplianceState::record(
                dir.path(),
                Record {
                    at: i as i64,
                    outcome: Outcome::Succeeded,
                    build: format!("b{i}"),
                    slot: "b".into(),
                    message: "m".into(),
                },
            )
            .unwrap();
        }
        let s = ApplianceState::load(dir.path());
        assert_eq!(s.upgrades.len(), KEEP);
        assert_eq!(s.last().unwrap().build, format!("b{}", KEEP + 2));
    }
}
