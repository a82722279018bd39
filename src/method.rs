//! Method descriptors: the `METHOD_*` constants a3grpc-build generates are grpcio's
//! descriptor plus the proto files that define the method, so a server can describe what it
//! serves (reflection) without any code from the user. Servicers and clients take anything
//! that is [`RpcMethod`], so grpcio's own descriptors (other code generators) work too.

use std::fmt;
use std::ops::Deref;

/// A generated method descriptor: what protoc-grpcio generates (the path, the kind of RPC,
/// the message codecs), plus the proto file that declares the method and every file it imports,
/// as a serialized `FileDescriptorSet`. It dereferences to [`grpcio::Method`], so it goes
/// wherever grpcio expects one.
///
/// ```
/// # use a3grpc_examples::hello;
/// use hello::METHOD_GREETER_SAY_HELLO;
///
/// assert_eq!(METHOD_GREETER_SAY_HELLO.name, "/Greeter/say_hello");
/// ```
pub struct Method<Req, Resp> {
    grpc: grpcio::Method<Req, Resp>,
    proto_files: &'static [u8],
}

impl<Req, Resp> Method<Req, Resp> {
    /// `proto_files` is a serialized `FileDescriptorSet` holding the file that declares `grpc`
    /// and the files it imports. Generated code calls it as `a3grpc::codegen::method`.
    pub(crate) const fn new(proto_files: &'static [u8], grpc: grpcio::Method<Req, Resp>) -> Method<Req, Resp> {
        Method { grpc, proto_files }
    }
}

impl<Req, Resp> Deref for Method<Req, Resp> {
    type Target = grpcio::Method<Req, Resp>;

    fn deref(&self) -> &grpcio::Method<Req, Resp> {
        &self.grpc
    }
}

impl<Req, Resp> fmt::Debug for Method<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Method").field("name", &self.grpc.name).finish_non_exhaustive()
    }
}

/// A method descriptor, the one way to name an RPC on both sides: what a
/// [`Servicer`](crate::Servicer) binds a View to and what a [`BaseClient`](crate::BaseClient)
/// calls. It is the `METHOD_*` constants a3grpc-build generates ([`Method`]), or grpcio's own
/// [`grpcio::Method`] from another code generator (then add its proto files with
/// [`Servicer::proto_files`](crate::Servicer::proto_files) for reflection).
pub trait RpcMethod<Req, Resp>: Sync + 'static {
    /// grpcio's descriptor.
    fn grpc(&self) -> &grpcio::Method<Req, Resp>;

    /// The serialized `FileDescriptorSet` that declares the method, if known.
    fn proto_files(&self) -> Option<&'static [u8]> {
        None
    }
}

impl<Req: 'static, Resp: 'static> RpcMethod<Req, Resp> for Method<Req, Resp> {
    fn grpc(&self) -> &grpcio::Method<Req, Resp> {
        &self.grpc
    }

    fn proto_files(&self) -> Option<&'static [u8]> {
        Some(self.proto_files)
    }
}

impl<Req: 'static, Resp: 'static> RpcMethod<Req, Resp> for grpcio::Method<Req, Resp> {
    fn grpc(&self) -> &grpcio::Method<Req, Resp> {
        self
    }
}

/// The service and the method of a path `/package.Service/Method`, when it has that shape.
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    path.trim_start_matches('/').split_once('/')
}
