//! BaseClient behaviour: retries only where no call can run twice, deadlines, one gRPC
//! environment for all clients, and never exiting the process.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use a3grpc::client::{ClientBuilder, RetryPolicy};
use a3grpc::error::Code;
use a3grpc::{A3Error, BaseClient, CallOptions, Error};
use common::*;
use futures::FutureExt;
use grpcio::{RpcStatus, RpcStatusCode, ServiceBuilder};

/// A raw grpcio server that fails the first `failures` calls with `code`, then greets;
/// it counts every call it sees.
struct Flaky {
    _server: grpcio::Server,
    port: u16,
    calls: Arc<AtomicUsize>,
}

fn flaky(failures: usize, code: RpcStatusCode, message: &'static str) -> Flaky {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let env = Arc::new(grpcio::EnvBuilder::new().cq_count(1).build());
    let service = ServiceBuilder::new()
        .add_unary_handler(&METHOD_GREETER_SAY_HELLO, move |ctx, _req: HelloRequest, sink| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if n < failures {
                ctx.spawn(sink.fail(RpcStatus::with_message(code, message.into())).map(|_| ()));
            } else {
                ctx.spawn(sink.success(reply("finally".into())).map(|_| ()));
            }
        })
        .build();
    let mut server = grpcio::ServerBuilder::new(env).register_service(service).build().unwrap();
    let port = server.add_listening_port("127.0.0.1:0", grpcio::ServerCredentials::insecure()).unwrap();
    server.start();
    Flaky { _server: server, port, calls }
}

fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts).backoff(Duration::from_millis(1), Duration::from_millis(5))
}

#[test]
fn an_unavailable_from_the_server_is_retried_only_for_idempotent_calls() {
    // The server saw the call: running it again is only safe if the caller says so.
    let server = flaky(2, RpcStatusCode::UNAVAILABLE, "restarting");
    let client = BaseClient::builder("127.0.0.1", server.port).retry(quick(3)).build().unwrap();
    assert_eq!(say_hello(&client, "x").unwrap_err().code(), Some(Code::UNAVAILABLE));
    assert_eq!(server.calls.load(Ordering::SeqCst), 1, "not idempotent: one try");

    let server = flaky(2, RpcStatusCode::UNAVAILABLE, "restarting");
    let client = BaseClient::builder("127.0.0.1", server.port)
        .retry(quick(3))
        .idempotent(&METHOD_GREETER_SAY_HELLO)
        .build()
        .unwrap();
    assert_eq!(say_hello(&client, "x").unwrap(), "finally");
    assert_eq!(server.calls.load(Ordering::SeqCst), 3, "an idempotent method is retried");

    let server = flaky(2, RpcStatusCode::UNAVAILABLE, "restarting");
    let client = BaseClient::builder("127.0.0.1", server.port).retry(quick(3)).build().unwrap();
    let once_more = CallOptions::new().idempotent(true);
    assert_eq!(client.call_with(&METHOD_GREETER_SAY_HELLO, &request("x"), &once_more).unwrap().message, "finally");
    assert_eq!(server.calls.load(Ordering::SeqCst), 3, "an idempotent call is retried");
}

