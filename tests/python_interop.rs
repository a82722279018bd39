//! Interop with the real Python package (a3grpc 0.3.0, grpcio 1.70) in both directions.

mod common;

use a3grpc::error::Side;
use a3grpc::{A3Error, Error};
use common::*;
use serde_json::{json, Value};

fn python_client(port: u16, names: &[&str]) -> Vec<Value> {
    let out = python_script("greeter_client.py")
        .args(["127.0.0.1", &port.to_string()])
        .args(names)
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect()
}

#[test]
fn a_python_base_client_gets_the_reply_and_a_typed_error_from_our_example_server() {
    let server = example_server("max_workers = 4\n");
    let results = python_client(server.port, &["client", "error"]);
    assert_eq!(results[0], json!({"ok": "Hello client!"}));
    assert_eq!(
        results[1],
        json!({
            "error": "ServerKnownError",
            "message": "A known error has occurred on the service side.",
            "error_type": "ServerSideError"
        })
    );
}

#[test]
fn a_python_base_client_rebuilds_client_side_errors_from_a_rust_view() {
    let server = start(conf(vec![greeter(|req, _| match req.name.as_str() {
        "missing" => Err(A3Error::NotFound("no greeting for you ☺".into())),
        "invalid" => Err(A3Error::Validation("name too short".into())),
        name => Ok(reply(format!("Hello {name}!"))),
    })]));
    let results = python_client(server.port(), &["missing", "invalid", "ok"]);
    assert_eq!(
        results,
        vec![
            json!({"error": "NotFoundError", "message": "no greeting for you ☺", "error_type": "ClientSideError"}),
            json!({"error": "ValidationError", "message": "name too short", "error_type": "ClientSideError"}),
            json!({"ok": "Hello ok!"}),
        ]
    );
}

#[test]
fn our_base_client_gets_typed_errors_from_the_python_a3grpc_server() {
    let mut server = Peer::spawn(python_script("greeter_server.py"));
    let port = server.port("PORT ");
    let client = a3grpc::BaseClient::connect("127.0.0.1", port).unwrap();

    assert_eq!(say_hello(&client, "client").unwrap(), "Hello client!");
    match say_hello(&client, "error") {
        Err(Error::A3(err @ A3Error::ServerKnown { .. })) => {
            assert_eq!(err.message(), "A known error has occurred on the service side.");
            assert_eq!(err.side(), Side::Server);
        }
        other => panic!("expected ServerKnownError, got {other:?}"),
    }
    match say_hello(&client, "NotFoundError") {
        Err(Error::A3(err)) => assert_eq!(err, A3Error::NotFound("no such greeting".into())),
        other => panic!("expected NotFoundError, got {other:?}"),
    }
}
