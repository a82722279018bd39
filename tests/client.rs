//! BaseClient behaviour: retries only where safe, deadlines, and never exiting the process.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use a3grpc::{A3Error, BaseClient, CallOptions, Code, Error, RetryPolicy};
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
fn unavailable_is_retried_until_it_succeeds() {
    let server = flaky(2, RpcStatusCode::UNAVAILABLE, "restarting");
    let client = BaseClient::builder("127.0.0.1", server.port).retry(quick(3)).build().unwrap();
    assert_eq!(say_hello(&client, "x").unwrap(), "finally");
    assert_eq!(server.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn retries_stop_at_the_attempt_limit_with_the_last_status() {
    let server = flaky(10, RpcStatusCode::UNAVAILABLE, "down");
    let client = BaseClient::builder("127.0.0.1", server.port).retry(quick(2)).build().unwrap();
    match say_hello(&client, "x") {
        Err(Error::Status { code, message }) => assert_eq!((code, message.as_str()), (Code::UNAVAILABLE, "down")),
        other => panic!("expected Code::UNAVAILABLE, got {other:?}"),
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn other_codes_are_not_retried_unless_asked() {
    let server = flaky(1, RpcStatusCode::INTERNAL, "bug");
    let client = BaseClient::builder("127.0.0.1", server.port).retry(quick(5)).build().unwrap();
    assert_eq!(say_hello(&client, "x").unwrap_err().code(), Some(Code::INTERNAL));
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);

    let server = flaky(1, RpcStatusCode::INTERNAL, "bug");
    let client =
        BaseClient::builder("127.0.0.1", server.port).retry(quick(5).retry_on(&[Code::INTERNAL])).build().unwrap();
    assert_eq!(say_hello(&client, "x").unwrap(), "finally");
    assert_eq!(server.calls.load(Ordering::SeqCst), 2);
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
fn no_server_is_an_error_value_after_the_retries_never_an_exit() {
    // A port that was just free: bind, read it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = BaseClient::builder("127.0.0.1", port).retry(quick(3)).build().unwrap();
    assert_eq!(say_hello(&client, "anyone?").unwrap_err().code(), Some(Code::UNAVAILABLE));
}

#[test]
fn a_timeout_covers_all_tries() {
    let server = flaky(usize::MAX, RpcStatusCode::UNAVAILABLE, "down");
    let client = BaseClient::builder("127.0.0.1", server.port)
        .retry(RetryPolicy::new(1000).backoff(Duration::from_millis(20), Duration::from_millis(20)))
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
    let err = BaseClient::builder("127.0.0.1", 1).patch_status_code(a3grpc::StatusCodes::patched(499, 499)).build();
    assert!(matches!(err, Err(Error::Usage(ref m)) if m.contains("server_site_error_code")), "{:?}", err.err());
    let err = BaseClient::builder("127.0.0.1", 1).option("grpc.bad\0name", 1).build();
    assert!(matches!(err, Err(Error::Usage(_))));
    let client = BaseClient::builder("127.0.0.1", 1).build().unwrap();
    let err = client.call_with(&METHOD_GREETER_SAY_HELLO, &request("x"), &CallOptions::new().header("Bad Key", "v"));
    assert!(matches!(err, Err(Error::Usage(ref m)) if m.contains("Bad Key")), "{err:?}");
}
