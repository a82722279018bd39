//! Calls the hello-world server: one success, one typed error.
//!
//! ```text
//! cargo run --release --example client [host:port]
//! ```

#[path = "shared/hello.rs"]
#[allow(dead_code)]
mod hello;

use std::process::ExitCode;

use a3grpc::{A3Error, BaseClient, ClientBuilder, Error};
use hello::hello_world::{HelloReply, HelloRequest};
use hello::hello_world_grpc::METHOD_GREETER_SAY_HELLO;

/// What a subclass of the original's `BaseClient` becomes: a struct with one method per RPC.
struct GreeterClient(BaseClient);

impl GreeterClient {
    fn say_hello(&self, request: &HelloRequest) -> Result<HelloReply, Error> {
        self.0.call(&METHOD_GREETER_SAY_HELLO, request)
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,grpcio=error")).init();
    let target = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:50051".to_owned());
    let client = match ClientBuilder::new(target).build() {
        Ok(client) => GreeterClient(client),
        Err(err) => {
            eprintln!("client: {err}");
            return ExitCode::FAILURE;
        }
    };

    match client.say_hello(&hello::request("client")) {
        Ok(reply) => println!("say_hello(\"client\") -> {:?}", reply.get_message()),
        Err(err) => {
            eprintln!("client: say_hello failed: {err}");
            return ExitCode::FAILURE;
        }
    }
    match client.say_hello(&hello::request("error")) {
        Err(Error::A3(err @ A3Error::ServerKnown { .. })) => {
            println!("say_hello(\"error\") -> {} ({:?} side): {:?}", err.name(), err.side(), err.message());
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("client: expected a ServerKnownError, got {other:?}");
            ExitCode::FAILURE
        }
    }
}
