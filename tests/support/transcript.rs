//! Loader for the recorded wire transcripts in `tests/fixtures/transcripts/*.jsonl`.
//!
//! The files were recorded against a real Actionhero 29.3.5 / Primus 8.0.9 server; their
//! format is described in `tests/fixtures/transcripts/README.md`. In short: line 1 is a
//! [`Header`], every other line an [`Event`] (`open`, `out`, `in`, `close`, `silence`) of one
//! connection (`"A"`, `"B"`, …), in the order the client saw them. `in`/`out` events carry
//! the exact frame text (or the bytes of a binary frame), and `volatile` lists the JSON
//! pointers (RFC 6901) whose values change from run to run.
//!
//! Typical use, comparing an actual frame with a recorded one:
//!
//! ```ignore
//! mod support;
//! use support::transcript;
//!
//! let t = transcript::load("say_fanout");
//! for ev in t.events.iter().filter(|e| e.dir == transcript::Dir::In) {
//!     let actual: String = /* the frame your code produced */;
//!     transcript::assert_frame_matches(ev, &actual);
//! }
//! ```
//!
//! Masking ([`mask`], [`try_mask`]) replaces the *span of raw text* holding the value at
//! each pointer with [`PLACEHOLDER`], so that every other byte stays as it was: two frames
//! are equal modulo volatile values iff their masked texts are byte-equal.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What replaces a masked value (a JSON string, so a masked frame stays valid JSON).
pub const PLACEHOLDER: &str = "\"<volatile>\"";

/// One transcript file.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// File name without `.jsonl` (equal to `header.scenario`).
    pub name: String,
    /// Line 1.
    pub header: Header,
    /// Lines 2…, in file order.
    pub events: Vec<Event>,
}

/// Line 1 of a transcript.
#[derive(Clone, Debug, Deserialize)]
pub struct Header {
    /// The scenario name (= file name).
    pub scenario: String,
    /// What the exchange shows.
    pub description: String,
    /// Reference server and Primus version.
    pub server: String,
    /// Recording date.
    pub recorded: String,
    /// Server configuration in force.
    pub config: ServerConfig,
}

/// `config` of the header.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerConfig {
    /// Heartbeat interval, ms.
    #[serde(rename = "pingInterval")]
    pub ping_interval_ms: u64,
    /// Most concurrent actions per connection.
    #[serde(rename = "simultaneousActions")]
    pub simultaneous_actions: u32,
    /// Welcome text.
    pub welcome: String,
    /// Rooms that exist at start.
    pub rooms: Vec<String>,
}

/// Event direction / kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// The WebSocket handshake completed (`path` is set).
    Open,
    /// Client → server frame (`text` or `binary`).
    Out,
    /// Server → client frame (`text`).
    In,
    /// The connection closed (`code`, `reason`, `by`).
    Close,
    /// Nothing arrived for `ms` milliseconds.
    Silence,
}

/// One event line.
#[derive(Clone, Debug)]
pub struct Event {
    /// 1-based line number in the file (for messages).
    pub line: usize,
    /// ms since the scenario started (informational).
    pub t: u64,
    /// Connection name (`"A"`, `"B"`, …).
    pub conn: String,
    /// What happened.
    pub dir: Dir,
    /// Exact frame text of a text frame.
    pub text: Option<String>,
    /// Payload of a binary frame (decoded from `binary_hex`).
    pub binary: Option<Vec<u8>>,
    /// JSON pointers of the values that vary between runs (empty: reproducible as is).
    pub volatile: Vec<String>,
    /// `open`: handshake request path.
    pub path: Option<String>,
    /// `close`: close code as the client saw it.
    pub code: Option<u16>,
    /// `close`: close reason.
    pub reason: Option<String>,
    /// `close`: `"client"` or `"server"`.
    pub by: Option<String>,
    /// `silence`: how long nothing arrived.
    pub ms: Option<u64>,
}

impl Event {
    /// The frame text; panics with the file line if this is not a text frame.
    pub fn text(&self) -> &str {
        match &self.text {
            Some(t) => t,
            None => panic!("line {}: not a text frame: {self:?}", self.line),
        }
    }

    /// This frame's text with its own volatile values masked.
    pub fn masked(&self) -> String {
        mask(self.text(), &self.volatile)
    }

    /// Whether `actual` equals this recorded frame modulo its volatile values (both
    /// masked at this event's pointers; a pointer missing in `actual` is a mismatch).
    pub fn matches(&self, actual: &str) -> bool {
        try_mask(actual, &self.volatile).is_ok_and(|m| m == self.masked())
    }
}

