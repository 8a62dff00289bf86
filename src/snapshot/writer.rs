//! `SnapshotWriter`: turns zone settings, lists and devices into a snapshot
//! file. Everything expensive (expansion, sorting, encoding, hashing) happens
//! here, off the serving path.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::{
    Account, Device, ListInfo, NameEntry, RRset, Snapshot, AUDIENCE_ALL, FORMAT_VERSION,
    HEADER_LEN, MAGIC,
};
use crate::acl::{self, AclError};
use crate::lists::{ListEntries, DEFAULT_EXPAND_V4, DEFAULT_EXPAND_V6};
use crate::wire::{self, rtype, NameDisplay, SoaFields};

/// Default zone apex.
pub const DEFAULT_ZONE: &str = "feedwall.internal";
/// Default TTL of published records: firewalls re-resolve this often.
pub const DEFAULT_TTL: u32 = 300;
/// Default SOA MINIMUM, the negative-caching TTL (RFC 2308 §4).
pub const DEFAULT_NEGATIVE_TTL: u32 = 60;
/// SOA REFRESH / RETRY / EXPIRE defaults for secondaries (RFC 1912 §2.2).
pub const DEFAULT_REFRESH: u32 = 3600;
pub const DEFAULT_RETRY: u32 = 600;
pub const DEFAULT_EXPIRE: u32 = 1_209_600;
/// Most A records per chunk name: 4000 x 16 octets keeps an answer under the
/// 65535-octet message limit with room for the question and OPT.
pub const MAX_A_PER_NAME: usize = 4000;
/// Most AAAA records per chunk name (2000 x 28 octets).
pub const MAX_AAAA_PER_NAME: usize = 2000;
/// Chunk names a list declares at least, so firewall rules written for a
/// few chunks keep resolving (NODATA) before the list grows into them.
pub const DEFAULT_MIN_CAPACITY: u32 = 4;
/// Size reserved in the worst-case answer for OPT (11) plus header (12) and
/// question type/class (4).
const FIXED_OVERHEAD: usize = 12 + 4 + 11;

