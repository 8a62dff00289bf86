//! The snapshot: the only contract between the control plane and the
//! responder.
//!
//! A snapshot file is a 64-byte header followed by an rkyv archive:
//!
//! ```text
//! offset  size  field
//!      0     8  magic "FWSNAP\r\n"
//!      8     4  format version (little-endian u32), FORMAT_VERSION
//!     12     4  flags (0)
//!     16     8  payload length in bytes
//!     24     8  xxh3-64 checksum of the payload
//!     32     4  SOA serial (a copy, for quick inspection)
//!     36    28  reserved, zero
//!     64     …  rkyv archive of `Snapshot` (root at its end)
//! ```
//!
//! The payload starts 64 bytes into a page-aligned mapping, so it keeps the
//! 16-byte alignment rkyv needs. Loading checks magic, version, length and
//! checksum *before* rkyv validation (validation alone accepts truncated or
//! bit-flipped archives as other values), then validates once with bytecheck,
//! then checks the invariants the query path relies on (index size, name
//! bounds). After that the query path reads the archive without checks.
//!
//! What the archive holds:
//! - the zone apex, serial and the pre-encoded negative-answer SOA;
//! - every name of the zone, in canonical DNS order (RFC 4034 §6.1, for zone
//!   transfer), each with its audience (0: every device; otherwise the one
//!   account whose devices may see it) and its RRsets as pre-encoded answer
//!   bytes whose owners are compression pointers to the question (`0xC00C`),
//!   so an RRset is copied into a response verbatim; room is kept for RRSIGs;
//! - an open-addressing hash index over lower-case wire names;
//! - the ACL (sorted disjoint ranges to device), devices and accounts;
//! - per-list metadata, including wide networks that DNS host records do not
//!   carry.

mod mapped;
pub mod writer;

pub use mapped::{check_header, peek_serial};
pub use mapped::{FileIdentity, LoadError, MappedSnapshot};
pub use writer::{
    encode, list_wire_name, BuildError, DeviceSpec, ListSpec, SnapshotWriter, ZoneSettings,
};

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rkyv::{Archive, Deserialize, Serialize};

/// File magic.
pub const MAGIC: [u8; 8] = *b"FWSNAP\r\n";
/// Current archive layout version; a different value is refused on load.
pub const FORMAT_VERSION: u32 = 3;
/// Header size; keeps the archive 16-byte aligned inside a mapping.
pub const HEADER_LEN: usize = 64;
/// Audience of names every ACL device may see (the basic lookups).
pub const AUDIENCE_ALL: u32 = 0;

/// Writes a file atomically: temp file in the same directory, fsync, rename
/// over `path`, fsync the directory. A reader never sees a partial file, and
/// a crash leaves either the old or the new content. A mapped old file stays
/// intact for its readers (rename never touches its inode).
pub fn write_atomic_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{file_name}.tmp.{}.{nonce}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Hash used by the name index (stable: it is part of the file format).
#[inline]
pub fn name_hash(lower_wire_name: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(lower_wire_name)
}

/// The archived root.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// SOA serial; rises with every snapshot.
    pub serial: u32,
    /// Build time, seconds since the Unix epoch.
    pub created_unix: u64,
    /// Zone apex, lower-case uncompressed wire form.
    pub zone: Vec<u8>,
    /// SOA record for negative answers (RFC 2308 §3), everything after the
    /// owner: TYPE CLASS TTL RDLENGTH RDATA. The responder prepends a pointer
    /// to the apex inside the question.
    pub soa_negative: Vec<u8>,
    /// Offsets in `soa_negative` of 2-octet compression pointers to the apex
    /// (inside MNAME and RNAME), patched per query to point at the apex
    /// within the question: a negative answer is as small as NSD's.
    pub soa_negative_apex_ptrs: Vec<u16>,
    /// All names in canonical order.
    pub names: Vec<NameEntry>,
    /// Open-addressing index: slot = `name_hash & (len-1)`, linear probing,
    /// value = position in `names` + 1, 0 = empty. Length is a power of two
    /// and at least twice the number of names.
    pub index: Vec<u32>,
    /// IPv4 ACL ranges (inclusive), sorted, disjoint.
    pub acl_v4_starts: Vec<u32>,
    pub acl_v4_ends: Vec<u32>,
    pub acl_v4_devices: Vec<u32>,
    /// IPv6 ACL ranges (inclusive), sorted, disjoint.
    pub acl_v6_starts: Vec<u128>,
    pub acl_v6_ends: Vec<u128>,
    pub acl_v6_devices: Vec<u32>,
    pub devices: Vec<Device>,
    pub accounts: Vec<Account>,
    pub lists: Vec<ListInfo>,
}

