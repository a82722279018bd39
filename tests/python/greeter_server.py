"""The Python a3grpc 0.3.0 hello-world server on a free port; prints `PORT n` when bound.

say_hello greets by name; the name "error" raises ServerKnownError("The name is not allowed."),
and the name "NotFoundError" raises NotFoundError, as the Rust example does.
"""
import logging

import a3serve
import hello_world_pb2
import hello_world_pb2_grpc
from a3exception import errors
from a3grpc.server.views import UnaryToUnaryView


class SayHelloView(UnaryToUnaryView):
    def _handle_request(self):
        name = self._request.name
        if name == "error":
            raise errors.ServerKnownError("The name is not allowed.")
        if name == "NotFoundError":
            raise errors.NotFoundError("no such greeting")
        return hello_world_pb2.HelloReply(message=f"Hello {name}!")


class GreeterServicer(hello_world_pb2_grpc.GreeterServicer):
    def say_hello(self, request, context):
        return SayHelloView(context, request).handle_unary_to_unary()


servicer_mappings = {hello_world_pb2_grpc.add_GreeterServicer_to_server: GreeterServicer()}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    a3serve.serve("__main__.servicer_mappings", max_workers=4)
