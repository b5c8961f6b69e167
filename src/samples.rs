//! Actionhero's sample actions (`actionhero/src/actions/`), with their exact inputs,
//! error texts and response shapes (docs/protocol.md#sample-actions), as pure code: the
//! caller supplies randomness and time and carries out sleeps and room creation.
//!
//! `ahws serve` and the tests use these to stand in for a stock Actionhero server.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::server::{failed_validation, ActionOutcome, ActionSpec, Input};
use crate::wire::js;

/// `status`'s `name`: what a stock Actionhero 29.3.5 reports (its own package.json).
pub const STATUS_NAME: &str = "actionhero";
/// `status`'s `description`, as a stock Actionhero 29.3.5 reports it.
pub const STATUS_DESCRIPTION: &str =
    "The reusable, scalable, and quick node.js API server for stateless and stateful applications";
/// `status`'s `version`, as a stock Actionhero 29.3.5 reports it.
pub const STATUS_VERSION: &str = "29.3.5";
/// The rooms Actionhero's test configuration creates at start.
pub const STARTING_ROOMS: [&str; 2] = ["defaultRoom", "otherRoom"];

/// JavaScript's `parseInt(String(v))` (base 10); `None` for `NaN`, `Err` for the
/// `TypeError` of `String(v)`.
pub(crate) fn parse_int(v: &Value) -> Result<Option<i64>, js::NoPrimitive> {
    let s = js::try_js_string(v)?;
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return Ok(None);
    }
    let n: i64 = digits[..end].parse().unwrap_or(i64::MAX);
    Ok(Some(if neg { -n } else { n }))
}

/// `parseInt` as a formatter: the number, `null` for `NaN` (JSON has no `NaN`), or the
/// `TypeError`'s message (the formatter throws).
fn int_or_nan(v: &Value) -> Result<Value, String> {
    match parse_int(v) {
        Ok(n) => Ok(n.map(Value::from).unwrap_or(Value::Null)),
        Err(_) => Err(js::NoPrimitive::MESSAGE.into()),
    }
}

/// The specs of every sample action, version 1.
pub fn specs() -> Vec<ActionSpec> {
    vec![
        ActionSpec::new("randomNumber")
            .description("I am an API method which will generate a random number"),
        ActionSpec::new("status").description("I will return some basic information about the API"),
        ActionSpec::new("sleepTest")
            .description("I will sleep and then return")
            .input(
                "sleepDuration",
                Input::required()
                    .default_value(Value::from(1000))
                    .formatter(|v, _| int_or_nan(v)),
            ),
        ActionSpec::new("cacheTest")
            .description("I will test the internal cache functions of the API")
            .input("key", cache_input())
            .input("value", cache_input()),
        ActionSpec::new("validationTest")
            .description("I will test the validation of inputs")
            .input(
                "string",
                Input::required().validator(|v, name| {
                    if v.is_string() {
                        Ok(())
                    } else {
                        Err(failed_validation(name))
                    }
                }),
            )
            .input(
                "number",
                Input::optional()
                    .formatter(|v, _| match int_or_nan(v)? {
                        n if n == 123 => Err("Failed formatting number correctly!".into()),
                        n => Ok(n),
                    })
                    // The formatted value is a number or `null` standing for `NaN`, whose
                    // `typeof` is "number" too.
                    .validator(|v, _| {
                        if v.is_number() || v.is_null() {
                            Err("Param number is not a valid number!".into())
                        } else {
                            Ok(())
                        }
                    }),
            ),
        ActionSpec::new("createChatRoom")
            .description("I will create a chatroom with the given name")
            .input("name", Input::required()),
    ]
}

fn cache_input() -> Input {
    Input::required()
        .formatter(|v, _| {
            js::try_js_string(v)
                .map(Value::String)
                .map_err(|_| js::NoPrimitive::MESSAGE.into())
        })
        .validator(|v, _| match v {
            Value::String(s) if s.encode_utf16().count() < 3 => {
                Err("inputs should be at least 3 letters long".into())
            }
            _ => Ok(()),
        })
}

/// What the caller must do to finish a sample action.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleRun {
    /// Respond now.
    Done(ActionOutcome),
    /// `sleepTest`: wait `duration_ms`, then respond with [`sleep_response`].
    Sleep {
        /// How long to wait.
        duration_ms: u64,
        /// Epoch ms when the sleep started.
        started_ms: u64,
        /// The formatted `sleepDuration` param (echoed).
        duration_param: Value,
    },
    /// `createChatRoom`: create the room if missing, then respond with
    /// [`create_chat_room_response`].
    CreateRoom {
        /// The room name.
        name: String,
    },
    /// `status`: gather process figures, then respond with [`status_response`].
    Status,
}

/// The in-memory state of the sample actions (`cacheTest`'s cache).
#[derive(Clone, Debug, Default)]
pub struct Samples {
    cache: BTreeMap<String, Value>,
}

