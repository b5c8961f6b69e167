//! Bare tokio-tungstenite servers to compare `ahws serve` with (`ahws-baseline`): no
//! Primus, no Actionhero, no JSON: just the WebSocket layer doing the least work that
//! lets the generator count a unit.
//!
//! * `echo` (action mode): every text message is written back to its sender. The
//!   generator counts the echoed request as the response (same `messageId`). With
//!   `--delay-ms N` each message is written back N ms after it arrived, from a task of
//!   its own (the transport's limit for an action that waits, such as `sleepTest`).
//! * `fanout` (broadcast mode): a text message containing `"event":"say"` is written to
//!   every connection (one shared buffer through a `tokio::sync::broadcast` channel);
//!   any other text message (the generator's `detailsView`, `roomAdd`) is echoed.
//! * `welcome` (connect mode): the same server as `echo`.
//!
//! Every mode sends the welcome frame when a connection opens, so the generator's
//! connect sequence (welcome → detailsView) is the same everywhere. The upgrade is
//! answered after a minimal scan for `Sec-WebSocket-Key` (no validation), and
//! tokio-tungstenite runs with its default `WebSocketConfig` unless `--read-buffer`
//! is given.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// The baseline's behaviour.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum BaselineMode {
    /// Echo each text message to its sender.
    Echo,
    /// Write each `say` to every connection; echo the rest.
    Fanout,
    /// Welcome, then echo (same as `echo`).
    Welcome,
}

/// `ahws-baseline` arguments.
#[derive(Parser, Clone, Debug)]
#[command(
    name = "ahws-baseline",
    about = "Bare tokio-tungstenite servers for ahws bench"
)]
pub struct BaselineArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// What to do with messages.
    #[arg(long, value_enum)]
    pub mode: BaselineMode,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// tungstenite `read_buffer_size` (default: tungstenite's 128 KiB).
    #[arg(long)]
    pub read_buffer: Option<usize>,
    /// Echo mode: write each message back this many milliseconds after it arrived.
    #[arg(long)]
    pub delay_ms: Option<u64>,
}

const WELCOME: &str = r#"{"welcome":"Welcome to the actionhero api","context":"api"}"#;

/// Runs the baseline server until killed. Prints `READY <port>` on stdout once it
/// listens.
pub fn main(args: BaselineArgs) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = args.threads {
        builder.worker_threads(t.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ahws-baseline: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::bind(args.listen.as_str()).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ahws-baseline: cannot listen on {}: {e}", args.listen);
                return ExitCode::from(2);
            }
        };
        let port = listener.local_addr().map_or(0, |a| a.port());
        println!("READY {port}");
        let _ = std::io::stdout().flush();
        let mut config = WebSocketConfig::default();
        if let Some(n) = args.read_buffer {
            config = config.read_buffer_size(n.max(64));
        }
        let (fanout, _) = broadcast::channel::<Utf8Bytes>(4096);
        let delay = args.delay_ms.map(std::time::Duration::from_millis);
        let shared = Arc::new((args.mode, config, fanout, delay));
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let (mode, config, fanout, delay) = &*shared;
                let _ = connection(stream, peer, *mode, *config, fanout, *delay).await;
            });
        }
    })
}

/// Reads the request head, answers `101`, then runs the mode's loop.
async fn connection(
    mut stream: TcpStream,
    _peer: SocketAddr,
    mode: BaselineMode,
    config: WebSocketConfig,
    fanout: &broadcast::Sender<Utf8Bytes>,
    delay: Option<std::time::Duration>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Ok(());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let Some(key) = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    }) else {
        return Ok(());
    };
    let accept = actionhero_ws::handshake::sec_websocket_accept(&key);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    let rest = buf.split_off(head_end);
    let mut ws =
        WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(config)).await;
    let r = match (mode, delay) {
        (BaselineMode::Echo, Some(delay)) => delayed_echo(&mut ws, delay).await,
        (BaselineMode::Echo | BaselineMode::Welcome, _) => echo(&mut ws).await,
        (BaselineMode::Fanout, _) => fan_out(&mut ws, fanout).await,
    };
    r.map_err(|e| std::io::Error::other(e.to_string()))
}

type Ws = WebSocketStream<TcpStream>;
type WsResult = Result<(), tokio_tungstenite::tungstenite::Error>;

/// Echoes every text message; writes what is ready, then flushes once.
async fn echo(ws: &mut Ws) -> WsResult {
    ws.send(Message::Text(Utf8Bytes::from_static(WELCOME)))
        .await?;
    while let Some(msg) = ws.next().await {
        let mut msg = msg?;
        loop {
            match msg {
                Message::Text(t) => ws.feed(Message::Text(t)).await?,
                Message::Close(_) => return Ok(()),
                // tungstenite queues the pong for pings itself.
                _ => {}
            }
            match ws.next().now_or_never() {
                Some(Some(m)) => msg = m?,
                Some(None) => return Ok(()),
                None => break,
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

/// Echoes every text message `delay` after it arrived: a task per message sleeps, then
/// hands it back to the connection, which writes what is ready with one flush.
async fn delayed_echo(ws: &mut Ws, delay: std::time::Duration) -> WsResult {
    ws.send(Message::Text(Utf8Bytes::from_static(WELCOME)))
        .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Utf8Bytes>();
    loop {
        tokio::select! {
            msg = ws.next() => {
                let Some(msg) = msg else { return Ok(()) };
                match msg? {
                    Message::Text(t) => {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(t);
                        });
                    }
                    Message::Close(_) => return Ok(()),
                    _ => {}
                }
            }
            Some(t) = rx.recv() => {
                ws.feed(Message::Text(t)).await?;
                while let Ok(t) = rx.try_recv() {
                    ws.feed(Message::Text(t)).await?;
                }
                ws.flush().await?;
            }
        }
    }
}

/// Fans `say` messages out to every connection, echoes the rest.
async fn fan_out(ws: &mut Ws, fanout: &broadcast::Sender<Utf8Bytes>) -> WsResult {
    let mut rx = fanout.subscribe();
    ws.send(Message::Text(Utf8Bytes::from_static(WELCOME)))
        .await?;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let Some(msg) = msg else { return Ok(()) };
                match msg? {
                    Message::Text(t) if t.contains("\"event\":\"say\"") => {
                        let _ = fanout.send(t);
                        continue;
                    }
                    Message::Text(t) => ws.feed(Message::Text(t)).await?,
                    Message::Close(_) => return Ok(()),
                    _ => {}
                }
            }
            frame = rx.recv() => match frame {
                Ok(t) => {
                    ws.feed(Message::Text(t)).await?;
                    while let Ok(t) = rx.try_recv() {
                        ws.feed(Message::Text(t)).await?;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
        ws.flush().await?;
    }
}
