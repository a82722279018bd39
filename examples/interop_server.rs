//! The gRPC interop server (`grpc.testing.TestService`), written with a3grpc Views.
//!
//! ```text
//! cargo run --release --example interop_server -- --port 0 [--use_tls --tls_key KEY --tls_cert CERT]
//! ```
//!
//! It logs the address it bound (`listening on HOST:PORT`) and stops on SIGINT/SIGTERM.
//! It serves EmptyCall, UnaryCall, StreamingOutputCall, StreamingInputCall and FullDuplexCall;
//! UnimplementedCall and UnimplementedService stay unimplemented, as the cases require.
//!
//! The protos come from Debian's `grpc-proto` package at build time.

#[cfg(a3grpc_interop)]
mod views {
    use std::time::Duration;

    use a3grpc::{
        A3Error, BidiView, ClientStreamingView, Context, Requests, Responses, ServerStreamingView, Servicer, UnaryView,
    };

    use a3grpc_examples::grpc::testing::*;

    const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
    const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

    fn payload(size: i32) -> Payload {
        Payload {
            type_: PayloadType::COMPRESSABLE.into(),
            body: vec![0; usize::try_from(size).unwrap_or(0)],
            ..Default::default()
        }
    }

    /// A requested `response_status` with a non-zero code ends the call with exactly it.
    fn requested_status(status: &EchoStatus) -> Result<(), A3Error> {
        match status.code {
            0 => Ok(()),
            code => Err(A3Error::Status { code: code.into(), message: status.message.to_owned() }),
        }
    }

    fn echo_metadata(ctx: &mut Context) -> Result<(), A3Error> {
        if let Some(value) = ctx.header(ECHO_INITIAL).map(str::to_owned) {
            ctx.set_header(ECHO_INITIAL, value)?;
        }
        if let Some(value) = ctx.header_bytes(ECHO_TRAILING).map(<[u8]>::to_vec) {
            ctx.set_trailer(ECHO_TRAILING, value)?;
        }
        Ok(())
    }

    fn respond(
        params: &ResponseParameters,
        out: &mut Responses<StreamingOutputCallResponse>,
        ctx: &Context,
    ) -> Result<(), A3Error> {
        let interval = Duration::from_micros(u64::try_from(params.interval_us).unwrap_or(0));
        if !interval.is_zero() && ctx.wait_cancelled(interval) {
            return Ok(());
        }
        Ok(out.send(StreamingOutputCallResponse { payload: Some(payload(params.size)).into(), ..Default::default() })?)
    }

    struct EmptyCall;

    impl UnaryView for EmptyCall {
        type Request = Empty;
        type Response = Empty;
        fn handle(&self, _: Empty, _: &mut Context) -> Result<Empty, A3Error> {
            Ok(Empty::new())
        }
    }

    struct UnaryCall;

    impl UnaryView for UnaryCall {
        type Request = SimpleRequest;
        type Response = SimpleResponse;
        fn handle(&self, request: SimpleRequest, ctx: &mut Context) -> Result<SimpleResponse, A3Error> {
            echo_metadata(ctx)?;
            requested_status(request.response_status.get_or_default())?;
            Ok(SimpleResponse { payload: Some(payload(request.response_size)).into(), ..Default::default() })
        }
    }

    struct StreamingOutputCall;

    impl ServerStreamingView for StreamingOutputCall {
        type Request = StreamingOutputCallRequest;
        type Response = StreamingOutputCallResponse;
        fn handle(
            &self,
            request: StreamingOutputCallRequest,
            out: &mut Responses<StreamingOutputCallResponse>,
            ctx: &mut Context,
        ) -> Result<(), A3Error> {
            echo_metadata(ctx)?;
            for params in &request.response_parameters {
                respond(params, out, ctx)?;
            }
            requested_status(request.response_status.get_or_default())
        }
    }

    struct StreamingInputCall;

    impl ClientStreamingView for StreamingInputCall {
        type Request = StreamingInputCallRequest;
        type Response = StreamingInputCallResponse;
        fn handle(
            &self,
            requests: Requests<StreamingInputCallRequest>,
            _: &mut Context,
        ) -> Result<StreamingInputCallResponse, A3Error> {
            let mut total = 0usize;
            for request in requests {
                total += request?.payload.body.len();
            }
            let aggregated_payload_size = i32::try_from(total).unwrap_or(i32::MAX);
            Ok(StreamingInputCallResponse { aggregated_payload_size, ..Default::default() })
        }
    }

    struct FullDuplexCall;

    impl BidiView for FullDuplexCall {
        type Request = StreamingOutputCallRequest;
        type Response = StreamingOutputCallResponse;
        fn handle(
            &self,
            requests: Requests<StreamingOutputCallRequest>,
            out: &mut Responses<StreamingOutputCallResponse>,
            ctx: &mut Context,
        ) -> Result<(), A3Error> {
            echo_metadata(ctx)?;
            for request in requests {
                let request = request?;
                requested_status(request.response_status.get_or_default())?;
                for params in &request.response_parameters {
                    respond(params, out, ctx)?;
                }
            }
            Ok(())
        }
    }

    pub fn test_service() -> Servicer {
        Servicer::new()
            .unary(&METHOD_TEST_SERVICE_EMPTY_CALL, EmptyCall)
            .unary(&METHOD_TEST_SERVICE_UNARY_CALL, UnaryCall)
            .server_streaming(&METHOD_TEST_SERVICE_STREAMING_OUTPUT_CALL, StreamingOutputCall)
            .client_streaming(&METHOD_TEST_SERVICE_STREAMING_INPUT_CALL, StreamingInputCall)
            .bidi(&METHOD_TEST_SERVICE_FULL_DUPLEX_CALL, FullDuplexCall)
    }
}

use std::process::ExitCode;

struct Args {
    host: String,
    port: u16,
    tls: Option<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { host: "127.0.0.1".to_owned(), port: 0, tls: None };
    let (mut use_tls, mut key, mut cert) = (false, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next()).ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => args.port = value()?.parse().map_err(|_| "--port takes a number".to_owned())?,
            "--host" => args.host = value()?,
            "--use_tls" => use_tls = inline.as_deref().map_or(true, |v| v == "true"),
            "--tls_key" => key = Some(value()?),
            "--tls_cert" => cert = Some(value()?),
            other => {
                return Err(format!("unknown argument {other}; see the doc comment of examples/interop_server.rs"))
            }
        }
    }
    if use_tls {
        match (key, cert) {
            (Some(key), Some(cert)) => args.tls = Some((key, cert)),
            _ => return Err("--use_tls needs --tls_key and --tls_cert".to_owned()),
        }
    }
    Ok(args)
}

#[cfg(a3grpc_interop)]
fn serve(args: Args) -> Result<(), String> {
    let mut conf = a3grpc::Conf::new(args.host, args.port, vec![views::test_service()]);
    if let Some((key, cert)) = args.tls {
        conf = conf.tls(key, cert);
    }
    a3grpc::run_grpc_server(conf).map_err(|e| e.to_string())
}

#[cfg(not(a3grpc_interop))]
fn serve(_: Args) -> Result<(), String> {
    Err("built without the interop protos: install Debian's grpc-proto package \
         (apt-get install grpc-proto) or set A3GRPC_GRPC_PROTO_DIR, then rebuild"
        .to_owned())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,grpcio=warn")).init();
    match parse_args().and_then(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("interop_server: {err}");
            ExitCode::FAILURE
        }
    }
}
