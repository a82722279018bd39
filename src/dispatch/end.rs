//! The one owner of a server call's end. [`ServerCall`] is made when a call arrives and holds
//! what its end settles: the admission slot, the call's counters and span, the interceptors
//! to tell about a call they never saw, the sink the end leaves through, and what must live
//! until the end is out. [`finish`]
//! consumes it with the call's [`Ending`], so each call is counted, told and answered exactly
//! once, in one place, whatever its kind; dropped unfinished (the pool stopped before the
//! View ran), it ends the call as its client sees it, UNAVAILABLE.
//!
//! [`finish`]: ServerCall::finish

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures::FutureExt;

use grpcio::{Metadata, RpcStatus};

use super::sink::{End, EndSink};
use super::{Permit, Runtime};
use crate::call::CallInfo;
use crate::error::{A3Error, Code, StatusCodes};
use crate::interceptor::Outcome;
use crate::view::Context;
use crate::wire;

/// How a server call ended: the one list of the ways, each counted and answered in
/// [`ServerCall::finish`].
pub(crate) enum Ending<T> {
    /// The View returned its reply (a streaming View, `Ok`).
    Replied(T),
    /// The View, or an interceptor that turned the call away, returned an error: sent as an
    /// a3 error, its cause only logged.
    Failed(A3Error),
    /// The call ended on its own while its View ran: its deadline passed, its client cancelled
    /// or the server's stop cut it off. The code its client saw, and why; nobody receives what
    /// the View returned.
    EndedWhileRunning(Code, &'static str),
    /// Refused over `maximum_concurrent_rpcs`; nothing ran.
    OverTheLimit,
    /// Its client cancelled or its deadline passed while it waited for a worker; nothing ran.
    DiedWaiting(Code, &'static str),
    /// Its request could not be read; nothing ran.
    Unreadable(RpcStatus),
    /// The server stopped before its View ran.
    Stopped,
}

impl<T> Ending<T> {
    /// The code the call's client gets, and the a3 error behind it, if one is.
    pub(crate) fn code<'a>(&'a self, codes: &StatusCodes) -> (Code, Option<&'a A3Error>) {
        match self {
            Ending::Replied(_) => (Code::OK, None),
            Ending::Failed(err) => (codes.code_for(err), Some(err)),
            Ending::EndedWhileRunning(code, _) | Ending::DiedWaiting(code, _) => (*code, None),
            Ending::OverTheLimit => (Code::RESOURCE_EXHAUSTED, None),
            Ending::Unreadable(status) => (wire::code_of(status), None),
            Ending::Stopped => (Code::UNAVAILABLE, None),
        }
    }
}

/// One server call, from its arrival to its end.
pub(crate) struct ServerCall<T, S: EndSink<T>> {
    rt: Arc<Runtime>,
    info: Arc<CallInfo>,
    permit: Option<Permit>,
    headers: Option<Metadata>,
    trailers: Option<Metadata>,
    // `None` only once the call has ended.
    sink: Option<S>,
    kept: Option<Box<dyn Send>>,
    reply: PhantomData<fn(T)>,
}

impl<T, S: EndSink<T>> ServerCall<T, S> {
    pub(crate) fn new(rt: &Arc<Runtime>, info: Arc<CallInfo>, sink: S) -> ServerCall<T, S> {
        ServerCall {
            rt: rt.clone(),
            info,
            permit: None,
            headers: None,
            trailers: None,
            sink: Some(sink),
            kept: None,
            reply: PhantomData,
        }
    }

    pub(crate) fn info(&self) -> &Arc<CallInfo> {
        &self.info
    }

    /// Takes a slot under `maximum_concurrent_rpcs`, held until the call ends; `false` when
    /// the server is full.
    pub(crate) fn admit(&mut self) -> bool {
        self.permit = self.rt.admit();
        self.permit.is_some()
    }

    /// The response metadata and trailers the View set, sent with the end.
    pub(crate) fn set_metadata(&mut self, headers: Option<Metadata>, trailers: Option<Metadata>) {
        self.headers = headers;
        self.trailers = trailers;
    }

    /// Keeps `what` until the call's end is out (or, if the call is dropped unfinished, until
    /// then): a request stream, which grpcio cancels its call for if it goes first.
    pub(crate) fn keep_until_ended(&mut self, what: impl Send + 'static) {
        self.kept = Some(Box::new(what));
    }

    /// The sink, for a stream's messages before its end.
    pub(crate) fn sink(&mut self) -> Option<&mut S> {
        self.sink.as_mut()
    }

    /// The same call, ending through `wrap(sink)` instead.
    pub(crate) fn wrap_sink<W: EndSink<T>>(mut self, wrap: impl FnOnce(S) -> W) -> ServerCall<T, W> {
        let sink = self.sink.take().map(wrap);
        ServerCall {
            rt: self.rt.clone(),
            info: self.info.clone(),
            permit: self.permit.take(),
            headers: self.headers.take(),
            trailers: self.trailers.take(),
            sink,
            kept: self.kept.take(),
            reply: PhantomData,
        }
    }

