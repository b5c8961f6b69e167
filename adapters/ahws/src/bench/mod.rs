//! `ahws bench`: a load generator speaking the real client's protocol, and the bare
//! tokio-tungstenite baseline servers it is compared with (`ahws-baseline`).
//!
//! The generator opens its connections the way the Primus client does
//! (`GET /primus?_primuscb=<yeast>`), waits for the welcome, sends the client's
//! connect-time `detailsView`, answers every `"primus::ping::<ms>"` with
//! `"primus::pong::<ms>"`, and sends the exact frames `ActionheroWebsocketClient` sends
//! (docs/protocol.md#actionherowebsocketclient).
//! It speaks no protocol of its own: the upgrade, every frame it writes and its reading
//! of the server's frames are the core's client functions
//! ([`actionhero_ws::handshake`], [`actionhero_ws::wire::request`],
//! [`actionhero_ws::wire::reply::glance`]). On the hot path it builds no JSON value: a
//! request is a pre-encoded [`Template`](actionhero_ws::wire::request::Template) plus
//! its id, an answer is matched by the `messageId` [`glance`](actionhero_ws::wire::reply::glance)
//! reads, and a chat delivery by the benchmark marker in its message.
//!
//! Modes (see [`Mode`]): `action` (closed-loop round trips, K in flight per client),
//! `broadcast` (everybody in one room, M senders `say`, fan-out latency = send to the
//! last member's delivery), `connect` (open → welcome → detailsView → close cycles) and
//! `hold` (N idle connections answering pings, with the server's RSS before and after).
//!
//! While it runs it prints a progress line per second on stderr; at the end it prints
//! one JSON object on stdout, with the generator's own CPU use (getrusage) and, given
//! `--server-pid`, the server's CPU (`/proc/<pid>/stat` utime + stime) over exactly
//! the measured window.

pub mod baseline;
mod conn;
mod cpu;
mod gen;
mod hist;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

pub use cpu::{process_cpu, rss_kib, self_cpu};
pub use hist::Histogram;

/// What the generator measures.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Each client sends `action` requests (default `randomNumber`), `--inflight` at a
    /// time, with incrementing messageIds: round trips/s and latency.
    Action,
    /// Every client joins `--room`; `--senders` of them `say`, each with `--inflight`
    /// messages outstanding: deliveries/s and fan-out latency (send → last delivery).
    Broadcast,
    /// `--clients` loops of open → welcome → detailsView → close: cycles/s.
    Connect,
    /// Opens `--clients` connections and holds them idle (answering pings) for
    /// `--seconds`; with `--server-pid`, reports the server's RSS per connection.
    Hold,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Broadcast => "broadcast",
            Self::Connect => "connect",
            Self::Hold => "hold",
        }
    }
}

/// `ahws bench` arguments.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Server URL (`ws://host:port` or `http://host:port`; the path is always `/primus`),
    /// or several, comma-separated (a cluster's nodes): client i connects to the
    /// (i mod n)-th.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub url: String,
    /// What to measure.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Concurrent connections (members, for broadcast; connect loops, for connect).
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Unmeasured run time before the window, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Requests in flight per client (action), or says in flight per sender (broadcast).
    #[arg(long, default_value_t = 1)]
    pub inflight: usize,
    /// Clients that `say` (broadcast).
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// The action to call (action mode).
    #[arg(long, default_value = "randomNumber")]
    pub action: String,
    /// More params for each action request, as a JSON object (action mode), e.g.
    /// `{"sleepDuration":10}` for `sleepTest`.
    #[arg(long, value_parser = parse_params)]
    pub params: Option<Map<String, Value>>,
    /// The room to join (broadcast mode).
    #[arg(long, default_value = "defaultRoom")]
    pub room: String,
    /// Generator worker threads (default: one per core, at most one per client).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Server process ids (comma separated) whose CPU time is read from
    /// `/proc/<pid>/stat` around the window (and RSS, in hold mode).
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Helper process ids (comma separated, e.g. Actionhero's redis) whose CPU time is
    /// reported separately (`aux_cpu_*`).
    #[arg(long, value_delimiter = ',')]
    pub aux_pid: Vec<u32>,
    /// Connections opened at the same time while setting up.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// A label copied into the JSON summary.
    #[arg(long)]
    pub label: Option<String>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// Phases, in order; clients read them from an atomic on the hot path and wait on the
/// watch channel when idle.
pub(crate) const SETUP: u8 = 0;
pub(crate) const WARMUP: u8 = 1;
pub(crate) const MEASURE: u8 = 2;
pub(crate) const STOP: u8 = 3;

/// State shared by the client tasks.
pub(crate) struct Ctx {
    pub(crate) phase: AtomicU8,
    pub(crate) phase_rx: watch::Receiver<u8>,
    /// Completed units (round trips, deliveries, cycles) inside the window.
    pub(crate) done: AtomicU64,
    /// Completed says (broadcast), inside the window.
    pub(crate) done2: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) epoch: Instant,
}

