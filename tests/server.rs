//! How the server runs Views: pool size, admission limit, panics, dead calls, channel args,
//! metadata, binding.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use a3grpc::error::Code;
use a3grpc::server::ServerError;
use a3grpc::{A3Error, CallOptions, Error, Server, Servicer};
use common::*;
use crossbeam_channel::{unbounded, Receiver, Sender};

/// Views that announce they started and then hold their worker until the gate opens
/// (the gate opens when its sender is dropped).
struct Gate {
    started: Receiver<String>,
    open: Option<Sender<()>>,
}

fn gated_greeter(started_tx: Sender<String>, gate: Receiver<()>, ran: Arc<Mutex<Vec<String>>>) -> Servicer {
    greeter(move |req, _ctx| {
        let name = req.name.to_owned();
        ran.lock().unwrap().push(name.clone());
        if name.starts_with("hold") {
            started_tx.send(name.clone()).unwrap();
            let _ = gate.recv();
        }
        Ok(reply(format!("Hello {name}!")))
    })
}

fn gate() -> (Gate, Sender<String>, Receiver<()>) {
    let (started_tx, started) = unbounded();
    let (open, gate_rx) = unbounded();
    (Gate { started, open: Some(open) }, started_tx, gate_rx)
}

impl Gate {
    fn wait_started(&self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.started.recv_timeout(Duration::from_secs(30)).expect("a View started")).collect()
    }
    fn release(&mut self) {
        self.open.take();
    }
}

#[test]
fn views_run_on_exactly_max_workers_threads_never_on_io_threads() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let (mut gate, started_tx, gate_rx) = gate();
    let servicer = {
        let (running, peak, threads) = (running.clone(), peak.clone(), threads.clone());
        greeter(move |req, _ctx| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            threads.lock().unwrap().insert(thread::current().name().unwrap_or("?").to_owned());
            started_tx.send(req.name.to_owned()).unwrap();
            let _ = gate_rx.recv();
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(reply("ok".into()))
        })
    };
    let server = start(conf(vec![servicer]).max_workers(3));
    let client = client(&server);

    let calls: Vec<_> = (0..6)
        .map(|i| {
            let client = client.clone();
            thread::spawn(move || say_hello(&client, &format!("call {i}")))
        })
        .collect();
    gate.wait_started(3);
    assert!(
        gate.started.recv_timeout(Duration::from_millis(300)).is_err(),
        "a fourth View started while three workers were busy"
    );
    assert_eq!(running.load(Ordering::SeqCst), 3);
    gate.release();
    for call in calls {
        assert_eq!(call.join().unwrap().unwrap(), "ok");
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 3, "worker threads: {threads:?}");
    assert!(threads.iter().all(|t| t.starts_with("a3grpc-worker-")), "{threads:?}");
}

#[test]
fn calls_beyond_maximum_concurrent_rpcs_fail_at_once_with_resource_exhausted() {
    let (mut gate, started_tx, gate_rx) = gate();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let server = start(conf(vec![gated_greeter(started_tx, gate_rx, ran)]).max_workers(4).maximum_concurrent_rpcs(2));
    let client = client(&server);

    let held: Vec<_> = (0..2)
        .map(|i| {
            let client = client.clone();
            thread::spawn(move || say_hello(&client, &format!("hold {i}")))
        })
        .collect();
    gate.wait_started(2);
    match say_hello(&client, "one too many") {
        Err(Error::Status { code, message }) => {
            assert_eq!(code, Code::RESOURCE_EXHAUSTED);
            assert_eq!(message, "Concurrent RPC limit exceeded!");
        }
        other => panic!("expected Code::RESOURCE_EXHAUSTED, got {other:?}"),
    }
    gate.release();
    for call in held {
        call.join().unwrap().unwrap();
    }
    assert_eq!(say_hello(&client, "after").unwrap(), "Hello after!", "permits come back when calls end");
}

