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
        // A positive number too small for a Duration (1e-300) would be zero: no timeout at all.
        Some(secs) if secs > 0.0 => Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Some)
            .ok_or_else(|| de::Error::custom("must be a positive number of seconds")),
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

#[cfg(test)]
mod tests {
    use super::super::Mappings;
    use super::*;

    const REQUIRED: &str = "host = \"127.0.0.1\"\nport = 50051\nservicer_mappings = \"app.mappings\"\n";

    fn toml_conf(extra: &str) -> Result<Conf, ConfError> {
        Conf::from_toml_str(&format!("{REQUIRED}{extra}"))
    }

    /// The key and message of a conf error.
    fn toml_error(extra: &str) -> (String, String) {
        match toml_conf(extra) {
            Ok(conf) => panic!("{extra:?} was accepted: {conf:?}"),
            Err(err) => (err.key().to_owned(), err.to_string()),
        }
    }

    fn json_error(text: &str) -> (String, String) {
        match Conf::from_json_str(text) {
            Ok(conf) => panic!("{text:?} was accepted: {conf:?}"),
            Err(err) => (err.key().to_owned(), err.to_string()),
        }
    }

    #[derive(Debug, Deserialize)]
    struct Counts {
        #[serde(default = "one", deserialize_with = "positive")]
        workers: usize,
        #[serde(default, deserialize_with = "optional_positive")]
        limit: Option<usize>,
    }

    fn one() -> usize {
        1
    }

    #[derive(Debug, Deserialize)]
    struct Seconds {
        #[serde(default, deserialize_with = "grace_seconds")]
        grace: Duration,
        #[serde(default, deserialize_with = "optional_seconds")]
        idle: Option<Duration>,
    }

    #[derive(Debug, Deserialize)]
    struct Codes {
        #[serde(default, deserialize_with = "status_codes")]
        codes: StatusCodes,
    }

    #[test]
    fn a_full_toml_conf_reads_every_value_the_way_it_is_spelt() {
        let conf = toml_conf(
            "max_workers = 4\n\
             maximum_concurrent_rpcs = 100\n\
             graceful_shutdown_seconds = 0.5\n\
             stream_idle_timeout_seconds = 30\n\
             process_count = 2\n\
             io_threads = 3\n\
             options = [[\"grpc.max_receive_message_length\", 1048576], [\"grpc.primary_user_agent\", \"me\"]]\n\
             [patch_status_code]\n\
             client_site_error_code = 498\n\
             server_site_error_code = 598\n",
        )
        .unwrap();
        assert_eq!(conf.host, "127.0.0.1");
        assert_eq!(conf.port, 50051);
        assert_eq!(conf.max_workers, 4);
        assert_eq!(conf.maximum_concurrent_rpcs, Some(100));
        assert_eq!(conf.graceful_shutdown_seconds, Duration::from_millis(500));
        assert_eq!(conf.stream_idle_timeout_seconds, Some(Duration::from_secs(30)));
        assert_eq!(conf.process_count, Some(2));
        assert_eq!(conf.io_threads, Some(3));
        assert_eq!(conf.patch_status_code, StatusCodes::patched(498, 598));
        assert_eq!(conf.options.len(), 2);
        assert!(matches!(&conf.servicer_mappings.0, Mappings::Named(name) if name == "app.mappings"));
    }

    #[test]
    fn left_out_keys_take_their_defaults() {
        let conf = toml_conf("").unwrap();
        assert!(conf.max_workers >= 1);
        assert_eq!(conf.maximum_concurrent_rpcs, None);
        assert_eq!(conf.graceful_shutdown_seconds, Duration::from_secs(3));
        assert_eq!(conf.stream_idle_timeout_seconds, None);
        assert_eq!(conf.process_count, None);
        assert_eq!(conf.io_threads, None);
        assert_eq!(conf.patch_status_code, StatusCodes::default());
        assert!(conf.options.is_empty());
    }

