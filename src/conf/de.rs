//! How a conf file spells the values that are not plain serde types: positive counts,
//! seconds, the mappings name, `patch_status_code`, and parse errors that name the key.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::{Conf, ConfError, ServicerMappings};
use crate::error::StatusCodes;

/// A conf as read, before [`Conf::validated`].
pub(super) struct Unvalidated(pub(super) Conf);

impl<'de> Deserialize<'de> for Unvalidated {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Conf::deserialize(d).map(Unvalidated)
    }
}

/// A parse error at `path`. serde reports a missing key at the table that should hold it, so
/// for that the key comes from the message.
pub(super) fn parse_error(path: &serde_path_to_error::Path, message: String) -> ConfError {
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

pub(super) fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

pub(super) fn optional_positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match Option::<usize>::deserialize(d)? {
        Some(0) => Err(de::Error::custom("must be at least 1 (leave the key out for no limit)")),
        n => Ok(n),
    }
}

pub(super) fn grace_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(|_| de::Error::custom("must be a non-negative number of seconds"))
}

pub(super) fn optional_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(secs) if secs > 0.0 => Duration::try_from_secs_f64(secs)
            .map(Some)
            .map_err(|_| de::Error::custom("must be a positive number of seconds")),
        Some(_) => Err(de::Error::custom("must be a positive number of seconds (leave the key out for no limit)")),
    }
}

pub(super) fn mappings_name<'de, D: Deserializer<'de>>(d: D) -> Result<ServicerMappings, D::Error> {
    Ok(ServicerMappings::from(String::deserialize(d)?))
}

pub(super) fn status_codes<'de, D: Deserializer<'de>>(d: D) -> Result<StatusCodes, D::Error> {
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
            let StatusCodes::Patched { client_site_error_code: c, server_site_error_code: s } = StatusCodes::default()
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
