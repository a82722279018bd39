//! Messages built to exhaust the decoder's stack (RUSTSEC-2024-0437): deeply nested
//! `google.protobuf.Struct`s, self-nesting messages through a oneof, a map or a plain field,
//! and nested unknown groups. Each one is refused with a clean error, the server keeps serving,
//! and a client refuses such a response the same way.

mod common;

use std::io::Read;
use std::sync::Arc;

use a3grpc::protobuf::well_known_types::struct_::Value;
use a3grpc::{A3Error, BaseClient, Context, Error, Servicer, UnaryView};
use a3grpc_examples::nesting::{Echo, Node, METHOD_NESTING_ECHO, METHOD_NESTING_ECHO_VALUE};
use common::*;
use futures::FutureExt;
use grpcio::{ChannelBuilder, EnvBuilder, GrpcSlice, Marshaller, MessageReader, Method, MethodType, RpcStatusCode};

/// How deep messages may nest: rust-protobuf's recursion limit (and C++'s).
const MAX_NESTING: usize = 100;

struct EchoValue;

impl UnaryView for EchoValue {
    type Request = Value;
    type Response = Value;
    fn handle(&self, request: Value, _ctx: &mut Context) -> Result<Value, A3Error> {
        Ok(request)
    }
}

/// Echo on the worker pool, EchoValue on the I/O thread: both decode paths.
fn nesting_server() -> a3grpc::Server {
    let servicer =
        Servicer::new().unary(&METHOD_NESTING_ECHO, Echo).unary_inline(&METHOD_NESTING_ECHO_VALUE, EchoValue);
    start(conf(vec![servicer, greeter(|req, _ctx| Ok(reply(req.name.to_owned())))]))
}

fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

fn length_delimited(tag: &[u8], inner: &[u8]) -> Vec<u8> {
    [tag, &varint(inner.len()), inner].concat()
}

/// `core` wrapped `depth` times, each time in the bytes `head` makes for an inner part of the
/// given length; built in linear time, since a copy per level would be quadratic.
fn nest(core: Vec<u8>, depth: usize, head: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let mut heads = Vec::with_capacity(depth);
    let mut len = core.len();
    for _ in 0..depth {
        let h = head(len);
        len += h.len();
        heads.push(h);
    }
    heads.into_iter().rev().flatten().chain(core).collect()
}

/// A map entry `{key: "k", value: <len bytes>}` up to its value's bytes, after `tag`.
fn map_entry_head(tag: u8, len: usize) -> Vec<u8> {
    let entry = [&[0x0a, 0x01, b'k', 0x12][..], &varint(len)].concat();
    [vec![tag], varint(entry.len() + len), entry].concat()
}

/// A Value holding a Struct holding a Value ... `depth` times (oneof field, then map value).
fn deep_value(depth: usize) -> Vec<u8> {
    nest(vec![0x08, 0x00], depth, |len| {
        let entry = map_entry_head(0x0a, len);
        [vec![0x2a], varint(entry.len() + len), entry].concat()
    })
}

/// A Node nested `depth` times through field `tag` (1: oneof child, 4: plain field `next`).
fn deep_node(tag: u8, depth: usize) -> Vec<u8> {
    nest(length_delimited(&[0x12], b"leaf"), depth, |len| [vec![tag], varint(len)].concat())
}

/// A client that sends and receives raw bytes, to send what no message encoder would.
fn raw_call(port: u16, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, grpcio::Error> {
    fn ser(body: &Vec<u8>, buf: &mut GrpcSlice) -> grpcio::Result<()> {
        *buf = GrpcSlice::from(body.as_slice());
        Ok(())
    }
    fn de(mut reader: MessageReader) -> grpcio::Result<Vec<u8>> {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).map_err(|e| grpcio::Error::Codec(Box::new(e)))?;
        Ok(body)
    }
    let method =
        Method { ty: MethodType::Unary, name: path, req_mar: Marshaller { ser, de }, resp_mar: Marshaller { ser, de } };
    let env = Arc::new(EnvBuilder::new().cq_count(1).build());
    let channel = ChannelBuilder::new(env).max_receive_message_len(-1).connect(&format!("127.0.0.1:{port}"));
    grpcio::Client::new(channel).unary_call(&method, &body, grpcio::CallOption::default())
}

