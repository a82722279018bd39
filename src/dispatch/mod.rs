//! Where a call flows, top to bottom, from the moment grpcio hands it over on an I/O thread:
//!
//! 1. [`serve_unary`]: the request read, admission (`maximum_concurrent_rpcs`) and hand-off
//!    to the worker pool (`pool.rs`);
//! 2. [`run_view`], on a worker: drop a call that died in the queue, then [`run_guarded`],
//!    inside the call's span (`trace.rs`, made when the call arrived): [`run_intercepted`]
//!    runs the interceptors' `before`, the View and their `after`, and settles the call's
//!    fate once; [`conclude`] records it and turns the View's error or panic into the status
//!    that ends the call (`wire.rs`);
//! 3. [`Replier`], still on the worker: the admission slot freed, the reply sent; the I/O
//!    thread only keeps the call until its status is out.
//!
//! An inline unary View ([`serve_unary_inline`]) takes step 2 on the I/O thread itself.
//! Streaming calls take the same steps in `stream.rs`, with their messages flowing between
//! the worker and the I/O thread. A [`Servicer`](crate::Servicer) binds each View to one of
//! the `serve_*` functions; the server builds the [`Runtime`] they share.

mod pool;
mod stream;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::{Future, FutureExt, StreamExt};
use grpcio::{
    ClientStreamingSink, ClientStreamingSinkResult, Metadata, RequestStream, RpcContext, RpcStatus, UnarySink,
};

pub(crate) use pool::{Pools, Submitter};
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
    cut_off: AtomicBool,
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
            cut_off: AtomicBool::new(false),
            stopping: Arc::default(),
        }
    }

    /// A graceful stop has begun: Views see `Context::is_stopping`, and those waiting for it wake.
    pub(crate) fn begin_stopping(&self) {
        self.stopping.begin();
    }

    /// Marks the calls still running as cut off by the stop: their clients get UNAVAILABLE.
    pub(crate) fn cut_off(&self) {
        self.cut_off.store(true, Ordering::Release);
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

    /// Tells the interceptors about a call that ends before any of them ran: refused over the
    /// limit, dead in the queue, or with a request that cannot be read.
    fn refused(&self, call: &Arc<CallInfo>, status: &RpcStatus) {
        if self.interceptors.is_empty() {
            return;
        }
        let ctx = Context::new(call);
        let outcome = Outcome { code: wire::code_of(status), error: None, elapsed: Duration::ZERO };
        for interceptor in self.interceptors.iter().rev() {
            if panic::catch_unwind(AssertUnwindSafe(|| interceptor.refused(&ctx, &outcome))).is_err() {
                log::error!("{}: an interceptor panicked in refused()", call.method);
            }
        }
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
    let call = rt.call_info(&ctx, Kind::Unary);
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
                call.metrics.handled(wire::code_of(&status), None);
                rt.refused(&call, &status);
                let _ = sink.fail(status).await;
                return;
            }
        };
        // Admitted only now: a call still waiting for its request holds no worker, so a
        // client that never finishes sending one cannot take the slots of those that do.
        let Some(permit) = rt.admit() else {
            let status = over_the_limit();
            rt.metrics.refused(&call.metrics);
            rt.refused(&call, &status);
            let _ = sink.fail(status).await;
            return;
        };
        // The request stream stays with the call until its status is out (grpcio cancels a
        // call whose stream is dropped before its end), and meanwhile answers "has the call
        // ended?" for the View: a queued one that is cancelled is dropped unrun, a running
        // one sees `is_cancelled`.
        call.metrics.received();
        // The worker sends the reply itself as soon as the View returns: the status does not
        // wait for this I/O thread to be scheduled (measured: +8% calls/s at c=1, +12% at c=16,
        // p99 -8%). This task keeps the call, and its request stream, until the status is out.
        let (sent_tx, sent) = oneshot::channel();
        let replier = Replier { sink: Some(sink), permit: Some(permit), sent: Some(sent_tx), call: call.clone() };
        let job = {
            let (rt, call) = (rt.clone(), call.clone());
            Box::new(move || replier.send(run_view(&rt, &*view, &call, request)))
        };
        // A pool that has stopped drops the job, and the replier answers UNAVAILABLE.
        let _ = rt.pool.submit(job);
        let (sent, requests) = until_sent(requests, &call, sent).await;
        if let Ok(sending) = sent {
            let _ = sending.await;
        }
        // Only now, with the status out: grpcio cancels a call whose request stream is
        // dropped before the end of its requests.
        drop(requests);
        drop(call);
    });
}

