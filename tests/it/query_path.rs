//! The per-query path called directly, responses decoded by hickory-proto
//! as an independent oracle.

use std::net::IpAddr;

use feedwall::responder::query::{respond, Kind, Transport, MAX_UDP_RESPONSE};
use feedwall::snapshot::{
    encode, DeviceSpec, ListSpec, MappedSnapshot, SnapshotWriter, ZoneSettings, AUDIENCE_ALL,
};
use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use ipnet::IpNet;

fn snapshot() -> MappedSnapshot {
    let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").unwrap(), 42);
    let mut hosts: Vec<IpNet> = (0..70u32)
        .map(|i| IpNet::from(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))))
        .collect();
    hosts.push("2001:db8::1".parse::<IpAddr>().unwrap().into());
    w.lists.push(ListSpec {
        name: "l".into(),
        audience: AUDIENCE_ALL,
        capacity: None,
        nets: hosts,
        source: "t".into(),
    });
    let big: Vec<IpNet> = (0..4000u32)
        .map(|i| IpNet::from(IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i))))
        .collect();
    w.lists.push(ListSpec {
        name: "big".into(),
        audience: AUDIENCE_ALL,
        capacity: None,
        nets: big,
        source: "t".into(),
    });
    w.accounts.push((0, "static".into()));
    w.devices.push(DeviceSpec {
        key: 0,
        name: "d".into(),
        account: 0,
        prefixes: vec![
            "127.0.0.1/32".parse().unwrap(),
            "2001:db8:ffff::/48".parse().unwrap(),
        ],
    });
    MappedSnapshot::from_bytes(&encode(&w.build().unwrap()).unwrap()).unwrap()
}

const SRC: &str = "127.0.0.1";

fn ask(s: &MappedSnapshot, q: &[u8], t: Transport) -> (Kind, Option<Message>, Vec<u8>) {
    ask_from(s, q, t, SRC)
}

fn ask_from(
    s: &MappedSnapshot,
    q: &[u8],
    t: Transport,
    src: &str,
) -> (Kind, Option<Message>, Vec<u8>) {
    let mut out = vec![
        0u8;
        if t == Transport::Tcp {
            65535
        } else {
            MAX_UDP_RESPONSE
        }
    ];
    let o = respond(s.get(), src.parse().unwrap(), q, &mut out, t);
    out.truncate(o.len);
    let m = (o.len > 0).then(|| Message::from_vec(&out).expect("response decodes"));
    (o.kind, m, out)
}

