//! Actionhero's sample actions on a [`ServerBuilder`], with the pure logic from
//! [`actionhero_ws::samples`] and the IO (sleeping, random numbers, room creation,
//! process figures) done here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actionhero_ws::samples::{self, SampleRun, Samples, StatusInfo};
use actionhero_ws::server::{ActionOutcome, RoomError};

use crate::server::{ActionContext, ServerBuilder, ServerError};

pub use actionhero_ws::samples::{STATUS_DESCRIPTION, STATUS_NAME, STATUS_VERSION};

/// Registers `randomNumber`, `status`, `sleepTest`, `cacheTest`, `validationTest` and
/// `createChatRoom` with Actionhero's exact inputs, errors and response shapes.
pub fn register(builder: ServerBuilder) -> ServerBuilder {
    let state = Arc::new(SampleState {
        samples: Mutex::new(Samples::new()),
        started: Instant::now(),
        id: format!("ahws-{}", std::process::id()),
    });
    samples::specs().into_iter().fold(builder, |b, spec| {
        let state = state.clone();
        b.action(spec, move |ctx| run(state.clone(), ctx))
    })
}

struct SampleState {
    samples: Mutex<Samples>,
    started: Instant,
    id: String,
}

async fn run(state: Arc<SampleState>, ctx: ActionContext) -> ActionOutcome {
    let step = {
        let Ok(mut samples) = state.samples.lock() else {
            return ActionOutcome::panicked();
        };
        samples.run(&ctx.action, &ctx.params, random_unit(), epoch_ms())
    };
    match step {
        None => ActionOutcome::error("unknown action or invalid apiVersion"),
        Some(SampleRun::Done(outcome)) => outcome,
        Some(SampleRun::Sleep {
            duration_ms,
            started_ms,
            duration_param,
        }) => {
            tokio::time::sleep(Duration::from_millis(duration_ms)).await;
            samples::sleep_response(started_ms, epoch_ms(), duration_param)
        }
        Some(SampleRun::CreateRoom { name }) => match ctx.server.create_room(&name).await {
            Ok(()) => samples::create_chat_room_response(&name, true),
            Err(ServerError::Room(RoomError::AlreadyExists)) => {
                samples::create_chat_room_response(&name, false)
            }
            Err(e) => ActionOutcome::error(e.to_string()),
        },
        Some(SampleRun::Status) => samples::status_response(&StatusInfo {
            id: state.id.clone(),
            name: STATUS_NAME.into(),
            description: STATUS_DESCRIPTION.into(),
            version: STATUS_VERSION.into(),
            uptime_ms: u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            consumed_memory_mb: resident_mb(),
        }),
    }
}

use crate::epoch_ms;

/// A uniform float in `[0, 1)` from the OS random source (53 random bits).
fn random_unit() -> f64 {
    // Like V8's `Math.random` (xorshift128+): not for secrets. One generator per thread,
    // seeded from the OS once, so an action does not cost a `getrandom` syscall.
    thread_local! {
        static STATE: std::cell::Cell<(u64, u64)> = std::cell::Cell::new(seed_pair());
    }
    STATE.with(|state| {
        let (mut s1, s0) = state.get();
        let result = s0.wrapping_add(s1);
        s1 ^= s1 << 23;
        s1 ^= s1 >> 17;
        s1 ^= s0;
        s1 ^= s0 >> 26;
        state.set((s0, s1));
        (result >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Two non-zero words from the OS random source (a fixed pair if it fails).
fn seed_pair() -> (u64, u64) {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    let mut a = u64::from_le_bytes(b[..8].try_into().unwrap_or([1; 8]));
    let mut c = u64::from_le_bytes(b[8..].try_into().unwrap_or([2; 8]));
    if a == 0 && c == 0 {
        (a, c) = (0x9E37_79B9_7F4A_7C15, 0xBF58_476D_1CE4_E5B9);
    }
    a |= 1;
    c |= 2;
    (a, c)
}

/// Resident memory of this process in MB (Linux `/proc/self/statm`; 0 elsewhere).
fn resident_mb() -> f64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0.0;
    };
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}
