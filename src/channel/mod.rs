//! Channel settings shared by server and client, below both: the `options` that go to the gRPC
//! C core verbatim as channel args (checked against the args the core knows, `core_args.rs`),
//! `host:port` addresses, TLS credentials from PEM files (read again when they change:
//! `reload.rs`), and compression (`compression.rs`).

mod compression;
mod core_args;
mod reload;

use std::ffi::CString;
use std::fmt;
use std::path::Path;

use grpcio::{
    CertificateRequestType, ChannelBuilder, ChannelCredentials, ChannelCredentialsBuilder, ServerCredentials,
    ServerCredentialsBuilder,
};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

pub use compression::Compression;
pub(crate) use compression::CALL_COMPRESSION_KEY;
use core_args::{ArgType, CORE_ARGS};
pub(crate) use reload::TlsFiles;

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
            if self.name == SERVICE_CONFIG {
                return service_config_problem(s);
            }
        }
        if let (MAX_CONNECTIONS, OptionValue::Int(max)) = (self.name.as_str(), &self.value) {
            // The core aborts the process on i32::MAX and refuses every connection below 1.
            if !(1..i32::MAX).contains(max) {
                return Some(format!("{MAX_CONNECTIONS} must be at least 1 and below {}, not {max}", i32::MAX));
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

/// The channel's service config, JSON that the core parses only when the first call is made.
const SERVICE_CONFIG: &str = "grpc.service_config";
/// The most connections a server holds at once (a3grpc's servers set one by default).
const MAX_CONNECTIONS: &str = "grpc.max_allowed_incoming_connections";

/// What is wrong with a service config, if anything. The core refuses a bad one only at the
/// first call, and every call then fails with an INVALID_ARGUMENT that names nothing; this
/// catches what is plainly wrong: JSON that does not parse, or fields of the wrong kind.
fn service_config_problem(text: &str) -> Option<String> {
    let config: serde_json::Value = match serde_json::from_str(text) {
        Ok(config) => config,
        Err(e) => return Some(format!("{SERVICE_CONFIG} is not valid JSON: {e}")),
    };
    let Some(fields) = config.as_object() else {
        return Some(format!("{SERVICE_CONFIG} must be a JSON object, not {config}"));
    };
    for (field, value) in fields {
        let (right, kind) = match field.as_str() {
            "methodConfig" | "loadBalancingConfig" => (value.is_array(), "an array"),
            "loadBalancingPolicy" => (value.is_string(), "a string"),
            "retryThrottling" | "healthCheckConfig" => (value.is_object(), "an object"),
            _ => continue,
        };
        if !right {
            return Some(format!("{SERVICE_CONFIG}: {field} must be {kind}, not {value}"));
        }
    }
    None
}

/// The core's arg for SO_REUSEPORT, which a3grpc sets itself: off for one server, on for the
/// processes of a multi-process one.
pub(crate) const SO_REUSEPORT: &str = "grpc.so_reuseport";

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
    let Some(pems) = server_pems(key, cert, ca_cert)? else {
        return Ok(ServerCredentials::insecure());
    };
    let mut builder = ServerCredentialsBuilder::new().add_cert(pems.cert, pems.key);
    if let Some(ca) = pems.ca {
        builder = builder.root_cert(ca, CertificateRequestType::RequestAndRequireClientCertificateAndVerify);
    }
    Ok(builder.build())
}

/// A server's TLS files, read and checked.
pub(crate) struct ServerPems {
    key: Vec<u8>,
    cert: Vec<u8>,
    ca: Option<Vec<u8>>,
}

/// Reads and checks a server's PEM files without the gRPC core: `None` for plaintext. A
/// multi-process supervisor checks them before it starts any worker.
pub(crate) fn server_pems(
    key: Option<&Path>,
    cert: Option<&Path>,
    ca_cert: Option<&Path>,
) -> Result<Option<ServerPems>, PemError> {
    let (Some(key), Some(cert)) = (key, cert) else { return Ok(None) };
    let key = read_pem("server_key", key, "PRIVATE KEY")?;
    let cert = read_pem("server_cert", cert, "CERTIFICATE")?;
    let ca = ca_cert.map(|ca| read_pem("ca_cert", ca, "CERTIFICATE")).transpose()?;
    Ok(Some(ServerPems { key, cert, ca }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn option(name: &str, value: impl Into<OptionValue>) -> ChannelOption {
        ChannelOption::new(name, value)
    }

    #[test]
    fn a_service_config_that_is_not_one_is_a_problem_that_says_why() {
        let problem = |text: &str| option("grpc.service_config", text).problem();
        assert_eq!(problem(r#"{"loadBalancingConfig":[{"round_robin":{}}]}"#), None);
        assert_eq!(problem(r#"{"methodConfig":[{"name":[{}],"timeout":"1s"}],"healthCheckConfig":{}}"#), None);
        let bad = problem("{not json").expect("a problem");
        assert!(bad.starts_with("grpc.service_config is not valid JSON: key must be a string"), "{bad}");
        assert_eq!(problem("[]").as_deref(), Some("grpc.service_config must be a JSON object, not []"));
        assert_eq!(
            problem(r#"{"methodConfig":{"name":[]}}"#).as_deref(),
            Some(r#"grpc.service_config: methodConfig must be an array, not {"name":[]}"#)
        );
        assert_eq!(
            problem(r#"{"loadBalancingPolicy":1}"#).as_deref(),
            Some("grpc.service_config: loadBalancingPolicy must be a string, not 1")
        );
    }

    #[test]
    fn a_connection_limit_the_core_would_abort_on_or_refuse_everything_with_is_a_problem() {
        let problem = |max: i32| option("grpc.max_allowed_incoming_connections", max).problem();
        assert_eq!(problem(1), None);
        assert_eq!(problem(i32::MAX - 1), None);
        for max in [0, -1, i32::MAX] {
            let said = problem(max).expect("a problem");
            assert!(said.contains("must be at least 1 and below 2147483647"), "{said}");
        }
    }

    fn from_json(text: &str) -> Result<ChannelOption, String> {
        serde_json::from_str::<ChannelOption>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn option_values_come_from_integers_booleans_and_strings() {
        assert_eq!(OptionValue::from(7), OptionValue::Int(7));
        assert_eq!(OptionValue::from(true), OptionValue::Int(1));
        assert_eq!(OptionValue::from(false), OptionValue::Int(0));
        assert_eq!(OptionValue::from("blend"), OptionValue::Str("blend".into()));
        assert_eq!(OptionValue::from(String::from("blend")), OptionValue::Str("blend".into()));
        assert_eq!(
            option("grpc.keepalive_time_ms", 1000),
            ChannelOption { name: "grpc.keepalive_time_ms".into(), value: OptionValue::Int(1000) }
        );
    }

    #[test]
    fn a_known_arg_with_a_value_of_its_type_has_no_problem_and_no_warning() {
        for opt in [
            option("grpc.max_receive_message_length", 4 << 20),
            option("grpc.keepalive_permit_without_calls", true),
            option("grpc.so_reuseport", 0),
            option("grpc.default_authority", "example.com"),
            option("grpc.ssl_target_name_override", "foo.test.google.fr"),
            option("grpc.lb_policy_name", "round_robin"),
        ] {
            assert_eq!(opt.problem(), None, "{opt:?}");
            assert_eq!(opt.unknown_name_warning(), None, "{opt:?}");
        }
    }

    #[test]
    fn an_integer_arg_given_a_string_is_a_problem_quoting_the_string() {
        assert_eq!(
            option("grpc.max_receive_message_length", "4MB").problem(),
            Some(
                r#"the gRPC core reads grpc.max_receive_message_length as an integer, not as the string "4MB""#.into()
            )
        );
    }

    #[test]
    fn a_string_arg_given_an_integer_is_a_problem_giving_the_integer() {
        assert_eq!(
            option("grpc.primary_user_agent", 3).problem(),
            Some("the gRPC core reads grpc.primary_user_agent as a string, not as the integer 3".into())
        );
        assert_eq!(
            option("grpc.default_authority", true).problem(),
            Some("the gRPC core reads grpc.default_authority as a string, not as the integer 1".into())
        );
    }

    #[test]
    fn a_pointer_arg_is_a_problem_whatever_its_value() {
        for value in [OptionValue::Int(0), OptionValue::Str("0x1234".into())] {
            assert_eq!(
                option("grpc.resource_quota", value).problem(),
                Some("grpc.resource_quota is a pointer to a gRPC core object, which options cannot carry".into())
            );
        }
        assert!(option("grpc.socket_mutator", 1).problem().is_some_and(|p| p.contains("is a pointer")));
    }

    #[test]
    fn an_empty_name_or_a_nul_is_a_problem_even_for_an_unknown_arg() {
        let name_problem = Some("the name must be non-empty and contain no NUL".to_owned());
        assert_eq!(option("", 1).problem(), name_problem);
        assert_eq!(option("grpc.keepalive\0_time_ms", 1).problem(), name_problem);
        assert_eq!(option("my.arg", "a\0b").problem(), Some("a string value must contain no NUL".to_owned()));
        assert_eq!(
            option("grpc.default_authority", "a\0b").problem(),
            Some("a string value must contain no NUL".to_owned())
        );
    }

    #[test]
    fn an_unknown_arg_has_no_problem_whatever_its_value() {
        assert_eq!(option("my.custom.arg", 5).problem(), None);
        assert_eq!(option("my.custom.arg", "text").problem(), None);
        // Names are case-sensitive: this is not grpc.max_receive_message_length.
        assert_eq!(option("GRPC.MAX_RECEIVE_MESSAGE_LENGTH", "x").problem(), None);
    }

    #[test]
    fn a_misspelt_arg_is_passed_on_with_a_warning_suggesting_the_nearest_known_name() {
        assert_eq!(
            option("grpc.max_recieve_message_length", 1).unknown_name_warning(),
            Some(
                "channel option \"grpc.max_recieve_message_length\" is not an arg the gRPC core knows; \
                 it is passed on as given; did you mean \"grpc.max_receive_message_length\"?"
                    .into()
            )
        );
        let warning = option("grpc.keepalive_time", 1).unknown_name_warning().unwrap();
        assert!(warning.ends_with("did you mean \"grpc.keepalive_time_ms\"?"), "{warning}");
        let warning = option("grpc.http2.max_ping_strike", 1).unknown_name_warning().unwrap();
        assert!(warning.ends_with("did you mean \"grpc.http2.max_ping_strikes\"?"), "{warning}");
    }

    #[test]
    fn an_unknown_arg_far_from_every_known_name_is_warned_about_without_a_suggestion() {
        assert_eq!(
            option("my.custom.arg", 1).unknown_name_warning(),
            Some("channel option \"my.custom.arg\" is not an arg the gRPC core knows; it is passed on as given".into())
        );
        // Four edits away is too far for a suggestion.
        let warning = option("grpc.keepalive_ti", 1).unknown_name_warning().unwrap();
        assert!(!warning.contains("did you mean"), "{warning}");
    }

    #[test]
    fn host_port_joins_ipv4_and_names_plainly_and_brackets_ipv6() {
        assert_eq!(host_port("127.0.0.1", 50051), "127.0.0.1:50051");
        assert_eq!(host_port("0.0.0.0", 0), "0.0.0.0:0");
        assert_eq!(host_port("localhost", 8080), "localhost:8080");
        assert_eq!(host_port("::1", 50051), "[::1]:50051");
        assert_eq!(host_port("::", 443), "[::]:443");
        assert_eq!(host_port("2001:db8::7", 65535), "[2001:db8::7]:65535");
    }

    #[test]
    fn host_port_leaves_an_already_bracketed_ipv6_host_as_it_is() {
        assert_eq!(host_port("[::1]", 50051), "[::1]:50051");
        assert_eq!(host_port("[2001:db8::7]", 1), "[2001:db8::7]:1");
    }

    #[test]
    fn a_pair_deserializes_integers_booleans_and_strings() {
        assert_eq!(from_json(r#"["grpc.keepalive_time_ms", 1000]"#), Ok(option("grpc.keepalive_time_ms", 1000)));
        assert_eq!(from_json(r#"["grpc.http2.bdp_probe", false]"#), Ok(option("grpc.http2.bdp_probe", 0)));
        assert_eq!(
            from_json(r#"["grpc.lb_policy_name", "pick_first"]"#),
            Ok(option("grpc.lb_policy_name", "pick_first"))
        );
        assert_eq!(from_json(r#"["my.arg", -5]"#), Ok(option("my.arg", -5)));
        assert_eq!(from_json(r#"["my.arg", 2147483647]"#), Ok(option("my.arg", i32::MAX)));
        assert_eq!(from_json(r#"["my.arg", -2147483648]"#), Ok(option("my.arg", i32::MIN)));
    }

    #[test]
    fn a_pair_from_toml_deserializes_too() {
        #[derive(Deserialize)]
        struct Conf {
            options: Vec<ChannelOption>,
        }
        let conf: Conf = toml::from_str(
            r#"options = [["grpc.max_send_message_length", 1048576], ["grpc.primary_user_agent", "me"]]"#,
        )
        .unwrap();
        assert_eq!(
            conf.options,
            vec![option("grpc.max_send_message_length", 1 << 20), option("grpc.primary_user_agent", "me")]
        );
    }

    #[test]
    fn a_value_outside_32_bits_is_refused_naming_the_arg() {
        assert_eq!(
            from_json(r#"["grpc.max_receive_message_length", 4294967296]"#),
            Err("invalid value: integer `4294967296`, expected an integer (32-bit), boolean or string value \
                 for channel arg \"grpc.max_receive_message_length\" at line 1 column 46"
                .into())
        );
        let err = from_json(r#"["my.arg", -2147483649]"#).unwrap_err();
        assert!(err.starts_with("invalid value: integer `-2147483649`, expected an integer (32-bit)"), "{err}");
        assert!(err.contains("for channel arg \"my.arg\""), "{err}");
    }

    #[test]
    fn a_float_null_or_table_value_is_refused_naming_the_arg() {
        let err = from_json(r#"["grpc.keepalive_time_ms", 1.5]"#).unwrap_err();
        assert!(err.starts_with("invalid type: floating point `1.5`, expected an integer (32-bit)"), "{err}");
        assert!(err.contains("for channel arg \"grpc.keepalive_time_ms\""), "{err}");
        let err = from_json(r#"["grpc.keepalive_time_ms", null]"#).unwrap_err();
        assert!(err.starts_with("invalid type: null, expected an integer (32-bit)"), "{err}");
        let err = from_json(r#"["grpc.keepalive_time_ms", {"ms": 5}]"#).unwrap_err();
        assert!(err.starts_with("invalid type: map, expected an integer (32-bit)"), "{err}");
    }

    #[test]
    fn anything_but_a_name_value_pair_is_refused() {
        let err = from_json("[]").unwrap_err();
        assert!(err.starts_with("invalid length 0, expected a [name, value] pair"), "{err}");
        let err = from_json(r#"["grpc.keepalive_time_ms"]"#).unwrap_err();
        assert!(err.starts_with("invalid length 1, expected a [name, value] pair"), "{err}");
        let err = from_json(r#"["grpc.keepalive_time_ms", 1, 2]"#).unwrap_err();
        assert!(err.starts_with("invalid length 3, expected a [name, value] pair"), "{err}");
        let err = from_json(r#""grpc.keepalive_time_ms=1""#).unwrap_err();
        assert!(
            err.starts_with("invalid type: string \"grpc.keepalive_time_ms=1\", expected a [name, value] pair"),
            "{err}"
        );
        let err = from_json(r#"{"grpc.keepalive_time_ms": 1}"#).unwrap_err();
        assert!(err.starts_with("invalid type: map, expected a [name, value] pair"), "{err}");
        let err = from_json(r#"[5, 1]"#).unwrap_err();
        assert!(err.starts_with("invalid type: integer `5`, expected a string"), "{err}");
    }

    #[test]
    fn a_pem_file_that_cannot_be_read_is_an_error_naming_its_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = read_pem("ca_cert", &missing, "CERTIFICATE").unwrap_err();
        assert_eq!(err.key, "ca_cert");
        assert!(err.message.starts_with(&format!("cannot read {}: ", missing.display())), "{}", err.message);

        match server_credentials(Some(&missing), Some(&missing), None) {
            Err(err) => assert_eq!(err.key, "server_key"),
            Ok(_) => panic!("server credentials from a missing key file"),
        }
        match client_credentials(Some(&missing), None) {
            Err(err) => assert_eq!(err.key, "ca_cert"),
            Ok(_) => panic!("client credentials from a missing CA file"),
        }
        match client_credentials(None, Some((&missing, &missing))) {
            Err(err) => assert_eq!(err.key, "client_key"),
            Ok(_) => panic!("client credentials from a missing key file"),
        }
    }

    #[test]
    fn a_file_without_the_right_pem_block_is_an_error_naming_its_key_and_the_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let key_pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";

        std::fs::write(&path, "just some text\n").unwrap();
        let err = read_pem("server_cert", &path, "CERTIFICATE").unwrap_err();
        assert_eq!(err.key, "server_cert");
        assert_eq!(err.message, format!("{} is not a PEM file with a CERTIFICATE", path.display()));

        // A key where a certificate belongs.
        std::fs::write(&path, key_pem).unwrap();
        let err = read_pem("server_cert", &path, "CERTIFICATE").unwrap_err();
        assert_eq!(err.message, format!("{} is not a PEM file with a CERTIFICATE", path.display()));

        // The marker in the middle of a line is not a block.
        std::fs::write(&path, "see -----BEGIN CERTIFICATE----- here\n").unwrap();
        assert!(read_pem("ca_cert", &path, "CERTIFICATE").is_err());

        // A NUL byte makes it binary, whatever else is there.
        std::fs::write(&path, format!("{key_pem}\0")).unwrap();
        let err = read_pem("server_key", &path, "PRIVATE KEY").unwrap_err();
        assert_eq!(err.message, format!("{} is not a PEM file with a PRIVATE KEY", path.display()));
    }

    #[test]
    fn a_pem_file_with_the_right_block_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let pem = "comment line\n-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        std::fs::write(&path, pem).unwrap();
        assert_eq!(read_pem("server_key", &path, "PRIVATE KEY").unwrap(), pem.as_bytes());
    }

    #[test]
    fn server_credentials_check_the_key_then_the_certificate_then_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        std::fs::write(&not_pem, "nothing\n").unwrap();

        let key_of = |r: Result<ServerCredentials, PemError>| r.err().map(|e| e.key);
        assert_eq!(key_of(server_credentials(Some(&not_pem), Some(&cert), None)), Some("server_key"));
        assert_eq!(key_of(server_credentials(Some(&key), Some(&not_pem), None)), Some("server_cert"));
        // The certificate is read as a key's partner: a key file there is refused.
        assert_eq!(key_of(server_credentials(Some(&key), Some(&key), None)), Some("server_cert"));
        assert_eq!(key_of(server_credentials(Some(&key), Some(&cert), Some(&not_pem))), Some("ca_cert"));
    }

    #[test]
    fn client_credentials_check_the_ca_then_the_key_then_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();

        let key_of = |r: Result<ChannelCredentials, PemError>| r.err().map(|e| e.key);
        assert_eq!(key_of(client_credentials(Some(&key), Some((&key, &cert)))), Some("ca_cert"));
        assert_eq!(key_of(client_credentials(Some(&cert), Some((&cert, &cert)))), Some("client_key"));
        assert_eq!(key_of(client_credentials(Some(&cert), Some((&key, &key)))), Some("client_cert"));
    }

    #[test]
    fn the_reuseport_arg_a3grpc_sets_is_one_the_core_reads_as_an_integer() {
        assert_eq!(SO_REUSEPORT, "grpc.so_reuseport");
        assert_eq!(option(SO_REUSEPORT, 1).problem(), None);
        assert_eq!(option(SO_REUSEPORT, 1).unknown_name_warning(), None);
    }
}
