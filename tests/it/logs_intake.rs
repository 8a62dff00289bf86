//! Network log intake end to end: the real `feedwall up` (every listener
//! on port 0), mail sent with Python's smtplib, syslog sent with util-linux
//! `logger` and with a small client bound to a device's address; what was
//! stored is read back from the log archive. A kill -9 after a mail's 250
//! loses nothing, and the archive's chain still verifies.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use feedwall::admin::store::Store;
use feedwall::logs::store::LogStore;

use super::admin_harness::{eventually, Options, System};
use super::harness::{bin, require_tool, tempdir};

const DOMAIN: &str = "logs.feedwall.internal";

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(p)
}

fn fixture_lines(p: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(p))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn admin_db(sys: &System) -> Store {
    Store::open(&sys.data.join(feedwall::admin::DB_FILE)).unwrap()
}

/// A new account with a device at `ip` (through the admin API); returns
/// (account, device).
fn device(sys: &System, email: &str, ip: &str) -> (i64, i64) {
    let mut c = sys.signup(email);
    let r = c.json(
        "POST",
        "/api/devices",
        Some(serde_json::json!({"name": format!("fw {ip}"), "kind": "other", "prefix": ip})),
    );
    r.expect_status(201);
    let id = r.json()["id"].as_i64().unwrap();
    let d = admin_db(sys)
        .log_device_by_addr(ip.parse().unwrap())
        .unwrap()
        .expect("the new device");
    assert_eq!(d.device, id);
    (d.account, d.device)
}

/// The bound addresses the control process wrote to `file` (waits for it).
fn listen_addr(sys: &System, file: &str) -> SocketAddr {
    let path = sys.data.join(file);
    let mut addr = None;
    eventually(60, &format!("{file} written"), || {
        addr = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()));
        addr.is_some()
    });
    addr.unwrap()
}

/// What the archive holds for one device from one source.
#[derive(Debug, Default)]
struct Stored {
    batches: i64,
    lines: i64,
    entries: i64,
    /// The stored raw lines, batch after batch.
    raw: String,
}

fn stored(sys: &System, device: i64, source: &str) -> Stored {
    let store = LogStore::open_read_only(&sys.data.join("logs.sqlite")).unwrap();
    let c = store.connection();
    let mut out = Stored::default();
    let mut st = c
        .prepare("SELECT records + rejected + ignored + skipped, raw FROM batches WHERE device = ?1 AND source = ?2 ORDER BY id")
        .unwrap();
    let mut rows = st.query(rusqlite::params![device, source]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        out.batches += 1;
        out.lines += r.get::<_, i64>(0).unwrap();
        out.raw.push_str(&feedwall::logs::store::gunzip(
            &r.get::<_, Vec<u8>>(1).unwrap(),
        ));
    }
    out.entries = c
        .query_row(
            "SELECT count(*) FROM entries WHERE device = ?1 AND batch IN (SELECT id FROM batches WHERE source = ?2)",
            rusqlite::params![device, source],
            |r| r.get(0),
        )
        .unwrap();
    out
}

fn all_raw(sys: &System) -> String {
    let store = LogStore::open_read_only(&sys.data.join("logs.sqlite")).unwrap();
    let mut st = store
        .connection()
        .prepare("SELECT raw FROM batches")
        .unwrap();
    let rows = st
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|r| feedwall::logs::store::gunzip(&r.unwrap()))
        .collect::<Vec<_>>();
    rows.concat()
}

