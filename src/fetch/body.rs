//! Bodies under a cap: accumulated piece by piece with the cap checked at
//! every piece (so an oversized body is refused as soon as it crosses the
//! cap, never held whole), and gzip files recognised by their magic bytes
//! and decompressed under the same cap (a small "zip bomb" stops at the cap).

use std::io::Read;

/// Where a body goes while it arrives.
pub(crate) struct CappedBody {
    buf: Vec<u8>,
    limit: u64,
}

/// The body crossed the cap.
#[derive(Debug)]
pub(crate) struct OverCap;

/// Largest up-front allocation made from a declared length, whatever the
/// sender claims: 8 MiB. Beyond it the buffer grows as bytes really arrive.
const MAX_PREALLOCATION: u64 = 8 * 1024 * 1024;

impl CappedBody {
    /// `declared` is a length the sender announced (checked against the cap
    /// by the caller), used only to size the first allocation.
    pub(crate) fn new(limit: u64, declared: Option<u64>) -> CappedBody {
        let first = declared.unwrap_or(0).min(limit).min(MAX_PREALLOCATION);
        CappedBody {
            buf: Vec::with_capacity(first as usize),
            limit,
        }
    }

    pub(crate) fn push(&mut self, piece: &[u8]) -> Result<(), OverCap> {
        if self.buf.len() as u64 + piece.len() as u64 > self.limit {
            return Err(OverCap);
        }
        self.buf.extend_from_slice(piece);
        Ok(())
    }

    pub(crate) fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// The gzip member header (RFC 1952 §2.3.1): ID1, ID2, CM = 8 (deflate).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Why a gzip body could not be used.
#[derive(Debug)]
pub(crate) enum GunzipError {
    OverCap,
    Corrupt(String),
}

/// True when `bytes` starts like a gzip file.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// When `bytes` is a gzip file, its decompressed content (all members, as
/// `gzip -d` does), at most `limit` bytes; otherwise `bytes` unchanged.
pub(crate) fn gunzip_if_gzip(bytes: Vec<u8>, limit: u64) -> Result<Vec<u8>, GunzipError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
    let mut out =
        Vec::with_capacity((bytes.len() as u64 * 4).min(limit).min(MAX_PREALLOCATION) as usize);
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| GunzipError::Corrupt(e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(GunzipError::OverCap);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn cap_is_checked_per_piece() {
        let mut b = CappedBody::new(10, Some(1_000_000_000));
        b.push(b"12345").unwrap();
        b.push(b"67890").unwrap();
        assert!(b.push(b"x").is_err());
        assert_eq!(b.into_vec(), b"1234567890");
    }

    #[test]
    fn plain_bodies_pass_through() {
        assert_eq!(
            gunzip_if_gzip(b"192.0.2.1\n".to_vec(), 100).unwrap(),
            b"192.0.2.1\n"
        );
    }

    #[test]
    fn gzip_is_decompressed_under_the_cap() {
        let data = b"198.51.100.0/24\n".repeat(100);
        assert_eq!(gunzip_if_gzip(gzip(&data), 10_000).unwrap(), data);
        assert!(matches!(
            gunzip_if_gzip(gzip(&data), data.len() as u64 - 1),
            Err(GunzipError::OverCap)
        ));
        // Exactly at the cap is fine.
        assert_eq!(
            gunzip_if_gzip(gzip(&data), data.len() as u64).unwrap(),
            data
        );
        // Concatenated members, as `cat a.gz b.gz` makes.
        let mut two = gzip(b"a\n");
        two.extend(gzip(b"b\n"));
        assert_eq!(gunzip_if_gzip(two, 100).unwrap(), b"a\nb\n");
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut z = gzip(&b"203.0.113.7\n".repeat(50));
        z.truncate(z.len() / 2);
        assert!(matches!(
            gunzip_if_gzip(z, 10_000),
            Err(GunzipError::Corrupt(_))
        ));
    }
}
