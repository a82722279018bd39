//! Multi-process serving: `process_count` worker processes serve one port (SO_REUSEPORT), and
//! the parent supervises them.
//!
//! Workers are started by re-executing the program with the same arguments, not by `fork`:
//! the gRPC core is not fork-safe, and a re-executed worker starts with no state from the
//! parent at all. The parent itself never touches gRPC. So `main` runs again in every worker up
//! to the call of [`run_grpc_server_with_multiprocessing`], which, in a worker, serves.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, RecvTimeoutError};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use socket2::{Domain, Protocol, Socket, Type};

use super::{run_grpc_server, ServerError};
use crate::channel::{host_port, ChannelOption, OptionValue};
use crate::conf::{Conf, ConfError};

/// Set in a worker's environment: the port every worker binds.
const WORKER_PORT: &str = "A3GRPC_WORKER_PORT";
const WORKER_SLOT: &str = "A3GRPC_WORKER_SLOT";
/// A worker that lived less than this before dying is restarted with growing back-off.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Serves `conf` from the conf's `process_count` worker processes on one port (without it, one
/// per CPU, as in the Python original), until SIGINT or SIGTERM.
///
/// The parent first checks that the port can be bound (a busy port is an error and no worker
/// starts), forwards SIGINT/SIGTERM to the workers as SIGTERM, waits for their graceful stop,
/// and returns an error if any worker failed. A worker that dies unexpectedly is restarted,
/// with back-off if it keeps dying.
///
/// Workers are started by re-executing the program with the same arguments, never by `fork`
/// (the gRPC core is not fork-safe): `main` runs again in each worker up to this call, which
/// there serves. The parent itself never touches gRPC.
///
/// ```no_run
/// use a3grpc::{run_grpc_server_with_multiprocessing, Conf};
///
/// let conf = Conf::from_file("conf.toml")?;   // e.g. process_count = 4
/// run_grpc_server_with_multiprocessing(conf)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_grpc_server_with_multiprocessing(conf: Conf) -> Result<(), ServerError> {
    if let Some(port) = std::env::var_os(WORKER_PORT) {
        let port = port.to_str().and_then(|p| p.parse().ok()).ok_or_else(|| {
            ServerError::Conf(ConfError::invalid("port", format!("{WORKER_PORT} is not a port number")))
        })?;
        let slot = std::env::var(WORKER_SLOT).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        return run_grpc_server(conf.for_worker(port, slot));
    }
    let conf = conf.validated()?;
    let count =
        conf.process_count.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let (reservation, port) = reserve_port(&conf.host, conf.port)?;
    log::info!(
        "a3grpc: starting {count} worker processes on {}:{port} (supervisor pid {})",
        conf.host,
        std::process::id()
    );
    let outcome = Supervisor::new(port)?.run(count);
    drop(reservation);
    outcome
}

impl Conf {
    /// The conf a worker serves: the supervisor's port, shared with the other workers, and a
    /// metrics port of its own (`metrics_port` + its slot), so each worker's figures can be
    /// scraped.
    fn for_worker(mut self, port: u16, slot: u16) -> Conf {
        self.port = port;
        self.metrics_port = self.metrics_port.map(|p| if p == 0 { 0 } else { p.saturating_add(slot) });
        self.options.retain(|o| o.name != "grpc.so_reuseport");
        self.options.push(ChannelOption::new("grpc.so_reuseport", OptionValue::Int(1)));
        self
    }
}

/// Binds the port with SO_REUSEPORT and keeps it bound while the workers run: it proves the
/// port is free for the group (a port held without SO_REUSEPORT fails here), and for port 0 it
/// picks the port the workers share.
fn reserve_port(host: &str, port: u16) -> Result<(Socket, u16), ServerError> {
    let addr = host_port(host, port);
    let bind_error = |reason: String| ServerError::Bind { addr: addr.clone(), reason };
    let target: SocketAddr = addr
        .to_socket_addrs()
        .map_err(|e| bind_error(e.to_string()))?
        .next()
        .ok_or_else(|| bind_error("the host resolves to no address".into()))?;
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&target.into()).map_err(|e| bind_error(e.to_string()))?;
    let bound = socket.local_addr()?.as_socket().map(|a| a.port()).unwrap_or(port);
    Ok((socket, bound))
}

enum Event {
    Stop(i32),
    ChildExited,
}

struct Worker {
    child: Child,
    started: Instant,
    backoff: Duration,
}

struct Supervisor {
    port: u16,
    events: crossbeam_channel::Receiver<Event>,
    workers: HashMap<usize, Worker>,
    /// Slots whose worker died, with when to start it again and the back-off it had.
    restarts: HashMap<usize, (Instant, Duration)>,
}

