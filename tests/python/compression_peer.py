"""Compression as seen on the wire and by a real grpcio peer.

usage: compression_peer.py probe HOST PORT NAME    a raw HTTP/2 call (h2, no gRPC library) that
                                                   accepts gzip and deflate, printing what came
                                                   back: grpc-encoding, the message's compressed
                                                   flag and its size on the wire
       compression_peer.py grpcio HOST PORT NAME   a grpcio client sending its request gzipped
"""
import gzip
import json
import socket
import struct
import sys
import zlib

import grpc
import h2.config
import h2.connection
import h2.events

import hello_world_pb2
import hello_world_pb2_grpc


def probe(host, port, name):
    sock = socket.create_connection((host, port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    body = hello_world_pb2.HelloRequest(name=name).SerializeToString()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [
        (":method", "POST"), (":scheme", "http"), (":path", "/Greeter/say_hello"),
        (":authority", f"{host}:{port}"), ("content-type", "application/grpc"), ("te", "trailers"),
        ("grpc-accept-encoding", "gzip,deflate"),
    ])
    conn.send_data(stream, struct.pack(">BI", 0, len(body)) + body, end_stream=True)
    sock.sendall(conn.data_to_send())
    headers, data, trailers, ended = {}, b"", {}, False
    while not ended:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        for event in conn.receive_data(chunk):
            if isinstance(event, h2.events.ResponseReceived):
                headers = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                data += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.TrailersReceived):
                trailers = dict(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                ended = True
        sock.sendall(conn.data_to_send())
    flag, length = struct.unpack(">BI", data[:5])
    payload = data[5:5 + length]
    encoding = headers.get("grpc-encoding", "identity")
    if flag:
        payload = gzip.decompress(payload) if encoding == "gzip" else zlib.decompress(payload)
    print(json.dumps({
        "grpc_encoding": encoding,
        "compressed": flag,
        "wire_bytes": length,
        "message_chars": len(hello_world_pb2.HelloReply.FromString(payload).message),
        "grpc_status": trailers.get("grpc-status"),
    }), flush=True)


def grpcio(host, port, name):
    with grpc.insecure_channel(f"{host}:{port}", compression=grpc.Compression.Gzip) as channel:
        reply = hello_world_pb2_grpc.GreeterStub(channel).say_hello(hello_world_pb2.HelloRequest(name=name))
    print(json.dumps({"message_chars": len(reply.message)}), flush=True)


if __name__ == "__main__":
    mode, host, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    {"probe": probe, "grpcio": grpcio}[mode](host, port, name)
