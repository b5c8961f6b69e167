//! `ahws`: an Actionhero-compatible WebSocket server and client on the command line.
//!
//! ```text
//! ahws serve   [--listen 127.0.0.1:8080] [--public DIR] [--room NAME]... [--ping-interval MS] [--welcome TEXT]
//!              [--tls-cert FILE --tls-key FILE]
//! ahws call    [--url URL] ACTION [key=value]...
//! ahws connect [--url URL] [--room NAME]... [--fingerprint ID] [--ping-timeout MS]
//! ahws bench   [--url URL] --mode action|broadcast|connect|hold [--clients N] [--seconds S] [--inflight K] [--senders M]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent, ReconnectConfig, RequestFailure};
use actionhero_ws::server::{Event, ServerConfig};
use actionhero_ws::{Fingerprint, RoomName};
use actionhero_ws_tokio::client::{self, ClientHandle, Request, RequestError};
use actionhero_ws_tokio::server::ServerBuilder;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Map, Value};
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::{mpsc, watch};

#[derive(Parser, Debug)]
#[command(
    name = "ahws",
    version,
    about = "Actionhero WebSocket server and client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve an Actionhero 29 WebSocket endpoint with Actionhero's sample actions.
    Serve(ServeArgs),
    /// Run one action and print its response JSON (exit 0 ok, 1 error response, 2 no
    /// connection).
    Call(CallArgs),
    /// Interactive client: commands on stdin, every event as one JSON line on stdout.
    Connect(ConnectArgs),
    /// Load-test a server with the real client's frames (JSON summary on stdout).
    Bench(ahws::bench::BenchArgs),
}

/// The default server URL.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Args, Debug)]
struct CallArgs {
    /// Server URL: `http://host:port` or `ws://host:port/primus` (https/wss with TLS).
    #[arg(long, default_value = DEFAULT_URL)]
    url: String,
    /// The action name.
    action: String,
    /// Params as `key=value`; a value that parses as JSON (numbers, true, null, objects)
    /// is sent as that JSON value, anything else as a string.
    #[arg(value_name = "KEY=VALUE")]
    params: Vec<String>,
}

