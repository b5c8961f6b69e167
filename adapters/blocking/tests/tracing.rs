//! The `tracing` feature's spans (this crate's tests enable it): one `connection` span per
//! socket, entered on its thread, and one `request` span per action, entered on the
//! worker that runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actionhero_ws::server::{ActionOutcome, ActionSpec};
use actionhero_ws_blocking::client::{self, Client};
use actionhero_ws_blocking::server::{self, ServerBuilder};
use serde_json::Map;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn connections_and_requests_get_spans() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
        .finish();
    // Global: the spans are made on the server's threads.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let mut config = server::Config {
        read_timeout: Duration::from_millis(2),
        close_linger: Duration::from_millis(100),
        shutdown_drain: Duration::from_millis(100),
        ..server::Config::default()
    };
    config.core.ping_interval = None;
    let server = ServerBuilder::new(config)
        .action(ActionSpec::new("hello"), |_ctx| {
            ActionOutcome::Ok(Map::new())
        })
        .bind("127.0.0.1:0")
        .expect("bind");
    let client_config = client::Config {
        read_timeout: Duration::from_millis(2),
        ..client::Config::default()
    };
    let url = format!("http://{}", server.local_addr());
    let client = Client::connect(&url, client_config).expect("connect");
    client.action("hello", Map::new()).expect("answered");
    client.disconnect();
    server.shutdown(false);
    assert!(server.join_timeout(Duration::from_secs(5)));

    // Connection threads end shortly after the driver: wait for their spans to close.
    let names_conn = |t: &str| {
        t.lines()
            .any(|l| l.contains("connection{peer=127.0.0.1:") && l.contains(" conn="))
    };
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while !names_conn(&captured.text()) && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = captured.text();
    let span = r#"request{kind="action" name="hello""#;
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(span)).collect();
    assert!(
        lines.iter().any(|l| l.ends_with(": new")),
        "no request span opened:\n{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains(": close")),
        "no request span closed:\n{text}"
    );
    assert!(
        names_conn(&text),
        "no connection span naming its connection:\n{text}"
    );
}
