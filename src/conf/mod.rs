//! [`Conf`], the one configuration that starts a server, with the Python original's keys:
//! built in code or read from a TOML or JSON file. Names in a file (`servicer_mappings`,
//! `interceptors`) resolve through registries the program fills at start-up
//! ([`register_mappings`], [`register_interceptor`]).

// `de.rs` reads the values a file spells its own way, `registry.rs` holds the name
// registries. The server takes a `Conf` that has passed `Conf::validated`; nothing here starts
// anything.

mod de;
mod registry;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// The value of a channel arg in `options`: an integer or a string.
pub use crate::channel::{Compression, OptionValue};
pub use registry::{register_interceptor, register_mappings};
pub(crate) use registry::{resolve_interceptors, resolve_mappings, InterceptorSpec};

use crate::channel::ChannelOption;
use crate::error::StatusCodes;
use crate::interceptor::Interceptor;
use crate::servicer::Servicer;

/// A configuration error. Every variant names the key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfError {
    /// The conf file could not be read.
    #[error("cannot read conf file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The conf file is not valid TOML/JSON, or a key is missing, unknown or of the wrong type.
    #[error("conf error at `{key}`: {message}")]
    Invalid {
        /// The key path, e.g. `port` or `options[2]`.
        key: String,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// A name in the conf is not in the registry.
    #[error("conf error at `{key}`: no {what} is registered as {name:?}; registered: [{registered}]")]
    Unregistered {
        /// The key, e.g. `servicer_mappings`.
        key: &'static str,
        /// What kind of thing was looked up.
        what: &'static str,
        /// The name in the conf.
        name: String,
        /// The names that are registered, comma-separated.
        registered: String,
    },
}

impl ConfError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfError {
        ConfError::Invalid { key: key.into(), message: message.into() }
    }

    /// The key this error is about.
    pub fn key(&self) -> &str {
        match self {
            ConfError::Read { .. } => "",
            ConfError::Invalid { key, .. } => key,
            ConfError::Unregistered { key, .. } => key,
        }
    }
}

/// Where a server's Servicers come from: a name registered with
/// [`register_mappings`] (what a conf file gives), or a list of
/// [`Servicer`]s in code. Made by `From`, so [`Conf::new`] takes either.
#[derive(Clone)]
pub struct ServicerMappings(pub(crate) Mappings);

#[derive(Clone)]
pub(crate) enum Mappings {
    Named(String),
    Servicers(Vec<Servicer>),
}

impl fmt::Debug for ServicerMappings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Mappings::Named(n) => write!(f, "{n:?}"),
            Mappings::Servicers(s) => write!(f, "{} servicers", s.len()),
        }
    }
}

impl From<Vec<Servicer>> for ServicerMappings {
    fn from(v: Vec<Servicer>) -> Self {
        ServicerMappings(Mappings::Servicers(v))
    }
}

impl From<&str> for ServicerMappings {
    fn from(v: &str) -> Self {
        ServicerMappings(Mappings::Named(v.to_owned()))
    }
}

impl From<String> for ServicerMappings {
    fn from(v: String) -> Self {
        ServicerMappings(Mappings::Named(v))
    }
}

