//! # a3grpc-build
//!
//! Generates the Rust code of your protos for [a3grpc] in your `build.rs`, as `tonic-build`
//! does for tonic: messages, enums, the public `METHOD_*` descriptors that a3grpc
//! `Servicer`s bind Views to, and per service a typed client (`service Shop` gives
//! `ShopClient`: `get_item(&request)`, `get_item_with(&request, &options)`, ... over an
//! `a3grpc::BaseClient`, with its typed errors). grpcio's own generated client, service trait
//! and `create_*` function are not generated: their calls never decode a3 errors, and
//! Servicers replace the other two. Bring a package into a module with
//! `a3grpc::include_proto!`.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     a3grpc_build::compile_protos(&["proto/shop/v1/shop.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! ```ignore
//! // src/main.rs: everything generated for `package shop.v1;`, from every file of the package
//! pub mod shop {
//!     pub mod v1 {
//!         a3grpc::include_proto!("shop.v1");
//!     }
//! }
//! use shop::v1::{GetItemRequest, Item, METHOD_SHOP_GET_ITEM};
//! ```
//!
//! The generated code needs no dependency but `a3grpc`: it names `protobuf` and `grpcio`
//! through a3grpc's re-exports, so their versions always match the library's.
//!
//! ## What ends up where
//!
//! One file per proto package, `<package>.rs` in `OUT_DIR` (`_.rs` for files without a
//! `package`; `a3grpc::include_proto!("")` includes it). Each proto file becomes a module named
//! after the file (`shop.proto` → `mod shop`, its services in `mod shop_grpc`), and everything in
//! them is re-exported at the package level. So the package's items are used by name, while a
//! helper that two files both have, such as `file_descriptor_proto()`, is reached through its
//! file's module.
//!
//! - Imports between files of one package need nothing.
//! - The well-known types (`google/protobuf/timestamp.proto`, `empty.proto`, `wrappers.proto`,
//!   ...) need no include folder and are protobuf's own `well_known_types`, also as RPC inputs
//!   and outputs.
//! - A file that imports a file of *another* package reaches it by module path: include each
//!   package in nested modules named after its parts, from one common root (`shop.v1` in
//!   `shop::v1`, `inventory.v1` in `inventory::v1`), as with prost.
//! - Files of different packages may share a base name (`shop/v1/common.proto` and
//!   `inventory/v1/common.proto`); one file may not import two such files of different
//!   packages, because the generated code would name both the same way (that is an [`Error`]).
//!
//! Messages are [rust-protobuf 3](https://docs.rs/protobuf/3) (plain structs with public
//! fields, built with `..Default::default()`). Protos are read by rust-protobuf's own parser,
//! written in Rust, so no `protoc` is needed; [`Builder::protoc`] uses `protoc` instead, for
//! a proto the pure parser does not take. A proto that does not parse is an [`Error::Parse`]
//! naming the file and line.
//!
//! [a3grpc]: https://docs.rs/a3grpc

#![warn(missing_docs)]

mod clients;
mod rewrite;
mod services;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use protobuf::descriptor::{FileDescriptorProto, FileDescriptorSet};
use protobuf::Message;
use protobuf_codegen::{Codegen, Customize};

use rewrite::{FileCode, Target};

const INSTALL_PROTOC: &str = "apt-get install -y protobuf-compiler (Debian, Ubuntu), \
                              brew install protobuf (macOS), or put protoc on PATH";
/// Generates code for `protos`, found in `includes`, into `OUT_DIR`: the one call of a
/// typical `build.rs`.
///
/// `protos` are paths to `.proto` files, relative to the crate or to one of `includes`;
/// `includes` are the folders imports are resolved from (the well-known types need none).
/// Cargo is told to run the build script again when one of these files changes.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     a3grpc_build::compile_protos(&["proto/shop/v1/shop.proto", "proto/ping.proto"], &["proto"])?;
///     Ok(())
/// }
/// ```
pub fn compile_protos(protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), Error> {
    configure().compile(protos, includes)
}

/// A [`Builder`] for what [`compile_protos`] does not cover: another output folder, more include
/// paths, messages only.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     a3grpc_build::configure()
///         .build_services(false)
///         .include("/usr/share/grpc-proto")
///         .compile(&["grpc/testing/messages.proto"], &["proto"])?;
///     Ok(())
/// }
/// ```
pub fn configure() -> Builder {
    Builder::default()
}

