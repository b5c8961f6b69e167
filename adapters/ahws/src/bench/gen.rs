//! The client tasks of each mode and the main task's orchestration.
//!
//! Every frame a client task writes comes from the core's client encoder
//! ([`request`]), and every frame it reads is looked at with [`reply::glance`] (pings,
//! numbered answers, errors) or, once per connection, [`reply::decode`] (the welcome).
//! The only text it reads itself is its own: the `bench <slot> <generation>` marker of
//! its says.

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actionhero_ws::wire::reply::{self, Glance, ServerFrame};
use actionhero_ws::wire::request::{self, ClientRequest, Template};
use actionhero_ws::MessageId;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::conn::{self, Target, Ws};
use super::{
    cpu_json, latency_json, round, BenchArgs, Ctx, Histogram, Phases, Window, MEASURE, STOP, WARMUP,
};

/// How long one setup step (welcome, a response) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// A say not delivered to every member within this time is counted lost and re-sent.
const SAY_TIMEOUT_NS: u64 = 5_000_000_000;

/// What a client task hands back.
#[derive(Default)]
struct ClientOut {
    hist: Histogram,
    hist2: Histogram,
    lost: u64,
    error: Option<String>,
}

fn text(s: String) -> Message {
    Message::Text(s.into())
}

fn closed_err(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, what.to_owned())
}

fn ws_err(e: WsError) -> io::Error {
    io::Error::other(e.to_string())
}

/// A received frame's text: `Ok(None)` for a frame that is neither text nor close,
/// `Err` once the connection is over (closed by the server, ended, or failed).
fn text_of(msg: Option<Result<Message, WsError>>) -> io::Result<Option<Utf8Bytes>> {
    match msg {
        Some(Ok(Message::Text(t))) => Ok(Some(t)),
        Some(Ok(Message::Close(_))) | None => Err(closed_err("closed by the server")),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(ws_err(e)),
    }
}

/// Why [`drain`] stopped a client: a read (or the server's close) or a write.
enum Stop {
    Read(io::Error),
    Write(WsError),
}

impl Stop {
    /// The error the client reports: the read's, or `write_error` of the write's.
    fn into_error(self, write_error: impl FnOnce(WsError) -> String) -> String {
        match self {
            Self::Read(e) => e.to_string(),
            Self::Write(e) => write_error(e),
        }
    }
}

/// Handles `msg` and then every frame already buffered behind it, without waiting for
/// more: feeds what `on_text` answers to each text frame (the caller flushes).
async fn drain(
    ws: &mut Ws,
    mut msg: Option<Result<Message, WsError>>,
    mut on_text: impl FnMut(&str) -> Option<Message>,
) -> Result<(), Stop> {
    loop {
        if let Some(t) = text_of(msg).map_err(Stop::Read)? {
            if let Some(frame) = on_text(&t) {
                ws.feed(frame).await.map_err(Stop::Write)?;
            }
        }
        match ws.next().now_or_never() {
            Some(m) => msg = m,
            None => return Ok(()),
        }
    }
}

