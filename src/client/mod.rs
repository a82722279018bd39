//! The client: [`BaseClient`] (blocking calls that return the response or a typed error), its
//! [`ClientBuilder`], per-call [`CallOptions`], the [`RetryPolicy`], streams and
//! [`ClientInterceptor`]s.
//!
//! a3grpc-build generates, per service, a client with one method per RPC over a
//! `BaseClient` (what a subclass of the original's `BaseClient` was written for): `service
//! Greeter` gives `GreeterClient`.
//!
//! ```no_run
//! # use a3grpc_examples::hello; // in your crate: mod hello { a3grpc::include_proto!(""); }
//! use std::time::Duration;
//! use a3grpc::{BaseClient, CallOptions, Error};
//! use hello::{GreeterClient, HelloRequest};
//!
//! # fn main() -> Result<(), Error> {
//! let greeter = GreeterClient::new(BaseClient::builder("127.0.0.1", 50051).timeout(Duration::from_secs(5)).build()?);
//! match greeter.say_hello(&HelloRequest::new()) {
//!     Ok(reply) => println!("{reply:?}"),
//!     Err(Error::A3(err)) => println!("the server said {}: {}", err.name(), err.message()),
//!     Err(other) => println!("the call failed: {other}"),
//! }
//! let options = CallOptions::new().header("x-request-id", "42");
//! let replies = greeter.say_hello_stream_reply_with(&HelloRequest::new(), &options)?;
//! for reply in replies {
//!     println!("{}", reply?.message);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `BaseClient`'s own calls take any method descriptor (`client.call(&METHOD_GREETER_SAY_HELLO,
//! &request)`), for code that picks the RPC at run time.

// Built on the layers below it (error, wire, channel, the view's Context for `within`): `options.rs` holds the
// per-call settings and retries, `stream.rs` the streaming calls, `interceptor.rs` the client
// interceptors.

mod interceptor;
mod options;
mod stream;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use grpcio::{CallOption, ChannelBuilder, EnvBuilder, Environment, Metadata, MetadataBuilder, Method};

pub use interceptor::ClientInterceptor;
pub use options::{CallOptions, RetryPolicy};
pub use stream::{RequestSender, ResponseStream};

use crate::channel::{client_credentials, host_port, options_onto, ChannelOption, OptionValue};
use crate::error::{Code, Error, ErrorKind, StatusCodes};
use crate::method::RpcMethod;
use crate::metrics::{client_calls, CallMetrics, Kind};
use crate::sync::lock;
use crate::trace::{CallTrace, Side, TRACEPARENT};
use crate::wire;
use stream::Receiver;

/// Response metadata, in the order it arrived.
pub type Headers = Vec<(String, Vec<u8>)>;

