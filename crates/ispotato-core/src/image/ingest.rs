//! Untrusted sources in, bytes under the byte cap out: a local file (read capped) or a URL
//! (through the SSRF-guarded fetcher). [`Judge`](crate::serve::Judge) decodes them on its workers;
//! batch tools use [`ingest_file`].

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::image::decode::{decode, ValidatedImage};
use crate::image::error::IngestError;
use crate::image::fetch::{FetchConfig, Fetcher};
use crate::image::limits::IngestLimits;

/// Where an image comes from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    Path(PathBuf),
    Url(String),
}

impl ImageSource {
    /// Reads a command-line argument: anything that looks like `scheme://...` is a URL (and
    /// fails the scheme check unless http/https), everything else a file path.
    pub fn from_arg(arg: &str) -> Self {
        match arg.split_once("://") {
            Some((scheme, _))
                if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                Self::Url(arg.to_string())
            }
            _ => Self::Path(PathBuf::from(arg)),
        }
    }
}

/// Turns untrusted sources into validated images under one set of limits.
#[derive(Clone)]
pub struct Ingestor {
    limits: IngestLimits,
    fetcher: Fetcher,
}

impl Ingestor {
    pub fn new(limits: IngestLimits, fetch: FetchConfig) -> Result<Self, IngestError> {
        Ok(Self {
            limits,
            fetcher: Fetcher::new(fetch)?,
        })
    }

    pub fn limits(&self) -> &IngestLimits {
        &self.limits
    }

    /// Loads the raw bytes of a source, enforcing the byte cap.
    pub async fn load_bytes(&self, source: ImageSource) -> Result<Vec<u8>, IngestError> {
        let max = self.limits.max_bytes;
        match source {
            ImageSource::Path(path) => tokio::task::spawn_blocking(move || read_file_capped(&path, max))
                .await
                .map_err(|e| IngestError::Download { detail: e.to_string() })?,
            ImageSource::Url(url) => self.fetcher.fetch(&url, max).await,
        }
    }
}

/// Reads a file, refusing it before reading when it is over `max_bytes` (and never reading more
/// than `max_bytes + 1` even if it grows meanwhile).
pub fn read_file_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>, IngestError> {
    // Checked before opening: a FIFO would block open(), a device never ends.
    let meta = std::fs::metadata(path).map_err(|source| IngestError::Io { source })?;
    if !meta.is_file() {
        return Err(IngestError::Io {
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    let file = std::fs::File::open(path).map_err(|source| IngestError::Io { source })?;
    let declared = meta.len();
    if declared > max_bytes {
        return Err(IngestError::TooLarge {
            size: declared,
            limit: max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| IngestError::Io { source })?;
    if bytes.len() as u64 > max_bytes {
        return Err(IngestError::TooLargeStreamed { limit: max_bytes });
    }
    Ok(bytes)
}

/// Reads and decodes a local file synchronously (for batch tools such as `eval`).
pub fn ingest_file(path: &Path, limits: &IngestLimits) -> Result<ValidatedImage, IngestError> {
    decode(&read_file_capped(path, limits.max_bytes)?, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_into_urls_and_paths() {
        assert!(matches!(
            ImageSource::from_arg("https://x.test/a.jpg"),
            ImageSource::Url(_)
        ));
        assert!(matches!(
            ImageSource::from_arg("ftp://x.test/a.jpg"),
            ImageSource::Url(_)
        ));
        assert!(matches!(
            ImageSource::from_arg("photos/potato.jpg"),
            ImageSource::Path(_)
        ));
        assert!(matches!(ImageSource::from_arg("odd name://.jpg"), ImageSource::Path(_)));
    }

    #[test]
    fn the_largest_byte_cap_reads_files_instead_of_overflowing_to_nothing() {
        let path = std::env::temp_dir().join(format!("ispotato-cap-{}.bin", std::process::id()));
        std::fs::write(&path, b"twelve bytes").unwrap();
        assert_eq!(read_file_capped(&path, u64::MAX).unwrap(), b"twelve bytes");
        assert!(matches!(
            read_file_capped(&path, 11),
            Err(IngestError::TooLarge { size: 12, limit: 11 })
        ));
        let _ = std::fs::remove_file(&path);
    }
}
