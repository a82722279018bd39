//! Server interceptors: code that runs around every View, like Django middleware, and the
//! ones that come with the crate. The built-ins [`RequestId`] and [`RequestLog`] serve
//! clients too (as `ClientInterceptor`s, in [`a3grpc::client`](../client/index.html)), and
//! [`BearerToken`] is the client side of [`BearerAuth`].
//!
//! Interceptors run on the worker, before and after the View, for all four RPC kinds. The first in the list is outermost: its `before` runs first and its `after` last.
//! An interceptor that rejects a call (`before` returns `Err`) ends it with that a3 error; the
//! View and the inner interceptors do not run, the outer ones still see the outcome.
//!
//! Three come with the crate, registered under these names for conf files:
//!
//! | name | type | settings |
//! |---|---|---|
//! | `a3grpc.RequestLog` | [`RequestLog`] | none |
//! | `a3grpc.BearerAuth` | [`BearerAuth`] | `tokens = ["..."]` |
//! | `a3grpc.RequestId` | [`RequestId`] | none |
//!
//! ```toml
//! interceptors = ["a3grpc.RequestId", "a3grpc.RequestLog", { name = "a3grpc.BearerAuth", tokens = ["s3cret"] }]
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{A3Error, Code};
use crate::view::Context;

/// How a call ended, as interceptors see it afterwards.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The gRPC status code sent ([`Code::OK`] for success).
    pub code: Code,
    /// The a3 error that ended the call, if one did.
    pub error: Option<&'a A3Error>,
    /// Time from the first interceptor's `before` to the end of the View.
    pub elapsed: Duration,
}

/// A server interceptor. Both methods have defaults, so implement only what you need.
///
/// ```
/// use a3grpc::interceptor::Interceptor;
/// use a3grpc::{A3Error, Context};
///
/// /// Rejects calls without an `x-tenant` header and hands the tenant to the View.
/// struct Tenant;
///
/// #[derive(Debug)]
/// struct TenantId(String);
///
/// impl Interceptor for Tenant {
///     fn before(&self, ctx: &mut Context) -> Result<(), A3Error> {
///         let tenant = ctx.header("x-tenant").ok_or_else(|| A3Error::Forbidden("x-tenant is required".into()))?;
///         let tenant = TenantId(tenant.to_owned());
///         ctx.insert(tenant);
///         Ok(())
///     }
/// }
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// Runs before the View. `Err` rejects the call with that error.
    fn before(&self, ctx: &mut Context) -> Result<(), A3Error> {
        let _ = ctx;
        Ok(())
    }

    /// Runs after the View (or after a rejection by an inner interceptor).
    fn after(&self, ctx: &Context, outcome: &Outcome<'_>) {
        let _ = (ctx, outcome);
    }

    /// Runs, instead of `before` and `after`, for a call that ended before any interceptor
    /// ran: refused by `maximum_concurrent_rpcs` (RESOURCE_EXHAUSTED), dropped because its
    /// caller left while it waited for a worker (CANCELLED, DEADLINE_EXCEEDED), whose
    /// request could not be read (INTERNAL), or that the server's stop ended before its View
    /// ran (UNAVAILABLE). It may run on a gRPC I/O thread, so it must be quick and never block.
    fn refused(&self, ctx: &Context, outcome: &Outcome<'_>) {
        let _ = (ctx, outcome);
    }
}

/// Logs every call at INFO: method, peer, outcome, time, and the request id if there is one.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog;

impl Interceptor for RequestLog {
    fn after(&self, ctx: &Context, outcome: &Outcome<'_>) {
        self.log(ctx, outcome);
    }

    fn refused(&self, ctx: &Context, outcome: &Outcome<'_>) {
        self.log(ctx, outcome);
    }
}

impl RequestLog {
    fn log(&self, ctx: &Context, outcome: &Outcome<'_>) {
        let id = ctx.get::<RequestIdValue>().map(|id| format!(" request_id={}", id.0)).unwrap_or_default();
        let error = outcome.error.map(|e| format!(" [{}]", e.name())).unwrap_or_default();
        log::info!("{} from {}: {}{error} in {:.1?}{id}", ctx.method(), ctx.peer(), outcome.code, outcome.elapsed);
    }
}

