//! `JSON.stringify` exactly as a Node process writes it onto the Redis channel.
//!
//! The same as [`crate::wire::js::write_json`] (JavaScript key order and number
//! formatting) except for U+2028 and U+2029: Primus escapes those two in WebSocket
//! frames, but nothing does on the channel, so they are written as themselves here.

use serde_json::{Map, Value};

use crate::wire::js;

/// Appends `value` as `JSON.stringify` writes it.
pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => js::write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends an object with its keys in JavaScript property order.
fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    for (i, (k, v)) in js::js_entries(map).enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

/// Appends a JSON string literal as `JSON.stringify` writes it: `"` and `\` escaped,
/// `\b \f \n \r \t` by name, the other control characters below U+0020 as `\u00xx`
/// (lowercase hex), everything else (U+007F, U+2028, U+2029, non-ASCII) as itself.
/// (A JavaScript string can also hold a lone surrogate, which `JSON.stringify` writes
/// as `\udxxx`; a Rust string cannot, see docs/protocol.md#cluster.)
pub(crate) fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let named = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if named.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(named);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &Value) -> String {
        let mut out = String::new();
        write_value(&mut out, v);
        out
    }

    #[test]
    fn strings_escape_as_json_stringify() {
        assert_eq!(
            s(&json!(
                "q\" b\\ \n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f} é \u{2028}\u{2029} 😀 </"
            )),
            "\"q\\\" b\\\\ \\n\\r\\t\\b\\f\\u0001\\u001f\u{7f} é \u{2028}\u{2029} 😀 </\""
        );
    }

    #[test]
    fn numbers_and_key_order_are_javascripts() {
        let v: Value = serde_json::from_str(
            r#"{"b":[1,2.5,-0,1e21,1.5e-7,123456789012345678901,true,null],"7":"x","a":{}}"#,
        )
        .unwrap();
        assert_eq!(
            s(&v),
            r#"{"7":"x","b":[1,2.5,0,1e+21,1.5e-7,123456789012345680000,true,null],"a":{}}"#
        );
    }
}
