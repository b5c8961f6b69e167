//! Every message a real Actionhero 29.3.5 node published on its channel, and every
//! member record it stored, as recorded by `interop/record-cluster.js` into
//! `tests/fixtures/cluster/` (see the README there): each decodes to the type its file
//! name says and re-encodes to the same bytes.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use actionhero_ws::cluster::{
    members_key, ChannelCodec, ChannelConfig, ChannelMessage, MemberRecord, Method, ROOMS_KEY,
};
use serde_json::json;

/// The token and server id the recorder gave its node.
const TOKEN: &str = "recorded-token";
const SERVER_ID: &str = "recorder-node";

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cluster")
        .join(sub)
}

fn files(sub: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn codec() -> ChannelCodec {
    ChannelCodec::new(ChannelConfig {
        server_token: TOKEN.into(),
        ..ChannelConfig::default()
    })
    .unwrap()
}

fn decoded() -> Vec<(String, ChannelMessage)> {
    files("channel")
        .into_iter()
        .map(|(name, bytes)| {
            let m = codec()
                .decode(&bytes)
                .unwrap_or_else(|e| panic!("{name}: ignored: {e}"));
            (name, m)
        })
        .collect()
}

#[test]
fn every_recorded_channel_message_decodes_and_re_encodes_byte_for_byte() {
    let recorded = files("channel");
    assert!(recorded.len() >= 15, "only {} recordings", recorded.len());
    let codec = codec();
    for (name, bytes) in &recorded {
        let m = codec.decode(bytes).unwrap();
        let kind = name.split('-').nth(1).unwrap();
        let expected = match &m {
            ChannelMessage::Chat(_) => "chat",
            ChannelMessage::Call(_) => "do",
            ChannelMessage::Response(_) => "doResponse",
        };
        assert_eq!(kind, expected, "{name}");
        assert_eq!(m.server_id(), SERVER_ID, "{name}");
        assert_eq!(
            codec.encode(&m),
            std::str::from_utf8(bytes).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn recorded_messages_are_ignored_by_another_cluster() {
    let other = ChannelCodec::new(ChannelConfig::default()).unwrap();
    for (name, bytes) in files("channel") {
        assert_eq!(
            other.decode(&bytes),
            Err(actionhero_ws::cluster::Ignored::ForeignToken),
            "{name}"
        );
    }
}

#[test]
fn recorded_calls_are_the_ones_actionhero_makes() {
    let all = decoded();
    let get = |prefix: &str| {
        &all.iter()
            .find(|(n, _)| n.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}"))
            .1
    };
    let call = |prefix: &str| match get(prefix) {
        ChannelMessage::Call(c) => c.clone(),
        other => panic!("{prefix}: {other:?}"),
    };
    let response = |prefix: &str| match get(prefix) {
        ChannelMessage::Response(r) => r.clone(),
        other => panic!("{prefix}: {other:?}"),
    };

    // start: api.log to every node, answered with no response
    let joined = call("01-");
    assert_eq!(joined.target_connection(), None);
    assert_eq!(
        joined.method(),
        Method::Log {
            message: &json!("actionhero member recorder-node has joined the cluster")
        }
    );
    let answer = response("02-");
    assert_eq!(
        (answer.message_id.as_str(), answer.response),
        (joined.message_id.as_str(), None)
    );

    // removeMember for a local connection: answered `true`
    let remove = call("06-");
    let Method::RemoveMember {
        connection_id,
        room,
    } = remove.method()
    else {
        panic!("{remove:?}")
    };
    assert_eq!(remove.target_connection(), Some(connection_id));
    assert_eq!(room, "otherRoom");
    let answer = response("07-");
    assert_eq!(answer.message_id, remove.message_id);
    assert_eq!(answer.response, Some(json!(true)));

    // applyResponder: the answer is the connection record
    let apply = call("08-");
    assert!(matches!(
        apply.method(),
        Method::ApplyResponder {
            method: "sendMessage",
            ..
        }
    ));
    let answer = response("09-");
    assert_eq!(
        answer.response.as_ref().unwrap()["type"],
        json!("websocket")
    );

    assert!(matches!(
        call("10-").method(),
        Method::RemoveMember {
            connection_id: "ghost-connection",
            ..
        }
    ));
    assert!(matches!(
        call("11-").method(),
        Method::AddMember {
            connection_id: "ghost-connection",
            room: "otherRoom"
        }
    ));
    let unknown = call("12-");
    assert_eq!(
        (unknown.method(), unknown.args_list().len()),
        (Method::Other, 0)
    );
    let single = call("13-");
    assert_eq!(
        single.args_list().into_owned(),
        vec![json!("a single argument, not a list")]
    );
    let left = call("17-");
    assert_eq!(
        left.method(),
        Method::Log {
            message: &json!("actionhero member recorder-node has left the cluster")
        }
    );
}

#[test]
fn recorded_chat_messages_deliver_as_says() {
    let chats: Vec<_> = decoded()
        .into_iter()
        .filter_map(|(n, m)| match m {
            ChannelMessage::Chat(c) => Some((n, c)),
            _ => None,
        })
        .collect();
    assert!(chats.len() >= 5);
    for (name, chat) in &chats {
        let payload = chat.say_payload();
        assert_eq!(payload["context"], json!("user"), "{name}");
        assert_eq!(payload["room"], json!(chat.room.as_str()), "{name}");
    }
    let server: Vec<_> = chats.iter().filter(|(_, c)| c.from == "0").collect();
    assert_eq!(
        server.len(),
        2,
        "a broadcast and a room deletion, from \"0\""
    );
    assert!(server
        .iter()
        .any(|(_, c)| c.message == json!("this room has been deleted")));
}

#[test]
fn every_recorded_member_record_decodes_and_re_encodes_byte_for_byte() {
    let records = files("members");
    assert!(records.len() >= 3);
    for (name, bytes) in records {
        let m = MemberRecord::decode(&bytes, 1 << 20).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.host, SERVER_ID, "{name}");
        assert_eq!(m.encode().as_bytes(), bytes, "{name}");
    }
}

#[test]
fn recorded_rooms_and_key_names() {
    let rooms = std::fs::read_to_string(dir("").join("rooms.txt")).unwrap();
    assert_eq!(rooms, "defaultRoom\notherRoom\n");
    assert_eq!(ROOMS_KEY, "actionhero:chatRoom:rooms");
    assert_eq!(
        members_key("otherRoom"),
        "actionhero:chatRoom:members:otherRoom"
    );
}
