//! Actionhero's sample actions on a [`ServerBuilder`]. The dispatch and every answer
//! are the core's ([`actionhero_ws::samples`]); this module only carries out the one
//! effect an action may wait for: the sleep, the room creation, the process figures.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use actionhero_ws::samples::{self, SampleDone, SampleEffect, SampleRun, Samples, StatusFigures};
use actionhero_ws::server::ActionOutcome;

use crate::server::{ActionContext, ServerBuilder};

pub use actionhero_ws::samples::{STATUS_DESCRIPTION, STATUS_NAME, STATUS_VERSION};

/// Registers `randomNumber`, `status`, `sleepTest`, `cacheTest`, `validationTest` and
/// `createChatRoom` with Actionhero's exact inputs, errors and response shapes. Rooms
/// are the caller's: a stock interop server has
/// [`STARTING_ROOMS`](actionhero_ws::samples::STARTING_ROOMS).
pub fn register(builder: ServerBuilder) -> ServerBuilder {
    let seed = crate::os_seed().unwrap_or_else(|_| {
        // Not for secrets: the clock keeps runs apart.
        let mut seed = [7u8; 32];
        seed[..8].copy_from_slice(&crate::epoch_ms().to_le_bytes());
        seed
    });
    let state = Arc::new(SampleState {
        samples: Mutex::new(Samples::new(seed)),
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
    let step = match state.samples.lock() {
        Ok(mut samples) => samples.run(&ctx.action, &ctx.params, crate::epoch_ms()),
        Err(e) => e
            .into_inner()
            .run(&ctx.action, &ctx.params, crate::epoch_ms()),
    };
    let wait = match step {
        SampleRun::Done(outcome) => return outcome,
        SampleRun::Wait(wait) => wait,
    };
    let done = match wait.effect() {
        SampleEffect::Sleep(duration) => {
            tokio::time::sleep(*duration).await;
            SampleDone::Slept
        }
        SampleEffect::CreateRoom(room) => {
            SampleDone::RoomCreated(ctx.server.create_room(room.as_str()).await.is_ok())
        }
        SampleEffect::Status => SampleDone::Status(StatusFigures {
            id: state.id.clone(),
            uptime_ms: u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            consumed_memory_mb: samples::resident_mb(
                &std::fs::read_to_string("/proc/self/statm").unwrap_or_default(),
            ),
        }),
    };
    wait.finish(done, crate::epoch_ms())
}
