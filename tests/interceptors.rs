//! Interceptors around Views and calls: order, rejection, response metadata, settings from a
//! conf file, all four RPC kinds, and a request id that reaches the server's log.

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use a3grpc::client::{ClientInterceptor, RetryPolicy};
use a3grpc::conf::register_interceptor;
use a3grpc::interceptor::{BearerAuth, BearerToken, Interceptor, Outcome, RequestId, RequestIdValue, RequestLog};
use a3grpc::{A3Error, BaseClient, CallOptions, Conf, Context, Error, Server};
use common::hello::{
    METHOD_GREETER_SAY_HELLO_BIDI_STREAM as BIDI, METHOD_GREETER_SAY_HELLO_STREAM_REPLY as SERVER_STREAM,
    METHOD_GREETER_SAY_STREAM_HELLO_REPLY as CLIENT_STREAM,
};
use common::*;

type Log = Arc<Mutex<Vec<String>>>;

/// Records what it sees into a shared log, under its own name.
struct Recorder(&'static str, Log);

impl Interceptor for Recorder {
    fn before(&self, ctx: &mut Context) -> Result<(), A3Error> {
        self.1.lock().unwrap().push(format!("{} before {}", self.0, ctx.method()));
        Ok(())
    }
    fn after(&self, _: &Context, outcome: &Outcome<'_>) {
        let error = outcome.error.map(|e| e.name().to_owned()).unwrap_or_default();
        self.1.lock().unwrap().push(format!("{} after {} {error}", self.0, outcome.code));
    }
    fn refused(&self, ctx: &Context, outcome: &Outcome<'_>) {
        self.1.lock().unwrap().push(format!("{} refused {} {}", self.0, ctx.method(), outcome.code));
    }
}

fn recording_greeter(log: &Log) -> a3grpc::Servicer {
    let log = log.clone();
    servicer_without_say_hello().unary(
        &METHOD_GREETER_SAY_HELLO,
        FnView(move |req: HelloRequest, ctx: &mut Context| {
            log.lock().unwrap().push("view".into());
            let id = ctx.get::<RequestIdValue>().map(|id| id.as_str().to_owned()).unwrap_or_default();
            Ok(reply(format!("Hello {}! {id}", req.name)))
        }),
    )
}

fn servicer_without_say_hello() -> a3grpc::Servicer {
    a3grpc::Servicer::new()
        .client_streaming(&CLIENT_STREAM, hello::CountHellos)
        .server_streaming(&SERVER_STREAM, hello::HelloThreeTimes)
        .bidi(&BIDI, hello::EchoHellos)
}

#[test]
fn the_first_interceptor_is_outermost() {
    let log: Log = Arc::default();
    let servicer = servicer_without_say_hello().unary(&METHOD_GREETER_SAY_HELLO, {
        let log = log.clone();
        FnView(move |_: HelloRequest, _: &mut Context| {
            log.lock().unwrap().push("view".into());
            Ok(reply("hi".into()))
        })
    });
    let server = start(
        conf(vec![servicer]).interceptor(Recorder("outer", log.clone())).interceptor(Recorder("inner", log.clone())),
    );
    say_hello(&client(&server), "x").unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer before /Greeter/say_hello",
            "inner before /Greeter/say_hello",
            "view",
            "inner after OK ",
            "outer after OK "
        ]
    );
}

#[test]
fn a_bearer_token_interceptor_rejects_before_the_view_and_outer_ones_see_it() {
    let log: Log = Arc::default();
    let server = start(
        conf(vec![recording_greeter(&log)])
            .interceptor(Recorder("outer", log.clone()))
            .interceptor(BearerAuth::accepting(["s3cret"])),
    );
    match say_hello(&client(&server), "anonymous") {
        Err(Error::A3(A3Error::AuthenticationFailed(message))) => assert!(message.contains("Bearer"), "{message}"),
        other => panic!("expected AuthenticationFailedError, got {other:?}"),
    }
    assert_eq!(*log.lock().unwrap(), ["outer before /Greeter/say_hello", "outer after 499 AuthenticationFailedError"]);

    let wrong = client_of(&server).interceptor(BearerToken::sending("guess")).build().unwrap();
    assert!(matches!(say_hello(&wrong, "x"), Err(Error::A3(A3Error::AuthenticationFailed(_)))));
    let authorised = client_of(&server).interceptor(BearerToken::sending("s3cret")).build().unwrap();
    assert!(say_hello(&authorised, "friend").unwrap().starts_with("Hello friend!"));
}

