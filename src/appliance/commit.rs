//! `feedwall appliance commit`: blesses the booted entry once the
//! services are up, so a trial boot of a new build becomes the default.
//!
//! "Up" means: the responder's ready file (tmpfs: written this boot)
//! exists and names a live process, and (unless the admin page is off) the
//! address of the admin URL file accepts a TCP connection. Until then nothing
//! is changed; after the timeout the command fails (exit status 1) and the
//! image's init reboots a trial boot, so systemd-boot falls back.
//!
//! After blessing: an entry of the other slot with no tries left and a
//! newer generation than ours failed its trial: that is recorded ("upgrade
//! to Y failed, rolled back to X", Y and X the builds) and its entry
//! removed. A blessed trial with an older entry beside it was an upgrade
//! that worked, and is recorded too.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::state::{ApplianceState, Outcome, Record};
use super::{console, esp, upgrade, Slot};
use crate::config::Config;

/// Default time the services get to come up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Pause between checks.
const POLL: Duration = Duration::from_secs(1);

/// What `commit` is told.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    pub boot: PathBuf,
    pub data: PathBuf,
    pub run: PathBuf,
    pub timeout: Duration,
    /// The booted slot (tests); default: the kernel command line's.
    pub slot: Option<Slot>,
}

/// What is still missing, or `None` when the services are up.
fn missing(run: &Path, data: &Path, admin: bool) -> Option<String> {
    if !console::dns_ready(run) {
        return Some(format!(
            "the responder's ready file {}",
            run.join(super::DNS_READY_FILE).display()
        ));
    }
    if !admin {
        return None;
    }
    // The URL file may be left from the last boot: only a connection
    // tells that the admin page listens now (its file's time would not:
    // the clock may be set during the boot).
    let url_file = data.join(crate::admin::URL_FILE);
    let addr = std::fs::read_to_string(&url_file)
        .ok()
        .and_then(|u| console::url_addr(&u));
    match addr {
        Some(a) => {
            let target = if a.ip().is_unspecified() {
                let lo: std::net::IpAddr = if a.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                };
                SocketAddr::new(lo, a.port())
            } else {
                a
            };
            match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                Ok(_) => None,
                Err(e) => Some(format!("the admin page at {target} ({e})")),
            }
        }
        None => Some(format!("the admin URL file {}", url_file.display())),
    }
}

fn build_of(boot: &Path, slot: Slot, fallback: &str) -> String {
    upgrade::slot_manifest(boot, slot)
        .map(|m| m.build)
        .unwrap_or_else(|| fallback.to_string())
}

