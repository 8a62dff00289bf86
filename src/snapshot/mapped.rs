//! `MappedSnapshot`: a snapshot file mapped read-only, checked and validated
//! once, then read without checks by the query path.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rkyv::util::AlignedVec;

use super::{ArchivedSnapshot, FORMAT_VERSION, HEADER_LEN, MAGIC};
use crate::wire;

/// Why a snapshot file was refused. The responder keeps serving the previous
/// snapshot when a new one fails to load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("snapshot is {0} bytes, shorter than its {HEADER_LEN}-byte header (truncated?)")]
    TooShort(usize),
    #[error("not a feedwall snapshot (bad magic)")]
    BadMagic,
    #[error("snapshot format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    Version { found: u32 },
    #[error(
        "snapshot payload is {actual} bytes but its header says {expected} (truncated or padded)"
    )]
    Length { expected: u64, actual: u64 },
    #[error(
        "snapshot checksum mismatch (corrupt file): header {expected:016x}, computed {actual:016x}"
    )]
    Checksum { expected: u64, actual: u64 },
    #[error("snapshot archive failed validation: {0}")]
    Invalid(String),
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

enum Backing {
    Mapped(Mmap),
    Owned(AlignedVec<16>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A validated snapshot. Cheap to share behind an `Arc`; the mapping lives
/// as long as the last reader, so a file replaced on disk (by rename) stays
/// readable for in-flight queries.
pub struct MappedSnapshot {
    backing: Backing,
    root: *const ArchivedSnapshot,
    path: Option<PathBuf>,
    identity: Option<FileIdentity>,
}

/// Which file a snapshot was loaded from (device, inode, mtime, size), to
/// notice a replaced file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i128,
    pub len: u64,
}

impl FileIdentity {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            len: meta.len(),
        }
    }
}

// SAFETY: `root` points into `backing`, which is immutable (a read-only
// mapping of a file we never write in place, or an owned buffer) and lives as
// long as `self`. Sharing read-only bytes between threads is sound.
unsafe impl Send for MappedSnapshot {}
// SAFETY: see `Send`; no interior mutability.
unsafe impl Sync for MappedSnapshot {}

