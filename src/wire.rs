//! a3 errors on the wire, exactly as Python a3grpc sends them: `grpc-status` (see
//! [`StatusCodes`]), `grpc-message` = `{"status": "<ErrorName>", "message": "<text>"}`, and
//! `grpc-status-details-bin` = `google.rpc.Status` with an `ErrorInfo`, so Go, Java and tonic
//! clients can dispatch on the name without parsing JSON. The server turns a View's error into
//! a status here ([`to_rpc_status`]); the client turns a status back into an [`Error`].

use grpcio::{Metadata, MetadataBuilder, RpcStatus, RpcStatusCode};
use protobuf::well_known_types::any::Any;
use protobuf::Message;
use serde::{Deserialize, Serialize};

use crate::error::{A3Error, Code, Error, ErrorKind, Side, StatusCodes};
use crate::proto::{ErrorInfo, Status};

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

/// Adds one metadata entry: keys ending in `-bin` carry bytes, others printable text. The
/// error says what is wrong with the entry, for the caller to wrap.
pub(crate) fn add_metadata(builder: &mut MetadataBuilder, key: &str, value: &[u8]) -> Result<(), String> {
    let added = if key.ends_with("-bin") {
        builder.add_bytes(key, value).map(|_| ())
    } else {
        match std::str::from_utf8(value) {
            Ok(text) => builder.add_str(key, text).map(|_| ()),
            Err(_) => return Err(format!("{key:?} is not text; use a -bin key for bytes")),
        }
    };
    added.map_err(|e| format!("{key:?} rejected: {e}"))
}

/// Logs `err` the way a3grpc does (client-side at INFO, server-side with its cause at ERROR)
/// and turns it into the status that goes on the wire.
pub(crate) fn to_rpc_status(err: &A3Error, codes: &StatusCodes, method: &str) -> RpcStatus {
    if let A3Error::Status { code, message } = err {
        log::info!("{method}: ended with gRPC status {code}: {message}");
        return status(*code, truncate_for_wire(message, method));
    }
    let code = codes.code_for(err);
    let cause = err.cause().map(|cause| format!("; cause: {cause}")).unwrap_or_default();
    match err.side() {
        Side::Client => log::info!("{method}: {code}-[{}]: {}{cause}", err.name(), err.message()),
        Side::Server => log::error!("{method}: {code}-[{}]: {}{cause}", err.name(), err.message()),
    }
    let message = truncate_for_wire(err.message(), method);
    let body = WireBody { status: err.name().to_owned(), message: Some(message.clone()) };
    let json = serde_json::to_string(&body).unwrap_or_default();
    RpcStatus::with_details(code.value(), json, rich_details(code, err, message))
}

fn truncate_for_wire(message: &str, method: &str) -> String {
    // Counted as the JSON body spells it, where a control character takes six bytes.
    let mut spelt = 0;
    let Some((end, _)) = message.char_indices().find(|&(_, c)| {
        spelt += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if c < ' ' => 6,
            c => c.len_utf8(),
        };
        spelt > MAX_WIRE_MESSAGE_BYTES
    }) else {
        return message.to_owned();
    };
    log::warn!("{method}: error message of {} bytes truncated on the wire; full text: {message}", message.len());
    format!("{}{TRUNCATION_MARKER}", &message[..end])
}

fn rich_details(code: Code, err: &A3Error, message: String) -> Vec<u8> {
    let info = ErrorInfo {
        reason: err.name().to_owned(),
        domain: ERROR_DOMAIN.to_owned(),
        metadata: [("error_type".to_owned(), err.side().error_type().to_owned())].into(),
        ..Default::default()
    };
    let any = Any {
        type_url: ERROR_INFO_TYPE_URL.to_owned(),
        value: info.write_to_bytes().unwrap_or_default(),
        ..Default::default()
    };
    let status = Status { code: code.value(), message, details: vec![any], ..Default::default() };
    status.write_to_bytes().unwrap_or_default()
}

