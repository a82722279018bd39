//! The client side's Prometheus metrics (`grpc_client_*`), shared by every client of the
//! process: exact counts after calls of every kind and some errors, read from
//! `client_metrics_text` and from a server's `/metrics` in the same process. (A test binary of
//! its own, since every client of the process adds to them.)

mod common;

use a3grpc::CallOptions;
use common::hello::{
    METHOD_GREETER_SAY_HELLO_BIDI_STREAM as BIDI, METHOD_GREETER_SAY_HELLO_STREAM_REPLY as SERVER_STREAM,
    METHOD_GREETER_SAY_STREAM_HELLO_REPLY as CLIENT_STREAM,
};
use common::*;

#[test]
fn client_calls_of_every_kind_are_counted_exactly() {
    let server = start(conf(vec![a3grpc_examples::hello::greeter_servicer()]).metrics_port(0));
    let client = client(&server);
    let none = CallOptions::new();
    for name in ["a", "b", "c"] {
        say_hello(&client, name).unwrap();
    }
    for _ in 0..2 {
        say_hello(&client, "error").unwrap_err();
    }
    client.client_streaming(&CLIENT_STREAM, ["1", "2", "3", "4"].map(request), &none).unwrap();
    assert_eq!(client.server_streaming(&SERVER_STREAM, &request("s"), &none).unwrap().count(), 3);
    let (mut requests, replies) = client.bidi(&BIDI, &none).unwrap();
    requests.send(request("x")).unwrap();
    requests.send(request("y")).unwrap();
    requests.finish();
    assert_eq!(replies.count(), 2);

    let from_code = prometheus_samples(&a3grpc::client_metrics_text());
    let scraped = prometheus_samples(&scrape_metrics(server.metrics_port().unwrap()).1);
    for samples in [from_code, scraped] {
        let get = |key: &str| samples.get(key).copied().unwrap_or_else(|| panic!("no sample {key}"));
        let unary = r#"grpc_method="say_hello",grpc_service="Greeter",grpc_type="unary""#;
        assert_eq!(get(&format!("grpc_client_started_total{{{unary}}}")), 5.0);
        assert_eq!(get(&format!(r#"grpc_client_handled_total{{a3_error="",grpc_code="OK",{unary}}}"#)), 3.0);
        assert_eq!(
            get(&format!(r#"grpc_client_handled_total{{a3_error="ServerKnownError",grpc_code="Code(599)",{unary}}}"#)),
            2.0
        );
        assert_eq!(get(&format!("grpc_client_msg_sent_total{{{unary}}}")), 5.0);
        assert_eq!(get(&format!("grpc_client_msg_received_total{{{unary}}}")), 3.0);
        assert_eq!(get(&format!("grpc_client_handling_seconds_count{{{unary}}}")), 5.0);
        let kinds = [
            ("say_stream_hello_reply", "client_stream", 4.0, 1.0),
            ("say_hello_stream_reply", "server_stream", 1.0, 3.0),
            ("say_hello_bidi_stream", "bidi_stream", 2.0, 2.0),
        ];
        for (method, kind, sent, received) in kinds {
            let labels = format!(r#"grpc_method="{method}",grpc_service="Greeter",grpc_type="{kind}""#);
            assert_eq!(get(&format!("grpc_client_started_total{{{labels}}}")), 1.0, "{method}");
            assert_eq!(get(&format!(r#"grpc_client_handled_total{{a3_error="",grpc_code="OK",{labels}}}"#)), 1.0);
            assert_eq!(get(&format!("grpc_client_msg_sent_total{{{labels}}}")), sent, "{method}");
            assert_eq!(get(&format!("grpc_client_msg_received_total{{{labels}}}")), received, "{method}");
        }
    }
}