/// The server configuration, with the keys of Python a3grpc's `conf`.
///
/// | key | meaning | default |
/// |---|---|---|
/// | `host`, `port` | address to bind; port 0 picks a free port | required |
/// | `servicer_mappings` | registered name of the Servicers to serve | required |
/// | `max_workers` | threads that run unary Views | min(32, CPUs + 4) |
/// | `max_stream_workers` | threads that run streaming Views, apart from the unary ones: a stream holds its thread for its whole life, so open streams never leave unary calls waiting; streams over this many wait for one to end (not in the original, where streams share `max_workers`) | min(32, CPUs + 4) |
/// | `maximum_concurrent_rpcs` | calls in flight before new ones fail with RESOURCE_EXHAUSTED | unlimited |
/// | `server_key`, `server_cert`, `ca_cert` | PEM paths for TLS; relative ones are read from the conf file's folder ([`Conf::from_file`]) | plaintext |
/// | `tls_reload` | read those files again when they change: new connections get the new certificate, open ones keep theirs, a file that cannot be used is logged and the certificate in use kept (not in the original) | `false` |
/// | `graceful_shutdown_seconds` | how long in-flight calls may finish on stop | 3 |
/// | `options` | `[name, value]` gRPC core channel args, verbatim | `grpc.so_reuseport = 0` (a busy port is an error), `grpc.max_allowed_incoming_connections = 1000` (the core closes connections over it as it accepts them), `grpc.max_concurrent_streams = 256` |
/// | `interceptors` | interceptors, outermost first: registered names, or tables `{name, settings...}` | none |
/// | `patch_status_code` | see [`StatusCodes`] | 499/599 |
/// | `process_count` | worker processes for multi-process serving | CPU count |
/// | `health` | serve `grpc.health.v1.Health` (not in the original) | `true` |
/// | `reflection` | serve server reflection, `grpc.reflection.v1` and `v1alpha` (not in the original) | `true` |
/// | `metrics_port` | serve Prometheus metrics at `http://host:metrics_port/metrics`; with several processes, worker *i* on `metrics_port + i` (not in the original) | off |
/// | `io_threads` | gRPC I/O threads (completion queues) that move bytes and run inline Views (not in the original) | half the CPUs, at least 1 |
/// | `stream_idle_timeout_seconds` | a streaming View waiting this long for its client's next request ends the call with DEADLINE_EXCEEDED, so a client that sends nothing frees its worker (not in the original) | no limit |
/// | `app` | the application's own settings, a table a3grpc passes through untouched: read it with [`Conf::app`] | empty |
/// | `compression` | `"gzip"`, `"deflate"` or `"none"`: how responses are compressed (the original's `grpc.default_compression_algorithm` in `options` works too, and wins) | `"none"` |
///
/// ```
/// use a3grpc::Conf;
///
/// let conf = Conf::from_toml_str(r#"
///     host = "127.0.0.1"
///     port = 0
///     max_workers = 4
///     servicer_mappings = "app.mappings.servicer_mappings"
///     options = [["grpc.max_receive_message_length", 1048576]]
/// "#)?;
/// assert_eq!(conf.port(), 0);
///
/// let err = Conf::from_json_str(r#"{"host": "127.0.0.1", "port": "x", "servicer_mappings": "m"}"#)
///     .unwrap_err();
/// assert_eq!(err.key(), "port");
/// # Ok::<(), a3grpc::conf::ConfError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
// An inherent `Conf::deserialize`, not a public `Deserialize` impl: every way in goes through
// `validated`.
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Conf {
    pub(crate) host: String,
    pub(crate) port: u16,
    #[serde(default = "default_max_workers", deserialize_with = "de::positive")]
    pub(crate) max_workers: usize,
    #[serde(default = "default_max_workers", deserialize_with = "de::positive")]
    pub(crate) max_stream_workers: usize,
    #[serde(default, deserialize_with = "de::optional_positive")]
    pub(crate) maximum_concurrent_rpcs: Option<usize>,
    #[serde(deserialize_with = "de::mappings_name")]
    pub(crate) servicer_mappings: ServicerMappings,
    #[serde(default)]
    pub(crate) server_key: Option<PathBuf>,
    #[serde(default)]
    pub(crate) server_cert: Option<PathBuf>,
    #[serde(default)]
    pub(crate) ca_cert: Option<PathBuf>,
    #[serde(default = "default_grace", deserialize_with = "de::grace_seconds")]
    pub(crate) graceful_shutdown_seconds: Duration,
    #[serde(default)]
    pub(crate) options: Vec<ChannelOption>,
    #[serde(default)]
    pub(crate) interceptors: Vec<InterceptorSpec>,
    #[serde(default, deserialize_with = "de::status_codes")]
    pub(crate) patch_status_code: StatusCodes,
    #[serde(default, deserialize_with = "de::optional_positive")]
    pub(crate) process_count: Option<usize>,
    #[serde(default = "yes")]
    pub(crate) health: bool,
    #[serde(default = "yes")]
    pub(crate) reflection: bool,
    #[serde(default)]
    pub(crate) metrics_port: Option<u16>,
    #[serde(default, deserialize_with = "de::optional_positive")]
    pub(crate) io_threads: Option<usize>,
    #[serde(default, deserialize_with = "de::optional_seconds")]
    pub(crate) stream_idle_timeout_seconds: Option<Duration>,
    #[serde(default)]
    pub(crate) compression: Option<Compression>,
    #[serde(default)]
    pub(crate) app: serde_json::Value,
    #[serde(default)]
    pub(crate) tls_reload: bool,
}

