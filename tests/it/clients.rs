//! Real DNS clients (kdig, dig) against the real responder.

use std::collections::HashSet;

use crate::harness::*;

/// A snapshot with a big list (4100 IPv4 + 2100 IPv6 hosts), a small one,
/// allowing 127.0.0.1 only.
fn big_and_small() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempdir();
    let mut big = v4_hosts([10, 1, 0, 0], 4100);
    big.extend(v6_hosts(7, 2100));
    let big_f = write_list(dir.path(), "big", &big);
    let small_f = write_list(
        dir.path(),
        "small",
        &[
            "192.0.2.1".into(),
            "192.0.2.2".into(),
            "2001:db8::53".into(),
        ],
    );
    let snap = dir.path().join("snap.fw");
    build(
        &snap,
        &[("big", &big_f), ("small", &small_f)],
        &["127.0.0.1/32", "::1/128"],
        &["--capacity", "big=5"],
    );
    (dir, snap)
}

#[test]
fn kdig_over_tcp_gets_all_4000_a_and_2000_aaaa_of_full_chunks() {
    let (_d, snap) = big_and_small();
    let r = Responder::start(&snap);
    let out = kdig(r.addr(), "0.big.feedwall.internal", "A", &["+tcp"]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    let a: HashSet<String> = answers(&out, "A").into_iter().collect();
    assert_eq!(a.len(), 4000, "full chunk 0 over TCP");
    let expected: HashSet<String> = v4_hosts([10, 1, 0, 0], 4000).into_iter().collect();
    assert_eq!(a, expected);
    // The rest of the list is in chunk 1.
    let out = kdig(r.addr(), "1.big.feedwall.internal", "A", &["+tcp"]);
    assert_eq!(answers(&out, "A").len(), 100);
    let out = kdig(r.addr(), "0.big.feedwall.internal", "AAAA", &["+tcp"]);
    assert_eq!(
        answers(&out, "AAAA").len(),
        2000,
        "full AAAA chunk over TCP"
    );
    let out = kdig(r.addr(), "1.big.feedwall.internal", "AAAA", &["+tcp"]);
    assert_eq!(answers(&out, "AAAA").len(), 100);
}

#[test]
fn udp_query_for_a_full_chunk_is_truncated_and_small_lists_answer_over_udp() {
    let (_d, snap) = big_and_small();
    let r = Responder::start(&snap);
    // dig +ignore shows the truncated UDP answer instead of retrying.
    let out = dig(
        r.addr(),
        "0.big.feedwall.internal",
        "A",
        &["+ignore", "+notcp"],
    );
    assert!(out.contains("flags: qr aa tc"), "TC=1 expected:\n{out}");
    assert_eq!(answers(&out, "A").len(), 0);
    // Without EDNS the limit is 512 octets: still truncated.
    let out = dig(
        r.addr(),
        "0.big.feedwall.internal",
        "A",
        &["+ignore", "+noedns"],
    );
    assert!(out.contains(" tc"), "{out}");
    // A small list answers over UDP, complete.
    let out = kdig(r.addr(), "0.small.feedwall.internal", "A", &["+notcp"]);
    assert!(out.contains("(UDP)"), "{out}");
    let mut a = answers(&out, "A");
    a.sort();
    assert_eq!(a, vec!["192.0.2.1", "192.0.2.2"]);
    assert_eq!(
        answers(
            &kdig(r.addr(), "0.small.feedwall.internal", "AAAA", &[]),
            "AAAA"
        ),
        vec!["2001:db8::53"]
    );
    // dig retries a truncated answer over TCP by itself and gets everything.
    let out = dig(r.addr(), "0.big.feedwall.internal", "A", &[]);
    assert_eq!(
        answers(&out, "A").len(),
        4000,
        "{}",
        &out[..out.len().min(500)]
    );
    let c = r.counters();
    assert!(c["counters"]["truncated"].as_u64().unwrap() >= 3, "{c}");
}

#[test]
fn sources_outside_the_acl_are_refused() {
    let (_d, snap) = big_and_small();
    let r = Responder::start(&snap);
    let out = dig(
        r.addr(),
        "0.small.feedwall.internal",
        "A",
        &["-b", "127.0.0.2"],
    );
    assert_eq!(status(&out), "REFUSED", "{out}");
    assert_eq!(answers(&out, "A").len(), 0);
    let out = dig(
        r.addr(),
        "feedwall.internal",
        "SOA",
        &["-b", "127.0.0.2", "+tcp"],
    );
    assert_eq!(status(&out), "REFUSED", "{out}");
    // The same query from an allowed source works.
    assert_eq!(
        status(&dig(
            r.addr(),
            "0.small.feedwall.internal",
            "A",
            &["-b", "127.0.0.1"]
        )),
        "NOERROR"
    );
    // Names outside the zone are refused too.
    assert_eq!(status(&dig(r.addr(), "example.com", "A", &[])), "REFUSED");
    assert_eq!(
        status(&dig(r.addr(), "xfeedwall.internal", "A", &[])),
        "REFUSED"
    );
    let c = r.counters();
    assert!(c["counters"]["refused_acl"].as_u64().unwrap() >= 2, "{c}");
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let (_d, snap) = big_and_small();
    let r = Responder::start(&snap);
    // Past the declared capacity (5): NXDOMAIN with SOA.
    let out = kdig(r.addr(), "5.big.feedwall.internal", "A", &[]);
    assert_eq!(status(&out), "NXDOMAIN", "{out}");
    assert!(
        out.contains("AUTHORITY SECTION") && out.contains("SOA"),
        "{out}"
    );
    // Within capacity but empty: NODATA (NOERROR, no answer, SOA).
    let out = kdig(r.addr(), "4.big.feedwall.internal", "A", &[]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert_eq!(answers(&out, "A").len(), 0);
    assert!(out.contains("SOA"), "{out}");
    // Existing name, other type: NODATA.
    let out = kdig(r.addr(), "0.small.feedwall.internal", "TXT", &[]);
    assert_eq!(status(&out), "NOERROR");
    assert!(out.contains("SOA"), "{out}");
    // Unknown name: NXDOMAIN.
    assert_eq!(
        status(&kdig(r.addr(), "nothere.feedwall.internal", "A", &[])),
        "NXDOMAIN"
    );
    // The negative TTL is the SOA minimum (RFC 2308).
    let out = dig(r.addr(), "nothere.feedwall.internal", "A", &[]);
    assert!(
        out.lines().any(|l| l.starts_with("feedwall.internal.")
            && l.contains("\t60\t")
            && l.contains("SOA")),
        "{out}"
    );
}

#[test]
fn mixed_case_names_work_and_the_question_is_echoed_as_asked() {
    let (_d, snap) = big_and_small();
    let r = Responder::start(&snap);
    let out = dig(r.addr(), "0.SmAlL.FeedWall.INTERNAL", "A", &[]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert!(
        out.contains(";0.SmAlL.FeedWall.INTERNAL."),
        "question echoed:\n{out}"
    );
    let owners: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("IN\tA\t"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        owners,
        vec!["0.SmAlL.FeedWall.INTERNAL."; 2],
        "owner echoes the case:\n{out}"
    );
    assert_eq!(answers(&out, "A").len(), 2);
    let out = kdig(r.addr(), "0.BIG.feedwall.internal", "A", &["+tcp"]);
    assert_eq!(answers(&out, "A").len(), 4000);
}

#[test]
fn list_name_txt_tells_chunks_entries_and_serial_and_apex_has_soa_ns_glue() {
    let (_d, snap) = big_and_small();
    let r = Responder::start(&snap);
    let out = dig(r.addr(), "big.feedwall.internal", "TXT", &[]);
    assert!(
        out.contains("\"chunks=2\"")
            && out.contains("\"entries=6200\"")
            && out.contains("\"capacity=5\"")
            && out.contains("\"serial="),
        "{out}"
    );
    let out = dig(r.addr(), "feedwall.internal", "NS", &[]);
    assert_eq!(answers(&out, "NS"), vec!["ns1.feedwall.internal."]);
    assert!(
        out.contains("ADDITIONAL SECTION")
            && out.contains("ns1.feedwall.internal.\t300\tIN\tA\t127.0.0.1"),
        "glue:\n{out}"
    );
    let out = dig(r.addr(), "ns1.feedwall.internal", "A", &[]);
    assert_eq!(answers(&out, "A"), vec!["127.0.0.1"]);
    let out = dig(r.addr(), "feedwall.internal", "SOA", &[]);
    assert_eq!(status(&out), "NOERROR");
    // ANY is answered minimally (RFC 8482): one RRset.
    let out = dig(r.addr(), "feedwall.internal", "ANY", &[]);
    assert!(out.contains("ANSWER: 1,"), "{out}");
}

#[test]
fn ipv6_listener_answers_ipv6_devices() {
    let (_d, snap) = big_and_small();
    let r = Responder::start_with(&snap, &["[::1]:0", "127.0.0.1:0"], &[]);
    let v6 = r.addrs.iter().find(|a| a.is_ipv6()).copied().unwrap();
    let out = kdig(v6, "0.small.feedwall.internal", "A", &[]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    let out = kdig(v6, "0.big.feedwall.internal", "AAAA", &["+tcp"]);
    assert_eq!(answers(&out, "AAAA").len(), 2000);
}
