//! The client side's Prometheus metrics (`grpc_client_*`), shared by every client of the
//! process: exact counts after calls of every kind and some errors, read from
//! `client_metrics_text` and from a server's `/metrics` in the same process. (A test binary of
//! its own, since every client of the process adds to them.)

mod common;

use common::*;

#[test]
fn client_calls_of_every_kind_are_counted_exactly() {
    let server = start(conf(vec![a3grpc_examples::hello::greeter_servicer()]).metrics_port(0));
    call_every_kind(&client(&server));
    let from_code = prometheus_samples(&a3grpc::metrics::client_metrics_text());
    let scraped = prometheus_samples(&scrape_metrics(server.metrics_port().unwrap()).1);
    assert_every_kind_counted(&from_code, "client");
    assert_every_kind_counted(&scraped, "client");
}
