//! The benchmark: a load generator, and a comparison of five servers of the same service
//! driven by it in one run.
//!
//! ```text
//! bench run --target 127.0.0.1:PORT [--kind unary|server|client|bidi] [--connections N]
//!           [--concurrency M] [--payload BYTES] [--sleep] [--messages K] [--seconds S | --calls N]
//! bench compare [--seconds S] [--rounds N] [--out DIR]
//! bench chart [DIR]          (redraws DIR/chart.svg from DIR/results.csv)
//! ```
//!
//! `run` drives one target over N connections with M calls in flight in all and prints
//! progress, calls/s, latency percentiles (HDR histogram) and errors by status.
//!
//! `compare` starts five servers of the same service, pinned to half the CPUs (the load
//! generator gets the other half): the a3grpc bench server (Views on the worker pool), the same
//! with its unary View inline on the I/O threads, the service on raw grpcio handlers (the
//! engine's ceiling), on tonic (async Rust; `bench/tonic`), and Python a3grpc 0.3.0 (needs
//! the test venv, see `scripts/setup.sh --python`). Every scenario runs `--rounds` times
//! (default 3) for `--seconds` (default 3) on each, the servers taking turns, and the table
//! shows medians. It measures the servers' CPU time, thread switches and memory from /proc,
//! prints a table with the ratios a3grpc/raw and a3grpc/Python, and writes `results.md`,
//! `results.csv` and `chart.svg` into the output folder (default `bench/`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a3grpc_examples::hello::{self, *};
use a3grpc_examples::python;
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt, TryStreamExt};
use grpcio::{CallOption, ChannelBuilder, Client, EnvBuilder, WriteFlags};
use hdrhistogram::Histogram;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Unary,
    ServerStream,
    ClientStream,
    Bidi,
}

#[derive(Clone, Debug)]
struct Scenario {
    name: String,
    kind: Kind,
    connections: usize,
    concurrency: usize,
    payload: usize,
    sleep: bool,
    /// Messages per streaming call.
    messages: usize,
}

enum Limit {
    Time(Duration),
    Calls(u64),
}

#[derive(Default)]
struct Report {
    calls: u64,
    messages: u64,
    errors: BTreeMap<String, u64>,
    latency: Option<Histogram<u64>>,
    elapsed: Duration,
}

impl Report {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn message_rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn percentile_us(&self, q: f64) -> f64 {
        self.latency.as_ref().map_or(0.0, |h| h.value_at_quantile(q) as f64)
    }
    fn max_us(&self) -> f64 {
        self.latency.as_ref().map_or(0.0, |h| h.max() as f64)
    }
}

fn request(s: &Scenario) -> HelloRequest {
    match s.kind {
        Kind::ServerStream => hello::request(&format!("{}:{}", s.messages, s.payload)),
        _ if s.sleep => hello::request(&format!("sleep{}", "x".repeat(s.payload.saturating_sub(5)))),
        _ => hello::request(&"x".repeat(s.payload)),
    }
}

/// One call of the scenario, start to end; the number of messages it moved.
async fn one_call(client: &Client, s: &Scenario, req: &HelloRequest) -> Result<u64, grpcio::Error> {
    match s.kind {
        Kind::Unary => {
            client.unary_call_async(&METHOD_GREETER_SAY_HELLO, req, CallOption::default())?.await?;
            Ok(1)
        }
        Kind::ServerStream => {
            let stream = client.server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, req, CallOption::default())?;
            stream.try_fold(0u64, |n, _| async move { Ok(n + 1) }).await
        }
        Kind::ClientStream => {
            let (mut sink, receiver) =
                client.client_streaming(&METHOD_GREETER_SAY_STREAM_HELLO_REPLY, CallOption::default())?;
            let flags = WriteFlags::default().buffer_hint(true);
            let mut items = futures::stream::iter((0..s.messages).map(|_| Ok((req.clone(), flags))));
            sink.send_all(&mut items).await?;
            sink.close().await?;
            receiver.await?;
            Ok(s.messages as u64)
        }
        Kind::Bidi => {
            let (mut sink, receiver) =
                client.duplex_streaming(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, CallOption::default())?;
            let mut items = futures::stream::iter((0..s.messages).map(|_| Ok((req.clone(), WriteFlags::default()))));
            let send = async {
                sink.send_all(&mut items).await?;
                sink.close().await
            };
            let (sent, received) = futures::join!(send, receiver.try_fold(0u64, |n, _| async move { Ok(n + 1) }));
            sent?;
            received
        }
    }
}

