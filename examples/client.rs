//! Calls the hello-world server: one success, one typed error, then the three streaming RPCs.
//!
//! ```text
//! cargo run --release --example client [host:port]
//! ```

use a3grpc_examples::hello;
use std::process::ExitCode;

use a3grpc::client::ClientBuilder;
use a3grpc::{A3Error, Error};
use hello::GreeterClient;

/// The streaming RPCs, each read to the end.
fn streams(greeter: &GreeterClient) -> Result<(), Error> {
    let counted = greeter.say_stream_hello_reply(["a", "b", "c"].map(hello::request))?;
    println!("say_stream_hello_reply([a, b, c]) -> {:?}", counted.message);
    let replies: Vec<String> = greeter
        .say_hello_stream_reply(&hello::request("client"))?
        .map(|r| r.map(|r| r.message.to_owned()))
        .collect::<Result<_, _>>()?;
    println!("say_hello_stream_reply(\"client\") -> {replies:?}");
    // Lock-step: each reply is read before the next name is sent.
    let (mut requests, mut replies) = greeter.say_hello_bidi_stream()?;
    let mut echoed = Vec::new();
    for name in ["x", "y"] {
        requests.send(hello::request(name))?;
        match replies.next() {
            Some(reply) => echoed.push(reply?.message.to_owned()),
            None => break,
        }
    }
    requests.finish();
    replies.try_for_each(|r| r.map(drop))?;
    println!("say_hello_bidi_stream([x, y]) -> {echoed:?}");
    Ok(())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,grpcio=error")).init();
    let target = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:50051".to_owned());
    // The generated client of `service Greeter`, over a BaseClient built for this target.
    let client = match ClientBuilder::new(target).build() {
        Ok(client) => GreeterClient::new(client),
        Err(err) => {
            eprintln!("client: {err}");
            return ExitCode::FAILURE;
        }
    };

    match client.say_hello(&hello::request("client")) {
        Ok(reply) => println!("say_hello(\"client\") -> {:?}", reply.message),
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
    let streams = streams(&client);
    match streams {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("client: a streaming call failed: {err}");
            ExitCode::FAILURE
        }
    }
}
