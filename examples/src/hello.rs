//! The hello-world service of the Python original: its generated code (`hello_world.proto`
//! has no `package`, hence `include_proto!("")`) and one View per RPC.

a3grpc::include_proto!("");

use a3grpc::{
    A3Error, BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView, Servicer, UnaryView,
};

/// `say_hello`: greets by name; the name "error" fails with `ServerKnownError`.
pub struct SayHello;

impl UnaryView for SayHello {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(&self, request: HelloRequest, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
        if request.name == "error" {
            return Err(A3Error::server_known("The name is not allowed."));
        }
        Ok(reply(format!("Hello {}!", request.name)))
    }
}

/// `say_stream_hello_reply`: counts the greetings streamed in.
pub struct CountHellos;

impl ClientStreamingView for CountHellos {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(&self, requests: Requests<HelloRequest>, _ctx: &mut Context) -> Result<HelloReply, A3Error> {
        let mut count = 0;
        for request in requests {
            request?;
            count += 1;
        }
        Ok(reply(format!("Hello {count} times!")))
    }
}

/// `say_hello_stream_reply`: greets three times.
pub struct HelloThreeTimes;

impl ServerStreamingView for HelloThreeTimes {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(
        &self,
        request: HelloRequest,
        responses: &mut Responses<HelloReply>,
        _ctx: &mut Context,
    ) -> Result<(), A3Error> {
        for i in 0..3 {
            responses.send(reply(format!("[{i}]Hello {}!", request.name)))?;
        }
        Ok(())
    }
}

/// `say_hello_bidi_stream`: greets each name as it arrives.
pub struct EchoHellos;

impl BidiView for EchoHellos {
    type Request = HelloRequest;
    type Response = HelloReply;

    fn handle(
        &self,
        requests: Requests<HelloRequest>,
        responses: &mut Responses<HelloReply>,
        _ctx: &mut Context,
    ) -> Result<(), A3Error> {
        for request in requests {
            responses.send(reply(format!("Hello {}!", request?.name)))?;
        }
        Ok(())
    }
}

/// The Greeter servicer: one line per RPC.
pub fn greeter_servicer() -> Servicer {
    Servicer::new()
        .unary(&METHOD_GREETER_SAY_HELLO, SayHello)
        .client_streaming(&METHOD_GREETER_SAY_STREAM_HELLO_REPLY, CountHellos)
        .server_streaming(&METHOD_GREETER_SAY_HELLO_STREAM_REPLY, HelloThreeTimes)
        .bidi(&METHOD_GREETER_SAY_HELLO_BIDI_STREAM, EchoHellos)
}

/// A `HelloRequest` for `name`.
pub fn request(name: &str) -> HelloRequest {
    HelloRequest { name: name.to_owned(), ..Default::default() }
}

/// A `HelloReply` with `message`.
pub fn reply(message: String) -> HelloReply {
    HelloReply { message, ..Default::default() }
}
