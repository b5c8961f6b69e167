//! Actionhero's sample actions (`randomNumber`, `status`, `sleepTest`, `cacheTest`,
//! `validationTest`, `createChatRoom`) and starting rooms (`defaultRoom`, `otherRoom`),
//! wired as blocking handlers, so a blocking server can stand in for a stock Actionhero
//! server in interop tests and demos.
//!
//! The logic is the core's ([`actionhero_ws::samples`]); this module supplies what the
//! core leaves to the caller: randomness, wall-clock time, the sleep, room creation and
//! process figures.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actionhero_ws::samples::{self, SampleRun, Samples, StatusInfo};
use actionhero_ws::server::ActionOutcome;
use actionhero_ws::RoomName;

use crate::server::{ActionContext, ServerBuilder};
use crate::util::{lock, os_seed};

/// The rooms a stock interop Actionhero server starts with.
pub use actionhero_ws::samples::STARTING_ROOMS;
use actionhero_ws::samples::{STATUS_DESCRIPTION, STATUS_NAME, STATUS_VERSION};

/// Registers `randomNumber`, `status`, `sleepTest`, `cacheTest`, `validationTest` and
/// `createChatRoom` with Actionhero's exact inputs, errors and response shapes. Rooms
/// are the caller's: a stock interop server has [`STARTING_ROOMS`].
pub fn register(builder: ServerBuilder) -> ServerBuilder {
    let state = Arc::new(State {
        samples: Mutex::new(Samples::new()),
        rng: Mutex::new(u64::from_le_bytes(
            os_seed()[..8].try_into().unwrap_or([7; 8]),
        )),
        started: Instant::now(),
    });
    samples::specs().into_iter().fold(builder, |b, spec| {
        let state = state.clone();
        b.action(spec, move |ctx| state.run(&ctx))
    })
}

struct State {
    samples: Mutex<Samples>,
    rng: Mutex<u64>,
    started: Instant,
}

impl State {
    fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        let random = self.random();
        let run = lock(&self.samples).run(&ctx.action, &ctx.params, random, epoch_ms());
        match run {
            Some(SampleRun::Done(outcome)) => outcome,
            Some(SampleRun::Sleep {
                duration_ms,
                started_ms,
                duration_param,
            }) => {
                thread::sleep(Duration::from_millis(duration_ms));
                samples::sleep_response(started_ms, epoch_ms(), duration_param)
            }
            Some(SampleRun::CreateRoom { name }) => {
                let created = RoomName::new(&name)
                    .ok()
                    .is_some_and(|room| ctx.server.create_room(room).is_ok());
                samples::create_chat_room_response(&name, created)
            }
            Some(SampleRun::Status) => samples::status_response(&StatusInfo {
                id: format!("actionhero-ws-blocking-{}", std::process::id()),
                name: STATUS_NAME.into(),
                description: STATUS_DESCRIPTION.into(),
                version: STATUS_VERSION.into(),
                uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                consumed_memory_mb: resident_mb(),
            }),
            None => ActionOutcome::error(format!("{} is not a sample action", ctx.action)),
        }
    }

    /// A float in `[0, 1)` (xorshift64*; `randomNumber` needs no better).
    fn random(&self) -> f64 {
        let mut s = lock(&self.rng);
        let mut x = (*s).max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Resident memory in MB (Linux `/proc/self/statm`; elsewhere a nominal 1 MB).
fn resident_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(1.0, |pages| (pages * 4096) as f64 / (1024.0 * 1024.0))
}
