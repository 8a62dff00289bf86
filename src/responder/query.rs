//! The per-query path: bytes in, bytes out, nothing allocated.
//!
//! Parses the header, the one question and the EDNS(0) OPT record by hand,
//! checks the ACL, finds the name (case-insensitively; the question is echoed
//! as asked, and answers point at it with `0xC00C`), copies the pre-encoded
//! RRset, and writes header, counts and OPT around it.
//!
//! RCODEs (RFC 1035 §4.1.1, RFC 2308, RFC 6891, RFC 8482):
//! - NOERROR with records; NODATA (NOERROR, empty answer) and NXDOMAIN carry
//!   the SOA in the authority section.
//! - REFUSED: source not in the ACL, name outside the zone, name belonging to
//!   another account (never NXDOMAIN: existence is not leaked), zone transfer.
//! - FORMERR: malformed queries; NOTIMP: opcodes other than QUERY; BADVERS:
//!   EDNS versions above 0.
//! - Responses to responses, and packets shorter than a header, are dropped.

use std::net::IpAddr;

use crate::snapshot::{ArchivedRRset, ArchivedSnapshot, AUDIENCE_ALL};
use crate::wire::{
    flags, rcode, rtype, CLASSIC_UDP, CLASS_IN, EDNS_DO, HEADER_LEN, MAX_LABEL, MAX_MESSAGE,
    MAX_NAME,
};

/// UDP payload size we advertise in OPT (DNS Flag Day 2020 recommendation).
pub const EDNS_UDP_SIZE: u16 = 1232;
/// Largest UDP response we send whatever the client advertises; bigger
/// answers go truncated and move to TCP.
pub const MAX_UDP_RESPONSE: usize = 4096;
/// Bytes of an OPT record with no options.
const OPT_LEN: usize = 11;
/// Most labels a 255-octet name can have.
const MAX_LABELS: usize = 128;

/// How the query arrived (decides the size limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the responder did with a query; the caller counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Answer = 0,
    NoData,
    NxDomain,
    RefusedAcl,
    RefusedZone,
    RefusedAudience,
    RefusedTransfer,
    FormErr,
    NotImp,
    BadVers,
    /// Dropped: shorter than a header, or a response (QR set).
    Dropped,
}

impl Kind {
    pub const COUNT: usize = 11;
    pub const ALL: [Kind; Kind::COUNT] = [
        Kind::Answer,
        Kind::NoData,
        Kind::NxDomain,
        Kind::RefusedAcl,
        Kind::RefusedZone,
        Kind::RefusedAudience,
        Kind::RefusedTransfer,
        Kind::FormErr,
        Kind::NotImp,
        Kind::BadVers,
        Kind::Dropped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Answer => "answer",
            Kind::NoData => "nodata",
            Kind::NxDomain => "nxdomain",
            Kind::RefusedAcl => "refused_acl",
            Kind::RefusedZone => "refused_zone",
            Kind::RefusedAudience => "refused_audience",
            Kind::RefusedTransfer => "refused_transfer",
            Kind::FormErr => "formerr",
            Kind::NotImp => "notimp",
            Kind::BadVers => "badvers",
            Kind::Dropped => "dropped",
        }
    }
}

/// Result of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub kind: Kind,
    /// Response length in `out`; 0 when dropped.
    pub len: usize,
    /// The answer did not fit (UDP) and was sent with TC=1.
    pub truncated: bool,
    /// The device (index into the snapshot's `devices`) the source belongs
    /// to, once the ACL admitted the query; `None` for queries refused by
    /// the ACL and for those rejected before the ACL check (malformed, bad
    /// opcode, class or EDNS version). The caller notes its last query time.
    pub device: Option<u32>,
}

impl Outcome {
    const fn drop() -> Self {
        Outcome {
            kind: Kind::Dropped,
            len: 0,
            truncated: false,
            device: None,
        }
    }
}

/// EDNS(0) facts of a query.
#[derive(Clone, Copy, Default)]
struct Edns {
    present: bool,
    udp_size: u16,
    version: u8,
    dnssec_ok: bool,
}

