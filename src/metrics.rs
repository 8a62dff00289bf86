//! Counters of the data plane.
//!
//! Each UDP worker thread owns one `Counters` block (cache-line aligned, one
//! writer, so a bump is a plain load and store); TCP connections share one
//! block and add with atomic read-modify-write once per batch of queries.
//! Readers (stats file, later the admin `/metrics` page) sum all blocks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::responder::query::Kind;

/// Counter slots: one per outcome kind, then the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Outcome(Kind),
    Queries,
    Udp,
    Tcp,
    Truncated,
    UdpRecvErrors,
    UdpSendErrors,
    TcpConnections,
    TcpRejected,
    TcpTimeouts,
    Reloads,
    ReloadFailures,
}

const EXTRA: [(Counter, &str); 11] = [
    (Counter::Queries, "queries"),
    (Counter::Udp, "udp_queries"),
    (Counter::Tcp, "tcp_queries"),
    (Counter::Truncated, "truncated"),
    (Counter::UdpRecvErrors, "udp_recv_errors"),
    (Counter::UdpSendErrors, "udp_send_errors"),
    (Counter::TcpConnections, "tcp_connections"),
    (Counter::TcpRejected, "tcp_rejected"),
    (Counter::TcpTimeouts, "tcp_timeouts"),
    (Counter::Reloads, "reloads"),
    (Counter::ReloadFailures, "reload_failures"),
];
const SLOTS: usize = Kind::COUNT + EXTRA.len();

impl Counter {
    #[inline]
    fn slot(self) -> usize {
        match self {
            Counter::Outcome(k) => k as usize,
            Counter::Queries => Kind::COUNT,
            Counter::Udp => Kind::COUNT + 1,
            Counter::Tcp => Kind::COUNT + 2,
            Counter::Truncated => Kind::COUNT + 3,
            Counter::UdpRecvErrors => Kind::COUNT + 4,
            Counter::UdpSendErrors => Kind::COUNT + 5,
            Counter::TcpConnections => Kind::COUNT + 6,
            Counter::TcpRejected => Kind::COUNT + 7,
            Counter::TcpTimeouts => Kind::COUNT + 8,
            Counter::Reloads => Kind::COUNT + 9,
            Counter::ReloadFailures => Kind::COUNT + 10,
        }
    }
}

/// One block of counters.
#[repr(align(128))]
#[derive(Default)]
pub struct Counters {
    vals: [AtomicU64; SLOTS],
}

impl Counters {
    /// Increment from the block's only writer thread (no locked instruction).
    #[inline]
    pub fn bump_owned(&self, c: Counter) {
        let a = &self.vals[c.slot()];
        a.store(a.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Add from any thread.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        if n != 0 {
            self.vals[c.slot()].fetch_add(n, Relaxed);
        }
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.vals[c.slot()].load(Relaxed)
    }
}

/// Local tally for a batch, flushed into shared counters at once.
#[derive(Default, Clone)]
pub struct Tally {
    vals: [u64; SLOTS],
}

impl Tally {
    #[inline]
    pub fn bump(&mut self, c: Counter) {
        self.vals[c.slot()] += 1;
    }

    pub fn flush_into(&mut self, to: &Counters) {
        for (i, v) in self.vals.iter_mut().enumerate() {
            if *v != 0 {
                to.vals[i].fetch_add(*v, Relaxed);
                *v = 0;
            }
        }
    }
}

/// All counter blocks of a responder.
#[derive(Default)]
pub struct Metrics {
    blocks: Mutex<Vec<Arc<Counters>>>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics::default())
    }

    /// A new block (one per worker thread, one for TCP, one for control).
    pub fn register(&self) -> Arc<Counters> {
        let c = Arc::new(Counters::default());
        self.blocks.lock().expect("metrics lock").push(c.clone());
        c
    }

    /// Sums of every counter, by name.
    pub fn totals(&self) -> BTreeMap<&'static str, u64> {
        let blocks = self.blocks.lock().expect("metrics lock");
        let mut out = BTreeMap::new();
        for k in Kind::ALL {
            out.insert(
                k.name(),
                blocks.iter().map(|b| b.get(Counter::Outcome(k))).sum(),
            );
        }
        for (c, name) in EXTRA {
            out.insert(name, blocks.iter().map(|b| b.get(c)).sum());
        }
        out
    }
}
