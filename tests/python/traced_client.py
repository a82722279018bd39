"""A plain grpcio client traced by OpenTelemetry's Python SDK and
opentelemetry-instrumentation-grpc: calls helloworld.Greeter/SayHello once and prints one JSON
line with its own client span's trace id and span id, and the reply or the status code.

usage: traced_client.py HOST PORT NAME
"""
import json
import sys

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import hello_world_pb2
import hello_world_pb2_grpc


def main():
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    GrpcInstrumentorClient().instrument()

    outcome = {}
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = hello_world_pb2_grpc.GreeterStub(channel)
        try:
            outcome["reply"] = stub.say_hello(hello_world_pb2.HelloRequest(name=name), timeout=10).message
        except grpc.RpcError as err:
            outcome["code"] = err.code().value[0]
    (span,) = spans.get_finished_spans()
    context = span.get_span_context()
    outcome.update(
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        kind=span.kind.name,
    )
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
