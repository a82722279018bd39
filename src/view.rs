//! What users write and touch: the four View traits (one blocking handler per RPC), the
//! [`Context`] a View sees, and the blocking [`Requests`] and [`Responses`] of streaming calls.
//!
//! A View runs on the server's worker pool, never on a gRPC I/O thread, so it may block
//! (database calls, file I/O, sleeping) without stalling other calls. The dispatch
//! (`dispatch/`) calls these traits; the state behind a `Context` is `call.rs`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpcio::{Metadata, MetadataBuilder};

use crate::call::{CallInfo, Cancellation, HeaderSlot, Out};
use crate::error::{A3Error, Code};
use crate::sync::lock;
use crate::wire;

/// A View for a unary RPC: one request in, one response or an a3 error out.
///
/// ```
/// use a3grpc::{A3Error, Context, UnaryView};
/// # #[derive(Default)] pub struct HelloRequest { pub name: String }
/// # #[derive(Default)] pub struct HelloReply { pub message: String }
///
/// struct SayHello;
///
/// impl UnaryView for SayHello {
///     type Request = HelloRequest;
///     type Response = HelloReply;
///
///     fn handle(&self, request: HelloRequest, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
///         if request.name.is_empty() {
///             return Err(A3Error::Validation("name is required".into()));
///         }
///         Ok(HelloReply { message: format!("Hello {}!", request.name) })
///     }
/// }
/// ```
pub trait UnaryView: Send + Sync + 'static {
    /// The request message.
    type Request: Send + 'static;
    /// The response message.
    type Response: Send + 'static;

    /// Handles one call. `Err` ends the call with that a3 error; a panic ends it with
    /// `ServerUnknownError` and the server keeps serving.
    fn handle(&self, request: Self::Request, ctx: &mut Context) -> Result<Self::Response, A3Error>;
}

/// What a View knows about its call: who called, with which metadata, whether the caller is
/// still waiting; and where it puts response metadata.
pub struct Context {
    call: Arc<CallInfo>,
    // Made on first use: most calls set no response metadata.
    response_headers: Option<Arc<Mutex<HeaderSlot>>>,
    trailers: Option<MetadataBuilder>,
    extensions: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Context {
    pub(crate) fn new(call: &Arc<CallInfo>) -> Context {
        Context { call: call.clone(), response_headers: None, trailers: None, extensions: HashMap::new() }
    }

    /// The `traceparent` the calls this View makes carry: this call's span when it has one,
    /// else the one it came with.
    pub(crate) fn onward_traceparent(&self) -> Option<&str> {
        self.call.metrics.trace().onward()
    }

    /// Attaches a value of type `T` to this call, replacing any earlier one: how an
    /// interceptor hands what it learned (a user, a request id) to the View and to later
    /// interceptors.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.extensions.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The value of type `T` attached to this call, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref())
    }

    /// The full method path, e.g. `/Greeter/say_hello`.
    pub fn method(&self) -> &str {
        &self.call.method
    }

    /// The caller's address, e.g. `ipv4:127.0.0.1:51234`.
    pub fn peer(&self) -> &str {
        &self.call.peer
    }

