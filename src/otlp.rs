//! Sends every call's span to an OpenTelemetry collector over OTLP (HTTP/protobuf), from a
//! thread of the exporter's own: no async runtime in your program. The `otlp` feature.
//!
//! [`Exporter::install`] makes it the program's `tracing` subscriber; [`Exporter::layer`]
//! gives a [`tracing_subscriber`] layer for a subscriber of your own. Either collects
//! a3grpc's call spans (target `a3grpc`, level INFO) and returns a guard that sends what is
//! left when it drops. Once it is made, calls get span ids of their own and pass them on in
//! `traceparent`, so the spans of a Python or Go caller, of this program's servers and
//! clients and of the services they call make one trace. a3grpc's logs go through `log`
//! (e.g. `env_logger`) as before.
//!
//! ```no_run
//! # fn main() -> Result<(), a3grpc::otlp::OtlpError> {
//! let _flush = a3grpc::otlp::Exporter::new()
//!     .endpoint("http://127.0.0.1:4318/v1/traces")
//!     .service_name("shop")
//!     .install()?;
//! // ... serve and call; the spans still queued go out when `_flush` drops.
//! # Ok(())
//! # }
//! ```
//!
//! With a subscriber of your own (`tracing-subscriber = "0.3"`):
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (spans, _flush) = a3grpc::otlp::Exporter::new().service_name("shop").layer()?;
//! // Not `.init()` next to env_logger: with tracing-subscriber's default features it also
//! // takes over the `log` facade, which env_logger holds.
//! tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans))?;
//! # Ok(())
//! # }
//! ```
//!
//! Without [`endpoint`](Exporter::endpoint) and [`service_name`](Exporter::service_name), the
//! OpenTelemetry environment variables decide (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), then
//! `http://localhost:4318/v1/traces`. Plain `http://` only: the exporter's HTTP client is
//! built without TLS (a collector on the same host or in the same pod is the usual set-up).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor};
use opentelemetry_sdk::Resource;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::trace::{start_recording, CLIENT_SPAN, SERVER_SPAN, TARGET};

/// Where and as whom the spans go.
#[derive(Debug, Clone, Default)]
pub struct Exporter {
    endpoint: Option<String>,
    service_name: Option<String>,
}

/// The exporter could not be made (a malformed endpoint, most likely).
#[derive(Debug, thiserror::Error)]
#[error("the OTLP exporter could not be set up: {0}")]
pub struct OtlpError(String);

impl Exporter {
    /// The endpoint and service name the OpenTelemetry environment variables give.
    pub fn new() -> Exporter {
        Exporter::default()
    }

    /// The collector's traces URL, path included: `http://host:4318/v1/traces`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Exporter {
        self.endpoint = Some(url.into());
        self
    }

    /// The `service.name` the spans carry.
    pub fn service_name(mut self, name: impl Into<String>) -> Exporter {
        self.service_name = Some(name.into());
        self
    }

    /// Starts the exporter: the layer to add to your subscriber, and the guard that sends the
    /// spans still queued when it drops.
    pub fn layer(self) -> Result<(OtlpLayer, Flush), OtlpError> {
        let started = self.build()?;
        start_recording();
        Ok(started)
    }

    /// The layer and its guard, with calls not yet minting span ids: that starts only once
    /// something will export them.
    fn build(self) -> Result<(OtlpLayer, Flush), OtlpError> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary);
        if let Some(endpoint) = self.endpoint {
            exporter = exporter.with_endpoint(endpoint);
        }
        let exporter = exporter.build().map_err(|e| OtlpError(e.to_string()))?;
        let mut resource = Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let mut processor = BatchSpanProcessor::builder(exporter).build();
        processor.set_resource(&resource.build());
        let processor = Arc::new(processor);
        let scope = InstrumentationScope::builder("a3grpc").with_version(env!("CARGO_PKG_VERSION")).build();
        Ok((OtlpLayer { processor: processor.clone(), scope }, Flush { processor }))
    }
}

impl Exporter {
    /// Starts the exporter as the program's `tracing` subscriber, for a program that has none
    /// of its own; returns the guard that sends the spans still queued when it drops.
    pub fn install(self) -> Result<Flush, OtlpError> {
        let (spans, flush) = self.build()?;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans)).map_err(|_| {
            OtlpError("a tracing subscriber is already set: add `Exporter::layer()` to it instead".into())
        })?;
        start_recording();
        Ok(flush)
    }
}

/// Collects a3grpc's call spans for the exporter; add it to a `tracing_subscriber::registry()`.
pub struct OtlpLayer {
    processor: Arc<BatchSpanProcessor>,
    scope: InstrumentationScope,
}

impl fmt::Debug for OtlpLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLayer").finish_non_exhaustive()
    }
}

/// Sends the spans still queued when dropped, or at [`flush`](Flush::flush).
#[must_use = "the exporter stops when this drops: keep it (`let _flush = ...`) until the program ends"]
pub struct Flush {
    processor: Arc<BatchSpanProcessor>,
}

impl fmt::Debug for Flush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flush").finish_non_exhaustive()
    }
}

impl Flush {
    /// Sends every span that has ended and waits until the collector has them.
    pub fn flush(&self) -> Result<(), OtlpError> {
        self.processor.force_flush().map_err(|e| OtlpError(e.to_string()))
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        if let Err(e) = self.processor.shutdown() {
            log::warn!("the last spans could not be sent to the OTLP collector: {e}");
        }
    }
}

