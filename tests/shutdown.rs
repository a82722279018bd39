//! Lifecycle of a real server process: SIGTERM stops accepting, an in-flight call finishes
//! inside the grace period, one still running after it is cancelled, and the process exits 0.
//! Also the example binaries: the demo round trip, and a busy port ending in one clear line.

mod common;

use std::process::Command;
use std::thread;
use std::time::Duration;

use a3grpc::error::Code;
use a3grpc::interceptor::RequestLog;
use a3grpc::{run_grpc_server, Error};
use common::*;
use hello::METHOD_GREETER_SAY_HELLO_STREAM_REPLY;

const CHILD: &str = "A3GRPC_TEST_SERVER_PROCESS";

/// The server process of the test below: this same test binary, started again with
/// `CHILD` set, runs `run_grpc_server` like a service's `main`.
fn server_process() {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .filter_module("grpcio", log::LevelFilter::Warn)
        .init();
    let servicer = greeter(|req, ctx| match req.name.as_str() {
        "finish when told" => {
            println!("STARTED finish");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).expect("read stdin");
            Ok(reply("finished".into()))
        }
        _ => {
            println!("STARTED endless");
            let cancelled = ctx.wait_cancelled(Duration::from_secs(60));
            println!("ENDLESS VIEW SAW CANCELLED={cancelled}");
            Ok(reply("never delivered".into()))
        }
    });
    let conf = conf(vec![servicer]).max_workers(2).graceful_shutdown(Duration::from_secs(3)).interceptor(RequestLog);
    run_grpc_server(conf).expect("the server runs and stops cleanly");
}

#[test]
fn sigterm_finishes_in_flight_calls_within_the_grace_period_then_cancels_and_exits_0() {
    if std::env::var_os(CHILD).is_some() {
        return server_process();
    }
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "sigterm_finishes_in_flight_calls_within_the_grace_period_then_cancels_and_exits_0"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    let mut server = Peer::spawn(command);
    let port = server.port("listening on 127.0.0.1:");
    let client =
        a3grpc::BaseClient::builder("127.0.0.1", port).retry(a3grpc::client::RetryPolicy::never()).build().unwrap();

    let finishing = {
        let client = client.clone();
        thread::spawn(move || say_hello(&client, "finish when told"))
    };
    let endless = {
        let client = client.clone();
        thread::spawn(move || say_hello(&client, "endless"))
    };
    server.wait_for("STARTED finish");
    server.wait_for("STARTED endless");

    server.terminate();
    server.wait_for("stopping: new calls refused");
    server.send_line("go");

    assert_eq!(finishing.join().unwrap().unwrap(), "finished", "the in-flight call finished within the grace");
    assert!(say_hello(&client, "latecomer").is_err(), "no new calls once stopping");
    match endless.join().unwrap() {
        Err(Error::Status { code, .. }) => {
            assert!(code == Code::CANCELLED || code == Code::UNAVAILABLE, "cancelled after the grace, got {code}")
        }
        other => panic!("the call still running after the grace should be cancelled, got {other:?}"),
    }
    server.wait_for("ENDLESS VIEW SAW CANCELLED=true");
    let (status, output) = server.wait();
    assert!(status.success(), "the server process exits 0 after SIGTERM: {status:?}\n{}", output.join("\n"));
    // The log says what each client got: OK for the one that finished, UNAVAILABLE for the
    // one the stop cut off (its View returned OK afterwards, which nobody received).
    let logged: Vec<&String> = output.iter().filter(|l| l.contains("/Greeter/say_hello from")).collect();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(logged.iter().filter(|l| l.contains(": OK")).count(), 1, "{logged:?}");
    assert_eq!(logged.iter().filter(|l| l.contains(": UNAVAILABLE")).count(), 1, "{logged:?}");
}