impl MappedSnapshot {
    /// Maps a snapshot file and validates it.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: snapshot files are only ever replaced by rename, never
        // modified or truncated in place, so the mapping stays valid and
        // unchanged for its lifetime (a file truncated by a foreign process
        // would raise SIGBUS; the writer never does that).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let identity = file.metadata().map(|m| FileIdentity::of(&m)).ok();
        let mut s = Self::validate(Backing::Mapped(map))?;
        s.path = Some(path.to_path_buf());
        s.identity = identity;
        Ok(s)
    }

    /// Validates snapshot bytes held in memory (benches, fuzzing, tests).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LoadError> {
        let mut v = AlignedVec::<16>::with_capacity(bytes.len());
        v.extend_from_slice(bytes);
        Self::validate(Backing::Owned(v))
    }

    fn validate(backing: Backing) -> Result<Self, LoadError> {
        let bytes = backing.bytes();
        let payload = check_header(bytes)?;
        let root = rkyv::access::<ArchivedSnapshot, rkyv::rancor::BoxedError>(payload)
            .map_err(|e| LoadError::Invalid(e.to_string()))?;
        check_invariants(root)?;
        let root: *const ArchivedSnapshot = root;
        Ok(MappedSnapshot {
            backing,
            root,
            path: None,
            identity: None,
        })
    }

    /// The archived snapshot.
    #[inline]
    pub fn get(&self) -> &ArchivedSnapshot {
        // SAFETY: `root` was produced by a successful `rkyv::access` on bytes
        // owned by `self.backing`, which is never mutated or dropped before
        // `self`.
        unsafe { &*self.root }
    }

    /// The file this snapshot was mapped from.
    pub fn identity(&self) -> Option<FileIdentity> {
        self.identity
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Size of the file or buffer in bytes.
    pub fn len(&self) -> usize {
        self.backing.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks magic, version, length and checksum; returns the archive bytes.
pub fn check_header(bytes: &[u8]) -> Result<&[u8], LoadError> {
    if bytes.len() < HEADER_LEN {
        return Err(LoadError::TooShort(bytes.len()));
    }
    if bytes[0..8] != MAGIC {
        return Err(LoadError::BadMagic);
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(LoadError::Version { found: version });
    }
    let expected = u64_at(16);
    let actual = (bytes.len() - HEADER_LEN) as u64;
    if expected != actual {
        return Err(LoadError::Length { expected, actual });
    }
    let payload = &bytes[HEADER_LEN..];
    let sum = xxhash_rust::xxh3::xxh3_64(payload);
    let want = u64_at(24);
    if sum != want {
        return Err(LoadError::Checksum {
            expected: want,
            actual: sum,
        });
    }
    Ok(payload)
}

/// Reads the serial from a snapshot file's header without validating the
/// rest (used to keep serials rising across builds).
pub fn peek_serial(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut f = File::open(path).ok()?;
    let mut h = [0u8; HEADER_LEN];
    f.read_exact(&mut h).ok()?;
    (h[0..8] == MAGIC).then(|| u32::from_le_bytes(h[32..36].try_into().expect("4 bytes")))
}

/// The invariants the unchecked query path relies on.
fn check_invariants(s: &ArchivedSnapshot) -> Result<(), LoadError> {
    let bad = |m: String| Err(LoadError::Inconsistent(m));
    if !valid_wire_name(&s.zone) {
        return bad("zone apex is not a valid wire name".into());
    }
    let n = s.names.len();
    let slots = s.index.len();
    if slots != 0 && (!slots.is_power_of_two() || slots < n * 2) {
        return bad(format!("name index has {slots} slots for {n} names"));
    }
    if n > 0 && slots == 0 {
        return bad("names without an index".into());
    }
    if s.index.iter().any(|v| v.to_native() as usize > n) {
        return bad("name index points past the name table".into());
    }
    for e in s.names.iter() {
        if !valid_wire_name(&e.name) || !wire::is_at_or_below(&e.name, &s.zone) {
            return bad(format!(
                "name {} is not a valid name in the zone",
                wire::NameDisplay(&e.name)
            ));
        }
        for r in e.rrsets.iter() {
            if r.wire.len() + r.rrsig_wire.len() + r.additional.len() > wire::MAX_MESSAGE {
                return bad(format!(
                    "RRset at {} exceeds a DNS message",
                    wire::NameDisplay(&e.name)
                ));
            }
            // Section counts are added to each other (and to OPT) per query:
            // they must fit 16 bits together. Each record is at least 11
            // octets, so a count above the bytes it claims is a lie.
            let (an, sig, ad) = (
                r.count.to_native() as usize,
                r.rrsig_count.to_native() as usize,
                r.additional_count.to_native() as usize,
            );
            if an + sig >= 0xFFFF
                || ad >= 0xFFFF
                || an * 11 > r.wire.len()
                || sig * 11 > r.rrsig_wire.len()
                || ad * 11 > r.additional.len()
            {
                return bad(format!(
                    "RRset counts at {} do not match its records",
                    wire::NameDisplay(&e.name)
                ));
            }
        }
    }
    if s.soa_negative.len() < 10 || s.soa_negative.len() > 600 {
        return bad("negative SOA record malformed".into());
    }
    if s.soa_negative_apex_ptrs.len() > 2
        || s.soa_negative_apex_ptrs
            .iter()
            .any(|p| p.to_native() as usize + 2 > s.soa_negative.len())
    {
        return bad("negative SOA pointer offsets out of range".into());
    }
    let v4 = s.acl_v4_starts.len();
    let v6 = s.acl_v6_starts.len();
    if s.acl_v4_ends.len() != v4
        || s.acl_v4_devices.len() != v4
        || s.acl_v6_ends.len() != v6
        || s.acl_v6_devices.len() != v6
    {
        return bad("ACL tables have different lengths".into());
    }
    let devices = s.devices.len() as u32;
    if s.acl_v4_devices
        .iter()
        .chain(s.acl_v6_devices.iter())
        .any(|d| d.to_native() >= devices)
    {
        return bad("ACL names a device that does not exist".into());
    }
    Ok(())
}

fn valid_wire_name(n: &[u8]) -> bool {
    if n.is_empty() || n.len() > wire::MAX_NAME {
        return false;
    }
    let mut pos = 0;
    loop {
        let Some(&len) = n.get(pos) else { return false };
        if len == 0 {
            return pos + 1 == n.len();
        }
        if len as usize > wire::MAX_LABEL {
            return false;
        }
        pos += 1 + len as usize;
    }
}
