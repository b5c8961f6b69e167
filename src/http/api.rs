//! Actions over plain HTTP (`/api`): params from the query and body, and the JSON
//! answer a real Actionhero web server gives (docs/protocol.md#the-api-fallback).

use serde_json::{Map, Value};

use super::router::{ApiRequest, BodyKind};
use crate::wire::js;

/// The params of a web action request, in Actionhero's order: query params, then body
/// fields (a repeated key keeps its first position and takes the later value), then
/// `action` from the route. A body that does not parse is ignored, as Actionhero's form
/// parser only logs it; a JSON array body becomes `payload`.
pub(crate) fn collect_params(req: &ApiRequest, body: &[u8]) -> Map<String, Value> {
    let mut params = parse_query(&req.query);
    let fields = match req.body_kind {
        BodyKind::Ignored | BodyKind::Other => Map::new(),
        BodyKind::Json => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => last_values(m),
            Ok(Value::Array(items)) => {
                let mut m = Map::new();
                m.insert("payload".into(), Value::Array(items));
                m
            }
            Ok(_) | Err(_) => Map::new(),
        },
        BodyKind::Form => last_values(parse_query(&String::from_utf8_lossy(body))),
    };
    for (k, v) in fields {
        params.insert(k, v);
    }
    // Actionhero sets `action` to null before routing, then the route names it.
    let routed = req.action.clone().map_or(Value::Null, Value::String);
    params.insert("action".into(), routed);
    params
}

/// Formidable (without `multiples`) keeps the last element of an array field.
fn last_values(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| match v {
            Value::Array(mut a) => (k, a.pop().unwrap_or(Value::Null)),
            v => (k, v),
        })
        .collect()
}

/// A query string as `qs.parse` reads its flat form: `&`-separated pairs, `+` and
/// `%xx` decoded, a repeated key (or `key[]`) collecting an array of strings. At most
/// 1000 pairs (qs's `parameterLimit`).
pub(crate) fn parse_query(query: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for piece in query.split('&').take(1000).filter(|p| !p.is_empty()) {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let mut key = js::querystring_unescape(k);
        let value = Value::String(js::querystring_unescape(v));
        let list = key.ends_with("[]") && key.len() > 2;
        if list {
            key.truncate(key.len() - 2);
        }
        if key.is_empty() {
            continue;
        }
        match out.get_mut(&key) {
            Some(Value::Array(a)) => a.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None if list => {
                out.insert(key, Value::Array(vec![value]));
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    out
}

/// `serverInformation` of a web answer.
pub(crate) struct ServerInformation<'a> {
    pub(crate) server_name: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) request_duration_ms: u64,
    pub(crate) current_time_ms: u64,
}

/// `requesterInformation` of a web answer.
pub(crate) struct RequesterInformation<'a> {
    pub(crate) id: &'a str,
    pub(crate) fingerprint: &'a str,
    pub(crate) message_id: &'a str,
    pub(crate) remote_ip: &'a str,
    pub(crate) received_params: Map<String, Value>,
}

/// The body of a web action answer: the action's fields, `error` (when failed), then
/// `serverInformation` and `requesterInformation`, as `JSON.stringify(response, null,
/// 2)` writes it.
pub(crate) fn encode_response(
    fields: Map<String, Value>,
    error: Option<&str>,
    server: &ServerInformation<'_>,
    requester: RequesterInformation<'_>,
) -> String {
    let mut response = fields;
    if let Some(e) = error {
        response.insert("error".into(), Value::String(e.to_owned()));
    }
    let mut si = Map::new();
    si.insert("serverName".into(), server.server_name.into());
    si.insert("apiVersion".into(), server.api_version.into());
    si.insert("requestDuration".into(), server.request_duration_ms.into());
    si.insert("currentTime".into(), server.current_time_ms.into());
    response.insert("serverInformation".into(), Value::Object(si));
    let mut ri = Map::new();
    ri.insert("id".into(), requester.id.into());
    ri.insert("fingerprint".into(), requester.fingerprint.into());
    ri.insert("messageId".into(), requester.message_id.into());
    ri.insert("remoteIP".into(), requester.remote_ip.into());
    ri.insert(
        "receivedParams".into(),
        Value::Object(requester.received_params),
    );
    response.insert("requesterInformation".into(), Value::Object(ri));
    let mut out = String::with_capacity(256);
    write_pretty(&mut out, &Value::Object(response), 0);
    out
}

/// Actionhero's `callbackHtmlEscape` of a JSONP callback name: `&"'<>` as HTML
/// entities, parentheses removed.
pub(crate) fn escape_callback(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '(' | ')' => {}
            c => out.push(c),
        }
    }
    out
}

/// `JSON.stringify(value, null, 2)`.
pub(crate) fn write_pretty(out: &mut String, value: &Value, depth: usize) {
    let indent = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_pretty(out, item, depth + 1);
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, v)) in js::js_entries(map).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_plain_str(out, k);
                out.push_str(": ");
                write_pretty(out, v, depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
        Value::String(s) => write_plain_str(out, s),
        Value::Number(n) => js::write_number(out, n),
        other => js::write_json(out, other),
    }
}

/// A JSON string as `JSON.stringify` writes it (U+2028/U+2029 stay as they are: only
/// Primus escapes them, and this is not a Primus frame).
fn write_plain_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => js::write_json_str(out, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str, kind: BodyKind, action: Option<&str>) -> ApiRequest {
        ApiRequest {
            action: action.map(str::to_owned),
            query: query.to_owned(),
            body_len: 0,
            body_kind: kind,
            fingerprint: "fp".into(),
            remote_ip: "127.0.0.1".into(),
            remote_port: 1,
            headers: super::super::router::WebHeaders::for_tests(),
            head: false,
            server_name: "actionhero".into(),
            api_version: "0.0.1".into(),
        }
    }

    #[test]
    fn query_parses_like_qs() {
        let q = parse_query("a=1&b=x+y%21&a=2&c[]=z&d&=e&f=%zz");
        assert_eq!(
            Value::Object(q),
            serde_json::json!({"a":["1","2"],"b":"x y!","c":["z"],"d":"","f":"%zz"})
        );
    }

    #[test]
    fn params_merge_query_body_then_route() {
        let p = collect_params(
            &req("a=1&action=q", BodyKind::Json, Some("randomNumber")),
            br#"{"b":[1,2],"a":"body"}"#,
        );
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"a":"body","action":"randomNumber","b":2}"#
        );
        let p = collect_params(&req("", BodyKind::Json, Some("x")), b"{nope");
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"action":"x"}"#);
        let p = collect_params(&req("", BodyKind::Json, Some("x")), b"[1,2]");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"payload":[1,2],"action":"x"}"#
        );
        let p = collect_params(&req("k=1", BodyKind::Form, None), b"k=2&j=3");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"k":"2","j":"3","action":null}"#
        );
    }

    #[test]
    fn pretty_json_matches_javascript() {
        let v = serde_json::json!({"b": [], "a": {}, "2": [1, {"x": null}], "s": "é\u{2028}"});
        let mut out = String::new();
        write_pretty(&mut out, &v, 0);
        assert_eq!(
            out,
            "{\n  \"2\": [\n    1,\n    {\n      \"x\": null\n    }\n  ],\n  \"b\": [],\n  \"a\": {},\n  \"s\": \"é\u{2028}\"\n}"
        );
    }
}
