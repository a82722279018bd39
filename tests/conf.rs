//! Conf from TOML and JSON files with the original's keys, and an error naming the key for
//! every kind of mistake.

mod common;

use a3grpc::conf::ConfError;
use a3grpc::error::Code;
use a3grpc::{register_mappings, Conf, Server};
use common::*;

const NAME: &str = "app.mappings.servicer_mappings";

fn register() {
    register_mappings(NAME, vec![hello::greeter_servicer()]);
}

fn write(dir: &tempfile::TempDir, file: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(file);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_toml_conf_with_the_original_keys_starts_a_server() {
    register();
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "conf.toml",
        r#"
        host = "127.0.0.1"
        port = 0
        max_workers = 2
        maximum_concurrent_rpcs = 10
        servicer_mappings = "app.mappings.servicer_mappings"
        graceful_shutdown_seconds = 1.5
        options = [["grpc.max_receive_message_length", 1024], ["grpc.primary_user_agent", "a3"], ["grpc.keepalive_permit_without_calls", true]]
        interceptors = []
        process_count = 1

        [patch_status_code]
        client_site_error_code = 499
        server_site_error_code = 599
        "#,
    );
    let server = Server::start(Conf::from_file(&path).unwrap()).unwrap();
    let client = client(&server);
    assert_eq!(say_hello(&client, "toml").unwrap(), "Hello toml!");
    assert_eq!(
        say_hello(&client, &"x".repeat(2048)).unwrap_err().code(),
        Some(Code::RESOURCE_EXHAUSTED),
        "options applied"
    );
}

#[test]
fn a_json_conf_like_the_python_dict_starts_a_server() {
    register();
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "conf.json",
        r#"{"host": "127.0.0.1", "port": 0, "max_workers": 2, "maximum_concurrent_rpcs": null,
            "servicer_mappings": "app.mappings.servicer_mappings", "server_key": null,
            "options": [["grpc.so_reuseport", 0]], "patch_status_code": "standard"}"#,
    );
    let server = Server::start(Conf::from_file(&path).unwrap()).unwrap();
    assert_eq!(say_hello(&client(&server), "json").unwrap(), "Hello json!");
}

fn toml_error(text: &str) -> ConfError {
    Conf::from_toml_str(text).expect_err("the conf should be rejected")
}

fn json_error(text: &str) -> ConfError {
    Conf::from_json_str(text).expect_err("the conf should be rejected")
}

const BASE: &str = "host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"m\"\n";

