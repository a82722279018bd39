//! The steps of [`Server::start`](super::Server::start), in the order it takes them: resolve
//! what the conf names, build the runtime the Views share, register the services with grpcio,
//! bind the port.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use grpcio::{ChannelBuilder, EnvBuilder, Environment, ServerBuilder, ServerCredentials};

use super::ServerError;
use crate::channel::{host_port, options_onto, server_credentials, OptionValue, TlsFiles, SO_REUSEPORT};
use crate::conf::{cpu_count, resolve_interceptors, resolve_mappings, Conf, ConfError, Mappings};
use crate::dispatch::{Pools, Runtime};
use crate::health::Health;
use crate::method::split_path;
use crate::metrics::Metrics;
use crate::reflection::{self, ProtoSource};
use crate::servicer::Servicer;

/// The default `grpc.max_concurrent_streams`: about what HTTP/2 servers commonly advertise
/// (nginx 128, Go 250), and as many as the benchmark's 256 calls on one connection.
const MAX_CONCURRENT_STREAMS: i32 = 256;
const MAX_CONCURRENT_STREAMS_ARG: &str = "grpc.max_concurrent_streams";
/// Connections a server holds at once; the core closes those over the limit as it accepts
/// them. Each idle connection costs ~15 KiB (its read buffer, transport, endpoint): 10,000
/// opened by one peer grew a server by 146 MB. The usual limit on open files (1,024) allows
/// about as many.
const MAX_CONNECTIONS: i32 = 1000;
/// The most a connection reads at once. The core grows its read buffer while a peer keeps it
/// full, with no bound unless this is set: one flooding peer (SETTINGS, empty DATA) grew a
/// server by 50 MB and more in reads it had not yet parsed.
const MAX_READ_BUFFER: i32 = 1 << 20;
const HEALTH: &str = "grpc.health.v1.Health";

/// The Servicers a conf serves (its own, or those registered under its mappings' name),
/// each method served by one View.
pub(super) fn servicers(conf: &Conf) -> Result<Vec<Servicer>, ServerError> {
    let servicers = match &conf.servicer_mappings.0 {
        Mappings::Named(name) => resolve_mappings(name)?,
        Mappings::Servicers(servicers) => servicers.clone(),
    };
    let mut seen = HashSet::new();
    for method in servicers.iter().flat_map(Servicer::methods) {
        if !seen.insert(method) {
            let problem = format!("method {method} is served by two Views; each RPC takes one");
            return Err(ConfError::invalid("servicer_mappings", problem).into());
        }
    }
    Ok(servicers)
}

/// The TLS credentials of the conf's key and certificates (read again when they change, with
/// `tls_reload`), or plaintext.
pub(super) fn credentials(conf: &Conf) -> Result<ServerCredentials, ServerError> {
    let credentials = match (&conf.server_key, &conf.server_cert) {
        (Some(key), Some(cert)) if conf.tls_reload => {
            TlsFiles { key: key.clone(), cert: cert.clone(), ca: conf.ca_cert.clone() }.reloading()
        }
        _ => server_credentials(conf.server_key.as_deref(), conf.server_cert.as_deref(), conf.ca_cert.as_deref()),
    };
    credentials.map_err(|e| ConfError::invalid(e.key, e.message).into())
}

/// The worker pools, the metrics and the runtime every call handler shares.
pub(super) fn runtime(conf: &Conf) -> Result<(Pools, Arc<Metrics>, Arc<Runtime>), ServerError> {
    let interceptors = resolve_interceptors(&conf.interceptors)?;
    let pools = Pools::new(conf.max_workers, conf.max_stream_workers)?;
    let metrics = Arc::new(Metrics::new(pools.loads()).map_err(|e| ServerError::Metrics(e.to_string()))?);
    let rt = Arc::new(Runtime::new(
        pools.submitters(),
        conf.maximum_concurrent_rpcs,
        conf.patch_status_code,
        interceptors,
        metrics.clone(),
        conf.stream_idle_timeout_seconds,
    ));
    Ok((pools, metrics, rt))
}

/// grpcio's I/O threads. Views run on the pool, so these only move bytes: half the CPUs are
/// plenty, and fewer I/O threads mean fewer wake-ups per call (measured in the closing note
/// of the performance issue: +5-30% calls/s on 2 CPUs).
pub(super) fn io_threads(conf: &Conf) -> Arc<Environment> {
    let count = conf.io_threads.unwrap_or_else(|| (cpu_count() / 2).max(1));
    Arc::new(EnvBuilder::new().cq_count(count).name_prefix("a3grpc-io").build())
}