/// Waits, on the I/O thread, for the worker to send a pool unary call's reply, telling the
/// View at once when the call ends first: cancelled or past its deadline. Gives back the
/// request stream, which must live until the status is out.
async fn until_sent<T, R>(
    requests: RequestStream<T>,
    call: &CallInfo,
    mut sent: oneshot::Receiver<R>,
) -> (Result<R, oneshot::Canceled>, RequestStream<T>) {
    let mut watching = true;
    let reply = futures::future::poll_fn(|cx| {
        if let Poll::Ready(reply) = sent.poll_unpin(cx) {
            return Poll::Ready(reply);
        }
        if watching && requests.poll_call_ended(cx).is_ready() {
            watching = false;
            call.cancelled.set();
        }
        Poll::Pending
    })
    .await;
    (reply, requests)
}

/// Answers a call over the `maximum_concurrent_rpcs` limit, without running anything.
/// `requests` is kept until the status is out: grpcio cancels a call whose request stream is
/// dropped unread, and the client would see CANCELLED instead.
pub(super) fn reject<S: Fail>(rt: &Runtime, ctx: &RpcContext<'_>, kind: Kind, sink: S, requests: impl Send + 'static) {
    let status = over_the_limit();
    let method = String::from_utf8_lossy(ctx.method());
    let metrics = rt.metrics.start(&method, kind, server_trace(ctx, &method));
    rt.metrics.refused(&metrics);
    // Copying the call's metadata is only worth it when an interceptor will look at it.
    if !rt.interceptors.is_empty() {
        rt.refused(&CallInfo::from_rpc(ctx, &rt.stopping, |_| metrics), &status);
    }
    ctx.spawn(sink.fail_with(status).map(move |_| drop(requests)));
}

