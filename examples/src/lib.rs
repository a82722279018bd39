//! What the examples, the benchmark and the library's tests share: the hello-world service of
//! the Python original (its generated code and its Views), self-nesting messages, the interop
//! service when Debian's `grpc-proto` is installed, and where the Python peers live.

pub mod hello;
pub mod python;

/// Messages that nest themselves (`examples/proto/nesting.proto`), for the tests of the
/// nesting bound.
pub mod nesting {
    a3grpc::include_proto!("nesting");
}

/// The gRPC interop service (`grpc.testing`), generated from Debian's `grpc-proto`.
#[cfg(a3grpc_interop)]
pub mod grpc {
    /// `package grpc.testing;`: `empty.proto`, `messages.proto`, `test.proto`.
    pub mod testing {
        a3grpc::include_proto!("grpc.testing");
    }
}
