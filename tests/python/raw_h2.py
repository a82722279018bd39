"""What the raw HTTP/2 peers of the tests share: frame kinds and flags, a frame builder, and a
client connection whose preface and SETTINGS h2 has sent (the frames after it are the
test's own, written by hand)."""
import socket
import struct

import h2.config
import h2.connection

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def connect(host, port):
    """A socket to host:port with the client preface sent, and the h2 connection that sent it."""
    sock = socket.create_connection((host, port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn
