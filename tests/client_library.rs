//! The browser client library rendered by `actionhero_ws::http` against real Node:
//! Actionhero 29.3.5 and Primus 8.0.9 from `interop/node_modules` (installed by
//! `interop/ensure.sh` when missing). Needs `node`; fails (does not skip) without it.
//!
//! - the default library equals the file a real Actionhero writes at boot (needs
//!   `redis-server`);
//! - many configurations equal Actionhero's own `renderClientJS` and Primus's own
//!   `library()` (`tests/support/render-client.js`);
//! - the committed `vendor/js/` equals a fresh run of `scripts/vendor-js.js`.
// This test drives real processes: clocks, sleeps and a reader thread are fine here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actionhero_ws::http::{client_library, primus_library, ClientLibraryConfig, ClientUrl};
use serde_json::{json, Map, Value};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Checks for node and installs interop/node_modules when missing (once per process).
fn ensure_node() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "`node` is required by tests/client_library.rs (Node 20)"
        );
        if !repo_root()
            .join("interop/node_modules/actionhero/package.json")
            .exists()
        {
            let status = Command::new("bash")
                .arg(repo_root().join("interop/ensure.sh"))
                .status()
                .expect("run interop/ensure.sh");
            assert!(status.success(), "interop/ensure.sh failed: {status}");
        }
    });
}

