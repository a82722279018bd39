//! `Conf`: the one configuration that starts a server, with the Python original's keys.
//!
//! Build it in code, or read it from a TOML or JSON file. Names in a file
//! (`servicer_mappings`) resolve through a registry that the program fills at start-up with
//! [`register_mappings`](crate::register_mappings).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::error::StatusCodes;
use crate::interceptor::{Interceptor, InterceptorSpec};
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

/// The value of a gRPC core channel arg: integers and booleans go to the core as int args,
/// strings as string args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// An int arg (booleans are 0 or 1).
    Int(i32),
    /// A string arg.
    Str(String),
}

impl From<i32> for OptionValue {
    fn from(v: i32) -> Self {
        OptionValue::Int(v)
    }
}

impl From<bool> for OptionValue {
    fn from(v: bool) -> Self {
        OptionValue::Int(v as i32)
    }
}

impl From<&str> for OptionValue {
    fn from(v: &str) -> Self {
        OptionValue::Str(v.to_owned())
    }
}

impl From<String> for OptionValue {
    fn from(v: String) -> Self {
        OptionValue::Str(v)
    }
}

/// One `(name, value)` channel arg, passed to the gRPC C core verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOption {
    /// The core's arg name, e.g. `grpc.max_receive_message_length`.
    pub name: String,
    /// Its value.
    pub value: OptionValue,
}

/// Where a server's Servicers come from: a registered name (from a conf file) or a list.
#[derive(Clone)]
pub enum ServicerMappings {
    /// A name registered with [`register_mappings`](crate::register_mappings).
    Named(String),
    /// Servicers given in code.
    Servicers(Vec<Servicer>),
}

impl fmt::Debug for ServicerMappings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServicerMappings::Named(n) => write!(f, "Named({n:?})"),
            ServicerMappings::Servicers(s) => write!(f, "Servicers({} servicers)", s.len()),
        }
    }
}

impl From<Vec<Servicer>> for ServicerMappings {
    fn from(v: Vec<Servicer>) -> Self {
        ServicerMappings::Servicers(v)
    }
}

impl From<&str> for ServicerMappings {
    fn from(v: &str) -> Self {
        ServicerMappings::Named(v.to_owned())
    }
}

/// The server configuration, with the keys of Python a3grpc's `conf`.
///
/// | key | meaning | default |
/// |---|---|---|
/// | `host`, `port` | address to bind; port 0 picks a free port | required |
/// | `servicer_mappings` | registered name of the Servicers to serve | required |
/// | `max_workers` | threads that run Views | min(32, CPUs + 4) |
/// | `maximum_concurrent_rpcs` | calls in flight before new ones fail with RESOURCE_EXHAUSTED | unlimited |
/// | `server_key`, `server_cert`, `ca_cert` | PEM paths for TLS | plaintext |
/// | `graceful_shutdown_seconds` | how long in-flight calls may finish on stop | 3 |
/// | `options` | `[name, value]` gRPC core channel args, verbatim | `grpc.so_reuseport = 0`: a busy port is an error |
/// | `interceptors` | interceptors, outermost first: registered names, or tables `{name, settings...}` | none |
/// | `patch_status_code` | see [`StatusCodes`] | 499/599 |
/// | `process_count` | worker processes for multi-process serving | CPU count |
/// | `health` | serve `grpc.health.v1.Health` (not in the original) | `true` |
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
/// # Ok::<(), a3grpc::ConfError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conf {
    pub(crate) host: String,
    pub(crate) port: u16,
    #[serde(default = "default_max_workers", deserialize_with = "positive")]
    pub(crate) max_workers: usize,
    #[serde(default, deserialize_with = "optional_positive")]
    pub(crate) maximum_concurrent_rpcs: Option<usize>,
    #[serde(deserialize_with = "mappings_name")]
    pub(crate) servicer_mappings: ServicerMappings,
    #[serde(default)]
    pub(crate) server_key: Option<PathBuf>,
    #[serde(default)]
    pub(crate) server_cert: Option<PathBuf>,
    #[serde(default)]
    pub(crate) ca_cert: Option<PathBuf>,
    #[serde(default = "default_grace", deserialize_with = "grace_seconds")]
    pub(crate) graceful_shutdown_seconds: Duration,
    #[serde(default)]
    pub(crate) options: Vec<ChannelOption>,
    #[serde(default)]
    pub(crate) interceptors: Vec<InterceptorSpec>,
    #[serde(default)]
    pub(crate) patch_status_code: StatusCodes,
    #[serde(default, deserialize_with = "optional_positive")]
    pub(crate) process_count: Option<usize>,
    #[serde(default = "yes")]
    pub(crate) health: bool,
}

