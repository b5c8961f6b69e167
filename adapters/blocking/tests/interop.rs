//! The real ActionheroWebsocketClient (npm `actionhero` 29.3.5 over the Primus 8 client,
//! `interop/js-client.js`) against the blocking server serving Actionhero's sample
//! actions. Skips only when `node` is missing; installs the npm packages when needed
//! (`interop/ensure.sh`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

#[path = "../../tokio/tests/support/mod.rs"]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use actionhero_ws::http::WebConfig;
use actionhero_ws_blocking::samples;
use actionhero_ws_blocking::server::{Config, ServerBuilder, ServerHandle};

/// Generous: a scenario takes well under a second.
const SCENARIO_WAIT: Duration = Duration::from_secs(60);

#[test]
fn js_client_welcome_actions_rooms_say() {
    let Some(server) = sample_server("127.0.0.1:0".parse().unwrap()) else {
        return;
    };
    for scenario in ["welcome", "actions", "rooms", "say"] {
        run_scenario(scenario, &server);
    }
    stop(&server);
}

#[test]
fn js_client_file_concurrent_fingerprint() {
    let Some(server) = sample_server("127.0.0.1:0".parse().unwrap()) else {
        return;
    };
    for scenario in ["file", "concurrent", "fingerprint"] {
        run_scenario(scenario, &server);
    }
    stop(&server);
}

/// js-client's `reconnect` scenario: it prints `{"waiting":"restart"}`; the server is
/// restarted on the same port and the real client must reconnect by itself.
#[test]
fn js_client_reconnects_after_a_server_restart() {
    let Some(first) = sample_server("127.0.0.1:0".parse().unwrap()) else {
        return;
    };
    let addr = first.local_addr();
    let env = [("RECONNECT_WAIT_MS", "20000")];
    let (mut child, lines) = support::spawn_js_client("reconnect", &url(&first), &env);
    let mut out = Vec::new();
    loop {
        let line = lines
            .recv_timeout(SCENARIO_WAIT)
            .expect("js-client asked for no restart");
        let waiting = line.contains("\"waiting\":\"restart\"");
        out.push(line);
        if waiting {
            break;
        }
    }
    first.shutdown(true);
    assert!(first.join_timeout(Duration::from_secs(10)));
    let second = sample_server_retrying(addr);
    out.extend(support::collect_lines(&lines, SCENARIO_WAIT));
    let status = child.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "reconnect: {status:?}\n{:#?}",
        support::failed_checks(&out)
    );
    stop(&second);
}

// ---- helpers -----------------------------------------------------------------------

/// The blocking sample server, or `None` (test skipped) when `node` is missing.
fn sample_server(addr: SocketAddr) -> Option<ServerHandle> {
    if !support::node_available() {
        eprintln!("skipping: `node` not found");
        return None;
    }
    support::ensure_interop();
    Some(
        samples::register(
            ServerBuilder::new(config())
                .room("defaultRoom")
                .room("otherRoom"),
        )
        .bind(addr)
        .expect("bind"),
    )
}

fn sample_server_retrying(addr: SocketAddr) -> ServerHandle {
    for _ in 0..250 {
        if let Ok(l) = std::net::TcpListener::bind(addr) {
            return samples::register(
                ServerBuilder::new(config())
                    .room("defaultRoom")
                    .room("otherRoom"),
            )
            .serve(l)
            .expect("serve");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("could not bind {addr} again");
}

fn config() -> Config {
    Config {
        web: WebConfig {
            public_dir: Some(support::interop_dir().join("actionhero-server/public")),
            ..WebConfig::default()
        },
        // `concurrent` runs ten sleepTest actions at once, each holding a worker.
        workers: 16,
        read_timeout: Duration::from_millis(2),
        close_linger: Duration::from_millis(200),
        shutdown_drain: Duration::from_millis(200),
        ..Config::default()
    }
}

fn url(server: &ServerHandle) -> String {
    format!("http://{}", server.local_addr())
}

fn run_scenario(scenario: &str, server: &ServerHandle) {
    // The pool runs the two instant actions of `concurrent` on two threads: either may
    // answer first.
    let env = [("INSTANT_ORDER", "any")];
    let (mut child, lines) = support::spawn_js_client(scenario, &url(server), &env);
    let out = support::collect_lines(&lines, SCENARIO_WAIT);
    let status = child.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{scenario}: {status:?}\n{:#?}",
        support::failed_checks(&out)
    );
    assert!(
        out.iter()
            .any(|l| l.contains("\"result\":\"pass\"") && l.contains("\"final\":true")),
        "{scenario}: no final pass line\n{out:#?}"
    );
}

fn stop(server: &ServerHandle) {
    server.shutdown(false);
    assert!(server.join_timeout(Duration::from_secs(10)));
}
