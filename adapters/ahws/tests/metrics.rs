//! `ahws serve --metrics ADDR`: Prometheus metrics on a listener of their own.

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
