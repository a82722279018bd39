//! Compression that works from the conf and per call, checked on the wire: a raw HTTP/2
//! client (Python `h2`) reads what the server sends, a raw HTTP/2 server reads what the
//! client sends, and a Python grpcio client sends its requests gzipped.

mod common;

use std::time::Duration;

use a3grpc::conf::Compression;
use a3grpc::{CallOptions, Conf};
use common::*;
use serde_json::Value;

const BIG: usize = 200_000;

/// A Greeter whose reply to `N` is N times "x", from a conf with `extra` lines.
fn big_replies(extra: &str) -> a3grpc::Server {
    a3grpc::register_mappings(
        "tests.compression.servicers",
        vec![greeter(|request, _| Ok(reply("x".repeat(request.name.parse().unwrap_or(0)))))],
    );
    let conf = format!("host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"tests.compression.servicers\"\n{extra}");
    start(Conf::from_toml_str(&conf).expect("conf"))
}

/// What `compression_peer.py MODE` printed after one call of `server` with `name`.
fn peer(mode: &str, server: &a3grpc::Server, name: &str) -> Value {
    let mut command = python_script("compression_peer.py");
    command.args([mode, "127.0.0.1", &server.port().to_string(), name]);
    let line = Peer::spawn(command).wait_for("{\"");
    serde_json::from_str(&line).expect("the peer prints JSON")
}

/// What the raw HTTP/2 client saw of one reply.
fn probe(server: &a3grpc::Server, name: &str) -> Value {
    peer("probe", server, name)
}

#[test]
fn the_conf_key_gzips_responses_on_the_wire() {
    let server = big_replies("compression = \"gzip\"\n");
    let seen = probe(&server, &BIG.to_string());
    assert_eq!(seen["grpc_encoding"], "gzip", "{seen}");
    assert_eq!(seen["compressed"], 1, "{seen}");
    assert_eq!(seen["message_chars"], BIG, "{seen}");
    assert!(seen["wire_bytes"].as_u64().unwrap() < 10_000, "gzip at its usual level, not 0: {seen}");
    assert_eq!(seen["grpc_status"], "0");
}

#[test]
fn the_originals_core_arg_compresses_too_and_deflate_works() {
    let server = big_replies("options = [[\"grpc.default_compression_algorithm\", 2]]\n");
    let seen = probe(&server, &BIG.to_string());
    assert_eq!((seen["grpc_encoding"].as_str(), seen["compressed"].as_u64()), (Some("gzip"), Some(1)), "{seen}");
    assert!(seen["wire_bytes"].as_u64().unwrap() < 10_000, "{seen}");

    let server = big_replies("compression = \"deflate\"\n");
    let seen = probe(&server, &BIG.to_string());
    assert_eq!((seen["grpc_encoding"].as_str(), seen["compressed"].as_u64()), (Some("deflate"), Some(1)), "{seen}");
    assert_eq!(seen["message_chars"], BIG);
}

#[test]
fn without_the_key_nothing_is_compressed() {
    let server = big_replies("");
    let seen = probe(&server, &BIG.to_string());
    assert_eq!(seen["compressed"], 0, "{seen}");
    assert_eq!(seen["wire_bytes"].as_u64().unwrap() as usize, BIG + 4, "the message as it is: {seen}");
}

#[test]
fn an_unknown_algorithm_is_a_conf_error_naming_the_key() {
    let err =
        Conf::from_toml_str("host = \"h\"\nport = 1\nservicer_mappings = \"m\"\ncompression = \"zip\"\n").unwrap_err();
    assert_eq!(err.key(), "compression");
    assert!(err.to_string().contains("`gzip`"), "the error lists what is accepted: {err}");
}

#[test]
fn a_python_grpcio_client_sending_gzip_is_understood() {
    let server = big_replies("compression = \"gzip\"\n");
    let seen = peer("grpcio", &server, &BIG.to_string());
    assert_eq!(seen["message_chars"], BIG, "{seen}");
}

#[test]
fn a_client_call_compresses_its_request_when_asked() {
    let mut raw = Peer::spawn(python_script("crafted_server.py"));
    let port = raw.port("listening on 127.0.0.1:");
    let client = a3grpc::BaseClient::builder("127.0.0.1", port).build().unwrap();
    let name = "y".repeat(BIG);
    let call = |options: CallOptions| {
        let options = options.header("x-case", "echo_encoding").timeout(Duration::from_secs(10));
        client.call_with(&METHOD_GREETER_SAY_HELLO, &request(&name), &options).unwrap().message.to_owned()
    };
    let gzipped = call(CallOptions::new().compression(Compression::Gzip));
    let (encoding, rest) = gzipped.split_once(':').unwrap();
    let (flag, size) = rest.split_once(':').unwrap();
    assert_eq!((encoding, flag), ("gzip", "1"), "{gzipped}");
    assert!(size.parse::<usize>().unwrap() < 10_000, "{gzipped}");
    assert_eq!(call(CallOptions::new()), format!("identity:0:{}", BIG + 4), "uncompressed by default");
}
