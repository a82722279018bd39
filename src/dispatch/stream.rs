//! Streaming calls, the same steps as a unary call (`mod.rs`) with messages in between: requests
//! are read a few ahead on the I/O thread into a bounded channel ([`read_ahead`]), and a
//! View's responses flow from the worker to the I/O thread through another ([`pump`]), so a
//! slow reader slows the View instead of filling memory.

use std::sync::Arc;
use std::task::Poll;

use futures::channel::{mpsc, oneshot};
use futures::future::poll_fn;
use futures::{Sink, SinkExt, StreamExt};
use grpcio::{DuplexSink, Metadata, RequestStream, RpcContext, ServerStreamingSink, WriteFlags};

use super::{dead_call, reject, run_guarded, Fail, Permit, Runtime};
use crate::call::{CallInfo, Cancellation, Out};
use crate::error::{A3Error, Code};
use crate::flow::{self, STREAM_WINDOW};
use crate::metrics::Kind;
use crate::view::{BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView};
use crate::wire;

/// A server-streaming call arrives here, on a grpcio I/O thread.
pub(crate) fn serve_server_streaming<V: ServerStreamingView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    request: V::Request,
    sink: ServerStreamingSink<V::Response>,
) {
    let Some(permit) = rt.admit() else { return reject(rt, &ctx, Kind::ServerStream, sink, ()) };
    let call = rt.call_info(&ctx, Kind::ServerStream);
    call.metrics.received();
    let view = view.clone();
    start_stream(rt, &ctx, sink, permit, call, None, move |rt, call, tx, permit| {
        run_stream(rt, call, tx, permit, |responses, ctx| view.handle(request, responses, ctx))
    });
}

/// A client-streaming call arrives here. It is served through grpcio's duplex sink, which,
/// unlike the client-streaming one, reports a client that leaves; one response is the same
/// on the wire.
pub(crate) fn serve_client_streaming<V: ClientStreamingView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    requests: RequestStream<V::Request>,
    sink: DuplexSink<V::Response>,
) {
    let view = view.clone();
    serve_request_stream(rt, ctx, Kind::ClientStream, requests, sink, move |requests, responses, ctx| {
        let response = view.handle(requests, ctx)?;
        Ok(responses.send(response)?)
    });
}

/// A bidirectional-streaming call arrives here.
pub(crate) fn serve_bidi<V: BidiView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    requests: RequestStream<V::Request>,
    sink: DuplexSink<V::Response>,
) {
    let view = view.clone();
    serve_request_stream(rt, ctx, Kind::BidiStream, requests, sink, move |requests, responses, ctx| {
        view.handle(requests, responses, ctx)
    });
}

/// What client-streaming and bidi calls share: admission, reading ahead, the View on the pool.
fn serve_request_stream<Req: Send + 'static, Resp: Send + 'static>(
    rt: &Arc<Runtime>,
    ctx: RpcContext<'_>,
    kind: Kind,
    requests: RequestStream<Req>,
    sink: DuplexSink<Resp>,
    body: impl FnOnce(Requests<Req>, &mut Responses<Resp>, &mut Context) -> Result<(), A3Error> + Send + 'static,
) {
    let Some(permit) = rt.admit() else { return reject(rt, &ctx, kind, sink, requests) };
    let call = rt.call_info(&ctx, kind);
    let (requests, release) = read_ahead(&ctx, requests, &call, rt.stream_idle);
    start_stream(rt, &ctx, sink, permit, call, Some(release), move |rt, call, tx, permit| {
        run_stream(rt, call, tx, permit, |responses, ctx| body(requests, responses, ctx))
    });
}

/// Reads a call's requests on the I/O thread, a few ahead of the View, into a bounded
/// channel. grpcio cancels a call whose request stream is dropped unread, so if the View stops
/// reading early, the stream is kept until `release` fires: once the call's status is out.
fn read_ahead<T: Send + 'static>(
    ctx: &RpcContext<'_>,
    mut stream: RequestStream<T>,
    call: &Arc<CallInfo>,
    idle: Option<std::time::Duration>,
) -> (Requests<T>, oneshot::Sender<()>) {
    let counted = call.clone();
    let (mut tx, rx) = mpsc::channel(STREAM_WINDOW);
    let (release, released) = oneshot::channel::<()>();
    ctx.spawn(async move {
        loop {
            // The engine ends a stream the client cancelled with an error, a half-closed
            // one with `None`.
            let Some(item) = stream.next().await else { return };
            let failed = item.is_err();
            if !failed {
                counted.metrics.received();
            }
            // Past the last item the View will read, the stream is kept until the status is out.
            if tx.send(item).await.is_err() || failed {
                let _ = released.await;
                return;
            }
        }
    });
    (Requests::new(rx, call.cancelled.clone(), idle), release)
}

