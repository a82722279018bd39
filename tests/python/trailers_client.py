"""A Python grpcio client that calls each of the Greeter's four RPC kinds and prints, one JSON
line per call, the status code it got and the trailing metadata that came with it.

usage: trailers_client.py HOST PORT NAME...   (each NAME is sent to every kind)
"""
import json
import sys

import grpc
import hello_world_pb2
import hello_world_pb2_grpc


def trailers_of(metadata):
    return [[k, v.hex() if isinstance(v, bytes) else v] for k, v in metadata or () if k.startswith("x-")]


def main():
    host, port, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    stub = hello_world_pb2_grpc.GreeterStub(grpc.insecure_channel(f"{host}:{port}"))
    for name in names:
        request = hello_world_pb2.HelloRequest(name=name)
        calls = {
            "unary": lambda: stub.say_hello.with_call(request)[1],
            "client_stream": lambda: stub.say_stream_hello_reply.with_call(iter([request, request]))[1],
            "server_stream": lambda: drained(stub.say_hello_stream_reply(request)),
            "bidi": lambda: drained(stub.say_hello_bidi_stream(iter([request]))),
        }
        for kind, run in calls.items():
            try:
                call = run()
            except grpc.RpcError as err:
                call = err
            print(json.dumps({"kind": kind, "name": name, "code": call.code().value[0],
                              "trailers": trailers_of(call.trailing_metadata())}), flush=True)


def drained(call):
    for _ in call:
        pass
    return call


if __name__ == "__main__":
    main()