/// One owner name of the zone.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NameEntry {
    /// Lower-case uncompressed wire form.
    pub name: Vec<u8>,
    /// `AUDIENCE_ALL` or the account id whose devices may see this name.
    pub audience: u32,
    /// RRsets at this name; empty for empty non-terminals and for chunk names
    /// past a list's data (NODATA).
    pub rrsets: Vec<RRset>,
}

/// One pre-encoded RRset.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RRset {
    pub rtype: u16,
    /// Number of records in `wire`.
    pub count: u16,
    /// Records, each owner `0xC00C`, ready to copy after the question.
    pub wire: Vec<u8>,
    /// RRSIG records covering this RRset (same encoding), for DNSSEC; empty
    /// while the zone is unsigned.
    pub rrsig_count: u16,
    pub rrsig_wire: Vec<u8>,
    /// Additional-section records (glue for NS), owners written in full.
    pub additional_count: u16,
    pub additional: Vec<u8>,
}

/// A device: a source prefix in the ACL, owned by an account.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Device {
    /// Stable identity across snapshots (admin database id; 0 = from the
    /// configuration file).
    pub key: u64,
    pub name: String,
    pub account: u32,
    /// The prefixes it queries from, in text form (for inspection).
    pub prefixes: Vec<String>,
}

/// An account (owner of devices and of non-public names).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Account {
    pub id: u32,
    pub name: String,
}

/// Metadata of a published list.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ListInfo {
    /// List label(s) below the apex, e.g. `attackers`.
    pub name: String,
    pub audience: u32,
    pub v4_hosts: u32,
    pub v6_hosts: u32,
    /// Chunk names that hold data.
    pub chunks: u32,
    /// Chunk names that exist (NODATA past `chunks`).
    pub capacity: u32,
    /// Networks wider than the expansion limit: (network, prefix length).
    pub wide_v4: Vec<(u32, u8)>,
    pub wide_v6: Vec<(u128, u8)>,
    /// Where the list came from (file, feed ids), for attribution.
    pub source: String,
}

impl ArchivedSnapshot {
    /// Finds a name (lower-case wire form). Bounded probing: a crafted index
    /// without empty slots cannot loop forever.
    #[inline]
    pub fn find(&self, lower_name: &[u8]) -> Option<&ArchivedNameEntry> {
        let len = self.index.len();
        if len == 0 {
            return None;
        }
        let mask = len - 1;
        let mut slot = name_hash(lower_name) as usize & mask;
        for _ in 0..len {
            let v = self.index[slot].to_native();
            if v == 0 {
                return None;
            }
            let entry = self.names.get(v as usize - 1)?;
            if entry.name.as_slice() == lower_name {
                return Some(entry);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// Device for a canonical source address, if any.
    #[inline]
    pub fn device_for(&self, src: std::net::IpAddr) -> Option<u32> {
        match src {
            std::net::IpAddr::V4(a) => {
                let a = u32::from(a);
                let i = self.acl_v4_starts.partition_point(|s| s.to_native() <= a);
                if i == 0 || a > self.acl_v4_ends.get(i - 1)?.to_native() {
                    return None;
                }
                Some(self.acl_v4_devices.get(i - 1)?.to_native())
            }
            std::net::IpAddr::V6(a) => {
                let a = u128::from(a);
                let i = self.acl_v6_starts.partition_point(|s| s.to_native() <= a);
                if i == 0 || a > self.acl_v6_ends.get(i - 1)?.to_native() {
                    return None;
                }
                Some(self.acl_v6_devices.get(i - 1)?.to_native())
            }
        }
    }

    /// Account of a device (`None` if the device id is out of range).
    #[inline]
    pub fn account_of(&self, device: u32) -> Option<u32> {
        self.devices
            .get(device as usize)
            .map(|d| d.account.to_native())
    }
}