#[test]
fn a_panicking_view_becomes_server_unknown_error_and_the_pool_keeps_serving() {
    let server = start(
        conf(vec![greeter(|req, _| {
            if req.name == "boom" {
                panic!("the View blew up");
            }
            Ok(reply(format!("Hello {}!", req.name)))
        })])
        .max_workers(1),
    );
    let client = client(&server);
    for _ in 0..3 {
        match say_hello(&client, "boom") {
            Err(Error::A3(A3Error::ServerUnknown { message, cause })) => {
                assert_eq!(message, "An unexpected error has occurred on the service side.");
                assert_eq!(cause, None, "the cause stays on the server");
            }
            other => panic!("expected ServerUnknownError, got {other:?}"),
        }
    }
    assert_eq!(say_hello(&client, "still here").unwrap(), "Hello still here!");
}

/// A server with one worker, held busy by a "hold" call until the gate opens; every View
/// that runs is recorded by name.
struct HeldWorker {
    gate: Gate,
    ran: Arc<Mutex<Vec<String>>>,
    server: Server,
    client: a3grpc::BaseClient,
    holder: thread::JoinHandle<Result<String, Error>>,
}

fn hold_the_only_worker() -> HeldWorker {
    let (gate, started_tx, gate_rx) = gate();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let server = start(conf(vec![gated_greeter(started_tx, gate_rx, ran.clone())]).max_workers(1));
    let client = client(&server);
    let holder = {
        let client = client.clone();
        thread::spawn(move || say_hello(&client, "hold"))
    };
    gate.wait_started(1);
    HeldWorker { gate, ran, server, client, holder }
}

impl HeldWorker {
    /// Lets the worker go, runs one more call through the queue, and asserts that the View
    /// of `dropped` never ran.
    fn release_and_check(mut self, dropped: &str) {
        self.gate.release();
        self.holder.join().unwrap().unwrap();
        // One worker runs the queue in order: once "after" ran, everything before it was
        // taken off the queue.
        assert_eq!(say_hello(&self.client, "after").unwrap(), "Hello after!");
        let ran = self.ran.lock().unwrap();
        assert!(ran.contains(&"after".to_owned()), "{ran:?}");
        assert!(!ran.contains(&dropped.to_owned()), "the View of {dropped:?} must not run: {ran:?}");
    }
}

#[test]
fn a_queued_call_whose_deadline_passed_is_dropped_before_its_view_runs() {
    let held = hold_the_only_worker();
    let late = held.client.call_with(
        &METHOD_GREETER_SAY_HELLO,
        &request("late"),
        &CallOptions::new().timeout(Duration::from_millis(200)),
    );
    assert_eq!(late.unwrap_err().code(), Some(Code::DEADLINE_EXCEEDED));
    pace_behind(&held.client);
    held.release_and_check("late");
}

#[test]
fn a_queued_call_whose_client_cancelled_is_dropped_before_its_view_runs() {
    let held = hold_the_only_worker();
    let raw = raw_client(held.server.port());
    let mut gone = raw.unary_call_async(&METHOD_GREETER_SAY_HELLO, &request("gone"), Default::default()).unwrap();
    gone.cancel();
    match gone.receive_sync() {
        Err(grpcio::Error::RpcFailure(status)) => assert_eq!(Code::from(i32::from(status.code())), Code::CANCELLED),
        other => panic!("expected Code::CANCELLED, got {:?}", other.map(|_| ())),
    }
    // A call on the same connection, queued behind the cancelled one, whose deadline expires
    // while the worker is held: its frames come after the cancellation's, and the time it
    // waits gives the server ample time to act on it.
    let behind = raw.unary_call(
        &METHOD_GREETER_SAY_HELLO,
        &request("pace"),
        grpcio::CallOption::default().timeout(Duration::from_millis(500)),
    );
    assert!(
        matches!(behind, Err(grpcio::Error::RpcFailure(ref s)) if Code::from(i32::from(s.code())) == Code::DEADLINE_EXCEEDED)
    );
    held.release_and_check("gone");
}

