//! Action specs, the registry, and Actionhero's param processing (docs/protocol.md#actions).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::wire::js;

/// A formatter: `(value, param name) -> new value`, or an error message (a JS throw).
pub type Formatter = Arc<dyn Fn(&Value, &str) -> Result<Value, String> + Send + Sync>;
/// A validator: `(value, param name) -> Ok`, or the error message to send.
/// Use [`failed_validation`] for Actionhero's text when a validator "returns false".
pub type Validator = Arc<dyn Fn(&Value, &str) -> Result<(), String> + Send + Sync>;

/// Actionhero's text for a validator that returned `false`.
pub fn failed_validation(name: &str) -> String {
    format!("Input for parameter \"{name}\" failed validation!")
}

/// One declared input of an action.
#[derive(Clone, Default)]
pub struct Input {
    /// A missing, `null` or `""` value fails with `<key> is a required parameter for this action`.
    pub required: bool,
    /// Used when the param is absent.
    pub default: Option<Value>,
    /// Applied to a present value. An error ends the param checks: its message is the
    /// answer, even over an earlier missing or invalid param.
    pub formatter: Option<Formatter>,
    /// Checked on a present value after formatting.
    pub validator: Option<Validator>,
    /// Shown by the `documentation` verb.
    pub description: Option<String>,
}

impl Input {
    /// A required input.
    pub fn required() -> Self {
        Self {
            required: true,
            ..Self::default()
        }
    }

    /// An optional input.
    pub fn optional() -> Self {
        Self::default()
    }

    /// Sets the default value.
    pub fn default_value(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }

    /// Sets the formatter.
    pub fn formatter(
        mut self,
        f: impl Fn(&Value, &str) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.formatter = Some(Arc::new(f));
        self
    }

    /// Sets the validator.
    pub fn validator(
        mut self,
        f: impl Fn(&Value, &str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validator = Some(Arc::new(f));
        self
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("required", &self.required)
            .field("default", &self.default)
            .field("formatter", &self.formatter.is_some())
            .field("validator", &self.validator.is_some())
            .finish()
    }
}

/// An action the server accepts: name, version, inputs.
#[derive(Clone, Debug)]
pub struct ActionSpec {
    /// The action name (`params.action`).
    pub name: String,
    /// The version (Actionhero versions are numbers; the default version is the last one
    /// in JavaScript string order, so `10` sorts before `2`).
    pub version: serde_json::Number,
    /// Shown by `documentation`.
    pub description: String,
    /// Declared inputs, in declaration order.
    pub inputs: Vec<(String, Input)>,
    /// Actionhero's `blockedConnectionTypes` containing `websocket`.
    pub block_websocket: bool,
    /// Shown by `documentation` as `outputExample`.
    pub output_example: Value,
}

impl ActionSpec {
    /// A version-1 action without inputs.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: 1.into(),
            description: String::new(),
            inputs: Vec::new(),
            block_websocket: false,
            output_example: Value::Object(Map::new()),
        }
    }

    /// Adds an input.
    pub fn input(mut self, name: impl Into<String>, input: Input) -> Self {
        self.inputs.push((name.into(), input));
        self
    }

    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// Sets the version.
    pub fn version(mut self, v: impl Into<serde_json::Number>) -> Self {
        self.version = v.into();
        self
    }

    fn documentation(&self) -> Value {
        let mut inputs = Map::new();
        for (name, input) in &self.inputs {
            let mut i = Map::new();
            i.insert("required".into(), Value::Bool(input.required));
            if let Some(d) = &input.default {
                i.insert("default".into(), d.clone());
            }
            if let Some(d) = &input.description {
                i.insert("description".into(), Value::String(d.clone()));
            }
            inputs.insert(name.clone(), Value::Object(i));
        }
        let mut doc = Map::new();
        doc.insert("name".into(), Value::String(self.name.clone()));
        doc.insert("version".into(), Value::Number(self.version.clone()));
        doc.insert(
            "description".into(),
            Value::String(self.description.clone()),
        );
        doc.insert("inputs".into(), Value::Object(inputs));
        let blocked = if self.block_websocket {
            vec![Value::String("websocket".into())]
        } else {
            Vec::new()
        };
        doc.insert("blockedConnectionTypes".into(), Value::Array(blocked));
        doc.insert("outputExample".into(), self.output_example.clone());
        Value::Object(doc)
    }
}

