//! HTTP/2 rapid reset (CVE-2023-44487), which the engine's C core 1.56 has no upstream fix
//! for: one connection opens and cancels streams as fast as Python `h2` can send them while a
//! well-behaved client keeps calling. The server must answer every good call during and after
//! the flood. Its memory is reported, not bounded: the core keeps every reset stream's call
//! until its I/O thread catches up (about 13 KiB each here), which is why the README's Security
//! section says to put a patched proxy in front of untrusted clients.

mod common;

use std::process::Command;

use common::*;

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB")
}

#[test]
fn a_rapid_reset_flood_does_not_stop_good_calls() {
    let mut server = example_server("metrics_port = 0\n");
    let pid = server.peer.child.id();
    let metrics_port = server.peer.port("metrics at http://127.0.0.1:");
    let client = a3grpc::BaseClient::connect("127.0.0.1", server.port).unwrap();
    assert_eq!(say_hello(&client, "warm").unwrap(), "Hello warm!");
    let before = rss_kib(pid);

    let mut command = Command::new(python());
    command.arg(repo_root().join("tests/python/rapid_reset.py")).args(["127.0.0.1", &server.port.to_string(), "2"]);
    let mut flood = Peer::spawn(command);
    let (mut good, mut peak) = (0u64, before);
    // Good calls for as long as the flood runs, each of which must succeed.
    while flood.child.try_wait().expect("poll the flood").is_none() {
        assert_eq!(say_hello(&client, "good").unwrap(), "Hello good!", "a good call during the flood");
        good += 1;
        peak = peak.max(rss_kib(pid));
    }
    let report = flood.wait_for("FLOOD ");
    let streams: u64 = report
        .split_whitespace()
        .find_map(|w| w.strip_prefix("streams="))
        .and_then(|n| n.parse().ok())
        .expect("stream count");
    assert_eq!(say_hello(&client, "after").unwrap(), "Hello after!");
    let after = rss_kib(pid);
    println!(
        "{report}; good calls during it: {good}; server RSS {before} KiB before, {peak} KiB peak, {after} KiB after"
    );
    assert!(streams > 10_000, "the flood ran: {report}");
    assert!(good > 0, "good calls ran during the flood");
    // What the server saw of it: the calls that reached a3grpc, by how they ended.
    let (_, metrics) = scrape_metrics(metrics_port);
    let seen: Vec<&str> = metrics.lines().filter(|l| l.starts_with("grpc_server_handled_total")).collect();
    println!("server metrics after the flood:\n{}", seen.join("\n"));
    let ok = r#"grpc_server_handled_total{a3_error="",grpc_code="OK",grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary"}"#;
    let samples = prometheus_samples(&metrics);
    assert_eq!(samples.get(ok).copied(), Some((good + 2) as f64), "every good call counted OK");
    let reset = samples.get(&ok.replace(r#"grpc_code="OK""#, r#"grpc_code="Canceled""#)).copied().unwrap_or(0.0);
    assert!(reset > 0.0 && reset <= streams as f64, "the reset streams count as Canceled: {reset} of {streams}");
    server.peer.terminate();
}
