//! The benchmark's load generator cannot rot: a few hundred calls of every kind against the
//! bench server, through the real binaries. (Its numbers are not checked here; the benchmark
//! itself prints them.)

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_load_generator_drives_every_kind_against_the_bench_server() {
    let mut server = Command::new(example("bench_server"));
    server.args(["--mode", "a3", "--workers", "4"]);
    let mut server = Peer::spawn(server);
    let port = server.port("listening on 127.0.0.1:");
    for kind in ["unary", "server", "client", "bidi"] {
        let out = Command::new(example("bench"))
            .args(["run", "--target", &format!("127.0.0.1:{port}"), "--kind", kind])
            .args(["--connections", "2", "--concurrency", "8", "--messages", "10", "--calls", "200"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{kind}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("run: 200 calls in"), "{kind}: {stdout}");
        assert!(stdout.contains("errors {}"), "{kind}: {stdout}");
        assert!(stdout.contains("p99"), "{kind}: {stdout}");
    }
}