#[test]
fn a_running_view_sees_its_client_cancel_and_frees_its_worker() {
    let (started_tx, started) = unbounded();
    let (seen_tx, seen) = unbounded();
    let server = start(
        conf(vec![greeter(move |req, ctx| {
            if req.name == "wait" {
                started_tx.send(()).unwrap();
                let cancelled = ctx.wait_cancelled(Duration::from_secs(30));
                seen_tx.send(cancelled).unwrap();
            }
            Ok(reply("done".into()))
        })])
        .max_workers(1),
    );
    let raw = raw_client(server.port());
    let mut call = raw.unary_call_async(&METHOD_GREETER_SAY_HELLO, &request("wait"), Default::default()).unwrap();
    started.recv_timeout(Duration::from_secs(30)).expect("the View started");
    call.cancel();
    assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok(true), "the View saw the cancellation");
    assert_eq!(say_hello(&client(&server), "next").unwrap(), "done", "the worker is free again");
}

#[test]
fn a_waiting_unary_view_is_woken_the_moment_its_caller_cancels() {
    // Without a3grpc's engine the View would ask every 5 ms; with it the I/O thread sees the
    // call end and wakes the View. The latency is measured and printed, not bounded.
    let (started_tx, started) = unbounded();
    let (woke_tx, woke) = unbounded();
    let server = start(
        conf(vec![greeter(move |_, ctx| {
            started_tx.send(()).unwrap();
            let cancelled = ctx.wait_cancelled(Duration::from_secs(30));
            woke_tx.send((cancelled, Instant::now())).unwrap();
            Ok(reply("done".into()))
        })])
        .max_workers(1),
    );
    let raw = raw_client(server.port());
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let mut call = raw.unary_call_async(&METHOD_GREETER_SAY_HELLO, &request("wait"), Default::default()).unwrap();
        started.recv_timeout(Duration::from_secs(30)).expect("the View started");
        let cancelled_at = Instant::now();
        call.cancel();
        let (cancelled, woke_at) = woke.recv_timeout(Duration::from_secs(10)).expect("the View woke");
        assert!(cancelled, "the View was woken by the cancel, not by its timeout");
        latencies.push(woke_at.duration_since(cancelled_at));
    }
    latencies.sort();
    println!(
        "cancel to wake-up over 20 calls: min {:?}, median {:?}, max {:?}",
        latencies[0], latencies[10], latencies[19]
    );
}

#[test]
fn a_view_sees_its_deadline_pass() {
    let (seen_tx, seen) = unbounded();
    let server = start(conf(vec![greeter(move |_, ctx| {
        // Woken by the server's own deadline or by the client's cancel when its deadline
        // fires first, whichever the server sees first.
        let cancelled = ctx.wait_cancelled(Duration::from_secs(30));
        seen_tx.send(cancelled).unwrap();
        Ok(reply("too late".into()))
    })]));
    let outcome = client(&server).call_with(
        &METHOD_GREETER_SAY_HELLO,
        &request("x"),
        &CallOptions::new().timeout(Duration::from_millis(200)),
    );
    assert_eq!(outcome.unwrap_err().code(), Some(Code::DEADLINE_EXCEEDED));
    assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok(true), "the View stopped waiting");
}

#[test]
fn conf_options_reach_the_core_on_server_and_client() {
    let echo = || greeter(|req, _| Ok(reply(req.name.to_owned())));
    let server = start(conf(vec![echo()]).option("grpc.max_receive_message_length", 1024));
    let client = client(&server);
    assert_eq!(say_hello(&client, "small").unwrap(), "small");
    let big = "x".repeat(4096);
    assert_eq!(
        say_hello(&client, &big).unwrap_err().code(),
        Some(Code::RESOURCE_EXHAUSTED),
        "the server's limit applies"
    );

    let server = start(conf(vec![echo()]));
    let small_client = client_of(&server).option("grpc.max_receive_message_length", 64).build().unwrap();
    assert_eq!(say_hello(&small_client, "fits").unwrap(), "fits");
    assert_eq!(
        say_hello(&small_client, &"y".repeat(200)).unwrap_err().code(),
        Some(Code::RESOURCE_EXHAUSTED),
        "the client's limit applies"
    );
}

