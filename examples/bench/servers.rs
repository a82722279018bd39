//! The servers `compare` runs: starting and stopping them, and what /proc says about them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use a3grpc_examples::hello::{self, *};
use a3grpc_examples::python;
use grpcio::{CallOption, ChannelBuilder, Client, EnvBuilder};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Server {
    A3,
    A3Inline,
    Raw,
    Tonic,
    Python,
}

/// The servers `compare` runs, in the order of the table's columns.
pub const SERVERS: [Server; 5] = [Server::A3, Server::A3Inline, Server::Raw, Server::Tonic, Server::Python];

impl Server {
    pub fn label(self) -> &'static str {
        match self {
            Server::A3 => "a3grpc",
            Server::A3Inline => "a3grpc inline",
            Server::Raw => "raw grpcio",
            Server::Tonic => "tonic",
            Server::Python => "Python a3grpc",
        }
    }

    /// Short name for table headers.
    pub fn short(self) -> &'static str {
        match self {
            Server::A3 => "a3",
            Server::A3Inline => "inline",
            Server::Raw => "raw",
            Server::Tonic => "tonic",
            Server::Python => "Py",
        }
    }

    /// Its name in `results.csv`.
    pub fn key(self) -> &'static str {
        match self {
            Server::A3 => "a3grpc",
            Server::A3Inline => "a3grpc_inline",
            Server::Raw => "raw_grpcio",
            Server::Tonic => "tonic",
            Server::Python => "python_a3grpc",
        }
    }

    pub fn from_key(key: &str) -> Option<Server> {
        SERVERS.into_iter().find(|s| s.key() == key)
    }

    pub fn color(self) -> plotters::style::RGBColor {
        use plotters::style::RGBColor;
        match self {
            Server::A3 => RGBColor(31, 119, 180),
            Server::A3Inline => RGBColor(44, 160, 44),
            Server::Raw => RGBColor(127, 127, 127),
            Server::Tonic => RGBColor(148, 103, 189),
            Server::Python => RGBColor(255, 127, 14),
        }
    }

    pub fn start(self, stubs: &Path) -> Result<ServerProcess, String> {
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
                let mut command = Command::new(python::venv().join("bin/python"));
                command
                    .arg(python::repo_root().join("tests/python/bench_server.py"))
                    .env("PYTHONPATH", stubs)
                    .env("PYTHONUNBUFFERED", "1");
                ServerProcess::start(command, "PORT ")
            }
        }
    }
}

fn examples_dir() -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default()
}

/// A server's CPU time and thread switches so far; the difference of two is what a run cost.
#[derive(Clone, Copy)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub switches: u64,
}

impl std::ops::Sub for Usage {
    type Output = Usage;

    fn sub(self, earlier: Usage) -> Usage {
        Usage { cpu_seconds: self.cpu_seconds - earlier.cpu_seconds, switches: self.switches - earlier.switches }
    }
}

/// A server's resident memory in KiB: idle, with 1,000 idle connections, with 10,000 in-flight
/// streams, and the peak over its life.
#[derive(Clone, Copy)]
pub struct MemoryProfile {
    pub idle: u64,
    pub connections: u64,
    pub streams: u64,
    pub peak: u64,
}

pub struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    /// Starts `command` and waits for the port it prints after `needle`.
    fn start(mut command: Command, needle: &str) -> Result<ServerProcess, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Both pipes are drained for the server's whole life, or a chatty server would block on
        // a full pipe.
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

    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn usage(&self) -> Usage {
        Usage { cpu_seconds: self.cpu_seconds(), switches: self.context_switches() }
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
        tasks
            .flatten()
            .map(|task| task.path().join("status"))
            .map(|status| {
                status_field(&status, "voluntary_ctxt_switches:") + status_field(&status, "nonvoluntary_ctxt_switches:")
            })
            .sum()
    }

    /// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
    fn memory_kib(&self, field: &str) -> u64 {
        status_field(Path::new(&format!("/proc/{}/status", self.pid())), field)
    }

    /// Opens the connections and streams of [`MemoryProfile`] against the server, one load at a
    /// time.
    pub fn memory_profile(&self) -> MemoryProfile {
        let target = self.target();
        let idle = self.memory_kib("VmRSS");
        let env = Arc::new(EnvBuilder::new().cq_count(2).build());
        let clients: Vec<Client> = (0..1000)
            .map(|_| Client::new(ChannelBuilder::new(env.clone()).use_local_subchannel_pool(true).connect(&target)))
            .collect();
        for client in &clients {
            let _ = client.unary_call(&METHOD_GREETER_SAY_HELLO, &hello::request("x"), CallOption::default());
        }
        std::thread::sleep(Duration::from_millis(500));
        let connections = self.memory_kib("VmRSS");
        drop(clients);
        // 40 connections of 250 streams: within the 256 streams per connection an a3grpc server
        // allows by default, so every server holds all 10,000 open.
        let clients: Vec<Client> = (0..40)
            .map(|_| Client::new(ChannelBuilder::new(env.clone()).use_local_subchannel_pool(true).connect(&target)))
            .collect();
        let open: Vec<_> = clients
            .iter()
            .flat_map(|client| {
                (0..250).filter_map(|_| {
                    client.duplex_streaming(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, CallOption::default()).ok()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(2));
        let streams = self.memory_kib("VmRSS");
        drop(open);
        MemoryProfile { idle, connections, streams, peak: self.memory_kib("VmHWM") }
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
        // A grace period to shut down cleanly, then SIGKILL.
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