/// Records `feedwall logs parse` finds in `text` (read in UTC, the
/// devices' default zone): what the archive must hold for those lines.
fn parse_records(text: &str) -> i64 {
    let mut child = Command::new(bin())
        .args(["logs", "parse", "--tz", "UTC", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let n = err
        .split_whitespace()
        .find_map(|w| w.strip_prefix("records="))
        .unwrap_or_else(|| panic!("no summary from logs parse: {err}"));
    n.parse().unwrap()
}

fn verify_archive(sys: &System) -> String {
    let out = Command::new(bin())
        .args(["logs", "verify", "--data"])
        .arg(&sys.data)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "logs verify failed: {text}");
    assert!(text.contains("chain intact"), "{text}");
    text
}

// ---- SMTP ----

/// Sends one mail with smtplib: argv host port rcpt body attachment size
/// big_bytes. `body`/`attachment` are files or `-`; the attachment is sent
/// gzip-compressed, base64-encoded. `size`: `none`, `real` (declare the
/// message size) or a number to declare. `big_bytes` > 0 sends a raw
/// message of that many bytes instead. Prints the reply codes as JSON.
const SMTP_CLIENT: &str = r#"
import email.policy, gzip, json, smtplib, sys
from email.message import EmailMessage
host, port, rcpt, body, attach, size, big = sys.argv[1:8]
if int(big) > 0:
    line = b"x" * 98 + b"\r\n"
    raw = b"Subject: big\r\n\r\n" + line * (int(big) // len(line) + 1)
else:
    msg = EmailMessage()
    msg["From"] = "firewall@example.com"
    msg["To"] = rcpt
    msg["Subject"] = "firewall log"
    msg.set_content(open(body, encoding="utf-8").read() if body != "-" else "see attachment\n")
    if attach != "-":
        data = gzip.compress(open(attach, "rb").read())
        msg.add_attachment(data, maintype="application", subtype="gzip", filename="fw.log.gz")
    raw = msg.as_bytes(policy=email.policy.SMTP)
out = {}
s = smtplib.SMTP(host, int(port), timeout=120)
out["ehlo"] = s.ehlo("fw.example.com")[0]
out["features"] = s.esmtp_features
opts = []
if size == "real":
    opts = ["SIZE=%d" % len(raw)]
elif size != "none":
    opts = ["SIZE=" + size]
code, text = s.mail("firewall@example.com", opts)
out["mail"] = code
if code == 250:
    code, text = s.rcpt(rcpt)
    out["rcpt"] = code
    if code == 250:
        try:
            code, text = s.data(raw)
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            code, text = 0, str(e).encode()
        out["data"] = code
out["text"] = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
try:
    s.quit()
except Exception:
    pass
print(json.dumps(out))
"#;

struct Mail<'a> {
    rcpt: &'a str,
    body: Option<&'a Path>,
    attachment: Option<&'a Path>,
    size: &'a str,
    big: usize,
}

fn send_mail(server: SocketAddr, m: &Mail) -> serde_json::Value {
    let dash = Path::new("-");
    let out = Command::new(require_tool("python3"))
        .arg("-c")
        .arg(SMTP_CLIENT)
        .arg(server.ip().to_string())
        .arg(server.port().to_string())
        .arg(m.rcpt)
        .arg(m.body.unwrap_or(dash))
        .arg(m.attachment.unwrap_or(dash))
        .arg(m.size)
        .arg(m.big.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtp client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "smtp client output ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The control process of `sys` (the `feedwall control --config ...` child).
fn control_pid(sys: &System) -> i32 {
    let want = format!("control\0--config\0{}\0", sys.config.display());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).ends_with(&want) {
                return pid;
            }
        }
    }
    panic!("no control process for {}", sys.config.display());
}

