//! Streaming a log (file, upload, mail attachment) through the line parser:
//! gzip sniffed by its magic bytes, a UTF-8 BOM dropped, LF and CRLF line
//! ends, lines capped in length, and counts kept per format.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

use super::formats::{Format, LineParser, Outcome};

/// Longest line kept whole; longer lines are rejected (and cut to this
/// length in the raw copy).
pub const MAX_LINE: usize = 64 * 1024;

/// Counts for one format (or for lines no format recognised).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub records: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Record(_) => self.records += 1,
            Outcome::Rejected(_) => self.rejected += 1,
            Outcome::Ignored => self.ignored += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }

    pub fn lines(&self) -> u64 {
        self.records + self.rejected + self.ignored + self.skipped
    }
}

/// What a stream held: totals, and the same counts per format; lines no
/// format recognised are under `"unrecognised"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub total: Counts,
    pub by_format: BTreeMap<&'static str, Counts>,
}

/// The `by_format` key of lines no format recognised.
pub const UNRECOGNISED: &str = "unrecognised";

impl Summary {
    pub fn add(&mut self, format: Option<Format>, o: &Outcome) {
        self.total.add(o);
        let key = format.map_or(UNRECOGNISED, Format::name);
        self.by_format.entry(key).or_default().add(o);
    }

    /// The format that produced the most records (for a summary line).
    pub fn main_format(&self) -> Option<&'static str> {
        self.by_format
            .iter()
            .filter(|(k, c)| **k != UNRECOGNISED && c.lines() > 0)
            .max_by_key(|(_, c)| (c.records, c.lines()))
            .map(|(k, _)| *k)
    }
}

/// One line as parsed.
#[derive(Debug)]
pub struct Line<'a> {
    /// 1-based.
    pub number: u64,
    /// The line as received (lossily decoded, without its line end).
    pub raw: &'a str,
    pub format: Option<Format>,
    pub outcome: Outcome,
}

/// Wraps a reader so gzip input (magic `1f 8b`) is decompressed; other input
/// passes through. Concatenated gzip members are read as one stream.
pub fn maybe_gunzip<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn BufRead + 'a>> {
    let mut br = BufReader::with_capacity(128 * 1024, r);
    let head = br.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(BufReader::with_capacity(
            128 * 1024,
            flate2::bufread::MultiGzDecoder::new(br),
        )))
    } else {
        Ok(Box::new(br))
    }
}

/// Reads every line of `input`, parses it and hands it to `sink`; returns
/// the counts. An I/O error (a broken gzip stream, a cut connection) ends
/// the stream with that error; lines handed over before it stay handed over.
/// `sink` may stop the stream early by returning an error.
pub fn parse_stream<R: BufRead, E: From<io::Error>>(
    mut input: R,
    parser: &mut LineParser,
    mut sink: impl FnMut(Line<'_>) -> Result<(), E>,
) -> Result<Summary, E> {
    let mut summary = Summary::default();
    let mut buf = Vec::with_capacity(512);
    let mut number = 0u64;
    loop {
        buf.clear();
        let (n, too_long) = read_line_capped(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        number += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let mut bytes = &buf[..];
        if number == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = String::from_utf8_lossy(bytes);
        let (format, outcome) = if too_long {
            (parser.current(), Outcome::Rejected("line too long"))
        } else {
            parser.parse_line(&text)
        };
        summary.add(format, &outcome);
        sink(Line {
            number,
            raw: &text,
            format,
            outcome,
        })?;
    }
    Ok(summary)
}

/// Reads up to and including the next `\n` into `buf`, keeping at most
/// [`MAX_LINE`] bytes (the rest of a longer line is read and dropped).
/// Returns the bytes consumed and whether the line was cut.
fn read_line_capped<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, cut));
        }
        let (take, done) = match memchr_nl(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        if take > room {
            cut = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, cut));
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::time::Clock;

    fn lines(input: &[u8]) -> Vec<(u64, String)> {
        let mut p = LineParser::new(None, Clock::default());
        let mut out = Vec::new();
        parse_stream::<_, io::Error>(maybe_gunzip(input).unwrap(), &mut p, |l| {
            out.push((l.number, l.raw.to_string()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn bom_crlf_and_missing_final_newline() {
        let got = lines(b"\xEF\xBB\xBFa\r\nb\n\nc");
        let want: Vec<(u64, String)> = [(1, "a"), (2, "b"), (3, ""), (4, "c")]
            .into_iter()
            .map(|(n, s)| (n, s.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"one\ntwo\n").unwrap();
        let gz = e.finish().unwrap();
        assert_eq!(lines(&gz).len(), 2);
    }

    #[test]
    fn overlong_lines_are_rejected_not_split() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\nnext\n");
        let mut p = LineParser::new(None, Clock::default());
        let mut outcomes = Vec::new();
        let s = parse_stream::<_, io::Error>(&input[..], &mut p, |l| {
            outcomes.push((l.number, l.raw.len(), l.outcome));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            outcomes[0],
            (1, MAX_LINE, Outcome::Rejected("line too long"))
        );
        assert_eq!(outcomes[1].0, 2);
        assert_eq!(s.total.rejected, 1);
    }
}
