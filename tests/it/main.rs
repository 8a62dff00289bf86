//! Integration tests: the real `feedwall` binary on port 0, real DNS
//! clients (kdig, dig, dnsperf) and a real resolver (Unbound). The tools are
//! installed by `tests/run-all.sh`; a missing tool fails the test loudly.

mod accounts;
mod archive;
mod cli;
mod clients;
mod feeds_parse;
mod fetch;
mod gate_accept;
mod harness;
mod query_path;
mod reload;
mod resolver;
mod tcp;