    /// The first value of request metadata `key` as text (keys are lower-case).
    pub fn header(&self, key: &str) -> Option<&str> {
        self.header_bytes(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of request metadata `key` as bytes (for `-bin` keys).
    pub fn header_bytes(&self, key: &str) -> Option<&[u8]> {
        self.call.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// All request metadata, in the order it arrived.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.call.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The call's W3C trace id (32 lower-case hex digits), for your logs: its caller's, or the
    /// one its span started. `None` when the caller sent no trace context and nothing
    /// exports spans (README, Tracing).
    pub fn trace_id(&self) -> Option<&str> {
        self.call.metrics.trace().trace_id()
    }

    /// Whether the caller's deadline has passed.
    pub fn deadline_exceeded(&self) -> bool {
        self.call.deadline.exceeded()
    }

    /// When the caller's deadline passes, if it set one (from its `grpc-timeout`). A View
    /// that calls another service passes it on with
    /// `CallOptions::within(&ctx)` (in [`a3grpc::client`](../a3grpc/client/index.html)).
    /// Always `None` on an engine without a3grpc's patches.
    pub fn deadline(&self) -> Option<Instant> {
        self.call.deadline_at
    }

    /// The time left until the caller's deadline, zero once it has passed; `None` without
    /// a deadline.
    ///
    /// ```no_run
    /// # use a3grpc::{A3Error, Context};
    /// # use std::time::Duration;
    /// fn handle(ctx: &mut Context) -> Result<(), A3Error> {
    ///     // Not worth starting a query that needs a second if the caller waits less.
    ///     if ctx.time_remaining().is_some_and(|left| left < Duration::from_secs(1)) {
    ///         return Err(A3Error::NotAvailable("not enough time left for the report".into()));
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn time_remaining(&self) -> Option<Duration> {
        self.call.deadline_at.map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Whether the caller has gone: it cancelled, its deadline passed, or the server's stop
    /// cut the call off at the end of its grace period. A long View should check this and
    /// return early.
    pub fn is_cancelled(&self) -> bool {
        self.call.cancelled.is_set() || self.call.deadline.exceeded()
    }

    /// Whether the server has begun a graceful stop. In-flight calls still have the grace
    /// period, but a View that would run for ever (a watch stream) should end now: the
    /// client then gets the status the View returns, not UNAVAILABLE when the grace is over.
    pub fn is_stopping(&self) -> bool {
        self.call.stopping.is_set()
    }

    /// Blocks up to `timeout`, or until the server begins to stop or the call is cancelled;
    /// `true` if one of those happened. The loop of a View that sends updates until told to
    /// stop:
    ///
    /// ```
    /// # use a3grpc::{A3Error, Context, Responses, ServerStreamingView};
    /// # use a3grpc_examples::hello::{self, HelloReply, HelloRequest};
    /// # use std::time::Duration;
    /// struct Watch;
    ///
    /// impl ServerStreamingView for Watch {
    ///     type Request = HelloRequest;
    ///     type Response = HelloReply;
    ///     fn handle(&self, _: HelloRequest, out: &mut Responses<HelloReply>, ctx: &mut Context)
    ///         -> Result<(), A3Error> {
    ///         while !ctx.wait_stopping(Duration::from_secs(1)) {
    ///             out.send(hello::reply("tick".into()))?;
    ///         }
    ///         Ok(()) // the client sees the stream end with OK
    ///     }
    /// }
    /// # let mut ctx = a3grpc::testing::context().stopping().build();
    /// # let mut out = a3grpc::testing::responses();
    /// # Watch.handle(hello::request("x"), &mut out, &mut ctx)?;
    /// # assert!(a3grpc::testing::sent(out).is_empty());
    /// # Ok::<(), A3Error>(())
    /// ```
    pub fn wait_stopping(&self, timeout: Duration) -> bool {
        self.call.wait_stopping(timeout) || self.call.deadline.exceeded()
    }

    /// Blocks up to `timeout` or until the call is cancelled, whichever comes first, and
    /// tells which: `true` if cancelled. Use it instead of `sleep` in a View that waits, so
    /// a caller that gives up, or whose deadline passes, frees the worker at once. (Without
    /// a3grpc's engine a unary View learns of it within 5 ms: grpcio alone does not announce
    /// a unary call's end, so the wait asks for it.)
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        self.call.cancelled.wait(timeout) || self.call.deadline.exceeded()
    }

    /// Adds response (initial) metadata. Keys ending in `-bin` carry bytes, others text.
    ///
    /// Metadata goes out with the (first) response message; a call that ends with an error
    /// or sends no message sends only its status.
    pub fn set_header(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), A3Error> {
        let slot = self.response_headers.get_or_insert_with(Arc::default).clone();
        let mut slot = lock(&slot);
        if slot.sent {
            return Err(A3Error::server_known(format!("response header {key:?} set after the first message was sent")));
        }
        let builder = slot.builder.get_or_insert_with(MetadataBuilder::new);
        wire::add_metadata(builder, key, value.as_ref())
            .map_err(|e| A3Error::server_known(format!("response header {e}")))
    }

    /// Adds trailing metadata, sent with the status that ends the call, whether the View
    /// succeeds or fails. Keys ending in `-bin` carry bytes, others text.
    ///
    /// ```
    /// # use a3grpc::{A3Error, Context};
    /// fn handle(ctx: &mut Context) -> Result<(), A3Error> {
    ///     ctx.set_trailer("x-rows-scanned", "1200")?;
    ///     ctx.set_trailer("x-trace-bin", [0xab, 0xcd])?;
    ///     Err(A3Error::NotFound("no such book".into())) // the trailers go out with it
    /// }
    /// ```
    pub fn set_trailer(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), A3Error> {
        let builder = self.trailers.get_or_insert_with(MetadataBuilder::new);
        wire::add_metadata(builder, key, value.as_ref()).map_err(|e| A3Error::server_known(format!("trailer {e}")))
    }

    pub(crate) fn take_trailers(&mut self) -> Option<Metadata> {
        self.trailers.take().map(MetadataBuilder::build)
    }

    pub(crate) fn take_response_headers(&mut self) -> Option<Metadata> {
        self.response_headers.as_ref().and_then(|slot| lock(slot).take_for_sending())
    }

    pub(crate) fn header_slot(&mut self) -> Arc<Mutex<HeaderSlot>> {
        self.response_headers.get_or_insert_with(Arc::default).clone()
    }
}

/// A View for a client-streaming RPC: a stream of requests in, one response out.
///
/// The requests arrive as a blocking iterator; each item is a request or the
/// [`StreamError`] that ended the stream, which `?` turns into an [`A3Error`].
///
/// ```
/// use a3grpc::{A3Error, ClientStreamingView, Context, Requests};
///
/// struct CountHellos;
///
/// impl ClientStreamingView for CountHellos {
///     type Request = String;
///     type Response = String;
///
///     fn handle(&self, requests: Requests<String>, _ctx: &mut Context) -> Result<String, A3Error> {
///         let mut n = 0;
///         for request in requests {
///             request?;
///             n += 1;
///         }
///         Ok(format!("Hello {n} times!"))
///     }
/// }
/// ```
pub trait ClientStreamingView: Send + Sync + 'static {
    /// The request message.
    type Request: Send + 'static;
    /// The response message.
    type Response: Send + 'static;

    /// Handles one call. Returning before the stream ends is fine: the rest is discarded.
    fn handle(&self, requests: Requests<Self::Request>, ctx: &mut Context) -> Result<Self::Response, A3Error>;
}

/// A View for a server-streaming RPC: one request in, a stream of responses out.
///
/// Each [`Responses::send`] blocks while the client is slow to read (flow control), and fails
/// once the client has gone. Returning `Ok(())` ends the call with OK; returning `Err` after
/// some messages ends it with that a3 error.
///
/// ```
/// use a3grpc::{A3Error, Context, Responses, ServerStreamingView};
///
/// struct HelloTimes;
///
/// impl ServerStreamingView for HelloTimes {
///     type Request = String;
///     type Response = String;
///
///     fn handle(&self, name: String, responses: &mut Responses<String>, _ctx: &mut Context) -> Result<(), A3Error> {
///         for i in 0..3 {
///             responses.send(format!("[{i}]Hello {name}!"))?;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait ServerStreamingView: Send + Sync + 'static {
    /// The request message.
    type Request: Send + 'static;
    /// The response message.
    type Response: Send + 'static;

    /// Handles one call, sending its responses through `responses`.
    fn handle(
        &self,
        request: Self::Request,
        responses: &mut Responses<Self::Response>,
        ctx: &mut Context,
    ) -> Result<(), A3Error>;
}

/// A View for a bidirectional-streaming RPC: requests and responses both streamed, in
/// lock-step (read one, answer one) or free-running (send while reading).
pub trait BidiView: Send + Sync + 'static {
    /// The request message.
    type Request: Send + 'static;
    /// The response message.
    type Response: Send + 'static;

