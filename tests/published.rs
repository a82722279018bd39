//! What a crates.io user gets. Every crate of the workspace is packaged as `cargo publish` would
//! (`cargo package`), each under crates.io's 10 MB limit; the packages and their dependencies
//! (`cargo vendor`) make a local directory registry; and a user's crate that names only
//! `a3grpc = "0.1"` and `a3grpc-build = "0.1"` is built from it offline, in the debug profile and
//! a target folder of its own, as a crates.io user builds. It serves the shop, its call gets a
//! typed error, and the gRPC C core comes from the machine's cache, not compiled again.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::engine_core_lines;

/// crates.io refuses a `.crate` file larger than this.
const CRATES_IO_LIMIT: u64 = 10 * 1024 * 1024;

/// The crates a user's crate reaches, in the order they depend on each other.
const PUBLISHED: [&str; 4] = ["a3grpc-grpcio-sys", "a3grpc-grpcio", "a3grpc-build", "a3grpc"];

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("run a command");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Packages the workspace's crates into `work/package/package`, and returns each `.crate`.
fn package(root: &Path, work: &Path) -> Vec<PathBuf> {
    let packages = work.join("package");
    let _ = std::fs::remove_dir_all(packages.join("package"));
    // The user's build below compiles every package from its `.crate`, which verifies them
    // more than `cargo package`'s own build would.
    run(cargo()
        .current_dir(root)
        .args(["package", "--workspace", "--exclude", "a3grpc-examples", "--no-verify", "--allow-dirty", "--quiet"])
        .arg("--target-dir")
        .arg(&packages));
    let mut crates: Vec<PathBuf> = std::fs::read_dir(packages.join("package"))
        .expect("cargo package's output")
        .map(|entry| entry.expect("package").path())
        .filter(|path| path.extension().is_some_and(|e| e == "crate"))
        .collect();
    crates.sort();
    crates
}

/// A directory registry at `registry`: the workspace's dependencies and the packaged crates.
fn directory_registry(root: &Path, registry: &Path, crates: &[PathBuf]) {
    let _ = std::fs::remove_dir_all(registry);
    run(cargo().current_dir(root).args(["vendor", "--versioned-dirs", "--locked", "--quiet"]).arg(registry));
    for krate in crates {
        run(Command::new("tar").arg("-xzf").arg(krate).arg("-C").arg(registry));
        let sha = run(Command::new("sha256sum").arg(krate));
        let sha = sha.split_whitespace().next().expect("a sha256");
        let unpacked = registry.join(krate.file_stem().expect("a crate's name"));
        std::fs::write(unpacked.join(".cargo-checksum.json"), format!(r#"{{"files":{{}},"package":"{sha}"}}"#))
            .expect("write the checksum");
    }
}

/// A user's crate at `dir`: the shop of the README, with a program that serves it and calls it.
fn user_crate(root: &Path, dir: &Path, registry: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let shop = root.join("examples/shop");
    for file in ["build.rs", "proto/shop/v1/shop.proto", "src/lib.rs"] {
        std::fs::create_dir_all(dir.join(file).parent().expect("a folder")).expect("make a folder");
        std::fs::copy(shop.join(file), dir.join(file)).expect("copy a shop file");
    }
    std::fs::write(
        dir.join("Cargo.toml"),
        r#"[package]
name = "shop"
version = "0.1.0"
edition = "2021"

[dependencies]
a3grpc = "0.1"

[build-dependencies]
a3grpc-build = "0.1"

[workspace]
"#,
    )
    .expect("write Cargo.toml");
    std::fs::write(
        dir.join("src/main.rs"),
        r#"use a3grpc::{A3Error, Conf, Error, Server};
use shop::shop::v1::{GetItemRequest, ShopClient};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start(Conf::new("127.0.0.1", 0, vec![shop::shop_servicer()]))?;
    let shop = ShopClient::connect("127.0.0.1", server.port())?;
    for sku in ["tea-1", "tea-2"] {
        let request = GetItemRequest { sku: sku.into(), ..Default::default() };
        match shop.get_item(&request) {
            Ok(item) => println!("{sku}: {} for {} cents", item.name, item.price_cents),
            Err(Error::A3(A3Error::NotFound(message))) => println!("{sku}: not found ({message})"),
            Err(other) => return Err(other.into()),
        }
    }
    server.shutdown();
    Ok(())
}
"#,
    )
    .expect("write main.rs");
    std::fs::create_dir_all(dir.join(".cargo")).expect("make .cargo");
    std::fs::write(
        dir.join(".cargo/config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"local\"\n\n[source.local]\ndirectory = \"{}\"\n\n[net]\noffline = true\n",
            registry.display()
        ),
    )
    .expect("write the cargo config");
}

#[test]
fn a_crates_io_user_builds_from_the_packages_alone_and_links_the_cached_core() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().expect("test binary path");
    let work = exe.ancestors().nth(3).expect("target folder").join("published");

    let crates = package(root, &work);
    let names: Vec<String> =
        crates.iter().map(|c| c.file_stem().unwrap_or_default().to_string_lossy().into_owned()).collect();
    for name in PUBLISHED {
        assert!(
            names.iter().any(|n| n.strip_prefix(name).is_some_and(|v| v.starts_with("-0."))),
            "{name} in {names:?}"
        );
    }
    for krate in &crates {
        let size = std::fs::metadata(krate).expect("a .crate").len();
        println!("{}: {:.1} MB", krate.display(), size as f64 / 1e6);
        assert!(size < CRATES_IO_LIMIT, "{} is {size} bytes, over crates.io's limit", krate.display());
    }

    let registry = work.join("registry");
    directory_registry(root, &registry, &crates);
    let user = work.join("user");
    user_crate(root, &user, &registry);
    let target = work.join("user-target");
    // Packages from a registry are never rebuilt for a changed content under the same version:
    // a3grpc's own are compiled afresh each run.
    if target.exists() {
        run(cargo()
            .current_dir(&user)
            .args([
                "clean",
                "--quiet",
                "-p",
                "a3grpc",
                "-p",
                "a3grpc-build",
                "-p",
                "a3grpc-grpcio",
                "-p",
                "a3grpc-grpcio-sys",
            ])
            .env("CARGO_TARGET_DIR", &target));
    }
    let out = cargo()
        .current_dir(&user)
        .args(["build", "--quiet", "--message-format=json"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "the user's crate did not build:\n{}", String::from_utf8_lossy(&out.stderr));
    let lock = std::fs::read_to_string(user.join("Cargo.lock")).expect("the user's lock");
    assert!(
        !lock.contains("name = \"grpcio\"") && !lock.contains("name = \"grpcio-sys\""),
        "no upstream grpcio: {lock}"
    );

    let said = engine_core_lines(&out.stdout);
    assert!(said.iter().any(|l| l.starts_with("a3grpc-core: cache hit ")), "the C core comes from the cache: {said:?}");

    let out = Command::new(target.join("debug/shop")).output().expect("run the user's program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "tea-1: Green tea for 450 cents\ntea-2: not found (no item tea-2)\n");
}
