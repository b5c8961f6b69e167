//! A blocking server serving Actionhero's sample actions and starting rooms, standing in
//! for a stock Actionhero server (the interop target of `interop/js-client.js`).
//!
//! ```text
//! cargo run -p actionhero-ws-blocking --example sample_server -- [ADDR] [PUBLIC_DIR]
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:8080` (port 0 picks a free port); `PUBLIC_DIR` is what the
//! `file` verb serves (default: none). Prints `READY <port>` once it accepts connections,
//! then serves until stdin closes (or Ctrl-C), shutting down gracefully on EOF.
//!
//! Then, for example: `node interop/js-client.js all http://127.0.0.1:8080`.

use std::io::{BufRead, Write};

use actionhero_ws::http::WebConfig;
use actionhero_ws_blocking::samples;
use actionhero_ws_blocking::server::{Config, ServerBuilder};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let config = Config {
        web: WebConfig {
            public_dir: args.next().map(Into::into),
            ..WebConfig::default()
        },
        // sleepTest blocks a worker; enough of them for Actionhero's concurrency tests.
        workers: 32,
        read_timeout: std::time::Duration::from_millis(5),
        ..Config::default()
    };
    let server = samples::register(ServerBuilder::new(config))
        .room("defaultRoom")
        .room("otherRoom")
        .bind(addr.as_str())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {}", server.local_addr().port())?;
    out.flush()?;
    drop(out);
    // Serve until stdin reaches EOF (a parent process closing the pipe), then stop.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    server.shutdown(false);
    server.join();
    Ok(())
}
