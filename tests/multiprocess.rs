//! Multi-process serving: several worker processes answer on one port, a killed worker is
//! replaced, SIGTERM stops everything with exit 0, and a busy port fails before any worker.

mod common;

use std::collections::HashSet;
use std::process::Command;

use a3grpc::{run_grpc_server_with_multiprocessing, BaseClient, Conf};
use common::*;

const CHILD: &str = "A3GRPC_TEST_SUPERVISOR";
const CHILD_PORT: &str = "A3GRPC_TEST_SUPERVISOR_PORT";
const CHILD_LONG_GRACE: &str = "A3GRPC_TEST_SUPERVISOR_LONG_GRACE";
/// Every worker exits with an error as soon as it starts.
const CHILD_WORKERS_DIE: &str = "A3GRPC_TEST_SUPERVISOR_WORKERS_DIE";
/// The conf names TLS files that do not exist.
const CHILD_MISSING_TLS: &str = "A3GRPC_TEST_SUPERVISOR_MISSING_TLS";
const TEST: &str = "multi_process_serving";

/// The program under test: this test binary run again with `CHILD` set, whose "main" serves a
/// View that answers with its process id. Its workers are the same binary once more.
fn supervisor_process() {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .filter_module("grpcio", log::LevelFilter::Warn)
        .init();
    let port = std::env::var(CHILD_PORT).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let servicer = greeter(|req, ctx| {
        if req.name == "wait" {
            println!("STARTED wait");
            ctx.wait_cancelled(std::time::Duration::from_secs(600));
        }
        Ok(reply(std::process::id().to_string()))
    });
    let grace = if std::env::var_os(CHILD_LONG_GRACE).is_some() { 600 } else { 1 };
    if std::env::var_os(CHILD_WORKERS_DIE).is_some() && std::env::var_os("A3GRPC_WORKER_PORT").is_some() {
        eprintln!("worker: cannot start");
        std::process::exit(3);
    }
    let mut conf = Conf::new("127.0.0.1", port, vec![servicer])
        .graceful_shutdown(std::time::Duration::from_secs(grace))
        .process_count(2);
    if std::env::var_os(CHILD_MISSING_TLS).is_some() {
        conf = conf.tls("/nonexistent/server.key", "/nonexistent/server.pem");
    }
    if let Err(err) = run_grpc_server_with_multiprocessing(conf) {
        eprintln!("supervisor: {err}");
        std::process::exit(1);
    }
}

fn spawn_supervisor(port: Option<u16>) -> Peer {
    spawn_supervisor_with(port, &[])
}

fn spawn_supervisor_with(port: Option<u16>, env: &[&str]) -> Peer {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", TEST, "--nocapture", "--test-threads=1"]).env(CHILD, "1");
    for name in env {
        command.env(name, "1");
    }
    if let Some(port) = port {
        command.env(CHILD_PORT, port.to_string());
    }
    Peer::spawn(command)
}

/// The pid a fresh connection lands on.
fn pid_of_new_connection(port: u16) -> String {
    let client = BaseClient::connect("127.0.0.1", port).unwrap();
    say_hello(&client, "who").unwrap()
}

fn listening_pid(line: &str) -> String {
    let after = line.rsplit("(pid ").next().unwrap();
    after.split([',', ')']).next().unwrap().to_owned()
}

#[test]
fn multi_process_serving() {
    if std::env::var_os(CHILD).is_some() {
        return supervisor_process();
    }
    let mut supervisor = spawn_supervisor(None);
    let port = supervisor.port("listening on 127.0.0.1:");
    let workers: HashSet<String> = (0..2)
        .map(|_| {
            let line = supervisor.wait_for_new("listening on");
            listening_pid(&line)
        })
        .collect();
    assert_eq!(workers.len(), 2, "two workers: {workers:?}");

    let answered: HashSet<String> = (0..40).map(|_| pid_of_new_connection(port)).collect();
    assert_eq!(answered, workers, "connections land on both workers");

    // SIGKILL one worker: the supervisor starts another, and the service keeps answering.
    let victim = workers.iter().next().unwrap().clone();
    let rc = unsafe { libc::kill(victim.parse().unwrap(), libc::SIGKILL) };
    assert_eq!(rc, 0);
    supervisor.wait_for("died unexpectedly");
    let replacement = listening_pid(&supervisor.wait_for_new("listening on"));
    assert!(!workers.contains(&replacement), "a new worker process");
    let after: HashSet<String> = (0..40).map(|_| pid_of_new_connection(port)).collect();
    assert!(after.contains(&replacement) && !after.contains(&victim), "{after:?}");

    supervisor.terminate();
    let (status, output) = supervisor.wait();
    assert!(status.success(), "SIGTERM stops everything cleanly: {status:?}\n{}", output.join("\n"));
    assert!(output.iter().any(|l| l.contains("all workers stopped")), "{}", output.join("\n"));
    assert!(!output.iter().any(|l| l.contains("serves one process")), "no worker warns about process_count");
}

