//! A call's trace: the `tracing` span every call gets, on the server and on the client, named
//! and filled in per OpenTelemetry's RPC conventions, and the W3C trace context
//! (`traceparent`) it arrives with and passes on.
//!
//! While nothing exports spans, a3grpc is transparent: the trace context a call arrives with
//! is what the calls its View makes carry on ([`CallOptions::within`]), so a trace started
//! by a Python or Go client continues past a service that records nothing, as OpenTelemetry's
//! API does without an SDK. Once an exporter is installed (the `otlp` feature), each call's
//! span gets ids of its own: a server span is the child of its caller's client span, and a
//! client span, whose id is the parent the server downstream sees, the child of the call the
//! View serves.
//!
//! [`CallOptions::within`]: crate::CallOptions::within

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::Empty;
use tracing::Span;

use crate::error::{Code, Side as Blame};
use crate::method::split_path;
use crate::sync::lock;

/// The request metadata that carries the W3C trace context.
pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";

/// The `tracing` target and span names of a3grpc's call spans, which the exporter looks for.
pub(crate) const TARGET: &str = "a3grpc";
pub(crate) const SERVER_SPAN: &str = "grpc.server";
pub(crate) const CLIENT_SPAN: &str = "grpc.client";

static RECORDING: AtomicBool = AtomicBool::new(false);

/// From now on, calls get spans with ids of their own: something exports them.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn start_recording() {
    RECORDING.store(true, Ordering::Release);
}

pub(crate) fn recording() -> bool {
    RECORDING.load(Ordering::Acquire)
}

/// A valid `traceparent`: its trace id, its parent's span id and whether it is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parent {
    trace_id: u128,
    span_id: u64,
    sampled: bool,
}

/// Reads a `traceparent` as W3C Trace Context level 1 says: version 00 exactly
/// `00-<32 hex>-<16 hex>-<2 hex>`, a later version at least that (what follows it is for
/// that version), lower-case hex, neither id all zeros, never version ff. Anything else is
/// no trace context, as the spec wants.
fn parse(traceparent: &str) -> Option<Parent> {
    let value = traceparent.trim();
    let field = |range: std::ops::Range<usize>| {
        value.get(range).filter(|hex| hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    };
    let version = u8::from_str_radix(field(0..2)?, 16).ok()?;
    let well_formed = match version {
        0xff => false,
        0 => value.len() == 55,
        _ => value.len() == 55 || value.as_bytes().get(55) == Some(&b'-'),
    };
    if !well_formed || [2, 35, 52].iter().any(|&at| value.as_bytes()[at] != b'-') {
        return None;
    }
    let trace_id = u128::from_str_radix(field(3..35)?, 16).ok()?;
    let span_id = u64::from_str_radix(field(36..52)?, 16).ok()?;
    let flags = u8::from_str_radix(field(53..55)?, 16).ok()?;
    (trace_id != 0 && span_id != 0).then_some(Parent { trace_id, span_id, sampled: flags & 1 == 1 })
}

fn traceparent(trace_id: u128, span_id: u64) -> String {
    format!("00-{trace_id:032x}-{span_id:016x}-01")
}

fn new_span_id() -> u64 {
    // Zero is no span id; one draw in 2^64 needs another.
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return id;
        }
    }
}

fn new_trace_id() -> u128 {
    loop {
        let id = fastrand::u128(..);
        if id != 0 {
            return id;
        }
    }
}

/// Where a call stands in its trace, and its span.
#[derive(Clone)]
pub(crate) struct CallTrace {
    /// What the next hop gets as `traceparent`: this call's own span when it has one, else
    /// the context it arrived with, unchanged.
    onward: Option<String>,
    /// Shared by the copies of the call's record (a stream's sender holds one), and taken
    /// when the call ends: a span closes when its last handle drops, which must be then.
    /// None when no subscriber wants the span, so such calls allocate nothing for it.
    span: Option<Arc<Mutex<Option<Span>>>>,
    side: Side,
}

/// Which side of a call a span stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    Server,
    Client,
}

impl CallTrace {
    /// The trace of a call to or of `method` (`/package.Service/Method`), whose caller sent
    /// `incoming` as its `traceparent` (on a client: the call options' one).
    pub(crate) fn start(side: Side, method: &str, incoming: Option<&str>) -> CallTrace {
        let parent = incoming.and_then(parse);
        // An unsampled trace is recorded nowhere downstream either: passed on as it came.
        let own = (recording() && parent.map_or(true, |p| p.sampled)).then(|| {
            let trace_id = parent.map_or_else(new_trace_id, |p| p.trace_id);
            (trace_id, new_span_id())
        });
        let onward = match own {
            Some((trace_id, span_id)) => Some(traceparent(trace_id, span_id)),
            None => parent.and(incoming).map(|value| value.trim().to_owned()),
        };
        let (service, name) = split_path(method).unwrap_or(("", method));
        let otel_name = method.trim_start_matches('/');
        // tracing wants a span's name and fields spelled out where it is made.
        macro_rules! call_span {
            ($name:expr, $kind:literal) => {
                tracing::info_span!(
                    target: TARGET,
                    $name,
                    otel.name = otel_name,
                    otel.kind = $kind,
                    rpc.system = "grpc",
                    rpc.service = service,
                    rpc.method = name,
                    rpc.grpc.status_code = Empty,
                    a3.error = Empty,
                    otel.status_code = Empty,
                    trace_id = Empty,
                    span_id = Empty,
                    parent_span_id = Empty,
                )
            };
        }
        let span = match side {
            Side::Server => call_span!(SERVER_SPAN, "server"),
            Side::Client => call_span!(CLIENT_SPAN, "client"),
        };
        if let Some(trace_id) = own.map(|(trace_id, _)| trace_id).or(parent.map(|p| p.trace_id)) {
            span.record("trace_id", format!("{trace_id:032x}").as_str());
        }
        if let Some((_, span_id)) = own {
            span.record("span_id", format!("{span_id:016x}").as_str());
            if let Some(parent) = parent {
                span.record("parent_span_id", format!("{:016x}", parent.span_id).as_str());
            }
        }
        let span = (!span.is_disabled()).then(|| Arc::new(Mutex::new(Some(span))));
        CallTrace { onward, span, side }
    }