impl Supervisor {
    fn new(port: u16) -> Result<Supervisor, ServerError> {
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGCHLD])?;
        let (tx, events) = unbounded();
        std::thread::Builder::new().name("a3grpc-supervisor-signals".into()).spawn(move || {
            for signal in signals.forever() {
                let event = if signal == SIGCHLD { Event::ChildExited } else { Event::Stop(signal) };
                if tx.send(event).is_err() {
                    break;
                }
            }
        })?;
        Ok(Supervisor { port, events, workers: HashMap::new(), restarts: HashMap::new() })
    }

    fn run(mut self, count: usize) -> Result<(), ServerError> {
        for slot in 0..count {
            self.start(slot, FIRST_BACKOFF)?;
        }
        loop {
            let next_restart = self.restarts.values().map(|(at, _)| *at).min();
            let event = match next_restart {
                Some(at) => match self.events.recv_deadline(at) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(ServerError::Io(std::io::Error::other("signal thread ended")))
                    }
                },
                None => Some(self.events.recv().map_err(|_| std::io::Error::other("signal thread ended"))?),
            };
            match event {
                Some(Event::Stop(signal)) => {
                    let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                    log::info!("a3grpc: received {name}; stopping {} workers", self.workers.len());
                    return self.stop();
                }
                Some(Event::ChildExited) => {
                    self.reap()?;
                    if self.workers.is_empty() && self.restarts.is_empty() {
                        log::info!("a3grpc: every worker was stopped; the supervisor stops too");
                        return Ok(());
                    }
                }
                None => self.restart_due()?,
            }
        }
    }

    fn start(&mut self, slot: usize, backoff: Duration) -> Result<(), ServerError> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(WORKER_PORT, self.port.to_string())
            .env(WORKER_SLOT, slot.to_string())
            .spawn()?;
        log::info!("a3grpc: worker {slot} started (pid {})", child.id());
        self.workers.insert(slot, Worker { child, started: Instant::now(), backoff });
        Ok(())
    }

    /// A worker exited while the service runs. A clean exit means someone stopped it with a
    /// signal (a process manager signalling the whole group): it stays stopped. Anything else
    /// is a crash, and the worker is started again.
    fn reap(&mut self) -> Result<(), ServerError> {
        let mut dead = Vec::new();
        for (slot, worker) in &mut self.workers {
            if let Ok(Some(status)) = worker.child.try_wait() {
                dead.push((*slot, status));
            }
        }
        for (slot, status) in dead {
            let Some(worker) = self.workers.remove(&slot) else { continue };
            if status.success() {
                log::info!("a3grpc: worker {slot} (pid {}) was stopped; not restarting it", worker.child.id());
                continue;
            }
            let backoff = if worker.started.elapsed() >= HEALTHY_AFTER {
                FIRST_BACKOFF
            } else {
                (worker.backoff * 2).min(MAX_BACKOFF)
            };
            log::error!(
                "a3grpc: worker {slot} (pid {}) died unexpectedly ({status}); restarting it in {backoff:?}",
                worker.child.id()
            );
            self.restarts.insert(slot, (Instant::now() + backoff, backoff));
        }
        Ok(())
    }

    fn restart_due(&mut self) -> Result<(), ServerError> {
        let now = Instant::now();
        let due: Vec<(usize, Duration)> =
            self.restarts.iter().filter(|(_, (at, _))| *at <= now).map(|(slot, (_, b))| (*slot, *b)).collect();
        for (slot, backoff) in due {
            self.restarts.remove(&slot);
            self.start(slot, backoff)?;
        }
        Ok(())
    }

    /// Forwards SIGTERM, waits for every worker's graceful stop, and fails if any failed.
    fn stop(mut self) -> Result<(), ServerError> {
        for worker in self.workers.values() {
            if let Ok(pid) = i32::try_from(worker.child.id()) {
                // SAFETY: kill(2) on a child we started, with a valid signal; no memory is touched.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        let mut failed = 0;
        for (slot, mut worker) in self.workers.drain() {
            match worker.child.wait() {
                Ok(status) if status.success() => log::info!("a3grpc: worker {slot} stopped"),
                Ok(status) => {
                    failed += 1;
                    log::error!("a3grpc: worker {slot} stopped with {status}");
                }
                Err(e) => {
                    failed += 1;
                    log::error!("a3grpc: worker {slot} could not be waited for: {e}");
                }
            }
        }
        if failed > 0 {
            return Err(ServerError::Workers(failed));
        }
        log::info!("a3grpc: all workers stopped");
        Ok(())
    }
}
