//! A minimal Chrome DevTools Protocol driver for the browser tests: launches a headless
//! Chromium with a throw-away profile, talks JSON-RPC to it over one WebSocket
//! (tokio-tungstenite, flattened sessions), and gives pages with `navigate`, `eval`,
//! `wait_for`, `insert_text` and `screenshot`. Chromium (its whole process group) is
//! killed and the profile removed when the [`Browser`] is dropped.
//!
//! Chromium is `$CHROMIUM` when set, else the first of `chromium`, `chromium-browser`,
//! `google-chrome` on PATH. Without one, [`Browser::launch`] panics with what to install
//! (`scripts/ensure-chromium.sh`): the browser tests never skip.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long one CDP command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long Chromium may take to print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The viewport of every page (and so of screenshots).
pub const VIEWPORT: (u32, u32) = (1280, 800);

/// A CDP event: `method`, `params` and the `sessionId` of the page it belongs to.
#[derive(Clone, Debug)]
pub struct Event {
    pub method: String,
    pub params: Value,
    pub session: Option<String>,
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>;

/// The WebSocket to Chromium: commands out, responses matched by id, events broadcast.
struct Conn {
    out: mpsc::UnboundedSender<String>,
    pending: Arc<Pending>,
    next_id: AtomicU64,
    events: broadcast::Sender<Event>,
}

impl Conn {
    async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, tx);
        if self.out.send(msg.to_string()).is_err() {
            return Err(format!("{method}: the DevTools connection is closed"));
        }
        match timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(r)) => r.map_err(|e| format!("{method}: {e}")),
            Ok(Err(_)) => Err(format!("{method}: the DevTools connection closed")),
            Err(_) => {
                self.pending.lock().expect("pending").remove(&id);
                Err(format!("{method}: no answer within {COMMAND_TIMEOUT:?}"))
            }
        }
    }
}

/// A headless Chromium. Killed (with everything it started) on drop.
pub struct Browser {
    conn: Arc<Conn>,
    child: Child,
    profile: PathBuf,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn find_chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium was not found (tried $CHROMIUM, chromium, chromium-browser, google-chrome on PATH). \
         The browser tests need it: run scripts/ensure-chromium.sh (installs Debian's `chromium`)."
    );
}

static PROFILES: AtomicU64 = AtomicU64::new(0);

impl Browser {
    /// Starts Chromium and connects to its DevTools WebSocket.
    pub async fn launch() -> Browser {
        let exe = find_chromium();
        let profile = std::env::temp_dir().join(format!(
            "ahws-chromium-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("create the Chromium profile dir");
        let mut child = Command::new(&exe)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-sync",
                "--disable-breakpad",
                "--disable-crash-reporter",
                "--disable-background-timer-throttling",
                "--disable-backgrounding-occluded-windows",
                "--disable-renderer-backgrounding",
                "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
                "--password-store=basic",
                "--use-mock-keychain",
                "--mute-audio",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                "--font-render-hinting=none",
            ])
            .arg(format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // its own process group, so that drop can kill the renderers and zygotes too
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                let _ = std::fs::remove_dir_all(&profile);
                panic!("cannot start Chromium ({}): {e}", exe.display())
            });

