//! Real-browser tests of the demo page (`adapters/ahws/public/index.html`) in a headless
//! Chromium driven over the DevTools protocol (`browser/cdp.rs`), one parametrised set
//! run against two servers:
//!
//! - `actionhero_*`: the real Actionhero 29.3.5 (`interop/actionhero-server/boot.js`,
//!   `CLIENT_JS=1` so it writes the client library into a scratch copy of the public dir,
//!   `AUTOMATIC_ROUTES=get,post`);
//! - `ahws_*`: our [`actionhero_ws_tokio::ServerBuilder`] with the sample actions, the
//!   rooms `defaultRoom` and `otherRoom`, and the shipped public dir (as `ahws serve`).
//!
//! The page is loaded from the server under test exactly as a user would (`/`), so the
//! server must serve `/`, `/public/javascript/ActionheroWebsocketClient.js`, `/api` and
//! the `sessionID` cookie. Chromium is required (`scripts/ensure-chromium.sh`): the tests
//! fail, not skip, without it. The `actionhero_*` tests skip only when `node` is missing.
//! The tests run one at a time (a 2-core machine, one redis DB).

#[path = "browser/cdp.rs"]
mod cdp;
#[path = "../../tokio/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actionhero_ws_tokio::{ServerBuilder, ServerHandle};
use serde_json::{json, Value};

use cdp::{Browser, Page, TempDir};
use support::ChildGuard;

/// The redis DB the real Actionhero of these tests uses (flushed at every boot).
const REDIS_DB: &str = "8";
/// The whole of one test, browser and servers included.
const TEST_TIMEOUT: Duration = Duration::from_secs(150);
const WAIT: Duration = Duration::from_secs(15);
/// Primus backs off exponentially (0.5 s, 1 s, 2 s, 4 s, 8 s... with jitter) between
/// reconnect attempts: a restart that takes a few seconds costs up to ~16 s more.
const RECONNECT_WAIT: Duration = Duration::from_secs(60);
const WELCOME: &str = "Welcome to the actionhero api";

/// One test at a time: each boots a browser and a server.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The real Actionhero 29.3.5.
    Actionhero,
    /// Our server (`ServerBuilder`, as `ahws serve` builds it).
    Ahws,
}

/// The server under test.
struct Server {
    target: Target,
    port: u16,
    running: Option<Running>,
    /// Actionhero writes the client library into its public dir: a scratch copy.
    _public: Option<TempDir>,
    /// Actionhero's redis (a private one started for the test is stopped on drop).
    redis: Option<support::Redis>,
}

enum Running {
    Actionhero(ChildGuard),
    Ahws(ServerHandle),
}

/// The shipped public dir (`ahws serve`'s default).
fn shipped_public() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("public")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file_type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}

async fn boot_actionhero(redis: &support::Redis, port: u16, public: PathBuf) -> (ChildGuard, u16) {
    let (host, redis_port) = (redis.host.clone(), redis.port);
    tokio::task::spawn_blocking(move || {
        let redis = support::Redis::external(host, redis_port);
        let public = public.display().to_string();
        let env = [
            ("CLIENT_JS", "1"),
            ("PUBLIC_DIR", public.as_str()),
            ("AUTOMATIC_ROUTES", "get,post"),
            ("REDIS_DB", REDIS_DB),
            // the `/api?action=` fallback logs an error per request; keep stderr for real trouble
            ("LOG_LEVEL", "crit"),
        ];
        support::boot_actionhero(&redis, port, &env)
    })
    .await
    .expect("boot actionhero")
}

async fn serve_ahws(listen: String) -> ServerHandle {
    let builder = ServerBuilder::new()
        .listen(listen)
        .room("defaultRoom")
        .room("otherRoom")
        .public_dir(shipped_public());
    actionhero_ws_tokio::samples::register(builder)
        .serve()
        .await
        .expect("serve")
}

