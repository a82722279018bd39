//! Interceptors: code that runs around every View (server) or every call (client), like
//! Django middleware.
//!
//! On the server, interceptors run on the worker, before and after the View, for all four RPC
//! kinds. The first in the list is outermost: its `before` runs first and its `after` last.
//! An interceptor that rejects a call (`before` returns `Err`) ends it with that a3 error; the
//! View and the inner interceptors do not run, the outer ones still see the outcome.
//!
//! Three come with the crate, registered under these names for conf files:
//!
//! | name | type | settings |
//! |---|---|---|
//! | `a3grpc.RequestLog` | [`RequestLog`] | none |
//! | `a3grpc.BearerToken` | [`BearerToken`] | `tokens = ["..."]` |
//! | `a3grpc.RequestId` | [`RequestId`] | none |
//!
//! ```toml
//! interceptors = ["a3grpc.RequestId", "a3grpc.RequestLog", { name = "a3grpc.BearerToken", tokens = ["s3cret"] }]
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::client::CallOptions;
use crate::conf::{ConfError, Registry};
use crate::error::{code_name, A3Error, Error};
use crate::view::Context;

/// How a call ended, as interceptors see it afterwards.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The gRPC status code sent (0 for OK).
    pub code: i32,
    /// The a3 error that ended the call, if one did.
    pub error: Option<&'a A3Error>,
    /// Time from the first interceptor's `before` to the end of the View.
    pub elapsed: Duration,
}

/// A server interceptor. Both methods have defaults, so implement only what you need.
///
/// ```
/// use a3grpc::{A3Error, Context, Interceptor};
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
}

/// A client interceptor: adjusts each call's options (metadata, deadline) before it goes out
/// and sees how it ended.
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Runs before each call; its options then serve every retry of it.
    fn before(&self, method: &str, options: &mut CallOptions) {
        let _ = (method, options);
    }

    /// Runs after a unary or client-streaming call, with its result.
    fn after(&self, method: &str, result: Result<(), &Error>, elapsed: Duration) {
        let _ = (method, result, elapsed);
    }
}

/// Logs every call at INFO: method, peer, outcome, time, and the request id if there is one.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog;

impl Interceptor for RequestLog {
    fn after(&self, ctx: &Context, outcome: &Outcome<'_>) {
        let id = ctx.get::<RequestIdValue>().map(|id| format!(" request_id={}", id.0)).unwrap_or_default();
        let error = outcome.error.map(|e| format!(" [{}]", e.name())).unwrap_or_default();
        log::info!(
            "{} from {}: {}{error} in {:.1?}{id}",
            ctx.method(),
            ctx.peer(),
            code_name(outcome.code),
            outcome.elapsed
        );
    }
}

impl ClientInterceptor for RequestLog {
    fn after(&self, method: &str, result: Result<(), &Error>, elapsed: Duration) {
        match result {
            Ok(()) => log::info!("{method}: OK in {elapsed:.1?}"),
            Err(err) => log::info!("{method}: {err} in {elapsed:.1?}"),
        }
    }
}

/// Bearer-token authentication: on a server it requires `authorization: Bearer <token>` with
/// one of the accepted tokens (else `AuthenticationFailedError`); on a client it sends one.
#[derive(Clone)]
pub struct BearerToken {
    tokens: Arc<[String]>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken({} token(s))", self.tokens.len())
    }
}

impl BearerToken {
    /// A server interceptor accepting any of `tokens`.
    pub fn accepting<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> BearerToken {
        BearerToken { tokens: tokens.into_iter().map(Into::into).collect() }
    }

    /// A client interceptor sending `token`.
    pub fn sending(token: impl Into<String>) -> BearerToken {
        BearerToken { tokens: Arc::from([token.into()]) }
    }
}

impl Interceptor for BearerToken {
    fn before(&self, ctx: &mut Context) -> Result<(), A3Error> {
        let presented = ctx.header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        match presented {
            Some(token) if self.tokens.iter().any(|t| t == token) => Ok(()),
            Some(_) => Err(A3Error::AuthenticationFailed("the bearer token is not accepted".into())),
            None => Err(A3Error::AuthenticationFailed("an `authorization: Bearer <token>` header is required".into())),
        }
    }
}

impl ClientInterceptor for BearerToken {
    fn before(&self, _: &str, options: &mut CallOptions) {
        if let Some(token) = self.tokens.first() {
            options.set_header("authorization", format!("Bearer {token}"));
        }
    }
}

/// Request ids that flow from client to server logs: a client sends `x-request-id` (a new one
/// per call unless the call has one); a server takes it, or makes one, attaches it to the call
/// ([`Context::get`]`::<`[`RequestIdValue`]`>()`, used by [`RequestLog`]) and echoes it in the
/// response metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestId;

