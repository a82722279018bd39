//! Trailing metadata from Views (a3grpc's engine adds it to grpcio): every RPC kind, on
//! success and on error, read by a Python grpcio client.

mod common;

use a3grpc::{A3Error, BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView, Servicer};
use common::hello::*;
use common::*;
use serde_json::{json, Value};

/// Sets the trailers every call of the test carries, then fails for the name "fail".
fn trailers(ctx: &mut Context, kind: &str, name: &str) -> Result<(), A3Error> {
    ctx.set_trailer("x-kind", kind)?;
    ctx.set_trailer("x-name-bin", name)?;
    match name {
        "fail" => Err(A3Error::NotFound("no such name".into())),
        _ => Ok(()),
    }
}

struct Collect;

impl ClientStreamingView for Collect {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(&self, requests: Requests<HelloRequest>, ctx: &mut Context) -> Result<HelloReply, A3Error> {
        let mut last = String::new();
        for request in requests {
            last = request?.name.to_owned();
        }
        trailers(ctx, "client_stream", &last)?;
        Ok(reply("collected".into()))
    }
}

struct Fan;

impl ServerStreamingView for Fan {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(&self, request: HelloRequest, out: &mut Responses<HelloReply>, ctx: &mut Context) -> Result<(), A3Error> {
        out.send(reply("one".into()))?;
        trailers(ctx, "server_stream", &request.name)
    }
}

struct Echo;

impl BidiView for Echo {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(
        &self,
        requests: Requests<HelloRequest>,
        out: &mut Responses<HelloReply>,
        ctx: &mut Context,
    ) -> Result<(), A3Error> {
        let mut last = String::new();
        for request in requests {
            last = request?.name.to_owned();
            out.send(reply(last.clone()))?;
        }
        trailers(ctx, "bidi", &last)
    }
}

#[test]
fn a_python_client_reads_the_trailers_of_every_kind_on_success_and_on_error() {
    let servicer = Servicer::new()
        .unary(
            &METHOD_GREETER_SAY_HELLO,
            FnView(|req: HelloRequest, ctx: &mut Context| {
                trailers(ctx, "unary", &req.name)?;
                Ok(reply("hi".into()))
            }),
        )
        .client_streaming(&METHOD_GREETER_SAY_STREAM_HELLO_REPLY, Collect)
        .server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, Fan)
        .bidi(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, Echo);
    let server = start(conf(vec![servicer]));
    let out = python_script("trailers_client.py")
        .args(["127.0.0.1", &server.port().to_string(), "ok", "fail"])
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let calls: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(calls.len(), 8, "{stdout}");
    for call in &calls {
        let (kind, name) = (call["kind"].as_str().unwrap(), call["name"].as_str().unwrap());
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        // 499, a3's NotFoundError, arrives clamped to UNKNOWN in Python grpcio 1.70's core.
        let code = if name == "fail" { 2 } else { 0 };
        assert_eq!(
            *call,
            json!({"kind": kind, "name": name, "code": code, "trailers": [["x-kind", kind], ["x-name-bin", hex]]}),
            "{stdout}"
        );
    }
}
