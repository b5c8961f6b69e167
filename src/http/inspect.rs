//! Node 20's `util.inspect(value)` with default options, for JSON values.
//!
//! A port of the parts of `lib/internal/util/inspect.js` (Node 20) that a JSON value
//! reaches: `formatValue`/`formatRaw` for plain objects and arrays, `formatPrimitive`,
//! `strEscape`, `formatProperty`, `formatArray`, `groupArrayElements`,
//! `reduceToSingleString` and `isBelowBreakLength`, with the default options (`depth: 2`,
//! `compact: 3`, `breakLength: 80`, `maxArrayLength: 100`, `maxStringLength: 10000`, no
//! colours, unsorted). Lengths are counted in UTF-16 code units, as JavaScript's
//! `.length` does.
//!
//! Not reproduced: display widths of non-ASCII text in arrays of more than six items
//! (Node asks ICU; this uses Node's non-ICU fallback table, which agrees for most text),
//! and the 2^27-character output budget (irrelevant for configuration objects).

use serde_json::{Map, Number, Value};

use crate::wire::js::{js_entries, write_number};

const BREAK_LENGTH: usize = 80;
const DEPTH: usize = 2;
const COMPACT: usize = 3;
const MAX_ARRAY_LENGTH: usize = 100;
const MAX_STRING_LENGTH: usize = 10_000;
const MIN_LINE_LENGTH: usize = 16;

/// `util.inspect(value)` as Node 20 writes it.
pub(crate) fn inspect(value: &Value) -> String {
    let mut ctx = Ctx::default();
    ctx.format_value(value, 0)
}

/// The mutable part of Node's inspection context.
#[derive(Default)]
struct Ctx {
    indentation_lvl: usize,
}

impl Ctx {
    fn format_value(&mut self, value: &Value, recurse_times: usize) -> String {
        match value {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => format_number(n),
            Value::String(s) => self.format_string(s),
            Value::Array(items) => self.format_array(items, recurse_times),
            Value::Object(map) => self.format_object(map, recurse_times),
        }
    }

    /// `formatPrimitive` for a string: cut at `maxStringLength`, split after line feeds
    /// when longer than 16 and than the room left on the line.
    fn format_string(&self, s: &str) -> String {
        let mut units: Vec<u16> = s.encode_utf16().collect();
        let mut trailer = String::new();
        if units.len() > MAX_STRING_LENGTH {
            let remaining = units.len() - MAX_STRING_LENGTH;
            units.truncate(MAX_STRING_LENGTH);
            trailer = format!(
                "... {remaining} more character{}",
                if remaining > 1 { "s" } else { "" }
            );
        }
        let room = BREAK_LENGTH as i64 - self.indentation_lvl as i64 - 4;
        if units.len() > MIN_LINE_LENGTH && (units.len() as i64) > room {
            // `value.split(/(?<=\n)/)`: after every line feed but the last unit.
            let mut pieces = Vec::new();
            let mut start = 0;
            for (i, &u) in units.iter().enumerate() {
                if u == u16::from(b'\n') && i + 1 < units.len() {
                    pieces.push(str_escape(&units[start..=i]));
                    start = i + 1;
                }
            }
            pieces.push(str_escape(&units[start..]));
            let separator = format!(" +\n{}", " ".repeat(self.indentation_lvl + 2));
            return pieces.join(&separator) + &trailer;
        }
        str_escape(&units) + &trailer
    }

    fn format_array(&mut self, items: &[Value], recurse_times: usize) -> String {
        if items.is_empty() {
            return "[]".to_owned();
        }
        if recurse_times > DEPTH {
            return "[Array]".to_owned();
        }
        let recurse_times = recurse_times + 1;
        let len = items.len().min(MAX_ARRAY_LENGTH);
        let mut output: Vec<String> = items[..len]
            .iter()
            .map(|item| self.format_property_value(item, recurse_times))
            .collect();
        let remaining = items.len() - len;
        if remaining > 0 {
            output.push(format!(
                "... {remaining} more item{}",
                if remaining > 1 { "s" } else { "" }
            ));
        }
        self.reduce_to_single_string(output, ('[', ']'), Some(items))
    }