#[derive(Args, Debug)]
struct ConnectArgs {
    /// Server URL: `http://host:port` or `ws://host:port/primus` (https/wss with TLS).
    #[arg(long, default_value = DEFAULT_URL)]
    url: String,
    /// A room to join on connect and after every reconnect (repeatable).
    #[arg(long = "room", value_name = "NAME")]
    rooms: Vec<String>,
    /// Session fingerprint (sent as `?sessionID=…`).
    #[arg(long)]
    fingerprint: Option<String>,
    /// Reconnect when no Primus ping arrives for this long (milliseconds; 0 disables).
    /// Default: 1.5 x the server's pingInterval, read from its /primus/spec.
    #[arg(long, value_name = "MS")]
    ping_timeout: Option<u64>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory of static files, served over HTTP (`/`, `/public/…`) and by the `file`
    /// verb (default: the crate's `public/`, with the demo chat page, when present).
    #[arg(long)]
    public: Option<PathBuf>,
    /// An origin allowed to make cross-origin HTTP requests (repeatable; default: any,
    /// as Actionhero). Others are refused with `403`.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// A chat room to create at start (repeatable; default: defaultRoom and otherRoom).
    #[arg(long = "room", value_name = "NAME")]
    rooms: Vec<String>,
    /// Primus heartbeat interval in milliseconds (0 disables it).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    ping_interval: u64,
    /// Welcome text sent to every new connection.
    #[arg(long, default_value = "Welcome to the actionhero api")]
    welcome: String,
    /// No per-connection log lines (and no event channel: what benchmarks run).
    #[arg(long)]
    quiet: bool,
    /// Serve TLS (`https://`, `wss://`) with this PEM certificate chain (the
    /// certificate first, then intermediates). Needs `--tls-key`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS #8, PKCS #1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        // The generator builds its own runtime (worker count is an option).
        Command::Bench(args) => return ahws::bench::main(args),
        command => Cli { command },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ahws: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Call(args) => call(args).await,
            Command::Connect(args) => connect(args).await,
            Command::Bench(_) => ExitCode::FAILURE,
        }
    })
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = ServerConfig {
        welcome: Some(args.welcome),
        ping_interval: (args.ping_interval > 0).then(|| Duration::from_millis(args.ping_interval)),
        ..ServerConfig::default()
    };
    let handshake = actionhero_ws::handshake::HandshakeConfig {
        ping_interval_ms: args.ping_interval,
        ..Default::default()
    };
    let rooms = if args.rooms.is_empty() {
        actionhero_ws::samples::STARTING_ROOMS
            .iter()
            .map(|r| (*r).to_owned())
            .collect()
    } else {
        args.rooms
    };
    let public = args.public.or_else(|| {
        let shipped = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/public"));
        shipped.is_dir().then_some(shipped)
    });
    let mut web = actionhero_ws::http::WebConfig::default();
    if !args.cors_origins.is_empty() {
        web.cors.allowed_origins = Some(args.cors_origins.clone());
    }
    let mut builder = ServerBuilder::new()
        .listen(args.listen.clone())
        .config(config)
        .handshake_config(handshake)
        .web_config(web);
    let mut events_rx = None;
    if !args.quiet {
        let (tx, rx) = mpsc::channel(1024);
        builder = builder.events(tx);
        events_rx = Some(rx);
    }
    for room in rooms {
        builder = builder.room(room);
    }
    if let Some(dir) = &public {
        builder = builder.public_dir(dir.clone());
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        match actionhero_ws_tokio::tls::server_config_from_files(cert, key) {
            Ok(tls) => builder = builder.tls(tls),
            Err(e) => {
                eprintln!("ahws: TLS: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let (ws, http) = if args.tls_cert.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let builder = actionhero_ws_tokio::samples::register(builder);
    let server = match builder.serve().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ahws: cannot serve on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "ahws: listening on {ws}://{0}/primus, {http}://{0}/ (public: {1})",
        server.local_addr(),
        public
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
    );
    if let Some(rx) = events_rx {
        tokio::spawn(log_connections(rx));
    }
    tokio::select! {
        () = shutdown_signal() => {
            eprintln!("ahws: shutting down");
            server.shutdown(true).await;
        }
        () = server.stopped() => {}
    }
    ExitCode::SUCCESS
}

/// One stderr line per connection open and close.
async fn log_connections(mut events: mpsc::Receiver<Event>) {
    let mut ids = BTreeMap::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Connected {
                conn,
                id,
                fingerprint,
            } => {
                eprintln!("ahws: open {id} (fingerprint {fingerprint})");
                ids.insert(conn, id);
            }
            Event::Disconnected { conn, reason } => {
                let id = ids.remove(&conn);
                let id = id.as_ref().map_or("?", |id| id.as_str());
                eprintln!("ahws: close {id} ({reason:?})");
            }
            _ => {}
        }
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

// ---- call ------------------------------------------------------------------------------

async fn call(args: CallArgs) -> ExitCode {
    let params = match parse_params(&args.params) {
        Ok(p) => p,
        Err(bad) => {
            eprintln!("ahws: expected key=value, got `{bad}`");
            return ExitCode::from(2);
        }
    };
    // One bounded connect: a short timeout and a single quick retry.
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(3),
        reconnect: ReconnectConfig {
            retries: 1,
            min: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(3),
            ..ReconnectConfig::default()
        },
        ..ClientConfig::default()
    };
    let (client, mut events) = match client::connect(args.url.clone(), config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ahws: {e}");
            return ExitCode::from(2);
        }
    };
    // Remember why connecting failed, for the message.
    let (lost_tx, lost_rx) = watch::channel(None::<String>);
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let ClientEvent::ConnectionLost { reason } = e {
                let _ = lost_tx.send(Some(format!("{reason:?}")));
            }
        }
    });
    let result = client.action(&args.action, params).await;
    client.disconnect().await;
    match result {
        Ok(body) => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Err(RequestError::Response { body, .. }) => {
            println!("{body}");
            ExitCode::from(1)
        }
        Err(e) => {
            let why = lost_rx.borrow().clone();
            match why {
                Some(why) => eprintln!("ahws: cannot reach {}: {e} ({why})", args.url),
                None => eprintln!("ahws: cannot reach {}: {e}", args.url),
            }
            ExitCode::from(2)
        }
    }
}

