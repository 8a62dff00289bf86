//! From bytes to stored entries: a log stream (upload, API call, mail part,
//! syslog lines) parsed, tagged with the feeds that listed its addresses at
//! each record's time, and appended to the log archive in chunks, with a
//! receipt once it is durable.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use flate2::write::GzEncoder;

use super::correlate::FeedIndex;
use super::formats::{Format, LineParser, Outcome};
use super::reader::{maybe_gunzip, parse_stream, Counts, Summary};
use super::store::{LogStore, LogStoreError, NewBatch, NewEntry, Source, Writer};
use super::time::{rfc3339, Clock};

/// Lines per stored batch (one chain link).
pub const BATCH_LINES: usize = 20_000;
/// A gzip upload may expand to at most this many times its size.
pub const MAX_EXPANSION: u64 = 20;
/// Rejected lines listed in a receipt (all are counted and stored).
pub const RECEIPT_PROBLEMS: usize = 50;
/// Raw text gathered before it goes through the compressor: one call per
/// chunk rather than per line (each call has a fixed cost), while a batch
/// of long lines still never sits uncompressed in memory.
const RAW_CHUNK: usize = 128 * 1024;

/// The compressor of a batch's raw text. Level 1: the text is archived,
/// rarely read, and compressing it is on the ingest path.
fn raw_encoder() -> GzEncoder<Vec<u8>> {
    GzEncoder::new(Vec::new(), flate2::Compression::fast())
}

/// Whose log this is and how to read it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub account: i64,
    pub device: i64,
    /// The device's zone (and year rule) for times printed without one.
    pub clock: Clock,
    /// None: detected per line.
    pub format: Option<Format>,
}

/// What was stored: given to the sender once the entries are durable.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// Stored batch ids (the chain links this upload added).
    pub batches: Vec<i64>,
    pub lines: u64,
    /// Lines stored as entries.
    pub accepted: u64,
    pub rejected: u64,
    /// Lines not understood (other daemons, other message types, unknown
    /// formats): counted and kept raw.
    pub ignored: u64,
    pub skipped: u64,
    pub by_format: BTreeMap<&'static str, Counts>,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// The first rejected lines with their reasons.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: u64,
    pub reason: String,
}

/// Why an ingest stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the log is larger than the {limit}-byte limit; nothing was stored")]
    TooLarge { limit: u64 },
    #[error("reading the log failed ({0}); nothing was stored")]
    Read(io::Error),
    #[error(transparent)]
    Store(#[from] LogStoreError),
}

