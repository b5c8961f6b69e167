//! A metrics listener: serves [`ServerHandle::metrics_text`] at `GET /metrics` on a
//! socket of its own (Prometheus scrapes it; keep it off the public interface). Which
//! request gets what is the core's decision ([`actionhero_ws::metrics::scrape`]); this
//! module reads request heads and writes the answers.
//!
//! ```no_run
//! # async fn run(server: actionhero_ws_tokio::ServerHandle) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
//! tokio::spawn(actionhero_ws_tokio::metrics::serve(server, listener));
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use actionhero_ws::handshake::{self, HandshakeLimits, Parsed};
use actionhero_ws::metrics::{scrape, scrape_response, Scrape};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::server::ServerHandle;

/// How long a scrape may take to send its request head, and to take the answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers scrapes on `listener` until `server` stops. One request per connection
/// (`Connection: close`).
pub async fn serve(server: ServerHandle, listener: TcpListener) {
    loop {
        tokio::select! {
            () = server.stopped() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(answer(server.clone(), stream));
                }
                // Out of file descriptors and the like: back off a little.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// Reads one request head and writes the core's answer.
async fn answer(server: ServerHandle, mut stream: TcpStream) {
    let limits = HandshakeLimits::default();
    let mut buf = Vec::with_capacity(512);
    let request = loop {
        match handshake::parse_request(&buf, &limits) {
            Ok(Parsed::Complete { request, .. }) => break request,
            Ok(Parsed::NeedMore) => {}
            Err(e) => {
                let _ = timeout(
                    SCRAPE_TIMEOUT,
                    stream.write_all(&handshake::reject_malformed(&e)),
                )
                .await;
                return;
            }
        }
        match timeout(SCRAPE_TIMEOUT, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    };
    let response = match scrape(&request) {
        Scrape::Respond(r) => r,
        Scrape::Metrics { head } => match server.metrics().await {
            Ok(m) => scrape_response(&m, head),
            // The server stopped: nothing to report.
            Err(_) => return,
        },
    };
    let write = async {
        stream.write_all(&response.to_bytes()).await?;
        stream.shutdown().await
    };
    let _ = timeout(SCRAPE_TIMEOUT, write).await;
}