#[test]
fn smtp_mail_body_and_gzip_attachment_are_stored_and_kill_9_loses_nothing() {
    let sys = System::start(Options::default());
    let (account, dev) = device(&sys, "mailer@example.com", "127.0.0.3");
    let (_, other) = device(&sys, "other@example.com", "127.0.0.4");
    let token = admin_db(&sys).new_log_token(account, dev).unwrap();
    let smtp = listen_addr(&sys, "smtp-addr");
    let dir = tempdir();

    // Body: iptables lines; attachment: a whole MikroTik log, gzip.
    let body_lines: Vec<String> = fixture_lines("iptables/kern.log")
        .into_iter()
        .take(40)
        .collect();
    let body_text = body_lines.join("\n") + "\n";
    let body = dir.path().join("body.txt");
    std::fs::write(&body, &body_text).unwrap();
    let attachment = fixture("mikrotik/mikrotik.log");
    let attachment_text = std::fs::read_to_string(&attachment).unwrap();
    let rcpt = format!("{token}@{DOMAIN}");
    let r = send_mail(
        smtp,
        &Mail {
            rcpt: &rcpt,
            body: Some(&body),
            attachment: Some(&attachment),
            size: "real",
            big: 0,
        },
    );
    assert_eq!(
        (r["mail"].as_i64(), r["rcpt"].as_i64(), r["data"].as_i64()),
        (Some(250), Some(250), Some(250)),
        "{r}"
    );
    let size = r["features"]["size"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert_eq!(size, 64 << 20, "SIZE advertises [logs] max_upload");
    let lines = (body_lines.len() + attachment_text.lines().count()) as i64;
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Stored {lines} lines")),
        "{r}"
    );
    // Durable before the 250: in the archive now, all lines, every record.
    let s = stored(&sys, dev, "smtp");
    assert_eq!(s.lines, lines, "{s:?}");
    let records = parse_records(&body_text) + parse_records(&attachment_text);
    assert_eq!(s.entries, records);
    assert!(
        s.raw.contains(&body_lines[0]) && s.raw.contains(attachment_text.lines().last().unwrap())
    );
    let count = LogStore::open_read_only(&sys.data.join("logs.sqlite"))
        .unwrap()
        .entry_count(account)
        .unwrap();
    assert_eq!(count as i64, records);

    // Refused: an unknown token, another domain, too large (declared, and
    // sent without a declaration); none stores anything.
    for bad in [
        format!("zzzzzzzzzzzzzzzzzzzzzzzzzz@{DOMAIN}"),
        format!("{token}@example.com"),
    ] {
        let r = send_mail(
            smtp,
            &Mail {
                rcpt: &bad,
                body: Some(&body),
                attachment: None,
                size: "real",
                big: 0,
            },
        );
        assert_eq!(
            (r["mail"].as_i64(), r["rcpt"].as_i64()),
            (Some(250), Some(550)),
            "{r}"
        );
    }
    let r = send_mail(
        smtp,
        &Mail {
            rcpt: &rcpt,
            body: None,
            attachment: None,
            size: &(size + 1).to_string(),
            big: 0,
        },
    );
    assert_eq!(r["mail"].as_i64(), Some(552), "{r}");
    let r = send_mail(
        smtp,
        &Mail {
            rcpt: &rcpt,
            body: None,
            attachment: None,
            size: "none",
            big: size as usize + 4096,
        },
    );
    assert_eq!(r["data"].as_i64(), Some(552), "{r}");
    let after = stored(&sys, dev, "smtp");
    assert_eq!((after.batches, after.lines), (s.batches, s.lines));
    assert_eq!(stored(&sys, other, "smtp").batches, 0);

    // kill -9 right after a 250: nothing is lost, the chain verifies, and
    // the restarted control process takes mail again.
    let again = send_mail(
        smtp,
        &Mail {
            rcpt: &rcpt
                .to_ascii_uppercase()
                .replace(&DOMAIN.to_ascii_uppercase(), DOMAIN),
            body: Some(&body),
            attachment: None,
            size: "none",
            big: 0,
        },
    );
    assert_eq!(again["data"].as_i64(), Some(250), "{again}");
    std::fs::remove_file(sys.data.join("smtp-addr")).unwrap();
    let pid = control_pid(&sys);
    // SAFETY: signalling a process by pid has no memory effects; the pid is
    // our appliance's control child, found by its unique config path.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let smtp = listen_addr(&sys, "smtp-addr");
    assert_ne!(control_pid(&sys), pid, "control restarted");
    let s = stored(&sys, dev, "smtp");
    assert_eq!(s.lines, lines + body_lines.len() as i64);
    assert_eq!(s.entries, records + parse_records(&body_text));
    verify_archive(&sys);
    let r = send_mail(
        smtp,
        &Mail {
            rcpt: &rcpt,
            body: Some(&body),
            attachment: None,
            size: "real",
            big: 0,
        },
    );
    assert_eq!(r["data"].as_i64(), Some(250), "{r}");
    verify_archive(&sys);
}

// ---- syslog ----

#[derive(Clone, Copy, Debug)]
enum Framing {
    Udp,
    /// TCP, one message per LF-ended line.
    TcpLf,
    /// TCP, RFC 6587 octet counting.
    TcpOctet,
}

/// Sends `msgs` from `from` (any loopback address) to the syslog listener.
fn send_syslog(from: IpAddr, to: SocketAddr, framing: Framing, msgs: &[Vec<u8>]) {
    match framing {
        Framing::Udp => {
            let s = UdpSocket::bind((from, 0)).unwrap();
            for (i, m) in msgs.iter().enumerate() {
                s.send_to(m, to).unwrap();
                if i % 50 == 49 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Framing::TcpLf | Framing::TcpOctet => {
            let mut s = tcp_from(from, to);
            let mut wire = Vec::new();
            for m in msgs {
                if let Framing::TcpOctet = framing {
                    wire.extend_from_slice(format!("{} ", m.len()).as_bytes());
                    wire.extend_from_slice(m);
                } else {
                    wire.extend_from_slice(m);
                    wire.push(b'\n');
                }
            }
            s.write_all(&wire).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            // The server closes once it has read everything.
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        }
    }
}

fn tcp_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

/// Forwards what `logger` sends to 127.0.0.1 on from `from`, byte for
/// byte (`logger` cannot choose its source address): returns the port to
/// give `logger`. The UDP relay ends after 5 s without a datagram; the TCP
/// relay after one connection.
fn relay(from: IpAddr, to: SocketAddr, tcp: bool) -> u16 {
    if tcp {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut inbound, _) = l.accept().unwrap();
            let mut out = tcp_from(from, to);
            std::io::copy(&mut inbound, &mut out).unwrap();
            out.shutdown(std::net::Shutdown::Write).unwrap();
            let _ = out.read_to_end(&mut Vec::new());
        });
        port
    } else {
        let inbound = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = inbound.local_addr().unwrap().port();
        inbound
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        std::thread::spawn(move || {
            let out = UdpSocket::bind((from, 0)).unwrap();
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = inbound.recv(&mut buf) {
                out.send_to(&buf[..n], to).unwrap();
            }
        });
        port
    }
}

