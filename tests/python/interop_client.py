"""The gRPC interop cases (shared/reference/interop-cases.md), run with Python grpcio against a
grpc.testing.TestService server. Prints one line per case and `N passed, N failed`; exits 1 if
any case failed.

usage: interop_client.py --proto_dir DIR --port N [--host H] [--use_tls --ca_file F --server_host_override NAME]
"""
import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile

import grpc


def load_stubs(proto_dir):
    # The protos live under grpc/testing/, which would clash with the grpc package on import;
    # they are copied to a package of their own, with their imports rewritten to match.
    out = tempfile.mkdtemp()
    pkg = os.path.join(out, "a3interop")
    os.makedirs(pkg)
    for name in ("empty", "messages", "test"):
        with open(os.path.join(proto_dir, "grpc", "testing", f"{name}.proto")) as src:
            text = re.sub(r'import "grpc/testing/(\w+)\.proto"', r'import "a3interop/\1.proto"', src.read())
        with open(os.path.join(pkg, f"{name}.proto"), "w") as dst:
            dst.write(text)
    subprocess.check_call([
        sys.executable, "-m", "grpc_tools.protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}",
        "a3interop/empty.proto", "a3interop/messages.proto", "a3interop/test.proto",
    ])
    open(os.path.join(pkg, "__init__.py"), "w").close()
    sys.path.insert(0, out)
    from a3interop import empty_pb2, messages_pb2, test_pb2_grpc
    return out, empty_pb2, messages_pb2, test_pb2_grpc


