//! This crate's binaries, for the test suites that run them.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{wait_for_port, ChildGuard};

/// The `ahws` binary.
pub const AHWS: &str = env!("CARGO_BIN_EXE_ahws");
/// The `ahws-baseline` binary.
pub const BASELINE: &str = env!("CARGO_BIN_EXE_ahws-baseline");

/// Starts `ahws serve --listen 127.0.0.1:<port>` (plus `args`) and waits until it accepts
/// connections. Its output is dropped.
pub fn serve(port: u16, args: &[&str]) -> ChildGuard {
    let child = Command::new(AHWS)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ahws serve");
    let guard = ChildGuard::new(child, "ahws serve");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    assert!(
        wait_for_port(addr, Duration::from_secs(10)),
        "ahws serve did not listen on {addr}"
    );
    guard
}