#[test]
fn the_demo_examples_round_trip_a_reply_and_a_typed_error_and_stop_gracefully() {
    let ExampleServer { peer: mut server, port, .. } = example_server("max_workers = 2\n");

    let out = Command::new(example("client")).arg(format!("127.0.0.1:{port}")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("say_hello(\"client\") -> \"Hello client!\""), "{stdout}");
    assert!(
        stdout.contains("ServerKnownError (Server side): \"A known error has occurred on the service side.\""),
        "{stdout}"
    );
    server.wait_for("cause: The name is not allowed.");

    server.terminate();
    let (status, output) = server.wait();
    assert!(status.success(), "{status:?}\n{}", output.join("\n"));
    assert!(output.iter().any(|l| l.contains("stopped")), "{}", output.join("\n"));
}

#[test]
fn the_example_server_on_a_busy_port_exits_non_zero_with_one_clear_line() {
    let holder = start(conf(vec![hello::greeter_servicer()]));
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.json");
    std::fs::write(
        &conf,
        format!(
            r#"{{"host": "127.0.0.1", "port": {}, "servicer_mappings": "app.mappings.servicer_mappings"}}"#,
            holder.port()
        ),
    )
    .unwrap();
    let out = Command::new(example("server")).arg(&conf).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].contains(&format!("cannot bind 127.0.0.1:{}", holder.port())), "{stderr}");
}

const SIGNALS_CHILD: &str = "A3GRPC_TEST_SIGNALS_PROCESS";

/// The program of the two tests below: serves with a long grace period a View that waits
/// until its call ends ("wait"), or fails to start and then waits on stdin ("fail to start").
fn signals_process(mode: &str) {
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .filter_module("grpcio", log::LevelFilter::Warn)
        .init();
    if mode == "fail to start" {
        let outcome = run_grpc_server(a3grpc::Conf::new("127.0.0.1", 0, "tests.not.registered"));
        println!("RETURNED {}", outcome.is_err());
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        println!("STILL RUNNING");
        return;
    }
    let servicer = greeter(|_, ctx| {
        println!("STARTED");
        let cancelled = ctx.wait_cancelled(Duration::from_secs(600));
        println!("VIEW SAW CANCELLED={cancelled}");
        Ok(reply("never delivered".into()))
    });
    run_grpc_server(conf(vec![servicer]).graceful_shutdown(Duration::from_secs(600))).expect("serves");
    println!("RETURNED");
}

fn spawn_signals_process(test: &str, mode: &str) -> Peer {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).env(SIGNALS_CHILD, mode);
    Peer::spawn(command)
}

#[test]
fn a_second_sigterm_cuts_the_grace_period_short() {
    if let Ok(mode) = std::env::var(SIGNALS_CHILD) {
        return signals_process(&mode);
    }
    let mut server = spawn_signals_process("a_second_sigterm_cuts_the_grace_period_short", "wait");
    let port = server.port("listening on 127.0.0.1:");
    let client =
        a3grpc::BaseClient::builder("127.0.0.1", port).retry(a3grpc::client::RetryPolicy::never()).build().unwrap();
    let call = thread::spawn(move || say_hello(&client, "x"));
    server.wait_for("STARTED");
    server.terminate();
    server.wait_for("stopping: new calls refused");
    // The grace period is 600 s; a second signal ends it now.
    server.terminate();
    server.wait_for("received SIGTERM again");
    server.wait_for("VIEW SAW CANCELLED=true");
    server.wait_for("RETURNED");
    assert!(call.join().unwrap().is_err(), "the call still running was cancelled");
    let (status, output) = server.wait();
    assert!(status.success(), "{status:?}\n{}", output.join("\n"));
}

#[test]
fn once_run_grpc_server_has_returned_sigterm_acts_as_before() {
    if let Ok(mode) = std::env::var(SIGNALS_CHILD) {
        return signals_process(&mode);
    }
    use std::os::unix::process::ExitStatusExt;
    let mut process =
        spawn_signals_process("once_run_grpc_server_has_returned_sigterm_acts_as_before", "fail to start");
    process.wait_for("RETURNED true");
    process.terminate();
    let pid = i32::try_from(process.child.id()).expect("a pid");
    assert!(wait_until_gone(pid, Duration::from_secs(20)), "SIGTERM was ignored after run_grpc_server returned");
    let status = process.child.wait().expect("the ended process's status");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "the default action ends the process: {status:?}");
}

