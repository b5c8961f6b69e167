//! Primus control tokens: JSON strings that start with `primus::`.

/// The prefix that marks a decoded string as a Primus control token.
pub const PREFIX: &str = "primus::";

/// A Primus control token, parsed with Primus's own rule: the type is the text from
/// position 8 up to the next `:`, the value everything after the `::` that follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// `primus::ping::<ms>` (server → client).
    Ping(&'a str),
    /// `primus::pong::<ms>` (client → server).
    Pong(&'a str),
    /// `primus::id::` (client request, empty value) or `primus::id::<spark id>` (server reply).
    Id(&'a str),
    /// `primus::server::close`: the server ends the connection; do not reconnect.
    ServerClose,
    /// Any other `primus::` string; Primus passes it to the application as data.
    Other {
        /// The parsed type.
        kind: &'a str,
        /// The parsed value.
        value: &'a str,
    },
}

/// Parses `s` as a Primus token; `None` when it does not start with `primus::`.
pub fn parse(s: &str) -> Option<Token<'_>> {
    let rest = s.strip_prefix(PREFIX)?;
    let Some(colon) = rest.find(':') else {
        // Primus slices with indexOf() == -1 here, which yields a garbage type; the
        // token is then unknown to both sides.
        return Some(Token::Other {
            kind: rest,
            value: "",
        });
    };
    let kind = &rest[..colon];
    // Primus takes `slice(last + 2)`: it skips the `:` and the one character after it,
    // whatever that character is (a multi-byte one included).
    let after = &rest[colon + 1..];
    let value = after.char_indices().nth(1).map_or("", |(i, _)| &after[i..]);
    Some(match kind {
        "ping" => Token::Ping(value),
        "pong" => Token::Pong(value),
        "id" => Token::Id(value),
        "server" if value == "close" => Token::ServerClose,
        _ => Token::Other { kind, value },
    })
}

fn quoted(kind: &str, value: &str) -> String {
    let mut out = String::with_capacity(kind.len() + value.len() + 14);
    out.push('"');
    out.push_str(PREFIX);
    out.push_str(kind);
    out.push_str("::");
    // Values are digits, nanoid characters or "close"; escape anyway so any value
    // still yields valid JSON.
    let mut esc = String::new();
    super::js::write_json_str(&mut esc, value);
    out.push_str(&esc[1..esc.len() - 1]);
    out.push('"');
    out
}

/// The frame text `"primus::ping::<ms>"` (server → client).
pub fn encode_ping(epoch_ms: u64) -> String {
    quoted("ping", itoa::Buffer::new().format(epoch_ms))
}

/// The frame text `"primus::pong::<value>"` answering a ping with that value.
///
/// The real client re-serialises the ping's value as a JavaScript number; a value that
/// is not a number answers `NaN`, as Primus does.
pub fn encode_pong(ping_value: &str) -> String {
    match ping_value.trim().parse::<f64>() {
        Ok(f) if !ping_value.trim().is_empty() && f.is_finite() => {
            let mut n = String::new();
            super::js::write_f64(&mut n, f);
            quoted("pong", &n)
        }
        _ => quoted("pong", "NaN"),
    }
}

/// The frame text `"primus::id::<id>"`; with an empty id, the client's request.
pub fn encode_id(id: &str) -> String {
    quoted("id", id)
}

/// The frame text `"primus::server::close"`.
pub const SERVER_CLOSE: &str = "\"primus::server::close\"";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tokens_like_primus() {
        assert_eq!(parse("primus::pong::123"), Some(Token::Pong("123")));
        assert_eq!(parse("primus::id::"), Some(Token::Id("")));
        assert_eq!(parse("primus::server::close"), Some(Token::ServerClose));
        assert_eq!(
            parse("primus::foo"),
            Some(Token::Other {
                kind: "foo",
                value: ""
            })
        );
        assert_eq!(
            parse("primus::pong"),
            Some(Token::Other {
                kind: "pong",
                value: ""
            })
        );
        assert_eq!(parse("primus::ping:"), Some(Token::Ping("")));
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("primus::ping::é"), Some(Token::Ping("é")));
        // The character after the first ':' is skipped whatever it is
        // ("primus::ping:é12".slice(14) === "12" in JavaScript).
        assert_eq!(parse("primus::ping:é12"), Some(Token::Ping("12")));
        assert_eq!(parse("primus::id:x"), Some(Token::Id("")));
    }

    #[test]
    fn encodes_tokens() {
        assert_eq!(
            encode_ping(1795610363950),
            "\"primus::ping::1795610363950\""
        );
        assert_eq!(
            encode_pong("1795610363950"),
            "\"primus::pong::1795610363950\""
        );
        assert_eq!(encode_pong("abc"), "\"primus::pong::NaN\"");
        assert_eq!(encode_id(""), "\"primus::id::\"");
    }
}
