//! A trace across three processes' worth of calls (the `otlp` feature): a Python client traced
//! by OpenTelemetry's SDK and opentelemetry-instrumentation-grpc calls an a3grpc server whose
//! View calls a second one with `CallOptions::within(ctx)`. Every span the a3grpc side makes
//! reaches an OTLP/HTTP receiver, carries the Python client's trace id, and has the right
//! parent: the Python client span, then each call's server span, then the client span of the
//! View's call.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use a3grpc::otlp::{Exporter, Flush};
use a3grpc::{A3Error, BaseClient, CallOptions, Server};
use a3grpc_examples::hello::{
    greeter_servicer, METHOD_GREETER_SAY_HELLO_BIDI_STREAM as BIDI,
    METHOD_GREETER_SAY_HELLO_STREAM_REPLY as SERVER_STREAM, METHOD_GREETER_SAY_STREAM_HELLO_REPLY as CLIENT_STREAM,
};
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service_name: String,
    name: String,
    kind: SpanKind,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, Value>,
    error: Option<String>,
}

/// An OTLP/HTTP receiver on a free loopback port: what it was sent, as it arrives.
#[derive(Default)]
struct Collector {
    spans: Mutex<Vec<Received>>,
    arrived: Condvar,
}

impl Collector {
    fn start() -> (Arc<Collector>, u16) {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("the receiver binds");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let collector = Arc::new(Collector::default());
        let shared = collector.clone();
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let read = std::io::Read::read_to_end(request.as_reader(), &mut body);
                let status =
                    match (request.url(), read.ok().and_then(|_| ExportTraceServiceRequest::decode(&body[..]).ok())) {
                        ("/v1/traces", Some(export)) => {
                            shared.receive(export);
                            200
                        }
                        _ => 400,
                    };
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        (collector, port)
    }

    fn receive(&self, export: ExportTraceServiceRequest) {
        let mut spans = self.spans.lock().unwrap();
        for resource in export.resource_spans {
            let service_name = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone());
            let service_name = match service_name {
                Some(Value::StringValue(name)) => name,
                _ => String::new(),
            };
            for span in resource.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                let kind = span.kind();
                let error = span.status.as_ref().filter(|s| s.code() == StatusCode::Error).map(|s| s.message.clone());
                spans.push(Received {
                    service_name: service_name.clone(),
                    name: span.name,
                    kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: span.attributes.into_iter().filter_map(|kv| Some((kv.key, kv.value?.value?))).collect(),
                    error,
                });
            }
        }
        self.arrived.notify_all();
    }

    /// The spans that `wanted` picks, once `count` of them have arrived.
    fn spans(&self, wanted: impl Fn(&Received) -> bool, count: usize) -> Vec<Received> {
        let until = Instant::now() + Duration::from_secs(20);
        let mut spans = self.spans.lock().unwrap();
        loop {
            let picked: Vec<Received> = spans.iter().filter(|s| wanted(s)).cloned().collect();
            if picked.len() >= count {
                return picked;
            }
            let left = until.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{count} spans did not arrive; got {picked:#?}");
            spans = self.arrived.wait_timeout(spans, left).unwrap().0;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The collector and the exporter this test binary's calls report to, set up once: a process
/// has one tracing subscriber.
fn exporter() -> &'static (Arc<Collector>, Flush) {
    static EXPORTER: OnceLock<(Arc<Collector>, Flush)> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let (collector, port) = Collector::start();
        let flush = Exporter::new()
            .endpoint(format!("http://127.0.0.1:{port}/v1/traces"))
            .service_name("a3grpc-tests")
            .install()
            .expect("the exporter starts");
        (collector, flush)
    })
}

/// The back service, which answers "missing" with a NotFoundError, and the front one, whose
/// View passes its call on to the back one within its own.
fn front_and_back() -> (Server, Server) {
    let back = start(conf(vec![greeter(|request, ctx| match request.name.as_str() {
        "missing" => Err(A3Error::NotFound("no such greeting".into())),
        name => Ok(reply(format!("hello {name} in {}", ctx.trace_id().unwrap_or("no trace")))),
    })]));
    let downstream = BaseClient::connect("127.0.0.1", back.port()).expect("client builds");
    let front = start(conf(vec![greeter(move |request, ctx| {
        Ok(downstream.call_with(&METHOD_GREETER_SAY_HELLO, &request, &CallOptions::within(ctx))?)
    })]));
    (front, back)
}