impl Transcript {
    /// The connection names in order of first appearance.
    pub fn connections(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.events {
            if !out.contains(&e.conn.as_str()) {
                out.push(&e.conn);
            }
        }
        out
    }

    /// The events of one connection, in order.
    pub fn events_of<'a>(&'a self, conn: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.conn == conn)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    t: u64,
    conn: String,
    dir: Dir,
    text: Option<String>,
    binary_hex: Option<String>,
    #[serde(default)]
    volatile: Vec<String>,
    path: Option<String>,
    code: Option<u16>,
    reason: Option<String>,
    by: Option<String>,
    ms: Option<u64>,
}

/// The folder holding the transcript files.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transcripts")
}

/// The names of all transcripts (file names without `.jsonl`), sorted.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap_or_else(|e| panic!("read {}: {e}", dir().display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".jsonl").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Loads every transcript, sorted by name.
pub fn load_all() -> Vec<Transcript> {
    names().iter().map(|n| load(n)).collect()
}

/// Loads `tests/fixtures/transcripts/<name>.jsonl`.
///
/// Panics (naming file and line) on a malformed file, and when a `volatile` pointer
/// does not resolve in its own frame.
pub fn load(name: &str) -> Transcript {
    let path = dir().join(format!("{name}.jsonl"));
    let raw =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse(name, &raw)
}

/// Parses the text of a transcript file (see [`load`]).
pub fn parse(name: &str, raw: &str) -> Transcript {
    let mut lines = raw.lines().enumerate();
    let (_, first) = lines
        .next()
        .unwrap_or_else(|| panic!("{name}: empty transcript"));
    let header: Header =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{name}:1: bad header: {e}"));
    assert_eq!(header.scenario, name, "{name}:1: scenario != file name");
    let mut events = Vec::new();
    for (i, text) in lines {
        let line = i + 1;
        let ev: RawEvent =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}:{line}: {e}"));
        let binary = ev
            .binary_hex
            .as_deref()
            .map(|h| hex_decode(h).unwrap_or_else(|| panic!("{name}:{line}: bad binary_hex")));
        if matches!(ev.dir, Dir::In | Dir::Out) {
            assert!(
                ev.text.is_some() != binary.is_some(),
                "{name}:{line}: a frame needs exactly one of text / binary_hex"
            );
        }
        if let Some(text) = &ev.text {
            for p in &ev.volatile {
                assert!(
                    span(text, p).is_some(),
                    "{name}:{line}: volatile pointer {p:?} does not resolve"
                );
            }
        }
        events.push(Event {
            line,
            t: ev.t,
            conn: ev.conn,
            dir: ev.dir,
            text: ev.text,
            binary,
            volatile: ev.volatile,
            path: ev.path,
            code: ev.code,
            reason: ev.reason,
            by: ev.by,
            ms: ev.ms,
        });
    }
    Transcript {
        name: name.to_owned(),
        header,
        events,
    }
}

fn hex_decode(h: &str) -> Option<Vec<u8>> {
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A pointer that could not be masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskError {
    /// The pointer that does not resolve (or the text is not valid JSON there).
    pub pointer: String,
}

impl fmt::Display for MaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON pointer {:?} does not resolve", self.pointer)
    }
}

/// Replaces the raw-text span of the value at every pointer with [`PLACEHOLDER`].
///
/// A pointer that does not resolve is left alone; the masked text then differs from one
/// where it did resolve, so comparisons still fail. Use [`try_mask`] to be told.
pub fn mask<P: AsRef<str>>(text: &str, pointers: &[P]) -> String {
    mask_spans(text, pointers.iter().filter_map(|p| span(text, p.as_ref())))
}

/// Like [`mask`], but fails on the first pointer that does not resolve.
pub fn try_mask<P: AsRef<str>>(text: &str, pointers: &[P]) -> Result<String, MaskError> {
    let mut spans = Vec::with_capacity(pointers.len());
    for p in pointers {
        let p = p.as_ref();
        spans.push(span(text, p).ok_or_else(|| MaskError {
            pointer: p.to_owned(),
        })?);
    }
    Ok(mask_spans(text, spans.into_iter()))
}

fn mask_spans(text: &str, spans: impl Iterator<Item = Range<usize>>) -> String {
    let mut spans: Vec<Range<usize>> = spans.collect();
    spans.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for r in spans {
        if r.start < pos {
            continue; // nested in a span already masked
        }
        out.push_str(&text[pos..r.start]);
        out.push_str(PLACEHOLDER);
        pos = r.end;
    }
    out.push_str(&text[pos..]);
    out
}

