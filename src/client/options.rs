//! Per-call settings ([`CallOptions`]: deadline, metadata) and when a failed call is tried
//! again ([`RetryPolicy`]).

use std::time::Duration;

use crate::error::{Code, Error};

/// Whether a failure happened before the request left this client: the gRPC core says so in
/// the UNAVAILABLE it reports when it could not make a connection.
fn never_sent(code: Code, message: &str) -> bool {
    const NO_CONNECTION: [&str; 4] = [
        "failed to connect to all addresses",
        "dns resolution failed",
        "name resolution failure",
        "empty address list",
    ];
    let message = message.to_ascii_lowercase();
    code == Code::UNAVAILABLE && NO_CONNECTION.iter().any(|m| message.contains(m))
}

/// When and how often a failed unary call is tried again.
///
/// a3 errors are answers, never retried; streaming calls are never retried. A failure whose
/// code the policy lists (by default only UNAVAILABLE) is retried, 5 tries in all, with
/// exponential back-off from 100 ms up to 3 s and no sleep after the last try, but only when
/// running the call twice cannot happen:
///
/// - the request was never sent: no connection could be made (connection refused, the name
///   does not resolve, the TLS handshake failed); or
/// - the call is idempotent: [`CallOptions::idempotent`], or
///   [`ClientBuilder::idempotent`](crate::client::ClientBuilder::idempotent) for the method.
///
/// An UNAVAILABLE that arrives once the call is under way (the server stopping, a connection
/// lost mid-call, a View that answers it) may come after the View has run, so a call not
/// marked idempotent returns it. A call's timeout covers all its tries. After more than one
/// try the error is [`Error::RetriesExhausted`](crate::Error::RetriesExhausted), with the
/// first failure and the last.
///
/// ```
/// use std::time::Duration;
/// use a3grpc::client::RetryPolicy;
///
/// let policy = RetryPolicy::new(3).backoff(Duration::from_millis(50), Duration::from_secs(1));
/// let never = RetryPolicy::never();
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub(super) attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    pub(super) codes: Vec<Code>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
            codes: vec![Code::UNAVAILABLE],
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

    /// The gRPC status codes that are retried (default: UNAVAILABLE only), under the rules
    /// above.
    pub fn retry_on(mut self, codes: &[Code]) -> RetryPolicy {
        self.codes = codes.to_vec();
        self
    }

    /// Whether `err` may be tried again: its code is listed, and the request never left or the
    /// call is idempotent.
    pub(super) fn allows(&self, err: &Error, idempotent: bool) -> bool {
        let Error::Status { code, message } = err else { return false };
        self.codes.contains(code) && (idempotent || never_sent(*code, message))
    }

    pub(super) fn delay(&self, retry: u32) -> Duration {
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
    pub(super) timeout: Option<Duration>,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) idempotent: bool,
}

impl CallOptions {
    /// No deadline beyond the client's default, no metadata.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// The call fails with DEADLINE_EXCEEDED if it has not finished in `timeout`, retries
    /// included. A timeout too large to be a point in time (`Duration::MAX`) means none.
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }

    /// Adds request metadata. Keys are lower-case; keys ending in `-bin` carry bytes.
    pub fn header(mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> CallOptions {
        self.set_header(key, value);
        self
    }

    /// Adds request metadata in place (for [`ClientInterceptor`](crate::client::ClientInterceptor)s).
    pub fn set_header(&mut self, key: impl Into<String>, value: impl AsRef<[u8]>) {
        self.headers.push((key.into(), value.as_ref().to_vec()));
    }

    /// Whether request metadata `key` is set.
    pub fn has_header(&self, key: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == key)
    }

    /// Marks this call idempotent: a failure the [`RetryPolicy`] lists is retried even when the
    /// request may have reached the server.
    pub fn idempotent(mut self, idempotent: bool) -> CallOptions {
        self.idempotent = idempotent;
        self
    }

    /// Sets the deadline in place (for [`ClientInterceptor`](crate::client::ClientInterceptor)s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }
}
