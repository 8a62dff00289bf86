//! Upgrade bundles: an uncompressed tar of exactly `manifest.json`,
//! `vmlinuz` and `initrd.img` (each at most once, as plain files, at the
//! top level; `./name` is accepted, a pax global header is skipped).
//!
//! ```json
//! {"format":1,"version":"0.1.0","build":"<free text id>",
//!  "cmdline":"console=tty0 console=ttyS0,115200 ...",
//!  "files":{"vmlinuz":{"size":N,"sha256":"hex"},"initrd.img":{"size":N,"sha256":"hex"}}}
//! ```
//!
//! A bundle is read in one streaming pass ([`read`]): every payload file is
//! hashed (SHA-256) and counted as it goes by, and only when the whole tar
//! has been read are the sizes and hashes compared with the manifest.
//! When the caller asks for the files to be kept, they are written as
//! `.<name>.partial` files, removed again on any refusal; only the caller
//! renames them into place, after this check.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The bundle format this build reads.
pub const FORMAT: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";
pub const KERNEL_FILE: &str = "vmlinuz";
pub const INITRD_FILE: &str = "initrd.img";
/// The files a bundle carries besides its manifest.
pub const PAYLOAD: [&str; 2] = [KERNEL_FILE, INITRD_FILE];
/// Largest manifest read.
pub const MAX_MANIFEST: u64 = 64 * 1024;
/// Longest kernel command line a manifest may give.
pub const MAX_CMDLINE: usize = 2048;

/// A payload file's expected size and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub size: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The product version (`0.1.0`).
    pub version: String,
    /// The build's free-text id.
    pub build: String,
    /// Kernel command line (the slot parameter is added by the entry).
    pub cmdline: String,
    pub files: BTreeMap<String, FileSum>,
}

/// Why a bundle is refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read the bundle: {0}")]
    Io(#[from] std::io::Error),
    #[error("the bundle is {size} bytes, more than the {cap}-byte limit ([appliance] max_bundle)")]
    TooLarge { size: u64, cap: u64 },
    #[error("the bundle is not a tar archive: {0}")]
    NotTar(String),
    #[error("the bundle holds {0:?}, which is not one of manifest.json, vmlinuz, initrd.img")]
    Unexpected(String),
    #[error("{name:?} in the bundle is a {kind}, not a plain file")]
    NotAFile { name: String, kind: String },
    #[error("the bundle holds {0} twice")]
    Duplicate(&'static str),
    #[error("the bundle has no {0}")]
    Missing(&'static str),
    #[error("manifest.json: {0}")]
    Manifest(String),
    #[error("manifest.json has format {0}; this build reads format {FORMAT}")]
    Format(u32),
    #[error("{name} is {got} bytes; the manifest says {want}")]
    Size {
        name: &'static str,
        want: u64,
        got: u64,
    },
    #[error("{name} does not match its SHA-256 in the manifest (corrupted or tampered with)")]
    Hash { name: &'static str },
}

impl BundleError {
    /// The bundle itself is at fault (not the machine reading it).
    pub fn is_bad_bundle(&self) -> bool {
        !matches!(self, BundleError::Io(_))
    }
}

/// A checked bundle.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    /// The manifest as it was in the bundle (installed unchanged).
    pub manifest_bytes: Vec<u8>,
}

fn text_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.len() <= max && !s.chars().any(|c| c.is_control())
}

impl Manifest {
    /// Parses and checks a manifest (not yet against the files).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, BundleError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Manifest(e.to_string()))?;
        if m.format != FORMAT {
            return Err(BundleError::Format(m.format));
        }
        let bad = |what: &str| Err(BundleError::Manifest(what.to_string()));
        if !text_ok(&m.version, 64)
            || !m
                .version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+-_~".contains(&b))
        {
            return bad("version must be letters, digits and . + - _ ~ (at most 64)");
        }
        if !text_ok(&m.build, 128) {
            return bad("build must be one line of at most 128 characters");
        }
        if !text_ok(&m.cmdline, MAX_CMDLINE) {
            return bad("cmdline must be one line of at most 2048 characters");
        }
        if m.cmdline.contains(super::SLOT_PARAM) {
            return bad("cmdline must not set feedwall.slot= (the boot entry adds it)");
        }
        let names: Vec<&str> = m.files.keys().map(String::as_str).collect();
        if names != [INITRD_FILE, KERNEL_FILE] {
            return bad("files must list exactly vmlinuz and initrd.img");
        }
        for (name, f) in &m.files {
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BundleError::Manifest(format!(
                    "files.{name}.sha256 is not 64 hex digits"
                )));
            }
            if f.size == 0 {
                return Err(BundleError::Manifest(format!("files.{name}.size is 0")));
            }
        }
        Ok(m)
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The temporary name a payload file is written under in `dir`.
pub fn partial_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.partial"))
}

/// What one pass saw of a payload file.
struct Seen {
    size: u64,
    sha256: String,
}

