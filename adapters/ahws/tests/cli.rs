//! `ahws call` and `ahws connect` against `ahws serve`, as processes.

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