/// Params every action keeps through scrubbing (`initializers/params.ts`).
pub const GLOBAL_SAFE_PARAMS: [&str; 5] = ["file", "apiVersion", "callback", "action", "messageId"];

/// Why an action request was refused before reaching the application (the exact
/// Actionhero texts, sent as the response's `error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    ShuttingDown,
    TooManyPending,
    Unknown,
    Unsupported,
    Missing(String),
    Invalid(String),
    /// A formatter failed (Actionhero's `GenericError`: its message, HTTP 500).
    Threw(String),
}

impl Refusal {
    pub(crate) fn message(&self) -> String {
        match self {
            Self::ShuttingDown => "the server is shutting down".into(),
            Self::TooManyPending => "you have too many pending requests".into(),
            Self::Unknown => "unknown action or invalid apiVersion".into(),
            Self::Unsupported => {
                "this action does not support the websocket connection type".into()
            }
            Self::Missing(key) => format!("{key} is a required parameter for this action"),
            Self::Invalid(msg) | Self::Threw(msg) => msg.clone(),
        }
    }
}

/// Names one registered action version; [`ActionRegistry::register`] hands it out and
/// the server's action events carry it, so an adapter runs the version the core chose
/// without looking versions up itself.
///
/// Keys are dense from 0 in registration order (a re-registered name and version keeps
/// its key), so an adapter may keep its handlers in a `Vec` indexed by
/// [`ActionKey::index`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionKey(u32);

impl ActionKey {
    /// The key as a dense index (0, 1, 2, … in registration order).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The registered actions, by name and version key (`String(version)`).
#[derive(Clone, Debug, Default)]
pub struct ActionRegistry {
    actions: BTreeMap<String, BTreeMap<String, (ActionKey, Arc<ActionSpec>)>>,
    next_key: u32,
    /// Every input name of every registered action (Actionhero's `postVariables`
    /// without the global ones), rebuilt on registration.
    input_names: BTreeSet<String>,
}

impl ActionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) an action version; returns its key (the same key when
    /// it replaces an earlier registration of that name and version).
    pub fn register(&mut self, spec: ActionSpec) -> ActionKey {
        let version = js::number_to_string(&spec.version);
        let versions = self.actions.entry(spec.name.clone()).or_default();
        let key = match versions.get(&version) {
            Some((key, _)) => *key,
            None => {
                let key = ActionKey(self.next_key);
                self.next_key += 1;
                key
            }
        };
        versions.insert(version, (key, Arc::new(spec)));
        // A replaced version may have dropped inputs: rebuild rather than add.
        self.input_names = self
            .actions
            .values()
            .flat_map(BTreeMap::values)
            .flat_map(|(_, spec)| spec.inputs.iter().map(|(n, _)| n.clone()))
            .collect();
        key
    }

    /// True when some registered action has an input named `name`.
    pub(crate) fn knows_input(&self, name: &str) -> bool {
        self.input_names.contains(name)
    }

    /// Number of registered action versions.
    pub fn len(&self) -> usize {
        self.actions.values().map(BTreeMap::len).sum()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The `documentation` verb's data: `{name: {version: {...}}}`.
    pub fn documentation(&self) -> Value {
        let mut out = Map::new();
        for (name, versions) in &self.actions {
            let mut v = Map::new();
            for (version, (_, spec)) in versions {
                v.insert(version.clone(), spec.documentation());
            }
            out.insert(name.clone(), Value::Object(v));
        }
        Value::Object(out)
    }

    /// Resolves `params.action`/`params.apiVersion` (writing the chosen version back into
    /// params, as Actionhero does, also over a falsy `apiVersion`).
    pub(crate) fn resolve(
        &self,
        params: &mut Map<String, Value>,
    ) -> Option<(ActionKey, Arc<ActionSpec>)> {
        let versions = match small_get(params, "action") {
            Some(Value::String(s)) if !s.is_empty() => self.actions.get(s.as_str())?,
            _ => return None,
        };
        match small_get(params, "apiVersion") {
            // A falsy version (`0`, `""`, `false`, `null`) counts as absent (`!apiVersion`).
            Some(v) if js::truthy(v) => versions.get(&js::js_string(v)).cloned(),
            Some(_) | None => {
                // JavaScript's default sort compares String(version); BTreeMap keys are
                // exactly those strings, so the last key is Actionhero's pick.
                let (key, spec) = versions.values().next_back()?.clone();
                params.insert("apiVersion".into(), Value::Number(spec.version.clone()));
                Some((key, spec))
            }
        }
    }
}

/// `map.get(key)`, by a linear scan for a map of a few entries (cheaper than hashing the
/// key with SipHash; keys are unique, so the first match is the entry).
fn small_get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= 8 {
        map.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// An adapter's table of action handlers (`H`: its handler type), indexed by the
/// [`ActionKey`] the core gives each registered version, so that running the version the
/// core resolved is one lookup and no adapter keeps its own version rules.
pub struct ActionHandlers<H> {
    slots: Vec<Option<H>>,
}

impl<H> Default for ActionHandlers<H> {
    fn default() -> Self {
        Self { slots: Vec::new() }
    }
}

impl<H> fmt::Debug for ActionHandlers<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.slots.iter().flatten().count();
        f.debug_struct("ActionHandlers")
            .field("handlers", &n)
            .finish()
    }
}

