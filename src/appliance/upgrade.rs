//! Installing an upgrade bundle into the slot not booted (CLI `appliance
//! upgrade` and the admin page).
//!
//! Order, so that a crash at any point leaves a bootable ESP: check the
//! whole bundle first (nothing written); remove the target slot's entry;
//! write its files (temporary names, fsynced, renamed, directory fsynced);
//! then write its new entry with one boot try and the next generation.
//! The booted slot is never touched.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::bundle::{self, BundleError, Manifest};
use super::esp;
use super::{sync_dir, write_durable, Slot};

/// One upgrade at a time per process (the admin page may get two uploads).
static INSTALLING: Mutex<()> = Mutex::new(());

/// Why an upgrade did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The bundle is refused (nothing was written).
    #[error(transparent)]
    Bundle(BundleError),
    #[error("{0} is not a mounted boot partition laid out for feedwall (no loader/entries)")]
    NotAnEsp(PathBuf),
    #[error("another upgrade is being installed")]
    Busy,
    #[error("cannot write the boot partition: {0}")]
    Io(#[from] std::io::Error),
}

/// What an upgrade installed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Installed {
    pub slot: Slot,
    /// The new entry's generation.
    pub generation: u64,
    pub version: String,
    pub build: String,
    /// The new entry file.
    pub entry: PathBuf,
}

/// Verifies the bundle at `bundle_path` (at most `cap` bytes) and installs
/// it into the slot not booted on the ESP at `boot`.
pub fn install(
    bundle_path: &Path,
    boot: &Path,
    booted: Option<Slot>,
    cap: u64,
) -> Result<Installed, UpgradeError> {
    let _one = INSTALLING.try_lock().map_err(|_| UpgradeError::Busy)?;
    if !boot.join(esp::ENTRIES_DIR).is_dir() {
        return Err(UpgradeError::NotAnEsp(boot.to_path_buf()));
    }
    // 1. The whole bundle, before anything is written.
    let checked = bundle::read(bundle_path, cap, None).map_err(bundle_error)?;
    let slot = esp::target_slot(&esp::entries(boot)?, booted);
    // 2. The target slot has no entry from here on; its new one will be
    //    newer than every other.
    esp::remove_slot_entries(boot, slot)?;
    let generation = esp::next_version(&esp::entries(boot)?);
    // 3. Its files: read again into temporary files (checked again, so a
    //    bundle changed in between is refused), then renamed into place.
    let dir = esp::slot_dir(boot, slot);
    std::fs::create_dir_all(&dir)?;
    let again = bundle::read(bundle_path, cap, Some(&dir)).map_err(bundle_error)?;
    if again.manifest != checked.manifest {
        for name in bundle::PAYLOAD {
            let _ = std::fs::remove_file(bundle::partial_path(&dir, name));
        }
        return Err(UpgradeError::Bundle(BundleError::Manifest(
            "the bundle changed while it was installed".into(),
        )));
    }
    for name in bundle::PAYLOAD {
        std::fs::rename(bundle::partial_path(&dir, name), dir.join(name))?;
    }
    sync_dir(&dir)?;
    write_durable(&dir.join(bundle::MANIFEST_FILE), &again.manifest_bytes)?;
    // 4. The entry that makes systemd-boot try it once.
    let entry = esp::write_trial_entry(boot, slot, generation, &again.manifest)?;
    tracing::info!(slot = %slot, generation, build = %again.manifest.build, "upgrade installed; it boots on the next restart");
    Ok(Installed {
        slot,
        generation,
        version: again.manifest.version.clone(),
        build: again.manifest.build.clone(),
        entry,
    })
}

fn bundle_error(e: BundleError) -> UpgradeError {
    match e {
        BundleError::Io(io) => UpgradeError::Io(io),
        e => UpgradeError::Bundle(e),
    }
}

