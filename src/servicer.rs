//! Servicers: the Views of one service, one line per RPC, each bound to the generated method
//! descriptor of its RPC and to the dispatch function of its kind (`dispatch/`). The server
//! registers them with grpcio once its [`Runtime`] exists, and describes them through
//! reflection with the proto files the descriptors carry. (The `servicer_mappings` names a conf
//! file uses are in `conf/registry.rs`.)

use std::fmt;
use std::sync::Arc;

use grpcio::{Method, ServiceBuilder};
use protobuf::descriptor::FileDescriptorProto;

use crate::dispatch::{self, Runtime};
use crate::method::RpcMethod;
use crate::reflection::ProtoSource;
use crate::view::{BidiView, ClientStreamingView, ServerStreamingView, UnaryView};

type Register = Arc<dyn Fn(ServiceBuilder, &Arc<Runtime>) -> ServiceBuilder + Send + Sync>;

/// The Views of a service, each bound to the generated method descriptor of its RPC.
///
/// The descriptors are the `METHOD_*` constants that a3grpc-build generates; they carry the
/// method path, the message codecs and the proto files (for reflection), so a View's request
/// and response types are checked against the proto at compile time. RPCs without a View answer
/// UNIMPLEMENTED.
///
/// ```
/// # use a3grpc_examples::hello; // in your crate: mod hello { a3grpc::include_proto!(""); }
/// use a3grpc::{A3Error, Context, Servicer, UnaryView};
/// use hello::{HelloReply, HelloRequest, METHOD_GREETER_SAY_HELLO};
///
/// struct SayHello;
///
/// impl UnaryView for SayHello {
///     type Request = HelloRequest;
///     type Response = HelloReply;
///     fn handle(&self, _req: HelloRequest, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
///         Ok(HelloReply::new())
///     }
/// }
///
/// # fn main() {
/// let greeter = Servicer::new().unary(&METHOD_GREETER_SAY_HELLO, SayHello);
/// assert_eq!(greeter.methods().collect::<Vec<_>>(), ["/Greeter/say_hello"]);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Servicer {
    methods: Vec<(&'static str, Register)>,
    protos: Vec<ProtoSource>,
}

impl fmt::Debug for Servicer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.methods.iter().map(|(name, _)| name)).finish()
    }
}

impl Servicer {
    /// A Servicer with no Views yet.
    pub fn new() -> Servicer {
        Servicer::default()
    }

    /// Serves the unary RPC `method` with `view`.
    pub fn unary<V: UnaryView>(self, method: &'static impl RpcMethod<V::Request, V::Response>, view: V) -> Servicer {
        self.bind(method, view, move |builder, method, rt, view| {
            // Registered as client-streaming: the wire is identical for one request, and
            // grpcio's unary handler cannot tell a worker that its caller has gone.
            builder.add_client_streaming_handler(method, move |ctx, requests, sink| {
                dispatch::serve_unary(&rt, &view, ctx, requests, sink)
            })
        })
    }

    /// Serves the unary RPC `method` with a `view` that never blocks, on the gRPC I/O thread
    /// that received the call instead of the worker pool (like grpc-java's
    /// `directExecutor()`): no hand-off to a worker and back, so a cache lookup or a
    /// computation answers at the engine's own speed. Admission, interceptors, typed errors
    /// and the panic guard are the same.
    ///
    /// Never use it for a View that blocks (database, file or network I/O, locks held long,
    /// `sleep`): while it runs, every other call on that I/O thread waits. The benchmark's
    /// "1 ms View" row shows what that costs. An inline View sees a cancellation only once it
    /// returns.
    ///
    /// ```
    /// # use a3grpc_examples::hello;
    /// use a3grpc::{A3Error, Context, Servicer, UnaryView};
    /// use hello::{HelloReply, HelloRequest, METHOD_GREETER_SAY_HELLO};
    ///
    /// struct Echo;
    ///
    /// impl UnaryView for Echo {
    ///     type Request = HelloRequest;
    ///     type Response = HelloReply;
    ///     fn handle(&self, request: HelloRequest, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
    ///         Ok(HelloReply { message: request.name, ..Default::default() })
    ///     }
    /// }
    ///
    /// let greeter = Servicer::new().unary_inline(&METHOD_GREETER_SAY_HELLO, Echo);
    /// ```
    pub fn unary_inline<V: UnaryView>(
        self,
        method: &'static impl RpcMethod<V::Request, V::Response>,
        view: V,
    ) -> Servicer {
        self.bind(method, view, move |builder, method, rt, view| {
            builder.add_unary_handler(method, move |ctx, request, sink| {
                dispatch::serve_unary_inline(&rt, &view, ctx, request, sink)
            })
        })
    }