impl Ctx {
    #[inline]
    pub(crate) fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    /// Nanoseconds since the generator's epoch.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// Runs `ahws bench` on its own runtime; prints the progress on stderr and the JSON
/// summary on stdout.
pub fn main(args: BenchArgs) -> ExitCode {
    // One worker per core, but no more than there are connections: a lone client on two
    // workers only bounces between threads (and takes CPU from the server).
    let threads = args
        .threads
        .unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            cores.min(args.clients.max(1))
        })
        .max(1);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ahws bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args, threads)) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ahws bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs one benchmark and returns its JSON summary.
///
/// # Errors
/// The URL is invalid, or no connection could be set up.
pub async fn run(args: BenchArgs, threads: usize) -> std::io::Result<Value> {
    let target = conn::Target::resolve(&args.url).await?;
    let (phase_tx, phase_rx) = watch::channel(SETUP);
    let ctx = Arc::new(Ctx {
        phase: AtomicU8::new(SETUP),
        phase_rx,
        done: AtomicU64::new(0),
        done2: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    let phases = Phases {
        ctx: ctx.clone(),
        tx: phase_tx,
    };
    let mut summary = Map::new();
    summary.insert("mode".into(), args.mode.name().into());
    if let Some(label) = &args.label {
        summary.insert("label".into(), label.clone().into());
    }
    summary.insert("url".into(), args.url.clone().into());
    summary.insert("clients".into(), args.clients.into());
    match args.mode {
        Mode::Action | Mode::Broadcast => {
            summary.insert("inflight".into(), args.inflight.into());
        }
        Mode::Connect | Mode::Hold => {}
    }
    if args.mode == Mode::Broadcast {
        summary.insert("senders".into(), args.senders.into());
    }
    summary.insert("threads".into(), threads.into());
    let result = match args.mode {
        Mode::Action => gen::action(&args, &target, &ctx, &phases).await?,
        Mode::Broadcast => gen::broadcast(&args, &target, &ctx, &phases).await?,
        Mode::Connect => gen::connect(&args, &target, &ctx, &phases).await?,
        Mode::Hold => gen::hold(&args, &target, &ctx, &phases).await?,
    };
    summary.extend(result);
    Ok(Value::Object(summary))
}

/// The main task's side of the phases.
pub(crate) struct Phases {
    ctx: Arc<Ctx>,
    tx: watch::Sender<u8>,
}

/// CPU and wall time over the measured window.
pub(crate) struct Window {
    pub(crate) seconds: f64,
    pub(crate) gen_cpu: f64,
    pub(crate) server_cpu: Option<f64>,
    pub(crate) aux_cpu: Option<f64>,
}

impl Phases {
    pub(crate) fn set(&self, phase: u8) {
        self.ctx.phase.store(phase, Ordering::Relaxed);
        let _ = self.tx.send(phase);
    }

    /// Warm-up, then the measured window with a progress line per second; ends in STOP.
    pub(crate) async fn window(&self, args: &BenchArgs, unit: &str) -> Window {
        self.set(WARMUP);
        if args.warmup > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
        }
        let t0 = Instant::now();
        let g0 = self_cpu();
        let s0 = cpu::processes_cpu(&args.server_pid);
        let a0 = cpu::processes_cpu(&args.aux_pid);
        self.set(MEASURE);
        let end = t0 + Duration::from_secs_f64(args.seconds.max(0.0));
        let tty = std::io::stderr().is_terminal();
        let mut last = (t0, 0u64, g0);
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let tick = (last.0 + Duration::from_secs(1)).min(end);
            tokio::time::sleep_until(tick.into()).await;
            let now = Instant::now();
            if args.quiet {
                last.0 = now;
                continue;
            }
            let done = self.ctx.done.load(Ordering::Relaxed);
            let g = self_cpu();
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            let rate = (done - last.1) as f64 / dt;
            let gcpu = (g - last.2).as_secs_f64() / dt * 100.0;
            let line = format!(
                "ahws bench: {:5.1}s  {:>10.0} {unit}  total {done}  errors {}  generator cpu {gcpu:3.0}%",
                now.duration_since(t0).as_secs_f64(),
                rate,
                self.ctx.errors.load(Ordering::Relaxed),
            );
            if tty {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
            last = (now, done, g);
        }
        let t1 = Instant::now();
        let g1 = self_cpu();
        let s1 = cpu::processes_cpu(&args.server_pid);
        let a1 = cpu::processes_cpu(&args.aux_pid);
        self.set(STOP);
        if tty && !args.quiet {
            eprintln!();
        }
        let server_cpu = match (s0, s1) {
            (Some(a), Some(b)) if !args.server_pid.is_empty() => Some((b - a).as_secs_f64()),
            _ => None,
        };
        let aux_cpu = match (a0, a1) {
            (Some(a), Some(b)) if !args.aux_pid.is_empty() => Some((b - a).as_secs_f64()),
            _ => None,
        };
        Window {
            seconds: t1.duration_since(t0).as_secs_f64(),
            gen_cpu: (g1 - g0).as_secs_f64(),
            server_cpu,
            aux_cpu,
        }
    }
}

/// Rounds to `digits` decimals for the summary.
pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// `{"p50":…,"p90":…,"p99":…,"max":…,"mean":…}` in microseconds.
pub(crate) fn latency_json(h: &Histogram) -> Value {
    let us = |ns: u64| round(ns as f64 / 1000.0, 1);
    json!({
        "p50": us(h.quantile(0.50)),
        "p90": us(h.quantile(0.90)),
        "p99": us(h.quantile(0.99)),
        "max": us(h.max()),
        "mean": round(h.mean() / 1000.0, 1),
        "samples": h.len(),
    })
}

/// The CPU fields of a summary: generator CPU, server CPU and server CPU per unit.
pub(crate) fn cpu_json(w: &Window, units: u64, out: &mut Map<String, Value>) {
    out.insert("window_s".into(), round(w.seconds, 3).into());
    out.insert("gen_cpu_s".into(), round(w.gen_cpu, 3).into());
    out.insert(
        "gen_cpu_pct".into(),
        round(w.gen_cpu / w.seconds.max(1e-9) * 100.0, 1).into(),
    );
    match w.server_cpu {
        Some(s) => {
            out.insert("server_cpu_s".into(), round(s, 3).into());
            out.insert(
                "server_cpu_pct".into(),
                round(s / w.seconds.max(1e-9) * 100.0, 1).into(),
            );
            let per = if units == 0 {
                Value::Null
            } else {
                round(s * 1e6 / units as f64, 3).into()
            };
            out.insert("server_cpu_us_per_msg".into(), per);
        }
        None => {
            out.insert("server_cpu_s".into(), Value::Null);
        }
    }
    if let Some(a) = w.aux_cpu {
        out.insert("aux_cpu_s".into(), round(a, 3).into());
        let per = if units == 0 {
            Value::Null
        } else {
            round(a * 1e6 / units as f64, 3).into()
        };
        out.insert("aux_cpu_us_per_msg".into(), per);
    }
}

/// `--params`: a JSON object.
fn parse_params(s: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(e.to_string()),
    }
}
