//! What a user's build script reports when code generation cannot go on.

use std::fs;
use std::path::Path;

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn compile(dir: &Path, protos: &[&str]) -> Result<(), a3grpc_build::Error> {
    let protos: Vec<_> = protos.iter().map(|p| dir.join(p)).collect();
    a3grpc_build::configure().out_dir(dir.join("out")).emit_rerun_if_changed(false).compile(&protos, &[dir])
}

#[test]
fn a_proto_that_does_not_parse_is_reported_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "shop/v1/bad.proto", "syntax = \"proto3\";\npackage shop.v1;\nmessage Item { string sku = }\n");
    let err = compile(dir.path(), &["shop/v1/bad.proto"]).unwrap_err();
    assert!(matches!(err, a3grpc_build::Error::Parse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("do not parse") && text.contains("bad.proto") && text.contains("3:"), "{text}");
}

#[test]
fn a_file_that_imports_two_same_named_files_of_other_packages_is_an_error_that_says_rename() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/common.proto", "syntax = \"proto3\";\npackage a;\nmessage A { int32 x = 1; }\n");
    write(dir.path(), "b/common.proto", "syntax = \"proto3\";\npackage b;\nmessage B { int32 y = 1; }\n");
    write(
        dir.path(),
        "c/user.proto",
        "syntax = \"proto3\";\npackage c;\nimport \"a/common.proto\";\nimport \"b/common.proto\";\n\
         message C { a.A a = 1; b.B b = 2; }\n",
    );
    let err = compile(dir.path(), &["c/user.proto"]).unwrap_err();
    assert!(matches!(err, a3grpc_build::Error::ModuleClash { .. }), "{err:?}");
    assert!(err.to_string().contains("rename"), "{err}");
}

#[test]
fn a_proto_outside_every_include_folder_is_an_error_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), "x.proto", "syntax = \"proto3\";\nmessage X {}\n");
    let err = a3grpc_build::configure()
        .out_dir(dir.path())
        .emit_rerun_if_changed(false)
        .compile(&[elsewhere.path().join("x.proto")], &[dir.path()])
        .unwrap_err();
    assert!(matches!(err, a3grpc_build::Error::NotUnderInclude { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
}