/// The status of a call over `maximum_concurrent_rpcs`, worded as grpcio's Python server does.
fn over_the_limit() -> RpcStatus {
    wire::status(Code::RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")
}

/// The status of a call whose request could not be read, whatever its kind: the bytes are
/// not the message the method takes, or the stream broke.
fn unreadable_request(err: &grpcio::Error) -> RpcStatus {
    wire::status(Code::INTERNAL, format!("could not read the request: {err}"))
}

/// Runs on a worker thread: a unary View.
fn run_view<V: UnaryView>(rt: &Runtime, view: &V, call: &Arc<CallInfo>, request: V::Request) -> Reply<V::Response> {
    if let Some(status) = dead_call(rt, call) {
        return Reply::status(status);
    }
    let mut ctx = Context::new(call);
    let result = run_guarded(rt, call, &mut ctx, |ctx| view.handle(request, ctx));
    Reply { result, headers: ctx.take_response_headers(), trailers: ctx.take_trailers() }
}

/// A call that waited in the queue past its caller's patience is dropped unrun, so an
/// overloaded server does no dead work.
pub(super) fn dead_call(rt: &Runtime, call: &Arc<CallInfo>) -> Option<RpcStatus> {
    let status = if call.is_cancelled() {
        wire::status(Code::CANCELLED, "the client cancelled the call before it ran")
    } else if call.deadline.exceeded() {
        wire::status(Code::DEADLINE_EXCEEDED, "the deadline passed before the call ran")
    } else {
        return None;
    };
    rt.metrics.dropped(&call.metrics, wire::code_of(&status));
    rt.refused(call, &status);
    Some(status)
}

/// Runs a View body inside the interceptors, turning its a3 error or its panic into the
/// status that ends the call: first the run, which settles the call's fate, then what is
/// recorded and sent for it.
pub(super) fn run_guarded<T>(
    rt: &Runtime,
    call: &CallInfo,
    ctx: &mut Context,
    body: impl FnOnce(&mut Context) -> Result<T, A3Error>,
) -> Result<T, RpcStatus> {
    // The View's own spans and events are the call's children.
    let span = call.metrics.trace().span();
    let _in_span = span.enter();
    let (outcome, fate) = run_intercepted(rt, call, ctx, body);
    conclude(rt, call, outcome, fate)
}

/// A call's fate, settled once for the interceptors, the metrics and the log: the code its
/// client got, and why, when the call ended on its own before its View returned (then
/// nobody receives what the View returned).
struct Fate {
    code: Code,
    ended: Option<&'static str>,
}

/// The interceptors' `before` in order, the View, their `after` in reverse, each guarded
/// against panics; gives back what the View (or the interceptor that turned the call away)
/// returned and the call's fate.
fn run_intercepted<T>(
    rt: &Runtime,
    call: &CallInfo,
    ctx: &mut Context,
    body: impl FnOnce(&mut Context) -> Result<T, A3Error>,
) -> (Result<T, A3Error>, Fate) {
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
    let fate = match (ended_early(rt, call), &outcome) {
        (Some((code, why)), _) => Fate { code, ended: Some(why) },
        (None, Ok(_)) => Fate { code: Code::OK, ended: None },
        (None, Err(err)) => Fate { code: rt.codes.code_for(err), ended: None },
    };
    let error = if fate.ended.is_none() { outcome.as_ref().err() } else { None };
    let report = Outcome { code: fate.code, error, elapsed: started.elapsed() };
    for interceptor in rt.interceptors[..entered].iter().rev() {
        if panic::catch_unwind(AssertUnwindSafe(|| interceptor.after(ctx, &report))).is_err() {
            log::error!("{}: an interceptor panicked in after()", call.method);
        }
    }
    (outcome, fate)
}

/// Records a settled call in the metrics and builds what its client gets: the reply, the
/// a3 error on the wire (whose cause is logged there, never sent), or the status of a call
/// that ended on its own.
fn conclude<T>(rt: &Runtime, call: &CallInfo, outcome: Result<T, A3Error>, fate: Fate) -> Result<T, RpcStatus> {
    match (fate.ended, outcome) {
        (Some(why), outcome) => {
            // Nobody receives the View's error: the caller has its answer. Not worth an
            // error in the log.
            if let Err(err) = &outcome {
                log::debug!("{}: the View ended with {err} after the call ended ({why})", call.method);
            }
            call.metrics.handled(fate.code, None);
            Err(wire::status(fate.code, why))
        }
        (None, Ok(value)) => {
            call.metrics.handled(Code::OK, None);
            Ok(value)
        }
        (None, Err(err)) => {
            call.metrics.handled(fate.code, Some(&err));
            Err(wire::to_rpc_status(&err, &rt.codes, &call.method))
        }
    }
}

/// How a call ended while its View ran, if it did, as its client saw it: past its deadline,
/// cut off by the server's stop (UNAVAILABLE, as the core tells the client), or cancelled.
fn ended_early(rt: &Runtime, call: &CallInfo) -> Option<(Code, &'static str)> {
    if call.deadline.exceeded() {
        Some((Code::DEADLINE_EXCEEDED, "the deadline passed while the call ran"))
    } else if !call.is_cancelled() {
        None
    } else if rt.cut_off.load(Ordering::Acquire) {
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

/// How a unary View's run ends: a reply or a status, with the response metadata (sent only
/// with a reply) and the trailers (sent with either) the View set.
struct Reply<T> {
    result: Result<T, RpcStatus>,
    headers: Option<Metadata>,
    trailers: Option<Metadata>,
}

impl<T> Reply<T> {
    fn status(status: RpcStatus) -> Reply<T> {
        Reply { result: Err(status), headers: None, trailers: None }
    }
}

/// The end of a pool unary call, sent from the worker: the reply or the status in one batch,
/// after the admission slot is freed (so a client that sees the end and calls again at once
/// is not turned away). Dropped unsent (the pool has stopped), it answers UNAVAILABLE.
struct Replier<T> {
    sink: Option<ClientStreamingSink<T>>,
    permit: Option<Permit>,
    sent: Option<oneshot::Sender<ClientStreamingSinkResult>>,
    call: Arc<CallInfo>,
}

impl<T: Send + 'static> Replier<T> {
    fn send(mut self, reply: Reply<T>) {
        let Some(sink) = self.sink.take() else { return };
        drop(self.permit.take());
        let sending = sink.reply(reply, &self.call);
        if let Some(sent) = self.sent.take() {
            let _ = sent.send(sending);
        }
    }
}

impl<T> Drop for Replier<T> {
    fn drop(&mut self) {
        let Some(sink) = self.sink.take() else { return };
        drop(self.permit.take());
        self.call.metrics.handled(Code::UNAVAILABLE, None);
        let sending = sink.fail(wire::status(Code::UNAVAILABLE, "the server stopped before the call ran"));
        if let Some(sent) = self.sent.take() {
            let _ = sent.send(sending);
        }
    }
}

/// grpcio's sinks, which share `fail` and `set_trailers` but no trait.
pub(super) trait Fail: Send + 'static {
    type Failure: Future<Output = grpcio::Result<()>> + Send + 'static;
    fn fail_with(self, status: RpcStatus) -> Self::Failure;
    /// Sends `trailers` with the status. grpcio can only with a3grpc's engine; without it
    /// they are dropped, as the warning at start says.
    fn trailers(&mut self, trailers: Option<Metadata>);
}

macro_rules! fail {
    ($sink:ident, $failure:ident) => {
        impl<T: Send + 'static> Fail for grpcio::$sink<T> {
            type Failure = grpcio::$failure;
            fn fail_with(self, status: RpcStatus) -> Self::Failure {
                self.fail(status)
            }
            fn trailers(&mut self, trailers: Option<Metadata>) {
                if let Some(trailers) = trailers {
                    self.set_trailers(trailers);
                }
            }
        }
    };
}

