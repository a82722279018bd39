//! Typed clients: per service, a struct over `a3grpc::BaseClient` with a method per RPC, in
//! place of grpcio's generated client, service trait and `create_*` function, whose calls
//! return grpcio's errors and never decode a3 errors (a3grpc's Servicers replace the other
//! two).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One RPC, read from its `METHOD_*` descriptor in the generated code.
struct Rpc {
    constant: String,
    kind: Kind,
    service: String,
    method: String,
    request: String,
    response: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unary,
    ClientStreaming,
    ServerStreaming,
    Bidi,
}

/// `code` (a services file after `describe_methods`) without grpcio's client, trait and
/// `create_*`, and with a3grpc's typed client of each service.
pub(crate) fn replace_grpcio_clients(code: &str) -> String {
    let mut out = without_grpcio_stubs(code);
    let mut services: BTreeMap<String, Vec<Rpc>> = BTreeMap::new();
    for rpc in rpcs(code) {
        services.entry(rpc.service.clone()).or_default().push(rpc);
    }
    for (service, rpcs) in &services {
        typed_client(&mut out, service, rpcs);
    }
    out
}

/// The top-level items grpcio-compiler writes besides the descriptors, found by how their
/// first line starts; each runs until its braces close.
fn without_grpcio_stubs(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let next = lines.get(i + 1).copied().unwrap_or("");
        let stub_struct = line == "#[derive(Clone)]" && next.starts_with("pub struct ") && next.ends_with("Client {");
        let stub = (line.starts_with("impl ") && line.ends_with("Client {"))
            || line.starts_with("pub trait ")
            || line.starts_with("pub fn create_");
        if stub_struct || stub {
            let mut depth = 0i32;
            let mut opened = false;
            while i < lines.len() {
                for c in lines[i].chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                i += 1;
                if opened && depth == 0 {
                    break;
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
        i += 1;
    }
    out
}

/// Every `METHOD_*` descriptor: its name, message types, kind and path.
fn rpcs(code: &str) -> Vec<Rpc> {
    let mut rpcs = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("pub const ") else { continue };
        let Some((constant, rest)) = rest.split_once(": ::a3grpc::Method<") else { continue };
        let Some((types, _)) = rest.split_once("> = ") else { continue };
        let Some((request, response)) = split_types(types) else { continue };
        let (mut kind, mut path) = (None, None);
        for line in lines.by_ref() {
            let line = line.trim();
            if let Some(ty) = line.strip_prefix("ty: ::grpcio::MethodType::") {
                kind = match ty.trim_end_matches(',') {
                    "Unary" => Some(Kind::Unary),
                    "ClientStreaming" => Some(Kind::ClientStreaming),
                    "ServerStreaming" => Some(Kind::ServerStreaming),
                    "Duplex" => Some(Kind::Bidi),
                    _ => None,
                };
            } else if let Some(name) = line.strip_prefix("name: \"") {
                path = name.strip_suffix("\",").map(str::to_owned);
            } else if line.starts_with('}') {
                break;
            }
        }
        let (Some(kind), Some(path)) = (kind, path) else { continue };
        let Some((service, method)) = path.trim_start_matches('/').split_once('/') else { continue };
        rpcs.push(Rpc {
            constant: constant.to_owned(),
            kind,
            service: service.to_owned(),
            method: method.to_owned(),
            request,
            response,
        });
    }
    rpcs
}

/// `Req, Resp` split at the comma outside any `<...>`.
fn split_types(types: &str) -> Option<(String, String)> {
    let mut depth = 0;
    for (i, c) in types.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => return Some((types[..i].trim().to_owned(), types[i + 1..].trim().to_owned())),
            _ => {}
        }
    }
    None
}

