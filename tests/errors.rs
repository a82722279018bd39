//! The a3 error taxonomy over a real socket: every class round trip, custom classes,
//! patched and standard codes, the exact wire format, and the shapes other cores produce.

mod common;

use std::sync::Arc;

use a3grpc::error::{Code, ErrorKind, Side, StatusCodes};
use a3grpc::{A3Error, Error};
use common::*;
use futures::FutureExt;
use grpcio::{RpcStatus, ServiceBuilder};

const PAYMENT_REQUIRED: ErrorKind = ErrorKind::client("PaymentRequiredError");
const LEDGER_DOWN: ErrorKind = ErrorKind::server("LedgerDownError");

/// Fails with the a3 error named by the request.
fn failing() -> a3grpc::Servicer {
    greeter(|req, _| {
        let m = || "msg ☺".to_owned();
        Err(match req.name.as_str() {
            "AuthenticationFailedError" => A3Error::AuthenticationFailed(m()),
            "ValidationError" => A3Error::Validation(m()),
            "NotFoundError" => A3Error::NotFound(m()),
            "InvalidTokenError" => A3Error::InvalidToken(m()),
            "ForbiddenError" => A3Error::Forbidden(m()),
            "NotAvailableError" => A3Error::NotAvailable(m()),
            "ClientKnownError" => A3Error::ClientKnown(m()),
            "ServerKnownError" => A3Error::server_known("secret cause"),
            "ServerUnknownError" => A3Error::server_unknown("secret cause"),
            "PaymentRequiredError" => A3Error::custom(PAYMENT_REQUIRED, m()),
            "LedgerDownError" => A3Error::custom(LEDGER_DOWN, m()).with_cause("secret cause"),
            "huge" => A3Error::Validation("é".repeat(5000)),
            other => A3Error::ClientKnown(format!("unexpected {other}")),
        })
    })
}

fn a3_error(client: &a3grpc::BaseClient, name: &str) -> A3Error {
    match say_hello(client, name) {
        Err(Error::A3(err)) => err,
        other => panic!("{name}: expected an a3 error, got {other:?}"),
    }
}

#[test]
fn every_built_in_error_round_trips_typed_with_its_side_and_message() {
    let server = start(conf(vec![failing()]));
    let client = client(&server);
    let m = || "msg ☺".to_owned();
    let expected = [
        A3Error::AuthenticationFailed(m()),
        A3Error::Validation(m()),
        A3Error::NotFound(m()),
        A3Error::InvalidToken(m()),
        A3Error::Forbidden(m()),
        A3Error::NotAvailable(m()),
        A3Error::ClientKnown(m()),
        A3Error::ServerKnown { message: "A known error has occurred on the service side.".into(), cause: None },
        A3Error::ServerUnknown { message: "An unexpected error has occurred on the service side.".into(), cause: None },
    ];
    for want in expected {
        let got = a3_error(&client, want.name());
        assert_eq!(got, want);
        assert_eq!(got.side(), if want.name().starts_with("Server") { Side::Server } else { Side::Client });
    }
}

#[test]
fn custom_errors_come_back_typed_when_registered_and_usable_when_not() {
    let server = start(conf(vec![failing()]));
    let registered = client_of(&server).error_kind(PAYMENT_REQUIRED).error_kind(LEDGER_DOWN).build().unwrap();
    let err = a3_error(&registered, "PaymentRequiredError");
    assert!(err.is(PAYMENT_REQUIRED));
    assert_eq!(err, A3Error::custom(PAYMENT_REQUIRED, "msg ☺"));
    let err = a3_error(&registered, "LedgerDownError");
    assert_eq!(err, A3Error::custom(LEDGER_DOWN, "msg ☺"), "the cause is not sent");

    let unaware = client(&server);
    assert_eq!(
        a3_error(&unaware, "PaymentRequiredError"),
        A3Error::Unregistered { name: "PaymentRequiredError".into(), side: Side::Client, message: "msg ☺".into() }
    );
    assert_eq!(a3_error(&unaware, "LedgerDownError").side(), Side::Server);
}

#[test]
fn the_wire_carries_499_599_the_json_body_and_error_info() {
    let server = start(conf(vec![failing()]));
    let status = raw_status(server.port(), "NotFoundError");
    assert_eq!(i32::from(status.code()), 499);
    let body: serde_json::Value = serde_json::from_str(status.message()).unwrap();
    assert_eq!(body, serde_json::json!({"status": "NotFoundError", "message": "msg ☺"}));
    let (name, side, _) = a3grpc::codegen::error_info(status.details()).expect("ErrorInfo in grpc-status-details-bin");
    assert_eq!((name.as_str(), side), ("NotFoundError", Some(Side::Client)));

    let status = raw_status(server.port(), "ServerKnownError");
    assert_eq!(i32::from(status.code()), 599);
    assert!(!status.message().contains("secret"), "a cause is never sent: {}", status.message());
    assert!(!String::from_utf8_lossy(status.details()).contains("secret"));
}

