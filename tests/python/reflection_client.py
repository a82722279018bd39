"""Uses a server knowing nothing but its address, as grpcurl does: lists its services through
server reflection (grpcio-reflection's descriptor database, which speaks v1alpha), fetches the
file that declares SERVICE and the files it imports, resolves METHOD's input type from them,
builds a request with FIELD set from those descriptors alone and calls the method. Then asks v1
directly, on one stream, for an unknown symbol (NOT_FOUND; the stream goes on), the file by its
name, the file of the input type, and the service list.

Usage: reflection_client.py HOST:PORT SERVICE METHOD FIELD [CA_PEM]
(with CA_PEM: TLS, server name "localhost")
"""

import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

target, service_name, method_name, field = sys.argv[1:5]
if len(sys.argv) > 5:
    with open(sys.argv[5], "rb") as f:
        credentials = grpc.ssl_channel_credentials(f.read())
    channel = grpc.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", "localhost")])
else:
    channel = grpc.insecure_channel(target)

print("SERVICES", ",".join(sorted(ProtoReflectionDescriptorDatabase(channel).get_services())), flush=True)

# The database indexes a file without a package under ".Name", so fetch the files as grpcurl
# does and build the pool from them, imports first.
stub = reflection_pb2_grpc.ServerReflectionStub(channel)
request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=service_name)
(answer,) = stub.ServerReflectionInfo(iter([request]))
files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in answer.file_descriptor_response.file_descriptor_proto]
pool = descriptor_pool.DescriptorPool()
for file in reversed(files):
    pool.Add(file)
service = pool.FindServiceByName(service_name)
method = service.methods_by_name[method_name]
print("INPUT", method.input_type.full_name, ",".join(f.name for f in method.input_type.fields), flush=True)
request_class = message_factory.GetMessageClass(method.input_type)
reply_class = message_factory.GetMessageClass(method.output_type)
call = channel.unary_unary(
    f"/{service.full_name}/{method.name}",
    request_serializer=request_class.SerializeToString,
    response_deserializer=reply_class.FromString,
)
reply = call(request_class(**{field: "reflection"}))
print("REPLY", str(reply).strip(), flush=True)

# v1 has the same messages as v1alpha under another package name.
v1 = channel.stream_stream(
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
    response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
)
requests = [
    reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Symbol"),
    reflection_pb2.ServerReflectionRequest(file_by_filename=files[0].name),
    reflection_pb2.ServerReflectionRequest(file_containing_symbol=method.input_type.full_name),
    reflection_pb2.ServerReflectionRequest(list_services=""),
]
for response in v1(iter(requests)):
    kind = response.WhichOneof("message_response")
    if kind == "error_response":
        print("V1 ERROR", response.error_response.error_code, response.error_response.error_message, flush=True)
    elif kind == "file_descriptor_response":
        names = [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in response.file_descriptor_response.file_descriptor_proto]
        print("V1 FILES", ",".join(names), flush=True)
    else:
        names = ",".join(sorted(s.name for s in response.list_services_response.service))
        print("V1 SERVICES", names, flush=True)