    /// Ends the call: counts it, tells the interceptors if they never saw it, frees its slot
    /// and sends its end. The future resolves once the end is out, and lets go of what the
    /// call kept.
    pub(crate) fn finish(mut self, ending: Ending<T>) -> Ended<S::Sent> {
        let sent = match self.sink.take() {
            Some(sink) => self.send(sink, ending),
            None => unreachable!("a call's sink leaves only with its end, which takes the call"),
        };
        Ended { sent, kept: self.kept.take() }
    }

    fn send(&mut self, sink: S, ending: Ending<T>) -> S::Sent {
        // Freed before the end goes out, so a client that sees it and calls again at once is
        // not turned away.
        drop(self.permit.take());
        let (code, error) = ending.code(&self.rt.codes);
        let metrics = &self.info.metrics;
        match &ending {
            Ending::OverTheLimit => self.rt.metrics.refused(metrics),
            Ending::DiedWaiting(..) => self.rt.metrics.dropped(metrics, code),
            _ => metrics.handled(code, error),
        }
        let result = match ending {
            Ending::Replied(reply) => {
                if S::REPLY_IS_A_MESSAGE {
                    metrics.sent();
                }
                Ok(reply)
            }
            Ending::Failed(err) => Err(wire::to_rpc_status(&err, &self.rt.codes, &self.info.method)),
            Ending::EndedWhileRunning(code, why) => Err(wire::status(code, why)),
            Ending::OverTheLimit => Err(self.unrun(over_the_limit())),
            Ending::DiedWaiting(code, why) => Err(self.unrun(wire::status(code, why))),
            Ending::Unreadable(status) => Err(self.unrun(status)),
            Ending::Stopped => {
                Err(self.unrun(wire::status(Code::UNAVAILABLE, "the server stopped before the call ran")))
            }
        };
        sink.end(End { result, headers: self.headers.take(), trailers: self.trailers.take() })
    }

    /// Tells the interceptors about a call that ends before any of them ran.
    fn unrun(&self, status: RpcStatus) -> RpcStatus {
        if self.rt.interceptors.is_empty() {
            return status;
        }
        let ctx = Context::new(&self.info);
        let outcome = Outcome { code: wire::code_of(&status), error: None, elapsed: Duration::ZERO };
        for interceptor in self.rt.interceptors.iter().rev() {
            if panic::catch_unwind(AssertUnwindSafe(|| interceptor.refused(&ctx, &outcome))).is_err() {
                log::error!("{}: an interceptor panicked in refused()", self.info.method);
            }
        }
        status
    }
}

impl<T, S: EndSink<T>> Drop for ServerCall<T, S> {
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take() {
            // The send has started; nobody is left to wait for it.
            drop(self.send(sink, Ending::Stopped));
        }
    }
}

/// A call's end on its way out, with what the call kept until then.
pub(crate) struct Ended<F> {
    sent: F,
    kept: Option<Box<dyn Send>>,
}

impl<F: Future<Output = ()> + Unpin> Future for Ended<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        futures::ready!(self.sent.poll_unpin(cx));
        self.kept = None;
        Poll::Ready(())
    }
}

