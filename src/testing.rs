//! Testing Views without a server, like a Django view test: a [`Context`] with the metadata,
//! peer and deadline a test chooses ([`context`]), [`Requests`] from an iterator
//! ([`requests`]), [`Responses`] that collect what the View sends ([`responses`], [`sent`]),
//! and what the View set for the response ([`headers`], [`trailers`]). For a test over a
//! real socket, [`serve`] starts Servicers on a free loopback port with a client of them.
//!
//! ```
//! use a3grpc::{testing, A3Error, Context, Requests, Responses, BidiView};
//! # use a3grpc_examples::hello::{self, HelloReply, HelloRequest};
//!
//! /// Greets every name, and refuses callers without a user.
//! struct Greet;
//!
//! impl BidiView for Greet {
//!     type Request = HelloRequest;
//!     type Response = HelloReply;
//!
//!     fn handle(&self, requests: Requests<HelloRequest>, out: &mut Responses<HelloReply>, ctx: &mut Context)
//!         -> Result<(), A3Error> {
//!         let user = ctx.header("x-user").ok_or_else(|| A3Error::AuthenticationFailed("who are you?".into()))?;
//!         ctx.set_trailer("x-served-for", user.to_owned())?;
//!         for request in requests {
//!             out.send(hello::reply(format!("Hello {}!", request?.name)))?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let mut ctx = testing::context().header("x-user", "ada").build();
//! let mut out = testing::responses();
//! Greet.handle(testing::requests([hello::request("Bob"), hello::request("Eve")]), &mut out, &mut ctx)?;
//! let greetings: Vec<_> = testing::sent(out).into_iter().map(|r| r.message).collect();
//! assert_eq!(greetings, ["Hello Bob!", "Hello Eve!"]);
//! assert_eq!(testing::trailers(&mut ctx), [("x-served-for".to_owned(), b"ada".to_vec())]);
//!
//! let mut anonymous = testing::context().build();
//! let refused = Greet.handle(testing::requests([]), &mut testing::responses(), &mut anonymous);
//! assert!(matches!(refused, Err(A3Error::AuthenticationFailed(_))));
//! # Ok::<(), A3Error>(())
//! ```
//!
//! A View that calls another service holds the trait a3grpc-build generates with the service's
//! client (`GreeterApi` for `GreeterClient`), so its test hands it a fake, which implements the
//! `_with` methods of the calls it answers:
//!
//! ```
//! use std::sync::Arc;
//! use a3grpc::{testing, A3Error, CallOptions, Context, Error, UnaryView};
//! # use a3grpc_examples::hello::{GreeterApi, HelloReply, HelloRequest};
//!
//! /// Welcomes through the greeter service, whose a3 errors it passes on.
//! struct Welcome {
//!     greeter: Arc<dyn GreeterApi>, // a GreeterClient when served
//! }
//!
//! impl UnaryView for Welcome {
//!     type Request = HelloRequest;
//!     type Response = HelloReply;
//!     fn handle(&self, request: HelloRequest, ctx: &mut Context) -> Result<HelloReply, A3Error> {
//!         let reply = self.greeter.say_hello_with(&request, &CallOptions::within(ctx))?;
//!         Ok(HelloReply { message: format!("{} Welcome!", reply.message), ..Default::default() })
//!     }
//! }
//!
//! struct FakeGreeter;
//!
//! impl GreeterApi for FakeGreeter {
//!     fn say_hello_with(&self, request: &HelloRequest, _: &CallOptions) -> Result<HelloReply, Error> {
//!         match request.name.as_str() {
//!             "" => Err(A3Error::Validation("name is required".into()).into()),
//!             name => Ok(HelloReply { message: format!("Hi {name}!"), ..Default::default() }),
//!         }
//!     }
//! }
//!
//! let view = Welcome { greeter: Arc::new(FakeGreeter) };
//! let ada = HelloRequest { name: "Ada".into(), ..Default::default() };
//! assert_eq!(view.handle(ada, &mut testing::context().build())?.message, "Hi Ada! Welcome!");
//! let refused = view.handle(HelloRequest::default(), &mut testing::context().build());
//! assert!(matches!(refused, Err(A3Error::Validation(_))));
//! # Ok::<(), A3Error>(())
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use grpcio::{Deadline, Metadata};

use crate::call::{CallInfo, Cancellation, Stopping};
use crate::client::BaseClient;
use crate::conf::Conf;
use crate::metrics::detached_call;
use crate::server::{Server, ServerError};
use crate::servicer::Servicer;
use crate::trace::{CallTrace, TRACEPARENT};
use crate::view::{Context, Requests, Responses};
use crate::wire;

/// Builds the [`Context`] of a call that no client made: see [`context`].
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    method: String,
    peer: String,
    headers: Vec<(String, Vec<u8>)>,
    timeout: Option<Duration>,
    cancelled: bool,
    stopping: bool,
}

