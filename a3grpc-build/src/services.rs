//! The services of one proto file, generated from its descriptor: a public `METHOD_*`
//! descriptor per RPC (an `a3grpc::Method` that carries the file's descriptors, for
//! reflection), then per service a typed client and its trait (`clients`). The messages are
//! rust-protobuf's; this names them as its generator does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use protobuf::descriptor::{DescriptorProto, FileDescriptorProto};

use crate::clients::{self, Kind, Rpc};

/// The code of `file`'s services; `proto_files` is the serialized `FileDescriptorSet` of the
/// file and the files it imports.
pub(crate) fn services(
    file: &FileDescriptorProto,
    by_name: &BTreeMap<&str, &FileDescriptorProto>,
    proto_files: &[u8],
) -> String {
    let mut out = String::new();
    for service in &file.service {
        let path = match file.package() {
            "" => service.name().to_owned(),
            package => format!("{package}.{}", service.name()),
        };
        let rpcs: Vec<Rpc> = service
            .method
            .iter()
            .map(|method| Rpc {
                constant: format!(
                    "METHOD_{}_{}",
                    snake_case(service.name()).to_uppercase(),
                    snake_case(method.name()).to_uppercase()
                ),
                kind: match (method.client_streaming(), method.server_streaming()) {
                    (false, false) => Kind::Unary,
                    (true, false) => Kind::ClientStreaming,
                    (false, true) => Kind::ServerStreaming,
                    (true, true) => Kind::Bidi,
                },
                service: path.clone(),
                method: method.name().to_owned(),
                request: rust_type(method.input_type(), by_name),
                response: rust_type(method.output_type(), by_name),
            })
            .collect();
        for rpc in &rpcs {
            method_descriptor(&mut out, rpc);
        }
        clients::typed_client(&mut out, service.name(), &path, &rpcs);
    }
    out.push_str("\n/// The proto file of these services and the files it imports, as a `FileDescriptorSet`.\n");
    out.push_str("const PROTO_FILES: &[u8] = b\"");
    for byte in proto_files {
        let _ = write!(out, "\\x{byte:02x}");
    }
    out.push_str("\";\n");
    out
}

fn method_descriptor(out: &mut String, rpc: &Rpc) {
    let Rpc { constant, request, response, service, method, .. } = rpc;
    let ty = match rpc.kind {
        Kind::Unary => "Unary",
        Kind::ClientStreaming => "ClientStreaming",
        Kind::ServerStreaming => "ServerStreaming",
        Kind::Bidi => "Duplex",
    };
    let _ = write!(
        out,
        r#"
/// `/{service}/{method}`.
pub const {constant}: ::a3grpc::Method<{request}, {response}> = ::a3grpc::codegen::method(PROTO_FILES, ::grpcio::Method {{
    ty: ::grpcio::MethodType::{ty},
    name: "/{service}/{method}",
    req_mar: ::grpcio::Marshaller {{ ser: ::grpcio::pb_ser, de: ::grpcio::pb_de }},
    resp_mar: ::grpcio::Marshaller {{ ser: ::grpcio::pb_ser, de: ::grpcio::pb_de }},
}});
"#
    );
}

/// The Rust path, from a file's services module, of the message `type_name`
/// (`.shop.v1.Item`, `.pkg.Outer.Inner`): `super::<file module>::[<outer mods>::]<Name>`, as
/// rust-protobuf names it. Paths into other packages and protobuf's own types are rewritten
/// afterwards, as the messages' own are.
fn rust_type(type_name: &str, by_name: &BTreeMap<&str, &FileDescriptorProto>) -> String {
    for file in by_name.values() {
        let scope = match file.package() {
            "" => ".".to_owned(),
            package => format!(".{package}."),
        };
        let Some(relative) = type_name.strip_prefix(&scope) else { continue };
        let names: Vec<&str> = relative.split('.').collect();
        if declares(&file.message_type, &names) {
            let mut path = format!("super::{}::", file_module(file.name()));
            for outer in &names[..names.len() - 1] {
                let _ = write!(path, "{}::", escaped(&protobuf_parse::snake_case(outer)));
            }
            path.push_str(&escaped(&capitalize(names[names.len() - 1])));
            return path;
        }
    }
    // The parser has checked every type; one it did not find would not compile either way.
    format!("super::{}", type_name.trim_start_matches('.').replace('.', "::"))
}