/// The request id of a call, attached by [`RequestId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIdValue(pub String);

const REQUEST_ID: &str = "x-request-id";

fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hashed = RandomState::new().hash_one((n, std::process::id(), std::time::SystemTime::now()));
    format!("{hashed:016x}")
}

impl Interceptor for RequestId {
    fn before(&self, ctx: &mut Context) -> Result<(), A3Error> {
        let id = ctx.header(REQUEST_ID).map(str::to_owned).unwrap_or_else(new_request_id);
        ctx.set_header(REQUEST_ID, &id)?;
        ctx.insert(RequestIdValue(id));
        Ok(())
    }
}

impl ClientInterceptor for RequestId {
    fn before(&self, _: &str, options: &mut CallOptions) {
        if !options.has_header(REQUEST_ID) {
            options.set_header(REQUEST_ID, new_request_id());
        }
    }
}

/// An interceptor as a conf names it: a registered name with its settings, or one given in code.
#[derive(Clone)]
pub enum InterceptorSpec {
    /// A name from [`register_interceptor`] (or a built-in) and the settings of its table.
    Named {
        /// The registered name.
        name: String,
        /// The other keys of its table (`null` for a bare name).
        settings: serde_json::Value,
    },
    /// An interceptor built in code.
    Given(Arc<dyn Interceptor>),
}

impl fmt::Debug for InterceptorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterceptorSpec::Named { name, .. } => write!(f, "{name:?}"),
            InterceptorSpec::Given(_) => f.write_str("<interceptor given in code>"),
        }
    }
}

impl<'de> Deserialize<'de> for InterceptorSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = InterceptorSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a registered interceptor name, or a table with `name` and its settings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InterceptorSpec, E> {
                Ok(InterceptorSpec::Named { name: v.to_owned(), settings: serde_json::Value::Null })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InterceptorSpec, A::Error> {
                let mut table = serde_json::Map::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let name = match table.remove("name") {
                    Some(serde_json::Value::String(name)) => name,
                    _ => return Err(de::Error::missing_field("name")),
                };
                Ok(InterceptorSpec::Named { name, settings: serde_json::Value::Object(table) })
            }
        }
        d.deserialize_any(SpecVisitor)
    }
}

type Factory = dyn Fn(&serde_json::Value) -> Result<Arc<dyn Interceptor>, String> + Send + Sync;

static INTERCEPTORS: Registry<Box<Factory>> = Registry::new("interceptor", "interceptors");

/// Registers an interceptor under `name` for conf files. `factory` builds it from the other
/// keys of its conf table (`null` for a bare name), or says what is wrong with them.
///
/// ```
/// use std::sync::Arc;
/// use a3grpc::{register_interceptor, Interceptor, RequestLog};
///
/// register_interceptor("app.Logging", |_settings| Ok(Arc::new(RequestLog) as Arc<dyn Interceptor>));
/// ```
pub fn register_interceptor(
    name: impl Into<String>,
    factory: impl Fn(&serde_json::Value) -> Result<Arc<dyn Interceptor>, String> + Send + Sync + 'static,
) {
    INTERCEPTORS.insert(name.into(), Box::new(factory));
}

/// Builds the interceptors a conf lists, in order.
pub(crate) fn resolve(specs: &[InterceptorSpec]) -> Result<Vec<Arc<dyn Interceptor>>, ConfError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| match spec {
            InterceptorSpec::Given(interceptor) => Ok(interceptor.clone()),
            InterceptorSpec::Named { name, settings } => {
                let built = match built_in(name, settings) {
                    Some(built) => built,
                    None => INTERCEPTORS.get(name)?(settings),
                };
                built.map_err(|message| ConfError::invalid(format!("interceptors[{i}]"), format!("{name}: {message}")))
            }
        })
        .collect()
}

fn built_in(name: &str, settings: &serde_json::Value) -> Option<Result<Arc<dyn Interceptor>, String>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct BearerSettings {
        tokens: Vec<String>,
    }
    let no_settings = |built: Arc<dyn Interceptor>| match settings {
        serde_json::Value::Null => Ok(built),
        serde_json::Value::Object(map) if map.is_empty() => Ok(built),
        _ => Err("takes no settings".to_owned()),
    };
    Some(match name {
        "a3grpc.RequestLog" => no_settings(Arc::new(RequestLog)),
        "a3grpc.RequestId" => no_settings(Arc::new(RequestId)),
        "a3grpc.BearerToken" => match BearerSettings::deserialize(settings) {
            Ok(s) if !s.tokens.is_empty() => Ok(Arc::new(BearerToken::accepting(s.tokens))),
            Ok(_) => Err("`tokens` must list at least one token".to_owned()),
            Err(e) => Err(format!("needs `tokens = [\"...\"]`: {e}")),
        },
        _ => return None,
    })
}
