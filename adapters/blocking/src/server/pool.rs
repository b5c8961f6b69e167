//! The worker pool: a fixed number of threads running jobs (actions, file reads) off the
//! driver thread, so a slow action does not stall other connections.
//!
//! The pool knows nothing of the driver: a job is a function whose result the worker
//! sends on the channel the pool was given. The job queue is an unbounded channel, but
//! it cannot grow without limit: the core hands out at most `simultaneous_actions`
//! action requests and `max_pending_files_per_connection` file requests per connection,
//! and at most `max_connections` connections.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::util::lock;

/// One unit of work: runs on a worker, its result goes to the pool's output channel.
pub(crate) type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// The pool's sending side; dropping it lets the workers finish their job and exit.
pub(crate) struct Pool<T> {
    jobs: Sender<Job<T>>,
}

impl<T: Send + 'static> Pool<T> {
    /// Starts `workers` threads that send each job's result to `done`.
    pub(crate) fn spawn(workers: usize, done: &SyncSender<T>) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers {
            let rx = rx.clone();
            let done = done.clone();
            thread::Builder::new()
                .name("ahws-worker".into())
                .spawn(move || work(&rx, &done))?;
        }
        Ok(Self { jobs })
    }

    /// Queues a job; gives it back if no worker is left.
    pub(crate) fn submit(&self, job: Job<T>) -> Result<(), Job<T>> {
        self.jobs.send(job).map_err(|e| e.0)
    }
}

fn work<T>(rx: &Mutex<Receiver<Job<T>>>, done: &SyncSender<T>) {
    loop {
        let job = lock(rx).recv();
        let Ok(job) = job else { return };
        if done.send(job()).is_err() {
            return;
        }
    }
}