fn status_name(err: &grpcio::Error) -> String {
    match err {
        grpcio::Error::RpcFailure(status) => a3grpc::error::Code::new(status.code().into()).to_string(),
        other => other.to_string(),
    }
}

/// Drives `target` with `s` until `limit`, printing progress each second.
fn drive(target: &str, s: &Scenario, limit: &Limit, progress: bool) -> Report {
    let env = Arc::new(EnvBuilder::new().cq_count(2).name_prefix("bench-client").build());
    let started = Instant::now();
    let done_calls = Arc::new(AtomicU64::new(0));
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let merged = Arc::new(Mutex::new(Report::default()));
    let per_connection = (s.concurrency / s.connections).max(1);
    let threads: Vec<_> = (0..s.connections)
        .map(|i| {
            // A local subchannel pool gives every connection its own TCP connection.
            let channel = ChannelBuilder::new(env.clone())
                .use_local_subchannel_pool(true)
                .max_receive_message_len(64 << 20)
                .connect(target);
            let client = Client::new(channel);
            let (s, done_calls, issued, stop, merged) =
                (s.clone(), done_calls.clone(), issued.clone(), stop.clone(), merged.clone());
            let in_flight = per_connection + usize::from(i < s.concurrency % s.connections);
            let max_calls = match limit {
                Limit::Calls(n) => *n,
                Limit::Time(_) => u64::MAX,
            };
            std::thread::spawn(move || {
                let req = request(&s);
                let mut report = Report {
                    latency: Some(Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")),
                    ..Report::default()
                };
                futures::executor::block_on(async {
                    let mut calls = FuturesUnordered::new();
                    let start_one = |calls: &mut FuturesUnordered<_>| {
                        if stop.load(Ordering::Relaxed) || issued.fetch_add(1, Ordering::Relaxed) >= max_calls {
                            return;
                        }
                        let (client, s, req) = (&client, &s, &req);
                        calls.push(async move {
                            let t = Instant::now();
                            (one_call(client, s, req).await, t.elapsed())
                        });
                    };
                    for _ in 0..in_flight {
                        start_one(&mut calls);
                    }
                    while let Some((outcome, took)) = calls.next().await {
                        match outcome {
                            Ok(messages) => {
                                report.calls += 1;
                                report.messages += messages;
                                let us = took.as_micros().clamp(1, 60_000_000) as u64;
                                if let Some(h) = report.latency.as_mut() {
                                    let _ = h.record(us);
                                }
                            }
                            Err(err) => *report.errors.entry(status_name(&err)).or_default() += 1,
                        }
                        done_calls.fetch_add(1, Ordering::Relaxed);
                        start_one(&mut calls);
                    }
                });
                let mut all = merged.lock().expect("report lock");
                all.calls += report.calls;
                all.messages += report.messages;
                for (k, v) in report.errors {
                    *all.errors.entry(k).or_default() += v;
                }
                match (&mut all.latency, report.latency) {
                    (Some(total), Some(h)) => {
                        let _ = total.add(&h);
                    }
                    (slot, h) => *slot = h,
                }
            })
        })
        .collect();

    let mut last = 0;
    loop {
        let finished = threads.iter().all(|t| t.is_finished());
        if finished {
            break;
        }
        if let Limit::Time(d) = limit {
            if started.elapsed() >= *d {
                stop.store(true, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let now = done_calls.load(Ordering::Relaxed);
        if progress
            && started.elapsed().as_millis() / 1000
                != (started.elapsed() - Duration::from_millis(100)).as_millis() / 1000
        {
            eprint!(
                "\r  {:>5.1}s  {now:>9} calls  {:>9.0} calls/s   ",
                started.elapsed().as_secs_f64(),
                (now - last) as f64
            );
            last = now;
        }
    }
    if progress {
        eprintln!();
    }
    for t in threads {
        let _ = t.join();
    }
    let mut report = std::mem::take(&mut *merged.lock().expect("report lock"));
    report.elapsed = started.elapsed();
    report
}

fn print_report(s: &Scenario, r: &Report) {
    println!(
        "{}: {} calls in {:.2?} = {:.0} calls/s ({:.0} msgs/s); latency p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs; errors {:?}",
        s.name,
        r.calls,
        r.elapsed,
        r.rate(),
        r.message_rate(),
        r.percentile_us(0.5),
        r.percentile_us(0.9),
        r.percentile_us(0.99),
        r.max_us(),
        r.errors
    );
}

// ---- servers the comparison starts ----

struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    fn start(mut command: Command, needle: &str) -> Result<ServerProcess, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let line = rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
                .map_err(|_| "the server did not report its port".to_owned())?;
            if let Some(at) = line.find(needle) {
                let digits: String = line[at + needle.len()..].chars().take_while(char::is_ascii_digit).collect();
                let port = digits.parse().map_err(|_| format!("no port in {line:?}"))?;
                return Ok(ServerProcess { child, port });
            }
        }
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds so far, from /proc.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<f64>().ok()).sum();
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        ticks / hz
    }

    /// Context switches (voluntary and not) of all the server's threads so far, from /proc.
    fn context_switches(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else { return 0 };
        let field = |status: &Path, name| status_field(status, name);
        tasks
            .flatten()
            .map(|task| task.path().join("status"))
            .map(|status| field(&status, "voluntary_ctxt_switches:") + field(&status, "nonvoluntary_ctxt_switches:"))
            .sum()
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
    fn memory_kib(&self, field: &str) -> u64 {
        status_field(Path::new(&format!("/proc/{}/status", self.pid())), field)
    }
}

/// The number after `name` in a `/proc/.../status` file (0 if it cannot be read).
fn status_field(status: &Path, name: &str) -> u64 {
    std::fs::read_to_string(status)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn examples_dir() -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default()
}

fn venv_python() -> PathBuf {
    python::venv().join("bin/python")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    A3,
    A3Inline,
    Raw,
    Tonic,
    Python,
}

/// The servers `compare` runs, in the order of the table's columns.
const SERVERS: [Server; 5] = [Server::A3, Server::A3Inline, Server::Raw, Server::Tonic, Server::Python];

impl Server {
    fn label(self) -> &'static str {
        match self {
            Server::A3 => "a3grpc",
            Server::A3Inline => "a3grpc inline",
            Server::Raw => "raw grpcio",
            Server::Tonic => "tonic",
            Server::Python => "Python a3grpc",
        }
    }

    /// Short name for table headers.
    fn short(self) -> &'static str {
        match self {
            Server::A3 => "a3",
            Server::A3Inline => "inline",
            Server::Raw => "raw",
            Server::Tonic => "tonic",
            Server::Python => "Py",
        }
    }

    /// Its name in `results.csv`.
    fn key(self) -> &'static str {
        match self {
            Server::A3 => "a3grpc",
            Server::A3Inline => "a3grpc_inline",
            Server::Raw => "raw_grpcio",
            Server::Tonic => "tonic",
            Server::Python => "python_a3grpc",
        }
    }

    fn from_key(key: &str) -> Option<Server> {
        SERVERS.into_iter().find(|s| s.key() == key)
    }

    fn color(self) -> plotters::style::RGBColor {
        use plotters::style::RGBColor;
        match self {
            Server::A3 => RGBColor(31, 119, 180),
            Server::A3Inline => RGBColor(44, 160, 44),
            Server::Raw => RGBColor(127, 127, 127),
            Server::Tonic => RGBColor(148, 103, 189),
            Server::Python => RGBColor(255, 127, 14),
        }
    }

    fn start(self, stubs: &Path) -> Result<ServerProcess, String> {
        let bench_server = |mode: &str| {
            let mut command = Command::new(examples_dir().join("bench_server"));
            command.args(["--mode", mode, "--workers", "16"]);
            ServerProcess::start(command, "listening on 127.0.0.1:")
        };
        match self {
            Server::A3 => bench_server("a3"),
            Server::A3Inline => bench_server("a3-inline"),
            Server::Raw => bench_server("raw"),
            Server::Tonic => {
                // Built by scripts/bench.sh from bench/tonic, next to the examples folder.
                let binary = examples_dir().parent().unwrap_or(Path::new(".")).join("bench_server_tonic");
                if !binary.exists() {
                    return Err(format!(
                        "{} is missing: run scripts/bench.sh, which builds bench/tonic",
                        binary.display()
                    ));
                }
                ServerProcess::start(Command::new(binary), "listening on 127.0.0.1:")
            }
            Server::Python => {
                let mut command = Command::new(venv_python());
                command
                    .arg(python::repo_root().join("tests/python/bench_server.py"))
                    .env("PYTHONPATH", stubs)
                    .env("PYTHONUNBUFFERED", "1");
                ServerProcess::start(command, "PORT ")
            }
        }
    }
}