/// Waits for the services, then blesses; returns one line per action.
pub fn run(o: &CommitOptions) -> anyhow::Result<Vec<String>> {
    let slot = super::booted_slot(o.slot).context(
        "no feedwall.slot= on the kernel command line: not booted from a feedwall boot entry",
    )?;
    let (data_dir, admin) = match Config::load(&super::config_path(&o.data)) {
        Ok(c) => (c.data_dir, c.admin.enabled),
        Err(e) => {
            tracing::warn!(error = %e, "cannot load the appliance config; waiting with defaults");
            (o.data.join(super::FEEDWALL_SUBDIR), true)
        }
    };
    let deadline = Instant::now() + o.timeout;
    loop {
        match missing(&o.run, &data_dir, admin) {
            None => break,
            Some(what) if Instant::now() >= deadline => bail!(
                "the services did not come up within {}s: no {what}; the boot entry stays on trial",
                o.timeout.as_secs()
            ),
            Some(_) => std::thread::sleep(POLL),
        }
    }
    let mut said = Vec::new();
    let ours_build = build_of(&o.boot, slot, "unknown");
    let blessed = esp::bless(&o.boot, slot)
        .with_context(|| format!("cannot bless the boot entry of slot {slot}"))?;
    let entries = esp::entries(&o.boot)?;
    let ours = esp::slot_entry(&entries, slot)
        .map(|e| e.version)
        .unwrap_or(0);
    let other = esp::slot_entry(&entries, slot.other()).cloned();
    match &blessed {
        Some((from, to)) => {
            said.push(format!(
                "blessed slot {slot} (build {ours_build}): {} -> {}",
                from.display(),
                to.display()
            ));
            if other.as_ref().is_some_and(|e| e.version < ours) {
                let message = format!("upgraded to build {ours_build} (slot {slot})");
                ApplianceState::record(
                    &data_dir,
                    Record {
                        at: super::unix_now(),
                        outcome: Outcome::Succeeded,
                        build: ours_build.clone(),
                        slot: slot.to_string(),
                        message: message.clone(),
                    },
                )?;
                said.push(message);
            }
        }
        None => said.push(format!(
            "slot {slot} (build {ours_build}) was blessed already"
        )),
    }
    if let Some(e) = other.filter(|e| e.name.is_bad() && e.version > ours) {
        let failed = build_of(&o.boot, slot.other(), &e.title);
        let message = format!("upgrade to {failed} failed, rolled back to {ours_build}");
        ApplianceState::record(
            &data_dir,
            Record {
                at: super::unix_now(),
                outcome: Outcome::RolledBack,
                build: failed,
                slot: slot.other().to_string(),
                message: message.clone(),
            },
        )?;
        for p in esp::remove_slot_entries(&o.boot, slot.other())? {
            said.push(format!("removed the failed entry {}", p.display()));
        }
        said.push(message);
    }
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::bundle::testing;

    fn esp(boot: &Path, entries: &[(&str, Slot, u64, &str)]) {
        std::fs::create_dir_all(boot.join(esp::ENTRIES_DIR)).unwrap();
        for (name, slot, version, build) in entries {
            let m = testing::manifest_for(build, b"k", b"i");
            let dir = esp::slot_dir(boot, *slot);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
            std::fs::write(
                boot.join(esp::ENTRIES_DIR).join(name),
                esp::entry_text(*slot, *version, &m),
            )
            .unwrap();
        }
    }

    /// Services "up": a ready file naming this process, an admin URL file
    /// with a listening address.
    fn up(root: &Path) -> (CommitOptions, std::net::TcpListener) {
        let run = root.join("run");
        let data = root.join("data");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::create_dir_all(data.join("feedwall")).unwrap();
        std::fs::write(
            run.join(crate::appliance::DNS_READY_FILE),
            format!("{{\"pid\":{}}}", std::process::id()),
        )
        .unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std::fs::write(
            data.join("feedwall").join(crate::admin::URL_FILE),
            format!("https://{}/", l.local_addr().unwrap()),
        )
        .unwrap();
        (
            CommitOptions {
                boot: root.join("boot"),
                data,
                run,
                timeout: Duration::from_secs(5),
                slot: Some(Slot::B),
            },
            l,
        )
    }

    fn names(boot: &Path) -> Vec<String> {
        esp::entries(boot)
            .unwrap()
            .iter()
            .map(|e| e.name.file_name())
            .collect()
    }

    #[test]
    fn a_trial_boot_is_blessed_and_recorded() {
        let t = tempfile::tempdir().unwrap();
        let (o, _l) = up(t.path());
        esp(
            &o.boot,
            &[
                ("feedwall-a.conf", Slot::A, 1, "old"),
                ("feedwall-b+0-1.conf", Slot::B, 2, "new"),
            ],
        );
        let said = run(&o).unwrap();
        assert_eq!(names(&o.boot), ["feedwall-a.conf", "feedwall-b.conf"]);
        assert!(said[0].contains("blessed slot b (build new)"), "{said:?}");
        let s = ApplianceState::load(&o.data.join("feedwall"));
        assert_eq!(s.last().unwrap().message, "upgraded to build new (slot b)");
        // Again: nothing to do.
        let said = run(&o).unwrap();
        assert!(said[0].contains("blessed already"), "{said:?}");
        assert_eq!(
            ApplianceState::load(&o.data.join("feedwall"))
                .upgrades
                .len(),
            1
        );
    }

    #[test]
    fn a_failed_trial_of_the_other_slot_is_rolled_back() {
        let t = tempfile::tempdir().unwrap();
        let (mut o, _l) = up(t.path());
        o.slot = Some(Slot::A);
        esp(
            &o.boot,
            &[
                ("feedwall-a.conf", Slot::A, 1, "old"),
                ("feedwall-b+0-1.conf", Slot::B, 2, "broken"),
            ],
        );
        let said = run(&o).unwrap();
        assert_eq!(names(&o.boot), ["feedwall-a.conf"]);
        let s = ApplianceState::load(&o.data.join("feedwall"));
        assert_eq!(
            s.last().unwrap().message,
            "upgrade to broken failed, rolled back to old"
        );
        assert!(
            said.iter().any(|l| l.contains("removed the failed entry")),
            "{said:?}"
        );
    }

    #[test]
    fn no_bless_until_the_services_are_up() {
        let t = tempfile::tempdir().unwrap();
        let (mut o, l) = up(t.path());
        esp(&o.boot, &[("feedwall-b+0-1.conf", Slot::B, 1, "new")]);
        drop(l);
        o.timeout = Duration::from_secs(1);
        let e = run(&o).unwrap_err().to_string();
        assert!(e.contains("admin page"), "{e}");
        std::fs::remove_file(o.run.join(crate::appliance::DNS_READY_FILE)).unwrap();
        let e = run(&o).unwrap_err().to_string();
        assert!(e.contains("ready file"), "{e}");
        assert_eq!(names(&o.boot), ["feedwall-b+0-1.conf"], "still on trial");
    }
}