fn assert_refused(result: Result<Vec<u8>, grpcio::Error>, reason: &str) {
    match result {
        Err(grpcio::Error::RpcFailure(status)) => {
            assert_eq!(status.code(), RpcStatusCode::INTERNAL);
            assert!(status.message().contains(reason), "{}", status.message());
        }
        other => panic!("expected INTERNAL, got {other:?}"),
    }
}

#[test]
fn deeply_nested_structs_are_refused_and_the_server_lives_on() {
    let server = nesting_server();
    let body = deep_value(100_000);
    assert!(body.len() < 4 << 20, "within the default message size limit");
    assert_refused(raw_call(server.port(), "/nesting.Nesting/EchoValue", body), "OverRecursionLimit");
    // Nested as deep as allowed, the same shape is answered (Value, Struct and entry count).
    let allowed = deep_value(MAX_NESTING / 3);
    assert_eq!(raw_call(server.port(), "/nesting.Nesting/EchoValue", allowed.clone()).unwrap().len(), allowed.len());
    assert_eq!(say_hello(&client(&server), "alive").unwrap(), "alive");
}

#[test]
fn self_nesting_messages_are_refused_through_oneofs_maps_and_plain_fields() {
    let server = nesting_server();
    assert_refused(raw_call(server.port(), "/nesting.Nesting/Echo", deep_node(0x0a, 100_000)), "OverRecursionLimit");
    assert_refused(raw_call(server.port(), "/nesting.Nesting/Echo", deep_node(0x22, 100_000)), "OverRecursionLimit");
    let map = nest(length_delimited(&[0x12], b"leaf"), 50_000, |len| map_entry_head(0x1a, len));
    assert_refused(raw_call(server.port(), "/nesting.Nesting/Echo", map), "OverRecursionLimit");

    // A typed client gets legitimate nesting back whole.
    let mut node = Node::new();
    node.set_leaf("leaf".into());
    for _ in 0..MAX_NESTING - 1 {
        let mut outer = Node::new();
        outer.set_child(node);
        node = outer;
    }
    let client = BaseClient::connect("127.0.0.1", server.port()).unwrap();
    assert_eq!(client.call(&METHOD_NESTING_ECHO, &node).unwrap(), node);
    assert_eq!(say_hello(&client, "alive").unwrap(), "alive");
}

#[test]
fn nested_unknown_groups_are_refused_without_recursion() {
    let server = nesting_server();
    // HelloRequest with field 99 opening a group inside a group, 100 000 times.
    let groups = [0x9b, 0x06].repeat(100_000);
    assert_refused(raw_call(server.port(), "/Greeter/say_hello", groups), "could not read the request");
    // One unknown group of scalars is skipped, as protobuf specifies.
    let group = [vec![0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06], length_delimited(&[0x0a], b"alive")].concat();
    assert!(raw_call(server.port(), "/Greeter/say_hello", group).is_ok());
    assert_eq!(say_hello(&client(&server), "alive").unwrap(), "alive");
}

#[test]
fn a_client_refuses_a_response_that_nests_too_deep() {
    let env = Arc::new(EnvBuilder::new().cq_count(1).build());
    let deep = deep_value(100_000);
    let method: Method<Vec<u8>, Vec<u8>> = Method {
        ty: MethodType::Unary,
        name: METHOD_NESTING_ECHO_VALUE.name,
        req_mar: Marshaller { ser: |_, _| Ok(()), de: |_| Ok(Vec::new()) },
        resp_mar: Marshaller {
            ser: |body, buf| {
                *buf = GrpcSlice::from(body.as_slice());
                Ok(())
            },
            de: |_| Ok(Vec::new()),
        },
    };
    let service = grpcio::ServiceBuilder::new()
        .add_unary_handler(&method, move |ctx, _req, sink| ctx.spawn(sink.success(deep.clone()).map(|_| ())))
        .build();
    let mut server = grpcio::ServerBuilder::new(env).register_service(service).build().unwrap();
    let port = server.add_listening_port("127.0.0.1:0", grpcio::ServerCredentials::insecure()).unwrap();
    server.start();

    let client = BaseClient::builder("127.0.0.1", port).option("grpc.max_receive_message_length", -1).build().unwrap();
    match client.call(&METHOD_NESTING_ECHO_VALUE, &Value::new()) {
        Err(Error::Transport(message)) => assert!(message.contains("Over recursion limit"), "{message}"),
        Err(other) => panic!("expected a decoding error, got {other:?}"),
        Ok(_) => panic!("a response nested 100 000 deep was accepted"),
    }
}
