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
//! A server and a client, start to finish (the messages and `METHOD_*` descriptors come from
//! `protoc-grpcio`; see the README for the `build.rs`):
//!
//! ```
//! # include!(concat!(env!("OUT_DIR"), "/hello_world_mod.rs"));
//! use a3grpc::{A3Error, BaseClient, Conf, Context, Error, Server, Servicer, UnaryView};
//! use hello_world::{HelloReply, HelloRequest};
//! use hello_world_grpc::METHOD_GREETER_SAY_HELLO;
//!
//! struct SayHello;
//!
//! impl UnaryView for SayHello {
//!     type Request = HelloRequest;
//!     type Response = HelloReply;
//!
//!     fn handle(&self, request: HelloRequest, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
//!         if request.get_name().is_empty() {
//!             return Err(A3Error::Validation("name is required".into()));
//!         }
//!         let mut reply = HelloReply::new();
//!         reply.set_message(format!("Hello {}!", request.get_name()));
//!         Ok(reply)
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let greeter = Servicer::new().unary(&METHOD_GREETER_SAY_HELLO, SayHello);
//! let server = Server::start(Conf::new("127.0.0.1", 0, vec![greeter]))?;
//!
//! let client = BaseClient::connect("127.0.0.1", server.port())?;
//! let mut request = HelloRequest::new();
//! request.set_name("Rust".into());
//! assert_eq!(client.call(&METHOD_GREETER_SAY_HELLO, &request)?.get_message(), "Hello Rust!");
//!
//! match client.call(&METHOD_GREETER_SAY_HELLO, &HelloRequest::new()) {
//!     Err(Error::A3(A3Error::Validation(message))) => assert_eq!(message, "name is required"),
//!     other => panic!("expected a ValidationError, got {other:?}"),
//! }
//! server.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! [a3grpc]: https://pypi.org/project/a3grpc/
//! [grpcio]: https://docs.rs/grpcio/0.13

#![warn(missing_docs)]

mod client;
mod conf;
mod error;
mod interceptor;
mod pool;
mod server;
mod servicer;
mod supervisor;
mod view;

mod proto {
    include!(concat!(env!("OUT_DIR"), "/rpc_mod.rs"));
}

pub use client::{BaseClient, CallOptions, ClientBuilder, Headers, RequestSender, ResponseStream, RetryPolicy};
pub use conf::{ChannelOption, Conf, ConfError, OptionValue, ServicerMappings};
#[doc(hidden)]
pub use error::error_info;
pub use error::{code_name, A3Error, Error, ErrorKind, Side, StatusCodes};
pub use interceptor::{
    register_interceptor, BearerToken, ClientInterceptor, Interceptor, InterceptorSpec, Outcome, RequestId,
    RequestIdValue, RequestLog,
};
pub use server::{run_grpc_server, Server, ServerError};
pub use servicer::{register_mappings, Servicer};
pub use supervisor::run_grpc_server_with_multiprocessing;
pub use view::{
    BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView, StreamError, UnaryView,
};

/// The grpcio crate a3grpc is built on, for the generated code and its types.
pub use grpcio;
