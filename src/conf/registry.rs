//! The name registries that conf files refer to: Servicer lists (`servicer_mappings`) and
//! interceptors (`interceptors`), filled by the program at start-up, plus the built-in
//! interceptors' names.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::ConfError;
use crate::interceptor::{BearerAuth, Interceptor, RequestId, RequestLog};
use crate::servicer::Servicer;
use crate::sync::{read, write};

/// A name → value table that conf files refer to, filled by the program at start-up.
pub(crate) struct Registry<T> {
    what: &'static str,
    key: &'static str,
    /// Names the crate answers itself, listed with the registered ones.
    built_in: &'static [&'static str],
    entries: RwLock<BTreeMap<String, Arc<T>>>,
}

impl<T> Registry<T> {
    pub(crate) const fn new(what: &'static str, key: &'static str, built_in: &'static [&'static str]) -> Registry<T> {
        Registry { what, key, built_in, entries: RwLock::new(BTreeMap::new()) }
    }

    pub(crate) fn insert(&self, name: String, value: T) {
        let mut entries = write(&self.entries);
        entries.insert(name, Arc::new(value));
    }

    pub(crate) fn get(&self, name: &str) -> Result<Arc<T>, ConfError> {
        let entries = read(&self.entries);
        entries.get(name).cloned().ok_or_else(|| ConfError::Unregistered {
            key: self.key,
            what: self.what,
            name: name.to_owned(),
            registered: self
                .built_in
                .iter()
                .copied()
                .chain(entries.keys().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

static MAPPINGS: Registry<Vec<Servicer>> = Registry::new("servicer mappings", "servicer_mappings", &[]);

/// Registers `servicers` under `name`, so a conf file can say `servicer_mappings = "name"`.
///
/// Call it at start-up, before the server starts: before or after reading the conf (after, a
/// Servicer can be built from the conf's `[app]` table). Registering a name again replaces it.
///
/// ```
/// use a3grpc::{register_mappings, Conf, Servicer};
///
/// register_mappings("app.mappings.servicer_mappings", vec![Servicer::new()]);
/// let conf = Conf::from_toml_str(r#"
///     host = "127.0.0.1"
///     port = 0
///     servicer_mappings = "app.mappings.servicer_mappings"
/// "#)?;
/// # Ok::<(), a3grpc::conf::ConfError>(())
/// ```
pub fn register_mappings(name: impl Into<String>, servicers: Vec<Servicer>) {
    MAPPINGS.insert(name.into(), servicers);
}

pub(crate) fn resolve_mappings(name: &str) -> Result<Vec<Servicer>, ConfError> {
    MAPPINGS.get(name).map(|servicers| servicers.as_ref().clone())
}

/// An interceptor as a conf names it: a registered name with its settings, or one given in code.
#[derive(Clone)]
pub(crate) enum InterceptorSpec {
    /// A name from [`register_interceptor`] (or a built-in) and the settings of its table.
    Named {
        /// The registered name.
        name: String,
        /// The other keys of its table (`null` for a bare name).
        settings: serde_json::Value,
    },
    /// An interceptor built in code.
    Given(Arc<dyn Interceptor>),
}

impl fmt::Debug for InterceptorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterceptorSpec::Named { name, .. } => write!(f, "{name:?}"),
            InterceptorSpec::Given(_) => f.write_str("<interceptor given in code>"),
        }
    }
}

impl<'de> Deserialize<'de> for InterceptorSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = InterceptorSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a registered interceptor name, or a table with `name` and its settings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InterceptorSpec, E> {
                Ok(InterceptorSpec::Named { name: v.to_owned(), settings: serde_json::Value::Null })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InterceptorSpec, A::Error> {
                let mut table = serde_json::Map::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let name = match table.remove("name") {
                    Some(serde_json::Value::String(name)) => name,
                    _ => return Err(de::Error::missing_field("name")),
                };
                Ok(InterceptorSpec::Named { name, settings: serde_json::Value::Object(table) })
            }
        }
        d.deserialize_any(SpecVisitor)
    }
}

type Factory = dyn Fn(&serde_json::Value) -> Result<Arc<dyn Interceptor>, String> + Send + Sync;

type Build = fn(&serde_json::Value) -> Result<Arc<dyn Interceptor>, String>;

/// The interceptors a conf names without anyone registering them, each with how it is built
/// from its settings.
const BUILT_IN: [(&str, Build); 4] = [
    ("a3grpc.BearerAuth", bearer_auth),
    // The name confs used before the server's check became `BearerAuth`.
    ("a3grpc.BearerToken", bearer_auth),
    ("a3grpc.RequestId", |settings| no_settings(settings, Arc::new(RequestId))),
    ("a3grpc.RequestLog", |settings| no_settings(settings, Arc::new(RequestLog))),
];

const BUILT_IN_INTERCEPTORS: [&str; BUILT_IN.len()] = {
    let mut names = [""; BUILT_IN.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = BUILT_IN[i].0;
        i += 1;
    }
    names
};

static INTERCEPTORS: Registry<Box<Factory>> = Registry::new("interceptor", "interceptors", &BUILT_IN_INTERCEPTORS);

/// Registers an interceptor under `name` for conf files. `factory` builds it from the other
/// keys of its conf table (`null` for a bare name), or says what is wrong with them.
///
/// ```
/// use std::sync::Arc;
/// use a3grpc::conf::register_interceptor;
/// use a3grpc::interceptor::{Interceptor, RequestLog};
///
/// register_interceptor("app.Logging", |_settings| Ok(Arc::new(RequestLog) as Arc<dyn Interceptor>));
/// ```
pub fn register_interceptor(
    name: impl Into<String>,
    factory: impl Fn(&serde_json::Value) -> Result<Arc<dyn Interceptor>, String> + Send + Sync + 'static,
) {
    INTERCEPTORS.insert(name.into(), Box::new(factory));
}

/// Builds the interceptors a conf lists, in order.
pub(crate) fn resolve_interceptors(specs: &[InterceptorSpec]) -> Result<Vec<Arc<dyn Interceptor>>, ConfError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| match spec {
            InterceptorSpec::Given(interceptor) => Ok(interceptor.clone()),
            InterceptorSpec::Named { name, settings } => {
                let built = match built_in(name, settings) {
                    Some(built) => built,
                    None => INTERCEPTORS.get(name)?(settings),
                };
                built.map_err(|message| ConfError::invalid(format!("interceptors[{i}]"), format!("{name}: {message}")))
            }
        })
        .collect()
}

fn built_in(name: &str, settings: &serde_json::Value) -> Option<Result<Arc<dyn Interceptor>, String>> {
    BUILT_IN.iter().find(|(built_in, _)| *built_in == name).map(|(_, build)| build(settings))
}

fn no_settings(settings: &serde_json::Value, built: Arc<dyn Interceptor>) -> Result<Arc<dyn Interceptor>, String> {
    match settings {
        serde_json::Value::Null => Ok(built),
        serde_json::Value::Object(map) if map.is_empty() => Ok(built),
        _ => Err("takes no settings".to_owned()),
    }
}

fn bearer_auth(settings: &serde_json::Value) -> Result<Arc<dyn Interceptor>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct BearerSettings {
        tokens: Vec<String>,
    }
    match BearerSettings::deserialize(settings) {
        Ok(s) if !s.tokens.is_empty() => Ok(Arc::new(BearerAuth::accepting(s.tokens))),
        Ok(_) => Err("`tokens` must list at least one token".to_owned()),
        Err(e) => Err(format!("needs `tokens = [\"...\"]`: {e}")),
    }
}
