//! A million messages each way through streaming Views, in bounded memory. A test binary
//! of its own, so the peak RSS it reads belongs to this stream alone.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use a3grpc::{A3Error, CallOptions, ClientStreamingView, Context, Requests, Responses, ServerStreamingView, Servicer};
use common::hello::{
    METHOD_GREETER_SAY_HELLO_STREAM_REPLY as SERVER_STREAM, METHOD_GREETER_SAY_STREAM_HELLO_REPLY as CLIENT_STREAM,
};
use common::*;

/// Streams `n` small messages.
struct Many(usize);

impl ServerStreamingView for Many {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, _: HelloRequest, out: &mut Responses<HelloReply>, _: &mut Context) -> Result<(), A3Error> {
        out.send_all((0..self.0).map(|i| reply(format!("message {i}"))))?;
        Ok(())
    }
}

/// Counts a request stream without keeping it.
struct Count(Arc<AtomicUsize>);

impl ClientStreamingView for Count {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, requests: Requests<HelloRequest>, _: &mut Context) -> Result<HelloReply, A3Error> {
        let mut n = 0usize;
        for request in requests {
            request?;
            n += 1;
            self.0.store(n, Ordering::Relaxed);
        }
        Ok(reply(n.to_string()))
    }
}

/// The process's peak resident memory, from the kernel.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_million_message_stream_each_way_never_buffers_the_stream() {
    const N: usize = 1_000_000;
    let received = Arc::new(AtomicUsize::new(0));
    let server = start(conf(vec![Servicer::new()
        .server_streaming(&SERVER_STREAM, Many(N))
        .client_streaming(&CLIENT_STREAM, Count(received.clone()))]));
    let client = client(&server);
    let before = peak_rss_kib();
    let clock = Instant::now();

    let mut count = 0usize;
    for reply in client.server_streaming(&SERVER_STREAM, &request("x"), &CallOptions::new()).unwrap() {
        let reply = reply.unwrap();
        if count == N - 1 {
            assert_eq!(reply.message, format!("message {count}"), "in order to the end");
        }
        count += 1;
    }
    assert_eq!(count, N);
    println!("server stream of {N}: {:?}, peak RSS +{} KiB", clock.elapsed(), peak_rss_kib() - before);
    let clock = Instant::now();

    let requests = (0..N).map(|i| request(&i.to_string()));
    let total = client.client_streaming(&CLIENT_STREAM, requests, &CallOptions::new()).unwrap();
    assert_eq!(total.message, N.to_string());

    println!("client stream of {N}: {:?}", clock.elapsed());
    let grown_kib = peak_rss_kib().saturating_sub(before);
    println!("peak RSS grew by {grown_kib} KiB over 2 x {N} messages");
    // Buffered, the messages alone would take over 60 MiB each way.
    assert!(grown_kib < 32 * 1024, "peak RSS grew by {grown_kib} KiB: a stream is being buffered");
}