/// The manifest installed in a slot, if any.
pub fn slot_manifest(boot: &Path, slot: Slot) -> Option<Manifest> {
    let bytes = std::fs::read(esp::slot_dir(boot, slot).join(bundle::MANIFEST_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::bundle::testing;

    /// An ESP with slot a installed (generation 1, blessed).
    pub fn esp_with_slot_a(boot: &Path) {
        std::fs::create_dir_all(boot.join(esp::ENTRIES_DIR)).unwrap();
        let a = esp::slot_dir(boot, Slot::A);
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("vmlinuz"), b"old kernel").unwrap();
        std::fs::write(a.join("initrd.img"), b"old initrd").unwrap();
        let m = testing::manifest_for("old", b"old kernel", b"old initrd");
        std::fs::write(a.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        std::fs::write(
            boot.join(esp::ENTRIES_DIR).join("feedwall-a.conf"),
            esp::entry_text(Slot::A, 1, &m),
        )
        .unwrap();
    }

    fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((
                        p.strip_prefix(dir).unwrap().display().to_string(),
                        std::fs::read(&p).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn installs_into_the_other_slot_with_the_next_generation() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("esp");
        esp_with_slot_a(&boot);
        let b = dir.path().join("u.tar");
        std::fs::write(&b, testing::bundle("new-1", b"new kernel", b"new initrd")).unwrap();
        let before_a = tree(&esp::slot_dir(&boot, Slot::A));
        let i = install(&b, &boot, Some(Slot::A), 1 << 20).unwrap();
        assert_eq!(
            (i.slot, i.generation, i.build.as_str()),
            (Slot::B, 2, "new-1")
        );
        assert!(i.entry.ends_with("loader/entries/feedwall-b+1.conf"));
        let bdir = esp::slot_dir(&boot, Slot::B);
        assert_eq!(std::fs::read(bdir.join("vmlinuz")).unwrap(), b"new kernel");
        assert_eq!(
            std::fs::read(bdir.join("initrd.img")).unwrap(),
            b"new initrd"
        );
        assert_eq!(slot_manifest(&boot, Slot::B).unwrap().build, "new-1");
        assert_eq!(
            tree(&esp::slot_dir(&boot, Slot::A)),
            before_a,
            "booted slot untouched"
        );
        assert!(tree(&bdir).iter().all(|(n, _)| !n.contains("partial")));
        // A second upgrade from the same boot replaces slot b again.
        std::fs::write(&b, testing::bundle("new-2", b"k2", b"i2")).unwrap();
        let i = install(&b, &boot, Some(Slot::A), 1 << 20).unwrap();
        assert_eq!((i.slot, i.generation), (Slot::B, 2));
        let names: Vec<String> = esp::entries(&boot)
            .unwrap()
            .iter()
            .map(|e| e.name.file_name())
            .collect();
        assert_eq!(names, ["feedwall-a.conf", "feedwall-b+1.conf"]);
        // Outside the image: the slot without an entry... or the older one.
        let i = install(&b, &boot, None, 1 << 20).unwrap();
        assert_eq!((i.slot, i.generation), (Slot::A, 3));
    }

    #[test]
    fn a_bad_bundle_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("esp");
        esp_with_slot_a(&boot);
        let before = tree(&boot);
        let mut t = testing::bundle("evil", b"new kernel", b"new initrd");
        let at = t.windows(10).position(|w| w == b"new kernel").unwrap();
        t[at] ^= 0x20;
        let b = dir.path().join("u.tar");
        std::fs::write(&b, t).unwrap();
        let e = install(&b, &boot, Some(Slot::A), 1 << 20).unwrap_err();
        assert!(
            matches!(e, UpgradeError::Bundle(BundleError::Hash { .. })),
            "{e}"
        );
        assert_eq!(tree(&boot), before);
        let e = install(&b, &dir.path().join("nothing"), Some(Slot::A), 1 << 20).unwrap_err();
        assert!(matches!(e, UpgradeError::NotAnEsp(_)), "{e}");
    }
}
