//! The admin page's TLS identity: the operator's certificate when
//! configured, otherwise a self-signed one generated on first start and
//! kept in the data directory (so its fingerprint stays the same across
//! restarts and browsers can pin it).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// Self-signed certificate and key, in the data directory.
pub const CERT_FILE: &str = "admin-cert.pem";
pub const KEY_FILE: &str = "admin-key.pem";

/// SHA-256 fingerprint of a DER certificate, as `AB:CD:...`.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Paths of the certificate and key in use, generating a self-signed pair
/// when none is configured or kept yet.
pub fn cert_paths(cfg: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let (Some(c), Some(k)) = (&cfg.admin.tls_cert, &cfg.admin.tls_key) {
        return Ok((c.clone(), k.clone()));
    }
    let cert = cfg.data_dir.join(CERT_FILE);
    let key = cfg.data_dir.join(KEY_FILE);
    if !cert.is_file() || !key.is_file() {
        generate(&cert, &key, cfg)?;
    }
    Ok((cert, key))
}

fn generate(cert_path: &Path, key_path: &Path, cfg: &Config) -> anyhow::Result<()> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let ip = cfg.admin.listen.ip();
    if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
        names.push(ip.to_string());
    }
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            names.push(h.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names).context("certificate names")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "feedwall admin (self-signed)");
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    std::fs::create_dir_all(&cfg.data_dir)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(key_path)
            .with_context(|| format!("cannot write {}", key_path.display()))?;
        f.write_all(key.serialize_pem().as_bytes())?;
        f.sync_all()?;
    }
    crate::snapshot::write_atomic_file(cert_path, cert.pem().as_bytes())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed admin certificate");
    Ok(())
}

/// The rustls server configuration and the leaf certificate's fingerprint.
pub fn server_config(cfg: &Config) -> anyhow::Result<(rustls::ServerConfig, String)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (cert_path, key_path) = cert_paths(cfg)?;
    let cert_pem = std::fs::read(&cert_path)
        .with_context(|| format!("cannot read {}", cert_path.display()))?;
    let key_pem =
        std::fs::read(&key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile_certs(&cert_pem)
        .with_context(|| format!("{}: no certificate", cert_path.display()))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile_key(&key_pem)
        .with_context(|| format!("{}: no private key", key_path.display()))?;
    let fp = fingerprint(&certs[0]);
    let mut sc = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not form a TLS identity")?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((sc, fp))
}

fn rustls_pemfile_certs(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>()?;
    if certs.is_empty() {
        bail!("no PEM certificate found");
    }
    Ok(certs)
}

fn rustls_pemfile_key(pem: &[u8]) -> anyhow::Result<PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    Ok(PrivateKeyDer::from_pem_slice(pem)?)
}
