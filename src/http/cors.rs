//! Cross-origin answers (docs/protocol.md#cors).
//!
//! Two regimes, as in Actionhero:
//! * under the Primus path, Primus's `access-control` middleware: only when the request
//!   has an `Origin`; a bad origin or method gets `403`; otherwise the origin is echoed
//!   with credentials allowed, and a preflight is answered `200` at once;
//! * on the web routes (`/api`, `/public`, `/`), Actionhero's fixed `httpHeaders`
//!   (`Access-Control-Allow-Origin: *` and friends) on every response, and `OPTIONS`
//!   answered `200` with an empty body.
//!
//! With an origin allow-list ([`CorsConfig::allowed_origins`]) both regimes refuse other
//! origins with the `403` of the first regime, and the web routes echo an allowed
//! origin (with `Vary: Origin`) instead of `*`.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use super::HttpResponse;

/// Methods Primus allows (the `access-control` defaults).
const PRIMUS_METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"];
/// Primus's preflight `Access-Control-Max-Age`: 30 days in seconds.
const PRIMUS_MAX_AGE: &str = "2592000";
/// Actionhero's `access-control-allow-methods` for web routes.
pub(crate) const WEB_METHODS: &str = "HEAD, GET, POST, PUT, PATCH, DELETE, OPTIONS, TRACE";

/// Which origins may make cross-origin requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsConfig {
    /// Allowed origins (e.g. `https://app.example.com`), compared ASCII
    /// case-insensitively; `None` (default) allows any, as Actionhero and Primus do.
    pub allowed_origins: Option<Vec<String>>,
}

impl CorsConfig {
    fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.as_ref().map_or(true, |list| {
            list.iter().any(|a| a.trim().eq_ignore_ascii_case(origin))
        })
    }
}