/// Reads frames (answering pings) until one satisfies `want`; returns it.
async fn expect(ws: &mut Ws, want: impl Fn(&str, Glance<'_>) -> bool) -> io::Result<String> {
    loop {
        let msg = timeout(STEP_TIMEOUT, ws.next())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer from the server"))?;
        let Some(t) = text_of(msg)? else {
            continue;
        };
        match reply::glance(&t) {
            Glance::Ping(value) => {
                ws.send(text(request::encode_pong(value)))
                    .await
                    .map_err(ws_err)?;
            }
            glance if want(&t, glance) => return Ok(t.as_str().to_owned()),
            _ => {}
        }
    }
}

/// The numbered answer to request `id`, and whether it is an error.
fn answer_to(glance: Glance<'_>, id: u64) -> Option<bool> {
    match glance {
        Glance::Object {
            message_id: Some(n),
            error,
        } if n == id => Some(error),
        _ => None,
    }
}

/// Sends `req` (numbered `id`) and waits for the frame carrying its messageId; returns
/// that answer and whether it is an error.
async fn request(ws: &mut Ws, req: &ClientRequest, id: u64) -> io::Result<(String, bool)> {
    ws.send(text(request::encode(req))).await.map_err(ws_err)?;
    let answer = expect(ws, |_, g| answer_to(g, id).is_some()).await?;
    let error = answer_to(reply::glance(&answer), id) == Some(true);
    Ok((answer, error))
}

/// Opens a connection like the real client: welcome, then the connect-time
/// `detailsView` (messageId 1); with `room`, also `roomAdd` (messageId 2).
async fn setup(target: &Target, room: Option<&str>) -> io::Result<Ws> {
    let mut ws = conn::open(target).await?;
    expect(&mut ws, |t, _| {
        matches!(reply::decode(t), Ok(ServerFrame::Welcome(_)))
    })
    .await?;
    let details = ClientRequest::DetailsView {
        message_id: MessageId::Number(1),
    };
    request(&mut ws, &details, 1).await?;
    if let Some(room) = room {
        let add = ClientRequest::RoomAdd {
            room: room.to_owned(),
            message_id: MessageId::Number(2),
        };
        let (answer, error) = request(&mut ws, &add, 2).await?;
        if error {
            return Err(io::Error::other(format!("roomAdd {room}: {answer}")));
        }
    }
    Ok(ws)
}

/// Sets up `n` clients (at most `concurrency` handshakes at a time) and spawns `body`
/// for each that succeeded. Returns the handles and the number that failed (with the
/// first error).
async fn spawn_clients<F, Fut>(
    args: &BenchArgs,
    target: &Target,
    room: Option<&str>,
    n: usize,
    body: F,
) -> io::Result<(Vec<JoinHandle<ClientOut>>, usize)>
where
    F: Fn(usize, Ws) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ClientOut> + Send + 'static,
{
    let body = Arc::new(body);
    let permits = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(n.max(1));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let body = body.clone();
        let permits = permits.clone();
        let ready = ready_tx.clone();
        let target = target.nth(i);
        let room = room.map(str::to_owned);
        handles.push(tokio::spawn(async move {
            let ws = {
                let _permit = permits.acquire().await;
                setup(&target, room.as_deref()).await
            };
            match ws {
                Ok(ws) => {
                    let _ = ready.send(Ok(())).await;
                    drop(ready);
                    body(i, ws).await
                }
                Err(e) => {
                    let _ = ready.send(Err(e.to_string())).await;
                    ClientOut {
                        error: Some(e.to_string()),
                        ..ClientOut::default()
                    }
                }
            }
        }));
    }
    drop(ready_tx);
    let mut ok = 0;
    let mut failed = 0;
    let mut first_error = None;
    let tty = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        if tty && (ok + failed) % 500 == 0 {
            eprint!("\rahws bench: connected {ok}/{n}   ");
        }
    }
    if tty {
        eprint!("\r");
    }
    if !args.quiet {
        eprintln!("ahws bench: {ok} connected, {failed} failed");
    }
    if ok == 0 {
        return Err(io::Error::other(format!(
            "no connection could be set up: {}",
            first_error.unwrap_or_default()
        )));
    }
    if let Some(e) = first_error {
        eprintln!("ahws bench: first setup error: {e}");
    }
    Ok((handles, failed))
}

/// Waits for the client tasks after STOP (aborting stragglers) and merges their output.
async fn collect(handles: Vec<JoinHandle<ClientOut>>) -> (ClientOut, usize, usize) {
    let mut total = ClientOut::default();
    let mut failed = 0;
    let mut stuck = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    for mut h in handles {
        match tokio::time::timeout_at(deadline, &mut h).await {
            Ok(Ok(out)) => {
                total.hist.merge(&out.hist);
                total.hist2.merge(&out.hist2);
                total.lost += out.lost;
                if let Some(e) = out.error {
                    failed += 1;
                    total.error.get_or_insert(e);
                }
            }
            Ok(Err(_)) => failed += 1,
            Err(_) => {
                h.abort();
                stuck += 1;
            }
        }
    }
    (total, failed, stuck)
}

fn action_frame(template: &Template, id: u64) -> Message {
    text(template.encode(&MessageId::Number(id)))
}

