//! Codec benchmarks: decoding typical client frames, encoding typical server frames, and
//! what a load generator does per frame (a request from a template, a glance at the answer).

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use actionhero_ws::wire::{reply, request};
use actionhero_ws::MessageId;
use serde_json::{json, Map, Value};

const FRAMES: [&str; 5] = [
    r#"{"event":"action","params":{"action":"randomNumber"},"messageId":1}"#,
    r#"{"event":"say","room":"defaultRoom","message":"hello world","messageId":2}"#,
    r#"{"event":"roomAdd","room":"defaultRoom","messageId":3}"#,
    r#"{"event":"detailsView","messageId":4}"#,
    r#""primus::pong::1795610363950""#,
];

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(FRAMES.len() as u64));
    g.bench_function("typical_client_frames", |b| {
        b.iter(|| {
            for f in FRAMES {
                black_box(request::decode(black_box(f)).ok());
            }
        })
    });
    g.bench_function("typical_client_frames_via_value", |b| {
        b.iter(|| {
            for f in FRAMES {
                let v: Value = serde_json::from_str(black_box(f)).unwrap();
                black_box(request::decode_value(v));
            }
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut fields = Map::new();
    fields.insert("randomNumber".into(), json!(0.33123645207835817));
    fields.insert(
        "stringRandomNumber".into(),
        json!("Your random number is 0.33123645207835817"),
    );
    let id = MessageId::Number(1);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("action_response", |b| {
        b.iter(|| black_box(reply::encode_action_response(black_box(&fields), None, &id)))
    });
    g.bench_function("verb_ok", |b| {
        b.iter(|| black_box(reply::encode_verb_ok(Some(&Value::Bool(true)), &id)))
    });
    g.finish();
}

const RESPONSE: &str = r#"{"randomNumber":0.33123645207835817,"stringRandomNumber":"Your random number is 0.33123645207835817","context":"response","messageId":17}"#;

fn client_side(c: &mut Criterion) {
    let mut params = Map::new();
    params.insert("action".into(), json!("randomNumber"));
    let template = request::Template::new(&request::ClientRequest::Action {
        params,
        message_id: MessageId::Number(1),
    });
    let id = MessageId::Number(123_456);
    let mut g = c.benchmark_group("client_side");
    g.throughput(Throughput::Elements(1));
    g.bench_function("template_action_request", |b| {
        b.iter(|| black_box(template.encode(black_box(&id))))
    });
    g.bench_function("glance_response", |b| {
        b.iter(|| black_box(reply::glance(black_box(RESPONSE))))
    });
    g.bench_function("decode_response", |b| {
        b.iter(|| black_box(reply::decode(black_box(RESPONSE)).ok()))
    });
    g.finish();
}

criterion_group!(benches, decode, encode, client_side);
criterion_main!(benches);