impl Server {
    async fn start(target: Target) -> Server {
        match target {
            Target::Actionhero => {
                let public = TempDir::new("ahws-browser-public");
                copy_dir(&shipped_public(), public.path());
                let redis = tokio::task::spawn_blocking(|| support::Redis::start(false))
                    .await
                    .expect("redis");
                let (child, port) = boot_actionhero(&redis, 0, public.path().to_owned()).await;
                Server {
                    target,
                    port,
                    running: Some(Running::Actionhero(child)),
                    _public: Some(public),
                    redis: Some(redis),
                }
            }
            Target::Ahws => {
                let handle = serve_ahws("127.0.0.1:0".into()).await;
                Server {
                    target,
                    port: handle.local_addr().port(),
                    running: Some(Running::Ahws(handle)),
                    _public: None,
                    redis: None,
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Ours: a graceful shutdown that lets clients reconnect. Actionhero: SIGKILL.
    async fn stop(&mut self) {
        match self.running.take() {
            Some(Running::Ahws(handle)) => handle.shutdown(true).await,
            Some(Running::Actionhero(mut child)) => child.kill(),
            None => {}
        }
    }

    /// A new server on the same port.
    async fn start_again(&mut self) {
        assert!(self.running.is_none(), "stop the server first");
        match self.target {
            Target::Actionhero => {
                let public = self._public.as_ref().expect("public dir").path().to_owned();
                let redis = self.redis.as_ref().expect("redis");
                let (child, port) = boot_actionhero(redis, self.port, public).await;
                assert_eq!(port, self.port);
                self.running = Some(Running::Actionhero(child));
            }
            Target::Ahws => {
                let handle = serve_ahws(format!("127.0.0.1:{}", self.port)).await;
                self.running = Some(Running::Ahws(handle));
            }
        }
    }
}

/// Runs one test body against `target`: serialised, bounded in time, skipped (with a
/// message) only for Actionhero without `node`.
async fn run<F, Fut>(name: &str, target: Target, body: F)
where
    F: FnOnce(Target) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if target == Target::Actionhero {
        if !support::node_available() {
            eprintln!("SKIPPED {name}: `node` is not installed, so the real Actionhero cannot run");
            return;
        }
        tokio::task::spawn_blocking(support::ensure_interop)
            .await
            .expect("ensure_interop");
    }
    let _serial = SERIAL.lock().await;
    if tokio::time::timeout(TEST_TIMEOUT, body(target))
        .await
        .is_err()
    {
        panic!("{name} did not finish within {TEST_TIMEOUT:?}");
    }
}

/// Declares `actionhero_<name>` and `ahws_<name>`, both running `body(Target)`.
macro_rules! both_servers {
    ($body:ident => $actionhero:ident, $ahws:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $actionhero() {
            run(stringify!($actionhero), Target::Actionhero, $body).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $ahws() {
            run(stringify!($ahws), Target::Ahws, $body).await;
        }
    };
}

both_servers!(two_pages_chat => actionhero_two_pages_chat, ahws_two_pages_chat);
both_servers!(action_while_disconnected => actionhero_action_while_disconnected, ahws_action_while_disconnected);
both_servers!(fingerprint_is_the_session_cookie => actionhero_fingerprint_is_the_session_cookie, ahws_fingerprint_is_the_session_cookie);
both_servers!(reconnects_after_server_restart => actionhero_reconnects_after_server_restart, ahws_reconnects_after_server_restart);

// ---- helpers on the demo page ---------------------------------------------------------

/// What `wait_for` prints when a wait on the demo page times out.
const DIAG: &str = "window.demo ? JSON.stringify({state: demo.state(), states: demo.states, \
     id: demo.client.id, rooms: demo.client.rooms, log: demo.log.slice(-12)}) : 'no window.demo'";

/// What the page got when the demo did not start: the page's HTTP status, whether the
/// client library loaded, the start of its text.
const LOAD_DIAG: &str = "JSON.stringify({status: (performance.getEntriesByType('navigation')[0] || {}).responseStatus, \
     library: typeof ActionheroWebsocketClient, title: document.title, \
     text: document.body ? document.body.innerText.slice(0, 200) : null})";

/// Opens the demo page at `path` and checks that its script ran (the scripts have run
/// by the load event, so this fails fast when `/` or the client library is missing).
async fn open_demo(browser: &Browser, server: &Server, path: &str) -> Page {
    let page = browser.new_page().await;
    page.navigate(&server.url(path)).await;
    page.wait_for(
        "window.demo && typeof demo.state === 'function'",
        Duration::from_secs(2),
        LOAD_DIAG,
    )
    .await;
    page
}

/// Waits until the page is connected and in `defaultRoom`; returns its connection id.
async fn wait_connected_in_room(page: &Page) -> String {
    page.wait_for(
        "demo.state() === 'connected' && demo.client.rooms.indexOf('defaultRoom') >= 0 && \
         document.getElementById('members-count').textContent !== '0'",
        WAIT,
        DIAG,
    )
    .await;
    page.eval("demo.client.id")
        .await
        .as_str()
        .expect("client id")
        .to_owned()
}

/// The member ids of `defaultRoom` the page shows after clicking Refresh, once it shows
/// `count` of them.
async fn members_shown(page: &Page, count: usize) -> Vec<String> {
    page.click("room-refresh").await;
    page.wait_for(
        &format!("document.getElementById('members-count').textContent === '{count}' && document.querySelectorAll('#members li').length === {count}"),
        WAIT,
        "JSON.stringify(demo.members)",
    )
    .await;
    let ids = page
        .eval(
            "Array.from(document.querySelectorAll('#members li')).map(li => li.textContent).sort()",
        )
        .await;
    serde_json::from_value(ids).expect("member ids")
}

/// Says `text` through the page's form.
async fn say_via_form(page: &Page, text: &str) {
    page.insert_text("say-message", text).await;
    page.click("say-send").await;
}

/// Waits until the page's chat shows `text` from `from`.
async fn wait_said(page: &Page, from: &str, text: &str) {
    page.wait_for(
        &format!(
            "demo.chat.some(m => m.from === {from} && m.room === 'defaultRoom' && m.message === {text}) && \
             document.getElementById('chat').textContent.indexOf({text}) >= 0",
            from = json!(from),
            text = json!(text)
        ),
        WAIT,
        "JSON.stringify(demo.chat)",
    )
    .await;
}

/// Runs an action through `demo.action` (WebSocket when connected, else HTTP).
async fn demo_action(page: &Page, name: &str, params: Value) -> Value {
    page.eval(&format!("demo.action({}, {})", json!(name), params))
        .await
}

fn screenshot_path(target: Target) -> PathBuf {
    match target {
        // The README's picture, refreshed on request (UPDATE_SCREENSHOT=1) so a plain test
        // run leaves the tree clean.
        Target::Ahws if std::env::var_os("UPDATE_SCREENSHOT").is_some() => {
            cdp_repo_root().join("docs/screenshot-chat.png")
        }
        Target::Ahws => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshot-chat-ahws.png"),
        Target::Actionhero => {
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshot-chat-actionhero.png")
        }
    }
}

fn cdp_repo_root() -> PathBuf {
    support::repo_root()
}

// ---- the tests ------------------------------------------------------------------------

/// Two pages chat through `defaultRoom` (typed into the form), agree on the room's
/// members, and an action answers with its own messageId. Then a screenshot.
async fn two_pages_chat(target: Target) {
    let server = Server::start(target).await;
    let browser = Browser::launch().await;
    let a = open_demo(&browser, &server, "/").await;
    let b = open_demo(&browser, &server, "/").await;
    let a_id = wait_connected_in_room(&a).await;
    let b_id = wait_connected_in_room(&b).await;
    assert_ne!(a_id, b_id);
    for page in [&a, &b] {
        assert_eq!(page.eval("demo.welcome").await, json!(WELCOME));
        assert_eq!(page.text("welcome").await, WELCOME);
        assert_eq!(page.text("state").await, "connected");
        assert_eq!(
            page.text("client-id").await,
            page.eval("demo.client.id").await.as_str().unwrap_or("")
        );
    }

    // both pages see the same two members
    let mut both = vec![a_id.clone(), b_id.clone()];
    both.sort();
    assert_eq!(members_shown(&a, 2).await, both);
    assert_eq!(members_shown(&b, 2).await, both);

    say_via_form(&a, "Hello from page A").await;
    wait_said(&b, &a_id, "Hello from page A").await;
    say_via_form(&b, "Hi A, page B here").await;
    wait_said(&a, &b_id, "Hi A, page B here").await;
    say_via_form(&a, "The chat works both ways").await;
    wait_said(&b, &a_id, "The chat works both ways").await;
    // the sender gets its own messages too (Actionhero broadcasts to every member)
    wait_said(&a, &a_id, "The chat works both ways").await;
    assert_eq!(a.eval("demo.chat.length").await, json!(3));
    assert_eq!(a.text("members-count").await, "2");

    // B leaves (the Leave button): B may not view the room any more, A sees one member;
    // B joins again (the Join button) and both see two
    b.click("room-leave").await;
    b.wait_for(
        "demo.client.rooms.length === 0 && document.getElementById('members-count').textContent === '–'",
        WAIT,
        DIAG,
    )
    .await;
    assert!(!b.text("members-error").await.is_empty());
    assert_eq!(members_shown(&a, 1).await, vec![a_id.clone()]);
    b.click("room-join").await;
    b.wait_for(
        "demo.client.rooms.indexOf('defaultRoom') >= 0 && document.getElementById('members-count').textContent === '2'",
        WAIT,
        DIAG,
    )
    .await;
    assert_eq!(b.text("members-error").await, "");
    assert_eq!(members_shown(&a, 2).await, both);

    // an action through the form: the response carries the request's messageId
    a.eval("document.getElementById('action-name').value = 'randomNumber'")
        .await;
    a.click("action-run").await;
    a.wait_for("demo.lastAction && demo.lastAction.response", WAIT, DIAG)
        .await;
    let last = a.eval("demo.lastAction").await;
    assert_eq!(last["viaWeb"], json!(false), "{last}");
    assert!(last["response"]["randomNumber"].is_f64(), "{last}");
    let sent = last["sentMessageId"].clone();
    assert!(sent.is_number(), "{last}");
    assert_eq!(last["response"]["messageId"], sent, "{last}");
    assert_eq!(
        a.text("action-message-id").await,
        format!("sent {sent}, answered {sent}")
    );
    assert!(a.text("action-response").await.contains("\"randomNumber\""));
    // two at once: each answer has its own request's messageId
    let two = a
        .eval("Promise.all([demo.action('randomNumber', {}), demo.action('status', {})])")
        .await;
    for r in two.as_array().expect("two results") {
        assert_eq!(r["response"]["messageId"], r["sentMessageId"], "{two}");
    }
    assert_ne!(two[0]["sentMessageId"], two[1]["sentMessageId"], "{two}");
    assert!(two[0]["response"]["randomNumber"].is_f64(), "{two}");
    assert_eq!(two[1]["response"]["name"], json!("actionhero"), "{two}");

    // the README screenshot: page A after the chat
    a.eval("document.getElementById('action-name').value = 'randomNumber'; document.getElementById('action-run').click()")
        .await;
    a.wait_for(
        "document.getElementById('action-response').textContent.indexOf('randomNumber') >= 0",
        WAIT,
        DIAG,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = a.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "suspiciously small screenshot: {} bytes",
        png.len()
    );
    let path = screenshot_path(target);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir for the screenshot");
    std::fs::write(&path, &png).expect("write the screenshot");
    eprintln!("{target:?}: screenshot written to {}", path.display());
}

/// `client.action` while not connected goes through the library's HTTP fallback
/// (`POST /api?action=NAME`), before the first connect and after `client.disconnect()`.
/// Ours answers it; Actionhero 29 answers 404 `unknown action or invalid apiVersion`
/// (it routes `/api/NAME`, not `?action=`).
async fn action_while_disconnected(target: Target) {
    let server = Server::start(target).await;
    let browser = Browser::launch().await;
    let page = open_demo(&browser, &server, "/?connect=0").await;
    assert_eq!(page.eval("demo.state()").await, json!("disconnected"));

    let check_web = |r: Value, when: &str| {
        assert_eq!(r["viaWeb"], json!(true), "{when}: {r}");
        match target {
            Target::Ahws => {
                assert!(r["response"]["randomNumber"].is_f64(), "{when}: {r}");
                assert!(r["response"].get("error").is_none(), "{when}: {r}");
            }
            Target::Actionhero => {
                assert_eq!(
                    r["response"]["error"],
                    json!("unknown action or invalid apiVersion"),
                    "{when}: {r}"
                );
                assert!(r["response"].get("randomNumber").is_none(), "{when}: {r}");
            }
        }
    };
    let r = demo_action(&page, "randomNumber", json!({})).await;
    check_web(r, "before connecting");
    // the page shows what came back
    assert!(page.text("action-response").await.contains(match target {
        Target::Ahws => "randomNumber",
        Target::Actionhero => "unknown action or invalid apiVersion",
    }));

    page.eval("demo.connect()").await;
    page.wait_for("demo.state() === 'connected'", WAIT, DIAG)
        .await;
    let r = demo_action(&page, "randomNumber", json!({})).await;
    assert_eq!(r["viaWeb"], json!(false), "{r}");
    assert!(r["response"]["randomNumber"].is_f64(), "{r}");

    page.eval("demo.disconnect()").await;
    page.wait_for("demo.state() === 'disconnected'", WAIT, DIAG)
        .await;
    assert_eq!(page.eval("demo.client.state").await, json!("disconnected"));
    assert_eq!(page.text("state").await, "disconnected");
    let r = demo_action(&page, "randomNumber", json!({})).await;
    check_web(r, "after client.disconnect()");
}

/// A page that calls `/api` first (which sets the `sessionID` cookie) and then connects
/// has that cookie as its connection's fingerprint: the library appends
/// `?sessionID=<cookie>` to the Primus URL.
async fn fingerprint_is_the_session_cookie(target: Target) {
    let server = Server::start(target).await;
    let browser = Browser::launch().await;
    let page = open_demo(&browser, &server, "/?connect=0&room=").await;
    let at_load = page.eval("document.cookie").await;
    eprintln!("{target:?}: document.cookie after loading the page: {at_load}");
    // forget whatever loading the page set, so the cookie below comes from /api
    page.eval("document.cookie = 'sessionID=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/'")
        .await;
    assert_eq!(
        page.eval("document.cookie.indexOf('sessionID=') >= 0")
            .await,
        json!(false)
    );

    let r = page
        .eval("fetch('/api/randomNumber').then(r => r.json().then(body => ({status: r.status, body})))")
        .await;
    assert_eq!(r["status"], json!(200), "{r}");
    assert!(r["body"]["randomNumber"].is_f64(), "{r}");
    let cookie = page
        .eval("(document.cookie.match(/(?:^|;\\s*)sessionID=([^;]+)/) || [])[1] || null")
        .await;
    let cookie = cookie
        .as_str()
        .unwrap_or_else(|| panic!("/api set no sessionID cookie readable by the page: {r}"))
        .to_owned();
    assert!(!cookie.is_empty());
    assert_eq!(
        page.eval("demo.client.urlWithSession()").await,
        json!(format!("{}?sessionID={cookie}", server.url("")))
    );

    page.eval("demo.connect()").await;
    page.wait_for("demo.state() === 'connected'", WAIT, DIAG)
        .await;
    let details = page
        .eval("new Promise(resolve => demo.client.detailsView(resolve))")
        .await;
    assert_eq!(details["data"]["fingerprint"], json!(cookie), "{details}");
    assert_eq!(page.eval("demo.client.fingerprint").await, json!(cookie));
    assert_eq!(page.text("fingerprint").await, cookie);
    // a second HTTP call keeps the same session
    page.eval("fetch('/api/randomNumber').then(r => r.text())")
        .await;
    assert_eq!(
        page.eval("(document.cookie.match(/(?:^|;\\s*)sessionID=([^;]+)/) || [])[1] || null")
            .await,
        json!(cookie)
    );
}

/// The server goes away and comes back on the same port: the page shows
/// `reconnecting`, then `connected`, is back in its room (the page rejoins), and
/// actions work again.
async fn reconnects_after_server_restart(target: Target) {
    let mut server = Server::start(target).await;
    let browser = Browser::launch().await;
    let page = open_demo(&browser, &server, "/").await;
    let first_id = wait_connected_in_room(&page).await;

    let stopped = Instant::now();
    server.stop().await;
    page.wait_for("demo.state() === 'reconnecting'", WAIT, DIAG)
        .await;
    assert_eq!(page.text("state").await, "reconnecting");
    assert_eq!(
        page.eval("document.getElementById('state').getAttribute('data-state')")
            .await,
        json!("reconnecting")
    );
    eprintln!(
        "{target:?}: page shows reconnecting {:?} after the stop",
        stopped.elapsed()
    );

    // down for a while: Primus keeps trying (each failed attempt schedules the next),
    // the page keeps saying reconnecting
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(page.eval("demo.state()").await, json!("reconnecting"));
    let attempts = page
        .eval("demo.log.filter(e => e.text === 'reconnect attempt').length")
        .await;
    eprintln!(
        "{target:?}: after 2.5 s down: {attempts} reconnect attempts, the library's client.state = {}",
        page.eval("demo.client.state").await
    );
    assert!(attempts.as_u64().is_some_and(|n| n >= 1), "{attempts}");

    server.start_again().await;
    let up = Instant::now();
    page.wait_for("demo.state() === 'connected'", RECONNECT_WAIT, DIAG)
        .await;
    eprintln!(
        "{target:?}: reconnected {:?} after the server was back ({:?} after the stop); states {}",
        up.elapsed(),
        stopped.elapsed(),
        page.eval("JSON.stringify(demo.states)").await
    );
    assert_eq!(page.text("state").await, "connected");
    let states = page.eval("demo.states").await;
    let states: Vec<String> = serde_json::from_value(states).expect("states");
    let reconnecting = states
        .iter()
        .position(|s| s == "reconnecting")
        .expect("reconnecting seen");
    assert!(
        states[reconnecting..].iter().any(|s| s == "connected"),
        "{states:?}"
    );

    // a new connection, back in defaultRoom, alone there
    let second_id = wait_connected_in_room(&page).await;
    assert_ne!(second_id, first_id, "a new connection after the restart");
    assert_eq!(members_shown(&page, 1).await, vec![second_id.clone()]);
    assert_eq!(page.text("client-id").await, second_id);
    let r = demo_action(&page, "randomNumber", json!({})).await;
    assert_eq!(r["viaWeb"], json!(false), "{r}");
    assert!(r["response"]["randomNumber"].is_f64(), "{r}");
    assert_eq!(r["response"]["messageId"], r["sentMessageId"], "{r}");
}
