//! Integration tests: the real `feedwall` binary on port 0, real DNS
//! clients (kdig, dig, dnsperf) and a real resolver (Unbound). The tools are
//! installed by `tests/run-all.sh`; a missing tool fails the test loudly.

mod accounts;
mod admin_harness;
mod admin_http;
mod admin_logs;
mod appliance;
mod archive;
mod browser_e2e;
mod cli;
mod clients;
mod device_seen;
mod dshield;
mod feeds_parse;
mod fetch;
mod ftp_server;
mod gate_accept;
mod harness;
mod http_server;
mod logs_intake;
mod logs_parse;
mod logs_report;
mod query_path;
mod reload;
mod resolver;
mod setup_snippets;
mod sidecar_e2e;
mod tcp;
