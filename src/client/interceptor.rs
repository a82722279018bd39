//! Client interceptors: code that runs around every call a client makes (metadata, deadlines,
//! logging), and the client side of the built-in interceptors.

use std::time::Duration;

use super::options::CallOptions;
use crate::error::Error;
use crate::interceptor::{new_request_id, BearerToken, RequestId, RequestLog, REQUEST_ID};

/// A client interceptor: adjusts each call's options (metadata, deadline) before it goes out
/// and sees how it ended.
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Runs before each call; its options then serve every retry of it.
    fn before(&self, method: &str, options: &mut CallOptions) {
        let _ = (method, options);
    }

    /// Runs once after each call, with its result: for streaming responses when the stream
    /// ends, fails, or is cancelled or dropped by the caller.
    fn after(&self, method: &str, result: Result<(), &Error>, elapsed: Duration) {
        let _ = (method, result, elapsed);
    }
}

impl ClientInterceptor for RequestLog {
    fn after(&self, method: &str, result: Result<(), &Error>, elapsed: Duration) {
        match result {
            Ok(()) => log::info!("{method}: OK in {elapsed:.1?}"),
            Err(err) => log::info!("{method}: {err} in {elapsed:.1?}"),
        }
    }
}

impl ClientInterceptor for BearerToken {
    fn before(&self, _: &str, options: &mut CallOptions) {
        options.set_header("authorization", format!("Bearer {}", self.token()));
    }
}

impl ClientInterceptor for RequestId {
    fn before(&self, _: &str, options: &mut CallOptions) {
        if !options.has_header(REQUEST_ID) {
            options.set_header(REQUEST_ID, new_request_id());
        }
    }
}
