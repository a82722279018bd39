//! # a3grpc
//!
//! Sync-first gRPC for Rust, a port of Python [a3grpc]: one blocking **View** per RPC,
//! **Servicers** that group them, a `servicer_mappings` table like Django `urls`, one
//! [`Conf`] that starts a server, and a blocking [`BaseClient`] that turns server errors
//! back into typed [`A3Error`]s. The engine is [grpcio] (the gRPC C core); Views run on a
//! worker pool of `max_workers` threads, never on its I/O threads.
//!
//! Errors travel exactly as Python a3grpc sends them (`grpc-status` 499/599 and a JSON
//! `grpc-message`), so Rust and Python peers interoperate both ways.
//!
//! # Your own service
//!
//! A crate with a proto, a one-line `build.rs`, Views, a server started from a conf file and a
//! client: the README's "Your own service" walks through one, `examples/shop` in the
//! repository, which the test suite builds and runs as a crate of its own. In `Cargo.toml`,
//! `a3grpc` is the only dependency the generated code needs, and [a3grpc-build] the only build
//! dependency:
//!
//! ```toml
//! [dependencies]
//! a3grpc = { path = "../a3grpc" }    # not on crates.io yet: a checkout
//!
//! [build-dependencies]
//! a3grpc-build = { path = "../a3grpc/a3grpc-build" }
//! ```
//!
//! `build.rs`:
//!
//! ```ignore
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     a3grpc_build::compile_protos(&["proto/shop/v1/shop.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! # In one program
//!
//! A server and a client, start to finish, with the Python original's `hello_world.proto`
//! (this one runs as a test):
//!
//! ```
//! # use a3grpc_examples::hello;
//! // mod hello { a3grpc::include_proto!(""); }  // the code of hello_world.proto
//! use a3grpc::{A3Error, BaseClient, Conf, Context, Error, Server, Servicer, UnaryView};
//! use hello::{HelloReply, HelloRequest, METHOD_GREETER_SAY_HELLO};
//!
//! struct SayHello;
//!
//! impl UnaryView for SayHello {
//!     type Request = HelloRequest;
//!     type Response = HelloReply;
//!
//!     fn handle(&self, request: HelloRequest, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
//!         if request.name.is_empty() {
//!             return Err(A3Error::Validation("name is required".into()));
//!         }
//!         Ok(HelloReply { message: format!("Hello {}!", request.name), ..Default::default() })
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let greeter = Servicer::new().unary(&METHOD_GREETER_SAY_HELLO, SayHello);
//! let server = Server::start(Conf::new("127.0.0.1", 0, vec![greeter]))?;
//!
//! let client = BaseClient::connect("127.0.0.1", server.port())?;
//! let request = HelloRequest { name: "Rust".into(), ..Default::default() };
//! assert_eq!(client.call(&METHOD_GREETER_SAY_HELLO, &request)?.message, "Hello Rust!");
//!
//! match client.call(&METHOD_GREETER_SAY_HELLO, &HelloRequest::default()) {
//!     Err(Error::A3(A3Error::Validation(message))) => assert_eq!(message, "name is required"),
//!     other => panic!("expected a ValidationError, got {other:?}"),
//! }
//! server.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//!
//! Every server keeps Prometheus metrics with the names and labels of the Go and
//! Python gRPC Prometheus packages, so their dashboards work: `grpc_server_started_total`,
//! `grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}` (codes spelled as
//! Go does: `OK`, `NotFound`, `Code(599)`), `grpc_server_msg_received_total`,
//! `grpc_server_msg_sent_total` and the `grpc_server_handling_seconds` histogram (from the call's
//! arrival, so time waiting for a worker counts). `handled` has one more label, `a3_error`, the
//! a3 error name (`NotFoundError`, `ServerUnknownError`, empty for other endings), whatever
//! `patch_status_code` sends. The worker pools' load, labelled `pool="unary"` or
//! `pool="stream"`: `a3grpc_pool_workers`, `a3grpc_pool_busy_workers`,
//! `a3grpc_pool_queued_calls`; and `a3grpc_server_refused_total` (over
//! `maximum_concurrent_rpcs`) and `a3grpc_server_dropped_total` (died while waiting).
//! `metrics_port = 9100` serves them at `http://host:9100/metrics` (a small blocking HTTP
//! server on a thread of its own); with several processes, worker *i* serves its own on
//! `9100 + i` (Prometheus scrapes each; with `metrics_port = 0` each worker logs the port it
//! got). Or `server.metrics_text()` for your own endpoint. Clients count the same as
//! `grpc_client_*` (one count per call, retries included in its time; an a3 error under the code
//! the client expects for it), for every `BaseClient` of the process together: a server's
//! `/metrics` includes them, and `a3grpc::metrics::client_metrics_text()` gives them to a program that
//! only calls. `tests/metrics.rs` and `tests/client_metrics.rs` scrape them with Python's urllib
//! and check the counts exactly.
//!
//! # Tracing
//!
//! Every call has a [`tracing`](https://docs.rs/tracing) span on the server (`grpc.server`)
//! and on the client (`grpc.client`), target `a3grpc`, level INFO, with OpenTelemetry's RPC
//! fields: `otel.name` (`package.Service/Method`), `otel.kind`, `rpc.system = "grpc"`,
//! `rpc.service`, `rpc.method`, `rpc.grpc.status_code` and `a3.error` (the a3 error name),
//! plus `trace_id`, `span_id` and `parent_span_id`. A View runs inside its call's span, so
//! its own events belong to the call.
//!
//! The W3C trace context travels in `traceparent` (and `tracestate`): a server reads it, and
//! [`CallOptions::within`] passes it on to the calls a View makes. While nothing exports
//! spans, a3grpc passes the caller's context on unchanged; with the `otlp` feature's
//! exporter (`otlp` module) each call's span gets ids of its own, so a trace from a Python or Go
//! client runs through this service and into those it calls, and a call from a3grpc's own
//! client starts one. `tests/trace_export.rs` checks the parents against a Python client
//! traced by OpenTelemetry's SDK, with the spans read back from an OTLP/HTTP receiver.
//!
//! # More than one server
//!
//! A client spreads its calls over several servers with the gRPC core's own load balancing; the
//! target names them and a channel arg picks the policy (the default, `pick_first`, sends every
//! call to one server):
//!
//! ```rust,ignore
//! let client = ClientBuilder::new("ipv4:10.0.0.1:50051,10.0.0.2:50051")
//!     .option("grpc.lb_policy_name", "round_robin")
//!     .build()?;
//! ```
//!
//! - **An address list** (`ipv4:` or `ipv6:` with comma-separated `host:port`s): round_robin keeps
//!   a connection to each and takes them in turn; a server that stops (or whose connection
//!   breaks) gets no calls until it is back, and calls that never reached it are retried on
//!   another. `tests/scale_out.rs` checks both with two servers.
//! - **A DNS name** (`dns:///api.internal:50051`, e.g. a Kubernetes *headless* service, whose
//!   name resolves to every pod): the core re-resolves when a connection drops, so pods that come
//!   and go are picked up. A normal (ClusterIP) Kubernetes service has one address, and one HTTP/2
//!   connection then pins a client to one pod: use a headless service, or a proxy.
//! - **Health-checked balancing**: with `health = true` (the default) each server serves
//!   `grpc.health.v1.Health`; the core's client-side health checking uses it when the client's
//!   service config asks for it (`.option("grpc.service_config",
//!   r#"{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}"#)`),
//!   and a server that is stopping reports NOT_SERVING at once, so it gets no new calls during
//!   its grace period.
//! - **Per machine**, `process_count` workers share one port (`process_count`); the kernel spreads
//!   *connections* over them, so many clients spread well and one client with one connection does
//!   not: give that client round_robin over several servers instead.
//! - **A proxy in front** (Envoy, nginx `grpc_pass`, a cloud L7 load balancer) balances per call
//!   and is the place for TLS termination and HTTP/2 limits towards untrusted clients (see the README's Security). a3 errors pass through proxies unchanged: they are ordinary status and
//!   `grpc-message` trailers.
//!
//! # Threads
//!
//! A server runs its Views on `max_workers` threads (unary) and `max_stream_workers` threads
//! (streams), and moves bytes on `io_threads` of its own (`a3grpc-worker-*`, `a3grpc-stream-*`,
//! `a3grpc-io*`); the process's clients share one I/O thread (`a3grpc-client*`). Each ends with
//! what owns it: the server's when it stops, the clients' when the last client (and its last
//! call) is gone. The gRPC core starts a few threads of its own (its timers and network
//! polling) the first time a server or client starts, and keeps them for the life of the
//! process, as it does in every gRPC program.
//!
//! # Differences from the Python original
//!
//! - `patch_status_code` is per server and per client, never process-global.
//! - `health` and `reflection` are keys the original does not have (both default `true`), and
//!   `metrics_port` (default off).
//! - The server binds its port exclusively (the C core's default `SO_REUSEPORT` would let a second
//!   server start silently on a busy port); set `grpc.so_reuseport` in `options` to change it.
//! - Responses are compressed only when asked (`compression = "gzip"` in the conf, or per call);
//!   the original gzips every response.
//! - No `sys.exit` in the client; no retry of non-idempotent failures unless asked.
//! - TLS without client certificates is possible, and half a TLS setup is an error, not plaintext.
//! - All four RPC kinds, with deadlines, cancellation and metadata in every View.
//! - Interceptors take settings and can be given in code; health checking and worker supervision
//!   (restarts, exit status) are built in.
//! - Logs go through the `log` facade; the C core's own messages come under target `grpcio`
//!   (filter its chatty INFO with `grpcio=warn`).
//!
//!
//! [a3grpc]: https://pypi.org/project/a3grpc/
//! [a3grpc-build]: https://docs.rs/a3grpc-build
//! [grpcio]: https://docs.rs/grpcio/0.13

#![warn(missing_docs)]

// The generated code names `::a3grpc::protobuf`, in this crate too.
extern crate self as a3grpc;

// Each module uses only those before it in ARCHITECTURE.md's Layout table (the order scripts/test.sh
// checks), never one after it.
mod call;
mod channel;
pub mod client;
pub mod conf;
mod dispatch;
pub mod engine;
pub mod error;
mod flow;
mod health;
pub mod interceptor;
mod method;
pub mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
mod reflection;
pub mod server;
mod servicer;
mod sync;
pub mod testing;
mod trace;
mod view;
mod wire;

/// `google.rpc.Status` and `ErrorInfo`, the rich error model; server reflection.
mod proto {
    include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));

    pub(crate) mod reflection_v1 {
        include!(concat!(env!("OUT_DIR"), "/grpc.reflection.v1.rs"));
    }

    pub(crate) mod reflection_v1alpha {
        include!(concat!(env!("OUT_DIR"), "/grpc.reflection.v1alpha.rs"));
    }

    /// The health service's messages and methods.
    pub(crate) mod health {
        include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
    }
}

