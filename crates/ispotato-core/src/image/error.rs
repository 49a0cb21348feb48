//! Why an image was refused or could not be fetched; `Display` is a message a chat user understands.

use std::time::Duration;

use thiserror::Error;

use crate::image::limits::{human_bytes, human_bytes_over, human_pixels};

/// Why an image was refused or could not be fetched. `Display` is written for chat users;
/// [`IngestError::reason`] is a short stable label for logs and metrics.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("that file is {}; the limit is {}", human_bytes_over(*.size, *.limit).0, human_bytes_over(*.size, *.limit).1)]
    TooLarge { size: u64, limit: u64 },
    #[error("that file is larger than the {} limit", human_bytes(*.limit))]
    TooLargeStreamed { limit: u64 },
    #[error("that image is {width}x{height} ({}); the limit is {} and {max_side} pixels a side", human_pixels(*.width as u64 * *.height as u64), human_pixels(*.max_pixels))]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
        max_side: u32,
    },
    #[error("that image would need more memory to open than I allow")]
    TooMuchMemory,
    #[error("that JPEG is built from {scans} scans; I open at most {limit}")]
    TooManyScans { scans: usize, limit: usize },
    #[error("that image takes too long to open (over {} s); send a simpler one", .budget.as_secs_f32())]
    TooSlowToDecode { budget: Duration },
    #[error("that file is empty")]
    Empty,
    #[error("{what} images aren't supported; send a JPEG, PNG, WebP or GIF")]
    UnsupportedFormat { what: String },
    #[error("that doesn't look like an image; send a JPEG, PNG, WebP or GIF")]
    NotAnImage,
    #[error("that image is damaged or cut off, so I can't open it")]
    Corrupt { detail: String },
    #[error("I can only fetch http:// and https:// links, not {scheme}://")]
    UnsupportedScheme { scheme: String },
    #[error("that link isn't a valid web address")]
    InvalidUrl,
    #[error("links with a username or password in them aren't allowed")]
    CredentialsInUrl,
    #[error("that link points to a {class} address, which I won't fetch")]
    ForbiddenAddress { host: String, class: &'static str },
    #[error("I couldn't find the server for that link")]
    HostNotFound { host: String },
    #[error("that link redirected too many times (the limit is {limit})")]
    TooManyRedirects { limit: usize },
    #[error("the server answered {status} for that link")]
    HttpStatus { status: u16 },
    #[error("the download took too long (over {} s)", .after.as_secs())]
    Timeout { after: Duration },
    #[error("I couldn't download that image")]
    Download { detail: String },
    #[error("I couldn't read that file")]
    Io {
        #[source]
        source: std::io::Error,
    },
}

impl IngestError {
    /// A short stable label for logs and metrics ("too_large", "forbidden_address", ...).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } | Self::TooLargeStreamed { .. } => "too_large",
            Self::TooManyPixels { .. } => "too_many_pixels",
            Self::TooMuchMemory => "too_much_memory",
            Self::TooManyScans { .. } => "too_many_scans",
            Self::TooSlowToDecode { .. } => "too_slow_to_decode",
            Self::Empty => "empty",
            Self::UnsupportedFormat { .. } => "unsupported_format",
            Self::NotAnImage => "not_an_image",
            Self::Corrupt { .. } => "corrupt",
            Self::UnsupportedScheme { .. } => "unsupported_scheme",
            Self::InvalidUrl => "invalid_url",
            Self::CredentialsInUrl => "credentials_in_url",
            Self::ForbiddenAddress { .. } => "forbidden_address",
            Self::HostNotFound { .. } => "host_not_found",
            Self::TooManyRedirects { .. } => "too_many_redirects",
            Self::HttpStatus { .. } => "http_status",
            Self::Timeout { .. } => "timeout",
            Self::Download { .. } => "download",
            Self::Io { .. } => "io",
        }
    }
}
