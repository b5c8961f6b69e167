//! The link to Redis for a cluster of nodes (feature `redis`): one task that keeps a
//! command connection and a subscription to the cluster's channel alive, reconnecting
//! with backoff, and carries out what it is given in order.
//!
//! The link makes no protocol decision: it publishes the bytes it is handed, runs the
//! commands it is handed (their keys and values are the core's, see
//! `actionhero_ws::cluster`), and reports what arrives on the channel and whether Redis
//! is reachable. While Redis is unreachable, publishes wait in a queue bounded by
//! [`RedisConfig::max_queued_publishes`] (the oldest are dropped and counted beyond it)
//! and commands fail at once, so nothing grows without bound and nobody waits forever.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::{mpsc, oneshot};

/// Where Redis is and how the link behaves.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://HOST:PORT[/DB]` (also `redis://:PASSWORD@HOST:PORT/DB`).
    pub url: String,
    /// The pub/sub channel of the cluster. Default: `actionhero` (Actionhero's).
    pub channel: String,
    /// First wait before reconnecting after Redis went away; doubled per failed attempt.
    /// Default: 100 ms.
    pub reconnect_min: Duration,
    /// Longest wait between reconnect attempts. Default: 5 s.
    pub reconnect_max: Duration,
    /// Publishes kept while Redis is unreachable; beyond it the oldest are dropped
    /// (counted in [`RedisLink::dropped_publishes`]). Default: 10 000.
    pub max_queued_publishes: usize,
    /// Operations (publishes and commands) waiting for the link task; beyond it a
    /// publish is dropped and counted, a command fails. Default: 10 000.
    pub max_pending_ops: usize,
    /// Most operations sent to Redis as one pipeline. Default: 256.
    pub max_pipeline: usize,
    /// How long one pipeline may take before the connection is considered broken.
    /// Default: 5 s.
    pub command_timeout: Duration,
}

impl RedisConfig {
    /// Actionhero's defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            channel: actionhero_ws::cluster::DEFAULT_CHANNEL.to_owned(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            max_queued_publishes: 10_000,
            max_pending_ops: 10_000,
            max_pipeline: 256,
            command_timeout: Duration::from_secs(5),
        }
    }
}

/// A server's place in a cluster sharing rooms through Redis
/// ([`ServerBuilder::cluster`](crate::ServerBuilder::cluster)): the link, this node's
/// id and limits for shared rooms, and the channel's token and limits.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Where Redis is, the channel, reconnects and queues.
    pub redis: RedisConfig,
    /// This node's server id (unique in the cluster) and the limits of requests that
    /// wait for Redis or another node.
    pub rooms: actionhero_ws::server::SharedRoomsConfig,
    /// The cluster's server token (messages with another are ignored) and the largest
    /// channel message read.
    pub channel: actionhero_ws::cluster::ChannelConfig,
}

impl ClusterConfig {
    /// Actionhero's defaults (channel `actionhero`, token `change-me`) for Redis at
    /// `url`, with a server id made of the process id and a random number.
    pub fn new(url: impl Into<String>) -> Self {
        let mut r = [0u8; 4];
        let _ = getrandom::fill(&mut r);
        let id = format!("ahws-{}-{:08x}", std::process::id(), u32::from_le_bytes(r));
        Self {
            redis: RedisConfig::new(url),
            rooms: actionhero_ws::server::SharedRoomsConfig::new(id),
            channel: actionhero_ws::cluster::ChannelConfig::default(),
        }
    }
}

/// What the link reports.
#[derive(Debug)]
pub enum LinkEvent {
    /// Connected and subscribed (first time, or again after an outage).
    Up,
    /// Redis went away or could not be reached; the link keeps trying.
    Down {
        /// What failed.
        error: String,
    },
    /// A message on the cluster's channel.
    Message(Vec<u8>),
}

/// A command's answer, or why there is none.
pub type CommandResult = Result<redis::Value, String>;

enum Op {
    Publish(Vec<u8>),
    Command(Vec<Vec<u8>>, oneshot::Sender<CommandResult>),
}

/// The handle on a running link; dropping it stops the link task.
#[derive(Debug)]
pub struct RedisLink {
    ops: mpsc::Sender<Op>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Publish(p) => write!(f, "Publish({} bytes)", p.len()),
            Self::Command(args, _) => write!(f, "Command({} args)", args.len()),
        }
    }
}