/// Whether `messages` declare the nested path `names` (`["Outer", "Inner"]`).
fn declares(messages: &[DescriptorProto], names: &[&str]) -> bool {
    let Some((first, rest)) = names.split_first() else { return false };
    messages.iter().any(|m| m.name() == *first && (rest.is_empty() || declares(&m.nested_type, rest)))
}

/// The module rust-protobuf generates for a proto file: its base name, characters that cannot
/// be in an identifier made `_`, a keyword suffixed with `_` (`type.proto` is `type_`).
pub(crate) fn file_module(proto: &str) -> String {
    let base = proto.rsplit('/').next().unwrap_or(proto);
    let base = base.strip_suffix(".proto").unwrap_or(base);
    let name: String = base
        .chars()
        .enumerate()
        .map(|(i, c)| if c == '_' || c.is_alphabetic() || (i > 0 && c.is_alphanumeric()) { c } else { '_' })
        .collect();
    escaped(&name)
}

/// rust-protobuf's escape of an identifier that is a Rust keyword: a `_` after it.
fn escaped(ident: &str) -> String {
    // rust-protobuf's list (protobuf-codegen 3.7, gen/rust/keywords.rs), so the names match.
    const KEYWORDS: [&str; 56] = [
        "_", "as", "async", "await", "break", "crate", "dyn", "else", "enum", "extern", "false", "fn", "for", "if",
        "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static", "self", "Self",
        "struct", "super", "true", "trait", "type", "unsafe", "use", "while", "continue", "box", "const", "where",
        "virtual", "proc", "alignof", "become", "offsetof", "priv", "pure", "sizeof", "typeof", "unsized", "yield",
        "do", "abstract", "final", "override", "macro",
    ];
    if KEYWORDS.contains(&ident) {
        format!("{ident}_")
    } else {
        ident.to_owned()
    }
}

/// The first letter upper-cased, as rust-protobuf names a message.
fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A name in snake case, split as grpcio-compiler splits it (so `METHOD_*` names stay what
/// they were): at `_`, before an upper-case letter that follows a lower-case one, and before
/// the last of a run of upper-case letters followed by a lower-case one (`HTTPGet` is
/// `http_get`).
pub(crate) fn snake_case(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut words: Vec<&str> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        while at < bytes.len() && bytes[at] == b'_' {
            at += 1;
        }
        let (mut end, mut uppers, mut lower) = (bytes.len(), 0, false);
        for (i, &c) in bytes.iter().enumerate().skip(at) {
            if c.is_ascii_uppercase() {
                if lower {
                    end = i;
                    break;
                }
                uppers += 1;
            } else if c == b'_' {
                end = i;
                break;
            } else {
                lower = true;
                if uppers > 1 {
                    end = i - 1;
                    break;
                }
            }
        }
        words.push(&name[at..end]);
        at = end;
    }
    words.iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_as_grpcio_compiler_splits_them() {
        assert_eq!(snake_case("GetItem"), "get_item");
        assert_eq!(snake_case("HTTPGet"), "http_get");
        assert_eq!(snake_case("say_hello"), "say_hello");
        assert_eq!(snake_case("SayHelloV2"), "say_hello_v2");
        assert_eq!(snake_case("Greeter"), "greeter");
    }

    #[test]
    fn file_modules_are_named_as_rust_protobuf_names_them() {
        assert_eq!(file_module("shop/v1/shop.proto"), "shop");
        assert_eq!(file_module("a/hello-world.proto"), "hello_world");
        assert_eq!(file_module("type.proto"), "type_");
        assert_eq!(file_module("2fa.proto"), "_fa");
    }
}