/// Whether process `pid` still exists (a zombie counts as gone).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(false)
}

#[test]
fn workers_end_when_their_supervisor_is_killed() {
    let mut supervisor = spawn_supervisor(None);
    let port = supervisor.port("listening on 127.0.0.1:");
    let workers: Vec<i32> =
        (0..2).map(|_| listening_pid(&supervisor.wait_for_new("listening on")).parse().unwrap()).collect();
    assert!(workers.iter().all(|pid| alive(*pid)));
    // SIGKILL, as the OOM killer or `kill -9` would: the supervisor cannot pass anything on.
    supervisor.child.kill().unwrap();
    supervisor.child.wait().unwrap();
    for pid in &workers {
        assert!(wait_until_gone(*pid, std::time::Duration::from_secs(20)), "worker {pid} outlived its supervisor");
    }
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "nobody holds the port any more");
}

#[test]
fn a_port_held_with_so_reuseport_by_strays_is_refused() {
    // What workers orphaned by an earlier start hold: a listening socket with SO_REUSEPORT.
    let stray = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    stray.set_reuse_port(true).unwrap();
    stray.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    stray.listen(8).unwrap();
    let port = stray.local_addr().unwrap().as_socket().unwrap().port();
    let (status, output) = spawn_supervisor(Some(port)).wait();
    let text = output.join("\n");
    assert!(!status.success(), "{text}");
    assert!(text.contains(&format!("cannot bind 127.0.0.1:{port}")) && text.contains("earlier start"), "{text}");
    assert!(!text.contains("worker 0 started"), "no worker starts next to the strays: {text}");
}

#[test]
fn a_busy_port_fails_in_the_supervisor_before_any_worker_starts() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let (status, output) = spawn_supervisor(Some(port)).wait();
    assert!(!status.success());
    let text = output.join("\n");
    assert!(text.contains(&format!("cannot bind 127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("worker 0 started"), "no worker starts: {text}");
}

#[test]
fn workers_that_keep_dying_at_start_make_the_supervisor_stop_and_fail() {
    let (status, output) = spawn_supervisor_with(None, &[CHILD_WORKERS_DIE]).wait();
    let text = output.join("\n");
    assert!(!status.success(), "{text}");
    assert!(text.contains("died 5 times in a row"), "{text}");
    assert!(text.contains("worker process(es) failed"), "{text}");
}

#[test]
fn tls_files_a_worker_cannot_read_fail_in_the_supervisor_before_any_worker_starts() {
    let (status, output) = spawn_supervisor_with(None, &[CHILD_MISSING_TLS]).wait();
    let text = output.join("\n");
    assert!(!status.success(), "{text}");
    assert!(text.contains("server_key") && text.contains("/nonexistent/server.key"), "{text}");
    assert!(!text.contains("worker 0 started"), "no worker starts: {text}");
}

#[test]
fn the_example_server_serves_tls_from_several_processes_when_its_conf_says_so() {
    let pki = Pki::new(&["127.0.0.1"]);
    let ExampleServer { peer: mut server, port, dir: _conf } = example_server(&format!(
        "process_count = 2\nserver_key = {:?}\nserver_cert = {:?}\nca_cert = {:?}\n",
        pki.path("server.key"),
        pki.path("server.pem"),
        pki.path("ca.pem")
    ));
    server.wait_for_new("listening on");
    server.wait_for_new("listening on");

    let client = BaseClient::builder("127.0.0.1", port)
        .ca_cert(pki.path("ca.pem"))
        .client_key_and_cert(pki.path("client.key"), pki.path("client.pem"))
        .build()
        .unwrap();
    assert_eq!(say_hello(&client, "mtls").unwrap(), "Hello mtls!");

    server.terminate();
    let (status, output) = server.wait();
    assert!(status.success(), "{status:?}\n{}", output.join("\n"));
}

#[test]
fn a_second_sigterm_stops_the_workers_at_once() {
    let mut supervisor = spawn_supervisor_with(None, &[CHILD_LONG_GRACE]);
    let port = supervisor.port("listening on 127.0.0.1:");
    supervisor.wait_for_new("listening on");
    supervisor.wait_for_new("listening on");
    let client = BaseClient::builder("127.0.0.1", port).retry(a3grpc::client::RetryPolicy::never()).build().unwrap();
    let call = std::thread::spawn(move || say_hello(&client, "wait"));
    supervisor.wait_for("STARTED wait");
    supervisor.terminate();
    supervisor.wait_for("stopping 2 workers");
    // Their grace period is 600 s; the second signal ends it.
    supervisor.terminate();
    supervisor.wait_for("received SIGTERM again; the workers stop at once");
    assert!(call.join().unwrap().is_err(), "the call in flight was cut off");
    supervisor.wait_for("all workers stopped");
    let (status, output) = supervisor.wait();
    assert!(status.success(), "{status:?}\n{}", output.join("\n"));
}
