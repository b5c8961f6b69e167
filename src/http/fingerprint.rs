//! The browser fingerprint of a web request and its `Set-Cookie`
//! (docs/protocol.md#fingerprint-cookie), as Actionhero's `browser_fingerprint` computes them.
//!
//! First match wins: the cookie named `cookie_key`; a header of that exact name (never
//! matches a mixed-case key, as in Node, since header names are lower-cased); the
//! `x-<cookie_key>` header; otherwise a fresh 40-hex-digit fingerprint, and a
//! `Set-Cookie` so the browser sends it back. The client library copies the cookie into
//! the WebSocket URL (`?sessionID=`), which links the web and WebSocket sessions.

use http::header::COOKIE;
use http::Request;
use sha1::{Digest as _, Sha1};

/// How the fingerprint cookie is set (Actionhero's `web.fingerprintOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FingerprintConfig {
    /// Send `Set-Cookie` when the request had no fingerprint (default `true`).
    pub set_cookie: bool,
    /// The cookie's `path` setting (default `Some("/")`).
    pub path: Option<String>,
    /// The cookie's lifetime in milliseconds, written as `expires=<date>` (default one
    /// hour, 3 600 000).
    pub expires_ms: Option<u64>,
}

impl Default for FingerprintConfig {
    fn default() -> Self {
        Self {
            set_cookie: true,
            path: Some("/".to_owned()),
            expires_ms: Some(3_600_000),
        }
    }
}

/// A web request's fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebFingerprint {
    /// The fingerprint.
    pub fingerprint: String,
    /// The `Set-Cookie` value to send, when the fingerprint is new.
    pub set_cookie: Option<String>,
}

/// The fingerprint of `req`. `entropy` makes a new fingerprint (the caller draws it
/// from its random source); `now_ms` dates the cookie's `expires`.
pub fn web_fingerprint<B>(
    req: &Request<B>,
    cookie_key: &str,
    config: &FingerprintConfig,
    now_ms: u64,
    entropy: [u8; 16],
) -> WebFingerprint {
    if let Some(value) = request_cookie(req, cookie_key) {
        return WebFingerprint {
            fingerprint: value,
            set_cookie: None,
        };
    }
    let lower = cookie_key.to_ascii_lowercase();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    // Node lower-cases header names, so only an all-lower-case key can match itself.
    let named = (lower == cookie_key).then(|| header(&lower)).flatten();
    if let Some(value) = named.or_else(|| header(&format!("x-{lower}"))) {
        return WebFingerprint {
            fingerprint: value,
            set_cookie: None,
        };
    }
    let fingerprint = hex(&Sha1::digest(entropy));
    let set_cookie = config.set_cookie.then(|| {
        let mut c = format!("{cookie_key}={fingerprint}");
        if config.path.is_some() || config.expires_ms.is_some() {
            c.push(';');
            if let Some(path) = &config.path {
                c.push_str("path=");
                c.push_str(path);
                c.push(';');
            }
            if let Some(expires) = config.expires_ms {
                c.push_str("expires=");
                c.push_str(&crate::time::http_date(now_ms.saturating_add(expires)));
                c.push(';');
            }
        }
        c
    });
    WebFingerprint {
        fingerprint,
        set_cookie,
    }
}

/// The value of the cookie named `name` in the request's `Cookie` headers.
pub(crate) fn request_cookie<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        .flat_map(cookie::Cookie::split_parse)
        .flatten()
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/api/x");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap()
    }

    fn fp(headers: &[(&str, &str)]) -> WebFingerprint {
        web_fingerprint(
            &req(headers),
            "sessionID",
            &FingerprintConfig::default(),
            1_795_610_439_000,
            [1; 16],
        )
    }

    #[test]
    fn new_fingerprint_sets_the_cookie_as_actionhero_does() {
        let f = fp(&[]);
        assert_eq!(f.fingerprint.len(), 40);
        assert!(f.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            f.set_cookie.unwrap(),
            format!(
                "sessionID={};path=/;expires=Wed, 25 Nov 2026 13:40:39 GMT;",
                f.fingerprint
            )
        );
        let bare = web_fingerprint(
            &req(&[]),
            "sessionID",
            &FingerprintConfig {
                set_cookie: true,
                path: None,
                expires_ms: None,
            },
            0,
            [1; 16],
        );
        assert_eq!(
            bare.set_cookie.unwrap(),
            format!("sessionID={}", bare.fingerprint)
        );
    }

    #[test]
    fn cookie_then_x_header_win() {
        let f = fp(&[("cookie", "a=1; sessionID=abc; b=2")]);
        assert_eq!((f.fingerprint.as_str(), f.set_cookie), ("abc", None));
        let f = fp(&[("x-sessionid", "def")]);
        assert_eq!((f.fingerprint.as_str(), f.set_cookie), ("def", None));
        // A mixed-case key never matches its own header name (Node lower-cases them).
        assert!(fp(&[("sessionid", "zzz")]).set_cookie.is_some());
        assert!(fp(&[("cookie", "other=1")]).set_cookie.is_some());
        let lower = web_fingerprint(
            &req(&[("fp", "ghi")]),
            "fp",
            &FingerprintConfig::default(),
            0,
            [0; 16],
        );
        assert_eq!(lower.fingerprint, "ghi");
    }
}
