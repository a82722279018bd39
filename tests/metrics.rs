//! Prometheus metrics, scraped over HTTP by a client that is not ours (Python's urllib) after
//! calls of every kind, some of them failing: the counts are exact, with the label names of the
//! Go and Python gRPC Prometheus packages and the a3 error name.

mod common;

use std::collections::HashMap;

use a3grpc::{CallOptions, Server};
use common::*;

/// The samples a real HTTP client gets from the server's metrics port.
fn scrape(port: u16) -> HashMap<String, f64> {
    let (content_type, body) = scrape_metrics(port);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    prometheus_samples(&body)
}

const UNARY_BUSY: &str = r#"a3grpc_pool_busy_workers{pool="unary"}"#;
const UNARY_QUEUED: &str = r#"a3grpc_pool_queued_calls{pool="unary"}"#;

fn metrics_server() -> Server {
    start(conf(vec![a3grpc_examples::hello::greeter_servicer()]).max_workers(3).max_stream_workers(2).metrics_port(0))
}

#[test]
fn calls_of_every_kind_and_their_errors_are_counted_exactly() {
    let server = metrics_server();
    call_every_kind(&client(&server));
    let samples = scrape(server.metrics_port().expect("a metrics port"));
    assert_every_kind_counted(&samples, "server");
    let get = |key: &str| samples.get(key).copied().unwrap_or_else(|| panic!("no sample {key}"));
    for pool in ["unary", "stream"] {
        assert_eq!(get(&format!(r#"a3grpc_pool_busy_workers{{pool="{pool}"}}"#)), 0.0);
        assert_eq!(get(&format!(r#"a3grpc_pool_queued_calls{{pool="{pool}"}}"#)), 0.0);
    }
    assert_eq!(get("a3grpc_server_refused_total"), 0.0);
    assert_eq!(get(r#"a3grpc_pool_workers{pool="unary"}"#), 3.0);
    assert_eq!(get(r#"a3grpc_pool_workers{pool="stream"}"#), 2.0);
}

#[test]
fn the_pool_load_refused_and_dropped_calls_are_counted() {
    let (started_tx, started) = crossbeam_channel::unbounded();
    let (open, gate) = crossbeam_channel::unbounded::<()>();
    let servicer = greeter(move |req, _ctx| {
        if req.name == "hold" {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        }
        Ok(reply(req.name.to_owned()))
    });
    let server = start(conf(vec![servicer]).max_workers(1).maximum_concurrent_rpcs(2).metrics_port(0));
    let port = server.metrics_port().unwrap();
    let client = std::sync::Arc::new(client(&server));

    // One call holds the only worker; a second waits behind it until its deadline passes.
    let holder = {
        let client = client.clone();
        std::thread::spawn(move || say_hello(&client, "hold"))
    };
    started.recv().unwrap();
    let waiting = {
        let client = client.clone();
        std::thread::spawn(move || {
            let options = CallOptions::new().timeout(std::time::Duration::from_millis(300));
            client.call_with(&METHOD_GREETER_SAY_HELLO, &request("late"), &options)
        })
    };
    let until_queued = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let loaded = loop {
        let samples = scrape(port);
        if samples.get(UNARY_QUEUED) == Some(&1.0) || std::time::Instant::now() > until_queued {
            break samples;
        }
    };
    assert_eq!(loaded[UNARY_BUSY], 1.0);
    assert_eq!(loaded[UNARY_QUEUED], 1.0);
    assert_eq!(waiting.join().unwrap().unwrap_err().code(), Some(a3grpc::error::Code::DEADLINE_EXCEEDED));
    // A third is over maximum_concurrent_rpcs. Sent on the same connection after the client
    // reset the waiting call at its deadline, it is answered only once the server has read
    // that reset: the waiting call is dead before the worker is let go.
    assert_eq!(say_hello(&client, "third").unwrap_err().code(), Some(a3grpc::error::Code::RESOURCE_EXHAUSTED));
    drop(open);
    assert_eq!(holder.join().unwrap().unwrap(), "hold");
    // The waiting call is dropped when the worker reaches it (the server sees the client's
    // deadline as a cancellation, or its own deadline); its end is counted then.
    let unary = r#"grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary""#;
    let ended = |samples: &HashMap<String, f64>, code: &str| {
        let key = format!(r#"grpc_server_handled_total{{a3_error="",grpc_code="{code}",{unary}}}"#);
        samples.get(&key).copied().unwrap_or(0.0)
    };
    let dropped = |samples: &HashMap<String, f64>| ended(samples, "Canceled") + ended(samples, "DeadlineExceeded");
    let until_dropped = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let samples = loop {
        let samples = scrape(port);
        if dropped(&samples) > 0.0 || std::time::Instant::now() > until_dropped {
            break samples;
        }
    };
    assert_eq!(samples["a3grpc_server_refused_total"], 1.0);
    assert_eq!(samples["a3grpc_server_dropped_total"], 1.0);
    assert_eq!(dropped(&samples), 1.0);
    assert_eq!(ended(&samples, "OK"), 1.0);
    assert_eq!(ended(&samples, "ResourceExhausted"), 1.0);
    assert_eq!(samples[&format!("grpc_server_started_total{{{unary}}}")], 3.0);
    assert_eq!(samples[UNARY_BUSY], 0.0);
    assert_eq!(samples[UNARY_QUEUED], 0.0);
}

#[test]
fn every_worker_process_serves_its_own_metrics() {
    let mut server = example_server("process_count = 2\nmetrics_port = 0\n");
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            let line = server.peer.wait_for_new("metrics at http://127.0.0.1:");
            let at = line.find("127.0.0.1:").unwrap() + "127.0.0.1:".len();
            line[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
        })
        .collect();
    assert_ne!(ports[0], ports[1]);
    // Clients of their own connection each, which the kernel spreads over the workers.
    for i in 0..10 {
        let client = a3grpc::BaseClient::builder("127.0.0.1", server.port)
            .option("grpc.use_local_subchannel_pool", 1)
            .build()
            .unwrap();
        say_hello(&client, &i.to_string()).unwrap();
    }
    let started = r#"grpc_server_started_total{grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary"}"#;
    let total: f64 = ports.iter().map(|port| scrape(*port).get(started).copied().unwrap_or(0.0)).sum();
    assert_eq!(total, 10.0);
}

#[test]
fn calls_over_tls_are_counted() {
    let pki = Pki::new(&["localhost"]);
    let conf = conf(vec![a3grpc_examples::hello::greeter_servicer()])
        .tls(pki.path("server.key"), pki.path("server.pem"))
        .metrics_port(0);
    let server = start(conf);
    let client = a3grpc::BaseClient::builder("127.0.0.1", server.port())
        .ca_cert(pki.path("ca.pem"))
        .tls_target_name("localhost")
        .build()
        .unwrap();
    say_hello(&client, "tls").unwrap();
    let samples = scrape(server.metrics_port().unwrap());
    let ok = r#"grpc_server_handled_total{a3_error="",grpc_code="OK",grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary"}"#;
    assert_eq!(samples[ok], 1.0);
}
