//! Actionhero's sample actions (`actionhero/src/actions/`), with their exact inputs,
//! error texts and response shapes (docs/protocol.md#sample-actions), as pure
//! code: the caller supplies a seed and the time, and carries out the one effect an action may wait for (a
//! sleep, a room creation, the process figures): [`Samples::run`], then
//! [`SampleWait::finish`]. Every adapter's sample actions are this dispatch plus those
//! effects.
//!
//! `ahws serve` and the tests use these to stand in for a stock Actionhero server.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::ids::RoomName;
use crate::server::{failed_validation, ActionOutcome, ActionSpec, Input};
use crate::time::Rng;
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

/// What the caller must do to finish a sample action: respond now, or carry out one
/// effect (the only IO the samples need) and then finish.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleRun {
    /// Respond now.
    Done(ActionOutcome),
    /// Carry out [`SampleWait::effect`], then respond with [`SampleWait::finish`].
    Wait(SampleWait),
}

/// The one effect a waiting sample action needs from the caller.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleEffect {
    /// `sleepTest`: wait this long, then [`SampleDone::Slept`].
    Sleep(Duration),
    /// `createChatRoom`: create this room, then [`SampleDone::RoomCreated`] with
    /// whether it was created (`false` when it existed or could not be made).
    CreateRoom(RoomName),
    /// `status`: gather the process figures, then [`SampleDone::Status`].
    Status,
}

/// What the caller reports once the effect is carried out.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleDone {
    /// The sleep is over.
    Slept,
    /// Whether the room was created.
    RoomCreated(bool),
    /// The process figures.
    Status(StatusFigures),
}

/// The process figures `status` reports (the rest of its answer is fixed).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusFigures {
    /// Server id (Actionhero's `id`: any name of this server process).
    pub id: String,
    /// Uptime in ms.
    pub uptime_ms: u64,
    /// Resident memory in MB ([`resident_mb`] reads Linux's figure).
    pub consumed_memory_mb: f64,
}

/// A sample action waiting for its effect.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleWait {
    effect: SampleEffect,
    /// Epoch ms when the action started (`sleepTest`'s `sleepStarted`).
    started_ms: u64,
    /// The param echoed in the answer (`sleepDuration`, `name`).
    param: Value,
}

impl SampleWait {
    /// What to do before [`finish`](Self::finish).
    pub fn effect(&self) -> &SampleEffect {
        &self.effect
    }

    /// The answer, given what the effect gave and the epoch ms now.
    pub fn finish(self, done: SampleDone, now_ms: u64) -> ActionOutcome {
        match (self.effect, done) {
            (SampleEffect::Sleep(_), SampleDone::Slept) => {
                sleep_response(self.started_ms, now_ms, self.param)
            }
            (SampleEffect::CreateRoom(room), SampleDone::RoomCreated(created)) => {
                create_chat_room_response(room.as_str(), created)
            }
            (SampleEffect::Status, SampleDone::Status(f)) => status_response(&StatusInfo {
                id: f.id,
                name: STATUS_NAME.into(),
                description: STATUS_DESCRIPTION.into(),
                version: STATUS_VERSION.into(),
                uptime_ms: f.uptime_ms,
                consumed_memory_mb: f.consumed_memory_mb,
            }),
            (effect, done) => ActionOutcome::error(format!("{done:?} does not finish {effect:?}")),
        }
    }
}