    #[test]
    fn a_json_conf_reads_the_same_values() {
        let conf = Conf::from_json_str(
            r#"{"host": "::1", "port": 0, "servicer_mappings": "m", "max_workers": 2,
                "graceful_shutdown_seconds": 0, "stream_idle_timeout_seconds": 1.5,
                "patch_status_code": "standard"}"#,
        )
        .unwrap();
        assert_eq!(conf.host, "::1");
        assert_eq!(conf.max_workers, 2);
        assert_eq!(conf.graceful_shutdown_seconds, Duration::ZERO);
        assert_eq!(conf.stream_idle_timeout_seconds, Some(Duration::from_millis(1500)));
        assert_eq!(conf.patch_status_code, StatusCodes::Standard);
    }

    #[test]
    fn patch_status_code_is_standard_or_a_table_whose_left_out_keys_keep_499_and_599() {
        assert_eq!(toml_conf("patch_status_code = \"standard\"\n").unwrap().patch_status_code, StatusCodes::Standard);
        assert_eq!(
            toml_conf("[patch_status_code]\nclient_site_error_code = 420\n").unwrap().patch_status_code,
            StatusCodes::patched(420, 599)
        );
        assert_eq!(
            toml_conf("[patch_status_code]\nserver_site_error_code = 520\n").unwrap().patch_status_code,
            StatusCodes::patched(499, 520)
        );
        assert_eq!(toml_conf("patch_status_code = {}\n").unwrap().patch_status_code, StatusCodes::default());
    }

    #[test]
    fn a_missing_key_is_named_by_the_error() {
        let (key, text) = match Conf::from_toml_str("port = 1\nservicer_mappings = \"m\"\n") {
            Err(err) => (err.key().to_owned(), err.to_string()),
            Ok(conf) => panic!("accepted without a host: {conf:?}"),
        };
        assert_eq!(key, "host");
        assert!(text.contains("missing field `host`"), "{text}");

        let (key, text) = json_error(r#"{"host": "h", "port": 1}"#);
        assert_eq!(key, "servicer_mappings");
        assert!(text.contains("missing field `servicer_mappings`"), "{text}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_the_error() {
        let (key, text) = json_error(r#"{"host": "127.0.0.1", "port": "x", "servicer_mappings": "m"}"#);
        assert_eq!(key, "port");
        assert!(text.contains("invalid type: string \"x\", expected u16"), "{text}");

        let (key, text) = toml_error("health = \"yes\"\n");
        assert_eq!(key, "health");
        assert!(text.contains("expected a boolean"), "{text}");
    }

    #[test]
    fn an_unknown_key_is_named_and_the_known_ones_listed() {
        let (key, text) = toml_error("hots = \"0.0.0.0\"\n");
        assert_eq!(key, "hots");
        assert!(
            text.starts_with("conf error at `hots`: unknown field `hots`, expected one of `host`, `port`"),
            "{text}"
        );
        assert!(text.contains("`stream_idle_timeout_seconds`"), "{text}");
    }

    #[test]
    fn a_pair_with_its_value_missing_is_named_by_its_index() {
        let (key, text) = toml_error("options = [[\"grpc.keepalive_time_ms\"]]\n");
        assert_eq!(key, "options[0]");
        assert!(text.contains("invalid length 1, expected a [name, value] pair"), "{text}");
    }

    #[test]
    fn max_workers_of_zero_or_below_is_refused_naming_the_key() {
        let (key, text) = toml_error("max_workers = 0\n");
        assert_eq!(key, "max_workers");
        assert_eq!(text, "conf error at `max_workers`: must be at least 1");

        let (key, text) = toml_error("max_workers = -2\n");
        assert_eq!(key, "max_workers");
        assert!(text.contains("invalid value: integer `-2`, expected usize"), "{text}");

        let (key, text) = toml_error("max_workers = 2.5\n");
        assert_eq!(key, "max_workers");
        assert!(text.contains("invalid type: floating point `2.5`, expected usize"), "{text}");
    }

    #[test]
    fn an_optional_count_of_zero_is_refused_with_a_hint_to_leave_it_out() {
        for key in ["maximum_concurrent_rpcs", "process_count", "io_threads"] {
            let (got, text) = toml_error(&format!("{key} = 0\n"));
            assert_eq!(got, key);
            assert_eq!(text, format!("conf error at `{key}`: must be at least 1 (leave the key out for no limit)"));
        }
    }

    #[test]
    fn graceful_shutdown_takes_whole_or_fractional_non_negative_seconds() {
        assert_eq!(
            toml_conf("graceful_shutdown_seconds = 10\n").unwrap().graceful_shutdown_seconds,
            Duration::from_secs(10)
        );
        assert_eq!(toml_conf("graceful_shutdown_seconds = 0\n").unwrap().graceful_shutdown_seconds, Duration::ZERO);
        for bad in ["-1", "-0.5", "nan", "inf"] {
            let (key, text) = toml_error(&format!("graceful_shutdown_seconds = {bad}\n"));
            assert_eq!(key, "graceful_shutdown_seconds", "{bad}");
            assert_eq!(text, "conf error at `graceful_shutdown_seconds`: must be a non-negative number of seconds");
        }
        let (key, text) = toml_error("graceful_shutdown_seconds = \"3s\"\n");
        assert_eq!(key, "graceful_shutdown_seconds");
        assert!(text.contains("invalid type: string \"3s\", expected f64"), "{text}");
    }

    #[test]
    fn the_stream_idle_timeout_must_be_positive_and_zero_or_below_says_to_leave_it_out() {
        for bad in ["0", "-3", "nan"] {
            let (key, text) = toml_error(&format!("stream_idle_timeout_seconds = {bad}\n"));
            assert_eq!(key, "stream_idle_timeout_seconds", "{bad}");
            assert_eq!(
                text,
                "conf error at `stream_idle_timeout_seconds`: must be a positive number of seconds \
                 (leave the key out for no limit)"
            );
        }
        let (key, text) = toml_error("stream_idle_timeout_seconds = inf\n");
        assert_eq!(key, "stream_idle_timeout_seconds");
        assert_eq!(text, "conf error at `stream_idle_timeout_seconds`: must be a positive number of seconds");
    }

    #[test]
    fn patch_status_code_of_another_string_or_type_is_refused_saying_what_is_expected() {
        let expected = "expected a table {client_site_error_code, server_site_error_code} or the string \"standard\"";
        let (key, text) = toml_error("patch_status_code = \"Standard\"\n");
        assert_eq!(key, "patch_status_code");
        assert!(text.contains(&format!("invalid value: string \"Standard\", {expected}")), "{text}");

        let (key, text) = toml_error("patch_status_code = 499\n");
        assert_eq!(key, "patch_status_code");
        assert!(text.contains(&format!("invalid type: integer `499`, {expected}")), "{text}");
    }

    #[test]
    fn a_misspelt_patch_status_code_key_is_refused_listing_the_right_ones() {
        let (key, text) = toml_error("[patch_status_code]\nclient_side_error_code = 499\n");
        assert_eq!(key, "patch_status_code.client_side_error_code");
        assert!(
            text.contains(
                "unknown field `client_side_error_code`, expected `client_site_error_code` or `server_site_error_code`"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_patch_status_code_of_the_wrong_type_names_the_inner_key() {
        let (key, text) = toml_error("[patch_status_code]\nserver_site_error_code = \"599\"\n");
        assert_eq!(key, "patch_status_code.server_site_error_code");
        assert!(text.contains("invalid type: string \"599\", expected i32"), "{text}");
    }

    #[test]
    fn patched_codes_that_cannot_work_are_refused_by_validation_naming_the_inner_key() {
        let (key, text) = toml_error("[patch_status_code]\nclient_site_error_code = 5\n");
        assert_eq!(key, "patch_status_code.client_site_error_code");
        assert!(text.contains("5 is a standard gRPC status code"), "{text}");
        let (key, text) = toml_error("[patch_status_code]\nserver_site_error_code = 499\n");
        assert_eq!(key, "patch_status_code.server_site_error_code");
        assert!(text.contains("equals client_site_error_code (499)"), "{text}");
    }

    #[test]
    fn reading_alone_does_not_validate() {
        let read: Unvalidated = toml::from_str(&format!(
            "{REQUIRED}[patch_status_code]\nclient_site_error_code = 5\nserver_site_error_code = 5\n"
        ))
        .unwrap();
        assert_eq!(read.0.patch_status_code, StatusCodes::patched(5, 5));
    }

    #[test]
    fn servicer_mappings_is_a_registered_name() {
        let conf =
            Conf::from_json_str(r#"{"host": "h", "port": 1, "servicer_mappings": "app.mappings.servicers"}"#).unwrap();
        assert_eq!(format!("{:?}", conf.servicer_mappings), "\"app.mappings.servicers\"");
        let (key, text) = json_error(r#"{"host": "h", "port": 1, "servicer_mappings": ["A", "B"]}"#);
        assert_eq!(key, "servicer_mappings");
        assert!(text.contains("invalid type: sequence, expected a string"), "{text}");
    }

    #[test]
    fn a_bad_channel_option_is_named_by_its_index() {
        let (key, text) =
            toml_error("options = [[\"grpc.keepalive_time_ms\", 1], [\"grpc.keepalive_time_ms\", 1.5]]\n");
        assert_eq!(key, "options[1][1]");
        assert!(text.contains("for channel arg \"grpc.keepalive_time_ms\""), "{text}");

        let (key, text) = toml_error("options = [[\"grpc.keepalive_time_ms\", \"10s\"]]\n");
        assert_eq!(key, "options[0]");
        assert!(text.contains("reads grpc.keepalive_time_ms as an integer, not as the string \"10s\""), "{text}");
    }

    #[test]
    fn the_counting_readers_take_positive_counts_directly() {
        let counts: Counts = serde_json::from_str(r#"{"workers": 8, "limit": 3}"#).unwrap();
        assert_eq!((counts.workers, counts.limit), (8, Some(3)));
        let counts: Counts = serde_json::from_str(r#"{"limit": null}"#).unwrap();
        assert_eq!((counts.workers, counts.limit), (1, None));
        let err = serde_json::from_str::<Counts>(r#"{"workers": 0}"#).unwrap_err().to_string();
        assert!(err.starts_with("must be at least 1 at line 1"), "{err}");
        let err = serde_json::from_str::<Counts>(r#"{"limit": 0}"#).unwrap_err().to_string();
        assert!(err.starts_with("must be at least 1 (leave the key out for no limit)"), "{err}");
    }

    #[test]
    fn the_seconds_readers_take_numbers_and_null_directly() {
        let s: Seconds = serde_json::from_str(r#"{"grace": 2.25, "idle": 0.001}"#).unwrap();
        assert_eq!(s.grace, Duration::from_millis(2250));
        assert_eq!(s.idle, Some(Duration::from_millis(1)));
        let s: Seconds = serde_json::from_str(r#"{"idle": null}"#).unwrap();
        assert_eq!(s.idle, None);
        let err = serde_json::from_str::<Seconds>(r#"{"grace": -0.1}"#).unwrap_err().to_string();
        assert!(err.starts_with("must be a non-negative number of seconds"), "{err}");
        let err = serde_json::from_str::<Seconds>(r#"{"idle": 1e300}"#).unwrap_err().to_string();
        assert!(err.starts_with("must be a positive number of seconds at line"), "{err}");
    }

    #[test]
    fn the_status_codes_reader_refuses_unknown_keys_directly() {
        let c: Codes = serde_json::from_str(r#"{"codes": {"client_site_error_code": 450}}"#).unwrap();
        assert_eq!(c.codes, StatusCodes::patched(450, 599));
        let c: Codes = serde_json::from_str(r#"{"codes": "standard"}"#).unwrap();
        assert_eq!(c.codes, StatusCodes::Standard);
        let err = serde_json::from_str::<Codes>(r#"{"codes": {"extra": 1}}"#).unwrap_err().to_string();
        assert!(err.starts_with("unknown field `extra`"), "{err}");
        let err = serde_json::from_str::<Codes>(r#"{"codes": true}"#).unwrap_err().to_string();
        assert!(err.starts_with("invalid type: boolean `true`, expected a table"), "{err}");
    }
}
