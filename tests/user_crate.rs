//! a3grpc as a dependency, seen from a user's crate: `examples/shop` (the README's own service)
//! and `tests/fixtures/layouts` (every proto layout `include_proto!` handles) are crates of
//! their own that name only `a3grpc` and `a3grpc-build`, with a proto with a package and a
//! one-line `build.rs`. They are built as a user builds: `cargo build` in the debug profile,
//! their own lock file, a target folder of their own; the gRPC C core is linked from the
//! per-user cache that this build filled, not compiled again. And with no `protoc` on `PATH`:
//! their protos import well-known types, which a3grpc-build reads without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A user's crate, built.
struct Built {
    /// Where its binaries are.
    bin: PathBuf,
    /// What a3grpc's build script generated for it.
    generated_by_a3grpc: Vec<String>,
    /// What the engine's build script said about the gRPC C core.
    core: Vec<String>,
}

/// Builds the crate at `dir` (relative to the repository) as its user would, in a target folder
/// shared by the user crates of these tests and by nothing else.
fn build_user_crate(dir: &str) -> Built {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let krate = root.join(dir);
    let exe = std::env::current_exe().expect("test binary path");
    let target_dir = exe.ancestors().nth(3).expect("target folder").join("user-crates");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--message-format=json", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("PATH", path_without_protoc(&target_dir))
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "building {dir} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let a3grpc_out_dir = build_script_out_dir(&out.stdout, |id| is_this_library(id, root));
    let mut generated_by_a3grpc: Vec<String> = std::fs::read_dir(&a3grpc_out_dir)
        .expect("a3grpc's OUT_DIR")
        .map(|entry| entry.expect("OUT_DIR entry").file_name().to_string_lossy().into_owned())
        .collect();
    generated_by_a3grpc.sort();
    let core = engine_core_lines(&out.stdout);
    Built { bin: target_dir.join("debug"), generated_by_a3grpc, core }
}

/// A folder of links to every program on this `PATH` but `protoc*`, as a `PATH`: a machine
/// where protoc was never installed. Made once per test run: the user crates build at once.
fn path_without_protoc(target_dir: &Path) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| links_but_protoc(&target_dir.join("path-without-protoc"))).clone()
}

fn links_but_protoc(dir: &Path) -> PathBuf {
    let dir = dir.to_path_buf();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the PATH folder");
    let path = std::env::var_os("PATH").unwrap_or_default();
    for folder in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            if !name.to_string_lossy().starts_with("protoc") && !link.exists() {
                let _ = std::os::unix::fs::symlink(entry.path(), link);
            }
        }
    }
    dir
}

/// The engine's build linked the C core from the cache this test run's own build filled.
fn assert_core_from_cache(built: &Built) {
    let said = &built.core;
    assert!(
        said.len() == 1 && said[0].starts_with("a3grpc-core: cache hit "),
        "the C core is linked from the cache, not compiled again: {said:?}"
    );
}

/// Whether a cargo package id (`path+file:///repo#a3grpc@0.1.0`, or `path+file:///repo#0.1.0`
/// when the folder is named after the package) is the library at `root`.
fn is_this_library(id: &str, root: &Path) -> bool {
    let Some(rest) = id.strip_prefix(&format!("path+file://{}", root.display())) else { return false };
    rest.starts_with("#a3grpc@") || (rest.starts_with('#') && root.ends_with("a3grpc"))
}

#[test]
fn the_readme_shop_crate_serves_from_its_conf_and_its_client_gets_a_reply_and_a_typed_not_found() {
    let built = build_user_crate("examples/shop");
    assert_core_from_cache(&built);
    let bin = built.bin;
    // A crate that depends on a3grpc gets the library's own protos (the rich error model,
    // reflection, health), and no example or interop code.
    assert_eq!(
        built.generated_by_a3grpc,
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
    // The crate runs on a3grpc's engine, which logs no warning.
    assert!(lines.iter().any(|l| l.contains("listening on")), "the server's log is seen: {lines:?}");
    assert!(!lines.iter().any(|l| l.contains("lacks a3grpc's patches")), "{lines:?}");
}

#[test]
fn every_proto_layout_compiles_and_serves_in_a_users_crate() {
    let built = build_user_crate("tests/fixtures/layouts");
    assert_core_from_cache(&built);
    let out = Command::new(built.bin.join("layouts")).output().unwrap();
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

#[test]
fn a_checkout_whose_set_up_has_not_run_says_which_command_to_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    // A fresh clone: a3grpc's own files, no prepared engine.
    let checkout = dir.path().canonicalize().expect("canonical path").join("a3grpc");
    let cloned = Command::new("git").args(["clone", "--quiet"]).arg(root).arg(&checkout).status().expect("git");
    assert!(cloned.success());
    let user = dir.path().join("user");
    std::fs::create_dir_all(user.join("src")).expect("user crate");
    std::fs::write(
        user.join("Cargo.toml"),
        "[package]\nname = \"user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\na3grpc = { path = \"../a3grpc\" }\n\n[workspace]\n",
    )
    .expect("write Cargo.toml");
    std::fs::write(user.join("src/main.rs"), "fn main() {}\n").expect("write main.rs");

    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(user.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", exe.ancestors().nth(3).expect("target folder").join("user-crates"))
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let said: Vec<&str> = stderr.lines().map(str::trim).filter(|l| l.contains("not prepared")).collect();
    assert_eq!(
        said,
        [format!(
            "a3grpc's engine is not prepared in this checkout: run `bash {}` once",
            checkout.join("scripts/setup.sh").display()
        )],
        "{stderr}"
    );
    assert!(!stderr.contains("cmake") && stderr.lines().count() < 15, "one clear line, no wall: {stderr}");
}
