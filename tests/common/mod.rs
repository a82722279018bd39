//! What the integration tests share: the hello-world service, a closure View, servers on
//! free ports, and real peer processes (our examples, Python a3grpc) read line by line.
#![allow(dead_code)]

pub use a3grpc_examples::hello;
pub use a3grpc_examples::python as python_peers;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use a3grpc::client::{ClientBuilder, RetryPolicy};
use a3grpc::{A3Error, BaseClient, Conf, Context, Server, Servicer, UnaryView};
#[allow(unused_imports)]
pub use hello::{reply, request};
pub use hello::{HelloReply, HelloRequest, METHOD_GREETER_SAY_HELLO};
#[allow(unused_imports)]
pub use python_peers::{hello_world_stubs, repo_root, venv};

/// A unary Greeter View made from a closure, so each test states its behaviour inline.
pub struct FnView<F>(pub F);

impl<F> UnaryView for FnView<F>
where
    F: Fn(HelloRequest, &mut Context) -> Result<HelloReply, A3Error> + Send + Sync + 'static,
{
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(&self, request: HelloRequest, ctx: &mut Context) -> Result<HelloReply, A3Error> {
        (self.0)(request, ctx)
    }
}

/// A Greeter Servicer whose `say_hello` is `f`.
pub fn greeter<F>(f: F) -> Servicer
where
    F: Fn(HelloRequest, &mut Context) -> Result<HelloReply, A3Error> + Send + Sync + 'static,
{
    Servicer::new().unary(&METHOD_GREETER_SAY_HELLO, FnView(f))
}

/// A server stream that sends "first", says it has started, then waits for its gate,
/// whatever happens to its call meanwhile, and says when it returns.
pub struct Held {
    pub started: crossbeam_channel::Sender<()>,
    pub gate: crossbeam_channel::Receiver<()>,
    pub returned: Option<crossbeam_channel::Sender<()>>,
}

impl a3grpc::ServerStreamingView for Held {
    type Request = HelloRequest;
    type Response = HelloReply;
    fn handle(&self, _: HelloRequest, out: &mut a3grpc::Responses<HelloReply>, _: &mut Context) -> Result<(), A3Error> {
        out.send(reply("first".into()))?;
        self.started.send(()).unwrap();
        let _ = self.gate.recv();
        if let Some(returned) = &self.returned {
            returned.send(()).unwrap();
        }
        Ok(())
    }
}

/// A conf on a free loopback port.
pub fn conf(servicers: Vec<Servicer>) -> Conf {
    Conf::new("127.0.0.1", 0, servicers)
}

pub fn start(conf: Conf) -> Server {
    Server::start(conf).expect("server starts")
}

/// A client of `server` that does not retry, so tests see each failure as it is.
pub fn client_of(server: &Server) -> ClientBuilder {
    BaseClient::builder("127.0.0.1", server.port()).retry(RetryPolicy::never())
}

pub fn client(server: &Server) -> BaseClient {
    client_of(server).build().expect("client builds")
}

pub fn say_hello(client: &BaseClient, name: &str) -> Result<String, a3grpc::Error> {
    client.call(&METHOD_GREETER_SAY_HELLO, &request(name)).map(|r| r.message.to_owned())
}

/// The folder cargo builds the examples into, next to this test binary's `deps`.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target profile folder");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --release`, which builds the examples",
        path.display()
    );
    path
}

/// A child process whose stdout and stderr lines arrive on one channel.
pub struct Peer {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    claimed: std::collections::HashSet<usize>,
}

impl Peer {
    pub fn spawn(mut command: Command) -> Peer {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let (tx, lines) = mpsc::channel();
        forward(child.stdout.take().expect("piped stdout"), tx.clone());
        forward(child.stderr.take().expect("piped stderr"), tx);
        Peer { child, lines, seen: Vec::new(), claimed: Default::default() }
    }

    /// Waits for a line containing `needle` (or finds one already printed) and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?} from the peer; it printed:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits for a line containing `needle` that was not returned before, even if an earlier
    /// one matched.
    pub fn wait_for_new(&mut self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let fresh = (0..self.seen.len()).find(|i| !self.claimed.contains(i) && self.seen[*i].contains(needle));
            if let Some(i) = fresh {
                self.claimed.insert(i);
                return self.seen[i].clone();
            }
            match self.lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no new line with {needle:?} from the peer; it printed:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits for a line containing `needle` immediately followed by a port number, e.g.
    /// `listening on 127.0.0.1:` or `PORT `, and returns that port.
    pub fn port(&mut self, needle: &str) -> u16 {
        let line = self.wait_for(needle);
        let at = line.find(needle).expect("needle in line") + needle.len();
        let digits: String = line[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or_else(|_| panic!("no port after {needle:?} in {line:?}"))
    }

    /// Writes a line to the process's stdin.
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{line}").and_then(|_| stdin.flush()).expect("write to child stdin");
    }

    /// Sends SIGTERM, as a process manager stopping the service would.
    pub fn terminate(&self) {
        let pid = i32::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid}");
    }