        // Stderr: the DevTools address, then kept (the last lines) for failure messages.
        // It must be drained for as long as Chromium runs, or Chromium blocks on it.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std_mpsc::channel();
        {
            let pipe = child.stderr.take().expect("stderr");
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("DevTools listening on ") {
                        let _ = addr_tx.send(url.trim().to_owned());
                    }
                    let mut kept = stderr.lock().expect("stderr");
                    if kept.len() >= 200 {
                        kept.remove(0);
                    }
                    kept.push(line);
                }
            });
        }
        let ws_url = tokio::task::spawn_blocking(move || addr_rx.recv_timeout(LAUNCH_TIMEOUT))
            .await
            .expect("join");
        let browser_stub = |child: Child, conn: Arc<Conn>| Browser {
            conn,
            child,
            profile: profile.clone(),
            stderr: stderr.clone(),
        };
        let ws_url = match ws_url {
            Ok(u) => u,
            Err(_) => {
                let (conn, _) = Conn::detached();
                let b = browser_stub(child, conn);
                panic!(
                    "Chromium ({}) printed no `DevTools listening on` line within {LAUNCH_TIMEOUT:?}; its stderr:\n{}",
                    exe.display(),
                    b.stderr_tail()
                );
            }
        };
        let conn = match connect(&ws_url).await {
            Ok(c) => c,
            Err(e) => {
                let (conn, _) = Conn::detached();
                let b = browser_stub(child, conn);
                panic!(
                    "cannot open the DevTools WebSocket {ws_url}: {e}\n{}",
                    b.stderr_tail()
                );
            }
        };
        browser_stub(child, conn)
    }

    /// The last lines Chromium wrote on stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// A browser-level command (no session).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.conn.call(None, method, params).await
    }

    /// A new page (tab) in its own browser context, so pages share no cookies, attached
    /// with a flattened session, with `Page`, `Runtime` and `Log` events on and a fixed
    /// viewport.
    pub async fn new_page(&self) -> Page {
        let ctx = self
            .call(
                "Target.createBrowserContext",
                json!({ "disposeOnDetach": true }),
            )
            .await
            .expect("Target.createBrowserContext");
        let context_id = ctx["browserContextId"]
            .as_str()
            .expect("browserContextId")
            .to_owned();
        let target = self
            .call(
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context_id }),
            )
            .await
            .expect("Target.createTarget");
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await
            .expect("Target.attachToTarget");
        let session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        let page = Page {
            conn: self.conn.clone(),
            session,
            target_id,
            console: Arc::new(Mutex::new(Vec::new())),
        };
        page.watch_console();
        for method in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(method, json!({})).await.expect(method);
        }
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": VIEWPORT.0, "height": VIEWPORT.1, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await
        .expect("Emulation.setDeviceMetricsOverride");
        page
    }

    /// Subscribes to every CDP event (all sessions).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.conn.events.subscribe()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SIGKILL to the whole process group Chromium leads (its pid is the group id).
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Helpers may still be writing into the profile for a moment.
        for _ in 0..20 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Conn {
    /// A connection that goes nowhere (for a browser that failed to start).
    fn detached() -> (Arc<Conn>, mpsc::UnboundedReceiver<String>) {
        let (out, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(16);
        (
            Arc::new(Conn {
                out,
                pending: Arc::new(Mutex::new(HashMap::new())),
                next_id: AtomicU64::new(1),
                events,
            }),
            rx,
        )
    }
}

/// Opens `ws://host:port/path` (a plain HTTP/1.1 upgrade) and starts the reader and
/// writer tasks.
async fn connect(ws_url: &str) -> Result<Arc<Conn>, String> {
    let rest = ws_url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("not a ws:// URL: {ws_url}"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = timeout(COMMAND_TIMEOUT, stream.read(&mut buf))
            .await
            .map_err(|_| "no upgrade response".to_owned())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed during the upgrade".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let status = String::from_utf8_lossy(&head[..end]);
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("upgrade refused: {status}"));
    }
    let leftover = head[end..].to_vec();
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(256 << 20);
    config.max_frame_size = Some(256 << 20);
    let ws =
        WebSocketStream::from_partially_read(stream, leftover, Role::Client, Some(config)).await;
    let (mut sink, mut source) = ws.split();

    let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
    let pending: Arc<Pending> = Arc::new(Mutex::new(HashMap::new()));
    let (events, _) = broadcast::channel(4096);
    tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    {
        let pending = pending.clone();
        let events = events.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = source.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    let reply = pending.lock().expect("pending").remove(&id);
                    if let Some(reply) = reply {
                        let result = match v.get("error") {
                            Some(e) => Err(e.to_string()),
                            None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                        };
                        let _ = reply.send(result);
                    }
                } else if let Some(method) = v.get("method").and_then(Value::as_str) {
                    let _ = events.send(Event {
                        method: method.to_owned(),
                        params: v.get("params").cloned().unwrap_or(Value::Null),
                        session: v
                            .get("sessionId")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    });
                }
            }
            // closed: fail whatever still waits
            pending.lock().expect("pending").clear();
        });
    }
    Ok(Arc::new(Conn {
        out,
        pending,
        next_id: AtomicU64::new(1),
        events,
    }))
}

/// One page (a target attached with a flattened session).
pub struct Page {
    conn: Arc<Conn>,
    pub session: String,
    pub target_id: String,
    console: Arc<Mutex<Vec<String>>>,
}

