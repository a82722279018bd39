"""The benchmark's service on Python a3grpc 0.3.0 (grpcio 1.70), as its users would write it:
say_hello is an a3grpc UnaryToUnaryView (echo; a name starting with `sleep` blocks 1 ms first);
a3grpc 0.3.0 has no streaming Views, so the streaming RPCs are plain grpcio servicer methods.
Prints `PORT n` once bound.
"""
import logging
import time

import a3serve
import hello_world_pb2
import hello_world_pb2_grpc
from a3grpc.server.views import UnaryToUnaryView


class EchoView(UnaryToUnaryView):
    def _handle_request(self):
        if self._request.name.startswith("sleep"):
            time.sleep(0.001)
        return hello_world_pb2.HelloReply(message=self._request.name)


class BenchServicer(hello_world_pb2_grpc.GreeterServicer):
    def say_hello(self, request, context):
        return EchoView(context, request).handle_unary_to_unary()

    def say_hello_stream_reply(self, request, context):
        count, size = (int(p) for p in request.name.split(":"))
        body = "x" * size
        for _ in range(count):
            yield hello_world_pb2.HelloReply(message=body)

    def say_stream_hello_reply(self, request_iterator, context):
        return hello_world_pb2.HelloReply(message=f"Hello {sum(1 for _ in request_iterator)} times!")

    def say_hello_bidi_stream(self, request_iterator, context):
        for request in request_iterator:
            yield hello_world_pb2.HelloReply(message=f"Hello {request.name}!")


servicer_mappings = {hello_world_pb2_grpc.add_GreeterServicer_to_server: BenchServicer()}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    a3serve.serve("__main__.servicer_mappings", max_workers=16)
