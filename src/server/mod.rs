//! The server: from a [`Conf`] to a listening gRPC server, and its graceful stop.
//! [`run_grpc_server`] starts a [`Server`] and blocks until SIGINT/SIGTERM;
//! [`run_grpc_server_with_multiprocessing`] does it from several processes on one port.

// 1. `Server::start` resolves the conf's Servicers and interceptors, starts the worker pool,
//    registers every View with grpcio and binds the port, each a step in `start.rs`. From
//    then on calls flow through `dispatch/`.
// 2. `Server::shutdown` stops accepting, gives in-flight calls the grace period, then cancels
//    the rest.
// `supervisor.rs` runs several server processes on one port, `signals.rs` claims SIGINT and
// SIGTERM while one runs, `exporter.rs` serves the metrics over HTTP.

mod exporter;
mod signals;
mod start;
mod supervisor;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use supervisor::run_grpc_server_with_multiprocessing;

use exporter::MetricsExporter;
use signals::StopSignals;

use crate::channel::{host_port, ChannelOption};
use crate::conf::{Conf, ConfError};
use crate::dispatch::{Pools, Runtime};
use crate::health::Health;
use crate::metrics::Metrics;

/// How long a stop waits, after the grace period, for Views that ignore cancellation.
const LAST_SECOND: Duration = Duration::from_secs(1);

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The conf is invalid; the error names the key.
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// The address could not be bound: in use, not local, or not an address.
    #[error("cannot bind {addr}: {reason}")]
    Bind {
        /// `host:port` as configured.
        addr: String,
        /// Why, as the operating system or the gRPC core put it.
        reason: String,
    },
    /// The gRPC core refused the server (e.g. a channel arg it rejects).
    #[error("the gRPC core could not build the server: {0}")]
    Grpc(String),
    /// The server's metrics could not be registered.
    #[error("the server's metrics could not be set up: {0}")]
    Metrics(String),
    /// A thread, process or signal handler could not be set up.
    #[error("server setup failed: {0}")]
    Io(#[from] std::io::Error),
    /// In multi-process serving, this many workers did not stop cleanly.
    #[error("{0} worker process(es) failed; see the log")]
    Workers(usize),
}

/// Runs a server from `conf` until SIGINT or SIGTERM, then stops it gracefully: no new calls,
/// in-flight calls get `graceful_shutdown_seconds`, the rest are cancelled. Returns `Ok(())`
/// after a clean stop, so `main` exits 0.
///
/// ```no_run
/// use a3grpc::{run_grpc_server, Conf};
///
/// let conf = Conf::from_file("conf.toml")?;
/// run_grpc_server(conf)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_grpc_server(conf: Conf) -> Result<(), ServerError> {
    // Claimed before the server starts, so a signal during start-up stops it cleanly instead
    // of killing the process; released on every way out, so the signals act as before.
    let mut signals = StopSignals::claim(&[])?;
    if conf.is_multiprocess() {
        log::warn!(
            "the conf asks for process_count = {} but run_grpc_server serves one process; \
             use run_grpc_server_with_multiprocessing to serve several",
            conf.process_count.unwrap_or(1)
        );
    }
    let server = Server::start(conf)?;
    if let Some(signal) = signals.wait() {
        log::info!("received {}; stopping", signals::name(signal));
    }
    // A second signal during the grace period cuts it short, as Ctrl-C twice does elsewhere.
    let (end_grace, closer) = (server.end_grace.0.clone(), signals.handle());
    let second = thread::Builder::new().name("a3grpc-stop-signals".into()).spawn(move || {
        if let Some(signal) = signals.wait() {
            log::warn!("received {} again: cancelling the calls still in flight now", signals::name(signal));
            let _ = end_grace.send(());
        }
    })?;
    server.shutdown();
    closer.close();
    let _ = second.join();
    Ok(())
}

/// A running server. Dropping it stops it without a grace period (Views that ignore
/// cancellation get one more second, then are left to finish on their own); call
/// [`shutdown`](Server::shutdown) for a graceful stop.
///
/// ```no_run
/// use a3grpc::{Conf, Server, Servicer};
///
/// let server = Server::start(Conf::new("127.0.0.1", 0, vec![Servicer::new()]))?;
/// println!("serving on port {}", server.port());
/// server.shutdown();
/// # Ok::<(), a3grpc::server::ServerError>(())
/// ```
pub struct Server {
    grpc: Option<grpcio::Server>,
    pools: Option<Pools>,
    rt: Arc<Runtime>,
    health: Option<Health>,
    metrics: Arc<Metrics>,
    exporter: Option<MetricsExporter>,
    addr: String,
    port: u16,
    grace: Duration,
    // Sent to end the grace period at once.
    end_grace: (crossbeam_channel::Sender<()>, crossbeam_channel::Receiver<()>),
}

