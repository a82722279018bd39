//! Streaming Views of all three kinds over a real socket: order, empty streams, errors after
//! some messages, cancellation, deadlines, metadata and admission. The million-message
//! stream is in `long_stream.rs`, a process of its own so its memory reading is its own.

mod common;

use std::time::Duration;

use a3grpc::error::Code;
use a3grpc::{
    A3Error, BidiView, CallOptions, ClientStreamingView, Context, Error, Requests, Responses, ServerStreamingView,
    Servicer, StreamError,
};
use common::hello::{
    METHOD_GREETER_SAY_HELLO_BIDI_STREAM as BIDI, METHOD_GREETER_SAY_HELLO_STREAM_REPLY as SERVER_STREAM,
    METHOD_GREETER_SAY_STREAM_HELLO_REPLY as CLIENT_STREAM,
};
use common::*;
use crossbeam_channel::{unbounded, Sender};

fn names(n: usize) -> impl Iterator<Item = HelloRequest> {
    (0..n).map(|i| request(&i.to_string()))
}

fn messages<I: Iterator<Item = Result<HelloReply, Error>>>(replies: I) -> Result<Vec<String>, Error> {
    replies.map(|r| r.map(|r| r.message.to_owned())).collect()
}

#[test]
fn the_example_greeter_serves_all_four_kinds_in_order() {
    let server = start(conf(vec![hello::greeter_servicer()]));
    let client = client(&server);
    let none = CallOptions::new();

    let counted = client.client_streaming(&CLIENT_STREAM, names(5), &none).unwrap();
    assert_eq!(counted.message, "Hello 5 times!");
    let zero = client.client_streaming(&CLIENT_STREAM, names(0), &none).unwrap();
    assert_eq!(zero.message, "Hello 0 times!", "an empty request stream is fine");

    let replies = messages(client.server_streaming(&SERVER_STREAM, &request("rust"), &none).unwrap()).unwrap();
    assert_eq!(replies, ["[0]Hello rust!", "[1]Hello rust!", "[2]Hello rust!"]);

    let (mut requests, mut replies) = client.bidi(&BIDI, &none).unwrap();
    for name in ["a", "b", "c"] {
        requests.send(request(name)).unwrap();
        let reply = replies.next().expect("one reply per request").unwrap();
        assert_eq!(reply.message, format!("Hello {name}!"), "lock-step: the reply comes before the next send");
    }
    requests.finish();
    assert!(replies.next().is_none(), "the stream ends after the half-close");

    let (mut requests, replies) = client.bidi(&BIDI, &none).unwrap();
    requests.finish();
    assert_eq!(messages(replies).unwrap(), Vec::<String>::new(), "an empty bidi stream ends OK");
}

/// Sends `n` greetings, then fails with NotFoundError.
struct FailAfter(usize);

impl ServerStreamingView for FailAfter {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, _: HelloRequest, out: &mut Responses<HelloReply>, _: &mut Context) -> Result<(), A3Error> {
        out.send_all((0..self.0).map(|i| reply(i.to_string())))?;
        Err(A3Error::NotFound("no more".into()))
    }
}

impl BidiView for FailAfter {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(
        &self,
        requests: Requests<HelloRequest>,
        out: &mut Responses<HelloReply>,
        _: &mut Context,
    ) -> Result<(), A3Error> {
        for request in requests.take(self.0) {
            out.send(reply(request?.name.to_owned()))?;
        }
        Err(A3Error::Forbidden("enough".into()))
    }
}

impl ClientStreamingView for FailAfter {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, requests: Requests<HelloRequest>, _: &mut Context) -> Result<HelloReply, A3Error> {
        // Returns without draining the stream.
        let read = requests.take(self.0).count();
        Err(A3Error::Validation(format!("stopped after {read}")))
    }
}

