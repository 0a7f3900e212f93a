//! API v1: one file per resource. The OpenAPI document is generated from the
//! handlers' annotations and served at `/api/v1/openapi.json`.

pub(crate) mod account;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod billing;
pub(crate) mod campaigns;
pub(crate) mod connectors;
pub(crate) mod contacts;
pub(crate) mod conversations;
pub(crate) mod emails;
pub(crate) mod exports;
pub(crate) mod groups;
pub(crate) mod imports;
pub(crate) mod inbound;
pub(crate) mod keywords;
pub(crate) mod me;
pub(crate) mod messages;
pub(crate) mod notifications;
pub(crate) mod numbers;
pub(crate) mod opt_outs;
pub(crate) mod own_numbers;
mod paging;
pub(crate) mod permissions;
pub(crate) mod polls;
pub(crate) mod reports;
pub(crate) mod templates;
pub(crate) mod users;
pub(crate) mod webhooks;

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
        .routes(routes!(inbound::get_inbound))
        .routes(routes!(connectors::list_connectors, connectors::create_connector))
        .routes(routes!(
            connectors::get_connector,
            connectors::replace_connector,
            connectors::delete_connector
        ))
        .routes(routes!(connectors::list_routes, connectors::create_route))
        .routes(routes!(connectors::delete_route))
        .routes(routes!(connectors::simulate_inbound))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::resend_delivery))
        .routes(routes!(emails::list_emails))
        .routes(routes!(emails::get_email))
        .routes(routes!(emails::resend_email))
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
        .routes(routes!(templates::list_templates, templates::create_template))
        .routes(routes!(templates::get_template, templates::update_template, templates::delete_template))
        .routes(routes!(templates::preview_template))
        .routes(routes!(templates::preview_source))
        .routes(routes!(templates::list_senders, templates::add_sender))
        .routes(routes!(templates::delete_sender))
        .routes(routes!(campaigns::create_campaign, campaigns::list_campaigns))
        .routes(routes!(campaigns::get_campaign, campaigns::delete_campaign))
        .routes(routes!(campaigns::estimate_campaign))
        .routes(routes!(campaigns::campaign_action))
        .routes(routes!(campaigns::list_runs))
        .routes(routes!(campaigns::get_run))
        .routes(routes!(campaigns::run_messages_csv))
        .routes(routes!(campaigns::run_messages_xlsx))
        .routes(routes!(notifications::post_notifications, notifications::list_notifications))
        .routes(routes!(notifications::get_notification))
        .routes(routes!(notifications::report))
        .routes(routes!(notifications::report_csv))
        .routes(routes!(notifications::report_xlsx))
        .routes(routes!(reports::messages_report))
        .routes(routes!(reports::messages_report_csv))
        .routes(routes!(reports::messages_report_xlsx))
        .routes(routes!(reports::keywords_report))
        .routes(routes!(reports::inbound_report))
        .routes(routes!(reports::polls_report))
        .routes(routes!(polls::list_polls, polls::create_poll))
        .routes(routes!(polls::get_poll, polls::update_poll, polls::delete_poll))
        .routes(routes!(polls::poll_results))
        .routes(routes!(polls::votes_csv))
        .routes(routes!(polls::votes_xlsx))
        .routes(routes!(polls::create_draw, polls::list_draws))
        .routes(routes!(notifications::list_types, notifications::create_type))
        .routes(routes!(notifications::update_type))
        .routes(routes!(notifications::put_template, notifications::delete_template))
        .routes(routes!(notifications::get_preferences, notifications::put_preferences))
        .routes(routes!(notifications::preference_changes))
        .routes(routes!(notifications::create_link))
        .routes(routes!(notifications::get_settings, notifications::put_settings))
        .routes(routes!(numbers::list_numbers, numbers::create_number))
        .routes(routes!(numbers::get_number, numbers::update_number, numbers::delete_number))
        .routes(routes!(keywords::list_keywords, keywords::create_keyword))
        .routes(routes!(keywords::get_keyword, keywords::update_keyword, keywords::delete_keyword))
        .routes(routes!(opt_outs::list_opt_outs, opt_outs::add_opt_out))
        .routes(routes!(opt_outs::get_opt_out, opt_outs::remove_opt_out))
        .routes(routes!(opt_outs::get_compliance, opt_outs::update_compliance))
        .routes(routes!(billing::list_tariffs, billing::create_tariff))
        .routes(routes!(billing::get_tariff, billing::update_tariff, billing::delete_tariff))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(billing::list_prices, billing::put_prices))
                .routes(routes!(billing::import_prices))
                .layer(axum::extract::DefaultBodyLimit::max(billing::MAX_PRICE_LIST_BYTES)),
        )
        .routes(routes!(billing::delete_price))
        .routes(routes!(billing::list_packages, billing::create_package))
        .routes(routes!(billing::get_own_billing))
        .routes(routes!(billing::own_ledger))
        .routes(routes!(billing::own_prices))
        .routes(routes!(billing::quote))
        .routes(routes!(billing::list_quotas))
        .routes(routes!(billing::put_quota))
        .routes(routes!(billing::list_accounts))
        .routes(routes!(billing::get_account_billing, billing::update_account_billing))
        .routes(routes!(billing::top_up))
        .routes(routes!(billing::account_ledger))
        .routes(routes!(billing::subscribe))
        .routes(routes!(billing::unsubscribe))
        .routes(routes!(billing::usage_report))
        .routes(routes!(billing::statement))
        .routes(routes!(billing::statement_csv))
        .routes(routes!(billing::statement_xlsx))
        .routes(routes!(conversations::list_conversations))
        .routes(routes!(conversations::get_thread))
        .routes(routes!(conversations::reply_in_thread))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::reset_password))
        .routes(routes!(users::list_user_groups, users::create_user_group))
        .routes(routes!(users::update_user_group, users::delete_user_group))
        .routes(routes!(api_keys::list_keys, api_keys::create_key))
        .routes(routes!(api_keys::revoke_key))
        .routes(routes!(audit::search_audit))
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(me::change_password))
        .routes(routes!(own_numbers::list_own_numbers, own_numbers::add_own_number))
        .routes(routes!(own_numbers::verify_own_number))
        .routes(routes!(permissions::list_permissions))
        .routes(routes!(permissions::put_permission, permissions::delete_permission))
}
