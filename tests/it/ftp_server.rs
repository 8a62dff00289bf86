//! A real FTP server for the feed tests: pyftpdlib (Debian's
//! python3-pyftpdlib, installed by `tests/run-all.sh`) on 127.0.0.1 with an
//! ephemeral port, shared by the fetch tests and the sidecar end-to-end
//! test. A missing pyftpdlib fails the test loudly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use feedwall::fetch::Source;

use crate::harness::require_tool;

/// Starts pyftpdlib on 127.0.0.1 with an ephemeral port, serving `root` to
/// anonymous and to `feeder` / `s3cr:et`. Killed (by PID) at drop.
pub struct FtpServer {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

/// Debian's python3 (where `apt-get install python3-pyftpdlib` puts the
/// module), else the first python3 on PATH, whichever can import pyftpdlib.
pub fn python_with_pyftpdlib() -> PathBuf {
    let on_path = require_tool("python3");
    for python in [PathBuf::from("/usr/bin/python3"), on_path] {
        let ok = Command::new(&python)
            .args(["-c", "import pyftpdlib"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return python;
        }
    }
    panic!("no python3 can import pyftpdlib; run tests/run-all.sh (it installs python3-pyftpdlib)");
}

const FTP_SERVER_PY: &str = r#"
import sys
try:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer
except ImportError as e:
    print("IMPORT-ERROR %s" % e, flush=True)
    sys.exit(3)
root = sys.argv[1]
auth = DummyAuthorizer()
auth.add_anonymous(root)
auth.add_user("feeder", "s3cr:et", root, perm="elr")
class Handler(FTPHandler):
    # Answer a failed login at once (the default waits 3 s).
    auth_failed_timeout = 0.1
Handler.authorizer = auth
server = FTPServer(("127.0.0.1", 0), Handler)
print(server.socket.getsockname()[1], flush=True)
server.serve_forever()
"#;

impl FtpServer {
    pub fn start(root: &Path, scratch: &Path) -> FtpServer {
        let python = python_with_pyftpdlib();
        let script = scratch.join("ftpd.py");
        std::fs::write(&script, FTP_SERVER_PY).unwrap();
        let log = scratch.join("ftpd.log");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start python3 FTP server");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        if line.starts_with("IMPORT-ERROR") {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "pyftpdlib is not installed ({}); run tests/run-all.sh (it installs python3-pyftpdlib)",
                line.trim()
            );
        }
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "FTP server did not start: {line:?}; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        FtpServer { child, port, log }
    }

    /// The URL of a file under the root (`userinfo`: empty, or `user:pass@`).
    pub fn url(&self, userinfo: &str, file: &str) -> String {
        format!("ftp://{userinfo}127.0.0.1:{}/{file}", self.port)
    }

    pub fn source(&self, userinfo: &str, file: &str) -> Source {
        Source::parse(&self.url(userinfo, file)).unwrap()
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "FTP server log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}
