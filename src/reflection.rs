//! Server reflection, `grpc.reflection.v1` and the older `v1alpha` that many grpcurl releases
//! still speak: lists the services a server serves and hands out the proto files that describe
//! them, so grpcurl, grpcui or Postman work without the protos. The files come from the
//! `METHOD_*` descriptors a3grpc-build generates (see `method.rs`), or from
//! `Servicer::proto_files`. The answers are lookups in an index built at start, so they run on
//! the I/O threads, like health checks.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::{SinkExt, TryStreamExt};
use grpcio::{DuplexSink, Marshaller, MethodType, RequestStream, RpcContext, ServiceBuilder, WriteFlags};
use protobuf::descriptor::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use protobuf::Message;

use crate::error::Code;
use crate::method::{split_path, RpcMethod};
use crate::proto::reflection_v1::{
    server_reflection_request::Message_request as Request, server_reflection_response::Message_response as Response,
    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse, ServerReflectionRequest,
    ServerReflectionResponse, ServiceResponse, METHOD_SERVER_REFLECTION_SERVER_REFLECTION_INFO as V1,
};
use crate::proto::reflection_v1alpha::METHOD_SERVER_REFLECTION_SERVER_REFLECTION_INFO as V1ALPHA_DESCRIBED;

/// v1alpha's messages are v1's under another package name, field for field, so one
/// implementation answers both.
const V1ALPHA: grpcio::Method<ServerReflectionRequest, ServerReflectionResponse> = grpcio::Method {
    ty: MethodType::Duplex,
    name: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    req_mar: Marshaller { ser: grpcio::pb_ser, de: grpcio::pb_de },
    resp_mar: Marshaller { ser: grpcio::pb_ser, de: grpcio::pb_de },
};

