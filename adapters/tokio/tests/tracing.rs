//! The `tracing` feature's spans (this crate's tests enable it): one `connection` span per
//! socket and one `request` span per action, also for an action that finishes on its
//! first poll (on the driver, without a task of its own).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent};
use actionhero_ws::server::{ActionOutcome, ActionSpec, ServerConfig};
use actionhero_ws_tokio::client;
use actionhero_ws_tokio::server::{ActionContext, ServerBuilder};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_requests_get_spans() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
        .finish();
    // Global: the spans are made on the driver's and the connections' tasks.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let server = ServerBuilder::new()
        .listen("127.0.0.1:0")
        .config(ServerConfig {
            ping_interval: None,
            ..ServerConfig::default()
        })
        // Ready on its first poll: run on the driver, no task of its own.
        .action(ActionSpec::new("atOnce"), |_ctx: ActionContext| async {
            ActionOutcome::Ok(Map::new())
        })
        // Waits: continues as a task.
        .action(ActionSpec::new("later"), |_ctx: ActionContext| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ActionOutcome::Ok(Map::new())
        })
        .serve()
        .await
        .expect("serve");
    let url = format!("http://{}", server.local_addr());
    let (client, mut events) = client::connect(url, ClientConfig::default()).expect("client");
    for action in ["atOnce", "later"] {
        client.action(action, Map::new()).await.expect("answered");
    }
    client.disconnect().await;
    while let Some(e) = events.recv().await {
        if matches!(e, ClientEvent::Disconnected { .. }) {
            break;
        }
    }
    server.shutdown(false).await;
    // The connection span closes when its task ends, which may be just after the
    // driver reported the stop: wait for its close line (or give up after 5 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !captured
        .text()
        .lines()
        .any(|l| l.contains("connection{peer=") && l.contains(": close"))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let text = captured.text();
    for action in ["atOnce", "later"] {
        let span = format!(r#"request{{kind="action" name="{action}""#);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&span)).collect();
        assert!(
            lines.iter().any(|l| l.ends_with(": new")),
            "no span opened for {action}:\n{text}"
        );
        assert!(
            lines.iter().any(|l| l.contains(": close")),
            "no span closed for {action}:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.contains("connection{peer=127.0.0.1:") && l.contains(" conn=")),
        "no connection span naming its connection:\n{text}"
    );
}