    fn format_object(&mut self, map: &Map<String, Value>, recurse_times: usize) -> String {
        if map.is_empty() {
            return "{}".to_owned();
        }
        if recurse_times > DEPTH {
            return "[Object]".to_owned();
        }
        let recurse_times = recurse_times + 1;
        let output = js_entries(map)
            .map(|(key, value)| {
                let str = self.format_property_value(value, recurse_times);
                format!("{}: {str}", format_key(key))
            })
            .collect();
        self.reduce_to_single_string(output, ('{', '}'), None)
    }

    /// The value part of `formatProperty` (`compact` is not `true`: 2 more spaces).
    fn format_property_value(&mut self, value: &Value, recurse_times: usize) -> String {
        self.indentation_lvl += 2;
        let str = self.format_value(value, recurse_times);
        self.indentation_lvl -= 2;
        str
    }

    /// `reduceToSingleString` with `compact: 3` and an empty `base`.
    ///
    /// Node's `ctx.currentDepth - recurseTimes < ctx.compact` always holds at `depth: 2`
    /// (the deepest object entered is at most 3 levels down, the shallowest at 1).
    fn reduce_to_single_string(
        &self,
        mut output: Vec<String>,
        braces: (char, char),
        array: Option<&[Value]>,
    ) -> String {
        let entries = output.len();
        if let Some(items) = array {
            if entries > 6 {
                output = self.group_array_elements(output, items);
            }
        }
        if entries == output.len() {
            // `start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10`
            let start = output.len() + self.indentation_lvl + 1 + 10;
            if is_below_break_length(&output, start) {
                let joined = output.join(", ");
                if !joined.contains('\n') {
                    return format!("{} {joined} {}", braces.0, braces.1);
                }
            }
        }
        let indentation = format!("\n{}", " ".repeat(self.indentation_lvl));
        format!(
            "{}{indentation}  {}{indentation}{}",
            braces.0,
            output.join(&format!(",{indentation}  ")),
            braces.1
        )
    }

    /// `groupArrayElements`: arrays of more than six items in columns.
    fn group_array_elements(&self, output: Vec<String>, items: &[Value]) -> Vec<String> {
        const SEPARATOR_SPACE: usize = 2;
        let mut output_length = output.len();
        if MAX_ARRAY_LENGTH < output.len() {
            // the "... n more items" entry
            output_length -= 1;
        }
        let data_len: Vec<usize> = output[..output_length]
            .iter()
            .map(|s| string_width(s))
            .collect();
        let total_length: usize = data_len.iter().map(|l| l + SEPARATOR_SPACE).sum();
        let max_length = data_len.iter().copied().max().unwrap_or(0);
        let actual_max = max_length + SEPARATOR_SPACE;
        if !(actual_max * 3 + self.indentation_lvl < BREAK_LENGTH
            && (total_length as f64 / actual_max as f64 > 5.0 || max_length <= 6))
        {
            return output;
        }
        let approx_char_heights = 2.5;
        let average_bias = (actual_max as f64 - total_length as f64 / output.len() as f64).sqrt();
        let biased_max = (actual_max as f64 - 3.0 - average_bias).max(1.0);
        let columns =
            js_round((approx_char_heights * biased_max * output_length as f64).sqrt() / biased_max)
                .min(((BREAK_LENGTH - self.indentation_lvl) / actual_max) as f64)
                .min((COMPACT * 4) as f64)
                .min(15.0);
        // `columns <= 1` also covers NaN (a negative square root), which Node's
        // `MathMin` would propagate and its loops would then not run: no grouping.
        if columns.is_nan() || columns <= 1.0 {
            return output;
        }
        let columns = columns as usize;
        let max_line_length: Vec<usize> = (0..columns)
            .map(|i| {
                (i..output_length)
                    .step_by(columns)
                    .map(|j| data_len[j])
                    .max()
                    .unwrap_or(0)
                    + SEPARATOR_SPACE
            })
            .collect();
        let pad_start = items
            .iter()
            .take(output.len())
            .all(|item| matches!(item, Value::Number(_)));
        let mut grouped = Vec::new();
        for i in (0..output_length).step_by(columns) {
            let max = (i + columns).min(output_length);
            let mut line = String::new();
            for j in i..max - 1 {
                let padding = max_line_length[j - i] + utf16_len(&output[j]) - data_len[j];
                push_padded(&mut line, &format!("{}, ", output[j]), padding, pad_start);
            }
            let j = max - 1;
            if pad_start {
                let padding = (max_line_length[j - i] + utf16_len(&output[j]))
                    .saturating_sub(data_len[j] + SEPARATOR_SPACE);
                push_padded(&mut line, &output[j], padding, true);
            } else {
                line.push_str(&output[j]);
            }
            grouped.push(line);
        }
        if MAX_ARRAY_LENGTH < output.len() {
            grouped.extend(output.into_iter().skip(output_length));
        }
        grouped
    }
}