/// Errors that stop a build. Nothing is written when one occurs.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("bad name: {0}")]
    Name(#[from] wire::NameError),
    #[error("ACL: {0}")]
    Acl(#[from] AclError),
    #[error("list {0:?} is defined twice")]
    DuplicateList(String),
    #[error("name {0} would carry two {1} RRsets (list names collide?)")]
    DuplicateRRset(String, &'static str),
    #[error("name {name}: an answer of {size} octets exceeds the 65535-octet DNS message limit; lower the records per name")]
    AnswerTooLarge { name: String, size: usize },
    #[error("records per name must be between 1 and {max} for {rtype}, got {got}")]
    BadChunkSize {
        rtype: &'static str,
        max: usize,
        got: usize,
    },
    #[error("archiving the snapshot failed: {0}")]
    Archive(String),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Zone-wide settings.
#[derive(Debug, Clone)]
pub struct ZoneSettings {
    /// Apex, lower-case wire form.
    pub apex: Vec<u8>,
    pub ttl: u32,
    pub negative_ttl: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// SOA RNAME (mailbox of the zone's operator), wire form.
    pub hostmaster: Vec<u8>,
    /// Name servers (wire name, addresses for glue when inside the zone).
    pub nameservers: Vec<(Vec<u8>, Vec<IpAddr>)>,
    pub max_a_per_name: usize,
    pub max_aaaa_per_name: usize,
    pub expand_v4: u8,
    pub expand_v6: u8,
}

impl ZoneSettings {
    /// Defaults for an apex: `ns1.<apex>` at 127.0.0.1, `hostmaster.<apex>`.
    pub fn new(apex_text: &str) -> Result<Self, BuildError> {
        let apex = wire::name_from_text(apex_text)?;
        let ns = wire::prepend_label(b"ns1", &apex);
        let hostmaster = wire::prepend_label(b"hostmaster", &apex);
        Ok(ZoneSettings {
            apex,
            ttl: DEFAULT_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            refresh: DEFAULT_REFRESH,
            retry: DEFAULT_RETRY,
            expire: DEFAULT_EXPIRE,
            hostmaster,
            nameservers: vec![(ns, vec![IpAddr::from([127, 0, 0, 1])])],
            max_a_per_name: MAX_A_PER_NAME,
            max_aaaa_per_name: MAX_AAAA_PER_NAME,
            expand_v4: DEFAULT_EXPAND_V4,
            expand_v6: DEFAULT_EXPAND_V6,
        })
    }
}

/// A list to publish.
#[derive(Debug, Clone)]
pub struct ListSpec {
    /// Label(s) below the apex, e.g. `attackers` or `custom.acct7`.
    pub name: String,
    pub audience: u32,
    /// Declared capacity in chunk names; at least the chunks with data and
    /// at least `DEFAULT_MIN_CAPACITY` when `None`.
    pub capacity: Option<u32>,
    pub nets: Vec<IpNet>,
    pub source: String,
}

/// A device for the ACL.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// Stable identity across snapshots (the admin database's device id;
    /// 0 for devices from the configuration file). The responder keys its
    /// per-device "last queried" times by it.
    pub key: u64,
    pub name: String,
    pub account: u32,
    pub prefixes: Vec<IpNet>,
}

/// Builds snapshots. Collect lists and devices, then `build` or `write`.
#[derive(Debug, Clone)]
pub struct SnapshotWriter {
    pub zone: ZoneSettings,
    pub serial: u32,
    pub created_unix: u64,
    pub lists: Vec<ListSpec>,
    pub devices: Vec<DeviceSpec>,
    pub accounts: Vec<(u32, String)>,
    /// Per list name: fetch time (Unix seconds) of the oldest feed version
    /// it was built from, published in the list's TXT as an age so a
    /// firewall admin can tell a stale list from a fresh one.
    pub oldest_input: BTreeMap<String, u64>,
}

/// Per-name RRsets being assembled.
#[derive(Default)]
struct PendingName {
    audience: Option<u32>,
    rrsets: Vec<RRset>,
    explicit: bool,
}

impl SnapshotWriter {
    pub fn new(zone: ZoneSettings, serial: u32) -> Self {
        let created_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        SnapshotWriter {
            zone,
            serial,
            created_unix,
            lists: Vec::new(),
            devices: Vec::new(),
            accounts: Vec::new(),
            oldest_input: BTreeMap::new(),
        }
    }

    /// Assembles the in-memory snapshot.
    pub fn build(&self) -> Result<Snapshot, BuildError> {
        let z = &self.zone;
        if z.max_a_per_name == 0 || z.max_a_per_name > MAX_A_PER_NAME {
            return Err(BuildError::BadChunkSize {
                rtype: "A",
                max: MAX_A_PER_NAME,
                got: z.max_a_per_name,
            });
        }
        if z.max_aaaa_per_name == 0 || z.max_aaaa_per_name > MAX_AAAA_PER_NAME {
            return Err(BuildError::BadChunkSize {
                rtype: "AAAA",
                max: MAX_AAAA_PER_NAME,
                got: z.max_aaaa_per_name,
            });
        }
        let mut names: BTreeMap<Vec<u8>, PendingName> = BTreeMap::new();
        let apex = z.apex.clone();

        // Apex: SOA and NS; glue for in-zone name servers.
        let soa = SoaFields {
            mname: &z
                .nameservers
                .first()
                .map(|n| n.0.clone())
                .unwrap_or_else(|| apex.clone()),
            rname: &z.hostmaster,
            serial: self.serial,
            refresh: z.refresh,
            retry: z.retry,
            expire: z.expire,
            minimum: z.negative_ttl,
        }
        .rdata();
        let mut soa_wire = Vec::new();
        wire::push_rr_at_qname(&mut soa_wire, rtype::SOA, z.ttl, &soa);
        add_rrset(
            &mut names,
            &apex,
            AUDIENCE_ALL,
            rrset(rtype::SOA, 1, soa_wire),
        )?;
        let mut ns_wire = Vec::new();
        let mut glue = Vec::new();
        let mut glue_count = 0u16;
        for (ns, addrs) in &z.nameservers {
            wire::push_rr_at_qname(&mut ns_wire, rtype::NS, z.ttl, ns);
            if wire::is_at_or_below(ns, &apex) {
                let mut a_wire = Vec::new();
                let mut aaaa_wire = Vec::new();
                let (mut na, mut naaaa) = (0u16, 0u16);
                for addr in addrs {
                    match addr {
                        IpAddr::V4(a) => {
                            wire::push_rr_named(&mut glue, ns, rtype::A, z.ttl, &a.octets());
                            wire::push_rr_at_qname(&mut a_wire, rtype::A, z.ttl, &a.octets());
                            na += 1;
                        }
                        IpAddr::V6(a) => {
                            wire::push_rr_named(&mut glue, ns, rtype::AAAA, z.ttl, &a.octets());
                            wire::push_rr_at_qname(&mut aaaa_wire, rtype::AAAA, z.ttl, &a.octets());
                            naaaa += 1;
                        }
                    }
                    glue_count += 1;
                }
                if na > 0 {
                    add_rrset(&mut names, ns, AUDIENCE_ALL, rrset(rtype::A, na, a_wire))?;
                }
                if naaaa > 0 {
                    add_rrset(
                        &mut names,
                        ns,
                        AUDIENCE_ALL,
                        rrset(rtype::AAAA, naaaa, aaaa_wire),
                    )?;
                }
                if na == 0 && naaaa == 0 {
                    touch(&mut names, ns, AUDIENCE_ALL);
                }
            }
        }
        let mut ns_set = rrset(rtype::NS, z.nameservers.len() as u16, ns_wire);
        ns_set.additional_count = glue_count;
        ns_set.additional = glue;
        add_rrset(&mut names, &apex, AUDIENCE_ALL, ns_set)?;

        // Lists.
        let mut infos = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for spec in &self.lists {
            let list_name = list_wire_name(&spec.name, &apex)?;
            if !seen.insert(list_name.clone()) {
                return Err(BuildError::DuplicateList(spec.name.clone()));
            }
            let entries = ListEntries::from_nets(&spec.nets, z.expand_v4, z.expand_v6);
            let chunks = entries.chunks(z.max_a_per_name, z.max_aaaa_per_name) as u32;
            let capacity = spec.capacity.unwrap_or(DEFAULT_MIN_CAPACITY).max(chunks);
            for i in 0..capacity {
                let chunk_name = wire::prepend_label(i.to_string().as_bytes(), &list_name);
                let a = slice_chunk(&entries.v4_hosts, i as usize, z.max_a_per_name);
                let aaaa = slice_chunk(&entries.v6_hosts, i as usize, z.max_aaaa_per_name);
                if a.is_empty() && aaaa.is_empty() {
                    touch(&mut names, &chunk_name, spec.audience);
                    names.get_mut(&chunk_name).expect("just added").explicit = true;
                    continue;
                }
                if !a.is_empty() {
                    let set = host_rrset(rtype::A, z.ttl, a.iter().map(|h| h.to_be_bytes()));
                    check_size(&chunk_name, set.wire.len())?;
                    add_rrset(&mut names, &chunk_name, spec.audience, set)?;
                }
                if !aaaa.is_empty() {
                    let set = host_rrset(rtype::AAAA, z.ttl, aaaa.iter().map(|h| h.to_be_bytes()));
                    check_size(&chunk_name, set.wire.len())?;
                    add_rrset(&mut names, &chunk_name, spec.audience, set)?;
                }
            }
            let mut strings = vec![
                format!("chunks={chunks}"),
                format!("entries={}", entries.len()),
                format!("v4={}", entries.v4_hosts.len()),
                format!("v6={}", entries.v6_hosts.len()),
                format!("wide={}", entries.v4_nets.len() + entries.v6_nets.len()),
                format!("capacity={capacity}"),
                format!("serial={}", self.serial),
                format!("generated={}", rfc3339(self.created_unix)),
            ];
            if let Some(&oldest) = self.oldest_input.get(&spec.name.to_ascii_lowercase()) {
                strings.push(format!(
                    "oldest-feed-age={}s",
                    self.created_unix.saturating_sub(oldest)
                ));
            }
            let txt = wire::txt_rdata(&strings);
            let mut w = Vec::new();
            wire::push_rr_at_qname(&mut w, rtype::TXT, z.ttl, &txt);
            add_rrset(
                &mut names,
                &list_name,
                spec.audience,
                rrset(rtype::TXT, 1, w),
            )?;
            infos.push(ListInfo {
                name: spec.name.to_ascii_lowercase(),
                audience: spec.audience,
                v4_hosts: entries.v4_hosts.len() as u32,
                v6_hosts: entries.v6_hosts.len() as u32,
                chunks,
                capacity,
                wide_v4: entries
                    .v4_nets
                    .iter()
                    .map(|n| (u32::from(n.network()), n.prefix_len()))
                    .collect(),
                wide_v6: entries
                    .v6_nets
                    .iter()
                    .map(|n| (u128::from(n.network()), n.prefix_len()))
                    .collect(),
                source: spec.source.clone(),
            });
        }

        // Empty non-terminals between names and the apex: they answer NODATA
        // (RFC 8020). Their audience is shared only if all children share it.
        let explicit: Vec<(Vec<u8>, u32)> = names
            .iter()
            .map(|(n, p)| (n.clone(), p.audience.unwrap_or(AUDIENCE_ALL)))
            .collect();
        for (name, audience) in explicit {
            let mut cur = wire::parent(&name);
            while let Some(p) = cur {
                if p.len() < apex.len() {
                    break;
                }
                let entry = names.entry(p.to_vec()).or_default();
                if !entry.explicit && entry.rrsets.is_empty() && p != apex.as_slice() {
                    entry.audience = match entry.audience {
                        None => Some(audience),
                        Some(a) if a == audience => Some(a),
                        Some(_) => Some(AUDIENCE_ALL),
                    };
                }
                if p == apex.as_slice() {
                    break;
                }
                cur = wire::parent(p);
            }
        }

        // Canonical order, then the hash index.
        let mut ordered: Vec<(Vec<u8>, PendingName)> = names.into_iter().collect();
        ordered.sort_by(|a, b| wire::canonical_cmp(&a.0, &b.0));
        let entries: Vec<NameEntry> = ordered
            .into_iter()
            .map(|(name, p)| NameEntry {
                name,
                audience: p.audience.unwrap_or(AUDIENCE_ALL),
                rrsets: p.rrsets,
            })
            .collect();
        let slots = (entries.len() * 2).max(8).next_power_of_two();
        let mut index = vec![0u32; slots];
        for (i, e) in entries.iter().enumerate() {
            let mut s = super::name_hash(&e.name) as usize & (slots - 1);
            while index[s] != 0 {
                s = (s + 1) & (slots - 1);
            }
            index[s] = i as u32 + 1;
        }

        // ACL and devices.
        let mut acl_entries = Vec::new();
        let mut devices = Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            for p in &d.prefixes {
                acl_entries.push((*p, i as u32));
            }
            devices.push(Device {
                key: d.key,
                name: d.name.clone(),
                account: d.account,
                prefixes: d.prefixes.iter().map(|p| p.to_string()).collect(),
            });
        }
        let tables = acl::build(&acl_entries)?;
        let mut accounts: Vec<Account> = self
            .accounts
            .iter()
            .map(|(id, name)| Account {
                id: *id,
                name: name.clone(),
            })
            .collect();
        accounts.sort_by_key(|a| a.id);

        let neg_ttl = z.ttl.min(z.negative_ttl);
        // Negative SOA with MNAME/RNAME compressed against the apex: the
        // responder writes the apex's offset in the question into each
        // placeholder pointer.
        let mut rdata = Vec::new();
        let mut ptrs = Vec::new();
        let mname = z
            .nameservers
            .first()
            .map(|n| n.0.clone())
            .unwrap_or_else(|| apex.clone());
        for name in [&mname, &z.hostmaster] {
            match relative_to_apex(name, &apex) {
                Some(prefix) => {
                    rdata.extend_from_slice(prefix);
                    // 10 = TYPE, CLASS, TTL, RDLENGTH before the RDATA.
                    ptrs.push((10 + rdata.len()) as u16);
                    rdata.extend_from_slice(&[0xC0, 0x00]);
                }
                None => rdata.extend_from_slice(name),
            }
        }
        for v in [self.serial, z.refresh, z.retry, z.expire, z.negative_ttl] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        let mut soa_negative = Vec::new();
        wire::push_rr_tail(&mut soa_negative, rtype::SOA, neg_ttl, &rdata);

        Ok(Snapshot {
            serial: self.serial,
            created_unix: self.created_unix,
            zone: apex,
            soa_negative,
            soa_negative_apex_ptrs: ptrs,
            names: entries,
            index,
            acl_v4_starts: tables.v4.starts.iter().map(|&s| s as u32).collect(),
            acl_v4_ends: tables.v4.ends.iter().map(|&s| s as u32).collect(),
            acl_v4_devices: tables.v4.devices,
            acl_v6_starts: tables.v6.starts,
            acl_v6_ends: tables.v6.ends,
            acl_v6_devices: tables.v6.devices,
            devices,
            accounts,
            lists: infos,
        })
    }

    /// Builds and encodes the whole file (header + archive).
    pub fn to_bytes(&self) -> Result<Vec<u8>, BuildError> {
        encode(&self.build()?)
    }

    /// Builds and writes atomically: temp file in the same directory, fsync,
    /// rename over `path`, fsync the directory. A reader never sees a partial
    /// file, and a crash leaves either the old or the new snapshot.
    pub fn write(&self, path: &Path) -> Result<Snapshot, BuildError> {
        let snap = self.build()?;
        let bytes = encode(&snap)?;
        write_atomic(path, &bytes)?;
        Ok(snap)
    }
}

/// Encodes a snapshot into file bytes.
pub fn encode(snap: &Snapshot) -> Result<Vec<u8>, BuildError> {
    let archive = rkyv::to_bytes::<rkyv::rancor::BoxedError>(snap)
        .map_err(|e| BuildError::Archive(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + archive.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(archive.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&archive).to_le_bytes());
    out.extend_from_slice(&snap.serial.to_le_bytes());
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(&archive);
    Ok(out)
}

/// Writes `bytes` to `path` atomically, as a `BuildError`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    super::write_atomic_file(path, bytes).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The labels of `name` before `apex` (without the root), if `name` is at or
/// below `apex`.
fn relative_to_apex<'a>(name: &'a [u8], apex: &[u8]) -> Option<&'a [u8]> {
    if !wire::is_at_or_below(name, apex) {
        return None;
    }
    Some(&name[..name.len() - apex.len()])
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (proleptic Gregorian, UTC).
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// An A or AAAA RRset of host addresses (network byte order).
fn host_rrset<const N: usize>(
    rtype: u16,
    ttl: u32,
    hosts: impl ExactSizeIterator<Item = [u8; N]>,
) -> RRset {
    let count = hosts.len();
    let mut w = Vec::with_capacity(count * (12 + N));
    for h in hosts {
        wire::push_rr_at_qname(&mut w, rtype, ttl, &h);
    }
    rrset(rtype, count as u16, w)
}

fn rrset(rtype: u16, count: u16, wire: Vec<u8>) -> RRset {
    RRset {
        rtype,
        count,
        wire,
        rrsig_count: 0,
        rrsig_wire: Vec::new(),
        additional_count: 0,
        additional: Vec::new(),
    }
}

fn touch(names: &mut BTreeMap<Vec<u8>, PendingName>, name: &[u8], audience: u32) {
    let e = names.entry(name.to_vec()).or_default();
    e.audience = Some(audience);
    e.explicit = true;
}

fn add_rrset(
    names: &mut BTreeMap<Vec<u8>, PendingName>,
    name: &[u8],
    audience: u32,
    set: RRset,
) -> Result<(), BuildError> {
    let e = names.entry(name.to_vec()).or_default();
    if e.rrsets.iter().any(|r| r.rtype == set.rtype) {
        return Err(BuildError::DuplicateRRset(
            NameDisplay(name).to_string(),
            type_name(set.rtype),
        ));
    }
    e.audience = Some(audience);
    e.explicit = true;
    e.rrsets.push(set);
    Ok(())
}

fn type_name(t: u16) -> &'static str {
    match t {
        rtype::A => "A",
        rtype::AAAA => "AAAA",
        rtype::TXT => "TXT",
        rtype::NS => "NS",
        rtype::SOA => "SOA",
        _ => "other",
    }
}

fn slice_chunk<T>(all: &[T], i: usize, per: usize) -> &[T] {
    let start = (i * per).min(all.len());
    let end = ((i + 1) * per).min(all.len());
    &all[start..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_851_859), "2026-11-28T07:44:19Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}

fn check_size(name: &[u8], rrset_len: usize) -> Result<(), BuildError> {
    let size = FIXED_OVERHEAD + name.len() + rrset_len;
    if size > wire::MAX_MESSAGE {
        return Err(BuildError::AnswerTooLarge {
            name: NameDisplay(name).to_string(),
            size,
        });
    }
    Ok(())
}

/// Wire name of a list: its label(s) then the apex.
pub fn list_wire_name(list: &str, apex: &[u8]) -> Result<Vec<u8>, BuildError> {
    let labels = wire::name_from_text(list)?;
    if labels == [0] {
        return Err(BuildError::Name(wire::NameError::EmptyLabel(
            list.to_string(),
        )));
    }
    let mut out = labels[..labels.len() - 1].to_vec();
    out.extend_from_slice(apex);
    if out.len() > wire::MAX_NAME - 8 {
        return Err(BuildError::Name(wire::NameError::TooLong(list.to_string())));
    }
    Ok(out)
}