impl RedisLink {
    /// Starts the link task on the current runtime; its reports arrive on the returned
    /// receiver (an `Up` once connected, then messages, `Down`/`Up` around outages).
    ///
    /// # Errors
    /// The URL is not a Redis URL.
    pub fn start(config: RedisConfig) -> Result<(Self, mpsc::Receiver<LinkEvent>), String> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| e.to_string())?;
        let (ops, ops_rx) = mpsc::channel(config.max_pending_ops.max(1));
        let (events, events_rx) = mpsc::channel(1024);
        let dropped = Arc::new(AtomicU64::new(0));
        let task = LinkTask {
            client,
            config,
            ops: ops_rx,
            events,
            queued: VecDeque::new(),
            dropped: dropped.clone(),
        };
        tokio::spawn(task.run());
        Ok((Self { ops, dropped }, events_rx))
    }

    /// Publishes `payload` on the channel (in order with every other operation). Never
    /// waits: when the link is far behind, the publish is dropped and counted.
    pub fn publish(&self, payload: Vec<u8>) {
        if self.ops.try_send(Op::Publish(payload)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs one command (its arguments, command name first) after every operation given
    /// before it; the answer arrives on the returned receiver. Fails at once while Redis
    /// is unreachable or when the link is far behind.
    pub fn command(&self, args: Vec<Vec<u8>>) -> oneshot::Receiver<CommandResult> {
        let (reply, answer) = oneshot::channel();
        let (op, why) = match self.ops.try_send(Op::Command(args, reply)) {
            Ok(()) => return answer,
            Err(mpsc::error::TrySendError::Full(op)) => (op, "the Redis link is too far behind"),
            Err(mpsc::error::TrySendError::Closed(op)) => (op, "the Redis link has stopped"),
        };
        if let Op::Command(_, reply) = op {
            let _ = reply.send(Err(why.to_owned()));
        }
        answer
    }

    /// Publishes dropped so far (link far behind, or queued too long in an outage).
    pub fn dropped_publishes(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

struct LinkTask {
    client: redis::Client,
    config: RedisConfig,
    ops: mpsc::Receiver<Op>,
    events: mpsc::Sender<LinkEvent>,
    /// Publishes waiting for Redis to come back.
    queued: VecDeque<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

/// Why the connected loop ended.
enum End {
    /// Every handle is gone: stop.
    Stopped,
    /// The connection broke.
    Broken(String),
}

impl LinkTask {
    async fn run(mut self) {
        let mut wait = self.config.reconnect_min;
        let mut reported_down = false;
        loop {
            let error = match self.connect().await {
                Ok((conn, pubsub)) => {
                    wait = self.config.reconnect_min;
                    reported_down = false;
                    if self.events.send(LinkEvent::Up).await.is_err() {
                        return;
                    }
                    match self.connected(conn, pubsub).await {
                        End::Stopped => return,
                        End::Broken(error) => error,
                    }
                }
                Err(error) => error,
            };
            if !reported_down {
                reported_down = true;
                if self.events.send(LinkEvent::Down { error }).await.is_err() {
                    return;
                }
            }
            // Keep taking operations while waiting: publishes queue (bounded), commands
            // fail at once.
            let until = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    op = self.ops.recv() => match op {
                        None => return,
                        Some(op) => self.while_down(op),
                    },
                }
            }
            wait = (wait * 2).min(self.config.reconnect_max);
        }
    }

    fn while_down(&mut self, op: Op) {
        match op {
            Op::Publish(payload) => {
                if self.queued.len() >= self.config.max_queued_publishes {
                    self.queued.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                if self.config.max_queued_publishes > 0 {
                    self.queued.push_back(payload);
                } else {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Op::Command(_, reply) => {
                let _ = reply.send(Err("Redis is unreachable".to_owned()));
            }
        }
    }

    async fn connect(
        &self,
    ) -> Result<(redis::aio::MultiplexedConnection, redis::aio::PubSub), String> {
        let limit = self.config.command_timeout;
        let setup = async {
            let conn = self.client.get_multiplexed_async_connection().await?;
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.config.channel.as_str()).await?;
            Ok::<_, redis::RedisError>((conn, pubsub))
        };
        match tokio::time::timeout(limit, setup).await {
            Ok(Ok(pair)) => Ok(pair),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connecting to Redis timed out".to_owned()),
        }
    }

    async fn connected(
        &mut self,
        mut conn: redis::aio::MultiplexedConnection,
        pubsub: redis::aio::PubSub,
    ) -> End {
        let mut messages = pubsub.into_on_message();
        // What waited through the outage goes first, in order.
        while !self.queued.is_empty() {
            let n = self.queued.len().min(self.config.max_pipeline.max(1));
            let batch: Vec<Op> = self.queued.drain(..n).map(Op::Publish).collect();
            if let Err(e) = self.run_batch(&mut conn, batch).await {
                return End::Broken(e);
            }
        }
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => {
                        let payload = msg.get_payload_bytes().to_vec();
                        if self.events.send(LinkEvent::Message(payload)).await.is_err() {
                            return End::Stopped;
                        }
                    }
                    None => return End::Broken("the subscription ended".to_owned()),
                },
                op = self.ops.recv() => {
                    let Some(op) = op else { return End::Stopped };
                    batch.push(op);
                    while batch.len() < self.config.max_pipeline.max(1) {
                        match self.ops.try_recv() {
                            Ok(op) => batch.push(op),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = self.run_batch(&mut conn, std::mem::take(&mut batch)).await {
                        return End::Broken(e);
                    }
                }
            }
        }
    }

    /// Sends `batch` as one pipeline and hands each command its own answer (a command
    /// Redis refused gets its error; the others are unaffected).
    async fn run_batch(
        &mut self,
        conn: &mut redis::aio::MultiplexedConnection,
        batch: Vec<Op>,
    ) -> Result<(), String> {
        let mut pipe = redis::pipe();
        for op in &batch {
            match op {
                Op::Publish(payload) => {
                    pipe.cmd("PUBLISH")
                        .arg(self.config.channel.as_str())
                        .arg(payload.as_slice());
                }
                Op::Command(args, _) => {
                    let mut cmd = redis::Cmd::new();
                    for a in args {
                        cmd.arg(a.as_slice());
                    }
                    pipe.add_command(cmd);
                }
            }
        }
        let sent = conn.send_packed_commands(&pipe, 0, pipe.len());
        let values = match tokio::time::timeout(self.config.command_timeout, sent).await {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => return Err(self.fail(batch, e.to_string())),
            Err(_) => return Err(self.fail(batch, "Redis timed out".to_owned())),
        };
        let mut values = values.into_iter();
        for op in batch {
            let value = values.next();
            if let Op::Command(_, reply) = op {
                let _ = reply.send(match value {
                    Some(redis::Value::ServerError(e)) => {
                        Err(redis::RedisError::from(e).to_string())
                    }
                    Some(v) => Ok(v),
                    None => Err("no answer".to_owned()),
                });
            }
        }
        Ok(())
    }

    /// The connection broke under `batch`: its commands fail, its publishes are counted
    /// as dropped (they may or may not have reached Redis; sending them again could
    /// deliver a say twice).
    fn fail(&self, batch: Vec<Op>, error: String) -> String {
        for op in batch {
            match op {
                Op::Publish(_) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Op::Command(_, reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
        error
    }
}

/// The core's form of a Redis reply (`actionhero_ws::cluster::Reply`).
pub(crate) fn reply(value: redis::Value) -> actionhero_ws::cluster::Reply {
    use actionhero_ws::cluster::Reply;
    match value {
        redis::Value::Nil => Reply::Nil,
        redis::Value::Int(n) => Reply::Int(n),
        redis::Value::BulkString(b) => Reply::Data(b),
        redis::Value::SimpleString(s) => Reply::Data(s.into_bytes()),
        redis::Value::Okay => Reply::Data(b"OK".to_vec()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            Reply::Array(items.into_iter().map(reply).collect())
        }
        // RESP3 answers HGETALL with a map: the same pairs, flattened.
        redis::Value::Map(pairs) => Reply::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [reply(k), reply(v)])
                .collect(),
        ),
        _ => Reply::Other,
    }
}
