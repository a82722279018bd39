//! `shop-server conf.toml`: serves until SIGINT/SIGTERM, then stops gracefully.

use a3grpc::{register_mappings, run_grpc_server, Conf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,grpcio=warn")).init();
    // `servicer_mappings = "shop.mappings.servicer_mappings"` in the conf names this list.
    register_mappings("shop.mappings.servicer_mappings", vec![shop::shop_servicer()]);
    let conf_file = std::env::args().nth(1).unwrap_or_else(|| "conf.toml".into());
    run_grpc_server(Conf::from_file(conf_file)?)?;
    Ok(())
}
