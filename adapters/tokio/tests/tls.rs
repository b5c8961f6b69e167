//! The server over TLS (`ServerBuilder::tls`, feature `rustls`) with a certificate
//! generated here: our client over `wss://`, the HTTP routes over `https://`, the real
//! JS client (ActionheroWebsocketClient over Primus in Node) over `wss://`, and TLS
//! handshakes that fail or stall without hurting anything.
#![cfg(feature = "rustls")]

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actionhero_ws::client::{ClientConfig, ClientEvent, DisconnectReason};
use actionhero_ws::http::WebConfig;
use actionhero_ws::server::{Event, ServerConfig};
use actionhero_ws_tokio::client::{self, ClientOptions};
use actionhero_ws_tokio::rustls;
use actionhero_ws_tokio::server::{AdapterConfig, ServerBuilder, ServerHandle};
use actionhero_ws_tokio::tls;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

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
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("certificate");
        let cert_pem = certified.cert.pem();
        let file = std::env::temp_dir().join(format!("ahws-{name}-{}.pem", std::process::id()));
        std::fs::write(&file, &cert_pem).expect("write cert");
        Self {
            der: certified.cert.der().clone(),
            cert_pem,
            key_pem: certified.signing_key.serialize_pem(),
            file,
        }
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        tls::server_config(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).expect("tls config")
    }

    /// A client configuration that trusts only this certificate.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
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

/// A TLS server on 127.0.0.1:0 with the sample actions, the stock rooms and the interop
/// public directory.
async fn start(cert: &TestCert, adapter: AdapterConfig) -> (ServerHandle, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(10_000);
    let builder = ServerBuilder::new()
        .listen("127.0.0.1:0")
        .config(ServerConfig {
            ping_interval: Some(Duration::from_millis(500)),
            ..ServerConfig::default()
        })
        .adapter_config(adapter)
        .web_config(WebConfig::default())
        .public_dir(support::interop_dir().join("actionhero-server/public"))
        .room("defaultRoom")
        .room("otherRoom")
        .tls(cert.server_config())
        .events(tx);
    let server = actionhero_ws_tokio::samples::register(builder)
        .serve()
        .await
        .expect("serve");
    (server, rx)
}

/// One HTTP/1.1 request over TLS; the whole response (the server closes it).
async fn https_get(addr: SocketAddr, cert: &TestCert, path: &str) -> String {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let connector = tokio_rustls::TlsConnector::from(cert.client_config());
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    timeout(WAIT, tls.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn our_client_over_wss_and_the_http_routes_over_https() {
    let cert = TestCert::new("wss");
    let (server, _events) = start(&cert, AdapterConfig::default()).await;
    let port = server.local_addr().port();

    // The routes are the core's, whatever the stream.
    let spec = https_get(server.local_addr(), &cert, "/primus/spec").await;
    assert!(spec.starts_with("HTTP/1.1 200 OK\r\n"), "{spec}");
    assert!(spec.contains("\"pingInterval\":500"), "{spec}");
    let library = https_get(
        server.local_addr(),
        &cert,
        "/public/javascript/ActionheroWebsocketClient.js",
    )
    .await;
    assert!(library.starts_with("HTTP/1.1 200 OK\r\n"), "{library:.200}");
    assert!(library.contains("ActionheroWebsocketClient"));
    let api = https_get(server.local_addr(), &cert, "/api/randomNumber").await;
    assert!(api.starts_with("HTTP/1.1 200 OK\r\n"), "{api}");
    assert!(api.contains("\"randomNumber\":"), "{api}");
    let plain = https_get(server.local_addr(), &cert, "/primus").await;
    assert!(plain.starts_with("HTTP/1.1 426 "), "{plain}");

    let options = ClientOptions {
        tls: Some(cert.client_config()),
        ..ClientOptions::default()
    };
    let config = ClientConfig {
        url: format!("wss://127.0.0.1:{port}"),
        ..ClientConfig::default()
    };
    let (client, mut events) = client::connect_with(config, options).expect("client");
    let answer = client
        .action("randomNumber", serde_json::Map::new())
        .await
        .expect("randomNumber over wss");
    assert!(answer["randomNumber"].is_f64(), "{answer}");
    timeout(WAIT, async {
        loop {
            match events.recv().await.expect("client events") {
                ClientEvent::Connected { .. } => break,
                _ => continue,
            }
        }
    })
    .await
    .expect("connected");
    // Rooms work as without TLS.
    client.room_add("defaultRoom").await.expect("roomAdd");
    let members = server.members("defaultRoom").await.expect("members");
    assert_eq!(members.len(), 1);
    client.disconnect().await;
    server.shutdown(false).await;
}

/// The connection ends (EOF or reset) within `wait`; returns what it read.
async fn ends_within(stream: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 1024];
    let until = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("the server kept the connection open past {wait:?}"),
        }
    }
}

