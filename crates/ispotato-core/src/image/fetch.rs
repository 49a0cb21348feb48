//! Downloads a user-supplied image URL without letting it reach anything private.
//!
//! Every hop is checked: scheme (http/https), no credentials, IP-literal hosts against
//! [`net_guard`](crate::image::net_guard), and names through a resolver that drops forbidden addresses,
//! so the connection can only go to the addresses that were checked (no DNS-rebinding window).
//! Redirects are followed by hand, at most `max_redirects`, each hop re-checked. The body is
//! streamed under the byte cap whatever Content-Length says, and must be an image by content
//! type or magic bytes.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::redirect::Policy;
use url::{Host, Url};

use crate::image::decode::looks_like_image;
use crate::image::error::IngestError;
use crate::image::net_guard::{forbidden_class, LoopbackPolicy};

/// How downloads behave.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub connect_timeout: Duration,
    /// Limit for the whole download, redirects included.
    pub total_timeout: Duration,
    pub max_redirects: usize,
    pub loopback: LoopbackPolicy,
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
            max_redirects: 3,
            loopback: LoopbackPolicy::Refuse,
            user_agent: concat!("IsPotato/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// A resolver error that carries why a name was refused.
#[derive(Debug)]
enum ResolveRefusal {
    Forbidden { host: String, class: &'static str },
    NotFound { host: String },
}

impl std::fmt::Display for ResolveRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Forbidden { host, class } => write!(f, "{host} resolves to a {class} address"),
            Self::NotFound { host } => write!(f, "{host} did not resolve"),
        }
    }
}

impl StdError for ResolveRefusal {}

/// Resolves with the system resolver and keeps only public addresses; refuses the name when
/// any address is forbidden (a name that mixes public and private addresses is a rebinding trick).
struct GuardedResolver {
    loopback: LoopbackPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let loopback = self.loopback;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => addrs.collect(),
                Err(_) => Vec::new(),
            };
            if addrs.is_empty() {
                return Err(Box::new(ResolveRefusal::NotFound { host }) as Box<dyn StdError + Send + Sync>);
            }
            if let Some(class) = addrs.iter().find_map(|a| forbidden_class(a.ip(), loopback)) {
                return Err(Box::new(ResolveRefusal::Forbidden { host, class }) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The SSRF-guarded HTTP client. Cheap to share (`Clone` shares the connection pool).
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: Arc<FetchConfig>,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Result<Self, IngestError> {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .user_agent(config.user_agent.clone())
            .dns_resolver(Arc::new(GuardedResolver {
                loopback: config.loopback,
            }))
            .no_proxy()
            .build()
            .map_err(|e| IngestError::Download {
                detail: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            config: Arc::new(config),
        })
    }

    /// Downloads `url`, following at most `max_redirects` checked redirects, and returns the
    /// body (at most `max_bytes`).
    pub async fn fetch(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, IngestError> {
        let after = self.config.total_timeout;
        match tokio::time::timeout(after, self.fetch_inner(url, max_bytes)).await {
            Ok(result) => result,
            Err(_) => Err(IngestError::Timeout { after }),
        }
    }

    async fn fetch_inner(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, IngestError> {
        let mut current = Url::parse(url).map_err(|_| IngestError::InvalidUrl)?;
        let mut redirects = 0;
        loop {
            check_url(&current, self.config.loopback)?;
            let response = self
                .client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| self.map_error(e))?;
            let status = response.status();
            if status.is_redirection() {
                let location =
                    response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or(IngestError::HttpStatus {
                            status: status.as_u16(),
                        })?;
                let next = current.join(location).map_err(|_| IngestError::InvalidUrl)?;
                redirects += 1;
                if redirects > self.config.max_redirects {
                    return Err(IngestError::TooManyRedirects {
                        limit: self.config.max_redirects,
                    });
                }
                tracing::debug!(from = %redact(&current), to = %redact(&next), "following redirect");
                current = next;
                continue;
            }
            if !status.is_success() {
                return Err(IngestError::HttpStatus {
                    status: status.as_u16(),
                });
            }
            return self.read_body(response, max_bytes).await;
        }
    }

    async fn read_body(&self, mut response: reqwest::Response, max_bytes: u64) -> Result<Vec<u8>, IngestError> {
        if let Some(declared) = response.content_length() {
            if declared > max_bytes {
                return Err(IngestError::TooLarge {
                    size: declared,
                    limit: max_bytes,
                });
            }
        }
        let image_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("image/"));
        let mut body = Vec::new();
        let mut sniffed = image_type;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.map_error(e))? {
            if body.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(IngestError::TooLargeStreamed { limit: max_bytes });
            }
            body.extend_from_slice(&chunk);
            if !sniffed && body.len() >= 32 {
                if !looks_like_image(&body) {
                    return Err(IngestError::NotAnImage);
                }
                sniffed = true;
            }
        }
        if !sniffed && !looks_like_image(&body) {
            return Err(IngestError::NotAnImage);
        }
        Ok(body)
    }

    fn map_error(&self, err: reqwest::Error) -> IngestError {
        let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<ResolveRefusal>() {
                return match refusal {
                    ResolveRefusal::Forbidden { host, class } => IngestError::ForbiddenAddress {
                        host: host.clone(),
                        class,
                    },
                    ResolveRefusal::NotFound { host } => IngestError::HostNotFound { host: host.clone() },
                };
            }
            source = e.source();
        }
        if err.is_timeout() {
            // A connect that timed out waited the connect timeout, not the whole budget.
            let after = if err.is_connect() {
                self.config.connect_timeout
            } else {
                self.config.total_timeout
            };
            return IngestError::Timeout { after };
        }
        IngestError::Download {
            detail: err.without_url().to_string(),
        }
    }
}

/// Checks one hop's URL before any connection is made.
pub fn check_url(url: &Url, loopback: LoopbackPolicy) -> Result<(), IngestError> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(IngestError::UnsupportedScheme {
                scheme: other.to_string(),
            })
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IngestError::CredentialsInUrl);
    }
    let ip = match url.host() {
        None => return Err(IngestError::InvalidUrl),
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(v4)) => std::net::IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => std::net::IpAddr::V6(v6),
    };
    match forbidden_class(ip, loopback) {
        Some(class) => Err(IngestError::ForbiddenAddress {
            host: ip.to_string(),
            class,
        }),
        None => Ok(()),
    }
}

/// The URL without query and fragment, for logs (they can carry tokens).
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), IngestError> {
        check_url(&Url::parse(url).unwrap(), LoopbackPolicy::Refuse)
    }

    #[test]
    fn schemes_and_credentials_are_checked_before_connecting() {
        assert!(check("https://example.com/potato.jpg").is_ok());
        assert!(matches!(
            check("ftp://example.com/a.jpg"),
            Err(IngestError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            check("file:///etc/passwd"),
            Err(IngestError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            check("gopher://example.com/"),
            Err(IngestError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            check("https://user:pw@example.com/a.jpg"),
            Err(IngestError::CredentialsInUrl)
        ));
        assert!(matches!(
            check("https://user@example.com/a.jpg"),
            Err(IngestError::CredentialsInUrl)
        ));
    }

    #[test]
    fn ip_literal_hosts_are_checked_in_every_spelling() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://100.64.1.1/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://0.0.0.0/",
        ] {
            assert!(matches!(check(url), Err(IngestError::ForbiddenAddress { .. })), "{url}");
        }
    }

    #[test]
    fn redaction_drops_query_and_credentials() {
        let url = Url::parse("https://u:p@cdn.example/a.png?token=secret#x").unwrap();
        assert_eq!(redact(&url), "https://cdn.example/a.png");
    }
}
