//! The server: from a [`Conf`] to a listening gRPC server, and the path every call takes.
//!
//! Read top to bottom:
//! 1. [`run_grpc_server`] starts a [`Server`] and blocks until SIGINT/SIGTERM.
//! 2. [`Server::start`] resolves the Servicers, starts the worker pool and binds the port.
//! 3. [`serve_unary`] is where a unary call arrives, on a grpcio I/O thread: admission
//!    (`maximum_concurrent_rpcs`), hand-off to the pool, and the reply.
//! 4. [`run_view`] runs on a worker: skip dead calls, run the View, turn its error or panic
//!    into a status ([`run_guarded`]).
//! 5. Streaming calls take the same steps ([`start_stream`], [`run_stream`]); their responses
//!    flow from the worker to the I/O thread through a small bounded channel ([`pump`]), so a
//!    slow reader slows the View instead of filling memory.
//! 6. [`Server::shutdown`] stops accepting, gives in-flight calls the grace period, then
//!    cancels the rest.

use std::ffi::CString;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::poll_fn;
use futures::{Future, FutureExt, Sink, SinkExt, StreamExt};
use grpcio::{
    CertificateRequestType, ChannelBuilder, ClientStreamingSink, DuplexSink, EnvBuilder, Metadata, RequestStream,
    RpcContext, RpcStatus, ServerBuilder, ServerCredentials, ServerCredentialsBuilder, ServerStreamingSink, WriteFlags,
};
use grpcio_health::{HealthService, ServingStatus};

use crate::conf::{read_pem, ChannelOption, Conf, ConfError, OptionValue, ServicerMappings};
use crate::error::{self, A3Error, StatusCodes};
use crate::interceptor::{self, Interceptor, Outcome};
use crate::pool::{Pool, Submitter};
use crate::servicer::resolve_mappings;
use crate::view::{
    BidiView, CallInfo, Cancellation, ClientStreamingView, Context, Out, Probe, Requests, Responses,
    ServerStreamingView, UnaryView,
};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The conf is invalid; the error names the key.
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// The address could not be bound: in use, not local, or not an address.
    #[error("cannot bind {addr}: {reason}")]
    Bind {
        /// `host:port` as configured.
        addr: String,
        /// Why, as the operating system or the gRPC core put it.
        reason: String,
    },
    /// The gRPC core refused the server (e.g. a channel arg it rejects).
    #[error("the gRPC core could not build the server: {0}")]
    Grpc(String),
    /// A thread, process or signal handler could not be set up.
    #[error("server setup failed: {0}")]
    Io(#[from] std::io::Error),
    /// In multi-process serving, this many workers did not stop cleanly.
    #[error("{0} worker process(es) failed; see the log")]
    Workers(usize),
}

/// Runs a server from `conf` until SIGINT or SIGTERM, then stops it gracefully: no new calls,
/// in-flight calls get `graceful_shutdown_seconds`, the rest are cancelled. Returns `Ok(())`
/// after a clean stop, so `main` exits 0.
///
/// ```no_run
/// use a3grpc::{run_grpc_server, Conf};
///
/// let conf = Conf::from_file("conf.toml")?;
/// run_grpc_server(conf)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_grpc_server(conf: Conf) -> Result<(), ServerError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    // Installed before the server starts, so a signal during start-up stops it cleanly
    // instead of killing the process.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let server = Server::start(conf)?;
    if let Some(signal) = signals.forever().next() {
        let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
        log::info!("received {name}; stopping");
    }
    server.shutdown();
    Ok(())
}

/// A running server. Dropping it stops it without a grace period; call
/// [`shutdown`](Server::shutdown) for a graceful stop.
///
/// ```no_run
/// use a3grpc::{Conf, Server, Servicer};
///
/// let server = Server::start(Conf::new("127.0.0.1", 0, vec![Servicer::new()]))?;
/// println!("serving on port {}", server.port());
/// server.shutdown();
/// # Ok::<(), a3grpc::ServerError>(())
/// ```
pub struct Server {
    grpc: Option<grpcio::Server>,
    pool: Option<Pool>,
    health: Option<HealthService>,
    addr: String,
    port: u16,
    grace: Duration,
}