    /// Serves the client-streaming RPC `method` with `view`.
    pub fn client_streaming<V: ClientStreamingView>(
        self,
        method: &'static impl RpcMethod<V::Request, V::Response>,
        view: V,
    ) -> Servicer {
        self.bind(method, view, move |builder, method, rt, view| {
            builder.add_duplex_streaming_handler(method, move |ctx, requests, sink| {
                dispatch::serve_client_streaming(&rt, &view, ctx, requests, sink)
            })
        })
    }

    /// Serves the server-streaming RPC `method` with `view`.
    pub fn server_streaming<V: ServerStreamingView>(
        self,
        method: &'static impl RpcMethod<V::Request, V::Response>,
        view: V,
    ) -> Servicer {
        self.bind(method, view, move |builder, method, rt, view| {
            builder.add_server_streaming_handler(method, move |ctx, request, sink| {
                dispatch::serve_server_streaming(&rt, &view, ctx, request, sink)
            })
        })
    }

    /// Serves the bidirectional-streaming RPC `method` with `view`.
    pub fn bidi<V: BidiView>(self, method: &'static impl RpcMethod<V::Request, V::Response>, view: V) -> Servicer {
        self.bind(method, view, move |builder, method, rt, view| {
            builder.add_duplex_streaming_handler(method, move |ctx, requests, sink| {
                dispatch::serve_bidi(&rt, &view, ctx, requests, sink)
            })
        })
    }

    /// Adds proto files for [reflection](crate::Conf::reflection), for Views bound to
    /// descriptors that do not carry theirs: grpcio's own `Method`s, from a code generator other
    /// than a3grpc-build. Give the file that declares the service and the files it imports
    /// (rust-protobuf generates `file_descriptor()` in each file's module).
    ///
    /// ```
    /// # use a3grpc_examples::hello;
    /// use a3grpc::Servicer;
    ///
    /// let greeter = Servicer::new().proto_files(&[hello::hello_world::file_descriptor().proto()]);
    /// ```
    pub fn proto_files(mut self, files: &[&'static FileDescriptorProto]) -> Servicer {
        self.protos.extend(files.iter().map(|f| ProtoSource::File(f)));
        self
    }

    /// Keeps `view` and how to add it to a server's service, done once the server's runtime
    /// (pool, limits, codes) exists.
    fn bind<Req: 'static, Resp: 'static, V: Send + Sync + 'static>(
        mut self,
        method: &'static impl RpcMethod<Req, Resp>,
        view: V,
        add: impl Fn(ServiceBuilder, &'static Method<Req, Resp>, Arc<Runtime>, Arc<V>) -> ServiceBuilder
            + Send
            + Sync
            + 'static,
    ) -> Servicer {
        let view = Arc::new(view);
        let grpc = method.grpc();
        self.protos.extend(method.proto_files().map(ProtoSource::Set));
        self.methods.push((
            grpc.name,
            Arc::new(move |builder, rt: &Arc<Runtime>| add(builder, grpc, rt.clone(), view.clone())),
        ));
        self
    }

    /// The proto files these Views' descriptors carry, and those added by hand.
    pub(crate) fn protos(&self) -> &[ProtoSource] {
        &self.protos
    }

    /// The method paths this Servicer serves.
    pub fn methods(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.methods.iter().map(|(name, _)| *name)
    }

    pub(crate) fn register(&self, mut builder: ServiceBuilder, rt: &Arc<Runtime>) -> ServiceBuilder {
        for (_, register) in &self.methods {
            builder = register(builder, rt);
        }
        builder
    }
}