/// Accumulates one batch: raw text (gzip), entries and rejections.
pub struct BatchBuilder {
    target: Target,
    source: Source,
    raw: GzEncoder<Vec<u8>>,
    /// Lines not yet compressed (less than [`RAW_CHUNK`]).
    pending: Vec<u8>,
    entries: Vec<NewEntry>,
    problems: Vec<(u32, &'static str)>,
    counts: Counts,
    lines: u32,
    /// Feed-index sets seen in this batch → feed keys, resolved to store
    /// ids when the batch is written.
    sets: HashMap<Vec<u16>, usize>,
    set_keys: Vec<Vec<String>>,
    scratch: Vec<u16>,
}

impl BatchBuilder {
    pub fn new(target: Target, source: Source) -> BatchBuilder {
        BatchBuilder {
            target,
            source,
            raw: raw_encoder(),
            pending: Vec::with_capacity(RAW_CHUNK + 4096),
            entries: Vec::new(),
            problems: Vec::new(),
            counts: Counts::default(),
            lines: 0,
            sets: HashMap::new(),
            set_keys: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn lines(&self) -> usize {
        self.lines as usize
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Adds one parsed line.
    pub fn push(&mut self, raw: &str, outcome: Outcome, index: &FeedIndex) {
        self.lines += 1;
        self.pending.extend_from_slice(raw.as_bytes());
        self.pending.push(b'\n');
        if self.pending.len() >= RAW_CHUNK {
            self.compress_pending();
        }
        self.counts.add(&outcome);
        match outcome {
            Outcome::Record(record) => {
                index.listing_either(record.src, record.dst, record.time, &mut self.scratch);
                // Local set number + 1; 0 is the empty set.
                let feedset = if self.scratch.is_empty() {
                    0
                } else {
                    let n = match self.sets.get(self.scratch.as_slice()) {
                        Some(&n) => n,
                        None => {
                            let n = self.set_keys.len();
                            self.sets.insert(self.scratch.clone(), n);
                            self.set_keys.push(
                                self.scratch
                                    .iter()
                                    .map(|&i| index.feed_key(i).to_string())
                                    .collect(),
                            );
                            n
                        }
                    };
                    n as i64 + 1
                };
                self.entries.push(NewEntry {
                    line: self.lines,
                    record,
                    feedset,
                });
            }
            Outcome::Rejected(why) => self.problems.push((self.lines, why)),
            Outcome::Ignored | Outcome::Skipped => {}
        }
    }

    fn compress_pending(&mut self) {
        // Writing to a Vec cannot fail.
        let _ = self.raw.write_all(&self.pending);
        self.pending.clear();
    }

    /// Writes the batch through `w` (inside its transaction) and returns its
    /// id; the builder is then empty, ready for the next batch.
    pub fn write(&mut self, w: &mut Writer<'_>, received: i64) -> Result<i64, LogStoreError> {
        let mut ids = Vec::with_capacity(self.set_keys.len());
        for keys in &self.set_keys {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            ids.push(w.feedset(&keys)?);
        }
        for e in &mut self.entries {
            if e.feedset > 0 {
                e.feedset = ids[e.feedset as usize - 1];
            }
        }
        self.compress_pending();
        let raw = std::mem::replace(&mut self.raw, raw_encoder())
            .finish()
            .unwrap_or_default();
        let id = w.append(&NewBatch {
            account: self.target.account,
            device: self.target.device,
            source: self.source,
            received,
            raw_gz: &raw,
            counts: self.counts,
            entries: &self.entries,
            problems: &self.problems,
        })?;
        self.entries.clear();
        self.problems.clear();
        self.counts = Counts::default();
        self.lines = 0;
        self.sets.clear();
        self.set_keys.clear();
        Ok(id)
    }
}

/// A reader that fails once more than `limit` bytes went through it.
struct Capped<R> {
    inner: R,
    left: u64,
    hit: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.hit.set(true);
            return Err(io::Error::other("size limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Parses and stores a whole log stream: all of it or, on any error
/// (too large, a broken gzip stream, a cut connection, a full disk),
/// nothing. `limit` caps the bytes read (and the decompressed size at
/// [`MAX_EXPANSION`] times that).
pub fn ingest(
    store: &mut LogStore,
    index: &FeedIndex,
    target: Target,
    source: Source,
    input: impl Read,
    limit: u64,
) -> Result<Receipt, IngestError> {
    let hit = std::rc::Rc::new(std::cell::Cell::new(false));
    let capped = Capped {
        inner: input,
        left: limit,
        hit: hit.clone(),
    };
    let too_large = |e: io::Error, hit: &std::cell::Cell<bool>| {
        if hit.get() {
            IngestError::TooLarge { limit }
        } else {
            IngestError::Read(e)
        }
    };
    let unzipped = maybe_gunzip(capped).map_err(|e| too_large(e, &hit))?;
    let inner_hit = std::rc::Rc::new(std::cell::Cell::new(false));
    let expanded = io::BufReader::new(Capped {
        inner: unzipped,
        left: limit.saturating_mul(MAX_EXPANSION),
        hit: inner_hit.clone(),
    });
    let received = crate::archive::Timestamp::now().unix();
    let mut parser = LineParser::new(target.format, target.clock);
    let mut builder = BatchBuilder::new(target, source);
    let mut receipt = Receipt::default();
    let mut times: Option<(i64, i64)> = None;
    let mut w = store.writer()?;
    let result: Result<Summary, IngestError> = parse_stream(expanded, &mut parser, |line| {
        match &line.outcome {
            Outcome::Record(r) => {
                times =
                    Some(times.map_or((r.time, r.time), |(a, b)| (a.min(r.time), b.max(r.time))));
            }
            Outcome::Rejected(why) if receipt.problems.len() < RECEIPT_PROBLEMS => {
                receipt.problems.push(Problem {
                    line: line.number,
                    reason: (*why).to_string(),
                })
            }
            _ => {}
        }
        builder.push(line.raw, line.outcome, index);
        if builder.lines() >= BATCH_LINES {
            receipt.batches.push(builder.write(&mut w, received)?);
        }
        Ok(())
    });
    let summary = result.map_err(|e| match e {
        IngestError::Read(io) if hit.get() || inner_hit.get() => {
            let _ = io;
            IngestError::TooLarge { limit }
        }
        other => other,
    })?;
    if !builder.is_empty() {
        receipt.batches.push(builder.write(&mut w, received)?);
    }
    w.commit()?;
    receipt.lines = summary.total.lines();
    receipt.accepted = summary.total.records;
    receipt.rejected = summary.total.rejected;
    receipt.ignored = summary.total.ignored;
    receipt.skipped = summary.total.skipped;
    receipt.by_format = summary.by_format;
    if let Some((a, b)) = times {
        receipt.first_time = Some(rfc3339(a));
        receipt.last_time = Some(rfc3339(b));
    }
    Ok(receipt)
}

impl From<io::Error> for IngestError {
    fn from(e: io::Error) -> IngestError {
        IngestError::Read(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            account: 1,
            device: 2,
            clock: crate::logs::formats::testing::clock(),
            format: None,
        }
    }

    #[test]
    fn oversized_and_broken_input_store_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut s = LogStore::open(&d.path().join("logs.sqlite")).unwrap();
        let idx = FeedIndex::empty();
        let big = "x\n".repeat(1000);
        let e = ingest(&mut s, &idx, target(), Source::Api, big.as_bytes(), 100).unwrap_err();
        assert!(matches!(e, IngestError::TooLarge { limit: 100 }), "{e}");
        // A gzip stream cut in the middle.
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(big.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let e = ingest(
            &mut s,
            &idx,
            target(),
            Source::Api,
            &gz[..gz.len() / 2],
            1 << 20,
        )
        .unwrap_err();
        assert!(matches!(e, IngestError::Read(_)), "{e}");
        assert_eq!(s.verify().unwrap().batches, 0);
        // A good one after the failures stores and chains normally.
        let r = ingest(&mut s, &idx, target(), Source::Api, big.as_bytes(), 1 << 20).unwrap();
        assert_eq!((r.lines, r.ignored, r.batches.len()), (1000, 1000, 1));
        assert_eq!(s.verify().unwrap().batches, 1);
    }
}