/// What every call handler shares: the pool, the admission limit, the error codes and the
/// interceptors.
pub(crate) struct Runtime {
    pool: Submitter,
    limit: Option<Limit>,
    codes: StatusCodes,
    interceptors: Vec<Arc<dyn Interceptor>>,
}

impl Server {
    /// Starts serving `conf`: binds the port and returns once calls are accepted.
    pub fn start(conf: Conf) -> Result<Server, ServerError> {
        let conf = conf.validated()?;
        // Route the C core's own messages through the `log` facade (target `grpcio`; its
        // INFO is chatty, so programs usually filter it with `grpcio=warn`).
        grpcio::redirect_log();
        let credentials = credentials(&conf)?;
        let servicers = match conf.servicer_mappings {
            ServicerMappings::Named(ref name) => resolve_mappings(name)?,
            ServicerMappings::Servicers(ref servicers) => servicers.clone(),
        };

        let interceptors = interceptor::resolve(&conf.interceptors)?;
        let pool = Pool::new(conf.max_workers)?;
        let rt = Arc::new(Runtime {
            pool: pool.submitter(),
            limit: conf.maximum_concurrent_rpcs.map(Limit::new),
            codes: conf.patch_status_code,
            interceptors,
        });

        // Views run on the pool, so the I/O threads only move bytes: half the CPUs are plenty,
        // and fewer I/O threads mean fewer wake-ups per call (measured in the closing note of
        // the performance issue: +5-30% calls/s on 2 CPUs).
        let io_threads = (thread::available_parallelism().map(|n| n.get()).unwrap_or(1) / 2).max(1);
        let env = Arc::new(EnvBuilder::new().cq_count(io_threads).name_prefix("a3grpc-io").build());
        let mut service = grpcio::ServiceBuilder::new();
        let mut seen = std::collections::HashSet::new();
        for servicer in &servicers {
            for method in servicer.methods() {
                if !seen.insert(method) {
                    return Err(ConfError::invalid(
                        "servicer_mappings",
                        format!("method {method} is served by two Views; each RPC takes one"),
                    )
                    .into());
                }
            }
            service = servicer.register(service, &rt);
        }
        // The core sets SO_REUSEPORT by default, which lets a second server on a busy port
        // start silently and steal half the connections. Bind exclusively unless the conf's
        // options ask otherwise.
        let mut args = ChannelBuilder::new(env.clone());
        let exclusive = !conf.options.iter().any(|o| o.name == SO_REUSEPORT);
        if exclusive {
            args = args.reuse_port(false);
        }
        let mut builder = ServerBuilder::new(env.clone())
            .channel_args(options_onto(args, &conf.options).build_args())
            .register_service(service.build());
        // Health answers on the I/O threads: its work is a map lookup, never a View.
        let health = conf.health.then(|| {
            let health = HealthService::default();
            health.set_serving_status("", ServingStatus::Serving);
            for name in service_names(&servicers) {
                health.set_serving_status(&name, ServingStatus::Serving);
            }
            health
        });
        if let Some(health) = &health {
            builder = builder.register_service(grpcio_health::create_health(health.clone()));
        }
        let mut grpc = builder.build().map_err(|e| ServerError::Grpc(e.to_string()))?;

        let addr = host_port(&conf.host, conf.port);
        if exclusive && conf.port != 0 {
            // Asking the OS first gives its reason ("Address already in use") in one line,
            // where the core would only log a nested error tree.
            std::net::TcpListener::bind(&addr)
                .map_err(|e| ServerError::Bind { addr: addr.clone(), reason: e.to_string() })?;
        }
        let port = grpc.add_listening_port(addr.clone(), credentials).map_err(|_| ServerError::Bind {
            addr: addr.clone(),
            reason: "the gRPC core refused the address".to_owned(),
        })?;
        grpc.start();
        let addr = host_port(&conf.host, port);
        log::info!("a3grpc server listening on {addr} (pid {})", std::process::id());
        Ok(Server { grpc: Some(grpc), pool: Some(pool), health, addr, port, grace: conf.graceful_shutdown_seconds })
    }

