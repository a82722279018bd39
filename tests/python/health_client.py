"""A grpc.health.v1 client from Python's grpcio-health-checking.

usage: health_client.py PORT check SERVICE...   prints `SERVICE STATUS` per service
       health_client.py PORT watch SERVICE      prints `WATCH STATUS` per update, then `END CODE`
"""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main():
    port, mode, services = sys.argv[1], sys.argv[2], sys.argv[3:]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)
    status_name = health_pb2.HealthCheckResponse.ServingStatus.Name
    if mode == "check":
        for service in services:
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                print(f"{service or '<server>'} {status_name(response.status)}", flush=True)
            except grpc.RpcError as err:
                print(f"{service or '<server>'} {err.code().name}", flush=True)
    else:
        try:
            for response in stub.Watch(health_pb2.HealthCheckRequest(service=services[0])):
                print(f"WATCH {status_name(response.status)}", flush=True)
            print("END OK", flush=True)
        except grpc.RpcError as err:
            print(f"END {err.code().name}", flush=True)


if __name__ == "__main__":
    main()
