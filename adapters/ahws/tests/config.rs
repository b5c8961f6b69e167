//! `ahws serve --config FILE`, as processes: the example file shown in the README parses
//! and takes effect over a socket, flags override it, `--print-config` writes a file
//! that reads back the same, `--help` shows every setting with its default, and an
//! unknown key stops the server with a message naming the file, the key and the line.

mod bins;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// The example config file, shown whole in the README.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ahws.example.toml");

fn ahws(args: &[&str]) -> Output {
    Command::new(bins::AHWS)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ahws")
}

#[test]
fn the_readme_shows_the_example_file_whole() {
    let example = std::fs::read_to_string(EXAMPLE).expect("example file");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    assert!(
        readme.contains(&format!("```toml\n{example}```")),
        "adapters/ahws/README.md must show ahws.example.toml verbatim in a ```toml block"
    );
}

#[test]
fn the_example_file_takes_effect_and_flags_override_it() {
    let port = support::free_port();
    // The file listens on 0.0.0.0:8080; `--listen` (added by bins::serve) and
    // `--welcome` override it.
    let _server = bins::serve(
        port,
        &["--config", EXAMPLE, "--welcome", "from the command line"],
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(bins::AHWS)
        .args(["connect", "--url", &url, "--room", "defaultRoom"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn ahws connect");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        // `lobby` exists only through the file's `rooms`; the file allows two rooms per
        // connection, so the third join is refused.
        stdin
            .write_all(b"join lobby\njoin otherRoom\n")
            .expect("write commands");
    }
    let out = child.wait_with_output().expect("ahws connect ran");
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let welcome = lines
        .iter()
        .find(|l| l["event"] == "welcome")
        .expect("welcome");
    assert_eq!(welcome["welcome"], "from the command line", "{lines:#?}");
    let response = |command: &str| -> Value {
        let id = &lines
            .iter()
            .find(|l| l["event"] == "sent" && l["command"] == command)
            .unwrap_or_else(|| panic!("{command} not sent: {lines:#?}"))["messageId"];
        lines
            .iter()
            .find(|l| l["event"] == "response" && &l["messageId"] == id)
            .unwrap_or_else(|| panic!("no response to {command}: {lines:#?}"))["response"]
            .clone()
    };
    assert_eq!(response("join lobby")["status"], "OK", "{lines:#?}");
    assert_eq!(
        response("join otherRoom")["error"],
        json!("Error: too many rooms for this connection"),
        "{lines:#?}"
    );
    // `public = "public"` is relative to the file: the crate's demo page.
    let (status, _) = support::raw_http(
        ([127, 0, 0, 1], port).into(),
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
}

#[test]
fn print_config_writes_a_file_that_reads_back_the_same() {
    let first = ahws(&[
        "serve",
        "--config",
        EXAMPLE,
        "--max-rooms",
        "7",
        "--print-config",
    ]);
    assert!(first.status.success(), "{first:?}");
    let text = String::from_utf8(first.stdout).expect("UTF-8");
    let printed: toml::Table = text.parse().expect("TOML");
    assert_eq!(printed["server"]["max-rooms"].as_integer(), Some(7));
    assert_eq!(
        printed["server"]["max-rooms-per-connection"].as_integer(),
        Some(2)
    );
    assert_eq!(
        printed["server"]["welcome"].as_str(),
        Some("Welcome to ahws (configured by ahws.example.toml)")
    );
    let public = printed["public"].as_str().expect("public");
    assert!(
        std::path::Path::new(public).is_absolute() && public.ends_with("ahws/public"),
        "{public}"
    );
    let file = std::env::temp_dir().join(format!("ahws-printed-{}.toml", std::process::id()));
    std::fs::write(&file, &text).expect("write");
    let again = ahws(&[
        "serve",
        "--config",
        file.to_str().expect("path"),
        "--print-config",
    ]);
    let _ = std::fs::remove_file(&file);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
}

#[test]
fn help_shows_every_setting_with_its_default() {
    let help = ahws(&["serve", "--help"]);
    assert!(help.status.success(), "{help:?}");
    let help = String::from_utf8_lossy(&help.stdout);
    let defaults = ahws(&["serve", "--print-config"]);
    let defaults: toml::Table = String::from_utf8_lossy(&defaults.stdout)
        .parse()
        .expect("TOML");
    let mut keys: Vec<String> = Vec::new();
    for (key, value) in &defaults {
        match value {
            toml::Value::Table(section) => keys.extend(section.keys().cloned()),
            _ => keys.push(key.clone()),
        }
    }
    // Absent by default (any origin is allowed).
    keys.extend(["allowed-origins".into(), "cors-origins".into()]);
    for key in &keys {
        assert!(help.contains(&format!("--{key}")), "no --{key} in\n{help}");
    }
    for flag in ["--config <FILE>", "--print-config"] {
        assert!(help.contains(flag), "no {flag} in\n{help}");
    }
    let line = |flag: &str| {
        let at = help.find(flag).unwrap_or_else(|| panic!("no {flag}"));
        help[at..].lines().take(2).collect::<String>()
    };
    assert!(
        line("--max-connections <N>").contains("[default: 100000]"),
        "{help}"
    );
    assert!(
        line("--ping-interval-ms <MS>").contains("[default: 30000]"),
        "{help}"
    );
}

#[test]
fn an_unknown_key_stops_the_server_with_a_clear_message() {
    let file = std::env::temp_dir().join(format!("ahws-unknown-{}.toml", std::process::id()));
    std::fs::write(&file, "[server]\nwelcome = \"hi\"\nmax-conections = 5\n").expect("write");
    let path = file.to_str().expect("path").to_owned();
    let out = ahws(&["serve", "--config", &path, "--listen", "127.0.0.1:0"]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&path), "{stderr}");
    assert!(
        stderr.contains("unknown field `max-conections`"),
        "{stderr}"
    );
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("max-connections"), "{stderr}");
}