/// Resolves once the run reaches STOP.
async fn stop_signal(mut rx: tokio::sync::watch::Receiver<u8>) {
    let _ = rx.wait_for(|p| *p >= STOP).await;
}

/// Waits until the run leaves SETUP.
async fn started(ctx: &Ctx) {
    let mut rx = ctx.phase_rx.clone();
    let _ = rx.wait_for(|p| *p >= WARMUP).await;
}

/// `action` mode.
pub(super) async fn action(
    args: &BenchArgs,
    target: &Target,
    ctx: &Arc<Ctx>,
    phases: &Phases,
) -> io::Result<Map<String, Value>> {
    let mut params = Map::new();
    params.insert("action".into(), Value::String(args.action.clone()));
    if let Some(more) = &args.params {
        params.extend(more.clone());
    }
    // Encoded once; each request only adds its id.
    let template = Arc::new(Template::new(&ClientRequest::Action {
        params,
        message_id: MessageId::Number(1),
    }));
    let inflight = args.inflight.max(1);
    let c = ctx.clone();
    let (handles, setup_failed) = spawn_clients(args, target, None, args.clients, move |_, ws| {
        action_client(ws, c.clone(), inflight, template.clone())
    })
    .await?;
    let w = phases.window(args, "round trips/s").await;
    let (out, failed, stuck) = collect(handles).await;
    let mut m = counted("round_trips", ctx, &w, &out.hist);
    failures(&mut m, setup_failed, failed, stuck, out.error);
    Ok(m)
}

/// The start of a counting mode's result: `unit`, the count of `ctx.done` and its rate
/// over the window, `ctx.errors`, the latencies of `hist`, and the CPU figures.
fn counted(unit: &str, ctx: &Ctx, w: &Window, hist: &Histogram) -> Map<String, Value> {
    let count = ctx.done.load(Ordering::Relaxed);
    let mut m = Map::new();
    m.insert("unit".into(), unit.into());
    m.insert("count".into(), count.into());
    m.insert("rate".into(), round(count as f64 / w.seconds, 1).into());
    m.insert("errors".into(), ctx.errors.load(Ordering::Relaxed).into());
    m.insert("latency_us".into(), latency_json(hist));
    cpu_json(w, count, &mut m);
    m
}

fn failures(
    m: &mut Map<String, Value>,
    setup_failed: usize,
    failed: usize,
    stuck: usize,
    error: Option<String>,
) {
    m.insert("setup_failed".into(), setup_failed.into());
    m.insert(
        "client_failed".into(),
        (failed - setup_failed.min(failed)).into(),
    );
    m.insert("stuck".into(), stuck.into());
    if let Some(e) = error {
        m.insert("first_error".into(), e.into());
    }
}

async fn action_client(
    mut ws: Ws,
    ctx: Arc<Ctx>,
    inflight: usize,
    template: Arc<Template>,
) -> ClientOut {
    let mut out = ClientOut::default();
    started(&ctx).await;
    let mut pending: Vec<(u64, u64)> = Vec::with_capacity(inflight);
    let mut next_id = 2u64;
    for _ in 0..inflight {
        let frame = action_frame(&template, next_id);
        pending.push((next_id, ctx.now_ns()));
        next_id += 1;
        if let Err(e) = ws.feed(frame).await {
            out.error = Some(e.to_string());
            return out;
        }
    }
    if let Err(e) = ws.flush().await {
        out.error = Some(e.to_string());
        return out;
    }
    let stopped = stop_signal(ctx.phase_rx.clone());
    tokio::pin!(stopped);
    'run: loop {
        let msg = tokio::select! {
            biased;
            m = ws.next() => m,
            _ = &mut stopped => break 'run,
        };
        let mut n = 0u64;
        let mut errors = 0u64;
        let drained = drain(&mut ws, msg, |t| match reply::glance(t) {
            Glance::Object {
                message_id: Some(id),
                error,
            } => {
                let i = pending.iter().position(|p| p.0 == id)?;
                let (_, sent) = pending.swap_remove(i);
                let now = ctx.now_ns();
                let phase = ctx.phase();
                if phase == MEASURE {
                    out.hist.record(now.saturating_sub(sent));
                    n += 1;
                    errors += u64::from(error);
                }
                if phase >= STOP {
                    return None;
                }
                let frame = action_frame(&template, next_id);
                pending.push((next_id, now));
                next_id += 1;
                Some(frame)
            }
            Glance::Ping(value) => Some(text(request::encode_pong(value))),
            Glance::Object { .. } | Glance::Other => None,
        })
        .await;
        if let Err(stop) = drained {
            out.error = Some(stop.into_error(|e| e.to_string()));
            break 'run;
        }
        if n > 0 {
            ctx.done.fetch_add(n, Ordering::Relaxed);
        }
        if errors > 0 {
            ctx.errors.fetch_add(errors, Ordering::Relaxed);
        }
        if let Err(e) = ws.flush().await {
            out.error = Some(e.to_string());
            break;
        }
    }
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    out
}