/// Settings for code generation; made by [`configure`], run by [`Builder::compile`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let work = tempfile::tempdir()?;
/// std::fs::write(work.path().join("ping.proto"), r#"
///     syntax = "proto3";
///     package ping.v1;
///     message Echo { string text = 1; }
///     service Pinger { rpc Ping(Echo) returns (Echo); }
/// "#)?;
/// a3grpc_build::configure()
///     .out_dir(work.path())
///     .emit_rerun_if_changed(false)
///     .compile(&[work.path().join("ping.proto")], &[work.path()])?;
///
/// let code = std::fs::read_to_string(work.path().join("ping.v1.rs"))?;
/// assert!(code.contains("pub struct Echo"));
/// assert!(code.contains("pub const METHOD_PINGER_PING"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    includes: Vec<PathBuf>,
    build_services: bool,
    emit_rerun_if_changed: bool,
    protoc: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            out_dir: None,
            includes: Vec::new(),
            build_services: true,
            emit_rerun_if_changed: true,
            protoc: false,
        }
    }
}

impl Builder {
    /// Writes the generated files to `dir` instead of `OUT_DIR`. Include them with
    /// `include!("<dir>/<package>.rs")` then, since `a3grpc::include_proto!` reads `OUT_DIR`.
    ///
    /// ```no_run
    /// a3grpc_build::configure().out_dir("src/generated").compile(&["proto/shop.proto"], &["proto"])?;
    /// # Ok::<(), a3grpc_build::Error>(())
    /// ```
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Adds a folder that imports are resolved from, after the ones given to
    /// [`compile`](Builder::compile).
    ///
    /// ```no_run
    /// a3grpc_build::configure()
    ///     .include("../shared-protos")
    ///     .compile(&["proto/shop.proto"], &["proto"])?;
    /// # Ok::<(), a3grpc_build::Error>(())
    /// ```
    pub fn include(mut self, dir: impl AsRef<Path>) -> Self {
        self.includes.push(dir.as_ref().to_path_buf());
        self
    }

    /// With `false`, generates only the messages and enums, no `METHOD_*` descriptors or
    /// service code (for a crate that only shares message types). The default is `true`.
    ///
    /// ```no_run
    /// a3grpc_build::configure().build_services(false).compile(&["proto/types.proto"], &["proto"])?;
    /// # Ok::<(), a3grpc_build::Error>(())
    /// ```
    pub fn build_services(mut self, enable: bool) -> Self {
        self.build_services = enable;
        self
    }