#[tokio::test]
async fn failed_or_stalled_tls_handshakes_are_dropped_and_harm_nothing() {
    let cert = TestCert::new("handshakes");
    let adapter = AdapterConfig {
        tls_handshake_timeout: Duration::from_millis(300),
        ..AdapterConfig::default()
    };
    let (server, mut events) = start(&cert, adapter).await;
    let addr = server.local_addr();

    // Plain HTTP to the TLS port: a TLS alert at most, never an HTTP answer.
    let mut plain = TcpStream::connect(addr).await.expect("connect");
    plain
        .write_all(b"GET /primus/spec HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = ends_within(&mut plain, WAIT).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");

    // Silent, and dripping one byte at a time: both cut at the TLS handshake timeout.
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let mut drip = TcpStream::connect(addr).await.expect("connect");
    let dripping = tokio::spawn(async move {
        // The start of a TLS 1.2 ClientHello record, then nothing useful.
        for byte in [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03] {
            if drip.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ends_within(&mut drip, WAIT).await;
    });
    ends_within(&mut silent, WAIT).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    timeout(WAIT, dripping)
        .await
        .expect("drip cut")
        .expect("drip task");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A client that does not trust the certificate gives up; the server carries on.
    let config = ClientConfig {
        url: format!("wss://127.0.0.1:{}", addr.port()),
        ..ClientConfig::default()
    };
    let once = ClientConfig {
        retry_first_connect: false,
        ..config.clone()
    };
    // The webpki roots only.
    let (_client, mut refused) =
        client::connect_with(once, ClientOptions::default()).expect("client");
    let end = timeout(WAIT, async {
        loop {
            match refused.recv().await {
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

    // No connection was ever opened by any of them; a good client still works.
    while let Ok(e) = events.try_recv() {
        assert!(!matches!(e, Event::Connected { .. }), "{e:?}");
    }
    let options = ClientOptions {
        tls: Some(cert.client_config()),
        ..ClientOptions::default()
    };
    let (client, _client_events) = client::connect_with(config, options).expect("client");
    client
        .action("randomNumber", serde_json::Map::new())
        .await
        .expect("randomNumber after the failed handshakes");
    client.disconnect().await;
    server.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_over_wss() {
    if !support::node_available() {
        eprintln!("SKIPPED js_client_over_wss: `node` is not installed");
        return;
    }
    support::ensure_interop();
    let cert = TestCert::new("js");
    let (server, _events) = start(&cert, AdapterConfig::default()).await;
    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    let cert_file = cert.file.to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking(move || {
        let env = [("NODE_EXTRA_CA_CERTS", cert_file.as_str())];
        let (mut child, lines) = support::spawn_js_client("all", &url, &env);
        let out = support::collect_lines(&lines, Duration::from_secs(120));
        let status = child.wait_timeout(Duration::from_secs(10));
        (status, out)
    })
    .await
    .expect("js-client");
    let (status, out) = out;
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
    server.shutdown(false).await;
}
