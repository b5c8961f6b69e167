//! The Redis link against a real `redis-server` (started here on a free loopback port,
//! killed and restarted on the same port for the outage), and two of our nodes sharing
//! rooms through it.

use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws::server::ServerConfig;
use actionhero_ws_tokio::client::{self, ClientEvents};
use actionhero_ws_tokio::redis::{ClusterConfig, LinkEvent, RedisConfig, RedisLink};
use actionhero_ws_tokio::{ServerBuilder, ServerHandle};
use tokio::sync::mpsc;
use tokio::time::timeout;

mod support;

use support::PrivateRedis as Redis;

const WAIT: Duration = Duration::from_secs(10);

async fn next(events: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("a link event in time")
        .expect("the link is running")
}

async fn expect_message(events: &mut mpsc::Receiver<LinkEvent>, want: &[u8]) {
    match next(events).await {
        LinkEvent::Message(m) => assert_eq!(m, want, "{}", String::from_utf8_lossy(&m)),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

#[tokio::test]
async fn publishes_commands_and_an_outage() {
    let mut redis = Redis::start();
    let config = RedisConfig {
        channel: "link-test".into(),
        max_queued_publishes: 3,
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        ..RedisConfig::new(redis.url())
    };
    let (a, mut a_events) = RedisLink::start(config.clone()).expect("a valid URL");
    let (b, mut b_events) = RedisLink::start(config.clone()).expect("a valid URL");
    assert!(matches!(next(&mut a_events).await, LinkEvent::Up));
    assert!(matches!(next(&mut b_events).await, LinkEvent::Up));

    // A publish reaches every subscriber, the publisher's own link included, in order.
    a.publish(b"one".to_vec());
    a.publish(b"two".to_vec());
    for events in [&mut a_events, &mut b_events] {
        expect_message(events, b"one").await;
        expect_message(events, b"two").await;
    }

    // Commands run in order with publishes; each gets its own answer, errors included.
    let set = a.command(args(&["HSET", "h", "k", "v"]));
    let get = a.command(args(&["HGETALL", "h"]));
    let wrong = a.command(args(&["LPUSH", "h", "x"]));
    let after = a.command(args(&["HGET", "h", "k"]));
    assert_eq!(set.await.unwrap(), Ok(redis::Value::Int(1)));
    let all = get.await.unwrap().expect("HGETALL answered");
    assert!(format!("{all:?}").contains('k'), "{all:?}");
    assert!(
        wrong.await.unwrap().is_err(),
        "WRONGTYPE is that command's error"
    );
    assert_eq!(
        after.await.unwrap(),
        Ok(redis::Value::BulkString(b"v".to_vec()))
    );

    // Redis goes away: both links report it; commands fail at once; publishes wait,
    // at most `max_queued_publishes` of them (the oldest are dropped and counted).
    redis.kill();
    assert!(matches!(next(&mut a_events).await, LinkEvent::Down { .. }));
    assert!(matches!(next(&mut b_events).await, LinkEvent::Down { .. }));
    let failed = timeout(WAIT, a.command(args(&["PING"])))
        .await
        .expect("answered at once")
        .unwrap();
    assert!(failed.is_err(), "{failed:?}");
    for n in 1..=5 {
        a.publish(format!("queued {n}").into_bytes());
    }
    // Let the link take them while it is down.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(a.dropped_publishes(), 2);

    // Back: both links reconnect and resubscribe; what waited is published, in order.
    redis.restart();
    assert!(matches!(next(&mut b_events).await, LinkEvent::Up));
    // `a` may have come back first and published before `b` subscribed again: wait for
    // `a`, then check `a` (subscribed before it flushed its queue) got all three.
    assert!(matches!(next(&mut a_events).await, LinkEvent::Up));
    for n in 3..=5 {
        expect_message(&mut a_events, format!("queued {n}").as_bytes()).await;
    }
    let pong = a.command(args(&["PING"])).await.unwrap();
    assert_eq!(pong, Ok(redis::Value::SimpleString("PONG".into())));
    drop(b);
}

#[test]
fn a_bad_url_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(RedisLink::start(RedisConfig::new("http://nope")).is_err());
    });
}

async fn node(redis: &Redis, id: &str) -> ServerHandle {
    node_with(redis, id, |_| {}).await
}

async fn node_with(redis: &Redis, id: &str, tune: impl FnOnce(&mut ClusterConfig)) -> ServerHandle {
    let mut cluster = ClusterConfig::new(redis.url());
    cluster.rooms.server_id = id.into();
    tune(&mut cluster);
    ServerBuilder::new()
        .listen("127.0.0.1:0")
        .config(ServerConfig {
            ping_interval: None,
            ..ServerConfig::default()
        })
        .room("defaultRoom")
        .cluster(cluster)
        .serve()
        .await
        .expect("serve")
}

