//! A real Actionhero 29.3.5 node acts on channel messages this crate encodes: a chat
//! message is delivered to its WebSocket member as a say, a `doResponse` completes its
//! waiting RPC, a `do removeMember` takes its connection out of the room and is
//! answered `true`, a `do api.log` is answered with no `response`.
//!
//! Runs `interop/cluster-accepts.js` (a private `redis-server` and Actionhero from
//! `interop/node_modules`, installed by `interop/ensure.sh` when missing). Needs `node`
//! and `redis-server`; fails (does not skip) without them, like tests/client_library.rs.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use actionhero_ws::cluster::{
    CallResponse, ChannelCodec, ChannelConfig, ChannelMessage, ChatMessage, Method, RpcCall,
};
use actionhero_ws::RoomName;
use serde_json::{json, Value};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ensure_node_modules() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "`node` is required by tests/cluster_live.rs (Node 20)"
    );
    if !repo_root()
        .join("interop/node_modules/actionhero/package.json")
        .exists()
    {
        let status = Command::new("bash")
            .arg(repo_root().join("interop/ensure.sh"))
            .status()
            .expect("run interop/ensure.sh");
        assert!(status.success(), "interop/ensure.sh failed: {status}");
    }
}

/// Kills the child when the test ends, whatever happens.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn line_with(reader: &mut impl BufRead, prefix: &str) -> Value {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read node's stdout");
        assert!(n > 0, "cluster-accepts.js ended before `{prefix}`");
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            return serde_json::from_str(rest).expect("a JSON report");
        }
    }
}

#[test]
fn a_real_actionhero_node_acts_on_messages_we_encode() {
    ensure_node_modules();
    let mut node = Guard(
        Command::new("node")
            .arg(repo_root().join("interop/cluster-accepts.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start interop/cluster-accepts.js"),
    );
    let mut out = BufReader::new(node.0.stdout.take().unwrap());
    let ready = line_with(&mut out, "READY ");
    let connection = ready["connectionId"].as_str().unwrap().to_owned();

    let codec = ChannelCodec::new(ChannelConfig {
        server_token: "live-token".into(),
        ..ChannelConfig::default()
    })
    .unwrap();
    // The node's own waiting call, decoded with our codec.
    let pending = ready["pendingCall"].as_str().unwrap();
    let Ok(ChannelMessage::Call(pending)) = codec.decode(pending.as_bytes()) else {
        panic!("not a call: {pending}")
    };
    assert_eq!(
        pending.method(),
        Method::AddMember {
            connection_id: "rust-conn",
            room: "otherRoom"
        }
    );
    assert_eq!(pending.server_id, "ah-node");

    let chat = ChatMessage {
        server_id: "rust-node".into(),
        room: RoomName::new("otherRoom").unwrap(),
        from: "rust-conn".into(),
        message: json!({"text": "from rust \u{2028}", "7": [1, 2.5, -0.0]}),
        sent_at: 1_795_610_251_097,
    };
    let messages = [
        codec.encode_chat(&chat),
        codec.encode_response(&CallResponse::to(&pending, "rust-node", Some(json!(true)))),
        codec.encode_call(&RpcCall::remove_member(
            "rust-node",
            "rust-msg-1",
            &connection,
            "otherRoom",
        )),
        codec.encode_call(&RpcCall::log("rust-node", "rust-msg-2", "hello from rust")),
    ];
    {
        let mut stdin = node.0.stdin.take().unwrap();
        for m in &messages {
            assert!(!m.contains('\n'));
            writeln!(stdin, "{m}").unwrap();
        }
    } // closing stdin: the script reports
    let result = line_with(&mut out, "RESULT ");
    assert!(node.0.wait().unwrap().success());

    // The chat message reached the member as Actionhero's say frame (Primus escapes
    // U+2028 in frames, and the array-index key comes first).
    assert_eq!(
        result["frames"],
        json!([
            r#"{"message":{"7":[1,2.5,0],"text":"from rust \u2028"},"room":"otherRoom","from":"rust-conn","context":"user","sentAt":1795610251097}"#
        ])
    );
    // Our answer completed the node's waiting addMember call.
    assert_eq!(
        result["addMember"],
        json!({"state": "resolved", "value": true})
    );
    // Our removeMember took the connection out of the room...
    assert_eq!(result["rooms"], json!([]));
    // ...and the node answered both calls, as our codec reads them.
    let answers: Vec<CallResponse> = result["channel"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| match codec.decode(t.as_str().unwrap().as_bytes()) {
            Ok(ChannelMessage::Response(r)) => Some(r),
            _ => None,
        })
        .collect();
    let answer = |id: &str| {
        answers
            .iter()
            .find(|r| r.message_id == id)
            .unwrap_or_else(|| panic!("no answer to {id}: {result}"))
    };
    assert_eq!(answer("rust-msg-1").response, Some(json!(true)));
    assert_eq!(answer("rust-msg-1").server_id, "ah-node");
    assert_eq!(answer("rust-msg-2").response, None);
}
