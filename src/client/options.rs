//! Per-call settings ([`CallOptions`]: deadline, metadata, compression, and those a View's
//! call inherits from its own) and when a failed call is tried again ([`RetryPolicy`]).

use std::time::Duration;

use crate::channel::{Compression, CALL_COMPRESSION_KEY};
use crate::error::{Code, Error};
use crate::interceptor::{RequestIdValue, REQUEST_ID};
use crate::trace::{TRACEPARENT, TRACESTATE};
use crate::view::Context;

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
///   does not resolve; a TLS handshake the server refused is `Error::TlsHandshake`, never
///   retried); or
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
        // grpcio lower-cases keys when it sends them, so `Authorization` is `authorization`.
        self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))
    }

    /// The text of request metadata `key`, if it is set and text.
    pub(super) fn header_str(&self, key: &str) -> Option<&str> {
        let (_, value) = self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
        std::str::from_utf8(value).ok()
    }

    /// Sets request metadata `key` to `value` alone, or removes it.
    pub(super) fn replace_header(&mut self, key: &str, value: Option<&str>) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        if let Some(value) = value {
            self.set_header(key, value);
        }
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

    /// Compresses this call's requests with `algorithm`, whatever the channel's default.
    pub fn compression(self, algorithm: Compression) -> CallOptions {
        self.header(CALL_COMPRESSION_KEY, algorithm.name())
    }

    /// The options of a call a View makes while serving `ctx`: what is left of its caller's
    /// deadline (so the call fails with DEADLINE_EXCEEDED about when the caller gives up: each
    /// hop's `grpc-timeout` is rounded up, by up to ~10 ms, so a chain may end a little later),
    /// its request id and its W3C trace context (`traceparent`, `tracestate`). Add more with
    /// the other setters.
    ///
    /// ```no_run
    /// use a3grpc::{A3Error, BaseClient, CallOptions, Context, UnaryView};
    /// # use a3grpc_examples::hello::{HelloReply, HelloRequest, METHOD_GREETER_SAY_HELLO};
    ///
    /// struct Front {
    ///     back: BaseClient,
    /// }
    ///
    /// impl UnaryView for Front {
    ///     type Request = HelloRequest;
    ///     type Response = HelloReply;
    ///
    ///     fn handle(&self, request: HelloRequest, ctx: &mut Context) -> Result<HelloReply, A3Error> {
    ///         // A NotFoundError from the back service reaches this View's caller as it is;
    ///         // a failed connection is a ServerUnknownError whose cause is logged here.
    ///         Ok(self.back.call_with(&METHOD_GREETER_SAY_HELLO, &request, &CallOptions::within(ctx))?)
    ///     }
    /// }
    /// ```
    pub fn within(ctx: &Context) -> CallOptions {
        let mut options = CallOptions::new();
        options.timeout = ctx.time_remaining();
        let request_id = ctx.get::<RequestIdValue>().map(RequestIdValue::as_str).or_else(|| ctx.header(REQUEST_ID));
        if let Some(id) = request_id {
            options.set_header(REQUEST_ID, id);
        }
        if let Some(traceparent) = ctx.onward_traceparent() {
            options.set_header(TRACEPARENT, traceparent);
            if let Some(state) = ctx.header(TRACESTATE) {
                options.set_header(TRACESTATE, state);
            }
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::A3Error;

    fn status(code: Code, message: &str) -> Error {
        Error::Status { code, message: message.to_owned() }
    }

    const REFUSED: &str =
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused";

    #[test]
    fn the_default_policy_is_five_tries_on_unavailable_backing_off_from_100_ms_to_3_s() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.attempts, 5);
        assert_eq!(policy.codes, vec![Code::UNAVAILABLE]);
        assert_eq!(policy.delay(0), Duration::from_millis(100));
        assert_eq!(policy.delay(1), Duration::from_millis(200));
        assert_eq!(policy.delay(2), Duration::from_millis(400));
        assert_eq!(policy.delay(4), Duration::from_millis(1600));
        assert_eq!(policy.delay(5), Duration::from_secs(3));
    }

    #[test]
    fn new_counts_every_try_and_never_allows_fewer_than_one() {
        assert_eq!(RetryPolicy::new(3).attempts, 3);
        assert_eq!(RetryPolicy::new(1).attempts, 1);
        assert_eq!(RetryPolicy::new(0).attempts, 1);
        assert_eq!(RetryPolicy::never().attempts, 1);
        assert_eq!(RetryPolicy::new(3).codes, vec![Code::UNAVAILABLE]);
        assert_eq!(RetryPolicy::new(3).delay(0), Duration::from_millis(100));
    }

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_maximum() {
        let policy = RetryPolicy::new(10).backoff(Duration::from_millis(50), Duration::from_secs(1));
        let delays: Vec<_> = (0..7).map(|retry| policy.delay(retry)).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1000, 1000].map(Duration::from_millis).to_vec(),);
    }

    #[test]
    fn a_maximum_below_the_initial_delay_is_raised_to_it() {
        let policy = RetryPolicy::new(3).backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(policy.delay(0), Duration::from_secs(2));
        assert_eq!(policy.delay(3), Duration::from_secs(2));
    }

    #[test]
    fn the_delay_saturates_instead_of_overflowing_on_many_retries() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(3));
        let huge = RetryPolicy::new(2).backoff(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        assert_eq!(huge.delay(0), Duration::from_secs(u64::MAX / 2));
        assert_eq!(huge.delay(40), Duration::MAX);
        let zero = RetryPolicy::new(2).backoff(Duration::ZERO, Duration::ZERO);
        assert_eq!(zero.delay(7), Duration::ZERO);
    }

    #[test]
    fn a_request_that_never_left_is_recognised_from_the_cores_unavailable_message() {
        for message in [
            REFUSED,
            "DNS resolution failed for nowhere.invalid:50051: C-ares status is not ARES_SUCCESS",
            "Name resolution failure",
            "empty address list: ",
            "FAILED TO CONNECT TO ALL ADDRESSES",
        ] {
            assert!(never_sent(Code::UNAVAILABLE, message), "{message}");
        }
        for message in ["Socket closed", "Connection reset by peer", "GOAWAY received", "Broken pipe", ""] {
            assert!(!never_sent(Code::UNAVAILABLE, message), "{message}");
        }
        // Only an UNAVAILABLE says so.
        assert!(!never_sent(Code::DEADLINE_EXCEEDED, REFUSED));
        assert!(!never_sent(Code::UNKNOWN, REFUSED));
    }

    #[test]
    fn an_unavailable_that_never_left_is_retried_even_when_not_idempotent() {
        let policy = RetryPolicy::default();
        assert!(policy.allows(&status(Code::UNAVAILABLE, REFUSED), false));
        assert!(policy.allows(&status(Code::UNAVAILABLE, REFUSED), true));
    }

    #[test]
    fn an_unavailable_mid_call_is_retried_only_for_an_idempotent_call() {
        let policy = RetryPolicy::default();
        let lost = status(Code::UNAVAILABLE, "Socket closed");
        assert!(!policy.allows(&lost, false));
        assert!(policy.allows(&lost, true));
    }

    #[test]
    fn codes_the_policy_does_not_list_are_never_retried() {
        let policy = RetryPolicy::default();
        for code in [Code::DEADLINE_EXCEEDED, Code::UNKNOWN, Code::INTERNAL, Code::RESOURCE_EXHAUSTED, Code::CANCELLED]
        {
            assert!(!policy.allows(&status(code, "x"), true), "{code}");
        }
    }

    #[test]
    fn retry_on_replaces_the_listed_codes() {
        let policy = RetryPolicy::default().retry_on(&[Code::RESOURCE_EXHAUSTED, Code::ABORTED]);
        assert_eq!(policy.codes, vec![Code::RESOURCE_EXHAUSTED, Code::ABORTED]);
        assert!(policy.allows(&status(Code::RESOURCE_EXHAUSTED, "busy"), true));
        assert!(policy.allows(&status(Code::ABORTED, "conflict"), true));
        assert!(!policy.allows(&status(Code::UNAVAILABLE, REFUSED), true));
        assert!(!policy.allows(&status(Code::UNAVAILABLE, REFUSED), false));
        // A listed code other than UNAVAILABLE may have reached the server: idempotent only.
        assert!(!policy.allows(&status(Code::RESOURCE_EXHAUSTED, REFUSED), false));
        let none = RetryPolicy::default().retry_on(&[]);
        assert!(!none.allows(&status(Code::UNAVAILABLE, REFUSED), true));
    }

    #[test]
    fn a3_errors_and_failures_without_a_plain_status_are_never_retried() {
        let policy = RetryPolicy::default().retry_on(&[Code::UNAVAILABLE, Code::UNKNOWN, Code::new(599)]);
        let never = [
            Error::A3(A3Error::server_unknown("c")),
            Error::A3(A3Error::Status { code: Code::UNAVAILABLE, message: REFUSED.into() }),
            Error::MismatchedStatusCode { code: Code::UNAVAILABLE, message: "{}".into(), expected: "e".into() },
            Error::TlsHandshake { hint: "h", message: REFUSED.into() },
            Error::Usage("u".into()),
            Error::Transport("t".into()),
            Error::CallEnded,
            Error::RetriesExhausted {
                attempts: 2,
                first: Box::new(status(Code::UNAVAILABLE, REFUSED)),
                last: Box::new(status(Code::UNAVAILABLE, REFUSED)),
            },
        ];
        for err in never {
            assert!(!policy.allows(&err, true), "{err}");
            assert!(!policy.allows(&err, false), "{err}");
        }
    }

    #[test]
    fn new_call_options_have_no_timeout_no_headers_and_are_not_idempotent() {
        let opts = CallOptions::new();
        assert_eq!(opts.timeout, None);
        assert!(opts.headers.is_empty());
        assert!(!opts.idempotent);
        assert!(!opts.has_header("x-request-id"));
    }

    #[test]
    fn timeout_and_set_timeout_set_the_deadline_and_the_last_one_wins() {
        let opts = CallOptions::new().timeout(Duration::from_secs(2));
        assert_eq!(opts.timeout, Some(Duration::from_secs(2)));
        let mut opts = opts.timeout(Duration::from_millis(250));
        assert_eq!(opts.timeout, Some(Duration::from_millis(250)));
        opts.set_timeout(Duration::MAX);
        assert_eq!(opts.timeout, Some(Duration::MAX));
    }

    #[test]
    fn headers_keep_their_order_duplicates_and_bytes() {
        let mut opts = CallOptions::new()
            .header("x-request-id", "42")
            .header(String::from("trace-bin"), [0u8, 255, 7])
            .header("x-request-id", vec![b'4', b'3']);
        opts.set_header("authorization", "Bearer t");
        assert_eq!(
            opts.headers,
            vec![
                ("x-request-id".to_owned(), b"42".to_vec()),
                ("trace-bin".to_owned(), vec![0, 255, 7]),
                ("x-request-id".to_owned(), b"43".to_vec()),
                ("authorization".to_owned(), b"Bearer t".to_vec()),
            ]
        );
        assert!(opts.has_header("x-request-id"));
        assert!(opts.has_header("trace-bin"));
        assert!(opts.has_header("authorization"));
        assert!(!opts.has_header("x-request"));
    }

    #[test]
    fn has_header_matches_the_key_in_any_case_as_grpcio_sends_it_lower_cased() {
        let opts = CallOptions::new().header("X-Request-Id", "42");
        assert!(opts.has_header("X-Request-Id"));
        assert!(opts.has_header("x-request-id"));
        assert!(!opts.has_header("x-trace-id"));
    }

    #[test]
    fn idempotent_sets_and_clears_the_mark_and_keeps_the_rest() {
        let opts = CallOptions::new().header("k", "v").timeout(Duration::from_secs(1)).idempotent(true);
        assert!(opts.idempotent);
        assert!(opts.has_header("k"));
        assert_eq!(opts.timeout, Some(Duration::from_secs(1)));
        assert!(!opts.idempotent(false).idempotent);
    }
}