/// Panics with both texts (masked) when `actual` does not match the recorded frame.
pub fn assert_frame_matches(expected: &Event, actual: &str) {
    let want = expected.masked();
    match try_mask(actual, &expected.volatile) {
        Ok(got) => assert!(
            got == want,
            "line {}: frame mismatch\n want: {want}\n  got: {got}",
            expected.line
        ),
        Err(e) => panic!("line {}: {e} in actual frame {actual}", expected.line),
    }
}

/// The byte range of the value at JSON `pointer` (RFC 6901) in the raw JSON `text`;
/// `""` is the whole value. `None` when it does not resolve or the text is malformed
/// on the way. For a repeated object key the last occurrence wins, as in `JSON.parse`.
pub fn span(text: &str, pointer: &str) -> Option<Range<usize>> {
    let b = text.as_bytes();
    let mut start = skip_ws(b, 0);
    let mut end = value_end(b, start)?;
    if pointer.is_empty() {
        return (skip_ws(b, end) == b.len()).then_some(start..end);
    }
    let rest = pointer.strip_prefix('/')?;
    for raw_token in rest.split('/') {
        let token = raw_token.replace("~1", "/").replace("~0", "~");
        (start, end) = child(text, start, &token)?;
    }
    Some(start..end)
}

/// Finds `token` inside the object or array starting at `start`.
fn child(text: &str, start: usize, token: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    match b.get(start)? {
        b'{' => {
            let mut found = None;
            let mut i = skip_ws(b, start + 1);
            if b.get(i) == Some(&b'}') {
                return None;
            }
            loop {
                let key_end = value_end(b, i)?;
                let key: String = serde_json::from_str(text.get(i..key_end)?).ok()?;
                i = skip_ws(b, key_end);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                let v_start = skip_ws(b, i + 1);
                let v_end = value_end(b, v_start)?;
                if key == token {
                    found = Some((v_start, v_end));
                }
                i = skip_ws(b, v_end);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    b'}' => return found,
                    _ => return None,
                }
            }
        }
        b'[' => {
            let want: usize = if token == "0" || !token.starts_with('0') {
                token.parse().ok()?
            } else {
                return None;
            };
            let mut i = skip_ws(b, start + 1);
            if b.get(i) == Some(&b']') {
                return None;
            }
            let mut idx = 0;
            loop {
                let v_end = value_end(b, i)?;
                if idx == want {
                    return Some((i, v_end));
                }
                idx += 1;
                i = skip_ws(b, v_end);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the JSON value starting at `i`; a light scan, not a validator.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => {
            let mut j = i + 1;
            loop {
                match b.get(j)? {
                    b'"' => return Some(j + 1),
                    b'\\' => j += 2,
                    _ => j += 1,
                }
            }
        }
        open @ (b'{' | b'[') => {
            let close = if *open == b'{' { b'}' } else { b']' };
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&close) {
                return Some(j + 1);
            }
            loop {
                if close == b'}' {
                    j = value_end(b, j)?; // key
                    j = skip_ws(b, j);
                    if b.get(j) != Some(&b':') {
                        return None;
                    }
                    j = skip_ws(b, j + 1);
                }
                j = skip_ws(b, value_end(b, j)?);
                match b.get(j)? {
                    b',' => j = skip_ws(b, j + 1),
                    c if *c == close => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        _ => {
            let mut j = i;
            while matches!(b.get(j), Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn mask_replaces_exact_spans() {
        let t = r#"{"a":{"b/c":[1, {"d":"x\"y"}]},"e":2, "a2":{"~":true}}"#;
        assert_eq!(
            mask(t, &["/a/b~1c/1/d", "/e", "/a2/~0"]),
            r#"{"a":{"b/c":[1, {"d":"<volatile>"}]},"e":"<volatile>", "a2":{"~":"<volatile>"}}"#
        );
        assert_eq!(mask(t, &[""]), PLACEHOLDER);
        assert!(try_mask(t, &["/nope"]).is_err());
        assert!(try_mask(t, &["/a/b~1c/2"]).is_err());
        assert_eq!(mask("\"primus::ping::1\"", &[""]), PLACEHOLDER);
    }

    #[test]
    fn nested_pointers_mask_the_outer_value() {
        let t = r#"{"data":{"members":{"x":{"id":"x"}}},"n":1}"#;
        assert_eq!(
            mask(t, &["/data/members/x/id", "/data/members"]),
            r#"{"data":{"members":"<volatile>"},"n":1}"#
        );
    }
}