#[test]
fn retries_stop_at_the_attempt_limit_with_the_first_and_the_last_error() {
    let server = flaky(10, RpcStatusCode::UNAVAILABLE, "down");
    let client = BaseClient::builder("127.0.0.1", server.port)
        .retry(quick(2))
        .idempotent(&METHOD_GREETER_SAY_HELLO)
        .build()
        .unwrap();
    match say_hello(&client, "x") {
        Err(Error::RetriesExhausted { attempts: 2, first, last }) => {
            assert!(matches!(*first, Error::Status { code: Code::UNAVAILABLE, ref message } if message == "down"));
            assert!(matches!(*last, Error::Status { code: Code::UNAVAILABLE, ref message } if message == "down"));
        }
        other => panic!("expected two tries that failed, got {other:?}"),
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn other_codes_are_not_retried_unless_asked() {
    let server = flaky(1, RpcStatusCode::INTERNAL, "bug");
    let client = BaseClient::builder("127.0.0.1", server.port)
        .retry(quick(5))
        .idempotent(&METHOD_GREETER_SAY_HELLO)
        .build()
        .unwrap();
    assert_eq!(say_hello(&client, "x").unwrap_err().code(), Some(Code::INTERNAL));
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);

    let server = flaky(1, RpcStatusCode::INTERNAL, "bug");
    let client = BaseClient::builder("127.0.0.1", server.port)
        .retry(quick(5).retry_on(&[Code::INTERNAL]))
        .idempotent(&METHOD_GREETER_SAY_HELLO)
        .build()
        .unwrap();
    assert_eq!(say_hello(&client, "x").unwrap(), "finally");
    assert_eq!(server.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn an_a3_error_after_retried_failures_comes_back_as_it_is() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = start(conf(vec![greeter(move |_, _| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Err(A3Error::Status { code: Code::UNAVAILABLE, message: "restarting".into() }),
        _ => Err(A3Error::NotFound("no such greeting".into())),
    })]));
    let client = client_of(&server).retry(quick(3)).idempotent(&METHOD_GREETER_SAY_HELLO).build().unwrap();
    match say_hello(&client, "x") {
        Err(Error::A3(A3Error::NotFound(message))) => assert_eq!(message, "no such greeting"),
        other => panic!("expected the NotFoundError itself, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "retried once, then answered");
}

#[test]
fn a3_errors_are_answers_and_never_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = start(conf(vec![greeter(move |_, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        Err(A3Error::NotAvailable("come back later".into()))
    })]));
    let client = client_of(&server).retry(quick(5).retry_on(&[Code::new(499), Code::UNAVAILABLE])).build().unwrap();
    assert!(matches!(say_hello(&client, "x"), Err(Error::A3(A3Error::NotAvailable(_)))));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn no_server_is_retried_since_nothing_was_sent_and_is_an_error_value_never_an_exit() {
    // A port that was just free: bind, read it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = BaseClient::builder("127.0.0.1", port).retry(quick(3)).build().unwrap();
    match say_hello(&client, "anyone?") {
        Err(err @ Error::RetriesExhausted { attempts: 3, .. }) => assert_eq!(err.code(), Some(Code::UNAVAILABLE)),
        other => panic!("expected three tries, none of which could connect, got {other:?}"),
    }
}

#[test]
fn a_call_cut_off_by_a_stopping_server_is_not_run_again_on_another() {
    // Two servers behind one round_robin client. The call that reaches one of them is still
    // running when that server stops and cancels it: the client must not run it again on the
    // other server, since its View has run (or still runs) already.
    let runs = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = std::sync::mpsc::channel();
    // The View holds its worker until the client has its answer (the gate opens when `open`
    // drops), so the call is surely under way when its server stops.
    let (open, gate) = crossbeam_channel::unbounded::<()>();
    let servers: Vec<_> = (0..2)
        .map(|index| {
            let (runs, started_tx, gate) = (runs.clone(), Mutex::new(started_tx.clone()), gate.clone());
            start(conf(vec![greeter(move |_, _| {
                runs.fetch_add(1, Ordering::SeqCst);
                started_tx.lock().unwrap().send(index).unwrap();
                let _ = gate.recv();
                Ok(reply("done".into()))
            })]))
        })
        .collect();
    let target = format!("ipv4:127.0.0.1:{},127.0.0.1:{}", servers[0].port(), servers[1].port());
    let client =
        ClientBuilder::new(target).option("grpc.lb_policy_name", "round_robin").retry(quick(5)).build().unwrap();
    let call = std::thread::spawn(move || say_hello(&client, "x"));
    let serving = started.recv_timeout(Duration::from_secs(30)).expect("the call reached a View");
    let mut servers: Vec<_> = servers.into_iter().map(Some).collect();
    let stopping = servers[serving].take().unwrap();
    let stopped = std::thread::spawn(move || stopping.shutdown_within(Duration::from_millis(50)));
    let outcome = call.join().unwrap();
    drop(open);
    stopped.join().unwrap();
    assert!(outcome.is_err(), "the call was cut off: {outcome:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the View ran once: {outcome:?}");
}

#[test]
fn a_timeout_too_large_for_a_deadline_means_no_deadline() {
    let server = start(conf(vec![greeter(|_, _| Ok(reply("hi".into())))]));
    let forever = CallOptions::new().timeout(Duration::MAX);
    assert_eq!(client(&server).call_with(&METHOD_GREETER_SAY_HELLO, &request("x"), &forever).unwrap().message, "hi");
    let client = client_of(&server).timeout(Duration::MAX).build().unwrap();
    assert_eq!(say_hello(&client, "x").unwrap(), "hi");
    let replies = client.server_streaming(&hello::METHOD_GREETER_SAY_HELLO_STREAM_REPLY, &request("x"), &forever);
    assert!(replies.is_ok(), "a stream with no deadline starts");
}

#[test]
fn clients_share_one_grpc_environment() {
    let server = start(conf(vec![greeter(|_, _| Ok(reply("hi".into())))]));
    let builder = client_of(&server);
    let clients: Vec<_> = (0..5).map(|_| builder.clone().build().unwrap()).collect();
    for client in &clients {
        assert_eq!(say_hello(client, "x").unwrap(), "hi");
    }
    let io_threads = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("a3grpc-client"))
        .count();
    assert_eq!(io_threads, 1, "one client I/O thread for all clients");
}

#[test]
fn a_timeout_covers_all_tries() {
    let server = flaky(usize::MAX, RpcStatusCode::UNAVAILABLE, "down");
    let client = BaseClient::builder("127.0.0.1", server.port)
        .retry(RetryPolicy::new(1000).backoff(Duration::from_millis(20), Duration::from_millis(20)))
        .idempotent(&METHOD_GREETER_SAY_HELLO)
        .build()
        .unwrap();
    let outcome = client.call_with(
        &METHOD_GREETER_SAY_HELLO,
        &request("x"),
        &CallOptions::new().timeout(Duration::from_millis(300)),
    );
    assert!(outcome.is_err());
    let calls = server.calls.load(Ordering::SeqCst);
    assert!(calls < 1000, "the deadline stopped the retries ({calls} calls)");
}

#[test]
fn bad_client_settings_are_errors_that_say_what_is_wrong() {
    let err =
        BaseClient::builder("127.0.0.1", 1).patch_status_code(a3grpc::error::StatusCodes::patched(499, 499)).build();
    assert!(matches!(err, Err(Error::Usage(ref m)) if m.contains("server_site_error_code")), "{:?}", err.err());
    let err = BaseClient::builder("127.0.0.1", 1).option("grpc.bad\0name", 1).build();
    assert!(matches!(err, Err(Error::Usage(_))));
    // The core would refuse it only at the first call, with an INVALID_ARGUMENT naming nothing.
    let err = BaseClient::builder("127.0.0.1", 1).option("grpc.service_config", r#"{"methodConfig": [}"#).build();
    assert!(
        matches!(err, Err(Error::Usage(ref m)) if m.contains("grpc.service_config is not valid JSON")),
        "{:?}",
        err.err()
    );
    let client = BaseClient::builder("127.0.0.1", 1).build().unwrap();
    let err = client.call_with(&METHOD_GREETER_SAY_HELLO, &request("x"), &CallOptions::new().header("Bad Key", "v"));
    assert!(matches!(err, Err(Error::Usage(ref m)) if m.contains("Bad Key")), "{err:?}");
}

mod awkward_views {
    use a3grpc::{
        A3Error, BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView, UnaryView,
    };
    use a3grpc_examples::awkward::type_::type_::Loop;
    use a3grpc_examples::awkward::Type;

    pub struct Echo;
    impl UnaryView for Echo {
        type Request = Type;
        type Response = Type;
        fn handle(&self, request: Type, _: &mut Context) -> Result<Type, A3Error> {
            Ok(request)
        }
    }

    pub struct Inner;
    impl UnaryView for Inner {
        type Request = Type;
        type Response = Loop;
        fn handle(&self, request: Type, _: &mut Context) -> Result<Loop, A3Error> {
            Ok(request.loop_.unwrap_or_default())
        }
    }

    pub struct Twice;
    impl ServerStreamingView for Twice {
        type Request = Type;
        type Response = Type;
        fn handle(&self, request: Type, out: &mut Responses<Type>, _: &mut Context) -> Result<(), A3Error> {
            out.send(request.clone())?;
            Ok(out.send(request)?)
        }
    }

    pub struct Count;
    impl ClientStreamingView for Count {
        type Request = Type;
        type Response = Type;
        fn handle(&self, requests: Requests<Type>, _: &mut Context) -> Result<Type, A3Error> {
            let count = requests.count();
            Ok(Type { self_: count as i32, ..Default::default() })
        }
    }

    pub struct Loops;
    impl BidiView for Loops {
        type Request = Type;
        type Response = Loop;
        fn handle(&self, requests: Requests<Type>, out: &mut Responses<Loop>, _: &mut Context) -> Result<(), A3Error> {
            for request in requests {
                out.send(request?.loop_.unwrap_or_default())?;
            }
            Ok(())
        }
    }
}

/// `examples/proto/type.proto` names its file, messages, fields, enum, service and RPCs after
/// Rust keywords: the generated code compiles, and its client calls every RPC.
#[test]
fn rpcs_and_messages_named_after_rust_keywords_are_served_and_called() {
    use a3grpc_examples::awkward::type_::type_::Loop;
    use a3grpc_examples::awkward::*;

    let servicer = a3grpc::Servicer::new()
        .unary(&METHOD_RETURN_RETURN, awkward_views::Echo)
        .unary(&METHOD_RETURN_TYPE, awkward_views::Inner)
        .unary(&METHOD_RETURN_SELF, awkward_views::Echo)
        .server_streaming(&METHOD_RETURN_CONNECT, awkward_views::Twice)
        .client_streaming(&METHOD_RETURN_ASYNC, awkward_views::Count)
        .bidi(&METHOD_RETURN_MATCH, awkward_views::Loops);
    let server = start(conf(vec![servicer]));
    let client = ReturnClient::new(client(&server));
    let request = Type {
        type_: "t".into(),
        loop_: Some(Loop { break_: true, ..Default::default() }).into(),
        match_: Match::MATCH_ANY.into(),
        ..Default::default()
    };

    assert_eq!(client.r#return(&request).unwrap(), request);
    assert!(client.r#type(&request).unwrap().break_);
    assert_eq!(client.self_rpc(&request).unwrap().match_.enum_value_or_default(), Match::MATCH_ANY);
    assert_eq!(client.connect_rpc(&request).unwrap().map(Result::unwrap).count(), 2);
    assert_eq!(client.r#async([request.clone(), request.clone(), request.clone()]).unwrap().self_, 3);
    let (mut sender, replies) = client.r#match().unwrap();
    sender.send(request.clone()).unwrap();
    sender.finish();
    assert_eq!(replies.map(|r| r.unwrap().break_).collect::<Vec<_>>(), [true]);

    let api: Arc<dyn ReturnApi> = Arc::new(client);
    assert_eq!(api.r#return(&request).unwrap(), request, "the client through its trait");
}
