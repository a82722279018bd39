//! Without protoc: the parser written in Rust needs none, well-known types included, and
//! asking for protoc gives the command that installs it. (Alone in its test binary: it empties
//! this process's PATH.)

#[test]
fn without_protoc_protos_compile_and_asking_for_it_gives_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.proto"),
        "syntax = \"proto3\";\npackage x;\nimport \"google/protobuf/timestamp.proto\";\n\
         import \"google/protobuf/empty.proto\";\nmessage X { google.protobuf.Timestamp at = 1; }\n\
         service S { rpc Ping(google.protobuf.Empty) returns (X); }\n",
    )
    .unwrap();
    std::env::set_var("PATH", dir.path());
    let build = || a3grpc_build::configure().out_dir(dir.path()).emit_rerun_if_changed(false);
    build().compile(&["x.proto"], &[dir.path()]).expect("no protoc needed");
    let code = std::fs::read_to_string(dir.path().join("x.rs")).unwrap();
    assert!(code.contains("::a3grpc::protobuf::well_known_types::timestamp::Timestamp"), "{code}");
    assert!(code.contains("pub const METHOD_S_PING"), "{code}");

    let err = build().protoc(true).compile(&["x.proto"], &[dir.path()]).unwrap_err();
    assert!(matches!(err, a3grpc_build::Error::ProtocNotFound), "{err:?}");
    assert!(err.to_string().contains("apt-get install -y protobuf-compiler"), "{err}");
}
