//! What the examples, the benchmark and the library's tests share: the hello-world service of
//! the Python original (its generated code and its Views), self-nesting messages, the interop
//! service when Debian's `grpc-proto` is installed, and where the Python peers live.

pub mod hello;
pub mod python;

/// Messages that nest themselves (`examples/proto/nesting.proto`), for the tests of the
/// nesting bound.
pub mod nesting {
    a3grpc::include_proto!("nesting");

    /// `Echo`: answers with the request.
    pub struct Echo;

    impl a3grpc::UnaryView for Echo {
        type Request = Node;
        type Response = Node;

        fn handle(&self, request: Node, _ctx: &mut a3grpc::Context) -> Result<Node, a3grpc::A3Error> {
            Ok(request)
        }
    }
}

/// Rust keywords as the names of a proto file, messages, fields, an enum, a service and its
/// RPCs (`examples/proto/type.proto`): the generated code compiles and serves.
pub mod awkward {
    a3grpc::include_proto!("awkward");
}

/// The gRPC interop service (`grpc.testing`), generated from Debian's `grpc-proto`.
#[cfg(a3grpc_interop)]
pub mod grpc {
    /// `package grpc.testing;`: `empty.proto`, `messages.proto`, `test.proto`.
    pub mod testing {
        a3grpc::include_proto!("grpc.testing");
    }
}
