//! Views: one blocking handler per RPC, and the call context they see.
//!
//! A View runs on the server's worker pool, never on a gRPC I/O thread, so it may block
//! (database calls, file I/O, sleeping) without stalling other calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use grpcio::{Deadline, Metadata, MetadataBuilder};

use crate::error::A3Error;

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
    method: String,
    peer: String,
    request_headers: Vec<(String, Vec<u8>)>,
    deadline: Deadline,
    cancelled: Arc<Cancellation>,
    response_headers: Option<MetadataBuilder>,
}

impl Context {
    pub(crate) fn new(call: &CallInfo) -> Context {
        Context {
            method: call.method.clone(),
            peer: call.peer.clone(),
            request_headers: call.headers.clone(),
            deadline: call.deadline,
            cancelled: call.cancelled.clone(),
            response_headers: None,
        }
    }

    /// The full method path, e.g. `/Greeter/say_hello`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The caller's address, e.g. `ipv4:127.0.0.1:51234`.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The first value of request metadata `key` as text (keys are lower-case).
    pub fn header(&self, key: &str) -> Option<&str> {
        self.header_bytes(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of request metadata `key` as bytes (for `-bin` keys).
    pub fn header_bytes(&self, key: &str) -> Option<&[u8]> {
        self.request_headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// All request metadata, in the order it arrived.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.request_headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Whether the caller's deadline has passed.
    pub fn deadline_exceeded(&self) -> bool {
        self.deadline.exceeded()
    }

    /// Whether the caller has gone: it cancelled, its deadline passed, or the server is
    /// stopping. A long View should check this and return early.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.is_set() || self.deadline.exceeded()
    }

    /// Blocks up to `timeout` or until the call is cancelled, whichever comes first, and
    /// tells which: `true` if cancelled. Use it instead of `sleep` in a View that waits, so
    /// a caller that gives up frees the worker at once.
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        self.cancelled.wait(timeout) || self.deadline.exceeded()
    }

    /// Adds response (initial) metadata. Keys ending in `-bin` carry bytes, others text.
    ///
    /// Metadata goes out with the response; a call that ends with an error sends only its
    /// status.
    pub fn set_header(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), A3Error> {
        let builder = self.response_headers.get_or_insert_with(MetadataBuilder::new);
        let value = value.as_ref();
        let added = if key.ends_with("-bin") {
            builder.add_bytes(key, value).map(|_| ())
        } else {
            match std::str::from_utf8(value) {
                Ok(text) => builder.add_str(key, text).map(|_| ()),
                Err(_) => {
                    return Err(A3Error::server_known(format!("response header {key:?} is not text; use a -bin key")))
                }
            }
        };
        added.map_err(|e| A3Error::server_known(format!("response header {key:?} rejected: {e}")))
    }

    pub(crate) fn take_response_headers(&mut self) -> Option<Metadata> {
        self.response_headers.take().map(MetadataBuilder::build)
    }
}

/// What the server copies out of grpcio's call context before handing the call to a worker.
pub(crate) struct CallInfo {
    pub(crate) method: String,
    pub(crate) peer: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) deadline: Deadline,
    pub(crate) cancelled: Arc<Cancellation>,
}

impl CallInfo {
    pub(crate) fn from_rpc(ctx: &grpcio::RpcContext<'_>) -> CallInfo {
        let headers = ctx.request_headers().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        CallInfo {
            method: String::from_utf8_lossy(ctx.method()).into_owned(),
            peer: ctx.peer(),
            headers,
            deadline: ctx.deadline(),
            cancelled: Arc::new(Cancellation::default()),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.is_set()
    }
}

/// The "caller has gone" signal, set by the I/O thread and read by the View's worker. The
/// flag makes the check free; the condvar lets a waiting View wake at once.
#[derive(Default)]
pub(crate) struct Cancellation {
    flag: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Cancellation {
    pub(crate) fn set(&self) {
        self.flag.store(true, Ordering::Release);
        let _guard = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.wake.notify_all();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut guard = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while !self.is_set() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = match self.wake.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}
