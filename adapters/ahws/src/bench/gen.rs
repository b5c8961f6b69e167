//! The client tasks of each mode and the main task's orchestration.

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::wire::{self, Target, Ws};
use super::{
    cpu_json, latency_json, round, BenchArgs, Ctx, Histogram, Phases, MEASURE, STOP, WARMUP,
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

/// Reads frames (answering pings) until one satisfies `want`; returns it.
async fn expect(ws: &mut Ws, want: impl Fn(&str) -> bool) -> io::Result<String> {
    loop {
        let msg = timeout(STEP_TIMEOUT, ws.next())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer from the server"))?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                if let Some(pong) = wire::pong_for(&t) {
                    ws.send(text(pong)).await.map_err(ws_err)?;
                } else if want(&t) {
                    return Ok(t.as_str().to_owned());
                }
            }
            Some(Ok(Message::Close(_))) | None => return Err(closed_err("closed by the server")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ws_err(e)),
        }
    }
}

/// Sends one request and waits for the frame carrying its messageId.
async fn request(ws: &mut Ws, frame: String, id: u64) -> io::Result<String> {
    ws.send(text(frame)).await.map_err(ws_err)?;
    expect(ws, |t| wire::message_id(t) == Some(id)).await
}

/// Opens a connection like the real client: welcome, then the connect-time
/// `detailsView` (messageId 1); with `room`, also `roomAdd` (messageId 2).
async fn setup(target: &Target, room: Option<&str>) -> io::Result<Ws> {
    let mut ws = wire::open(target).await?;
    expect(&mut ws, |t| t.contains("\"welcome\"")).await?;
    request(
        &mut ws,
        r#"{"event":"detailsView","messageId":1}"#.to_owned(),
        1,
    )
    .await?;
    if let Some(room) = room {
        let room_json = serde_json::to_string(room).unwrap_or_default();
        let frame = format!(r#"{{"event":"roomAdd","room":{room_json},"messageId":2}}"#);
        let answer = request(&mut ws, frame, 2).await?;
        if wire::is_error(&answer) {
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
        let target = target.clone();
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

fn action_frame(prefix: &str, id: u64) -> Message {
    let mut s = String::with_capacity(prefix.len() + 21);
    s.push_str(prefix);
    let _ = write!(s, "{id}}}");
    text(s)
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
    let action_json = serde_json::to_string(&args.action).unwrap_or_default();
    let prefix: Arc<str> =
        format!(r#"{{"event":"action","params":{{"action":{action_json}}},"messageId":"#).into();
    let inflight = args.inflight.max(1);
    let c = ctx.clone();
    let (handles, setup_failed) = spawn_clients(args, target, None, args.clients, move |_, ws| {
        action_client(ws, c.clone(), inflight, prefix.clone())
    })
    .await?;
    let w = phases.window(args, "round trips/s").await;
    let (out, failed, stuck) = collect(handles).await;
    let count = ctx.done.load(Ordering::Relaxed);
    let mut m = Map::new();
    m.insert("unit".into(), "round_trips".into());
    m.insert("count".into(), count.into());
    m.insert("rate".into(), round(count as f64 / w.seconds, 1).into());
    m.insert("errors".into(), ctx.errors.load(Ordering::Relaxed).into());
    m.insert("latency_us".into(), latency_json(&out.hist));
    cpu_json(&w, count, &mut m);
    failures(&mut m, setup_failed, failed, stuck, out.error);
    Ok(m)
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

async fn action_client(mut ws: Ws, ctx: Arc<Ctx>, inflight: usize, prefix: Arc<str>) -> ClientOut {
    let mut out = ClientOut::default();
    started(&ctx).await;
    let mut pending: Vec<(u64, u64)> = Vec::with_capacity(inflight);
    let mut next_id = 2u64;
    for _ in 0..inflight {
        let frame = action_frame(&prefix, next_id);
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
        let mut msg = tokio::select! {
            biased;
            m = ws.next() => m,
            _ = &mut stopped => break 'run,
        };
        let mut n = 0u64;
        let mut errors = 0u64;
        loop {
            match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Some(id) = wire::message_id(&t) {
                        if let Some(i) = pending.iter().position(|p| p.0 == id) {
                            let (_, sent) = pending.swap_remove(i);
                            let now = ctx.now_ns();
                            let phase = ctx.phase();
                            if phase == MEASURE {
                                out.hist.record(now.saturating_sub(sent));
                                n += 1;
                                errors += u64::from(wire::is_error(&t));
                            }
                            if phase < STOP {
                                let frame = action_frame(&prefix, next_id);
                                pending.push((next_id, now));
                                next_id += 1;
                                if let Err(e) = ws.feed(frame).await {
                                    out.error = Some(e.to_string());
                                    break 'run;
                                }
                            }
                        }
                    } else if let Some(pong) = wire::pong_for(&t) {
                        if let Err(e) = ws.feed(text(pong)).await {
                            out.error = Some(e.to_string());
                            break 'run;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    out.error = Some("closed by the server".into());
                    break 'run;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    out.error = Some(e.to_string());
                    break 'run;
                }
            }
            match ws.next().now_or_never() {
                Some(m) => msg = m,
                None => break,
            }
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
    room_json: String,
}

/// Per-task tallies of a broadcast client.
#[derive(Default)]
struct Tally {
    deliveries: u64,
    says: u64,
}

impl Bcast {
    /// Arms `slot` for a new say and returns its frame.
    fn arm(&self, ctx: &Ctx, slot: usize, message_id: u64) -> Message {
        let s = &self.slots[slot];
        let generation = s.generation.load(Ordering::Relaxed).wrapping_add(1);
        s.remaining
            .store(self.members.load(Ordering::Relaxed), Ordering::Relaxed);
        s.sent_ns.store(ctx.now_ns(), Ordering::Relaxed);
        s.generation.store(generation, Ordering::Release);
        text(format!(
            r#"{{"event":"say","room":{},"message":"bench {slot} {generation}","messageId":{message_id}}}"#,
            self.room_json
        ))
    }

    /// Handles one inbound frame of any member; returns a pong to send, if any.
    fn on_text(
        &self,
        ctx: &Ctx,
        t: &str,
        out: &mut ClientOut,
        tally: &mut Tally,
    ) -> Option<String> {
        let Some((slot, generation)) = wire::bench_marker(t) else {
            return wire::pong_for(t);
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
        room_json: serde_json::to_string(&args.room).unwrap_or_default(),
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
    let mut next_id = 3u64;
    if is_sender {
        for slot in own.clone() {
            let frame = b.arm(&ctx, slot, next_id);
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
                let mut msg = msg;
                loop {
                    match msg {
                        Some(Ok(Message::Text(t))) => {
                            if let Some(pong) = b.on_text(&ctx, &t, &mut out, &mut tally) {
                                if ws.feed(text(pong)).await.is_err() {
                                    out.error = Some("write failed".into());
                                    break 'run;
                                }
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            out.error = Some("closed by the server".into());
                            break 'run;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            out.error = Some(e.to_string());
                            break 'run;
                        }
                    }
                    match ws.next().now_or_never() {
                        Some(m) => msg = m,
                        None => break,
                    }
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
                let frame = b.arm(&ctx, slot, next_id);
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
    let count = ctx.done.load(Ordering::Relaxed);
    let mut m = Map::new();
    m.insert("unit".into(), "connect_cycles".into());
    m.insert("count".into(), count.into());
    m.insert("rate".into(), round(count as f64 / w.seconds, 1).into());
    m.insert("errors".into(), ctx.errors.load(Ordering::Relaxed).into());
    m.insert("latency_us".into(), latency_json(&out.hist));
    cpu_json(&w, count, &mut m);
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
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Some(pong) = wire::pong_for(&t) {
                        if ws.send(text(pong)).await.is_err() {
                            out.error = Some("write failed".into());
                            break;
                        }
                        ctx.done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    out.error = Some("closed by the server".into());
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
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