/// Resident memory in MB from the text of Linux's `/proc/self/statm` (its second
/// field, in 4 KiB pages); 0 when it cannot be read.
pub fn resident_mb(statm: &str) -> f64 {
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// The error of a request for an action that is not a sample (or not version 1).
pub const UNKNOWN_SAMPLE: &str = "unknown action or invalid apiVersion";

/// The in-memory state of the sample actions: `cacheTest`'s cache and the
/// `randomNumber` generator.
#[derive(Clone, Debug)]
pub struct Samples {
    cache: BTreeMap<String, Value>,
    rng: Rng,
}

impl Samples {
    /// Empty state; `seed` seeds `randomNumber` (the caller draws it, e.g. from the OS).
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            cache: BTreeMap::new(),
            rng: Rng::new(seed),
        }
    }

    /// Runs sample action `action` with validated `params`; `now_ms` is the
    /// wall-clock epoch ms. An action that is not a sample answers
    /// [`UNKNOWN_SAMPLE`].
    pub fn run(&mut self, action: &str, params: &Map<String, Value>, now_ms: u64) -> SampleRun {
        let mut out = Map::new();
        let wait = |effect, param| {
            SampleRun::Wait(SampleWait {
                effect,
                started_ms: now_ms,
                param,
            })
        };
        match action {
            "randomNumber" => {
                let random = self.rng.unit_f64();
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
                wait(
                    SampleEffect::Sleep(Duration::from_millis(duration_ms)),
                    param,
                )
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
            "createChatRoom" => {
                let name = params.get("name").map(js::js_string).unwrap_or_default();
                match RoomName::new(&name) {
                    Ok(room) => wait(SampleEffect::CreateRoom(room), Value::String(name)),
                    Err(e) => SampleRun::Done(ActionOutcome::error(e.to_string())),
                }
            }
            "status" => wait(SampleEffect::Status, Value::Null),
            _ => SampleRun::Done(ActionOutcome::error(UNKNOWN_SAMPLE)),
        }
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
    fn actions_wait_for_their_one_effect_then_finish() {
        let mut s = Samples::new([1; 32]);
        let params = |v: Value| v.as_object().cloned().unwrap();
        let SampleRun::Wait(w) = s.run("sleepTest", &params(json!({"sleepDuration": 20})), 100)
        else {
            panic!()
        };
        assert_eq!(w.effect(), &SampleEffect::Sleep(Duration::from_millis(20)));
        let ActionOutcome::Ok(out) = w.finish(SampleDone::Slept, 125) else {
            panic!()
        };
        assert_eq!(
            (&out["sleepDelta"], &out["sleepDuration"]),
            (&json!(25), &json!(20))
        );

        let SampleRun::Wait(w) = s.run("createChatRoom", &params(json!({"name": "r"})), 0) else {
            panic!()
        };
        assert_eq!(
            w.effect(),
            &SampleEffect::CreateRoom(RoomName::new("r").unwrap())
        );
        assert_eq!(
            w.finish(SampleDone::RoomCreated(false), 0),
            create_chat_room_response("r", false)
        );
        let SampleRun::Wait(w) = s.run("status", &Map::new(), 0) else {
            panic!()
        };
        let figures = StatusFigures {
            id: "x".into(),
            uptime_ms: 5,
            consumed_memory_mb: 600.0,
        };
        let ActionOutcome::Ok(out) = w.clone().finish(SampleDone::Status(figures), 0) else {
            panic!()
        };
        assert_eq!(
            (&out["name"], &out["nodeStatus"]),
            (&json!("actionhero"), &json!("Node Unhealthy"))
        );
        assert!(matches!(
            w.finish(SampleDone::Slept, 0),
            ActionOutcome::Err { .. }
        ));
        assert_eq!(
            s.run("nope", &Map::new(), 0),
            SampleRun::Done(ActionOutcome::error(UNKNOWN_SAMPLE))
        );
        let SampleRun::Done(ActionOutcome::Ok(a)) = s.run("randomNumber", &Map::new(), 0) else {
            panic!()
        };
        let SampleRun::Done(ActionOutcome::Ok(b)) = s.run("randomNumber", &Map::new(), 0) else {
            panic!()
        };
        assert_ne!(a["randomNumber"], b["randomNumber"]);
        assert_eq!(resident_mb("100 256 3"), 1.0);
        assert_eq!(resident_mb(""), 0.0);
    }

    #[test]
    fn parse_int_like_javascript() {
        assert_eq!(parse_int(&json!("  42abc")), Ok(Some(42)));
        assert_eq!(parse_int(&json!(3.9)), Ok(Some(3)));
        assert_eq!(parse_int(&json!("x")), Ok(None));
        assert_eq!(parse_int(&json!("-7")), Ok(Some(-7)));
        assert_eq!(parse_int(&json!([{"toString":1}])), Err(js::NoPrimitive));
    }
}
