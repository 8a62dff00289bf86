//! Any bytes into the per-query path: never a panic; every response is a
//! DNS message hickory-proto decodes, echoes ID and question, and obeys the
//! ACL, audience and size rules.
#![no_main]

mod common;

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::OnceLock;

use feedwall::responder::query::{
    respond, respond_split, Kind, Outcome, Transport, MAX_UDP_RESPONSE,
};
use feedwall::snapshot::MappedSnapshot;
use feedwall::wire::MAX_MESSAGE;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::RecordType;
use libfuzzer_sys::fuzz_target;

use common::*;

struct Fixture {
    snap: MappedSnapshot,
    /// Lower-case wire names only account 7 may see.
    private: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let snap = MappedSnapshot::from_bytes(&query_fixture()).expect("fixture validates");
        let private = vec![
            wire_name("custom.acct7.feedwall.internal"),
            wire_name("acct7.feedwall.internal"),
        ];
        Fixture { snap, private }
    })
}

thread_local! {
    static BUFS: RefCell<(Vec<u8>, Vec<u8>, Vec<u8>)> =
        RefCell::new((vec![0u8; MAX_UDP_RESPONSE], vec![0u8; MAX_MESSAGE], vec![0u8; MAX_MESSAGE]));
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let snap = f.snap.get();
    // The query as hickory sees it (None when hickory refuses it).
    let hq = Message::from_vec(data).ok();
    BUFS.with(|b| {
        let (udp, tcp, other) = &mut *b.borrow_mut();
        let mut home_tcp: Option<Vec<u8>> = None;
        for src in [SRC_HOME_V4, SRC_HOME_V6, SRC_OTHER, SRC_OUTSIDE] {
            udp.fill(0xA5);
            tcp.fill(0x5A);
            let ou = respond(snap, src, data, udp, Transport::Udp);
            check(
                f,
                data,
                hq.as_ref(),
                src,
                Transport::Udp,
                ou,
                &udp[..ou.len.min(udp.len())],
            );
            let ot = respond(snap, src, data, tcp, Transport::Tcp);
            check(
                f,
                data,
                hq.as_ref(),
                src,
                Transport::Tcp,
                ot,
                &tcp[..ot.len.min(tcp.len())],
            );
            assert_eq!(ou.kind, ot.kind, "UDP and TCP disagree on the outcome");
            if !ou.truncated {
                assert_eq!(
                    &udp[..ou.len],
                    &tcp[..ot.len],
                    "UDP and TCP responses differ without truncation"
                );
            }
            // The TCP server's path: big RRsets stay in the snapshot and
            // go out by writev; the pieces must make the same message.
            for split_at in [0usize, 2048] {
                other.fill(0xC3);
                let (os, split) = respond_split(snap, src, data, other, Transport::Tcp, split_at);
                assert_eq!(
                    (os.kind, os.len, os.truncated),
                    (ot.kind, ot.len, ot.truncated),
                    "respond_split outcome differs"
                );
                let joined = match split {
                    Some(sp) => {
                        assert!(
                            sp.head <= os.len
                                && sp.middle.len() >= split_at
                                && sp.middle.len() <= os.len - sp.head
                        );
                        let mut j = other[..sp.head].to_vec();
                        j.extend_from_slice(sp.middle);
                        j.extend_from_slice(&other[sp.head..os.len - sp.middle.len()]);
                        j
                    }
                    None => other[..os.len].to_vec(),
                };
                assert_eq!(
                    joined.as_slice(),
                    &tcp[..ot.len],
                    "respond_split pieces differ from respond (split_at {split_at})\nquery {}",
                    hex(data)
                );
            }
            // 127.0.0.1 and ::1 are the same device: same response.
            if src == SRC_HOME_V4 {
                home_tcp = Some(tcp[..ot.len].to_vec());
            } else if src == SRC_HOME_V6 {
                assert_eq!(
                    home_tcp.as_deref(),
                    Some(&tcp[..ot.len]),
                    "same device, different response by family"
                );
            }
        }
        // Determinism: a second run into a dirty buffer gives the same bytes.
        other.fill(0x33);
        let again = respond(snap, SRC_HOME_V4, data, other, Transport::Tcp);
        assert_eq!(
            home_tcp.as_deref(),
            Some(&other[..again.len]),
            "respond is not deterministic"
        );
    });
});

/// RCODE (extended, as a number: 16 is both BADVERS and BADSIG in hickory)
/// each outcome must carry.
fn expected_rcode(kind: Kind) -> Option<u16> {
    let rc = match kind {
        Kind::Answer | Kind::NoData => ResponseCode::NoError,
        Kind::NxDomain => ResponseCode::NXDomain,
        Kind::RefusedAcl | Kind::RefusedZone | Kind::RefusedAudience | Kind::RefusedTransfer => {
            ResponseCode::Refused
        }
        Kind::FormErr => ResponseCode::FormErr,
        Kind::NotImp => ResponseCode::NotImp,
        Kind::BadVers => ResponseCode::BADVERS,
        Kind::Dropped => return None,
    };
    Some(u16::from(rc))
}

