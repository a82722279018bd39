//! The standard health service, checked by a client that is not ours (Python
//! grpcio-health-checking): SERVING while up, NOT_SERVING to watchers when a real server
//! process is told to stop, and absent when the conf turns it off.

mod common;

use std::process::Command;

use common::*;

fn write_conf(dir: &tempfile::TempDir, extra: &str) -> std::path::PathBuf {
    let conf = dir.path().join("conf.toml");
    std::fs::write(
        &conf,
        format!("host = \"127.0.0.1\"\nport = 0\ngraceful_shutdown_seconds = 1\nservicer_mappings = \"app.mappings.servicer_mappings\"\n{extra}"),
    )
    .unwrap();
    conf
}

fn check(port: u16, services: &[&str]) -> String {
    let out = python_script("health_client.py").arg(port.to_string()).arg("check").args(services).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn health_is_serving_while_up_and_not_serving_to_watchers_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(example("server"));
    command.arg(write_conf(&dir, ""));
    let mut server = Peer::spawn(command);
    let port = server.port("listening on 127.0.0.1:");

    let statuses = check(port, &["", "Greeter", "NoSuchService"]);
    assert_eq!(statuses, "<server> SERVING\nGreeter SERVING\nNoSuchService NOT_FOUND\n");

    let mut watch = python_script("health_client.py");
    watch.arg(port.to_string()).arg("watch").arg("");
    let mut watcher = Peer::spawn(watch);
    watcher.wait_for("WATCH SERVING");
    server.terminate();
    watcher.wait_for("WATCH NOT_SERVING");
    let end = watcher.wait_for("END ");
    assert!(end == "END CANCELLED" || end == "END UNAVAILABLE", "the watch ends with the server: {end}");
    let (status, output) = server.wait();
    assert!(status.success(), "{status:?}\n{}", output.join("\n"));
}

#[test]
fn health_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(example("server"));
    command.arg(write_conf(&dir, "health = false\n"));
    let mut server = Peer::spawn(command);
    let port = server.port("listening on 127.0.0.1:");
    assert_eq!(check(port, &[""]), "<server> UNIMPLEMENTED\n");
}
