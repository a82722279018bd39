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
use signal_hook::consts::SIGCHLD;
use socket2::{Domain, Protocol, Socket, Type};

use super::signals::{self, StopSignals};
use super::{run_grpc_server, ServerError};
use crate::channel::{host_port, server_pems, ChannelOption, OptionValue, SO_REUSEPORT};
use crate::conf::{cpu_count, Conf, ConfError};

/// Set in a worker's environment: the port every worker binds.
const WORKER_PORT: &str = "A3GRPC_WORKER_PORT";
const WORKER_SLOT: &str = "A3GRPC_WORKER_SLOT";
/// The supervisor's pid, so a worker can tell whether it still has its parent.
const SUPERVISOR_PID: &str = "A3GRPC_SUPERVISOR_PID";
/// A worker that lived less than this before dying is restarted with growing back-off.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A worker that dies this many times in a row before it is healthy will not start: the
/// supervisor stops the others and fails, so systemd or Kubernetes see a failed service
/// instead of one that looks up and serves nothing.
const EARLY_DEATHS_TO_GIVE_UP: u32 = 5;

/// Serves `conf` from the conf's `process_count` worker processes on one port (without it, one
/// per CPU, as in the Python original), until SIGINT or SIGTERM.
///
/// The parent first checks that the port can be bound (a busy port is an error and no worker
/// starts), forwards SIGINT/SIGTERM to the workers as SIGTERM, waits for their graceful stop,
/// and returns an error if any worker failed. What a worker needs that the supervisor can check
/// without gRPC (the port, the TLS files) is checked before any worker starts. A worker that
/// dies unexpectedly is restarted, with back-off if it keeps dying; one that dies
/// 5 times in a row within 10 s of its start makes the supervisor stop the others and fail.
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
        end_with_the_supervisor()?;
        return run_grpc_server(conf.for_worker(port, slot));
    }
    let conf = conf.validated()?;
    server_pems(conf.server_key.as_deref(), conf.server_cert.as_deref(), conf.ca_cert.as_deref())
        .map_err(|e| ConfError::invalid(e.key, e.message))?;
    let count = conf.process_count.unwrap_or_else(cpu_count);
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
        // The worker is one of the processes asked for; it serves one.
        self.process_count = None;
        self.metrics_port = self.metrics_port.map(|p| if p == 0 { 0 } else { p.saturating_add(slot) });
        self.options.retain(|o| o.name != SO_REUSEPORT);
        self.options.push(ChannelOption::new(SO_REUSEPORT, OptionValue::Int(1)));
        self
    }
}

/// A worker gets SIGTERM when its supervisor dies, however it dies (the OOM killer, `kill -9`):
/// otherwise orphans would go on serving the port, beside the workers of the next start.
/// A supervisor that died before this line ran is noticed too.
fn end_with_the_supervisor() -> Result<(), ServerError> {
    let Some(supervisor) = std::env::var(SUPERVISOR_PID).ok().and_then(|p| p.parse::<libc::pid_t>().ok()) else {
        return Ok(());
    };
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
    // SAFETY: getppid(2) has no arguments and always succeeds.
    if unsafe { libc::getppid() } != supervisor {
        return Err(ServerError::Io(std::io::Error::other(format!(
            "the supervisor (pid {supervisor}) has gone before this worker started"
        ))));
    }
    Ok(())
}

/// Binds the port with SO_REUSEPORT and keeps it bound while the workers run: it proves the
/// port is free for the group, and for port 0 it picks the port the workers share. A port
/// already held, by anyone (stray workers of an earlier start hold theirs with SO_REUSEPORT,
/// which a second SO_REUSEPORT bind would join), is refused first by an exclusive bind.
fn reserve_port(host: &str, port: u16) -> Result<(Socket, u16), ServerError> {
    let addr = host_port(host, port);
    let bind_error = |reason: String| ServerError::Bind { addr: addr.clone(), reason };
    let target: SocketAddr = addr
        .to_socket_addrs()
        .map_err(|e| bind_error(e.to_string()))?
        .next()
        .ok_or_else(|| bind_error("the host resolves to no address".into()))?;
    if port != 0 {
        std::net::TcpListener::bind(target).map_err(|e| {
            bind_error(format!("{e} (if by workers of an earlier start that still run, stop them first)"))
        })?;
    }
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
    /// How many times in a row this slot's worker died before it was healthy.
    early_deaths: u32,
}

struct Supervisor {
    port: u16,
    events: crossbeam_channel::Receiver<Event>,
    // Ends the thread that turns signals into events, which releases them.
    signals: Option<(signal_hook::iterator::Handle, std::thread::JoinHandle<()>)>,
    workers: HashMap<usize, Worker>,
    /// Slots whose worker died: when to start it again, its back-off and early deaths.
    restarts: HashMap<usize, (Instant, Duration, u32)>,
}

impl Supervisor {
    fn new(port: u16) -> Result<Supervisor, ServerError> {
        let mut signals = StopSignals::claim(&[SIGCHLD])?;
        let handle = signals.handle();
        let (tx, events) = unbounded();
        let thread = std::thread::Builder::new().name("a3grpc-supervisor-signals".into()).spawn(move || {
            while let Some(signal) = signals.wait() {
                let event = if signal == SIGCHLD { Event::ChildExited } else { Event::Stop(signal) };
                if tx.send(event).is_err() {
                    break;
                }
            }
        })?;
        Ok(Supervisor {
            port,
            events,
            signals: Some((handle, thread)),
            workers: HashMap::new(),
            restarts: HashMap::new(),
        })
    }