/// Builds a [`BaseClient`].
#[derive(Clone)]
pub struct ClientBuilder {
    target: String,
    options: Vec<ChannelOption>,
    codes: StatusCodes,
    retry: RetryPolicy,
    kinds: Vec<ErrorKind>,
    timeout: Option<Duration>,
    ca_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    target_name: Option<String>,
    interceptors: Vec<Arc<dyn ClientInterceptor>>,
    idempotent: HashSet<&'static str>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder").field("target", &self.target).finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A client of `target`, e.g. `"127.0.0.1:50051"` or `"dns:///api.example.com:443"`.
    pub fn new(target: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            target: target.into(),
            options: Vec::new(),
            codes: StatusCodes::default(),
            retry: RetryPolicy::default(),
            kinds: Vec::new(),
            timeout: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            target_name: None,
            interceptors: Vec::new(),
            idempotent: HashSet::new(),
        }
    }

    /// Adds a client interceptor after those already added; each call passes through them
    /// in order.
    pub fn interceptor(mut self, interceptor: impl ClientInterceptor) -> ClientBuilder {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Connects with TLS, trusting the CA in this PEM file.
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> ClientBuilder {
        self.ca_cert = Some(path.into());
        self
    }

    /// Presents this PEM key and certificate to the server (mutual TLS). Key first, then
    /// certificate, as in [`Conf::tls`](crate::Conf::tls) and the original's
    /// `client_key`/`client_cert`.
    pub fn client_key_and_cert(
        mut self,
        client_key: impl Into<PathBuf>,
        client_cert: impl Into<PathBuf>,
    ) -> ClientBuilder {
        self.client_key = Some(client_key.into());
        self.client_cert = Some(client_cert.into());
        self
    }

    /// Checks the server certificate against `name` instead of the dialled host, for
    /// certificates issued to another name (test certificates, a server reached by IP).
    pub fn tls_target_name(mut self, name: impl Into<String>) -> ClientBuilder {
        self.target_name = Some(name.into());
        self
    }

    fn credentials(&self) -> Result<Option<grpcio::ChannelCredentials>, Error> {
        if self.ca_cert.is_none() && self.client_cert.is_none() {
            if self.target_name.is_some() {
                return Err(Error::Usage("tls_target_name needs TLS: set ca_cert".to_owned()));
            }
            return Ok(None);
        }
        let identity = self.client_key.as_deref().zip(self.client_cert.as_deref());
        client_credentials(self.ca_cert.as_deref(), identity)
            .map(Some)
            .map_err(|e| Error::Usage(format!("{}: {}", e.key, e.message)))
    }

    /// Adds a gRPC core channel arg, passed verbatim.
    pub fn option(mut self, name: impl Into<String>, value: impl Into<OptionValue>) -> ClientBuilder {
        self.options.push(ChannelOption::new(name, value));
        self
    }

    /// The status codes the server uses for a3 errors (its `patch_status_code`).
    pub fn patch_status_code(mut self, codes: StatusCodes) -> ClientBuilder {
        self.codes = codes;
        self
    }

    /// The retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> ClientBuilder {
        self.retry = policy;
        self
    }

    /// Registers a user-defined error class, so it comes back as
    /// [`A3Error::Custom`](crate::A3Error::Custom).
    pub fn error_kind(mut self, kind: ErrorKind) -> ClientBuilder {
        self.kinds.push(kind);
        self
    }

    /// Declares `method` idempotent: running it twice does no harm, so a failure the
    /// [`RetryPolicy`] lists is retried even when the request may have reached the server.
    /// (Without this, or [`CallOptions::idempotent`], only failures before the request was
    /// sent are retried.)
    pub fn idempotent<Req, Resp>(mut self, method: &impl RpcMethod<Req, Resp>) -> ClientBuilder {
        let method = method.grpc();
        self.idempotent.insert(method.name);
        self
    }

    /// A deadline for every call that sets none itself.
    pub fn timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// Creates the client. The connection is made lazily, on the first call.
    pub fn build(self) -> Result<BaseClient, Error> {
        if let Some((key, reason)) = self.codes.problem() {
            return Err(Error::Usage(format!("patch_status_code.{key}: {reason}")));
        }
        for option in &self.options {
            if let Some(problem) = option.problem() {
                return Err(Error::Usage(format!("channel option {:?}: {problem}", option.name)));
            }
            if let Some(warning) = option.unknown_name_warning() {
                log::warn!("{warning}");
            }
        }
        if self.target.is_empty() || self.target.contains('\0') {
            return Err(Error::Usage(format!("target {:?} is not an address", self.target)));
        }
        grpcio::redirect_log();
        let credentials = self.credentials()?;
        let env = client_environment();
        let mut channel = options_onto(ChannelBuilder::new(env), &self.options).map_err(Error::Usage)?;
        if let Some(name) = &self.target_name {
            channel = channel.override_ssl_target(name.clone());
        }
        let channel = match credentials {
            Some(credentials) => channel.set_credentials(credentials).connect(&self.target),
            None => channel.connect(&self.target),
        };
        let tls = match (&self.ca_cert, &self.client_cert) {
            (None, None) => Tls::None,
            (_, None) => Tls::ServerOnly,
            (_, Some(_)) => Tls::Mutual,
        };
        Ok(BaseClient {
            client: grpcio::Client::new(channel),
            tls,
            codes: self.codes,
            retry: self.retry,
            kinds: Arc::from(self.kinds),
            timeout: self.timeout,
            interceptors: Arc::from(self.interceptors),
            idempotent: Arc::new(self.idempotent),
        })
    }
}

