"""The Python a3grpc 0.3.0 hello-world server on a free port; prints `PORT n` when bound.

say_hello greets by name; the name "error" raises ServerKnownError("The name is not allowed."),
and the name "NotFoundError" raises NotFoundError, as the Rust example does.
"""
import logging

import grpc
import grpc._server
import hello_world_pb2
import hello_world_pb2_grpc
from a3exception import errors
from a3grpc.server.start import run_grpc_server
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


def _announce_port(add_insecure_port):
    def wrapper(self, address):
        port = add_insecure_port(self, address)
        print(f"PORT {port}", flush=True)
        return port
    return wrapper


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # a3grpc logs the configured port (0); the bound one is announced here instead.
    grpc._server._Server.add_insecure_port = _announce_port(grpc._server._Server.add_insecure_port)
    run_grpc_server({
        "host": "127.0.0.1",
        "port": 0,
        "max_workers": 4,
        "maximum_concurrent_rpcs": None,
        "servicer_mappings": "__main__.servicer_mappings",
    })