    /// With `false`, prints no `cargo:rerun-if-changed` lines (for use outside a build script).
    /// The default is `true`: cargo runs the build script again when a proto changes.
    ///
    /// ```no_run
    /// a3grpc_build::configure()
    ///     .emit_rerun_if_changed(false)
    ///     .out_dir("generated")
    ///     .compile(&["proto/shop.proto"], &["proto"])?;
    /// # Ok::<(), a3grpc_build::Error>(())
    /// ```
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Self {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// With `true`, reads the protos with `protoc` (which must be on `PATH`) instead of
    /// rust-protobuf's parser, which is written in Rust and needs nothing installed. The
    /// default is `false`.
    ///
    /// ```no_run
    /// a3grpc_build::configure().protoc(true).compile(&["proto/shop.proto"], &["proto"])?;
    /// # Ok::<(), a3grpc_build::Error>(())
    /// ```
    pub fn protoc(mut self, enable: bool) -> Self {
        self.protoc = enable;
        self
    }

    /// Generates the code for `protos`, resolving imports from `includes` and then from the
    /// folders given to [`include`](Builder::include).
    ///
    /// ```no_run
    /// a3grpc_build::configure().compile(&["proto/shop/v1/shop.proto"], &["proto"])?;
    /// # Ok::<(), a3grpc_build::Error>(())
    /// ```
    pub fn compile(&self, protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or(Error::NoOutDir)?,
        };
        let includes: Vec<PathBuf> = includes
            .iter()
            .map(|i| i.as_ref().to_path_buf())
            .chain(self.includes.iter().cloned())
            .map(absolute)
            .collect::<Result<_, _>>()?;
        let inputs: Vec<Input> =
            protos.iter().map(|p| Input::locate(p.as_ref(), &includes)).collect::<Result<_, _>>()?;

        if self.protoc {
            check_protoc()?;
        }
        let mut parser = protobuf_parse::Parser::new();
        if self.protoc {
            parser.protoc();
        } else {
            parser.pure();
        }
        let parsed = parser
            .includes(&includes)
            .inputs(inputs.iter().map(|i| &i.path))
            .capture_stderr()
            .parse_and_typecheck()
            .map_err(|e| Error::Parse { message: format!("{e:#}") })?;
        let files = parsed.file_descriptors;
        let by_name: BTreeMap<&str, &FileDescriptorProto> = files.iter().map(|f| (f.name(), f)).collect();

        let mut packages: BTreeMap<String, Vec<FileCode>> = BTreeMap::new();
        for input in &inputs {
            let file = by_name
                .get(input.name.as_str())
                .ok_or_else(|| Error::Parse { message: format!("the parser did not describe {}", input.name) })?;
            let code = self.generate(input, file, &by_name, &includes)?;
            packages.entry(file.package().to_owned()).or_default().push(code);
        }
        fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
        for (package, files) in &packages {
            let path = out_dir.join(package_file_name(package));
            write_if_changed(&path, &rewrite::package_module(files)?)?;
        }

        if self.emit_rerun_if_changed {
            for file in &files {
                if let Some(path) = includes.iter().map(|i| i.join(file.name())).find(|p| p.is_file()) {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
        Ok(())
    }

    /// Generates one file's messages with rust-protobuf's generator, in a folder of its own
    /// (two packages may each have a `common.proto`, which would both be `common.rs`), and its
    /// services with a3grpc's, then rewrites both for `include!` and a3grpc's re-exports.
    fn generate(
        &self,
        input: &Input,
        file: &FileDescriptorProto,
        by_name: &BTreeMap<&str, &FileDescriptorProto>,
        includes: &[PathBuf],
    ) -> Result<FileCode, Error> {
        let scratch = tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), e))?;
        let mut codegen = Codegen::new();
        if self.protoc {
            codegen.protoc();
        } else {
            codegen.pure();
        }
        codegen
            .includes(includes)
            .input(&input.path)
            .out_dir(scratch.path())
            .capture_stderr()
            .customize(Customize::default().gen_mod_rs(false))
            .run()
            .map_err(|e| Error::Codegen { file: input.name.clone(), message: format!("{e:#}") })?;
        let module = services::file_module(file.name());
        let mut targets = BTreeMap::new();
        for dep in &file.dependency {
            let dep_package = by_name.get(dep.as_str()).map(|d| d.package()).unwrap_or_default();
            let target = Target::of(dep, dep_package, file.package());
            let dep_module = services::file_module(dep);
            if dep_module == module && target != Target::SamePackage {
                return Err(Error::ModuleClash { file: input.name.clone(), module, imports: vec![dep.clone()] });
            }
            if let Some((other, previous)) = targets.insert(dep_module.clone(), (dep.clone(), target.clone())) {
                if previous != target {
                    return Err(Error::ModuleClash {
                        file: input.name.clone(),
                        module: dep_module,
                        imports: vec![other, dep.clone()],
                    });
                }
            }
        }
        let targets: Vec<(String, Target)> = targets.into_iter().map(|(m, (_, t))| (m, t)).collect();

        let path = scratch.path().join(format!("{module}.rs"));
        let generated = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let messages = rewrite::generated(&generated, &targets, file.package());
        let services = if self.build_services && !file.service.is_empty() {
            let code = services::services(file, by_name, &file_set(file, by_name)?);
            Some(rewrite::generated(&code, &targets, file.package()))
        } else {
            None
        };
        Ok(FileCode { proto: input.name.clone(), module, messages, services })
    }
}

/// `file` and every file it imports, directly or not, imports first: what a server needs to
/// describe `file`'s services (reflection).
fn file_set(file: &FileDescriptorProto, by_name: &BTreeMap<&str, &FileDescriptorProto>) -> Result<Vec<u8>, Error> {
    fn visit<'a>(
        file: &'a FileDescriptorProto,
        by_name: &BTreeMap<&str, &'a FileDescriptorProto>,
        set: &mut Vec<&'a FileDescriptorProto>,
    ) {
        if set.iter().any(|f| f.name() == file.name()) {
            return;
        }
        for dep in &file.dependency {
            if let Some(dep) = by_name.get(dep.as_str()) {
                visit(dep, by_name, set);
            }
        }
        set.push(file);
    }
    let mut files = Vec::new();
    visit(file, by_name, &mut files);
    let set = FileDescriptorSet { file: files.into_iter().cloned().collect(), ..Default::default() };
    set.write_to_bytes().map_err(|e| Error::Codegen { file: file.name().to_owned(), message: e.to_string() })
}