    /// Handles one call.
    fn handle(
        &self,
        requests: Requests<Self::Request>,
        responses: &mut Responses<Self::Response>,
        ctx: &mut Context,
    ) -> Result<(), A3Error>;
}

/// Why a request stream ended early or a response could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The client cancelled, its deadline passed, or the server is stopping.
    #[error("the call is over: the client cancelled, its deadline passed, or the server is stopping")]
    Cancelled,
    /// A request could not be read or decoded.
    #[error("a request could not be read: {0}")]
    Receive(String),
    /// No request arrived for the server's `stream_idle_timeout_seconds`.
    #[error("no request arrived for {0:?} (the server's stream_idle_timeout_seconds)")]
    Idle(Duration),
}

impl From<StreamError> for A3Error {
    /// A request that cannot be read ends the call with INTERNAL "could not read the
    /// request: ...", as it does for a unary call whose request cannot be read; a call that is
    /// over ends with `ClientKnownError`, which nobody receives; a client that sent nothing
    /// for the server's idle time gets DEADLINE_EXCEEDED.
    fn from(err: StreamError) -> A3Error {
        match err {
            StreamError::Cancelled => A3Error::ClientKnown(err.to_string()),
            StreamError::Receive(reason) => {
                A3Error::Status { code: Code::INTERNAL, message: format!("could not read the request: {reason}") }
            }
            StreamError::Idle(_) => A3Error::Status { code: Code::DEADLINE_EXCEEDED, message: err.to_string() },
        }
    }
}

