//! A metrics listener: serves [`ServerHandle::metrics_text`] at `GET /metrics` on a
//! socket of its own, from one thread (Prometheus scrapes it; keep it off the public
//! interface). Which request gets what is the core's decision
//! ([`actionhero_ws::metrics::scrape`]); this module reads request heads and writes the
//! answers.
//!
//! ```no_run
//! # fn run(server: actionhero_ws_blocking::ServerHandle) -> std::io::Result<()> {
//! let listener = std::net::TcpListener::bind("127.0.0.1:9100")?;
//! actionhero_ws_blocking::metrics::serve(server, listener)?;
//! # Ok(())
//! # }
//! ```

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use actionhero_ws::handshake::{self, HandshakeLimits, Parsed};
use actionhero_ws::metrics::{scrape, scrape_response, Scrape};

use crate::server::ServerHandle;
use crate::util::is_timeout;

/// How long a scrape may take to send its request head, and to take the answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the idle listener checks whether the server has stopped.
const POLL: Duration = Duration::from_millis(50);

/// Starts a thread that answers scrapes on `listener`, one at a time, until `server`
/// stops. One request per connection (`Connection: close`).
///
/// # Errors
/// The listener cannot be made non-blocking, or the thread cannot be spawned.
pub fn serve(server: ServerHandle, listener: TcpListener) -> io::Result<JoinHandle<()>> {
    // Non-blocking, so the thread notices the server stopping between scrapes.
    listener.set_nonblocking(true)?;
    thread::Builder::new()
        .name("ahws-metrics".into())
        .spawn(move || {
            while !server.is_stopped() {
                match listener.accept() {
                    Ok((stream, _)) => answer(&server, stream),
                    Err(e) if is_timeout(&e) => thread::sleep(POLL),
                    // Out of file descriptors and the like: back off a little.
                    Err(_) => thread::sleep(POLL),
                }
            }
        })
}

/// Reads one request head and writes the core's answer.
fn answer(server: &ServerHandle, mut stream: TcpStream) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(SCRAPE_TIMEOUT)).is_err()
    {
        return;
    }
    let limits = HandshakeLimits::default();
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let request = loop {
        match handshake::parse_request(&buf, &limits) {
            Ok(Parsed::Complete { request, .. }) => break request,
            Ok(Parsed::NeedMore) => {}
            Err(e) => {
                let _ = stream.write_all(&handshake::reject_malformed(&e));
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    };
    let response = match scrape(&request) {
        Scrape::Respond(r) => r,
        Scrape::Metrics { head } => match server.metrics() {
            Ok(m) => scrape_response(&m, head),
            // The server stopped: nothing to report.
            Err(_) => return,
        },
    };
    if stream.write_all(&response.to_bytes()).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
    }
}
