//! The EFI system partition as the appliance lays it out:
//!
//! ```text
//! /EFI/BOOT/BOOTX64.EFI              systemd-boot
//! /loader/loader.conf
//! /loader/entries/feedwall-a.conf    (feedwall-a+1.conf, feedwall-a+0-1.conf on trial)
//! /feedwall/a/vmlinuz  initrd.img  manifest.json
//! /feedwall/b/...
//! ```
//!
//! Entry names carry systemd-boot's boot counters
//! (<https://systemd.io/AUTOMATIC_BOOT_ASSESSMENT/>): `+LEFT` or
//! `+LEFT-DONE` before `.conf`. systemd-boot decrements LEFT (and counts
//! DONE) by renaming the file before it boots the entry, so a trial entry
//! being booted reads `+0-1`; an entry with LEFT = 0 that is *not* booted
//! has failed and is "bad" (sorted last). Blessing an entry drops the
//! counter from its name. The `version` line is the generation: higher is
//! newer and sorts first.

use std::path::{Path, PathBuf};

use super::bundle::Manifest;
use super::{sync_dir, write_durable, Slot};

/// Entries directory and slot directories, relative to the ESP root.
pub const ENTRIES_DIR: &str = "loader/entries";
pub const SLOTS_DIR: &str = "feedwall";
/// systemd-boot's sort key shared by the appliance's entries.
pub const SORT_KEY: &str = "feedwall";

/// Boot counters of an entry on trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tries {
    pub left: u32,
    pub done: Option<u32>,
}

/// A parsed entry file name, `feedwall-<slot>[+LEFT[-DONE]].conf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryName {
    pub slot: Slot,
    /// `None`: blessed (no counter).
    pub tries: Option<Tries>,
}

impl EntryName {
    /// Parses an entry file name; `None` for files that are not one of the
    /// appliance's entries.
    pub fn parse(name: &str) -> Option<EntryName> {
        let stem = name.strip_suffix(".conf")?.strip_prefix("feedwall-")?;
        let mut chars = stem.chars();
        let slot = Slot::parse(&chars.next()?.to_string())?;
        let rest = chars.as_str();
        if rest.is_empty() {
            return Some(EntryName { slot, tries: None });
        }
        let counters = rest.strip_prefix('+')?;
        let (left, done) = match counters.split_once('-') {
            Some((l, d)) => (l, Some(d)),
            None => (counters, None),
        };
        let num = |s: &str| -> Option<u32> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let left = num(left)?;
        let done = match done {
            Some(d) => Some(num(d)?),
            None => None,
        };
        Some(EntryName {
            slot,
            tries: Some(Tries { left, done }),
        })
    }

    /// The file name.
    pub fn file_name(&self) -> String {
        match self.tries {
            None => format!("feedwall-{}.conf", self.slot),
            Some(Tries { left, done: None }) => format!("feedwall-{}+{left}.conf", self.slot),
            Some(Tries {
                left,
                done: Some(d),
            }) => format!("feedwall-{}+{left}-{d}.conf", self.slot),
        }
    }

    /// No tries left: systemd-boot will not pick it while another entry
    /// is good (when it is not the booted one, it failed its trial).
    pub fn is_bad(&self) -> bool {
        self.tries.is_some_and(|t| t.left == 0)
    }

    /// Still counting boots (not blessed).
    pub fn on_trial(&self) -> bool {
        self.tries.is_some()
    }
}

/// An entry found on the ESP.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub name: EntryName,
    /// The `version` line (the generation); 0 when absent or unreadable.
    pub version: u64,
    pub title: String,
}

/// Reads an entry file's `version` and `title` lines.
fn read_entry(path: &Path, name: EntryName) -> Entry {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut version = 0;
    let mut title = String::new();
    for line in text.lines() {
        let line = line.trim();
        let (key, value) = match line.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        match key {
            "version" => version = value.parse().unwrap_or(0),
            "title" => title = value.to_string(),
            _ => {}
        }
    }
    Entry {
        path: path.to_path_buf(),
        name,
        version,
        title,
    }
}

