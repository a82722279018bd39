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