/// Reads and checks the bundle at `path` (at most `cap` bytes). With
/// `keep`, the payload files are left in that directory as
/// `.<name>.partial` (see [`partial_path`]) once everything matched;
/// nothing is left there on a refusal.
pub fn read(path: &Path, cap: u64, keep: Option<&Path>) -> Result<Verified, BundleError> {
    let r = read_inner(path, cap, keep);
    if r.is_err() {
        if let Some(dir) = keep {
            for name in PAYLOAD {
                let _ = std::fs::remove_file(partial_path(dir, name));
            }
        }
    }
    r
}

fn read_inner(path: &Path, cap: u64, keep: Option<&Path>) -> Result<Verified, BundleError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > cap {
        return Err(BundleError::TooLarge { size, cap });
    }
    // The tar's own sizes cannot make it read more than the file holds;
    // `take` makes sure of it anyway.
    let mut archive = tar::Archive::new(std::io::BufReader::new(file).take(cap));
    let mut manifest: Option<Vec<u8>> = None;
    let mut seen: BTreeMap<&'static str, Seen> = BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(|e| BundleError::NotTar(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BundleError::NotTar(e.to_string()))?;
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).chars().take(100).collect();
        let plain = raw.strip_prefix(b"./").unwrap_or(&raw);
        let name = [MANIFEST_FILE, KERNEL_FILE, INITRD_FILE]
            .into_iter()
            .find(|n| n.as_bytes() == plain)
            .ok_or(BundleError::Unexpected(shown))?;
        if !kind.is_file() {
            return Err(BundleError::NotAFile {
                name: name.to_string(),
                kind: format!("{kind:?}").to_ascii_lowercase(),
            });
        }
        if name == MANIFEST_FILE {
            if manifest.is_some() {
                return Err(BundleError::Duplicate(MANIFEST_FILE));
            }
            if entry.size() > MAX_MANIFEST {
                return Err(BundleError::Manifest(format!(
                    "larger than {MAX_MANIFEST} bytes"
                )));
            }
            let mut buf = Vec::new();
            (&mut entry).take(MAX_MANIFEST).read_to_end(&mut buf)?;
            manifest = Some(buf);
            continue;
        }
        if seen.contains_key(name) {
            return Err(BundleError::Duplicate(name));
        }
        let mut out = match keep {
            Some(dir) => Some(std::fs::File::create(partial_path(dir, name))?),
            None => None,
        };
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = entry.read(&mut buf)?;
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
            if let Some(f) = &mut out {
                f.write_all(&buf[..n])?;
            }
            total += n as u64;
        }
        if let Some(f) = out {
            f.sync_all()?;
        }
        seen.insert(
            name,
            Seen {
                size: total,
                sha256: hex(ctx.finish().as_ref()),
            },
        );
    }
    let manifest_bytes = manifest.ok_or(BundleError::Missing(MANIFEST_FILE))?;
    let m = Manifest::parse(&manifest_bytes)?;
    for name in PAYLOAD {
        let got = seen.get(name).ok_or(BundleError::Missing(name))?;
        let want = &m.files[name];
        if got.size != want.size {
            return Err(BundleError::Size {
                name,
                want: want.size,
                got: got.size,
            });
        }
        if !got.sha256.eq_ignore_ascii_case(&want.sha256) {
            return Err(BundleError::Hash { name });
        }
    }
    Ok(Verified {
        manifest: m,
        manifest_bytes,
    })
}

/// Test and tooling helper: a bundle's bytes (a tar of `files`, in order)
/// and a matching manifest for `kernel` and `initrd`.
pub mod testing {
    use super::*;

    /// A manifest for these payload bytes.
    pub fn manifest_for(build: &str, kernel: &[u8], initrd: &[u8]) -> Manifest {
        let sum = |b: &[u8]| FileSum {
            size: b.len() as u64,
            sha256: hex(ring::digest::digest(&ring::digest::SHA256, b).as_ref()),
        };
        Manifest {
            format: FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            build: build.into(),
            cmdline: "console=tty0 console=ttyS0,115200 panic=10".into(),
            files: [
                (KERNEL_FILE.to_string(), sum(kernel)),
                (INITRD_FILE.to_string(), sum(initrd)),
            ]
            .into_iter()
            .collect(),
        }
    }

