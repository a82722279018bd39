//! What a3grpc leaves running once every server has stopped and every client has gone: none of
//! its own threads (the gRPC core keeps its few for the life of the process). A test binary of
//! its own, since threads belong to the whole process.

mod common;

use std::time::{Duration, Instant};

use a3grpc::CallOptions;
use common::*;

/// The names of the process's threads that a3grpc started.
fn a3grpc_threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux lists a process's threads");
    let mut names: Vec<String> = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .filter(|name| name.starts_with("a3grpc"))
        .collect();
    names.sort();
    names
}

#[test]
fn no_thread_of_a3grpc_outlives_the_last_server_and_client() {
    let server = start(conf(vec![hello::greeter_servicer()]).max_workers(2).max_stream_workers(2));
    let client = client(&server);
    assert_eq!(say_hello(&client, "x").unwrap(), "Hello x!");
    let replies =
        client.server_streaming(&hello::METHOD_GREETER_SAY_HELLO_STREAM_REPLY, &request("y"), &CallOptions::new());
    assert_eq!(replies.unwrap().count(), 3);
    let running = a3grpc_threads();
    for name in ["a3grpc-worker-0", "a3grpc-worker-1", "a3grpc-stream-0", "a3grpc-stream-1"] {
        assert!(running.iter().any(|n| n == name), "{name} runs: {running:?}");
    }
    assert!(running.iter().any(|n| n.starts_with("a3grpc-client")), "{running:?}");

    drop(client);
    server.shutdown();
    // The I/O threads end once their queues have drained, after the stop returns.
    let until = Instant::now() + Duration::from_secs(10);
    while !a3grpc_threads().is_empty() && Instant::now() < until {
        std::thread::yield_now();
    }
    assert_eq!(a3grpc_threads(), Vec::<String>::new());
}
