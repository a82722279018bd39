"""A client that never finishes its requests: on one connection it opens N unary calls, sends
each half a gRPC message and then nothing, and keeps the connection open (answering SETTINGS
and PINGs) until its stdin closes.

Usage: slow_client.py HOST PORT PATH N
Prints "HELD <n>" once the N calls are open.
"""

import select
import struct
import sys

import hpack

from raw_h2 import ACK, DATA, END_HEADERS, HEADERS, PING, SETTINGS, connect, frame


host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])


sock, conn = connect(host, port)
headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", f"{host}:{port}"),
           ("content-type", "application/grpc"), ("te", "trailers")]
block = hpack.Encoder().encode([(k, v, True) for k, v in headers])
# A gRPC message header announcing 100 bytes, and 5 of them.
half = b"\0" + struct.pack(">I", 100) + b"\x0a\x03abc"[:5]
for i in range(count):
    stream = 1 + 2 * i
    sock.sendall(frame(HEADERS, END_HEADERS, stream, block) + frame(DATA, 0, stream, half))
print(f"HELD {count}", flush=True)

pending = b""
while True:
    ready = select.select([sock, sys.stdin], [], [])[0]
    if sys.stdin in ready and not sys.stdin.readline():
        break
    if sock in ready:
        data = sock.recv(1 << 16)
        if not data:
            break
        pending += data
        while len(pending) >= 9:
            length = int.from_bytes(pending[:3], "big")
            if len(pending) < 9 + length:
                break
            kind, flags, payload = pending[3], pending[4], pending[9 : 9 + length]
            pending = pending[9 + length :]
            if kind == SETTINGS and not flags & ACK:
                sock.sendall(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                sock.sendall(frame(PING, ACK, 0, payload))