#[test]
fn metadata_flows_both_ways_and_the_view_knows_its_call() {
    let server = start(conf(vec![greeter(|_, ctx| {
        let id = ctx.header("x-request-id").unwrap_or("none").to_owned();
        let raw = ctx.header_bytes("x-blob-bin").map(<[u8]>::to_vec).unwrap_or_default();
        ctx.set_header("x-echo-id", &id)?;
        ctx.set_header("x-echo-bin", &raw)?;
        Ok(reply(format!(
            "{} from {}",
            ctx.method(),
            if ctx.peer().contains("127.0.0.1") { "loopback" } else { ctx.peer() }
        )))
    })]));
    let options = CallOptions::new().header("x-request-id", "req-7").header("x-blob-bin", [0u8, 1, 2, 255]);
    let (reply, headers) =
        client(&server).call_with_headers(&METHOD_GREETER_SAY_HELLO, &request("m"), &options).unwrap();
    assert_eq!(reply.message, "/Greeter/say_hello from loopback");
    let get = |key: &str| headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    assert_eq!(get("x-echo-id").as_deref(), Some(&b"req-7"[..]));
    assert_eq!(get("x-echo-bin").as_deref(), Some(&[0u8, 1, 2, 255][..]));
}

#[test]
fn headers_over_the_servers_limit_are_refused_and_the_connection_keeps_serving() {
    // The engine closes a connection whose header block runs past four times the limit
    // (the CONTINUATION flood); a block just over the limit costs only its call.
    let server = start(conf(vec![greeter(|req, _| Ok(reply(req.name.to_owned())))]));
    let client = client(&server);
    for size in [20 * 1024, 60 * 1024] {
        let options = CallOptions::new().header("x-big", "b".repeat(size));
        let refused = client.call_with(&METHOD_GREETER_SAY_HELLO, &request("big"), &options).unwrap_err();
        assert_eq!(refused.code(), Some(Code::RESOURCE_EXHAUSTED), "{size} bytes of headers: {refused}");
        assert_eq!(say_hello(&client, "after").unwrap(), "after", "the next call on the connection");
    }
}

#[test]
fn an_invalid_response_header_is_a_server_error_not_a_panic() {
    let server = start(conf(vec![greeter(|_, ctx| {
        ctx.set_header("Bad Key", "v")?;
        Ok(reply("unreachable".into()))
    })]));
    match say_hello(&client(&server), "x") {
        Err(Error::A3(A3Error::ServerKnown { .. })) => {}
        other => panic!("expected ServerKnownError, got {other:?}"),
    }
}

#[test]
fn port_zero_binds_a_free_port_and_a_busy_port_is_a_bind_error_naming_the_address() {
    let first = start(conf(vec![hello::greeter_servicer()]));
    assert_ne!(first.port(), 0);
    assert_eq!(first.addr(), format!("127.0.0.1:{}", first.port()));
    let second = start(conf(vec![hello::greeter_servicer()]));
    assert_ne!(first.port(), second.port());

    match Server::start(a3grpc::Conf::new("127.0.0.1", first.port(), vec![hello::greeter_servicer()])) {
        Err(err @ ServerError::Bind { .. }) => {
            assert!(err.to_string().contains(&format!("127.0.0.1:{}", first.port())), "{err}");
        }
        Err(other) => panic!("expected a bind error, got {other}"),
        Ok(_) => panic!("two servers bound the same port"),
    }
}

#[test]
fn rpcs_without_a_view_answer_unimplemented_naming_the_method() {
    let server = start(conf(vec![Servicer::new()]));
    match say_hello(&client(&server), "x") {
        Err(Error::Status { code, message }) => {
            assert_eq!(code, Code::UNIMPLEMENTED);
            assert_eq!(message, "unknown method /Greeter/say_hello");
        }
        other => panic!("expected UNIMPLEMENTED, got {other:?}"),
    }
}

