//! The worker pool: a fixed number of threads running actions and file reads off the
//! driver thread, so a slow action does not stall other connections.
//!
//! The job queue is an unbounded channel, but it cannot grow without limit: the core
//! hands out at most `simultaneous_actions` action requests and
//! `max_pending_files_per_connection` file requests per connection, and at most
//! `max_connections` connections.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use actionhero_ws::server::{ActionOutcome, RequestId};

use super::driver::DriverMsg;
use super::{files, ActionContext, ActionHandler, Shared};
use crate::util::lock;

/// One unit of work for a worker.
pub(crate) enum Job {
    Action {
        handler: ActionHandler,
        ctx: ActionContext,
        request: RequestId,
    },
    File {
        dir: Arc<PathBuf>,
        file: String,
        request: RequestId,
    },
}

/// The pool's sending side; dropping it lets the workers finish their job and exit.
pub(crate) struct Pool {
    jobs: Sender<Job>,
}

impl Pool {
    pub(crate) fn spawn(shared: &Arc<Shared>) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..shared.config.workers {
            let rx = rx.clone();
            let to_driver = shared.to_driver.clone();
            let max_file_len = shared.config.max_file_len;
            thread::Builder::new()
                .name("ahws-worker".into())
                .spawn(move || work(&rx, &to_driver, max_file_len))?;
        }
        Ok(Self { jobs })
    }

    /// Queues a job; gives it back if no worker is left.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Box<Job>> {
        self.jobs.send(job).map_err(|e| Box::new(e.0))
    }
}

fn work(rx: &Mutex<Receiver<Job>>, to_driver: &mpsc::SyncSender<DriverMsg>, max_file_len: u64) {
    loop {
        let job = lock(rx).recv();
        let Ok(job) = job else { return };
        let done = match job {
            Job::Action {
                handler,
                ctx,
                request,
            } => {
                // A panicking action must not take the worker (or the response) with it.
                let outcome = catch_unwind(AssertUnwindSafe(|| handler(ctx)))
                    .unwrap_or_else(|_| ActionOutcome::panicked());
                DriverMsg::ActionDone { request, outcome }
            }
            Job::File { dir, file, request } => DriverMsg::FileDone {
                request,
                outcome: files::read(&dir, &file, max_file_len),
            },
        };
        if to_driver.send(done).is_err() {
            return;
        }
    }
}
