//! Server reflection, driven by a client that is not ours (Python grpcio-reflection, as grpcurl
//! would): it lists the services, resolves a method's input type from the server alone, and
//! calls the method with a request built only from those descriptors. In one process, over
//! TLS, and from several worker processes; and absent when the conf turns it off.

mod common;

use std::process::Output;

use a3grpc::Servicer;
use a3grpc_examples::nesting::{Echo, METHOD_NESTING_ECHO};
use common::*;

const SERVICES: &str = "SERVICES Greeter,grpc.health.v1.Health,grpc.reflection.v1.ServerReflection,\
                        grpc.reflection.v1alpha.ServerReflection";

/// Runs the Python reflection client on Greeter.say_hello.
fn reflect(target: &str, ca: Option<&std::path::Path>) -> Output {
    let mut command = python_script("reflection_client.py");
    command.args([target, "Greeter", "say_hello", "name"]).args(ca);
    command.output().expect("run the reflection client")
}

fn assert_described(out: Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            SERVICES,
            "INPUT HelloRequest name",
            "REPLY message: \"Hello reflection!\"",
            "V1 ERROR 5 symbol not found: no.such.Symbol",
            "V1 FILES hello_world.proto",
            "V1 FILES hello_world.proto",
            &SERVICES.replacen("SERVICES", "V1 SERVICES", 1),
        ]
    );
}

#[test]
fn a_foreign_client_lists_describes_and_calls_from_reflection_alone() {
    let server = start(conf(vec![a3grpc_examples::hello::greeter_servicer()]));
    assert_described(reflect(&format!("127.0.0.1:{}", server.port()), None));
}

#[test]
fn a_packaged_service_is_described_with_the_files_it_imports() {
    // nesting.proto (package `nesting`) imports google/protobuf/struct.proto.
    let nesting = Servicer::new().unary(&METHOD_NESTING_ECHO, Echo);
    let server = start(conf(vec![nesting]).health(false));
    let mut command = python_script("reflection_client.py");
    command.args([&format!("127.0.0.1:{}", server.port()), "nesting.Nesting", "Echo", "leaf"]);
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "SERVICES grpc.reflection.v1.ServerReflection,grpc.reflection.v1alpha.ServerReflection,nesting.Nesting",
            "INPUT nesting.Node child,leaf,children,next",
            "REPLY leaf: \"reflection\"",
            "V1 ERROR 5 symbol not found: no.such.Symbol",
            "V1 FILES nesting.proto,google/protobuf/struct.proto",
            "V1 FILES nesting.proto,google/protobuf/struct.proto",
            "V1 SERVICES grpc.reflection.v1.ServerReflection,grpc.reflection.v1alpha.ServerReflection,nesting.Nesting",
        ]
    );
}

#[test]
fn reflection_works_over_tls() {
    let pki = Pki::new(&["localhost"]);
    let conf =
        conf(vec![a3grpc_examples::hello::greeter_servicer()]).tls(pki.path("server.key"), pki.path("server.pem"));
    let server = start(conf);
    assert_described(reflect(&format!("127.0.0.1:{}", server.port()), Some(&pki.path("ca.pem"))));
}

#[test]
fn every_worker_process_serves_reflection() {
    let server = example_server("process_count = 2\n");
    for _ in 0..4 {
        assert_described(reflect(&format!("127.0.0.1:{}", server.port), None));
    }
}

#[test]
fn descriptors_from_other_code_generators_take_one_line() {
    // grpcio's own descriptor carries no proto files; the Servicer is given them.
    static PLAIN: grpcio::Method<HelloRequest, HelloReply> = grpcio::Method {
        ty: grpcio::MethodType::Unary,
        name: "/Greeter/say_hello",
        req_mar: grpcio::Marshaller { ser: grpcio::pb_ser, de: grpcio::pb_de },
        resp_mar: grpcio::Marshaller { ser: grpcio::pb_ser, de: grpcio::pb_de },
    };
    let greeter = Servicer::new()
        .unary(&PLAIN, a3grpc_examples::hello::SayHello)
        .proto_files(&[a3grpc_examples::hello::hello_world::file_descriptor().proto()]);
    let server = start(conf(vec![greeter]));
    let out = reflect(&format!("127.0.0.1:{}", server.port()), None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("REPLY message: \"Hello reflection!\""),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reflection_can_be_turned_off() {
    let server = start(conf(vec![a3grpc_examples::hello::greeter_servicer()]).reflection(false));
    let out = reflect(&format!("127.0.0.1:{}", server.port()), None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNIMPLEMENTED"));
}
