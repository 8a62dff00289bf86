//! Feed fetching against real servers on loopback: a small HTTP/1.1 server
//! (`http_server.rs`; the routes here make it misbehave on purpose: stall,
//! truncate, flood, fail once), a real FTP server (`ftp_server.rs`:
//! pyftpdlib, installed by `tests/run-all.sh`), and local files.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use feedwall::fetch::{
    Disposition, FetchError, FetchSettings, Fetched, Fetcher, Source, TimeoutPhase, Validators,
};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::ftp_server::FtpServer;
use crate::harness::tempdir;
use crate::http_server::{HttpServer, Reply, Request};

/// The feed most routes serve.
const PLAIN: &[u8] = b"# demo feed\n192.0.2.1\n198.51.100.0/24\n2001:db8::/48\n";
const ETAG: &str = "\"v1-abc\"";
const LAST_MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";
/// Body cap used by the tests: 1 MiB.
const CAP: u64 = 1024 * 1024;

/// Settings scaled down so every failure shows within a second or two.
fn quick_settings() -> FetchSettings {
    FetchSettings {
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_millis(600),
        attempt_timeout: Duration::from_secs(8),
        job_timeout: Duration::from_secs(20),
        max_body_bytes: CAP,
        max_retries: 2,
        backoff_base: Duration::from_millis(40),
        backoff_max: Duration::from_millis(200),
        retry_after_max: Duration::from_secs(5),
        ..FetchSettings::default()
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(quick_settings()).expect("fetcher")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn body_of(f: Fetched) -> (Vec<u8>, Validators, Option<String>, url::Url) {
    match f {
        Fetched::Body {
            bytes,
            validators,
            content_type,
            final_url,
            fetched_at,
            elapsed,
        } => {
            assert!(fetched_at <= SystemTime::now());
            assert!(elapsed < Duration::from_secs(30));
            (bytes, validators, content_type, final_url)
        }
        Fetched::NotModified => panic!("expected a body, got NotModified"),
    }
}

// ---------------------------------------------------------------------------
// The test HTTP server (tests/it/http_server.rs) and what it serves here.

/// The routes the fetch tests use: each path behaves (or misbehaves) one way.
fn route(req: &Request) -> Reply {
    match req.path.as_str() {
        "/plain" => Reply::respond("200 OK", &[("Content-Type", "text/plain")], PLAIN),
        "/etag" => {
            if req.header("if-none-match") == ETAG {
                Reply::respond("304 Not Modified", &[("ETag", ETAG)], b"")
            } else {
                let h = [
                    ("ETag", ETAG),
                    ("Last-Modified", LAST_MODIFIED),
                    ("Content-Type", "text/plain"),
                ];
                Reply::respond("200 OK", &h, PLAIN)
            }
        }
        "/lastmod" => {
            if req.header("if-modified-since") == LAST_MODIFIED {
                Reply::respond("304 Not Modified", &[], b"")
            } else {
                Reply::respond("200 OK", &[("Last-Modified", LAST_MODIFIED)], PLAIN)
            }
        }
        "/gzip" => {
            if !req.header("accept-encoding").contains("gzip") {
                return Reply::respond("406 Not Acceptable", &[], b"");
            }
            Reply::respond("200 OK", &[("Content-Encoding", "gzip")], &gzip(PLAIN))
        }
        "/deflate" => Reply::respond("200 OK", &[("Content-Encoding", "deflate")], &zlib(PLAIN)),
        "/list.gz" => Reply::respond(
            "200 OK",
            &[("Content-Type", "application/gzip")],
            &gzip(PLAIN),
        ),
        "/gzip-bomb" => {
            let bomb = gzip(&vec![b'1'; 3 * CAP as usize]);
            Reply::respond("200 OK", &[("Content-Encoding", "gzip")], &bomb)
        }
        "/flaky" => {
            if req.hit == 1 {
                Reply::respond("500 Internal Server Error", &[], b"oops")
            } else {
                Reply::respond("200 OK", &[], PLAIN)
            }
        }
        "/busy" => {
            if req.hit == 1 {
                Reply::respond("429 Too Many Requests", &[("Retry-After", "1")], b"")
            } else {
                Reply::respond("200 OK", &[], PLAIN)
            }
        }
        "/busy-long" => Reply::respond("503 Service Unavailable", &[("Retry-After", "3600")], b""),
        "/missing" => Reply::respond("404 Not Found", &[], b"no such feed"),
        "/forbidden" => Reply::respond("403 Forbidden", &[], b""),
        "/redirect" => Reply::respond("302 Found", &[("Location", "/plain")], b""),
        "/to-http" => {
            let to = format!("http://{}/plain", req.server);
            Reply::respond("302 Found", &[("Location", to.as_str())], b"")
        }
        "/gzip-truncated" => {
            let z = gzip(&b"192.0.2.77\n".repeat(2000));
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                z.len()
            )
            .into_bytes();
            out.extend_from_slice(&z[..z.len() / 2]);
            Reply::raw(&out, None)
        }
        "/stall-head" => Reply::silence(Duration::from_secs(30)),
        "/stall-body" => Reply::raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n0123456789",
            Some(Duration::from_secs(30)),
        ),
        "/truncated" => {
            let mut out =
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n".to_vec();
            out.extend_from_slice(&PLAIN[..20]);
            Reply::raw(&out, None)
        }
        "/big-declared" => {
            let mut out =
                b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n"
                    .to_vec();
            out.extend_from_slice(PLAIN);
            Reply::raw(&out, Some(Duration::from_secs(5)))
        }
        "/big-chunked" => {
            // No length announced: the cap must be found while streaming.
            // Up to 8x the cap; the write stops when the client hangs up.
            let mut out =
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    .to_vec();
            let piece = vec![b'7'; 64 * 1024];
            for _ in 0..(8 * CAP as usize / piece.len()) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(&piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            Reply::raw(&out, None)
        }
        _ => Reply::respond("404 Not Found", &[], b""),
    }
}

// ---------------------------------------------------------------------------
// http

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fetches_a_plain_body_with_our_headers() {
    let srv = HttpServer::start(route).await;
    let (bytes, validators, content_type, final_url) =
        body_of(fetcher().fetch(&srv.source("/plain"), None).await.unwrap());
    assert_eq!(bytes, PLAIN);
    assert_eq!(validators, Validators::default());
    assert_eq!(content_type.as_deref(), Some("text/plain"));
    assert_eq!(final_url.as_str(), format!("http://{}/plain", srv.addr));
    let seen = srv.last_request("/plain");
    assert!(
        seen.headers["user-agent"].starts_with("feedwall/"),
        "{seen:?}"
    );
    assert!(
        seen.headers["accept"].contains("application/rss+xml"),
        "{seen:?}"
    );
    assert!(!seen.headers.contains_key("if-none-match"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_etag_and_last_modified_give_not_modified_on_the_conditional_request() {
    let srv = HttpServer::start(route).await;
    let f = fetcher();
    let (bytes, validators, _, _) = body_of(f.fetch(&srv.source("/etag"), None).await.unwrap());
    assert_eq!(bytes, PLAIN);
    assert_eq!(validators.etag.as_deref(), Some(ETAG));
    assert_eq!(validators.last_modified.as_deref(), Some(LAST_MODIFIED));

    let again = f
        .fetch(&srv.source("/etag"), Some(&validators))
        .await
        .unwrap();
    assert_eq!(again, Fetched::NotModified);
    let seen = srv.last_request("/etag");
    assert_eq!(seen.headers["if-none-match"], ETAG);
    assert_eq!(seen.headers["if-modified-since"], LAST_MODIFIED);

    // Last-Modified alone is enough too.
    let (_, lm, _, _) = body_of(f.fetch(&srv.source("/lastmod"), None).await.unwrap());
    assert_eq!(lm.etag, None);
    assert_eq!(
        f.fetch(&srv.source("/lastmod"), Some(&lm)).await.unwrap(),
        Fetched::NotModified
    );
    assert_eq!(srv.hits("/lastmod"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_compressed_bodies_are_decompressed() {
    let srv = HttpServer::start(route).await;
    let f = fetcher();
    for path in ["/gzip", "/deflate", "/list.gz"] {
        let (bytes, ..) = body_of(
            f.fetch(&srv.source(path), None)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}")),
        );
        assert_eq!(bytes, PLAIN, "{path}");
    }
    let seen = srv.last_request("/gzip");
    for coding in ["gzip", "deflate", "br"] {
        assert!(seen.headers["accept-encoding"].contains(coding), "{seen:?}");
    }
    // A small compressed body that inflates past the cap stops at the cap.
    let e = f.fetch(&srv.source("/gzip-bomb"), None).await.unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_then_200_is_retried_and_succeeds() {
    let srv = HttpServer::start(route).await;
    let (bytes, ..) = body_of(fetcher().fetch(&srv.source("/flaky"), None).await.unwrap());
    assert_eq!(bytes, PLAIN);
    assert_eq!(srv.hits("/flaky"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_waits_for_retry_after_and_a_long_retry_after_is_handed_back() {
    let srv = HttpServer::start(route).await;
    let f = fetcher();
    let t = Instant::now();
    let (bytes, ..) = body_of(f.fetch(&srv.source("/busy"), None).await.unwrap());
    assert_eq!(bytes, PLAIN);
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 not honoured: {:?}",
        t.elapsed()
    );
    assert_eq!(srv.hits("/busy"), 2);

    // Retry-After beyond retry_after_max: no waiting inside the fetch; the
    // error carries the server's delay for the scheduler.
    let t = Instant::now();
    let e = f.fetch(&srv.source("/busy-long"), None).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(e.http_status(), Some(503));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(e.disposition(), Disposition::RetryLater);
    assert_eq!(srv.hits("/busy-long"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_404_is_permanent_and_not_retried() {
    let srv = HttpServer::start(route).await;
    let f = fetcher();
    let e = f.fetch(&srv.source("/missing"), None).await.unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e:?}");
    assert_eq!(e.disposition(), Disposition::Permanent);
    assert_eq!(
        e.to_string(),
        format!("http://{}/missing: HTTP 404 Not Found", srv.addr)
    );
    assert_eq!(srv.hits("/missing"), 1, "a 404 must not be retried");

    let e = f.fetch(&srv.source("/forbidden"), None).await.unwrap_err();
    assert_eq!(e.http_status(), Some(403));
    assert_eq!(srv.hits("/forbidden"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_stalled_body_times_out_and_is_retried() {
    let srv = HttpServer::start(route).await;
    let t = Instant::now();
    let e = fetcher()
        .fetch(&srv.source("/stall-body"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Timeout {
                phase: TimeoutPhase::Idle,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.disposition(), Disposition::RetryLater);
    assert!(
        e.to_string().contains("/stall-body") && e.to_string().contains("timed out"),
        "{e}"
    );
    assert_eq!(srv.hits("/stall-body"), 3, "first attempt + 2 retries");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_silent_server_is_cut_by_the_job_deadline() {
    let srv = HttpServer::start(route).await;
    let settings = FetchSettings {
        idle_timeout: Duration::from_secs(10),
        attempt_timeout: Duration::from_millis(700),
        job_timeout: Duration::from_millis(1500),
        max_retries: 10,
        ..quick_settings()
    };
    let t = Instant::now();
    let e = Fetcher::new(settings)
        .unwrap()
        .fetch(&srv.source("/stall-head"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Timeout { .. }), "{e:?}");
    // Without the deadline: 11 attempts of 0.7 s.
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_body_over_the_cap_is_refused() {
    let srv = HttpServer::start(route).await;
    let f = fetcher();
    // Announced length over the cap: refused before reading the body.
    let t = Instant::now();
    let e = f
        .fetch(&srv.source("/big-declared"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::TooLarge {
                declared: Some(104857600),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(e.disposition(), Disposition::Permanent);
    // No length: found while streaming.
    let e = f
        .fetch(&srv.source("/big-chunked"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::TooLarge {
                limit: CAP,
                declared: None,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("cap"), "{e}");
    assert_eq!(srv.hits("/big-chunked"), 1, "a size error is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_truncated_body_is_an_error() {
    let srv = HttpServer::start(route).await;
    let e = fetcher()
        .fetch(&srv.source("/truncated"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Truncated { .. }), "{e:?}");
    assert_eq!(e.disposition(), Disposition::RetryLater);
    assert_eq!(srv.hits("/truncated"), 3);
    // Cut in the middle of a gzip-encoded body: still a truncation (worth a
    // retry), not a corrupt encoding.
    let e = fetcher()
        .fetch(&srv.source("/gzip-truncated"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Truncated { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_redirect_is_followed_and_reported() {
    let srv = HttpServer::start(route).await;
    let (bytes, _, _, final_url) = body_of(
        fetcher()
            .fetch(&srv.source("/redirect"), None)
            .await
            .unwrap(),
    );
    assert_eq!(bytes, PLAIN);
    assert_eq!(final_url.path(), "/plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_refused_connection_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let source = Source::parse(&format!("http://127.0.0.1:{port}/feed.txt")).unwrap();
    let e = fetcher().fetch(&source, None).await.unwrap_err();
    assert!(matches!(e, FetchError::Connect { .. }), "{e:?}");
    assert_eq!(e.disposition(), Disposition::RetryLater);
    assert!(
        e.to_string().starts_with(&format!(
            "http://127.0.0.1:{port}/feed.txt: connection failed"
        )),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_unknown_host_is_a_dns_error() {
    let source = Source::parse("http://no-such-feed-host.invalid/list.txt").unwrap();
    let settings = FetchSettings {
        max_retries: 0,
        ..quick_settings()
    };
    let e = Fetcher::new(settings)
        .unwrap()
        .fetch(&source, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FetchError::Dns { host, .. } if host == "no-such-feed-host.invalid"),
        "{e:?}"
    );
    assert!(e.to_string().contains("DNS lookup"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_all_one_stalled_feed_delays_no_other() {
    let srv = HttpServer::start(route).await;
    let settings = FetchSettings {
        idle_timeout: Duration::from_secs(3),
        max_retries: 0,
        ..quick_settings()
    };
    let f = Fetcher::new(settings).unwrap();
    let jobs: Vec<(&str, Source, Option<Validators>)> = vec![
        ("stalled", srv.source("/stall-head"), None),
        ("plain", srv.source("/plain"), None),
        ("missing", srv.source("/missing"), None),
        ("etag", srv.source("/etag"), None),
        ("gzip", srv.source("/gzip"), None),
    ];
    let t = Instant::now();
    let mut stream = f.fetch_stream(jobs, 2);
    let mut order = Vec::new();
    while let Some((key, result)) = stream.next().await {
        let at = t.elapsed();
        match key {
            "stalled" => {
                assert!(
                    matches!(
                        result,
                        Err(FetchError::Timeout {
                            phase: TimeoutPhase::Idle,
                            ..
                        })
                    ),
                    "{result:?}"
                );
                assert!(at >= Duration::from_secs(3));
            }
            "missing" => assert_eq!(result.unwrap_err().disposition(), Disposition::Permanent),
            _ => {
                assert!(
                    matches!(result, Ok(Fetched::Body { .. })),
                    "{key}: {result:?}"
                );
                assert!(
                    at < Duration::from_secs(2),
                    "{key} waited for the stalled feed: {at:?}"
                );
            }
        }
        order.push(key);
    }
    assert_eq!(order.len(), 5);
    assert_eq!(order.last(), Some(&"stalled"), "{order:?}");
    assert!(t.elapsed() < Duration::from_secs(6));

    // The collecting form gives the same set of results.
    let jobs = vec![
        (1u32, srv.source("/plain"), None),
        (2, srv.source("/missing"), None),
    ];
    let mut all = f.fetch_all(jobs, 8).await;
    all.sort_by_key(|(k, _)| *k);
    assert!(all[0].1.is_ok() && all[1].1.is_err());
}

// ---------------------------------------------------------------------------
// https

/// A test CA and a server certificate for 127.0.0.1 signed by it: the CA in
/// PEM, and a TLS acceptor (rustls, ring) presenting the server certificate.
fn test_pki() -> (String, TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "feedwall test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_trusted_ca_works_and_refuses_downgrade_redirects() {
    let (ca_pem, acceptor) = test_pki();
    let srv = HttpServer::start_with(Some(acceptor), route).await;
    let settings = FetchSettings {
        extra_roots_pem: ca_pem.into_bytes(),
        ..quick_settings()
    };
    let f = Fetcher::new(settings).unwrap();
    let (bytes, _, _, final_url) = body_of(f.fetch(&srv.source("/gzip"), None).await.unwrap());
    assert_eq!(bytes, PLAIN);
    assert_eq!(final_url.scheme(), "https");

    let e = f.fetch(&srv.source("/to-http"), None).await.unwrap_err();
    assert!(matches!(e, FetchError::Redirect { .. }), "{e:?}");
    assert!(e.to_string().contains("non-https"), "{e}");
    assert_eq!(e.disposition(), Disposition::Permanent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_an_untrusted_certificate_is_a_permanent_tls_error() {
    let (_, acceptor) = test_pki();
    let srv = HttpServer::start_with(Some(acceptor), route).await;
    let e = fetcher()
        .fetch(&srv.source("/plain"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Tls { .. }), "{e:?}");
    assert_eq!(e.disposition(), Disposition::Permanent);
    assert!(e.to_string().contains("TLS failed"), "{e}");
    assert_eq!(srv.hits("/plain"), 0);
}

// ---------------------------------------------------------------------------
// file

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_fetch_not_modified_and_changes() {
    let dir = tempdir();
    let path = dir.path().join("feed.txt");
    std::fs::write(&path, PLAIN).unwrap();
    let source = Source::from_path(&path).unwrap();
    let f = fetcher();

    let (bytes, validators, _, final_url) = body_of(f.fetch(&source, None).await.unwrap());
    assert_eq!(bytes, PLAIN);
    assert_eq!(validators.size, Some(PLAIN.len() as u64));
    assert!(validators.modified.is_some() && validators.last_modified.is_some());
    assert_eq!(final_url.to_file_path().unwrap(), path);

    assert_eq!(
        f.fetch(&source, Some(&validators)).await.unwrap(),
        Fetched::NotModified
    );

    std::fs::write(&path, b"203.0.113.9\n").unwrap();
    let (bytes, newer, ..) = body_of(f.fetch(&source, Some(&validators)).await.unwrap());
    assert_eq!(bytes, b"203.0.113.9\n");
    assert_ne!(newer, validators);

    // Same length, new mtime: changed too.
    let later = SystemTime::now() + Duration::from_secs(10);
    std::fs::write(&path, b"203.0.113.8\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let (bytes, ..) = body_of(f.fetch(&source, Some(&newer)).await.unwrap());
    assert_eq!(bytes, b"203.0.113.8\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_gz_missing_and_oversized() {
    let dir = tempdir();
    let f = fetcher();
    let gz = dir.path().join("feed.txt.gz");
    std::fs::write(&gz, gzip(PLAIN)).unwrap();
    let (bytes, ..) = body_of(
        f.fetch(&Source::from_path(&gz).unwrap(), None)
            .await
            .unwrap(),
    );
    assert_eq!(bytes, PLAIN);

    let e = f
        .fetch(
            &Source::from_path(&dir.path().join("absent.txt")).unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::File {
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.disposition(), Disposition::Permanent);
    assert!(e.to_string().contains("absent.txt"), "{e}");

    let big = dir.path().join("big.txt");
    std::fs::write(&big, vec![b'9'; CAP as usize + 1]).unwrap();
    let e = f
        .fetch(&Source::from_path(&big).unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e:?}");

    // Compressed under the cap, over it once inflated.
    let bomb = dir.path().join("bomb.gz");
    std::fs::write(&bomb, gzip(&vec![b'1'; 2 * CAP as usize])).unwrap();
    let e = f
        .fetch(&Source::from_path(&bomb).unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e:?}");
}

// ---------------------------------------------------------------------------
// ftp

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_fetch_then_not_modified_then_changed() {
    let root = tempdir();
    let scratch = tempdir();
    std::fs::write(root.path().join("drop.txt"), PLAIN).unwrap();
    let srv = FtpServer::start(root.path(), scratch.path());
    let f = fetcher();
    let source = srv.source("", "drop.txt");

    let (bytes, validators, content_type, final_url) =
        body_of(f.fetch(&source, None).await.unwrap());
    assert_eq!(bytes, PLAIN);
    assert_eq!(content_type, None);
    assert_eq!(
        final_url.as_str(),
        format!("ftp://127.0.0.1:{}/drop.txt", srv.port)
    );
    assert_eq!(validators.size, Some(PLAIN.len() as u64));
    let mtime = std::fs::metadata(root.path().join("drop.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let mdtm = validators.modified.expect("MDTM");
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(mdtm), secs(mtime), "MDTM is the file's mtime (UTC)");

    assert_eq!(
        f.fetch(&source, Some(&validators)).await.unwrap(),
        Fetched::NotModified
    );

    // New content with a later mtime: fetched again.
    let path = root.path().join("drop.txt");
    std::fs::write(&path, b"203.0.113.0/24\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    let (bytes, newer, ..) = body_of(f.fetch(&source, Some(&validators)).await.unwrap());
    assert_eq!(bytes, b"203.0.113.0/24\n");
    assert_ne!(newer.modified, validators.modified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_login_gz_missing_and_oversized() {
    let root = tempdir();
    let scratch = tempdir();
    std::fs::write(root.path().join("drop.txt"), PLAIN).unwrap();
    std::fs::write(root.path().join("drop.txt.gz"), gzip(PLAIN)).unwrap();
    std::fs::write(root.path().join("big.txt"), vec![b'5'; CAP as usize + 10]).unwrap();
    let srv = FtpServer::start(root.path(), scratch.path());
    let f = fetcher();

    // user:pass from the URL, percent-decoded; never shown.
    let (bytes, ..) = body_of(
        f.fetch(&srv.source("feeder:s3cr%3Aet@", "drop.txt"), None)
            .await
            .unwrap(),
    );
    assert_eq!(bytes, PLAIN);
    let e = f
        .fetch(&srv.source("feeder:wrong-secret@", "drop.txt"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Ftp { code: 530, .. }), "{e:?}");
    assert_eq!(e.disposition(), Disposition::Permanent);
    assert!(!e.to_string().contains("wrong-secret"), "{e}");

    let (bytes, ..) = body_of(f.fetch(&srv.source("", "drop.txt.gz"), None).await.unwrap());
    assert_eq!(bytes, PLAIN);

    let e = f
        .fetch(&srv.source("", "absent.txt"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Ftp {
                command: "RETR",
                code: 550,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.disposition(), Disposition::Permanent);

    let e = f.fetch(&srv.source("", "big.txt"), None).await.unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e:?}");
}