/// Answers one query into `out`. `out` must hold at least
/// `MAX_UDP_RESPONSE` bytes for UDP and `MAX_MESSAGE` for TCP; a shorter
/// buffer only lowers the size at which answers are truncated (UDP) or
/// refused with SERVFAIL-free truncation (TCP).
#[inline]
pub fn respond(
    snap: &ArchivedSnapshot,
    src: IpAddr,
    query: &[u8],
    out: &mut [u8],
    transport: Transport,
) -> Outcome {
    respond_split(snap, src, query, out, transport, usize::MAX).0
}

/// A response whose large RRset stays in the snapshot: `out[..head]` is the
/// header and question, then `middle` (borrowed from the mapped snapshot),
/// then `out[head..outcome.len - middle.len()]` (RRSIGs, glue, OPT). Lets TCP
/// write a 64 KB answer with one `writev` and no user-space copy.
#[derive(Debug, Clone, Copy)]
pub struct Split<'s> {
    pub head: usize,
    pub middle: &'s [u8],
}

/// Like [`respond`], but answers whose RRset is at least `split_at` bytes
/// come back as a [`Split`] instead of being copied into `out`.
#[inline]
pub fn respond_split<'s>(
    snap: &'s ArchivedSnapshot,
    src: IpAddr,
    query: &[u8],
    out: &mut [u8],
    transport: Transport,
    split_at: usize,
) -> (Outcome, Option<Split<'s>>) {
    let mut split = None;
    let mut device = None;
    let mut o = respond_inner(
        snap,
        src,
        query,
        out,
        transport,
        split_at,
        &mut split,
        &mut device,
    );
    o.device = device;
    (o, split)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn respond_inner<'s>(
    snap: &'s ArchivedSnapshot,
    src: IpAddr,
    query: &[u8],
    out: &mut [u8],
    transport: Transport,
    split_at: usize,
    split: &mut Option<Split<'s>>,
    device_out: &mut Option<u32>,
) -> Outcome {
    if query.len() < HEADER_LEN || out.len() < HEADER_LEN + OPT_LEN || query[2] & flags::QR != 0 {
        return Outcome::drop();
    }
    let opcode_bits = query[2] & flags::OPCODE_MASK;
    if opcode_bits != 0 {
        return header_only(query, out, rcode::NOTIMP, Kind::NotImp);
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let ancount = u16::from_be_bytes([query[6], query[7]]);
    let nscount = u16::from_be_bytes([query[8], query[9]]);
    let arcount = u16::from_be_bytes([query[10], query[11]]);
    if qdcount != 1 || ancount != 0 || nscount != 0 {
        return header_only(query, out, rcode::FORMERR, Kind::FormErr);
    }

    // Question: lower-case copy of the name, label starts remembered.
    let mut lname = [0u8; MAX_NAME];
    let mut starts = [0u8; MAX_LABELS];
    let mut nlabels = 0usize;
    let mut pos = HEADER_LEN;
    let mut qlen = 0usize;
    loop {
        let Some(&len) = query.get(pos) else {
            return header_only(query, out, rcode::FORMERR, Kind::FormErr);
        };
        let len = len as usize;
        if len == 0 {
            if qlen + 1 > MAX_NAME {
                return header_only(query, out, rcode::FORMERR, Kind::FormErr);
            }
            lname[qlen] = 0;
            qlen += 1;
            pos += 1;
            break;
        }
        // Compression pointers (and the reserved 0x40/0x80 label types)
        // cannot appear in a question that starts the message.
        if len > MAX_LABEL || qlen + 1 + len + 1 > MAX_NAME || nlabels == MAX_LABELS {
            return header_only(query, out, rcode::FORMERR, Kind::FormErr);
        }
        let Some(label) = query.get(pos + 1..pos + 1 + len) else {
            return header_only(query, out, rcode::FORMERR, Kind::FormErr);
        };
        starts[nlabels] = qlen as u8;
        nlabels += 1;
        lname[qlen] = len as u8;
        for (d, s) in lname[qlen + 1..qlen + 1 + len].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        qlen += 1 + len;
        pos += 1 + len;
    }
    let Some(tc) = query.get(pos..pos + 4) else {
        return header_only(query, out, rcode::FORMERR, Kind::FormErr);
    };
    let qtype = u16::from_be_bytes([tc[0], tc[1]]);
    let qclass = u16::from_be_bytes([tc[2], tc[3]]);
    let q_end = pos + 4;

    // Additional section: at most one OPT; other records (e.g. TSIG, not yet
    // supported) are skipped.
    let mut edns = Edns::default();
    let mut p = q_end;
    for _ in 0..arcount {
        let Some(next) = skip_name(query, p) else {
            return header_only(query, out, rcode::FORMERR, Kind::FormErr);
        };
        let Some(fixed) = query.get(next..next + 10) else {
            return header_only(query, out, rcode::FORMERR, Kind::FormErr);
        };
        let t = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        if next + 10 + rdlen > query.len() {
            return header_only(query, out, rcode::FORMERR, Kind::FormErr);
        }
        if t == rtype::OPT {
            if edns.present || next != p + 1 {
                // Two OPTs, or an OPT whose owner is not the root (RFC 6891 §6.1.1).
                return header_only(query, out, rcode::FORMERR, Kind::FormErr);
            }
            edns = Edns {
                present: true,
                udp_size: u16::from_be_bytes([fixed[2], fixed[3]]),
                version: fixed[5],
                dnssec_ok: u16::from_be_bytes([fixed[6], fixed[7]]) & EDNS_DO != 0,
            };
        }
        p = next + 10 + rdlen;
    }

    let limit = match transport {
        Transport::Tcp => MAX_MESSAGE.min(out.len()),
        Transport::Udp => {
            let client = if edns.present {
                (edns.udp_size as usize).max(CLASSIC_UDP)
            } else {
                CLASSIC_UDP
            };
            client.min(MAX_UDP_RESPONSE).min(out.len())
        }
    };
    let question = &query[HEADER_LEN..q_end];
    let mut w = Writer {
        out,
        limit,
        edns,
        question_len: question.len(),
        split_at,
        split,
    };

    if edns.present && edns.version > 0 {
        return w.empty(
            query,
            question,
            rcode::BADVERS as u8 & 0x0f,
            (rcode::BADVERS >> 4) as u8,
            Kind::BadVers,
            false,
        );
    }
    if qclass != CLASS_IN && qclass != rtype::ANY {
        return w.empty(query, question, rcode::REFUSED, 0, Kind::RefusedZone, false);
    }
    if qtype == rtype::OPT {
        return w.empty(query, question, rcode::FORMERR, 0, Kind::FormErr, false);
    }

    // Access: the source must be a device.
    let Some(device) = snap.device_for(src) else {
        return w.empty(query, question, rcode::REFUSED, 0, Kind::RefusedAcl, false);
    };
    *device_out = Some(device);
    let account = snap.account_of(device).unwrap_or(u32::MAX);

    // Zone: the name must be the apex or below it.
    let zone = snap.zone.as_slice();
    let name = &lname[..qlen];
    let in_zone = qlen >= zone.len() && {
        let off = qlen - zone.len();
        &name[off..] == zone && (off == 0 || starts[..nlabels].contains(&(off as u8)))
    };
    if !in_zone {
        return w.empty(query, question, rcode::REFUSED, 0, Kind::RefusedZone, false);
    }
    if qtype == rtype::AXFR || qtype == rtype::IXFR {
        return w.empty(
            query,
            question,
            rcode::REFUSED,
            0,
            Kind::RefusedTransfer,
            false,
        );
    }
    let apex_ptr = (HEADER_LEN + qlen - zone.len()) as u16;

    match snap.find(name) {
        Some(entry) => {
            let audience = entry.audience.to_native();
            if audience != AUDIENCE_ALL && audience != account {
                return w.empty(
                    query,
                    question,
                    rcode::REFUSED,
                    0,
                    Kind::RefusedAudience,
                    false,
                );
            }
            let set = if qtype == rtype::ANY {
                // RFC 8482 §4.2: answer with one RRset, the smallest.
                entry.rrsets.iter().min_by_key(|r| r.wire.len())
            } else {
                entry.rrsets.iter().find(|r| r.rtype.to_native() == qtype)
            };
            match set {
                Some(set) => w.answer(query, question, set),
                None => w.negative(
                    query,
                    question,
                    rcode::NOERROR,
                    Kind::NoData,
                    apex_ptr,
                    snap,
                ),
            }
        }
        None => {
            // The closest existing ancestor decides whether the name is in
            // another account's subtree (REFUSED, no leak) or not (NXDOMAIN).
            for &start in &starts[1..nlabels.max(1)] {
                if (start as usize) > qlen - zone.len() {
                    break;
                }
                if let Some(anc) = snap.find(&name[start as usize..]) {
                    let audience = anc.audience.to_native();
                    if audience != AUDIENCE_ALL && audience != account {
                        return w.empty(
                            query,
                            question,
                            rcode::REFUSED,
                            0,
                            Kind::RefusedAudience,
                            false,
                        );
                    }
                    break;
                }
            }
            w.negative(
                query,
                question,
                rcode::NXDOMAIN,
                Kind::NxDomain,
                apex_ptr,
                snap,
            )
        }
    }
}

/// Skips an owner name in the additional section (labels or a pointer).
#[inline]
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..MAX_LABELS {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xC0 == 0xC0 => {
                msg.get(pos + 1)?;
                return Some(pos + 2);
            }
            l if l as usize <= MAX_LABEL => pos += 1 + l as usize,
            _ => return None,
        }
    }
    None
}