#[test]
fn interceptors_wrap_all_four_rpc_kinds() {
    let server = start(conf(vec![hello::greeter_servicer()]).interceptor(BearerAuth::accepting(["t"])));
    let anonymous = client(&server);
    let none = CallOptions::new();
    let rejected = |err: Error| matches!(err, Error::A3(A3Error::AuthenticationFailed(_)));
    assert!(rejected(anonymous.client_streaming(&CLIENT_STREAM, vec![request("a")], &none).unwrap_err()));
    let mut stream = anonymous.server_streaming(&SERVER_STREAM, &request("a"), &none).unwrap();
    assert!(rejected(stream.next().unwrap().unwrap_err()));
    let (_tx, mut replies) = anonymous.bidi(&BIDI, &none).unwrap();
    assert!(rejected(replies.next().unwrap().unwrap_err()));

    let authorised = client_of(&server).interceptor(BearerToken::sending("t")).build().unwrap();
    assert_eq!(
        authorised.client_streaming(&CLIENT_STREAM, vec![request("a")], &none).unwrap().message,
        "Hello 1 times!"
    );
    assert_eq!(authorised.server_streaming(&SERVER_STREAM, &request("a"), &none).unwrap().count(), 3);
    let (mut tx, replies) = authorised.bidi(&BIDI, &none).unwrap();
    tx.send(request("b")).unwrap();
    tx.finish();
    assert_eq!(replies.map(Result::unwrap).count(), 1);
}

/// Captures this test binary's log records.
struct Captured(Mutex<Vec<String>>);

impl log::Log for Captured {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("a3grpc")
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn captured() -> &'static Captured {
    static LOGGER: OnceLock<&'static Captured> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let logger: &'static Captured = Box::leak(Box::new(Captured(Mutex::new(Vec::new()))));
        log::set_logger(logger).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Info);
        logger
    })
}

/// Remembers the result each call ended with, client side.
struct Results(Log);

impl ClientInterceptor for Results {
    fn after(&self, method: &str, result: Result<(), &Error>, _: std::time::Duration) {
        self.0.lock().unwrap().push(format!("{method} {}", if result.is_ok() { "ok" } else { "failed" }));
    }
}

#[test]
fn dropping_a_server_with_nothing_in_flight_warns_of_no_calls_cancelled() {
    let logs = captured();
    let server = start(conf(vec![hello::greeter_servicer()]));
    let name = format!("a3grpc server on 127.0.0.1:{}", server.port());
    assert_eq!(say_hello(&client(&server), "x").unwrap(), "Hello x!");
    drop(server);
    let lines = logs.0.lock().unwrap();
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains(&name)).collect();
    assert!(ours.iter().any(|l| l.ends_with("stopped")), "{ours:?}");
    // Every grace-period warning names its server; none names this one.
    let warned =
        |l: &&String| l.contains("grace period over") && (l.contains(&name) || !l.contains("a3grpc server on"));
    assert!(!lines.iter().any(|l| warned(&l)), "{lines:?}");
}

#[test]
fn a_callers_request_id_that_cannot_travel_back_is_replaced_not_an_error() {
    for refused in ["caf\u{e9}", "a\tb", "bell\u{7}"] {
        let mut ctx = a3grpc::testing::context().header("x-request-id", refused).build();
        Interceptor::before(&RequestId, &mut ctx).expect("the call goes on");
        let id = ctx.get::<RequestIdValue>().expect("an id").as_str().to_owned();
        assert_eq!(id.len(), 16, "a fresh id instead of {refused:?}: {id:?}");
        let sent = a3grpc::testing::headers(&mut ctx);
        assert_eq!(sent, [("x-request-id".to_owned(), id.into_bytes())], "the fresh id is echoed");
    }
    let mut ctx = a3grpc::testing::context().header("x-request-id", "req-42").build();
    Interceptor::before(&RequestId, &mut ctx).unwrap();
    assert_eq!(ctx.get::<RequestIdValue>().unwrap().as_str(), "req-42", "a good id is kept");
}

