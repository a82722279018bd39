//! `shop-client 127.0.0.1 50051`: asks for an item that exists and for one that does not.

use a3grpc::{A3Error, Error};
use shop::shop::v1::{GetItemRequest, ShopClient};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port = args.next().map(|p| p.parse()).transpose()?.unwrap_or(50051);
    let shop = ShopClient::connect(&host, port)?; // generated: a method per RPC

    for sku in ["tea-1", "tea-2"] {
        let request = GetItemRequest { sku: sku.into(), ..Default::default() };
        match shop.get_item(&request) {
            Ok(item) => println!("{sku}: {} for {} cents", item.name, item.price_cents),
            Err(Error::A3(A3Error::NotFound(message))) => println!("{sku}: not found ({message})"),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}
