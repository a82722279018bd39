//! The standard health service, `grpc.health.v1.Health`, as load balancers and the core's
//! client-side health checking call it: every service a server serves (and `""`, the server
//! itself) is SERVING from its start until its stop begins, then NOT_SERVING; watchers learn of
//! the stop at once. Answers are a lookup, so they run on the I/O threads, never as a View.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use grpcio::{RpcContext, RpcStatus, RpcStatusCode, ServerStreamingSink, ServiceBuilder, UnarySink, WriteFlags};

use crate::proto::health::{
    health_check_response::ServingStatus, HealthCheckRequest, HealthCheckResponse, METHOD_HEALTH_CHECK,
    METHOD_HEALTH_WATCH,
};

/// The health of one server: what it serves, whether its stop has begun, and who watches.
#[derive(Clone)]
pub(crate) struct Health {
    state: Arc<Mutex<State>>,
}

struct State {
    services: BTreeSet<String>,
    stopping: bool,
    /// Each watch's sender, and whether its service is served. Kept until the server is
    /// dropped: a watch stays open (the protocol's rule) until the client leaves or the server
    /// ends the call.
    watchers: Vec<(mpsc::UnboundedSender<ServingStatus>, bool)>,
}

impl Health {
    /// Health for a server serving `services` (full names); the server itself is `""`.
    pub(crate) fn new(services: impl IntoIterator<Item = String>) -> Health {
        let mut services: BTreeSet<String> = services.into_iter().collect();
        services.insert(String::new());
        Health { state: Arc::new(Mutex::new(State { services, stopping: false, watchers: Vec::new() })) }
    }

    /// The server's stop has begun: every service is NOT_SERVING from now on, and watchers are
    /// told at once.
    pub(crate) fn stopping(&self) {
        let mut state = self.lock();
        state.stopping = true;
        state
            .watchers
            .retain(|(watcher, served)| !served || watcher.unbounded_send(ServingStatus::NOT_SERVING).is_ok());
    }

    /// The service to register on the server.
    pub(crate) fn service(&self) -> grpcio::Service {
        let (check, watch) = (self.clone(), self.clone());
        ServiceBuilder::new()
            .add_unary_handler(&METHOD_HEALTH_CHECK, move |ctx, request, sink| check.check(ctx, request, sink))
            .add_server_streaming_handler(&METHOD_HEALTH_WATCH, move |ctx, request, sink| {
                watch.watch(ctx, request, sink)
            })
            .build()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, ctx: RpcContext, request: HealthCheckRequest, sink: UnarySink<HealthCheckResponse>) {
        let status = self.lock().status(&request.service);
        let reply = match status {
            Some(status) => sink.success(response(status)),
            None => sink.fail(RpcStatus::with_message(
                RpcStatusCode::NOT_FOUND,
                format!("this server does not serve {:?}", &request.service),
            )),
        };
        ctx.spawn(async move {
            let _ = reply.await;
        });
    }

    /// The current status at once, then each change. A service this server does not serve is
    /// SERVICE_UNKNOWN, and the call stays open, as the protocol says.
    fn watch(&self, ctx: RpcContext, request: HealthCheckRequest, mut sink: ServerStreamingSink<HealthCheckResponse>) {
        let (tx, changes) = mpsc::unbounded();
        // Under one lock, so a stop that begins meanwhile reaches this watcher.
        let mut state = self.lock();
        let status = state.status(&request.service);
        let _ = tx.unbounded_send(status.unwrap_or(ServingStatus::SERVICE_UNKNOWN));
        state.watchers.push((tx, status.is_some()));
        drop(state);
        let mut updates = changes.map(|status| Ok((response(status), WriteFlags::default())));
        ctx.spawn(async move {
            if sink.send_all(&mut updates).await.is_ok() {
                let _ = sink.close().await;
            }
        });
    }
}

impl State {
    /// `None` for a service this server does not serve.
    fn status(&self, service: &str) -> Option<ServingStatus> {
        match (self.services.contains(service), self.stopping) {
            (false, _) => None,
            (true, false) => Some(ServingStatus::SERVING),
            (true, true) => Some(ServingStatus::NOT_SERVING),
        }
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse { status: status.into(), ..Default::default() }
}
