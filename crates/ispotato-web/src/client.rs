//! Who is asking: the client's address (believing `X-Forwarded-For` only from a named proxy),
//! the browser's id from its cookie, and the CSRF token bound to that id.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use ispotato_core::secret::constant_time_eq;

use crate::state::WebState;

/// The cookie that names a browser (random, HttpOnly, SameSite=Lax).
pub const BROWSER_COOKIE: &str = "ispotato_browser";
/// The header a script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A browser's id: 32 lowercase hex characters, chosen by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserId(String);

impl BrowserId {
    pub fn new_random() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }

    /// Only the form the server issues is accepted.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A browser id issued on this request (it sent none); the cookie is set on the response.
#[derive(Debug, Clone)]
pub struct IssuedBrowser(pub BrowserId);

/// The client of one request.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: IpAddr,
    /// The browser id this request's cookie carried.
    pub browser: Option<BrowserId>,
    /// An id issued on this request (when it carried none).
    pub issued: Option<BrowserId>,
    /// Whether the client reached us over HTTPS (a trusted proxy's `X-Forwarded-Proto`).
    pub https: bool,
}

impl Client {
    /// The key the client's budgets are kept under: the address, an IPv6 address by its /64
    /// (one subscriber usually holds a whole /64).
    pub fn addr_key(&self) -> String {
        match self.addr {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = ip.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        }
    }

    /// Whose images these are, for the core's per-user limit: always the address, because a
    /// client chooses its cookies and could otherwise take a fresh quota with each.
    pub fn quota_id(&self) -> String {
        format!("addr:{}", self.addr_key())
    }

    /// Who votes and whose fact deck it is: the browser when it has one, else the address.
    pub fn person_id(&self) -> String {
        match &self.browser {
            Some(b) => format!("browser:{}", b.as_str()),
            None => self.quota_id(),
        }
    }

    /// The browser a page is rendered for (the cookie's, or the one issued now).
    pub fn page_browser(&self) -> Option<&BrowserId> {
        self.browser.as_ref().or(self.issued.as_ref())
    }
}

/// The CSRF token for a browser: a keyed hash of its id under the install's salt (so every
/// replica sharing the salt agrees, and nobody without it can make one).
pub fn csrf_token(state: &WebState, browser: &BrowserId) -> String {
    state.services.hasher.hash("web-csrf", browser.as_str())
}

/// Whether `presented` is the token of the request's browser (compared in constant time).
pub fn csrf_ok(state: &WebState, client: &Client, presented: Option<&str>) -> bool {
    match (&client.browser, presented) {
        (Some(browser), Some(token)) => constant_time_eq(csrf_token(state, browser).as_bytes(), token.as_bytes()),
        _ => false,
    }
}

/// The browser id in the request's cookies, if well-formed.
pub fn browser_from_cookies(headers: &HeaderMap) -> Option<BrowserId> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .and_then(|(_, value)| BrowserId::parse(value.trim()))
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest address
/// in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .copied()
        .unwrap_or(peer)
}

fn forwarded_https(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> bool {
    trusted.contains(&peer)
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

impl FromRequestParts<Arc<WebState>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<WebState>) -> Result<Self, Self::Rejection> {
        Ok(client_of(parts, state))
    }
}

pub fn client_of(parts: &Parts, state: &WebState) -> Client {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    Client {
        addr: client_addr(peer, &parts.headers, &state.trusted_proxies),
        browser: browser_from_cookies(&parts.headers),
        issued: parts.extensions.get::<IssuedBrowser>().map(|i| i.0.clone()),
        https: forwarded_https(peer, &parts.headers, &state.trusted_proxies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7")]);
        // Straight from a client: the header is whatever the client wrote.
        assert_eq!(
            client_addr("192.0.2.1".parse().unwrap(), &h, &[proxy]),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        // From the proxy: the address the proxy saw (the last one), not what the client claimed.
        assert_eq!(
            client_addr(proxy, &h, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Two trusted proxies in a row are skipped.
        let h2 = headers(&[("x-forwarded-for", "198.51.100.7, 10.0.0.3")]);
        let both = ["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
        assert_eq!(
            client_addr(proxy, &h2, &both),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // A proxy that sent nothing usable: the proxy itself.
        assert_eq!(
            client_addr(proxy, &headers(&[("x-forwarded-for", "junk")]), &[proxy]),
            proxy
        );
    }

    #[test]
    fn browser_ids_are_only_the_form_we_issue() {
        assert!(BrowserId::parse(BrowserId::new_random().as_str()).is_some());
        assert!(BrowserId::parse("../../etc").is_none());
        assert!(BrowserId::parse(&"A".repeat(32)).is_none());
        let id = "0123456789abcdef0123456789abcdef";
        let h = headers(&[("cookie", &format!("a=b; {BROWSER_COOKIE}={id}; c=d"))]);
        assert_eq!(browser_from_cookies(&h).unwrap().as_str(), id);
        assert!(browser_from_cookies(&headers(&[("cookie", "ispotato_browser=x")])).is_none());
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        let c = |a: &str| Client {
            addr: a.parse().unwrap(),
            browser: None,
            issued: None,
            https: false,
        };
        assert_eq!(
            c("2001:db8:1:2:aaaa::1").addr_key(),
            c("2001:db8:1:2:bbbb::9").addr_key()
        );
        assert_ne!(c("2001:db8:1:2::1").addr_key(), c("2001:db8:1:3::1").addr_key());
        assert_eq!(c("::ffff:192.0.2.4").addr_key(), "192.0.2.4");
    }
}