/// `key=value` pairs; values that parse as JSON are sent as JSON, others as strings.
fn parse_params(pairs: &[String]) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(pair.clone());
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        params.insert(key.to_owned(), value);
    }
    Ok(params)
}

// ---- connect ---------------------------------------------------------------------------

async fn connect(args: ConnectArgs) -> ExitCode {
    let mut rooms = Vec::new();
    for r in &args.rooms {
        match RoomName::new(r) {
            Ok(room) => rooms.push(room),
            Err(_) => {
                eprintln!("ahws: invalid room name `{r}`");
                return ExitCode::from(2);
            }
        }
    }
    let mut config = ClientConfig {
        rooms,
        fingerprint: args.fingerprint.map(Fingerprint::from),
        ..ClientConfig::default()
    };
    match args.ping_timeout {
        Some(ms) => config.ping_timeout = (ms > 0).then(|| Duration::from_millis(ms)),
        // As a Primus client compiled by the server: 1.5 x its pingInterval.
        None => {
            let options = client::ClientOptions::default();
            if let Ok(t) = client::server_ping_timeout(&args.url, &config.pathname, &options).await
            {
                config.ping_timeout = t;
            }
        }
    }
    let (client, mut events) = match client::connect(args.url, config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ahws: {e}");
            return ExitCode::from(2);
        }
    };
    let mut printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            println!("{}", event_json(&event));
            if let ClientEvent::Disconnected { reason } = &event {
                return matches!(reason, actionhero_ws::client::DisconnectReason::Local);
            }
        }
        true
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let line = match line {
                    Ok(Some(line)) => line,
                    // End of input: let the outstanding requests finish, then leave.
                    Ok(None) | Err(_) => {
                        while client.pending_requests().await.unwrap_or(0) > 0 {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        client.disconnect().await;
                        break;
                    }
                };
                match run_command(&client, &line).await {
                    Flow::Continue => {}
                    Flow::Quit => {
                        client.disconnect().await;
                        break;
                    }
                }
            }
            done = &mut printer => {
                return exit_for(done.unwrap_or(false));
            }
        }
    }
    let ok = printer.await.unwrap_or(false);
    exit_for(ok)
}

