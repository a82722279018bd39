//! More than one server behind one client: the gRPC core's round_robin policy over an address
//! list spreads calls evenly, and the client goes on with the other server when one stops.

mod common;

use std::collections::HashMap;

use a3grpc::client::ClientBuilder;
use a3grpc::{A3Error, Server};
use common::*;

/// A server whose greeting names it, so the client can tell who answered.
fn named_server(name: &'static str) -> Server {
    start(conf(vec![greeter(move |_req, _ctx| Ok::<_, A3Error>(reply(name.to_owned())))]))
}

#[test]
fn round_robin_spreads_calls_over_an_address_list_and_fails_over() {
    spread_and_fail_over(|client| client.option("grpc.lb_policy_name", "round_robin"));
}

#[test]
fn health_checked_round_robin_spreads_and_fails_over() {
    // The core watches each server's grpc.health.v1.Health, served by default.
    spread_and_fail_over(|client| {
        client.option(
            "grpc.service_config",
            r#"{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}"#,
        )
    });
}

fn spread_and_fail_over(configure: impl Fn(ClientBuilder) -> ClientBuilder) {
    let (a, b) = (named_server("a"), named_server("b"));
    let target = format!("ipv4:127.0.0.1:{},127.0.0.1:{}", a.port(), b.port());
    let client = configure(ClientBuilder::new(target)).build().unwrap();

    // Round robin picks among the servers it is connected to; wait until both answered once.
    let mut seen = HashMap::new();
    for _ in 0..1000 {
        *seen.entry(say_hello(&client, "x").unwrap()).or_insert(0) += 1;
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "both servers answer: {seen:?}");

    let mut spread = HashMap::new();
    for _ in 0..100 {
        *spread.entry(say_hello(&client, "x").unwrap()).or_insert(0) += 1;
    }
    assert_eq!(spread, HashMap::from([("a".to_owned(), 50), ("b".to_owned(), 50)]), "one call each in turn");

    a.shutdown();
    for _ in 0..20 {
        assert_eq!(say_hello(&client, "x").unwrap(), "b", "the stopped server gets no calls");
    }
    b.shutdown();
}
