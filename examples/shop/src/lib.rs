//! The shop service: its generated code and its Views.

pub mod shop {
    pub mod v1 {
        a3grpc::include_proto!("shop.v1");
    }
}

use a3grpc::{A3Error, Context, Servicer, UnaryView};
use shop::v1::{GetItemRequest, Item, METHOD_SHOP_GET_ITEM};

/// `GetItem`: one View per RPC. `Err` is the a3 error the client receives, typed.
pub struct GetItem;

impl UnaryView for GetItem {
    type Request = GetItemRequest;
    type Response = Item;

    fn handle(&self, request: GetItemRequest, _ctx: &mut Context) -> Result<Item, A3Error> {
        match request.sku.as_str() {
            "" => Err(A3Error::Validation("sku is required".into())),
            "tea-1" => Ok(Item {
                sku: "tea-1".into(),
                name: "Green tea".into(),
                price_cents: 450,
                ..Default::default()
            }),
            sku => Err(A3Error::NotFound(format!("no item {sku}"))),
        }
    }
}

/// The Shop servicer: one line per RPC.
pub fn shop_servicer() -> Servicer {
    Servicer::new().unary(&METHOD_SHOP_GET_ITEM, GetItem)
}