impl<H: Clone> ActionHandlers<H> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `spec` with `server` and keeps `handler` for it (replacing the handler
    /// of an earlier registration of the same name and version).
    pub fn register(&mut self, server: &mut super::Server, spec: ActionSpec, handler: H) {
        let key = server.register_action(spec).index();
        if self.slots.len() <= key {
            self.slots.resize(key + 1, None);
        }
        if let Some(slot) = self.slots.get_mut(key) {
            *slot = Some(handler);
        }
    }

    /// Splits `call` into its ticket, the handler of its version and the handler's
    /// context (with the adapter's `server` handle). `Err(ticket)` when no handler was
    /// registered for that version (an action registered on the core directly): answer
    /// it with [`super::ActionOutcome::panicked`].
    ///
    /// # Errors
    /// The call's ticket, when there is no handler.
    pub fn take<S>(
        &self,
        call: super::ActionCall,
        server: S,
    ) -> Result<(super::RequestId, H, super::ActionContext<S>), super::RequestId> {
        let (request, key, ctx) = call.into_context(server);
        match self.slots.get(key.index()) {
            Some(Some(handler)) => Ok((request, handler.clone(), ctx)),
            Some(None) | None => Err(request),
        }
    }
}

/// Scrubs, defaults, formats and validates params (Actionhero's `reduceParams` and
/// `validateParams`), input by input in declaration order. A formatter error stops there
/// and is the answer; otherwise the first missing required param, else the first
/// validator error.
pub(crate) fn process_params(
    spec: &ActionSpec,
    params: Map<String, Value>,
) -> Result<Map<String, Value>, Refusal> {
    let mut params = params;
    params.retain(|k, _| {
        GLOBAL_SAFE_PARAMS.contains(&k.as_str()) || spec.inputs.iter().any(|(n, _)| n == k)
    });
    let mut missing: Option<String> = None;
    let mut invalid: Option<String> = None;
    for (name, input) in &spec.inputs {
        if small_get(&params, name).is_none() {
            if let Some(d) = &input.default {
                params.insert(name.clone(), d.clone());
            }
        }
        if let (Some(f), Some(v)) = (&input.formatter, small_get(&params, name)) {
            match f(v, name) {
                Ok(nv) => {
                    params.insert(name.clone(), nv);
                }
                // A throwing formatter ends the processing at once: its message is the
                // answer, whatever was missing or invalid before (Actionhero's
                // GenericError, docs/protocol.md#params).
                Err(e) => return Err(Refusal::Threw(e)),
            }
        }
        if let (Some(val), Some(v)) = (&input.validator, small_get(&params, name)) {
            if let Err(e) = val(v, name) {
                invalid.get_or_insert(e);
            }
        }
        let absent = match small_get(&params, name) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if input.required && absent {
            missing.get_or_insert_with(|| name.clone());
        }
    }
    if let Some(m) = missing {
        return Err(Refusal::Missing(m));
    }
    if let Some(e) = invalid {
        return Err(Refusal::Invalid(e));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn default_version_uses_string_order() {
        let mut r = ActionRegistry::new();
        for v in [1u64, 10, 2] {
            r.register(ActionSpec::new("a").version(v));
        }
        let mut p = obj(json!({"action":"a"}));
        assert_eq!(r.resolve(&mut p).unwrap().1.version, 2.into());
        assert_eq!(p["apiVersion"], json!(2));
        let mut p = obj(json!({"action":"a","apiVersion":"10"}));
        let (key, spec) = r.resolve(&mut p).unwrap();
        assert_eq!(spec.version, 10.into());
        // Keys follow registration order; re-registering keeps the key.
        assert_eq!(key.index(), 1);
        assert_eq!(r.register(ActionSpec::new("a").version(10)), key);
        assert_eq!(r.register(ActionSpec::new("b")).index(), 3);
        let mut p = obj(json!({"action":"a","apiVersion":99}));
        assert!(r.resolve(&mut p).is_none());
        // Falsy versions are absent: the default runs and is written back.
        for falsy in [json!(0), json!(""), json!(false), json!(null), json!(0.0)] {
            let mut p = obj(json!({"action":"a","apiVersion":falsy}));
            assert_eq!(r.resolve(&mut p).unwrap().1.version, 2.into());
            assert_eq!(p["apiVersion"], json!(2));
        }
    }

    #[test]
    fn param_errors_in_actionhero_order_and_scrubbing_keeps_safe_params() {
        let spec = ActionSpec::new("v")
            .input(
                "string",
                Input::required().validator(|v, n| {
                    if v.is_string() {
                        Ok(())
                    } else {
                        Err(failed_validation(n))
                    }
                }),
            )
            .input(
                "number",
                Input::optional().validator(|_, _| Err("bad number".into())),
            );
        let e = process_params(&spec, obj(json!({"number":5}))).unwrap_err();
        assert_eq!(
            e.message(),
            "string is a required parameter for this action"
        );
        let e = process_params(&spec, obj(json!({"string":5}))).unwrap_err();
        assert_eq!(
            e.message(),
            "Input for parameter \"string\" failed validation!"
        );
        // A throwing formatter wins over an earlier missing or invalid param, and the
        // inputs after it are not looked at.
        let spec = spec
            .input(
                "f",
                Input::optional().formatter(|_, n| Err(format!("cannot format {n}"))),
            )
            .input("late", Input::required());
        for p in [json!({"f":1}), json!({"string":5,"f":1})] {
            let e = process_params(&spec, obj(p)).unwrap_err();
            assert_eq!(e, Refusal::Threw("cannot format f".into()));
        }
        let e = process_params(&spec, obj(json!({"string":"s"}))).unwrap_err();
        assert_eq!(e.message(), "late is a required parameter for this action");
        let ok = process_params(
            &spec,
            obj(json!({"string":"s","late":1,"junk":1,"action":"v"})),
        )
        .unwrap();
        assert_eq!(
            Value::Object(ok),
            json!({"string":"s","late":1,"action":"v"})
        );
    }
}