/// What the traced Python client printed: its reply or status code, and its span.
fn python_call(port: u16, name: &str) -> serde_json::Value {
    let out =
        python_script("traced_client.py").args(["127.0.0.1", &port.to_string(), name]).output().expect("python runs");
    assert!(out.status.success(), "traced_client.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// The three a3grpc spans of one traced call, told apart by their parents.
struct Chain {
    front_server: Received,
    front_client: Received,
    back_server: Received,
}

fn chain(python: &serde_json::Value) -> Chain {
    let (collector, flush) = exporter();
    flush.flush().expect("the spans are sent");
    let trace_id = python["trace_id"].as_str().expect("a trace id");
    let spans = collector.spans(|s| s.trace_id == trace_id, 3);
    let child_of = |parent: &str, kind: SpanKind| {
        let found: Vec<&Received> = spans.iter().filter(|s| s.parent_span_id == parent && s.kind == kind).collect();
        assert_eq!(found.len(), 1, "one {kind:?} span whose parent is {parent}: {spans:#?}");
        found[0].clone()
    };
    let front_server = child_of(python["span_id"].as_str().expect("a span id"), SpanKind::Server);
    let front_client = child_of(&front_server.span_id, SpanKind::Client);
    let back_server = child_of(&front_client.span_id, SpanKind::Server);
    assert_eq!(spans.len(), 3, "no other span in the trace: {spans:#?}");
    Chain { front_server, front_client, back_server }
}

fn text(span: &Received, key: &str) -> Option<String> {
    match span.attributes.get(key) {
        Some(Value::StringValue(value)) => Some(value.clone()),
        _ => None,
    }
}

fn int(span: &Received, key: &str) -> Option<i64> {
    match span.attributes.get(key) {
        Some(Value::IntValue(value)) => Some(*value),
        _ => None,
    }
}

#[test]
fn a_python_clients_trace_runs_through_both_servers_with_the_right_parents() {
    exporter();
    let (front, _back) = front_and_back();
    let python = python_call(front.port(), "ada");
    // The back View's ctx.trace_id() is the Python client's.
    assert_eq!(
        python["reply"].as_str(),
        Some(format!("hello ada in {}", python["trace_id"].as_str().unwrap()).as_str())
    );
    assert_eq!(python["kind"], "CLIENT");

    let Chain { front_server, front_client, back_server } = chain(&python);
    for span in [&front_server, &front_client, &back_server] {
        assert_eq!(span.name, "Greeter/say_hello");
        assert_eq!(span.service_name, "a3grpc-tests");
        assert_eq!(text(span, "rpc.system").as_deref(), Some("grpc"));
        assert_eq!(text(span, "rpc.service").as_deref(), Some("Greeter"));
        assert_eq!(text(span, "rpc.method").as_deref(), Some("say_hello"));
        assert_eq!(int(span, "rpc.grpc.status_code"), Some(0));
        assert_eq!(text(span, "a3.error"), None);
        assert_eq!(span.error, None);
    }
}

#[test]
fn an_a3_error_is_named_on_every_span_it_passes_and_fails_the_client_ones() {
    exporter();
    let (front, _back) = front_and_back();
    let python = python_call(front.port(), "missing");
    // grpcio 1.70 reads the a3 code 499 as UNKNOWN.
    assert_eq!(python["code"], 2);

    let Chain { front_server, front_client, back_server } = chain(&python);
    for span in [&front_server, &front_client, &back_server] {
        assert_eq!(int(span, "rpc.grpc.status_code"), Some(499), "{span:#?}");
        assert_eq!(text(span, "a3.error").as_deref(), Some("NotFoundError"), "{span:#?}");
    }
    // A client-side error is the caller's fault: the servers did not fail, the call did.
    assert_eq!(front_server.error, None);
    assert_eq!(back_server.error, None);
    assert_eq!(front_client.error.as_deref(), Some("NotFoundError"));
}

#[test]
fn a_call_from_an_a3grpc_client_starts_a_trace_its_server_span_continues_in_every_kind() {
    let (collector, flush) = exporter();
    let server = start(conf(vec![greeter_servicer()]));
    let client = client(&server);
    let none = CallOptions::new();
    client.client_streaming(&CLIENT_STREAM, ["1", "2"].map(request), &none).unwrap();
    assert_eq!(client.server_streaming(&SERVER_STREAM, &request("s"), &none).unwrap().count(), 3);
    let (mut requests, replies) = client.bidi(&BIDI, &none).unwrap();
    requests.send(request("x")).unwrap();
    requests.finish();
    assert_eq!(replies.count(), 1);
    flush.flush().expect("the spans are sent");

    for method in ["say_stream_hello_reply", "say_hello_stream_reply", "say_hello_bidi_stream"] {
        let of_method = |s: &Received| text(s, "rpc.method").as_deref() == Some(method);
        let spans = collector.spans(of_method, 2);
        let client_span = spans.iter().find(|s| s.kind == SpanKind::Client).expect("a client span");
        let server_span = spans.iter().find(|s| s.kind == SpanKind::Server).expect("a server span");
        assert_eq!(client_span.parent_span_id, "", "a root span: {client_span:#?}");
        assert_eq!(server_span.trace_id, client_span.trace_id);
        assert_eq!(server_span.parent_span_id, client_span.span_id);
        for span in [client_span, server_span] {
            assert_eq!(int(span, "rpc.grpc.status_code"), Some(0), "{span:#?}");
        }
    }
}

#[test]
fn a_second_exporter_is_refused_with_what_to_do_instead() {
    exporter();
    let err = Exporter::new().endpoint("http://127.0.0.1:9/v1/traces").install().unwrap_err();
    assert!(err.to_string().contains("Exporter::layer()"), "{err}");
}
