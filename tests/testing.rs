//! `a3grpc::testing`: Views run on their own, as a Django view test runs a view, and the same
//! View then behaves alike behind a real server.

mod common;

use std::time::Duration;

use a3grpc::{testing, A3Error, ClientStreamingView, Context, ServerStreamingView, UnaryView};
use common::hello::{CountHellos, HelloThreeTimes, SayHello};
use common::*;

#[test]
fn a_unary_view_runs_with_the_metadata_peer_and_deadline_the_test_chose() {
    let mut ctx = testing::context()
        .method("/Greeter/say_hello")
        .peer("ipv4:10.0.0.7:4242")
        .header("x-user", "ada")
        .timeout(Duration::from_secs(30))
        .build();
    assert_eq!(ctx.method(), "/Greeter/say_hello");
    assert_eq!(ctx.peer(), "ipv4:10.0.0.7:4242");
    assert_eq!(ctx.header("x-user"), Some("ada"));
    let left = ctx.time_remaining().expect("the deadline the test set");
    assert!(left <= Duration::from_secs(30) && left > Duration::from_secs(29), "{left:?}");
    assert!(!ctx.is_cancelled());
    assert_eq!(SayHello.handle(request("Bob"), &mut ctx).unwrap().message, "Hello Bob!");

    let plain = testing::context().build();
    assert_eq!((plain.deadline(), plain.deadline_exceeded()), (None, false), "no deadline unless set");
}

#[test]
fn a_cancelled_context_ends_waits_at_once() {
    let ctx = testing::context().cancelled().build();
    assert!(ctx.is_cancelled());
    assert!(ctx.wait_cancelled(Duration::from_secs(60)), "no waiting a minute for a caller that has gone");
}

#[test]
fn streaming_views_take_requests_from_an_iterator_and_their_responses_are_collected() {
    let mut ctx = testing::context().build();
    let counted = CountHellos.handle(testing::requests([request("a"), request("b"), request("c")]), &mut ctx);
    assert_eq!(counted.unwrap().message, "Hello 3 times!");

    let mut out = testing::responses();
    HelloThreeTimes.handle(request("Eve"), &mut out, &mut ctx).unwrap();
    let sent: Vec<String> = testing::sent(out).iter().map(|r| r.message.to_owned()).collect();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent.iter().all(|m| m.contains("Eve")), "{sent:?}");
}

#[test]
fn what_a_view_sets_for_the_response_is_there_to_check() {
    let mut ctx = testing::context().build();
    let view = FnView(|_: HelloRequest, ctx: &mut Context| -> Result<HelloReply, A3Error> {
        ctx.set_header("x-page", "2")?;
        ctx.set_trailer("x-rows-bin", [1, 2])?;
        Err(A3Error::NotFound("no page 2".into()))
    });
    assert!(matches!(view.handle(request("x"), &mut ctx), Err(A3Error::NotFound(_))));
    assert_eq!(testing::headers(&mut ctx), [("x-page".to_owned(), b"2".to_vec())]);
    assert_eq!(testing::trailers(&mut ctx), [("x-rows-bin".to_owned(), vec![1, 2])]);
}

#[test]
fn serve_gives_a_server_on_a_free_port_and_a_client_of_it() {
    let (server, client) = testing::serve(vec![greeter(|request, ctx| {
        Ok(reply(format!("{} from {}", request.name, ctx.peer().split(':').next().unwrap_or(""))))
    })])
    .expect("a test server");
    assert_ne!(server.port(), 0);
    assert_eq!(say_hello(&client, "Ada").unwrap(), "Ada from ipv4");
}
