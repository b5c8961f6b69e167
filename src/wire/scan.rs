//! A reader for the plain JSON that clients send almost always: strings without escapes,
//! non-negative integers of at most 15 digits, `true`, `false`, `null`, and objects and
//! arrays of those a few levels deep. Everything it accepts is JSON that `JSON.parse`
//! (and serde_json) accepts, and it builds the same [`Value`] serde_json builds from it
//! (repeated keys: the last value at the first key's position). Anything else, valid or
//! not (an escape, a fraction, an exponent, a minus sign, a control character, deep
//! nesting, bad syntax), makes it give up with `None` and the caller parses the text
//! with serde_json, which decides and reports the error.
//!
//! It reads the text once and borrows the strings it does not have to keep, where
//! serde_json would take the object apart as raw values and parse the kept ones again.

use serde_json::{Map, Number, Value};

/// How deep objects and arrays may nest inside a top-level value before the reader
/// gives up (serde_json's own limit is 128).
const MAX_DEPTH: u32 = 8;

/// Integers with more digits than this go to serde_json (every 15-digit integer is
/// below 2^53, so it is exactly the number JavaScript reads).
const MAX_INT_DIGITS: usize = 15;

/// A top-level field's value: a string borrowed from the text, or any other value.
#[derive(Debug)]
pub(crate) enum Field<'a> {
    /// A string without escapes, borrowed.
    Str(&'a str),
    /// Anything else.
    Value(Value),
}

impl Field<'_> {
    /// The value as serde_json builds it.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Self::Str(s) => Value::String(s.to_owned()),
            Self::Value(v) => v,
        }
    }
}

/// The most top-level fields [`Scan::top_object`] takes (client frames have two to
/// four); a frame with more goes to serde_json.
pub(crate) const MAX_TOP_FIELDS: usize = 8;

/// A top-level object's fields in text order, on the stack.
pub(crate) struct TopFields<'a> {
    items: [(&'a str, Field<'a>); MAX_TOP_FIELDS],
    len: usize,
}

impl Default for TopFields<'_> {
    fn default() -> Self {
        Self {
            items: std::array::from_fn(|_| ("", Field::Str(""))),
            len: 0,
        }
    }
}

impl<'a> std::ops::Deref for TopFields<'a> {
    type Target = [(&'a str, Field<'a>)];
    fn deref(&self) -> &Self::Target {
        self.items.get(..self.len).unwrap_or_default()
    }
}

impl<'a> TopFields<'a> {
    /// Takes the value of field `i` out (an empty string is left in its place).
    pub(crate) fn take(&mut self, i: usize) -> Option<Field<'a>> {
        let slot = self.items.get_mut(..self.len)?.get_mut(i)?;
        Some(std::mem::replace(&mut slot.1, Field::Str("")))
    }
}

/// The index of the first quote, backslash or control character from `i` on, or
/// `bytes.len()`: eight bytes at a time while there is none, then byte by byte.
fn string_stop(bytes: &[u8], i: usize) -> usize {
    super::find_special(bytes, i, None)
}

