//! TLS and mutual TLS with certificates made at run time: what works, what is refused, and
//! configurations that make no sense failing loudly instead of falling back to plaintext.

mod common;

use a3grpc::client::RetryPolicy;
use a3grpc::error::Code;
use a3grpc::{BaseClient, Conf, Error, Server};
use common::*;

fn tls_server(pki: &Pki, mutual: bool) -> Server {
    let mut conf = conf(vec![hello::greeter_servicer()]).tls(pki.path("server.key"), pki.path("server.pem"));
    if mutual {
        conf = conf.ca_cert(pki.path("ca.pem"));
    }
    start(conf)
}

fn tls_client(server: &Server) -> a3grpc::client::ClientBuilder {
    BaseClient::builder("127.0.0.1", server.port()).retry(RetryPolicy::never())
}

#[test]
fn tls_serves_a_client_that_trusts_the_ca() {
    let pki = Pki::new(&["localhost", "127.0.0.1"]);
    let server = tls_server(&pki, false);
    let client = tls_client(&server).ca_cert(pki.path("ca.pem")).build().unwrap();
    assert_eq!(say_hello(&client, "tls").unwrap(), "Hello tls!");

    let plaintext = tls_client(&server).build().unwrap();
    assert_eq!(say_hello(&plaintext, "x").unwrap_err().code(), Some(Code::UNAVAILABLE), "no plaintext on a TLS port");
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let pki = Pki::new(&["127.0.0.1"]);
    let server = tls_server(&pki, false);
    let client = tls_client(&server).ca_cert(pki.path("other-ca.pem")).build().unwrap();
    assert_eq!(say_hello(&client, "x").unwrap_err().code(), Some(Code::UNAVAILABLE));
}

#[test]
fn mutual_tls_needs_a_client_certificate_from_the_ca() {
    let pki = Pki::new(&["127.0.0.1"]);
    let server = tls_server(&pki, true);
    let with_identity = tls_client(&server)
        .ca_cert(pki.path("ca.pem"))
        .client_key_and_cert(pki.path("client.key"), pki.path("client.pem"))
        .build()
        .unwrap();
    assert_eq!(say_hello(&with_identity, "mtls").unwrap(), "Hello mtls!");

    // With the default retry policy: a handshake the server refused is not tried again, and
    // the error says what it was.
    let without = BaseClient::builder("127.0.0.1", server.port()).ca_cert(pki.path("ca.pem")).build().unwrap();
    match say_hello(&without, "x") {
        Err(err @ Error::TlsHandshake { .. }) => {
            assert!(err.to_string().contains("client_key_and_cert"), "{err}");
            assert_eq!(err.code(), Some(Code::UNAVAILABLE));
        }
        other => panic!("expected a TLS handshake failure, got {other:?}"),
    }
}

#[test]
fn the_target_name_override_accepts_a_certificate_for_another_name() {
    let pki = Pki::new(&["foo.test.google.fr"]);
    let server = tls_server(&pki, false);
    let plain_name = tls_client(&server).ca_cert(pki.path("ca.pem")).build().unwrap();
    assert_eq!(
        say_hello(&plain_name, "x").unwrap_err().code(),
        Some(Code::UNAVAILABLE),
        "127.0.0.1 is not on the certificate"
    );
    let overridden =
        tls_client(&server).ca_cert(pki.path("ca.pem")).tls_target_name("foo.test.google.fr").build().unwrap();
    assert_eq!(say_hello(&overridden, "override").unwrap(), "Hello override!");
}

fn start_error(conf: Conf) -> String {
    match Server::start(conf) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("the server should refuse this TLS setup"),
    }
}