#[test]
fn a_request_id_flows_from_the_client_into_the_server_log_and_back() {
    let logs = captured();
    let log: Log = Arc::default();
    let server = start(conf(vec![recording_greeter(&log)]).interceptor(RequestId).interceptor(RequestLog));
    let results: Log = Arc::default();
    let client = client_of(&server).interceptor(RequestId).interceptor(Results(results.clone())).build().unwrap();

    let options = CallOptions::new().header("x-request-id", "req-42");
    let (reply, headers) = client.call_with_headers(&METHOD_GREETER_SAY_HELLO, &request("traced"), &options).unwrap();
    assert_eq!(reply.message, "Hello traced! req-42", "the View sees the id");
    assert!(headers.iter().any(|(k, v)| k == "x-request-id" && v == b"req-42"), "echoed: {headers:?}");
    let logged = logs.0.lock().unwrap().clone();
    assert!(
        logged.iter().any(|l| l.contains("/Greeter/say_hello") && l.contains("OK") && l.contains("request_id=req-42")),
        "{logged:?}"
    );

    // Without an id of its own, the client's RequestId makes one.
    let (reply, _) =
        client.call_with_headers(&METHOD_GREETER_SAY_HELLO, &request("fresh"), &CallOptions::new()).unwrap();
    let id = reply.message.trim_start_matches("Hello fresh! ");
    assert_eq!(id.len(), 16, "a generated id: {id:?}");
    assert_eq!(*results.lock().unwrap(), ["/Greeter/say_hello ok", "/Greeter/say_hello ok"]);
}

#[test]
fn conf_files_name_interceptors_with_their_settings() {
    register_interceptor("tests.Recorder", |settings| {
        let label = settings.get("label").and_then(|v| v.as_str()).ok_or("needs `label`")?;
        let label: &'static str = Box::leak(label.to_owned().into_boxed_str());
        Ok(Arc::new(Recorder(label, Arc::default())) as Arc<dyn Interceptor>)
    });
    a3grpc::register_mappings("tests.interceptors.mappings", vec![hello::greeter_servicer()]);
    let base = "host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"tests.interceptors.mappings\"\n";
    let conf = Conf::from_toml_str(&format!(
        "{base}interceptors = [\"a3grpc.RequestId\", {{ name = \"a3grpc.BearerAuth\", tokens = [\"t1\", \"t2\"] }}, {{ name = \"tests.Recorder\", label = \"r\" }}]"
    ))
    .unwrap();
    let server = Server::start(conf).unwrap();
    let client = BaseClient::builder("127.0.0.1", server.port())
        .retry(RetryPolicy::never())
        .interceptor(BearerToken::sending("t2"))
        .build()
        .unwrap();
    assert_eq!(say_hello(&client, "conf").unwrap(), "Hello conf!");
    assert!(matches!(
        say_hello(&client_of(&server).build().unwrap(), "x"),
        Err(Error::A3(A3Error::AuthenticationFailed(_)))
    ));

    let start_err = |interceptors: &str| {
        let conf = Conf::from_toml_str(&format!("{base}interceptors = {interceptors}")).unwrap();
        Server::start(conf).err().expect("rejected").to_string()
    };
    let unknown = start_err("[\"app.Missing\"]");
    assert!(unknown.contains("app.Missing") && unknown.contains("tests.Recorder"), "{unknown}");
    let no_tokens = start_err("[\"a3grpc.RequestLog\", { name = \"a3grpc.BearerToken\" }]");
    assert!(no_tokens.contains("interceptors[1]") && no_tokens.contains("tokens"), "{no_tokens}");
    let bad_setting = start_err("[{ name = \"tests.Recorder\" }]");
    assert!(bad_setting.contains("interceptors[0]") && bad_setting.contains("label"), "{bad_setting}");
    let no_name = Conf::from_toml_str(&format!("{base}interceptors = [{{ tokens = [] }}]")).unwrap_err();
    assert!(no_name.key().starts_with("interceptors[0]"), "{no_name}");
}

#[test]
fn calls_refused_before_any_interceptor_ran_still_reach_them() {
    // One call holds the only slot; the next is over `maximum_concurrent_rpcs`.
    let log: Log = Arc::default();
    let (started_tx, started) = crossbeam_channel::unbounded();
    let (open, gate) = crossbeam_channel::unbounded::<()>();
    let servicer = servicer_without_say_hello().unary(
        &METHOD_GREETER_SAY_HELLO,
        FnView(move |_: HelloRequest, _: &mut Context| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
            Ok(reply("done".into()))
        }),
    );
    let server = start(conf(vec![servicer]).maximum_concurrent_rpcs(1).interceptor(Recorder("rec", log.clone())));
    let holder = client(&server);
    let held = std::thread::spawn(move || say_hello(&holder, "hold"));
    started.recv_timeout(std::time::Duration::from_secs(30)).expect("the first call runs");
    let refused = say_hello(&client(&server), "x").unwrap_err();
    assert_eq!(refused.code(), Some(a3grpc::error::Code::RESOURCE_EXHAUSTED));
    drop(open);
    held.join().unwrap().unwrap();
    let log = log.lock().unwrap();
    assert!(log.contains(&"rec refused /Greeter/say_hello RESOURCE_EXHAUSTED".to_owned()), "{log:?}");
}

