//! The Python peers (Python a3grpc 0.3.0, grpcio) that the benchmark and the tests start:
//! where the checkout and the venv are, and the hello-world stubs for them.

use std::path::PathBuf;
use std::process::Command;

/// The checkout whose protos and Python scripts to use. Cargo sets CARGO_MANIFEST_DIR when it
/// runs a test or `cargo run` (scripts/bench.sh sets it too), to the library's folder or to
/// this crate's (`examples/`); the value compiled in is only a fallback, since a build shared
/// between checkouts may come from another.
pub fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    match manifest_dir.parent() {
        Some(root) if manifest_dir.ends_with("examples") && root.join("a3grpc-build").is_dir() => root.to_path_buf(),
        _ => manifest_dir,
    }
}

/// The venv that `scripts/setup.sh --python` makes (or `A3GRPC_VENV`).
pub fn venv() -> PathBuf {
    std::env::var_os("A3GRPC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/a3grpc/venv"))
}

/// Generates the Python stubs of examples/proto/hello_world.proto into a new temporary folder.
pub fn hello_world_stubs() -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let protos = repo_root().join("examples/proto");
    let out = Command::new(venv().join("bin/python"))
        .arg("-m")
        .arg("grpc_tools.protoc")
        .arg(format!("-I{}", protos.display()))
        .arg(format!("--python_out={}", dir.path().display()))
        .arg(format!("--grpc_python_out={}", dir.path().display()))
        .arg(protos.join("hello_world.proto"))
        .output()
        .map_err(|e| format!("no Python venv ({e}): run `bash scripts/setup.sh --python`"))?;
    if !out.status.success() {
        return Err(format!("grpc_tools.protoc failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(dir)
}
