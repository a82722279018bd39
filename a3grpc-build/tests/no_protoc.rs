//! Without protoc, the error says how to install it. (Alone in its test binary: it empties
//! this process's PATH.)

#[test]
fn without_protoc_the_error_gives_the_install_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.proto"), "syntax = \"proto3\";\nmessage X {}\n").unwrap();
    std::env::set_var("PATH", dir.path());
    let err = a3grpc_build::configure()
        .out_dir(dir.path())
        .emit_rerun_if_changed(false)
        .compile(&["x.proto"], &[dir.path()])
        .unwrap_err();
    assert!(matches!(err, a3grpc_build::Error::ProtocNotFound), "{err:?}");
    assert!(err.to_string().contains("apt-get install -y protobuf-compiler"), "{err}");
}