/// Bearer-token authentication on a server: every call must carry `authorization: Bearer
/// <token>` with one of the accepted tokens, or it ends with `AuthenticationFailedError`.
/// Tokens are compared in constant time. The client side is [`BearerToken`].
///
/// ```
/// use a3grpc::interceptor::BearerAuth;
/// use a3grpc::{Conf, Servicer};
///
/// let conf = Conf::new("127.0.0.1", 0, Vec::<Servicer>::new()).interceptor(BearerAuth::accepting(["s3cret"]));
/// ```
///
/// Each type has one role, so the two cannot be mixed up:
///
/// ```compile_fail
/// use a3grpc::interceptor::BearerToken;
/// use a3grpc::{Conf, Servicer};
///
/// // A client's token is no server interceptor.
/// let conf = Conf::new("127.0.0.1", 0, Vec::<Servicer>::new()).interceptor(BearerToken::sending("s3cret"));
/// ```
#[derive(Clone)]
pub struct BearerAuth {
    tokens: Arc<[String]>,
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerAuth({} token(s))", self.tokens.len())
    }
}

impl BearerAuth {
    /// Accepts any of `tokens`.
    pub fn accepting<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> BearerAuth {
        BearerAuth { tokens: tokens.into_iter().map(Into::into).collect() }
    }

    /// Whether `presented` is one of the tokens, in time that does not depend on where it
    /// differs from them (every token is compared, each in constant time).
    fn accepts(&self, presented: &str) -> bool {
        let matched = self.tokens.iter().fold(subtle::Choice::from(0), |found, token| {
            found | subtle::ConstantTimeEq::ct_eq(token.as_bytes(), presented.as_bytes())
        });
        matched.into()
    }
}

impl Interceptor for BearerAuth {
    fn before(&self, ctx: &mut Context) -> Result<(), A3Error> {
        let presented = ctx.header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        match presented {
            Some(token) if self.accepts(token) => Ok(()),
            Some(_) => Err(A3Error::AuthenticationFailed("the bearer token is not accepted".into())),
            None => Err(A3Error::AuthenticationFailed("an `authorization: Bearer <token>` header is required".into())),
        }
    }
}

/// Bearer-token authentication on a client: sends `authorization: Bearer <token>` with every
/// call. The server side is [`BearerAuth`].
///
/// ```
/// use a3grpc::interceptor::BearerToken;
/// use a3grpc::BaseClient;
///
/// let client = BaseClient::builder("127.0.0.1", 50051).interceptor(BearerToken::sending("s3cret")).build()?;
/// # Ok::<(), a3grpc::Error>(())
/// ```
#[derive(Clone)]
pub struct BearerToken {
    token: Arc<str>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// Sends `token`.
    pub fn sending(token: impl Into<String>) -> BearerToken {
        BearerToken { token: token.into().into() }
    }

    /// The token a client sends.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

/// Request ids that flow from client to server logs: a client sends `x-request-id` (a new one
/// per call unless the call has one); a server takes it, or makes one, attaches it to the call
/// ([`Context::get`]`::<`[`RequestIdValue`]`>()`, used by [`RequestLog`]) and echoes it in the
/// response metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestId;

/// The request id of a call, attached by [`RequestId`].
///
/// ```
/// use a3grpc::interceptor::RequestIdValue;
/// use a3grpc::Context;
///
/// fn request_id(ctx: &Context) -> &str {
///     ctx.get::<RequestIdValue>().map(RequestIdValue::as_str).unwrap_or("-")
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIdValue(String);

impl RequestIdValue {
    /// The id, as it travels in `x-request-id`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestIdValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// A new request id: 16 hex digits, unique enough to find one call in the logs.
pub(crate) fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hashed = RandomState::new().hash_one((n, std::process::id(), std::time::SystemTime::now()));
    format!("{hashed:016x}")
}

impl Interceptor for RequestId {
    fn before(&self, ctx: &mut Context) -> Result<(), A3Error> {
        // The caller's id, if it can travel back as it came (printable ASCII); otherwise a
        // fresh one, rather than failing the call over a log id.
        let id = match ctx.header(REQUEST_ID).map(str::to_owned) {
            Some(id) if ctx.set_header(REQUEST_ID, &id).is_ok() => id,
            _ => {
                let id = new_request_id();
                ctx.set_header(REQUEST_ID, &id)?;
                id
            }
        };
        ctx.insert(RequestIdValue(id));
        Ok(())
    }
}
