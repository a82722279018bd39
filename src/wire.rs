//! a3 errors on the wire, exactly as Python a3grpc sends them: `grpc-status` (see
//! [`StatusCodes`]), `grpc-message` = `{"status": "<ErrorName>", "message": "<text>"}`, and
//! `grpc-status-details-bin` = `google.rpc.Status` with an `ErrorInfo`, so Go, Java and tonic
//! clients can dispatch on the name without parsing JSON. The server turns a View's error into
//! a status here ([`to_rpc_status`]); the client turns a status back into an [`Error`].

use grpcio::{MetadataBuilder, RpcStatus, RpcStatusCode};
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
        return status(*code, message.clone());
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

fn rich_details(code: Code, err: &A3Error, message: String) -> Vec<u8> {
    let mut info = ErrorInfo::new();
    info.set_reason(err.name().to_owned());
    info.set_domain(ERROR_DOMAIN.to_owned());
    info.mut_metadata().insert("error_type".to_owned(), err.side().error_type().to_owned());
    let mut any = protobuf::well_known_types::Any::new();
    any.set_type_url(ERROR_INFO_TYPE_URL.to_owned());
    any.set_value(info.write_to_bytes().unwrap_or_default());
    let mut status = Status::new();
    status.set_code(code.value());
    status.set_message(message);
    status.mut_details().push(any);
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
    let any = status.get_details().iter().find(|a| a.get_type_url() == ERROR_INFO_TYPE_URL)?;
    let info = ErrorInfo::parse_from_bytes(any.get_value()).ok()?;
    if info.get_domain() != ERROR_DOMAIN || info.get_reason().is_empty() {
        return None;
    }
    let side = info.get_metadata().get("error_type").and_then(|t| Side::from_error_type(t));
    Some((info.get_reason().to_owned(), side, Some(status.get_message().to_owned())))
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

/// The code of a status as received.
pub(crate) fn code_of(status: &RpcStatus) -> Code {
    Code::new(status.code().into())
}

/// A status with `code` and `message` and nothing else.
pub(crate) fn status(code: Code, message: impl Into<String>) -> RpcStatus {
    RpcStatus::with_message(RpcStatusCode::from(code.value()), message.into())
}