#[test]
fn client_interceptors_see_streaming_calls_end() {
    struct Ends(Log);
    impl ClientInterceptor for Ends {
        fn after(&self, method: &str, result: Result<(), &Error>, _: std::time::Duration) {
            self.0.lock().unwrap().push(format!("{method} {}", if result.is_ok() { "ok" } else { "failed" }));
        }
    }
    let server = start(conf(vec![servicer_without_say_hello()]));
    let log: Log = Arc::default();
    let client = client_of(&server).interceptor(Ends(log.clone())).build().unwrap();
    let replies = client.server_streaming(&SERVER_STREAM, &request("x"), &CallOptions::new()).unwrap();
    assert_eq!(replies.count(), 3);
    let (mut sender, responses) = client.bidi(&BIDI, &CallOptions::new()).unwrap();
    sender.send(request("a")).unwrap();
    sender.finish();
    assert_eq!(responses.count(), 1);
    let (_sender, responses) = client.bidi(&BIDI, &CallOptions::new()).unwrap();
    drop(responses);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "/Greeter/say_hello_stream_reply ok",
            "/Greeter/say_hello_bidi_stream ok",
            "/Greeter/say_hello_bidi_stream failed"
        ]
    );
}

#[test]
fn client_interceptors_see_a_streaming_call_that_fails_before_it_starts() {
    let server = start(conf(vec![servicer_without_say_hello()]));
    let log: Log = Arc::default();
    let client = client_of(&server).interceptor(Results(log.clone())).build().unwrap();
    let refused = CallOptions::new().header("bad key", "x");
    assert!(matches!(client.server_streaming(&SERVER_STREAM, &request("x"), &refused), Err(Error::Usage(_))));
    assert!(matches!(client.bidi(&BIDI, &refused), Err(Error::Usage(_))));
    assert_eq!(
        *log.lock().unwrap(),
        ["/Greeter/say_hello_stream_reply failed", "/Greeter/say_hello_bidi_stream failed"]
    );
}

/// Tells the test, call by call, the code its `after` saw.
struct Codes(crossbeam_channel::Sender<String>);

impl Interceptor for Codes {
    fn after(&self, _: &Context, outcome: &Outcome<'_>) {
        let error = outcome.error.map(|e| format!(" {}", e.name())).unwrap_or_default();
        self.0.send(format!("{}{error}", outcome.code)).unwrap();
    }
}

#[test]
fn a_call_whose_deadline_passed_while_its_view_ran_is_reported_as_the_client_saw_it() {
    let (gate_tx, gate) = crossbeam_channel::unbounded::<()>();
    let (codes_tx, codes) = crossbeam_channel::unbounded();
    let servicer = greeter(move |req, ctx| {
        gate.recv().unwrap();
        // The client's deadline fired first and reset the call; the server's own copy of the
        // deadline passes a moment later (the request's transit), and the View returns after.
        while !ctx.deadline_exceeded() {
            std::thread::yield_now();
        }
        match req.name.as_str() {
            "fail" => Err(A3Error::NotFound("gone".into())),
            _ => Ok(reply("too late".into())),
        }
    });
    let server = start(conf(vec![servicer]).interceptor(Codes(codes_tx)));
    let client = client(&server);
    for name in ["ok", "fail"] {
        let late = client.call_with(
            &METHOD_GREETER_SAY_HELLO,
            &request(name),
            &CallOptions::new().timeout(std::time::Duration::from_millis(200)),
        );
        assert_eq!(late.unwrap_err().code(), Some(a3grpc::error::Code::DEADLINE_EXCEEDED));
        // Only now, with the client's answer in, does the View return.
        gate_tx.send(()).unwrap();
        let seen = codes.recv_timeout(std::time::Duration::from_secs(10)).expect("after() ran");
        assert_eq!(seen, "DEADLINE_EXCEEDED", "{name}: the interceptor sees what the client got");
    }
    let metrics = server.metrics_text();
    let deadline = metrics
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total") && l.contains("grpc_code=\"DeadlineExceeded\""))
        .count();
    let ok = metrics
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total") && l.contains("grpc_code=\"OK\""))
        .count();
    assert_eq!((deadline, ok), (1, 0), "the metrics count them as the client saw them:\n{metrics}");
}
