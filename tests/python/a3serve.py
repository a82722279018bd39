"""What the Python a3grpc 0.3.0 servers of the tests share: serve `servicer_mappings` of the
calling script on a free loopback port, and print `PORT n` once bound (a3grpc itself logs only
the configured port, 0)."""
import grpc
import grpc._server
from a3grpc.server.start import run_grpc_server


def _announce_port(add_insecure_port):
    def wrapper(self, address):
        port = add_insecure_port(self, address)
        print(f"PORT {port}", flush=True)
        return port
    return wrapper


def serve(mappings_path, max_workers=4):
    grpc._server._Server.add_insecure_port = _announce_port(grpc._server._Server.add_insecure_port)
    run_grpc_server({
        "host": "127.0.0.1",
        "port": 0,
        "max_workers": max_workers,
        "maximum_concurrent_rpcs": None,
        "servicer_mappings": mappings_path,
    })
