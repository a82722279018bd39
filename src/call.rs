//! The state of one call, shared by the View's [`Context`](crate::Context) on a worker and the
//! dispatch on the I/O thread: what the call is, whether its caller has gone or its server is
//! stopping, the response metadata on its way out, and what a streaming View's worker hands
//! to the I/O thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use grpcio::{Deadline, Metadata, MetadataBuilder};

use crate::metrics::CallMetrics;
use crate::sync::{lock, wait_timeout};
use crate::trace::{CallTrace, Side, TRACEPARENT};
use crate::wire;

/// What the server copies out of grpcio's call context before handing the call to a worker.
pub(crate) struct CallInfo {
    pub(crate) method: String,
    pub(crate) peer: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) deadline: Deadline,
    /// When the caller's deadline passes, if it set one and the engine can tell.
    pub(crate) deadline_at: Option<Instant>,
    pub(crate) cancelled: Arc<Cancellation>,
    /// The server's graceful stop, which the View may watch to end a long call itself.
    pub(crate) stopping: Arc<Stopping>,
    pub(crate) metrics: CallMetrics,
}

impl CallInfo {
    /// Copies the call out of grpcio's context; `metrics` starts its counters.
    pub(crate) fn from_rpc(
        ctx: &grpcio::RpcContext<'_>,
        stopping: &Arc<Stopping>,
        metrics: impl FnOnce(&str) -> CallMetrics,
    ) -> Arc<CallInfo> {
        let headers = wire::to_pairs(ctx.request_headers());
        let method = String::from_utf8_lossy(ctx.method()).into_owned();
        let deadline = ctx.deadline();
        Arc::new(CallInfo {
            metrics: metrics(&method),
            method,
            peer: ctx.peer(),
            headers,
            deadline,
            deadline_at: deadline_at(deadline),
            cancelled: Arc::new(Cancellation::default()),
            stopping: stopping.clone(),
        })
    }

    /// Blocks up to `timeout` or until the call is cancelled or the server begins to stop;
    /// `true` if one of them happened.
    pub(crate) fn wait_stopping(&self, timeout: Duration) -> bool {
        self.stopping.waiters_push(&self.cancelled);
        let until = Instant::now() + timeout;
        let mut guard = lock(&self.cancelled.lock);
        let ended = loop {
            if self.cancelled.is_set() || self.stopping.is_set() {
                break true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            guard = wait_timeout(&self.cancelled.wake, guard, left);
        };
        drop(guard);
        self.stopping.waiters_remove(&self.cancelled);
        ended
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.is_set()
    }
}

/// The trace of a call grpcio hands over: a server span, the child of the caller's.
pub(crate) fn server_trace(ctx: &grpcio::RpcContext<'_>, method: &str) -> CallTrace {
    let traceparent = ctx.request_headers().iter().find(|(key, _)| *key == TRACEPARENT);
    CallTrace::start(Side::Server, method, traceparent.and_then(|(_, value)| std::str::from_utf8(value).ok()))
}

/// The instant a call's deadline passes (grpcio tells the time left with a3grpc's patch).
fn deadline_at(deadline: Deadline) -> Option<Instant> {
    deadline.remaining().and_then(|left| Instant::now().checked_add(left))
}

/// The "caller has gone" signal, read by the View's worker and set by the I/O thread, which
/// watches every call; the flag makes the check free and the condvar lets a waiting View wake
/// at once.
#[derive(Default)]
pub(crate) struct Cancellation {
    flag: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Cancellation {
    pub(crate) fn set(&self) {
        self.flag.store(true, Ordering::Release);
        let _guard = lock(&self.lock);
        self.wake.notify_all();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Blocks up to `timeout` or until the call ends; `true` if it ended.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut guard = lock(&self.lock);
        while !self.is_set() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = wait_timeout(&self.wake, guard, left);
        }
        true
    }
}

/// A server's graceful stop having begun, set once by the server and read by its Views. A
/// View waiting for it waits on its own call's condvar ([`CallInfo::wait_stopping`]), listed
/// here while it waits, so that the stop wakes exactly the Views that wait for it.
#[derive(Default)]
pub(crate) struct Stopping {
    flag: AtomicBool,
    waiters: Mutex<Vec<Arc<Cancellation>>>,
}

impl Stopping {
    /// The stop has begun: every View waiting for it wakes.
    pub(crate) fn begin(&self) {
        self.flag.store(true, Ordering::Release);
        for call in lock(&self.waiters).iter() {
            // Taken so that a View between its check of the flag and its wait cannot miss this.
            let _guard = lock(&call.lock);
            call.wake.notify_all();
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn waiters_push(&self, call: &Arc<Cancellation>) {
        lock(&self.waiters).push(call.clone());
    }

    fn waiters_remove(&self, call: &Arc<Cancellation>) {
        let mut waiters = lock(&self.waiters);
        if let Some(at) = waiters.iter().position(|c| Arc::ptr_eq(c, call)) {
            waiters.swap_remove(at);
        }
    }
}

/// Response metadata a View sets, until it goes out with the first message.
#[derive(Default)]
pub(crate) struct HeaderSlot {
    pub(crate) builder: Option<MetadataBuilder>,
    pub(crate) sent: bool,
}

impl HeaderSlot {
    /// Takes the metadata to send with the first message; later `set_header` calls fail.
    pub(crate) fn take_for_sending(&mut self) -> Option<Metadata> {
        self.sent = true;
        self.builder.take().map(MetadataBuilder::build)
    }
}

/// What a streaming View's worker hands to the I/O thread, in order, before its call ends.
pub(crate) enum Out<T> {
    Headers(Metadata),
    Message(T),
}
