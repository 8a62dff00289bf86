//! DNS wire-format constants and the few encoders/decoders the rest of the
//! crate shares.
//!
//! A message *is* its bytes: the responder never decodes a query into a
//! structure, it reads the fields it needs at fixed offsets and patches the
//! answer in place. Names are handled in uncompressed wire form (`len label
//! ... 0`), lower-cased for keys, as asked for the echo.
//!
//! References: RFC 1035 §4 (message format), RFC 6891 (EDNS(0)), RFC 4034 §6
//! (canonical order), RFC 2308 (negative caching), RFC 8482 (ANY).

use std::cmp::Ordering;
use std::fmt;

/// Length of the fixed DNS header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// Largest DNS message: the TCP length prefix is 16 bits (RFC 1035 §4.2.2).
pub const MAX_MESSAGE: usize = 65535;
/// Largest encoded name, length octets included (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// Largest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;
/// UDP payload a client without EDNS can take (RFC 1035 §4.2.1).
pub const CLASSIC_UDP: usize = 512;
/// Offset of the question name in every message: compression pointers to the
/// question (`0xC00C`) are valid in any answer we send.
pub const QNAME_OFFSET: usize = HEADER_LEN;
/// Pointer to the question name (RFC 1035 §4.1.4).
pub const PTR_QNAME: [u8; 2] = [0xC0, 0x0C];

/// Resource record types we publish or recognise (IANA DNS parameters).
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const SOA: u16 = 6;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const OPT: u16 = 41;
    pub const RRSIG: u16 = 46;
    pub const APL: u16 = 42;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}

/// Class IN (RFC 1035 §3.2.4).
pub const CLASS_IN: u16 = 1;

/// Response codes (RFC 1035 §4.1.1, RFC 6891 §9 for the extended BADVERS).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
    /// Extended RCODE 16: upper 8 bits (=1) go in the OPT TTL, lower 4 (=0)
    /// in the header.
    pub const BADVERS: u16 = 16;
}

/// Header flag bits, as they sit in bytes 2 and 3 of the header.
pub mod flags {
    /// Byte 2.
    pub const QR: u8 = 0x80;
    pub const OPCODE_MASK: u8 = 0x78;
    pub const AA: u8 = 0x04;
    pub const TC: u8 = 0x02;
    pub const RD: u8 = 0x01;
    /// Byte 3.
    pub const CD: u8 = 0x10;
    pub const RCODE_MASK: u8 = 0x0F;
}

/// DO bit in the OPT record's TTL field (RFC 3225).
pub const EDNS_DO: u16 = 0x8000;

/// Errors in names given by operators (zone apex, list names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty label in name {0:?}")]
    EmptyLabel(String),
    #[error("label longer than 63 octets in name {0:?}")]
    LabelTooLong(String),
    #[error("name {0:?} is longer than 255 octets")]
    TooLong(String),
    #[error("name {0:?} has a character outside letters, digits, '-' and '_'")]
    BadChar(String),
}

/// Encodes a presentation-format name (`a.b.c` or `a.b.c.`) into lower-case
/// uncompressed wire form. Only host-name characters plus `_` are accepted:
/// every name we publish is one an operator types into a firewall rule.
pub fn name_from_text(text: &str) -> Result<Vec<u8>, NameError> {
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    let mut out = Vec::with_capacity(trimmed.len() + 2);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() {
                return Err(NameError::EmptyLabel(text.to_string()));
            }
            if label.len() > MAX_LABEL {
                return Err(NameError::LabelTooLong(text.to_string()));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(NameError::BadChar(text.to_string()));
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    if out.len() > MAX_NAME {
        return Err(NameError::TooLong(text.to_string()));
    }
    Ok(out)
}

/// Prepends one label to a wire name.
pub fn prepend_label(label: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + 1 + name.len());
    out.push(label.len() as u8);
    out.extend(label.iter().map(|b| b.to_ascii_lowercase()));
    out.extend_from_slice(name);
    out
}

/// Presentation form of a wire name (`a.b.c.`), for logs and inspection.
pub struct NameDisplay<'a>(pub &'a [u8]);

impl fmt::Display for NameDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut pos = 0;
        let n = self.0;
        if n.first() == Some(&0) {
            return f.write_str(".");
        }
        while pos < n.len() {
            let len = n[pos] as usize;
            if len == 0 || pos + 1 + len > n.len() {
                break;
            }
            for &b in &n[pos + 1..pos + 1 + len] {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\{:03}", b)?;
                }
            }
            f.write_str(".")?;
            pos += 1 + len;
        }
        Ok(())
    }
}

/// Offsets of each label start in a wire name (the root excluded).
pub fn label_offsets(name: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < name.len() && name[pos] != 0 {
        out.push(pos);
        pos += 1 + name[pos] as usize;
    }
    out
}

/// The parent of a wire name (drops the first label); `None` for the root.
pub fn parent(name: &[u8]) -> Option<&[u8]> {
    match name.first() {
        None | Some(0) => None,
        Some(&len) => name.get(1 + len as usize..),
    }
}

/// Whether `name` equals `apex` or lies below it (both lower-case wire).
pub fn is_at_or_below(name: &[u8], apex: &[u8]) -> bool {
    let mut cur = name;
    loop {
        if cur.len() == apex.len() {
            return cur == apex;
        }
        if cur.len() < apex.len() {
            return false;
        }
        match parent(cur) {
            Some(p) => cur = p,
            None => return false,
        }
    }
}

