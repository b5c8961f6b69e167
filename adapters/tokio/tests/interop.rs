//! Interop with the real thing (see `interop/README.md`): our Rust client against the
//! real Actionhero 29.3.5: actions and their exact error texts, rooms, say between two
//! Rust clients, detailsView, Primus pings answered across several intervals, and a
//! reconnect after the Actionhero process is killed and restarted (the client is back in
//! its rooms, as the server's roomView shows); and the same protocol checks against our
//! server. The real JS client against `ahws serve` is `adapters/ahws/tests/interop.rs`.
//!
//! The tests skip, with a message, only when `node` is missing.

mod support;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent, ReconnectConfig};
use actionhero_ws::ConnectionId;
use actionhero_ws_tokio::client::{self, ClientEvents, ClientHandle, RequestError};
use serde_json::{json, Map, Value};
use tokio::time::timeout;

use support::ChildGuard;

/// The redis DB the real Actionhero of these tests uses (it is flushed at boot).
const REDIS_DB: &str = "7";
/// Primus ping interval of the real Actionhero in these tests.
const PING_INTERVAL_MS: u64 = 1000;
const WAIT: Duration = Duration::from_secs(10);

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

// ---- 2. our Rust client against the real Actionhero ----------------------------------

fn client_config() -> ClientConfig {
    ClientConfig {
        // 2.5 Primus ping intervals: a missed ping is noticed, a late one is not fatal.
        ping_timeout: Some(Duration::from_millis(PING_INTERVAL_MS * 5 / 2)),
        request_timeout: Duration::from_secs(10),
        reconnect: ReconnectConfig {
            min: Duration::from_millis(200),
            max: Some(Duration::from_secs(1)),
            retries: 60,
            ..ReconnectConfig::default()
        },
        ..ClientConfig::default()
    }
}

