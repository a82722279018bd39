"""A Python a3grpc 0.3.0 BaseClient calling say_hello; prints one JSON line per name.

usage: greeter_client.py HOST PORT NAME...
"""
import json
import sys

import hello_world_pb2
import hello_world_pb2_grpc
from a3grpc.client.base_client import BaseClient


class GreeterClient(BaseClient):
    stub_klass = hello_world_pb2_grpc.GreeterStub

    def say_hello(self, name):
        request = hello_world_pb2.HelloRequest(name=name)
        return self._run_with_retry(self._stub.say_hello, {"request": request})


def main():
    host, port, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    client = GreeterClient(host, port, retry_times=1, retry_sleep_seconds=0)
    for name in names:
        try:
            reply = client.say_hello(name)
            print(json.dumps({"ok": reply.message}), flush=True)
        except SystemExit:
            print(json.dumps({"exit": "the client gave up"}), flush=True)
        except Exception as err:  # an a3 error rebuilt by the client
            print(json.dumps({
                "error": type(err).__name__,
                "message": getattr(err, "message", str(err)),
                "error_type": getattr(err, "error_type", None),
            }), flush=True)


if __name__ == "__main__":
    main()
