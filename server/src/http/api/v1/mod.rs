//! API v1: one file per resource. The OpenAPI document is generated from the
//! handlers' annotations and served at `/api/v1/openapi.json`.

mod account;
mod connectors;
mod contacts;
mod exports;
mod groups;
mod imports;
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
        .routes(routes!(contacts::create_contact, contacts::list_contacts))
        .routes(routes!(contacts::get_contact, contacts::update_contact, contacts::delete_contact))
        .routes(routes!(contacts::add_tag, contacts::remove_tag))
        .routes(routes!(contacts::list_fields, contacts::create_field))
        .routes(routes!(contacts::delete_field))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(contacts::bulk_upsert))
                .layer(axum::extract::DefaultBodyLimit::max(contacts::MAX_BULK_BODY_BYTES)),
        )
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(groups::get_group, groups::update_group, groups::delete_group))
        .routes(routes!(groups::add_members, groups::remove_members))
        .routes(routes!(imports::create_import, imports::list_imports))
        .routes(routes!(imports::get_import))
        .routes(routes!(imports::import_errors))
        .routes(routes!(exports::contacts_csv))
        .routes(routes!(exports::contacts_xlsx))
        .routes(routes!(exports::messages_csv))
        .routes(routes!(exports::messages_xlsx))
}