impl Server {
    /// Starts serving `conf`: binds the port and returns once calls are accepted.
    pub fn start(conf: Conf) -> Result<Server, ServerError> {
        let conf = conf.validated()?;
        for warning in conf.options.iter().filter_map(ChannelOption::unknown_name_warning) {
            log::warn!("{warning}");
        }
        // Route the C core's own messages through the `log` facade (target
        // `grpcio::log_util`; its INFO is chatty, so programs usually filter it with
        // `grpcio=warn`).
        grpcio::redirect_log();
        let credentials = start::credentials(&conf)?;
        let servicers = start::servicers(&conf)?;
        let (pools, metrics, rt) = start::runtime(&conf)?;
        let env = start::io_threads(&conf);
        let (mut grpc, health) = start::register(&conf, &env, &servicers, &rt)?;
        let port = start::bind(&mut grpc, &conf, credentials)?;
        let exporter = match conf.metrics_port {
            Some(metrics_port) => Some(MetricsExporter::start(&conf.host, metrics_port, metrics.clone())?),
            None => None,
        };
        grpc.start();
        let addr = host_port(&conf.host, port);
        log::info!(
            "a3grpc server listening on {addr} (pid {}, gRPC core {})",
            std::process::id(),
            crate::engine::CORE_VERSION
        );
        Ok(Server {
            grpc: Some(grpc),
            pools: Some(pools),
            rt,
            health,
            metrics,
            exporter,
            addr,
            port,
            grace: conf.graceful_shutdown_seconds,
            end_grace: crossbeam_channel::bounded(1),
        })
    }

    /// The server's metrics, in the Prometheus text format: calls started and handled per
    /// method and status code (and a3 error), messages, handling time, and the worker pools'
    /// load. For serving them yourself; the conf's `metrics_port` serves them over HTTP.
    ///
    /// ```
    /// use a3grpc::{Conf, Server, Servicer};
    ///
    /// let server = Server::start(Conf::new("127.0.0.1", 0, Vec::<Servicer>::new()))?;
    /// assert!(server.metrics_text().contains(r#"a3grpc_pool_busy_workers{pool="unary"} 0"#));
    /// # Ok::<(), a3grpc::server::ServerError>(())
    /// ```
    pub fn metrics_text(&self) -> String {
        self.metrics.text()
    }

    /// The port of the metrics endpoint, when the conf has a `metrics_port`.
    pub fn metrics_port(&self) -> Option<u16> {
        self.exporter.as_ref().map(|e| e.port)
    }

    /// The bound port (the real one when the conf asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound address, `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Stops gracefully with the conf's `graceful_shutdown_seconds`.
    pub fn shutdown(self) {
        let grace = self.grace;
        self.shutdown_within(grace)
    }

    /// Stops accepting calls, lets in-flight calls finish for up to `grace`, then cancels the
    /// rest. Views see [`Context::is_stopping`](crate::Context::is_stopping) from the start, so a
    /// long stream can end itself with the status it chooses; those still running after the
    /// grace period see [`Context::is_cancelled`](crate::Context::is_cancelled) and their
    /// replies are discarded. It returns at most a second after the grace period: Views that
    /// ignore cancellation are left to finish on their own.
    pub fn shutdown_within(mut self, grace: Duration) {
        self.stop(grace);
    }

    fn stop(&mut self, grace: Duration) {
        let Some(mut grpc) = self.grpc.take() else { return };
        self.rt.begin_stopping();
        if let Some(health) = &self.health {
            // Health watchers (load balancers) learn at once that this server is going.
            health.stopping();
        }
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let finished = grpc.shutdown();
        // Logged once the core refuses new calls, so the line is true when it is read.
        log::info!("a3grpc server on {} stopping: new calls refused, in-flight calls get {grace:?}", self.addr);
        // The shutdown future completes on an I/O thread; waiting for it here with a timeout
        // needs it driven elsewhere.
        thread::spawn(move || {
            let _ = futures::executor::block_on(finished);
            let _ = done_tx.send(());
        });
        let finished = crossbeam_channel::select! {
            recv(done) -> _ => true,
            recv(self.end_grace.1) -> _ => false,
            default(grace) => {
                // The core's own end of the stop may still be on its way with nothing in
                // flight (a drop gives no grace at all): only Views still running are worth a word.
                let running = self.pools.as_ref().map_or(0, |pools| pools.in_flight_within(Duration::from_millis(50)));
                if running > 0 {
                    log::warn!(
                        "a3grpc server on {}: grace period over: cancelling the {running} call(s) still in flight",
                        self.addr
                    );
                }
                false
            }
        };
        // Views still running after the grace period (they ignore cancellation) hold their
        // calls, and so the core's end of the stop: one last second for both, then they are
        // left to finish on their own.
        let last = Instant::now() + LAST_SECOND;
        if !finished {
            self.rt.end_grace();
            grpc.cancel_all_calls();
            let _ = done.recv_deadline(last);
        }
        drop(grpc);
        if let Some(exporter) = self.exporter.take() {
            exporter.stop();
        }
        if let Some(pools) = self.pools.take() {
            let busy = pools.shutdown(last.saturating_duration_since(Instant::now()));
            if busy > 0 {
                log::warn!("{busy} View(s) still running after shutdown; they were told the call is cancelled");
            }
        }
        log::info!("a3grpc server on {} stopped", self.addr);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}