    /// The bound port (the real one when the conf asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound address, `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Stops gracefully with the conf's `graceful_shutdown_seconds`.
    pub fn shutdown(self) {
        let grace = self.grace;
        self.shutdown_within(grace)
    }

    /// Stops accepting calls, lets in-flight calls finish for up to `grace`, then cancels the
    /// rest. Views still running after that see [`Context::is_cancelled`] and their replies
    /// are discarded.
    pub fn shutdown_within(mut self, grace: Duration) {
        self.stop(grace);
    }

    fn stop(&mut self, grace: Duration) {
        let Some(mut grpc) = self.grpc.take() else { return };
        log::info!("a3grpc server on {} stopping: new calls refused, in-flight calls get {grace:?}", self.addr);
        if let Some(health) = &self.health {
            // Health watchers (load balancers) learn at once that this server is going.
            health.shutdown();
        }
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let finished = grpc.shutdown();
        // The shutdown future completes on an I/O thread; waiting for it here with a timeout
        // needs it driven elsewhere.
        thread::spawn(move || {
            let _ = futures::executor::block_on(finished);
            let _ = done_tx.send(());
        });
        if done.recv_timeout(grace).is_err() {
            log::warn!("grace period over: cancelling the calls still in flight");
            grpc.cancel_all_calls();
            let _ = done.recv_timeout(Duration::from_secs(5));
        }
        drop(grpc);
        if let Some(pool) = self.pool.take() {
            let busy = pool.shutdown(Duration::from_secs(1));
            if busy > 0 {
                log::warn!("{busy} View(s) still running after shutdown; they were told the call is cancelled");
            }
        }
        log::info!("a3grpc server on {} stopped", self.addr);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// Plaintext, TLS (key + cert), or mutual TLS (and a CA that client certificates must chain to).
fn credentials(conf: &Conf) -> Result<ServerCredentials, ConfError> {
    let (Some(key), Some(cert)) = (&conf.server_key, &conf.server_cert) else {
        return Ok(ServerCredentials::insecure());
    };
    let key = read_pem("server_key", key, "PRIVATE KEY")?;
    let cert = read_pem("server_cert", cert, "CERTIFICATE")?;
    let mut builder = ServerCredentialsBuilder::new().add_cert(cert, key);
    if let Some(ca) = &conf.ca_cert {
        let ca = read_pem("ca_cert", ca, "CERTIFICATE")?;
        builder = builder.root_cert(ca, CertificateRequestType::RequestAndRequireClientCertificateAndVerify);
    }
    Ok(builder.build())
}

/// The services of these Servicers, e.g. `grpc.testing.TestService`, from their method paths.
fn service_names(servicers: &[crate::Servicer]) -> std::collections::BTreeSet<String> {
    servicers
        .iter()
        .flat_map(|s| s.methods())
        .filter_map(|path| path.trim_start_matches('/').split_once('/').map(|(service, _)| service.to_owned()))
        .collect()
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Applies the conf's `options`, verbatim, as core channel args. Names and values were checked for NUL bytes when
/// the conf was validated, so the conversions cannot fail.
pub(crate) fn options_onto(mut builder: ChannelBuilder, options: &[ChannelOption]) -> ChannelBuilder {
    for option in options {
        let Ok(name) = CString::new(option.name.as_str()) else { continue };
        builder = match &option.value {
            OptionValue::Int(v) => builder.raw_cfg_int(name, *v),
            OptionValue::Str(s) => match CString::new(s.as_str()) {
                Ok(v) => builder.raw_cfg_string(name, v),
                Err(_) => builder,
            },
        };
    }
    builder
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

impl Runtime {
    fn admit(&self) -> Option<Permit> {
        let Some(limit) = &self.limit else { return Some(Permit(None)) };
        let admitted = limit
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit.max).then_some(n + 1))
            .is_ok();
        admitted.then(|| Permit(Some(limit.in_flight.clone())))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(counter) = &self.0 {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// How many responses a streaming View may produce ahead of what the network has taken.
const STREAM_WINDOW: usize = 16;
const SO_REUSEPORT: &str = "grpc.so_reuseport";
const RESOURCE_EXHAUSTED: i32 = 8;
const CANCELLED: i32 = 1;
const DEADLINE_EXCEEDED: i32 = 4;
const INTERNAL: i32 = 13;
const UNAVAILABLE: i32 = 14;

/// What a worker hands back to the I/O thread.
enum Reply<T> {
    Message(T, Option<Metadata>),
    Status(RpcStatus),
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
    mut sink: ClientStreamingSink<V::Response>,
) {
    let Some(permit) = rt.admit() else { return reject(&ctx, sink, requests) };
    let call = CallInfo::from_rpc(&ctx);
    let (rt, view) = (rt.clone(), view.clone());
    ctx.spawn(async move {
        let request = match requests.next().await {
            Some(Ok(request)) => request,
            Some(Err(err)) => {
                let _ = sink.fail(error::status(INTERNAL, format!("could not read the request: {err}"))).await;
                return;
            }
            None => {
                let _ = sink.fail(error::status(INTERNAL, "the call carried no request")).await;
                return;
            }
        };
        // The request stream stays with the call until its status is out (grpcio cancels a
        // call whose stream is dropped before its end), and meanwhile answers "has the call
        // ended?" for the View: a queued one that is cancelled is dropped unrun, a running
        // one sees `is_cancelled`.
        call.cancelled.probe_with(call_ended(requests));
        let (reply_tx, reply) = oneshot::channel();
        let job = {
            let (rt, call) = (rt.clone(), call.clone());
            Box::new(move || {
                let _ = reply_tx.send(run_view(&rt, &*view, &call, request));
            })
        };
        if rt.pool.submit(job).is_err() {
            let _ = sink.fail(error::status(UNAVAILABLE, "the server is shutting down")).await;
            return;
        }
        let outcome = reply.await;
        // The View is done: its slot is free before the status goes out, so a client that
        // sees the end and calls again at once is not turned away. Held until now, the limit
        // counts the work, not just the calls.
        drop(permit);
        let _ = match outcome {
            Ok(Reply::Message(message, headers)) => {
                if let Some(headers) = headers {
                    sink.set_headers(headers);
                }
                sink.success(message).await
            }
            Ok(Reply::Status(status)) => sink.fail(status).await,
            Err(_) => sink.fail(error::status(UNAVAILABLE, "the server stopped before the call ran")).await,
        };
        drop(call);
    });
}

/// Asks a unary call's request stream, past its one message, whether the call has ended.
/// Polled without a waker: nobody is woken when it ends, so a waiting View asks again now
/// and then.
fn call_ended<T: Send + 'static>(requests: RequestStream<T>) -> Probe {
    let requests = Mutex::new(requests);
    Box::new(move || {
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        let mut requests = requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        matches!(requests.poll_next_unpin(&mut cx), Poll::Ready(Some(Err(_))))
    })
}

/// Runs on a worker thread: a unary View.
fn run_view<V: UnaryView>(rt: &Runtime, view: &V, call: &Arc<CallInfo>, request: V::Request) -> Reply<V::Response> {
    if let Some(status) = dead_call(call) {
        return Reply::Status(status);
    }
    let mut ctx = Context::new(call);
    match run_guarded(rt, call, &mut ctx, |ctx| view.handle(request, ctx)) {
        Ok(message) => Reply::Message(message, ctx.take_response_headers()),
        Err(status) => Reply::Status(status),
    }
}

/// A call that waited in the queue past its caller's patience is dropped unrun, so an
/// overloaded server does no dead work.
fn dead_call(call: &CallInfo) -> Option<RpcStatus> {
    if call.is_cancelled() {
        return Some(error::status(CANCELLED, "the client cancelled the call before it ran"));
    }
    if call.deadline.exceeded() {
        return Some(error::status(DEADLINE_EXCEEDED, "the deadline passed before the call ran"));
    }
    None
}

/// Runs a View body inside the interceptors, turning its a3 error or its panic into the
/// status that ends the call. Interceptors' `before` run in order, their `after` in reverse.
fn run_guarded<T>(
    rt: &Runtime,
    call: &CallInfo,
    ctx: &mut Context,
    body: impl FnOnce(&mut Context) -> Result<T, A3Error>,
) -> Result<T, RpcStatus> {
    let started = Instant::now();
    let mut entered = 0;
    let mut outcome = Ok(None);
    for interceptor in &rt.interceptors {
        match guarded(call, || interceptor.before(ctx)) {
            Ok(()) => entered += 1,
            Err(err) => {
                outcome = Err(err);
                break;
            }
        }
    }
    if outcome.is_ok() {
        outcome = guarded(call, || body(ctx)).map(Some);
    }
    let code = match &outcome {
        Ok(_) => 0,
        Err(err) => rt.codes.code_for(err),
    };
    let report = Outcome { code, error: outcome.as_ref().err(), elapsed: started.elapsed() };
    for interceptor in rt.interceptors[..entered].iter().rev() {
        if panic::catch_unwind(AssertUnwindSafe(|| interceptor.after(ctx, &report))).is_err() {
            log::error!("{}: an interceptor panicked in after()", call.method);
        }
    }
    let err = match outcome {
        Ok(value) => return Ok(value.expect("the body ran when no interceptor rejected the call")),
        Err(err) => err,
    };
    if call.is_cancelled() {
        // Nobody receives this status: the caller has gone. Not worth an error in the log.
        log::debug!("{}: the View ended with {err} after its caller left", call.method);
        return Err(error::status(CANCELLED, "the call was cancelled"));
    }
    Err(error::to_rpc_status(&err, &rt.codes, &call.method))
}

/// Runs user code, turning a panic into `ServerUnknownError` so the worker lives on.
fn guarded<T>(call: &CallInfo, f: impl FnOnce() -> Result<T, A3Error>) -> Result<T, A3Error> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic_message(&panic);
        log::error!("{}: the View panicked: {what}", call.method);
        Err(A3Error::server_unknown(format!("the View panicked: {what}")))
    })
}

/// A server-streaming call arrives here, on a grpcio I/O thread.
pub(crate) fn serve_server_streaming<V: ServerStreamingView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    request: V::Request,
    sink: ServerStreamingSink<V::Response>,
) {
    let Some(permit) = rt.admit() else { return reject(&ctx, sink, ()) };
    let call = CallInfo::from_rpc(&ctx);
    let view = view.clone();
    start_stream(rt, &ctx, sink, permit, call, None, move |rt, call, tx| {
        run_stream(rt, call, tx, |responses, ctx| view.handle(request, responses, ctx))
    });
}

