//! The real `ActionheroWebsocketClient` (over the real Primus client, `interop/js-client.js`)
//! against `ahws serve`: every scenario (also over `wss://` with `--tls-cert`/`--tls-key`),
//! and `reconnect` with a kill and restart of `ahws` on the same port. The tests skip,
//! with a message, only when `node` is missing.

mod bins;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The Node-backed tests run one at a time: on a 2-core machine several Node processes
/// at once make their timing checks (sleeps, ping timeouts) needlessly tight.
static NODE_TESTS: Mutex<()> = Mutex::new(());

fn node_lock() -> MutexGuard<'static, ()> {
    NODE_TESTS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn skip_without_node(test: &str) -> bool {
    if support::node_available() {
        support::ensure_interop();
        return false;
    }
    eprintln!("SKIPPED {test}: `node` is not installed, so the interop harness cannot run");
    true
}

#[test]
fn js_client_all_scenarios_against_ahws_serve() {
    if skip_without_node("js_client_all_scenarios_against_ahws_serve") {
        return;
    }
    let _serial = node_lock();
    let port = support::free_port();
    let _server = bins::serve(port, &[]);
    let url = format!("http://127.0.0.1:{port}");
    let (mut js, lines) = support::spawn_js_client("all", &url, &[]);
    let out = support::collect_lines(&lines, Duration::from_secs(120));
    let status = js
        .wait_timeout(Duration::from_secs(5))
        .expect("js-client exited");
    assert!(
        status.success(),
        "js-client all against ahws: {status}\nfailed checks:\n{:#?}\nlast line: {:?}",
        support::failed_checks(&out),
        out.last()
    );
    assert!(
        out.last()
            .is_some_and(|l| l.contains("\"final\":true") && l.contains("\"pass\"")),
        "{out:?}"
    );
}

#[test]
fn js_client_reconnects_after_ahws_is_killed_and_restarted() {
    if skip_without_node("js_client_reconnects_after_ahws_is_killed_and_restarted") {
        return;
    }
    let _serial = node_lock();
    let port = support::free_port();
    let mut server = bins::serve(port, &[]);
    let url = format!("http://127.0.0.1:{port}");
    let (mut js, lines) =
        support::spawn_js_client("reconnect", &url, &[("RECONNECT_WAIT_MS", "30000")]);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no waiting line from js-client: {out:?}"));
        let waiting = line == r#"{"waiting":"restart"}"#;
        out.push(line);
        if waiting {
            break;
        }
    }
    server.kill();
    let _server = bins::serve(port, &[]);
    out.extend(support::collect_lines(&lines, Duration::from_secs(60)));
    let status = js
        .wait_timeout(Duration::from_secs(5))
        .expect("js-client exited");
    assert!(
        status.success(),
        "js-client reconnect against ahws: {status}\n{out:#?}"
    );
}

#[test]
fn js_client_all_scenarios_over_wss_against_ahws_serve_with_tls() {
    if skip_without_node("js_client_all_scenarios_over_wss_against_ahws_serve_with_tls") {
        return;
    }
    let _serial = node_lock();
    // A self-signed certificate for 127.0.0.1, in PEM files as an operator has them.
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let dir = std::env::temp_dir().join(format!("ahws-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert.pem");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key.pem");
    let port = support::free_port();
    let (cert_arg, key_arg) = (cert.to_string_lossy(), key.to_string_lossy());
    let _server = bins::serve(port, &["--tls-cert", &cert_arg, "--tls-key", &key_arg]);
    let url = format!("https://127.0.0.1:{port}");
    let env = [("NODE_EXTRA_CA_CERTS", cert_arg.as_ref())];
    let (mut js, lines) = support::spawn_js_client("all", &url, &env);
    let out = support::collect_lines(&lines, Duration::from_secs(120));
    let status = js
        .wait_timeout(Duration::from_secs(5))
        .expect("js-client exited");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.success(),
        "js-client all over wss against ahws: {status}\nfailed checks:\n{:#?}\nlast line: {:?}",
        support::failed_checks(&out),
        out.last()
    );
    assert!(
        out.last()
            .is_some_and(|l| l.contains("\"final\":true") && l.contains("\"pass\"")),
        "{out:?}"
    );
}
