//! Prometheus metrics of servers and clients, named and labelled as the Go and Python gRPC
//! Prometheus packages do (`grpc_server_started_total{grpc_type,grpc_service,grpc_method}`,
//! `grpc_client_...`), so existing dashboards work, plus the a3 error name of each a3 error and
//! the worker pool's saturation. A server keeps its own registry
//! ([`Server::metrics_text`](crate::Server::metrics_text), or `metrics_port`); the clients of a
//! process share one ([`client_metrics_text`]).

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::error::{A3Error, Code};
use crate::method::split_path;
use crate::trace::CallTrace;

/// The RPC kinds as the `grpc_type` label spells them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Unary,
    ClientStream,
    ServerStream,
    BidiStream,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::ClientStream => "client_stream",
            Kind::ServerStream => "server_stream",
            Kind::BidiStream => "bidi_stream",
        }
    }
}

/// The per-call families of one side, `grpc_server_*` or `grpc_client_*`.
pub(crate) struct Calls {
    registry: Registry,
    started: IntCounterVec,
    handled: IntCounterVec,
    received: IntCounterVec,
    sent: IntCounterVec,
    seconds: HistogramVec,
}

const CALL_LABELS: [&str; 3] = ["grpc_type", "grpc_service", "grpc_method"];

impl Calls {
    fn new(side: &str) -> Result<Calls, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let vec = IntCounterVec::new(Opts::new(format!("grpc_{side}_{name}"), help), labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let handled_labels = ["grpc_type", "grpc_service", "grpc_method", "grpc_code", "a3_error"];
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                format!("grpc_{side}_handling_seconds"),
                "Time from a call's start to its end (on a server, time waiting for a worker included)",
            ),
            &CALL_LABELS,
        )?;
        registry.register(Box::new(seconds.clone()))?;
        Ok(Calls {
            started: counter("started_total", "RPCs started", &CALL_LABELS)?,
            handled: counter("handled_total", "RPCs completed, by status code and a3 error name", &handled_labels)?,
            received: counter("msg_received_total", "Messages received", &CALL_LABELS)?,
            sent: counter("msg_sent_total", "Messages sent", &CALL_LABELS)?,
            seconds,
            registry,
        })
    }

    /// Counts a call that starts, and returns what counts its messages and its end.
    pub(crate) fn start(self: &Arc<Self>, method: &str, kind: Kind, trace: CallTrace) -> CallMetrics {
        let (service, name) = split_path(method).unwrap_or(("", method));
        let labels = [kind.label(), service, name];
        self.started.with_label_values(&labels).inc();
        CallMetrics {
            calls: self.clone(),
            received: self.received.with_label_values(&labels),
            sent: self.sent.with_label_values(&labels),
            kind,
            service: service.to_owned(),
            method: name.to_owned(),
            started: Instant::now(),
            trace,
        }
    }
}

/// The client side's families, shared by every `BaseClient` of the process.
pub(crate) fn client_calls() -> &'static Arc<Calls> {
    static CLIENT: OnceLock<Arc<Calls>> = OnceLock::new();
    CLIENT.get_or_init(|| Arc::new(Calls::new("client").expect("the client metric names and labels are valid")))
}

/// Counters for calls no server serves (a View tested on its own, `a3grpc::testing`): kept
/// in a registry nobody exports.
pub(crate) fn detached_call(method: &str, trace: CallTrace) -> CallMetrics {
    static DETACHED: OnceLock<Arc<Calls>> = OnceLock::new();
    DETACHED
        .get_or_init(|| Arc::new(Calls::new("server").expect("the server metric names and labels are valid")))
        .start(method, Kind::Unary, trace)
}

/// The metrics of every client of this process, in the Prometheus text format
/// (`grpc_client_started_total`, `grpc_client_handled_total`, ...: the names and labels of the
/// Go and Python gRPC Prometheus packages, plus `a3_error`). A server's `metrics_port` serves
/// them too.
///
/// ```
/// assert!(!a3grpc::metrics::client_metrics_text().contains("grpc_server_"));
/// ```
pub fn client_metrics_text() -> String {
    encode(&client_calls().registry.gather())
}

