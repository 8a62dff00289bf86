//! The bootable appliance image: the commands its init runs and the A/B
//! upgrade of the EFI system partition (ESP).
//!
//! The image boots from an initramfs (busybox and a static `feedwall`);
//! the data partition is mounted at `/data`, the ESP read-write at `/boot`,
//! `/run` is a tmpfs. Its init runs, in order:
//!
//! 1. [`setup`] (`feedwall appliance setup --data /data`): the data
//!    partition's layout version, the appliance config (written once, never
//!    overwritten) and the operator's first-boot password (kept only on the
//!    tmpfs, never on disk);
//! 2. `feedwall up` on that config, and two [`console`]s (the status screen
//!    on the VT and on the serial port);
//! 3. [`commit`] in the background: once DNS and the admin page are up, it
//!    blesses the booted boot entry, so a trial boot of a new build becomes
//!    the default; a failed trial is recorded and its entry dropped.
//!
//! **Boot slots** ([`esp`]): two slots `a` and `b`, each a directory
//! `/feedwall/<slot>/` on the ESP (kernel, initramfs, manifest) and one
//! systemd-boot entry `loader/entries/feedwall-<slot>[+LEFT[-DONE]].conf`.
//! The entry's `version` is a generation: the newest sorts first. An
//! [`upgrade`] verifies a [`bundle`], writes it into the slot not booted,
//! and gives it an entry with one boot try (`+1`) and the next generation:
//! systemd-boot tries it once; if it never gets blessed, its counter stays
//! at 0 ("bad", sorted last) and the next boot falls back to the old slot.
//!
//! **Invariant**: the booted slot's files and entry are never written. An
//! upgrade removes the target slot's entry before touching its files, so a
//! crash midway leaves no entry pointing at half-written files.

pub mod bundle;
pub mod cli;
pub mod clock;
pub mod commit;
pub mod console;
pub mod esp;
pub mod grow;
pub mod network;
pub mod setup;
pub mod state;
pub mod upgrade;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Where the appliance keeps files that must not outlive a boot (tmpfs).
pub const RUN_DIR: &str = "/run/feedwall";
/// The data partition's mount point.
pub const DATA_DIR: &str = "/data";
/// The operator's appliance settings (network, time servers) on the data
/// partition.
pub const SETTINGS_DIR: &str = "/data/config";
/// The ESP's mount point.
pub const BOOT_DIR: &str = "/boot";
/// The responder's ready file, in the run directory (`up --ready-file`).
pub const DNS_READY_FILE: &str = "dns-ready";
/// One line the image's network script writes in the run directory:
/// `<interface> dhcp` or `<interface> static`.
pub const NETWORK_FILE: &str = "network";
/// The operator's one-time password (`<e-mail> <password>`), mode 0600 in
/// the run directory, until the operator changes it.
pub const OTP_FILE: &str = "operator-password";
/// The feedwall data directory and config, inside the data partition.
pub const FEEDWALL_SUBDIR: &str = "feedwall";
pub const CONFIG_FILE: &str = "feedwall.toml";
/// The kernel command line.
pub const PROC_CMDLINE: &str = "/proc/cmdline";
/// The kernel command line parameter naming the booted slot.
pub const SLOT_PARAM: &str = "feedwall.slot=";

/// A boot slot on the ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The slot named by `feedwall.slot=` on a kernel command line.
pub fn slot_from_cmdline(cmdline: &str) -> Option<Slot> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix(SLOT_PARAM))
        .next_back()
        .and_then(Slot::parse)
}

/// The booted slot: `given` (tests, `--slot`), else the kernel command
/// line's; `None` outside the image.
pub fn booted_slot(given: Option<Slot>) -> Option<Slot> {
    given.or_else(|| {
        std::fs::read_to_string(PROC_CMDLINE)
            .ok()
            .and_then(|c| slot_from_cmdline(&c))
    })
}

/// Paths of the feedwall config and data directory inside a data partition.
pub fn config_path(data: &Path) -> PathBuf {
    data.join(FEEDWALL_SUBDIR).join(CONFIG_FILE)
}

/// Makes a directory's entries (a rename, a new or removed file) durable.
/// FAT may refuse to fsync a directory (EINVAL): its entries are written
/// with the file's own fsync there, so that refusal is no error.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// fsynced, renamed over `path`, and the directory fsynced.
pub fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The size of the file system holding `path` and the room left in it for
/// an unprivileged writer, in bytes.
pub fn fs_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded and filled `st`.
    let st = unsafe { st.assume_init() };
    let unit = st.f_frsize as u64;
    Some((st.f_blocks as u64 * unit, st.f_bavail as u64 * unit))
}

/// Asks the appliance's init to reboot (busybox `reboot`, which signals
/// pid 1). Outside the image (pid 1 is not busybox, or there is no
/// `/sbin/reboot`) it only logs: a test never reboots its machine.
pub fn request_reboot() -> io::Result<()> {
    let reboot = Path::new("/sbin/reboot");
    let init_is_busybox = std::fs::read_link("/proc/1/exe")
        .map(|p| p.to_string_lossy().contains("busybox"))
        .unwrap_or(false);
    if reboot.exists() && init_is_busybox {
        tracing::warn!("rebooting into the new build");
        let status = std::process::Command::new(reboot).status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "{} failed: {status}",
                reboot.display()
            )));
        }
        Ok(())
    } else {
        tracing::warn!("not the appliance image (pid 1 is not busybox init): reboot by hand to start the new build");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_from_the_kernel_command_line() {
        assert_eq!(
            slot_from_cmdline("console=ttyS0 feedwall.slot=b quiet\n"),
            Some(Slot::B)
        );
        assert_eq!(slot_from_cmdline("feedwall.slot=a"), Some(Slot::A));
        assert_eq!(slot_from_cmdline("feedwall.slot=c"), None);
        assert_eq!(slot_from_cmdline("root=/dev/sda1"), None);
        assert_eq!(
            slot_from_cmdline("feedwall.slot=a feedwall.slot=b"),
            Some(Slot::B),
            "the last one wins, as the kernel's own parameters"
        );
        assert_eq!(Slot::A.other(), Slot::B);
    }
}