    /// A call that nobody traces (a View tested on its own), whose onward calls carry
    /// `incoming` if it is a trace context.
    pub(crate) fn detached(incoming: Option<&str>) -> CallTrace {
        let onward = incoming.filter(|value| parse(value).is_some()).map(|value| value.trim().to_owned());
        CallTrace { onward, span: None, side: Side::Server }
    }

    /// The `traceparent` the next hop gets, if any.
    pub(crate) fn onward(&self) -> Option<&str> {
        self.onward.as_deref()
    }

    /// The call's trace id, in hex: the same in what it came with and what it passes on.
    pub(crate) fn trace_id(&self) -> Option<&str> {
        self.onward.as_deref().and_then(|traceparent| traceparent.get(3..35))
    }

    /// The call's span, until it has ended.
    pub(crate) fn span(&self) -> Span {
        self.span.as_ref().and_then(|span| lock(span).clone()).unwrap_or_else(Span::none)
    }

    /// Records how the call ended, its status code, the a3 error that ended it and whom that
    /// error blames, and ends its span (once the View's run, which holds it, is over).
    pub(crate) fn ended(&self, code: Code, a3_error: Option<&str>, blame: Option<Blame>) {
        let Some(span) = self.span.as_ref().and_then(|span| lock(span).take()) else { return };
        span.record("rpc.grpc.status_code", code.value());
        if let Some(name) = a3_error {
            span.record("a3.error", name);
        }
        if failed(self.side, code, blame) {
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// Whether a call's span is in error, as OpenTelemetry's gRPC conventions say: on a client
/// every ending but OK; on a server only one that blames the server (a server-side a3
/// error, or, without an a3 error, UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
/// UNAVAILABLE or DATA_LOSS).
fn failed(side: Side, code: Code, blame: Option<Blame>) -> bool {
    match (side, blame) {
        (Side::Client, _) => code != Code::OK,
        (Side::Server, Some(blame)) => blame == Blame::Server,
        (Side::Server, None) => code.blames_the_service() || code == Code::UNIMPLEMENTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_trace_id_parent_and_sampled_flag() {
        let parent = parse(VALID).expect("valid");
        assert_eq!(parent.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(parent.span_id, 0x00f067aa0ba902b7);
        assert!(parent.sampled);
        assert!(!parse(&VALID.replace("-01", "-00")).expect("valid").sampled);
    }

    #[test]
    fn malformed_traceparents_are_no_trace_context() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_for_the_fields_it_shares_with_version_00() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert_eq!(parse(later).map(|p| p.span_id), Some(0x00f067aa0ba902b7));
        assert_eq!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), None);
    }

    #[test]
    fn while_nothing_records_the_incoming_context_is_passed_on_unchanged() {
        let trace = CallTrace::start(Side::Server, "/pkg.Svc/Get", Some(VALID));
        assert_eq!(trace.onward(), Some(VALID));
        assert_eq!(trace.trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(CallTrace::detached(Some(VALID)).trace_id(), trace.trace_id());
        assert_eq!(CallTrace::start(Side::Client, "/pkg.Svc/Get", Some("garbage")).onward(), None);
        assert_eq!(CallTrace::start(Side::Client, "/pkg.Svc/Get", None).onward(), None);
    }

    #[test]
    fn a_server_span_fails_only_when_the_server_did_a_client_span_with_every_code_but_ok() {
        assert!(!failed(Side::Server, Code::OK, None));
        assert!(!failed(Side::Server, Code::NOT_FOUND, None));
        assert!(!failed(Side::Server, Code::new(499), Some(Blame::Client)));
        assert!(failed(Side::Server, Code::INTERNAL, None));
        assert!(failed(Side::Server, Code::new(599), Some(Blame::Server)));
        assert!(!failed(Side::Client, Code::OK, None));
        assert!(failed(Side::Client, Code::new(499), Some(Blame::Client)));
        assert!(failed(Side::Client, Code::NOT_FOUND, None));
    }

    #[test]
    fn ids_are_formatted_as_lower_case_hex_of_their_full_width() {
        assert_eq!(traceparent(1, 2), "00-00000000000000000000000000000001-0000000000000002-01");
        assert_eq!(parse(&traceparent(new_trace_id(), new_span_id())).map(|p| p.sampled), Some(true));
    }
}
