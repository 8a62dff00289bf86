//! The control plane (sidecar): keeps every feed current and archived and
//! turns them into the snapshots the responder serves.
//!
//! - [`gate`]: the sanity gate that holds back broken or shrunken versions.
//! - [`sidecar`]: the fetch → parse → gate → archive → snapshot loop.
//! - [`supervisor`]: `feedwall up`, responder and sidecar as child processes.

pub mod gate;
pub mod sidecar;
pub mod supervisor;