/// The reader's position in the text.
pub(crate) struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Skips JSON whitespace (space, tab, line feed, carriage return).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.at += 1)
    }

    /// After the value: only whitespace may follow.
    pub(crate) fn end(mut self) -> Option<()> {
        self.ws();
        (self.at == self.text.len()).then_some(())
    }

    /// A string without escapes or control characters, starting at `"`.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let bytes = self.text.as_bytes();
        self.at = string_stop(bytes, self.at);
        if *bytes.get(self.at)? != b'"' {
            return None;
        }
        // Both ends are at ASCII quotes, so on character boundaries.
        let s = self.text.get(start..self.at)?;
        self.at += 1;
        Some(s)
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        let rest = self.text.as_bytes().get(self.at..)?;
        if rest.starts_with(word.as_bytes()) {
            self.at += word.len();
            Some(value)
        } else {
            None
        }
    }

    /// A non-negative integer of at most [`MAX_INT_DIGITS`] digits, no leading zero.
    fn integer(&mut self) -> Option<Value> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(d) = bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            n = n * 10 + u64::from(d - b'0');
            self.at += 1;
            if self.at - start > MAX_INT_DIGITS {
                return None;
            }
        }
        let digits = self.at - start;
        if digits == 0 || (digits > 1 && bytes.get(start) == Some(&b'0')) {
            return None;
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(Value::Number(Number::from(n))),
        }
    }

    /// Any value this reader takes, at nesting `depth`.
    fn value(&mut self, depth: u32) -> Option<Value> {
        match self.peek()? {
            b'"' => self.string().map(|s| Value::String(s.to_owned())),
            b'{' => self.object(depth + 1).map(Value::Object),
            b'[' => self.array(depth + 1).map(Value::Array),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    /// A top-level field's value: strings stay borrowed.
    fn field(&mut self) -> Option<Field<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Field::Str),
            _ => self.value(0).map(Field::Value),
        }
    }

    /// `{…}` as a map; `None` at [`MAX_DEPTH`].
    fn object(&mut self, depth: u32) -> Option<Map<String, Value>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut map = Map::new();
        self.members(|key, scan| {
            let v = scan.value(depth)?;
            map.insert(key.to_owned(), v);
            Some(())
        })?;
        Some(map)
    }

    fn array(&mut self, depth: u32) -> Option<Vec<Value>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        self.ws();
        let mut items = Vec::new();
        if self.eat(b']').is_some() {
            return Some(items);
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(items);
                }
                _ => return None,
            }
        }
    }

    /// Reads `{ "key": <value read by member>, … }`, `member` reading each value after
    /// its colon.
    fn members(&mut self, mut member: impl FnMut(&'a str, &mut Self) -> Option<()>) -> Option<()> {
        self.ws();
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            member(key, self)?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A whole top-level object as its fields in text order (repeats kept), strings
    /// borrowed; `None` when anything in it is outside what this reader takes, or when
    /// it has more than [`MAX_TOP_FIELDS`] fields.
    pub(crate) fn top_object(mut self, fields: &mut TopFields<'a>) -> Option<()> {
        self.members(|key, scan| {
            let slot = fields.items.get_mut(fields.len)?;
            *slot = (key, scan.field()?);
            fields.len += 1;
            Some(())
        })?;
        self.end()
    }

    /// A whole top-level string, borrowed.
    pub(crate) fn top_string(mut self) -> Option<&'a str> {
        self.ws();
        let s = self.string()?;
        self.end()?;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> Option<Value> {
        let mut fields = TopFields::default();
        Scan::new(text).top_object(&mut fields)?;
        let mut map = Map::new();
        for i in 0..fields.len() {
            let k = fields[i].0;
            map.insert(k.to_owned(), fields.take(i).unwrap().into_value());
        }
        let value = Value::Object(map);
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value, parsed, "{text}");
        // Same key order too.
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string(&parsed).unwrap()
        );
        Some(value)
    }

    #[test]
    fn takes_plain_json_as_serde_json_does() {
        for text in [
            r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#,
            " {\t\"a\" : [ 1 , true,false ,null,[],{}, \"x\" ] ,\r\n\"b\":{\"c\":{\"d\":0}}} ",
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"p":{"k":1,"j":2,"k":"é"}}"#,
            r#"{"n":999999999999999}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8}"#,
            "{}",
        ] {
            assert!(both(text).is_some(), "{text}");
        }
    }

    #[test]
    fn string_stop_finds_the_first_stop() {
        for stop in [b'"', b'\\', 0, 0x1f] {
            for len in 0..20 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = stop;
                    for from in 0..=at {
                        assert_eq!(string_stop(&bytes, from), at, "{stop} {len} {at} {from}");
                    }
                }
                let plain: Vec<u8> = (0..len)
                    .map(|i| [b'a', 0x20, 0x7f, 0xE2, 0xff, b'!', b'#', 0x80][i % 8])
                    .collect();
                assert_eq!(string_stop(&plain, 0), len);
            }
        }
    }

    #[test]
    fn string_stop_agrees_with_a_byte_loop() {
        const ALPHABET: [u8; 14] = [
            0, 1, 0x1f, 0x20, 0x21, b'"', 0x23, b'\\', 0x5d, 0xE2, 0x80, 0xff, b'a', 0x7f,
        ];
        crate::wire::check_scanner(&ALPHABET, string_stop, |b| {
            matches!(b, b'"' | b'\\' | 0..=0x1f)
        });
    }

    #[test]
    fn gives_up_on_anything_else() {
        for text in [
            r#"{"a":"\n"}"#,
            r#"{"a\u0041":1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{"a":-1}"#,
            r#"{"a":01}"#,
            r#"{"a":1000000000000000}"#,
            "{\"a\":\"\t\"}",
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            r#"{"a":tru}"#,
            r#"{"a":[1,]}"#,
            r#"{"a" 1}"#,
            r#"{"a":[[[[[[[[[1]]]]]]]]]}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9}"#,
            r#"["a"]"#,
            "{",
            "",
        ] {
            let mut fields = TopFields::default();
            assert!(Scan::new(text).top_object(&mut fields).is_none(), "{text}");
        }
        assert_eq!(
            Scan::new(" \"primus::pong::1\" ").top_string(),
            Some("primus::pong::1")
        );
        assert_eq!(Scan::new("\"a\\\"\"").top_string(), None);
        assert_eq!(Scan::new("\"a\" 1").top_string(), None);
    }
}
