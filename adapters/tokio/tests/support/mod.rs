//! Process helpers shared by the test suites of the adapters and of `ahws` (std only, no
//! tokio, so the blocking adapter can use them too): free ports, child processes killed
//! on drop, the interop harness in `interop/` (ensure.sh, redis, the real Actionhero,
//! js-client.js).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The repository root (two levels above this adapter crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `interop/` at the repository root.
pub fn interop_dir() -> PathBuf {
    repo_root().join("interop")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// True when `node` runs. Interop tests skip (with a message) only when it does not.
pub fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `interop/ensure.sh` (npm ci only when node_modules is missing). Panics on failure.
pub fn ensure_interop() {
    let status = Command::new("bash")
        .arg(interop_dir().join("ensure.sh"))
        .status()
        .expect("run interop/ensure.sh");
    assert!(status.success(), "interop/ensure.sh failed: {status}");
}

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct ChildGuard {
    pub child: Child,
    pub name: String,
}

impl ChildGuard {
    pub fn new(child: Child, name: impl Into<String>) -> Self {
        Self {
            child,
            name: name.into(),
        }
    }

    /// Sends SIGKILL and reaps.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (Unix) and waits up to `wait` for the exit status.
    pub fn terminate(&mut self, wait: Duration) -> Option<ExitStatus> {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
        }
        #[cfg(not(unix))]
        {
            let _ = self.child.kill();
        }
        self.wait_timeout(wait)
    }

    /// Waits up to `wait` for the process to exit.
    pub fn wait_timeout(&mut self, wait: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + wait;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a child's stdout lines on a thread; lines arrive on the returned receiver.
pub fn line_reader(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A redis for the real Actionhero: from `interop/start-redis.sh`. A private one the script
/// started is stopped on drop.
pub struct Redis {
    pub host: String,
    pub port: u16,
    pidfile: Option<PathBuf>,
}

impl Redis {
    /// A redis somebody else owns (never stopped by this value).
    pub fn external(host: String, port: u16) -> Redis {
        Redis {
            host,
            port,
            pidfile: None,
        }
    }

    /// The redis named by `INTEROP_REDIS` (`host:port`, set by `scripts/test`), else one
    /// found or started by `interop/start-redis.sh` (`new` forces a private one). Panics
    /// when none can be had.
    pub fn start(new: bool) -> Redis {
        if let Ok(addr) = std::env::var("INTEROP_REDIS") {
            if let Some((host, port)) = addr.trim().rsplit_once(':') {
                if let Ok(port) = port.parse() {
                    return Redis {
                        host: host.to_owned(),
                        port,
                        pidfile: None,
                    };
                }
            }
        }
        let mut cmd = Command::new("bash");
        cmd.arg(interop_dir().join("start-redis.sh"));
        if new {
            cmd.arg("--new");
        }
        let out = cmd.output().expect("run interop/start-redis.sh");
        assert!(
            out.status.success(),
            "start-redis.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let (host, port) = line
            .rsplit_once(':')
            .expect("host:port from start-redis.sh");
        let port: u16 = port.parse().expect("redis port");
        let pidfile = interop_dir().join(format!(".run/redis-{port}.pid"));
        Redis {
            host: host.to_owned(),
            port,
            pidfile: (port != 6379 && pidfile.exists()).then_some(pidfile),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(pidfile) = &self.pidfile {
            if let Ok(pid) = std::fs::read_to_string(pidfile) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

/// Boots the real Actionhero (`interop/actionhero-server/boot.js`) on `port` (0 = any)
/// with `env` (e.g. `PING_INTERVAL`) and waits for `READY <port>`. Returns the process
/// and its port.
pub fn boot_actionhero(redis: &Redis, port: u16, env: &[(&str, &str)]) -> (ChildGuard, u16) {
    let mut cmd = Command::new("node");
    cmd.arg(interop_dir().join("actionhero-server/boot.js"))
        .env("PORT", port.to_string())
        .env("REDIS_HOST", &redis.host)
        .env("REDIS_PORT", redis.port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn node boot.js");
    let stdout = child.stdout.take().expect("stdout");
    let guard = ChildGuard::new(child, "actionhero");
    let lines = line_reader(stdout);
    let line = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("boot.js printed no READY line within 30 s");
    let port: u16 = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected boot.js line: {line}"));
    (guard, port)
}

/// `node interop/js-client.js <scenario> <url>` with piped stdout; lines on the receiver.
pub fn spawn_js_client(
    scenario: &str,
    url: &str,
    env: &[(&str, &str)],
) -> (ChildGuard, mpsc::Receiver<String>) {
    let mut cmd = Command::new("node");
    cmd.arg(interop_dir().join("js-client.js"))
        .arg(scenario)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn node js-client.js");
    let stdout = child.stdout.take().expect("stdout");
    (ChildGuard::new(child, "js-client"), line_reader(stdout))
}

/// Collects lines until the channel closes (the process ended) or `wait` passes.
pub fn collect_lines(lines: &mpsc::Receiver<String>, wait: Duration) -> Vec<String> {
    let until = Instant::now() + wait;
    let mut out = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => out.push(line),
            Err(_) => return out,
        }
    }
}

/// The js-client lines that report a failed check, for assertion messages.
pub fn failed_checks(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.contains("\"ok\":false") || l.contains("\"result\":\"fail\""))
        .collect()
}

/// Sends a raw HTTP request and returns the status code and the whole response text.
pub fn raw_http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The body of a raw HTTP response (after the blank line).
pub fn http_body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// A `redis-server` of one test's own on a free loopback port (no persistence), which the
/// test may kill and start again on the same port (an outage); killed when dropped.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one; panics when `redis-server` cannot be run (scripts/test installs it).
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    /// Starts the server (again) on the same port and waits until it accepts.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Kills the server (its data is gone).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