    /// Waits for the process to exit and returns its status, with everything it printed.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("wait for child");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// The venv python with grpcio 1.70, grpcio-tools and a3grpc 0.3.0, made by `scripts/test.sh`.
pub fn python() -> PathBuf {
    let python = venv().join("bin/python");
    assert!(
        python.exists(),
        "no Python venv at {}: run `bash scripts/test.sh`, which creates it (or set A3GRPC_VENV)",
        venv().display()
    );
    python
}

/// Python stubs for examples/proto/hello_world.proto, generated once per test binary.
pub fn python_stubs() -> &'static Path {
    static STUBS: OnceLock<tempfile::TempDir> = OnceLock::new();
    STUBS.get_or_init(|| hello_world_stubs().unwrap_or_else(|e| panic!("{e}"))).path()
}

/// A Python script from tests/python, run with the stubs on its path.
pub fn python_script(name: &str) -> Command {
    let mut command = Command::new(python());
    command
        .arg(repo_root().join("tests/python").join(name))
        .env("PYTHONPATH", python_stubs())
        .env("PYTHONUNBUFFERED", "1");
    command
}

/// A throwaway PKI for TLS tests, made at run time: a CA, a server certificate for
/// `server_names`, a client certificate, and an unrelated second CA.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new(server_names: &[&str]) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, pem: String| std::fs::write(dir.path().join(name), pem).expect("write PEM");
        let ca = |cn: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        };
        let authority = ca("a3grpc test CA");
        write("ca.pem", authority.pem());
        write("other-ca.pem", ca("unrelated CA").pem());
        let names: Vec<String> = server_names.iter().map(|n| n.to_string()).collect();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(names).unwrap().signed_by(&server_key, &authority).unwrap();
        write("server.pem", server.pem());
        write("server.key", server_key.serialize_pem());
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params.distinguished_name.push(DnType::CommonName, "a3grpc test client");
        let client = client_params.signed_by(&client_key, &authority).unwrap();
        write("client.pem", client.pem());
        write("client.key", client_key.serialize_pem());
        Pki { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

/// The example server (`examples/server.rs`) started with a TOML conf on a free port: the
/// original's keys, plus `extra` lines.
pub struct ExampleServer {
    pub peer: Peer,
    pub port: u16,
    /// Holds the conf file, which multi-process workers read again.
    pub dir: tempfile::TempDir,
}

pub fn example_server(extra: &str) -> ExampleServer {
    example_server_with(extra, |_| {})
}

/// `example_server`, its command first shaped by `configure` (its environment, its limits).
pub fn example_server_with(extra: &str, configure: impl FnOnce(&mut Command)) -> ExampleServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("conf.toml");
    let text =
        format!("host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"app.mappings.servicer_mappings\"\n{extra}");
    std::fs::write(&conf, text).expect("write conf");
    let mut command = Command::new(example("server"));
    command.arg(&conf);
    configure(&mut command);
    let mut peer = Peer::spawn(command);
    let port = peer.port("listening on 127.0.0.1:");
    ExampleServer { peer, port, dir }
}

/// The samples of a Prometheus text exposition, by name and labels.
pub fn prometheus_samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| Some((k.to_owned(), v.parse().ok()?))))
        .collect()
}

/// `GET http://127.0.0.1:<port>/metrics` with Python's urllib: the Content-Type, then the body.
pub fn scrape_metrics(port: u16) -> (String, String) {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let script = "import sys, urllib.request; r = urllib.request.urlopen(sys.argv[1]); \
                  print(r.headers['Content-Type']); print(r.read().decode())";
    let out = Command::new(python()).args(["-c", script, &url]).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (content_type, body) = text.split_once('\n').unwrap_or((&text, ""));
    (content_type.to_owned(), body.to_owned())
}

/// Calls of every kind on the hello-world Greeter, for the metrics tests: three greetings and
/// two `ServerKnownError`s, a client stream of 4, a server stream of 3, a bidi stream of 2.
pub fn call_every_kind(client: &BaseClient) {
    use hello::{
        METHOD_GREETER_SAY_HELLO_BIDI_STREAM as BIDI, METHOD_GREETER_SAY_HELLO_STREAM_REPLY as SERVER_STREAM,
        METHOD_GREETER_SAY_STREAM_HELLO_REPLY as CLIENT_STREAM,
    };
    let none = a3grpc::CallOptions::new();
    for name in ["a", "b", "c"] {
        say_hello(client, name).unwrap();
    }
    for _ in 0..2 {
        say_hello(client, "error").unwrap_err();
    }
    client.client_streaming(&CLIENT_STREAM, ["1", "2", "3", "4"].map(request), &none).unwrap();
    assert_eq!(client.server_streaming(&SERVER_STREAM, &request("s"), &none).unwrap().count(), 3);
    let (mut requests, replies) = client.bidi(&BIDI, &none).unwrap();
    requests.send(request("x")).unwrap();
    requests.send(request("y")).unwrap();
    requests.finish();
    assert_eq!(replies.count(), 2);
}