#[test]
fn one_rpc_served_by_two_views_is_a_conf_error() {
    let err = Server::start(conf(vec![hello::greeter_servicer(), hello::greeter_servicer()])).err().unwrap();
    assert!(err.to_string().contains("/Greeter/say_hello"), "{err}");
}

#[test]
fn shutdown_lets_an_in_flight_call_finish_within_the_grace_period() {
    let HeldWorker { mut gate, server, client, holder, .. } = hold_the_only_worker();
    let stopper = thread::spawn(move || server.shutdown_within(Duration::from_secs(30)));
    gate.release();
    assert_eq!(holder.join().unwrap().unwrap(), "Hello hold!");
    stopper.join().unwrap();
    assert!(say_hello(&client, "after stop").is_err(), "a stopped server refuses calls");
}

/// A call on `client`'s connection, queued behind the ones before it, that gives up after
/// 500 ms: by then the server has handled every frame that came before it. (It may or may not
/// run itself: its own deadline races the worker.)
fn pace_behind(client: &a3grpc::BaseClient) {
    let pace = client.call_with(
        &METHOD_GREETER_SAY_HELLO,
        &request("pace"),
        &CallOptions::new().timeout(Duration::from_millis(500)),
    );
    assert_eq!(pace.unwrap_err().code(), Some(Code::DEADLINE_EXCEEDED));
}

fn raw_client(port: u16) -> grpcio::Client {
    let env = Arc::new(grpcio::EnvBuilder::new().cq_count(1).build());
    grpcio::Client::new(grpcio::ChannelBuilder::new(env).connect(&format!("127.0.0.1:{port}")))
}

/// The say_hello method with raw bytes for messages, to send what no proto encoder would.
static RAW_SAY_HELLO: grpcio::Method<Vec<u8>, Vec<u8>> = grpcio::Method {
    ty: grpcio::MethodType::Unary,
    name: "/Greeter/say_hello",
    req_mar: grpcio::Marshaller { ser: raw_ser, de: raw_de },
    resp_mar: grpcio::Marshaller { ser: raw_ser, de: raw_de },
};

// grpcio's serializer type for `Vec<u8>` messages takes `&Vec<u8>`.
#[allow(clippy::ptr_arg)]
fn raw_ser(bytes: &Vec<u8>, buf: &mut grpcio::GrpcSlice) -> grpcio::Result<()> {
    *buf = grpcio::GrpcSlice::from(bytes.clone());
    Ok(())
}

fn raw_de(mut reader: grpcio::MessageReader) -> grpcio::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(|e| grpcio::Error::Codec(Box::new(e)))?;
    Ok(bytes)
}

#[test]
fn a_request_that_does_not_decode_is_answered_internal_and_never_reaches_the_view() {
    let (ran_tx, ran) = unbounded();
    let server = start(conf(vec![greeter(move |req, _| {
        ran_tx.send(()).unwrap();
        Ok(reply(req.name.to_owned()))
    })]));
    let raw = raw_client(server.port());
    // Field 1 (name) announced as 100 bytes long, with 2 behind it.
    let outcome = raw.unary_call(&RAW_SAY_HELLO, &vec![0x0a, 100, b'h', b'i'], grpcio::CallOption::default());
    match outcome {
        Err(grpcio::Error::RpcFailure(status)) => {
            assert_eq!(Code::from(i32::from(status.code())), Code::INTERNAL);
            assert!(status.message().contains("could not read the request"), "{}", status.message());
        }
        other => panic!("expected Code::INTERNAL, got {other:?}"),
    }
    assert!(ran.try_recv().is_err(), "the View did not run");
    let fine = raw.unary_call(&RAW_SAY_HELLO, &vec![0x0a, 2, b'h', b'i'], grpcio::CallOption::default()).unwrap();
    assert_eq!(fine, [0x0a, 2, b'h', b'i'], "the same server answers a good request");
}

