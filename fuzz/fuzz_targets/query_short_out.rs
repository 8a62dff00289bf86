//! The `respond` doc says a buffer shorter than `MAX_UDP_RESPONSE` /
//! `MAX_MESSAGE` "only lowers the size at which answers are truncated";
//! this target holds it to that: any output length the function accepts
//! (it drops queries when `out` is under 23 bytes), any query, no panic.
//! Input: 2 bytes of output length, then the query.
#![no_main]

mod common;

use std::sync::OnceLock;

use feedwall::responder::query::{respond, Transport};
use feedwall::snapshot::MappedSnapshot;
use libfuzzer_sys::fuzz_target;

use common::*;

fn snap() -> &'static MappedSnapshot {
    static S: OnceLock<MappedSnapshot> = OnceLock::new();
    S.get_or_init(|| MappedSnapshot::from_bytes(&small_fixture()).expect("fixture validates"))
}

fuzz_target!(|data: &[u8]| {
    let Some((len, q)) = data.split_first_chunk::<2>() else {
        return;
    };
    let out_len = u16::from_be_bytes(*len) as usize % 4200;
    let mut out = vec![0u8; out_len];
    for src in [SRC_HOME_V4, SRC_OUTSIDE] {
        for t in [Transport::Udp, Transport::Tcp] {
            let o = respond(snap().get(), src, q, &mut out, t);
            assert!(o.len <= out.len());
        }
    }
});
