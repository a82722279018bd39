//! How the gRPC C core is compiled: a one-target CMake project generated from the list of
//! files PyPI's grpcio build compiles (`grpc/src/python/grpcio/grpc_core_dependencies.py`,
//! with the include folders and defines of its setup.py), then grpc_wrap.cc, always optimized.
//! The cache key hashes this file, so a change here compiles the core again and nothing else in
//! the build script does.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use cmake::Config as CmakeConfig;

use crate::{fail, out_dir, var};

/// The library the generated project builds: the core with abseil, BoringSSL, c-ares, re2,
/// upb and the rest of its third-party parts.
const CORE: &str = "grpc_core";

/// The file list, relative to the core's folder.
const FILE_LIST: &str = "src/python/grpcio/grpc_core_dependencies.py";

/// Include folders, as grpcio's setup.py gives them (c-ares's configuration folder aside).
const INCLUDES: &[&str] = &[
    "include",
    ".",
    "third_party/abseil-cpp",
    "third_party/address_sorting/include",
    "third_party/cares/cares/include",
    "third_party/cares",
    "third_party/cares/cares",
    "third_party/cares/cares/src/lib/include",
    "third_party/cares/cares/src/lib",
    "third_party/re2",
    "third_party/boringssl-with-bazel/include",
    "third_party/upb",
    "src/core/ext/upb-gen",
    "src/core/ext/upbdefs-gen",
    "third_party/utf8_range",
    "third_party/xxhash",
];

/// Optimized whatever the profile: cmake and cc read these from the environment.
pub(crate) fn optimized() {
    env::set_var("PROFILE", "release");
    env::set_var("OPT_LEVEL", "2");
    env::set_var("DEBUG", "false");
}

/// Compiles the core and grpc_wrap.cc (incrementally, in the target folder), and gathers their
/// static libraries in `dest/lib` with the link order in `dest/link.txt`.
pub(crate) fn compile(dest: &Path) -> PathBuf {
    let core_dir = Path::new("grpc").canonicalize().unwrap_or_else(|e| fail(&format!("grpc/: {e}")));
    let project = out_dir().join("core-project");
    write_if_changed(&project.join("CMakeLists.txt"), &cmake_lists(&core_dir));

    let mut config = CmakeConfig::new(&project);
    // -O2 as grpcio's own build (CMake's Release says -O3: larger, no faster here).
    config
        .profile("Release")
        .define("CMAKE_C_FLAGS_RELEASE", "-O2 -DNDEBUG")
        .define("CMAKE_CXX_FLAGS_RELEASE", "-O2 -DNDEBUG");
    if target_os() == "macos" {
        config.cxxflag("-stdlib=libc++");
    }
    if let Ok(cxx) = env::var("CXX") {
        config.define("CMAKE_CXX_COMPILER", cxx);
    }
    if cfg!(feature = "no-omit-frame-pointer") {
        config.cflag("-fno-omit-frame-pointer").cxxflag("-fno-omit-frame-pointer");
    }
    config.build_target(CORE);
    let built = config.build().join("build");

    let mut wrap = cc::Build::new();
    wrap.cpp(true)
        .define("GRPC_SYS_SECURE", None)
        .include(core_dir.join("include"))
        .include(core_dir.join("third_party/abseil-cpp"))
        .flag("-std=c++17")
        .flag("-fno-exceptions")
        .file("grpc_wrap.cc")
        .warnings_into_errors(true)
        .cargo_metadata(false)
        .out_dir(out_dir().join("grpc_wrap"))
        .compile("grpc_wrap");

    let _ = fs::remove_dir_all(dest);
    let lib = dest.join("lib");
    fs::create_dir_all(&lib).unwrap_or_else(|e| fail(&format!("{}: {e}", lib.display())));
    // In link order: the wrapper calls into the core.
    let mut order = Vec::new();
    for (name, dir) in [("grpc_wrap", out_dir().join("grpc_wrap")), (CORE, built)] {
        let file = format!("lib{name}.a");
        fs::copy(dir.join(&file), lib.join(&file))
            .unwrap_or_else(|e| fail(&format!("the core's build made no {}: {e}", dir.join(&file).display())));
        order.push(format!("static={name}"));
    }
    fs::write(dest.join("link.txt"), order.join("\n") + "\n").unwrap_or_else(|e| fail(&format!("link.txt: {e}")));
    dest.to_path_buf()
}