fn check(
    f: &Fixture,
    q: &[u8],
    hq: Option<&Message>,
    src: IpAddr,
    t: Transport,
    o: Outcome,
    resp: &[u8],
) {
    let cap = match t {
        Transport::Udp => MAX_UDP_RESPONSE,
        Transport::Tcp => MAX_MESSAGE,
    };
    assert!(o.len <= cap, "response length {} beyond the buffer", o.len);
    let droppable = q.len() < 12 || q[2] & 0x80 != 0;
    if o.kind == Kind::Dropped {
        assert!(droppable, "a well-sized query was dropped");
        assert_eq!(o.len, 0);
        return;
    }
    assert!(!droppable, "answered a runt or a response: {:?}", o.kind);
    let ctx = || {
        format!(
            "{t:?} from {src}, {:?}\nquery {}\nresponse {}",
            o.kind,
            hex(q),
            hex(resp)
        )
    };
    assert!(o.len >= 12, "short response: {}", ctx());
    assert_eq!(resp[0..2], q[0..2], "ID not echoed: {}", ctx());
    assert!(resp[2] & 0x80 != 0, "QR not set: {}", ctx());

    let msg = match Message::from_vec(resp) {
        Ok(m) => m,
        Err(e) => panic!("hickory cannot decode the response ({e}): {}", ctx()),
    };
    assert_eq!(
        msg.metadata.id,
        u16::from_be_bytes([q[0], q[1]]),
        "{}",
        ctx()
    );
    assert_eq!(
        msg.metadata.message_type,
        MessageType::Response,
        "{}",
        ctx()
    );
    assert_eq!(
        Some(u16::from(msg.metadata.response_code)),
        expected_rcode(o.kind),
        "RCODE vs outcome: {}",
        ctx()
    );

    // Sizes: UDP never above our cap, and 512 without EDNS.
    if t == Transport::Udp {
        assert!(o.len <= MAX_UDP_RESPONSE, "{}", ctx());
        if msg.edns.is_none() {
            assert!(
                o.len <= 512,
                "UDP response over 512 without EDNS: {}",
                ctx()
            );
        } else if let Some(e) = hq.and_then(|h| h.edns.as_ref()) {
            assert!(
                o.len <= (e.max_payload() as usize).max(512),
                "UDP response over the client's EDNS size: {}",
                ctx()
            );
        }
    }
    // Truncation: only UDP, only empty, flagged.
    assert_eq!(
        msg.metadata.truncation,
        o.truncated,
        "TC flag vs outcome: {}",
        ctx()
    );
    if o.truncated {
        assert_eq!(t, Transport::Udp, "truncated over TCP: {}", ctx());
        assert!(msg.answers.is_empty(), "{}", ctx());
    }

    // Question echo, byte for byte (case preserved).
    let header_only = matches!(o.kind, Kind::FormErr | Kind::NotImp) && msg.queries.is_empty();
    if !header_only {
        assert_eq!(msg.queries.len(), 1, "question not echoed: {}", ctx());
        let (_, end) = read_plain_name(resp, 12).expect("echoed name");
        assert!(q.len() >= end + 4 && resp.len() >= end + 4, "{}", ctx());
        assert_eq!(
            &resp[12..end + 4],
            &q[12..end + 4],
            "question not echoed as asked: {}",
            ctx()
        );
        if let Some(hq) = hq.filter(|h| h.queries.len() == 1) {
            let (a, b) = (&msg.queries[0], &hq.queries[0]);
            assert!(
                a.name().eq_case(b.name()),
                "question name case differs: {}",
                ctx()
            );
            assert_eq!(
                (a.query_type(), a.query_class()),
                (b.query_type(), b.query_class()),
                "{}",
                ctx()
            );
        }
    } else {
        assert!(o.len == 12, "header-only reply with a body: {}", ctx());
    }
    if matches!(o.kind, Kind::NotImp) {
        return;
    }

    // What the question asked (lower case), when there is one.
    let qname = (!header_only).then(|| read_plain_name(resp, 12).expect("echoed name").0);
    let qtype = msg.queries.first().map(|q| q.query_type());
    match o.kind {
        Kind::Answer if !o.truncated => {
            assert!(
                !msg.answers.is_empty(),
                "NOERROR answer without records: {}",
                ctx()
            );
            let asked = &msg.queries[0];
            for r in &msg.answers {
                assert!(
                    r.name.eq_case(asked.name()),
                    "answer owner is not the question: {}",
                    ctx()
                );
                if qtype != Some(RecordType::ANY) {
                    assert_eq!(
                        Some(r.record_type()),
                        qtype,
                        "answer of another type: {}",
                        ctx()
                    );
                }
            }
            assert!(msg.authorities.is_empty(), "{}", ctx());
        }
        Kind::NoData | Kind::NxDomain if !o.truncated => {
            assert!(msg.answers.is_empty(), "{}", ctx());
            assert_eq!(
                msg.authorities.len(),
                1,
                "negative answer without SOA: {}",
                ctx()
            );
            assert_eq!(
                msg.authorities[0].record_type(),
                RecordType::SOA,
                "{}",
                ctx()
            );
        }
        _ => {}
    }

    // Access rules.
    let served = matches!(o.kind, Kind::Answer | Kind::NoData | Kind::NxDomain);
    if src == SRC_OUTSIDE {
        assert!(
            !served && o.kind != Kind::RefusedAudience,
            "source outside the ACL was served: {}",
            ctx()
        );
    } else {
        assert!(o.kind != Kind::RefusedAcl, "ACL device refused: {}", ctx());
    }
    if let Some(name) = &qname {
        let private = f.private.iter().any(|p| at_or_below(name, p));
        if private && src != SRC_OTHER && src != SRC_OUTSIDE {
            assert!(!served, "account 1 sees account 7's names: {}", ctx());
        }
        if private && src == SRC_OTHER {
            assert!(
                o.kind != Kind::RefusedAudience,
                "account 7 refused its own names: {}",
                ctx()
            );
        }
    }
}
