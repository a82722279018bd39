fn main() -> Result<(), Box<dyn std::error::Error>> {
    a3grpc_build::compile_protos(&["proto/shop/v1/shop.proto"], &["proto"])?;
    Ok(())
}
