//! `BaseClient`: blocking calls that return the response or a typed error.
//!
//! Wrap it in a small struct with one method per RPC, as a subclass of the original's
//! `BaseClient` would:
//!
//! ```no_run
//! # use a3grpc_examples::hello; // in your crate: mod hello { a3grpc::include_proto!(""); }
//! use a3grpc::{BaseClient, Error};
//! use hello::{HelloReply, HelloRequest, METHOD_GREETER_SAY_HELLO};
//!
//! struct GreeterClient(BaseClient);
//!
//! impl GreeterClient {
//!     fn say_hello(&self, request: &HelloRequest) -> Result<HelloReply, Error> {
//!         self.0.call(&METHOD_GREETER_SAY_HELLO, request)
//!     }
//! }
//!
//! # fn main() -> Result<(), Error> {
//! let greeter = GreeterClient(BaseClient::connect("127.0.0.1", 50051)?);
//! match greeter.say_hello(&HelloRequest::new()) {
//!     Ok(reply) => println!("{reply:?}"),
//!     Err(Error::A3(err)) => println!("the server said {}: {}", err.name(), err.message()),
//!     Err(other) => println!("the call failed: {other}"),
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use std::task::Poll;

use futures::channel::{mpsc, oneshot};
use futures::executor::block_on;
use futures::future::poll_fn;
use futures::{FutureExt, SinkExt, StreamExt};
use grpcio::{
    CallOption, ChannelBuilder, ChannelCredentials, ChannelCredentialsBuilder, EnvBuilder, Metadata, MetadataBuilder,
    Method, WriteFlags,
};

use crate::conf::{read_pem, ChannelOption, OptionValue};
use crate::error::{Error, ErrorKind, StatusCodes};
use crate::interceptor::ClientInterceptor;
use crate::server::options_onto;

const UNAVAILABLE: i32 = 14;
const INTERNAL: i32 = 13;
const CANCELLED: i32 = 1;
/// How many requests a streaming call may queue ahead of the network.
const STREAM_WINDOW: usize = 16;

/// When and how often a failed call is tried again.
///
/// a3 errors are answers, never retried. By default only UNAVAILABLE (no connection, server
/// restarting) is retried, 5 tries in all, with exponential back-off from 100 ms up to 3 s,
/// and no sleep after the last try. A call's timeout covers all its tries.
///
/// ```
/// use std::time::Duration;
/// use a3grpc::RetryPolicy;
///
/// let policy = RetryPolicy::new(3).backoff(Duration::from_millis(50), Duration::from_secs(1));
/// let never = RetryPolicy::never();
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    codes: Vec<i32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
            codes: vec![UNAVAILABLE],
        }
    }
}

impl RetryPolicy {
    /// Up to `attempts` tries in all (at least one), with the default back-off and codes.
    pub fn new(attempts: u32) -> RetryPolicy {
        RetryPolicy { attempts: attempts.max(1), ..RetryPolicy::default() }
    }

    /// One try, no retries.
    pub fn never() -> RetryPolicy {
        RetryPolicy::new(1)
    }

    /// Back-off before the second try is `initial`, doubling up to `max`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> RetryPolicy {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The gRPC status codes that are retried (default: UNAVAILABLE only). Retrying other
    /// codes may run a non-idempotent call twice.
    pub fn retry_on(mut self, codes: &[i32]) -> RetryPolicy {
        self.codes = codes.to_vec();
        self
    }

    fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Per-call settings: deadline and request metadata.
///
/// ```
/// use std::time::Duration;
/// use a3grpc::CallOptions;
///
/// let opts = CallOptions::new().timeout(Duration::from_secs(2)).header("x-request-id", "42");
/// ```
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    timeout: Option<Duration>,
    headers: Vec<(String, Vec<u8>)>,
}