/// Checks the `grpc_<side>_*` samples after [`call_every_kind`], exactly.
pub fn assert_every_kind_counted(samples: &std::collections::HashMap<String, f64>, side: &str) {
    let get = |key: String| samples.get(&key).copied().unwrap_or_else(|| panic!("no sample {key}"));
    // (method, kind, started, OK, messages in, messages out) as the server sees them.
    let calls = [
        ("say_hello", "unary", 5.0, 3.0, 5.0, 3.0),
        ("say_stream_hello_reply", "client_stream", 1.0, 1.0, 4.0, 1.0),
        ("say_hello_stream_reply", "server_stream", 1.0, 1.0, 1.0, 3.0),
        ("say_hello_bidi_stream", "bidi_stream", 1.0, 1.0, 2.0, 2.0),
    ];
    for (method, kind, started, ok, to_server, from_server) in calls {
        let labels = format!(r#"grpc_method="{method}",grpc_service="Greeter",grpc_type="{kind}""#);
        let (received, sent) = if side == "server" { (to_server, from_server) } else { (from_server, to_server) };
        assert_eq!(get(format!("grpc_{side}_started_total{{{labels}}}")), started, "{method}");
        assert_eq!(get(format!(r#"grpc_{side}_handled_total{{a3_error="",grpc_code="OK",{labels}}}"#)), ok);
        assert_eq!(get(format!("grpc_{side}_msg_received_total{{{labels}}}")), received, "{method}");
        assert_eq!(get(format!("grpc_{side}_msg_sent_total{{{labels}}}")), sent, "{method}");
        assert_eq!(get(format!("grpc_{side}_handling_seconds_count{{{labels}}}")), started, "{method}");
    }
    let unary = r#"grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary""#;
    let known = format!(r#"grpc_{side}_handled_total{{a3_error="ServerKnownError",grpc_code="Code(599)",{unary}}}"#);
    assert_eq!(get(known), 2.0);
}

/// Waits up to `timeout` for process `pid` (a child or not) to end, woken by the kernel
/// through a pidfd rather than by polling; `true` if it ended.
#[allow(dead_code)]
pub fn wait_until_gone(pid: i32, timeout: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return true; // no such process: it has ended and been reaped
    }
    let mut ready = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd; the descriptor is ours and closed once.
    let ended = unsafe { libc::poll(&mut ready, 1, millis) } == 1;
    unsafe { libc::close(fd) };
    ended
}

/// The `OUT_DIR` of the build script of the first package whose id `package` accepts, from the
/// output of `cargo build --message-format=json`.
pub fn build_script_out_dir(cargo_stdout: &[u8], package: impl Fn(&str) -> bool) -> PathBuf {
    String::from_utf8_lossy(cargo_stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "build-script-executed")
        .find(|m| m["package_id"].as_str().is_some_and(&package))
        .and_then(|m| m["out_dir"].as_str().map(PathBuf::from))
        .expect("cargo reports the build script")
}

/// What the engine's build script said about the gRPC C core (`a3grpc-core: ...` lines), from
/// the output of `cargo build --message-format=json`.
pub fn engine_core_lines(cargo_stdout: &[u8]) -> Vec<String> {
    let out_dir = build_script_out_dir(cargo_stdout, |id| id.contains("a3grpc-grpcio-sys"));
    let output = std::fs::read_to_string(out_dir.with_file_name("output")).expect("the engine's build output");
    output.lines().filter(|l| l.starts_with("a3grpc-core:")).map(str::to_owned).collect()
}

/// The resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB")
}

/// The number after `name` (e.g. "streams=") in an attacker script's one-line report.
pub fn report_field(report: &str, name: &str) -> u64 {
    report
        .split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

/// The lines logged in this test process under targets `a3grpc*` and `grpcio*` (the core's
/// own messages), as "LEVEL target: message", through a logger installed at the first call
/// (clients and servers route the core's messages to `log` when they start, so call it
/// before starting them).
pub fn logged_lines() -> Vec<String> {
    struct Keep;
    static LINES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    impl log::Log for Keep {
        fn enabled(&self, metadata: &log::Metadata) -> bool {
            metadata.target().starts_with("a3grpc") || metadata.target().starts_with("grpcio")
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                LINES.lock().unwrap().push(format!("{} {}: {}", record.level(), record.target(), record.args()));
            }
        }
        fn flush(&self) {}
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&Keep).unwrap();
        log::set_max_level(log::LevelFilter::Info);
    });
    LINES.lock().unwrap().clone()
}