/// A blocking gRPC client that returns typed a3 errors. Cheap to clone; clones share the
/// connection.
#[derive(Clone)]
pub struct BaseClient {
    client: grpcio::Client,
    tls: Tls,
    codes: StatusCodes,
    retry: RetryPolicy,
    kinds: Arc<[ErrorKind]>,
    timeout: Option<Duration>,
    interceptors: Arc<[Arc<dyn ClientInterceptor>]>,
    idempotent: Arc<HashSet<&'static str>>,
}

impl BaseClient {
    /// A client of `host:port` with default settings.
    pub fn connect(host: &str, port: u16) -> Result<BaseClient, Error> {
        BaseClient::builder(host, port).build()
    }

    /// A builder for a client of `host:port`.
    pub fn builder(host: &str, port: u16) -> ClientBuilder {
        ClientBuilder::new(host_port(host, port))
    }

    /// Calls the unary RPC `method`.
    pub fn call<Req, Resp>(&self, method: &impl RpcMethod<Req, Resp>, request: &Req) -> Result<Resp, Error> {
        self.call_with_headers(method, request, &CallOptions::default()).map(|(message, _)| message)
    }

    /// Calls the unary RPC `method` with a deadline and metadata.
    pub fn call_with<Req, Resp>(
        &self,
        method: &impl RpcMethod<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<Resp, Error> {
        self.call_with_headers(method, request, options).map(|(message, _)| message)
    }

    /// Calls the unary RPC `method` and also returns the response metadata.
    pub fn call_with_headers<Req, Resp>(
        &self,
        method: &impl RpcMethod<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<(Resp, Headers), Error> {
        let method = method.grpc();
        let started = Instant::now();
        let (options, metrics) = self.begin(method.name, Kind::Unary, options);
        metrics.sent();
        let result = self.unary_with_retries(method, request, &options);
        if result.is_ok() {
            metrics.received();
        }
        self.report(method.name, &metrics, result.as_ref().map(|_| ()), started);
        result
    }

    fn unary_with_retries<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<(Resp, Headers), Error> {
        let headers = request_metadata(&options.headers)?;
        let deadline = self.deadline(options);
        let idempotent = options.idempotent || self.idempotent.contains(method.name);
        let mut first = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut opt = CallOption::default();
            if let Some(deadline) = deadline {
                opt = opt.timeout(deadline.saturating_duration_since(Instant::now()));
            }
            if let Some(headers) = &headers {
                opt = opt.headers(headers.clone());
            }
            let outcome =
                self.client.unary_call_async(method, request, opt).and_then(|mut receiver| receiver.receive_sync());
            let err = match outcome {
                Ok((headers, message, _trailers)) => return Ok((message, wire::to_pairs(&headers))),
                Err(err) => self.error(err),
            };
            let retry = self.retry.allows(&err, idempotent) && attempt < self.retry.attempts;
            let pause = self.retry.delay(attempt - 1);
            if !retry || deadline.is_some_and(|d| Instant::now() + pause >= d) {
                return Err(match first {
                    // An a3 error is the service's answer, whatever failed before it: it comes
                    // back as it is, so `a3()` and `?` in a View see it.
                    Some(first) if err.a3().is_none() => {
                        Error::RetriesExhausted { attempts: attempt, first: Box::new(first), last: Box::new(err) }
                    }
                    _ => err,
                });
            }
            log::warn!("{}: {err}; retry {attempt} of {} in {pause:?}", method.name, self.retry.attempts - 1);
            first.get_or_insert(err);
            thread::sleep(pause);
        }
    }
}

impl BaseClient {
    /// Starts a call: its options after every interceptor's `before`, carrying the call's
    /// own trace context, and its counters and span.
    fn begin(&self, method: &str, kind: Kind, options: &CallOptions) -> (CallOptions, CallMetrics) {
        let mut options = options.clone();
        for interceptor in self.interceptors.iter() {
            interceptor.before(method, &mut options);
        }
        let trace = CallTrace::start(Side::Client, method, options.header_str(TRACEPARENT));
        options.replace_header(TRACEPARENT, trace.onward());
        (options, client_calls().start(method, kind, trace))
    }

