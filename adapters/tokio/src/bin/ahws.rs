//! `ahws`: an Actionhero-compatible WebSocket server and client on the command line.
//!
//! ```text
//! ahws serve   [--listen 127.0.0.1:8080] [--public DIR] [--room NAME]... [--ping-interval MS] [--welcome TEXT]
//! ahws call    [--url URL] ACTION [key=value]...
//! ahws connect [--url URL] [--room NAME]... [--fingerprint ID] [--ping-timeout MS]
//! ahws bench   [--url URL] --mode action|broadcast|connect|hold [--clients N] [--seconds S] [--inflight K] [--senders M]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actionhero_ws::server::{Event, ServerConfig};
use actionhero_ws_tokio::server::ServerBuilder;
use clap::{Args, Parser, Subcommand};
use tokio::sync::mpsc;

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
    /// Load-test a server with the real client's frames (JSON summary on stdout).
    Bench(actionhero_ws_tokio::bench::BenchArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory served by the `file` verb (default: the crate's `public/` when present).
    #[arg(long)]
    public: Option<PathBuf>,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        // The generator builds its own runtime (worker count is an option).
        Command::Bench(args) => return actionhero_ws_tokio::bench::main(args),
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
        vec!["defaultRoom".to_owned(), "otherRoom".to_owned()]
    } else {
        args.rooms
    };
    let public = args.public.or_else(|| {
        let shipped = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/public"));
        shipped.is_dir().then_some(shipped)
    });
    let mut builder = ServerBuilder::new()
        .listen(args.listen.clone())
        .config(config)
        .handshake_config(handshake);
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
    let builder = actionhero_ws_tokio::samples::register(builder);
    let server = match builder.serve().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ahws: cannot serve on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "ahws: listening on ws://{}/primus (public: {})",
        server.local_addr(),
        public
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string())
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
