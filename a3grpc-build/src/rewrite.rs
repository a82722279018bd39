//! Turns protoc-grpcio's output into code that `include!` accepts inside a module and that
//! needs no crate but a3grpc: no inner attributes, public `METHOD_*` descriptors, `protobuf`
//! and `grpcio` through a3grpc's re-exports, and references to other files' modules that
//! resolve where the packages are included.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::Error;

/// Where the generated code of one file finds the types of a file it imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A file of the same package: its module is a sibling, as protoc-grpcio assumes.
    SamePackage,
    /// One of protobuf's own modules (well-known types, descriptors).
    Protobuf(&'static str),
    /// A file of another package, included at the module path of that package's name.
    OtherPackage(Vec<String>),
}

impl Target {
    pub(crate) fn of(dep: &str, dep_package: &str, own_package: &str) -> Target {
        match dep {
            "google/protobuf/descriptor.proto" => Target::Protobuf("descriptor"),
            "google/protobuf/compiler/plugin.proto" => Target::Protobuf("plugin"),
            _ if dep.starts_with("google/protobuf/") => Target::Protobuf("well_known_types"),
            _ if dep_package == own_package => Target::SamePackage,
            _ => Target::OtherPackage(segments(dep_package)),
        }
    }
}

fn segments(package: &str) -> Vec<String> {
    package.split('.').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The generated code of one proto file, ready to be placed in its package's module.
pub(crate) struct FileCode {
    pub(crate) proto: String,
    pub(crate) module: String,
    pub(crate) messages: String,
    pub(crate) services: Option<String>,
}

/// grpcio-compiler 0.7 makes the method descriptors private; a3grpc Servicers bind Views to
/// them (later grpcio-compiler releases make them public too).
pub(crate) fn publish_methods(code: &str) -> String {
    code.replace("\nconst METHOD_", "\npub const METHOD_")
}

/// Makes every `METHOD_*` descriptor an `a3grpc::Method`: grpcio's descriptor plus the
/// serialized `FileDescriptorSet` of its file and the files that file imports, which the
/// services module then holds as `PROTO_FILES`.
pub(crate) fn describe_methods(code: &str, proto_files: &[u8]) -> String {
    let mut out = String::with_capacity(code.len() + proto_files.len() * 4);
    let mut in_method = false;
    for line in code.lines() {
        if line.starts_with("pub const METHOD_") {
            in_method = true;
            out.push_str(&line.replacen(": ::grpcio::Method<", ": ::a3grpc::Method<", 1).replacen(
                "= ::grpcio::Method {",
                "= ::a3grpc::codegen::method(PROTO_FILES, ::grpcio::Method {",
                1,
            ));
        } else if in_method && line == "};" {
            in_method = false;
            out.push_str("});");
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.push_str("\n/// The proto file of these services and the files it imports, as a `FileDescriptorSet`.\n");
    out.push_str("const PROTO_FILES: &[u8] = b\"");
    for byte in proto_files {
        write!(out, "\\x{byte:02x}").ok();
    }
    out.push_str("\";\n");
    out
}

/// Makes the `METHOD_*` descriptors of the RPCs in `requests` (by path) decode their requests
/// with `a3grpc::codegen::de_bounded`, and those in `responses` their responses.
pub(crate) fn bound_nesting(code: &str, requests: &BTreeSet<String>, responses: &BTreeSet<String>) -> String {
    const PLAIN: &str = "::grpcio::pb_de";
    let mut out = String::with_capacity(code.len());
    let mut path = "";
    for line in code.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("name: \"") {
            path = name.split('"').next().unwrap_or_default();
        }
        let bounded = (trimmed.starts_with("req_mar:") && requests.contains(path))
            || (trimmed.starts_with("resp_mar:") && responses.contains(path));
        if bounded {
            out.push_str(&line.replace(PLAIN, "::a3grpc::codegen::de_bounded"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Rewrites one generated file of package `own_package`; `targets` maps the module names of the
/// files it imports to where they are.
pub(crate) fn generated(code: &str, targets: &[(String, Target)], own_package: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for line in code.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#![") || trimmed.starts_with("//!") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let mut out = out
        .replace("::protobuf::", "::a3grpc::protobuf::")
        .replace("::grpcio::", "::a3grpc::grpcio::")
        .replace("::futures::Future", "::std::future::Future");
    let depth = segments(own_package).len();
    for (module, target) in targets {
        out = match target {
            Target::SamePackage => out,
            Target::Protobuf(protobuf_module) => {
                replace_module_path(&out, module, |_| format!("::a3grpc::protobuf::{protobuf_module}::"))
            }
            Target::OtherPackage(package) => replace_module_path(&out, module, |supers| {
                // `supers` climbs to the package's module; from there, one more per part of the
                // package's own name climbs to the common root.
                format!("{}{}{}::{module}::", supers, "super::".repeat(depth), package.join("::"))
            }),
        };
    }
    out
}

/// Replaces every path `super::[super::...]<module>::` with what `with` makes of its run of
/// `super::`s.
fn replace_module_path(code: &str, module: &str, with: impl Fn(&str) -> String) -> String {
    let needle = format!("super::{module}::");
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let end = at + needle.len();
        let mut start = at;
        while rest[..start].ends_with("super::") {
            start -= "super::".len();
        }
        let preceded_by_ident = rest[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..start]);
        if preceded_by_ident || rest[..at].ends_with(':') && start == at {
            out.push_str(&rest[start..end]);
        } else {
            let supers = &rest[start..at + "super::".len()];
            out.push_str(&with(supers));
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The file for one package: a module per proto file (and one for its services), all of
/// them re-exported, so the package's items are used by name.
pub(crate) fn package_module(files: &[FileCode]) -> Result<String, Error> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut code = String::new();
    let protos: Vec<&str> = files.iter().map(|f| f.proto.as_str()).collect();
    writeln!(code, "// Generated by a3grpc-build from {}. Do not edit.", protos.join(", ")).ok();
    for file in files {
        let mut modules = vec![(file.module.clone(), &file.messages)];
        if let Some(services) = &file.services {
            modules.push((format!("{}_grpc", file.module), services));
        }
        for (module, body) in modules {
            if let Some(other) = seen.insert(module.clone(), &file.proto) {
                return Err(Error::ModuleClash {
                    file: file.proto.clone(),
                    module,
                    imports: vec![other.to_owned(), file.proto.clone()],
                });
            }
            writeln!(code, "\n/// Generated from `{}`.", file.proto).ok();
            writeln!(code, "#[allow(warnings, clippy::all, missing_docs)]\npub mod {module} {{\n{body}}}").ok();
            writeln!(code, "#[allow(ambiguous_glob_reexports, unused_imports)]\npub use self::{module}::*;").ok();
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_of_other_packages_climb_to_the_common_root() {
        let code = "x: super::common::Money, y: super::super::common::Money, z: super::commons::X";
        let targets = [("common".to_owned(), Target::OtherPackage(vec!["shop".into(), "v1".into()]))];
        let out = generated(code, &targets, "inventory.v1");
        assert_eq!(
            out.trim_end(),
            "x: super::super::super::shop::v1::common::Money, \
             y: super::super::super::super::shop::v1::common::Money, z: super::commons::X"
        );
    }

    #[test]
    fn well_known_types_are_protobufs_own() {
        let code = "fn f(&self, req: &super::empty::Empty) -> ::protobuf::Result<()>";
        let targets = [("empty".to_owned(), Target::of("google/protobuf/empty.proto", "google.protobuf", ""))];
        assert_eq!(
            generated(code, &targets, "").trim_end(),
            "fn f(&self, req: &::a3grpc::protobuf::well_known_types::Empty) -> ::a3grpc::protobuf::Result<()>"
        );
    }

    #[test]
    fn only_the_named_directions_decode_bounded() {
        let code = "    name: \"/p.S/Deep\",\n    req_mar: M { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },\n    \
                    resp_mar: M { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },\n    name: \"/p.S/Flat\",\n    \
                    req_mar: M { ser: ::grpcio::pb_ser, de: ::grpcio::pb_de },\n";
        let deep = BTreeSet::from(["/p.S/Deep".to_owned()]);
        let out = bound_nesting(code, &deep, &BTreeSet::new());
        assert_eq!(out.matches("::a3grpc::codegen::de_bounded").count(), 1);
        assert!(out.lines().nth(1).unwrap().contains("de: ::a3grpc::codegen::de_bounded"));
    }

    #[test]
    fn methods_carry_their_proto_files() {
        let code = "pub const METHOD_S_A: ::grpcio::Method<A, B> = ::grpcio::Method {\n    name: \"/S/A\",\n};\n";
        let out = describe_methods(code, &[0x0a, 0xff]);
        assert!(out.starts_with(
            "pub const METHOD_S_A: ::a3grpc::Method<A, B> = ::a3grpc::codegen::method(PROTO_FILES, ::grpcio::Method {\n"
        ));
        assert!(out.contains("\n});\n"));
        assert!(out.ends_with("const PROTO_FILES: &[u8] = b\"\\x0a\\xff\";\n"));
    }

    #[test]
    fn inner_attributes_and_module_docs_are_dropped() {
        let code = "#![allow(unknown_lints)]\n//! Generated file from `x.proto`\nconst METHOD_A: u8 = 1;\n";
        assert_eq!(generated(&publish_methods(code), &[], "p"), "pub const METHOD_A: u8 = 1;\n");
    }
}