fn scenarios() -> Vec<Scenario> {
    let unary = |name: &str, connections, concurrency, payload, sleep| Scenario {
        name: name.into(),
        kind: Kind::Unary,
        connections,
        concurrency,
        payload,
        sleep,
        messages: 1,
    };
    let stream = |name: &str, kind, concurrency, messages| Scenario {
        name: name.into(),
        kind,
        connections: 1,
        concurrency,
        payload: 16,
        sleep: false,
        messages,
    };
    vec![
        unary("unary 16 B, c=1, 1 conn", 1, 1, 16, false),
        unary("unary 16 B, c=16, 1 conn", 1, 16, 16, false),
        unary("unary 16 B, c=256, 1 conn", 1, 256, 16, false),
        unary("unary 16 B, c=16, 8 conns", 8, 16, 16, false),
        unary("unary 16 B, c=256, 8 conns", 8, 256, 16, false),
        unary("unary 64 KiB, c=16, 1 conn", 1, 16, 64 << 10, false),
        unary("unary 1 ms View, c=64, 8 conns", 8, 64, 16, true),
        stream("server stream 16 B x 1000, c=4", Kind::ServerStream, 4, 1000),
        stream("client stream 16 B x 1000, c=4", Kind::ClientStream, 4, 1000),
        stream("bidi 16 B x 1000, c=4", Kind::Bidi, 4, 1000),
    ]
}

