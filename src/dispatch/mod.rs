//! Where a call flows: a unary call from the moment grpcio hands it over on an I/O thread to
//! its end, top to bottom in this file ([`serve_unary`], [`run_view`], [`run_guarded`]); an
//! inline one in [`serve_unary_inline`]; streams in `stream.rs`. Each call has one owner,
//! [`ServerCall`] (`end.rs`), which ends it; `sink.rs` holds grpcio's sinks, `pool.rs` the
//! workers. ARCHITECTURE.md ("A call, top to bottom") tells the path step by step.

mod end;
mod pool;
mod sink;
mod stream;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::{FutureExt, StreamExt};
use grpcio::{ClientStreamingSink, RequestStream, RpcContext, UnarySink};

use end::{Ended, Ending, ServerCall};
pub(crate) use pool::{Pools, Submitter};
use sink::{EndSink, Handoff};
pub(crate) use stream::{serve_bidi, serve_client_streaming, serve_server_streaming};

use crate::call::{server_trace, CallInfo, Stopping};
use crate::error::{A3Error, Code, StatusCodes};
use crate::interceptor::{Interceptor, Outcome};
use crate::metrics::{Kind, Metrics};
use crate::view::{Context, UnaryView};
use crate::wire;

/// What every call handler shares: the pools, the admission limit, the error codes, the
/// interceptors and the metrics.
pub(crate) struct Runtime {
    // Unary Views' workers.
    pool: Submitter,
    // Streaming Views' workers: a stream holds one for its whole life.
    streams: Submitter,
    limit: Option<Limit>,
    codes: StatusCodes,
    interceptors: Vec<Arc<dyn Interceptor>>,
    metrics: Arc<Metrics>,
    // How long a streaming View waits for a request before its call ends (`conf`).
    stream_idle: Option<Duration>,
    // Set when a stop's grace period is over and the calls still running are cancelled.
    grace_over: AtomicBool,
    // Set when a graceful stop begins, for Views that end long calls themselves.
    stopping: Arc<Stopping>,
}

impl Runtime {
    pub(crate) fn new(
        (pool, streams): (Submitter, Submitter),
        maximum_concurrent_rpcs: Option<usize>,
        codes: StatusCodes,
        interceptors: Vec<Arc<dyn Interceptor>>,
        metrics: Arc<Metrics>,
        stream_idle: Option<Duration>,
    ) -> Runtime {
        Runtime {
            pool,
            streams,
            limit: maximum_concurrent_rpcs.map(Limit::new),
            codes,
            interceptors,
            metrics,
            stream_idle,
            grace_over: AtomicBool::new(false),
            stopping: Arc::default(),
        }
    }

    /// A graceful stop has begun: Views see `Context::is_stopping`, and those waiting for it wake.
    pub(crate) fn begin_stopping(&self) {
        self.stopping.begin();
    }

    /// The stop's grace period is over: the calls still running are cancelled, and their
    /// clients get UNAVAILABLE.
    pub(crate) fn end_grace(&self) {
        self.grace_over.store(true, Ordering::Release);
    }

    /// What the server copies out of an admitted call, its metrics started.
    fn call_info(&self, ctx: &RpcContext<'_>, kind: Kind) -> Arc<CallInfo> {
        CallInfo::from_rpc(ctx, &self.stopping, |method| self.metrics.start(method, kind, server_trace(ctx, method)))
    }

    /// Admits a call under `maximum_concurrent_rpcs`, or says no.
    fn admit(&self) -> Option<Permit> {
        let Some(limit) = &self.limit else { return Some(Permit(None)) };
        let admitted = limit
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit.max).then_some(n + 1))
            .is_ok();
        admitted.then(|| Permit(Some(limit.in_flight.clone())))
    }
}

/// The `maximum_concurrent_rpcs` gate: a counter checked when a call arrives.
struct Limit {
    max: usize,
    in_flight: Arc<AtomicUsize>,
}

/// One admitted call; leaving the limit happens when it drops.
struct Permit(Option<Arc<AtomicUsize>>);