impl Page {
    /// A command on this page's session.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.conn.call(Some(&self.session), method, params).await
    }

    /// Events of this page only.
    pub fn events(&self) -> PageEvents {
        PageEvents {
            rx: self.conn.events.subscribe(),
            session: self.session.clone(),
        }
    }

    /// Keeps the page's console messages, exceptions and log entries (for failure messages).
    fn watch_console(&self) {
        let mut events = self.events();
        let console = self.console.clone();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let line = match e.method.as_str() {
                    "Runtime.consoleAPICalled" => {
                        let args: Vec<String> = e.params["args"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|x| {
                                        x.get("value").map_or_else(
                                            || x["description"].as_str().unwrap_or("?").to_owned(),
                                            |v| {
                                                v.as_str()
                                                    .map_or_else(|| v.to_string(), str::to_owned)
                                            },
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        format!(
                            "console.{}: {}",
                            e.params["type"].as_str().unwrap_or("log"),
                            args.join(" ")
                        )
                    }
                    "Runtime.exceptionThrown" => format!(
                        "exception: {}",
                        e.params["exceptionDetails"]["exception"]["description"]
                            .as_str()
                            .or_else(|| e.params["exceptionDetails"]["text"].as_str())
                            .unwrap_or("?")
                    ),
                    "Log.entryAdded" => format!(
                        "log.{}: {} {}",
                        e.params["entry"]["level"].as_str().unwrap_or("?"),
                        e.params["entry"]["text"].as_str().unwrap_or(""),
                        e.params["entry"]["url"].as_str().unwrap_or("")
                    ),
                    _ => continue,
                };
                if let Ok(mut c) = console.lock() {
                    c.push(line);
                }
            }
        });
    }

    /// Console messages, exceptions and log entries seen so far.
    pub fn console(&self) -> Vec<String> {
        self.console.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Navigates and waits for the load event.
    pub async fn navigate(&self, url: &str) {
        let mut events = self.events();
        let r = self
            .call("Page.navigate", json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
        if let Some(err) = r.get("errorText").and_then(Value::as_str) {
            panic!("navigate to {url}: {err}");
        }
        events
            .wait("Page.loadEventFired", COMMAND_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("{url} did not finish loading within {COMMAND_TIMEOUT:?}"));
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value
    /// (`null` for `undefined`), or the exception text.
    pub async fn try_eval(&self, expression: &str) -> Result<Value, String> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "awaitPromise": true,
                    "returnByValue": true,
                    "userGesture": true,
                }),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or_else(|| ex["text"].as_str())
                .unwrap_or("exception");
            return Err(format!("{text} (in `{expression}`)"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// [`Page::try_eval`], panicking (with the page's console) on an exception.
    pub async fn eval(&self, expression: &str) -> Value {
        match self.try_eval(expression).await {
            Ok(v) => v,
            Err(e) => panic!(
                "evaluate failed: {e}\npage console:\n{}",
                self.console().join("\n")
            ),
        }
    }

    /// Polls the JavaScript `condition` until it is truthy; panics after `wait` with
    /// the condition, the value of `diagnostic` (a JS expression) and the page console.
    pub async fn wait_for(&self, condition: &str, wait: Duration, diagnostic: &str) {
        let until = Instant::now() + wait;
        let expr = format!(
            "(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        );
        loop {
            if let Ok(Value::Bool(true)) = self.try_eval(&expr).await {
                return;
            }
            if Instant::now() >= until {
                let diag = self.try_eval(diagnostic).await;
                panic!(
                    "timed out after {wait:?} waiting for `{condition}`\n{diagnostic} = {diag:?}\npage console:\n{}",
                    self.console().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Focuses the element with id `id` and types `text` into it (`Input.insertText`).
    pub async fn insert_text(&self, id: &str, text: &str) {
        self.eval(&format!("document.getElementById({}).focus()", json!(id)))
            .await;
        self.call("Input.insertText", json!({ "text": text }))
            .await
            .expect("Input.insertText");
    }

    /// Clicks the element with id `id` (a DOM click).
    pub async fn click(&self, id: &str) {
        self.eval(&format!("document.getElementById({}).click()", json!(id)))
            .await;
    }

    /// The text of the element with id `id`.
    pub async fn text(&self, id: &str) -> String {
        self.eval(&format!(
            "document.getElementById({}).textContent",
            json!(id)
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": false }),
            )
            .await
            .expect("Page.captureScreenshot");
        base64_decode(r["data"].as_str().expect("screenshot data"))
            .expect("screenshot data is base64")
    }

    /// Closes the page's target.
    pub async fn close(self) {
        let _ = self
            .conn
            .call(
                None,
                "Target.closeTarget",
                json!({ "targetId": self.target_id }),
            )
            .await;
    }
}

/// The events of one page.
pub struct PageEvents {
    rx: broadcast::Receiver<Event>,
    session: String,
}

impl PageEvents {
    /// The next event of this page; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(e) if e.session.as_deref() == Some(self.session.as_str()) => return Some(e),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Waits up to `wait` for the event `method` of this page.
    pub async fn wait(&mut self, method: &str, wait: Duration) -> Option<Event> {
        timeout(wait, async {
            while let Some(e) = self.next().await {
                if e.method == method {
                    return Some(e);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }
}

/// Standard base64 (with padding) to bytes: the screenshot payload.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

/// Removes a scratch directory on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
