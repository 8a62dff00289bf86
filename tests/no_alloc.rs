//! The per-query path allocates nothing: a counting global allocator counts
//! this thread's allocations around many `respond` calls of every outcome.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;

use feedwall::responder::query::{respond, Kind, Transport};
use feedwall::snapshot::{
    encode, DeviceSpec, ListSpec, MappedSnapshot, SnapshotWriter, ZoneSettings, AUDIENCE_ALL,
};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialised
// thread-local Cell without a destructor, so touching it never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn q(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut v = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns as u8];
    v.extend_from_slice(&feedwall::wire::name_from_text(name).unwrap());
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        v.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0]);
    }
    v
}

#[test]
fn respond_allocates_nothing() {
    let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").unwrap(), 1);
    let nets = (0..5000u32)
        .map(|i| ipnet::IpNet::from(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))))
        .collect();
    w.lists.push(ListSpec {
        name: "l".into(),
        audience: AUDIENCE_ALL,
        capacity: None,
        nets,
        source: "t".into(),
    });
    w.lists.push(ListSpec {
        name: "mine.acct".into(),
        audience: 7,
        capacity: None,
        nets: vec!["192.0.2.1/32".parse().unwrap()],
        source: "t".into(),
    });
    w.devices.push(DeviceSpec {
        key: 0,
        name: "d".into(),
        account: 0,
        prefixes: vec!["127.0.0.1/32".parse().unwrap()],
    });
    let snap = MappedSnapshot::from_bytes(&encode(&w.build().unwrap()).unwrap()).unwrap();
    let queries = [
        (
            q("0.L.feedwall.internal", 1, true),
            Transport::Tcp,
            Kind::Answer,
        ),
        (
            q("0.l.feedwall.internal", 1, true),
            Transport::Udp,
            Kind::Answer,
        ),
        (
            q("l.feedwall.internal", 16, false),
            Transport::Udp,
            Kind::Answer,
        ),
        (
            q("3.l.feedwall.internal", 1, true),
            Transport::Udp,
            Kind::NoData,
        ),
        (
            q("9.l.feedwall.internal", 1, true),
            Transport::Udp,
            Kind::NxDomain,
        ),
        (
            q("0.mine.acct.feedwall.internal", 1, true),
            Transport::Udp,
            Kind::RefusedAudience,
        ),
        (q("example.com", 1, true), Transport::Udp, Kind::RefusedZone),
        (
            vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5],
            Transport::Udp,
            Kind::FormErr,
        ),
    ];
    let src: IpAddr = "127.0.0.1".parse().unwrap();
    let mut out = vec![0u8; 65535];
    let before = ALLOCS.with(|c| c.get());
    for _ in 0..1000 {
        for (query, t, kind) in &queries {
            let o = respond(snap.get(), src, query, &mut out, *t);
            assert_eq!(o.kind, *kind);
        }
    }
    let after = ALLOCS.with(|c| c.get());
    assert_eq!(after - before, 0, "allocations on the query path");
}