/// Rebuilds the a3 error a status carries, if it carries one for a client using `codes`.
///
/// ErrorInfo in the details is read first, then the JSON in `grpc-message`.
pub(crate) fn from_rpc_status(status: &RpcStatus, codes: &StatusCodes, kinds: &[ErrorKind]) -> Option<A3Error> {
    let code = code_of(status);
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
        Code::UNKNOWN | Code::INTERNAL => Side::Server,
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
    let any = status.details.iter().find(|a| a.type_url == ERROR_INFO_TYPE_URL)?;
    let info = ErrorInfo::parse_from_bytes(&any.value).ok()?;
    if info.domain != ERROR_DOMAIN || info.reason.is_empty() {
        return None;
    }
    let side = info.metadata.get("error_type").and_then(|t| Side::from_error_type(t));
    Some((info.reason, side, Some(status.message)))
}

/// Whether a status message is an a3 JSON body (used to explain mismatched codes).
fn looks_like_a3_body(message: &str) -> bool {
    serde_json::from_str::<WireBody>(message).is_ok()
}

/// The error a client call that ended with `status` returns: the a3 error it carries, a
/// clear mismatch when it carries one with a code the client does not expect, or the status.
pub(crate) fn error_from_status(status: &RpcStatus, codes: &StatusCodes, kinds: &[ErrorKind]) -> Error {
    if let Some(err) = from_rpc_status(status, codes, kinds) {
        return Error::A3(err);
    }
    let code = code_of(status);
    let message = status.message().to_owned();
    if looks_like_a3_body(&message) {
        return Error::MismatchedStatusCode { code, message, expected: codes.describe() };
    }
    Error::Status { code, message }
}

