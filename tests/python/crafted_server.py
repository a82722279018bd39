"""A raw HTTP/2 server that answers every gRPC call with a crafted reply, the ones a broken
server or a proxy in between can send. The request's `x-case` header picks the reply (see
REPLIES). h2 does the framing; nothing here is a gRPC library.

Usage: crafted_server.py
Prints "listening on 127.0.0.1:<port>" once it accepts connections; serves until killed.
"""

import json
import socket
import sys
import struct
import threading
import traceback

import h2.config
import h2.connection
import h2.errors
import h2.events

OK_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]


def grpc_frame(payload):
    return b"\0" + struct.pack(">I", len(payload)) + payload


def hello_reply(text):
    """A HelloReply{message: text}: field 1, length-delimited."""
    body = text.encode()
    return b"\x0a" + bytes([len(body)]) + body


def a3_body(name, message):
    return json.dumps({"status": name, "message": message})


# case -> (response headers, DATA payloads, trailers or None for a reply that ends in DATA)
REPLIES = {
    "ok": (OK_HEADERS, [grpc_frame(hello_reply("fine"))], [("grpc-status", "0")]),
    "ok_without_message": (OK_HEADERS, [], [("grpc-status", "0")]),
    "trailers_only_ok": (None, [], OK_HEADERS + [("grpc-status", "0")]),
    "a3_not_json": (OK_HEADERS, [], [("grpc-status", "599"), ("grpc-message", "this is not JSON {")]),
    "a3_unknown_name": (
        OK_HEADERS,
        [],
        [("grpc-status", "599"), ("grpc-message", a3_body("NoSuchError", "who knows"))],
    ),
    "a3_truncated_json": (OK_HEADERS, [], [("grpc-status", "499"), ("grpc-message", '{"status": "NotFoundErr')]),
    "garbage_details": (
        OK_HEADERS,
        [],
        [("grpc-status", "3"), ("grpc-message", "bad"), ("grpc-status-details-bin", "/////w")],
    ),
    "not_protobuf": (OK_HEADERS, [grpc_frame(b"\xff\xff\xff\xff\xff")], [("grpc-status", "0")]),
    "two_messages": (
        OK_HEADERS,
        [grpc_frame(hello_reply("one")), grpc_frame(hello_reply("two"))],
        [("grpc-status", "0")],
    ),
    "truncated_message": (OK_HEADERS, [b"\0\0\0\0\x09\x0a\x01"], [("grpc-status", "0")]),
    "http_502_html": (
        [(":status", "502"), ("content-type", "text/html")],
        [b"<html><body><h1>502 Bad Gateway</h1></body></html>"],
        None,
    ),
    "huge_message": (OK_HEADERS, [], [("grpc-status", "13"), ("grpc-message", "x" * 60_000)]),
    "negative_code": (OK_HEADERS, [], [("grpc-status", "-1"), ("grpc-message", "below zero")]),
    "code_not_a_number": (OK_HEADERS, [], [("grpc-status", "OK"), ("grpc-message", "words")]),
    "no_status": (OK_HEADERS, [grpc_frame(hello_reply("fine"))], [("x-other", "1")]),
}


def serve(sock):
    config = h2.config.H2Configuration(client_side=False, validate_outbound_headers=False)
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    cases = {}
    requests = {}  # stream -> (grpc-encoding, body so far), for the case "echo_encoding"
    refused = 0  # streams of case "refused" turned away on this connection so far
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                case = dict(event.headers).get(b"x-case", b"ok").decode()
                if case.startswith("refused_") and (case == "refused_always" or refused == 0):
                    # As a server over its stream limit does: nothing of the stream processed.
                    conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                    refused += 1
                else:
                    cases[event.stream_id] = case
                    encoding = dict(event.headers).get(b"grpc-encoding", b"identity").decode()
                    requests[event.stream_id] = (encoding, b"")
            elif isinstance(event, h2.events.DataReceived):
                if event.stream_id in cases:
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    encoding, body = requests[event.stream_id]
                    requests[event.stream_id] = (encoding, body + event.data)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id in cases:
                case = cases.pop(event.stream_id)
                encoding, body = requests.pop(event.stream_id)
                if case == "echo_encoding":
                    # How the request came: its grpc-encoding, compressed flag and size on the wire.
                    flag, length = struct.unpack(">BI", body[:5])
                    reply = grpc_frame(hello_reply(f"{encoding}:{flag}:{length}"))
                    headers, payloads, trailers = OK_HEADERS, [reply], [("grpc-status", "0")]
                elif case.startswith("refused_"):
                    reply = grpc_frame(hello_reply(f"answered after {refused} refused"))
                    headers, payloads, trailers = OK_HEADERS, [reply], [("grpc-status", "0")]
                else:
                    headers, payloads, trailers = REPLIES[case]
                if headers is not None:
                    conn.send_headers(event.stream_id, headers)
                for i, payload in enumerate(payloads):
                    last = trailers is None and i == len(payloads) - 1
                    conn.send_data(event.stream_id, payload, end_stream=last)
                if trailers is not None:
                    conn.send_headers(event.stream_id, trailers, end_stream=True)
        sock.sendall(conn.data_to_send())


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_logged, args=(sock,), daemon=True).start()


def serve_logged(sock):
    try:
        serve(sock)
    except Exception:  # a broken connection is the test's to see: say why
        traceback.print_exc()
        sys.stderr.flush()


if __name__ == "__main__":
    main()
