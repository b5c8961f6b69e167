//! `ahws call` and `ahws connect` against `ahws serve`, as processes; `ahws connect`'s
//! `quit` also against a real Actionhero 29.3.5 (`interop/`, skipped only without `node`).

mod bins;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};

#[test]
fn ahws_call_exit_codes() {
    let port = support::free_port();
    let _server = bins::serve(port, &["--ping-interval", "500"]);
    let url = format!("http://127.0.0.1:{port}");
    let run = |args: &[&str]| {
        std::process::Command::new(bins::AHWS)
            .arg("call")
            .args(args)
            .output()
            .expect("run ahws call")
    };
    let ok = run(&["--url", &url, "randomNumber"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let body: Value = serde_json::from_slice(&ok.stdout).expect("JSON on stdout");
    assert!(body["randomNumber"].is_f64());
    let ws_url = format!("ws://127.0.0.1:{port}/primus");
    let ok = run(&["--url", &ws_url, "validationTest", "string=abc"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let body: Value = serde_json::from_slice(&ok.stdout).expect("JSON on stdout");
    assert_eq!(body["string"], "abc");
    let failed = run(&["--url", &url, "cacheTest", "key=ab", "value=abc"]);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    let body: Value = serde_json::from_slice(&failed.stdout).expect("JSON on stdout");
    assert_eq!(body["error"], "inputs should be at least 3 letters long");
    let nobody = format!("http://127.0.0.1:{}", support::free_port());
    let unreachable = run(&["--url", &nobody, "randomNumber"]);
    assert_eq!(unreachable.status.code(), Some(2), "{unreachable:?}");
}

#[test]
fn ahws_connect_with_piped_commands() {
    use std::io::Write as _;
    let port = support::free_port();
    let _server = bins::serve(port, &[]);
    let mut child = std::process::Command::new(bins::AHWS)
        .args([
            "connect",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--room",
            "otherRoom",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ahws connect");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"action randomNumber\njoin defaultRoom\nsay defaultRoom hi there\nleave nowhere\ndetails\nnonsense\n")
        .expect("write commands");
    // stdin is closed: the client finishes the outstanding requests and leaves.
    let out = child.wait_with_output().expect("ahws connect ran");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let events: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    let count = |name: &str| events.iter().filter(|e| **e == name).count();
    assert_eq!(count("connected"), 1, "{lines:#?}");
    assert_eq!(count("welcome"), 1);
    assert_eq!(count("sent"), 5);
    assert_eq!(count("response"), 5);
    assert_eq!(count("commandError"), 1);
    assert_eq!(count("say"), 1);
    assert_eq!(events.last(), Some(&"disconnected"));
    let connected = lines
        .iter()
        .find(|l| l["event"] == "connected")
        .expect("connected");
    assert_eq!(connected["rooms"], json!(["otherRoom"]));
    let say = lines.iter().find(|l| l["event"] == "say").expect("say");
    assert_eq!(say["message"], "hi there");
    assert_eq!(say["from"], connected["id"]);
    let failed = lines
        .iter()
        .find(|l| l["response"]["error"].is_string())
        .expect("the leave error");
    assert_eq!(
        failed["response"]["error"],
        "Error: connection not in this room (nowhere)"
    );
}

/// Runs `ahws connect --url URL --room defaultRoom`, writes `input` to its stdin and keeps
/// stdin open (so only `quit` can end the session), and returns its exit status and
/// stdout lines.
fn connect_until_quit(url: &str, input: &str) -> (std::process::ExitStatus, Vec<Value>) {
    use std::io::{Read as _, Write as _};
    let child = std::process::Command::new(bins::AHWS)
        .args(["connect", "--url", url, "--room", "defaultRoom"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ahws connect");
    let mut child = support::ChildGuard::new(child, "ahws connect");
    let mut stdin = child.child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write commands");
    stdin.flush().expect("flush");
    let mut stdout = child.child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let status = child
        .wait_timeout(std::time::Duration::from_secs(20))
        .expect("ahws connect ended after quit, with its stdin still open");
    drop(stdin);
    let out = reader.join().expect("stdout reader");
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    (status, lines)
}

/// `quit` right after a `say` and a slow action: both are answered before the client
/// leaves (neither fails with `connectionLost` or `closed`), each request's `sent` line
/// comes before its `response`, and nothing after `quit` is sent.
fn assert_quit_waits(status: std::process::ExitStatus, lines: &[Value]) {
    assert!(status.success(), "{status:?}\n{lines:#?}");
    let events: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    assert!(!events.contains(&"requestFailed"), "{lines:#?}");
    assert_eq!(events.last(), Some(&"disconnected"), "{lines:#?}");
    assert_eq!(lines.last().expect("lines")["reason"], "Local");
    let sent: Vec<&Value> = lines.iter().filter(|l| l["event"] == "sent").collect();
    let commands: Vec<&str> = sent.iter().filter_map(|l| l["command"].as_str()).collect();
    assert_eq!(
        commands,
        ["say defaultRoom hi", "action sleepTest sleepDuration=500"],
        "{lines:#?}"
    );
    for s in &sent {
        let at = |event: &str| {
            lines
                .iter()
                .position(|l| l["event"] == event && l["messageId"] == s["messageId"])
        };
        let sent_at = at("sent").expect("sent");
        let response_at = at("response").unwrap_or_else(|| panic!("no response to {s}"));
        assert!(sent_at < response_at, "{lines:#?}");
    }
    let response = |command: &str| {
        let id = &sent.iter().find(|s| s["command"] == command).expect("sent")["messageId"];
        &lines
            .iter()
            .find(|l| l["event"] == "response" && &l["messageId"] == id)
            .expect("response")["response"]
    };
    assert_eq!(response("say defaultRoom hi")["status"], "OK", "{lines:#?}");
    let slept = response("action sleepTest sleepDuration=500");
    assert_eq!(slept["sleepDuration"], 500, "{lines:#?}");
    assert!(slept["error"].is_null(), "{lines:#?}");
}

const QUIT_INPUT: &str =
    "say defaultRoom hi\naction sleepTest sleepDuration=500\nquit\naction randomNumber\n";

#[test]
fn ahws_connect_quit_waits_for_sent_requests() {
    let port = support::free_port();
    let _server = bins::serve(port, &[]);
    let (status, lines) = connect_until_quit(&format!("http://127.0.0.1:{port}"), QUIT_INPUT);
    assert_quit_waits(status, &lines);
}

/// The same against a real Actionhero 29.3.5 (`interop/`); skipped only without `node`.
#[test]
fn ahws_connect_quit_waits_for_sent_requests_against_actionhero() {
    if !support::node_available() {
        eprintln!("SKIPPED ahws_connect_quit_waits_for_sent_requests_against_actionhero: `node` is not installed");
        return;
    }
    support::ensure_interop();
    let redis = support::Redis::start(false);
    // A redis DB of its own: booting flushes it (the other suites use 7 and 8).
    let (_actionhero, port) =
        support::boot_actionhero(&redis, 0, &[("REDIS_DB", "11"), ("LOG_LEVEL", "crit")]);
    let (status, lines) = connect_until_quit(&format!("http://127.0.0.1:{port}"), QUIT_INPUT);
    assert_quit_waits(status, &lines);
}

#[test]
fn ahws_serve_refuses_unusable_tls_files() {
    let run = |args: &[&str]| {
        std::process::Command::new(bins::AHWS)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run ahws serve")
    };
    // A certificate without its key (and the reverse) is a usage error.
    let half = run(&["--tls-cert", "cert.pem"]);
    assert_eq!(half.status.code(), Some(2), "{half:?}");
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("--tls-key"),
        "{half:?}"
    );
    // Missing or unusable files: exit 2 with the reason, before listening.
    let missing = run(&[
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("ahws: TLS: /nonexistent/cert.pem"), "{err}");
    let not_pem = std::env::temp_dir().join(format!("ahws-not-pem-{}", std::process::id()));
    std::fs::write(&not_pem, "not a certificate").expect("write");
    let path = not_pem.to_string_lossy();
    let garbage = run(&["--tls-cert", &path, "--tls-key", &path]);
    let _ = std::fs::remove_file(&not_pem);
    assert_eq!(garbage.status.code(), Some(2), "{garbage:?}");
    let err = String::from_utf8_lossy(&garbage.stderr);
    assert!(err.contains("no certificate"), "{err}");
}
