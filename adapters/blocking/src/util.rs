//! Small helpers shared by the server and the client: OS entropy, wall-clock time, lock
//! poisoning, IO error kinds.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A fresh 32-byte seed for a core machine, drawn from the OS (docs/architecture.md#determinism).
pub(crate) fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        // No OS RNG: std's RandomState keys are still drawn per process from the OS or
        // the address space, which is good enough for ids that only need to be unique.
        for chunk in seed.chunks_mut(8) {
            let mut h = RandomState::new().build_hasher();
            h.write_usize(chunk.as_ptr() as usize);
            let bytes = h.finish().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    seed
}

/// Locks a mutex, ignoring poisoning (a panicked holder leaves plain data behind).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True for the errors a socket with a read or write timeout returns when nothing
/// happened in time (`WouldBlock` on Unix, `TimedOut` on Windows) or a signal arrived.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A driver's wait (docs/architecture.md#blocking-adapter): the next message, or
/// `Timeout` once `deadline` (the core's `poll_timeout`) passes; without a deadline it
/// waits for a message.
pub(crate) fn recv_until<T>(
    inbox: &Receiver<T>,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    match deadline {
        Some(d) => inbox.recv_timeout(d.saturating_duration_since(Instant::now())),
        None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

/// Wall-clock epoch milliseconds now.
pub(crate) fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// 16 bytes from the OS random source (a new browser fingerprint is made of them).
pub(crate) fn random_bytes16() -> [u8; 16] {
    let mut b = [0u8; 16];
    b.copy_from_slice(&os_seed()[..16]);
    b
}