impl CallOptions {
    /// No deadline beyond the client's default, no metadata.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// The call fails with DEADLINE_EXCEEDED if it has not finished in `timeout`, retries
    /// included.
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }

    /// Adds request metadata. Keys are lower-case; keys ending in `-bin` carry bytes.
    pub fn header(mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> CallOptions {
        self.set_header(key, value);
        self
    }

    /// Adds request metadata in place (for [`ClientInterceptor`]s).
    pub fn set_header(&mut self, key: impl Into<String>, value: impl AsRef<[u8]>) {
        self.headers.push((key.into(), value.as_ref().to_vec()));
    }

    /// Whether request metadata `key` is set.
    pub fn has_header(&self, key: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == key)
    }

    /// Sets the deadline in place (for [`ClientInterceptor`]s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }
}

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

    /// Presents this PEM certificate and key to the server (mutual TLS).
    pub fn client_identity(mut self, client_cert: impl Into<PathBuf>, client_key: impl Into<PathBuf>) -> ClientBuilder {
        self.client_cert = Some(client_cert.into());
        self.client_key = Some(client_key.into());
        self
    }

    /// Checks the server certificate against `name` instead of the dialled host, for
    /// certificates issued to another name (test certificates, a server reached by IP).
    pub fn tls_target_name(mut self, name: impl Into<String>) -> ClientBuilder {
        self.target_name = Some(name.into());
        self
    }

    fn credentials(&self) -> Result<Option<ChannelCredentials>, Error> {
        let usage = |e: crate::ConfError| Error::Usage(e.to_string());
        if self.ca_cert.is_none() && self.client_cert.is_none() {
            if self.target_name.is_some() {
                return Err(Error::Usage("tls_target_name needs TLS: set ca_cert".to_owned()));
            }
            return Ok(None);
        }
        let mut builder = ChannelCredentialsBuilder::new();
        if let Some(ca) = &self.ca_cert {
            builder = builder.root_cert(read_pem("ca_cert", ca, "CERTIFICATE").map_err(usage)?);
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let cert = read_pem("client_cert", cert, "CERTIFICATE").map_err(usage)?;
            let key = read_pem("client_key", key, "PRIVATE KEY").map_err(usage)?;
            builder = builder.cert(cert, key);
        }
        Ok(Some(builder.build()))
    }

    /// Adds a gRPC core channel arg, passed verbatim.
    pub fn option(mut self, name: impl Into<String>, value: impl Into<OptionValue>) -> ClientBuilder {
        self.options.push(ChannelOption { name: name.into(), value: value.into() });
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

    /// Registers a user-defined error class, so it comes back as [`A3Error::Custom`](crate::A3Error::Custom).
    pub fn error_kind(mut self, kind: ErrorKind) -> ClientBuilder {
        self.kinds.push(kind);
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
            let bad_value = matches!(&option.value, OptionValue::Str(s) if s.contains('\0'));
            if option.name.is_empty() || option.name.contains('\0') || bad_value {
                return Err(Error::Usage(format!(
                    "channel option {:?}: names and values must not contain NUL",
                    option.name
                )));
            }
        }
        if self.target.is_empty() || self.target.contains('\0') {
            return Err(Error::Usage(format!("target {:?} is not an address", self.target)));
        }
        grpcio::redirect_log();
        let credentials = self.credentials()?;
        let env = Arc::new(EnvBuilder::new().cq_count(1).name_prefix("a3grpc-client").build());
        let mut channel = options_onto(ChannelBuilder::new(env), &self.options);
        if let Some(name) = &self.target_name {
            channel = channel.override_ssl_target(name.clone());
        }
        let channel = match credentials {
            Some(credentials) => channel.set_credentials(credentials).connect(&self.target),
            None => channel.connect(&self.target),
        };
        Ok(BaseClient {
            client: grpcio::Client::new(channel),
            codes: self.codes,
            retry: self.retry,
            kinds: Arc::from(self.kinds),
            timeout: self.timeout,
            interceptors: Arc::from(self.interceptors),
        })
    }
}

/// A blocking gRPC client that returns typed a3 errors. Cheap to clone; clones share the
/// connection.
#[derive(Clone)]
pub struct BaseClient {
    client: grpcio::Client,
    codes: StatusCodes,
    retry: RetryPolicy,
    kinds: Arc<[ErrorKind]>,
    timeout: Option<Duration>,
    interceptors: Arc<[Arc<dyn ClientInterceptor>]>,
}