/// `isBelowBreakLength` with an empty `base`.
fn is_below_break_length(output: &[String], start: usize) -> bool {
    let mut total = output.len() + start;
    if total + output.len() > BREAK_LENGTH {
        return false;
    }
    for entry in output {
        total += utf16_len(entry);
        if total > BREAK_LENGTH {
            return false;
        }
    }
    true
}

/// `padStart`/`padEnd` with spaces to `width` UTF-16 units.
fn push_padded(out: &mut String, s: &str, width: usize, start: bool) {
    let fill = " ".repeat(width.saturating_sub(utf16_len(s)));
    if start {
        out.push_str(&fill);
        out.push_str(s);
    } else {
        out.push_str(s);
        out.push_str(&fill);
    }
}

/// JavaScript's `Math.round` for the non-negative values it gets here.
fn js_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `getStringWidth(str, false)`: ASCII below 32 is 0 wide, other ASCII 1; the rest by
/// Node's non-ICU table (full-width 2, zero-width 0, else 1).
fn string_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let code = u32::from(c);
            if code < 0x7f {
                usize::from(code >= 32)
            } else if is_zero_width(code) {
                0
            } else if is_full_width(code) {
                2
            } else {
                1
            }
        })
        .sum()
}

fn is_zero_width(code: u32) -> bool {
    code <= 0x1f
        || (0x7f..=0x9f).contains(&code)
        || (0x300..=0x36f).contains(&code)
        || (0x200b..=0x200f).contains(&code)
        || (0x20d0..=0x20ff).contains(&code)
        || (0xfe00..=0xfe0f).contains(&code)
        || (0xfe20..=0xfe2f).contains(&code)
        || (0xe0100..=0xe01ef).contains(&code)
}

fn is_full_width(code: u32) -> bool {
    code >= 0x1100
        && (code <= 0x115f
            || code == 0x2329
            || code == 0x232a
            || ((0x2e80..=0x3247).contains(&code) && code != 0x303f)
            || (0x3250..=0x4dbf).contains(&code)
            || (0x4e00..=0xa4c6).contains(&code)
            || (0xa960..=0xa97c).contains(&code)
            || (0xac00..=0xd7a3).contains(&code)
            || (0xf900..=0xfaff).contains(&code)
            || (0xfe10..=0xfe19).contains(&code)
            || (0xfe30..=0xfe6b).contains(&code)
            || (0xff01..=0xff60).contains(&code)
            || (0xffe0..=0xffe6).contains(&code)
            || (0x1b000..=0x1b001).contains(&code)
            || (0x1f200..=0x1f251).contains(&code)
            || (0x1f300..=0x1f64f).contains(&code)
            || (0x20000..=0x3fffd).contains(&code))
}

/// `formatNumber` without numeric separators: as `String(n)`, but `-0` for minus zero.
fn format_number(n: &Number) -> String {
    if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) {
        return "-0".to_owned();
    }
    let mut out = String::new();
    write_number(&mut out, n);
    out
}

