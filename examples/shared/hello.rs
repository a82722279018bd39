//! The hello-world service of the Python original, shared by the examples and the tests.

include!(concat!(env!("OUT_DIR"), "/hello_world_mod.rs"));

use a3grpc::{A3Error, Context, Servicer, UnaryView};

use self::hello_world::{HelloReply, HelloRequest};
use self::hello_world_grpc::METHOD_GREETER_SAY_HELLO;

/// `say_hello`: greets by name; the name "error" fails with `ServerKnownError`.
pub struct SayHello;

impl UnaryView for SayHello {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(&self, request: HelloRequest, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
        if request.get_name() == "error" {
            return Err(A3Error::server_known("The name is not allowed."));
        }
        Ok(reply(format!("Hello {}!", request.get_name())))
    }
}

/// The Greeter servicer: one line per RPC.
pub fn greeter_servicer() -> Servicer {
    Servicer::new().unary(&METHOD_GREETER_SAY_HELLO, SayHello)
}

/// A `HelloRequest` for `name`.
pub fn request(name: &str) -> HelloRequest {
    let mut request = HelloRequest::new();
    request.set_name(name.to_owned());
    request
}

/// A `HelloReply` with `message`.
pub fn reply(message: String) -> HelloReply {
    let mut reply = HelloReply::new();
    reply.set_message(message);
    reply
}