/// Where proto files for reflection come from.
#[derive(Clone, Copy)]
pub(crate) enum ProtoSource {
    /// A serialized `FileDescriptorSet`, as a3grpc-build embeds in each `METHOD_*`.
    Set(&'static [u8]),
    /// One file, as rust-protobuf generates `file_descriptor_proto()`.
    File(&'static FileDescriptorProto),
}

/// What the reflection service knows: files by name, the file of each symbol, and the
/// services to list.
struct Index {
    files: HashMap<String, (Vec<u8>, Vec<String>)>,
    symbols: HashMap<String, String>,
    services: Vec<String>,
}

impl Index {
    fn new(served: BTreeSet<String>, sources: &[ProtoSource]) -> Index {
        let mut index = Index { files: HashMap::new(), symbols: HashMap::new(), services: Vec::new() };
        for source in sources {
            match source {
                ProtoSource::Set(bytes) => match FileDescriptorSet::parse_from_bytes(bytes) {
                    Ok(set) => set.file.iter().for_each(|file| index.add(file)),
                    Err(e) => log::warn!("reflection: a method descriptor's proto files do not parse: {e}"),
                },
                ProtoSource::File(file) => index.add(file),
            }
        }
        for service in &served {
            if !index.symbols.contains_key(service) {
                log::warn!(
                    "reflection cannot describe {service}: its method descriptors carry no proto files; \
                     generate them with a3grpc-build or add Servicer::proto_files"
                );
            }
        }
        index.services = served.into_iter().collect();
        index
    }

    fn add(&mut self, file: &FileDescriptorProto) {
        if self.files.contains_key(file.name()) {
            return;
        }
        let Ok(bytes) = file.write_to_bytes() else { return };
        let package = file.package();
        let name = |symbol: &str| if package.is_empty() { symbol.to_owned() } else { format!("{package}.{symbol}") };
        let mut symbols = Vec::new();
        for message in &file.message_type {
            message_symbols(&name(message.name()), message, &mut symbols);
        }
        symbols.extend(file.enum_type.iter().map(|e| name(e.name())));
        for service in &file.service {
            let service_name = name(service.name());
            symbols.extend(service.method.iter().map(|m| format!("{service_name}.{}", m.name())));
            symbols.push(service_name);
        }
        for symbol in symbols {
            self.symbols.entry(symbol).or_insert_with(|| file.name().to_owned());
        }
        self.files.insert(file.name().to_owned(), (bytes, file.dependency.clone()));
    }

    fn answer(&self, request: ServerReflectionRequest) -> ServerReflectionResponse {
        let mut response = ServerReflectionResponse { valid_host: request.host.clone(), ..Default::default() };
        match &request.message_request {
            Some(Request::FileByFilename(name)) => self.file_and_imports(name, &mut response),
            Some(Request::FileContainingSymbol(symbol)) => match self.symbols.get(symbol) {
                Some(file) => self.file_and_imports(file, &mut response),
                None => error(&mut response, Code::NOT_FOUND, format!("symbol not found: {symbol}")),
            },
            Some(Request::AllExtensionNumbersOfType(name)) if self.symbols.contains_key(name) => {
                // proto3 has no extensions; a known message has none.
                let numbers = ExtensionNumberResponse { base_type_name: name.clone(), ..Default::default() };
                response.message_response = Some(Response::AllExtensionNumbersResponse(numbers));
            }
            Some(Request::AllExtensionNumbersOfType(name)) => {
                error(&mut response, Code::NOT_FOUND, format!("type not found: {name}"))
            }
            Some(Request::FileContainingExtension(_)) => {
                error(&mut response, Code::NOT_FOUND, "this server's protos declare no extensions".to_owned())
            }
            Some(Request::ListServices(_)) => {
                let service = self
                    .services
                    .iter()
                    .map(|name| ServiceResponse { name: name.clone(), ..Default::default() })
                    .collect();
                let list = ListServiceResponse { service, ..Default::default() };
                response.message_response = Some(Response::ListServicesResponse(list));
            }
            None => {
                error(&mut response, Code::UNIMPLEMENTED, "the request asks for nothing this server knows".to_owned())
            }
        }
        response.original_request = Some(request).into();
        response
    }

    /// The file `name` first, then every file it imports, directly or not, each once.
    fn file_and_imports(&self, name: &str, response: &mut ServerReflectionResponse) {
        if !self.files.contains_key(name) {
            return error(response, Code::NOT_FOUND, format!("file not found: {name}"));
        }
        let mut files = FileDescriptorResponse::new();
        let mut seen = BTreeSet::new();
        let mut next = vec![name.to_owned()];
        while let Some(name) = next.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some((bytes, imports)) = self.files.get(&name) {
                files.file_descriptor_proto.push(bytes.clone());
                next.extend(imports.iter().rev().cloned());
            }
        }
        response.message_response = Some(Response::FileDescriptorResponse(files));
    }
}

fn message_symbols(name: &str, message: &DescriptorProto, symbols: &mut Vec<String>) {
    symbols.push(name.to_owned());
    for nested in &message.nested_type {
        message_symbols(&format!("{name}.{}", nested.name()), nested, symbols);
    }
    symbols.extend(message.enum_type.iter().map(|e| format!("{name}.{}", e.name())));
}

fn error(response: &mut ServerReflectionResponse, code: Code, message: String) {
    let error = ErrorResponse { error_code: code.value(), error_message: message, ..Default::default() };
    response.message_response = Some(Response::ErrorResponse(error));
}

/// The proto files of the health service, for a server that serves it.
pub(crate) fn health_files() -> Option<ProtoSource> {
    crate::proto::health::METHOD_HEALTH_CHECK.proto_files().map(ProtoSource::Set)
}

/// The reflection service (both versions) for a server that serves `served` (service names)
/// with proto files from `sources`.
pub(crate) fn service(mut served: BTreeSet<String>, sources: &[ProtoSource]) -> grpcio::Service {
    let own = [V1.proto_files(), V1ALPHA_DESCRIBED.proto_files()];
    let sources: Vec<ProtoSource> =
        sources.iter().copied().chain(own.into_iter().flatten().map(ProtoSource::Set)).collect();
    for method in [&*V1, &V1ALPHA] {
        if let Some((service, _)) = split_path(method.name) {
            served.insert(service.to_owned());
        }
    }
    let index = Arc::new(Index::new(served, &sources));
    let alpha = index.clone();
    ServiceBuilder::new()
        .add_duplex_streaming_handler(&V1, move |ctx, requests, sink| serve(&index, ctx, requests, sink))
        .add_duplex_streaming_handler(&V1ALPHA, move |ctx, requests, sink| serve(&alpha, ctx, requests, sink))
        .build()
}

/// Answers each request on the stream as it comes, until the client closes it.
fn serve(
    index: &Arc<Index>,
    ctx: RpcContext,
    requests: RequestStream<ServerReflectionRequest>,
    mut sink: DuplexSink<ServerReflectionResponse>,
) {
    let index = index.clone();
    ctx.spawn(async move {
        let mut answers = requests.map_ok(move |request| (index.answer(request), WriteFlags::default()));
        if sink.send_all(&mut answers).await.is_ok() {
            let _ = sink.close().await;
        }
    });
}