#[test]
fn tls_settings_that_make_no_sense_are_errors_naming_the_key() {
    let pki = Pki::new(&["127.0.0.1"]);
    let servicers = || vec![hello::greeter_servicer()];
    let base = "host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"m\"\n";
    let key = pki.path("server.key").display().to_string();
    let cert = pki.path("server.pem").display().to_string();

    let only_key = Conf::from_toml_str(&format!("{base}server_key = {key:?}")).unwrap_err();
    assert_eq!(only_key.key(), "server_cert", "{only_key}");
    let only_ca = Conf::from_toml_str(&format!("{base}ca_cert = {cert:?}")).unwrap_err();
    assert_eq!(only_ca.key(), "ca_cert", "{only_ca}");

    let missing = start_error(conf(servicers()).tls("/nonexistent/server.key", pki.path("server.pem")));
    assert!(missing.contains("server_key") && missing.contains("/nonexistent/server.key"), "{missing}");
    let swapped = start_error(conf(servicers()).tls(pki.path("server.pem"), pki.path("server.key")));
    assert!(swapped.contains("server_key") && swapped.contains("PRIVATE KEY"), "{swapped}");
    let bad_ca = start_error(
        conf(servicers()).tls(pki.path("server.key"), pki.path("server.pem")).ca_cert(pki.path("client.key")),
    );
    assert!(bad_ca.contains("ca_cert"), "{bad_ca}");

    let client = BaseClient::builder("127.0.0.1", 1).ca_cert("/nonexistent/ca.pem").build();
    assert!(matches!(client, Err(Error::Usage(ref m)) if m.contains("ca_cert")), "{:?}", client.err());
    let no_tls = BaseClient::builder("127.0.0.1", 1).tls_target_name("x").build();
    assert!(matches!(no_tls, Err(Error::Usage(_))));
}

#[test]
fn with_tls_reload_a_rotated_certificate_is_served_to_new_connections() {
    let (first, second) = (Pki::new(&["127.0.0.1"]), Pki::new(&["127.0.0.1"]));
    let serving = tempfile::tempdir().unwrap();
    let install = |pki: &Pki| {
        for file in ["server.key", "server.pem"] {
            std::fs::copy(pki.path(file), serving.path().join(file)).unwrap();
        }
    };
    install(&first);
    let conf = conf(vec![hello::greeter_servicer()])
        .tls(serving.path().join("server.key"), serving.path().join("server.pem"))
        .tls_reload(true);
    let server = start(conf);
    let trusting = |pki: &Pki| tls_client(&server).ca_cert(pki.path("ca.pem")).build().unwrap();

    let old = trusting(&first);
    assert_eq!(say_hello(&old, "before").unwrap(), "Hello before!");
    assert!(say_hello(&trusting(&second), "too early").is_err(), "the second CA is not served yet");

    install(&second);
    assert_eq!(say_hello(&trusting(&second), "after").unwrap(), "Hello after!", "new connections: new certificate");
    assert_eq!(say_hello(&old, "still").unwrap(), "Hello still!", "an open connection keeps working");

    std::fs::write(serving.path().join("server.pem"), "not a certificate").unwrap();
    assert_eq!(
        say_hello(&trusting(&second), "bad file").unwrap(),
        "Hello bad file!",
        "a file that cannot be used is logged and the certificate in use kept"
    );
}

#[test]
fn relative_tls_paths_in_a_conf_file_are_read_from_the_conf_files_folder() {
    let pki = Pki::new(&["127.0.0.1"]);
    a3grpc::register_mappings("tls.relative", vec![hello::greeter_servicer()]);
    let conf_file = pki.path("conf.toml");
    std::fs::write(
        &conf_file,
        "host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"tls.relative\"\n\
         server_key = \"server.key\"\nserver_cert = \"server.pem\"\n",
    )
    .unwrap();
    // The test's working folder is the crate's, not the conf's.
    assert!(!std::path::Path::new("server.key").exists());
    let server = start(Conf::from_file(&conf_file).unwrap());
    let client = tls_client(&server).ca_cert(pki.path("ca.pem")).build().unwrap();
    assert_eq!(say_hello(&client, "relative").unwrap(), "Hello relative!");
}

#[test]
fn tls_reload_without_tls_is_an_error_naming_the_key() {
    let err = Conf::from_toml_str("host = \"127.0.0.1\"\nport = 0\nservicer_mappings = \"m\"\ntls_reload = true\n")
        .unwrap_err();
    assert_eq!(err.key(), "tls_reload");
}
