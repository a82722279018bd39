//! The engine a3grpc runs on, named for logs and bug reports.

/// The version of the gRPC C core a3grpc is built on (compiled from PyPI's grpcio source
/// distribution of that version, with a3grpc's patches). The server's start line names it.
///
/// ```
/// assert!(a3grpc::engine::CORE_VERSION.starts_with("1."));
/// ```
pub const CORE_VERSION: &str = "1.85.3";

#[cfg(test)]
mod tests {
    /// The version set-up prepares (engine/core) is the one named here.
    #[test]
    fn names_the_prepared_core() {
        let pinned = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/engine/core")).unwrap();
        let line = pinned.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(line.split(' ').next(), Some(super::CORE_VERSION));
    }
}
