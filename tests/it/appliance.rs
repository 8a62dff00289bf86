//! The appliance image's Rust side against the real binary: an upgrade
//! uploaded over HTTPS by the operator into a temp directory laid out
//! like the ESP (slot a installed), refused for a tampered or oversized
//! bundle, a subscriber and no login; `appliance commit` blessing a trial
//! entry; `appliance setup` and `console --once`.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use feedwall::appliance::bundle::testing;

use super::admin_harness::{Client, Options, Resp, System};
use super::harness::{bin, tempdir};

const BOUNDARY: &str = "feedwall-appliance-boundary-71c3";

/// The upgrade form's body: CSRF field, then the bundle.
fn form(csrf: &str, bundle: &[u8]) -> (String, Vec<u8>) {
    let mut b = Vec::new();
    write!(
        b,
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"feedwall-upgrade.tar\"\r\nContent-Type: application/x-tar\r\n\r\n"
    )
    .unwrap();
    b.extend_from_slice(bundle);
    write!(b, "\r\n--{BOUNDARY}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={BOUNDARY}"), b)
}

/// An ESP with systemd-boot, slot a installed and blessed (generation 1).
fn esp(boot: &Path) {
    for d in ["EFI/BOOT", "loader/entries", "feedwall/a"] {
        std::fs::create_dir_all(boot.join(d)).unwrap();
    }
    std::fs::write(boot.join("EFI/BOOT/BOOTX64.EFI"), b"systemd-boot").unwrap();
    std::fs::write(boot.join("loader/loader.conf"), "timeout 0\neditor no\n").unwrap();
    let m = testing::manifest_for("old-1", b"old kernel", b"old initrd");
    std::fs::write(boot.join("feedwall/a/vmlinuz"), b"old kernel").unwrap();
    std::fs::write(boot.join("feedwall/a/initrd.img"), b"old initrd").unwrap();
    std::fs::write(
        boot.join("feedwall/a/manifest.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    std::fs::write(
        boot.join("loader/entries/feedwall-a.conf"),
        "title feedwall 0.1.0 (build old-1)\nsort-key feedwall\nversion 1\nlinux /feedwall/a/vmlinuz\ninitrd /feedwall/a/initrd.img\noptions console=ttyS0 feedwall.slot=a\n",
    )
    .unwrap();
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

fn post_tar(c: &mut Client, bundle: &[u8]) -> Resp {
    c.send(
        "POST",
        "/api/appliance/upgrade",
        Some(("application/x-tar", bundle.to_vec())),
        true,
    )
}

#[test]
fn upgrade_over_https_by_the_operator_only() {
    let espdir = tempdir();
    let boot = espdir.path().to_path_buf();
    esp(&boot);
    let sys = System::start(Options {
        extra: format!(
            "[appliance]\nboot_dir = {:?}\nmax_bundle = \"1MiB\"\n",
            boot.display().to_string()
        ),
        ..Options::default()
    });
    let good = testing::bundle("new-2", b"new kernel bytes", b"new initrd bytes");
    let before = tree(&boot);

    // No login: 401 on the API, the login page for the form.
    let mut anon = sys.client();
    assert_eq!(post_tar(&mut anon, &good).status, 401);
    anon.get("/api/appliance").expect_status(401);
    let (ct, body) = form("x", &good);
    let r = anon.send(
        "POST",
        "/operator/appliance/upgrade",
        Some((&ct, body)),
        false,
    );
    assert_eq!((r.status, r.location().as_str()), (303, "/login"));
    // A subscriber: 403.
    let mut sub = sys.signup("appliance-sub@example.com");
    assert_eq!(post_tar(&mut sub, &good).status, 403, "subscriber");
    sub.get("/api/appliance").expect_status(403);
    let csrf = sub.csrf.clone().unwrap();
    let (ct, body) = form(&csrf, &good);
    let r = sub.send(
        "POST",
        "/operator/appliance/upgrade",
        Some((&ct, body)),
        false,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(tree(&boot), before, "nothing written");

    let mut op = sys.operator();
    let page = op.get("/operator");
    page.expect_status(200);
    assert!(
        page.body.contains("id=\"appliance\"") && page.body.contains("old-1"),
        "{}",
        page.body
    );
    let status = op.get("/api/appliance").json();
    assert_eq!(status["slots"][0]["state"], "default", "{status}");
    assert_eq!(status["slots"][1]["state"], "empty", "{status}");

    // A tampered bundle: a clear 400, nothing written, no spool left.
    let mut bad = good.clone();
    let at = bad
        .windows(16)
        .position(|w| w == b"new kernel bytes")
        .unwrap();
    bad[at] = b'N';
    let r = post_tar(&mut op, &bad);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"].as_str().unwrap().contains("SHA-256"),
        "{}",
        r.body
    );
    // An extra file and a path trick.
    let m = serde_json::to_vec(&testing::manifest_for("x", b"k", b"i")).unwrap();
    for extra in ["evil.sh", "../vmlinuz"] {
        let t = testing::tar_of(&[
            ("manifest.json", &m),
            ("vmlinuz", b"k"),
            ("initrd.img", b"i"),
            (extra, b"x"),
        ]);
        let r = post_tar(&mut op, &t);
        assert_eq!(r.status, 400, "{extra}: {}", r.body);
    }
    // Above [appliance] max_bundle.
    let r = post_tar(&mut op, &vec![0u8; (1 << 20) + 4096]);
    assert_eq!(r.status, 413, "{}", r.body);
    // A session without the CSRF header.
    let r = op.send(
        "POST",
        "/api/appliance/upgrade",
        Some(("application/x-tar", good.clone())),
        false,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(tree(&boot), before, "refused bundles write nothing");
    let spool = sys.data.join("upgrade-spool");
    assert!(
        std::fs::read_dir(&spool)
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "spool files removed"
    );

    // The form: installed into slot b with generation 2.
    op.get("/operator").expect_status(200);
    let csrf = op.csrf.clone().unwrap();
    let (ct, body) = form(&csrf, &good);
    let r = op.send(
        "POST",
        "/operator/appliance/upgrade",
        Some((&ct, body)),
        false,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("build new-2 installed in slot b"),
        "{}",
        r.body
    );
    assert_eq!(
        std::fs::read(boot.join("feedwall/b/vmlinuz")).unwrap(),
        b"new kernel bytes"
    );
    assert_eq!(
        std::fs::read(boot.join("feedwall/b/initrd.img")).unwrap(),
        b"new initrd bytes"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(boot.join("feedwall/b/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["build"], "new-2");
    let entry = std::fs::read_to_string(boot.join("loader/entries/feedwall-b+1.conf")).unwrap();
    assert!(entry.contains("\nversion 2\n"), "{entry}");
    assert!(entry.contains("linux /feedwall/b/vmlinuz\n"), "{entry}");
    assert!(entry.contains("initrd /feedwall/b/initrd.img\n"), "{entry}");
    assert!(
        entry.contains("options console=tty0 console=ttyS0,115200 panic=10 feedwall.slot=b\n"),
        "{entry}"
    );
    // Slot a and systemd-boot untouched.
    let a_files: Vec<_> = before
        .iter()
        .filter(|(p, _)| !p.starts_with("feedwall/b"))
        .cloned()
        .collect();
    let now: Vec<_> = tree(&boot)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("feedwall/b") && !p.ends_with("feedwall-b+1.conf"))
        .collect();
    assert_eq!(now, a_files);
    let status = op.get("/api/appliance").json();
    assert_eq!(status["slots"][1]["state"], "on trial", "{status}");
    assert_eq!(status["slots"][1]["build"], "new-2", "{status}");
    assert!(
        status["last_upgrade"]
            .as_str()
            .unwrap()
            .contains("new-2 installed in slot b"),
        "{status}"
    );
    // The API with a token: outside the image (no feedwall.slot=) the
    // older slot, a, is next; generation 3.
    let tok = op.json(
        "POST",
        "/api/tokens",
        Some(serde_json::json!({"name": "upgrade"})),
    );
    tok.expect_status(201);
    let secret = tok.json()["secret"].as_str().unwrap().to_string();
    let mut api = sys.client();
    api.bearer = Some(secret);
    let r = post_tar(
        &mut api,
        &testing::bundle("new-3", b"kernel three", b"initrd three"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(
        (
            j["slot"].as_str(),
            j["generation"].as_u64(),
            j["entry"].as_str()
        ),
        (Some("a"), Some(3), Some("feedwall-a+1.conf")),
        "{j}"
    );
    assert_eq!(j["reboot"], false);
    assert!(!boot.join("loader/entries/feedwall-a.conf").exists());
}

/// Services that look up: a ready file naming this process and an admin
/// URL file pointing at a listening socket.
fn services_up(root: &Path) -> (PathBuf, PathBuf, TcpListener) {
    let run = root.join("run");
    let data = root.join("data");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::create_dir_all(data.join("feedwall")).unwrap();
    std::fs::write(
        run.join("dns-ready"),
        format!(
            "{{\"listen\":[],\"serial\":1,\"pid\":{}}}",
            std::process::id()
        ),
    )
    .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(
        data.join("feedwall/admin-url"),
        format!("https://{}/", l.local_addr().unwrap()),
    )
    .unwrap();
    (run, data, l)
}

#[test]
fn commit_blesses_the_booted_trial_entry() {
    let dir = tempdir();
    let boot = dir.path().join("boot");
    esp(&boot);
    // Slot b was upgraded and systemd-boot counted its one try.
    std::fs::create_dir_all(boot.join("feedwall/b")).unwrap();
    let m = testing::manifest_for("new-2", b"k", b"i");
    std::fs::write(
        boot.join("feedwall/b/manifest.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    std::fs::write(
        boot.join("loader/entries/feedwall-b+0-1.conf"),
        "title feedwall 0.1.0 (build new-2)\nsort-key feedwall\nversion 2\nlinux /feedwall/b/vmlinuz\ninitrd /feedwall/b/initrd.img\noptions console=ttyS0 feedwall.slot=b\n",
    )
    .unwrap();
    let run_commit = |run: &Path, data: &Path, timeout: &str| {
        Command::new(bin())
            .args(["appliance", "commit", "--slot", "b", "--timeout", timeout])
            .arg("--boot")
            .arg(&boot)
            .arg("--data")
            .arg(data)
            .arg("--run")
            .arg(run)
            .output()
            .unwrap()
    };
    // Services not up: exit status 1, still on trial.
    let out = run_commit(&dir.path().join("norun"), &dir.path().join("nodata"), "1s");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not come up"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(boot.join("loader/entries/feedwall-b+0-1.conf").is_file());

    let (run, data, _l) = services_up(dir.path());
    let out = run_commit(&run, &data, "30s");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("blessed slot b (build new-2)"), "{stdout}");
    assert!(!boot.join("loader/entries/feedwall-b+0-1.conf").exists());
    let blessed = std::fs::read_to_string(boot.join("loader/entries/feedwall-b.conf")).unwrap();
    assert!(blessed.contains("version 2"), "{blessed}");
    assert!(boot.join("loader/entries/feedwall-a.conf").is_file());
    let state = std::fs::read_to_string(data.join("feedwall/appliance-state.json")).unwrap();
    assert!(
        state.contains("upgraded to build new-2 (slot b)"),
        "{state}"
    );
}

#[test]
fn setup_then_the_console_shows_the_one_time_password() {
    let dir = tempdir();
    let (data, run, boot) = (
        dir.path().join("data"),
        dir.path().join("run"),
        dir.path().join("boot"),
    );
    esp(&boot);
    let setup = || {
        Command::new(bin())
            .args(["appliance", "setup"])
            .arg("--data")
            .arg(&data)
            .arg("--run")
            .arg(&run)
            .arg("--boot")
            .arg(&boot)
            .output()
            .unwrap()
    };
    let out = setup();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(setup().status.success(), "idempotent");
    let otp = std::fs::read_to_string(run.join("operator-password")).unwrap();
    let pw = otp.split_whitespace().nth(1).unwrap().to_string();
    let out = Command::new(bin())
        .args(["appliance", "console", "--once", "--slot", "a"])
        .arg("--data")
        .arg(&data)
        .arg("--run")
        .arg(&run)
        .arg("--boot")
        .arg(&boot)
        .output()
        .unwrap();
    let block = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{block}");
    assert!(block.starts_with("== feedwall status ==\n"), "{block}");
    assert!(block.contains("slot a build old-1"), "{block}");
    assert!(
        block.contains(&format!("one-time password: {pw} ")),
        "{block}"
    );
    assert!(block.contains("DNS: starting"), "{block}");
    // The generated config loads, and the data partition is versioned.
    let cfg = std::fs::read_to_string(data.join("feedwall/feedwall.toml")).unwrap();
    assert!(
        cfg.contains("boot_dir = ") && !cfg.contains("[[device]]"),
        "{cfg}"
    );
    assert!(data.join("appliance.json").is_file());
}

/// `sfdisk --json` of an image: (start, size) in sectors per partition.
fn partitions(img: &Path) -> Vec<(u64, u64)> {
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(img)
        .output()
        .expect("sfdisk (package fdisk; tests/run-all.sh installs it)");
    assert!(
        out.status.success(),
        "sfdisk --json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_u64().unwrap(), p["size"].as_u64().unwrap()))
        .collect()
}

/// `sfdisk --verify`'s verdict and everything it said.
fn verify(img: &Path) -> (bool, String) {
    let out = Command::new("sfdisk")
        .arg("--verify")
        .arg(img)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && !said.to_lowercase().contains("mismatch"),
        said,
    )
}

#[test]
fn grow_table_moves_the_backup_to_the_new_end_and_extends_the_data_partition() {
    use feedwall::appliance::grow::grow_table;
    use std::fs::OpenOptions;
    use std::io::{Read, Seek, SeekFrom};

    const MIB: u64 = 1 << 20;
    let dir = tempdir();
    let img = dir.path().join("disk.raw");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    let mut sf = Command::new("sfdisk")
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk (package fdisk; tests/run-all.sh installs it)");
    sf.stdin
        .take()
        .unwrap()
        .write_all(
            b"label: gpt\nsize=16MiB, type=uefi, name=FWBOOT\ntype=linux, name=feedwall-data\n",
        )
        .unwrap();
    assert!(sf.wait().unwrap().success());
    let before = partitions(&img);
    assert_eq!(before.len(), 2);
    let (start, old_size) = before[1];
    // Something in the data partition, and in the boot one, must survive.
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    f.seek(SeekFrom::Start(start * 512)).unwrap();
    f.write_all(b"data partition contents").unwrap();
    f.seek(SeekFrom::Start(before[0].0 * 512)).unwrap();
    f.write_all(b"boot partition contents").unwrap();

    // A disk that did not grow: nothing to do.
    assert_eq!(grow_table(&mut f, 64 * MIB, 512, 2).unwrap(), None);
    // A disk smaller than the table says: refused, untouched.
    let e = grow_table(&mut f, 32 * MIB, 512, 2).unwrap_err();
    assert!(e.to_string().contains("smaller"), "{e:#}");

    f.set_len(192 * MIB).unwrap();
    let (ok, said) = verify(&img);
    assert!(
        !ok,
        "a grown disk's old table should not verify clean: {said}"
    );
    // Partition 1 is not the last one: it cannot grow.
    let e = grow_table(&mut f, 192 * MIB, 512, 1).unwrap_err();
    assert!(e.to_string().contains("cannot grow"), "{e:#}");
    assert_eq!(
        partitions(&img),
        before,
        "a refused growth must not change the table"
    );

    let g = grow_table(&mut f, 192 * MIB, 512, 2)
        .unwrap()
        .expect("grown");
    assert_eq!(g.start_lba, start);
    assert_eq!(g.old_bytes(), old_size * 512);
    // The new end: 1 MiB-aligned, below the 33 sectors of backup table.
    assert_eq!((g.new_end_lba + 1) % 2048, 0);
    assert!(g.new_end_lba <= 192 * 2048 - 34 && g.new_end_lba > 192 * 2048 - 34 - 2048);
    let after = partitions(&img);
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1], (start, g.new_end_lba + 1 - start));
    let (ok, said) = verify(&img);
    assert!(ok, "sfdisk --verify after growing: {said}");

    let mut buf = [0u8; 23];
    f.seek(SeekFrom::Start(start * 512)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"data partition contents");
    f.seek(SeekFrom::Start(before[0].0 * 512)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"boot partition contents");

    // Again: nothing left to do.
    assert_eq!(grow_table(&mut f, 192 * MIB, 512, 2).unwrap(), None);

    // A damaged primary header is refused and nothing is written.
    f.set_len(256 * MIB).unwrap();
    f.seek(SeekFrom::Start(512 + 40)).unwrap();
    f.write_all(&[0xff]).unwrap();
    let e = grow_table(&mut f, 256 * MIB, 512, 2).unwrap_err();
    assert!(format!("{e:#}").contains("checksum"), "{e:#}");
    let mut tail = vec![0u8; 512];
    f.seek(SeekFrom::Start(256 * MIB - 512)).unwrap();
    f.read_exact(&mut tail).unwrap();
    assert!(
        tail.iter().all(|&b| b == 0),
        "no backup header written for a damaged table"
    );
}

/// An appliance admin whose ESP, settings and run directories are temp
/// directories (kept alive by the first value): system, settings, run.
fn appliance_with_settings() -> (Vec<tempfile::TempDir>, System, PathBuf, PathBuf) {
    let espdir = tempdir();
    let boot = espdir.path().to_path_buf();
    esp(&boot);
    let dirs = tempdir();
    let (settings, run) = (dirs.path().join("config"), dirs.path().join("run"));
    let sys = System::start(Options {
        extra: format!(
            "[appliance]\nboot_dir = {:?}\nsettings_dir = {:?}\nrun_dir = {:?}\n",
            boot.display().to_string(),
            settings.display().to_string(),
            run.display().to_string()
        ),
        ..Options::default()
    });
    (vec![espdir, dirs], sys, settings, run)
}

/// An SNTP server on loopback that is `ahead` seconds ahead of this
/// machine, answering `n` requests.
fn sntp_server(ahead: f64, n: usize) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        for _ in 0..n {
            let mut b = [0u8; 48];
            let Ok((_, from)) = sock.recv_from(&mut b) else {
                return;
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
                + ahead;
            let ts = feedwall::appliance::clock::to_ntp(now).to_be_bytes();
            let mut p = [0u8; 48];
            p[0] = 0x24; // version 4, server
            p[1] = 1; // stratum 1
            p[24..32].copy_from_slice(&b[40..48]);
            p[32..40].copy_from_slice(&ts);
            p[40..48].copy_from_slice(&ts);
            sock.send_to(&p, from).unwrap();
        }
    });
    (addr, h)
}

#[test]
fn time_servers_set_by_the_operator_only_and_used_by_the_clock() {
    let (_dirs, sys, settings, run) = appliance_with_settings();
    let file = settings.join("ntp");
    let (server, answering) = sntp_server(3600.0, 1);

    // Nobody but the operator.
    let mut anon = sys.client();
    let r = anon.post_raw_form(
        "/operator/appliance/time",
        &[
            ("servers".into(), server.to_string()),
            ("csrf".into(), "x".into()),
        ],
    );
    assert_eq!((r.status, r.location().as_str()), (303, "/login"));
    let r = anon.json(
        "POST",
        "/api/appliance/time",
        Some(serde_json::json!({"servers": ["x.example"]})),
    );
    assert_eq!(r.status, 401);
    let mut sub = sys.signup("time-sub@example.com");
    assert_eq!(
        sub.post_form("/operator/appliance/time", &[("servers", "x.example")])
            .status,
        403
    );
    let r = sub.json(
        "POST",
        "/api/appliance/time",
        Some(serde_json::json!({"servers": ["x.example"]})),
    );
    assert_eq!(r.status, 403);
    let mut op = sys.operator();
    let r = op.post_raw_form(
        "/operator/appliance/time",
        &[
            ("servers".into(), "x.example".into()),
            ("csrf".into(), "forged".into()),
        ],
    );
    assert_eq!(r.status, 403, "forged CSRF token: {}", r.body);
    assert!(!file.exists(), "nothing written for a refused request");

    // Hostile or broken lists: a clear 400, nothing written, nothing echoed raw.
    let nine = "a.example\n".repeat(9);
    for bad in [
        "<script>alert(1)</script>",
        "a.example; reboot",
        "$(id)",
        "off\na.example",
        "host:0",
        nine.as_str(),
    ] {
        let r = op.post_form("/operator/appliance/time", &[("servers", bad)]);
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
        assert!(r.body.contains("Time servers not saved"), "{}", r.body);
        assert!(!r.body.contains("<script>alert"), "echoed raw: {}", r.body);
        assert!(!file.exists(), "{bad:?} was written");
    }
    let r = op.json(
        "POST",
        "/api/appliance/time",
        Some(serde_json::json!({"servers": ["bad name"]})),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // The operator's server: saved, shown, and the clock command uses it.
    let r = op.post_form(
        "/operator/appliance/time",
        &[("servers", &format!("{server}\n# the lab's clock\n"))],
    );
    assert_eq!(
        (r.status, r.location().as_str()),
        (303, "/operator?done=saved#appliance-time"),
        "{}",
        r.body
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().any(|l| l == server.to_string()), "{text}");
    let st = op.get("/api/appliance").json();
    assert_eq!(st["clock"]["source"], "settings", "{st}");
    assert_eq!(
        st["clock"]["servers"],
        serde_json::json!([server.to_string()])
    );
    assert!(st["clock"]["status"].is_null());

    // Measure only (never --set in a test: this machine's clock stays).
    let out = Command::new(bin())
        .args(["appliance", "clock", "--once", "--settings"])
        .arg(&settings)
        .arg("--run")
        .arg(&run)
        .output()
        .unwrap();
    answering.join().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!("clock: synchronized with {server}")),
        "{said}"
    );
    let st = op.get("/api/appliance").json();
    let offset = st["clock"]["status"]["offset_secs"].as_f64().unwrap();
    assert!((offset - 3600.0).abs() < 2.0, "{st}");
    assert_eq!(st["clock"]["status"]["synchronized"], true);
    assert!(
        st["clock"]["status"]["last_step_secs"].is_null(),
        "measured, not stepped"
    );
    let page = op.get("/operator");
    assert!(
        page.body
            .contains(&format!("clock: synchronized with {server}")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(">{server}</textarea>")),
        "the form shows the list"
    );

    // Nobody answers: exit status 1 and the reason.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = op.json(
        "POST",
        "/api/appliance/time",
        Some(serde_json::json!({"servers": [silent.local_addr().unwrap().to_string()]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let out = Command::new(bin())
        .args(["appliance", "clock", "--once", "--settings"])
        .arg(&settings)
        .arg("--run")
        .arg(&run)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no answer within"));

    // Off, then back to the default.
    let r = op.json(
        "POST",
        "/api/appliance/time",
        Some(serde_json::json!({"servers": ["off"]})),
    );
    assert_eq!(r.json()["source"], "off", "{}", r.body);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .any(|l| l == "off"));
    let r = op.json(
        "POST",
        "/api/appliance/time",
        Some(serde_json::json!({"servers": []})),
    );
    assert_eq!(r.json()["source"], "default", "{}", r.body);
    assert_eq!(r.json()["servers"], serde_json::json!(["pool.ntp.org"]));
    assert!(!file.exists());
}

#[test]
fn network_settings_saved_by_the_operator_only_then_tried_and_kept() {
    let (_dirs, sys, settings, _run) = appliance_with_settings();
    let next = settings.join("network.next");
    let fields = |mode: &str, address: &str, gateway: &str, dns: &str| -> Vec<(String, String)> {
        [
            ("mode", mode),
            ("address", address),
            ("gateway", gateway),
            ("dns", dns),
            ("confirm_within", "120"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };

    // Nobody but the operator.
    let mut anon = sys.client();
    let mut f = fields("static", "192.0.2.10/24", "192.0.2.1", "");
    f.push(("csrf".into(), "x".into()));
    let r = anon.post_raw_form("/operator/appliance/network", &f);
    assert_eq!((r.status, r.location().as_str()), (303, "/login"));
    assert_eq!(
        anon.post_raw_form(
            "/operator/appliance/network/keep",
            &[("csrf".into(), "x".into())]
        )
        .status,
        303
    );
    let body = serde_json::json!({"address": "192.0.2.10/24", "gateway": "192.0.2.1"});
    assert_eq!(
        anon.json("POST", "/api/appliance/network", Some(body.clone()))
            .status,
        401
    );
    assert_eq!(
        anon.json("POST", "/api/appliance/network/keep", None)
            .status,
        401
    );
    let mut sub = sys.signup("net-sub@example.com");
    assert_eq!(
        sub.json("POST", "/api/appliance/network", Some(body.clone()))
            .status,
        403
    );
    let csrf = sub.csrf.clone().unwrap();
    let mut f = fields("static", "192.0.2.10/24", "192.0.2.1", "");
    f.push(("csrf".into(), csrf));
    assert_eq!(
        sub.post_raw_form("/operator/appliance/network", &f).status,
        403
    );
    let mut op = sys.operator();
    let mut f = fields("static", "192.0.2.10/24", "192.0.2.1", "");
    f.push(("csrf".into(), "forged".into()));
    assert_eq!(
        op.post_raw_form("/operator/appliance/network", &f).status,
        403
    );
    assert!(!next.exists(), "nothing saved for a refused request");

    // Broken or hostile settings: 400 naming the field, nothing saved.
    for (mode, address, gateway, dns, field) in [
        ("static", "192.0.2.10", "", "", "address"),
        (
            "static",
            "192.0.2.10/24\naddress=10.0.0.1/8",
            "",
            "",
            "address",
        ),
        ("static", "192.0.2.0/24", "", "", "address"),
        ("static", "192.0.2.10/24", "198.51.100.1", "", "gateway"),
        (
            "static",
            "192.0.2.10/24",
            "192.0.2.1\ngateway=1.2.3.4",
            "",
            "gateway",
        ),
        (
            "static",
            "192.0.2.10/24",
            "192.0.2.1",
            "<script>alert(1)</script>",
            "dns",
        ),
        (
            "static",
            "192.0.2.10/24",
            "192.0.2.1",
            "1.1.1.1 1.0.0.1 8.8.8.8 9.9.9.9",
            "dns",
        ),
        ("bridge", "", "", "", "mode"),
    ] {
        let mut f = fields(mode, address, gateway, dns);
        f.push(("csrf".into(), op.csrf.clone().unwrap()));
        let r = op.post_raw_form("/operator/appliance/network", &f);
        assert_eq!(r.status, 400, "{address:?} {gateway:?} {dns:?}: {}", r.body);
        assert!(
            r.body
                .contains(&format!("Network settings not saved: {field}")),
            "{}",
            r.body
        );
        assert!(!r.body.contains("<script>alert"), "echoed raw");
        assert!(!next.exists(), "{address:?} {gateway:?} {dns:?} was saved");
    }
    let r = op.json(
        "POST",
        "/api/appliance/network",
        Some(serde_json::json!({"address": "192.0.2.10/24", "confirm_within_secs": 5})),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Saved for the next restart (this test's config does not restart).
    let mut f = fields(
        "static",
        " 192.0.2.10/24 ",
        "192.0.2.1",
        "192.0.2.53, 2001:db8::53",
    );
    f.push(("csrf".into(), op.csrf.clone().unwrap()));
    let r = op.post_raw_form("/operator/appliance/network", &f);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("they apply at the next restart"),
        "{}",
        r.body
    );
    let text = std::fs::read_to_string(&next).unwrap();
    assert!(
        text.contains(
            "address=192.0.2.10/24\ngateway=192.0.2.1\ndns=192.0.2.53\ndns=2001:db8::53\n"
        ),
        "{text}"
    );
    let st = op.get("/api/appliance").json();
    assert_eq!(st["network"]["next"]["address"], "192.0.2.10/24", "{st}");
    assert!(
        st["network"]["settings"]["address"].is_null(),
        "DHCP in effect: {st}"
    );
    assert!(st["network"]["trial"].is_null());

    // The boot starts the trial; the operator page offers to keep them.
    let out = Command::new(bin())
        .args(["appliance", "network", "begin", "--settings"])
        .arg(&settings)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("trying new settings (static 192.0.2.10/24)")
    );
    let page = op.get("/operator");
    assert!(
        page.body.contains("Keep these network settings"),
        "{}",
        page.body
    );
    let st = op.get("/api/appliance").json();
    assert_eq!(
        st["network"]["settings"]["address"], "192.0.2.10/24",
        "{st}"
    );
    assert_eq!(st["network"]["trial"]["confirm_within_secs"], 120, "{st}");
    let r = op.post_form("/operator/appliance/network/keep", &[]);
    assert_eq!(
        (r.status, r.location().as_str()),
        (303, "/operator?done=saved#appliance-network")
    );
    let st = op.get("/api/appliance").json();
    assert!(st["network"]["trial"].is_null(), "{st}");
    assert_eq!(st["network"]["settings"]["address"], "192.0.2.10/24");
    assert_eq!(
        op.json("POST", "/api/appliance/network/keep", None).json(),
        false
    );

    // Back to DHCP over the API, tried, never confirmed: the boot after
    // puts the static settings back.
    let r = op.json(
        "POST",
        "/api/appliance/network",
        Some(serde_json::json!({})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["confirm_within_secs"], 600);
    for said in ["trying new settings (DHCP)", "never confirmed"] {
        let out = Command::new(bin())
            .args(["appliance", "network", "begin", "--settings"])
            .arg(&settings)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(said),
            "{said}"
        );
    }
    let st = op.get("/api/appliance").json();
    assert_eq!(
        st["network"]["settings"]["address"], "192.0.2.10/24",
        "{st}"
    );
}