async fn says(events: &mut ClientEvents) -> serde_json::Value {
    loop {
        match timeout(WAIT, events.recv()).await.expect("a say in time") {
            Some(ClientEvent::Say { body, .. }) => return body,
            Some(_) => {}
            None => panic!("client stopped"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_rooms_through_redis() {
    let mut redis = Redis::start();
    let one = node(&redis, "node-one").await;
    let two = node(&redis, "node-two").await;
    let url = |s: &ServerHandle| format!("http://{}", s.local_addr());
    let (a, mut a_events) = client::connect(url(&one), ClientConfig::default()).unwrap();
    let (b, mut b_events) = client::connect(url(&two), ClientConfig::default()).unwrap();
    a.room_add("defaultRoom").await.expect("a joins");
    b.room_add("defaultRoom").await.expect("b joins");

    // roomView counts the members of every node (each node writes its own members'
    // records on its own Redis connection: the count is right once both have landed,
    // as between Actionhero nodes).
    for c in [&a, &b] {
        members_count_becomes(c, 2).await;
    }

    // A say on one node reaches the members of both, the sender included, once.
    a.say("defaultRoom", "hello from one").await.expect("say");
    let on_b = says(&mut b_events).await;
    let on_a = says(&mut a_events).await;
    assert_eq!(on_b["message"], "hello from one");
    assert_eq!(on_a, on_b, "the same frame on both nodes");
    b.say("defaultRoom", "and back").await.expect("say");
    assert_eq!(says(&mut a_events).await["message"], "and back");
    assert_eq!(says(&mut b_events).await["message"], "and back");

    // A room made on one node exists for the other (once node one's write landed).
    one.create_room("shared").await.expect("created");
    eventually("b joins the room made on node one", || b.room_add("shared")).await;

    // b leaves: one member left, on every node.
    b.room_leave("defaultRoom").await.expect("leave");
    members_count_becomes(&a, 1).await;

    // Redis restarts empty: each node registers its rooms and members again, so
    // roomView soon finds defaultRoom and counts a again.
    redis.kill();
    redis.restart();
    members_count_becomes(&a, 1).await;

    a.disconnect().await;
    b.disconnect().await;
    one.shutdown(false).await;
    two.shutdown(false).await;
}

/// Asks `roomView` of defaultRoom until it counts `n` members (bounded by `WAIT`).
async fn members_count_becomes(c: &client::ClientHandle, n: u64) {
    let want = serde_json::json!(n);
    eventually(&format!("membersCount {n}"), || async {
        match c.room_view("defaultRoom").await {
            Ok(v) if v["data"]["membersCount"] == want => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// Retries `f` until it succeeds (bounded by `WAIT`).
async fn eventually<T, E: std::fmt::Debug, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match f().await {
            Ok(t) => return t,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: never happened, last {e:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_members_are_swept_through_redis() {
    let redis = Redis::start();
    // A survivor that beats and sweeps every 100 ms (a third of its ttl).
    let survivor = node_with(&redis, "survivor", |c| {
        c.rooms.node_ttl = Some(Duration::from_millis(300));
    })
    .await;
    let url = format!("http://{}", survivor.local_addr());
    let (a, _a_events) = client::connect(url, ClientConfig::default()).unwrap();
    a.room_add("defaultRoom").await.expect("a joins");
    // A node of ours that died without a word: its heartbeat ran out long ago and it
    // left a member behind. And an Actionhero node's member, which nobody sweeps.
    let (link, mut link_events) = RedisLink::start(RedisConfig::new(redis.url())).unwrap();
    assert!(matches!(next(&mut link_events).await, LinkEvent::Up));
    let record = |id: &str, host: &str| format!(r#"{{"id":"{id}","joinedAt":1,"host":"{host}"}}"#);
    for (id, host) in [("ghost", "dead-node"), ("ah-member", "an-actionhero-node")] {
        let put = link.command(args(&[
            "HSET",
            "actionhero:chatRoom:members:defaultRoom",
            id,
            &record(id, host),
        ]));
        assert!(put.await.unwrap().is_ok());
    }
    let beat = link.command(args(&["ZADD", "actionhero-ws:nodes", "1", "dead-node"]));
    assert!(beat.await.unwrap().is_ok());
    members_count_becomes(&a, 2).await;
    let nodes = link
        .command(args(&["ZRANGE", "actionhero-ws:nodes", "0", "-1"]))
        .await
        .unwrap()
        .expect("ZRANGE");
    assert!(
        !format!("{nodes:?}").contains("dead-node"),
        "the dead node is forgotten: {nodes:?}"
    );
    assert!(
        format!("{nodes:?}").contains("survivor"),
        "the survivor beats: {nodes:?}"
    );
    let left = link
        .command(args(&["HKEYS", "actionhero:chatRoom:members:defaultRoom"]))
        .await
        .unwrap()
        .expect("HKEYS");
    let left = format!("{left:?}");
    assert!(
        !left.contains("ghost") && left.contains("ah-member"),
        "{left}"
    );
    a.disconnect().await;
    survivor.shutdown(false).await;
}