/// `logger` sending each line of `file` with tag `kernel`; `check`: it must
/// succeed (a server that closes the connection may make it fail).
fn logger(port: u16, args: &[&str], file: &Path, check: bool) {
    let out = Command::new(require_tool("logger"))
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--tag",
            "kernel",
        ])
        .args(args)
        .arg("--file")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success() || !check,
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_lines(sys: &System, device: i64, want: i64) -> Stored {
    let deadline = Instant::now() + Duration::from_secs(60);
    let s = loop {
        let s = stored(sys, device, "syslog");
        if s.lines >= want || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        s.lines, want,
        "syslog lines stored for device {device}: {s:?}"
    );
    s
}

#[test]
fn syslog_over_udp_and_tcp_is_stored_per_sending_device() {
    let sys = System::start(Options::default());
    let (_, dev) = device(&sys, "syslog@example.com", "127.0.0.3");
    let (acct_b, dev_b) = device(&sys, "berlin@example.com", "127.0.0.4");
    admin_db(&sys)
        .set_device_tz(acct_b, dev_b, "+01:00")
        .unwrap();
    let to = listen_addr(&sys, "syslog-addr");
    let a: IpAddr = Ipv4Addr::new(127, 0, 0, 3).into();
    let b: IpAddr = Ipv4Addr::new(127, 0, 0, 4).into();
    // Kernel lines only (the fixture also has cron and sshd lines).
    let kern: Vec<String> = fixture_lines("iptables/kern.log")
        .into_iter()
        .filter(|l| l.contains(" kernel: "))
        .take(60)
        .collect();
    // RFC 3164 as firewalls send it: PRI, then the line as kern.log has it.
    let bsd: Vec<Vec<u8>> = kern
        .iter()
        .map(|l| format!("<4>{l}").into_bytes())
        .collect();
    // RFC 5424: the message part of the line after a 5424 header.
    let ietf: Vec<Vec<u8>> = kern
        .iter()
        .map(|l| {
            let msg = l.split_once("kernel: ").unwrap().1;
            format!("<4>1 2026-11-03T00:01:19Z fw01 kernel - - - {msg}").into_bytes()
        })
        .collect();

    // Half-open connections stay open the whole time: a frame cut short
    // (octet count larger than what follows) and a line without its end.
    let mut half1 = tcp_from(a, to);
    half1.write_all(b"500 <4>only part of it").unwrap();
    let mut half2 = tcp_from(a, to);
    half2.write_all(b"<4>no line end yet").unwrap();

    send_syslog(a, to, Framing::Udp, &bsd[0..10]);
    send_syslog(a, to, Framing::TcpLf, &bsd[10..20]);
    send_syslog(a, to, Framing::TcpOctet, &ietf[20..30]);
    // Garbage: invalid UTF-8 and NULs, an overlong line, bare bytes.
    let garbage = vec![
        b"<4>\xff\xfe\x00 not utf-8 \xc3".to_vec(),
        [b"<4>".to_vec(), vec![b'y'; 100_000]].concat(),
        b"\x01\x02\x03".to_vec(),
    ];
    send_syslog(a, to, Framing::TcpLf, &garbage);
    send_syslog(a, to, Framing::Udp, &garbage[..1]);
    // The same lines from the +01:00 device.
    send_syslog(b, to, Framing::Udp, &bsd[0..10]);

    // `logger` (util-linux), relayed from the device's address.
    let dir = tempdir();
    let msgs = |range: std::ops::Range<usize>| {
        let p = dir.path().join(format!("m{}.txt", range.start));
        let text: String = kern[range]
            .iter()
            .map(|l| format!("{}\n", l.split_once("kernel: ").unwrap().1))
            .collect();
        std::fs::write(&p, text).unwrap();
        p
    };
    logger(
        relay(a, to, false),
        &["--udp", "--rfc3164"],
        &msgs(30..40),
        true,
    );
    logger(
        relay(a, to, true),
        &["--tcp", "--rfc5424", "--octet-count"],
        &msgs(40..50),
        true,
    );
    logger(
        relay(a, to, true),
        &["--tcp", "--rfc3164"],
        &msgs(50..60),
        true,
    );

    // From 127.0.0.1: not a registered device (the config file's device is
    // no log device): dropped, over UDP and TCP.
    let marker = dir.path().join("marker.txt");
    std::fs::write(&marker, "feedwall-unknown-sender-marker\n").unwrap();
    logger(to.port(), &["--udp", "--rfc3164"], &marker, false);
    logger(
        to.port(),
        &["--tcp", "--rfc5424", "--octet-count"],
        &marker,
        false,
    );
    send_syslog(Ipv4Addr::LOCALHOST.into(), to, Framing::Udp, &bsd[0..5]);

    let s = wait_lines(&sys, dev, 10 + 10 + 10 + 3 + 1 + 10 + 10 + 10);
    let sb = wait_lines(&sys, dev_b, 10);
    // Each firewall line was sent once, in one of the framings and header
    // forms: together they make the records the file makes; and every
    // stored line is what the parser makes of it.
    assert_eq!(s.entries, parse_records(&(kern.join("\n") + "\n")));
    assert_eq!(s.entries, parse_records(&s.raw), "{}", s.raw);
    assert_eq!(sb.entries, parse_records(&sb.raw));
    for l in &bsd[0..20] {
        assert!(s.raw.contains(std::str::from_utf8(l).unwrap()));
    }
    assert!(
        s.raw.contains("<4>\u{fffd}\u{fffd}  not utf-8 \u{fffd}"),
        "{}",
        s.raw
    );
    let long = s.raw.lines().find(|l| l.starts_with("<4>yyy")).unwrap();
    assert_eq!(long.len(), 64 * 1024, "an overlong message is kept cut");
    let rejected: i64 = LogStore::open_read_only(&sys.data.join("logs.sqlite"))
        .unwrap()
        .connection()
        .query_row(
            "SELECT count(*) FROM problems WHERE reason = 'line too long'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rejected, 1);
    assert!(!all_raw(&sys).contains("feedwall-unknown-sender-marker"));
    assert!(!s.raw.contains("only part of it") && !s.raw.contains("no line end yet"));

    // Zones: the +01:00 device's 00:01:19 is an hour earlier in UTC. The
    // second device sent only bsd[0..10], which the first one sent too (in
    // batches whose order depends on which connection is read first): each
    // of its times, an hour later, is one of the first device's.
    if parse_records(&kern[0]) == 1 {
        let store = LogStore::open_read_only(&sys.data.join("logs.sqlite")).unwrap();
        let times = |d: i64| -> std::collections::BTreeSet<i64> {
            let c = store.connection();
            let mut st = c
                .prepare("SELECT DISTINCT time FROM entries WHERE device = ?1")
                .unwrap();
            let rows = st.query_map([d], |r| r.get::<_, i64>(0)).unwrap();
            rows.map(|r| r.unwrap()).collect()
        };
        let (ta, tb) = (times(dev), times(dev_b));
        assert!(!tb.is_empty());
        assert!(
            tb.iter().all(|t| ta.contains(&(t + 3600))),
            "the +01:00 device's times, an hour on, are not the UTC device's: {tb:?} vs {ta:?}"
        );
        assert!(
            !tb.iter().all(|t| ta.contains(t)),
            "the +01:00 device's zone was not applied: {tb:?} vs {ta:?}"
        );
    } else {
        eprintln!(
            "note: the iptables parser reads no record from the fixture yet; zone check skipped"
        );
    }

    // The half-open connections held nothing up; closing one with its
    // line end delivers that line.
    half2.write_all(b" now\n").unwrap();
    drop(half2);
    wait_lines(&sys, dev, 10 + 10 + 10 + 3 + 1 + 10 + 10 + 10 + 1);
    drop(half1);
    verify_archive(&sys);

    // The operator's /metrics counts what happened: lines stored, the
    // unknown sender's messages dropped, the overlong one.
    let m = sys.operator().get("/metrics");
    assert_eq!(m.status, 200, "{}", m.body);
    let value = |name: &str| -> u64 {
        m.body
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", m.body))
    };
    assert!(
        value("feedwall_log_syslog_stored_total") >= 10 + 10 + 10 + 3 + 1 + 10 + 10 + 10 + 1 + 10
    );
    assert!(value("feedwall_log_syslog_unknown_sender_total") >= 3);
    assert_eq!(value("feedwall_log_syslog_too_long_total"), 1);
    assert_eq!(value("feedwall_log_syslog_store_failed_total"), 0);
}