async fn next_event(
    events: &mut ClientEvents,
    what: &str,
    pred: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    let found = timeout(Duration::from_secs(30), async {
        while let Some(e) = events.recv().await {
            if pred(&e) {
                return Some(e);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => e,
        Ok(None) => panic!("client stopped while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

async fn connected_id(events: &mut ClientEvents) -> (ConnectionId, Vec<String>) {
    match next_event(events, "Connected", |e| {
        matches!(e, ClientEvent::Connected { .. })
    })
    .await
    {
        ClientEvent::Connected { id, rooms, .. } => {
            (id, rooms.iter().map(|r| r.as_str().to_owned()).collect())
        }
        _ => unreachable!(),
    }
}

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn action_error(client: &ClientHandle, name: &str, p: Value) -> String {
    match timeout(WAIT, client.action(name, params(p)))
        .await
        .expect("answer in time")
    {
        Err(RequestError::Response { error, .. }) => error,
        other => panic!("{name}: expected an error response, got {other:?}"),
    }
}

async fn verb_error(result: Result<Value, RequestError>) -> String {
    match result {
        Err(RequestError::Response { error, .. }) => error,
        other => panic!("expected an error response, got {other:?}"),
    }
}

/// Everything but the restart: actions, exact errors, rooms, say, detailsView. `a`, `b`
/// are connected clients; returns nothing, asserts everything.
async fn protocol_checks(
    a: &ClientHandle,
    a_id: &ConnectionId,
    b: &ClientHandle,
    b_events: &mut ClientEvents,
) {
    // Actions.
    let r = a
        .action("randomNumber", Map::new())
        .await
        .expect("randomNumber");
    let n = r["randomNumber"]
        .as_f64()
        .expect("randomNumber is a number");
    assert!((0.0..1.0).contains(&n));
    assert!(r["stringRandomNumber"]
        .as_str()
        .is_some_and(|s| s.starts_with("Your random number is ")));
    assert_eq!(r["context"], "response");
    let r = a
        .action(
            "cacheTest",
            params(json!({"key": "rustKey", "value": "rustValue"})),
        )
        .await
        .expect("cacheTest");
    assert_eq!(r["cacheTestResults"]["saveResp"], true);
    assert_eq!(
        r["cacheTestResults"]["loadResp"]["key"],
        "cacheTest_rustKey"
    );
    assert_eq!(r["cacheTestResults"]["loadResp"]["value"], "rustValue");
    assert_eq!(r["cacheTestResults"]["deleteResp"], true);
    let r = a
        .action("sleepTest", params(json!({"sleepDuration": 30})))
        .await
        .expect("sleepTest");
    // Node timers may fire a millisecond or two early by `Date.now()`.
    assert!(r["sleepDelta"].as_u64().is_some_and(|d| d >= 25), "{r}");
    assert_eq!(r["sleepDuration"], 30);
    let r = a
        .action("validationTest", params(json!({"string": "abc"})))
        .await
        .expect("validationTest");
    assert_eq!(r["string"], "abc");

    // Exact error texts.
    assert_eq!(
        action_error(a, "cacheTest", json!({})).await,
        "key is a required parameter for this action"
    );
    assert_eq!(
        action_error(a, "cacheTest", json!({"key": "ab", "value": "abc"})).await,
        "inputs should be at least 3 letters long"
    );
    assert_eq!(
        action_error(a, "validationTest", json!({})).await,
        "string is a required parameter for this action"
    );
    assert_eq!(
        action_error(a, "validationTest", json!({"string": 5})).await,
        "Input for parameter \"string\" failed validation!"
    );
    assert_eq!(
        action_error(a, "validationTest", json!({"string": "abc", "number": 5})).await,
        "Param number is not a valid number!"
    );
    assert_eq!(
        action_error(a, "validationTest", json!({"string": "abc", "number": 123})).await,
        "Failed formatting number correctly!"
    );
    assert_eq!(
        action_error(a, "noSuchAction", json!({})).await,
        "unknown action or invalid apiVersion"
    );
    assert_eq!(
        action_error(a, "createChatRoom", json!({})).await,
        "name is a required parameter for this action"
    );

    // Rooms.
    let r = a.room_add("defaultRoom").await.expect("roomAdd");
    assert_eq!(r["status"], "OK");
    assert_eq!(r["data"], true);
    assert_eq!(
        verb_error(a.room_add("defaultRoom").await).await,
        "Error: connection already in this room (defaultRoom)"
    );
    assert_eq!(
        verb_error(a.room_add("noSuchRoom").await).await,
        "Error: room does not exist"
    );
    assert_eq!(
        verb_error(a.room_leave("otherRoom").await).await,
        "Error: connection not in this room (otherRoom)"
    );
    assert_eq!(
        verb_error(a.room_view("otherRoom").await).await,
        "Error: connection not in this room (otherRoom)"
    );
    let view = a.room_view("defaultRoom").await.expect("roomView");
    assert_eq!(view["data"]["room"], "defaultRoom");
    assert_eq!(view["data"]["membersCount"], 1);
    assert!(
        view["data"]["members"].get(a_id.as_str()).is_some(),
        "{view}"
    );

    // Say between two Rust clients.
    b.room_add("defaultRoom").await.expect("b joins");
    let r = a.say("defaultRoom", "hello from rust").await.expect("say");
    assert_eq!(r["status"], "OK");
    let said = next_event(b_events, "say", |e| matches!(e, ClientEvent::Say { .. })).await;
    let ClientEvent::Say {
        room,
        from,
        message,
        sent_at_ms,
        ..
    } = said
    else {
        unreachable!()
    };
    assert_eq!(room.as_str(), "defaultRoom");
    assert_eq!(&from, a_id);
    assert_eq!(message, json!("hello from rust"));
    assert!(sent_at_ms > 1_600_000_000_000);
    assert_eq!(
        verb_error(b.say("otherRoom", "x").await).await,
        "Error: connection not in this room (otherRoom)"
    );
    b.room_leave("defaultRoom").await.expect("b leaves");

    // detailsView.
    let d = a.details_view().await.expect("detailsView");
    assert_eq!(d["status"], "OK");
    assert_eq!(d["data"]["id"], a_id.as_str());
    assert_eq!(d["data"]["fingerprint"], a_id.as_str());
    assert_eq!(d["data"]["remoteIP"], "127.0.0.1");
    assert_eq!(d["data"]["rooms"], json!(["defaultRoom"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The lock is held across awaits on purpose: no other Node test may overlap this one.
#[allow(clippy::await_holding_lock)]
async fn rust_client_against_real_actionhero() {
    if skip_without_node("rust_client_against_real_actionhero") {
        return;
    }
    let _serial = node_lock();
    let redis = tokio::task::spawn_blocking(|| support::Redis::start(false))
        .await
        .expect("redis");
    let env = [
        ("PING_INTERVAL", PING_INTERVAL_MS.to_string()),
        ("REDIS_DB", REDIS_DB.to_owned()),
        // Action errors are expected here; keep its stderr for real trouble.
        ("LOG_LEVEL", "crit".to_owned()),
    ];
    let boot = move |redis_host: String, redis_port: u16, port: u16| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let redis = support::Redis::external(redis_host, redis_port);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            support::boot_actionhero(&redis, port, &env)
        })
    };
    let (mut actionhero, port): (ChildGuard, u16) = boot(redis.host.clone(), redis.port, 0)
        .await
        .expect("boot actionhero");
    let url = format!("http://127.0.0.1:{port}");
    // The heartbeat watchdog a Primus client compiled by this server gets: 1.5 x pingInterval.
    let watchdog = client::server_ping_timeout(&url, "/primus", &client::ClientOptions::default())
        .await
        .expect("primus spec");
    assert_eq!(
        watchdog,
        Some(Duration::from_millis(
            PING_INTERVAL_MS + PING_INTERVAL_MS.div_ceil(2)
        ))
    );

    let (a, mut a_events) = client::connect(url.clone(), client_config()).expect("client a");
    let (b, mut b_events) = client::connect(url.clone(), client_config()).expect("client b");
    match next_event(&mut a_events, "welcome", |e| {
        matches!(e, ClientEvent::Welcome(_))
    })
    .await
    {
        ClientEvent::Welcome(text) => assert_eq!(text, "Welcome to the actionhero api"),
        _ => unreachable!(),
    }
    let (a_id, _) = connected_id(&mut a_events).await;
    let _ = connected_id(&mut b_events).await;
    protocol_checks(&a, &a_id, &b, &mut b_events).await;

    // Pings are answered: still the same connection after several ping intervals.
    let quiet = Duration::from_millis(PING_INTERVAL_MS * 7 / 2);
    let lost = timeout(quiet, async {
        loop {
            match a_events.recv().await {
                Some(
                    e @ (ClientEvent::ConnectionLost { .. } | ClientEvent::Disconnected { .. }),
                ) => return e,
                Some(_) => {}
                None => return ClientEvent::Welcome("events ended".into()),
            }
        }
    })
    .await;
    assert!(lost.is_err(), "the connection dropped while idle: {lost:?}");
    let d = a.details_view().await.expect("detailsView after pings");
    assert_eq!(
        d["data"]["id"],
        a_id.as_str(),
        "same connection after the pings"
    );

    // Kill the real Actionhero and start it again on the same port: the client
    // reconnects and is back in its rooms (rejoined by the core client).
    b.disconnect().await;
    actionhero.kill();
    next_event(&mut a_events, "ConnectionLost", |e| {
        matches!(e, ClientEvent::ConnectionLost { .. })
    })
    .await;
    let (_actionhero, _) = boot(redis.host.clone(), redis.port, port)
        .await
        .expect("restart actionhero");
    let (new_id, rooms) = connected_id(&mut a_events).await;
    assert_ne!(new_id, a_id, "a new connection on the restarted server");
    assert_eq!(rooms, vec!["defaultRoom".to_owned()]);
    let view = a
        .room_view("defaultRoom")
        .await
        .expect("roomView after the restart");
    assert_eq!(view["data"]["membersCount"], 1, "{view}");
    assert!(
        view["data"]["members"].get(new_id.as_str()).is_some(),
        "{view}"
    );
    let r = a
        .action("randomNumber", Map::new())
        .await
        .expect("action after restart");
    assert!(r["randomNumber"].is_f64());
    a.disconnect().await;
    drop(redis);
}

/// The same protocol checks against our own server, in process: the Rust client sees
/// the same answers from `ahws`'s library as from the real Actionhero.
#[tokio::test]
async fn rust_client_protocol_checks_against_our_server() {
    let builder = actionhero_ws_tokio::ServerBuilder::new()
        .listen("127.0.0.1:0")
        .room("defaultRoom")
        .room("otherRoom");
    let server = actionhero_ws_tokio::samples::register(builder)
        .serve()
        .await
        .expect("serve");
    let url = format!("http://{}", server.local_addr());
    let (a, mut a_events) = client::connect(url.clone(), client_config()).expect("client a");
    let (b, mut b_events) = client::connect(url, client_config()).expect("client b");
    let (a_id, _) = connected_id(&mut a_events).await;
    let _ = connected_id(&mut b_events).await;
    protocol_checks(&a, &a_id, &b, &mut b_events).await;
    a.disconnect().await;
    b.disconnect().await;
    server.shutdown(false).await;
}
