//! feedwall: a threat-list DNS appliance.
//!
//! IP reputation lists are published as DNS names carrying many A/AAAA
//! records, so any firewall that can resolve a hostname in a rule can block
//! a whole list.
//!
//! Crate map, by role:
//!
//! - **Lists in**: [`feeds`] (threat-feed parsers, one file per format,
//!   `Format::Auto` detection, `feeds parse`), [`lists`] (plain list files,
//!   expansion of prefixes into hosts), [`demo`] (the embedded demo lists).
//! - **Feeds in**: [`fetch`] (a feed's bytes over http, https, ftp or file:
//!   conditional requests, size cap, timeouts, retries with backoff).
//! - **Snapshot** (the only contract between planes): [`snapshot`] builds
//!   (`SnapshotWriter`) and maps (`MappedSnapshot`) the immutable file the
//!   responder serves; [`acl`] flattens device prefixes into the sorted
//!   range table it carries; [`wire`] holds the DNS wire-format helpers.
//! - **Archive**: [`archive`] (every fetch and every feed version as entry
//!   intervals in embedded SQLite; point-in-time lookups; Check IP).
//! - **Logs in**: [`logs`] (firewall log formats, per-line detection,
//!   `logs parse`).
//! - **Serve**: [`responder`] (UDP recvmmsg/sendmmsg workers, TCP on tokio,
//!   hot reload with arc-swap, the per-query path in `responder::query`),
//!   [`metrics`] (per-thread counters).
//! - **Appliance image**: [`appliance`] (first-boot setup, status console,
//!   boot commit, A/B upgrades of the EFI system partition).
//! - **Edge**: [`cli`] (arguments validated into options), `bench_tools`
//!   (hidden benchmark helpers: bare reflector, TCP load client).

pub mod acl;
pub mod admin;
pub mod appliance;
pub mod archive;
pub mod bench_tools;
pub mod cli;
pub mod config;
pub mod control;
pub mod demo;
pub mod feeds;
pub mod fetch;
pub mod inspect;
pub mod lists;
pub mod logs;
pub mod metrics;
pub mod responder;
pub mod snapshot;
pub mod wire;

/// Entry point of the `feedwall` binary: logging, arguments, errors.
pub fn run_cli() -> std::process::ExitCode {
    use clap::Parser;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FEEDWALL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feedwall: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
