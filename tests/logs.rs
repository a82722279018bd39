//! What the server writes to the log, read through a logger that keeps every line.

mod common;

use a3grpc::{run_grpc_server, A3Error, Conf};
use common::*;

#[test]
fn an_error_without_a_cause_is_logged_without_a_dangling_separator() {
    logged_lines();
    let server = start(conf(vec![greeter(|_, _| Err(A3Error::Validation("the name is too long".into())))]));
    assert!(say_hello(&client(&server), "x").is_err());
    let logged = logged_lines().into_iter().find(|l| l.contains("[ValidationError]")).expect("the error is logged");
    assert!(logged.ends_with("499-[ValidationError]: the name is too long"), "{logged:?}");
}

#[test]
fn process_count_given_to_run_grpc_server_is_not_ignored_silently() {
    logged_lines();
    let conf = Conf::new("127.0.0.1", 0, "app.not.registered").process_count(2);
    assert!(run_grpc_server(conf).is_err(), "the unregistered mappings stop it after the warning");
    let warned =
        logged_lines().into_iter().find(|l| l.contains("process_count")).expect("a warning about process_count");
    assert!(warned.starts_with("WARN") && warned.contains("run_grpc_server_with_multiprocessing"), "{warned}");
}

#[test]
fn a_channel_option_the_core_does_not_know_is_passed_on_with_a_warning_naming_the_nearest() {
    logged_lines();
    let server = start(conf(vec![greeter(|_, _| Ok(reply("hi".into())))]).option("grpc.keepalive_tme_ms", 10_000));
    assert_eq!(say_hello(&client(&server), "x").unwrap(), "hi", "the server runs with it");
    let warned = logged_lines().into_iter().find(|l| l.contains("grpc.keepalive_tme_ms")).expect("a warning");
    assert!(warned.starts_with("WARN") && warned.contains("did you mean \"grpc.keepalive_time_ms\"?"), "{warned}");
}

#[test]
fn the_compression_args_of_compression_types_h_are_known() {
    logged_lines();
    let conf = conf(vec![greeter(|_, _| Ok(reply("hi".into())))])
        .option("grpc.default_compression_algorithm", 2)
        .option("grpc.default_compression_level", 2)
        .option("grpc.compression_enabled_algorithms_bitset", 7);
    let server = start(conf);
    assert_eq!(say_hello(&client(&server), "x").unwrap(), "hi");
    let unknown: Vec<String> =
        logged_lines().into_iter().filter(|l| l.contains("compression") && l.contains("is not an arg")).collect();
    assert!(unknown.is_empty(), "{unknown:?}");
}
