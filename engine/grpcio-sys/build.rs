//! a3grpc's build of the gRPC C core, in place of grpcio-sys's own build script.
//!
//! The core (with BoringSSL and its other third-party parts) takes about 27 minutes to compile
//! on 2 cores, so it is compiled once per machine (`recipe.rs` says how): the static libraries
//! go into a per-user cache, keyed by everything that decides their bytes (the prepared
//! sources and patches, the recipe, zlib's version, the compilers and their versions, the target, the flags), and every later
//! build, of any crate, in any profile or target folder, links them from there.
//!
//! - `A3GRPC_CORE_CACHE=<folder>` moves the cache (default: the user's cache folder, e.g.
//!   `~/.cache/a3grpc/core`); `A3GRPC_CORE_CACHE=off` compiles into the target folder only.
//! - An entry is written into a temporary folder and renamed into place whole, so builds running
//!   at once never see half of one; its manifest lists each file's size and sha256, and an entry
//!   that does not match it is compiled again, never linked.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{self, Command};
use std::time::Instant;
use std::{env, str};

use sha2::{Digest, Sha256};

mod recipe;

/// Bumped when the layout of an entry changes.
const ENTRY_FORMAT: &str = "a3grpc-core-cache 1";
const MANIFEST: &str = "MANIFEST";
/// What the cache's folder holds beside the entries: a line for people who look inside.
const CACHE_README: &str = "The gRPC C core compiled by a3grpc-grpcio-sys, one folder per build key; \
safe to delete (the next build compiles it again). A3GRPC_CORE_CACHE moves or disables it.\n";

fn main() {
    let source = prepared_source();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=A3GRPC_SOURCE");
    println!("cargo:rerun-if-changed=grpc_wrap.cc");
    println!("cargo:rerun-if-env-changed=A3GRPC_CORE_CACHE");

    recipe::optimized();

    let inputs = key_inputs(&source);
    let libs = match cache_root() {
        Some(root) => {
            let entry = cached(&root, &inputs);
            // Run again if the entry goes (the cache was deleted): it is linked from there.
            println!("cargo:rerun-if-changed={}", entry.join(MANIFEST).display());
            entry
        }
        None => {
            println!("a3grpc-core: cache off (A3GRPC_CORE_CACHE=off): compiling into the target folder");
            recipe::compile(&out_dir().join("core"))
        }
    };
    link(&libs);
    println!("cargo:rustc-env=BINDING_PATH={}", manifest_dir().join("bindings/bindings.rs").display());
}

/// The id of the prepared sources, which scripts/setup.sh writes (the crates.io release and the
/// patches applied to it). Without it set-up has not run in this checkout: say what to run.
fn prepared_source() -> String {
    match fs::read_to_string("A3GRPC_SOURCE") {
        Ok(id) if Path::new("grpc/include/grpc/grpc.h").is_file() => id,
        _ => {
            let setup = manifest_dir().join("../../scripts/setup.sh");
            if setup.is_file() {
                let setup = setup.canonicalize().unwrap_or(setup);
                fail(&format!("a3grpc's engine is not prepared in this checkout: run `bash {}` once", setup.display()));
            }
            fail("this a3grpc-grpcio-sys package lacks its prepared sources (A3GRPC_SOURCE, grpc/): it is incomplete")
        }
    }
}