/// The status of a call over `maximum_concurrent_rpcs`, worded as grpcio's Python server does.
fn over_the_limit() -> RpcStatus {
    wire::status(Code::RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use grpcio::Deadline;

    use super::*;
    use crate::call::{Cancellation, Stopping};
    use crate::dispatch::Pools;
    use crate::interceptor::Interceptor;
    use crate::metrics::{Kind, Metrics};
    use crate::sync::lock;
    use crate::trace::{CallTrace, Side};

    const METHOD: &str = "/Greeter/say_hello";

    /// What a client would see of each end it is given.
    type Seen = Arc<Mutex<Vec<Result<String, (Code, String)>>>>;

    /// A sink that records the end it is given.
    struct FakeSink(Seen);

    impl EndSink<String> for FakeSink {
        const REPLY_IS_A_MESSAGE: bool = true;
        type Sent = std::future::Ready<()>;
        fn end(self, end: End<String>) -> Self::Sent {
            lock(&self.0).push(end.result.map_err(|status| (wire::code_of(&status), status.message().to_owned())));
            std::future::ready(())
        }
    }

    /// Counts the calls it is told it never saw.
    #[derive(Default)]
    struct CountsRefused(AtomicUsize);

    impl Interceptor for CountsRefused {
        fn refused(&self, _: &Context, _: &Outcome<'_>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Server {
        rt: Arc<Runtime>,
        refused: Arc<CountsRefused>,
        _pools: Pools,
    }

    fn server(limit: Option<usize>) -> Server {
        let pools = Pools::new(1, 1).unwrap();
        let metrics = Arc::new(Metrics::new(pools.loads()).unwrap());
        let refused = Arc::new(CountsRefused::default());
        let interceptors: Vec<Arc<dyn Interceptor>> = vec![refused.clone()];
        let rt = Runtime::new(pools.submitters(), limit, StatusCodes::default(), interceptors, metrics, None);
        Server { rt: Arc::new(rt), refused, _pools: pools }
    }

    impl Server {
        fn call(&self) -> (ServerCall<String, FakeSink>, Seen) {
            let info = CallInfo {
                metrics: self.rt.metrics.start(METHOD, Kind::Unary, CallTrace::start(Side::Server, METHOD, None)),
                method: METHOD.to_owned(),
                peer: "ipv4:127.0.0.1:1".to_owned(),
                headers: Vec::new(),
                deadline: Deadline::from(Duration::from_secs(60)),
                deadline_at: None,
                cancelled: Arc::new(Cancellation::default()),
                stopping: Arc::new(Stopping::default()),
            };
            let seen = Seen::default();
            (ServerCall::new(&self.rt, Arc::new(info), FakeSink(seen.clone())), seen)
        }

        /// `grpc_server_handled_total` of `code` (as Go spells it) and `a3_error`.
        fn handled(&self, code: &str, a3_error: &str) -> usize {
            let wanted = format!(
                r#"grpc_server_handled_total{{a3_error="{a3_error}",grpc_code="{code}",grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary"}} "#
            );
            let text = self.rt.metrics.text();
            text.lines().find_map(|l| l.strip_prefix(&wanted)).map_or(0, |n| n.parse().unwrap())
        }

        fn counter(&self, name: &str) -> usize {
            let text = self.rt.metrics.text();
            text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map_or(0, |n| n.parse().unwrap())
        }
    }

    #[test]
    fn a_reply_is_sent_and_counted_once() {
        let server = server(None);
        let (call, seen) = server.call();
        drop(call.finish(Ending::Replied("hi".to_owned())));
        assert_eq!(*lock(&seen), [Ok("hi".to_owned())]);
        assert_eq!(server.handled("OK", ""), 1);
        assert_eq!(server.refused.0.load(Ordering::SeqCst), 0, "the interceptors saw this call run");
    }

    #[test]
    fn an_a3_error_goes_out_in_the_wire_format_and_is_counted_by_its_name() {
        let server = server(None);
        let (call, seen) = server.call();
        drop(call.finish(Ending::Failed(A3Error::NotFound("no such greeting".into()))));
        let seen = lock(&seen);
        let (code, message) = seen[0].as_ref().unwrap_err();
        assert_eq!(
            (code.value(), message.as_str()),
            (499, r#"{"status":"NotFoundError","message":"no such greeting"}"#)
        );
        assert_eq!(server.handled("Code(499)", "NotFoundError"), 1);
    }

    #[test]
    fn a_call_that_never_ran_is_counted_as_such_and_told_to_the_interceptors() {
        let server = server(None);
        let endings = [
            Ending::OverTheLimit,
            Ending::DiedWaiting(Code::CANCELLED, "the client cancelled the call before it ran"),
            Ending::Unreadable(wire::status(Code::INTERNAL, "could not read the request")),
            Ending::Stopped,
        ];
        let mut codes = Vec::new();
        for ending in endings {
            let (call, seen) = server.call();
            drop(call.finish(ending));
            codes.push(lock(&seen)[0].as_ref().unwrap_err().0);
        }
        let expected = [Code::RESOURCE_EXHAUSTED, Code::CANCELLED, Code::INTERNAL, Code::UNAVAILABLE];
        assert_eq!(codes, expected);
        assert_eq!(server.refused.0.load(Ordering::SeqCst), 4);
        assert_eq!(server.counter("a3grpc_server_refused_total"), 1);
        assert_eq!(server.counter("a3grpc_server_dropped_total"), 1);
        for code in ["ResourceExhausted", "Canceled", "Internal", "Unavailable"] {
            assert_eq!(server.handled(code, ""), 1, "{code}");
        }
    }

    #[test]
    fn a_call_dropped_unfinished_answers_unavailable_once() {
        let server = server(None);
        let (call, seen) = server.call();
        drop(call);
        assert_eq!(*lock(&seen), [Err((Code::UNAVAILABLE, "the server stopped before the call ran".to_owned()))]);
        assert_eq!(server.handled("Unavailable", ""), 1);
        assert_eq!(server.refused.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_slot_is_held_until_the_call_ends() {
        let server = server(Some(1));
        let (mut first, _) = server.call();
        let (mut second, _) = server.call();
        assert!(first.admit());
        assert!(!second.admit(), "one slot, taken");
        drop(first.finish(Ending::Replied("hi".to_owned())));
        assert!(second.admit(), "freed by the first call's end");
    }

    #[test]
    fn what_a_call_keeps_goes_once_its_end_is_out() {
        let server = server(None);
        let (mut call, _) = server.call();
        let kept = Arc::new(());
        call.keep_until_ended(kept.clone());
        let ended = call.finish(Ending::Replied("hi".to_owned()));
        assert_eq!(Arc::strong_count(&kept), 2, "kept while the end is on its way");
        futures::executor::block_on(ended);
        assert_eq!(Arc::strong_count(&kept), 1, "let go once it is out");
    }
}