/// say_stream_hello_reply (client streaming) with raw bytes for messages.
static RAW_COUNT_HELLOS: grpcio::Method<Vec<u8>, Vec<u8>> = grpcio::Method {
    ty: grpcio::MethodType::ClientStreaming,
    name: "/Greeter/say_stream_hello_reply",
    req_mar: grpcio::Marshaller { ser: raw_ser, de: raw_de },
    resp_mar: grpcio::Marshaller { ser: raw_ser, de: raw_de },
};

#[test]
fn a_streamed_request_that_does_not_decode_is_internal_as_for_unary_calls() {
    use futures::SinkExt;
    let server = start(conf(vec![hello::greeter_servicer()]));
    let raw = raw_client(server.port());
    let (mut requests, response) = raw.client_streaming(&RAW_COUNT_HELLOS, grpcio::CallOption::default()).unwrap();
    let outcome = futures::executor::block_on(async move {
        requests.send((vec![0x0a, 2, b'h', b'i'], grpcio::WriteFlags::default())).await?;
        requests.send((vec![0x0a, 100, b'h', b'i'], grpcio::WriteFlags::default())).await?;
        requests.close().await?;
        response.await
    });
    // The status may end the call while the client is still sending (RpcFinished).
    match outcome {
        Err(grpcio::Error::RpcFailure(status) | grpcio::Error::RpcFinished(Some(status))) => {
            assert_eq!(Code::from(i32::from(status.code())), Code::INTERNAL);
            assert!(status.message().contains("could not read the request"), "{}", status.message());
        }
        other => panic!("expected INTERNAL, got {other:?}"),
    }
}

#[test]
fn a_port_the_core_cannot_bind_is_an_error_with_the_cores_reason() {
    // Held without SO_REUSEPORT, while the conf asks for it: the core's own bind fails.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let conf = a3grpc::Conf::new("127.0.0.1", port, vec![hello::greeter_servicer()]).option("grpc.so_reuseport", 1);
    match Server::start(conf) {
        Err(ServerError::Bind { addr, reason }) => {
            assert_eq!(addr, format!("127.0.0.1:{port}"));
            assert!(reason.starts_with("the gRPC core refused it: ") && reason.len() > 30, "the reason: {reason}");
        }
        Err(other) => panic!("expected a bind error, got {other}"),
        Ok(_) => panic!("the port is held; the server must not start"),
    }
}