fn encode(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(families, &mut out) {
        log::warn!("metrics could not be encoded: {e}");
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A server's metrics: its calls, and its worker pools' load.
pub(crate) struct Metrics {
    pub(crate) calls: Arc<Calls>,
    refused: IntCounter,
    dropped: IntCounter,
    busy_workers: IntGaugeVec,
    queued: IntGaugeVec,
    /// Read when scraped.
    pools: Vec<PoolLoad>,
}

/// A worker pool's load, read when scraped: the workers running a View, as the pool counts
/// them, and the length of its queue. `name` is the `pool` label: `unary` or `stream`.
#[derive(Clone)]
pub(crate) struct PoolLoad {
    pub(crate) name: &'static str,
    pub(crate) workers: usize,
    pub(crate) busy: Arc<AtomicUsize>,
    pub(crate) queued: Arc<dyn Fn() -> usize + Send + Sync>,
}

impl Metrics {
    pub(crate) fn new(pools: Vec<PoolLoad>) -> Result<Metrics, prometheus::Error> {
        let calls = Arc::new(Calls::new("server")?);
        let registry = &calls.registry;
        let gauges = |name: &str, help: &str| -> Result<IntGaugeVec, prometheus::Error> {
            let gauges = IntGaugeVec::new(Opts::new(name, help), &["pool"])?;
            registry.register(Box::new(gauges.clone()))?;
            Ok(gauges)
        };
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let counter = IntCounter::new(name, help)?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let workers = gauges(
            "a3grpc_pool_workers",
            "Worker threads that run Views: max_workers (pool=\"unary\"), max_stream_workers (pool=\"stream\")",
        )?;
        for pool in &pools {
            workers.with_label_values(&[pool.name]).set(gauge_value(pool.workers));
        }
        Ok(Metrics {
            refused: counter(
                "a3grpc_server_refused_total",
                "Calls refused with RESOURCE_EXHAUSTED over maximum_concurrent_rpcs",
            )?,
            dropped: counter(
                "a3grpc_server_dropped_total",
                "Calls dropped unrun because their caller left or their deadline passed while they waited",
            )?,
            busy_workers: gauges("a3grpc_pool_busy_workers", "Workers running a View now")?,
            queued: gauges("a3grpc_pool_queued_calls", "Calls waiting for a worker")?,
            calls,
            pools,
        })
    }

    /// Counts a call that starts.
    pub(crate) fn start(&self, method: &str, kind: Kind, trace: CallTrace) -> CallMetrics {
        self.calls.start(method, kind, trace)
    }

    /// Counts a call refused over `maximum_concurrent_rpcs`.
    pub(crate) fn refused(&self, call: &CallMetrics) {
        self.refused.inc();
        call.handled(Code::RESOURCE_EXHAUSTED, None);
    }

    /// Counts a call that died while it waited for a worker.
    pub(crate) fn dropped(&self, call: &CallMetrics, code: Code) {
        self.dropped.inc();
        call.handled(code, None);
    }

    /// The server's metrics and those of the process's clients, in the Prometheus text format.
    pub(crate) fn text(&self) -> String {
        for pool in &self.pools {
            self.busy_workers.with_label_values(&[pool.name]).set(gauge_value(pool.busy.load(Ordering::Relaxed)));
            self.queued.with_label_values(&[pool.name]).set(gauge_value((pool.queued)()));
        }
        let mut families = self.calls.registry.gather();
        families.extend(client_calls().registry.gather());
        encode(&families)
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One call's counters, and its trace, whose span ends when the call's end is counted.
#[derive(Clone)]
pub(crate) struct CallMetrics {
    calls: Arc<Calls>,
    received: IntCounter,
    sent: IntCounter,
    kind: Kind,
    service: String,
    method: String,
    started: Instant,
    trace: CallTrace,
}

impl CallMetrics {
    pub(crate) fn received(&self) {
        self.received.inc();
    }

    pub(crate) fn sent(&self) {
        self.sent.inc();
    }

    pub(crate) fn trace(&self) -> &CallTrace {
        &self.trace
    }

    /// Counts the call's end with `code`, and the error that ended it, if one did: by its
    /// name when it is an a3 error class (a plain status is counted by its code alone).
    pub(crate) fn handled(&self, code: Code, error: Option<&A3Error>) {
        let a3_error = error.filter(|e| !matches!(e, A3Error::Status { .. })).map(A3Error::name);
        self.trace.ended(code, a3_error, error.map(A3Error::side));
        let code = code_name(code);
        let labels = [self.kind.label(), &self.service, &self.method];
        let handled = [labels[0], labels[1], labels[2], &code, a3_error.unwrap_or("")];
        self.calls.handled.with_label_values(&handled).inc();
        self.calls.seconds.with_label_values(&labels).observe(self.started.elapsed().as_secs_f64());
    }
}

/// A status code as Go's `codes.Code.String()` spells it, which the Go and Python Prometheus
/// packages' dashboards expect: `OK`, `NotFound`, ..., and `Code(499)` for others.
fn code_name(code: Code) -> Cow<'static, str> {
    let name = match code.value() {
        0 => "OK",
        1 => "Canceled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        other => return Cow::Owned(format!("Code({other})")),
    };
    Cow::Borrowed(name)
}