/// A property name: bare when it matches `/^[a-zA-Z_][a-zA-Z_0-9]*$/`, `['__proto__']`
/// for `__proto__`, else a quoted string.
fn format_key(key: &str) -> String {
    let mut bytes = key.bytes();
    let identifier = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if key == "__proto__" {
        "['__proto__']".to_owned()
    } else if identifier {
        key.to_owned()
    } else {
        str_escape(&key.encode_utf16().collect::<Vec<_>>())
    }
}

/// `strEscape`: quote with `'`, or with `"` when the text has `'` but no `"`, or with
/// a backtick when it has both but no backtick and no `${`; escape control characters,
/// the backslash, the chosen quote if `'`, and lone surrogates.
fn str_escape(units: &[u16]) -> String {
    let has = |u: u8| units.contains(&u16::from(u));
    let quote = if !has(b'\'') {
        '\''
    } else if !has(b'"') {
        '"'
    } else if !has(b'`')
        && !units
            .windows(2)
            .any(|w| w == [u16::from(b'$'), u16::from(b'{')])
    {
        '`'
    } else {
        '\''
    };
    let mut out = String::with_capacity(units.len() + 2);
    out.push(quote);
    for c in char::decode_utf16(units.iter().copied()) {
        match c {
            Ok(c) => match u32::from(c) {
                0x08 => out.push_str("\\b"),
                0x09 => out.push_str("\\t"),
                0x0a => out.push_str("\\n"),
                0x0c => out.push_str("\\f"),
                0x0d => out.push_str("\\r"),
                code @ (0..=0x1f | 0x7f..=0x9f) => out.push_str(&format!("\\x{code:02X}")),
                0x27 if quote == '\'' => out.push_str("\\'"),
                0x5c => out.push_str("\\\\"),
                _ => out.push(c),
            },
            Err(lone) => out.push_str(&format!("\\u{:x}", lone.unpaired_surrogate())),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_on_one_line_when_they_fit() {
        assert_eq!(
            inspect(
                &json!({"apiPath": "/api", "cookieKey": "sessionID", "url": "window.location.origin"})
            ),
            "{\n  apiPath: '/api',\n  cookieKey: 'sessionID',\n  url: 'window.location.origin'\n}"
        );
        assert_eq!(inspect(&json!({"a": 1, "b": "x"})), "{ a: 1, b: 'x' }");
        assert_eq!(inspect(&json!({})), "{}");
        assert_eq!(inspect(&json!({"a": []})), "{ a: [] }");
    }

    #[test]
    fn keys_and_strings_are_quoted_like_node() {
        assert_eq!(
            inspect(&json!({"a-b": "it's", "$x": "say \"hi\" it's", "c": "`${a}` \"'"})),
            "{ 'a-b': \"it's\", '$x': `say \"hi\" it's`, c: '`${a}` \"\\'' }"
        );
        assert_eq!(
            inspect(&json!({"x": "\u{1}\t\u{7f}\\é😀"})),
            "{ x: '\\x01\\t\\x7F\\\\é😀' }"
        );
        assert_eq!(
            inspect(&json!({"__proto__": 1, "2": 0, "1": -0.0})),
            "{ '1': -0, '2': 0, ['__proto__']: 1 }"
        );
    }

    #[test]
    fn depth_beyond_two_is_elided() {
        assert_eq!(
            inspect(&json!({"a": {"b": {"c": {"d": 1}, "e": [1], "f": {}}}})),
            "{ a: { b: { c: [Object], e: [Array], f: {} } } }"
        );
    }

    #[test]
    fn arrays_of_more_than_six_numbers_are_grouped() {
        let v = json!({"a": (1..=30).collect::<Vec<u32>>()});
        assert_eq!(
            inspect(&v),
            "{\n  a: [\n     1,  2,  3,  4,  5,  6,  7,  8,  9,\n    10, 11, 12, 13, 14, 15, 16, 17, 18,\n    19, 20, 21, 22, 23, 24, 25, 26, 27,\n    28, 29, 30\n  ]\n}"
        );
    }
}