/// Whether the port is bound exclusively. The core sets SO_REUSEPORT by default, which lets a
/// second server on a busy port start silently and steal half the connections; a conf's
/// options may still ask for it.
pub(super) fn exclusive(conf: &Conf) -> bool {
    !conf.options.iter().any(|o| o.name == SO_REUSEPORT)
}

/// A grpcio server with the conf's channel args and every service registered: the Views of
/// the Servicers, health (answered on the I/O threads: its work is a map lookup, never a
/// View) and reflection.
pub(super) fn register(
    conf: &Conf,
    env: &Arc<Environment>,
    servicers: &[Servicer],
    rt: &Arc<Runtime>,
) -> Result<(grpcio::Server, Option<Health>), ServerError> {
    // Streams per connection. The core refuses a new stream once those alive on its
    // connection, reset ones not yet freed included, pass the limit plus
    // grpc.http2.max_deallocating_streams: a rapid-reset flood (CVE-2023-44487) then costs
    // a bounded amount. At the core's 0 for the latter, a well-behaved client running more
    // calls than the limit is refused while its finished streams are being freed. At half
    // the limit, 256 calls in flight on one connection still lost up to 1% of them
    // (UNAVAILABLE in 5 of 8 bench runs, after the engine's retry); at the limit itself none
    // in 8 runs, and a flood costs +3 MB more (tests/flood.rs). The conf's options may set
    // either.
    let streams = conf
        .options
        .iter()
        .find(|option| option.name == MAX_CONCURRENT_STREAMS_ARG)
        .and_then(|option| match option.value {
            OptionValue::Int(streams) => Some(streams),
            OptionValue::Str(_) => None,
        })
        .unwrap_or(MAX_CONCURRENT_STREAMS);
    let mut args = ChannelBuilder::new(env.clone())
        .max_concurrent_stream(MAX_CONCURRENT_STREAMS)
        .raw_cfg_int(c"grpc.http2.max_deallocating_streams".into(), streams)
        .raw_cfg_int(c"grpc.experimental.tcp_max_read_buffer_size".into(), MAX_READ_BUFFER)
        .raw_cfg_int(c"grpc.max_allowed_incoming_connections".into(), MAX_CONNECTIONS);
    if let Some(compression) = conf.compression {
        args = args.default_compression_algorithm(compression.algorithm());
    }
    if exclusive(conf) {
        args = args.reuse_port(false);
    }
    let args = options_onto(args, &conf.options).map_err(ServerError::Grpc)?.build_args();
    let views = servicers.iter().fold(grpcio::ServiceBuilder::new(), |service, s| s.register(service, rt));
    let mut builder = ServerBuilder::new(env.clone()).channel_args(args).register_service(views.build());
    let health = conf.health.then(|| Health::new(service_names(servicers)));
    if let Some(health) = &health {
        builder = builder.register_service(health.service());
    }
    if conf.reflection {
        let mut served = service_names(servicers);
        let mut protos: Vec<ProtoSource> = servicers.iter().flat_map(|s| s.protos().iter().copied()).collect();
        if health.is_some() {
            served.insert(HEALTH.to_owned());
            protos.extend(reflection::health_files());
        }
        builder = builder.register_service(reflection::service(served, &protos));
    }
    let server = builder.build().map_err(|e| ServerError::Grpc(e.to_string()))?;
    Ok((server, health))
}

/// Binds the conf's address and gives back the port bound (the real one for port 0).
pub(super) fn bind(grpc: &mut grpcio::Server, conf: &Conf, credentials: ServerCredentials) -> Result<u16, ServerError> {
    let addr = host_port(&conf.host, conf.port);
    if exclusive(conf) && conf.port != 0 {
        // Asking the OS first gives its reason ("Address already in use") in one line,
        // where the core would only log a nested error tree.
        std::net::TcpListener::bind(&addr)
            .map_err(|e| ServerError::Bind { addr: addr.clone(), reason: e.to_string() })?;
    }
    grpc.add_listening_port(addr.clone(), credentials)
        .map_err(|e| ServerError::Bind { addr, reason: format!("the gRPC core refused it: {e}") })
}

/// The services of these Servicers, e.g. `grpc.testing.TestService`, from their method paths.
fn service_names(servicers: &[Servicer]) -> BTreeSet<String> {
    servicers
        .iter()
        .flat_map(|s| s.methods())
        .filter_map(|path| split_path(path).map(|(service, _)| service.to_owned()))
        .collect()
}