fn yes() -> bool {
    true
}

fn default_max_workers() -> usize {
    (cpu_count() + 4).min(32)
}

/// The CPUs this process may use, which several defaults follow (1 if the system cannot say).
pub(crate) fn cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn default_grace() -> Duration {
    Duration::from_secs(3)
}

impl Conf {
    /// A conf serving `servicer_mappings` on `host:port`, every other key at its default.
    ///
    /// ```
    /// use a3grpc::{Conf, Servicer};
    ///
    /// let conf = Conf::new("127.0.0.1", 0, Vec::<Servicer>::new()).max_workers(8);
    /// assert_eq!(conf.host(), "127.0.0.1");
    /// ```
    pub fn new(host: impl Into<String>, port: u16, servicer_mappings: impl Into<ServicerMappings>) -> Conf {
        Conf {
            host: host.into(),
            port,
            max_workers: default_max_workers(),
            max_stream_workers: default_max_workers(),
            maximum_concurrent_rpcs: None,
            servicer_mappings: servicer_mappings.into(),
            server_key: None,
            server_cert: None,
            ca_cert: None,
            graceful_shutdown_seconds: default_grace(),
            options: Vec::new(),
            interceptors: Vec::new(),
            patch_status_code: StatusCodes::default(),
            process_count: None,
            health: true,
            reflection: true,
            metrics_port: None,
            io_threads: None,
            stream_idle_timeout_seconds: None,
            compression: None,
            app: serde_json::Value::Null,
            tls_reload: false,
        }
    }

