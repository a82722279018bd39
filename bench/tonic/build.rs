fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        .build_client(false)
        .compile_protos(&["../../examples/proto/hello_world.proto"], &["../../examples/proto"])?;
    Ok(())
}
