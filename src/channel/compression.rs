//! Message compression: the algorithm a server answers with (the conf's `compression`) or a
//! client call sends with (`CallOptions::compression`).

use grpcio::CompressionAlgorithms;
use serde::Deserialize;

/// A message compression algorithm. The receiving side decompresses whatever its peer sends;
/// this chooses what is sent. gzip and deflate compress at zlib's default level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// Messages are sent as they are.
    None,
    /// zlib's deflate.
    Deflate,
    /// gzip, what gRPC peers most commonly accept.
    Gzip,
}

impl Compression {
    /// The name on the wire (`grpc-encoding`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "identity",
            Compression::Deflate => "deflate",
            Compression::Gzip => "gzip",
        }
    }

    pub(crate) fn algorithm(self) -> CompressionAlgorithms {
        match self {
            Compression::None => CompressionAlgorithms::GRPC_COMPRESS_NONE,
            Compression::Deflate => CompressionAlgorithms::GRPC_COMPRESS_DEFLATE,
            Compression::Gzip => CompressionAlgorithms::GRPC_COMPRESS_GZIP,
        }
    }
}

/// The request metadata with which the core compresses one call's messages with another
/// algorithm than its channel's (`compression_types.h`); the core takes it off before the
/// request is sent.
pub(crate) const CALL_COMPRESSION_KEY: &str = "grpc-internal-encoding-request";