/// Everything that decides the compiled libraries' bytes, one line each (a value, or the sha256
/// of a long one): the entry's `KEY` file, so that two listings show why a build missed.
fn key_inputs(source: &str) -> String {
    let mut inputs = String::new();
    let mut add = |what: &str, value: &[u8]| {
        let value = match str::from_utf8(value) {
            Ok(text) if text.len() <= 200 && !text.contains('\n') => text.to_owned(),
            _ => format!("sha256:{}", hex(&Sha256::digest(value))),
        };
        let _ = writeln!(inputs, "{what} {value}");
    };
    add("format", ENTRY_FORMAT.as_bytes());
    add("source", source.as_bytes());
    add("recipe", include_bytes!("recipe.rs"));
    let target = var("TARGET");
    add("target", target.as_bytes());
    // zlib's major version: its ABI is stable within one (zlib checks only that at run time),
    // and libz-sys releases bundle different 1.x versions.
    let zlib = env::var("DEP_Z_INCLUDE").ok().and_then(|dir| fs::read_to_string(Path::new(&dir).join("zlib.h")).ok());
    let zlib = zlib.and_then(|h| {
        let line = h.lines().find(|l| l.starts_with("#define ZLIB_VERSION "))?;
        Some(line.split('"').nth(1)?.split('.').next()?.to_owned())
    });
    add("zlib major version", zlib.unwrap_or_default().as_bytes());
    for cpp in [false, true] {
        let compiler = cc::Build::new().cpp(cpp).get_compiler();
        let what = if cpp { "c++" } else { "cc" };
        add(what, compiler.path().as_os_str().as_encoded_bytes());
        add(&format!("{what} --version"), &command_output(Command::new(compiler.path()).arg("--version")));
        let args: Vec<String> = compiler.args().iter().map(|a| a.to_string_lossy().into_owned()).collect();
        add(&format!("{what} flags"), args.join(" ").as_bytes());
    }
    add("cmake --version", &command_output(Command::new("cmake").arg("--version")));
    for name in ["CFLAGS", "CXXFLAGS", "CC", "CXX", "CMAKE_TOOLCHAIN_FILE", "CMAKE_GENERATOR", "CMAKE_TARGET_OVERRIDE"]
    {
        for name in [name.to_owned(), format!("{name}_{target}"), format!("{name}_{}", target.replace('-', "_"))] {
            println!("cargo:rerun-if-env-changed={name}");
            add(&name, env::var(&name).unwrap_or_default().as_bytes());
        }
    }
    add("frame pointers", cfg!(feature = "no-omit-frame-pointer").to_string().as_bytes());
    inputs
}

/// `A3GRPC_CORE_CACHE`, or the user's cache folder; `None` when turned off or there is none.
fn cache_root() -> Option<PathBuf> {
    match env::var_os("A3GRPC_CORE_CACHE") {
        Some(v) if v == "off" || v == "0" || v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => dirs::cache_dir().map(|dir| dir.join("a3grpc").join("core")),
    }
}