fn node(args: &[&str]) -> String {
    ensure_node();
    let out = Command::new("node")
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A fresh directory under the system temp dir.
fn scratch_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("ahws-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One configuration, for both renderers.
struct Case {
    name: &'static str,
    config: ClientLibraryConfig,
    /// Actionhero's `websocket.server` (Primus options).
    server: Value,
}

impl Case {
    fn new(name: &'static str) -> Self {
        Case {
            name,
            config: ClientLibraryConfig::default(),
            server: json!({}),
        }
    }

    fn pathname(mut self, pathname: &str) -> Self {
        self.config.pathname = pathname.to_owned();
        self.server["pathname"] = json!(pathname);
        self
    }

    /// `Some(ms)` or `None` for `pingInterval: false`.
    fn ping(mut self, ms: Option<u64>) -> Self {
        self.config.ping_interval = ms.map(Duration::from_millis);
        self.server["pingInterval"] = ms.map_or(json!(false), |ms| json!(ms));
        self
    }

    fn url(mut self, url: &str) -> Self {
        self.config.url = ClientUrl::Fixed(url.to_owned());
        self
    }

    fn options(mut self, options: Value) -> Self {
        let Value::Object(options) = options else {
            panic!("options must be an object")
        };
        self.config.options = options;
        self
    }

    /// The spec for tests/support/render-client.js.
    fn spec(&self, what: &str) -> String {
        let mut client = Map::new();
        client.insert("apiPath".into(), json!(self.config.api_path));
        client.insert("cookieKey".into(), json!(self.config.cookie_key));
        for (k, v) in &self.config.options {
            client.insert(k.clone(), v.clone());
        }
        json!({
            "what": what,
            "server": self.server,
            "clientUrl": self.config.url.as_str(),
            "client": client,
        })
        .to_string()
    }
}

fn cases() -> Vec<Case> {
    let long_list: Map<String, Value> = (1..=12)
        .map(|i| (format!("option{i}"), json!(format!("value number {i}"))))
        .collect();
    vec![
        Case::new("defaults"),
        Case::new("pathname /ws").pathname("/ws"),
        Case::new("pathname without slash").pathname("socket"),
        Case::new("pathname with $ patterns").pathname("/a$$b$&c$1"),
        Case::new("pings off").ping(None),
        Case::new("pingInterval 0").ping(Some(0)),
        Case::new("pingInterval 10000").ping(Some(10_000)),
        Case::new("pingInterval 25 (odd half)").ping(Some(25)),
        Case::new("fixed url").url("https://example.com"),
        // `{ apiPath: '/api', cookieKey: 'sessionID', url: '…' }` is 80 wide with this url
        Case::new("fixed url one over the line").url("https://example.com/"),
        // the room left for a string is 80 - 2 (indentation) - 4 = 74
        Case::new("string at the split length").options(json!({
            "at": format!("{}\n{}", "a".repeat(36), "b".repeat(37)),
            "over": format!("{}\n{}", "a".repeat(37), "b".repeat(37)),
        })),
        Case::new("reconnect and timeout").options(json!({
            "reconnect": {"max": 5000, "min": 100, "retries": 10},
            "timeout": 10000,
        })),
        Case::new("quotes and odd keys").options(json!({
            "single": "it's",
            "both": "it's \"quoted\"",
            "all": "it's \"quoted\" `ticked`",
            "template": "it's \"q\" ${x}",
            "ctrl": "tab\there\u{1}\u{7f}\u{85}back\\slash é 😀",
            "x-y": 1,
            "$z": true,
            "_ok9": null,
            "9lives": -0.0,
            "2": 2.5,
            "10": 1e21,
            "1": 0.1,
            "__proto__": "ignored",
        })),
        Case::new("long option list").options(Value::Object(long_list)),
        Case::new("nesting and arrays").options(json!({
            "deep": {"a": {"b": {"c": {"d": 1}}, "e": [[1, [2]]], "f": {}, "g": []}},
            "short": [1, 2, 3],
            "numbers": (1..=30).collect::<Vec<u32>>(),
            "mixed": [1, "two", 3, "four", 5, "six", 7, "eight"],
            "words": ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"],
            "uneven": ["a", "bb", "a very long entry that is much longer than the others", "c", "d", "e", "f"],
            "many": (0..120).collect::<Vec<u32>>(),
            "objects": [{"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}, {"e": 5}, {"f": 6}, {"g": 7}],
        })),
        Case::new("long strings").options(json!({
            "lines": "first line of a long text\nsecond line of a long text\nthird line, the last one\n",
            "oneline": "a long single line without any line feed that is longer than eighty characters for sure",
            "huge": "x".repeat(10_005),
            "hugeEmoji": format!("{}😀tail", "y".repeat(9_999)),
        })),
        Case::new("window.location.origin in an option").url("https://example.com").options(json!({
            "before": "window.location.origin",
        })),
        Case::new("url option keeps its place").options(json!({
            "url": "overwritten",
            "after": 1,
            "apiPath": "/v1",
        })),
        Case::new("$ patterns in defaults").options(json!({
            "dollars": "$$ $& $' $` $1 $<x> $",
        })),
        Case::new("everything").pathname("/realtime").ping(Some(12_345)).url("wss://ws.example.com:8443").options(json!({
            "reconnect": {"max": 5000, "min": 100, "retries": 10},
            "timeout": 10000,
            "ping": 25000,
            "pong": 10000,
            "strategy": "online",
            "manual": false,
            "websockets": true,
            "network": true,
            "transport": {},
            "queueSize": 1e300,
        })),
    ]
}

#[test]
fn client_library_matches_actionhero_render_client_js() {
    for case in cases() {
        let expected = node(&["tests/support/render-client.js", &case.spec("client")]);
        let actual = client_library(&case.config);
        assert_same(case.name, &actual, &expected);
    }
}

#[test]
fn primus_library_matches_primus_library() {
    for case in cases().into_iter().filter(|c| c.config.options.is_empty()) {
        let expected = node(&["tests/support/render-client.js", &case.spec("primus")]);
        let actual = primus_library(&case.config.pathname, case.config.ping_interval);
        assert_same(case.name, &actual, &expected);
    }
}

/// Byte equality, reporting the first difference readably.
fn assert_same(name: &str, actual: &str, expected: &str) {
    if actual == expected {
        return;
    }
    let at = actual
        .bytes()
        .zip(expected.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    let around = |s: &str| {
        let start = char_floor(s, at.saturating_sub(200));
        let end = char_floor(s, (at + 200).min(s.len()));
        s[start..end].to_owned()
    };
    panic!(
        "{name}: differs at byte {at} (lengths {} vs {} expected)\n--- ours ---\n{}\n--- node ---\n{}",
        actual.len(),
        expected.len(),
        around(actual),
        around(expected)
    );
}

/// The largest char boundary of `s` at or below `i`.
fn char_floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[test]
fn vendored_templates_match_a_fresh_render() {
    let out = scratch_dir("vendor-js");
    let out_str = out.to_str().unwrap();
    node(&["scripts/vendor-js.js", "interop/node_modules", out_str]);
    for file in [
        "primus.js",
        "ActionheroWebsocketClient.js",
        "LICENSE-primus",
        "LICENSE-actionhero",
    ] {
        let fresh = std::fs::read(out.join(file)).unwrap();
        let committed = std::fs::read(repo_root().join("vendor/js").join(file)).unwrap();
        assert!(
            fresh == committed,
            "vendor/js/{file} differs from a fresh scripts/vendor-js.sh run"
        );
    }
    let _ = std::fs::remove_dir_all(out);
}

/// A child process killed and reaped on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn default_library_equals_the_file_real_actionhero_writes_at_boot() {
    ensure_node();
    let redis_port = free_port();
    let _redis = Guard(
        Command::new("redis-server")
            .args(["--port", &redis_port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("`redis-server` is required by this test"),
    );
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
        assert!(Instant::now() < until, "redis-server did not start");
        thread::sleep(Duration::from_millis(20));
    }

    let scratch = scratch_dir("public");
    let public = scratch.join("public");
    copy_dir(
        &repo_root().join("interop/actionhero-server/public"),
        &public,
    );
    let mut server = Guard(
        Command::new("node")
            .arg(repo_root().join("interop/actionhero-server/boot.js"))
            .env("CLIENT_JS", "1")
            .env("PUBLIC_DIR", &public)
            .env("PORT", "0")
            .env("REDIS_PORT", redis_port.to_string())
            .env_remove("PING_INTERVAL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start boot.js"),
    );
    let stdout = server.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("boot.js printed nothing (did Actionhero start?)");
    assert!(
        line.starts_with("READY "),
        "unexpected boot.js output: {line}"
    );
    let written = std::fs::read_to_string(public.join("javascript/ActionheroWebsocketClient.js"))
        .expect("Actionhero wrote no javascript/ActionheroWebsocketClient.js");
    drop(server);
    let _ = std::fs::remove_dir_all(scratch);

    assert_same(
        "real Actionhero boot",
        &client_library(&ClientLibraryConfig::default()),
        &written,
    );
}