    /// Reads a conf file: TOML if it ends in `.toml`, JSON if it ends in `.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Conf, ConfError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfError::Read { path: path.to_owned(), source })?;
        let mut conf = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Conf::from_toml_str(&text),
            Some("json") => Conf::from_json_str(&text),
            _ => Err(ConfError::invalid(
                "",
                format!("{} must end in .toml or .json so its format is known", path.display()),
            )),
        }?;
        // The TLS files sit beside the conf, wherever the program is started from.
        let folder = path.parent().unwrap_or(Path::new(""));
        for file in [&mut conf.server_key, &mut conf.server_cert, &mut conf.ca_cert].into_iter().flatten() {
            if file.is_relative() {
                *file = folder.join(&*file);
            }
        }
        Ok(conf)
    }

    /// Parses a conf from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Conf, ConfError> {
        let de = toml::Deserializer::new(text);
        let de::Unvalidated(conf) = serde_path_to_error::deserialize(de)
            .map_err(|e| de::parse_error(e.path(), e.inner().message().to_owned()))?;
        conf.validated()
    }

    /// Parses a conf from JSON text.
    pub fn from_json_str(text: &str) -> Result<Conf, ConfError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let de::Unvalidated(conf) =
            serde_path_to_error::deserialize(&mut de).map_err(|e| de::parse_error(e.path(), e.inner().to_string()))?;
        conf.validated()
    }

    /// The application's own settings, the conf's `app` table, read into the application's
    /// type. a3grpc reads nothing in it; errors name the key as the conf's own do. A conf
    /// without the table reads as an empty one.
    ///
    /// ```
    /// use a3grpc::Conf;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Settings {
    ///     inventory: String,
    ///     #[serde(default)]
    ///     page_size: u32,
    /// }
    ///
    /// let conf = Conf::from_toml_str(r#"
    ///     host = "127.0.0.1"
    ///     port = 50051
    ///     servicer_mappings = "shop.mappings.servicer_mappings"
    ///
    ///     [app]
    ///     inventory = "inventory.internal:50051"
    /// "#)?;
    /// let settings: Settings = conf.app()?;
    /// assert_eq!(settings.inventory, "inventory.internal:50051");
    ///
    /// let bad = Conf::from_toml_str("host = \"h\"\nport = 1\nservicer_mappings = \"m\"\n[app]\ninventory = 7\n")?;
    /// assert_eq!(bad.app::<Settings>().unwrap_err().key(), "app.inventory");
    /// # Ok::<(), a3grpc::conf::ConfError>(())
    /// ```
    pub fn app<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfError> {
        let table = match &self.app {
            serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
            table => table.clone(),
        };
        serde_path_to_error::deserialize(table).map_err(|e| {
            let key = match e.path().to_string() {
                path if path == "." => "app".to_owned(),
                path => format!("app.{path}"),
            };
            ConfError::invalid(key, e.inner().to_string())
        })
    }

    /// Checks what serde cannot: keys whose meaning depends on another key.
    pub(crate) fn validated(self) -> Result<Conf, ConfError> {
        if let Some((key, message)) = self.patch_status_code.problem() {
            return Err(ConfError::invalid(format!("patch_status_code.{key}"), message));
        }
        if !matches!(self.app, serde_json::Value::Null | serde_json::Value::Object(_)) {
            return Err(ConfError::invalid("app", "must be a table of the application's own settings"));
        }
        if self.host.trim().is_empty() {
            return Err(ConfError::invalid("host", "must not be empty"));
        }
        match (&self.server_key, &self.server_cert, &self.ca_cert) {
            (Some(_), None, _) => {
                return Err(ConfError::invalid(
                    "server_cert",
                    "server_key is set but server_cert is not: TLS needs both",
                ))
            }
            (None, Some(_), _) => {
                return Err(ConfError::invalid(
                    "server_key",
                    "server_cert is set but server_key is not: TLS needs both",
                ))
            }
            (None, None, Some(_)) => {
                return Err(ConfError::invalid(
                    "ca_cert",
                    "ca_cert verifies client certificates, which needs TLS: set server_key and server_cert too",
                ))
            }
            _ => {}
        }
        if self.tls_reload && self.server_key.is_none() {
            return Err(ConfError::invalid(
                "tls_reload",
                "reloads the TLS files when they change, which needs TLS: set server_key and server_cert",
            ));
        }
        if self.max_workers == 0 {
            return Err(ConfError::invalid("max_workers", "must be at least 1"));
        }
        if self.max_stream_workers == 0 {
            return Err(ConfError::invalid("max_stream_workers", "must be at least 1"));
        }
        if self.io_threads == Some(0) {
            return Err(ConfError::invalid("io_threads", "must be at least 1 (leave it unset for half the CPUs)"));
        }
        if self.maximum_concurrent_rpcs == Some(0) {
            return Err(ConfError::invalid(
                "maximum_concurrent_rpcs",
                "must be at least 1 (leave it unset for no limit)",
            ));
        }
        if self.host.contains('\0') {
            return Err(ConfError::invalid("host", "must not contain NUL"));
        }
        for (i, option) in self.options.iter().enumerate() {
            if let Some(problem) = option.problem() {
                return Err(ConfError::invalid(format!("options[{i}]"), problem));
            }
        }
        Ok(self)
    }

    /// Sets the number of threads that run unary Views.
    pub fn max_workers(mut self, n: usize) -> Conf {
        self.max_workers = n;
        self
    }

    /// Sets the number of threads that run streaming Views. Each open stream holds one until
    /// its View returns; streams over this many wait for a thread (or, with
    /// [`maximum_concurrent_rpcs`](Conf::maximum_concurrent_rpcs), are refused). Unary calls
    /// have their own [`max_workers`](Conf::max_workers), so open streams never delay them.
    ///
    /// ```
    /// use a3grpc::{Conf, Servicer};
    ///
    /// let conf = Conf::new("127.0.0.1", 0, Vec::<Servicer>::new()).max_workers(8).max_stream_workers(64);
    /// # let _ = conf;
    /// ```
    pub fn max_stream_workers(mut self, n: usize) -> Conf {
        self.max_stream_workers = n;
        self
    }

    /// Limits the calls in flight; past it new calls fail at once with RESOURCE_EXHAUSTED.
    pub fn maximum_concurrent_rpcs(mut self, n: usize) -> Conf {
        self.maximum_concurrent_rpcs = Some(n);
        self
    }

    /// Ends a streaming call whose View has waited `idle` for the client's next request, with
    /// DEADLINE_EXCEEDED: a client that opens streams and sends nothing cannot hold the
    /// workers for ever.
    pub fn stream_idle_timeout(mut self, idle: Duration) -> Conf {
        self.stream_idle_timeout_seconds = Some(idle);
        self
    }

    /// Compresses responses with `algorithm` (every peer decompresses what it receives).
    ///
    /// ```
    /// use a3grpc::conf::Compression;
    /// use a3grpc::{Conf, Servicer};
    ///
    /// let conf = Conf::new("127.0.0.1", 0, Vec::<Servicer>::new()).compression(Compression::Gzip);
    /// ```
    pub fn compression(mut self, algorithm: Compression) -> Conf {
        self.compression = Some(algorithm);
        self
    }

    /// How long in-flight calls may finish when the server stops.
    pub fn graceful_shutdown(mut self, grace: Duration) -> Conf {
        self.graceful_shutdown_seconds = grace;
        self
    }

    /// Adds a gRPC core channel arg, passed verbatim.
    pub fn option(mut self, name: impl Into<String>, value: impl Into<OptionValue>) -> Conf {
        self.options.push(ChannelOption::new(name, value));
        self
    }

    /// Adds an interceptor after those already listed (the first is outermost).
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Conf {
        self.interceptors.push(InterceptorSpec::Given(Arc::new(interceptor)));
        self
    }

    /// Sets how a3 errors map to status codes.
    pub fn patch_status_code(mut self, codes: StatusCodes) -> Conf {
        self.patch_status_code = codes;
        self
    }

    /// Serves TLS with this PEM key and certificate chain; with [`ca_cert`](Conf::ca_cert)
    /// clients must also present a certificate signed by that CA (mutual TLS).
    pub fn tls(mut self, server_key: impl Into<PathBuf>, server_cert: impl Into<PathBuf>) -> Conf {
        self.server_key = Some(server_key.into());
        self.server_cert = Some(server_cert.into());
        self
    }

    /// Requires client certificates signed by this PEM CA (mutual TLS).
    pub fn ca_cert(mut self, ca_cert: impl Into<PathBuf>) -> Conf {
        self.ca_cert = Some(ca_cert.into());
        self
    }

    /// Reads the TLS files again when they change: new connections get the new certificate,
    /// open ones keep theirs, and a file that cannot be used is logged and the certificate in
    /// use kept.
    pub fn tls_reload(mut self, reload: bool) -> Conf {
        self.tls_reload = reload;
        self
    }

    /// Sets the number of gRPC I/O threads (completion queues). Views run on the worker pool,
    /// so these only move bytes (and run [inline](crate::Servicer::unary_inline) Views): the
    /// default, half the CPUs, measured best on 2 to 8 CPUs; more help when many connections
    /// are busy at once.
    pub fn io_threads(mut self, n: usize) -> Conf {
        self.io_threads = Some(n);
        self
    }

    /// Serves (the default) or leaves out the standard `grpc.health.v1.Health` service.
    pub fn health(mut self, on: bool) -> Conf {
        self.health = on;
        self
    }

    /// Serves (the default) or leaves out server reflection (`grpc.reflection.v1` and
    /// `v1alpha`), with which grpcurl, grpcui and Postman list the services and describe their
    /// messages without the proto files. Views bound to a3grpc-build's `METHOD_*` descriptors
    /// are described with no more code; see [`Servicer::proto_files`](crate::Servicer::proto_files)
    /// for others.
    ///
    /// ```
    /// use a3grpc::{Conf, Servicer};
    ///
    /// let conf = Conf::new("127.0.0.1", 0, Vec::<Servicer>::new()).reflection(false);
    /// ```
    pub fn reflection(mut self, on: bool) -> Conf {
        self.reflection = on;
        self
    }

    /// Serves the server's metrics in the Prometheus text format at
    /// `http://<host>:<port>/metrics` (port 0: a free port, see
    /// [`Server::metrics_port`](crate::Server::metrics_port)). With several processes, worker
    /// *i* serves its own figures on `port + i`. Without it the metrics are still kept, and
    /// [`Server::metrics_text`](crate::Server::metrics_text) gives them.
    pub fn metrics_port(mut self, port: u16) -> Conf {
        self.metrics_port = Some(port);
        self
    }

    /// Sets the number of worker processes for multi-process serving.
    pub fn process_count(mut self, n: usize) -> Conf {
        self.process_count = Some(n);
        self
    }

    /// Whether the conf asks for several worker processes (`process_count` above 1): then
    /// serve it with [`run_grpc_server_with_multiprocessing`](crate::run_grpc_server_with_multiprocessing).
    pub fn is_multiprocess(&self) -> bool {
        self.process_count.is_some_and(|n| n > 1)
    }

    /// The host to bind.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to bind (0: a free port is picked).
    pub fn port(&self) -> u16 {
        self.port
    }
}
