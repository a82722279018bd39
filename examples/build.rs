//! Generates the examples' services with a3grpc-build, exactly as a user's `build.rs` does:
//! the Python original's hello-world proto (no `package`), the tests' self-nesting messages and
//! names that are Rust keywords, and the gRPC interop service
//! (`grpc.testing`) from Debian's `grpc-proto` package when it is installed.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    a3grpc_build::compile_protos(&["proto/hello_world.proto", "proto/nesting.proto", "proto/type.proto"], &["proto"])?;
    interop_protos()
}

/// The interop service is only for the interop example, so without `grpc-proto` the build goes
/// on and that example says what to install.
///
/// Until the protos are there, the script asks to be run on every build: cargo only notices a
/// file that appears if its modification time is newer than the last run, and apt installs
/// package files with the package's old times. So `rerun-if-changed` on the proto alone would
/// leave a build made before `apt-get install grpc-proto` without the interop service for good.
fn interop_protos() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rustc-check-cfg=cfg(a3grpc_interop)");
    println!("cargo:rerun-if-env-changed=A3GRPC_GRPC_PROTO_DIR");
    let root = std::env::var_os("A3GRPC_GRPC_PROTO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/grpc-proto"));
    let protos = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"];
    if !protos.iter().all(|p| root.join(p).is_file()) {
        let never_written = Path::new(&std::env::var("OUT_DIR")?).join("grpc-proto-is-not-installed");
        println!("cargo:rerun-if-changed={}", never_written.display());
        return Ok(());
    }
    a3grpc_build::compile_protos(&protos, &[root])?;
    println!("cargo:rustc-cfg=a3grpc_interop");
    Ok(())
}