/// A client-streaming call arrives here. It is served through grpcio's duplex sink, which,
/// unlike the client-streaming one, reports a client that leaves; one response is the same
/// on the wire.
pub(crate) fn serve_client_streaming<V: ClientStreamingView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    requests: RequestStream<V::Request>,
    sink: DuplexSink<V::Response>,
) {
    let view = view.clone();
    serve_request_stream(rt, ctx, requests, sink, move |requests, responses, ctx| {
        let response = view.handle(requests, ctx)?;
        Ok(responses.send(response)?)
    });
}

/// A bidirectional-streaming call arrives here.
pub(crate) fn serve_bidi<V: BidiView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    requests: RequestStream<V::Request>,
    sink: DuplexSink<V::Response>,
) {
    let view = view.clone();
    serve_request_stream(rt, ctx, requests, sink, move |requests, responses, ctx| {
        view.handle(requests, responses, ctx)
    });
}

/// What client-streaming and bidi calls share: admission, reading ahead, the View on the pool.
fn serve_request_stream<Req: Send + 'static, Resp: Send + 'static>(
    rt: &Arc<Runtime>,
    ctx: RpcContext<'_>,
    requests: RequestStream<Req>,
    sink: DuplexSink<Resp>,
    body: impl FnOnce(Requests<Req>, &mut Responses<Resp>, &mut Context) -> Result<(), A3Error> + Send + 'static,
) {
    let Some(permit) = rt.admit() else { return reject(&ctx, sink, requests) };
    let call = CallInfo::from_rpc(&ctx);
    let (requests, release) = read_ahead(&ctx, requests, &call);
    start_stream(rt, &ctx, sink, permit, call, Some(release), move |rt, call, tx| {
        run_stream(rt, call, tx, |responses, ctx| body(requests, responses, ctx))
    });
}

