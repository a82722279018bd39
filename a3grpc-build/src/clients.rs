//! Typed clients: per service, a struct over `a3grpc::BaseClient` with a method per RPC, and a
//! trait of the same calls that the struct implements, so code that calls the service can take
//! an `Arc<dyn ShopApi>` and a test can hand it a fake.

use std::fmt::Write as _;

use crate::services::snake_case;

/// One RPC of a service.
pub(crate) struct Rpc {
    /// Its `METHOD_*` descriptor's name.
    pub(crate) constant: String,
    pub(crate) kind: Kind,
    /// The service's full name (`shop.v1.Shop`).
    pub(crate) service: String,
    pub(crate) method: String,
    /// The Rust paths of its message types.
    pub(crate) request: String,
    pub(crate) response: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Unary,
    ClientStreaming,
    ServerStreaming,
    Bidi,
}

/// The client of the service `name` (full name `path`) and its trait.
pub(crate) fn typed_client(out: &mut String, name: &str, path: &str, rpcs: &[Rpc]) {
    let client = format!("{name}Client");
    let api = format!("{name}Api");
    let _ = write!(
        out,
        r#"
/// A client of `{path}`: a method per RPC over an [`a3grpc::BaseClient`], with its
/// typed errors, retries and interceptors. Each `name_with` variant takes
/// [`a3grpc::CallOptions`] (deadline, metadata, compression). It implements [`{api}`].
#[derive(Clone)]
pub struct {client} {{
    client: ::a3grpc::BaseClient,
}}

impl {client} {{
    /// A client of the service at `host:port`, plaintext, with the default settings.
    pub fn connect(host: &str, port: u16) -> ::std::result::Result<Self, ::a3grpc::Error> {{
        ::a3grpc::BaseClient::connect(host, port).map(Self::new)
    }}

    /// A client over `client`, built with `BaseClient::builder` for TLS, retries, timeouts
    /// and interceptors.
    pub fn new(client: ::a3grpc::BaseClient) -> Self {{
        {client} {{ client }}
    }}

    /// The client underneath, for calls by descriptor.
    pub fn base(&self) -> &::a3grpc::BaseClient {{
        &self.client
    }}
"#
    );
    for rpc in rpcs {
        client_methods(out, rpc);
    }
    out.push_str("}\n");
    let _ = write!(
        out,
        r#"
/// The calls of `{path}`, as [`{client}`] makes them: take an `Arc<dyn {api}>` where you
/// call the service, and a test can give it a fake that implements the `_with` methods of
/// the calls it makes.
pub trait {api}: Send + Sync {{"#
    );
    for rpc in rpcs {
        trait_methods(out, &api, rpc);
    }
    let _ = write!(out, "}}\n\nimpl {api} for {client} {{");
    for rpc in rpcs {
        let sig = Signature::of(rpc);
        let (f_with, params, args, returns) =
            (with_suffix(&rust_name(&rpc.method)), sig.params(true), sig.args(), &sig.returns);
        let _ = write!(
            out,
            "\n    fn {f_with}(&self{params}, options: &::a3grpc::CallOptions) -> \
             ::std::result::Result<{returns}, ::a3grpc::Error> {{\n        {client}::{f_with}(self, {args}options)\n    }}\n"
        );
    }
    out.push_str("}\n");
}

/// How one RPC's functions are declared and called.
struct Signature {
    /// The request argument of the client's function (besides `&self` and the options), if
    /// the kind takes one: its name and type.
    arg: Option<(&'static str, String)>,
    /// Its type in the trait, which must stay usable as `dyn` (no `impl` argument).
    arg_in_trait: String,
    returns: String,
    call: &'static str,
    what: &'static str,
}

impl Signature {
    fn of(rpc: &Rpc) -> Signature {
        let Rpc { request: req, response: resp, .. } = rpc;
        let stream = "::a3grpc::client::ResponseStream";
        let (arg, arg_in_trait, returns, call, what) = match rpc.kind {
            Kind::Unary => (Some(("request", format!("&{req}"))), None, resp.clone(), "call_with", "unary"),
            Kind::ClientStreaming => (
                Some(("requests", format!("impl ::std::iter::IntoIterator<Item = {req}>"))),
                Some(format!("::std::boxed::Box<dyn ::std::iter::Iterator<Item = {req}> + Send + '_>")),
                resp.clone(),
                "client_streaming",
                "client-streaming: sends every request, then waits for the response",
            ),
            Kind::ServerStreaming => (
                Some(("request", format!("&{req}"))),
                None,
                format!("{stream}<{resp}>"),
                "server_streaming",
                "server-streaming: the responses arrive through the returned iterator",
            ),
            Kind::Bidi => (
                None,
                None,
                format!("(::a3grpc::client::RequestSender<{req}>, {stream}<{resp}>)"),
                "bidi",
                "bidirectional: send with the sender, read with the iterator",
            ),
        };
        let arg_in_trait = arg_in_trait.or_else(|| arg.as_ref().map(|(_, ty)| ty.clone())).unwrap_or_default();
        Signature { arg, arg_in_trait, returns, call, what }
    }

    /// `, name: type` after `&self`, with the trait's type or the client's.
    fn params(&self, in_trait: bool) -> String {
        match &self.arg {
            Some((name, _)) if in_trait => format!(", {name}: {}", self.arg_in_trait),
            Some((name, ty)) => format!(", {name}: {ty}"),
            None => String::new(),
        }
    }

    /// `name, ` before the options in a call.
    fn args(&self) -> String {
        self.arg.as_ref().map(|(name, _)| format!("{name}, ")).unwrap_or_default()
    }
}

fn client_methods(out: &mut String, rpc: &Rpc) {
    let sig = Signature::of(rpc);
    let (constant, method, what, returns, call) = (&rpc.constant, &rpc.method, sig.what, &sig.returns, sig.call);
    let (f, params, args) = (rust_name(method), sig.params(false), sig.args());
    let _ = write!(
        out,
        r#"
    /// `{method}`, {what}.
    pub fn {f}(&self{params}) -> ::std::result::Result<{returns}, ::a3grpc::Error> {{
        self.{f_with}({args}&::a3grpc::CallOptions::default())
    }}

    /// `{method}` with a deadline, metadata or compression.
    pub fn {f_with}(&self{params}, options: &::a3grpc::CallOptions) -> ::std::result::Result<{returns}, ::a3grpc::Error> {{
        self.client.{call}(&{constant}, {args}options)
    }}
"#,
        f_with = with_suffix(&f),
    );
}

fn trait_methods(out: &mut String, api: &str, rpc: &Rpc) {
    let sig = Signature::of(rpc);
    let (method, what, returns, service) = (&rpc.method, sig.what, &sig.returns, &rpc.service);
    let (f, params, args) = (rust_name(method), sig.params(true), sig.args());
    let _ = write!(
        out,
        r#"
    /// `{method}`, {what}.
    fn {f}(&self{params}) -> ::std::result::Result<{returns}, ::a3grpc::Error> {{
        self.{f_with}({args}&::a3grpc::CallOptions::default())
    }}

    /// `{method}` with a deadline, metadata or compression. A fake implements the calls its
    /// test makes; the others answer UNIMPLEMENTED.
    fn {f_with}(&self{params}, options: &::a3grpc::CallOptions) -> ::std::result::Result<{returns}, ::a3grpc::Error> {{
        let _ = ({args}options);
        ::std::result::Result::Err(::a3grpc::Error::Status {{
            code: ::a3grpc::error::Code::UNIMPLEMENTED,
            message: ::std::format!("this {api} does not implement /{service}/{method}"),
        }})
    }}
"#,
        f_with = with_suffix(&f),
    );
}

/// The method's function name: snake case, as grpcio-compiler names it (`GetItem` is
/// `get_item`), made an identifier that compiles whatever the RPC is called.
fn rust_name(method: &str) -> String {
    let name = snake_case(method);
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