struct Row {
    scenario: String,
    /// One per server that ran it.
    results: Vec<(Server, Measured)>,
}

impl Row {
    fn of(&self, server: Server) -> Option<&Measured> {
        self.results.iter().find(|(s, _)| *s == server).map(|(_, m)| m)
    }
}

/// One server in one scenario. "Unit" is a call for unary scenarios, a message for streaming.
#[derive(Clone, Copy)]
struct Measured {
    rate: f64,
    p99_us: f64,
    /// Server CPU time (user + system) per unit.
    cpu_us: f64,
    /// Server threads put to sleep or preempted per unit: the price of each hand-off
    /// between threads, which is what separates a pool of workers from handlers on the I/O
    /// threads.
    switches: f64,
    errors: u64,
}

/// RSS of an idle server, with 1,000 idle connections, and with 10,000 in-flight streams.
fn memory_profile(server: &ServerProcess) -> (u64, u64, u64) {
    let target = server.target();
    let idle = server.memory_kib("VmRSS");
    let env = Arc::new(EnvBuilder::new().cq_count(2).build());
    let clients: Vec<Client> = (0..1000)
        .map(|_| Client::new(ChannelBuilder::new(env.clone()).use_local_subchannel_pool(true).connect(&target)))
        .collect();
    for client in &clients {
        let _ = client.unary_call(&METHOD_GREETER_SAY_HELLO, &hello::request("x"), CallOption::default());
    }
    std::thread::sleep(Duration::from_millis(500));
    let connections = server.memory_kib("VmRSS");
    drop(clients);
    let client = Client::new(ChannelBuilder::new(env).use_local_subchannel_pool(true).connect(&target));
    let open: Vec<_> = (0..10_000)
        .filter_map(|_| client.duplex_streaming(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, CallOption::default()).ok())
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let streams = server.memory_kib("VmRSS");
    drop(open);
    (idle, connections, streams)
}