fn yes() -> bool {
    true
}

fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cpus + 4).min(32)
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
        }
    }

    /// Reads a conf file: TOML if it ends in `.toml`, JSON if it ends in `.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Conf, ConfError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfError::Read { path: path.to_owned(), source })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Conf::from_toml_str(&text),
            Some("json") => Conf::from_json_str(&text),
            _ => Err(ConfError::invalid(
                "",
                format!("{} must end in .toml or .json so its format is known", path.display()),
            )),
        }
    }

    /// Parses a conf from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Conf, ConfError> {
        let de = toml::Deserializer::new(text);
        let conf: Conf =
            serde_path_to_error::deserialize(de).map_err(|e| parse_error(e.path(), e.inner().message().to_owned()))?;
        conf.validated()
    }

    /// Parses a conf from JSON text.
    pub fn from_json_str(text: &str) -> Result<Conf, ConfError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let conf: Conf =
            serde_path_to_error::deserialize(&mut de).map_err(|e| parse_error(e.path(), e.inner().to_string()))?;
        conf.validated()
    }

    /// Checks what serde cannot: keys whose meaning depends on another key.
    pub(crate) fn validated(self) -> Result<Conf, ConfError> {
        if let Some((key, message)) = self.patch_status_code.problem() {
            return Err(ConfError::invalid(format!("patch_status_code.{key}"), message));
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
        if self.max_workers == 0 {
            return Err(ConfError::invalid("max_workers", "must be at least 1"));
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
            if option.name.is_empty() || option.name.contains('\0') {
                return Err(ConfError::invalid(
                    format!("options[{i}]"),
                    "the name must be non-empty and contain no NUL",
                ));
            }
            if let OptionValue::Str(s) = &option.value {
                if s.contains('\0') {
                    return Err(ConfError::invalid(format!("options[{i}]"), "a string value must contain no NUL"));
                }
            }
        }
        Ok(self)
    }

    /// Sets the number of threads that run Views.
    pub fn max_workers(mut self, n: usize) -> Conf {
        self.max_workers = n;
        self
    }

    /// Limits the calls in flight; past it new calls fail at once with RESOURCE_EXHAUSTED.
    pub fn maximum_concurrent_rpcs(mut self, n: usize) -> Conf {
        self.maximum_concurrent_rpcs = Some(n);
        self
    }

    /// How long in-flight calls may finish when the server stops.
    pub fn graceful_shutdown(mut self, grace: Duration) -> Conf {
        self.graceful_shutdown_seconds = grace;
        self
    }

    /// Adds a gRPC core channel arg, passed verbatim.
    pub fn option(mut self, name: impl Into<String>, value: impl Into<OptionValue>) -> Conf {
        self.options.push(ChannelOption { name: name.into(), value: value.into() });
        self
    }

    /// Adds an interceptor after those already listed (the first is outermost).
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Conf {
        self.interceptors.push(InterceptorSpec::Given(std::sync::Arc::new(interceptor)));
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

    /// Serves (the default) or leaves out the standard `grpc.health.v1.Health` service.
    pub fn health(mut self, on: bool) -> Conf {
        self.health = on;
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

/// A parse error at `path`. serde reports a missing key at the table that should hold it, so
/// for that the key comes from the message.
fn parse_error(path: &serde_path_to_error::Path, message: String) -> ConfError {
    let mut key = path.to_string();
    if key == "." {
        key.clear();
    }
    let marker = "missing field `";
    if let Some(at) = message.find(marker) {
        let rest = &message[at + marker.len()..];
        let field = rest.split('`').next().unwrap_or(rest);
        key = if key.is_empty() { field.to_owned() } else { format!("{key}.{field}") };
    }
    ConfError::invalid(key, message)
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

fn optional_positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match Option::<usize>::deserialize(d)? {
        Some(0) => Err(de::Error::custom("must be at least 1 (leave the key out for no limit)")),
        n => Ok(n),
    }
}

fn grace_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(|_| de::Error::custom("must be a non-negative number of seconds"))
}

fn mappings_name<'de, D: Deserializer<'de>>(d: D) -> Result<ServicerMappings, D::Error> {
    Ok(ServicerMappings::Named(String::deserialize(d)?))
}

impl<'de> Deserialize<'de> for ChannelOption {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PairVisitor;
        impl<'de> Visitor<'de> for PairVisitor {
            type Value = ChannelOption;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [name, value] pair")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ChannelOption, A::Error> {
                let name: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let value =
                    seq.next_element_seed(ValueSeed(&name))?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(ChannelOption { name, value })
            }
        }
        d.deserialize_seq(PairVisitor)
    }
}

