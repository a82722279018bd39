//! What the engine under a3grpc carries: whether grpcio and its gRPC core were built with
//! a3grpc's own patches (engine/README.md in the repository), and the one warning a process
//! logs when they were not. build.rs compares the two sides.

use std::sync::Once;

/// The patches of a3grpc's engine this build lacks, space-separated; empty when it has all.
const MISSING: &str = env!("A3GRPC_ENGINE_MISSING");

/// Logs once per process, at the first server or client it starts, that the engine lacks
/// a3grpc's patches, naming them and what goes without them.
pub(crate) fn warn_if_unpatched() {
    static WARNED: Once = Once::new();
    if MISSING.is_empty() {
        return;
    }
    WARNED.call_once(|| {
        log::warn!(
            "the gRPC engine lacks a3grpc's patches ({MISSING}): servers are open to rapid reset \
             (CVE-2023-44487) and HPACK table poisoning (CVE-2024-7246), send no trailers, and \
             gzip does not compress; build with a3grpc's engine as the README's section \
             \"Your own service\" shows"
        )
    });
}