fail!(ServerStreamingSink, ServerStreamingSinkFailure);
fail!(DuplexSink, DuplexSinkFailure);
fail!(ClientStreamingSink, ClientStreamingSinkResult);
fail!(UnarySink, UnarySinkResult);

/// The two sinks that end a unary call in one batch: reply or status, metadata, trailers.
trait ReplySink<T>: Fail {
    fn reply(self, reply: Reply<T>, call: &CallInfo) -> Self::Failure;
}

macro_rules! reply_sink {
    ($sink:ident) => {
        impl<T: Send + 'static> ReplySink<T> for grpcio::$sink<T> {
            fn reply(mut self, reply: Reply<T>, call: &CallInfo) -> Self::Failure {
                self.trailers(reply.trailers);
                match reply.result {
                    Ok(message) => {
                        if let Some(headers) = reply.headers {
                            self.set_headers(headers);
                        }
                        call.metrics.sent();
                        self.success(message)
                    }
                    Err(status) => self.fail(status),
                }
            }
        }
    };
}

reply_sink!(ClientStreamingSink);
reply_sink!(UnarySink);

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
    let Some(permit) = rt.admit() else { return reject(rt, &ctx, Kind::Unary, sink, ()) };
    let call = rt.call_info(&ctx, Kind::Unary);
    call.metrics.received();
    let reply = run_view(rt, &**view, &call, request);
    drop(permit);
    ctx.spawn(sink.reply(reply, &call).map(|_| ()));
}
