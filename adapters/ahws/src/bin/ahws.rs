//! `ahws`: an Actionhero-compatible WebSocket server and client on the command line.
//!
//! ```text
//! ahws serve   [--config FILE] [--print-config] [--listen 127.0.0.1:8080] [--public DIR] [--room NAME]...
//!              [--tls-cert FILE --tls-key FILE] [--metrics ADDR] [SETTING FLAGS]
//! ahws call    [--url URL] ACTION [key=value]...
//! ahws connect [--url URL] [--room NAME]... [--fingerprint ID] [--ping-timeout MS] [--request-timeout MS]
//! ahws bench   [--url URL] --mode action|broadcast|connect|hold [--clients N] [--seconds S] [--inflight K] [--senders M]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actionhero_ws::client::{ClientConfig, ClientEvent, ReconnectConfig, RequestFailure};
use actionhero_ws::server::Event;
use actionhero_ws::{Fingerprint, MessageId, RoomName};
use actionhero_ws_tokio::client::{self, ClientHandle, Request, RequestError};
use actionhero_ws_tokio::server::ServerBuilder;
use ahws::config::{Resolved, Settings, SettingsError};
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
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
    Serve(Box<ServeArgs>),
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
    /// A request not answered this long after it was issued fails with `timedOut`
    /// (milliseconds); `quit` and end of input wait at most this long for each.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    request_timeout: u64,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// A TOML file with any of the settings below (see the README); a flag given here
    /// overrides it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the effective settings (defaults, file and flags) as a config file, and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    settings: Settings,
}

fn main() -> ExitCode {
    // `serve --help` shows each setting's default, read from the library's.
    let command = Cli::command().mut_subcommand("serve", ahws::config::with_defaults_in_help);
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
            Command::Serve(args) => serve(*args).await,
            Command::Call(args) => call(args).await,
            Command::Connect(args) => connect(args).await,
            Command::Bench(_) => ExitCode::FAILURE,
        }
    })
}

/// The settings of the file (if any) with the command line's over them, resolved.
fn serve_settings(args: ServeArgs) -> Result<Resolved, SettingsError> {
    let settings = match &args.config {
        Some(path) => Settings::from_file(path)?.overridden_by(args.settings)?,
        None => args.settings,
    };
    settings.resolve()
}

