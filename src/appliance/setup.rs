//! `feedwall appliance setup`: run by the image's init on every boot,
//! before `feedwall up`. Idempotent.
//!
//! - The data partition's layout version (`appliance.json`): written on
//!   the first boot; an older layout is migrated; a newer one (the data
//!   partition was used by a newer build) is refused, so an old build never
//!   half-understands newer data.
//! - The appliance config (`feedwall/feedwall.toml`), written once and
//!   never overwritten: DNS on port 53 of every address, the admin page on
//!   443, syslog on 514 and SMTP on 25, the embedded demo feeds (so it
//!   serves something offline), accounts created by the operator only, no
//!   configured device (until one is registered, every query is REFUSED).
//! - The operator account. Its first password comes from the seed file
//!   `operator-password.seed` in the data partition when one was put there
//!   (the provisioner chose it: it stays valid, and the file is deleted
//!   once the account is stored); otherwise it is a random one-time
//!   password written only to `<run>/operator-password` (tmpfs, mode 0600)
//!   for the console to show, and only its hash is stored. A reboot before
//!   the first login loses the tmpfs file, so a fresh one-time password is
//!   issued then. A seed file found later resets the operator's password
//!   (physical access to the data partition is the recovery path).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::{config_path, write_durable, FEEDWALL_SUBDIR, OTP_FILE};
use crate::admin::{auth, store::Role, store::Store, store::Tier};
use crate::config::Config;

/// The data partition's layout version file.
pub const LAYOUT_FILE: &str = "appliance.json";
/// The layout this build writes and reads.
pub const LAYOUT: u32 = 1;
/// The operator's provisioned password, in the data partition.
pub const SEED_FILE: &str = "operator-password.seed";
/// Where the demo feed files go, inside the feedwall data directory.
pub const DEMO_FEEDS_DIR: &str = "demo-feeds";

/// Migrations of the data partition: `MIGRATIONS[i]` takes layout `i + 1`
/// to `i + 2`. None yet.
const MIGRATIONS: &[fn(&Path) -> anyhow::Result<()>] = &[];

/// `appliance.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layout {
    pub layout: u32,
    /// Unix time of the first boot.
    #[serde(default)]
    pub created: i64,
    /// Unix time of the last migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated: Option<i64>,
}

/// What `setup` is told.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// The data partition's mount point.
    pub data: PathBuf,
    /// The per-boot directory (tmpfs).
    pub run: PathBuf,
    /// The ESP's mount point, written into a new config.
    pub boot: PathBuf,
    /// Listen on IPv6 too (default: when the kernel has IPv6).
    pub ipv6: bool,
}