#[test]
fn each_mistake_names_its_key() {
    let cases: Vec<(ConfError, &str)> = vec![
        (toml_error("port = 1\nservicer_mappings = \"m\""), "host"),
        (json_error(r#"{"host": "h", "servicer_mappings": "m"}"#), "port"),
        (toml_error("host = \"h\"\nport = 1"), "servicer_mappings"),
        (toml_error("host = \"h\"\nport = \"fifty\"\nservicer_mappings = \"m\""), "port"),
        (json_error(r#"{"host": "h", "port": 70000, "servicer_mappings": "m"}"#), "port"),
        (toml_error(&format!("{BASE}max_workers = 0")), "max_workers"),
        (toml_error(&format!("{BASE}max_worker = 4")), "max_worker"),
        (json_error(r#"{"host": "h", "port": 1, "servicer_mappings": "m", "colour": 1}"#), "colour"),
        (toml_error(&format!("{BASE}options = [[\"grpc.x\", 1.5]]")), "options[0]"),
        (
            json_error(
                r#"{"host": "h", "port": 1, "servicer_mappings": "m", "options": [["a", 1], ["grpc.y", {"k": 1}]]}"#,
            ),
            "options[1]",
        ),
        (
            json_error(r#"{"host": "h", "port": 1, "servicer_mappings": "m", "options": [["a", 9999999999]]}"#),
            "options[0]",
        ),
        (
            toml_error(&format!(
                "{BASE}[patch_status_code]\nclient_site_error_code = 499\nserver_site_error_code = 499"
            )),
            "patch_status_code.server_site_error_code",
        ),
        (
            toml_error(&format!("{BASE}[patch_status_code]\nclient_site_error_code = 5")),
            "patch_status_code.client_site_error_code",
        ),
        (toml_error(&format!("{BASE}patch_status_code = \"loud\"")), "patch_status_code"),
        (toml_error(&format!("{BASE}graceful_shutdown_seconds = -1")), "graceful_shutdown_seconds"),
        (toml_error(&format!("{BASE}maximum_concurrent_rpcs = 0")), "maximum_concurrent_rpcs"),
    ];
    for (err, key) in cases {
        assert!(
            err.key() == key || err.key().starts_with(&format!("{key}[")),
            "expected key {key:?}, got {:?}: {err}",
            err.key()
        );
        assert!(err.to_string().contains(key), "the message names {key:?}: {err}");
    }
}

#[test]
fn a_bad_option_value_says_which_option() {
    let err = toml_error(&format!("{BASE}options = [[\"grpc.max_receive_message_length\", 1.5]]"));
    assert!(err.to_string().contains("grpc.max_receive_message_length"), "{err}");
}

#[test]
fn an_unregistered_mappings_name_lists_the_registered_ones() {
    register();
    let conf = Conf::from_toml_str("host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"app.typo\"").unwrap();
    let err = Server::start(conf).err().expect("unknown mappings are rejected");
    let text = err.to_string();
    assert!(text.contains("servicer_mappings") && text.contains("app.typo"), "{text}");
    assert!(text.contains(NAME), "the registered names are listed: {text}");
}

#[test]
fn a_missing_file_and_an_unknown_extension_are_clear_errors() {
    let err = Conf::from_file("/nonexistent/conf.toml").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/conf.toml"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "conf.yaml", BASE);
    assert!(Conf::from_file(&path).unwrap_err().to_string().contains(".toml or .json"));
}

#[test]
fn an_unknown_interceptor_name_lists_the_built_in_ones_too() {
    register();
    let conf = Conf::from_toml_str(&format!(
        "host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"{NAME}\"\ninterceptors = [\"app.Nope\"]"
    ))
    .unwrap();
    let text = Server::start(conf).err().expect("an unknown interceptor is rejected").to_string();
    for built_in in ["a3grpc.BearerAuth", "a3grpc.BearerToken", "a3grpc.RequestId", "a3grpc.RequestLog"] {
        assert!(text.contains(built_in), "{built_in} is listed: {text}");
    }
}

#[test]
fn a_core_arg_given_a_value_of_the_wrong_type_is_an_error_naming_the_option() {
    for (option, expected) in [
        ("[\"grpc.keepalive_time_ms\", \"10000\"]", "as an integer"),
        ("[\"grpc.lb_policy_name\", 1]", "as a string"),
        ("[\"grpc.resource_quota\", 1]", "pointer"),
    ] {
        let err = toml_error(&format!("{BASE}options = [[\"grpc.so_reuseport\", 0], {option}]"));
        assert_eq!(err.key(), "options[1]", "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let err = a3grpc::BaseClient::builder("127.0.0.1", 1).option("grpc.keepalive_time_ms", "10000").build();
    assert!(matches!(err, Err(a3grpc::Error::Usage(ref m)) if m.contains("as an integer")), "{:?}", err.err());
}

#[test]
fn the_apps_own_settings_pass_through_the_conf_and_read_into_its_type() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Settings {
        inventory: String,
        limits: Limits,
    }
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Limits {
        page_size: u32,
    }
    let conf =
        Conf::from_toml_str(&format!("{BASE}[app]\ninventory = \"inventory:50051\"\nlimits = {{ page_size = 50 }}\n"))
            .unwrap();
    let settings: Settings = conf.app().unwrap();
    assert_eq!(settings, Settings { inventory: "inventory:50051".into(), limits: Limits { page_size: 50 } });

    let wrong =
        Conf::from_toml_str(&format!("{BASE}[app]\ninventory = \"i\"\nlimits = {{ page_size = -1 }}\n")).unwrap();
    let err = wrong.app::<Settings>().unwrap_err();
    assert_eq!(err.key(), "app.limits.page_size", "{err}");

    let missing = Conf::from_toml_str(BASE).unwrap().app::<Settings>().unwrap_err();
    assert_eq!(missing.key(), "app", "{missing}");
    assert!(missing.to_string().contains("missing field `inventory`"), "{missing}");

    assert_eq!(toml_error(&format!("{BASE}app = 5\n")).key(), "app");
}
