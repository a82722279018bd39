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

#[test]
fn the_published_results_redraw_into_a_chart() {
    // The committed results are what the README shows; the chart must still read them.
    let dir = tempfile::tempdir().expect("temp dir");
    let published = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results.csv");
    std::fs::copy(&published, dir.path().join("results.csv")).expect("bench/results.csv is committed");
    let out = Command::new(example("bench")).arg("chart").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let svg = std::fs::read_to_string(dir.path().join("chart.svg")).expect("chart.svg written");
    for label in ["a3grpc", "raw grpcio", "Python a3grpc", "unary 16 B, c=16, 1 conn"] {
        assert!(svg.contains(label), "the chart shows {label:?}");
    }
}
