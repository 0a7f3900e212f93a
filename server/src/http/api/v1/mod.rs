//! API v1: one file per resource. The OpenAPI document is generated from the
//! handlers' annotations and served at `/api/v1/openapi.json`.

mod account;
mod connectors;
mod messages;
mod webhooks;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Kurier API", description = "Send and track SMS. Authenticate with `Authorization: Bearer <api key>`."),
    modifiers(&BearerAuth),
    security(("api_key" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(messages::send_messages, messages::list_messages))
        .routes(routes!(messages::get_message))
        .routes(routes!(messages::cancel_message))
        .routes(routes!(messages::list_inbound))
        .routes(routes!(connectors::list_connectors))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(account::get_account, account::update_account))
}
