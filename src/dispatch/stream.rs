//! Streaming calls, the same steps as a unary call (`mod.rs`) with messages in between: requests
//! are read a few ahead on the I/O thread into a bounded channel ([`read_ahead`]), and a
//! View's responses flow from its worker to the I/O thread through another ([`pump`]), so a
//! slow reader slows the View instead of filling memory. The I/O thread owns the call
//! ([`ServerCall`]) and ends it with the [`Ending`] the worker hands back.

use std::sync::Arc;
use std::task::Poll;

use futures::channel::{mpsc, oneshot};
use futures::future::poll_fn;
use futures::{SinkExt, StreamExt};
use grpcio::{DuplexSink, Metadata, RequestStream, RpcContext, ServerStreamingSink};

use super::end::{Ending, ServerCall};
use super::sink::StreamSink;
use super::{dead_call, run_guarded, Runtime};
use crate::call::{CallInfo, Out};
use crate::error::A3Error;
use crate::flow::{self, STREAM_WINDOW};
use crate::metrics::Kind;
use crate::view::{BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView};

/// How a streaming View ended, and the trailers it set: handed from its worker to the I/O
/// thread once its last message is queued.
type Finished = (Ending<()>, Option<Metadata>);

/// A server-streaming call arrives here, on a grpcio I/O thread.
pub(crate) fn serve_server_streaming<V: ServerStreamingView>(
    rt: &Arc<Runtime>,
    view: &Arc<V>,
    ctx: RpcContext<'_>,
    request: V::Request,
    sink: ServerStreamingSink<V::Response>,
) {
    let mut call = ServerCall::new(rt, rt.call_info(&ctx, Kind::ServerStream), sink);
    if !call.admit() {
        return ctx.spawn(call.finish(Ending::OverTheLimit));
    }
    call.info().metrics.received();
    let view = view.clone();
    start_stream(rt, &ctx, call, move |responses, ctx| view.handle(request, responses, ctx));
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

/// What client-streaming and bidi calls share: admission, reading ahead, the View on a worker.
fn serve_request_stream<Req: Send + 'static, Resp: Send + 'static>(
    rt: &Arc<Runtime>,
    ctx: RpcContext<'_>,
    kind: Kind,
    requests: RequestStream<Req>,
    sink: DuplexSink<Resp>,
    body: impl FnOnce(Requests<Req>, &mut Responses<Resp>, &mut Context) -> Result<(), A3Error> + Send + 'static,
) {
    let mut call = ServerCall::new(rt, rt.call_info(&ctx, kind), sink);
    if !call.admit() {
        call.keep_until_ended(requests);
        return ctx.spawn(call.finish(Ending::OverTheLimit));
    }
    let (requests, release) = read_ahead(&ctx, requests, call.info(), rt.stream_idle);
    call.keep_until_ended(release);
    start_stream(rt, &ctx, call, move |responses, ctx| body(requests, responses, ctx));
}

/// Reads a call's requests on the I/O thread, a few ahead of the View, into a bounded
/// channel. grpcio cancels a call whose request stream is dropped unread, so if the View stops
/// reading early, the stream is kept until `release` goes, which the call keeps to its end.
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
            // Past the last item the View will read, the stream is kept until the end is out.
            if tx.send(item).await.is_err() || failed {
                let _ = released.await;
                return;
            }
        }
    });
    (Requests::new(rx, call.cancelled.clone(), idle), release)
}

/// Queues an admitted streaming call's View on the streams' pool, and starts the task that
/// writes its responses and ends the call. Nothing here blocks.
fn start_stream<T, S>(
    rt: &Arc<Runtime>,
    ctx: &RpcContext<'_>,
    call: ServerCall<(), S>,
    body: impl FnOnce(&mut Responses<T>, &mut Context) -> Result<(), A3Error> + Send + 'static,
) where
    T: Send + 'static,
    S: StreamSink<T>,
{
    // A small window: the View can be a few messages ahead of the network, never more.
    let (tx, rx) = mpsc::channel(STREAM_WINDOW);
    let (finished_tx, finished) = oneshot::channel();
    let (worker_rt, info) = (rt.clone(), call.info().clone());
    // If the pool has stopped, the job is dropped unrun, and the pump ends the call.
    let _ = rt.streams.submit(Box::new(move || {
        let _ = finished_tx.send(run_stream(&worker_rt, &info, tx, body));
    }));
    ctx.spawn(pump(call, rx, finished));
}

/// Runs on a worker: a streaming View, and how it ended. Its responses go out as it sends them;
/// the channel closes as this returns, before the I/O thread is given the ending.
fn run_stream<T>(
    rt: &Runtime,
    call: &Arc<CallInfo>,
    tx: mpsc::Sender<Out<T>>,
    body: impl FnOnce(&mut Responses<T>, &mut Context) -> Result<(), A3Error>,
) -> Finished {
    if let Some(died) = dead_call(call) {
        return (died, None);
    }
    let mut ctx = Context::new(call);
    let mut responses = Responses::new(tx, ctx.header_slot());
    let ending = run_guarded(rt, call, &mut ctx, |ctx| body(&mut responses, ctx));
    (ending, ctx.take_trailers())
}

/// Runs on the I/O thread: writes the View's responses, then ends the call as its worker
/// says.
async fn pump<T, S: StreamSink<T>>(
    mut call: ServerCall<(), S>,
    rx: mpsc::Receiver<Out<T>>,
    finished: oneshot::Receiver<Finished>,
) {
    let info = call.info().clone();
    if let Some(sink) = call.sink() {
        write_responses(sink, rx, &info).await;
    }
    match finished.await {
        Ok((ending, trailers)) => {
            call.set_metadata(None, trailers);
            call.finish(ending).await;
        }
        // The pool stopped before the View ran.
        Err(oneshot::Canceled) => call.finish(Ending::Stopped).await,
    }
}

/// Writes what the worker produces, in order, one message at a time, until the View returns,
/// and watches for the client leaving, which it tells the View through the cancel flag and by
/// closing the channel, so the View's next send fails.
async fn write_responses<T, S: StreamSink<T>>(sink: &mut S, mut rx: mpsc::Receiver<Out<T>>, call: &CallInfo) {
    let mut client_gone = false;
    let gone = |rx: &mut mpsc::Receiver<Out<T>>| {
        call.cancelled.set();
        rx.close();
    };
    // One item of lookahead: a message with another right behind it is written with the
    // buffer hint, so a fast View's messages leave in batches rather than one flush each.
    let mut ahead: Option<Out<T>> = None;
    loop {
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
                if flow::write(sink, message, more).await.is_err() {
                    client_gone = true;
                    gone(&mut rx);
                } else {
                    call.metrics.sent();
                }
            }
            // Every sender has gone: the View has returned.
            None => return,
        }
    }
}
