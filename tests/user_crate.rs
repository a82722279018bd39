//! a3grpc as a dependency, seen from a user's crate: `examples/shop` (the README's own service)
//! and `tests/fixtures/layouts` (every proto layout `include_proto!` handles) are crates of
//! their own, with path dependencies on a3grpc and a3grpc-build, a proto with a package and a
//! one-line `build.rs`, and a3grpc's engine named in `[patch.crates-io]` as the README shows.
//! They are built into this build's target folder, so the gRPC C core is reused, not compiled
//! again.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Builds the crate at `dir` (relative to the repository) with this build's lock file and
/// target folder, and returns the folder its binaries are in.
fn build_user_crate(dir: &str) -> PathBuf {
    build_user_crate_reporting(dir).0
}

/// As [`build_user_crate`], and also returns what a3grpc's build script generated for it.
fn build_user_crate_reporting(dir: &str) -> (PathBuf, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let krate = root.join(dir);
    // The same versions as the library's own build, so nothing is compiled twice.
    std::fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).expect("copy Cargo.lock");
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile folder");
    let target_dir = profile_dir.parent().expect("target folder");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--message-format=json", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "building {dir} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let a3grpc_out_dir = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "build-script-executed")
        .find(|m| m["package_id"].as_str().is_some_and(|id| is_this_library(id, root)))
        .and_then(|m| m["out_dir"].as_str().map(PathBuf::from))
        .expect("cargo reports a3grpc's build script");
    let mut generated: Vec<String> = std::fs::read_dir(&a3grpc_out_dir)
        .expect("a3grpc's OUT_DIR")
        .map(|entry| entry.expect("OUT_DIR entry").file_name().to_string_lossy().into_owned())
        .collect();
    generated.sort();
    (profile_dir.to_path_buf(), generated)
}

/// Whether a cargo package id (`path+file:///repo#a3grpc@0.1.0`, or `path+file:///repo#0.1.0`
/// when the folder is named after the package) is the library at `root`.
fn is_this_library(id: &str, root: &Path) -> bool {
    let Some(rest) = id.strip_prefix(&format!("path+file://{}", root.display())) else { return false };
    rest.starts_with("#a3grpc@") || (rest.starts_with('#') && root.ends_with("a3grpc"))
}

#[test]
fn the_readme_shop_crate_serves_from_its_conf_and_its_client_gets_a_reply_and_a_typed_not_found() {
    let (bin, generated_by_a3grpc) = build_user_crate_reporting("examples/shop");
    // A crate that depends on a3grpc gets the library's own protos (the rich error model,
    // reflection, health's file for reflection), and no example or interop code.
    assert_eq!(
        generated_by_a3grpc,
        ["google.rpc.rs", "grpc.health.v1.rs", "grpc.reflection.v1.rs", "grpc.reflection.v1alpha.rs"]
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("conf.toml");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop/conf.toml"))
        .expect("examples/shop/conf.toml");
    std::fs::write(&conf, text.replace("port = 50051", "port = 0")).expect("write conf");

    let mut server = Command::new(bin.join("shop-server"));
    server.arg(&conf);
    let mut server = Peer::spawn(server);
    let port = server.port("listening on 127.0.0.1:");

    let out = Command::new(bin.join("shop-client")).args(["127.0.0.1", &port.to_string()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "tea-1: Green tea for 450 cents\ntea-2: not found (no item tea-2)\n");

    server.terminate();
    let (status, lines) = server.wait();
    assert!(status.success(), "the shop server stops gracefully on SIGTERM: {status}");
    // Built as the README says, the crate runs on a3grpc's engine, which logs no warning.
    assert!(lines.iter().any(|l| l.contains("listening on")), "the server's log is seen: {lines:?}");
    assert!(!lines.iter().any(|l| l.contains("lacks a3grpc's patches")), "{lines:?}");
}

#[test]
fn every_proto_layout_compiles_and_serves_in_a_users_crate() {
    let bin = build_user_crate("tests/fixtures/layouts");
    let out = Command::new(bin.join("layouts")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout.trim(),
        "describe: the catalog; price: 1250 EUR; stock: 2; ping: ok; \
         common.proto descriptors: catalog.v1 and inventory.v1"
    );
}

#[test]
fn the_readme_shows_the_shop_crate_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for file in
        ["build.rs", "proto/shop/v1/shop.proto", "src/lib.rs", "src/bin/shop-server.rs", "src/bin/shop-client.rs"]
    {
        let code = std::fs::read_to_string(root.join("examples/shop").join(file)).expect("examples/shop file");
        assert!(readme.contains(&code), "README.md shows examples/shop/{file} as it is in the crate");
    }
}