/// One say slot: a message in flight from one sender to every member.
struct Slot {
    sent_ns: AtomicU64,
    generation: AtomicU32,
    remaining: AtomicU32,
}

struct Bcast {
    slots: Vec<Slot>,
    members: AtomicU32,
    inflight: usize,
    completions: Vec<mpsc::UnboundedSender<usize>>,
    room: String,
}

/// What a say's message starts with; then `<slot> <generation>`.
const MARKER: &str = "bench ";

/// A sender's says: one request whose message and id are rewritten in place for each
/// say, so that a say costs one allocation (its frame).
struct Says(ClientRequest);

impl Says {
    fn new(room: &str) -> Self {
        Self(ClientRequest::Say {
            room: room.to_owned(),
            message: Value::String(String::with_capacity(32)),
            message_id: MessageId::Number(1),
        })
    }

    /// The say numbered `id` whose message marks `slot`'s `generation`.
    fn frame(&mut self, slot: usize, generation: u32, id: u64) -> Message {
        // Always a say (built by `new`).
        if let ClientRequest::Say {
            message: Value::String(message),
            message_id,
            ..
        } = &mut self.0
        {
            message.clear();
            let _ = write!(message, "{MARKER}{slot} {generation}");
            *message_id = MessageId::Number(id);
        }
        let mut frame = String::with_capacity(128);
        request::write(&mut frame, &self.0);
        text(frame)
    }
}

/// The marker of a say in a chat delivery (or in a say echoed by a bare fan-out server):
/// `"message":"bench <slot> <generation>"` → `(slot, generation)`. The generator's own
/// payload, found without decoding the frame.
fn bench_marker(text: &str) -> Option<(usize, u32)> {
    const KEY: &str = "\"message\":\"";
    let at = text.find(KEY)? + KEY.len();
    let rest = text[at..].strip_prefix(MARKER)?;
    let end = rest.find('"')?;
    let (slot, generation) = rest[..end].split_once(' ')?;
    Some((slot.parse().ok()?, generation.parse().ok()?))
}

/// Per-task tallies of a broadcast client.
#[derive(Default)]
struct Tally {
    deliveries: u64,
    says: u64,
}

impl Bcast {
    /// Arms `slot` for a new say and returns its frame.
    fn arm(&self, ctx: &Ctx, says: &mut Says, slot: usize, message_id: u64) -> Message {
        let s = &self.slots[slot];
        let generation = s.generation.load(Ordering::Relaxed).wrapping_add(1);
        s.remaining
            .store(self.members.load(Ordering::Relaxed), Ordering::Relaxed);
        s.sent_ns.store(ctx.now_ns(), Ordering::Relaxed);
        s.generation.store(generation, Ordering::Release);
        says.frame(slot, generation, message_id)
    }

    /// Handles one inbound frame of any member; returns a pong to send, if any.
    fn on_text(
        &self,
        ctx: &Ctx,
        t: &str,
        out: &mut ClientOut,
        tally: &mut Tally,
    ) -> Option<String> {
        let Some((slot, generation)) = bench_marker(t) else {
            return match reply::glance(t) {
                Glance::Ping(value) => Some(request::encode_pong(value)),
                Glance::Object { .. } | Glance::Other => None,
            };
        };
        let s = self.slots.get(slot)?;
        if s.generation.load(Ordering::Acquire) != generation {
            return None;
        }
        let sent = s.sent_ns.load(Ordering::Relaxed);
        let now = ctx.now_ns();
        let measuring = ctx.phase() == MEASURE;
        if measuring {
            out.hist2.record(now.saturating_sub(sent));
            tally.deliveries += 1;
        }
        if s.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            if measuring {
                out.hist.record(now.saturating_sub(sent));
                tally.says += 1;
            }
            let _ = self.completions[slot / self.inflight].send(slot);
        }
        None
    }
}

