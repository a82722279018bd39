//! The gRPC status [`Code`], and how a3 errors map to codes: [`StatusCodes`], the
//! `patch_status_code` setting.

use std::fmt;

use super::{A3Error, Side};

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

    /// Whether the code blames the service (UNKNOWN, DEADLINE_EXCEEDED, INTERNAL,
    /// UNAVAILABLE, DATA_LOSS).
    pub(crate) fn blames_the_service(self) -> bool {
        SERVER_FAULT_CODES.contains(&self)
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
            if code < 0 {
                return Some((key, format!("{code} is negative; use a code above 16 (e.g. 499/599)")));
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
pub(super) const SERVER_FAULT_CODES: [Code; 5] =
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

#[cfg(test)]
mod tests {
    use super::super::ErrorKind;
    use super::*;

    const ALL_STANDARD: [(i32, &str); 17] = [
        (0, "OK"),
        (1, "CANCELLED"),
        (2, "UNKNOWN"),
        (3, "INVALID_ARGUMENT"),
        (4, "DEADLINE_EXCEEDED"),
        (5, "NOT_FOUND"),
        (6, "ALREADY_EXISTS"),
        (7, "PERMISSION_DENIED"),
        (8, "RESOURCE_EXHAUSTED"),
        (9, "FAILED_PRECONDITION"),
        (10, "ABORTED"),
        (11, "OUT_OF_RANGE"),
        (12, "UNIMPLEMENTED"),
        (13, "INTERNAL"),
        (14, "UNAVAILABLE"),
        (15, "DATA_LOSS"),
        (16, "UNAUTHENTICATED"),
    ];

    /// One error of every class, with the code `StatusCodes::Standard` sends it with.
    fn every_class_with_its_standard_code() -> Vec<(A3Error, Code)> {
        vec![
            (A3Error::AuthenticationFailed("m".into()), Code::UNAUTHENTICATED),
            (A3Error::InvalidToken("m".into()), Code::UNAUTHENTICATED),
            (A3Error::Validation("m".into()), Code::INVALID_ARGUMENT),
            (A3Error::NotFound("m".into()), Code::NOT_FOUND),
            (A3Error::Forbidden("m".into()), Code::PERMISSION_DENIED),
            (A3Error::NotAvailable("m".into()), Code::FAILED_PRECONDITION),
            (A3Error::ClientKnown("m".into()), Code::FAILED_PRECONDITION),
            (A3Error::custom(ErrorKind::client("PaymentRequiredError"), "m"), Code::FAILED_PRECONDITION),
            (
                A3Error::Unregistered { name: "TeapotError".into(), side: Side::Client, message: "m".into() },
                Code::FAILED_PRECONDITION,
            ),
            (A3Error::server_known("c"), Code::INTERNAL),
            (A3Error::custom(ErrorKind::server("LedgerCorruptError"), "m"), Code::INTERNAL),
            (
                A3Error::Unregistered { name: "TeapotError".into(), side: Side::Server, message: "m".into() },
                Code::INTERNAL,
            ),
            (A3Error::server_unknown("c"), Code::UNKNOWN),
        ]
    }

    #[test]
    fn each_standard_code_has_its_canonical_name_and_number() {
        for (value, name) in ALL_STANDARD {
            let code = Code::new(value);
            assert_eq!(code.name(), Some(name));
            assert_eq!(code.to_string(), name);
            assert_eq!(format!("{code:?}"), format!("{name}({value})"));
            assert!(code.is_standard(), "{name}");
        }
        assert_eq!(Code::OK.value(), 0);
        assert_eq!(Code::NOT_FOUND.value(), 5);
        assert_eq!(Code::UNAVAILABLE.value(), 14);
        assert_eq!(Code::UNAUTHENTICATED.value(), 16);
    }

    #[test]
    fn a_code_outside_the_standard_range_has_no_name_and_displays_as_its_number() {
        for value in [-1, 17, 499, 599, i32::MAX, i32::MIN] {
            let code = Code::new(value);
            assert_eq!(code.name(), None);
            assert!(!code.is_standard(), "{value}");
            assert_eq!(code.to_string(), value.to_string());
            assert_eq!(format!("{code:?}"), format!("Code({value})"));
        }
    }

    #[test]
    fn a_code_converts_to_and_from_its_number() {
        assert_eq!(Code::from(5), Code::NOT_FOUND);
        assert_eq!(i32::from(Code::NOT_FOUND), 5);
        assert_eq!(i32::from(Code::from(599)), 599);
        assert_eq!(Code::new(499).value(), 499);
        assert!(Code::OK < Code::CANCELLED && Code::UNAUTHENTICATED < Code::new(499));
    }

    #[test]
    fn the_default_is_the_python_originals_499_and_599() {
        assert_eq!(
            StatusCodes::default(),
            StatusCodes::Patched { client_site_error_code: 499, server_site_error_code: 599 }
        );
        assert_eq!(StatusCodes::patched(499, 599), StatusCodes::default());
        assert_eq!(
            StatusCodes::patched(498, 598),
            StatusCodes::Patched { client_site_error_code: 498, server_site_error_code: 598 }
        );
    }

    #[test]
    fn patched_codes_send_every_client_side_class_as_499_and_every_server_side_class_as_599() {
        let codes = StatusCodes::default();
        for (err, _) in every_class_with_its_standard_code() {
            let expected = match err.side() {
                Side::Client => Code::new(499),
                Side::Server => Code::new(599),
            };
            assert_eq!(codes.code_for(&err), expected, "{err}");
        }
        assert_eq!(codes.code_for(&A3Error::NotFound("m".into())), Code::new(499));
        assert_eq!(codes.code_for(&A3Error::server_unknown("c")), Code::new(599));
    }

    #[test]
    fn custom_patched_codes_are_used_as_given() {
        let codes = StatusCodes::patched(420, 520);
        assert_eq!(codes.code_for(&A3Error::Forbidden("m".into())), Code::new(420));
        assert_eq!(codes.code_for(&A3Error::server_known("c")), Code::new(520));
        assert_eq!(codes.code_for(&A3Error::custom(ErrorKind::server("LedgerCorruptError"), "m")), Code::new(520));
    }

    #[test]
    fn standard_codes_follow_the_documented_table() {
        for (err, code) in every_class_with_its_standard_code() {
            assert_eq!(StatusCodes::Standard.code_for(&err), code, "{err}");
        }
    }

    #[test]
    fn a_plain_status_is_sent_with_its_own_code_whatever_the_setting() {
        let err = A3Error::Status { code: Code::RESOURCE_EXHAUSTED, message: "busy".into() };
        assert_eq!(StatusCodes::default().code_for(&err), Code::RESOURCE_EXHAUSTED);
        assert_eq!(StatusCodes::Standard.code_for(&err), Code::RESOURCE_EXHAUSTED);
        let err = A3Error::Status { code: Code::UNAVAILABLE, message: "down".into() };
        assert_eq!(StatusCodes::patched(420, 520).code_for(&err), Code::UNAVAILABLE);
    }

    #[test]
    fn a_client_accepts_a3_errors_on_its_patched_codes_unknown_and_the_standard_a3_codes() {
        let codes = StatusCodes::default();
        for code in [
            Code::new(499),
            Code::new(599),
            Code::UNKNOWN,
            Code::INVALID_ARGUMENT,
            Code::NOT_FOUND,
            Code::PERMISSION_DENIED,
            Code::FAILED_PRECONDITION,
            Code::INTERNAL,
            Code::UNAUTHENTICATED,
        ] {
            assert!(codes.accepts(code), "{code}");
        }
        for code in [
            Code::OK,
            Code::CANCELLED,
            Code::DEADLINE_EXCEEDED,
            Code::ALREADY_EXISTS,
            Code::RESOURCE_EXHAUSTED,
            Code::ABORTED,
            Code::OUT_OF_RANGE,
            Code::UNIMPLEMENTED,
            Code::UNAVAILABLE,
            Code::DATA_LOSS,
            Code::new(498),
            Code::new(598),
        ] {
            assert!(!codes.accepts(code), "{code}");
        }
    }

    #[test]
    fn a_standard_client_does_not_accept_the_patched_codes() {
        assert!(!StatusCodes::Standard.accepts(Code::new(499)));
        assert!(!StatusCodes::Standard.accepts(Code::new(599)));
        assert!(StatusCodes::Standard.accepts(Code::UNKNOWN));
        assert!(StatusCodes::Standard.accepts(Code::NOT_FOUND));
        assert!(!StatusCodes::Standard.accepts(Code::UNAVAILABLE));
        assert!(!StatusCodes::patched(420, 520).accepts(Code::new(499)));
        assert!(StatusCodes::patched(420, 520).accepts(Code::new(520)));
    }

    #[test]
    fn every_code_a_server_sends_an_a3_error_with_is_accepted_by_clients_of_either_setting() {
        for server in [StatusCodes::default(), StatusCodes::Standard] {
            for (err, _) in every_class_with_its_standard_code() {
                let code = server.code_for(&err);
                assert!(server.accepts(code), "{server:?} {err}: {code}");
            }
        }
        for (err, _) in every_class_with_its_standard_code() {
            let code = StatusCodes::Standard.code_for(&err);
            assert!(StatusCodes::default().accepts(code), "{err}: {code}");
        }
    }

    #[test]
    fn only_a_patched_code_tells_the_side() {
        let codes = StatusCodes::default();
        assert_eq!(codes.side_of_code(Code::new(499)), Some(Side::Client));
        assert_eq!(codes.side_of_code(Code::new(599)), Some(Side::Server));
        assert_eq!(codes.side_of_code(Code::UNKNOWN), None);
        assert_eq!(codes.side_of_code(Code::INTERNAL), None);
        assert_eq!(codes.side_of_code(Code::new(500)), None);
        assert_eq!(StatusCodes::patched(420, 520).side_of_code(Code::new(520)), Some(Side::Server));
        assert_eq!(StatusCodes::patched(420, 520).side_of_code(Code::new(599)), None);
        assert_eq!(StatusCodes::Standard.side_of_code(Code::new(499)), None);
        assert_eq!(StatusCodes::Standard.side_of_code(Code::new(599)), None);
    }

    #[test]
    fn describe_names_the_codes_a_client_takes_a3_errors_from() {
        assert_eq!(StatusCodes::default().describe(), "499/599, UNKNOWN or standard codes");
        assert_eq!(StatusCodes::patched(420, 520).describe(), "420/520, UNKNOWN or standard codes");
        assert_eq!(StatusCodes::Standard.describe(), "UNKNOWN or standard codes");
    }

    #[test]
    fn the_default_standard_and_other_distinct_non_standard_codes_have_no_problem() {
        assert_eq!(StatusCodes::default().problem(), None);
        assert_eq!(StatusCodes::Standard.problem(), None);
        assert_eq!(StatusCodes::patched(17, 18).problem(), None);
        assert_eq!(StatusCodes::patched(599, 499).problem(), None);
    }

    #[test]
    fn a_standard_code_as_a_patched_code_is_a_problem_naming_its_key() {
        assert_eq!(
            StatusCodes::patched(5, 599).problem(),
            Some((
                "client_site_error_code",
                "5 is a standard gRPC status code; use a code above 16 (e.g. 499/599)".to_owned()
            ))
        );
        assert_eq!(
            StatusCodes::patched(499, 16).problem(),
            Some((
                "server_site_error_code",
                "16 is a standard gRPC status code; use a code above 16 (e.g. 499/599)".to_owned()
            ))
        );
        assert_eq!(StatusCodes::patched(499, 0).problem().map(|(key, _)| key), Some("server_site_error_code"));
        // The client's code is checked first.
        assert_eq!(StatusCodes::patched(2, 13).problem().map(|(key, _)| key), Some("client_site_error_code"));
        assert_eq!(StatusCodes::patched(0, 0).problem().map(|(key, _)| key), Some("client_site_error_code"));
    }

    #[test]
    fn equal_patched_codes_are_a_problem_of_the_server_key() {
        assert_eq!(
            StatusCodes::patched(499, 499).problem(),
            Some((
                "server_site_error_code",
                "equals client_site_error_code (499): the two sides need different codes".to_owned()
            ))
        );
    }

    #[test]
    fn the_server_fault_codes_are_exactly_the_five_that_blame_the_service() {
        assert_eq!(
            SERVER_FAULT_CODES,
            [Code::UNKNOWN, Code::DEADLINE_EXCEEDED, Code::INTERNAL, Code::UNAVAILABLE, Code::DATA_LOSS]
        );
    }
}
