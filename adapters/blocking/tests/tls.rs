//! The blocking server over TLS (`ServerBuilder::tls`, feature `rustls`) with a
//! certificate generated here. The blocking client has no TLS, so the `wss://` clients
//! are the tokio adapter's client and the real JS client (ActionheroWebsocketClient over
//! Primus in Node); the HTTP routes are fetched over `https://` with rustls's blocking
//! client. TLS handshakes that fail, stall or drip are dropped within the time limit.
#![cfg(feature = "rustls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actionhero_ws::client::{ClientConfig, ClientEvent, DisconnectReason};
use actionhero_ws::http::WebConfig;
use actionhero_ws_blocking::rustls;
use actionhero_ws_blocking::server::{Config, ServerBuilder, ServerHandle};
use actionhero_ws_blocking::{samples, tls};
use actionhero_ws_tokio::client::ClientOptions;
use rustls::pki_types::{CertificateDer, ServerName};

const WAIT: Duration = Duration::from_secs(5);

/// A self-signed certificate for `127.0.0.1` and `localhost`, its PEM in a temporary
/// file (for Node's `NODE_EXTRA_CA_CERTS`), removed on drop.
struct TestCert {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
    file: PathBuf,
}

impl TestCert {
    fn new(name: &str) -> Self {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).unwrap();
        let cert_pem = certified.cert.pem();
        let file =
            std::env::temp_dir().join(format!("ahws-blocking-{name}-{}.pem", std::process::id()));
        std::fs::write(&file, &cert_pem).unwrap();
        Self {
            der: certified.cert.der().clone(),
            cert_pem,
            key_pem: certified.signing_key.serialize_pem(),
            file,
        }
    }

    /// A client configuration that trusts only this certificate.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

fn start(cert: &TestCert, tls_handshake_timeout: Duration) -> ServerHandle {
    let config = Config {
        web: WebConfig {
            public_dir: Some(support::interop_dir().join("actionhero-server/public")),
            ..WebConfig::default()
        },
        tls_handshake_timeout,
        // `concurrent` runs ten sleepTest actions at once, each holding a worker.
        workers: 16,
        read_timeout: Duration::from_millis(2),
        close_linger: Duration::from_millis(200),
        shutdown_drain: Duration::from_millis(200),
        ..Config::default()
    };
    let server_tls = tls::server_config(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    samples::register(ServerBuilder::new(config))
        .room("defaultRoom")
        .room("otherRoom")
        .tls(server_tls)
        .bind("127.0.0.1:0")
        .unwrap()
}

/// Requests on one TLS connection, kept alive between them (rustls's blocking client);
/// each answer's status and body.
fn https(addr: SocketAddr, cert: &TestCert, paths: &[&str]) -> Vec<(u16, String)> {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(cert.client_config(), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut answers = Vec::new();
    let mut buf = Vec::new();
    for path in paths {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        tls.write_all(req.as_bytes()).unwrap();
        // Read one response: the head, then Content-Length bytes.
        let (head_end, len) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                break (end + 4, len);
            }
            let mut chunk = [0u8; 4096];
            let n = tls.read(&mut chunk).unwrap();
            assert!(n > 0, "closed before an answer to {path}");
            buf.extend_from_slice(&chunk[..n]);
        };
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = tls.read(&mut chunk).unwrap();
            assert!(n > 0, "closed inside the body of {path}");
            buf.extend_from_slice(&chunk[..n]);
        }
        let response: Vec<u8> = buf.drain(..head_end + len).collect();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        answers.push((status, support::http_body(&text).to_owned()));
    }
    answers
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tokio_client_over_wss_and_the_http_routes_over_https() {
    let cert = TestCert::new("wss");
    let server = start(&cert, Duration::from_secs(10));
    let addr = server.local_addr();

    // Several requests on one kept-alive TLS connection: the core's routes.
    let answers = https(
        addr,
        &cert,
        // `/primus/spec` answers with `Connection: close`, as Primus: last.
        &[
            "/public/javascript/ActionheroWebsocketClient.js",
            "/api/randomNumber",
            "/simple.html",
            "/primus/spec",
        ],
    );
    assert_eq!(answers[0].0, 200);
    assert!(answers[0].1.contains("ActionheroWebsocketClient"));
    assert_eq!(answers[1].0, 200);
    assert!(
        answers[1].1.contains("\"randomNumber\":"),
        "{:?}",
        answers[1]
    );
    assert_eq!(answers[2].0, 200);
    assert!(answers[2].1.starts_with("<h1>Actionhero</h1>"));
    assert_eq!(answers[3].0, 200);
    assert!(
        answers[3].1.contains("\"pathname\":\"/primus\""),
        "{:?}",
        answers[3]
    );

    runtime().block_on(async {
        let options = ClientOptions {
            tls: Some(cert.client_config()),
            ..ClientOptions::default()
        };
        let config = ClientConfig::new(format!("wss://127.0.0.1:{}", addr.port()));
        let (client, mut events) =
            actionhero_ws_tokio::client::connect_with(config, options).unwrap();
        let answer = client
            .action("randomNumber", serde_json::Map::new())
            .await
            .expect("randomNumber over wss");
        assert!(answer["randomNumber"].is_f64(), "{answer}");
        tokio::time::timeout(WAIT, async {
            while !matches!(events.recv().await, Some(ClientEvent::Connected { .. })) {}
        })
        .await
        .expect("connected");
        client.room_add("defaultRoom").await.expect("roomAdd");
        assert_eq!(server.members("defaultRoom").unwrap().len(), 1);
        // A message larger than one TLS record (16 KiB) crosses whole.
        let long = "x".repeat(40_000);
        let said = client.say("defaultRoom", long.clone()).await.expect("say");
        assert_eq!(said["status"], "OK", "{said}");
        let heard = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(ClientEvent::Say { message, .. }) = events.recv().await {
                    return message;
                }
            }
        })
        .await
        .expect("say heard");
        assert_eq!(heard, serde_json::json!(long));
        client.disconnect().await;
    });
    server.shutdown(false);
    assert!(server.join_timeout(WAIT));
}