    /// A ustar archive of `(name, bytes)` regular files.
    pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses `..`; write the name raw so tests can.
            let field = &mut h.as_old_mut().name;
            field.fill(0);
            field[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *bytes).expect("in-memory tar");
        }
        b.into_inner().expect("in-memory tar")
    }

    /// A good bundle.
    pub fn bundle(build: &str, kernel: &[u8], initrd: &[u8]) -> Vec<u8> {
        let m = serde_json::to_vec(&manifest_for(build, kernel, initrd)).expect("json");
        tar_of(&[
            (MANIFEST_FILE, &m),
            (KERNEL_FILE, kernel),
            (INITRD_FILE, initrd),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    const K: &[u8] = b"kernel bytes \x7fELF...";
    const I: &[u8] = b"initramfs bytes 070701...";

    fn check(bytes: &[u8], cap: u64) -> Result<Verified, BundleError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.tar");
        std::fs::write(&p, bytes).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let r = read(&p, cap, Some(&out));
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        match &r {
            Ok(_) => {
                assert_eq!(std::fs::read(partial_path(&out, KERNEL_FILE)).unwrap(), K);
                assert_eq!(std::fs::read(partial_path(&out, INITRD_FILE)).unwrap(), I);
            }
            Err(_) => assert!(left.is_empty(), "a refused bundle leaves nothing"),
        }
        r
    }

    fn manifest_bytes(m: &Manifest) -> Vec<u8> {
        serde_json::to_vec(m).unwrap()
    }

    #[test]
    fn a_good_bundle_verifies() {
        let v = check(&bundle("b42", K, I), 1 << 20).unwrap();
        assert_eq!(v.manifest.build, "b42");
        assert_eq!(Manifest::parse(&v.manifest_bytes).unwrap(), v.manifest);
        // `./name` as `tar -C dir .` writes it, in another order.
        let m = manifest_bytes(&manifest_for("b43", K, I));
        let t = tar_of(&[
            ("./initrd.img", I),
            ("./vmlinuz", K),
            ("./manifest.json", &m),
        ]);
        assert_eq!(check(&t, 1 << 20).unwrap().manifest.build, "b43");
    }

    #[test]
    fn bad_bundles_are_refused_with_the_reason() {
        let m = manifest_for("x", K, I);
        let mb = manifest_bytes(&m);
        // Tampered kernel (same size).
        let mut k2 = K.to_vec();
        k2[0] ^= 1;
        let t = tar_of(&[(MANIFEST_FILE, &mb), (KERNEL_FILE, &k2), (INITRD_FILE, I)]);
        assert!(matches!(
            check(&t, 1 << 20),
            Err(BundleError::Hash { name: "vmlinuz" })
        ));
        // Wrong size.
        let t = tar_of(&[(MANIFEST_FILE, &mb), (KERNEL_FILE, K), (INITRD_FILE, b"x")]);
        assert!(matches!(
            check(&t, 1 << 20),
            Err(BundleError::Size {
                name: "initrd.img",
                ..
            })
        ));
        // An extra file, path tricks, a directory.
        for extra in [
            "extra.txt",
            "../vmlinuz",
            "/vmlinuz",
            "a/vmlinuz",
            "vmlinuz/",
        ] {
            let t = tar_of(&[
                (MANIFEST_FILE, &mb),
                (KERNEL_FILE, K),
                (INITRD_FILE, I),
                (extra, b"x"),
            ]);
            let e = check(&t, 1 << 20).unwrap_err();
            assert!(matches!(e, BundleError::Unexpected(_)), "{extra}: {e}");
        }
        // A symlink named like a payload file.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "vmlinuz", "/etc/shadow").unwrap();
        let t = b.into_inner().unwrap();
        assert!(matches!(
            check(&t, 1 << 20),
            Err(BundleError::NotAFile { .. })
        ));
        // Twice the same file, a missing one.
        let t = tar_of(&[
            (MANIFEST_FILE, &mb),
            (KERNEL_FILE, K),
            (KERNEL_FILE, K),
            (INITRD_FILE, I),
        ]);
        assert!(matches!(
            check(&t, 1 << 20),
            Err(BundleError::Duplicate("vmlinuz"))
        ));
        let t = tar_of(&[(MANIFEST_FILE, &mb), (KERNEL_FILE, K)]);
        assert!(matches!(
            check(&t, 1 << 20),
            Err(BundleError::Missing("initrd.img"))
        ));
        let t = tar_of(&[(KERNEL_FILE, K), (INITRD_FILE, I)]);
        assert!(matches!(
            check(&t, 1 << 20),
            Err(BundleError::Missing("manifest.json"))
        ));
        // Above the cap.
        let good = bundle("x", K, I);
        assert!(matches!(
            check(&good, 1024),
            Err(BundleError::TooLarge { cap: 1024, .. })
        ));
        // Not a tar at all.
        assert!(check(b"PK\x03\x04 zip?", 1 << 20).is_err());
    }

    #[test]
    fn manifests_are_checked() {
        let ok = manifest_for("x", K, I);
        let with = |f: &dyn Fn(&mut Manifest)| {
            let mut m = ok.clone();
            f(&mut m);
            Manifest::parse(&manifest_bytes(&m))
        };
        assert!(with(&|_| {}).is_ok());
        assert!(matches!(
            with(&|m| m.format = 2),
            Err(BundleError::Format(2))
        ));
        assert!(with(&|m| m.build = "a\nb".into()).is_err());
        assert!(with(&|m| m.version = String::new()).is_err());
        assert!(with(&|m| m.cmdline = "quiet feedwall.slot=a".into()).is_err());
        assert!(with(&|m| {
            m.files.remove(INITRD_FILE);
        })
        .is_err());
        assert!(with(&|m| {
            m.files.insert("extra".into(), m.files[KERNEL_FILE].clone());
        })
        .is_err());
        assert!(with(&|m| m.files.get_mut(KERNEL_FILE).unwrap().sha256 = "zz".into()).is_err());
        assert!(Manifest::parse(b"{not json").is_err());
    }
}