fn compare(seconds: f64, rounds: usize, out: &Path) -> Result<(), String> {
    let stubs = python::hello_world_stubs()?;
    let servers = SERVERS;
    let plan = scenarios();
    let (server_cpus, client_cpus) = split_cpus();
    // The servers get their own CPUs (inherited at spawn) and the load generator the rest, so
    // they do not compete and the numbers measure the servers. All run side by side (an idle
    // server costs nothing) and take turns in every scenario, round after round: drift in the
    // machine's speed then hits them alike instead of whichever ran during it.
    pin(&server_cpus);
    let started: Vec<_> = servers.iter().map(|server| server.start(stubs.path())).collect();
    pin(&client_cpus);
    let processes = started.into_iter().collect::<Result<Vec<_>, _>>()?;
    for process in &processes {
        // Warm-up: connections, thread pools and caches.
        drive(&process.target(), &plan[1], &Limit::Time(Duration::from_millis(500)), false);
    }
    let mut rows = Vec::new();
    for s in &plan {
        let mut samples = vec![Vec::new(); servers.len()];
        for round in 1..=rounds {
            for ((server, process), samples) in servers.iter().zip(&processes).zip(&mut samples) {
                eprintln!("== {} on {} (round {round}/{rounds})", s.name, server.label());
                samples.push(measure(process, s, seconds));
            }
        }
        let results = servers.iter().zip(&samples).map(|(server, samples)| (*server, median(samples))).collect();
        rows.push(Row { scenario: s.name.clone(), results });
    }
    let mut memory = Vec::new();
    for (server, process) in servers.iter().zip(&processes) {
        let (idle, connections, streams) = memory_profile(process);
        memory.push((server.label(), idle, connections, streams, process.memory_kib("VmHWM")));
    }
    let table = render(&rows, &memory, &format!("{rounds} rounds of {seconds} s"), &(server_cpus, client_cpus));
    println!("\n{table}");
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    std::fs::write(out.join("results.md"), &table).map_err(|e| e.to_string())?;
    std::fs::write(out.join("results.csv"), csv(&rows)).map_err(|e| e.to_string())?;
    chart(&rows, &out.join("chart.svg"))?;
    eprintln!("wrote {}/results.md, results.csv and chart.svg", out.display());
    Ok(())
}

/// One scenario against one server, with the server's CPU time and thread switches.
fn measure(process: &ServerProcess, s: &Scenario, seconds: f64) -> Measured {
    let (cpu, switches) = (process.cpu_seconds(), process.context_switches());
    let report = drive(&process.target(), s, &Limit::Time(Duration::from_secs_f64(seconds)), true);
    let (cpu, switches) = (process.cpu_seconds() - cpu, process.context_switches() - switches);
    print_report(s, &report);
    let streaming = s.kind != Kind::Unary;
    let (rate, units) =
        if streaming { (report.message_rate(), report.messages) } else { (report.rate(), report.calls) };
    let units = units.max(1) as f64;
    Measured {
        rate,
        p99_us: report.percentile_us(0.99),
        cpu_us: cpu * 1e6 / units,
        switches: switches as f64 / units,
        errors: report.errors.values().sum(),
    }
}

/// Each figure's median over the rounds (errors are summed: any is one too many).
fn median(samples: &[Measured]) -> Measured {
    let mid = |f: fn(&Measured) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    Measured {
        rate: mid(|m| m.rate),
        p99_us: mid(|m| m.p99_us),
        cpu_us: mid(|m| m.cpu_us),
        switches: mid(|m| m.switches),
        errors: samples.iter().map(|m| m.errors).sum(),
    }
}

/// Half the CPUs for the server, the other half for the load generator (all of them for both
/// on a one-CPU machine).
fn split_cpus() -> (Vec<usize>, Vec<usize>) {
    let cpus: Vec<usize> = (0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).collect();
    if cpus.len() < 2 {
        return (cpus.clone(), cpus);
    }
    let (client, server) = cpus.split_at(cpus.len() / 2);
    (server.to_vec(), client.to_vec())
}