fn query(name: &str, t: RecordType, edns: Option<(u16, u8, bool)>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 0xBEEF;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    if let Some((size, version, dnssec_ok)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size)
            .set_version(version)
            .set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

#[test]
fn answers_echo_id_rd_and_question_and_carry_opt_when_asked() {
    let s = snapshot();
    let (k, m, _) = ask(
        &s,
        &query(
            "0.L.FeedWall.internal.",
            RecordType::A,
            Some((1232, 0, true)),
        ),
        Transport::Udp,
    );
    let m = m.unwrap();
    assert_eq!(k, Kind::Answer);
    assert_eq!(m.metadata.id, 0xBEEF);
    assert!(
        m.metadata.authoritative && m.metadata.recursion_desired && !m.metadata.recursion_available
    );
    assert_eq!(m.queries[0].name().to_ascii(), "0.L.FeedWall.internal.");
    assert_eq!(m.answers.len(), 70);
    assert!(m
        .answers
        .iter()
        .all(|r| r.name.to_ascii() == "0.L.FeedWall.internal."));
    let e = m.edns.expect("OPT in response");
    assert_eq!(e.max_payload(), 1232);
    assert!(e.flags().dnssec_ok, "DO echoed");
    // Without EDNS, no OPT, and 70 A records (1.1 KB) do not fit 512: TC.
    let (_, m, raw) = ask(
        &s,
        &query("0.l.feedwall.internal.", RecordType::A, None),
        Transport::Udp,
    );
    let m = m.unwrap();
    assert!(m.metadata.truncation && m.answers.is_empty() && m.edns.is_none());
    assert!(raw.len() <= 512);
    // Over TCP the same query is complete.
    let (_, m, _) = ask(
        &s,
        &query("0.l.feedwall.internal.", RecordType::A, None),
        Transport::Tcp,
    );
    assert_eq!(m.unwrap().answers.len(), 70);
}

#[test]
fn edns_size_decides_udp_truncation() {
    let s = snapshot();
    let q = |size| {
        query(
            "0.big.feedwall.internal.",
            RecordType::A,
            Some((size, 0, false)),
        )
    };
    for size in [512u16, 1232, 4096, 65535] {
        let (_, m, raw) = ask(&s, &q(size), Transport::Udp);
        let m = m.unwrap();
        assert!(m.metadata.truncation, "size {size}");
        assert!(raw.len() <= (size as usize).max(512));
    }
    let (_, m, raw) = ask(&s, &q(1232), Transport::Tcp);
    assert_eq!(m.unwrap().answers.len(), 4000);
    assert!(raw.len() < 65535);
}

#[test]
fn malformed_and_unsupported_queries_get_the_right_rcode() {
    let s = snapshot();
    let good = query("0.l.feedwall.internal.", RecordType::A, None);
    // Shorter than a header: dropped.
    assert_eq!(ask(&s, &good[..11], Transport::Udp).0, Kind::Dropped);
    // A response (QR set): dropped, never answered (no reflection loops).
    let mut resp = good.clone();
    resp[2] |= 0x80;
    assert_eq!(ask(&s, &resp, Transport::Udp).0, Kind::Dropped);
    // Truncated question: FORMERR, ID echoed.
    let (k, m, _) = ask(&s, &good[..good.len() - 3], Transport::Udp);
    assert_eq!(k, Kind::FormErr);
    let m = m.unwrap();
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (0xBEEF, ResponseCode::FormErr)
    );
    // Two questions: FORMERR.
    let mut two = good.clone();
    two[5] = 2;
    assert_eq!(ask(&s, &two, Transport::Udp).0, Kind::FormErr);
    // Compression pointer in the question: FORMERR.
    let mut ptr = good[..12].to_vec();
    ptr.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
    assert_eq!(ask(&s, &ptr, Transport::Udp).0, Kind::FormErr);
    // NOTIFY (opcode 4) and UPDATE (5): NOTIMP.
    for op in [OpCode::Notify, OpCode::Update] {
        let mut m = Message::query();
        m.metadata.op_code = op;
        m.add_query(Query::query(
            Name::from_ascii("feedwall.internal.").unwrap(),
            RecordType::SOA,
        ));
        let (k, r, _) = ask(&s, &m.to_vec().unwrap(), Transport::Udp);
        assert_eq!(k, Kind::NotImp);
        assert_eq!(r.unwrap().metadata.response_code, ResponseCode::NotImp);
    }
    // EDNS version 1: BADVERS, with an OPT of version 0.
    let (k, m, _) = ask(
        &s,
        &query(
            "0.l.feedwall.internal.",
            RecordType::A,
            Some((1232, 1, false)),
        ),
        Transport::Udp,
    );
    assert_eq!(k, Kind::BadVers);
    let m = m.unwrap();
    assert_eq!(
        u16::from(m.metadata.response_code),
        16,
        "BADVERS (hickory names code 16 BADSIG)"
    );
    assert_eq!(m.edns.unwrap().version(), 0);
    // Two OPT records: FORMERR (RFC 6891 §6.1.1).
    let with_opt = query(
        "0.l.feedwall.internal.",
        RecordType::A,
        Some((1232, 0, false)),
    );
    let mut two_opt = with_opt.clone();
    two_opt.extend_from_slice(&with_opt[with_opt.len() - 11..]);
    two_opt[11] = 2;
    assert_eq!(ask(&s, &two_opt, Transport::Udp).0, Kind::FormErr);
    // Class CH: REFUSED.
    let mut m = Message::query();
    let mut q = Query::query(Name::from_ascii("version.bind.").unwrap(), RecordType::TXT);
    q.set_query_class(DNSClass::CH);
    m.add_query(q);
    assert_eq!(
        ask(&s, &m.to_vec().unwrap(), Transport::Udp).0,
        Kind::RefusedZone
    );
    // Zone transfer: REFUSED (not offered yet).
    assert_eq!(
        ask(
            &s,
            &query("feedwall.internal.", RecordType::AXFR, None),
            Transport::Tcp
        )
        .0,
        Kind::RefusedTransfer
    );
}

