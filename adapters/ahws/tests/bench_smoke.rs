//! Smoke test of `ahws bench` against `ahws serve` (and `ahws-baseline`): each mode runs
//! for a short window and prints one JSON summary with work done and CPU figures. The
//! real measurements are `benches/compare.sh`, run by hand.

mod bins;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use bins::{AHWS, BASELINE};
use serde_json::Value;
use support::{free_port, ChildGuard};

fn bench(port: u16, pid: u32, args: &[&str]) -> Value {
    let out = Command::new(AHWS)
        .arg("bench")
        .arg("--url")
        .arg(format!("ws://127.0.0.1:{port}"))
        .args([
            "--seconds",
            "1",
            "--warmup",
            "0.2",
            "--quiet",
            "--threads",
            "1",
        ])
        .arg("--server-pid")
        .arg(pid.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ahws bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ahws bench {args:?} failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line on stdout: {stdout}");
    serde_json::from_str(lines[0]).expect("JSON summary")
}

fn check_common(v: &Value, mode: &str) {
    assert_eq!(v["mode"], mode, "{v}");
    assert!(v["count"].as_u64().unwrap_or(0) > 0, "no work done: {v}");
    assert!(v["rate"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert!(v["gen_cpu_s"].as_f64().is_some(), "{v}");
    assert!(v["server_cpu_s"].as_f64().is_some(), "{v}");
    assert_eq!(v["setup_failed"], 0, "{v}");
    assert_eq!(v["client_failed"], 0, "{v}");
}

#[test]
fn bench_against_ahws_serve() {
    let port = free_port();
    // A fast heartbeat: the generator must answer pings while it measures.
    let server = bins::serve(port, &["--quiet", "--ping-interval", "300"]);
    let pid = server.pid();

    let v = bench(
        port,
        pid,
        &["--mode", "action", "--clients", "4", "--inflight", "2"],
    );
    check_common(&v, "action");
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["latency_us"]["p50"].as_f64().unwrap_or(0.0) > 0.0, "{v}");

    let v = bench(
        port,
        pid,
        &["--mode", "broadcast", "--clients", "5", "--senders", "2"],
    );
    check_common(&v, "broadcast");
    assert_eq!(v["members"], 5, "{v}");
    assert!(v["says"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["lost_says"], 0, "{v}");

    let v = bench(port, pid, &["--mode", "connect", "--clients", "2"]);
    assert_eq!(v["mode"], "connect", "{v}");
    assert!(v["count"].as_u64().unwrap_or(0) > 0, "{v}");

    let v = bench(port, pid, &["--mode", "hold", "--clients", "20"]);
    assert_eq!(v["count"], 20, "{v}");
    assert!(v["rss_after_kib"].as_u64().is_some(), "{v}");
    // 1.2 s at a 300 ms heartbeat: every connection was pinged and answered.
    assert!(v["pongs"].as_u64().unwrap_or(0) >= 20, "{v}");
    drop(server);
}

#[test]
fn bench_against_the_bare_baselines() {
    for (mode, args) in [
        (
            "echo",
            vec!["--mode", "action", "--clients", "2", "--inflight", "4"],
        ),
        (
            "fanout",
            vec!["--mode", "broadcast", "--clients", "4", "--senders", "2"],
        ),
    ] {
        let port = free_port();
        let child = Command::new(BASELINE)
            .args(["--mode", mode, "--listen", &format!("127.0.0.1:{port}")])
            .args(["--threads", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ahws-baseline");
        let server = ChildGuard::new(child, "ahws-baseline");
        assert!(support::wait_for_port(
            ([127, 0, 0, 1], port).into(),
            Duration::from_secs(10)
        ));
        let v = bench(port, server.pid(), &args);
        check_common(&v, args[1]);
    }
}