impl BaseClient {
    /// A client of `host:port` with default settings.
    pub fn connect(host: &str, port: u16) -> Result<BaseClient, Error> {
        BaseClient::builder(host, port).build()
    }

    /// A builder for a client of `host:port`.
    pub fn builder(host: &str, port: u16) -> ClientBuilder {
        let target = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        ClientBuilder::new(target)
    }

    /// Calls the unary RPC `method`.
    pub fn call<Req, Resp>(&self, method: &Method<Req, Resp>, request: &Req) -> Result<Resp, Error> {
        self.call_with_headers(method, request, &CallOptions::default()).map(|(message, _)| message)
    }

    /// Calls the unary RPC `method` with a deadline and metadata.
    pub fn call_with<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<Resp, Error> {
        self.call_with_headers(method, request, options).map(|(message, _)| message)
    }

    /// Calls the unary RPC `method` and also returns the response metadata.
    pub fn call_with_headers<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<(Resp, Headers), Error> {
        let started = Instant::now();
        let options = self.intercepted(method.name, options);
        let result = self.unary_with_retries(method, request, &options);
        self.report(method.name, result.as_ref().map(|_| ()), started);
        result
    }

    fn unary_with_retries<Req, Resp>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<(Resp, Headers), Error> {
        let headers = request_metadata(&options.headers)?;
        let deadline = options.timeout.or(self.timeout).map(|t| Instant::now() + t);
        let mut retry = 0;
        loop {
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
                Ok((headers, message, _trailers)) => return Ok((message, to_pairs(&headers))),
                Err(grpcio::Error::RpcFailure(status)) => Error::from_status(&status, &self.codes, &self.kinds),
                Err(other) => Error::Status { code: INTERNAL, message: other.to_string() },
            };
            retry += 1;
            let retryable = matches!(&err, Error::Status { code, .. } if self.retry.codes.contains(code));
            if !retryable || retry >= self.retry.attempts {
                return Err(err);
            }
            let pause = self.retry.delay(retry - 1);
            if deadline.is_some_and(|d| Instant::now() + pause >= d) {
                return Err(err);
            }
            log::warn!("{}: {err}; retry {retry} of {} in {pause:?}", method.name, self.retry.attempts - 1);
            thread::sleep(pause);
        }
    }
}

impl BaseClient {
    /// The call's options after every interceptor's `before`.
    fn intercepted(&self, method: &str, options: &CallOptions) -> CallOptions {
        let mut options = options.clone();
        for interceptor in self.interceptors.iter() {
            interceptor.before(method, &mut options);
        }
        options
    }

    fn report(&self, method: &str, result: Result<(), &Error>, started: Instant) {
        for interceptor in self.interceptors.iter().rev() {
            interceptor.after(method, result, started.elapsed());
        }
    }

    fn call_option(&self, options: &CallOptions) -> Result<CallOption, Error> {
        let mut opt = CallOption::default();
        if let Some(timeout) = options.timeout.or(self.timeout) {
            opt = opt.timeout(timeout);
        }
        if let Some(headers) = request_metadata(&options.headers)? {
            opt = opt.headers(headers);
        }
        Ok(opt)
    }

    fn error(&self, err: grpcio::Error) -> Error {
        match err {
            grpcio::Error::RpcFailure(status) => Error::from_status(&status, &self.codes, &self.kinds),
            other => Error::Status { code: INTERNAL, message: other.to_string() },
        }
    }