/// Restricts this process (and what it spawns from now on) to `cpus`.
fn pin(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads it; pid 0 is this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn render(rows: &[Row], memory: &[(&str, u64, u64, u64, u64)], runs: &str, cpus: &(Vec<usize>, Vec<usize>)) -> String {
    let mut t = String::new();
    let (server_cpus, client_cpus) = cpus;
    let mut all: Vec<usize> = server_cpus.iter().chain(client_cpus).copied().collect();
    all.sort_unstable();
    all.dedup();
    let _ = writeln!(
        t,
        "Machine: {} CPUs, {}; servers pinned to CPUs {server_cpus:?}, load generator to CPUs {client_cpus:?}; \
         each scenario ran {runs} per server, the servers taking turns; figures are medians.\n",
        all.len(),
        kernel()
    );
    let _ = writeln!(t, "Throughput is calls/s for unary scenarios, messages/s for streaming ones.\n");
    let shorts = SERVERS.map(Server::short).join(", ");
    let _ = writeln!(
        t,
        "| scenario | {} | a3/raw | inline/raw | tonic/raw | a3/Python | {} | p99 a3/raw | p99 inline/raw | p99 tonic/raw | server CPU µs per unit ({shorts}) | thread switches per unit ({shorts}) | errors ({shorts}) |",
        SERVERS.map(|s| format!("{} /s", s.label())).join(" | "),
        SERVERS.map(|s| format!("p99 {} µs", s.short())).join(" | "),
    );
    let columns = "---:|".repeat(SERVERS.len());
    let _ = writeln!(t, "|---|{columns}---:|---:|---:|---:|{columns}---:|---:|---:|---|---|---|");
    let missing = Measured { rate: f64::NAN, p99_us: f64::NAN, cpu_us: f64::NAN, switches: f64::NAN, errors: 0 };
    for row in rows {
        let m = |server| *row.of(server).unwrap_or(&missing);
        let [a3, inline, raw, tonic, py] = SERVERS.map(m);
        let list = |f: fn(&Measured) -> String| SERVERS.map(|s| f(&m(s))).join(", ");
        let _ = writeln!(
            t,
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            row.scenario,
            SERVERS.map(|s| format!("{:.0}", m(s).rate)).join(" | "),
            a3.rate / raw.rate.max(1e-9),
            inline.rate / raw.rate.max(1e-9),
            tonic.rate / raw.rate.max(1e-9),
            a3.rate / py.rate.max(1e-9),
            SERVERS.map(|s| format!("{:.0}", m(s).p99_us)).join(" | "),
            a3.p99_us / raw.p99_us.max(1e-9),
            inline.p99_us / raw.p99_us.max(1e-9),
            tonic.p99_us / raw.p99_us.max(1e-9),
            list(|r| format!("{:.1}", r.cpu_us)),
            list(|r| format!("{:.2}", r.switches)),
            list(|r| r.errors.to_string()),
        );
    }
    let _ = writeln!(t, "\nA unit is a call (unary) or a message (streaming).");
    let _ = writeln!(t, "\n| server memory (RSS) | idle | 1,000 idle connections | 10,000 in-flight streams | peak |");
    let _ = writeln!(t, "|---|---:|---:|---:|---:|");
    for (label, idle, conns, streams, peak) in memory {
        let _ = writeln!(
            t,
            "| {label} | {:.1} MiB | {:.1} MiB ({:.1} KiB/conn) | {:.1} MiB ({:.2} KiB/call) | {:.1} MiB |",
            *idle as f64 / 1024.0,
            *conns as f64 / 1024.0,
            conns.saturating_sub(*idle) as f64 / 1000.0,
            *streams as f64 / 1024.0,
            streams.saturating_sub(*idle) as f64 / 10_000.0,
            *peak as f64 / 1024.0
        );
    }
    t
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| format!("Linux {}", s.trim())).unwrap_or_default()
}

fn csv(rows: &[Row]) -> String {
    let mut t =
        String::from("scenario,server,throughput_per_s,p99_us,server_cpu_us_per_unit,switches_per_unit,errors\n");
    for row in rows {
        for (server, r) in &row.results {
            let _ = writeln!(
                t,
                "\"{}\",{},{:.1},{:.1},{:.2},{:.3},{}",
                row.scenario,
                server.key(),
                r.rate,
                r.p99_us,
                r.cpu_us,
                r.switches,
                r.errors
            );
        }
    }
    t
}

