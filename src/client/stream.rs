//! The client side of streaming calls. Streams move between the caller's thread and the
//! client's I/O thread through small bounded channels: the I/O thread writes and reads a few
//! messages ahead, so a long stream neither costs a thread hand-off per message nor piles up
//! in memory.

use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use futures::channel::{mpsc, oneshot};
use futures::executor::block_on;
use futures::future::poll_fn;
use futures::{FutureExt, SinkExt, StreamExt};
use grpcio::WriteFlags;

use super::{BaseClient, Headers};
use crate::error::{Code, Error};
use crate::flow::{self, STREAM_WINDOW};
use crate::metrics::CallMetrics;
use crate::sync::lock;
use crate::wire;

pub(super) enum Receiver<T> {
    Server(grpcio::ClientSStreamReceiver<T>),
    Duplex(grpcio::ClientDuplexReceiver<T>),
}

impl<T> Receiver<T> {
    fn cancel(&mut self) {
        match self {
            Receiver::Server(r) => r.cancel(),
            Receiver::Duplex(r) => r.cancel(),
        }
    }

    async fn headers(&mut self) -> grpcio::Result<Headers> {
        match self {
            Receiver::Server(r) => r.headers().await.map(wire::to_pairs),
            Receiver::Duplex(r) => r.headers().await.map(wire::to_pairs),
        }
    }

    fn poll_message(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<grpcio::Result<T>>> {
        match self {
            Receiver::Server(r) => r.poll_next_unpin(cx),
            Receiver::Duplex(r) => r.poll_next_unpin(cx),
        }
    }
}

/// The responses of a streaming call, as a blocking iterator of typed results. It ends after
/// the last response, or after the error that ended the call. Dropping it before the end
/// cancels the call.
///
/// A grpcio client reports an error status as soon as it arrives, so messages the server sent
/// just before an error may be skipped if they were not read yet.
pub struct ResponseStream<T> {
    incoming: mpsc::Receiver<grpcio::Result<T>>,
    headers: Option<oneshot::Receiver<grpcio::Result<Headers>>>,
    cached_headers: Option<Headers>,
    cancel: Option<oneshot::Sender<()>>,
    client: BaseClient,
    done: bool,
    /// For the metrics and the client interceptors' `after`, told once when the stream ends.
    method: &'static str,
    metrics: CallMetrics,
    started: Instant,
    reported: bool,
}

impl<T: Send + 'static> ResponseStream<T> {
    pub(super) fn spawn(
        client: &BaseClient,
        method: &'static str,
        metrics: CallMetrics,
        started: Instant,
        mut receiver: Receiver<T>,
    ) -> ResponseStream<T> {
        let (mut tx, incoming) = mpsc::channel(STREAM_WINDOW);
        let (headers_tx, headers) = oneshot::channel();
        let (cancel, mut cancelled) = oneshot::channel::<()>();
        client.client.spawn(async move {
            let _ = headers_tx.send(receiver.headers().await);
            loop {
                // The caller cancelling (or dropping the stream) wins over a pending read.
                let next = poll_fn(|cx| {
                    if cancelled.poll_unpin(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    receiver.poll_message(cx).map(Some)
                })
                .await;
                match next {
                    None => {
                        receiver.cancel();
                        return;
                    }
                    Some(None) => return,
                    Some(Some(item)) => {
                        let failed = item.is_err();
                        if tx.send(item).await.is_err() || failed {
                            return;
                        }
                    }
                }
            }
        });
        ResponseStream {
            incoming,
            headers: Some(headers),
            cached_headers: None,
            cancel: Some(cancel),
            client: client.clone(),
            done: false,
            method,
            started,
            metrics,
            reported: false,
        }
    }
}

impl<T> ResponseStream<T> {
    /// Cancels the call; the server's View sees it as cancelled.
    pub fn cancel(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
        self.done = true;
        self.report(Err(&cancelled_by_caller()));
    }

    /// Tells the client interceptors how the call ended, once.
    fn report(&mut self, result: Result<(), &Error>) {
        if !std::mem::replace(&mut self.reported, true) {
            self.client.report(self.method, &self.metrics, result, self.started);
        }
    }

    /// The response metadata; waits for it if it has not arrived.
    pub fn headers(&mut self) -> Result<Headers, Error> {
        if let Some(headers) = &self.cached_headers {
            return Ok(headers.clone());
        }
        let arrived = match self.headers.take() {
            Some(pending) => block_on(pending),
            None => return Ok(Vec::new()),
        };
        match arrived {
            Ok(Ok(headers)) => {
                self.cached_headers = Some(headers.clone());
                Ok(headers)
            }
            Ok(Err(err)) => Err(self.client.error(err)),
            Err(_) => Ok(Vec::new()),
        }
    }
}

impl<T> Iterator for ResponseStream<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match block_on(self.incoming.next()) {
            Some(Ok(message)) => {
                self.metrics.received();
                Some(Ok(message))
            }
            Some(Err(err)) => {
                self.done = true;
                let err = self.client.error(err);
                self.report(Err(&err));
                Some(Err(err))
            }
            None => {
                self.done = true;
                self.report(Ok(()));
                None
            }
        }
    }
}

impl<T> Drop for ResponseStream<T> {
    fn drop(&mut self) {
        if !self.reported {
            self.report(Err(&cancelled_by_caller()));
        }
    }
}

fn cancelled_by_caller() -> Error {
    Error::Status { code: Code::CANCELLED, message: "the caller cancelled the call".to_owned() }
}

/// The request side of a streaming call: a blocking sender.
pub struct RequestSender<T> {
    window: Option<mpsc::Sender<T>>,
    /// Why the writer stopped early, if it did.
    failure: Arc<Mutex<Option<grpcio::Error>>>,
    client: BaseClient,
    metrics: CallMetrics,
}

impl<T: Send + 'static> RequestSender<T> {
    pub(super) fn spawn<S>(client: &BaseClient, mut sink: S, metrics: CallMetrics) -> RequestSender<T>
    where
        S: futures::Sink<(T, WriteFlags), Error = grpcio::Error> + Unpin + Send + 'static,
    {
        let (window, mut queued) = mpsc::channel::<T>(STREAM_WINDOW);
        let failure = Arc::new(Mutex::new(None));
        let failed = failure.clone();
        client.client.spawn(async move {
            let mut ahead = None;
            loop {
                let request = match ahead.take() {
                    Some(request) => request,
                    None => match queued.next().await {
                        Some(request) => request,
                        None => break,
                    },
                };
                ahead = queued.try_recv().ok();
                if let Err(err) = flow::write(&mut sink, request, ahead.is_some()).await {
                    *lock(&failed) = Some(err);
                    return;
                }
            }
            let _ = sink.close().await;
        });
        RequestSender { window: Some(window), failure, client: client.clone(), metrics }
    }
}

impl<T> RequestSender<T> {
    /// Sends one request; blocks while the server is slow to read. Once the call is over it
    /// fails with what ended it: the status if this client has it, else
    /// [`Error::CallEnded`] (the response then has the status).
    pub fn send(&mut self, request: T) -> Result<(), Error> {
        let sent = match &mut self.window {
            Some(window) => block_on(window.send(request)).is_ok(),
            None => false,
        };
        if sent {
            self.metrics.sent();
            return Ok(());
        }
        match lock(&self.failure).take() {
            Some(err) => Err(self.client.error(err)),
            None => Err(Error::CallEnded),
        }
    }

    /// Tells the server no more requests come (half-close), once those sent are written.
    /// Also done on drop.
    pub fn finish(&mut self) {
        self.window = None;
    }
}