/// What the Primus regime says about a request.
pub(crate) enum PrimusCors {
    /// Answer this at once (`403`, or a preflight's `200`).
    Answer(HttpResponse),
    /// Go on, adding these headers to the answer.
    Headers(Vec<(&'static str, String)>),
}

/// Primus's `access-control` middleware for a non-upgrade request under its path.
pub(crate) fn primus(method: &Method, headers: &HeaderMap, config: &CorsConfig) -> PrimusCors {
    let Some(raw) = headers.get(http::header::ORIGIN) else {
        return PrimusCors::Headers(Vec::new());
    };
    let raw = String::from_utf8_lossy(raw.as_bytes()).into_owned();
    let origin = raw.trim().to_ascii_lowercase();
    if origin_invalid(&origin)
        || !config.allows(&origin)
        || !PRIMUS_METHODS.contains(&method.as_str())
    {
        return PrimusCors::Answer(forbidden(&raw, method));
    }
    let mut out = vec![
        ("Access-Control-Allow-Origin", raw),
        ("Vary", "Origin".to_owned()),
        ("Access-Control-Allow-Credentials", "true".to_owned()),
    ];
    if method == Method::OPTIONS && headers.contains_key("access-control-request-method") {
        out.push(("Access-Control-Max-Age", PRIMUS_MAX_AGE.to_owned()));
        out.push(("Access-Control-Allow-Methods", PRIMUS_METHODS.join(", ")));
        if let Some(h) = headers.get("access-control-request-headers") {
            out.push((
                "Access-Control-Allow-Headers",
                String::from_utf8_lossy(h.as_bytes()).into_owned(),
            ));
        }
        let mut r = HttpResponse::new(StatusCode::OK, Bytes::new());
        r.headers = out;
        return PrimusCors::Answer(r);
    }
    PrimusCors::Headers(out)
}

/// Actionhero's web-route CORS: the `Access-Control-Allow-Origin` value and whether a
/// `Vary: Origin` goes with it, or the `403` for a refused origin.
pub(crate) fn web(
    method: &Method,
    headers: &HeaderMap,
    config: &CorsConfig,
) -> Result<Option<(String, bool)>, HttpResponse> {
    let origin = headers
        .get(http::header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
    match (&config.allowed_origins, origin) {
        (None, _) => Ok(Some(("*".to_owned(), false))),
        (Some(_), None) => Ok(None),
        (Some(_), Some(o)) => {
            let lower = o.trim().to_ascii_lowercase();
            if origin_invalid(&lower) || !config.allows(&lower) {
                return Err(forbidden(&o, method));
            }
            Ok(Some((o, true)))
        }
    }
}

/// `access-control`'s test: a `%`, or no scheme (except the literal `null`).
fn origin_invalid(origin: &str) -> bool {
    if origin.contains('%') {
        return true;
    }
    if origin == "null" {
        return false;
    }
    // Node's url.parse finds a protocol when the string starts with `scheme:`.
    match origin.split_once(':') {
        Some((scheme, _)) => {
            scheme.is_empty()
                || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                || !scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => true,
    }
}

fn forbidden(origin: &str, method: &Method) -> HttpResponse {
    let body = format!(
        "Invalid HTTP Access Control (CORS) request:\n  Origin: {origin}\n  Method: {method}"
    );
    HttpResponse::new(StatusCode::FORBIDDEN, body).header("Content-Type", "text/plain")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(*n, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn primus_echoes_origin_and_answers_preflight() {
        let any = CorsConfig::default();
        match primus(&Method::GET, &h(&[("origin", "http://a.example")]), &any) {
            PrimusCors::Headers(v) => assert_eq!(v[0].1, "http://a.example"),
            PrimusCors::Answer(r) => panic!("{r:?}"),
        }
        let pre = h(&[
            ("origin", "http://a.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ]);
        match primus(&Method::OPTIONS, &pre, &any) {
            PrimusCors::Answer(r) => {
                assert_eq!(r.status, StatusCode::OK);
                assert_eq!(r.get("access-control-max-age"), Some("2592000"));
                assert_eq!(r.get("access-control-allow-headers"), Some("content-type"));
                assert_eq!(
                    r.get("access-control-allow-methods"),
                    Some("GET, HEAD, PUT, POST, DELETE, OPTIONS")
                );
            }
            PrimusCors::Headers(_) => panic!(),
        }
        assert!(
            matches!(primus(&Method::GET, &h(&[]), &any), PrimusCors::Headers(v) if v.is_empty())
        );
    }

    #[test]
    fn primus_refuses_bad_origins_and_methods() {
        let any = CorsConfig::default();
        for (method, origin) in [
            (Method::PATCH, "http://a.example"),
            (Method::GET, "a.example"),
            (Method::GET, "http://a%20.example"),
        ] {
            match primus(&method, &h(&[("origin", origin)]), &any) {
                PrimusCors::Answer(r) => {
                    assert_eq!(r.status, StatusCode::FORBIDDEN);
                    assert_eq!(
                        r.body,
                        format!(
                            "Invalid HTTP Access Control (CORS) request:\n  Origin: {origin}\n  Method: {method}"
                        )
                    );
                }
                PrimusCors::Headers(_) => panic!("{origin}"),
            }
        }
        assert!(matches!(
            primus(&Method::GET, &h(&[("origin", "null")]), &any),
            PrimusCors::Headers(_)
        ));
    }

    #[test]
    fn web_routes_use_actionhero_headers_or_the_allow_list() {
        let any = CorsConfig::default();
        let v = web(&Method::GET, &h(&[]), &any).unwrap();
        assert_eq!(v, Some(("*".to_owned(), false)));
        let list = CorsConfig {
            allowed_origins: Some(vec!["https://app.example".into()]),
        };
        let v = web(
            &Method::GET,
            &h(&[("origin", "https://APP.example")]),
            &list,
        )
        .unwrap();
        assert_eq!(v, Some(("https://APP.example".to_owned(), true)));
        let r = web(
            &Method::GET,
            &h(&[("origin", "https://evil.example")]),
            &list,
        )
        .unwrap_err();
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(web(&Method::GET, &h(&[]), &list).unwrap(), None);
    }
}