/// Queues an admitted streaming call's View on the streams' pool, with its `maximum_concurrent_rpcs`
/// slot, and starts the task that writes its responses. Nothing here blocks.
fn start_stream<T, S, J>(
    rt: &Arc<Runtime>,
    ctx: &RpcContext<'_>,
    sink: S,
    permit: Permit,
    call: Arc<CallInfo>,
    release: Option<oneshot::Sender<()>>,
    job: J,
) where
    T: Send + 'static,
    S: StreamSink<T>,
    J: FnOnce(&Runtime, &Arc<CallInfo>, mpsc::Sender<Out<T>>, Permit) + Send + 'static,
{
    let pumped = call.clone();
    // A small window: the View can be a few messages ahead of the network, never more.
    let (tx, rx) = mpsc::channel(STREAM_WINDOW);
    let worker_rt = rt.clone();
    // If the pool has stopped, the job (its sender and the slot) is dropped and the pump
    // answers UNAVAILABLE.
    let _ = rt.streams.submit(Box::new(move || job(&worker_rt, &call, tx, permit)));
    ctx.spawn(pump(sink, rx, pumped, release));
}

/// Runs on a worker thread: a streaming View, then the status that ends its call. The call's
/// slot is held while the View runs, whether or not its client is still there, and freed
/// before the status goes out, so a client that sees the end and calls again at once is not
/// turned away.
fn run_stream<T>(
    rt: &Runtime,
    call: &Arc<CallInfo>,
    mut tx: mpsc::Sender<Out<T>>,
    permit: Permit,
    body: impl FnOnce(&mut Responses<T>, &mut Context) -> Result<(), A3Error>,
) {
    let (end, trailers) = match dead_call(rt, call) {
        Some(status) => (Err(status), None),
        None => {
            let mut ctx = Context::new(call);
            let mut responses = Responses::new(tx.clone(), ctx.header_slot());
            let end = run_guarded(rt, call, &mut ctx, |ctx| body(&mut responses, ctx));
            (end, ctx.take_trailers())
        }
    };
    drop(permit);
    let _ = futures::executor::block_on(tx.send(Out::End(end, trailers)));
}

/// Runs on the I/O thread: writes what the worker produces, in order, one message at a time,
/// and watches for the client leaving (which it tells the View through the cancel flag and
/// by closing the channel, so the View's next send fails).
async fn pump<T, S: StreamSink<T>>(
    mut sink: S,
    mut rx: mpsc::Receiver<Out<T>>,
    call: Arc<CallInfo>,
    release: Option<oneshot::Sender<()>>,
) {
    let mut client_gone = false;
    let cancelled: &Cancellation = &call.cancelled;
    let gone = |rx: &mut mpsc::Receiver<Out<T>>| {
        cancelled.set();
        rx.close();
    };
    // One item of lookahead: a message with another right behind it is written with the
    // buffer hint, so a fast View's messages leave in batches rather than one flush each.
    let mut ahead: Option<Out<T>> = None;
    let end = loop {
        let next = match ahead.take() {
            Some(item) => Some(item),
            None => {
                poll_fn(|cx| {
                    if !client_gone {
                        if let Poll::Ready(Err(_)) = sink.poll_ready_unpin(cx) {
                            client_gone = true;
                            gone(&mut rx);
                        }
                    }
                    rx.poll_next_unpin(cx)
                })
                .await
            }
        };
        match next {
            Some(Out::Headers(headers)) => sink.headers(headers),
            Some(Out::Message(message)) => {
                if client_gone {
                    continue;
                }
                ahead = rx.try_recv().ok();
                let more = matches!(ahead, Some(Out::Message(_)));
                if flow::write(&mut sink, message, more).await.is_err() {
                    client_gone = true;
                    gone(&mut rx);
                } else {
                    call.metrics.sent();
                }
            }
            Some(Out::End(end, trailers)) => {
                sink.trailers(trailers);
                break Some(end);
            }
            None => break None,
        }
    };
    if !client_gone {
        let _ = match end {
            Some(Ok(())) => sink.close().await,
            Some(Err(status)) => sink.fail_with(status).await,
            None => {
                call.metrics.handled(Code::UNAVAILABLE, None);
                sink.fail_with(wire::status(Code::UNAVAILABLE, "the server stopped before the call ran")).await
            }
        };
    }
    drop(release);
}

/// grpcio's two streaming sinks, which share their methods but no trait.
trait StreamSink<T>: Sink<(T, WriteFlags), Error = grpcio::Error> + Fail + Unpin {
    fn headers(&mut self, headers: Metadata);
}

impl<T: Send + 'static> StreamSink<T> for ServerStreamingSink<T> {
    fn headers(&mut self, headers: Metadata) {
        self.set_headers(headers)
    }
}

impl<T: Send + 'static> StreamSink<T> for DuplexSink<T> {
    fn headers(&mut self, headers: Metadata) {
        self.set_headers(headers)
    }
}
