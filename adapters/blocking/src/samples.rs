//! Actionhero's sample actions (`randomNumber`, `status`, `sleepTest`, `cacheTest`,
//! `validationTest`, `createChatRoom`) on a [`ServerBuilder`], so a blocking server can
//! stand in for a stock Actionhero server in interop tests and demos.
//!
//! The dispatch and every answer are the core's ([`actionhero_ws::samples`]); this
//! module only carries out the one effect an action may wait for: the sleep, the room
//! creation, the process figures.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use actionhero_ws::samples::{self, SampleDone, SampleEffect, SampleRun, Samples, StatusFigures};
use actionhero_ws::server::ActionOutcome;

use crate::server::{ActionContext, ServerBuilder};
use crate::util::{epoch_ms, lock, os_seed};

/// The rooms a stock interop Actionhero server starts with.
pub use actionhero_ws::samples::STARTING_ROOMS;

/// Registers `randomNumber`, `status`, `sleepTest`, `cacheTest`, `validationTest` and
/// `createChatRoom` with Actionhero's exact inputs, errors and response shapes. Rooms
/// are the caller's: a stock interop server has [`STARTING_ROOMS`].
pub fn register(builder: ServerBuilder) -> ServerBuilder {
    let state = Arc::new(State {
        samples: Mutex::new(Samples::new(os_seed())),
        started: Instant::now(),
    });
    samples::specs().into_iter().fold(builder, |b, spec| {
        let state = state.clone();
        b.action(spec, move |ctx| state.run(&ctx))
    })
}

struct State {
    samples: Mutex<Samples>,
    started: Instant,
}

impl State {
    fn run(&self, ctx: &ActionContext) -> ActionOutcome {
        let wait = match lock(&self.samples).run(&ctx.action, &ctx.params, epoch_ms()) {
            SampleRun::Done(outcome) => return outcome,
            SampleRun::Wait(wait) => wait,
        };
        let done = match wait.effect() {
            SampleEffect::Sleep(duration) => {
                thread::sleep(*duration);
                SampleDone::Slept
            }
            SampleEffect::CreateRoom(room) => {
                SampleDone::RoomCreated(ctx.server.create_room(room.as_str()).is_ok())
            }
            SampleEffect::Status => SampleDone::Status(StatusFigures {
                id: format!("actionhero-ws-blocking-{}", std::process::id()),
                uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                consumed_memory_mb: samples::resident_mb(
                    &std::fs::read_to_string("/proc/self/statm").unwrap_or_default(),
                ),
            }),
        };
        wait.finish(done, epoch_ms())
    }
}