/// Throughput and p99 per scenario for each server, relative to raw grpcio (= 1).
fn chart(rows: &[Row], path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let height = 120 + rows.len() as u32 * 60;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(550);
    // The servers in these results, in the table's order.
    let servers: Vec<Server> = SERVERS.into_iter().filter(|s| rows.iter().any(|row| row.of(*s).is_some())).collect();
    let per_scenario = servers.len() as i32 + 1;
    for (area, title, pick) in [
        (&left, "throughput vs raw grpcio (higher is better)", 0usize),
        (&right, "p99 latency vs raw grpcio (lower is better)", 1usize),
    ] {
        let value = |r: &Measured, raw: &Measured| {
            if pick == 0 {
                r.rate / raw.rate.max(1e-9)
            } else {
                r.p99_us / raw.p99_us.max(1e-9)
            }
        };
        let relative = |row: &Row, server: Server| Some(value(row.of(server)?, row.of(Server::Raw)?));
        let max = rows
            .iter()
            .flat_map(|row| servers.iter().filter_map(move |s| relative(row, *s)))
            .fold(1.0f64, f64::max)
            .min(50.0);
        // A slot a server and one for the gap in each scenario; the name sits by the second bar.
        let slots = rows.len() as i32 * per_scenario;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(220)
            .build_cartesian_2d(0f64..max * 1.1, 0i32..slots)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(slots as usize + 1)
            .y_label_formatter(&|y| match (*y % per_scenario, rows.get((*y / per_scenario) as usize)) {
                (1, Some(row)) => row.scenario.clone(),
                _ => String::new(),
            })
            .draw()
            .map_err(|e| err(&e))?;
        for (i, server) in servers.iter().enumerate() {
            let color = server.color();
            let bars = rows.iter().enumerate().filter_map(|(j, row)| {
                let y = j as i32 * per_scenario + per_scenario - 2 - i as i32;
                let v = relative(row, *server)?.min(max * 1.1);
                Some(Rectangle::new([(0.0, y), (v, y + 1)], color.filled()))
            });
            chart
                .draw_series(bars)
                .map_err(|e| err(&e))?
                .label(server.label())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

/// Reads rows back from a `results.csv` written by `compare`.
fn read_csv(path: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows: Vec<Row> = Vec::new();
    for line in text.lines().skip(1) {
        let (scenario, rest) =
            line.strip_prefix('"').and_then(|l| l.split_once("\",")).ok_or_else(|| format!("bad line {line:?}"))?;
        let fields: Vec<&str> = rest.split(',').collect();
        let server = fields.first().and_then(|key| Server::from_key(key)).ok_or(format!("bad server in {line:?}"))?;
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).ok_or(format!("bad line {line:?}"));
        let result = Measured {
            rate: number(1)?,
            p99_us: number(2)?,
            cpu_us: number(3)?,
            switches: number(4)?,
            errors: number(5)? as u64,
        };
        match rows.last_mut() {
            Some(row) if row.scenario == scenario => row.results.push((server, result)),
            _ => rows.push(Row { scenario: scenario.to_owned(), results: vec![(server, result)] }),
        }
    }
    Ok(rows)
}

fn parse_run(args: &[String]) -> Result<(String, Scenario, Limit), String> {
    let mut target = None;
    let mut s = Scenario {
        name: "run".into(),
        kind: Kind::Unary,
        connections: 1,
        concurrency: 1,
        payload: 16,
        sleep: false,
        messages: 100,
    };
    let mut limit = Limit::Time(Duration::from_secs(5));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--sleep" {
            s.sleep = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|_| format!("{flag} takes a number"));
        match flag.as_str() {
            "--target" => target = Some(value.clone()),
            "--kind" => {
                s.kind = match value.as_str() {
                    "unary" => Kind::Unary,
                    "server" => Kind::ServerStream,
                    "client" => Kind::ClientStream,
                    "bidi" => Kind::Bidi,
                    other => return Err(format!("unknown kind {other}")),
                }
            }
            "--connections" => s.connections = number()?.max(1),
            "--concurrency" => s.concurrency = number()?.max(1),
            "--payload" => s.payload = number()?,
            "--messages" => s.messages = number()?,
            "--seconds" => {
                limit = Limit::Time(Duration::from_secs_f64(value.parse().map_err(|_| "--seconds takes a number")?))
            }
            "--calls" => limit = Limit::Calls(number()? as u64),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((target.ok_or("--target HOST:PORT is required")?, s, limit))
}

fn parse_compare(args: &[String]) -> Result<(f64, usize, PathBuf), String> {
    let (mut seconds, mut rounds, mut out) = (3.0, 3, PathBuf::from("bench"));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => {
                seconds = value.parse().ok().filter(|s: &f64| *s > 0.0).ok_or("--seconds takes a positive number")?
            }
            "--rounds" => rounds = value.parse().ok().filter(|r| *r > 0).ok_or("--rounds takes a positive count")?,
            "--out" => out = PathBuf::from(value),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((seconds, rounds, out))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("run") => parse_run(&args[1..]).map(|(target, s, limit)| {
            let report = drive(&target, &s, &limit, true);
            print_report(&s, &report);
        }),
        Some("compare") => parse_compare(&args[1..]).and_then(|(seconds, rounds, out)| compare(seconds, rounds, &out)),
        Some("chart") => {
            let dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("bench"));
            read_csv(&dir.join("results.csv")).and_then(|rows| chart(&rows, &dir.join("chart.svg")))
        }
        _ => Err(
            "usage: bench run --target HOST:PORT [...] | bench compare [--seconds S] [--rounds N] [--out DIR] | bench chart [DIR]"
                .into(),
        ),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}