#[test]
fn an_error_after_some_messages_arrives_typed_after_them() {
    let server = start(conf(vec![Servicer::new()
        .server_streaming(&SERVER_STREAM, FailAfter(2))
        .bidi(&BIDI, FailAfter(2))
        .client_streaming(&CLIENT_STREAM, FailAfter(1))]));
    let client = client(&server);
    let none = CallOptions::new();

    // grpcio's client surfaces an error status as soon as it arrives, so messages still unread
    // at that moment are skipped; what does arrive is in order and the error is typed.
    let got: Vec<_> = client.server_streaming(&SERVER_STREAM, &request("x"), &none).unwrap().collect();
    let (last, sent) = got.split_last().unwrap();
    assert!(matches!(last, Err(Error::A3(A3Error::NotFound(m))) if m == "no more"), "{last:?}");
    let sent: Vec<String> = sent.iter().map(|r| r.as_ref().unwrap().message.to_owned()).collect();
    assert_eq!(sent, ["0", "1"][..sent.len()]);

    // In lock-step every reply is read before the error can arrive.
    let (mut requests, mut replies) = client.bidi(&BIDI, &none).unwrap();
    for name in ["p", "q"] {
        requests.send(request(name)).unwrap();
        assert_eq!(replies.next().unwrap().unwrap().message, name);
    }
    let _ = requests.send(request("r"));
    match replies.next() {
        Some(Err(Error::A3(A3Error::Forbidden(m)))) => assert_eq!(m, "enough"),
        other => panic!("expected ForbiddenError, got {:?}", other.map(|r| r.map(|m| m.message.to_owned()))),
    }
    assert!(replies.next().is_none());

    // A View that returns without reading the whole request stream leaves the server healthy.
    let err = client.client_streaming(&CLIENT_STREAM, names(1000), &none).unwrap_err();
    assert!(matches!(err, Error::A3(A3Error::Validation(ref m)) if m == "stopped after 1"), "{err:?}");
    let err = client.client_streaming(&CLIENT_STREAM, names(3), &none).unwrap_err();
    assert!(matches!(err, Error::A3(A3Error::Validation(_))));
}

/// Streams until the client goes away, then reports how the stream ended.
struct Endless(Sender<Result<(), StreamError>>);

impl ServerStreamingView for Endless {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, _: HelloRequest, out: &mut Responses<HelloReply>, ctx: &mut Context) -> Result<(), A3Error> {
        let outcome = loop {
            if let Err(err) = out.send(reply("more".into())) {
                break Err(err);
            }
        };
        assert!(ctx.is_cancelled());
        self.0.send(outcome).unwrap();
        Ok(())
    }
}

#[test]
fn a_client_that_cancels_mid_stream_is_seen_by_the_view_and_frees_its_worker() {
    let (tx, ended) = unbounded();
    let server = start(
        conf(vec![Servicer::new()
            .server_streaming(&SERVER_STREAM, Endless(tx))
            .unary(&METHOD_GREETER_SAY_HELLO, hello::SayHello)])
        .max_stream_workers(1),
    );
    let client = client(&server);
    for round in 0..2 {
        let mut replies = client.server_streaming(&SERVER_STREAM, &request("x"), &CallOptions::new()).unwrap();
        for _ in 0..10 {
            assert_eq!(replies.next().unwrap().unwrap().message, "more", "round {round}: the only worker is free");
        }
        replies.cancel();
        drop(replies);
        assert_eq!(ended.recv_timeout(Duration::from_secs(10)).unwrap(), Err(StreamError::Cancelled));
    }
}

/// Waits for requests that never come; reports what it saw.
struct Patient(Sender<(bool, Option<Result<HelloRequest, StreamError>>)>);

impl BidiView for Patient {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(
        &self,
        mut requests: Requests<HelloRequest>,
        _: &mut Responses<HelloReply>,
        ctx: &mut Context,
    ) -> Result<(), A3Error> {
        let next = requests.next();
        // The read ends as soon as the call does; the cancel flag follows within moments.
        self.0.send((ctx.wait_cancelled(Duration::from_secs(10)), next)).unwrap();
        Ok(())
    }
}

