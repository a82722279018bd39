//! The service the benchmark drives, served three ways: with a3grpc Views on the worker pool
//! (`--mode a3`), with the unary View inline on the I/O threads (`--mode a3-inline`; its
//! `sleep` calls then stall the I/O thread, which is what that row shows), or written directly
//! on raw grpcio handlers (`--mode raw`, the engine's ceiling). Same proto (hello_world), same
//! behaviour:
//!
//! * `say_hello` echoes the name; a name starting with `sleep` first blocks 1 ms;
//! * `say_hello_stream_reply` with name `N:SIZE` streams N replies of SIZE bytes;
//! * `say_stream_hello_reply` and `say_hello_bidi_stream` as in the hello-world example.
//!
//! ```text
//! bench_server --mode a3|a3-inline|raw [--port 0] [--workers N] [--max-streams N]
//! ```
//! `--max-streams` sets `grpc.max_concurrent_streams` on the a3grpc server (default 256), to
//! measure what the default limit costs a client that runs many calls on one connection.
//! Logs `listening on 127.0.0.1:PORT`; stops on SIGTERM.

use a3grpc_examples::hello;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use a3grpc::{A3Error, Context, Responses, ServerStreamingView, Servicer, UnaryView};
use futures::{FutureExt, SinkExt, TryStreamExt};
use hello::*;
use hello::{HelloReply, HelloRequest};

fn sleeps(request: &HelloRequest) -> bool {
    request.name.starts_with("sleep")
}

/// `N:SIZE` from a streaming request's name.
fn stream_shape(request: &HelloRequest) -> (usize, usize) {
    let mut parts = request.name.split(':').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

struct Echo;

impl UnaryView for Echo {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, request: HelloRequest, _: &mut Context) -> Result<HelloReply, A3Error> {
        if sleeps(&request) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(hello::reply(request.name.to_owned()))
    }
}

struct Stream;

impl ServerStreamingView for Stream {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, request: HelloRequest, out: &mut Responses<HelloReply>, _: &mut Context) -> Result<(), A3Error> {
        let (count, size) = stream_shape(&request);
        let body = "x".repeat(size);
        out.send_all((0..count).map(|_| hello::reply(body.clone())))?;
        Ok(())
    }
}

fn serve_a3(port: u16, workers: usize, inline: bool, max_streams: Option<i32>) -> Result<(), String> {
    let servicer = if inline {
        Servicer::new().unary_inline(&METHOD_GREETER_SAY_HELLO, Echo)
    } else {
        Servicer::new().unary(&METHOD_GREETER_SAY_HELLO, Echo)
    };
    let servicer = servicer
        .server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, Stream)
        .client_streaming(&METHOD_GREETER_SAY_STREAM_HELLO_REPLY, hello::CountHellos)
        .bidi(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, hello::EchoHellos);
    // The memory profile opens 1,000 idle connections on top of the load's: above a3grpc's
    // default limit, which the other servers do not have.
    let mut conf = a3grpc::Conf::new("127.0.0.1", port, vec![servicer])
        .max_workers(workers)
        .max_stream_workers(workers)
        .health(false)
        .option("grpc.max_allowed_incoming_connections", 10_000);
    if let Some(limit) = max_streams {
        conf = conf.option("grpc.max_concurrent_streams", limit);
    }
    a3grpc::run_grpc_server(conf).map_err(|e| e.to_string())
}

/// The same service on raw grpcio: handlers run on the I/O threads, as grpcio intends.
fn serve_raw(port: u16) -> Result<(), String> {
    use grpcio::{ServerStreamingSink, WriteFlags};
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let env = Arc::new(grpcio::EnvBuilder::new().cq_count(cpus).build());
    let service = grpcio::ServiceBuilder::new()
        .add_unary_handler(&METHOD_GREETER_SAY_HELLO, |ctx, request: HelloRequest, sink| {
            if sleeps(&request) {
                std::thread::sleep(Duration::from_millis(1));
            }
            ctx.spawn(sink.success(hello::reply(request.name.to_owned())).map(|_| ()));
        })
        .add_server_streaming_handler(
            &METHOD_GREETER_SAY_HELLO_STREAM_REPLY,
            |ctx, request: HelloRequest, mut sink: ServerStreamingSink<HelloReply>| {
                let (count, size) = stream_shape(&request);
                let body = "x".repeat(size);
                ctx.spawn(async move {
                    let flags = WriteFlags::default().buffer_hint(true);
                    let mut replies =
                        futures::stream::iter((0..count).map(|_| Ok((hello::reply(body.clone()), flags))));
                    if sink.send_all(&mut replies).await.is_ok() {
                        let _ = sink.close().await;
                    }
                });
            },
        )
        .add_client_streaming_handler(&METHOD_GREETER_SAY_STREAM_HELLO_REPLY, |ctx, requests, sink| {
            ctx.spawn(async move {
                let count = requests.try_fold(0usize, |n, _| async move { Ok(n + 1) }).await;
                if let Ok(n) = count {
                    let _ = sink.success(hello::reply(format!("Hello {n} times!"))).await;
                }
            });
        })
        .add_duplex_streaming_handler(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, |ctx, requests, mut sink| {
            ctx.spawn(async move {
                let mut replies = requests
                    .map_ok(|r: HelloRequest| (hello::reply(format!("Hello {}!", r.name)), WriteFlags::default()));
                if sink.send_all(&mut replies).await.is_ok() {
                    let _ = sink.close().await;
                }
            });
        })
        .build();
    let mut server = grpcio::ServerBuilder::new(env).register_service(service).build().map_err(|e| e.to_string())?;
    let bound = server
        .add_listening_port(format!("127.0.0.1:{port}"), grpcio::ServerCredentials::insecure())
        .map_err(|e| e.to_string())?;
    server.start();
    log::info!("raw grpcio server listening on 127.0.0.1:{bound} (pid {})", std::process::id());
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
        .map_err(|e| e.to_string())?;
    signals.forever().next();
    let _ = futures::executor::block_on(server.shutdown());
    Ok(())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,grpcio=warn")).init();
    let mut mode = "a3".to_owned();
    let mut port = 0u16;
    let mut workers = 16usize;
    let mut max_streams = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--mode" => mode = value,
            "--port" => port = value.parse().unwrap_or(0),
            "--workers" => workers = value.parse().unwrap_or(16),
            "--max-streams" => match value.parse() {
                Ok(limit) => max_streams = Some(limit),
                Err(_) => {
                    eprintln!("bench_server: --max-streams takes a number, not {value:?}");
                    return ExitCode::FAILURE;
                }
            },
            other => {
                eprintln!("bench_server: unknown argument {other}");
                return ExitCode::FAILURE;
            }
        }
    }
    let outcome = match mode.as_str() {
        "a3" => serve_a3(port, workers, false, max_streams),
        "a3-inline" => serve_a3(port, workers, true, max_streams),
        "raw" => serve_raw(port),
        other => Err(format!("unknown mode {other}: use a3, a3-inline or raw")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench_server: {err}");
            ExitCode::FAILURE
        }
    }
}