async fn serve(args: ServeArgs) -> ExitCode {
    let print = args.print_config;
    let resolved = match serve_settings(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ahws: {e}");
            return ExitCode::from(2);
        }
    };
    if print {
        return match Settings::from_resolved(&resolved).and_then(|s| s.to_toml()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ahws: {e}");
                ExitCode::from(2)
            }
        };
    }
    let Resolved {
        listen,
        public,
        rooms,
        quiet,
        tls,
        metrics,
        workers,
        server: config,
        handshake,
        web,
        adapter,
        cluster,
    } = resolved;
    let mut builder = ServerBuilder::new()
        .listen(listen.clone())
        .workers(workers)
        .config(config)
        .handshake_config(handshake)
        .web_config(web)
        .adapter_config(adapter);
    let mut events_rx = None;
    if !quiet {
        let (tx, rx) = mpsc::channel(1024);
        builder = builder.events(tx);
        events_rx = Some(rx);
    }
    for room in rooms {
        builder = builder.room(room);
    }
    let cluster_line = cluster.as_ref().map(|c| {
        format!(
            "ahws: in the cluster on {} (channel {}, server id {})",
            c.redis.url, c.redis.channel, c.rooms.server_id
        )
    });
    if let Some(c) = cluster {
        builder = builder.cluster(c);
    }
    if let Some(dir) = &public {
        builder = builder.public_dir(dir.clone());
    }
    if let Some((cert, key)) = &tls {
        match actionhero_ws_tokio::tls::server_config_from_files(cert, key) {
            Ok(config) => builder = builder.tls(config),
            Err(e) => {
                eprintln!("ahws: TLS: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let (ws, http) = if tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let builder = actionhero_ws_tokio::samples::register(builder);
    let server = match builder.serve().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ahws: cannot serve on {listen}: {e}");
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
    if let Some(line) = cluster_line {
        eprintln!("{line}");
    }
    if let Some(addr) = &metrics {
        let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ahws: cannot serve metrics on {addr}: {e}");
                server.shutdown(true).await;
                return ExitCode::from(2);
            }
        };
        if let Ok(local) = listener.local_addr() {
            eprintln!("ahws: metrics on http://{local}/metrics");
        }
        tokio::spawn(actionhero_ws_tokio::metrics::serve(
            server.clone(),
            listener,
        ));
    }
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
            Event::SharedLink { up: true } => eprintln!("ahws: Redis reachable"),
            Event::SharedLink { up: false } => {
                eprintln!("ahws: Redis unreachable: says stay on this node, room requests fail");
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
        request_timeout: Duration::from_millis(args.request_timeout),
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
    let (client, events) = match client::connect(args.url, config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ahws: {e}");
            return ExitCode::from(2);
        }
    };
    let mut session = Session {
        client,
        events,
        events_open: true,
        outstanding: BTreeSet::new(),
    };
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    // `quit` or end of input: read no more commands, let the requests already sent
    // settle (answered, or failed by their timeout), then disconnect.
    let mut leaving = false;
    let mut disconnecting = false;
    loop {
        if leaving && !disconnecting && session.outstanding.is_empty() {
            disconnecting = true;
            // In a task: the event loop below keeps draining events meanwhile, so the
            // client can never wait on a full event queue while we wait on it.
            let client = session.client.clone();
            tokio::spawn(async move { client.disconnect().await });
        }
        tokio::select! {
            line = lines.next_line(), if !leaving => match line {
                Ok(Some(line)) => match session.run_command(&line).await {
                    Step::Continue => {}
                    Step::Quit => leaving = true,
                    Step::Stopped(ok) => return exit_for(ok),
                },
                Ok(None) | Err(_) => leaving = true,
            },
            event = session.events.recv() => match event {
                Some(event) => {
                    if let Some(ok) = session.show(&event) {
                        return exit_for(ok);
                    }
                }
                // The client ended without saying why.
                None => return exit_for(false),
            },
        }
    }
}

fn exit_for(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// An `ahws connect` session: the only writer of stdout, so a request's `sent` line
/// always comes before its `response`.
struct Session {
    client: ClientHandle,
    events: client::ClientEvents,
    events_open: bool,
    /// Requests sent and not yet settled (no `response` or `requestFailed` yet).
    outstanding: BTreeSet<MessageId>,
}

/// What the session does after a command line.
enum Step {
    Continue,
    Quit,
    /// The client stopped for good (`true`: because we asked it to).
    Stopped(bool),
}

impl Session {
    /// Prints one event and notes settled requests; `Some(ok)` once the client stopped
    /// (`ok`: it was our own disconnect).
    fn show(&mut self, event: &ClientEvent) -> Option<bool> {
        println!("{}", event_json(event));
        match event {
            ClientEvent::Response { id, .. } | ClientEvent::RequestFailed { id, .. } => {
                self.outstanding.remove(id);
                None
            }
            ClientEvent::Disconnected { reason } => Some(matches!(
                reason,
                actionhero_ws::client::DisconnectReason::Local
            )),
            _ => None,
        }
    }

    /// Parses and issues one command line; problems are printed as JSON lines.
    async fn run_command(&mut self, line: &str) -> Step {
        let request = match parse_command(line) {
            Line::Empty => return Step::Continue,
            Line::Quit => return Step::Quit,
            Line::Request(r) => r,
            Line::Invalid(error) => {
                println!(
                    "{}",
                    json!({"event": "commandError", "command": line.trim(), "error": error})
                );
                return Step::Continue;
            }
        };
        // Events arriving while the client takes the request are held and printed after
        // `sent` (still draining them: the client must never block on a full queue).
        let mut held = Vec::new();
        let submitted = {
            let submit = self.client.submit(request);
            tokio::pin!(submit);
            loop {
                tokio::select! {
                    biased;
                    result = &mut submit => break result,
                    event = self.events.recv(), if self.events_open => match event {
                        Some(event) => held.push(event),
                        None => self.events_open = false,
                    },
                }
            }
        };
        match submitted {
            Ok(id) => {
                println!(
                    "{}",
                    json!({"event": "sent", "command": line.trim(), "messageId": id.to_json()})
                );
                self.outstanding.insert(id);
            }
            Err(e) => {
                println!(
                    "{}",
                    json!({"event": "commandError", "command": line.trim(), "error": e.to_string()})
                );
            }
        }
        for event in held {
            if let Some(ok) = self.show(&event) {
                return Step::Stopped(ok);
            }
        }
        if self.events_open {
            Step::Continue
        } else {
            Step::Stopped(false)
        }
    }
}

/// One parsed command line.
enum Line {
    Empty,
    Quit,
    Request(Request),
    Invalid(String),
}

/// Parses one command line.
fn parse_command(line: &str) -> Line {
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
        "" => return Line::Empty,
        "quit" | "exit" => return Line::Quit,
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
    match request {
        Ok(request) => Line::Request(request),
        Err(error) => Line::Invalid(error),
    }
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