#[test]
fn a_deadline_ends_a_stream_on_both_sides() {
    let (tx, seen) = unbounded();
    let server = start(conf(vec![Servicer::new().bidi(&BIDI, Patient(tx))]));
    let (_requests, mut replies) =
        client(&server).bidi(&BIDI, &CallOptions::new().timeout(Duration::from_millis(200))).unwrap();
    match replies.next() {
        Some(Err(err)) => assert_eq!(err.code(), Some(Code::DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED, got {err:?}"),
        other => panic!("expected DEADLINE_EXCEEDED, got {:?}", other.map(|r| r.is_ok())),
    }
    let (cancelled, next) = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(cancelled, "the View sees the deadline");
    assert!(matches!(next, Some(Err(StreamError::Cancelled)) | None), "the blocked read ends: {next:?}");
}

/// Echoes a request header back as a response header, before the first message.
struct HeaderEcho;

impl ServerStreamingView for HeaderEcho {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, _: HelloRequest, out: &mut Responses<HelloReply>, ctx: &mut Context) -> Result<(), A3Error> {
        let trace = ctx.header("x-trace").unwrap_or("none").to_owned();
        ctx.set_header("x-trace-echo", &trace)?;
        out.send(reply(trace))?;
        assert!(ctx.set_header("x-late", "v").is_err(), "headers are gone once a message is sent");
        Ok(())
    }
}

#[test]
fn metadata_flows_both_ways_on_a_stream() {
    let server = start(conf(vec![Servicer::new().server_streaming(&SERVER_STREAM, HeaderEcho)]));
    let mut replies = client(&server)
        .server_streaming(&SERVER_STREAM, &request("x"), &CallOptions::new().header("x-trace", "t-1"))
        .unwrap();
    let headers = replies.headers().unwrap();
    assert!(headers.iter().any(|(k, v)| k == "x-trace-echo" && v == b"t-1"), "{headers:?}");
    assert_eq!(messages(replies).unwrap(), ["t-1"]);
}

#[test]
fn open_streams_beyond_the_unary_workers_never_delay_a_unary_call() {
    let (started_tx, started) = unbounded();
    let (open, gate) = unbounded::<()>();
    let server = start(
        conf(vec![Servicer::new()
            .server_streaming(&SERVER_STREAM, Held { started: started_tx, gate, returned: None })
            .unary(&METHOD_GREETER_SAY_HELLO, hello::SayHello)])
        .max_workers(1)
        .max_stream_workers(3),
    );
    let client = client(&server);
    let patient = CallOptions::new().timeout(Duration::from_secs(10));
    let streams: Vec<_> = (0..3)
        .map(|_| {
            let mut stream = client.server_streaming(&SERVER_STREAM, &request("x"), &patient).unwrap();
            assert_eq!(stream.next().unwrap().unwrap().message, "first", "each stream has a worker of its own");
            stream
        })
        .collect();
    for _ in 0..3 {
        started.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    let reply = client
        .call_with(&METHOD_GREETER_SAY_HELLO, &request("between"), &CallOptions::new().timeout(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(reply.message, "Hello between!", "three open streams, one unary worker, and it is free");
    drop(open);
    for stream in streams {
        assert_eq!(messages(stream).unwrap(), Vec::<String>::new(), "each stream ends OK once let go");
    }
}

#[test]
fn streams_count_against_maximum_concurrent_rpcs_and_calls_of_every_kind_over_it_are_refused() {
    let (started_tx, started) = unbounded();
    let (open, gate) = unbounded::<()>();
    let server = start(
        conf(vec![Servicer::new()
            .server_streaming(&SERVER_STREAM, Held { started: started_tx, gate, returned: None })
            .unary(&METHOD_GREETER_SAY_HELLO, hello::SayHello)
            .client_streaming(&CLIENT_STREAM, hello::CountHellos)
            .bidi(&BIDI, hello::EchoHellos)])
        .maximum_concurrent_rpcs(1),
    );
    let client = client(&server);
    let none = CallOptions::new();
    let mut held = client.server_streaming(&SERVER_STREAM, &request("x"), &none).unwrap();
    assert_eq!(held.next().unwrap().unwrap().message, "first");
    started.recv_timeout(Duration::from_secs(10)).unwrap();

    // RESOURCE_EXHAUSTED (8), not CANCELLED: a refused call's request stream is kept until its
    // status is out.
    assert_eq!(
        say_hello(&client, "blocked").unwrap_err().code(),
        Some(Code::RESOURCE_EXHAUSTED),
        "unary while the stream runs"
    );
    let refused = client.client_streaming(&CLIENT_STREAM, names(3), &none).unwrap_err();
    assert_eq!(refused.code(), Some(Code::RESOURCE_EXHAUSTED), "client stream: {refused}");
    let (mut requests, mut replies) = client.bidi(&BIDI, &none).unwrap();
    let _ = requests.send(request("a"));
    requests.finish();
    let refused = replies.next().expect("an outcome").unwrap_err();
    assert_eq!(refused.code(), Some(Code::RESOURCE_EXHAUSTED), "bidi: {refused}");

    drop(open);
    assert!(held.next().is_none());
    assert_eq!(say_hello(&client, "free").unwrap(), "Hello free!");
}

#[test]
fn a_request_sent_after_the_call_ended_fails_with_what_ended_it() {
    // The View answers NotFound without reading; the client keeps sending.
    struct Refuse;
    impl BidiView for Refuse {
        type Request = HelloRequest;
        type Response = HelloReply;
        fn handle(
            &self,
            _: Requests<HelloRequest>,
            _: &mut Responses<HelloReply>,
            _: &mut Context,
        ) -> Result<(), A3Error> {
            Err(A3Error::NotFound("no such stream".into()))
        }
    }
    let server = start(conf(vec![Servicer::new().bidi(&BIDI, Refuse)]));
    let (mut sender, mut responses) = client(&server).bidi(&BIDI, &CallOptions::new()).unwrap();
    assert!(matches!(responses.next(), Some(Err(Error::A3(A3Error::NotFound(_))))));
    let failed =
        (0..10_000).find_map(|_| sender.send(request("more")).err()).expect("sending stops once the call is over");
    assert!(
        matches!(failed, Error::CallEnded | Error::A3(A3Error::NotFound(_))),
        "the send reports the end of the call, not an invented status: {failed:?}"
    );
}

/// A View that runs on after its client has gone: told of it, it says so and waits for the
/// gate.
struct OutlivesItsClient(Sender<()>, crossbeam_channel::Receiver<()>);

impl ServerStreamingView for OutlivesItsClient {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, _: HelloRequest, out: &mut Responses<HelloReply>, ctx: &mut Context) -> Result<(), A3Error> {
        out.send(reply("first".into()))?;
        if ctx.wait_cancelled(Duration::from_secs(60)) {
            self.0.send(()).unwrap();
        }
        let _ = self.1.recv();
        Ok(())
    }
}

#[test]
fn a_stream_holds_its_slot_until_its_view_returns_even_after_its_client_has_gone() {
    let (gone_tx, gone) = unbounded();
    let (open, gate) = unbounded::<()>();
    let server = start(
        conf(vec![Servicer::new()
            .server_streaming(&SERVER_STREAM, OutlivesItsClient(gone_tx, gate))
            .unary(&METHOD_GREETER_SAY_HELLO, hello::SayHello)])
        .maximum_concurrent_rpcs(1),
    );
    let client = client(&server);
    let mut stream = client.server_streaming(&SERVER_STREAM, &request("x"), &CallOptions::new()).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().message, "first");
    stream.cancel();
    gone.recv_timeout(Duration::from_secs(10)).expect("the View learns its client has gone");
    assert_eq!(
        say_hello(&client, "while").unwrap_err().code(),
        Some(Code::RESOURCE_EXHAUSTED),
        "the View still runs, so its slot is still taken"
    );
    drop(open);
    // The slot is freed on the worker as the View returns, which a call may just precede.
    let answered = (0..1000).find_map(|_| say_hello(&client, "after").ok());
    assert_eq!(answered.as_deref(), Some("Hello after!"));
}

/// Reads the whole request stream, answering each request, and reports how it ended: after
/// how many messages, and with `None` (half-closed) or an error.
struct Reader(Sender<(usize, Option<StreamError>)>);

impl BidiView for Reader {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(
        &self,
        requests: Requests<HelloRequest>,
        out: &mut Responses<HelloReply>,
        _: &mut Context,
    ) -> Result<(), A3Error> {
        let mut count = 0;
        for request in requests {
            match request {
                Ok(request) => {
                    count += 1;
                    let _ = out.send(reply(request.name));
                }
                Err(err) => {
                    self.0.send((count, Some(err))).unwrap();
                    return Ok(());
                }
            }
        }
        self.0.send((count, None)).unwrap();
        Ok(())
    }
}

#[test]
fn a_view_tells_a_cancelled_request_stream_from_a_half_closed_one_every_time() {
    let (tx, endings) = unbounded();
    let server = start(conf(vec![Servicer::new().bidi(&BIDI, Reader(tx))]));
    let client = client(&server);
    for round in 0..50 {
        let (mut requests, mut replies) = client.bidi(&BIDI, &CallOptions::new()).unwrap();
        for name in names(3) {
            requests.send(name).unwrap();
        }
        // Every request has reached the View before the call ends, one way or the other.
        for _ in 0..3 {
            replies.next().unwrap().unwrap();
        }
        let cancel = round % 2 == 0;
        if cancel {
            replies.cancel();
        } else {
            requests.finish();
        }
        let (count, ending) = endings.recv_timeout(Duration::from_secs(10)).unwrap();
        if cancel {
            assert_eq!(ending, Some(StreamError::Cancelled), "round {round}: a cancel after {count} requests");
        } else {
            assert_eq!((count, ending), (3, None), "round {round}: a half-close");
        }
    }
}