impl Samples {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs sample action `action` with validated `params`. `random` is a float in
    /// `[0, 1)`, `now_ms` the wall-clock epoch ms. `None` if `action` is not a sample.
    pub fn run(
        &mut self,
        action: &str,
        params: &Map<String, Value>,
        random: f64,
        now_ms: u64,
    ) -> Option<SampleRun> {
        let mut out = Map::new();
        Some(match action {
            "randomNumber" => {
                let n = serde_json::Number::from_f64(random).unwrap_or_else(|| 0.into());
                let mut s = String::from("Your random number is ");
                js::write_number(&mut s, &n);
                out.insert("randomNumber".into(), Value::Number(n));
                out.insert("stringRandomNumber".into(), Value::String(s));
                SampleRun::Done(ActionOutcome::Ok(out))
            }
            "sleepTest" => {
                let param = params.get("sleepDuration").cloned().unwrap_or(Value::Null);
                let duration_ms = param
                    .as_i64()
                    .map(|n| n.clamp(0, 86_400_000) as u64)
                    .unwrap_or(0);
                SampleRun::Sleep {
                    duration_ms,
                    started_ms: now_ms,
                    duration_param: param,
                }
            }
            "cacheTest" => {
                let key = format!(
                    "cacheTest_{}",
                    params.get("key").map(js::js_string).unwrap_or_default()
                );
                let value = params.get("value").cloned().unwrap_or(Value::Null);
                let mut stored = Map::new();
                stored.insert("value".into(), value.clone());
                stored.insert("createdAt".into(), Value::from(now_ms));
                self.cache.insert(key.clone(), Value::Object(stored));
                let size = self.cache.len();
                let mut load = Map::new();
                load.insert("key".into(), Value::String(key.clone()));
                load.insert("value".into(), value);
                load.insert("createdAt".into(), Value::from(now_ms));
                self.cache.remove(&key);
                let mut results = Map::new();
                results.insert("saveResp".into(), Value::Bool(true));
                results.insert("sizeResp".into(), Value::from(size));
                results.insert("loadResp".into(), Value::Object(load));
                results.insert("deleteResp".into(), Value::Bool(true));
                out.insert("cacheTestResults".into(), Value::Object(results));
                SampleRun::Done(ActionOutcome::Ok(out))
            }
            "validationTest" => {
                out.insert(
                    "string".into(),
                    params.get("string").cloned().unwrap_or(Value::Null),
                );
                if let Some(n) = params.get("number") {
                    out.insert("number".into(), n.clone());
                }
                SampleRun::Done(ActionOutcome::Ok(out))
            }
            "createChatRoom" => SampleRun::CreateRoom {
                name: params.get("name").map(js::js_string).unwrap_or_default(),
            },
            "status" => SampleRun::Status,
            _ => return None,
        })
    }
}

/// `sleepTest`'s response.
pub fn sleep_response(started_ms: u64, ended_ms: u64, duration_param: Value) -> ActionOutcome {
    let mut out = Map::new();
    out.insert("sleepStarted".into(), Value::from(started_ms));
    out.insert("sleepEnded".into(), Value::from(ended_ms));
    out.insert(
        "sleepDelta".into(),
        Value::from(ended_ms.saturating_sub(started_ms)),
    );
    out.insert("sleepDuration".into(), duration_param);
    ActionOutcome::Ok(out)
}

/// `createChatRoom`'s response.
pub fn create_chat_room_response(name: &str, did_create: bool) -> ActionOutcome {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(name.into()));
    out.insert("didCreate".into(), Value::Bool(did_create));
    ActionOutcome::Ok(out)
}

/// Process figures for `status`.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusInfo {
    /// Server id.
    pub id: String,
    /// Package name.
    pub name: String,
    /// Package description.
    pub description: String,
    /// Package version.
    pub version: String,
    /// Uptime in ms.
    pub uptime_ms: u64,
    /// Resident memory in MB.
    pub consumed_memory_mb: f64,
}

/// `status`'s response (Actionhero's fields and health rules: unhealthy above 500 MB).
pub fn status_response(info: &StatusInfo) -> ActionOutcome {
    let mb = (info.consumed_memory_mb * 100.0).round() / 100.0;
    let mut problems = Vec::new();
    if mb > 500.0 {
        problems.push(Value::String("Using more than 500 MB of RAM/HEAP".into()));
    }
    let mut out = Map::new();
    out.insert("id".into(), Value::String(info.id.clone()));
    out.insert("actionheroVersion".into(), Value::String("29.3.5".into()));
    out.insert("name".into(), Value::String(info.name.clone()));
    out.insert(
        "description".into(),
        Value::String(info.description.clone()),
    );
    out.insert("version".into(), Value::String(info.version.clone()));
    out.insert("uptime".into(), Value::from(info.uptime_ms));
    out.insert(
        "consumedMemoryMB".into(),
        serde_json::Number::from_f64(mb)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    );
    out.insert("resqueTotalQueueLength".into(), Value::from(0));
    let healthy = problems.is_empty();
    out.insert(
        "nodeStatus".into(),
        Value::String(
            if healthy {
                "Node Healthy"
            } else {
                "Node Unhealthy"
            }
            .into(),
        ),
    );
    out.insert("problems".into(), Value::Array(problems));
    ActionOutcome::Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_int_like_javascript() {
        assert_eq!(parse_int(&json!("  42abc")), Ok(Some(42)));
        assert_eq!(parse_int(&json!(3.9)), Ok(Some(3)));
        assert_eq!(parse_int(&json!("x")), Ok(None));
        assert_eq!(parse_int(&json!("-7")), Ok(Some(-7)));
        assert_eq!(parse_int(&json!([{"toString":1}])), Err(js::NoPrimitive));
    }
}