/// The requests of a streaming call, as a blocking iterator.
///
/// `next()` blocks until the client sends a message, half-closes (`None`) or goes away
/// (`Some(Err(StreamError::Cancelled))`). The server reads a few messages ahead, never more,
/// so a long stream never piles up in memory.
pub struct Requests<T> {
    incoming: futures::channel::mpsc::Receiver<grpcio::Result<T>>,
    cancelled: Arc<Cancellation>,
    idle: Option<Duration>,
    done: bool,
}

impl<T> Requests<T> {
    pub(crate) fn new(
        incoming: futures::channel::mpsc::Receiver<grpcio::Result<T>>,
        cancelled: Arc<Cancellation>,
        idle: Option<Duration>,
    ) -> Requests<T> {
        Requests { incoming, cancelled, idle, done: false }
    }

    /// The next item from the I/O thread, or `None` if none came within the idle time.
    fn receive(&mut self) -> Option<Option<grpcio::Result<T>>> {
        use futures::StreamExt;
        let Some(idle) = self.idle else { return Some(futures::executor::block_on(self.incoming.next())) };
        let until = std::time::Instant::now() + idle;
        let waker = futures::task::waker(Arc::new(Unpark(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            if let std::task::Poll::Ready(item) = self.incoming.poll_next_unpin(&mut cx) {
                return Some(item);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            std::thread::park_timeout(left);
        }
    }
}

/// Wakes the worker thread blocked in [`Requests::next`].
struct Unpark(std::thread::Thread);

impl futures::task::ArcWake for Unpark {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.unpark();
    }
}

impl<T> Iterator for Requests<T> {
    type Item = Result<T, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let Some(item) = self.receive() else {
            self.done = true;
            return Some(Err(StreamError::Idle(self.idle.unwrap_or_default())));
        };
        match item {
            Some(Ok(message)) => Some(Ok(message)),
            None => {
                self.done = true;
                None
            }
            Some(Err(err)) => {
                self.done = true;
                Some(Err(match err {
                    grpcio::Error::Codec(e) => StreamError::Receive(e.to_string()),
                    _ => {
                        self.cancelled.set();
                        StreamError::Cancelled
                    }
                }))
            }
        }
    }
}

/// The response side of a streaming call: a blocking sender.
pub struct Responses<T> {
    to: Destination<T>,
    headers: Arc<Mutex<HeaderSlot>>,
    sent_headers: bool,
}

/// Where responses go: to the I/O thread that writes them, or into a list when a test runs
/// the View on its own (`a3grpc::testing`).
enum Destination<T> {
    Call(futures::channel::mpsc::Sender<Out<T>>),
    Collected(Vec<T>),
}

impl<T> Responses<T> {
    pub(crate) fn new(tx: futures::channel::mpsc::Sender<Out<T>>, headers: Arc<Mutex<HeaderSlot>>) -> Responses<T> {
        Responses { to: Destination::Call(tx), headers, sent_headers: false }
    }

    pub(crate) fn collecting(headers: Arc<Mutex<HeaderSlot>>) -> Responses<T> {
        Responses { to: Destination::Collected(Vec::new()), headers, sent_headers: false }
    }

    /// What a collecting `Responses` was sent; nothing for one of a call.
    pub(crate) fn into_collected(self) -> Vec<T> {
        match self.to {
            Destination::Collected(sent) => sent,
            Destination::Call(_) => Vec::new(),
        }
    }

    /// Sends one response. Blocks while the previous one is still being written (so a slow
    /// reader slows the View down instead of growing a queue); fails with
    /// [`StreamError::Cancelled`] once the client has gone.
    pub fn send(&mut self, message: T) -> Result<(), StreamError> {
        if !self.sent_headers {
            self.sent_headers = true;
            let headers = lock(&self.headers).take_for_sending();
            if let Some(headers) = headers {
                self.push(Out::Headers(headers))?;
            }
        }
        self.push(Out::Message(message))
    }

    /// Sends every response of `messages`, stopping at the first failure.
    pub fn send_all(&mut self, messages: impl IntoIterator<Item = T>) -> Result<(), StreamError> {
        messages.into_iter().try_for_each(|m| self.send(m))
    }

    fn push(&mut self, out: Out<T>) -> Result<(), StreamError> {
        use futures::SinkExt;
        match &mut self.to {
            Destination::Call(tx) => futures::executor::block_on(tx.send(out)).map_err(|_| StreamError::Cancelled),
            Destination::Collected(sent) => {
                if let Out::Message(message) = out {
                    sent.push(message);
                }
                Ok(())
            }
        }
    }
}
