//! The benchmark's service on tonic, as its users would write it, with the behaviour of
//! `examples/bench_server.rs`: `say_hello` echoes the name, and a name starting with `sleep`
//! first blocks 1 ms (in `spawn_blocking`, tokio's way to run blocking code);
//! `say_hello_stream_reply` with name `N:SIZE` streams N replies of SIZE bytes; the other two
//! as in the hello-world example. Logs `listening on 127.0.0.1:PORT`; stops on SIGTERM.
//!
//! ```text
//! bench_server_tonic [--port 0]
//! ```

// prost names the stream types after the proto's snake_case methods.
#[allow(non_camel_case_types)]
mod hello {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}

use std::pin::Pin;

use hello::greeter_server::{Greeter, GreeterServer};
use hello::{HelloReply, HelloRequest};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

type Replies = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

fn reply(message: String) -> HelloReply {
    HelloReply { message }
}

struct Bench;

#[tonic::async_trait]
impl Greeter for Bench {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        if name.starts_with("sleep") {
            tokio::task::spawn_blocking(|| std::thread::sleep(std::time::Duration::from_millis(1)))
                .await
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        Ok(Response::new(reply(name)))
    }

    async fn say_stream_hello_reply(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<HelloReply>, Status> {
        let mut requests = request.into_inner();
        let mut count = 0;
        while let Some(request) = requests.next().await {
            request?;
            count += 1;
        }
        Ok(Response::new(reply(format!("Hello {count} times!"))))
    }

    type say_hello_stream_replyStream = Replies;

    async fn say_hello_stream_reply(&self, request: Request<HelloRequest>) -> Result<Response<Replies>, Status> {
        let name = request.into_inner().name;
        let mut parts = name.split(':').map(|p| p.parse::<usize>().unwrap_or(0));
        let (count, size) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        let body = "x".repeat(size);
        Ok(Response::new(Box::pin(tokio_stream::iter((0..count).map(move |_| Ok(reply(body.clone())))))))
    }

    type say_hello_bidi_streamStream = Replies;

    async fn say_hello_bidi_stream(
        &self,
        request: Request<Streaming<HelloRequest>>,
    ) -> Result<Response<Replies>, Status> {
        let replies = request.into_inner().map(|r| r.map(|r| reply(format!("Hello {}!", r.name))));
        Ok(Response::new(Box::pin(replies)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(value)) => port = value.parse()?,
            (other, _) => return Err(format!("unknown argument {other}").into()),
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("tonic server listening on {} (pid {})", listener.local_addr()?, std::process::id());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tonic::transport::Server::builder()
        .add_service(GreeterServer::new(Bench))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async move {
            term.recv().await;
        })
        .await?;
    Ok(())
}