    /// Calls the client-streaming RPC `method`: sends every request (one at a time, as the
    /// server takes them) and returns the one response. Streaming calls are never retried.
    pub fn client_streaming<Req: Send + 'static, Resp>(
        &self,
        method: &Method<Req, Resp>,
        requests: impl IntoIterator<Item = Req>,
        options: &CallOptions,
    ) -> Result<Resp, Error> {
        let started = Instant::now();
        let options = self.intercepted(method.name, options);
        let result = (|| {
            let (sender, mut receiver) =
                self.client.client_streaming(method, self.call_option(&options)?).map_err(|e| self.error(e))?;
            let mut requests_out = RequestSender::spawn(&self.client, sender);
            for request in requests {
                // A failed send means the call is over; its status comes with the response.
                if requests_out.send(request).is_err() {
                    break;
                }
            }
            requests_out.finish();
            block_on(receiver.message()).map_err(|e| self.error(e))
        })();
        self.report(method.name, result.as_ref().map(|_| ()), started);
        result
    }

    /// Calls the server-streaming RPC `method`; the responses arrive through the returned
    /// blocking iterator.
    pub fn server_streaming<Req, Resp: Send + 'static>(
        &self,
        method: &Method<Req, Resp>,
        request: &Req,
        options: &CallOptions,
    ) -> Result<ResponseStream<Resp>, Error> {
        let options = self.intercepted(method.name, options);
        let receiver =
            self.client.server_streaming(method, request, self.call_option(&options)?).map_err(|e| self.error(e))?;
        Ok(ResponseStream::spawn(self, Receiver::Server(receiver)))
    }

    /// Calls the bidirectional-streaming RPC `method`: send with the [`RequestSender`], read
    /// with the [`ResponseStream`], in lock-step or from two threads.
    pub fn bidi<Req: Send + 'static, Resp: Send + 'static>(
        &self,
        method: &Method<Req, Resp>,
        options: &CallOptions,
    ) -> Result<(RequestSender<Req>, ResponseStream<Resp>), Error> {
        let options = self.intercepted(method.name, options);
        let (sender, receiver) =
            self.client.duplex_streaming(method, self.call_option(&options)?).map_err(|e| self.error(e))?;
        Ok((RequestSender::spawn(&self.client, sender), ResponseStream::spawn(self, Receiver::Duplex(receiver))))
    }
}

// Streams move between the caller's thread and the client's I/O thread through small bounded
// channels: the I/O thread writes and reads a few messages ahead, so a long stream neither
// costs a thread hand-off per message nor piles up in memory.

enum Receiver<T> {
    Server(grpcio::ClientSStreamReceiver<T>),
    Duplex(grpcio::ClientDuplexReceiver<T>),
}

impl<T> Receiver<T> {
    fn cancel(&mut self) {
        match self {
            Receiver::Server(r) => r.cancel(),
            Receiver::Duplex(r) => r.cancel(),
        }
    }

    async fn headers(&mut self) -> grpcio::Result<Headers> {
        match self {
            Receiver::Server(r) => r.headers().await.map(to_pairs),
            Receiver::Duplex(r) => r.headers().await.map(to_pairs),
        }
    }

    fn poll_message(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<grpcio::Result<T>>> {
        match self {
            Receiver::Server(r) => r.poll_next_unpin(cx),
            Receiver::Duplex(r) => r.poll_next_unpin(cx),
        }
    }
}

/// The responses of a streaming call, as a blocking iterator of typed results. It ends after
/// the last response, or after the error that ended the call. Dropping it before the end
/// cancels the call.
///
/// A grpcio client reports an error status as soon as it arrives, so messages the server sent
/// just before an error may be skipped if they were not read yet.
pub struct ResponseStream<T> {
    incoming: mpsc::Receiver<grpcio::Result<T>>,
    headers: Option<oneshot::Receiver<grpcio::Result<Headers>>>,
    cached_headers: Option<Headers>,
    cancel: Option<oneshot::Sender<()>>,
    client: BaseClient,
    done: bool,
}

impl<T: Send + 'static> ResponseStream<T> {
    fn spawn(client: &BaseClient, mut receiver: Receiver<T>) -> ResponseStream<T> {
        let (mut tx, incoming) = mpsc::channel(STREAM_WINDOW);
        let (headers_tx, headers) = oneshot::channel();
        let (cancel, mut cancelled) = oneshot::channel::<()>();
        client.client.spawn(async move {
            let _ = headers_tx.send(receiver.headers().await);
            loop {
                // The caller cancelling (or dropping the stream) wins over a pending read.
                let next = poll_fn(|cx| {
                    if cancelled.poll_unpin(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    receiver.poll_message(cx).map(Some)
                })
                .await;
                match next {
                    None => {
                        receiver.cancel();
                        return;
                    }
                    Some(None) => return,
                    Some(Some(item)) => {
                        let failed = item.is_err();
                        if tx.send(item).await.is_err() || failed {
                            return;
                        }
                    }
                }
            }
        });
        ResponseStream {
            incoming,
            headers: Some(headers),
            cached_headers: None,
            cancel: Some(cancel),
            client: client.clone(),
            done: false,
        }
    }
}

impl<T> ResponseStream<T> {
    /// Cancels the call; the server's View sees it as cancelled.
    pub fn cancel(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
        self.done = true;
    }