    /// Tells the interceptors of a call that failed before it started, and returns the error.
    fn failed(&self, method: &str, metrics: &CallMetrics, err: Error, started: Instant) -> Error {
        self.report(method, metrics, Err(&err), started);
        err
    }

    /// Counts a call's end and tells the interceptors.
    pub(crate) fn report(&self, method: &str, metrics: &CallMetrics, result: Result<(), &Error>, started: Instant) {
        match result {
            Ok(()) => metrics.handled(Code::OK, None),
            Err(err) => metrics.handled(
                // An a3 error counts under the code this client expects for it.
                err.code().or_else(|| err.a3().map(|e| self.codes.code_for(e))).unwrap_or(Code::UNKNOWN),
                err.a3(),
            ),
        }
        for interceptor in self.interceptors.iter().rev() {
            interceptor.after(method, result, started.elapsed());
        }
    }

    /// When a call made now with `options` must end: its own timeout, or the client's.
    fn deadline(&self, options: &CallOptions) -> Option<Instant> {
        // A timeout too large to be a deadline (Duration::MAX) is no deadline.
        options.timeout.or(self.timeout).and_then(|t| Instant::now().checked_add(t))
    }

    fn call_option(&self, options: &CallOptions) -> Result<CallOption, Error> {
        let mut opt = CallOption::default();
        if let Some(deadline) = self.deadline(options) {
            opt = opt.timeout(deadline.saturating_duration_since(Instant::now()));
        }
        if let Some(headers) = request_metadata(&options.headers)? {
            opt = opt.headers(headers);
        }
        Ok(opt)
    }

    /// What a grpcio error means for the caller: the status the call ended with, or what
    /// failed in this client before one arrived.
    pub(crate) fn error(&self, err: grpcio::Error) -> Error {
        match err {
            grpcio::Error::RpcFailure(status) | grpcio::Error::RpcFinished(Some(status)) => {
                match self.tls.handshake_advice(&status) {
                    Some(hint) => Error::TlsHandshake { hint, message: status.message().to_owned() },
                    None => wire::error_from_status(&status, &self.codes, &self.kinds),
                }
            }
            grpcio::Error::RpcFinished(None) => Error::CallEnded,
            grpcio::Error::Codec(e) => Error::Transport(format!("the response could not be decoded: {e}")),
            other => Error::Transport(other.to_string()),
        }
    }

    /// Calls the client-streaming RPC `method`: sends every request (one at a time, as the
    /// server takes them) and returns the one response. Streaming calls are never retried.
    pub fn client_streaming<Req: Send + 'static, Resp>(
        &self,
        method: &impl RpcMethod<Req, Resp>,
        requests: impl IntoIterator<Item = Req>,
        options: &CallOptions,
    ) -> Result<Resp, Error> {
        let method = method.grpc();
        let started = Instant::now();
        let (options, metrics) = self.begin(method.name, Kind::ClientStream, options);
        let result = (|| {
            let (sender, mut receiver) =
                self.client.client_streaming(method, self.call_option(&options)?).map_err(|e| self.error(e))?;
            let mut requests_out = RequestSender::spawn(self, sender, metrics.clone());
            for request in requests {
                // A failed send means the call is over; its status comes with the response.
                if requests_out.send(request).is_err() {
                    break;
                }
            }
            requests_out.finish();
            block_on(receiver.message()).map_err(|e| self.error(e))
        })();
        if result.is_ok() {
            metrics.received();
        }
        self.report(method.name, &metrics, result.as_ref().map(|_| ()), started);
        result
    }