fn exit_for(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

enum Flow {
    Continue,
    Quit,
}

/// Parses and issues one command line; problems are printed as JSON lines.
async fn run_command(client: &ClientHandle, line: &str) -> Flow {
    let line = line.trim();
    let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let one_word = |what: &str| -> Result<String, String> {
        match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
            [w] => Ok((*w).to_owned()),
            _ => Err(format!("usage: {verb} {what}")),
        }
    };
    let request = match verb {
        "" => return Flow::Continue,
        "quit" | "exit" => return Flow::Quit,
        "action" => {
            let mut words = rest.split_whitespace();
            match words.next() {
                None => Err("usage: action NAME [key=value]...".to_owned()),
                Some(name) => {
                    let pairs: Vec<String> = words.map(str::to_owned).collect();
                    parse_params(&pairs)
                        .map(|params| Request::Action {
                            name: name.to_owned(),
                            params,
                        })
                        .map_err(|bad| format!("expected key=value, got `{bad}`"))
                }
            }
        }
        "say" => match rest.split_once(char::is_whitespace) {
            Some((room, text)) if !text.trim().is_empty() => Ok(Request::Say {
                room: room.to_owned(),
                message: Value::String(text.trim().to_owned()),
            }),
            _ => Err("usage: say ROOM TEXT".to_owned()),
        },
        "join" => one_word("ROOM").map(Request::RoomAdd),
        "leave" => one_word("ROOM").map(Request::RoomLeave),
        "view" => one_word("ROOM").map(Request::RoomView),
        "details" => Ok(Request::DetailsView),
        "documentation" => Ok(Request::Documentation),
        "file" => one_word("PATH").map(Request::File),
        other => Err(format!(
            "unknown command `{other}` (action, say, join, leave, view, details, file, quit)"
        )),
    };
    let request = match request {
        Ok(r) => r,
        Err(error) => {
            println!(
                "{}",
                json!({"event": "commandError", "command": line, "error": error})
            );
            return Flow::Continue;
        }
    };
    match client.submit(request).await {
        Ok(id) => {
            println!(
                "{}",
                json!({"event": "sent", "command": line, "messageId": id.to_json()})
            );
        }
        Err(e) => {
            println!(
                "{}",
                json!({"event": "commandError", "command": line, "error": e.to_string()})
            );
        }
    }
    Flow::Continue
}

/// One JSON object per client event.
fn event_json(event: &ClientEvent) -> Value {
    match event {
        ClientEvent::Connected {
            id,
            fingerprint,
            rooms,
        } => json!({
            "event": "connected",
            "id": id.as_str(),
            "fingerprint": fingerprint.as_str(),
            "rooms": rooms.iter().map(RoomName::as_str).collect::<Vec<_>>(),
        }),
        ClientEvent::Welcome(text) => json!({"event": "welcome", "welcome": text}),
        ClientEvent::Response { id, body } => {
            json!({"event": "response", "messageId": id.to_json(), "response": body})
        }
        ClientEvent::RequestFailed { id, reason } => json!({
            "event": "requestFailed",
            "messageId": id.to_json(),
            "reason": failure_name(*reason),
        }),
        ClientEvent::Say {
            room,
            from,
            message,
            sent_at_ms,
            ..
        } => json!({
            "event": "say",
            "room": room.as_str(),
            "from": from.as_str(),
            "message": message,
            "sentAt": sent_at_ms,
        }),
        ClientEvent::Alert(message) => json!({"event": "alert", "message": message}),
        ClientEvent::Api(message) => json!({"event": "api", "message": message}),
        ClientEvent::Message(message) => json!({"event": "message", "message": message}),
        ClientEvent::RoomDropped { room, error } => {
            json!({"event": "roomDropped", "room": room.as_str(), "error": error})
        }
        ClientEvent::RoomRejoinFailed { room, error } => {
            json!({"event": "roomRejoinFailed", "room": room.as_str(), "error": error})
        }
        ClientEvent::ConnectionLost { reason } => {
            json!({"event": "connectionLost", "reason": format!("{reason:?}")})
        }
        ClientEvent::Reconnecting { attempt, after } => json!({
            "event": "reconnecting",
            "attempt": attempt,
            "afterMs": u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        }),
        ClientEvent::ReconnectFailed { attempts } => {
            json!({"event": "reconnectFailed", "attempts": attempts})
        }
        ClientEvent::Disconnected { reason } => {
            json!({"event": "disconnected", "reason": format!("{reason:?}")})
        }
        ClientEvent::ProtocolViolation { violation } => {
            json!({"event": "protocolViolation", "violation": format!("{violation:?}")})
        }
        other => json!({"event": "other", "debug": format!("{other:?}")}),
    }
}

fn failure_name(reason: RequestFailure) -> String {
    match reason {
        RequestFailure::TimedOut => "timedOut".into(),
        RequestFailure::ConnectionLost => "connectionLost".into(),
        RequestFailure::Dropped => "dropped".into(),
        RequestFailure::Closed => "closed".into(),
        other => format!("{other:?}"),
    }
}