/// Reads a call's requests on the I/O thread, a few ahead of the View, into a bounded
/// channel. grpcio cancels a call whose request stream is dropped unread, so if the View stops
/// reading early, the stream is kept until `release` fires: once the call's status is out.
fn read_ahead<T: Send + 'static>(
    ctx: &RpcContext<'_>,
    mut stream: RequestStream<T>,
    call: &CallInfo,
) -> (Requests<T>, oneshot::Sender<()>) {
    let cancelled = call.cancelled.clone();
    let (mut tx, rx) = mpsc::channel(STREAM_WINDOW);
    let (release, released) = oneshot::channel::<()>();
    ctx.spawn(async move {
        loop {
            let item = match stream.next().await {
                Some(item) => item,
                None => {
                    // A cancelled call also ends its request stream, as a half-close would.
                    // Its close event is usually right behind in the queue: let it through,
                    // then tell the View which ending this was.
                    yield_once().await;
                    if !cancelled.is_set() {
                        return;
                    }
                    Err(grpcio::Error::RpcFinished(None))
                }
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() {
                let _ = released.await;
                return;
            }
            if failed {
                return;
            }
        }
    });
    (Requests::new(rx, call.cancelled.clone()), release)
}

/// Lets the I/O thread handle what is already queued before this task goes on.
async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Answers a call over the `maximum_concurrent_rpcs` limit, without running anything.
/// `requests` is kept until the status is out: grpcio cancels a call whose request stream is
/// dropped unread, and the client would see CANCELLED instead.
fn reject<S: Fail>(ctx: &RpcContext<'_>, sink: S, requests: impl Send + 'static) {
    let status = error::status(RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!");
    ctx.spawn(sink.fail_with(status).map(move |_| drop(requests)));
}

/// Queues an admitted streaming call's View on the pool and starts the task that writes its
/// responses. Nothing here blocks.
fn start_stream<T, S, J>(
    rt: &Arc<Runtime>,
    ctx: &RpcContext<'_>,
    sink: S,
    permit: Permit,
    call: Arc<CallInfo>,
    release: Option<oneshot::Sender<()>>,
    job: J,
) where
    T: Send + 'static,
    S: StreamSink<T>,
    J: FnOnce(&Runtime, &Arc<CallInfo>, mpsc::Sender<Out<T>>) + Send + 'static,
{
    let cancelled = call.cancelled.clone();
    // A small window: the View can be a few messages ahead of the network, never more.
    let (tx, rx) = mpsc::channel(STREAM_WINDOW);
    let worker_rt = rt.clone();
    // If the pool has stopped, the job (and its sender) is dropped and the pump answers
    // UNAVAILABLE.
    let _ = rt.pool.submit(Box::new(move || job(&worker_rt, &call, tx)));
    ctx.spawn(pump(sink, rx, cancelled, permit, release));
}

/// Runs on a worker thread: a streaming View, then the status that ends its call.
fn run_stream<T>(
    rt: &Runtime,
    call: &Arc<CallInfo>,
    mut tx: mpsc::Sender<Out<T>>,
    body: impl FnOnce(&mut Responses<T>, &mut Context) -> Result<(), A3Error>,
) {
    let end = match dead_call(call) {
        Some(status) => Err(status),
        None => {
            let mut ctx = Context::new(call);
            let mut responses = Responses::new(tx.clone(), ctx.header_slot());
            run_guarded(rt, call, &mut ctx, |ctx| body(&mut responses, ctx))
        }
    };
    let _ = futures::executor::block_on(tx.send(Out::End(end)));
}

/// Runs on the I/O thread: writes what the worker produces, in order, one message at a time,
/// and watches for the client leaving (which it tells the View through the cancel flag and
/// by closing the channel, so the View's next send fails).
async fn pump<T, S: StreamSink<T>>(
    mut sink: S,
    mut rx: mpsc::Receiver<Out<T>>,
    cancelled: Arc<Cancellation>,
    permit: Permit,
    release: Option<oneshot::Sender<()>>,
) {
    let mut client_gone = false;
    let gone = |rx: &mut mpsc::Receiver<Out<T>>| {
        cancelled.set();
        rx.close();
    };
    // One item of lookahead: a message with another right behind it is written with the
    // buffer hint, so a fast View's messages leave in batches rather than one flush each.
    let mut ahead: Option<Out<T>> = None;
    let end = loop {
        let next = match ahead.take() {
            Some(item) => Some(item),
            None => {
                poll_fn(|cx| {
                    if !client_gone {
                        if let Poll::Ready(Err(_)) = sink.poll_ready_unpin(cx) {
                            client_gone = true;
                            gone(&mut rx);
                        }
                    }
                    rx.poll_next_unpin(cx)
                })
                .await
            }
        };
        match next {
            Some(Out::Headers(headers)) => sink.headers(headers),
            Some(Out::Message(message)) => {
                if client_gone {
                    continue;
                }
                ahead = rx.try_recv().ok();
                let more = matches!(ahead, Some(Out::Message(_)));
                let flags = WriteFlags::default().buffer_hint(more);
                let written = if more { sink.feed((message, flags)).await } else { sink.send((message, flags)).await };
                if written.is_err() {
                    client_gone = true;
                    gone(&mut rx);
                }
            }
            Some(Out::End(end)) => break Some(end),
            None => break None,
        }
    };
    // The View has returned (End comes after it): free its slot before the status goes out,
    // so a client that sees the end and calls again at once is not turned away.
    let permit = if end.is_some() {
        drop(permit);
        None
    } else {
        Some(permit)
    };
    if !client_gone {
        let _ = match end {
            Some(Ok(())) => sink.close().await,
            Some(Err(status)) => sink.fail_with(status).await,
            None => sink.fail_with(error::status(UNAVAILABLE, "the server stopped before the call ran")).await,
        };
    }
    drop(release);
    // Otherwise the permit is held until the worker has let go of the call.
    while rx.next().await.is_some() {}
    drop(permit);
}

/// grpcio's sinks, which share `fail` but no trait.
trait Fail: Send + 'static {
    type Failure: Future<Output = grpcio::Result<()>> + Send + 'static;
    fn fail_with(self, status: RpcStatus) -> Self::Failure;
}

/// grpcio's two streaming sinks, which share their methods but no trait.
trait StreamSink<T>: Sink<(T, WriteFlags), Error = grpcio::Error> + Fail + Unpin {
    fn headers(&mut self, headers: Metadata);
}

macro_rules! fail {
    ($sink:ident, $failure:ident) => {
        impl<T: Send + 'static> Fail for grpcio::$sink<T> {
            type Failure = grpcio::$failure;
            fn fail_with(self, status: RpcStatus) -> Self::Failure {
                self.fail(status)
            }
        }
    };
}

fail!(ServerStreamingSink, ServerStreamingSinkFailure);
fail!(DuplexSink, DuplexSinkFailure);
fail!(ClientStreamingSink, ClientStreamingSinkResult);

impl<T: Send + 'static> StreamSink<T> for ServerStreamingSink<T> {
    fn headers(&mut self, headers: Metadata) {
        self.set_headers(headers)
    }
}

impl<T: Send + 'static> StreamSink<T> for DuplexSink<T> {
    fn headers(&mut self, headers: Metadata) {
        self.set_headers(headers)
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic with a non-text payload)")
}