    /// Calls the server-streaming RPC `method`; the responses arrive through the returned
    /// blocking iterator.
    pub fn server_streaming<Req, Resp: Send + 'static>(
        &self,
        method: &impl RpcMethod<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<ResponseStream<Resp>, Error> {
        let method = method.grpc();
        let started = Instant::now();
        let (options, metrics) = self.begin(method.name, Kind::ServerStream, options);
        let call_option = self.call_option(&options).map_err(|e| self.failed(method.name, &metrics, e, started))?;
        let receiver = self.client.server_streaming(method, request, call_option);
        let receiver = receiver.map_err(|e| self.failed(method.name, &metrics, self.error(e), started))?;
        metrics.sent();
        Ok(ResponseStream::spawn(self, method.name, metrics, started, Receiver::Server(receiver)))
    }

    /// Calls the bidirectional-streaming RPC `method`: send with the [`RequestSender`], read
    /// with the [`ResponseStream`], in lock-step or from two threads.
    pub fn bidi<Req: Send + 'static, Resp: Send + 'static>(
        &self,
        method: &impl RpcMethod<Req, Resp>,
        options: &CallOptions,
    ) -> Result<(RequestSender<Req>, ResponseStream<Resp>), Error> {
        let method = method.grpc();
        let started = Instant::now();
        let (options, metrics) = self.begin(method.name, Kind::BidiStream, options);
        let call_option = self.call_option(&options).map_err(|e| self.failed(method.name, &metrics, e, started))?;
        let call = self.client.duplex_streaming(method, call_option);
        let (sender, receiver) = call.map_err(|e| self.failed(method.name, &metrics, self.error(e), started))?;
        let requests = RequestSender::spawn(self, sender, metrics.clone());
        Ok((requests, ResponseStream::spawn(self, method.name, metrics, started, Receiver::Duplex(receiver))))
    }
}

fn request_metadata(pairs: &[(String, Vec<u8>)]) -> Result<Option<Metadata>, Error> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut builder = MetadataBuilder::with_capacity(pairs.len());
    for (key, value) in pairs {
        wire::add_metadata(&mut builder, key, value).map_err(|e| Error::Usage(format!("metadata {e}")))?;
    }
    Ok(Some(builder.build()))
}

/// The gRPC environment (one I/O thread) that the process's clients share: clients are cheap
/// to build, and a program with many of them does not grow a thread for each. Each client's
/// channel holds it; when the last client goes, its thread ends once its calls have.
fn client_environment() -> Arc<Environment> {
    static SHARED: Mutex<Weak<Environment>> = Mutex::new(Weak::new());
    let mut shared = lock(&SHARED);
    if let Some(env) = shared.upgrade() {
        return env;
    }
    let env = Arc::new(EnvBuilder::new().cq_count(1).name_prefix("a3grpc-client").build());
    *shared = Arc::downgrade(&env);
    env
}

/// Whether a client speaks TLS, and with a certificate of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    None,
    ServerOnly,
    Mutual,
}

impl Tls {
    /// Whether a failure to connect was the TLS handshake failing, and what to check then.
    /// The core only says the connection closed ("Socket closed") when the server refuses the
    /// client after the handshake (TLS 1.3 sends the refusal last), or names the handshake
    /// when this side refused the server's certificate.
    fn handshake_advice(self, status: &grpcio::RpcStatus) -> Option<&'static str> {
        let message = status.message().to_ascii_lowercase();
        let handshake = status.code() == grpcio::RpcStatusCode::UNAVAILABLE
            && message.contains("failed to connect to all addresses")
            && ["socket closed", "handshake", "ssl", "certificate"].iter().any(|m| message.contains(m));
        match self {
            _ if !handshake => None,
            Tls::None => None,
            Tls::ServerOnly => Some(
                "the server may require a client certificate (set client_key_and_cert), or this \
                 client does not trust the server's (check ca_cert and the server's name); the \
                 server's log says which",
            ),
            Tls::Mutual => Some(
                "the server may not trust this client's certificate, or this client the \
                 server's (check ca_cert and the server's name); the server's log says which",
            ),
        }
    }
}