class Pipe:
    """A request iterator fed one message at a time, for lock-step streams."""

    def __init__(self):
        self._queue = queue.Queue()

    def add(self, item):
        self._queue.put(item)

    def close(self):
        self._queue.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is None:
            raise StopIteration()
        return item


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto_dir", default="/usr/share/grpc-proto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--use_tls", action="store_true")
    parser.add_argument("--ca_file")
    parser.add_argument("--server_host_override")
    args = parser.parse_args()

    tmp, empty_pb2, messages, services = load_stubs(args.proto_dir)
    target = f"{args.host}:{args.port}"
    if args.use_tls:
        with open(args.ca_file, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        options = [("grpc.ssl_target_name_override", args.server_host_override)] if args.server_host_override else []
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target)
    stub = services.TestServiceStub(channel)

    def payload(size):
        return messages.Payload(type=messages.COMPRESSABLE, body=b"\0" * size)

    def check(condition, what):
        if not condition:
            raise AssertionError(what)

    def expect_code(fn, code, details=None):
        try:
            fn()
        except grpc.RpcError as err:
            check(err.code() == code, f"expected {code}, got {err.code()}: {err.details()}")
            if details is not None:
                check(err.details() == details, f"expected details {details!r}, got {err.details()!r}")
            return
        raise AssertionError(f"expected {code}, the call succeeded")

    request_sizes = [27182, 8, 1828, 45904]
    response_sizes = [31415, 9, 2653, 58979]

    def empty_unary():
        check(stub.EmptyCall(empty_pb2.Empty()) == empty_pb2.Empty(), "response is not Empty")

    def large_unary():
        response = stub.UnaryCall(messages.SimpleRequest(
            response_type=messages.COMPRESSABLE, response_size=314159, payload=payload(271828)))
        check(response.payload.type == messages.COMPRESSABLE, "payload type")
        check(response.payload.body == b"\0" * 314159, f"body of {len(response.payload.body)} bytes")

    def client_streaming():
        requests = (messages.StreamingInputCallRequest(payload=payload(n)) for n in request_sizes)
        response = stub.StreamingInputCall(requests)
        check(response.aggregated_payload_size == 74922, f"aggregated {response.aggregated_payload_size}")

    def server_streaming():
        request = messages.StreamingOutputCallRequest(
            response_type=messages.COMPRESSABLE,
            response_parameters=[messages.ResponseParameters(size=n) for n in response_sizes])
        sizes = [len(r.payload.body) for r in stub.StreamingOutputCall(request)]
        check(sizes == response_sizes, f"sizes {sizes}")

    def ping_pong():
        pipe = Pipe()
        responses = stub.FullDuplexCall(pipe)
        try:
            for req_size, resp_size in zip(request_sizes, response_sizes):
                pipe.add(messages.StreamingOutputCallRequest(
                    response_type=messages.COMPRESSABLE,
                    response_parameters=[messages.ResponseParameters(size=resp_size)], payload=payload(req_size)))
                response = next(responses)
                check(len(response.payload.body) == resp_size, f"response of {len(response.payload.body)} bytes")
        finally:
            pipe.close()
        check(list(responses) == [], "no more responses after the half-close")

    def empty_stream():
        check(list(stub.FullDuplexCall(iter([]))) == [], "responses on an empty stream")

    def cancel_after_begin():
        pipe = Pipe()
        future = stub.StreamingInputCall.future(pipe)
        future.cancel()
        check(future.cancelled(), "not cancelled")
        check(future.code() == grpc.StatusCode.CANCELLED, f"code {future.code()}")
        pipe.close()

    def cancel_after_first_response():
        pipe = Pipe()
        responses = stub.FullDuplexCall(pipe)
        pipe.add(messages.StreamingOutputCallRequest(
            response_type=messages.COMPRESSABLE,
            response_parameters=[messages.ResponseParameters(size=31415)], payload=payload(27182)))
        next(responses)
        responses.cancel()
        try:
            next(responses)
            raise AssertionError("a response after cancel")
        except grpc.RpcError as err:
            check(err.code() == grpc.StatusCode.CANCELLED, f"code {err.code()}")
        finally:
            pipe.close()

    def timeout_on_sleeping_server():
        pipe = Pipe()
        responses = stub.FullDuplexCall(pipe, timeout=0.001)
        pipe.add(messages.StreamingOutputCallRequest(payload=payload(27182)))
        try:
            expect_code(lambda: next(responses), grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            pipe.close()

    def status_of(message):
        status = messages.EchoStatus(code=2, message=message)

        def unary():
            stub.UnaryCall(messages.SimpleRequest(response_status=status))

        def duplex():
            list(stub.FullDuplexCall(iter([messages.StreamingOutputCallRequest(response_status=status)])))

        expect_code(unary, grpc.StatusCode.UNKNOWN, message)
        expect_code(duplex, grpc.StatusCode.UNKNOWN, message)

    def status_code_and_message():
        status_of("test status message")

    def special_status_message():
        status_of("\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n")

    def custom_metadata():
        initial = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
        trailing = ("x-grpc-test-echo-trailing-bin", b"\x0a\x0b\x0a\x0b\x0a\x0b")
        request = messages.SimpleRequest(response_type=messages.COMPRESSABLE, response_size=314159, payload=payload(271828))
        _, call = stub.UnaryCall.with_call(request, metadata=(initial, trailing))
        check(initial in call.initial_metadata(), f"unary initial metadata {call.initial_metadata()}")
        duplex = stub.FullDuplexCall(iter([messages.StreamingOutputCallRequest(
            response_type=messages.COMPRESSABLE, response_parameters=[messages.ResponseParameters(size=314159)],
            payload=payload(271828))]), metadata=(initial, trailing))
        check(initial in duplex.initial_metadata(), f"duplex initial metadata {duplex.initial_metadata()}")
        list(duplex)
        check(trailing in call.trailing_metadata(), f"unary trailing metadata {call.trailing_metadata()}")
        check(trailing in duplex.trailing_metadata(), f"duplex trailing metadata {duplex.trailing_metadata()}")

    def unimplemented_method():
        expect_code(lambda: stub.UnimplementedCall(empty_pb2.Empty()), grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service():
        other = services.UnimplementedServiceStub(channel)
        expect_code(lambda: other.UnimplementedCall(empty_pb2.Empty()), grpc.StatusCode.UNIMPLEMENTED)

    cases = [empty_unary, large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
             cancel_after_begin, cancel_after_first_response, timeout_on_sleeping_server,
             status_code_and_message, special_status_message, custom_metadata,
             unimplemented_method, unimplemented_service]
    passed = failed = 0
    for case in cases:
        try:
            case()
            passed += 1
            print(f"PASS {case.__name__}", flush=True)
        except Exception as err:  # a failed case, reported and counted
            failed += 1
            print(f"FAIL {case.__name__}: {type(err).__name__}: {err}", flush=True)
    channel.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"interop: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
