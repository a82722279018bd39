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
    let server = example_server("");
    let pid = server.peer.child.id();
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
    server.peer.terminate();
}