fn typed_client(out: &mut String, service: &str, rpcs: &[Rpc]) {
    let name = format!("{}Client", service.rsplit('.').next().unwrap_or(service));
    let _ = write!(
        out,
        r#"
/// A client of `{service}`: a method per RPC over an [`a3grpc::BaseClient`], with its
/// typed errors, retries and interceptors. Each `name_with` variant takes
/// [`a3grpc::CallOptions`] (deadline, metadata, compression).
#[derive(Clone)]
pub struct {name} {{
    client: ::a3grpc::BaseClient,
}}

impl {name} {{
    /// A client of the service at `host:port`, plaintext, with the default settings.
    pub fn connect(host: &str, port: u16) -> ::std::result::Result<Self, ::a3grpc::Error> {{
        ::a3grpc::BaseClient::connect(host, port).map(Self::new)
    }}

    /// A client over `client`, built with `BaseClient::builder` for TLS, retries, timeouts
    /// and interceptors.
    pub fn new(client: ::a3grpc::BaseClient) -> Self {{
        {name} {{ client }}
    }}

    /// The client underneath, for calls by descriptor.
    pub fn base(&self) -> &::a3grpc::BaseClient {{
        &self.client
    }}
"#
    );
    for rpc in rpcs {
        rpc_methods(out, rpc);
    }
    out.push_str("}\n");
}

fn rpc_methods(out: &mut String, rpc: &Rpc) {
    let Rpc { constant, request: req, response: resp, method, .. } = rpc;
    let f = rust_name(method);
    let error = "::a3grpc::Error";
    let stream = "::a3grpc::client::ResponseStream";
    let (args, call_args, returns, call, what) = match rpc.kind {
        Kind::Unary => (format!("request: &{req}"), "request", resp.clone(), "call_with", "unary"),
        Kind::ClientStreaming => (
            format!("requests: impl ::std::iter::IntoIterator<Item = {req}>"),
            "requests",
            resp.clone(),
            "client_streaming",
            "client-streaming: sends every request, then waits for the response",
        ),
        Kind::ServerStreaming => (
            format!("request: &{req}"),
            "request",
            format!("{stream}<{resp}>"),
            "server_streaming",
            "server-streaming: the responses arrive through the returned iterator",
        ),
        Kind::Bidi => (
            String::new(),
            "",
            format!("(::a3grpc::client::RequestSender<{req}>, {stream}<{resp}>)"),
            "bidi",
            "bidirectional: send with the sender, read with the iterator",
        ),
    };
    let sep = if args.is_empty() { "" } else { ", " };
    let call_sep = if call_args.is_empty() { "" } else { ", " };
    let _ = write!(
        out,
        r#"
    /// `{method}`, {what}.
    pub fn {f}(&self{sep}{args}) -> ::std::result::Result<{returns}, {error}> {{
        self.{f_with}({call_args}{call_sep}&::a3grpc::CallOptions::default())
    }}

    /// `{method}` with a deadline, metadata or compression.
    pub fn {f_with}(&self{sep}{args}, options: &::a3grpc::CallOptions) -> ::std::result::Result<{returns}, {error}> {{
        self.client.{call}(&{constant}, {call_args}{call_sep}options)
    }}
"#,
        f_with = with_suffix(&f),
    );
}

/// The method's name in snake case, as grpcio-compiler names it (`GetItem` is `get_item`).
fn rust_name(method: &str) -> String {
    let mut name = String::new();
    let chars: Vec<char> = method.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let after_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let before_lower =
                i > 0 && chars[i - 1].is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if after_lower || before_lower {
                name.push('_');
            }
            name.extend(c.to_lowercase());
        } else {
            name.push(c);
        }
    }
    // Every Rust keyword, strict and reserved, of every edition: the RPC's function is then a
    // raw identifier (`r#return`).
    const KEYWORDS: [&str; 48] = [
        "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn", "else", "enum",
        "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
        "move", "mut", "override", "priv", "pub", "ref", "return", "static", "struct", "trait", "true", "try", "type",
        "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
    ];
    // The client's own functions keep their names, and keywords that cannot be raw
    // identifiers are avoided: an RPC named like one of these gets `_rpc`.
    const TAKEN: [&str; 6] = ["new", "connect", "base", "self", "super", "crate"];
    if TAKEN.contains(&name.as_str()) {
        format!("{name}_rpc")
    } else if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

fn with_suffix(name: &str) -> String {
    format!("{}_with", name.trim_start_matches("r#"))
}

#[cfg(test)]
mod tests {
    use super::rust_name;

    #[test]
    fn rpc_names_become_snake_case_functions_that_compile_whatever_the_name() {
        assert_eq!(rust_name("GetItem"), "get_item");
        assert_eq!(rust_name("HTTPGet"), "http_get");
        assert_eq!(rust_name("Return"), "r#return");
        assert_eq!(rust_name("Type"), "r#type");
        assert_eq!(rust_name("Async"), "r#async");
        assert_eq!(rust_name("Yield"), "r#yield");
        assert_eq!(rust_name("Self"), "self_rpc");
        assert_eq!(rust_name("Super"), "super_rpc");
        assert_eq!(rust_name("Connect"), "connect_rpc");
    }
}
