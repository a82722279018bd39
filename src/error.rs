//! The a3exception error taxonomy, its wire format, and the error a client call returns.
//!
//! A View reports failure by returning an [`A3Error`]. On the wire it travels exactly as
//! Python a3grpc sends it, so Rust and Python peers understand each other:
//!
//! * `grpc-status`: the client-side code (default 499) or the server-side code (default 599),
//!   see [`StatusCodes`];
//! * `grpc-message`: the JSON object `{"status": "<ErrorName>", "message": "<text>"}`;
//! * `grpc-status-details-bin`: a `google.rpc.Status` carrying a `google.rpc.ErrorInfo`
//!   `{reason: <ErrorName>, domain: "a3grpc", metadata: {error_type}}`, so Go, Java and tonic
//!   clients can dispatch on the name without parsing JSON.
//!
//! A server-side error's *cause* is logged on the server and never sent.

use std::fmt;

use grpcio::{RpcStatus, RpcStatusCode};
use protobuf::Message;
use serde::{Deserialize, Serialize};

use crate::proto::{ErrorInfo, Status};

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

    fn from_error_type(s: &str) -> Option<Side> {
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
/// it on clients with [`ClientBuilder::error_kind`](crate::ClientBuilder::error_kind) so they
/// rebuild it as [`A3Error::Custom`].
///
/// ```
/// use a3grpc::{A3Error, ErrorKind};
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
pub const SERVER_KNOWN_MESSAGE: &str = "A known error has occurred on the service side.";
/// Default message of `ServerUnknownError`, as in a3exception.
pub const SERVER_UNKNOWN_MESSAGE: &str = "An unexpected error has occurred on the service side.";

/// An a3 error: what a View returns to fail a call, and what a client gets back.
///
/// The nine built-in classes of a3exception are variants; user classes are
/// [`Custom`](A3Error::Custom). Server-side variants carry a `cause` that the server logs and
/// never sends, so a client always sees `cause: None`.
///
/// ```
/// use a3grpc::{A3Error, Side};
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
    /// [`ClientBuilder::error_kind`](crate::ClientBuilder::error_kind) to get
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
        /// The gRPC status code, e.g. 5 for NOT_FOUND.
        code: i32,
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
            A3Error::Status { code, .. } if SERVER_FAULT_CODES.contains(code) => Side::Server,
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
    fn from_parts(name: &str, side: Side, message: Option<String>, kinds: &[ErrorKind]) -> A3Error {
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

/// How a3 errors map to `grpc-status` codes: the `patch_status_code` setting.
///
/// It is a per-server and per-client value, never process-global state.
///
/// * [`StatusCodes::Patched`] (the default, 499/599) is the Python original's wire format.
/// * [`StatusCodes::Standard`] sends a3 errors with standard gRPC codes (and the same JSON and
///   error details), so grpcurl, proxies and other languages see meaningful codes:
///
/// | a3 error | gRPC code |
/// |---|---|
/// | AuthenticationFailedError, InvalidTokenError | UNAUTHENTICATED (16) |
/// | ValidationError | INVALID_ARGUMENT (3) |
/// | NotFoundError | NOT_FOUND (5) |
/// | ForbiddenError | PERMISSION_DENIED (7) |
/// | NotAvailableError, ClientKnownError, other client-side classes | FAILED_PRECONDITION (9) |
/// | ServerKnownError, other server-side classes | INTERNAL (13) |
/// | ServerUnknownError | UNKNOWN (2) |
///
/// Clients understand both: they accept their patched codes, `UNKNOWN` (newer gRPC cores clamp
/// unknown codes to it) and the codes of this table, whenever the body is an a3 error.
///
/// In a conf file it is a table with the original's keys, or the string `"standard"`:
///
/// ```toml
/// [patch_status_code]
/// client_site_error_code = 499
/// server_site_error_code = 599
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCodes {
    /// The codes of the Python original, 499 and 599 by default.
    Patched {
        /// Code for client-side errors.
        client_site_error_code: i32,
        /// Code for server-side errors.
        server_site_error_code: i32,
    },
    /// Standard gRPC codes, see the table above.
    Standard,
}

impl Default for StatusCodes {
    fn default() -> Self {
        StatusCodes::Patched { client_site_error_code: 499, server_site_error_code: 599 }
    }
}

impl StatusCodes {
    /// Patched codes for client-side and server-side errors.
    ///
    /// They must differ and lie outside the standard range 0..=16; [`Conf`](crate::Conf)
    /// and [`ClientBuilder`](crate::ClientBuilder) check that when they are built.
    pub fn patched(client_site_error_code: i32, server_site_error_code: i32) -> StatusCodes {
        StatusCodes::Patched { client_site_error_code, server_site_error_code }
    }

    /// Why these codes cannot work, if they cannot: `(key, reason)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        let StatusCodes::Patched { client_site_error_code: c, server_site_error_code: s } = *self else {
            return None;
        };
        for (key, code) in [("client_site_error_code", c), ("server_site_error_code", s)] {
            if (0..=16).contains(&code) {
                return Some((
                    key,
                    format!("{code} is a standard gRPC status code; use a code above 16 (e.g. 499/599)"),
                ));
            }
        }
        if c == s {
            return Some((
                "server_site_error_code",
                format!("equals client_site_error_code ({c}): the two sides need different codes"),
            ));
        }
        None
    }

    pub(crate) fn code_for(&self, err: &A3Error) -> i32 {
        if let A3Error::Status { code, .. } = err {
            return *code;
        }
        match *self {
            StatusCodes::Patched { client_site_error_code, server_site_error_code } => match err.side() {
                Side::Client => client_site_error_code,
                Side::Server => server_site_error_code,
            },
            StatusCodes::Standard => standard_code(err),
        }
    }

    /// Whether `code` may carry an a3 error for a client using these codes.
    fn accepts(&self, code: i32) -> bool {
        let patched = match *self {
            StatusCodes::Patched { client_site_error_code, server_site_error_code } => {
                code == client_site_error_code || code == server_site_error_code
            }
            StatusCodes::Standard => false,
        };
        patched || STANDARD_A3_CODES.contains(&code)
    }

    fn side_of_code(&self, code: i32) -> Option<Side> {
        match *self {
            StatusCodes::Patched { client_site_error_code, .. } if code == client_site_error_code => Some(Side::Client),
            StatusCodes::Patched { server_site_error_code, .. } if code == server_site_error_code => Some(Side::Server),
            _ => None,
        }
    }
}

