//! Prometheus metrics of a server, named and labelled as the Go and Python gRPC Prometheus
//! packages do (`grpc_server_started_total{grpc_type,grpc_service,grpc_method}`, ...), so
//! existing dashboards work, plus the a3 error name of each a3 error and the worker pool's
//! saturation. A server keeps its own registry; `server/` serves it over HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::error::Code;

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

/// A server's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    started: IntCounterVec,
    handled: IntCounterVec,
    received: IntCounterVec,
    sent: IntCounterVec,
    seconds: HistogramVec,
    refused: IntCounter,
    dropped: IntCounter,
    workers: IntGauge,
    busy_workers: IntGauge,
    queued: IntGauge,
    /// Read when scraped: Views running now, and a way to count the calls waiting for a worker.
    pool: PoolLoad,
}

/// The pool's load, as the pool keeps it.
#[derive(Clone, Default)]
pub(crate) struct PoolLoad {
    pub(crate) busy: Arc<AtomicUsize>,
    pub(crate) queued: Arc<AtomicUsize>,
}

const CALL_LABELS: [&str; 3] = ["grpc_type", "grpc_service", "grpc_method"];

impl Metrics {
    pub(crate) fn new(max_workers: usize, pool: PoolLoad) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok(vec)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let gauge = IntGauge::new(name, help)?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        let single = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let counter = IntCounter::new(name, help)?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let handled_labels = ["grpc_type", "grpc_service", "grpc_method", "grpc_code", "a3_error"];
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Time from a call's arrival to the end of its View, queue wait included",
            ),
            &CALL_LABELS,
        )?;
        registry.register(Box::new(seconds.clone()))?;
        let metrics = Metrics {
            started: counter("grpc_server_started_total", "RPCs started on the server", &CALL_LABELS)?,
            handled: counter(
                "grpc_server_handled_total",
                "RPCs completed on the server, by status code and a3 error name",
                &handled_labels,
            )?,
            received: counter("grpc_server_msg_received_total", "Stream messages received", &CALL_LABELS)?,
            sent: counter("grpc_server_msg_sent_total", "Stream messages sent", &CALL_LABELS)?,
            seconds,
            refused: single(
                "a3grpc_server_refused_total",
                "Calls refused with RESOURCE_EXHAUSTED over maximum_concurrent_rpcs",
            )?,
            dropped: single(
                "a3grpc_server_dropped_total",
                "Calls dropped unrun because their caller left or their deadline passed while they waited",
            )?,
            workers: gauge("a3grpc_pool_workers", "Worker threads that run Views (max_workers)")?,
            busy_workers: gauge("a3grpc_pool_busy_workers", "Workers running a View now")?,
            queued: gauge("a3grpc_pool_queued_calls", "Calls waiting for a worker")?,
            registry,
            pool,
        };
        metrics.workers.set(i64::try_from(max_workers).unwrap_or(i64::MAX));
        Ok(metrics)
    }

    /// Counts a call that starts, and returns what counts its messages and its end.
    pub(crate) fn start(self: &Arc<Self>, method: &str, kind: Kind) -> CallMetrics {
        let (service, name) = method.trim_start_matches('/').split_once('/').unwrap_or(("", method));
        let labels = [kind.label(), service, name];
        self.started.with_label_values(&labels).inc();
        CallMetrics {
            metrics: self.clone(),
            received: self.received.with_label_values(&labels),
            sent: self.sent.with_label_values(&labels),
            kind,
            service: service.to_owned(),
            method: name.to_owned(),
            arrived: Instant::now(),
        }
    }

    /// The metrics in the Prometheus text format.
    pub(crate) fn text(&self) -> String {
        self.busy_workers.set(self.pool.busy.load(Ordering::Relaxed) as i64);
        self.queued.set(self.pool.queued.load(Ordering::Relaxed) as i64);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::warn!("metrics could not be encoded: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// One call's counters.
pub(crate) struct CallMetrics {
    metrics: Arc<Metrics>,
    received: IntCounter,
    sent: IntCounter,
    kind: Kind,
    service: String,
    method: String,
    arrived: Instant,
}

impl CallMetrics {
    pub(crate) fn received(&self) {
        self.received.inc();
    }

    pub(crate) fn sent(&self) {
        self.sent.inc();
    }

    /// Counts the call's end with `code`, and the a3 error that ended it, if one did.
    pub(crate) fn handled(&self, code: Code, a3_error: Option<&str>) {
        let code = code_name(code);
        let labels = [self.kind.label(), &self.service, &self.method];
        let handled = [labels[0], labels[1], labels[2], &code, a3_error.unwrap_or("")];
        self.metrics.handled.with_label_values(&handled).inc();
        self.metrics.seconds.with_label_values(&labels).observe(self.arrived.elapsed().as_secs_f64());
    }

    /// Counts a call refused over `maximum_concurrent_rpcs`.
    pub(crate) fn refused(&self) {
        self.metrics.refused.inc();
        self.handled(Code::RESOURCE_EXHAUSTED, None);
    }

    /// Counts a call that died while it waited for a worker.
    pub(crate) fn dropped(&self, code: Code) {
        self.metrics.dropped.inc();
        self.handled(code, None);
    }
}

/// A status code as Go's `codes.Code.String()` spells it, which the Go and Python Prometheus
/// packages' dashboards expect: `OK`, `NotFound`, ..., and `Code(499)` for others.
fn code_name(code: Code) -> String {
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
        other => return format!("Code({other})"),
    };
    name.to_owned()
}