/// The entry for the key made from `inputs` in the cache at `root`, compiled and put in place when
/// missing or damaged.
fn cached(root: &Path, inputs: &str) -> PathBuf {
    let entry = root.join(hex(&Sha256::digest(inputs)));
    match verify(&entry) {
        Ok(()) => {
            println!("a3grpc-core: cache hit {}", entry.display());
            return entry;
        }
        Err(why) if entry.exists() => {
            say(&format!("the cached gRPC core at {} is damaged ({why}): compiling it again", entry.display()));
        }
        Err(_) => {}
    }
    say(&format!(
        "compiling the gRPC C core once for this machine: about 27 minutes on 2 cores; \
         later builds link it from {}",
        root.display()
    ));
    let started = Instant::now();
    let built = recipe::compile(&out_dir().join("core"));
    if let Err(err) = store(&built, inputs, root, &entry) {
        fail(&format!(
            "could not write the gRPC core into the cache at {}: {err} (A3GRPC_CORE_CACHE moves it, =off turns it off)",
            root.display()
        ));
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    println!("a3grpc-core: built {} in {minutes:.1} min", entry.display());
    println!(
        "cargo:warning=compiled the gRPC C core in {minutes:.0} min into {}; later builds link it from there",
        entry.display()
    );
    entry
}

/// Copies the libraries of a fresh build into the cache: into a temporary folder first, then
/// renamed whole into place. A build that loses the race to another uses the winner's entry.
fn store(built: &Path, inputs: &str, root: &Path, entry: &Path) -> io::Result<()> {
    fs::create_dir_all(root)?;
    let readme = root.join("README");
    if !readme.exists() {
        fs::write(readme, CACHE_README)?;
    }
    let temp = root.join(format!(".tmp-{}-{}", process::id(), entry.file_name().unwrap_or_default().to_string_lossy()));
    let _ = fs::remove_dir_all(&temp);
    fs::create_dir_all(temp.join("lib"))?;
    let mut files = vec!["link.txt".to_owned()];
    for lib in fs::read_dir(built.join("lib"))? {
        files.push(format!("lib/{}", lib?.file_name().to_string_lossy()));
    }
    files.sort();
    let mut manifest = String::new();
    for file in files {
        let bytes = fs::read(built.join(&file))?;
        fs::write(temp.join(&file), &bytes)?;
        writeln!(manifest, "{file} {} {}", bytes.len(), hex(&Sha256::digest(&bytes))).ok();
    }
    fs::write(temp.join("KEY"), inputs)?;
    fs::write(temp.join(MANIFEST), manifest)?;
    if entry.exists() {
        if verify(entry).is_ok() {
            return fs::remove_dir_all(&temp);
        }
        fs::remove_dir_all(entry)?;
    }
    match fs::rename(&temp, entry) {
        Ok(()) => Ok(()),
        // Another build put its entry in place first.
        Err(_) if verify(entry).is_ok() => fs::remove_dir_all(&temp),
        Err(err) => {
            let _ = fs::remove_dir_all(&temp);
            Err(err)
        }
    }
}

/// Whether every file the entry's manifest lists is there, with its size and sha256.
fn verify(entry: &Path) -> Result<(), String> {
    let manifest = fs::read_to_string(entry.join(MANIFEST)).map_err(|e| format!("no manifest: {e}"))?;
    let mut files = 0;
    for line in manifest.lines() {
        let mut parts = line.split(' ');
        let (Some(name), Some(size), Some(sha), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(format!("a malformed manifest line {line:?}"));
        };
        let bytes = fs::read(entry.join(name)).map_err(|e| format!("{name}: {e}"))?;
        if bytes.len().to_string() != size || hex(&Sha256::digest(&bytes)) != sha {
            return Err(format!("{name} differs from the manifest"));
        }
        files += 1;
    }
    if files == 0 {
        return Err("an empty manifest".into());
    }
    Ok(())
}

/// Tells cargo to link the libraries in `entry`, in the order its link.txt gives.
fn link(entry: &Path) {
    println!("cargo:rustc-link-search=native={}", entry.join("lib").display());
    let order = fs::read_to_string(entry.join("link.txt")).unwrap_or_else(|e| fail(&format!("link.txt: {e}")));
    for line in order.lines() {
        match line.split_once('=') {
            Some(("search", dir)) => println!("cargo:rustc-link-search=native={dir}"),
            Some(("static", lib)) => println!("cargo:rustc-link-lib=static={lib}"),
            Some(("dylib", lib)) => println!("cargo:rustc-link-lib={lib}"),
            _ => fail(&format!("{}: an unknown line {line:?}", entry.join("link.txt").display())),
        }
    }
    // zlib, which libz-sys built: nothing in Rust names that crate, so the core links it.
    let zlib_root = var("DEP_Z_ROOT");
    println!("cargo:rustc-link-search=native={zlib_root}/lib");
    println!("cargo:rustc-link-search=native={zlib_root}/build");
    println!("cargo:rustc-link-lib=static=z");
    // The core is C++: its standard library, as cc would name it (CXXSTDLIB overrides).
    println!("cargo:rerun-if-env-changed=CXXSTDLIB");
    match env::var("CXXSTDLIB") {
        Ok(lib) if lib.is_empty() => {}
        Ok(lib) => println!("cargo:rustc-link-lib={lib}"),
        Err(_) if var("TARGET").contains("apple") => println!("cargo:rustc-link-lib=c++"),
        Err(_) => println!("cargo:rustc-link-lib=stdc++"),
    }
    println!("cargo:root={}", entry.display());
}

/// Says something a person should see now: on the terminal when there is one (cargo keeps a
/// build script's output until it ends), and in the build script's output.
fn say(message: &str) {
    println!("a3grpc-core: {message}");
    if let Ok(mut tty) = fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = write!(tty, "\r\x1b[K   a3grpc: {message}\n");
    }
}

pub(crate) fn fail(message: &str) -> ! {
    eprintln!("\n{message}\n");
    process::exit(1)
}

fn command_output(command: &mut Command) -> Vec<u8> {
    command.output().map(|o| o.stdout).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub(crate) fn var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| fail(&format!("cargo did not set {name}")))
}

pub(crate) fn out_dir() -> PathBuf {
    PathBuf::from(var("OUT_DIR"))
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(var("CARGO_MANIFEST_DIR"))
}