/// A [`Context`] for a View under test: method `/test/call`, peer `ipv4:127.0.0.1:1`, no
/// metadata and no deadline until the builder sets them.
pub fn context() -> ContextBuilder {
    ContextBuilder {
        method: "/test/call".to_owned(),
        peer: "ipv4:127.0.0.1:1".to_owned(),
        headers: Vec::new(),
        timeout: None,
        cancelled: false,
        stopping: false,
    }
}

impl ContextBuilder {
    /// The full method path the View sees, e.g. `/shop.v1.Shop/GetItem`.
    pub fn method(mut self, method: impl Into<String>) -> ContextBuilder {
        self.method = method.into();
        self
    }

    /// The caller's address, e.g. `ipv4:10.0.0.7:51234`.
    pub fn peer(mut self, peer: impl Into<String>) -> ContextBuilder {
        self.peer = peer.into();
        self
    }

    /// Adds request metadata (keys lower-case; `-bin` keys carry bytes).
    pub fn header(mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> ContextBuilder {
        self.headers.push((key.into(), value.as_ref().to_vec()));
        self
    }

    /// The caller's deadline, `timeout` from when the context is built.
    pub fn timeout(mut self, timeout: Duration) -> ContextBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// A call whose caller has already gone: `is_cancelled()` is true and waits end at once.
    pub fn cancelled(mut self) -> ContextBuilder {
        self.cancelled = true;
        self
    }

    /// A call on a server whose graceful stop has begun: `is_stopping()` is true and
    /// `wait_stopping` returns at once.
    pub fn stopping(mut self) -> ContextBuilder {
        self.stopping = true;
        self
    }

    /// The context.
    pub fn build(self) -> Context {
        // A span whose seconds are i64::MAX is the core's infinite future: no deadline.
        let forever = Duration::from_secs(i64::MAX as u64);
        let span = self.timeout.map_or(forever, |t| t.min(forever));
        let cancelled = Arc::new(Cancellation::default());
        if self.cancelled {
            cancelled.set();
        }
        let stopping = Arc::new(Stopping::default());
        if self.stopping {
            stopping.begin();
        }
        let traceparent = self.headers.iter().find(|(key, _)| key == TRACEPARENT);
        let trace = CallTrace::detached(traceparent.and_then(|(_, value)| std::str::from_utf8(value).ok()));
        let call = CallInfo {
            metrics: detached_call(&self.method, trace),
            method: self.method,
            peer: self.peer,
            headers: self.headers,
            deadline: Deadline::from(span),
            deadline_at: self.timeout.and_then(|t| std::time::Instant::now().checked_add(t)),
            cancelled,
            stopping,
        };
        Context::new(&Arc::new(call))
    }
}

/// The requests of a streaming call, from `messages`; the stream ends after the last.
pub fn requests<T>(messages: impl IntoIterator<Item = T>) -> Requests<T> {
    let messages: Vec<T> = messages.into_iter().collect();
    let (mut tx, rx) = futures::channel::mpsc::channel(messages.len());
    for message in messages {
        // The channel holds every message: its buffer has room for all of them.
        let _ = tx.try_send(Ok(message));
    }
    Requests::new(rx, Arc::new(Cancellation::default()), None)
}

/// [`Responses`] that keep what the View sends, for [`sent`].
pub fn responses<T>() -> Responses<T> {
    Responses::collecting(Arc::new(Mutex::new(Default::default())))
}

/// What a View sent through [`responses`], in order.
pub fn sent<T>(responses: Responses<T>) -> Vec<T> {
    responses.into_collected()
}

/// The response metadata the View set with `Context::set_header`.
pub fn headers(ctx: &mut Context) -> Vec<(String, Vec<u8>)> {
    pairs(ctx.take_response_headers())
}

/// The trailing metadata the View set with `Context::set_trailer`.
pub fn trailers(ctx: &mut Context) -> Vec<(String, Vec<u8>)> {
    pairs(ctx.take_trailers())
}

fn pairs(metadata: Option<Metadata>) -> Vec<(String, Vec<u8>)> {
    metadata.map(|m| wire::to_pairs(&m)).unwrap_or_default()
}

/// Serves `servicers` on a free loopback port and gives a client of them: a test over a real
/// socket in one line. The server stops when it is dropped.
///
/// ```
/// use a3grpc::{testing, A3Error};
/// # use a3grpc_examples::hello::{self, METHOD_GREETER_SAY_HELLO};
///
/// let greeter = a3grpc::Servicer::new().unary(&METHOD_GREETER_SAY_HELLO, hello::SayHello);
/// let (_server, client) = testing::serve(vec![greeter])?;
/// let reply = client.call(&METHOD_GREETER_SAY_HELLO, &hello::request("Ada"))?;
/// assert_eq!(reply.message, "Hello Ada!");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve(servicers: Vec<Servicer>) -> Result<(Server, BaseClient), ServerError> {
    let server = Server::start(Conf::new("127.0.0.1", 0, servicers))?;
    let client = BaseClient::connect("127.0.0.1", server.port())
        .map_err(|e| ServerError::Io(std::io::Error::other(format!("a client of the test server: {e}"))))?;
    Ok((server, client))
}