/// The appliance's entries on the ESP at `boot` (other files ignored), in
/// file-name order. A missing entries directory is no entries.
pub fn entries(boot: &Path) -> std::io::Result<Vec<Entry>> {
    let dir = boot.join(ENTRIES_DIR);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for f in rd {
        let f = f?;
        let file_name = f.file_name().to_string_lossy().into_owned();
        if let Some(name) = EntryName::parse(&file_name) {
            out.push(read_entry(&f.path(), name));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The newest entry of a slot (there is normally at most one).
pub fn slot_entry(entries: &[Entry], slot: Slot) -> Option<&Entry> {
    entries
        .iter()
        .filter(|e| e.name.slot == slot)
        .max_by_key(|e| e.version)
}

/// The slot an upgrade writes: the one not booted. With no booted slot
/// known (outside the image), the slot without an entry, else the one
/// whose entry is older (`a` when both are equal).
pub fn target_slot(entries: &[Entry], booted: Option<Slot>) -> Slot {
    if let Some(b) = booted {
        return b.other();
    }
    match (slot_entry(entries, Slot::A), slot_entry(entries, Slot::B)) {
        (None, None) => Slot::A,
        (Some(_), None) => Slot::B,
        (None, Some(_)) => Slot::A,
        (Some(a), Some(b)) => {
            if b.version < a.version {
                Slot::B
            } else {
                Slot::A
            }
        }
    }
}

/// The generation a new entry gets: one above every existing entry's.
pub fn next_version(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| e.version).max().unwrap_or(0) + 1
}

/// A slot's directory on the ESP.
pub fn slot_dir(boot: &Path, slot: Slot) -> PathBuf {
    boot.join(SLOTS_DIR).join(slot.as_str())
}

/// Removes every entry of `slot`; returns the removed paths.
pub fn remove_slot_entries(boot: &Path, slot: Slot) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for e in entries(boot)?.into_iter().filter(|e| e.name.slot == slot) {
        std::fs::remove_file(&e.path)?;
        removed.push(e.path);
    }
    if !removed.is_empty() {
        sync_dir(&boot.join(ENTRIES_DIR))?;
    }
    Ok(removed)
}

/// The text of a slot's entry.
pub fn entry_text(slot: Slot, version: u64, m: &Manifest) -> String {
    format!(
        "title feedwall {} (build {})\nsort-key {SORT_KEY}\nversion {version}\nlinux /{SLOTS_DIR}/{slot}/vmlinuz\ninitrd /{SLOTS_DIR}/{slot}/initrd.img\noptions {} {}{slot}\n",
        m.version,
        m.build,
        m.cmdline.trim(),
        super::SLOT_PARAM,
    )
}

/// Writes `slot`'s entry with one boot try (`feedwall-<slot>+1.conf`).
pub fn write_trial_entry(
    boot: &Path,
    slot: Slot,
    version: u64,
    m: &Manifest,
) -> std::io::Result<PathBuf> {
    let dir = boot.join(ENTRIES_DIR);
    std::fs::create_dir_all(&dir)?;
    let name = EntryName {
        slot,
        tries: Some(Tries {
            left: 1,
            done: None,
        }),
    };
    let path = dir.join(name.file_name());
    write_durable(&path, entry_text(slot, version, m).as_bytes())?;
    Ok(path)
}

/// Blesses `slot`'s entry: renames `feedwall-<slot>+N[-M].conf` to
/// `feedwall-<slot>.conf`. Returns the old and new path when it renamed,
/// `None` when the entry was blessed already. Errors when the slot has no
/// entry.
pub fn bless(boot: &Path, slot: Slot) -> std::io::Result<Option<(PathBuf, PathBuf)>> {
    let all = entries(boot)?;
    let Some(e) = slot_entry(&all, slot) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no boot entry of slot {slot} in {}",
                boot.join(ENTRIES_DIR).display()
            ),
        ));
    };
    if !e.name.on_trial() {
        return Ok(None);
    }
    let to = e
        .path
        .with_file_name(EntryName { slot, tries: None }.file_name());
    // Make the entry's content durable before its name says it is good.
    std::fs::File::open(&e.path)?.sync_all()?;
    std::fs::rename(&e.path, &to)?;
    sync_dir(&boot.join(ENTRIES_DIR))?;
    Ok(Some((e.path.clone(), to)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Option<EntryName> {
        EntryName::parse(s)
    }

    #[test]
    fn entry_names_with_boot_counters() {
        assert_eq!(
            name("feedwall-a.conf"),
            Some(EntryName {
                slot: Slot::A,
                tries: None
            })
        );
        let t = name("feedwall-b+1.conf").unwrap();
        assert_eq!(
            t.tries,
            Some(Tries {
                left: 1,
                done: None
            })
        );
        assert!(t.on_trial() && !t.is_bad());
        let t = name("feedwall-b+0-1.conf").unwrap();
        assert_eq!(
            t.tries,
            Some(Tries {
                left: 0,
                done: Some(1)
            })
        );
        assert!(t.is_bad());
        assert!(!name("feedwall-a+2-3.conf").unwrap().is_bad());
        for bad in [
            "feedwall-c.conf",
            "feedwall-a",
            "feedwall-ab.conf",
            "feedwall-a+.conf",
            "feedwall-a+1-.conf",
            "feedwall-a+x.conf",
            "feedwall-a+-1.conf",
            "feedwall-a+1-2-3.conf",
            "other-a.conf",
            "feedwall-a.conf.tmp",
        ] {
            assert_eq!(name(bad), None, "{bad}");
        }
        for n in [
            "feedwall-a.conf",
            "feedwall-b+1.conf",
            "feedwall-a+0-1.conf",
        ] {
            assert_eq!(name(n).unwrap().file_name(), n);
        }
    }

    fn entry(slot: Slot, version: u64, tries: Option<Tries>) -> Entry {
        Entry {
            path: PathBuf::from(format!("x{slot}")),
            name: EntryName { slot, tries },
            version,
            title: String::new(),
        }
    }

    #[test]
    fn upgrades_go_to_the_slot_not_booted_or_the_older_one() {
        let a1 = entry(Slot::A, 1, None);
        let b2 = entry(Slot::B, 2, None);
        assert_eq!(target_slot(&[], None), Slot::A);
        assert_eq!(target_slot(std::slice::from_ref(&a1), None), Slot::B);
        assert_eq!(target_slot(std::slice::from_ref(&b2), None), Slot::A);
        assert_eq!(target_slot(&[a1.clone(), b2.clone()], None), Slot::A);
        assert_eq!(
            target_slot(&[entry(Slot::A, 3, None), b2.clone()], None),
            Slot::B
        );
        // The booted slot is never the target, whatever the versions say.
        assert_eq!(
            target_slot(&[a1.clone(), b2.clone()], Some(Slot::A)),
            Slot::B
        );
        assert_eq!(target_slot(&[], Some(Slot::B)), Slot::A);
        assert_eq!(next_version(&[]), 1);
        assert_eq!(next_version(&[a1, b2]), 3);
    }

    fn manifest() -> Manifest {
        Manifest {
            format: 1,
            version: "0.1.0".into(),
            build: "build-7".into(),
            cmdline: "console=ttyS0,115200 quiet".into(),
            files: Default::default(),
        }
    }

    #[test]
    fn write_read_and_bless_entries() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path();
        std::fs::create_dir_all(boot.join(ENTRIES_DIR)).unwrap();
        std::fs::write(boot.join(ENTRIES_DIR).join("unrelated.conf"), "title x\n").unwrap();
        let p = write_trial_entry(boot, Slot::B, 2, &manifest()).unwrap();
        assert_eq!(p.file_name().unwrap(), "feedwall-b+1.conf");
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "title feedwall 0.1.0 (build build-7)\nsort-key feedwall\nversion 2\nlinux /feedwall/b/vmlinuz\ninitrd /feedwall/b/initrd.img\noptions console=ttyS0,115200 quiet feedwall.slot=b\n"
        );
        let all = entries(boot).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].version, all[0].title.as_str()),
            (2, "feedwall 0.1.0 (build build-7)")
        );
        // systemd-boot's rename before booting it, then the blessing.
        std::fs::rename(&p, p.with_file_name("feedwall-b+0-1.conf")).unwrap();
        let (from, to) = bless(boot, Slot::B).unwrap().unwrap();
        assert!(from.ends_with("feedwall-b+0-1.conf") && to.ends_with("feedwall-b.conf"));
        assert!(to.is_file() && !from.exists());
        assert!(bless(boot, Slot::B).unwrap().is_none(), "blessed already");
        assert!(bless(boot, Slot::A).is_err(), "no entry");
        assert_eq!(remove_slot_entries(boot, Slot::B).unwrap(), vec![to]);
        assert!(entries(boot).unwrap().is_empty());
    }
}
