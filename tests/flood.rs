//! HTTP/2 rapid reset (CVE-2023-44487): one connection opens and cancels streams as fast as
//! Python `h2` can send them, for 5 s, while a well-behaved client on another connection keeps
//! calling. a3grpc's engine counts a reset stream against `grpc.max_concurrent_streams` until
//! its call is freed, and a3grpc servers set that limit by default, so the flood is refused at
//! the transport: the server's memory stays bounded and every good call is answered. The
//! server runs with `MALLOC_ARENA_MAX=2`, as the README advises for servers facing untrusted
//! clients: with glibc's default of an arena per thread, what the flood's calls freed stays
//! with the process (+30 to +39 MB, against +18 with two arenas), which measures the
//! allocator rather than the defence.

mod common;

use std::process::Command;

use common::*;

#[test]
fn a_rapid_reset_flood_costs_the_server_a_bounded_amount_of_memory() {
    let mut server = example_server_with("metrics_port = 0\n", |server| {
        server.env("MALLOC_ARENA_MAX", "2");
    });
    let pid = server.peer.child.id();
    let metrics_port = server.peer.port("metrics at http://127.0.0.1:");
    let client = a3grpc::BaseClient::connect("127.0.0.1", server.port).unwrap();
    assert_eq!(say_hello(&client, "warm").unwrap(), "Hello warm!");
    let before = rss_kib(pid);

    let mut command = Command::new(python());
    command.arg(repo_root().join("tests/python/rapid_reset.py")).args(["127.0.0.1", &server.port.to_string(), "5"]);
    let mut flood = Peer::spawn(command);
    let (mut good, mut peak) = (0u64, before);
    // Good calls for as long as the flood runs, each of which must succeed.
    while flood.child.try_wait().expect("poll the flood").is_none() {
        assert_eq!(say_hello(&client, "good").unwrap(), "Hello good!", "a good call during the flood");
        good += 1;
        peak = peak.max(rss_kib(pid));
    }
    let report = flood.wait_for("FLOOD ");
    let after = rss_kib(pid);
    // Afterwards the server serves as before, and its memory stays where it was.
    for _ in 0..500 {
        assert_eq!(say_hello(&client, "after").unwrap(), "Hello after!");
    }
    let later = rss_kib(pid);
    println!(
        "{report}; good calls during it: {good}; server RSS {before} KiB before, {peak} KiB peak, \
         {after} KiB after, {later} KiB after 500 more calls"
    );
    let (streams, refused) = (report_field(&report, "streams="), report_field(&report, "refused="));
    assert!(streams > 10_000, "the flood ran: {report}");
    assert!(refused > 0, "the server refused streams over its limit: {report}");
    assert!(good > 0, "good calls ran during the flood");
    assert!(peak - before < 32 * 1024, "the flood grew the server by {} KiB", peak - before);
    assert!(later <= after + 8 * 1024, "the server's memory is flat afterwards: {after} KiB, then {later} KiB");
    // What the server saw of it: the calls that reached a3grpc, by how they ended.
    let (_, metrics) = scrape_metrics(metrics_port);
    let samples = prometheus_samples(&metrics);
    let ok = r#"grpc_server_handled_total{a3_error="",grpc_code="OK",grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary"}"#;
    assert_eq!(samples.get(ok).copied(), Some((good + 501) as f64), "every good call counted OK");
    let reset = samples.get(&ok.replace(r#"grpc_code="OK""#, r#"grpc_code="Canceled""#)).copied().unwrap_or(0.0);
    println!("reset streams that reached a3grpc (Canceled): {reset} of {streams}");
    assert!(reset <= (streams - refused) as f64, "only streams the transport accepted reach the server");
    server.peer.terminate();
}