/// Metadata as owned `(key, value)` pairs, in order.
pub(crate) fn to_pairs(metadata: &Metadata) -> Vec<(String, Vec<u8>)> {
    metadata.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// The code of a status as received.
pub(crate) fn code_of(status: &RpcStatus) -> Code {
    Code::new(status.code().into())
}

/// A status with `code` and `message` and nothing else.
pub(crate) fn status(code: Code, message: impl Into<String>) -> RpcStatus {
    RpcStatus::with_message(RpcStatusCode::from(code.value()), message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYMENT_REQUIRED: ErrorKind = ErrorKind::client("PaymentRequiredError");
    const LEDGER_CORRUPT: ErrorKind = ErrorKind::server("LedgerCorruptError");

    fn patched() -> StatusCodes {
        StatusCodes::default()
    }

    /// Every built-in class, as a client rebuilds it (server-side ones without a cause).
    fn built_ins() -> Vec<A3Error> {
        vec![
            A3Error::AuthenticationFailed("who are you".into()),
            A3Error::Validation("age must be a number".into()),
            A3Error::NotFound("no user 42".into()),
            A3Error::InvalidToken("expired".into()),
            A3Error::Forbidden("admins only".into()),
            A3Error::NotAvailable("closed on sundays".into()),
            A3Error::ClientKnown("you asked twice".into()),
            A3Error::ServerKnown { message: "A known error has occurred on the service side.".into(), cause: None },
            A3Error::ServerUnknown {
                message: "An unexpected error has occurred on the service side.".into(),
                cause: None,
            },
        ]
    }

    /// The JSON body a3grpc sends, `status` first as in the Python original.
    fn json(name: &str, message: &str) -> String {
        serde_json::to_string(&WireBody { status: name.to_owned(), message: Some(message.to_owned()) }).unwrap()
    }

    /// ErrorInfo details as a3grpc sends them, with `error_type` given or left out.
    fn details(reason: &str, domain: &str, error_type: Option<&str>, message: &str) -> Vec<u8> {
        let info = ErrorInfo {
            reason: reason.to_owned(),
            domain: domain.to_owned(),
            metadata: error_type.map(|t| ("error_type".to_owned(), t.to_owned())).into_iter().collect(),
            ..Default::default()
        };
        let any = Any {
            type_url: ERROR_INFO_TYPE_URL.to_owned(),
            value: info.write_to_bytes().unwrap(),
            ..Default::default()
        };
        let status = Status { message: message.to_owned(), details: vec![any], ..Default::default() };
        status.write_to_bytes().unwrap()
    }

    fn code(status: &RpcStatus) -> i32 {
        status.code().into()
    }

    #[test]
    fn a_not_found_error_travels_as_499_with_its_json_body_and_error_info() {
        let status = to_rpc_status(&A3Error::NotFound("no user 42".into()), &patched(), "/users.Users/Get");
        assert_eq!(code(&status), 499);
        assert_eq!(status.message(), r#"{"status":"NotFoundError","message":"no user 42"}"#);
        assert_eq!(
            error_info(status.details()),
            Some(("NotFoundError".to_owned(), Some(Side::Client), Some("no user 42".to_owned())))
        );
        let rich = Status::parse_from_bytes(status.details()).unwrap();
        assert_eq!(rich.code, 499);
        assert_eq!(rich.details.len(), 1);
        assert_eq!(rich.details[0].type_url, "type.googleapis.com/google.rpc.ErrorInfo");
        let info = ErrorInfo::parse_from_bytes(&rich.details[0].value).unwrap();
        assert_eq!(info.domain, "a3grpc");
        assert_eq!(info.metadata.get("error_type").map(String::as_str), Some("ClientSideError"));
    }

    #[test]
    fn every_built_in_error_round_trips_with_patched_codes() {
        for err in built_ins() {
            let status = to_rpc_status(&err, &patched(), "/m");
            let expected = if err.side() == Side::Client { 499 } else { 599 };
            assert_eq!(code(&status), expected, "{err}");
            assert_eq!(status.message(), json(err.name(), err.message()));
            assert_eq!(from_rpc_status(&status, &patched(), &[]), Some(err.clone()));
            assert!(matches!(error_from_status(&status, &patched(), &[]), Error::A3(ref e) if *e == err));
        }
    }

    #[test]
    fn every_built_in_error_round_trips_with_standard_codes() {
        let expected = [
            Code::UNAUTHENTICATED,
            Code::INVALID_ARGUMENT,
            Code::NOT_FOUND,
            Code::UNAUTHENTICATED,
            Code::PERMISSION_DENIED,
            Code::FAILED_PRECONDITION,
            Code::FAILED_PRECONDITION,
            Code::INTERNAL,
            Code::UNKNOWN,
        ];
        for (err, expected) in built_ins().into_iter().zip(expected) {
            let status = to_rpc_status(&err, &StatusCodes::Standard, "/m");
            assert_eq!(code(&status), expected.value(), "{err}");
            assert_eq!(from_rpc_status(&status, &StatusCodes::Standard, &[]), Some(err.clone()));
            // A client with patched codes understands a standard server too.
            assert_eq!(from_rpc_status(&status, &patched(), &[]), Some(err.clone()));
        }
    }

    #[test]
    fn a_server_side_cause_never_goes_on_the_wire() {
        let err = A3Error::server_known("password=hunter2");
        let status = to_rpc_status(&err, &patched(), "/m");
        assert_eq!(code(&status), 599);
        assert!(!status.message().contains("hunter2"), "{}", status.message());
        assert!(!String::from_utf8_lossy(status.details()).contains("hunter2"));
        assert_eq!(
            from_rpc_status(&status, &patched(), &[]),
            Some(A3Error::ServerKnown {
                message: "A known error has occurred on the service side.".into(),
                cause: None
            })
        );
        let custom = A3Error::custom(LEDGER_CORRUPT, "unbalanced").with_cause("row 7 of secret.db");
        let status = to_rpc_status(&custom, &patched(), "/m");
        assert!(!status.message().contains("secret.db"));
        assert!(!String::from_utf8_lossy(status.details()).contains("secret.db"));
    }

    #[test]
    fn a_registered_custom_kind_comes_back_as_custom() {
        let kinds = [PAYMENT_REQUIRED, LEDGER_CORRUPT];
        let err = A3Error::custom(PAYMENT_REQUIRED, "top up your account");
        let status = to_rpc_status(&err, &patched(), "/m");
        assert_eq!(code(&status), 499);
        assert_eq!(status.message(), r#"{"status":"PaymentRequiredError","message":"top up your account"}"#);
        assert_eq!(from_rpc_status(&status, &patched(), &kinds), Some(err));

        let err = A3Error::custom(LEDGER_CORRUPT, "unbalanced");
        let status = to_rpc_status(&err, &StatusCodes::Standard, "/m");
        assert_eq!(code(&status), Code::INTERNAL.value());
        assert_eq!(from_rpc_status(&status, &StatusCodes::Standard, &kinds), Some(err));
    }

    #[test]
    fn an_unregistered_custom_kind_keeps_its_name_side_and_message() {
        let status = to_rpc_status(&A3Error::custom(PAYMENT_REQUIRED, "top up"), &StatusCodes::Standard, "/m");
        assert_eq!(code(&status), Code::FAILED_PRECONDITION.value());
        assert_eq!(
            from_rpc_status(&status, &StatusCodes::Standard, &[]),
            Some(A3Error::Unregistered {
                name: "PaymentRequiredError".into(),
                side: Side::Client,
                message: "top up".into()
            })
        );
        let status = to_rpc_status(&A3Error::custom(LEDGER_CORRUPT, "unbalanced"), &patched(), "/m");
        assert_eq!(code(&status), 599);
        assert_eq!(
            from_rpc_status(&status, &patched(), &[PAYMENT_REQUIRED]),
            Some(A3Error::Unregistered {
                name: "LedgerCorruptError".into(),
                side: Side::Server,
                message: "unbalanced".into()
            })
        );
    }

    #[test]
    fn an_unregistered_error_sent_on_travels_again_with_its_side() {
        let err = A3Error::Unregistered { name: "TeapotError".into(), side: Side::Client, message: "short".into() };
        let status = to_rpc_status(&err, &patched(), "/m");
        assert_eq!(code(&status), 499);
        assert_eq!(status.message(), r#"{"status":"TeapotError","message":"short"}"#);
        assert_eq!(from_rpc_status(&status, &patched(), &[]), Some(err));
    }

    #[test]
    fn an_a3_error_whose_code_was_clamped_to_unknown_is_recognised_by_its_json_body() {
        let status = RpcStatus::with_message(2, json("NotFoundError", "no user 42"));
        assert_eq!(from_rpc_status(&status, &patched(), &[]), Some(A3Error::NotFound("no user 42".into())));
        assert_eq!(from_rpc_status(&status, &StatusCodes::Standard, &[]), Some(A3Error::NotFound("no user 42".into())));
        let status = RpcStatus::with_message(2, json("PaymentRequiredError", "top up"));
        assert_eq!(
            from_rpc_status(&status, &patched(), &[PAYMENT_REQUIRED]),
            Some(A3Error::custom(PAYMENT_REQUIRED, "top up"))
        );
    }

    #[test]
    fn without_details_a_clamped_unknown_or_internal_blames_the_server_and_other_codes_the_client() {
        for code in [Code::UNKNOWN, Code::INTERNAL] {
            let status = RpcStatus::with_message(code.value(), json("TeapotError", "short"));
            assert_eq!(
                from_rpc_status(&status, &patched(), &[]),
                Some(A3Error::Unregistered { name: "TeapotError".into(), side: Side::Server, message: "short".into() }),
                "{code}"
            );
        }
        for code in [Code::NOT_FOUND, Code::FAILED_PRECONDITION, Code::new(499)] {
            let status = RpcStatus::with_message(code.value(), json("TeapotError", "short"));
            assert_eq!(
                from_rpc_status(&status, &patched(), &[]),
                Some(A3Error::Unregistered { name: "TeapotError".into(), side: Side::Client, message: "short".into() }),
                "{code}"
            );
        }
        let status = RpcStatus::with_message(599, json("TeapotError", "short"));
        assert_eq!(from_rpc_status(&status, &patched(), &[]).map(|e| e.side()), Some(Side::Server));
    }

    #[test]
    fn a_clamped_unknown_takes_the_side_from_the_error_info() {
        let sent = to_rpc_status(&A3Error::custom(PAYMENT_REQUIRED, "top up"), &patched(), "/m");
        let clamped = RpcStatus::with_details(2, sent.message().to_owned(), sent.details().to_vec());
        assert_eq!(
            from_rpc_status(&clamped, &patched(), &[]),
            Some(A3Error::Unregistered {
                name: "PaymentRequiredError".into(),
                side: Side::Client,
                message: "top up".into()
            })
        );
    }

    #[test]
    fn error_info_without_a_side_falls_back_to_the_code_then_to_the_server() {
        let info = details("TeapotError", "a3grpc", None, "short");
        let status = RpcStatus::with_details(499, "not json".to_owned(), info.clone());
        assert_eq!(from_rpc_status(&status, &patched(), &[]).map(|e| e.side()), Some(Side::Client));
        let status = RpcStatus::with_details(2, "not json".to_owned(), info);
        assert_eq!(
            from_rpc_status(&status, &patched(), &[]),
            Some(A3Error::Unregistered { name: "TeapotError".into(), side: Side::Server, message: "short".into() })
        );
    }

    #[test]
    fn the_error_info_alone_is_enough_and_its_message_is_used_without_a_json_body() {
        let status = RpcStatus::with_details(
            499,
            "no user 42 (plain text)".to_owned(),
            details("NotFoundError", "a3grpc", Some("ClientSideError"), "no user 42"),
        );
        assert_eq!(from_rpc_status(&status, &patched(), &[]), Some(A3Error::NotFound("no user 42".into())));
    }

    #[test]
    fn the_json_message_wins_over_the_details_message_and_the_error_info_name_over_the_json_name() {
        let status = RpcStatus::with_details(
            499,
            json("ValidationError", "from json"),
            details("NotFoundError", "a3grpc", Some("ClientSideError"), "from details"),
        );
        assert_eq!(from_rpc_status(&status, &patched(), &[]), Some(A3Error::NotFound("from json".into())));
    }

    #[test]
    fn a_non_json_599_message_is_a_plain_status_error() {
        let status = RpcStatus::with_message(599, "the database is down".to_owned());
        assert_eq!(from_rpc_status(&status, &patched(), &[]), None);
        match error_from_status(&status, &patched(), &[]) {
            Error::Status { code, message } => {
                assert_eq!(code, Code::new(599));
                assert_eq!(message, "the database is down");
            }
            other => panic!("expected a plain status, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_a3_error_name_becomes_unregistered_with_the_side_of_its_code() {
        let status = RpcStatus::with_message(499, json("TeapotError", "short and stout"));
        assert_eq!(
            from_rpc_status(&status, &patched(), &[PAYMENT_REQUIRED]),
            Some(A3Error::Unregistered {
                name: "TeapotError".into(),
                side: Side::Client,
                message: "short and stout".into()
            })
        );
        let status = RpcStatus::with_message(599, json("KettleError", "boiled dry"));
        assert_eq!(
            from_rpc_status(&status, &patched(), &[]),
            Some(A3Error::Unregistered {
                name: "KettleError".into(),
                side: Side::Server,
                message: "boiled dry".into()
            })
        );
    }

    #[test]
    fn a_json_body_without_a_message_gives_the_class_default() {
        let status = RpcStatus::with_message(499, r#"{"status":"NotFoundError"}"#.to_owned());
        assert_eq!(from_rpc_status(&status, &patched(), &[]), Some(A3Error::NotFound(String::new())));
        let status = RpcStatus::with_message(599, r#"{"status":"ServerKnownError","message":null}"#.to_owned());
        assert_eq!(
            from_rpc_status(&status, &patched(), &[]).map(|e| e.message().to_owned()),
            Some("A known error has occurred on the service side.".to_owned())
        );
    }

    #[test]
    fn truncated_json_is_not_an_a3_error() {
        let cut = r#"{"status":"NotFoundError","mess"#;
        for code in [499, 2, 5] {
            let status = RpcStatus::with_message(code, cut.to_owned());
            assert_eq!(from_rpc_status(&status, &patched(), &[]), None, "{code}");
            match error_from_status(&status, &patched(), &[]) {
                Error::Status { code: got, message } => {
                    assert_eq!(got, Code::new(code));
                    assert_eq!(message, cut);
                }
                other => panic!("{code}: expected a plain status, got {other:?}"),
            }
        }
    }

    #[test]
    fn json_that_is_not_an_a3_body_is_not_an_a3_error() {
        for message in [r#"{"message":"no status"}"#, r#"{"status":42,"message":"m"}"#, r#"["NotFoundError"]"#, "null"]
        {
            let status = RpcStatus::with_message(499, message.to_owned());
            assert_eq!(from_rpc_status(&status, &patched(), &[]), None, "{message}");
            assert!(matches!(error_from_status(&status, &patched(), &[]), Error::Status { .. }), "{message}");
        }
    }

    #[test]
    fn an_a3_body_on_a_code_the_client_does_not_expect_is_a_mismatch_naming_the_expected_codes() {
        let sent = to_rpc_status(&A3Error::NotFound("no user 42".into()), &patched(), "/m");
        assert_eq!(from_rpc_status(&sent, &StatusCodes::patched(498, 598), &[]), None);
        match error_from_status(&sent, &StatusCodes::patched(498, 598), &[]) {
            Error::MismatchedStatusCode { code, message, expected } => {
                assert_eq!(code, Code::new(499));
                assert_eq!(message, r#"{"status":"NotFoundError","message":"no user 42"}"#);
                assert_eq!(expected, "498/598, UNKNOWN or standard codes");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let sent = to_rpc_status(&A3Error::server_known("c"), &patched(), "/m");
        match error_from_status(&sent, &StatusCodes::Standard, &[]) {
            Error::MismatchedStatusCode { code, expected, .. } => {
                assert_eq!(code, Code::new(599));
                assert_eq!(expected, "UNKNOWN or standard codes");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn an_a3_body_on_a_transport_code_is_a_mismatch_not_an_a3_error() {
        let status = RpcStatus::with_message(Code::UNAVAILABLE.value(), json("NotFoundError", "m"));
        assert_eq!(from_rpc_status(&status, &patched(), &[]), None);
        assert!(matches!(
            error_from_status(&status, &patched(), &[]),
            Error::MismatchedStatusCode { code: Code::UNAVAILABLE, .. }
        ));
    }

    #[test]
    fn a_plain_status_travels_with_exactly_its_code_and_message_and_no_details() {
        let err = A3Error::Status { code: Code::RESOURCE_EXHAUSTED, message: "too many calls".into() };
        let sent = to_rpc_status(&err, &patched(), "/m");
        assert_eq!(code(&sent), 8);
        assert_eq!(sent.message(), "too many calls");
        assert!(sent.details().is_empty());
        assert_eq!(from_rpc_status(&sent, &patched(), &[]), None);
        match error_from_status(&sent, &patched(), &[]) {
            Error::Status { code, message } => {
                assert_eq!(code, Code::RESOURCE_EXHAUSTED);
                assert_eq!(message, "too many calls");
            }
            other => panic!("expected a plain status, got {other:?}"),
        }
        // Even on a code that may carry a3 errors, a plain message is just a status.
        let sent = to_rpc_status(&A3Error::Status { code: Code::NOT_FOUND, message: "gone".into() }, &patched(), "/m");
        assert!(matches!(error_from_status(&sent, &patched(), &[]), Error::Status { code: Code::NOT_FOUND, .. }));
    }

    #[test]
    fn status_and_code_of_carry_any_code_including_non_standard_ones() {
        let s = status(Code::new(599), "m");
        assert_eq!(code_of(&s), Code::new(599));
        assert_eq!(s.message(), "m");
        assert!(s.details().is_empty());
        assert_eq!(code_of(&status(Code::UNAVAILABLE, String::from("x"))), Code::UNAVAILABLE);
    }

    #[test]
    fn a_message_at_the_limit_is_sent_whole() {
        let message = "x".repeat(MAX_WIRE_MESSAGE_BYTES);
        let sent = to_rpc_status(&A3Error::Validation(message.clone()), &patched(), "/m");
        assert_eq!(sent.message(), json("ValidationError", &message));
        assert_eq!(from_rpc_status(&sent, &patched(), &[]), Some(A3Error::Validation(message)));
    }

    #[test]
    fn a_very_long_message_is_truncated_to_1024_bytes_with_a_marker_in_both_json_and_details() {
        let message = "y".repeat(100_000);
        let sent = to_rpc_status(&A3Error::Validation(message), &patched(), "/m");
        let expected = format!("{} …[truncated; the full text is in the server log]", "y".repeat(1024));
        assert_eq!(sent.message(), json("ValidationError", &expected));
        assert_eq!(
            error_info(sent.details()),
            Some(("ValidationError".to_owned(), Some(Side::Client), Some(expected.clone())))
        );
        assert_eq!(from_rpc_status(&sent, &patched(), &[]), Some(A3Error::Validation(expected)));
        assert!(sent.message().len() < 1300, "{}", sent.message().len());
        assert!(sent.details().len() < 1300, "{}", sent.details().len());
    }

    #[test]
    fn truncation_never_splits_a_character() {
        // "é" takes bytes 1023 and 1024, so the cut falls before it.
        let message = format!("{}é{}", "a".repeat(1023), "b".repeat(10));
        let cut = truncate_for_wire(&message, "/m");
        assert_eq!(cut, format!("{}{TRUNCATION_MARKER}", "a".repeat(1023)));
        let emoji = "🦀".repeat(1000);
        let cut = truncate_for_wire(&emoji, "/m");
        assert_eq!(cut, format!("{}{TRUNCATION_MARKER}", "🦀".repeat(256)));
        assert_eq!(truncate_for_wire("short", "/m"), "short");
    }

    #[test]
    fn the_limit_counts_what_the_json_body_spells_so_control_characters_cost_six_bytes() {
        let message = "\u{1}".repeat(1024);
        let sent = to_rpc_status(&A3Error::Validation(message), &patched(), "/m");
        assert!(sent.message().len() < 1200, "the body stays near the limit: {} bytes", sent.message().len());
        assert_eq!(truncate_for_wire(&"\"".repeat(600), "/m"), format!("{}{TRUNCATION_MARKER}", "\"".repeat(512)));
    }

    #[test]
    fn a_plain_status_message_is_truncated_too() {
        let sent =
            to_rpc_status(&A3Error::Status { code: Code::NOT_FOUND, message: "z".repeat(100_000) }, &patched(), "/m");
        assert_eq!(sent.message(), format!("{}{TRUNCATION_MARKER}", "z".repeat(1024)));
    }

    #[test]
    fn error_info_ignores_empty_and_garbage_bytes() {
        assert_eq!(error_info(&[]), None);
        assert_eq!(error_info(&[0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(error_info(b"\x0a\x80"), None);
        assert_eq!(error_info(&[0x12, 0x05, 0xde, 0xad]), None);
    }

    #[test]
    fn error_info_ignores_other_domains_empty_reasons_and_other_detail_types() {
        assert_eq!(error_info(&details("NotFoundError", "example.com", Some("ClientSideError"), "m")), None);
        assert_eq!(error_info(&details("", "a3grpc", Some("ClientSideError"), "m")), None);
        let any = Any {
            type_url: "type.googleapis.com/google.rpc.DebugInfo".to_owned(),
            value: vec![1, 2, 3],
            ..Default::default()
        };
        let status = Status { details: vec![any], ..Default::default() };
        assert_eq!(error_info(&status.write_to_bytes().unwrap()), None);
        // A Status with no details at all.
        let bare = Status { code: 5, message: "m".to_owned(), ..Default::default() };
        assert_eq!(error_info(&bare.write_to_bytes().unwrap()), None);
    }

    #[test]
    fn error_info_reads_an_unknown_side_as_none() {
        assert_eq!(
            error_info(&details("TeapotError", "a3grpc", Some("KitchenSideError"), "m")),
            Some(("TeapotError".to_owned(), None, Some("m".to_owned())))
        );
        assert_eq!(
            error_info(&details("TeapotError", "a3grpc", Some("ServerSideError"), "")),
            Some(("TeapotError".to_owned(), Some(Side::Server), Some(String::new())))
        );
    }

    #[test]
    fn error_info_finds_the_error_info_among_other_details() {
        let theirs = details("NotFoundError", "a3grpc", Some("ClientSideError"), "m");
        let mut status = Status::parse_from_bytes(&theirs).unwrap();
        let other = Any { type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(), ..Default::default() };
        status.details.insert(0, other);
        assert_eq!(
            error_info(&status.write_to_bytes().unwrap()),
            Some(("NotFoundError".to_owned(), Some(Side::Client), Some("m".to_owned())))
        );
    }

    fn built(builder: MetadataBuilder) -> Vec<(String, Vec<u8>)> {
        builder.build().iter().map(|(k, v)| (k.to_owned(), v.to_vec())).collect()
    }

    #[test]
    fn add_metadata_adds_text_under_a_text_key_and_bytes_under_a_bin_key() {
        let mut builder = MetadataBuilder::new();
        assert_eq!(add_metadata(&mut builder, "x-request-id", b"42"), Ok(()));
        assert_eq!(add_metadata(&mut builder, "trace-bin", &[0x00, 0xff, 0x80]), Ok(()));
        assert_eq!(add_metadata(&mut builder, "X-Upper", b"v"), Ok(()));
        assert_eq!(
            built(builder),
            vec![
                ("x-request-id".to_owned(), b"42".to_vec()),
                ("trace-bin".to_owned(), vec![0x00, 0xff, 0x80]),
                ("x-upper".to_owned(), b"v".to_vec()),
            ]
        );
    }

    #[test]
    fn add_metadata_refuses_non_utf8_bytes_on_a_text_key_and_says_to_use_a_bin_key() {
        let mut builder = MetadataBuilder::new();
        assert_eq!(
            add_metadata(&mut builder, "x-trace", &[0xff, 0xfe]),
            Err(r#""x-trace" is not text; use a -bin key for bytes"#.to_owned())
        );
        assert!(built(builder).is_empty());
    }

    #[test]
    fn add_metadata_names_the_key_the_engine_rejects_and_why() {
        let mut builder = MetadataBuilder::new();
        let err = add_metadata(&mut builder, "x-name", "café".as_bytes()).unwrap_err();
        assert!(err.starts_with(r#""x-name" rejected: "#), "{err}");
        assert!(err.contains("only ascii value is accepted"), "{err}");

        let err = add_metadata(&mut builder, "x-name", b"line\nbreak").unwrap_err();
        assert!(err.starts_with(r#""x-name" rejected: "#), "{err}");
        assert!(err.contains("Only printable chars are accepted"), "{err}");

        let err = add_metadata(&mut builder, "bad key", b"v").unwrap_err();
        assert!(err.starts_with(r#""bad key" rejected: "#), "{err}");
        assert!(err.contains("is invalid"), "{err}");

        let err = add_metadata(&mut builder, "", b"v").unwrap_err();
        assert!(err.contains("metadata key should not be empty"), "{err}");
        assert!(built(builder).is_empty());
    }
}
