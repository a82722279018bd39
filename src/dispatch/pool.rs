//! A worker pool: a fixed set of threads that run Views. A server has two: `max_workers`
//! threads for unary Views and `max_stream_workers` for streaming ones, since a stream holds
//! its thread for its whole life and must not leave unary calls waiting behind it.
//!
//! Views block, so they must never run on grpcio's completion-queue threads, which do all
//! network I/O: one slow View there would stall every call on that queue. It counts the
//! workers busy, for the metrics (the calls waiting are its queue's length).

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::metrics::PoolLoad;

pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

enum Task {
    Run(Job),
    Stop,
}

/// Submits jobs to the pool; cheap to clone into every handler.
#[derive(Clone)]
pub(crate) struct Submitter(Sender<Task>);

impl Submitter {
    /// Queues `job`; gives it back if the pool has stopped.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        self.0.send(Task::Run(job)).map_err(|e| match e.0 {
            Task::Run(job) => job,
            Task::Stop => unreachable!("only Run is submitted"),
        })
    }
}

/// A fixed set of threads fed by one queue. The queue is unbounded on purpose: admission is
/// decided earlier, by `maximum_concurrent_rpcs`, and a call that waits too long in the queue
/// is dropped by its deadline check when a worker picks it up.
struct Pool {
    name: &'static str,
    queue: Sender<Task>,
    workers: Vec<JoinHandle<()>>,
    done: Receiver<()>,
    busy: Arc<AtomicUsize>,
}

impl Pool {
    /// Starts `size` threads named `a3grpc-{threads}-0`, `a3grpc-{threads}-1`, ...; `name` is
    /// the pool's in the metrics.
    fn new(size: usize, name: &'static str, threads: &str) -> std::io::Result<Pool> {
        let busy = Arc::new(AtomicUsize::new(0));
        let (queue, jobs) = unbounded::<Task>();
        let (done_tx, done) = unbounded::<()>();
        let mut workers = Vec::with_capacity(size);
        for i in 0..size {
            let jobs = jobs.clone();
            let done_tx = done_tx.clone();
            let busy = busy.clone();
            let handle = thread::Builder::new().name(format!("a3grpc-{threads}-{i}")).spawn(move || {
                while let Ok(Task::Run(job)) = jobs.recv() {
                    busy.fetch_add(1, Ordering::Relaxed);
                    // A job already turns a View's panic into an error reply; this only keeps
                    // the thread alive if something else in the job panics.
                    let _ = panic::catch_unwind(AssertUnwindSafe(job));
                    busy.fetch_sub(1, Ordering::Relaxed);
                }
                let _ = done_tx.send(());
            })?;
            workers.push(handle);
        }
        Ok(Pool { name, queue, workers, done, busy })
    }

    /// How many calls the pool is running or holds queued.
    fn in_flight(&self) -> usize {
        self.busy.load(Ordering::Relaxed) + self.queue.len()
    }

    /// The pool's load, for the metrics.
    fn load(&self) -> PoolLoad {
        let queue = self.queue.clone();
        PoolLoad {
            name: self.name,
            workers: self.workers.len(),
            busy: self.busy.clone(),
            queued: Arc::new(move || queue.len()),
        }
    }

    /// Tells the workers to stop once they have run what is queued.
    fn stop(&self) {
        for _ in 0..self.workers.len() {
            let _ = self.queue.send(Task::Stop);
        }
    }

    /// Waits for the stopped workers until `deadline`; gives the number still busy then.
    fn join(self, deadline: Instant) -> usize {
        let Pool { workers, done, .. } = self;
        let mut left = workers.len();
        while left > 0 {
            match done.recv_deadline(deadline) {
                Ok(()) => left -= 1,
                Err(_) => break,
            }
        }
        if left == 0 {
            for w in workers {
                let _ = w.join();
            }
        }
        left
    }
}

/// A server's two pools: one for unary Views (`max_workers`), one for streaming Views
/// (`max_stream_workers`).
pub(crate) struct Pools {
    unary: Pool,
    stream: Pool,
}

impl Pools {
    pub(crate) fn new(unary: usize, stream: usize) -> std::io::Result<Pools> {
        Ok(Pools { unary: Pool::new(unary, "unary", "worker")?, stream: Pool::new(stream, "stream", "stream")? })
    }

    /// Where unary and streaming calls are queued.
    pub(crate) fn submitters(&self) -> (Submitter, Submitter) {
        (Submitter(self.unary.queue.clone()), Submitter(self.stream.queue.clone()))
    }

    /// Both pools' load, for the metrics.
    pub(crate) fn loads(&self) -> Vec<PoolLoad> {
        vec![self.unary.load(), self.stream.load()]
    }

    /// How many calls both pools are running or hold queued, once that is 0 or `wait` has
    /// passed. A worker stays busy for a moment after its View returned, while it starts the
    /// reply: the core's own threads can deliver that reply before the worker is free, so a
    /// count taken the instant a client has its answer may still include its call.
    pub(crate) fn in_flight_within(&self, wait: Duration) -> usize {
        let until = Instant::now() + wait;
        loop {
            let running = self.unary.in_flight() + self.stream.in_flight();
            if running == 0 || Instant::now() >= until {
                return running;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the workers once they have run what is queued, and waits for them up to
    /// `wait`; gives the number still busy then. Those (a View that ignores cancellation) are
    /// left to finish on their own; they hold no server resources.
    pub(crate) fn shutdown(self, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        self.unary.stop();
        self.stream.stop();
        self.unary.join(deadline) + self.stream.join(deadline)
    }
}
