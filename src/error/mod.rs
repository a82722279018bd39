//! The errors: a3exception's error classes ([`A3Error`], [`ErrorKind`], [`Side`]) and the
//! [`Error`] a client call returns; the gRPC status [`Code`] and how a3 errors map to codes
//! ([`StatusCodes`], the `patch_status_code` setting) are in `code.rs`.

// How these travel on the wire (`grpc-status`, the JSON `grpc-message`, the rich error
// details) is `wire.rs`, one level up; nothing here touches gRPC.

mod code;

use std::fmt;

pub use code::{Code, StatusCodes};

/// Which side an a3 error blames: the caller (bad input, missing rights) or the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller did something wrong (`ClientSideError`, sent with code 499 by default).
    Client,
    /// The service failed (`ServerSideError`, sent with code 599 by default).
    Server,
}

impl Side {
    /// The a3exception name of this side: `"ClientSideError"` or `"ServerSideError"`.
    pub fn error_type(self) -> &'static str {
        match self {
            Side::Client => "ClientSideError",
            Side::Server => "ServerSideError",
        }
    }

    pub(crate) fn from_error_type(s: &str) -> Option<Side> {
        match s {
            "ClientSideError" => Some(Side::Client),
            "ServerSideError" => Some(Side::Server),
            _ => None,
        }
    }
}

/// A user-defined error class: a name and a side, like a subclass of a3exception's `Error`.
///
/// Declare it once as a constant, return it from Views with [`A3Error::custom`], and register
/// it on clients with `ClientBuilder::error_kind` (in [`a3grpc::client`](../client/index.html)) so they
/// rebuild it as [`A3Error::Custom`].
///
/// ```
/// use a3grpc::error::ErrorKind;
/// use a3grpc::A3Error;
///
/// const PAYMENT_REQUIRED: ErrorKind = ErrorKind::client("PaymentRequiredError");
///
/// let err = A3Error::custom(PAYMENT_REQUIRED, "top up your account");
/// assert_eq!(err.name(), "PaymentRequiredError");
/// assert!(err.is(PAYMENT_REQUIRED));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorKind {
    name: &'static str,
    side: Side,
}

impl ErrorKind {
    /// A client-side error class named `name`.
    pub const fn client(name: &'static str) -> ErrorKind {
        ErrorKind { name, side: Side::Client }
    }

    /// A server-side error class named `name`.
    pub const fn server(name: &'static str) -> ErrorKind {
        ErrorKind { name, side: Side::Server }
    }