impl Limit {
    fn new(max: usize) -> Limit {
        Limit { max, in_flight: Arc::new(AtomicUsize::new(0)) }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(counter) = &self.0 {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A unary call arrives here, on a grpcio I/O thread. Nothing here may block.
///
/// It comes through grpcio's client-streaming handler (on the wire, a unary call is a client
/// stream of one message): that handler's sink sends the reply, its metadata and the status
/// in one batch, where the streaming sinks need two, and its request stream, unlike grpcio's
/// unary handler, can tell a worker that the call has ended.
pub(crate) fn serve_unary<V: UnaryView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    mut requests: RequestStream<V::Request>,
    sink: ClientStreamingSink<V::Response>,
) {
    let mut call = ServerCall::new(rt, rt.call_info(&ctx, Kind::Unary), sink);
    let (rt, view) = (rt.clone(), view.clone());
    ctx.spawn(async move {
        let request = match requests.next().await {
            Some(Ok(request)) => request,
            unreadable => {
                let status = match unreadable {
                    Some(Err(err @ grpcio::Error::Codec(_))) => unreadable_request(&err),
                    // The stream broke: the client reset the call before its request arrived.
                    Some(Err(_)) => wire::status(Code::CANCELLED, "the call ended before its request arrived"),
                    _ => wire::status(Code::INTERNAL, "the call carried no request"),
                };
                return call.finish(Ending::Unreadable(status)).await;
            }
        };
        // Admitted only now: a call still waiting for its request holds no worker, so a
        // client that never finishes sending one cannot take the slots of those that do.
        if !call.admit() {
            return call.finish(Ending::OverTheLimit).await;
        }
        call.info().metrics.received();
        // The worker sends the reply itself as soon as the View returns: the status does not
        // wait for this I/O thread to be scheduled (measured: +8% calls/s at c=1, +12% at c=16,
        // p99 -8%). It hands this task the send, so the request stream, which grpcio cancels
        // the call for if dropped before its end, is kept until the end is out; meanwhile it
        // answers "has the call ended?" for the View: a queued one that is cancelled is
        // dropped unrun, a running one sees `is_cancelled`.
        let info = call.info().clone();
        let (sent_tx, sent) = oneshot::channel();
        let call = call.wrap_sink(|sink| Handoff { sink, sent: sent_tx });
        let job = {
            let rt = rt.clone();
            Box::new(move || drop(run_view(&rt, &*view, call, request)))
        };
        // A pool that has stopped drops the job, and the call's owner answers UNAVAILABLE.
        let _ = rt.pool.submit(job);
        let (sent, requests) = until_sent(requests, &info, sent).await;
        if let Ok(sending) = sent {
            sending.await;
        }
        drop(requests);
    });
}

/// Waits, on the I/O thread, for the worker to send a pool unary call's reply, telling the
/// View at once when the call ends first: cancelled or past its deadline. Gives back the
/// request stream, which must live until the status is out.
///
/// The worker's hand-back is looked at only once the call has ended, which its status does:
/// waiting on it before would have the worker wake this task from its own thread, one more
/// trip through the completion queue per call (measured: +4% calls/s at one call at a time,
/// -5% server CPU per call).
async fn until_sent<T, R>(
    requests: RequestStream<T>,
    call: &CallInfo,
    mut sent: oneshot::Receiver<R>,
) -> (Result<R, oneshot::Canceled>, RequestStream<T>) {
    let mut ended = false;
    let reply = futures::future::poll_fn(|cx| {
        if !ended {
            if requests.poll_call_ended(cx).is_pending() {
                return Poll::Pending;
            }
            ended = true;
            if let Poll::Ready(reply) = sent.poll_unpin(cx) {
                return Poll::Ready(reply);
            }
            call.cancelled.set();
        }
        sent.poll_unpin(cx)
    })
    .await;
    (reply, requests)
}

/// An inline unary call (a View its author marked as never blocking) runs here, start to
/// finish on the I/O thread: the same admission, interceptors, error mapping and panic guard
/// as on the pool, without the two hand-offs.
pub(crate) fn serve_unary_inline<V: UnaryView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    request: V::Request,
    sink: UnarySink<V::Response>,
) {
    let mut call = ServerCall::new(rt, rt.call_info(&ctx, Kind::Unary), sink);
    if !call.admit() {
        return ctx.spawn(call.finish(Ending::OverTheLimit));
    }
    call.info().metrics.received();
    ctx.spawn(run_view(rt, &**view, call, request));
}

/// The status of a call whose request could not be read, whatever its kind: the bytes are
/// not the message the method takes.
fn unreadable_request(err: &grpcio::Error) -> grpcio::RpcStatus {
    wire::status(Code::INTERNAL, format!("could not read the request: {err}"))
}

/// Runs a unary View, on a worker (or inline, on the I/O thread), and ends its call.
fn run_view<V: UnaryView, S: EndSink<V::Response>>(
    rt: &Runtime,
    view: &V,
    mut call: ServerCall<V::Response, S>,
    request: V::Request,
) -> Ended<S::Sent> {
    let info = call.info().clone();
    if let Some(died) = dead_call(&info) {
        return call.finish(died);
    }
    let mut ctx = Context::new(&info);
    let ending = run_guarded(rt, &info, &mut ctx, |ctx| view.handle(request, ctx));
    call.set_metadata(ctx.take_response_headers(), ctx.take_trailers());
    call.finish(ending)
}

/// A call that waited in the queue past its caller's patience is dropped unrun, so an
/// overloaded server does no dead work.
fn dead_call<T>(call: &CallInfo) -> Option<Ending<T>> {
    if call.is_cancelled() {
        Some(Ending::DiedWaiting(Code::CANCELLED, "the client cancelled the call before it ran"))
    } else if call.deadline.exceeded() {
        Some(Ending::DiedWaiting(Code::DEADLINE_EXCEEDED, "the deadline passed before the call ran"))
    } else {
        None
    }
}

/// Runs a View body inside the interceptors and the call's span: the interceptors' `before`
/// in order, the View, their `after` in reverse, each guarded against panics; gives back how
/// the call ended, settled once for all of them.
fn run_guarded<T>(
    rt: &Runtime,
    call: &CallInfo,
    ctx: &mut Context,
    body: impl FnOnce(&mut Context) -> Result<T, A3Error>,
) -> Ending<T> {
    // The View's own spans and events are the call's children.
    let span = call.metrics.trace().span();
    let _in_span = span.enter();
    let started = Instant::now();
    let mut entered = 0;
    let turned_away = rt.interceptors.iter().find_map(|interceptor| match guarded(call, || interceptor.before(ctx)) {
        Ok(()) => {
            entered += 1;
            None
        }
        Err(err) => Some(err),
    });
    let outcome = match turned_away {
        Some(err) => Err(err),
        None => guarded(call, || body(ctx)),
    };
    // A call that ended while the View ran ended for a reason of its own, whatever the View
    // returned.
    let ending = match (ended_early(rt, call), outcome) {
        (Some((code, why)), outcome) => {
            // Nobody receives the View's error: the caller has its answer. Not worth an
            // error in the log.
            if let Err(err) = &outcome {
                log::debug!("{}: the View ended with {err} after the call ended ({why})", call.method);
            }
            Ending::EndedWhileRunning(code, why)
        }
        (None, Ok(value)) => Ending::Replied(value),
        (None, Err(err)) => Ending::Failed(err),
    };
    let (code, error) = ending.code(&rt.codes);
    let report = Outcome { code, error, elapsed: started.elapsed() };
    for interceptor in rt.interceptors[..entered].iter().rev() {
        if panic::catch_unwind(AssertUnwindSafe(|| interceptor.after(ctx, &report))).is_err() {
            log::error!("{}: an interceptor panicked in after()", call.method);
        }
    }
    ending
}

/// How a call ended while its View ran, if it did, as its client saw it: past its deadline,
/// cut off by the server's stop (UNAVAILABLE, as the core tells the client), or cancelled.
fn ended_early(rt: &Runtime, call: &CallInfo) -> Option<(Code, &'static str)> {
    if call.deadline.exceeded() {
        Some((Code::DEADLINE_EXCEEDED, "the deadline passed while the call ran"))
    } else if !call.is_cancelled() {
        None
    } else if rt.grace_over.load(Ordering::Acquire) {
        Some((Code::UNAVAILABLE, "the server stopped while the call ran"))
    } else {
        Some((Code::CANCELLED, "the client cancelled the call while it ran"))
    }
}

/// Runs user code, turning a panic into `ServerUnknownError` so the worker lives on.
fn guarded<T>(call: &CallInfo, f: impl FnOnce() -> Result<T, A3Error>) -> Result<T, A3Error> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic_message(&panic);
        log::error!("{}: the View panicked: {what}", call.method);
        Err(A3Error::server_unknown(format!("the View panicked: {what}")))
    })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic with a non-text payload)")
}
