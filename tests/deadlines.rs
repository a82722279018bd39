//! Deadlines and call context that flow: a View learns its caller's deadline, and a call it
//! makes to another service with `CallOptions::within(&ctx)` carries what is left of it, the
//! request id and the trace context. A client error the View passes on with `?` becomes the
//! a3 error its own caller gets.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use a3grpc::error::Code;
use a3grpc::{A3Error, BaseClient, CallOptions, Error};
use common::*;

/// `grpc-timeout` travels in whole units (here milliseconds), rounded up, so a deadline passed
/// on may come out up to one unit later; the rest is the clocks' conversions.
const ROUNDING: Duration = Duration::from_millis(5);

/// What the back server's View saw of its call.
#[derive(Debug)]
struct Seen {
    deadline: Option<Instant>,
    time_remaining: Option<Duration>,
    request_id: Option<String>,
    traceparent: Option<String>,
    trace_id: Option<String>,
    woken_by_the_end: bool,
}

/// A back service whose View waits up to 3 s for its call to end, and tells what it saw.
fn back_server() -> (a3grpc::Server, mpsc::Receiver<Seen>) {
    let (seen_tx, seen) = mpsc::channel();
    let seen_tx = std::sync::Mutex::new(seen_tx);
    let back = start(conf(vec![greeter(move |request, ctx| {
        let mut seen = Seen {
            deadline: ctx.deadline(),
            time_remaining: ctx.time_remaining(),
            request_id: ctx.header("x-request-id").map(str::to_owned),
            traceparent: ctx.header("traceparent").map(str::to_owned),
            trace_id: ctx.trace_id().map(str::to_owned),
            woken_by_the_end: false,
        };
        if request.name == "missing" {
            seen_tx.lock().unwrap().send(seen).unwrap();
            return Err(A3Error::NotFound("no such greeting".into()));
        }
        seen.woken_by_the_end = ctx.wait_cancelled(Duration::from_secs(3));
        seen_tx.lock().unwrap().send(seen).unwrap();
        Ok(reply("late".into()))
    })]));
    (back, seen)
}

/// What the front View reports: its own deadline, and how its downstream call ended.
type Report = (Option<Instant>, Result<String, Option<Code>>);

/// A front service whose View calls `back_port` within its own call and passes the outcome
/// on with `?`.
fn front_server(back_port: u16) -> (a3grpc::Server, mpsc::Receiver<Report>) {
    let downstream = BaseClient::builder("127.0.0.1", back_port)
        .retry(a3grpc::client::RetryPolicy::never())
        .build()
        .expect("client of the back server");
    let (report_tx, report) = mpsc::channel();
    let report_tx = std::sync::Mutex::new(report_tx);
    let front = start(conf(vec![greeter(move |request, ctx| {
        let result = downstream.call_with(&METHOD_GREETER_SAY_HELLO, &request, &CallOptions::within(ctx));
        let outcome = result.as_ref().map(|r| r.message.to_owned()).map_err(Error::code);
        report_tx.lock().unwrap().send((ctx.deadline(), outcome)).unwrap();
        Ok(result?)
    })]));
    (front, report)
}

#[test]
fn a_downstream_call_ends_at_the_callers_deadline_and_carries_its_context() {
    let (back, seen) = back_server();
    let (front, report) = front_server(back.port());
    let options = CallOptions::new()
        .timeout(Duration::from_millis(500))
        .header("x-request-id", "req-7")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    // Made first: making a client (the first of a process starts the gRPC threads) is not
    // part of the call, whose deadline starts with it.
    let client = client(&front);
    let called = Instant::now();
    let outcome = client.call_with(&METHOD_GREETER_SAY_HELLO, &request("slow"), &options);
    match outcome {
        Err(Error::Status { code: Code::DEADLINE_EXCEEDED, .. }) => {}
        other => panic!("the caller's own deadline ends its call, got {other:?}"),
    }

    let (front_deadline, downstream) = report.recv().expect("the front View reports");
    let front_deadline = front_deadline.expect("the front View knows its deadline");
    assert!(front_deadline <= called + Duration::from_millis(500) + ROUNDING, "no later than the caller's");
    assert_eq!(downstream, Err(Some(Code::DEADLINE_EXCEEDED)), "the downstream call ends with the caller's deadline");

    let seen = seen.recv().expect("the back View reports");
    let back_deadline = seen.deadline.expect("the back View got a deadline");
    assert!(back_deadline <= front_deadline + ROUNDING, "what is left of the front's, no more");
    assert!(seen.time_remaining.is_some());
    assert!(seen.woken_by_the_end, "the back View is woken when the deadline passes, not after 3 s");
    assert_eq!(seen.request_id.as_deref(), Some("req-7"));
    assert_eq!(seen.traceparent.as_deref(), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_eq!(seen.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
}

#[test]
fn a_call_without_a_deadline_has_none_to_pass_on() {
    let (back, seen) = back_server();
    let (front, report) = front_server(back.port());
    let _ = client(&front).call(&METHOD_GREETER_SAY_HELLO, &request("missing"));
    assert_eq!(report.recv().unwrap().0, None, "the front View has no deadline");
    assert_eq!(seen.recv().unwrap().time_remaining, None, "nor does the call it makes");
}

#[test]
fn a_downstream_a3_error_is_passed_on_as_it_is() {
    let (back, _seen) = back_server();
    let (front, _report) = front_server(back.port());
    match client(&front).call(&METHOD_GREETER_SAY_HELLO, &request("missing")) {
        Err(Error::A3(A3Error::NotFound(message))) => assert_eq!(message, "no such greeting"),
        other => panic!("the back server's NotFoundError reaches the caller, got {other:?}"),
    }
}

#[test]
fn a_downstream_transport_failure_is_a_server_unknown_error_whose_cause_stays_on_the_server() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (front, report) = front_server(closed_port);
    match client(&front).call(&METHOD_GREETER_SAY_HELLO, &request("x")) {
        Err(Error::A3(A3Error::ServerUnknown { cause, .. })) => assert_eq!(cause, None, "causes are never sent"),
        other => panic!("a failed downstream call is the front's own failure, got {other:?}"),
    }
    assert_eq!(report.recv().unwrap().1, Err(Some(Code::UNAVAILABLE)));
}
