//! The errors: a3exception's error classes ([`A3Error`], [`ErrorKind`], [`Side`]), the gRPC
//! status [`Code`], how a3 errors map to codes ([`StatusCodes`], the `patch_status_code`
//! setting), and the [`Error`] a client call returns.

// How these travel on the wire (`grpc-status`, the JSON `grpc-message`, the rich error
// details) is `wire.rs`, one level up; nothing here touches gRPC.

use std::fmt;

/// A gRPC status code: one of the 17 standard codes, or any other value a server sends (the
/// Python original's 499 and 599, for instance).
///
/// ```
/// use a3grpc::error::Code;
///
/// assert_eq!(Code::UNAVAILABLE.to_string(), "UNAVAILABLE");
/// assert_eq!(Code::new(499).to_string(), "499");
/// assert_eq!(i32::from(Code::NOT_FOUND), 5);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(i32);

macro_rules! codes {
    ($($name:ident = $value:literal),* $(,)?) => {
        impl Code {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($value), ").")]
                pub const $name: Code = Code($value);
            )*

            /// The canonical name of a standard code, e.g. `"DEADLINE_EXCEEDED"`.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    OK = 0, CANCELLED = 1, UNKNOWN = 2, INVALID_ARGUMENT = 3, DEADLINE_EXCEEDED = 4, NOT_FOUND = 5,
    ALREADY_EXISTS = 6, PERMISSION_DENIED = 7, RESOURCE_EXHAUSTED = 8, FAILED_PRECONDITION = 9,
    ABORTED = 10, OUT_OF_RANGE = 11, UNIMPLEMENTED = 12, INTERNAL = 13, UNAVAILABLE = 14,
    DATA_LOSS = 15, UNAUTHENTICATED = 16,
}

impl Code {
    /// The code with this number.
    pub const fn new(code: i32) -> Code {
        Code(code)
    }

    /// Its number.
    pub const fn value(self) -> i32 {
        self.0
    }

    /// Whether it is one of the 17 standard codes (0..=16).
    pub fn is_standard(self) -> bool {
        (0..=16).contains(&self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({})", self.0),
            None => write!(f, "Code({})", self.0),
        }
    }
}

impl From<i32> for Code {
    fn from(code: i32) -> Code {
        Code(code)
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code.0
    }
}

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
    /// and `ClientBuilder` check that when they are built.
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

    /// The code that `err` is sent with.
    pub(crate) fn code_for(&self, err: &A3Error) -> Code {
        if let A3Error::Status { code, .. } = err {
            return *code;
        }
        match *self {
            StatusCodes::Patched { client_site_error_code, server_site_error_code } => match err.side() {
                Side::Client => Code(client_site_error_code),
                Side::Server => Code(server_site_error_code),
            },
            StatusCodes::Standard => standard_code(err),
        }
    }

    /// Whether `code` may carry an a3 error for a client using these codes.
    pub(crate) fn accepts(&self, code: Code) -> bool {
        let patched = match *self {
            StatusCodes::Patched { client_site_error_code, server_site_error_code } => {
                code.0 == client_site_error_code || code.0 == server_site_error_code
            }
            StatusCodes::Standard => false,
        };
        patched || STANDARD_A3_CODES.contains(&code)
    }

    /// The side a patched code stands for.
    pub(crate) fn side_of_code(&self, code: Code) -> Option<Side> {
        match *self {
            StatusCodes::Patched { client_site_error_code, .. } if code.0 == client_site_error_code => {
                Some(Side::Client)
            }
            StatusCodes::Patched { server_site_error_code, .. } if code.0 == server_site_error_code => {
                Some(Side::Server)
            }
            _ => None,
        }
    }

    /// The codes a client using these takes a3 errors from, for explanations.
    pub(crate) fn describe(&self) -> String {
        match self {
            StatusCodes::Patched { client_site_error_code, server_site_error_code } => {
                format!("{client_site_error_code}/{server_site_error_code}, UNKNOWN or standard codes")
            }
            StatusCodes::Standard => "UNKNOWN or standard codes".to_owned(),
        }
    }
}

/// UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS: codes that blame the service.
const SERVER_FAULT_CODES: [Code; 5] =
    [Code::UNKNOWN, Code::DEADLINE_EXCEEDED, Code::INTERNAL, Code::UNAVAILABLE, Code::DATA_LOSS];
const STANDARD_A3_CODES: [Code; 7] = [
    Code::UNKNOWN,
    Code::INVALID_ARGUMENT,
    Code::NOT_FOUND,
    Code::PERMISSION_DENIED,
    Code::FAILED_PRECONDITION,
    Code::INTERNAL,
    Code::UNAUTHENTICATED,
];

fn standard_code(err: &A3Error) -> Code {
    match err {
        A3Error::AuthenticationFailed(_) | A3Error::InvalidToken(_) => Code::UNAUTHENTICATED,
        A3Error::Validation(_) => Code::INVALID_ARGUMENT,
        A3Error::NotFound(_) => Code::NOT_FOUND,
        A3Error::Forbidden(_) => Code::PERMISSION_DENIED,
        A3Error::ServerUnknown { .. } => Code::UNKNOWN,
        other => match other.side() {
            Side::Client => Code::FAILED_PRECONDITION,
            Side::Server => Code::INTERNAL,
        },
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
    /// A unary call failed on every try the client's `RetryPolicy` allowed.
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
