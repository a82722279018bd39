//! How the gRPC C core is compiled: BoringSSL, the core with grpcio-sys's cmake set-up (read
//! from grpcio-sys 0.13.0's build.rs, Apache-2.0) and grpc_wrap.cc, always optimized. The cache
//! key hashes this file, so a change here compiles the core again and nothing else in the build
//! script does.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use cmake::Config as CmakeConfig;

use crate::{fail, out_dir, var};

/// Optimized whatever the profile: cmake and cc read these from the environment.
pub(crate) fn optimized() {
    env::set_var("PROFILE", "release");
    env::set_var("OPT_LEVEL", "2");
    env::set_var("DEBUG", "false");
}

/// Compiles BoringSSL, the core and grpc_wrap.cc (incrementally, in the target folder), and
/// gathers their static libraries in `dest/lib` with the link order in `dest/link.txt`.
pub(crate) fn compile(dest: &Path) -> PathBuf {
    let boringssl = boringssl_src::Build::new().build();
    let mut config = CmakeConfig::new("grpc");
    config.profile("Release");
    if env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "macos") {
        config.cxxflag("-stdlib=libc++");
    }
    if let Ok(cxx) = env::var("CXX") {
        config.define("CMAKE_CXX_COMPILER", cxx);
    }
    if let Ok(target) = env::var("CMAKE_TARGET_OVERRIDE") {
        config.target(&target);
    }
    config
        .define("gRPC_INSTALL", "false")
        .define("gRPC_BUILD_CSHARP_EXT", "false")
        .define("gRPC_BUILD_CODEGEN", "false")
        .define("gRPC_BENCHMARK_PROVIDER", "none")
        // protocolbuffers/protobuf#12185
        .define("ABSL_ENABLE_INSTALL", "ON")
        .define("gRPC_SSL_PROVIDER", "package")
        .define("OPENSSL_ROOT_DIR", boringssl.root_dir());
    if cfg!(feature = "no-omit-frame-pointer") {
        config.cflag("-fno-omit-frame-pointer").cxxflag("-fno-omit-frame-pointer");
    }
    // zlib comes from libz-sys, which links it itself; cmake looks for it under the prefix path.
    config.define("gRPC_ZLIB_PROVIDER", "package");
    config.register_dep("Z");
    let zlib_root = var("DEP_Z_ROOT");
    let prefix = match env::var("CMAKE_PREFIX_PATH") {
        Ok(prefix) => format!("{prefix};{zlib_root}/build"),
        Err(_) => format!("{zlib_root}/build"),
    };
    env::set_var("CMAKE_PREFIX_PATH", prefix);
    config.build_target("grpc");
    let core = config.build();

    let mut wrap = cc::Build::new();
    wrap.cpp(true)
        .define("GRPC_SYS_SECURE", None)
        .include("grpc/include")
        .flag("-std=c++11")
        .file("grpc_wrap.cc")
        .warnings_into_errors(true)
        .cargo_metadata(false)
        .out_dir(out_dir().join("grpc_wrap"))
        .compile("grpc_wrap");

    // grpcio-sys's list of the core's libraries (zlib aside: libz-sys links it), then BoringSSL
    // and the wrapper; the rest of cmake's build folder is not linked.
    let mut names = core_libraries();
    names.extend(["ssl", "crypto", "grpc_wrap"].map(String::from));
    let mut found = vec![out_dir().join("grpc_wrap/libgrpc_wrap.a")];
    found.extend(["libssl.a", "libcrypto.a"].map(|name| boringssl.lib_dir().join(name)));
    found.extend(
        walkdir::WalkDir::new(core.join("build")).into_iter().filter_map(Result::ok).map(walkdir::DirEntry::into_path),
    );
    let _ = fs::remove_dir_all(dest);
    let lib = dest.join("lib");
    fs::create_dir_all(&lib).unwrap_or_else(|e| fail(&format!("{}: {e}", lib.display())));
    for name in &names {
        let file = format!("lib{name}.a");
        let Some(path) = found.iter().find(|p| p.file_name().is_some_and(|f| f.to_string_lossy() == file)) else {
            fail(&format!("the core's build made no {file}"))
        };
        fs::copy(path, lib.join(&file)).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    }
    let mut order: Vec<String> = names.iter().map(|name| format!("static={name}")).collect();
    order.extend(systemd(&core.join("build/CMakeCache.txt")));
    fs::write(dest.join("link.txt"), order.join("\n") + "\n").unwrap_or_else(|e| fail(&format!("link.txt: {e}")));
    dest.to_path_buf()
}

/// The core's static libraries, as grpcio-sys's link-deps.rs lists them (COMMON_DEPS and
/// GRPC_DEPS), without zlib.
fn core_libraries() -> Vec<String> {
    let text = fs::read_to_string("link-deps.rs").unwrap_or_else(|e| fail(&format!("link-deps.rs: {e}")));
    let mut names = Vec::new();
    let mut wanted = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("const ") {
            wanted = rest.starts_with("COMMON_DEPS") || rest.starts_with("GRPC_DEPS");
        }
        if wanted {
            names.extend(line.split('"').skip(1).step_by(2).filter(|name| *name != "z").map(String::from));
        }
    }
    names
}

/// libsystemd, when the core's cmake found it (the core then logs through it).
fn systemd(cmake_cache: &Path) -> Vec<String> {
    let text = fs::read_to_string(cmake_cache).unwrap_or_default();
    let value = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).filter(|v| !v.is_empty()).map(str::to_owned);
    match (value("SYSTEMD_LIBDIR:INTERNAL="), value("SYSTEMD_LIBRARIES:INTERNAL=")) {
        (Some(dir), Some(name)) => vec![format!("search={dir}"), format!("dylib={name}")],
        _ => Vec::new(),
    }
}