#[test]
fn an_inline_view_runs_on_an_io_thread_with_the_same_errors_panic_guard_and_interceptors() {
    struct Count(Arc<AtomicUsize>);
    impl a3grpc::interceptor::Interceptor for Count {
        fn after(&self, _: &a3grpc::Context, _: &a3grpc::interceptor::Outcome<'_>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen = threads.clone();
    let view = FnView(move |req: HelloRequest, _: &mut a3grpc::Context| {
        seen.lock().unwrap().insert(thread::current().name().unwrap_or("?").to_owned());
        match req.name.as_str() {
            "missing" => Err(A3Error::NotFound("no such greeting".into())),
            "panic" => panic!("an inline View panicked"),
            name => Ok(reply(format!("Hello {name}!"))),
        }
    });
    let afters = Arc::new(AtomicUsize::new(0));
    let server = start(
        conf(vec![Servicer::new().unary_inline(&METHOD_GREETER_SAY_HELLO, view)]).interceptor(Count(afters.clone())),
    );
    let client = client(&server);
    assert_eq!(say_hello(&client, "inline").unwrap(), "Hello inline!");
    assert!(matches!(say_hello(&client, "missing"), Err(Error::A3(A3Error::NotFound(_)))));
    assert!(matches!(say_hello(&client, "panic"), Err(Error::A3(A3Error::ServerUnknown { .. }))));
    assert_eq!(say_hello(&client, "again").unwrap(), "Hello again!", "the I/O thread lives on");
    assert_eq!(afters.load(Ordering::SeqCst), 4, "interceptors ran around every call");
    let threads = threads.lock().unwrap();
    assert!(threads.iter().all(|t| t.starts_with("a3grpc-io-")), "inline Views run on I/O threads: {threads:?}");
}

#[test]
fn io_threads_from_the_conf_sets_the_grpc_io_threads() {
    let server = example_server("io_threads = 3");
    let pid = server.peer.child.id();
    let io_threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("a3grpc-io-"))
        .count();
    assert_eq!(io_threads, 3);
    assert!(a3grpc::Conf::from_toml_str("host = \"h\"\nport = 0\nservicer_mappings = \"m\"\nio_threads = 0").is_err());
}

#[test]
fn a_client_that_never_finishes_its_requests_does_not_lock_others_out() {
    // 150 unary calls on one connection, each with half a request and then silence: they
    // hold no worker, so they take none of the 100 slots good calls need.
    let server = start(conf(vec![greeter(|req, _| Ok(reply(req.name.to_owned())))]).maximum_concurrent_rpcs(100));
    let mut slow = python_script("slow_client.py");
    slow.args(["127.0.0.1", &server.port().to_string(), "/Greeter/say_hello", "150"]);
    let mut slow = Peer::spawn(slow);
    slow.wait_for("HELD 150");
    let client = client(&server);
    for i in 0..20 {
        assert_eq!(say_hello(&client, &format!("good {i}")).unwrap(), format!("good {i}"));
    }
    // The slow calls are still open: the connection has not been dropped to make room.
    assert!(slow.child.try_wait().expect("poll the slow client").is_none());
}

#[test]
fn a_streaming_call_whose_client_sends_nothing_ends_after_the_idle_time() {
    // One stream worker, taken by a client-streaming call whose client sends half a request
    // and then nothing: after the conf's idle time its View is told, the call ends with
    // DEADLINE_EXCEEDED, and the worker serves other streams again.
    let servicer = hello::greeter_servicer();
    let server = start(conf(vec![servicer]).max_stream_workers(1).stream_idle_timeout(Duration::from_millis(300)));
    let mut slow = python_script("slow_client.py");
    slow.args(["127.0.0.1", &server.port().to_string(), "/Greeter/say_stream_hello_reply", "1"]);
    let mut slow = Peer::spawn(slow);
    slow.wait_for("HELD 1");
    let next = client(&server).client_streaming(
        &hello::METHOD_GREETER_SAY_STREAM_HELLO_REPLY,
        [request("a"), request("b")],
        &CallOptions::new().timeout(Duration::from_secs(20)),
    );
    assert_eq!(next.unwrap().message, "Hello 2 times!", "the worker is free again");
    let metrics = server.metrics_text();
    let ended = metrics
        .lines()
        .find(|l| l.starts_with("grpc_server_handled_total") && l.contains("say_stream_hello_reply"))
        .unwrap_or_else(|| panic!("the idle call is counted:\n{metrics}"));
    assert!(ended.contains("grpc_code=\"DeadlineExceeded\""), "{ended}");
}

#[test]
fn a_client_running_four_times_the_stream_limit_on_one_connection_loses_no_call() {
    // The server allows 256 streams per connection; a grpcio client queues the calls over the
    // limit, and a stream the server refuses while its predecessors are still being freed is
    // retried: 1,024 calls at once on one connection all come back answered.
    let server = start(conf(vec![greeter(|req, _| Ok(reply(format!("hi {}", req.name))))]));
    let env = Arc::new(grpcio::EnvBuilder::new().cq_count(1).build());
    let channel = grpcio::ChannelBuilder::new(env).connect(&format!("127.0.0.1:{}", server.port()));
    let raw = grpcio::Client::new(channel);
    let calls: Vec<_> = (0..1024)
        .map(|i| raw.unary_call_async(&METHOD_GREETER_SAY_HELLO, &request(&i.to_string()), Default::default()).unwrap())
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let answer = futures::executor::block_on(call).unwrap_or_else(|e| panic!("call {i} failed: {e}"));
        assert_eq!(answer.message, format!("hi {i}"));
    }
}