    /// The class name sent as `status`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The side this class blames.
    pub fn side(&self) -> Side {
        self.side
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Default message of `ServerKnownError`, as in a3exception.
const SERVER_KNOWN_MESSAGE: &str = "A known error has occurred on the service side.";
/// Default message of `ServerUnknownError`, as in a3exception.
const SERVER_UNKNOWN_MESSAGE: &str = "An unexpected error has occurred on the service side.";

/// An a3 error: what a View returns to fail a call, and what a client gets back.
///
/// The nine built-in classes of a3exception are variants; user classes are
/// [`Custom`](A3Error::Custom). Server-side variants carry a `cause` that the server logs and
/// never sends, so a client always sees `cause: None`.
///
/// ```
/// use a3grpc::error::Side;
/// use a3grpc::A3Error;
///
/// let err = A3Error::NotFound("no user 42".into());
/// assert_eq!(err.name(), "NotFoundError");
/// assert_eq!(err.side(), Side::Client);
///
/// // As in a3exception, the argument of a server-side error is its cause, not its message.
/// let err = A3Error::server_known("the database is read-only");
/// assert_eq!(err.message(), "A known error has occurred on the service side.");
/// assert_eq!(err.cause(), Some("the database is read-only"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum A3Error {
    /// `AuthenticationFailedError`: the caller could not be authenticated.
    #[error("AuthenticationFailedError: {0}")]
    AuthenticationFailed(String),
    /// `ValidationError`: the request is malformed or fails validation.
    #[error("ValidationError: {0}")]
    Validation(String),
    /// `NotFoundError`: what the request names does not exist.
    #[error("NotFoundError: {0}")]
    NotFound(String),
    /// `InvalidTokenError`: the caller's token is invalid or expired.
    #[error("InvalidTokenError: {0}")]
    InvalidToken(String),
    /// `ForbiddenError`: the caller may not do this.
    #[error("ForbiddenError: {0}")]
    Forbidden(String),
    /// `NotAvailableError`: what the request asks for is not available now.
    #[error("NotAvailableError: {0}")]
    NotAvailable(String),
    /// `ClientKnownError`: any other known mistake of the caller.
    #[error("ClientKnownError: {0}")]
    ClientKnown(String),
    /// `ServerKnownError`: a failure of the service that it anticipated.
    #[error("ServerKnownError: {message}")]
    ServerKnown {
        /// Sent to the client.
        message: String,
        /// Logged on the server, never sent.
        cause: Option<String>,
    },
    /// `ServerUnknownError`: an unexpected failure (a View that panicked becomes one).
    #[error("ServerUnknownError: {message}")]
    ServerUnknown {
        /// Sent to the client.
        message: String,
        /// Logged on the server, never sent.
        cause: Option<String>,
    },
    /// A user-defined class, see [`ErrorKind`].
    #[error("{kind}: {message}")]
    Custom {
        /// The class.
        kind: ErrorKind,
        /// Sent to the client.
        message: String,
        /// Logged on the server, never sent.
        cause: Option<String>,
    },
    /// An a3 error whose class this client has not registered: name, side and message are
    /// still there. Register the class with
    /// `ClientBuilder::error_kind` to get
    /// [`A3Error::Custom`] instead.
    #[error("{name}: {message} (an a3 error class this client has not registered)")]
    Unregistered {
        /// The class name the server sent.
        name: String,
        /// The side, from the status code or the error details.
        side: Side,
        /// The message the server sent.
        message: String,
    },
    /// Not an a3 error: ends the call with exactly this gRPC status and message, with no
    /// JSON body and no error details. For protocols that prescribe their statuses (the gRPC
    /// interop tests, a health service); a client sees it as [`Error::Status`].
    #[error("gRPC status {code}: {message}")]
    Status {
        /// The gRPC status code, e.g. [`Code::NOT_FOUND`].
        code: Code,
        /// The status message, sent as is.
        message: String,
    },
}

impl A3Error {
    /// A `ServerKnownError` with the default message; `cause` is logged, never sent.
    pub fn server_known(cause: impl fmt::Display) -> A3Error {
        A3Error::ServerKnown { message: SERVER_KNOWN_MESSAGE.to_owned(), cause: Some(cause.to_string()) }
    }

    /// A `ServerUnknownError` with the default message; `cause` is logged, never sent.
    pub fn server_unknown(cause: impl fmt::Display) -> A3Error {
        A3Error::ServerUnknown { message: SERVER_UNKNOWN_MESSAGE.to_owned(), cause: Some(cause.to_string()) }
    }

    /// An error of a user-defined class.
    pub fn custom(kind: ErrorKind, message: impl Into<String>) -> A3Error {
        A3Error::Custom { kind, message: message.into(), cause: None }
    }

    /// Attaches a cause, which the server logs and never sends. For client-side built-ins,
    /// which have no cause field, the cause is logged with the error and then dropped.
    pub fn with_cause(self, cause: impl fmt::Display) -> A3Error {
        match self {
            A3Error::ServerKnown { message, .. } => A3Error::ServerKnown { message, cause: Some(cause.to_string()) },
            A3Error::ServerUnknown { message, .. } => {
                A3Error::ServerUnknown { message, cause: Some(cause.to_string()) }
            }
            A3Error::Custom { kind, message, .. } => A3Error::Custom { kind, message, cause: Some(cause.to_string()) },
            other => {
                log::info!("{other}; cause: {cause}");
                other
            }
        }
    }

    /// The class name, e.g. `"NotFoundError"`.
    pub fn name(&self) -> &str {
        match self {
            A3Error::AuthenticationFailed(_) => "AuthenticationFailedError",
            A3Error::Validation(_) => "ValidationError",
            A3Error::NotFound(_) => "NotFoundError",
            A3Error::InvalidToken(_) => "InvalidTokenError",
            A3Error::Forbidden(_) => "ForbiddenError",
            A3Error::NotAvailable(_) => "NotAvailableError",
            A3Error::ClientKnown(_) => "ClientKnownError",
            A3Error::ServerKnown { .. } => "ServerKnownError",
            A3Error::ServerUnknown { .. } => "ServerUnknownError",
            A3Error::Custom { kind, .. } => kind.name,
            A3Error::Unregistered { name, .. } => name,
            A3Error::Status { .. } => "Status",
        }
    }