/// `broadcast` mode.
pub(super) async fn broadcast(
    args: &BenchArgs,
    target: &Target,
    ctx: &Arc<Ctx>,
    phases: &Phases,
) -> io::Result<Map<String, Value>> {
    let senders = args.senders.clamp(1, args.clients.max(1));
    let inflight = args.inflight.max(1);
    let mut completions = Vec::with_capacity(senders);
    let mut receivers = Vec::with_capacity(senders);
    for _ in 0..senders {
        let (tx, rx) = mpsc::unbounded_channel();
        completions.push(tx);
        receivers.push(std::sync::Mutex::new(Some(rx)));
    }
    let b = Arc::new(Bcast {
        slots: (0..senders * inflight)
            .map(|_| Slot {
                sent_ns: AtomicU64::new(0),
                generation: AtomicU32::new(0),
                remaining: AtomicU32::new(0),
            })
            .collect(),
        members: AtomicU32::new(0),
        inflight,
        completions,
        room: args.room.clone(),
    });
    let receivers = Arc::new(receivers);
    let (c, b2) = (ctx.clone(), b.clone());
    let (handles, setup_failed) = spawn_clients(
        args,
        target,
        Some(&args.room),
        args.clients,
        move |i, ws| {
            let rx = receivers
                .get(i)
                .and_then(|r| r.lock().ok().and_then(|mut g| g.take()));
            broadcast_client(ws, c.clone(), b2.clone(), i, rx)
        },
    )
    .await?;
    let members = args.clients - setup_failed;
    b.members.store(members as u32, Ordering::Relaxed);
    let w = phases.window(args, "deliveries/s").await;
    // Let the says in flight land before the members stop reading.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (out, failed, stuck) = collect(handles).await;
    let deliveries = ctx.done.load(Ordering::Relaxed);
    let says = ctx.done2.load(Ordering::Relaxed);
    let mut m = Map::new();
    m.insert("room".into(), args.room.clone().into());
    m.insert("members".into(), members.into());
    m.insert("unit".into(), "deliveries".into());
    m.insert("count".into(), deliveries.into());
    m.insert(
        "rate".into(),
        round(deliveries as f64 / w.seconds, 1).into(),
    );
    m.insert("says".into(), says.into());
    m.insert("say_rate".into(), round(says as f64 / w.seconds, 1).into());
    m.insert("lost_says".into(), out.lost.into());
    m.insert("latency_us".into(), latency_json(&out.hist));
    m.insert("delivery_latency_us".into(), latency_json(&out.hist2));
    cpu_json(&w, deliveries, &mut m);
    failures(&mut m, setup_failed, failed, stuck, out.error);
    Ok(m)
}

