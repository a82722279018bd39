//! The hello-world server of Python a3grpc, in Rust.
//!
//! ```text
//! cargo run --release --example server [conf.toml|conf.json]
//! ```
//!
//! Without a conf file it serves 127.0.0.1:50051. A conf file uses the original's keys and
//! names its mappings `app.mappings.servicer_mappings`, as the original README does.
//! SIGINT/SIGTERM stop it gracefully. With `process_count` above 1 it serves from that many
//! worker processes; with `server_key`/`server_cert` (and `ca_cert`) it serves TLS (mutual TLS).

use a3grpc_examples::hello;
use std::process::ExitCode;

use a3grpc::server::ServerError;
use a3grpc::{register_mappings, run_grpc_server, run_grpc_server_with_multiprocessing, Conf};

const MAPPINGS: &str = "app.mappings.servicer_mappings";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,grpcio=warn")).init();
    register_mappings(MAPPINGS, vec![hello::greeter_servicer()]);

    let conf = match std::env::args().nth(1) {
        Some(path) => Conf::from_file(path),
        None => Ok(Conf::new("127.0.0.1", 50051, MAPPINGS)),
    };
    let outcome = conf.map_err(ServerError::from).and_then(|conf| {
        if conf.is_multiprocess() {
            run_grpc_server_with_multiprocessing(conf)
        } else {
            run_grpc_server(conf)
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("server: {err}");
            ExitCode::FAILURE
        }
    }
}