#[test]
fn acl_family_and_mapped_sources() {
    let s = snapshot();
    let q = query("0.l.feedwall.internal.", RecordType::AAAA, None);
    assert_eq!(
        ask_from(&s, &q, Transport::Udp, "2001:db8:ffff::9").0,
        Kind::Answer
    );
    assert_eq!(
        ask_from(&s, &q, Transport::Udp, "2001:db8:fffe::9").0,
        Kind::RefusedAcl
    );
    assert_eq!(
        ask_from(&s, &q, Transport::Udp, "127.0.0.2").0,
        Kind::RefusedAcl
    );
    let (_, m, _) = ask_from(&s, &q, Transport::Udp, "2001:db8:ffff::9");
    assert_eq!(m.unwrap().answers.len(), 1);
}

#[test]
fn any_is_answered_with_one_rrset() {
    let s = snapshot();
    let (k, m, _) = ask(
        &s,
        &query("0.l.feedwall.internal.", RecordType::ANY, None),
        Transport::Tcp,
    );
    assert_eq!(k, Kind::Answer);
    let m = m.unwrap();
    let types: std::collections::HashSet<RecordType> =
        m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types.len(), 1, "one RRset");
    assert!(types.contains(&RecordType::AAAA), "the smallest RRset");
}

#[test]
fn every_truncation_point_of_a_query_is_handled() {
    let s = snapshot();
    let q = query(
        "0.big.feedwall.internal.",
        RecordType::A,
        Some((4096, 0, true)),
    );
    for cut in 0..q.len() {
        for t in [Transport::Udp, Transport::Tcp] {
            let (k, m, _) = ask(&s, &q[..cut], t);
            if cut < 12 {
                assert_eq!(k, Kind::Dropped);
            } else {
                assert_eq!(m.unwrap().metadata.id, 0xBEEF, "cut {cut}");
            }
        }
    }
}

/// Regression (fuzz `query_short_out`): a buffer too short for the question
/// gets a header-only answer, never a panic.
#[test]
fn regression_issue2_short_output_buffer_never_panics() {
    let s = snapshot();
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/query_short_out-question-overruns-out.bin"
    ))
    .unwrap();
    let out_len = u16::from_be_bytes([input[0], input[1]]) as usize;
    let q = &input[2..];
    for len in [12usize, 20, 23, out_len, 100, 512] {
        let mut out = vec![0u8; len];
        for t in [Transport::Udp, Transport::Tcp] {
            let o = respond(s.get(), SRC.parse().unwrap(), q, &mut out, t);
            assert!(o.len <= len);
        }
    }
}

/// Regression (fuzz `snapshot_load`): a snapshot whose record counts
/// overflow 16 bits (checksum recomputed) is refused at load.
#[test]
fn regression_issue2_snapshot_with_overflowing_counts_is_refused() {
    for (field, value) in [
        ("additional", 0xFFFFu16),
        ("answer", 0xFFFF),
        ("answer", 5000),
    ] {
        let mut w = SnapshotWriter::new(ZoneSettings::new("feedwall.internal").unwrap(), 1);
        w.devices.push(DeviceSpec {
            key: 0,
            name: "d".into(),
            account: 0,
            prefixes: vec!["127.0.0.1/32".parse().unwrap()],
        });
        let mut snap = w.build().unwrap();
        let ns = snap.names[0]
            .rrsets
            .iter_mut()
            .find(|r| r.rtype == 2)
            .unwrap();
        match field {
            "additional" => ns.additional_count = value,
            _ => ns.count = value,
        }
        // `encode` recomputes length and checksum: only the invariant checks
        // stand between these counts and the query path.
        let err = MappedSnapshot::from_bytes(&encode(&snap).unwrap())
            .err()
            .expect("refused");
        assert!(err.to_string().contains("counts"), "{field}={value}: {err}");
    }
}