/// The connection ends (EOF or reset) within `wait`; returns what it read.
fn ends_within(stream: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let until = Instant::now() + wait;
    let mut out = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the server kept the connection open past {wait:?}"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return out,
        }
    }
}

#[test]
fn failed_or_stalled_tls_handshakes_are_dropped_and_harm_nothing() {
    let cert = TestCert::new("handshakes");
    let server = start(&cert, Duration::from_millis(300));
    let addr = server.local_addr();

    // Plain HTTP to the TLS port: a TLS alert at most, never an HTTP answer.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .write_all(b"GET /primus/spec HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = ends_within(&mut plain, WAIT);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");

    // Silent, and dripping one byte at a time: both cut at the TLS handshake timeout.
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    let mut drip = TcpStream::connect(addr).unwrap();
    let dripping = std::thread::spawn(move || {
        for byte in [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03] {
            if drip.write_all(&[byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ends_within(&mut drip, WAIT);
    });
    ends_within(&mut silent, WAIT);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    dripping.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A client that does not trust the certificate gives up; a good one still works.
    runtime().block_on(async {
        let url = format!("wss://127.0.0.1:{}", addr.port());
        let once = ClientConfig {
            retry_first_connect: false,
            ..ClientConfig::new(url.clone())
        };
        let (_refused, mut events) =
            actionhero_ws_tokio::client::connect_with(once, ClientOptions::default()).unwrap();
        let end = tokio::time::timeout(WAIT, async {
            loop {
                match events.recv().await {
                    Some(ClientEvent::Disconnected { reason }) => break Some(reason),
                    Some(_) => continue,
                    None => break None,
                }
            }
        })
        .await
        .expect("gives up in time");
        assert!(
            matches!(end, Some(DisconnectReason::FirstConnectFailed(_))),
            "{end:?}"
        );
        let options = ClientOptions {
            tls: Some(cert.client_config()),
            ..ClientOptions::default()
        };
        let (client, _events) =
            actionhero_ws_tokio::client::connect_with(ClientConfig::new(url), options).unwrap();
        client
            .action("randomNumber", serde_json::Map::new())
            .await
            .expect("randomNumber after the failed handshakes");
        client.disconnect().await;
    });
    server.shutdown(false);
    assert!(server.join_timeout(WAIT));
}

#[test]
fn js_client_over_wss() {
    if !support::node_available() {
        eprintln!("SKIPPED js_client_over_wss: `node` is not installed");
        return;
    }
    support::ensure_interop();
    let cert = TestCert::new("js");
    let server = start(&cert, Duration::from_secs(10));
    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    let cert_file = cert.file.to_string_lossy().into_owned();
    // The pool may answer the two instant actions of `concurrent` in either order.
    let env = [
        ("NODE_EXTRA_CA_CERTS", cert_file.as_str()),
        ("INSTANT_ORDER", "any"),
    ];
    let scenarios = "welcome,actions,rooms,say,file,concurrent,fingerprint";
    let (mut child, lines) = support::spawn_js_client(scenarios, &url, &env);
    let out = support::collect_lines(&lines, Duration::from_secs(120));
    let status = child.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "js-client over wss: {status:?}\nfailed checks:\n{:#?}\nlast: {:?}",
        support::failed_checks(&out),
        out.last()
    );
    assert!(
        out.iter()
            .any(|l| l.contains("\"final\":true") && l.contains("\"pass\"")),
        "{out:#?}"
    );
    server.shutdown(false);
    assert!(server.join_timeout(WAIT));
}