    /// The side this error blames.
    pub fn side(&self) -> Side {
        match self {
            A3Error::ServerKnown { .. } | A3Error::ServerUnknown { .. } => Side::Server,
            A3Error::Custom { kind, .. } => kind.side,
            A3Error::Unregistered { side, .. } => *side,
            A3Error::Status { code, .. } if code.blames_the_service() => Side::Server,
            A3Error::Status { .. } => Side::Client,
            _ => Side::Client,
        }
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        match self {
            A3Error::AuthenticationFailed(m)
            | A3Error::Validation(m)
            | A3Error::NotFound(m)
            | A3Error::InvalidToken(m)
            | A3Error::Forbidden(m)
            | A3Error::NotAvailable(m)
            | A3Error::ClientKnown(m) => m,
            A3Error::ServerKnown { message, .. }
            | A3Error::ServerUnknown { message, .. }
            | A3Error::Custom { message, .. }
            | A3Error::Unregistered { message, .. }
            | A3Error::Status { message, .. } => message,
        }
    }

    /// The cause, if any: only ever set on the server that raised the error.
    pub fn cause(&self) -> Option<&str> {
        match self {
            A3Error::ServerKnown { cause, .. }
            | A3Error::ServerUnknown { cause, .. }
            | A3Error::Custom { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }

    /// Whether this error is of the user-defined class `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.name() == kind.name && self.side() == kind.side
    }

    /// Rebuilds an error from its wire parts. `kinds` are the client's registered classes.
    pub(crate) fn from_parts(name: &str, side: Side, message: Option<String>, kinds: &[ErrorKind]) -> A3Error {
        let text = |default: &str| message.clone().unwrap_or_else(|| default.to_owned());
        match name {
            "AuthenticationFailedError" => A3Error::AuthenticationFailed(text("")),
            "ValidationError" => A3Error::Validation(text("")),
            "NotFoundError" => A3Error::NotFound(text("")),
            "InvalidTokenError" => A3Error::InvalidToken(text("")),
            "ForbiddenError" => A3Error::Forbidden(text("")),
            "NotAvailableError" => A3Error::NotAvailable(text("")),
            "ClientKnownError" => A3Error::ClientKnown(text("")),
            "ServerKnownError" => A3Error::ServerKnown { message: text(SERVER_KNOWN_MESSAGE), cause: None },
            "ServerUnknownError" => A3Error::ServerUnknown { message: text(SERVER_UNKNOWN_MESSAGE), cause: None },
            _ => match kinds.iter().find(|k| k.name == name) {
                Some(kind) => A3Error::Custom { kind: *kind, message: text(""), cause: None },
                None => A3Error::Unregistered { name: name.to_owned(), side, message: text("") },
            },
        }
    }
}
/// The error a [`BaseClient`](crate::BaseClient) call returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an a3 error: match on it like on a3exception classes.
    #[error(transparent)]
    A3(#[from] A3Error),
    /// The call ended with a gRPC status that is not an a3 error (UNAVAILABLE after the
    /// retries, DEADLINE_EXCEEDED, UNIMPLEMENTED, RESOURCE_EXHAUSTED, ...).
    #[error("gRPC call failed with {code}: {message}")]
    Status {
        /// The gRPC status code.
        code: Code,
        /// The status message.
        message: String,
    },
    /// The server sent an a3 error body with a code this client does not treat as a3:
    /// the two sides disagree on `patch_status_code`.
    #[error(
        "the server sent an a3 error with status code {code}, which this client does not expect \
         ({expected}); set the same patch_status_code on server and client. Body: {message}"
    )]
    MismatchedStatusCode {
        /// The code that arrived.
        code: Code,
        /// The raw `grpc-message`.
        message: String,
        /// The client's a3 codes, for the explanation.
        expected: String,
    },
    /// The client or the call was set up wrongly: a bad option, target or metadata key.
    #[error("invalid client use: {0}")]
    Usage(String),
    /// The call failed in this client before a status arrived, e.g. a response that could not
    /// be decoded.
    #[error("the call failed in the client: {0}")]
    Transport(String),
    /// The TLS handshake with the server failed: the server refused this client, or this
    /// client the server's certificate. Not retried: the same handshake fails again.
    #[error("the TLS handshake with the server failed: {hint} (the gRPC core said: {message})")]
    TlsHandshake {
        /// What to check, from what this client sent.
        hint: &'static str,
        /// The gRPC core's own words.
        message: String,
    },
    /// A request was sent on a stream whose call has already ended; the response (or the
    /// response stream) has the status it ended with.
    #[error("the call has ended; its response has the status")]
    CallEnded,
    /// A unary call failed on every try the client's `RetryPolicy` allowed. A try answered
    /// with an a3 error ends the retries with that error itself, never this.
    #[error("{attempts} tries failed; the first with: {first}; the last with: {last}")]
    RetriesExhausted {
        /// How many tries were made.
        attempts: u32,
        /// The first try's failure.
        first: Box<Error>,
        /// The last try's failure, the one [`code`](Error::code) gives.
        last: Box<Error>,
    },
}