/// Canonical DNS name order (RFC 4034 §6.1): compare label by label from the
/// root, each label as lower-case octets, a shorter label sequence first.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let la = label_offsets(a);
    let lb = label_offsets(b);
    let mut ia = la.len();
    let mut ib = lb.len();
    while ia > 0 && ib > 0 {
        ia -= 1;
        ib -= 1;
        let pa = la[ia];
        let pb = lb[ib];
        let sa = &a[pa + 1..pa + 1 + a[pa] as usize];
        let sb = &b[pb + 1..pb + 1 + b[pb] as usize];
        let ord = sa
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .cmp(sb.iter().map(|c| c.to_ascii_lowercase()));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ia.cmp(&ib)
}

/// Appends a resource record whose owner is a compression pointer to the
/// question (`0xC00C`). Such a record can be copied into any answer.
pub fn push_rr_at_qname(out: &mut Vec<u8>, rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&PTR_QNAME);
    push_rr_tail(out, rtype, ttl, rdata);
}

/// Appends a resource record with an explicit (uncompressed) owner name.
pub fn push_rr_named(out: &mut Vec<u8>, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(owner);
    push_rr_tail(out, rtype, ttl, rdata);
}

/// Appends TYPE, CLASS IN, TTL, RDLENGTH and RDATA (everything after the owner).
pub fn push_rr_tail(out: &mut Vec<u8>, rtype: u16, ttl: u32, rdata: &[u8]) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

/// SOA RDATA (RFC 1035 §3.3.13), names uncompressed so it can sit anywhere.
pub struct SoaFields<'a> {
    pub mname: &'a [u8],
    pub rname: &'a [u8],
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

impl SoaFields<'_> {
    pub fn rdata(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.mname.len() + self.rname.len() + 20);
        r.extend_from_slice(self.mname);
        r.extend_from_slice(self.rname);
        for v in [
            self.serial,
            self.refresh,
            self.retry,
            self.expire,
            self.minimum,
        ] {
            r.extend_from_slice(&v.to_be_bytes());
        }
        r
    }
}

/// TXT RDATA from strings, each split into character-strings of at most 255
/// octets (RFC 1035 §3.3.14).
pub fn txt_rdata<S: AsRef<[u8]>>(strings: &[S]) -> Vec<u8> {
    let mut r = Vec::new();
    for s in strings {
        for part in s.as_ref().chunks(255) {
            r.push(part.len() as u8);
            r.extend_from_slice(part);
        }
    }
    r
}

/// One record of a pre-encoded RRset (owner `0xC00C`), as read back for
/// inspection or zone transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
}

/// Iterates the records of a pre-encoded RRset whose owners are all `0xC00C`.
/// Stops (yields nothing more) at the first malformed record; the builder never
/// writes one and the snapshot checksum guards the file.
pub fn records_at_qname(wire: &[u8]) -> impl Iterator<Item = RecordView<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = wire.get(pos..)?;
        if rest.len() < 12 || rest[0..2] != PTR_QNAME {
            return None;
        }
        let rtype = u16::from_be_bytes([rest[2], rest[3]]);
        let ttl = u32::from_be_bytes([rest[6], rest[7], rest[8], rest[9]]);
        let rdlen = u16::from_be_bytes([rest[10], rest[11]]) as usize;
        let rdata = rest.get(12..12 + rdlen)?;
        pos += 12 + rdlen;
        Some(RecordView { rtype, ttl, rdata })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_lowercase_and_reject_bad_input() {
        assert_eq!(
            name_from_text("Feedwall.Internal.").unwrap(),
            b"\x08feedwall\x08internal\x00"
        );
        assert_eq!(name_from_text(".").unwrap(), b"\x00");
        assert!(matches!(
            name_from_text("a..b"),
            Err(NameError::EmptyLabel(_))
        ));
        assert!(matches!(
            name_from_text(&"x".repeat(64)),
            Err(NameError::LabelTooLong(_))
        ));
        assert!(matches!(name_from_text("a b"), Err(NameError::BadChar(_))));
        let long = vec!["abcdefghi"; 30].join(".");
        assert!(matches!(name_from_text(&long), Err(NameError::TooLong(_))));
    }

    #[test]
    fn canonical_order_follows_rfc4034_example() {
        // RFC 4034 §6.1 example order (escaped octets left out).
        let order = [
            "example",
            "a.example",
            "yljkjljk.a.example",
            "Z.a.example",
            "zABC.a.EXAMPLE",
            "z.example",
            "*.z.example",
        ];
        let wires: Vec<Vec<u8>> = order
            .iter()
            .map(|n| {
                let mut w = Vec::new();
                for l in n.split('.') {
                    w.push(l.len() as u8);
                    w.extend_from_slice(l.as_bytes());
                }
                w.push(0);
                w
            })
            .collect();
        for pair in wires.windows(2) {
            assert_eq!(
                canonical_cmp(&pair[0], &pair[1]),
                Ordering::Less,
                "{} < {}",
                NameDisplay(&pair[0]),
                NameDisplay(&pair[1])
            );
        }
    }

    #[test]
    fn below_apex() {
        let apex = name_from_text("feedwall.internal").unwrap();
        assert!(is_at_or_below(
            &name_from_text("0.bad.feedwall.internal").unwrap(),
            &apex
        ));
        assert!(is_at_or_below(&apex, &apex));
        assert!(!is_at_or_below(
            &name_from_text("xfeedwall.internal").unwrap(),
            &apex
        ));
        assert!(!is_at_or_below(&name_from_text("internal").unwrap(), &apex));
    }

    #[test]
    fn records_round_trip() {
        let mut w = Vec::new();
        push_rr_at_qname(&mut w, rtype::A, 300, &[1, 2, 3, 4]);
        push_rr_at_qname(&mut w, rtype::A, 300, &[5, 6, 7, 8]);
        let recs: Vec<_> = records_at_qname(&w).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].rdata, &[5, 6, 7, 8]);
    }
}