async fn broadcast_client(
    mut ws: Ws,
    ctx: Arc<Ctx>,
    b: Arc<Bcast>,
    index: usize,
    completions: Option<mpsc::UnboundedReceiver<usize>>,
) -> ClientOut {
    let mut out = ClientOut::default();
    started(&ctx).await;
    let is_sender = completions.is_some();
    let mut completions = completions.unwrap_or_else(|| mpsc::unbounded_channel().1);
    let own = index * b.inflight..(index + 1) * b.inflight;
    let mut says = Says::new(&b.room);
    let mut next_id = 3u64;
    if is_sender {
        for slot in own.clone() {
            let frame = b.arm(&ctx, &mut says, slot, next_id);
            next_id += 1;
            if ws.feed(frame).await.is_err() {
                out.error = Some("write failed".into());
                return out;
            }
        }
        if ws.flush().await.is_err() {
            out.error = Some("write failed".into());
            return out;
        }
    }
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let stopped = stop_signal(ctx.phase_rx.clone());
    tokio::pin!(stopped);
    let mut tally = Tally::default();
    'run: loop {
        let mut resend: Vec<usize> = Vec::new();
        tokio::select! {
            biased;
            msg = ws.next() => {
                let drained = drain(&mut ws, msg, |t| {
                    b.on_text(&ctx, t, &mut out, &mut tally).map(text)
                })
                .await;
                if let Err(stop) = drained {
                    out.error = Some(stop.into_error(|_| "write failed".into()));
                    break 'run;
                }
            }
            Some(slot) = completions.recv(), if is_sender => {
                resend.push(slot);
                while let Ok(slot) = completions.try_recv() {
                    resend.push(slot);
                }
            }
            _ = check.tick(), if is_sender => {
                let now = ctx.now_ns();
                for slot in own.clone() {
                    let s = &b.slots[slot];
                    if s.remaining.load(Ordering::Relaxed) > 0
                        && now.saturating_sub(s.sent_ns.load(Ordering::Relaxed)) > SAY_TIMEOUT_NS
                    {
                        out.lost += 1;
                        resend.push(slot);
                    }
                }
            }
            _ = &mut stopped => break 'run,
        }
        if ctx.phase() < STOP {
            for slot in resend {
                let frame = b.arm(&ctx, &mut says, slot, next_id);
                next_id += 1;
                if ws.feed(frame).await.is_err() {
                    out.error = Some("write failed".into());
                    break 'run;
                }
            }
        }
        if tally.deliveries > 0 {
            ctx.done.fetch_add(tally.deliveries, Ordering::Relaxed);
        }
        if tally.says > 0 {
            ctx.done2.fetch_add(tally.says, Ordering::Relaxed);
        }
        tally = Tally::default();
        if ws.flush().await.is_err() {
            out.error = Some("write failed".into());
            break;
        }
    }
    // Members keep their connection until every task has stopped reading, so no
    // member's close races a delivery still being counted.
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    out
}