    fn run(mut self, count: usize) -> Result<(), ServerError> {
        for slot in 0..count {
            if let Err(err) = self.start(slot, FIRST_BACKOFF, 0) {
                log::error!("a3grpc: worker {slot} could not be started: {err}; stopping the others");
                return self.give_up(err);
            }
        }
        loop {
            let next_restart = self.restarts.values().map(|(at, ..)| *at).min();
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
                    log::info!("a3grpc: received {}; stopping {} workers", signals::name(signal), self.workers.len());
                    return self.stop();
                }
                Some(Event::ChildExited) => {
                    if let Some(slot) = self.reap() {
                        log::error!(
                            "a3grpc: worker {slot} died {EARLY_DEATHS_TO_GIVE_UP} times in a row within \
                             {HEALTHY_AFTER:?} of its start; stopping the other workers (see the worker's errors above)"
                        );
                        return self.give_up(ServerError::Workers(1));
                    }
                    if self.workers.is_empty() && self.restarts.is_empty() {
                        log::info!("a3grpc: every worker was stopped; the supervisor stops too");
                        return Ok(());
                    }
                }
                None => {
                    if let Err(err) = self.restart_due() {
                        log::error!("a3grpc: a worker could not be started again: {err}; stopping the others");
                        return self.give_up(err);
                    }
                }
            }
        }
    }

    fn start(&mut self, slot: usize, backoff: Duration, early_deaths: u32) -> Result<(), ServerError> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(WORKER_PORT, self.port.to_string())
            .env(WORKER_SLOT, slot.to_string())
            .env(SUPERVISOR_PID, std::process::id().to_string())
            .spawn()?;
        log::info!("a3grpc: worker {slot} started (pid {})", child.id());
        self.workers.insert(slot, Worker { child, started: Instant::now(), backoff, early_deaths });
        Ok(())
    }

    /// A worker exited while the service runs. A clean exit means someone stopped it with a
    /// signal (a process manager signalling the whole group): it stays stopped. Anything else
    /// is a crash, and the worker is started again, unless it keeps dying before it is
    /// healthy: then its slot is returned, and the supervisor gives up.
    fn reap(&mut self) -> Option<usize> {
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
            let (backoff, early_deaths) = if worker.started.elapsed() >= HEALTHY_AFTER {
                (FIRST_BACKOFF, 0)
            } else {
                ((worker.backoff * 2).min(MAX_BACKOFF), worker.early_deaths + 1)
            };
            if early_deaths >= EARLY_DEATHS_TO_GIVE_UP {
                log::error!("a3grpc: worker {slot} (pid {}) died unexpectedly ({status})", worker.child.id());
                return Some(slot);
            }
            log::error!(
                "a3grpc: worker {slot} (pid {}) died unexpectedly ({status}); restarting it in {backoff:?}",
                worker.child.id()
            );
            self.restarts.insert(slot, (Instant::now() + backoff, backoff, early_deaths));
        }
        None
    }

    fn restart_due(&mut self) -> Result<(), ServerError> {
        let now = Instant::now();
        let due: Vec<(usize, Duration, u32)> = self
            .restarts
            .iter()
            .filter(|(_, (at, ..))| *at <= now)
            .map(|(slot, (_, backoff, deaths))| (*slot, *backoff, *deaths))
            .collect();
        for (slot, backoff, early_deaths) in due {
            self.restarts.remove(&slot);
            self.start(slot, backoff, early_deaths)?;
        }
        Ok(())
    }

    /// Stops the workers that run and fails with `err`: a supervisor that cannot keep its
    /// workers leaves none serving.
    fn give_up(self, err: ServerError) -> Result<(), ServerError> {
        let _ = self.stop();
        Err(err)
    }

    /// Forwards SIGTERM, waits for every worker's graceful stop, and fails if any failed.
    /// Stops the workers gracefully, and at once when a second signal comes meanwhile: each
    /// is sent SIGTERM again, which cuts its own grace period short.
    fn stop(mut self) -> Result<(), ServerError> {
        self.signal_workers(libc::SIGTERM);
        let mut failed = 0;
        while !self.workers.is_empty() {
            let exited: Vec<usize> = self
                .workers
                .iter_mut()
                .filter_map(|(slot, worker)| matches!(worker.child.try_wait(), Ok(Some(_)) | Err(_)).then_some(*slot))
                .collect();
            for slot in exited {
                let Some(mut worker) = self.workers.remove(&slot) else { continue };
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
            if self.workers.is_empty() {
                break;
            }
            match self.events.recv() {
                Ok(Event::Stop(signal)) => {
                    log::warn!("a3grpc: received {} again; the workers stop at once", signals::name(signal));
                    // Another signal than the first: two SIGTERMs that reach a worker before
                    // it has read the first are delivered as one, and the second would be lost.
                    self.signal_workers(libc::SIGINT);
                }
                Ok(Event::ChildExited) => {}
                // No more events: wait for each worker in turn.
                Err(_) => {
                    for worker in self.workers.values_mut() {
                        let _ = worker.child.wait();
                    }
                }
            }
        }
        if failed > 0 {
            return Err(ServerError::Workers(failed));
        }
        log::info!("a3grpc: all workers stopped");
        Ok(())
    }

    fn signal_workers(&self, signal: libc::c_int) {
        for worker in self.workers.values() {
            if let Ok(pid) = i32::try_from(worker.child.id()) {
                // SAFETY: kill(2) on a child we started, with a valid signal; no memory is touched.
                unsafe { libc::kill(pid, signal) };
            }
        }
    }
}

impl Drop for Supervisor {
    /// Releases the signals: after the supervisor, SIGINT and SIGTERM act as before it.
    fn drop(&mut self) {
        if let Some((handle, thread)) = self.signals.take() {
            handle.close();
            let _ = thread.join();
        }
    }
}