const UNKNOWN: i32 = 2;
const INVALID_ARGUMENT: i32 = 3;
const NOT_FOUND: i32 = 5;
const PERMISSION_DENIED: i32 = 7;
const FAILED_PRECONDITION: i32 = 9;
const INTERNAL: i32 = 13;
const UNAUTHENTICATED: i32 = 16;
/// UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS: codes that blame the service.
const SERVER_FAULT_CODES: [i32; 5] = [UNKNOWN, 4, INTERNAL, 14, 15];
const STANDARD_A3_CODES: [i32; 7] =
    [UNKNOWN, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION, INTERNAL, UNAUTHENTICATED];

fn standard_code(err: &A3Error) -> i32 {
    match err {
        A3Error::AuthenticationFailed(_) | A3Error::InvalidToken(_) => UNAUTHENTICATED,
        A3Error::Validation(_) => INVALID_ARGUMENT,
        A3Error::NotFound(_) => NOT_FOUND,
        A3Error::Forbidden(_) => PERMISSION_DENIED,
        A3Error::ServerUnknown { .. } => UNKNOWN,
        other => match other.side() {
            Side::Client => FAILED_PRECONDITION,
            Side::Server => INTERNAL,
        },
    }
}

/// The most message text an error puts in trailers. `grpc-message` is percent-encoded and the
/// details repeat the text, so this keeps the whole trailer block far below the 8 KiB that
/// proxies and gRPC cores accept by default.
const MAX_WIRE_MESSAGE_BYTES: usize = 1024;
const TRUNCATION_MARKER: &str = " …[truncated; the full text is in the server log]";
const ERROR_DOMAIN: &str = "a3grpc";
const ERROR_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.ErrorInfo";

#[derive(Serialize, Deserialize)]
struct WireBody {
    status: String,
    message: Option<String>,
}

/// Logs `err` the way a3grpc does (client-side at INFO, server-side with its cause at ERROR)
/// and turns it into the status that goes on the wire.
pub(crate) fn to_rpc_status(err: &A3Error, codes: &StatusCodes, method: &str) -> RpcStatus {
    if let A3Error::Status { code, message } = err {
        log::info!("{method}: ended with gRPC status {code}: {message}");
        return status(*code, message.clone());
    }
    let code = codes.code_for(err);
    match err.side() {
        Side::Client => {
            log::info!("{method}: {code}-[{}]: {}; {}", err.name(), err.message(), err.cause().unwrap_or(""))
        }
        Side::Server => log::error!(
            "{method}: {code}-[{}]: {}; cause: {}",
            err.name(),
            err.message(),
            err.cause().unwrap_or("(none)")
        ),
    }
    let message = truncate_for_wire(err.message(), method);
    let body = WireBody { status: err.name().to_owned(), message: Some(message.clone()) };
    let json = serde_json::to_string(&body).unwrap_or_default();
    RpcStatus::with_details(code, json, rich_details(code, err, message))
}

fn truncate_for_wire(message: &str, method: &str) -> String {
    if message.len() <= MAX_WIRE_MESSAGE_BYTES {
        return message.to_owned();
    }
    log::warn!("{method}: error message of {} bytes truncated on the wire; full text: {message}", message.len());
    let mut end = MAX_WIRE_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATION_MARKER}", &message[..end])
}

