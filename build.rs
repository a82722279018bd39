//! Generates Rust code for the crate's own proto (the rich error model) and for the
//! hello-world proto that the examples and tests serve.
//!
//! protoc-grpcio output starts with inner attributes (`#![...]`, `//!`), which `include!`
//! rejects inside `mod {}`. So for each proto set we also write a small `*_mod.rs` that
//! declares the generated files as modules by absolute `#[path]`: the includer gets real
//! modules and the generated files need no surgery for that.
//!
//! One fix-up remains: grpcio-compiler 0.7 (behind protoc-grpcio 3) emits the `METHOD_*`
//! descriptors as private consts, while a3grpc Servicers bind Views to exactly those
//! descriptors. Later grpcio-compiler releases make them `pub`; we do the same.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    require_protoc();
    generate(&out, "rpc", "proto", &["google/rpc/status.proto"], &["status"]);
    generate(&out, "hello_world", "proto", &["hello_world.proto"], &["hello_world", "hello_world_grpc"]);
    println!("cargo:rerun-if-changed=proto");
    interop_protos(&out);
}

/// The gRPC interop service (`grpc.testing.TestService`) for the interop example, from
/// Debian's `grpc-proto` package. The library does not need it, so without the package the
/// build goes on and the example explains what to install.
fn interop_protos(out: &Path) {
    println!("cargo::rustc-check-cfg=cfg(a3grpc_interop)");
    println!("cargo:rerun-if-env-changed=A3GRPC_GRPC_PROTO_DIR");
    let root = env::var("A3GRPC_GRPC_PROTO_DIR").unwrap_or_else(|_| "/usr/share/grpc-proto".to_owned());
    let test_proto = Path::new(&root).join("grpc/testing/test.proto");
    println!("cargo:rerun-if-changed={}", test_proto.display());
    if !test_proto.exists() {
        return;
    }
    let protos = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"];
    generate(out, "interop", &root, &protos, &["empty", "messages", "test", "test_grpc"]);
    println!("cargo:rustc-cfg=a3grpc_interop");
}

fn require_protoc() {
    let found = Command::new("protoc").arg("--version").output().map(|o| o.status.success());
    if !matches!(found, Ok(true)) {
        eprintln!(
            "\n\na3grpc: `protoc` (the protobuf compiler) is not installed.\n\
             Install it with `apt-get install -y protobuf-compiler`, or run `bash scripts/setup.sh`.\n\n"
        );
        std::process::exit(1);
    }
}

fn generate(out: &Path, set: &str, include: &str, protos: &[&str], modules: &[&str]) {
    let dir = out.join(set);
    fs::create_dir_all(&dir).expect("create OUT_DIR subfolder");
    if let Err(e) = protoc_grpcio::compile_grpc_protos(protos, &[include], &dir, None) {
        eprintln!("a3grpc: generating code for {protos:?} failed: {e}");
        std::process::exit(1);
    }
    let mut decls = String::new();
    for m in modules {
        let file = dir.join(format!("{m}.rs"));
        if m.ends_with("_grpc") {
            let code = fs::read_to_string(&file).expect("read generated code");
            let code = code.replace("\nconst METHOD_", "\npub const METHOD_");
            fs::write(&file, code).expect("write generated code");
        }
        writeln!(
            decls,
            "#[path = {:?}]\n#[allow(warnings, clippy::all, missing_docs)]\npub mod {m};",
            file.display().to_string()
        )
        .unwrap();
    }
    fs::write(out.join(format!("{set}_mod.rs")), decls).expect("write module declarations");
}