/// The name of the file that holds `package`: `shop.v1.rs`, or `_.rs` without a package.
fn package_file_name(package: &str) -> String {
    if package.is_empty() {
        "_.rs".to_owned()
    } else {
        format!("{package}.rs")
    }
}

/// A proto to compile: its path on disk and its name as protoc sees it (relative to an include).
struct Input {
    path: PathBuf,
    name: String,
}

impl Input {
    fn locate(proto: &Path, includes: &[PathBuf]) -> Result<Input, Error> {
        let path = if proto.is_file() {
            absolute(proto.to_path_buf())?
        } else {
            includes
                .iter()
                .map(|i| i.join(proto))
                .find(|p| p.is_file())
                .ok_or_else(|| Error::ProtoNotFound { proto: proto.to_path_buf(), includes: includes.to_vec() })?
        };
        let name = includes
            .iter()
            .find_map(|i| path.strip_prefix(i).ok())
            .and_then(|rel| rel.to_str())
            .map(|rel| rel.replace(std::path::MAIN_SEPARATOR, "/"))
            .ok_or_else(|| Error::NotUnderInclude { proto: path.clone(), includes: includes.to_vec() })?;
        Ok(Input { path, name })
    }
}

fn absolute(path: PathBuf) -> Result<PathBuf, Error> {
    if path.is_absolute() {
        return Ok(path);
    }
    std::env::current_dir().map(|cwd| cwd.join(&path)).map_err(|e| Error::io(&path, e))
}

fn check_protoc() -> Result<(), Error> {
    match Command::new("protoc").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(Error::ProtocNotFound),
    }
}

fn write_if_changed(path: &Path, code: &str) -> Result<(), Error> {
    if fs::read_to_string(path).map(|old| old == code).unwrap_or(false) {
        return Ok(());
    }
    fs::write(path, code).map_err(|e| Error::io(path, e))
}

/// Why code generation failed, and what to do about it.
///
/// ```
/// let err = a3grpc_build::configure()
///     .out_dir(std::env::temp_dir())
///     .compile(&["no/such.proto"], &["proto"])
///     .unwrap_err();
/// assert!(matches!(err, a3grpc_build::Error::ProtoNotFound { .. }));
/// assert!(err.to_string().contains("no/such.proto"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// [`Builder::protoc`] asked for `protoc`, which is not installed or not on `PATH`.
    ProtocNotFound,
    /// A proto file given to compile is neither a path nor found in an include folder.
    ProtoNotFound {
        /// The path as given.
        proto: PathBuf,
        /// The include folders searched.
        includes: Vec<PathBuf>,
    },
    /// A proto file is not inside any include folder, so imports of it could not be resolved.
    NotUnderInclude {
        /// The proto file.
        proto: PathBuf,
        /// The include folders.
        includes: Vec<PathBuf>,
    },
    /// A proto does not parse, or names a type or file that is not there; the message says
    /// where, with file and line.
    Parse {
        /// What the parser said.
        message: String,
    },
    /// The code of a file could not be generated.
    Codegen {
        /// The proto file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A file imports files whose generated modules would have the same name.
    ModuleClash {
        /// The importing proto file.
        file: String,
        /// The module name both would get.
        module: String,
        /// The imports that clash.
        imports: Vec<String>,
    },
    /// Neither `OUT_DIR` (set by cargo for build scripts) nor [`Builder::out_dir`] says where to write.
    NoOutDir,
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl Error {
    fn io(path: &Path, source: io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ProtocNotFound => write!(
                f,
                "protoc, the protobuf compiler, was not found; install it ({INSTALL_PROTOC}), \
                 or leave Builder::protoc off to use the parser written in Rust"
            ),
            Error::ProtoNotFound { proto, includes } => write!(
                f,
                "proto file {} not found, neither as a path nor in the include folders {}",
                proto.display(),
                list(includes)
            ),
            Error::NotUnderInclude { proto, includes } => write!(
                f,
                "proto file {} is not inside any include folder ({}); add its root folder to the includes",
                proto.display(),
                list(includes)
            ),
            Error::Parse { message } => write!(f, "the protos do not parse:\n{message}"),
            Error::Codegen { file, message } => write!(f, "generating code for {file} failed: {message}"),
            Error::ModuleClash { file, module, imports } => write!(
                f,
                "{file}: the generated code would name {} all as `{module}`; rename one of the files",
                imports.join(" and ")
            ),
            Error::NoOutDir => {
                write!(f, "OUT_DIR is not set: call this from a build script, or give Builder::out_dir")
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
