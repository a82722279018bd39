//! The standard health service, checked by a client that is not ours (Python
//! grpcio-health-checking): SERVING while up, NOT_SERVING to watchers when a real server
//! process is told to stop, and absent when the conf turns it off.

mod common;

use common::*;

fn check(port: u16, services: &[&str]) -> String {
    let out = python_script("health_client.py").arg(port.to_string()).arg("check").args(services).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn health_is_serving_while_up_and_not_serving_to_watchers_on_sigterm() {
    let ExampleServer { peer: server, port, dir: _conf } = example_server("graceful_shutdown_seconds = 1\n");

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
    let server = example_server("health = false\n");
    assert_eq!(check(server.port, &[""]), "<server> UNIMPLEMENTED\n");
}
