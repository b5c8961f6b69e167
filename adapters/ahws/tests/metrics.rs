//! `ahws serve --metrics ADDR` (or `metrics = "ADDR"` in the config file): Prometheus
//! metrics on a listener of their own.

mod bins;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn ahws_serve_metrics_listener() {
    let port = support::free_port();
    let metrics_port = support::free_port();
    let metrics: SocketAddr = ([127, 0, 0, 1], metrics_port).into();
    let _server = bins::serve(port, &["--metrics", &metrics.to_string()]);
    assert!(
        support::wait_for_port(metrics, Duration::from_secs(10)),
        "no metrics listener on {metrics}"
    );
    let call = std::process::Command::new(bins::AHWS)
        .args([
            "call",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "randomNumber",
        ])
        .output()
        .expect("run ahws call");
    assert_eq!(call.status.code(), Some(0), "{call:?}");
    let (status, text) = support::raw_http(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200, "{text}");
    let body = support::http_body(&text);
    for line in [
        "ahws_connections_opened_total 1",
        r#"ahws_actions_total{action="randomNumber",outcome="ok"} 1"#,
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in:\n{body}"
        );
    }
}

#[test]
fn the_config_files_metrics_key_starts_the_listener_and_is_printed() {
    let port = support::free_port();
    let metrics: SocketAddr = ([127, 0, 0, 1], support::free_port()).into();
    let file = std::env::temp_dir().join(format!("ahws-metrics-{}.toml", std::process::id()));
    std::fs::write(&file, format!("metrics = \"{metrics}\"\n")).expect("write config");
    let path = file.to_str().expect("path").to_owned();

    let printed = std::process::Command::new(bins::AHWS)
        .args(["serve", "--config", &path, "--print-config"])
        .output()
        .expect("run ahws serve --print-config");
    assert!(printed.status.success(), "{printed:?}");
    let printed: toml::Table = String::from_utf8_lossy(&printed.stdout)
        .parse()
        .expect("TOML");
    assert_eq!(
        printed["metrics"].as_str(),
        Some(metrics.to_string().as_str())
    );

    let _server = bins::serve(port, &["--config", &path]);
    let listening = support::wait_for_port(metrics, Duration::from_secs(10));
    let _ = std::fs::remove_file(&file);
    assert!(listening, "no metrics listener on {metrics}");
    let (status, text) = support::raw_http(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200, "{text}");
    assert!(
        support::http_body(&text)
            .lines()
            .any(|l| l == "ahws_connections_open 0"),
        "{text}"
    );
}