/// The generated project: one static library of every file grpcio's Python build compiles
/// (BoringSSL's assembly included: each file checks the platform itself), but zlib, which
/// libz-sys provides.
fn cmake_lists(core_dir: &Path) -> String {
    let list = fs::read_to_string(core_dir.join(FILE_LIST)).unwrap_or_else(|e| fail(&format!("{FILE_LIST}: {e}")));
    let mut sources = quoted_list(&list, "CORE_SOURCE_FILES = [");
    // absl's log initialisation, which grpcio's setup.py adds outside the list: the log sink
    // in grpc_wrap.cc calls it.
    sources.push("third_party/abseil-cpp/absl/log/initialize.cc".into());
    if target_os() != "windows" {
        sources.extend(quoted_list(&list, "'crypto_asm': ["));
    }
    sources.retain(|s| !s.starts_with("third_party/zlib/"));
    if sources.len() < 1000 {
        fail(&format!("{FILE_LIST} lists only {} files: is the core's source complete?", sources.len()));
    }

    let mut includes: Vec<String> = INCLUDES.iter().map(|dir| format!("{}/{dir}", core_dir.display())).collect();
    includes.push(format!("{}/third_party/cares/config_{}", core_dir.display(), cares_config()));
    includes.push(var("DEP_Z_INCLUDE"));

    let mut text = String::from(
        "# Generated by a3grpc-grpcio-sys's build script (recipe.rs) from grpc_core_dependencies.py.\n\
         cmake_minimum_required(VERSION 3.13)\n\
         project(a3grpc_core C CXX ASM)\n\
         set(CMAKE_CXX_STANDARD 17)\n\
         set(CMAKE_CXX_STANDARD_REQUIRED ON)\n\
         set(CMAKE_CXX_EXTENSIONS OFF)\n\
         set(CMAKE_POSITION_INDEPENDENT_CODE ON)\n",
    );
    text += &format!("add_library({CORE} STATIC\n");
    for source in &sources {
        text += &format!("  \"{}/{source}\"\n", core_dir.display());
    }
    text += ")\n";
    text += &format!("target_include_directories({CORE} PRIVATE\n");
    for dir in &includes {
        text += &format!("  \"{dir}\"\n");
    }
    text += ")\n";
    // setup.py's defines but the Python-only ones (fork support, its module's symbols); the
    // xDS user agent names a3grpc. -w: the warnings are upstream's to act on, not a user's.
    text += &format!(
        "target_compile_definitions({CORE} PRIVATE HAVE_CONFIG_H=1 __STDC_FORMAT_MACROS\n  \
         [[GRPC_XDS_USER_AGENT_NAME_SUFFIX=\"a3grpc\"]] [[GRPC_XDS_USER_AGENT_VERSION_SUFFIX=\"{}\"]])\n\
         target_compile_options({CORE} PRIVATE -fvisibility=hidden -w $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions>)\n",
        env!("CARGO_PKG_VERSION_MAJOR").to_owned() + "." + env!("CARGO_PKG_VERSION_MINOR")
    );
    text
}

/// The quoted strings of the Python list that opens with `opening`.
fn quoted_list(text: &str, opening: &str) -> Vec<String> {
    let Some(start) = text.find(opening) else { fail(&format!("{FILE_LIST} has no {opening}")) };
    let body = &text[start + opening.len()..];
    let body = &body[..body.find(']').unwrap_or(body.len())];
    body.split('\'').skip(1).step_by(2).map(str::to_owned).collect()
}

/// c-ares's configuration folder for the target.
fn cares_config() -> &'static str {
    match target_os().as_str() {
        "macos" | "ios" => "darwin",
        "freebsd" => "freebsd",
        "openbsd" => "openbsd",
        "android" => "android",
        "windows" => "windows",
        _ => "linux",
    }
}

fn target_os() -> String {
    var("CARGO_CFG_TARGET_OS")
}

/// Writes `path` only when its content changes, so that cmake does not configure again.
fn write_if_changed(path: &Path, content: &str) {
    if fs::read_to_string(path).is_ok_and(|old| old == content) {
        return;
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    }
    fs::write(path, content).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
}