    /// The response metadata; waits for it if it has not arrived.
    pub fn headers(&mut self) -> Result<Headers, Error> {
        if let Some(headers) = &self.cached_headers {
            return Ok(headers.clone());
        }
        let arrived = match self.headers.take() {
            Some(pending) => block_on(pending),
            None => return Ok(Vec::new()),
        };
        match arrived {
            Ok(Ok(headers)) => {
                self.cached_headers = Some(headers.clone());
                Ok(headers)
            }
            Ok(Err(err)) => Err(self.client.error(err)),
            Err(_) => Ok(Vec::new()),
        }
    }
}

impl<T> Iterator for ResponseStream<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match block_on(self.incoming.next()) {
            Some(Ok(message)) => Some(Ok(message)),
            Some(Err(err)) => {
                self.done = true;
                Some(Err(self.client.error(err)))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

/// The request side of a streaming call: a blocking sender.
pub struct RequestSender<T> {
    window: Option<mpsc::Sender<T>>,
}

impl<T: Send + 'static> RequestSender<T> {
    fn spawn<S>(client: &grpcio::Client, mut sink: S) -> RequestSender<T>
    where
        S: futures::Sink<(T, WriteFlags), Error = grpcio::Error> + Unpin + Send + 'static,
    {
        let (window, mut queued) = mpsc::channel::<T>(STREAM_WINDOW);
        client.spawn(async move {
            // A message with another right behind it goes with the buffer hint; the last of
            // a burst is flushed, so lock-step ping-pong never waits on a buffer.
            let mut ahead = None;
            loop {
                let request = match ahead.take() {
                    Some(request) => request,
                    None => match queued.next().await {
                        Some(request) => request,
                        None => break,
                    },
                };
                ahead = queued.try_recv().ok();
                let more = ahead.is_some();
                let flags = WriteFlags::default().buffer_hint(more);
                let written = if more { sink.feed((request, flags)).await } else { sink.send((request, flags)).await };
                if written.is_err() {
                    // The call is over; its status comes with the response.
                    return;
                }
            }
            let _ = sink.close().await;
        });
        RequestSender { window: Some(window) }
    }
}

impl<T> RequestSender<T> {
    /// Sends one request; blocks while the server is slow to read. Fails once the call is
    /// over, whose status the response then gives.
    pub fn send(&mut self, request: T) -> Result<(), Error> {
        let sent = match &mut self.window {
            Some(window) => block_on(window.send(request)).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(Error::Status { code: CANCELLED, message: "the call is over; the response has its status".to_owned() })
        }
    }

    /// Tells the server no more requests come (half-close), once those sent are written.
    /// Also done on drop.
    pub fn finish(&mut self) {
        self.window = None;
    }
}

fn request_metadata(pairs: &[(String, Vec<u8>)]) -> Result<Option<Metadata>, Error> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut builder = MetadataBuilder::with_capacity(pairs.len());
    for (key, value) in pairs {
        let added = if key.ends_with("-bin") {
            builder.add_bytes(key, value).map(|_| ())
        } else {
            match std::str::from_utf8(value) {
                Ok(text) => builder.add_str(key, text).map(|_| ()),
                Err(_) => return Err(Error::Usage(format!("metadata {key:?} is not text; use a -bin key for bytes"))),
            }
        };
        added.map_err(|e| Error::Usage(format!("metadata {key:?} rejected: {e}")))?;
    }
    Ok(Some(builder.build()))
}

fn to_pairs(metadata: &Metadata) -> Headers {
    metadata.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