#[test]
fn patched_codes_apply_per_server_and_per_client() {
    let codes = StatusCodes::patched(400, 500);
    let server = start(conf(vec![failing()]).patch_status_code(codes));
    assert_eq!(i32::from(raw_status(server.port(), "ValidationError").code()), 400);
    assert_eq!(i32::from(raw_status(server.port(), "ServerKnownError").code()), 500);

    let matching = client_of(&server).patch_status_code(codes).build().unwrap();
    assert_eq!(a3_error(&matching, "ValidationError"), A3Error::Validation("msg ☺".into()));

    // A default server in the same process still uses 499/599: nothing is global.
    let default_server = start(conf(vec![failing()]));
    assert_eq!(i32::from(raw_status(default_server.port(), "ValidationError").code()), 499);
}

#[test]
fn mismatched_codes_give_a_clear_untyped_error() {
    let server = start(conf(vec![failing()]).patch_status_code(StatusCodes::patched(400, 500)));
    match say_hello(&client(&server), "NotFoundError") {
        Err(err @ Error::MismatchedStatusCode { code, .. }) if code == Code::new(400) => {
            let text = err.to_string();
            assert!(text.contains("patch_status_code"), "{text}");
            assert!(text.contains("NotFoundError"), "{text}");
        }
        other => panic!("expected a mismatched-code error, got {other:?}"),
    }
}

#[test]
fn standard_codes_mode_sends_meaningful_codes_and_clients_still_decode_typed() {
    let server = start(conf(vec![failing()]).patch_status_code(StatusCodes::Standard));
    let cases = [
        ("AuthenticationFailedError", 16),
        ("InvalidTokenError", 16),
        ("ValidationError", 3),
        ("NotFoundError", 5),
        ("ForbiddenError", 7),
        ("NotAvailableError", 9),
        ("ClientKnownError", 9),
        ("PaymentRequiredError", 9),
        ("ServerKnownError", 13),
        ("LedgerDownError", 13),
        ("ServerUnknownError", 2),
    ];
    let client = client_of(&server).error_kind(PAYMENT_REQUIRED).error_kind(LEDGER_DOWN).build().unwrap();
    for (name, code) in cases {
        let status = raw_status(server.port(), name);
        assert_eq!(i32::from(status.code()), code, "{name}");
        assert!(status.message().contains(name), "the JSON body is still there: {}", status.message());
        assert_eq!(a3_error(&client, name).name(), name);
    }
}

#[test]
fn an_overlong_message_is_truncated_with_a_marker() {
    let server = start(conf(vec![failing()]));
    let err = a3_error(&client(&server), "huge");
    let message = err.message();
    assert!(message.len() < 1200, "{} bytes on the wire", message.len());
    assert!(message.starts_with("éé"));
    assert!(message.ends_with("[truncated; the full text is in the server log]"), "{message}");
}

/// What a newer gRPC core delivers: UNKNOWN with the a3 JSON, and no details.
#[test]
fn unknown_status_with_a3_json_decodes_typed() {
    let (server, port) = raw_server(|name| {
        let body = format!(r#"{{"status": "{name}", "message": "from a clamped core"}}"#);
        RpcStatus::with_message(grpcio::RpcStatusCode::UNKNOWN, body)
    });
    let client = a3grpc::BaseClient::builder("127.0.0.1", port).build().unwrap();
    assert_eq!(a3_error(&client, "NotFoundError"), A3Error::NotFound("from a clamped core".into()));
    assert_eq!(a3_error(&client, "ServerKnownError").side(), Side::Server);
    drop(server);
}

#[test]
fn a_non_a3_status_stays_an_untyped_status() {
    let (_server, port) =
        raw_server(|_| RpcStatus::with_message(grpcio::RpcStatusCode::UNKNOWN, "plain failure".into()));
    let client = a3grpc::BaseClient::builder("127.0.0.1", port).build().unwrap();
    match say_hello(&client, "x") {
        Err(Error::Status { code: Code::UNKNOWN, message }) => assert_eq!(message, "plain failure"),
        other => panic!("expected UNKNOWN, got {other:?}"),
    }
}

fn raw_status(port: u16, name: &str) -> RpcStatus {
    let env = Arc::new(grpcio::EnvBuilder::new().cq_count(1).build());
    let raw = grpcio::Client::new(grpcio::ChannelBuilder::new(env).connect(&format!("127.0.0.1:{port}")));
    match raw.unary_call(&METHOD_GREETER_SAY_HELLO, &request(name), Default::default()) {
        Err(grpcio::Error::RpcFailure(status)) => status,
        other => panic!("expected a failed call, got {:?}", other.map(|_| ())),
    }
}

/// A server written directly on grpcio, failing every call with `fail(name)`.
fn raw_server(fail: fn(&str) -> RpcStatus) -> (grpcio::Server, u16) {
    let env = Arc::new(grpcio::EnvBuilder::new().cq_count(1).build());
    let service = ServiceBuilder::new()
        .add_unary_handler(&METHOD_GREETER_SAY_HELLO, move |ctx, req: HelloRequest, sink| {
            ctx.spawn(sink.fail(fail(&req.name)).map(|_| ()));
        })
        .build();
    let mut server = grpcio::ServerBuilder::new(env).register_service(service).build().unwrap();
    let port = server.add_listening_port("127.0.0.1:0", grpcio::ServerCredentials::insecure()).unwrap();
    server.start();
    (server, port)
}