/// What a call span's fields said, kept until it closes.
struct CallSpan {
    kind: SpanKind,
    name: String,
    trace_id: Option<u128>,
    span_id: Option<u64>,
    parent_span_id: Option<u64>,
    code: Option<i64>,
    a3_error: Option<String>,
    failed: bool,
    attributes: Vec<KeyValue>,
    start: SystemTime,
}

impl Visit for CallSpan {
    fn record_str(&mut self, field: &Field, value: &str) {
        let hex = |width| (value.len() == width).then(|| u128::from_str_radix(value, 16).ok()).flatten();
        match field.name() {
            "otel.name" => self.name = value.to_owned(),
            "otel.kind" => {}
            "trace_id" => self.trace_id = hex(32),
            "span_id" => self.span_id = hex(16).and_then(|id| u64::try_from(id).ok()),
            "parent_span_id" => self.parent_span_id = hex(16).and_then(|id| u64::try_from(id).ok()),
            "a3.error" => self.a3_error = Some(value.to_owned()),
            "otel.status_code" => self.failed = value == "ERROR",
            name => self.attributes.push(KeyValue::new(name, value.to_owned())),
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "rpc.grpc.status_code" {
            self.code = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl CallSpan {
    /// In error when the call's span says so (`trace.rs` applies the gRPC conventions),
    /// described by its a3 error or its code.
    fn status(&self) -> Status {
        if !self.failed {
            return Status::Unset;
        }
        let description = match (&self.a3_error, self.code) {
            (Some(name), _) => name.clone(),
            (None, Some(code)) => format!("status code {code}"),
            (None, None) => "failed".to_owned(),
        };
        Status::Error { description: Cow::Owned(description) }
    }

    fn into_span_data(mut self, scope: &InstrumentationScope) -> Option<SpanData> {
        let (trace_id, span_id) = (self.trace_id?, self.span_id?);
        let status = self.status();
        if let Some(code) = self.code {
            self.attributes.push(KeyValue::new("rpc.grpc.status_code", code));
        }
        if let Some(name) = self.a3_error.take() {
            self.attributes.push(KeyValue::new("a3.error", name));
        }
        Some(SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace_id),
                SpanId::from(span_id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: self.parent_span_id.map_or(SpanId::INVALID, SpanId::from),
            // A server span's parent is its caller's client span, in another process.
            parent_span_is_remote: matches!(self.kind, SpanKind::Server) && self.parent_span_id.is_some(),
            span_kind: self.kind,
            name: Cow::Owned(self.name),
            start_time: self.start,
            end_time: SystemTime::now(),
            attributes: self.attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: scope.clone(),
        })
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let metadata = attrs.metadata();
        let kind = match metadata.name() {
            SERVER_SPAN => SpanKind::Server,
            CLIENT_SPAN => SpanKind::Client,
            _ => return,
        };
        if metadata.target() != TARGET {
            return;
        }
        let mut call = CallSpan {
            kind,
            name: metadata.name().to_owned(),
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            code: None,
            a3_error: None,
            failed: false,
            attributes: Vec::new(),
            start: SystemTime::now(),
        };
        attrs.record(&mut call);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(call);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(call) = span.extensions_mut().get_mut::<CallSpan>() {
                values.record(call);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(call) = span.extensions_mut().remove::<CallSpan>() else { return };
        if let Some(data) = call.into_span_data(&self.scope) {
            self.processor.on_end(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(kind: SpanKind, code: i64, a3_error: Option<&str>, failed: bool) -> CallSpan {
        CallSpan {
            kind,
            name: "pkg.Svc/Get".into(),
            trace_id: Some(1),
            span_id: Some(2),
            parent_span_id: None,
            code: Some(code),
            a3_error: a3_error.map(str::to_owned),
            failed,
            attributes: Vec::new(),
            start: SystemTime::now(),
        }
    }

    #[test]
    fn a_failed_span_is_described_by_its_a3_error_else_by_its_code() {
        assert_eq!(ended(SpanKind::Server, 499, Some("NotFoundError"), false).status(), Status::Unset);
        let failed = ended(SpanKind::Server, 599, Some("ServerUnknownError"), true).status();
        assert_eq!(failed, Status::Error { description: "ServerUnknownError".into() });
        let failed = ended(SpanKind::Client, 5, None, true).status();
        assert_eq!(failed, Status::Error { description: "status code 5".into() });
    }

    #[test]
    fn a_malformed_endpoint_is_an_error_that_names_it() {
        let err = Exporter::new().endpoint("http://exa mple:4318/v1/traces").layer().unwrap_err();
        assert!(err.to_string().contains("exa mple"), "{err}");
    }

    #[test]
    fn a_span_without_ids_of_its_own_is_not_exported() {
        let scope = InstrumentationScope::builder("a3grpc").build();
        let mut passed_on = ended(SpanKind::Server, 0, None, false);
        passed_on.span_id = None;
        assert!(passed_on.into_span_data(&scope).is_none());
        let data = ended(SpanKind::Client, 0, None, false).into_span_data(&scope).expect("exported");
        assert_eq!(data.parent_span_id, SpanId::INVALID);
        assert!(data.attributes.contains(&KeyValue::new("rpc.grpc.status_code", 0_i64)));
    }

    #[test]
    fn a_failed_install_leaves_calls_without_span_ids_of_their_own() {
        // A subscriber is set (this one, or one an earlier test set) before install() tries.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        assert!(Exporter::new().install().is_err(), "a subscriber is already set");
        assert!(!crate::trace::recording(), "nothing exports the spans, so none is minted");
    }
}
