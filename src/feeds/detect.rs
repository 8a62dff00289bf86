//! `Format::Auto`: guessing a feed's format from its first bytes.
//!
//! Every format scores the head of the input (0 = not this format, 100 =
//! certain); the highest score wins, ties going to the earlier row of
//! `FORMATS`. A list with no distinguishing mark is `plain`, which is also
//! what the Tor bulk exit list, CINS, blocklist.de and Emerging Threats
//! lists are: they parse identically.

use super::formats::{Format, FORMATS};
use super::lines::strip_bom;

/// How much of the input detection looks at.
pub const HEAD_BYTES: usize = 64 * 1024;

/// The start of an input, as the format detectors see it.
pub struct Head<'a> {
    /// Up to [`HEAD_BYTES`] of the input, BOM removed, cut at the first
    /// invalid UTF-8 byte.
    pub text: &'a str,
    /// First non-whitespace byte.
    pub first: Option<u8>,
}

impl<'a> Head<'a> {
    pub fn new(input: &'a [u8]) -> Head<'a> {
        let input = strip_bom(input);
        let cut = &input[..input.len().min(HEAD_BYTES)];
        let text = match std::str::from_utf8(cut) {
            Ok(t) => t,
            // Valid up to the error by construction.
            Err(e) => std::str::from_utf8(&cut[..e.valid_up_to()]).unwrap_or(""),
        };
        let first = text.bytes().find(|c| !c.is_ascii_whitespace());
        Head { text, first }
    }

    /// Trimmed non-blank lines.
    pub fn lines(&self) -> impl Iterator<Item = &'a str> {
        self.text.lines().map(str::trim).filter(|l| !l.is_empty())
    }

    /// Lines that are not `#`/`;` comments.
    pub fn data_lines(&self) -> impl Iterator<Item = &'a str> {
        self.lines().filter(|l| !l.starts_with(['#', ';']))
    }

    /// Comment lines (`#` or `;`).
    pub fn comments(&self) -> impl Iterator<Item = &'a str> {
        self.lines().filter(|l| l.starts_with(['#', ';']))
    }

    /// Case-insensitive substring search over the head.
    pub fn contains_ci(&self, needle: &str) -> bool {
        let n = needle.as_bytes();
        self.text
            .as_bytes()
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n))
    }

    /// True when the head starts like a JSON document or JSON lines.
    pub fn is_json(&self) -> bool {
        matches!(self.first, Some(b'{' | b'['))
    }
}

/// Guesses the format of `input` (never `Auto`).
pub fn detect(input: &[u8]) -> Format {
    let head = Head::new(input);
    let mut best = (0u8, Format::Plain);
    for spec in FORMATS {
        let score = (spec.sniff)(&head);
        if score > best.0 {
            best = (score, spec.format);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs_are_recognised() {
        let cases: &[(&str, Format)] = &[
            ("1.2.3.4\n5.6.7.8\n", Format::Plain),
            ("", Format::Plain),
            ("# list\n1.2.3.0-1.2.3.9\n", Format::IpRange),
            ("ip,category\n1.2.3.4,spam\n", Format::GenericCsv),
            ("[{\"ip\": \"1.2.3.4\"}]", Format::GenericJson),
            ("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel></channel></rss>", Format::Rss),
            ("<feed xmlns=\"http://www.w3.org/2005/Atom\"></feed>", Format::Rss),
            ("ExitNode 0011\nPublished 2026-11-03 01:02:03\nExitAddress 1.2.3.4 2026-11-03 01:02:03\n", Format::TorExit),
            ("1.2.3.0/24 ; SBL1\n", Format::SpamhausDropTxt),
            ("{\"cidr\":\"1.2.3.0/24\",\"sblid\":\"SBL1\"}\n", Format::SpamhausDropJson),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text.as_bytes()), *want, "{text:?}");
        }
    }
}