#[test]
fn a_server_and_its_client_come_apart_at_once_in_either_order() {
    // The gRPC core's thread pool used to sleep out a second before it let a stop finish, in
    // about one round of twenty. A round is a few milliseconds; half a second is far more
    // than any round needs, and half of the stall that was.
    let mut rounds = Vec::new();
    for round in 0..60 {
        let server = start(conf(vec![greeter(|req, _| Ok(reply(req.name.to_owned())))]));
        let client = client(&server);
        assert_eq!(say_hello(&client, "x").unwrap(), "x");
        let started = std::time::Instant::now();
        if round % 2 == 0 {
            drop(client);
            server.shutdown();
        } else {
            server.shutdown();
            drop(client);
        }
        rounds.push(started.elapsed());
    }
    let slowest = rounds.iter().max().copied().unwrap_or_default();
    println!("60 rounds of call, stop and drop: slowest {slowest:?}");
    assert!(slowest < Duration::from_millis(500), "a stop or a drop waited: {rounds:?}");
}

#[test]
fn a_dropped_server_leaves_a_view_that_ignores_cancellation_to_finish_on_its_own() {
    let (started_tx, started) = crossbeam_channel::unbounded();
    let (open, gate) = crossbeam_channel::unbounded::<()>();
    let (returned_tx, returned) = crossbeam_channel::unbounded();
    let stuck = Held { started: started_tx, gate, returned: Some(returned_tx) };
    let server =
        start(conf(vec![a3grpc::Servicer::new().server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, stuck)]));
    let client = client(&server);
    let call = thread::spawn(move || {
        let replies =
            client.server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, &request("x"), &a3grpc::CallOptions::new());
        replies.unwrap().collect::<Result<Vec<_>, _>>()
    });
    started.recv().unwrap();
    let dropping = std::time::Instant::now();
    drop(server);
    println!("a drop with a View that ignores cancellation took {:?}", dropping.elapsed());
    assert!(returned.try_recv().is_err(), "the drop returned while the View still ran");
    assert_eq!(call.join().unwrap().unwrap_err().code(), Some(Code::UNAVAILABLE));
    drop(open);
    returned.recv().unwrap();
}

/// A watch stream: one "tick", then nothing until the server begins to stop, then "bye".
struct Watch;

impl a3grpc::ServerStreamingView for Watch {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(
        &self,
        _: HelloRequest,
        out: &mut a3grpc::Responses<HelloReply>,
        ctx: &mut a3grpc::Context,
    ) -> Result<(), a3grpc::A3Error> {
        out.send(reply("tick".into()))?;
        assert!(!ctx.is_stopping());
        if ctx.wait_stopping(Duration::from_secs(600)) && ctx.is_stopping() {
            out.send(reply("bye".into()))?;
        }
        Ok(())
    }
}

#[test]
fn a_stream_that_watches_for_the_stop_ends_itself_with_ok_inside_the_grace_period() {
    // Were the View not woken when the stop begins, it would be cut off when the 60 s grace
    // period is over and the client would see UNAVAILABLE, not "bye" and OK.
    let servicer = a3grpc::Servicer::new().server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, Watch);
    let server = start(conf(vec![servicer]).graceful_shutdown(Duration::from_secs(60)));
    let client = client(&server);
    let mut replies =
        client.server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, &request("w"), &Default::default()).unwrap();
    assert_eq!(replies.next().unwrap().unwrap().message, "tick");
    let stopping = thread::spawn(move || server.shutdown());
    let rest: Vec<String> = replies.map(|r| r.map(|r| r.message)).collect::<Result<_, _>>().unwrap();
    assert_eq!(rest, ["bye"]);
    stopping.join().unwrap();
}
