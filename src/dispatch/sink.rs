//! grpcio's server sinks behind the two small traits the rest of dispatch uses: [`EndSink`]
//! ends a call (the only way a call's status leaves), [`StreamSink`] writes a stream's
//! messages before that. This is the one file that names grpcio's sink types.

use std::future::{self, Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::{FutureExt, Sink};
use grpcio::{
    ClientStreamingSink, ClientStreamingSinkResult, DuplexSink, Metadata, RpcStatus, ServerStreamingSink, UnarySink,
    WriteFlags,
};

/// What ends a call on the wire: the reply (or, for a stream, the clean end) or the status,
/// with the response metadata (sent only with a unary reply) and the trailers (sent with
/// either).
pub(crate) struct End<T> {
    pub(crate) result: Result<T, RpcStatus>,
    pub(crate) headers: Option<Metadata>,
    pub(crate) trailers: Option<Metadata>,
}

/// Where a call's end is sent: one of grpcio's sinks, or a fake in the unit tests. A unary
/// end starts on the wire at once, a stream's clean end when its future is first polled;
/// the future resolves when the end is out.
pub(crate) trait EndSink<T>: Send + 'static {
    /// Whether a successful end carries a message (unary) or closes a stream.
    const REPLY_IS_A_MESSAGE: bool;
    type Sent: Future<Output = ()> + Send + Unpin + 'static;
    fn end(self, end: End<T>) -> Self::Sent;
}

/// Ignores how the send went: a client that has gone cannot be told anything more.
pub(crate) struct Settled<F>(F);

impl<F: Future<Output = grpcio::Result<()>> + Unpin> Future for Settled<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_unpin(cx).map(|_| ())
    }
}

macro_rules! unary_end {
    ($sink:ident, $sent:ident) => {
        impl<T: Send + 'static> EndSink<T> for $sink<T> {
            const REPLY_IS_A_MESSAGE: bool = true;
            type Sent = Settled<grpcio::$sent>;
            fn end(mut self, end: End<T>) -> Self::Sent {
                if let Some(trailers) = end.trailers {
                    self.set_trailers(trailers);
                }
                Settled(match end.result {
                    Ok(message) => {
                        if let Some(headers) = end.headers {
                            self.set_headers(headers);
                        }
                        self.success(message)
                    }
                    Err(status) => self.fail(status),
                })
            }
        }
    };
}

unary_end!(ClientStreamingSink, ClientStreamingSinkResult);
unary_end!(UnarySink, UnarySinkResult);

/// A stream's sink: it writes the messages, then ends the call once.
pub(crate) trait StreamSink<T>: Sink<(T, WriteFlags), Error = grpcio::Error> + EndSink<()> + Unpin {
    fn headers(&mut self, headers: Metadata);
}

macro_rules! stream_end {
    ($sink:ident) => {
        impl<T: Send + 'static> EndSink<()> for $sink<T> {
            const REPLY_IS_A_MESSAGE: bool = false;
            type Sent = futures::future::BoxFuture<'static, ()>;
            fn end(mut self, end: End<()>) -> Self::Sent {
                if let Some(trailers) = end.trailers {
                    self.set_trailers(trailers);
                }
                match end.result {
                    Ok(()) => async move {
                        let _ = futures::SinkExt::close(&mut self).await;
                    }
                    .boxed(),
                    Err(status) => self.fail(status).map(|_| ()).boxed(),
                }
            }
        }

        impl<T: Send + 'static> StreamSink<T> for $sink<T> {
            fn headers(&mut self, headers: Metadata) {
                self.set_headers(headers)
            }
        }
    };
}

stream_end!(ServerStreamingSink);
stream_end!(DuplexSink);

/// A pool unary call's sink, sent from the worker: the send starts there, and the I/O thread
/// that keeps the call learns when it is out, to let the call's request stream go only then.
pub(crate) struct Handoff<T> {
    pub(crate) sink: ClientStreamingSink<T>,
    pub(crate) sent: oneshot::Sender<Settled<ClientStreamingSinkResult>>,
}

impl<T: Send + 'static> EndSink<T> for Handoff<T> {
    const REPLY_IS_A_MESSAGE: bool = true;
    type Sent = Ready<()>;
    fn end(self, end: End<T>) -> Ready<()> {
        let _ = self.sent.send(self.sink.end(end));
        future::ready(())
    }
}