/// `connect` mode: open → welcome → detailsView → close, in `--clients` loops.
pub(super) async fn connect(
    args: &BenchArgs,
    target: &Target,
    ctx: &Arc<Ctx>,
    phases: &Phases,
) -> io::Result<Map<String, Value>> {
    let mut handles = Vec::with_capacity(args.clients);
    for _ in 0..args.clients.max(1) {
        let ctx = ctx.clone();
        let target = target.clone();
        handles.push(tokio::spawn(async move {
            let mut out = ClientOut::default();
            started(&ctx).await;
            while ctx.phase() < STOP {
                let t0 = ctx.now_ns();
                let r = cycle(&target).await;
                let measuring = ctx.phase() == MEASURE;
                match r {
                    Ok(()) if measuring => {
                        out.hist.record(ctx.now_ns().saturating_sub(t0));
                        ctx.done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if measuring {
                            ctx.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        out.error.get_or_insert(e.to_string());
                        // Do not spin on a refusing server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            out
        }));
    }
    let w = phases.window(args, "cycles/s").await;
    let (out, _, stuck) = collect(handles).await;
    let mut m = counted("connect_cycles", ctx, &w, &out.hist);
    m.insert("stuck".into(), stuck.into());
    if let Some(e) = out.error {
        m.insert("first_error".into(), e.into());
    }
    Ok(m)
}

/// One connect cycle as the real client does it, ending with a close handshake.
async fn cycle(target: &Target) -> io::Result<()> {
    let mut ws = setup(target, None).await?;
    ws.close(None).await.map_err(ws_err)?;
    // Read until the server's close reply and the end of the stream.
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(until, ws.next()).await {}
    Ok(())
}

/// `hold` mode: N idle connections, the server's RSS before and after.
pub(super) async fn hold(
    args: &BenchArgs,
    target: &Target,
    ctx: &Arc<Ctx>,
    phases: &Phases,
) -> io::Result<Map<String, Value>> {
    let rss = |pids: &[u32]| -> Option<u64> { pids.iter().map(|p| super::rss_kib(*p)).sum() };
    let before = rss(&args.server_pid);
    let c = ctx.clone();
    let (handles, setup_failed) = spawn_clients(args, target, None, args.clients, move |_, ws| {
        hold_client(ws, c.clone())
    })
    .await?;
    let held = args.clients - setup_failed;
    // Let the server settle (allocator, queued frames) before reading its RSS.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss(&args.server_pid);
    let w = phases.window(args, "pongs/s").await;
    let after_hold = rss(&args.server_pid);
    let (out, failed, stuck) = collect(handles).await;
    let mut m = Map::new();
    m.insert("unit".into(), "held_connections".into());
    m.insert("count".into(), held.into());
    m.insert("pongs".into(), ctx.done.load(Ordering::Relaxed).into());
    m.insert("rss_before_kib".into(), before.into());
    m.insert("rss_after_kib".into(), after.into());
    m.insert("rss_end_kib".into(), after_hold.into());
    let per = match (before, after) {
        (Some(b), Some(a)) if held > 0 => {
            Value::from(round(a.saturating_sub(b) as f64 * 1024.0 / held as f64, 0))
        }
        _ => Value::Null,
    };
    m.insert("rss_per_conn_bytes".into(), per);
    cpu_json(&w, held as u64, &mut m);
    failures(&mut m, setup_failed, failed, stuck, out.error);
    Ok(m)
}

async fn hold_client(mut ws: Ws, ctx: Arc<Ctx>) -> ClientOut {
    let mut out = ClientOut::default();
    let stopped = stop_signal(ctx.phase_rx.clone());
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            msg = ws.next() => match text_of(msg) {
                Ok(Some(t)) => {
                    if let Glance::Ping(value) = reply::glance(&t) {
                        if ws.send(text(request::encode_pong(value))).await.is_err() {
                            out.error = Some("write failed".into());
                            break;
                        }
                        ctx.done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    out.error = Some(e.to_string());
                    break;
                }
            },
            _ = &mut stopped => break,
        }
    }
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_are_the_core_encoding_and_carry_their_marker() {
        let mut says = Says::new("defaultRoom");
        for (slot, generation, id) in [(3, 7, 40), (12, 0, 3), (0, u32::MAX, u64::MAX)] {
            let Message::Text(frame) = says.frame(slot, generation, id) else {
                panic!("a text frame")
            };
            let want = request::encode(&ClientRequest::Say {
                room: "defaultRoom".into(),
                message: Value::String(format!("bench {slot} {generation}")),
                message_id: MessageId::Number(id),
            });
            assert_eq!(frame.as_str(), want);
            // A bare fan-out server echoes the say itself.
            assert_eq!(bench_marker(&want), Some((slot, generation)));
        }
        let chat = r#"{"message":"bench 3 7","room":"defaultRoom","from":"x","context":"user","sentAt":1}"#;
        assert_eq!(bench_marker(chat), Some((3, 7)));
        assert_eq!(
            bench_marker(r#"{"message":"hello","room":"defaultRoom","context":"user"}"#),
            None
        );
        assert_eq!(
            bench_marker(r#"{"status":"OK","context":"response","messageId":40}"#),
            None
        );
    }

    #[test]
    fn answers_match_numbered_requests() {
        let ok = r#"{"randomNumber":0.3,"context":"response","messageId":17}"#;
        assert_eq!(answer_to(reply::glance(ok), 17), Some(false));
        assert_eq!(answer_to(reply::glance(ok), 16), None);
        let err =
            r#"{"error":"you have too many pending requests","context":"response","messageId":4}"#;
        assert_eq!(answer_to(reply::glance(err), 4), Some(true));
        // A bare echo server answers with the request itself.
        let mut params = Map::new();
        params.insert("action".into(), Value::String("randomNumber".into()));
        let template = Template::new(&ClientRequest::Action {
            params,
            message_id: MessageId::Number(1),
        });
        let Message::Text(echo) = action_frame(&template, 9) else {
            panic!("a text frame")
        };
        assert_eq!(
            echo.as_str(),
            r#"{"event":"action","params":{"action":"randomNumber"},"messageId":9}"#
        );
        assert_eq!(answer_to(reply::glance(&echo), 9), Some(false));
        assert_eq!(
            answer_to(reply::glance(r#"{"welcome":"hi","context":"api"}"#), 1),
            None
        );
    }
}
