//! The metrics endpoint: `GET /metrics` on the conf's `metrics_port`, answered by one thread
//! with a small blocking HTTP server, so the library needs no async runtime.

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use tiny_http::{Header, Response};

use super::ServerError;
use crate::channel::host_port;
use crate::metrics::Metrics;

pub(super) struct MetricsExporter {
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub(super) port: u16,
}

impl MetricsExporter {
    pub(super) fn start(host: &str, port: u16, metrics: Arc<Metrics>) -> Result<MetricsExporter, ServerError> {
        let addr = host_port(host, port);
        let http = tiny_http::Server::http(&addr)
            .map(Arc::new)
            .map_err(|e| ServerError::Bind { addr: format!("{addr} (metrics_port)"), reason: e.to_string() })?;
        let port = http.server_addr().to_ip().map(|a| a.port()).unwrap_or(port);
        let serving = http.clone();
        let thread = thread::Builder::new().name("a3grpc-metrics".into()).spawn(move || {
            for request in serving.incoming_requests() {
                let answered = if request.url() == "/metrics" {
                    let text = "Content-Type: text/plain; version=0.0.4; charset=utf-8";
                    let header = text.parse::<Header>().ok();
                    let response = Response::from_string(metrics.text());
                    request.respond(match header {
                        Some(header) => response.with_header(header),
                        None => response,
                    })
                } else {
                    request.respond(Response::from_string("not found: metrics are at /metrics\n").with_status_code(404))
                };
                if let Err(e) = answered {
                    log::debug!("a metrics scrape ended early: {e}");
                }
            }
        })?;
        log::info!("a3grpc metrics at http://{}/metrics", host_port(host, port));
        Ok(MetricsExporter { http, thread: Some(thread), port })
    }

    pub(super) fn stop(mut self) {
        self.http.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
