//! How a stream's messages pass between a blocking thread (a View, or a client's caller) and
//! grpcio's I/O threads, the same way on the server and the client: a bounded window of
//! messages, and writes that batch a burst and flush its last message.

use futures::{Sink, SinkExt};
use grpcio::WriteFlags;

/// How many messages a stream may hold between its blocking side and the network: a blocking
/// sender waits once this many are not yet taken, so a slow peer slows it down instead of
/// filling memory.
pub(crate) const STREAM_WINDOW: usize = 16;

/// Writes one message. With another right behind it (`more`), it goes with the buffer hint
/// and is not flushed; the last of a burst is flushed, so lock-step ping-pong never waits on
/// a buffer.
pub(crate) async fn write<T, S>(sink: &mut S, message: T, more: bool) -> grpcio::Result<()>
where
    S: Sink<(T, WriteFlags), Error = grpcio::Error> + Unpin,
{
    let flags = WriteFlags::default().buffer_hint(more);
    if more {
        sink.feed((message, flags)).await
    } else {
        sink.send((message, flags)).await
    }
}