impl Error {
    /// The a3 error, if the server sent one.
    pub fn a3(&self) -> Option<&A3Error> {
        match self {
            Error::A3(e) => Some(e),
            _ => None,
        }
    }

    /// The gRPC status code the call ended with (its last try's), if it reached the server or
    /// the transport.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Status { code, .. } | Error::MismatchedStatusCode { code, .. } => Some(*code),
            Error::TlsHandshake { .. } => Some(Code::UNAVAILABLE),
            Error::RetriesExhausted { last, .. } => last.code(),
            _ => None,
        }
    }
}

/// What a View returns when a call it made fails (so `?` on a client call works in a View):
/// the downstream service's a3 error as it is; a downstream deadline or cancellation as that
/// status (the caller's own deadline is usually what passed); anything else, a
/// `ServerUnknownError` whose cause, the client error, is logged and never sent.
///
/// ```
/// use a3grpc::error::Code;
/// use a3grpc::{A3Error, Error};
///
/// let not_found = Error::A3(A3Error::NotFound("no such book".into()));
/// assert!(matches!(A3Error::from(not_found), A3Error::NotFound(_)));
///
/// let refused = Error::Status { code: Code::UNAVAILABLE, message: "connection refused".into() };
/// assert_eq!(A3Error::from(refused).cause(), Some("gRPC call failed with UNAVAILABLE: connection refused"));
/// ```
impl From<Error> for A3Error {
    fn from(err: Error) -> A3Error {
        match err {
            Error::A3(err) => err,
            Error::Status { code, message } if code == Code::DEADLINE_EXCEEDED || code == Code::CANCELLED => {
                A3Error::Status { code, message }
            }
            other => A3Error::server_unknown(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYMENT_REQUIRED: ErrorKind = ErrorKind::client("PaymentRequiredError");
    const LEDGER_CORRUPT: ErrorKind = ErrorKind::server("LedgerCorruptError");

    /// Every client-side built-in with its a3exception name.
    fn client_built_ins(message: &str) -> Vec<(A3Error, &'static str)> {
        let m = || message.to_owned();
        vec![
            (A3Error::AuthenticationFailed(m()), "AuthenticationFailedError"),
            (A3Error::Validation(m()), "ValidationError"),
            (A3Error::NotFound(m()), "NotFoundError"),
            (A3Error::InvalidToken(m()), "InvalidTokenError"),
            (A3Error::Forbidden(m()), "ForbiddenError"),
            (A3Error::NotAvailable(m()), "NotAvailableError"),
            (A3Error::ClientKnown(m()), "ClientKnownError"),
        ]
    }

    #[test]
    fn every_client_side_built_in_has_its_a3exception_name_blames_the_client_and_keeps_its_message() {
        for (err, name) in client_built_ins("no user 42") {
            assert_eq!(err.name(), name);
            assert_eq!(err.side(), Side::Client, "{name}");
            assert_eq!(err.message(), "no user 42", "{name}");
            assert_eq!(err.cause(), None, "{name}");
            assert_eq!(err.to_string(), format!("{name}: no user 42"));
        }
    }

    #[test]
    fn the_argument_of_a_server_side_built_in_is_its_cause_and_the_message_is_a3exceptions_default() {
        let known = A3Error::server_known("the database is read-only");
        assert_eq!(known.name(), "ServerKnownError");
        assert_eq!(known.side(), Side::Server);
        assert_eq!(known.message(), "A known error has occurred on the service side.");
        assert_eq!(known.cause(), Some("the database is read-only"));
        assert_eq!(known.to_string(), "ServerKnownError: A known error has occurred on the service side.");

        let unknown = A3Error::server_unknown(std::io::Error::other("disk on fire"));
        assert_eq!(unknown.name(), "ServerUnknownError");
        assert_eq!(unknown.side(), Side::Server);
        assert_eq!(unknown.message(), "An unexpected error has occurred on the service side.");
        assert_eq!(unknown.cause(), Some("disk on fire"));
        assert_eq!(unknown.to_string(), "ServerUnknownError: An unexpected error has occurred on the service side.");
    }

    #[test]
    fn a_server_side_built_in_built_by_hand_may_have_its_own_message_and_no_cause() {
        let err = A3Error::ServerKnown { message: "try again at noon".into(), cause: None };
        assert_eq!(err.message(), "try again at noon");
        assert_eq!(err.cause(), None);
        assert_eq!(err.to_string(), "ServerKnownError: try again at noon");
    }

    #[test]
    fn with_cause_replaces_the_cause_of_server_side_and_custom_errors_and_keeps_their_message() {
        let err = A3Error::server_known("first").with_cause("second");
        assert_eq!(err.cause(), Some("second"));
        assert_eq!(err.message(), "A known error has occurred on the service side.");

        let err = A3Error::ServerUnknown { message: "boom".into(), cause: None }.with_cause(42);
        assert_eq!(err, A3Error::ServerUnknown { message: "boom".into(), cause: Some("42".into()) });

        let err = A3Error::custom(LEDGER_CORRUPT, "the books do not balance").with_cause("row 7");
        assert_eq!(
            err,
            A3Error::Custom {
                kind: LEDGER_CORRUPT,
                message: "the books do not balance".into(),
                cause: Some("row 7".into())
            }
        );
    }

    #[test]
    fn with_cause_on_a_client_side_built_in_drops_the_cause_and_leaves_the_error_unchanged() {
        for (err, name) in client_built_ins("bad input") {
            let with = err.clone().with_cause("logged only");
            assert_eq!(with, err, "{name}");
            assert_eq!(with.cause(), None, "{name}");
        }
        let status = A3Error::Status { code: Code::NOT_FOUND, message: "gone".into() };
        assert_eq!(status.clone().with_cause("x"), status);
        let unregistered =
            A3Error::Unregistered { name: "TeapotError".into(), side: Side::Client, message: "m".into() };
        assert_eq!(unregistered.clone().with_cause("x"), unregistered);
    }

    #[test]
    fn a_custom_error_takes_its_name_and_side_from_its_kind_and_starts_without_a_cause() {
        let err = A3Error::custom(PAYMENT_REQUIRED, "top up your account");
        assert_eq!(err.name(), "PaymentRequiredError");
        assert_eq!(err.side(), Side::Client);
        assert_eq!(err.message(), "top up your account");
        assert_eq!(err.cause(), None);
        assert_eq!(err.to_string(), "PaymentRequiredError: top up your account");

        let err = A3Error::custom(LEDGER_CORRUPT, String::from("unbalanced"));
        assert_eq!(err.name(), "LedgerCorruptError");
        assert_eq!(err.side(), Side::Server);
    }

    #[test]
    fn is_matches_a_kind_by_both_name_and_side() {
        let err = A3Error::custom(PAYMENT_REQUIRED, "top up");
        assert!(err.is(PAYMENT_REQUIRED));
        assert!(!err.is(ErrorKind::server("PaymentRequiredError")));
        assert!(!err.is(ErrorKind::client("PaymentDeclinedError")));
        assert!(!err.is(LEDGER_CORRUPT));
        // A built-in is the kind of its own name and side.
        assert!(A3Error::NotFound("x".into()).is(ErrorKind::client("NotFoundError")));
        assert!(!A3Error::NotFound("x".into()).is(ErrorKind::server("NotFoundError")));
        assert!(A3Error::server_known("c").is(ErrorKind::server("ServerKnownError")));
    }

    #[test]
    fn an_error_kind_is_a_const_name_and_side_and_displays_as_its_name() {
        assert_eq!(PAYMENT_REQUIRED.name(), "PaymentRequiredError");
        assert_eq!(PAYMENT_REQUIRED.side(), Side::Client);
        assert_eq!(LEDGER_CORRUPT.name(), "LedgerCorruptError");
        assert_eq!(LEDGER_CORRUPT.side(), Side::Server);
        assert_eq!(PAYMENT_REQUIRED.to_string(), "PaymentRequiredError");
        assert_ne!(ErrorKind::client("SameError"), ErrorKind::server("SameError"));
    }

    #[test]
    fn side_names_are_a3exceptions_and_read_back_exactly() {
        assert_eq!(Side::Client.error_type(), "ClientSideError");
        assert_eq!(Side::Server.error_type(), "ServerSideError");
        for side in [Side::Client, Side::Server] {
            assert_eq!(Side::from_error_type(side.error_type()), Some(side));
        }
        assert_eq!(Side::from_error_type("clientsideerror"), None);
        assert_eq!(Side::from_error_type("ClientSide"), None);
        assert_eq!(Side::from_error_type(""), None);
    }

    #[test]
    fn an_unregistered_error_keeps_the_name_side_and_message_it_arrived_with() {
        let err = A3Error::Unregistered { name: "TeapotError".into(), side: Side::Server, message: "short".into() };
        assert_eq!(err.name(), "TeapotError");
        assert_eq!(err.side(), Side::Server);
        assert_eq!(err.message(), "short");
        assert_eq!(err.cause(), None);
        assert_eq!(err.to_string(), "TeapotError: short (an a3 error class this client has not registered)");
        let err = A3Error::Unregistered { name: "TeapotError".into(), side: Side::Client, message: "short".into() };
        assert_eq!(err.side(), Side::Client);
    }

    #[test]
    fn a_plain_status_is_named_status_and_blames_the_server_only_for_server_fault_codes() {
        let status = |code| A3Error::Status { code, message: "as is".into() };
        for code in [Code::UNKNOWN, Code::DEADLINE_EXCEEDED, Code::INTERNAL, Code::UNAVAILABLE, Code::DATA_LOSS] {
            assert_eq!(status(code).side(), Side::Server, "{code}");
        }
        for code in [
            Code::OK,
            Code::CANCELLED,
            Code::INVALID_ARGUMENT,
            Code::NOT_FOUND,
            Code::RESOURCE_EXHAUSTED,
            Code::UNIMPLEMENTED,
            Code::UNAUTHENTICATED,
            Code::new(599),
        ] {
            assert_eq!(status(code).side(), Side::Client, "{code}");
        }
        let err = status(Code::NOT_FOUND);
        assert_eq!(err.name(), "Status");
        assert_eq!(err.message(), "as is");
        assert_eq!(err.cause(), None);
        assert_eq!(err.to_string(), "gRPC status NOT_FOUND: as is");
        assert_eq!(status(Code::new(499)).to_string(), "gRPC status 499: as is");
    }

    #[test]
    fn from_parts_rebuilds_every_built_in_by_name_with_its_message() {
        for (err, name) in client_built_ins("sent text") {
            assert_eq!(A3Error::from_parts(name, Side::Client, Some("sent text".into()), &[]), err);
            // The side on the wire does not change what a built-in is.
            assert_eq!(A3Error::from_parts(name, Side::Server, Some("sent text".into()), &[]), err);
        }
        assert_eq!(
            A3Error::from_parts("ServerKnownError", Side::Server, Some("read-only".into()), &[]),
            A3Error::ServerKnown { message: "read-only".into(), cause: None }
        );
        assert_eq!(
            A3Error::from_parts("ServerUnknownError", Side::Server, Some("oops".into()), &[]),
            A3Error::ServerUnknown { message: "oops".into(), cause: None }
        );
    }

    #[test]
    fn from_parts_without_a_message_gives_client_errors_an_empty_one_and_server_errors_the_default() {
        for (err, name) in client_built_ins("") {
            assert_eq!(A3Error::from_parts(name, Side::Client, None, &[]), err);
        }
        assert_eq!(
            A3Error::from_parts("ServerKnownError", Side::Server, None, &[]).message(),
            "A known error has occurred on the service side."
        );
        assert_eq!(
            A3Error::from_parts("ServerUnknownError", Side::Server, None, &[]).message(),
            "An unexpected error has occurred on the service side."
        );
        assert_eq!(A3Error::from_parts("PaymentRequiredError", Side::Client, None, &[PAYMENT_REQUIRED]).message(), "");
    }

    #[test]
    fn from_parts_gives_a_registered_kind_as_custom_and_any_other_name_as_unregistered() {
        let kinds = [PAYMENT_REQUIRED, LEDGER_CORRUPT];
        assert_eq!(
            A3Error::from_parts("PaymentRequiredError", Side::Client, Some("top up".into()), &kinds),
            A3Error::Custom { kind: PAYMENT_REQUIRED, message: "top up".into(), cause: None }
        );
        assert_eq!(
            A3Error::from_parts("LedgerCorruptError", Side::Server, Some("row 7".into()), &kinds),
            A3Error::Custom { kind: LEDGER_CORRUPT, message: "row 7".into(), cause: None }
        );
        assert_eq!(
            A3Error::from_parts("TeapotError", Side::Client, Some("short".into()), &kinds),
            A3Error::Unregistered { name: "TeapotError".into(), side: Side::Client, message: "short".into() }
        );
        assert_eq!(
            A3Error::from_parts("PaymentRequiredError", Side::Server, None, &[]),
            A3Error::Unregistered { name: "PaymentRequiredError".into(), side: Side::Server, message: String::new() }
        );
        // Names are matched exactly.
        assert!(matches!(
            A3Error::from_parts("paymentrequirederror", Side::Client, None, &kinds),
            A3Error::Unregistered { .. }
        ));
    }

    #[test]
    fn a_registered_kind_cannot_shadow_a_built_in_name() {
        let shadow = ErrorKind::server("NotFoundError");
        assert_eq!(
            A3Error::from_parts("NotFoundError", Side::Server, Some("x".into()), &[shadow]),
            A3Error::NotFound("x".into())
        );
    }

    #[test]
    fn the_client_error_exposes_the_a3_error_it_carries() {
        let err = Error::from(A3Error::NotFound("no user 42".into()));
        assert_eq!(err.a3(), Some(&A3Error::NotFound("no user 42".into())));
        assert_eq!(err.code(), None);
        assert_eq!(err.to_string(), "NotFoundError: no user 42");
        assert_eq!(Error::Usage("bad key".into()).a3(), None);
    }

    #[test]
    fn the_client_error_gives_the_code_its_call_ended_with() {
        let status = Error::Status { code: Code::UNAVAILABLE, message: "down".into() };
        assert_eq!(status.code(), Some(Code::UNAVAILABLE));
        assert_eq!(status.to_string(), "gRPC call failed with UNAVAILABLE: down");

        let mismatched = Error::MismatchedStatusCode {
            code: Code::new(499),
            message: r#"{"status":"NotFoundError","message":"m"}"#.into(),
            expected: "498/598, UNKNOWN or standard codes".into(),
        };
        assert_eq!(mismatched.code(), Some(Code::new(499)));
        let text = mismatched.to_string();
        assert!(text.starts_with("the server sent an a3 error with status code 499"), "{text}");
        assert!(text.contains("(498/598, UNKNOWN or standard codes)"), "{text}");
        assert!(text.contains("set the same patch_status_code on server and client"), "{text}");

        let tls = Error::TlsHandshake { hint: "check ca_cert", message: "handshake failed".into() };
        assert_eq!(tls.code(), Some(Code::UNAVAILABLE));
        assert_eq!(
            tls.to_string(),
            "the TLS handshake with the server failed: check ca_cert (the gRPC core said: handshake failed)"
        );

        for err in [Error::Usage("u".into()), Error::Transport("t".into()), Error::CallEnded] {
            assert_eq!(err.code(), None, "{err}");
        }
        assert_eq!(Error::Usage("bad key".into()).to_string(), "invalid client use: bad key");
        assert_eq!(Error::Transport("eof".into()).to_string(), "the call failed in the client: eof");
        assert_eq!(Error::CallEnded.to_string(), "the call has ended; its response has the status");
    }

    #[test]
    fn exhausted_retries_report_the_last_tries_code_and_both_failures() {
        let err = Error::RetriesExhausted {
            attempts: 3,
            first: Box::new(Error::Status { code: Code::UNAVAILABLE, message: "refused".into() }),
            last: Box::new(Error::Status { code: Code::DEADLINE_EXCEEDED, message: "late".into() }),
        };
        assert_eq!(err.code(), Some(Code::DEADLINE_EXCEEDED));
        assert_eq!(
            err.to_string(),
            "3 tries failed; the first with: gRPC call failed with UNAVAILABLE: refused; \
             the last with: gRPC call failed with DEADLINE_EXCEEDED: late"
        );
    }
}