/// A header-only reply (no question echoed): for malformed queries and
/// unsupported opcodes.
#[inline]
fn header_only(query: &[u8], out: &mut [u8], rc: u8, kind: Kind) -> Outcome {
    out[0] = query[0];
    out[1] = query[1];
    out[2] = flags::QR | (query[2] & (flags::OPCODE_MASK | flags::RD));
    out[3] = rc;
    out[4..HEADER_LEN].fill(0);
    Outcome {
        kind,
        len: HEADER_LEN,
        truncated: false,
        device: None,
    }
}

struct Writer<'a, 's> {
    out: &'a mut [u8],
    limit: usize,
    edns: Edns,
    question_len: usize,
    split_at: usize,
    split: &'a mut Option<Split<'s>>,
}

impl<'s> Writer<'_, 's> {
    #[inline]
    fn header(&mut self, query: &[u8], aa: bool, tc: bool, rc: u8, an: u16, ns: u16, ar: u16) {
        let o = &mut *self.out;
        o[0] = query[0];
        o[1] = query[1];
        o[2] = flags::QR
            | (query[2] & flags::RD)
            | if aa { flags::AA } else { 0 }
            | if tc { flags::TC } else { 0 };
        o[3] = (query[3] & flags::CD) | (rc & flags::RCODE_MASK);
        o[4..6].copy_from_slice(&1u16.to_be_bytes());
        o[6..8].copy_from_slice(&an.to_be_bytes());
        o[8..10].copy_from_slice(&ns.to_be_bytes());
        o[10..12].copy_from_slice(&ar.to_be_bytes());
    }

    #[inline]
    fn put(&mut self, at: usize, bytes: &[u8]) -> usize {
        self.out[at..at + bytes.len()].copy_from_slice(bytes);
        at + bytes.len()
    }

    #[inline]
    fn opt(&mut self, at: usize, ext_rcode: u8) -> usize {
        if !self.edns.present {
            return at;
        }
        let flags = if self.edns.dnssec_ok { EDNS_DO } else { 0 };
        let size = EDNS_UDP_SIZE.to_be_bytes();
        let f = flags.to_be_bytes();
        // Owner root, TYPE OPT, CLASS = our UDP size, TTL = extended RCODE,
        // version 0, flags; RDLENGTH 0 (RFC 6891 §6.1.2).
        self.put(
            at,
            &[
                0,
                (rtype::OPT >> 8) as u8,
                rtype::OPT as u8,
                size[0],
                size[1],
                ext_rcode,
                0,
                f[0],
                f[1],
                0,
                0,
            ],
        )
    }

    #[inline]
    fn opt_len(&self) -> usize {
        if self.edns.present {
            OPT_LEN
        } else {
            0
        }
    }

    /// Header + question (+ OPT), no records.
    #[inline]
    fn empty(
        &mut self,
        query: &[u8],
        question: &[u8],
        rc: u8,
        ext_rcode: u8,
        kind: Kind,
        truncated: bool,
    ) -> Outcome {
        if HEADER_LEN + self.question_len + self.opt_len() > self.out.len() {
            // The caller's buffer cannot even hold the question: header only.
            let mut o = header_only(query, self.out, rc, kind);
            o.truncated = truncated;
            return o;
        }
        let aa = rc == rcode::NOERROR || rc == rcode::NXDOMAIN;
        let ar = self.edns.present as u16;
        self.header(query, aa, truncated, rc, 0, 0, ar);
        let mut at = self.put(HEADER_LEN, question);
        at = self.opt(at, ext_rcode);
        Outcome {
            kind,
            len: at,
            truncated,
            device: None,
        }
    }

    #[inline]
    fn answer(&mut self, query: &[u8], question: &[u8], set: &'s ArchivedRRset) -> Outcome {
        let sigs = if self.edns.dnssec_ok {
            set.rrsig_wire.len()
        } else {
            0
        };
        let total = HEADER_LEN
            + self.question_len
            + set.wire.len()
            + sigs
            + set.additional.len()
            + self.opt_len();
        if total > self.limit {
            return self.empty(query, question, rcode::NOERROR, 0, Kind::Answer, true);
        }
        let an = set.count.to_native()
            + if sigs > 0 {
                set.rrsig_count.to_native()
            } else {
                0
            };
        let ar = set.additional_count.to_native() + self.edns.present as u16;
        self.header(query, true, false, rcode::NOERROR, an, 0, ar);
        let mut at = self.put(HEADER_LEN, question);
        if set.wire.len() >= self.split_at {
            *self.split = Some(Split {
                head: at,
                middle: set.wire.as_slice(),
            });
        } else {
            at = self.put(at, &set.wire);
        }
        if sigs > 0 {
            at = self.put(at, &set.rrsig_wire);
        }
        at = self.put(at, &set.additional);
        at = self.opt(at, 0);
        let len = if self.split.is_some() {
            at + set.wire.len()
        } else {
            at
        };
        Outcome {
            kind: Kind::Answer,
            len,
            truncated: false,
            device: None,
        }
    }

    /// NODATA / NXDOMAIN with the SOA (owner: pointer to the apex within the
    /// question) in the authority section.
    #[inline]
    fn negative(
        &mut self,
        query: &[u8],
        question: &[u8],
        rc: u8,
        kind: Kind,
        apex_ptr: u16,
        snap: &ArchivedSnapshot,
    ) -> Outcome {
        let soa = snap.soa_negative.as_slice();
        let total = HEADER_LEN + self.question_len + 2 + soa.len() + self.opt_len();
        if total > self.limit {
            return self.empty(query, question, rc, 0, kind, true);
        }
        self.header(query, true, false, rc, 0, 1, self.edns.present as u16);
        let mut at = self.put(HEADER_LEN, question);
        let ptr = (0xC000 | apex_ptr).to_be_bytes();
        at = self.put(at, &ptr);
        let soa_at = at;
        at = self.put(at, soa);
        for off in snap.soa_negative_apex_ptrs.iter() {
            let o = soa_at + off.to_native() as usize;
            self.out[o..o + 2].copy_from_slice(&ptr);
        }
        at = self.opt(at, 0);
        Outcome {
            kind,
            len: at,
            truncated: false,
            device: None,
        }
    }
}