struct ValueSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = OptionValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<OptionValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = OptionValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an integer (32-bit), boolean or string value for channel arg {:?}", self.0)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<OptionValue, E> {
        Ok(OptionValue::Int(v as i32))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptionValue, E> {
        i32::try_from(v).map(OptionValue::Int).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptionValue, E> {
        i32::try_from(v).map(OptionValue::Int).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OptionValue, E> {
        Ok(OptionValue::Str(v.to_owned()))
    }
}

impl<'de> Deserialize<'de> for StatusCodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CodesVisitor;
        impl<'de> Visitor<'de> for CodesVisitor {
            type Value = StatusCodes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table {client_site_error_code, server_site_error_code} or the string \"standard\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusCodes, E> {
                match v {
                    "standard" => Ok(StatusCodes::Standard),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<StatusCodes, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Patched {
                    client_site_error_code: Option<i32>,
                    server_site_error_code: Option<i32>,
                }
                let p = Patched::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let StatusCodes::Patched { client_site_error_code: c, server_site_error_code: s } =
                    StatusCodes::default()
                else {
                    unreachable!("the default is patched codes")
                };
                Ok(StatusCodes::Patched {
                    client_site_error_code: p.client_site_error_code.unwrap_or(c),
                    server_site_error_code: p.server_site_error_code.unwrap_or(s),
                })
            }
        }
        d.deserialize_any(CodesVisitor)
    }
}

/// A name → value table that conf files refer to, filled by the program at start-up.
pub(crate) struct Registry<T> {
    what: &'static str,
    key: &'static str,
    entries: RwLock<BTreeMap<String, Arc<T>>>,
}

impl<T> Registry<T> {
    pub(crate) const fn new(what: &'static str, key: &'static str) -> Registry<T> {
        Registry { what, key, entries: RwLock::new(BTreeMap::new()) }
    }

    pub(crate) fn insert(&self, name: String, value: T) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(name, Arc::new(value));
    }

    pub(crate) fn get(&self, name: &str) -> Result<Arc<T>, ConfError> {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(name).cloned().ok_or_else(|| ConfError::Unregistered {
            key: self.key,
            what: self.what,
            name: name.to_owned(),
            registered: entries.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

/// Reads the PEM file that conf key `key` names, checking it holds a `kind` block
/// (`"CERTIFICATE"` or `"PRIVATE KEY"`), so a wrong or unreadable file is an error naming the
/// key instead of a handshake that fails later.
pub(crate) fn read_pem(key: &str, path: &Path, kind: &str) -> Result<Vec<u8>, ConfError> {
    let pem =
        std::fs::read(path).map_err(|e| ConfError::invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&pem);
    let has_block =
        text.contains("-----BEGIN ") && text.lines().any(|l| l.starts_with("-----BEGIN ") && l.contains(kind));
    if !has_block || pem.contains(&0) {
        return Err(ConfError::invalid(key, format!("{} is not a PEM file with a {kind}", path.display())));
    }
    Ok(pem)
}