pub use client::{BaseClient, CallOptions};
pub use conf::{register_mappings, Conf};
pub use error::{A3Error, Error};
pub use method::{Method, RpcMethod};
pub use server::{run_grpc_server, run_grpc_server_with_multiprocessing, Server};
pub use servicer::Servicer;
pub use view::{
    BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView, StreamError, UnaryView,
};

/// What only generated code (and tests of the wire format) name: `a3grpc-build` emits these
/// paths. Not part of the API; it may change with a3grpc-build.
#[doc(hidden)]
pub mod codegen {
    pub use crate::wire::error_info;

    /// A generated `METHOD_*` descriptor: grpcio's, with its proto files for reflection.
    pub const fn method<Req, Resp>(
        proto_files: &'static [u8],
        grpc: grpcio::Method<Req, Resp>,
    ) -> crate::Method<Req, Resp> {
        crate::Method::new(proto_files, grpc)
    }
}

/// The grpcio crate a3grpc is built on, for the generated code and its types.
pub use grpcio;
/// The protobuf crate (rust-protobuf 3) of the generated messages: its `Message` trait,
/// `MessageField`, `EnumOrUnknown`, `well_known_types` and errors. Use it from here, so its
/// version always matches the generated code.
pub use protobuf;

/// Brings everything generated for a proto package into the current module: its messages,
/// enums and `METHOD_*` descriptors, from every file of the package. The argument is the
/// package name (`"shop.v1"`); `""` is for files without a `package`.
///
/// The code is generated by `a3grpc_build::compile_protos` in `build.rs`, into `OUT_DIR`.
/// When a file imports a file of another package, include every package in nested modules
/// named after its parts (`shop.v1` in `shop::v1`), from one common root.
///
/// ```
/// // a3grpc's own build.rs generates `package google.rpc;` (the rich error model)
/// mod rpc {
///     a3grpc::include_proto!("google.rpc");
/// }
/// let info = rpc::ErrorInfo { reason: "NotFoundError".into(), ..Default::default() };
/// assert_eq!(info.reason, "NotFoundError");
/// ```
#[macro_export]
macro_rules! include_proto {
    ("") => {
        include!(concat!(env!("OUT_DIR"), "/_.rs"));
    };
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}
