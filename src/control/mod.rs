//! The control plane (sidecar): keeps every feed current and archived and
//! turns them into the snapshots the responder serves.
//!
//! - [`gate`]: the sanity gate that holds back broken or shrunken versions.

pub mod gate;