/// Checks, creates or migrates the layout version file.
pub fn check_layout(data: &Path) -> anyhow::Result<String> {
    let path = data.join(LAYOUT_FILE);
    let mut layout = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Layout>(&bytes).with_context(|| {
            format!(
                "{} is unreadable; the data partition's layout is unknown (move it away to start afresh)",
                path.display()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let l = Layout {
                layout: LAYOUT,
                created: super::unix_now(),
                migrated: None,
            };
            write_durable(&path, &serde_json::to_vec_pretty(&l)?)?;
            return Ok(format!("data partition: new, layout {LAYOUT}"));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if layout.layout > LAYOUT {
        bail!(
            "the data partition {} has layout {}, newer than this build knows ({LAYOUT}): it was used by a newer feedwall. Boot that build again (or move {} away to start afresh)",
            data.display(),
            layout.layout,
            path.display()
        );
    }
    if layout.layout == 0 {
        bail!("{}: layout 0 is not a valid layout", path.display());
    }
    let from = layout.layout;
    while layout.layout < LAYOUT {
        let step = MIGRATIONS
            .get(layout.layout as usize - 1)
            .with_context(|| format!("no migration from layout {}", layout.layout))?;
        step(data).with_context(|| format!("migrating from layout {}", layout.layout))?;
        layout.layout += 1;
        layout.migrated = Some(super::unix_now());
        write_durable(&path, &serde_json::to_vec_pretty(&layout)?)?;
    }
    Ok(if from == LAYOUT {
        format!("data partition: layout {LAYOUT}")
    } else {
        format!("data partition: migrated from layout {from} to {LAYOUT}")
    })
}

/// The appliance config for a feedwall data directory `dir` (demo feed
/// files in `dir/demo-feeds`).
pub fn config_text(dir: &Path, boot: &Path, ipv6: bool) -> String {
    use std::fmt::Write;
    let mut c = String::new();
    let q = |p: &Path| format!("{:?}", p.display().to_string());
    let _ = writeln!(
        c,
        "# Written by `feedwall appliance setup` on the first boot; never overwritten.\n# Edit it and restart the appliance. Every key and its default: see the\n# feedwall documentation (src/config/mod.rs).\nversion = \"v1\"\ndata_dir = {}\n",
        q(dir)
    );
    let dns: &[&str] = if ipv6 {
        &["0.0.0.0:53", "[::]:53"]
    } else {
        &["0.0.0.0:53"]
    };
    let _ = writeln!(c, "[dns]\nlisten = {dns:?}\n");
    let _ = writeln!(
        c,
        "# Accounts are created by the operator (Operator page); with no device\n# registered, every DNS query is REFUSED.\n[admin]\nlisten = \"0.0.0.0:443\"\nsignup = \"operator\"\n"
    );
    let _ = writeln!(
        c,
        "[logs]\nsyslog_listen = [\"0.0.0.0:514\"]\nsmtp_listen = [\"0.0.0.0:25\"]\n"
    );
    let _ = writeln!(
        c,
        "[appliance]\nboot_dir = {}\nreboot_after_upgrade = true\n",
        q(boot)
    );
    let _ = writeln!(
        c,
        "# The embedded demo feeds, so the appliance serves something offline.\n# Replace them with real feeds (`catalog = [...]` or [[feed]] tables).\n"
    );
    for (list, id, file, format, provider, _) in crate::demo::DEMO_FEEDS {
        let path = dir.join(DEMO_FEEDS_DIR).join(file);
        let _ = writeln!(
            c,
            "[[feed]]\nid = {id:?}\nname = \"demo {list} feed\"\nurl = \"file://{}\"\nformat = {format:?}\nperiod = \"1h\"\nprovider = {provider:?}\ncategory = {list:?}\n",
            path.display()
        );
    }
    for (list, id, ..) in crate::demo::DEMO_FEEDS {
        let _ = writeln!(
            c,
            "[[list]]\nname = {list:?}\nfeeds = [{id:?}]\ncapacity = 4\n"
        );
    }
    c
}

/// Writes the per-boot one-time password file (mode 0600).
fn write_otp(run: &Path, email: &str, password: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(run).with_context(|| format!("cannot create {}", run.display()))?;
    let path = run.join(OTP_FILE);
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(f, "{email} {password}")?;
    Ok(())
}

/// Reads the seed file: its trimmed password, or `None` when absent.
fn read_seed(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let pw = t.trim();
            if pw.is_empty() || pw.chars().count() > auth::MAX_PASSWORD_LEN {
                bail!(
                    "{}: the seeded operator password must be 1 to {} characters",
                    path.display(),
                    auth::MAX_PASSWORD_LEN
                );
            }
            Ok(Some(pw.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Makes sure the operator account exists with a password someone can
/// know (see the module docs). Returns what it did.
pub fn ensure_operator(cfg: &Config, data: &Path, run: &Path) -> anyhow::Result<String> {
    let store = Store::open(&cfg.data_dir.join(crate::admin::DB_FILE))
        .context("cannot open the admin database")?;
    let email = &cfg.admin.operator_email;
    let seed_path = data.join(SEED_FILE);
    let seed = read_seed(&seed_path)?;
    let existing = store.operator_account(email)?;
    let otp_path = run.join(OTP_FILE);
    let consume_seed = || -> anyhow::Result<()> {
        std::fs::remove_file(&seed_path)
            .with_context(|| format!("cannot remove {}", seed_path.display()))?;
        super::sync_dir(data)?;
        let _ = std::fs::remove_file(&otp_path);
        Ok(())
    };
    match (existing, seed) {
        (None, Some(pw)) => {
            store.create_account(
                email,
                &auth::hash_password(&pw),
                Role::Operator,
                Tier::Advanced,
                false,
            )?;
            consume_seed()?;
            Ok(format!(
                "operator {email}: created with the password from {SEED_FILE} (file removed)"
            ))
        }
        (None, None) => {
            let pw = crate::admin::operator::one_time_password(email);
            store.create_account(
                email,
                &auth::hash_password(&pw),
                Role::Operator,
                Tier::Advanced,
                true,
            )?;
            write_otp(run, email, &pw)?;
            Ok(format!(
                "operator {email}: created with a one-time password (on the console; {})",
                otp_path.display()
            ))
        }
        (Some(a), Some(pw)) => {
            store.set_password(a.id, &auth::hash_password(&pw), None)?;
            consume_seed()?;
            Ok(format!(
                "operator {}: password reset from {SEED_FILE} (file removed)",
                a.email
            ))
        }
        (Some(a), None) if a.must_change_password && !otp_path.is_file() => {
            let pw = crate::admin::operator::one_time_password(&a.email);
            store.set_one_time_password(a.id, &auth::hash_password(&pw))?;
            write_otp(run, &a.email, &pw)?;
            Ok(format!(
                "operator {}: password still unchanged; a new one-time password is on the console",
                a.email
            ))
        }
        (Some(a), None) if a.must_change_password => Ok(format!(
            "operator {}: one-time password pending (on the console)",
            a.email
        )),
        (Some(a), None) => Ok(format!("operator {}: password set", a.email)),
    }
}

/// The whole of `setup`; returns one line per step.
pub fn run(o: &SetupOptions) -> anyhow::Result<Vec<String>> {
    let mut said = Vec::new();
    std::fs::create_dir_all(&o.data)
        .with_context(|| format!("cannot create {}", o.data.display()))?;
    said.push(check_layout(&o.data)?);
    let dir = o.data.join(FEEDWALL_SUBDIR);
    std::fs::create_dir_all(dir.join(DEMO_FEEDS_DIR))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // The demo feed files are the binary's: refreshed on every boot.
    for (_, _, file, _, _, text) in crate::demo::DEMO_FEEDS {
        let path = dir.join(DEMO_FEEDS_DIR).join(file);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            write_durable(&path, text.as_bytes())?;
        }
    }
    let cfg_path = config_path(&o.data);
    if cfg_path.exists() {
        said.push(format!("config: {} (kept)", cfg_path.display()));
    } else {
        let text = config_text(&dir, &o.boot, o.ipv6);
        Config::from_text(&text, "generated appliance config")
            .context("the generated config does not load (a bug)")?;
        write_durable(&cfg_path, text.as_bytes())?;
        said.push(format!("config: {} (written)", cfg_path.display()));
    }
    let cfg = Config::load(&cfg_path)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    said.push(ensure_operator(&cfg, &o.data, &o.run)?);
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> SetupOptions {
        SetupOptions {
            data: dir.join("data"),
            run: dir.join("run"),
            boot: dir.join("boot"),
            ipv6: true,
        }
    }

    fn otp(run: &Path) -> String {
        let t = std::fs::read_to_string(run.join(OTP_FILE)).unwrap();
        t.split_whitespace().nth(1).unwrap().to_string()
    }

    /// Every file under `dir`, searched for `needle`.
    fn found_in_files(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
        let mut hits = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if std::fs::read(&p)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle)
                {
                    hits.push(p);
                }
            }
        }
        hits
    }

    #[test]
    fn first_boot_then_idempotent_with_no_plaintext_on_disk() {
        let t = tempfile::tempdir().unwrap();
        let o = opts(t.path());
        let said = run(&o).unwrap();
        assert!(said.iter().any(|l| l.contains("(written)")), "{said:?}");
        let cfg_path = config_path(&o.data);
        let cfg = Config::load(&cfg_path).unwrap();
        assert_eq!(cfg.data_dir, o.data.join("feedwall"));
        assert_eq!(cfg.dns.listen.len(), 2);
        assert_eq!(cfg.admin.listen.port(), 443);
        assert_eq!(cfg.admin.signup, crate::config::Signup::OperatorOnly);
        assert_eq!(cfg.logs.syslog_listen[0].port(), 514);
        assert_eq!(cfg.logs.smtp_listen[0].port(), 25);
        assert!(cfg.devices.is_empty());
        assert_eq!(cfg.lists.len(), crate::demo::DEMO_FEEDS.len());
        assert_eq!(cfg.appliance.boot_dir.as_deref(), Some(o.boot.as_path()));
        assert!(cfg.appliance.reboot_after_upgrade);
        for f in &cfg.feeds {
            let path = f.url.strip_prefix("file://").unwrap();
            assert!(Path::new(path).is_file(), "{path}");
        }
        // The one-time password: on the tmpfs only, 0600, hashed in the DB.
        let pw = otp(&o.run);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(o.run.join(OTP_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(found_in_files(&o.data, pw.as_bytes()).is_empty());
        let store = Store::open(&cfg.data_dir.join(crate::admin::DB_FILE)).unwrap();
        let (acct, hash) = store
            .account_by_email(&cfg.admin.operator_email)
            .unwrap()
            .unwrap();
        assert!(acct.must_change_password && auth::verify_password(&pw, &hash));
        // The admin's own first start creates nothing and writes no file.
        assert!(crate::admin::ensure_operator(&store, &cfg)
            .unwrap()
            .is_none());
        assert!(!cfg
            .data_dir
            .join(crate::admin::FIRST_PASSWORD_FILE)
            .exists());
        drop(store);
        // Again, same boot: nothing changes; the config is kept.
        std::fs::write(
            &cfg_path,
            std::fs::read_to_string(&cfg_path).unwrap() + "# mine\n",
        )
        .unwrap();
        let said = run(&o).unwrap();
        assert!(said.iter().any(|l| l.contains("(kept)")), "{said:?}");
        assert!(std::fs::read_to_string(&cfg_path)
            .unwrap()
            .ends_with("# mine\n"));
        assert_eq!(otp(&o.run), pw);
        // A reboot before the first login (the tmpfs is empty): a new one.
        std::fs::remove_dir_all(&o.run).unwrap();
        run(&o).unwrap();
        let pw2 = otp(&o.run);
        assert_ne!(pw2, pw);
        let store = Store::open(&cfg.data_dir.join(crate::admin::DB_FILE)).unwrap();
        let (acct, hash) = store
            .account_by_email(&cfg.admin.operator_email)
            .unwrap()
            .unwrap();
        assert!(acct.must_change_password && auth::verify_password(&pw2, &hash));
        assert!(!auth::verify_password(&pw, &hash));
        // Once changed, a reboot issues nothing new.
        store
            .set_password(acct.id, &auth::hash_password("x"), None)
            .unwrap();
        drop(store);
        std::fs::remove_dir_all(&o.run).unwrap();
        let said = run(&o).unwrap();
        assert!(!o.run.join(OTP_FILE).exists(), "{said:?}");
    }

    #[test]
    fn a_seed_file_sets_the_password_and_is_consumed() {
        let t = tempfile::tempdir().unwrap();
        let o = opts(t.path());
        std::fs::create_dir_all(&o.data).unwrap();
        std::fs::write(o.data.join(SEED_FILE), "  Seeded-Password-42 \n").unwrap();
        run(&o).unwrap();
        assert!(!o.data.join(SEED_FILE).exists());
        assert!(!o.run.join(OTP_FILE).exists());
        let cfg = Config::load(&config_path(&o.data)).unwrap();
        let check = |pw: &str| {
            let store = Store::open(&cfg.data_dir.join(crate::admin::DB_FILE)).unwrap();
            let (acct, hash) = store
                .account_by_email(&cfg.admin.operator_email)
                .unwrap()
                .unwrap();
            assert!(!acct.must_change_password);
            assert!(auth::verify_password(pw, &hash));
        };
        check("Seeded-Password-42");
        assert!(found_in_files(&o.data, b"Seeded-Password-42").is_empty());
        // Survives reboots; a later seed resets it.
        let _ = std::fs::remove_dir_all(&o.run);
        run(&o).unwrap();
        check("Seeded-Password-42");
        std::fs::write(o.data.join(SEED_FILE), "Another-Seed-77\n").unwrap();
        run(&o).unwrap();
        check("Another-Seed-77");
        assert!(!o.data.join(SEED_FILE).exists());
        // An empty seed is refused, and kept for the operator to see.
        std::fs::write(o.data.join(SEED_FILE), "\n").unwrap();
        assert!(run(&o).unwrap_err().to_string().contains(SEED_FILE));
    }

    #[test]
    fn a_newer_layout_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let o = opts(t.path());
        std::fs::create_dir_all(&o.data).unwrap();
        std::fs::write(
            o.data.join(LAYOUT_FILE),
            format!("{{\"layout\":{},\"created\":1}}", LAYOUT + 1),
        )
        .unwrap();
        let e = run(&o).unwrap_err().to_string();
        assert!(e.contains("newer than this build knows"), "{e}");
        assert!(!config_path(&o.data).exists(), "nothing written");
        std::fs::write(o.data.join(LAYOUT_FILE), "garbage").unwrap();
        assert!(run(&o).unwrap_err().to_string().contains("unreadable"));
        std::fs::write(o.data.join(LAYOUT_FILE), "{\"layout\":1}").unwrap();
        assert!(check_layout(&o.data).unwrap().contains("layout 1"));
    }

    #[test]
    fn the_config_without_ipv6_listens_on_ipv4_only() {
        let text = config_text(Path::new("/data/feedwall"), Path::new("/boot"), false);
        let cfg = Config::from_text(&text, "t").unwrap();
        assert_eq!(
            cfg.dns.listen,
            vec!["0.0.0.0:53".parse::<std::net::SocketAddr>().unwrap()]
        );
    }
}
