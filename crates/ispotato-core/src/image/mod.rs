//! Untrusted images in, a [`ValidatedImage`] out. Bytes come from a local file (read under the
//! byte cap), a URL (through the SSRF-guarded [`Fetcher`], which refuses private addresses) or a
//! platform download; the guarded [`decode`](decode::decode) checks the byte cap, the format
//! allow-list, the pixel caps, the decode's memory and time budgets ([`IngestLimits`]) before and
//! while it decodes. Every refusal is an [`IngestError`] whose `Display` a chat user understands.

pub(crate) mod decode;
pub(crate) mod error;
pub(crate) mod fetch;
pub(crate) mod ingest;
pub(crate) mod limits;
pub(crate) mod net_guard;

pub use decode::{
    decode, jpeg_shape, looks_like_image, sniff_format, AcceptedFormat, JpegShape, ValidatedImage, MAX_JPEG_SCANS,
};
pub use error::IngestError;
pub use fetch::{check_url, redact, FetchConfig, Fetcher};
pub use ingest::{ingest_file, read_file_capped, ImageSource, Ingestor};
pub use limits::{human_bytes_over, IngestLimits};
pub use net_guard::{forbidden_class, LoopbackPolicy};
