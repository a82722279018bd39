//! Channel settings shared by server and client, below both: the `options` that go to the gRPC
//! C core verbatim as channel args (checked against the args the core knows, `core_args.rs`),
//! `host:port` addresses, and TLS credentials from PEM files.

mod core_args;

use std::ffi::CString;
use std::fmt;
use std::path::Path;

use grpcio::{
    CertificateRequestType, ChannelBuilder, ChannelCredentials, ChannelCredentialsBuilder, ServerCredentials,
    ServerCredentialsBuilder,
};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use core_args::{ArgType, CORE_ARGS};

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
pub(crate) struct ChannelOption {
    pub(crate) name: String,
    pub(crate) value: OptionValue,
}

impl ChannelOption {
    pub(crate) fn new(name: impl Into<String>, value: impl Into<OptionValue>) -> ChannelOption {
        ChannelOption { name: name.into(), value: value.into() }
    }

    /// What is wrong with this option, if anything: the core takes names and string values as
    /// C strings, and ignores, without a word, an arg it knows given a value of the wrong type.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.name.is_empty() || self.name.contains('\0') {
            return Some("the name must be non-empty and contain no NUL".to_owned());
        }
        if let OptionValue::Str(s) = &self.value {
            if s.contains('\0') {
                return Some("a string value must contain no NUL".to_owned());
            }
        }
        let (_, expected) = CORE_ARGS.iter().find(|(name, _)| *name == self.name)?;
        let name = &self.name;
        match (expected, &self.value) {
            (ArgType::Int, OptionValue::Str(s)) => {
                Some(format!("the gRPC core reads {name} as an integer, not as the string {s:?}"))
            }
            (ArgType::Str, OptionValue::Int(i)) => {
                Some(format!("the gRPC core reads {name} as a string, not as the integer {i}"))
            }
            (ArgType::Pointer, _) => {
                Some(format!("{name} is a pointer to a gRPC core object, which options cannot carry"))
            }
            _ => None,
        }
    }

    /// A warning for a name the gRPC core does not know (it still gets the option, for args
    /// that custom core code reads), with the nearest name it knows when one is close.
    pub(crate) fn unknown_name_warning(&self) -> Option<String> {
        if CORE_ARGS.iter().any(|(name, _)| *name == self.name) {
            return None;
        }
        let nearest = CORE_ARGS
            .iter()
            .map(|(name, _)| (strsim::levenshtein(name, &self.name), *name))
            .min()
            .filter(|(distance, _)| *distance <= 3);
        let hint = nearest.map(|(_, name)| format!("; did you mean {name:?}?")).unwrap_or_default();
        Some(format!(
            "channel option {:?} is not an arg the gRPC core knows; it is passed on as given{hint}",
            self.name
        ))
    }
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Applies `options`, verbatim, as core channel args. An option the core cannot take (a NUL
/// in it) is an error naming it; conf and client builder check for that first, with the key.
pub(crate) fn options_onto(mut builder: ChannelBuilder, options: &[ChannelOption]) -> Result<ChannelBuilder, String> {
    for option in options {
        let refused = |_| format!("channel option {:?}: {}", option.name, option.problem().unwrap_or_default());
        let name = CString::new(option.name.as_str()).map_err(refused)?;
        builder = match &option.value {
            OptionValue::Int(v) => builder.raw_cfg_int(name, *v),
            OptionValue::Str(s) => builder.raw_cfg_string(name, CString::new(s.as_str()).map_err(refused)?),
        };
    }
    Ok(builder)
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

/// A PEM file for TLS that could not be used; `key` is the setting that names it.
#[derive(Debug)]
pub(crate) struct PemError {
    pub(crate) key: &'static str,
    pub(crate) message: String,
}

/// Reads the PEM file that setting `key` names, checking it holds a `kind` block
/// (`"CERTIFICATE"` or `"PRIVATE KEY"`), so a wrong or unreadable file is an error naming the
/// key instead of a handshake that fails later.
fn read_pem(key: &'static str, path: &Path, kind: &str) -> Result<Vec<u8>, PemError> {
    let error = |message: String| PemError { key, message };
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&pem);
    let has_block =
        text.contains("-----BEGIN ") && text.lines().any(|l| l.starts_with("-----BEGIN ") && l.contains(kind));
    if !has_block || pem.contains(&0) {
        return Err(error(format!("{} is not a PEM file with a {kind}", path.display())));
    }
    Ok(pem)
}

/// Server credentials: plaintext without a key and certificate, TLS with them, mutual TLS
/// (client certificates must chain to `ca_cert`) with a CA too.
pub(crate) fn server_credentials(
    key: Option<&Path>,
    cert: Option<&Path>,
    ca_cert: Option<&Path>,
) -> Result<ServerCredentials, PemError> {
    let (Some(key), Some(cert)) = (key, cert) else {
        return Ok(ServerCredentials::insecure());
    };
    let key = read_pem("server_key", key, "PRIVATE KEY")?;
    let cert = read_pem("server_cert", cert, "CERTIFICATE")?;
    let mut builder = ServerCredentialsBuilder::new().add_cert(cert, key);
    if let Some(ca) = ca_cert {
        let ca = read_pem("ca_cert", ca, "CERTIFICATE")?;
        builder = builder.root_cert(ca, CertificateRequestType::RequestAndRequireClientCertificateAndVerify);
    }
    Ok(builder.build())
}

/// Client credentials: trust `ca_cert`, and present a key and certificate for mutual TLS.
pub(crate) fn client_credentials(
    ca_cert: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<ChannelCredentials, PemError> {
    let mut builder = ChannelCredentialsBuilder::new();
    if let Some(ca) = ca_cert {
        builder = builder.root_cert(read_pem("ca_cert", ca, "CERTIFICATE")?);
    }
    if let Some((key, cert)) = identity {
        let key = read_pem("client_key", key, "PRIVATE KEY")?;
        let cert = read_pem("client_cert", cert, "CERTIFICATE")?;
        builder = builder.cert(cert, key);
    }
    Ok(builder.build())
}