fn rich_details(code: i32, err: &A3Error, message: String) -> Vec<u8> {
    let mut info = ErrorInfo::new();
    info.set_reason(err.name().to_owned());
    info.set_domain(ERROR_DOMAIN.to_owned());
    info.mut_metadata().insert("error_type".to_owned(), err.side().error_type().to_owned());
    let mut any = protobuf::well_known_types::Any::new();
    any.set_type_url(ERROR_INFO_TYPE_URL.to_owned());
    any.set_value(info.write_to_bytes().unwrap_or_default());
    let mut status = Status::new();
    status.set_code(code);
    status.set_message(message);
    status.mut_details().push(any);
    status.write_to_bytes().unwrap_or_default()
}

/// Rebuilds the a3 error a status carries, if it carries one for a client using `codes`.
///
/// ErrorInfo in the details is read first, then the JSON in `grpc-message`.
pub(crate) fn from_rpc_status(status: &RpcStatus, codes: &StatusCodes, kinds: &[ErrorKind]) -> Option<A3Error> {
    let code: i32 = status.code().into();
    if !codes.accepts(code) {
        return None;
    }
    let body: Option<WireBody> = serde_json::from_str(status.message()).ok();
    let side_by_code = codes.side_of_code(code);
    if let Some((name, side, details_message)) = error_info(status.details()) {
        let message = body.and_then(|b| b.message).or(details_message);
        let side = side.or(side_by_code).unwrap_or(Side::Server);
        return Some(A3Error::from_parts(&name, side, message, kinds));
    }
    let body = body?;
    let side = side_by_code.unwrap_or(match code {
        UNKNOWN | INTERNAL => Side::Server,
        _ => Side::Client,
    });
    Some(A3Error::from_parts(&body.status, side, body.message, kinds))
}

/// Reads an a3 `ErrorInfo` from `grpc-status-details-bin` bytes: the error name, its side,
/// and the `google.rpc.Status` message. Public for tests of the wire format.
#[doc(hidden)]
pub fn error_info(details: &[u8]) -> Option<(String, Option<Side>, Option<String>)> {
    if details.is_empty() {
        return None;
    }
    let status = Status::parse_from_bytes(details).ok()?;
    let any = status.get_details().iter().find(|a| a.get_type_url() == ERROR_INFO_TYPE_URL)?;
    let info = ErrorInfo::parse_from_bytes(any.get_value()).ok()?;
    if info.get_domain() != ERROR_DOMAIN || info.get_reason().is_empty() {
        return None;
    }
    let side = info.get_metadata().get("error_type").and_then(|t| Side::from_error_type(t));
    Some((info.get_reason().to_owned(), side, Some(status.get_message().to_owned())))
}

/// Whether a status message is an a3 JSON body (used to explain mismatched codes).
pub(crate) fn looks_like_a3_body(message: &str) -> bool {
    serde_json::from_str::<WireBody>(message).is_ok()
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
    #[error("gRPC call failed with {}: {message}", code_name(*code))]
    Status {
        /// The gRPC status code.
        code: i32,
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
        code: i32,
        /// The raw `grpc-message`.
        message: String,
        /// The client's a3 codes, for the explanation.
        expected: String,
    },
    /// The client or the call was set up wrongly: a bad option, target or metadata key.
    #[error("invalid client use: {0}")]
    Usage(String),
}

impl Error {
    /// The a3 error, if the server sent one.
    pub fn a3(&self) -> Option<&A3Error> {
        match self {
            Error::A3(e) => Some(e),
            _ => None,
        }
    }

    /// The gRPC status code the call ended with, if it reached the server or the transport.
    pub fn code(&self) -> Option<i32> {
        match self {
            Error::Status { code, .. } | Error::MismatchedStatusCode { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn from_status(status: &RpcStatus, codes: &StatusCodes, kinds: &[ErrorKind]) -> Error {
        if let Some(err) = from_rpc_status(status, codes, kinds) {
            return Error::A3(err);
        }
        let code: i32 = status.code().into();
        let message = status.message().to_owned();
        if looks_like_a3_body(&message) {
            let expected = match codes {
                StatusCodes::Patched { client_site_error_code, server_site_error_code } => {
                    format!("{client_site_error_code}/{server_site_error_code}, UNKNOWN or standard codes")
                }
                StatusCodes::Standard => "UNKNOWN or standard codes".to_owned(),
            };
            return Error::MismatchedStatusCode { code, message, expected };
        }
        Error::Status { code, message }
    }
}

/// The canonical name of a gRPC status code, e.g. `"DEADLINE_EXCEEDED"`.
pub fn code_name(code: i32) -> String {
    let name = match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        other => return format!("status {other}"),
    };
    name.to_owned()
}

pub(crate) fn status(code: i32, message: impl Into<String>) -> RpcStatus {
    RpcStatus::with_message(RpcStatusCode::from(code), message.into())
}
