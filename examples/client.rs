//! Calls the hello-world server: one success, one typed error, then the three streaming RPCs.
//!
//! ```text
//! cargo run --release --example client [host:port]
//! ```

use a3grpc_examples::hello;
use std::process::ExitCode;

use a3grpc::client::ClientBuilder;
use a3grpc::{A3Error, BaseClient, CallOptions, Error};
use hello::{HelloReply, HelloRequest};
use hello::{
    METHOD_GREETER_SAY_HELLO, METHOD_GREETER_SAY_HELLO_BIDI_STREAM, METHOD_GREETER_SAY_HELLO_STREAM_REPLY,
    METHOD_GREETER_SAY_STREAM_HELLO_REPLY,
};

/// What a subclass of the original's `BaseClient` becomes: a struct with one method per RPC.
struct GreeterClient(BaseClient);

impl GreeterClient {
    fn say_hello(&self, request: &HelloRequest) -> Result<HelloReply, Error> {
        self.0.call(&METHOD_GREETER_SAY_HELLO, request)
    }

    fn say_stream_hello_reply(&self, names: &[&str]) -> Result<HelloReply, Error> {
        let requests = names.iter().map(|n| hello::request(n));
        self.0.client_streaming(&METHOD_GREETER_SAY_STREAM_HELLO_REPLY, requests, &CallOptions::new())
    }

    fn say_hello_stream_reply(&self, name: &str) -> Result<Vec<String>, Error> {
        let replies = self.0.server_streaming(
            &METHOD_GREETER_SAY_HELLO_STREAM_REPLY,
            &hello::request(name),
            &CallOptions::new(),
        )?;
        replies.map(|r| r.map(|r| r.get_message().to_owned())).collect()
    }

    /// Lock-step: each reply is read before the next name is sent.
    fn say_hello_bidi_stream(&self, names: &[&str]) -> Result<Vec<String>, Error> {
        let (mut requests, mut replies) = self.0.bidi(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, &CallOptions::new())?;
        let mut out = Vec::new();
        for name in names {
            requests.send(hello::request(name))?;
            match replies.next() {
                Some(reply) => out.push(reply?.get_message().to_owned()),
                None => break,
            }
        }
        requests.finish();
        replies.try_for_each(|r| r.map(drop))?;
        Ok(out)
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
        }
        other => {
            eprintln!("client: expected a ServerKnownError, got {other:?}");
            return ExitCode::FAILURE;
        }
    }
    let streams = (|| -> Result<(), Error> {
        let counted = client.say_stream_hello_reply(&["a", "b", "c"])?;
        println!("say_stream_hello_reply([a, b, c]) -> {:?}", counted.get_message());
        println!("say_hello_stream_reply(\"client\") -> {:?}", client.say_hello_stream_reply("client")?);
        println!("say_hello_bidi_stream([x, y]) -> {:?}", client.say_hello_bidi_stream(&["x", "y"])?);
        Ok(())
    })();
    match streams {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("client: a streaming call failed: {err}");
            ExitCode::FAILURE
        }
    }
}
