//! A small HTTP/1.1 test server on 127.0.0.1:0, shared by the fetch tests
//! and the sidecar end-to-end test. It serves one request per connection
//! and can misbehave on purpose: a handler decides, per request, between a
//! well-formed answer ([`Reply::respond`]) and raw bytes followed by an
//! optional stall ([`Reply::raw`]), so a test can stall, truncate a body or
//! fail, and change behaviour between requests. Every request is logged
//! (path, headers, status answered). The accept loop is a task of the
//! runtime the server was started on, so it ends with that runtime.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A request as the server saw it (header names lower-cased).
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
    /// 1 for the first request to this path, 2 for the second, ...
    pub hit: usize,
    /// The server's own address (for absolute redirects).
    pub server: SocketAddr,
}

impl Request {
    /// A header's value, empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A logged request and the status the server answered it with (the
/// status code, e.g. `304`; `-` when no status line was sent).
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub status: String,
}

/// What the server does with one request.
pub enum Reply {
    /// Status line, headers, `Content-Length` (except for 304), body; then
    /// the connection is closed.
    Respond {
        status: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// These bytes exactly (a hand-made, possibly broken response), then a
    /// pause of `stall` if any, then the connection is closed.
    Raw {
        bytes: Vec<u8>,
        stall: Option<Duration>,
    },
}

impl Reply {
    pub fn respond(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        Reply::Respond {
            status: status.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    pub fn raw(bytes: &[u8], stall: Option<Duration>) -> Reply {
        Reply::Raw {
            bytes: bytes.to_vec(),
            stall,
        }
    }

    /// Sends nothing at all for `d` (a server that accepted and went silent).
    pub fn silence(d: Duration) -> Reply {
        Reply::raw(b"", Some(d))
    }

    fn status_code(&self) -> String {
        let line = match self {
            Reply::Respond { status, .. } => {
                return status.split(' ').next().unwrap_or("-").to_string()
            }
            Reply::Raw { bytes, .. } => {
                String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned()
            }
        };
        match line.strip_prefix("HTTP/1.1 ") {
            Some(rest) => rest.split(' ').next().unwrap_or("-").to_string(),
            None => "-".to_string(),
        }
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

#[derive(Default)]
struct Log {
    requests: Vec<Seen>,
    hits: HashMap<String, usize>,
}

/// The running server. Call [`HttpServer::start`] inside a tokio runtime.
pub struct HttpServer {
    pub addr: SocketAddr,
    pub scheme: &'static str,
    log: Arc<Mutex<Log>>,
}

impl HttpServer {
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HttpServer {
        HttpServer::start_with(None, handler).await
    }

    /// The same server behind TLS (`tls`: an acceptor with its certificate).
    pub async fn start_with(
        tls: Option<TlsAcceptor>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test HTTP server");
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let task_log = log.clone();
        let handler: Handler = Arc::new(handler);
        let scheme = if tls.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let log = task_log.clone();
                let tls = tls.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let _ = match tls {
                        None => serve_one(conn, addr, log, handler).await,
                        Some(acceptor) => match acceptor.accept(conn).await {
                            Ok(conn) => serve_one(conn, addr, log, handler).await,
                            Err(_) => Ok(()),
                        },
                    };
                });
            }
        });
        HttpServer { addr, scheme, log }
    }

    /// The absolute URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// The URL of a path as a fetch source.
    pub fn source(&self, path: &str) -> feedwall::fetch::Source {
        feedwall::fetch::Source::parse(&self.url(path)).unwrap()
    }

    /// Requests received for a path so far.
    pub fn hits(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every logged request for a path, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.log
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn last_request(&self, path: &str) -> Seen {
        self.requests(path).pop().expect("no request for path")
    }
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: S,
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    handler: Handler,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let hit = {
        let mut log = log.lock().unwrap();
        let n = log.hits.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    let request = Request {
        path: path.clone(),
        headers: headers.clone(),
        hit,
        server: addr,
    };
    let reply = handler(&request);
    log.lock().unwrap().requests.push(Seen {
        path,
        headers,
        status: reply.status_code(),
    });
    match reply {
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
            for (k, v) in &headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            if !status.starts_with("304") {
                out.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            out.push_str("\r\n");
            conn.write_all(out.as_bytes()).await?;
            conn.write_all(&body).await?;
            conn.shutdown().await
        }
        Reply::Raw { bytes, stall } => {
            conn.write_all(&bytes).await?;
            conn.flush().await?;
            if let Some(d) = stall {
                tokio::time::sleep(d).await;
                return Ok(());
            }
            conn.shutdown().await
        }
    }
}
