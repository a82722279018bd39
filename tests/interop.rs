//! The gRPC interop cases against our interop server (a3grpc Views), driven by a client that
//! is not ours: Python grpcio, in plaintext and over TLS with a server name override.

mod common;

use std::process::Command;

use common::*;

fn run_cases(tls: Option<&Pki>) -> String {
    let mut command = Command::new(example("interop_server"));
    command.arg("--port=0");
    if let Some(pki) = tls {
        command
            .arg("--use_tls")
            .arg("--tls_key")
            .arg(pki.path("server.key"))
            .arg("--tls_cert")
            .arg(pki.path("server.pem"));
    }
    let mut server = Peer::spawn(command);
    let port = server.port("listening on 127.0.0.1:");

    let mut client = python_script("interop_client.py");
    client.args(["--port", &port.to_string()]);
    if let Ok(dir) = std::env::var("A3GRPC_GRPC_PROTO_DIR") {
        client.args(["--proto_dir", &dir]);
    }
    if let Some(pki) = tls {
        client.arg("--use_tls").arg("--ca_file").arg(pki.path("ca.pem"));
        client.args(["--server_host_override", "foo.test.google.fr"]);
    }
    let out = client.output().expect("run the Python interop client");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{report}");
    assert!(out.status.success(), "interop cases failed:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    report
}

fn check(report: &str) {
    assert!(report.contains("interop: 14 passed, 0 failed"), "{report}");
    assert!(report.contains("PASS custom_metadata"), "{report}");
}

#[test]
fn every_interop_case_passes_in_plaintext() {
    check(&run_cases(None));
}

#[test]
fn every_interop_case_passes_over_tls() {
    let pki = Pki::new(&["foo.test.google.fr"]);
    check(&run_cases(Some(&pki)));
}
