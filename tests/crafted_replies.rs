//! No reply a server can send panics a client. A raw HTTP/2 server (Python `h2`, no gRPC
//! library) answers each call with a crafted reply, the kinds a broken server or a proxy in
//! between sends; every one comes back to the caller as an error, and the client goes on.

mod common;

use std::time::Duration;

use a3grpc::error::Code;
use a3grpc::{CallOptions, Error};
use common::*;

fn crafted_server() -> (Peer, a3grpc::BaseClient) {
    let mut server = Peer::spawn(python_script("crafted_server.py"));
    let port = server.port("listening on 127.0.0.1:");
    let client =
        a3grpc::BaseClient::builder("127.0.0.1", port).retry(a3grpc::client::RetryPolicy::never()).build().unwrap();
    (server, client)
}

/// One call, with a deadline as a careful caller sets: a reply the core cannot finish (a
/// second message on a unary call) then ends at the deadline instead of never.
fn call(client: &a3grpc::BaseClient, case: &str) -> Result<String, Error> {
    let options = CallOptions::new().header("x-case", case).timeout(Duration::from_secs(3));
    client.call_with(&METHOD_GREETER_SAY_HELLO, &request("x"), &options).map(|reply| reply.message.to_owned())
}

#[test]
fn status_ok_without_a_message_is_an_internal_error() {
    let (_server, client) = crafted_server();
    for case in ["ok_without_message", "trailers_only_ok"] {
        match call(&client, case) {
            Err(Error::Status { code: Code::INTERNAL, message }) => {
                assert_eq!(message, "the server sent no response message", "{case}")
            }
            other => panic!("{case}: expected INTERNAL, got {other:?}"),
        }
    }
    assert_eq!(call(&client, "ok").unwrap(), "fine", "the client goes on");
}

#[test]
fn every_crafted_reply_is_an_error() {
    let (_server, client) = crafted_server();
    let cases = [
        "a3_not_json",
        "a3_unknown_name",
        "a3_truncated_json",
        "garbage_details",
        "not_protobuf",
        "two_messages",
        "truncated_message",
        "http_502_html",
        "huge_message",
        "negative_code",
        "code_not_a_number",
        "no_status",
    ];
    for case in cases {
        let outcome = call(&client, case);
        println!("{case}: {outcome:?}");
        assert!(outcome.is_err(), "{case}: a crafted reply must be an error, got {outcome:?}");
    }
    assert_eq!(call(&client, "ok").unwrap(), "fine", "the client goes on after all of them");
}

#[test]
fn a_stream_the_server_refused_is_retried_once_transparently() {
    // REFUSED_STREAM promises the server processed nothing (RFC 9113, 8.7), as when a server
    // is over its stream limit: the engine retries such a call once, with no retry policy.
    let (_server, client) = crafted_server();
    assert_eq!(call(&client, "refused_once").unwrap(), "answered after 1 refused");
    match call(&client, "refused_always") {
        Err(Error::Status { code: Code::UNAVAILABLE, message }) => {
            assert!(message.contains("RST_STREAM with error code 7"), "{message}")
        }
        other => panic!("a stream refused twice fails with UNAVAILABLE, got {other:?}"),
    }
    assert_eq!(call(&client, "ok").unwrap(), "fine", "the client goes on");
}

#[test]
fn the_cores_own_messages_reach_the_programs_log_with_their_level() {
    logged_lines();
    let (_server, client) = crafted_server();
    assert!(call(&client, "negative_code").is_err());
    let lines = logged_lines();
    assert!(
        lines.iter().any(|l| l.starts_with("ERROR grpcio") && l.contains("Error parsing 'grpc-status' metadata")),
        "the core's error on the malformed status, as an ERROR: {lines:#?}"
    );
}
