//! Accounts are isolated. For every route of the API (read from the OpenAPI
//! document the server serves, so a route added later fails this test until
//! it is listed here) a key of account A gets nothing of account B's: a route
//! taking one of B's ids answers 404, exactly as for an id that does not exist
//! (never 403, which would tell B's id exists); a list or report never shows
//! B's rows; and after all of A's attempts B's data reads the same as before.
//! The web UI's pages that take ids answer 404 across accounts too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{API_KEY, TestApp, on_each_backend};
use serde_json::{Value, json};

/// Routes that act for no account's data: the list of connectors the
/// platform has. Health, metrics and the OpenAPI document are not in the
/// document itself.
const ACCOUNTLESS: &[(&str, &str)] = &[("get", "/api/v1/connectors")];

/// Routes about the calling user only: they take no id, and a phone in
/// the path is looked up among the caller's own numbers, so no value of
/// another account's can reach them (`tests/identity.rs` tests them).
const CALLERS_OWN: &[(&str, &str)] = &[
    ("get", "/api/v1/me/numbers"),
    ("post", "/api/v1/me/numbers"),
    ("post", "/api/v1/me/numbers/{phone}/verify"),
    ("get", "/api/v1/me"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/me/password"),
];

/// B's phones and names: none may appear in anything A reads.
const B_PHONE: &str = "+48600777001";
const B_OPTED_OUT: &str = "+48600777002";
const B_SENT_TO: &str = "+48600777003";
const B_NUMBER: &str = "7377";
const B_NAME: &str = "Bravo";

/// What A must get.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// The route takes one of B's ids: not found, as if it did not exist.
    NotFound,
    /// The route acts on A's own data (lists, creates, settings): success,
    /// and nothing of B's in the answer.
    Own,
    /// Only the platform operator may use it, whatever the id.
    OperatorOnly,
    /// One of B's ids in the body: refused exactly as an id nobody has.
    AsMissing,
    /// A value of B's in the path (a phone) that any account may ask
    /// about: the same answer as for a value nobody has.
    AsUnknown,
}

enum Body {
    None,
    Json(Value),
    Csv(&'static str),
}

/// One call A makes: an OpenAPI route, the values its path parameters take
/// (names of B's ids, see `Bravo::ids`), a query and a body.
struct Case {
    method: &'static str,
    route: &'static str,
    vars: &'static [(&'static str, &'static str)],
    query: &'static str,
    body: Body,
    expect: Expect,
}

/// Path values that are not B's: words every account uses.
const FIXED: &[&str] = &["sms", "sim", "en", "start", "cancel", "run", "users"];

/// An id like `id` that nobody has (its last character changed).
fn made_up(id: &str) -> String {
    let last = if id.ends_with('0') { "1" } else { "0" };
    format!("{}{last}", &id[..id.len() - 1])
}

impl Case {
    /// The body, each `@name` in it standing for B's id `name` (as `ids` has it).
    fn body_naming(&self, ids: &BTreeMap<&'static str, String>) -> Body {
        match &self.body {
            Body::Json(v) => {
                let mut text = v.to_string();
                for (name, id) in ids {
                    text = text.replace(&format!("\"@{name}\""), &format!("\"{id}\""));
                }
                Body::Json(serde_json::from_str(&text).unwrap())
            }
            Body::Csv(s) => Body::Csv(s),
            Body::None => Body::None,
        }
    }

    /// B's ids the body names.
    fn body_ids(&self) -> Vec<&'static str> {
        let text = self.body.text();
        NAMED.iter().copied().filter(|n| text.contains(&format!("\"@{n}\""))).collect()
    }
}

/// Ids of B's a body may name.
const NAMED: &[&str] = &["contact", "group", "template", "campaign", "number", "import"];

impl Body {
    fn text(&self) -> String {
        match self {
            Body::Json(v) => v.to_string(),
            Body::Csv(s) => s.to_string(),
            Body::None => String::new(),
        }
    }
}

fn case(
    method: &'static str,
    route: &'static str,
    vars: &'static [(&'static str, &'static str)],
    expect: Expect,
) -> Case {
    Case { method, route, vars, query: "", body: Body::None, expect }
}

fn with_body(mut c: Case, body: Value) -> Case {
    c.body = Body::Json(body);
    c
}

fn with_query(mut c: Case, query: &'static str) -> Case {
    c.query = query;
    c
}

use Expect::{AsMissing, AsUnknown, NotFound, OperatorOnly, Own};

/// Every call A makes. Ids in `vars` name B's rows.
fn cases() -> Vec<Case> {
    let msg = json!({"to": "+48600100200", "text": "alpha"});
    vec![
        // account
        case("get", "/api/v1/account", &[], Own),
        with_body(case("patch", "/api/v1/account", &[], Own), json!({"time_zone": "Europe/Warsaw"})),
        // messages and inbound
        with_body(case("post", "/api/v1/messages", &[], Own), msg.clone()),
        case("get", "/api/v1/messages", &[], Own),
        with_query(case("get", "/api/v1/messages", &[], Own), "?campaign=CAMPAIGN"),
        case("get", "/api/v1/messages/{id}", &[("id", "message")], NotFound),
        case("post", "/api/v1/messages/{id}/cancel", &[("id", "scheduled")], NotFound),
        case("get", "/api/v1/inbound", &[], Own),
        case("get", "/api/v1/inbound/{id}", &[("id", "inbound")], NotFound),
        // A phone "writing" to B's number through the simulator: only the
        // operator may; for A it is a number nobody has.
        with_body(
            case("post", "/api/v1/connectors/{name}/inbound", &[("name", "sim")], NotFound),
            json!({"from": B_PHONE, "to": B_NUMBER, "text": "STOP"}),
        ),
        case("get", "/api/v1/webhooks/deliveries", &[], Own),
        case("get", "/api/v1/webhooks/deliveries/{id}", &[("id", "delivery")], NotFound),
        case("post", "/api/v1/webhooks/deliveries/{id}/resend", &[("id", "delivery")], NotFound),
        case("get", "/api/v1/emails/deliveries", &[], Own),
        case("get", "/api/v1/emails/deliveries/{id}", &[("id", "email")], NotFound),
        case("post", "/api/v1/emails/deliveries/{id}/resend", &[("id", "email")], NotFound),
        // contacts
        with_body(
            case("post", "/api/v1/contacts", &[], Own),
            json!({"phone": "+48600100201", "name": "Alpha"}),
        ),
        case("get", "/api/v1/contacts", &[], Own),
        with_query(case("get", "/api/v1/contacts", &[], Own), "?tag=bravotag"),
        case("get", "/api/v1/contacts/{id}", &[("id", "contact")], NotFound),
        with_body(
            case("patch", "/api/v1/contacts/{id}", &[("id", "contact")], NotFound),
            json!({"name": "Taken"}),
        ),
        case("delete", "/api/v1/contacts/{id}", &[("id", "contact")], NotFound),
        case("put", "/api/v1/contacts/{id}/tags/{tag}", &[("id", "contact"), ("tag", "tag")], NotFound),
        case("delete", "/api/v1/contacts/{id}/tags/{tag}", &[("id", "contact"), ("tag", "tag")], NotFound),
        with_body(
            case("post", "/api/v1/contacts/bulk", &[], Own),
            json!({"contacts": [{"phone": "+48600100207", "name": "Alpha's own"}]}),
        ),
        with_body(
            case("post", "/api/v1/contacts", &[], AsMissing),
            json!({"phone": "+48600100208", "groups": ["@group"]}),
        ),
        with_body(
            case("post", "/api/v1/messages", &[], AsMissing),
            json!({"to_groups": ["@group"], "text": "alpha"}),
        ),
        with_body(
            case("post", "/api/v1/messages", &[], AsMissing),
            json!({"to": "+48600100200", "template": "@template"}),
        ),
        with_body(
            case("post", "/api/v1/campaigns", &[], AsMissing),
            json!({"name": "Taken", "text": "x", "groups": ["@group"], "start": false}),
        ),
        with_body(
            case("post", "/api/v1/campaigns", &[], AsMissing),
            json!({"name": "Taken", "text": "x", "contacts": ["@contact"], "start": false}),
        ),
        with_body(
            case("post", "/api/v1/campaigns", &[], AsMissing),
            json!({"name": "Taken", "template": "@template", "numbers": ["+48600100200"], "start": false}),
        ),
        with_body(
            case("post", "/api/v1/groups/{id}/members", &[("id", "alpha_group")], AsMissing),
            json!({"contact_ids": ["@contact"]}),
        ),
        case("get", "/api/v1/contact-fields", &[], Own),
        with_body(
            case("post", "/api/v1/contact-fields", &[], Own),
            json!({"name": "alpha_field", "kind": "text"}),
        ),
        case("delete", "/api/v1/contact-fields/{name}", &[("name", "field")], NotFound),
        // groups
        case("get", "/api/v1/groups", &[], Own),
        with_body(case("post", "/api/v1/groups", &[], Own), json!({"name": "Alpha Group"})),
        case("get", "/api/v1/groups/{id}", &[("id", "group")], NotFound),
        with_body(
            case("patch", "/api/v1/groups/{id}", &[("id", "group")], NotFound),
            json!({"name": "Taken"}),
        ),
        case("delete", "/api/v1/groups/{id}", &[("id", "group")], NotFound),
        with_body(
            case("post", "/api/v1/groups/{id}/members", &[("id", "group")], NotFound),
            json!({"phones": ["+48600100202"]}),
        ),
        with_body(
            case("delete", "/api/v1/groups/{id}/members", &[("id", "group")], NotFound),
            json!({"phones": [B_PHONE]}),
        ),
        // imports and exports
        case("get", "/api/v1/imports", &[], Own),
        case("get", "/api/v1/imports/{id}", &[("id", "import")], NotFound),
        case("get", "/api/v1/imports/{id}/errors.csv", &[("id", "import")], NotFound),
        Case {
            method: "post",
            route: "/api/v1/imports",
            vars: &[],
            query: "",
            body: Body::Csv("phone,name\n+48600100203,Imported\n"),
            expect: Own,
        },
        case("get", "/api/v1/exports/contacts.csv", &[], Own),
        case("get", "/api/v1/exports/contacts.xlsx", &[], Own),
        case("get", "/api/v1/exports/messages.csv", &[], Own),
        case("get", "/api/v1/exports/messages.xlsx", &[], Own),
        // templates and senders
        case("get", "/api/v1/templates", &[], Own),
        with_body(case("post", "/api/v1/templates", &[], Own), json!({"name": "alpha", "body": "Hi"})),
        case("get", "/api/v1/templates/{id}", &[("id", "template")], NotFound),
        with_body(
            case("patch", "/api/v1/templates/{id}", &[("id", "template")], NotFound),
            json!({"body": "Taken"}),
        ),
        case("delete", "/api/v1/templates/{id}", &[("id", "template")], NotFound),
        with_body(
            case("post", "/api/v1/templates/{id}/preview", &[("id", "template")], NotFound),
            json!({"phone": "+48600100200"}),
        ),
        with_body(
            case("post", "/api/v1/templates/preview", &[], AsMissing),
            json!({"body": "Hi {{ contact.name }}", "contact": "@contact"}),
        ),
        case("get", "/api/v1/sender-ids", &[], Own),
        with_body(case("post", "/api/v1/sender-ids", &[], Own), json!({"sender": "AlphaCo"})),
        case("delete", "/api/v1/sender-ids/{sender}", &[("sender", "sender")], NotFound),
        // campaigns
        case("get", "/api/v1/campaigns", &[], Own),
        with_body(
            case("post", "/api/v1/campaigns", &[], Own),
            json!({"name": "Alpha", "text": "alpha", "from": "AlphaCo", "numbers": ["+48600100204"], "start": false}),
        ),
        case("get", "/api/v1/campaigns/{id}", &[("id", "campaign")], NotFound),
        case("delete", "/api/v1/campaigns/{id}", &[("id", "draft")], NotFound),
        case("get", "/api/v1/campaigns/{id}/estimate", &[("id", "draft")], NotFound),
        case("post", "/api/v1/campaigns/{id}/{action}", &[("id", "draft"), ("action", "start")], NotFound),
        case(
            "post",
            "/api/v1/campaigns/{id}/{action}",
            &[("id", "campaign"), ("action", "cancel")],
            NotFound,
        ),
        case("get", "/api/v1/campaigns/{id}/runs", &[("id", "campaign")], NotFound),
        case("get", "/api/v1/campaigns/{id}/runs/{run}", &[("id", "campaign"), ("run", "run")], NotFound),
        case(
            "get",
            "/api/v1/campaigns/{id}/runs/{run}/messages.csv",
            &[("id", "campaign"), ("run", "run")],
            NotFound,
        ),
        case(
            "get",
            "/api/v1/campaigns/{id}/runs/{run}/messages.xlsx",
            &[("id", "campaign"), ("run", "run")],
            NotFound,
        ),
        // numbers, keywords, opt-outs, conversations
        case("get", "/api/v1/numbers", &[], Own),
        with_body(case("post", "/api/v1/numbers", &[], Own), json!({"number": "7100"})),
        case("get", "/api/v1/numbers/{id}", &[("id", "number")], NotFound),
        with_body(
            case("patch", "/api/v1/numbers/{id}", &[("id", "number")], NotFound),
            json!({"connectors": []}),
        ),
        case("delete", "/api/v1/numbers/{id}", &[("id", "number")], NotFound),
        case("get", "/api/v1/keywords", &[], Own),
        with_query(case("get", "/api/v1/keywords", &[], NotFound), "?number=7377"),
        with_body(
            case("post", "/api/v1/keywords", &[], Own),
            json!({"number": "7100", "keyword": "ALPHA", "actions": [{"type": "reply", "text": "alpha"}]}),
        ),
        case("get", "/api/v1/keywords/{id}", &[("id", "keyword")], NotFound),
        with_body(
            case("patch", "/api/v1/keywords/{id}", &[("id", "keyword")], NotFound),
            json!({"priority": 5}),
        ),
        case("delete", "/api/v1/keywords/{id}", &[("id", "keyword")], NotFound),
        // polls and contests, two-way reports
        case("get", "/api/v1/polls", &[], Own),
        with_body(
            case("post", "/api/v1/polls", &[], Own),
            json!({"name": "Alpha poll", "question": "?", "answers": [{"key": "A"}, {"key": "B"}]}),
        ),
        case("get", "/api/v1/polls/{id}", &[("id", "poll")], NotFound),
        with_body(case("patch", "/api/v1/polls/{id}", &[("id", "poll")], NotFound), json!({"question": "x"})),
        case("delete", "/api/v1/polls/{id}", &[("id", "poll")], NotFound),
        case("get", "/api/v1/polls/{id}/results", &[("id", "poll")], NotFound),
        case("get", "/api/v1/polls/{id}/votes.csv", &[("id", "poll")], NotFound),
        case("get", "/api/v1/polls/{id}/votes.xlsx", &[("id", "poll")], NotFound),
        case("get", "/api/v1/polls/{id}/draws", &[("id", "poll")], NotFound),
        with_body(
            case("post", "/api/v1/polls/{id}/draws", &[("id", "poll")], NotFound),
            json!({"seed": "s"}),
        ),
        case("get", "/api/v1/reports/keywords", &[], Own),
        case("get", "/api/v1/reports/inbound", &[], Own),
        case("get", "/api/v1/reports/polls", &[], Own),
        case("get", "/api/v1/opt-outs", &[], Own),
        with_body(case("post", "/api/v1/opt-outs", &[], Own), json!({"phone": "+48600100205"})),
        case("get", "/api/v1/opt-outs/{phone}", &[("phone", "opted_out")], AsUnknown),
        case("delete", "/api/v1/opt-outs/{phone}", &[("phone", "opted_out")], NotFound),
        case("get", "/api/v1/compliance", &[], Own),
        with_body(case("patch", "/api/v1/compliance", &[], Own), json!({"help_text": "Alpha help"})),
        case("get", "/api/v1/conversations", &[], Own),
        case("get", "/api/v1/conversations/{phone}", &[("phone", "phone")], AsUnknown),
        with_body(
            // Any account may text any phone: this is A's own message.
            case("post", "/api/v1/conversations/{phone}/messages", &[("phone", "phone")], Own),
            json!({"text": "taken"}),
        ),
        // notifications
        case("get", "/api/v1/notifications", &[], Own),
        with_body(
            case("post", "/api/v1/notifications", &[], Own),
            json!({"type": "payment_received", "subscriber": {"phone": "+48600100201"}, "data": {"amount": "1"}}),
        ),
        with_body(
            case("post", "/api/v1/notifications", &[], AsMissing),
            json!({"type": "payment_received", "subscriber": {"contact_id": "@contact"}, "data": {"amount": "1"}}),
        ),
        case("get", "/api/v1/notifications/{id}", &[("id", "notification")], NotFound),
        case("get", "/api/v1/notifications/report", &[], Own),
        case("get", "/api/v1/notifications/report.csv", &[], Own),
        case("get", "/api/v1/notifications/report.xlsx", &[], Own),
        case("get", "/api/v1/notification-types", &[], Own),
        with_body(
            case("post", "/api/v1/notification-types", &[], Own),
            json!({"key": "alpha_type", "name": "Alpha"}),
        ),
        with_body(
            case("patch", "/api/v1/notification-types/{key}", &[("key", "ntype")], NotFound),
            json!({"name": "Taken"}),
        ),
        with_body(
            case(
                "put",
                "/api/v1/notification-types/{key}/templates/{channel}/{language}",
                &[("key", "ntype"), ("channel", "sms"), ("language", "en")],
                NotFound,
            ),
            json!({"body": "taken"}),
        ),
        case(
            "delete",
            "/api/v1/notification-types/{key}/templates/{channel}/{language}",
            &[("key", "ntype"), ("channel", "sms"), ("language", "en")],
            NotFound,
        ),
        case("get", "/api/v1/notification-preferences/{contact}", &[("contact", "contact")], NotFound),
        with_body(
            case("put", "/api/v1/notification-preferences/{contact}", &[("contact", "contact")], NotFound),
            json!({"preferences": [{"type": "*", "channels": []}]}),
        ),
        case(
            "get",
            "/api/v1/notification-preferences/{contact}/changes",
            &[("contact", "contact")],
            NotFound,
        ),
        with_body(
            case("post", "/api/v1/notification-links", &[], AsMissing),
            json!({"subscriber": {"contact_id": "@contact"}}),
        ),
        case("get", "/api/v1/notification-settings", &[], Own),
        with_body(case("put", "/api/v1/notification-settings", &[], Own), json!({"runout_days": 5})),
        // reports
        case("get", "/api/v1/reports/messages", &[], Own),
        case("get", "/api/v1/reports/messages.csv", &[], Own),
        case("get", "/api/v1/reports/messages.xlsx", &[], Own),
        // billing: A's own
        case("get", "/api/v1/billing", &[], Own),
        case("get", "/api/v1/billing/ledger", &[], Own),
        case("get", "/api/v1/billing/prices", &[], Own),
        with_query(case("get", "/api/v1/billing/price", &[], Own), "?to=%2B48600100200&text=hi"),
        case("get", "/api/v1/billing/quotas", &[], Own),
        with_body(
            case("put", "/api/v1/billing/quotas/{user_id}", &[("user_id", "user")], NotFound),
            json!({"monthly_segments": 1}),
        ),
        case("get", "/api/v1/packages", &[], OperatorOnly),
        case("get", "/api/v1/reports/usage", &[], Own),
        case("get", "/api/v1/reports/statement", &[], Own),
        case("get", "/api/v1/reports/statement.csv", &[], Own),
        case("get", "/api/v1/reports/statement.xlsx", &[], Own),
        // connector settings and routes: the operator's
        case("get", "/api/v1/connectors/{name}", &[("name", "connector")], OperatorOnly),
        case("get", "/api/v1/routes", &[], OperatorOnly),
        with_body(
            case("post", "/api/v1/connectors", &[], OperatorOnly),
            json!({"name": "extra", "kind": "sim"}),
        ),
        with_body(
            case("put", "/api/v1/connectors/{name}", &[("name", "connector")], OperatorOnly),
            json!({"kind": "sim"}),
        ),
        case("delete", "/api/v1/connectors/{name}", &[("name", "connector")], OperatorOnly),
        with_body(
            case("post", "/api/v1/routes", &[], OperatorOnly),
            json!({"prefix": "+44", "connector": "sim"}),
        ),
        case("delete", "/api/v1/routes/{id}", &[("id", "connector")], OperatorOnly),
        // billing: the operator's
        case("get", "/api/v1/tariffs", &[], OperatorOnly),
        with_body(
            case("post", "/api/v1/tariffs", &[], OperatorOnly),
            json!({"name": "Alpha", "currency": "EUR"}),
        ),
        case("get", "/api/v1/tariffs/{id}", &[("id", "tariff")], OperatorOnly),
        with_body(
            case("patch", "/api/v1/tariffs/{id}", &[("id", "tariff")], OperatorOnly),
            json!({"name": "Taken"}),
        ),
        case("delete", "/api/v1/tariffs/{id}", &[("id", "tariff")], OperatorOnly),
        case("get", "/api/v1/tariffs/{id}/prices", &[("id", "tariff")], OperatorOnly),
        with_body(
            case("post", "/api/v1/tariffs/{id}/prices", &[("id", "tariff")], OperatorOnly),
            json!({"prices": [{"prefix": "+48", "price": "0"}]}),
        ),
        case("post", "/api/v1/tariffs/{id}/prices/import", &[("id", "tariff")], OperatorOnly),
        case(
            "delete",
            "/api/v1/tariffs/{id}/prices/{prefix}",
            &[("id", "tariff"), ("prefix", "prefix")],
            OperatorOnly,
        ),
        with_body(
            case("post", "/api/v1/packages", &[], OperatorOnly),
            json!({"name": "Alpha", "currency": "EUR", "included_messages": 1, "overage_price": "0.01"}),
        ),
        case("get", "/api/v1/accounts", &[], OperatorOnly),
        case("get", "/api/v1/accounts/{account}/billing", &[("account", "account")], OperatorOnly),
        with_body(
            case("patch", "/api/v1/accounts/{account}/billing", &[("account", "account")], OperatorOnly),
            json!({"tariff": null}),
        ),
        with_body(
            case("post", "/api/v1/accounts/{account}/top-ups", &[("account", "account")], OperatorOnly),
            json!({"amount": "-100"}),
        ),
        case("get", "/api/v1/accounts/{account}/ledger", &[("account", "account")], OperatorOnly),
        with_body(
            case("post", "/api/v1/accounts/{account}/packages", &[("account", "account")], OperatorOnly),
            json!({"package": "Monthly"}),
        ),
        case(
            "delete",
            "/api/v1/accounts/{account}/packages/{id}",
            &[("account", "account"), ("id", "subscription")],
            OperatorOnly,
        ),
        // users, keys, permissions, audit
        case("get", "/api/v1/users", &[], Own),
        with_body(
            case("post", "/api/v1/users", &[], Own),
            json!({"username": "alpha-new", "role": "viewer"}),
        ),
        case("get", "/api/v1/users/{id}", &[("id", "b_user")], NotFound),
        with_body(
            case("patch", "/api/v1/users/{id}", &[("id", "b_user")], NotFound),
            json!({"disabled": true}),
        ),
        with_body(case("post", "/api/v1/users/{id}/password", &[("id", "b_user")], NotFound), json!({})),
        case("get", "/api/v1/user-groups", &[], Own),
        with_body(case("post", "/api/v1/user-groups", &[], Own), json!({"name": "Alpha team"})),
        // A's own log holds the B ids A tried: ask for an action B did too
        // (with its own key), before A tries B's user groups.
        with_query(case("get", "/api/v1/audit", &[], Own), "?action=/api/v1/user-groups"),
        with_body(
            case("put", "/api/v1/user-groups/{id}", &[("id", "b_ugroup")], NotFound),
            json!({"name": "x"}),
        ),
        case("delete", "/api/v1/user-groups/{id}", &[("id", "b_ugroup")], NotFound),
        case("get", "/api/v1/api-keys", &[], Own),
        with_body(
            case("post", "/api/v1/api-keys", &[], AsMissing),
            json!({"name": "k", "user_id": "@b_user"}),
        ),
        case("delete", "/api/v1/api-keys/{id}", &[("id", "b_key")], NotFound),
        case("get", "/api/v1/permissions", &[], Own),
        with_body(
            case(
                "put",
                "/api/v1/permissions/{subject}/{id}",
                &[("subject", "users"), ("id", "b_user")],
                NotFound,
            ),
            json!({"any_number": true}),
        ),
        case(
            "delete",
            "/api/v1/permissions/{subject}/{id}",
            &[("subject", "users"), ("id", "b_user")],
            NotFound,
        ),
    ]
}

/// An HTTP client acting with one key.
struct Client {
    base: String,
    http: reqwest::Client,
    key: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, body: &Body) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::Csv(s) => req.header("content-type", "text/csv").body(*s),
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn json(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if body.is_null() { Body::None } else { Body::Json(body) };
        let (status, text) = self.call(method, path, &body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// Account B's data, made through its own key, and the ids A tries.
struct Bravo {
    ids: BTreeMap<&'static str, String>,
}

impl Bravo {
    async fn create(app: &TestApp, b: &Client, operator: &Client) -> Self {
        let mut ids = BTreeMap::new();
        let account = b.json("get", "/api/v1/account", Value::Null).await;
        ids.insert("account", account["id"].as_str().unwrap().to_owned());
        // Billing, set up by the operator: a tariff and a package for B.
        let t = operator
            .json(
                "post",
                "/api/v1/tariffs",
                json!({"name": "Standard", "currency": "EUR", "prices": [{"prefix": "+48", "price": "0.01"}]}),
            )
            .await;
        ids.insert("tariff", t["id"].as_str().unwrap().to_owned());
        ids.insert("prefix", "%2B48".to_owned());
        // The platform's connector: no account's, not a secret.
        ids.insert("connector", "sim".to_owned());
        operator
            .json(
                "post",
                "/api/v1/packages",
                json!({"name": "Monthly", "currency": "EUR", "included_messages": 100, "monthly_fee": "1.00", "overage_price": "0.02"}),
            )
            .await;
        let path = format!("/api/v1/accounts/{}", ids["account"]);
        operator.json("patch", &format!("{path}/billing"), json!({"tariff": "Standard"})).await;
        operator.json("post", &format!("{path}/top-ups"), json!({"amount": "50"})).await;
        let sub = operator.json("post", &format!("{path}/packages"), json!({"package": "Monthly"})).await;
        ids.insert("subscription", sub["id"].as_str().unwrap().to_owned());

        b.json("post", "/api/v1/contact-fields", json!({"name": "bravo_field", "kind": "text"})).await;
        ids.insert("field", "bravo_field".to_owned());
        let g = b.json("post", "/api/v1/groups", json!({"name": "Bravo Group"})).await;
        ids.insert("group", g["id"].as_str().unwrap().to_owned());
        let c = b
            .json(
                "post",
                "/api/v1/contacts",
                json!({"phone": B_PHONE, "name": "Bravo Person", "external_id": "bravo-1", "groups": ["Bravo Group"],
                    "tags": ["bravotag"], "fields": {"bravo_field": "secret"}}),
            )
            .await;
        ids.insert("contact", c["id"].as_str().unwrap().to_owned());
        ids.insert("tag", "bravotag".to_owned());
        b.json("post", "/api/v1/sender-ids", json!({"sender": "BravoCo", "default": true})).await;
        ids.insert("sender", "BravoCo".to_owned());
        let t = b
            .json(
                "post",
                "/api/v1/templates",
                json!({"name": "bravo-tpl", "body": "Bravo {{ contact.name }}"}),
            )
            .await;
        ids.insert("template", t["id"].as_str().unwrap().to_owned());
        // Messages that match no keyword are forwarded by e-mail (which
        // fails at once: no mail server is configured here).
        let n = b
            .json(
                "post",
                "/api/v1/numbers",
                json!({"number": B_NUMBER, "default_actions": [{"type": "forward", "email": "bravo-desk@example.com"}]}),
            )
            .await;
        ids.insert("number", n["id"].as_str().unwrap().to_owned());
        let k = b
            .json(
                "post",
                "/api/v1/keywords",
                json!({"number": B_NUMBER, "keyword": "BRAVO", "actions": [{"type": "reply", "text": "Bravo reply"}]}),
            )
            .await;
        ids.insert("keyword", k["id"].as_str().unwrap().to_owned());
        let poll = b
            .json(
                "post",
                "/api/v1/polls",
                json!({"name": "Bravo quiz", "question": "Bravo?", "answers": [{"key": "A"}, {"key": "B"}],
                    "correct_answer": "A"}),
            )
            .await;
        ids.insert("poll", poll["id"].as_str().unwrap().to_owned());
        b.json("post", "/api/v1/opt-outs", json!({"phone": B_OPTED_OUT})).await;
        ids.insert("opted_out", "%2B48600777002".to_owned());
        ids.insert("phone", "%2B48600777001".to_owned());

        let m =
            b.json(
                "post",
                "/api/v1/messages",
                // Its status callbacks go nowhere: they stay in B's delivery log.
                json!({"to": B_SENT_TO, "text": "Bravo secret text", "callback_url": "http://127.0.0.1:9/bravo"}),
            )
            .await;
        ids.insert("message", m["messages"][0]["id"].as_str().unwrap().to_owned());
        let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let m = b
            .json(
                "post",
                "/api/v1/messages",
                json!({"to": B_SENT_TO, "text": "Bravo later", "send_at": later}),
            )
            .await;
        ids.insert("scheduled", m["messages"][0]["id"].as_str().unwrap().to_owned());
        // A text from B's contact to B's number: an inbound message and a conversation.
        operator
            .json(
                "post",
                "/api/v1/connectors/sim/inbound",
                json!({"from": B_PHONE, "to": B_NUMBER, "text": "bravo hello"}),
            )
            .await;
        // One that matches no keyword: forwarded by e-mail.
        operator
            .json(
                "post",
                "/api/v1/connectors/sim/inbound",
                json!({"from": B_PHONE, "to": B_NUMBER, "text": "anyone there?"}),
            )
            .await;
        let c = b
            .json("post", "/api/v1/campaigns", json!({"name": "Bravo Campaign", "text": "Bravo sale", "numbers": [B_SENT_TO], "start": true}))
            .await;
        ids.insert("campaign", c["campaign"]["id"].as_str().unwrap().to_owned());
        ids.insert("run", "1".to_owned());
        let d = b
            .json(
                "post",
                "/api/v1/campaigns",
                json!({"name": "Bravo Draft", "text": "Bravo draft", "numbers": [B_SENT_TO], "start": false}),
            )
            .await;
        ids.insert("draft", d["campaign"]["id"].as_str().unwrap().to_owned());

        let (s, job) = b
            .call("post", "/api/v1/imports", &Body::Csv("phone,name\n+48600777004,Bravo Imported\nbad,x\n"))
            .await;
        assert_eq!(s, 202, "{job}");
        let job: Value = serde_json::from_str(&job).unwrap();
        ids.insert("import", job["id"].as_str().unwrap().to_owned());

        b.json("post", "/api/v1/notification-types", json!({"key": "bravo_type", "name": "Bravo type"}))
            .await;
        b.json(
            "put",
            "/api/v1/notification-types/bravo_type/templates/sms/en",
            json!({"body": "Bravo note"}),
        )
        .await;
        ids.insert("ntype", "bravo_type".to_owned());
        let n = b
            .json(
                "post",
                "/api/v1/notifications",
                json!({"type": "bravo_type", "subscriber": {"external_id": "bravo-1"}}),
            )
            .await;
        ids.insert("notification", n["id"].as_str().unwrap().to_owned());
        b.json(
            "put",
            &format!("/api/v1/notification-preferences/{}", ids["contact"]),
            json!({"preferences": [{"type": "*", "channels": ["sms"]}]}),
        )
        .await;
        ids.insert("sms", "sms".to_owned());
        ids.insert("sim", "sim".to_owned());
        ids.insert("en", "en".to_owned());
        ids.insert("start", "start".to_owned());
        ids.insert("cancel", "cancel".to_owned());

        // B's user with a key, a user group and a rule on whom the user may message.
        let u = b.json("post", "/api/v1/users", json!({"username": "bravo-user", "role": "sender"})).await;
        ids.insert("b_user", u["user"]["id"].as_str().unwrap().to_owned());
        let g = b
            .json("post", "/api/v1/user-groups", json!({"name": "Bravo team", "members": ["bravo-user"]}))
            .await;
        ids.insert("b_ugroup", g["id"].as_str().unwrap().to_owned());
        let k =
            b.json("post", "/api/v1/api-keys", json!({"name": "bravo key", "user_id": ids["b_user"]})).await;
        ids.insert("b_key", k["id"].as_str().unwrap().to_owned());
        let keys = b.json("get", "/api/v1/api-keys", Value::Null).await;
        let own =
            keys["keys"].as_array().unwrap().iter().find(|k| k["user_id"].is_null()).expect("B's own key");
        ids.insert("b_own_key", own["id"].as_str().unwrap().to_owned());
        b.json(
            "put",
            &format!("/api/v1/permissions/users/{}", ids["b_user"]),
            json!({"groups": ["Bravo Group"]}),
        )
        .await;
        ids.insert("users", "users".to_owned());

        // A user of another account: the operator's own admin.
        let q = operator.json("get", "/api/v1/billing/quotas", Value::Null).await;
        ids.insert("user", q["users"][0]["user_id"].as_str().unwrap().to_owned());

        // Let everything B started finish, so B's data stands still.
        Self::settle(app, b, &ids).await;
        let inbound = b.json("get", "/api/v1/inbound", Value::Null).await;
        let hello = inbound["messages"].as_array().unwrap().iter().find(|m| m["text"] == "bravo hello");
        ids.insert("inbound", hello.expect("B's inbound message")["id"].as_str().unwrap().to_owned());
        let deliveries = b.json("get", "/api/v1/webhooks/deliveries", Value::Null).await;
        let delivery = deliveries["deliveries"][0]["id"].as_str().expect("B's status callback");
        ids.insert("delivery", delivery.to_owned());
        let email = wait_for_json(b, "/api/v1/emails/deliveries?status=failed", |l| {
            l["deliveries"][0]["id"].as_str().map(str::to_owned)
        })
        .await;
        ids.insert("email", email);
        Bravo { ids }
    }

    async fn settle(app: &TestApp, b: &Client, ids: &BTreeMap<&'static str, String>) {
        for _ in 0..500 {
            let (_, run) =
                b.call("get", &format!("/api/v1/campaigns/{}/runs/1", ids["campaign"]), &Body::None).await;
            let (_, job) = b.call("get", &format!("/api/v1/imports/{}", ids["import"]), &Body::None).await;
            let (_, inbound) = b.call("get", "/api/v1/inbound", &Body::None).await;
            let done =
                run.contains("\"finished\"") && !job.contains("\"running\"") && !job.contains("\"queued\"");
            if done && inbound.contains("bravo hello") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        settled(app).await;
    }

    /// Everything B can read about itself.
    async fn snapshot(&self, b: &Client) -> Vec<(String, String)> {
        let id = |k: &str| self.ids[k].clone();
        let paths = [
            "/api/v1/account".to_owned(),
            "/api/v1/contacts".to_owned(),
            format!("/api/v1/contacts/{}", id("contact")),
            "/api/v1/contact-fields".to_owned(),
            "/api/v1/groups".to_owned(),
            format!("/api/v1/groups/{}", id("group")),
            "/api/v1/templates".to_owned(),
            "/api/v1/sender-ids".to_owned(),
            "/api/v1/campaigns".to_owned(),
            format!("/api/v1/campaigns/{}/runs", id("campaign")),
            format!("/api/v1/campaigns/{}", id("draft")),
            "/api/v1/messages".to_owned(),
            format!("/api/v1/messages/{}", id("scheduled")),
            "/api/v1/inbound".to_owned(),
            "/api/v1/emails/deliveries".to_owned(),
            "/api/v1/numbers".to_owned(),
            "/api/v1/keywords".to_owned(),
            "/api/v1/polls".to_owned(),
            format!("/api/v1/polls/{}/results", id("poll")),
            "/api/v1/opt-outs".to_owned(),
            "/api/v1/compliance".to_owned(),
            "/api/v1/conversations".to_owned(),
            "/api/v1/imports".to_owned(),
            "/api/v1/notification-types".to_owned(),
            "/api/v1/notifications".to_owned(),
            format!("/api/v1/notification-preferences/{}", id("contact")),
            "/api/v1/notification-settings".to_owned(),
            "/api/v1/billing".to_owned(),
            "/api/v1/billing/ledger".to_owned(),
            "/api/v1/users".to_owned(),
            "/api/v1/user-groups".to_owned(),
            "/api/v1/permissions".to_owned(),
        ];
        let mut out = Vec::new();
        for p in paths {
            let (s, body) = b.call("get", &p, &Body::None).await;
            assert_eq!(s, 200, "B reads {p}: {body}");
            out.push((p, body));
        }
        out
    }
}

/// Waits until only scheduled messages are left unfinished.
async fn settled(app: &TestApp) {
    let store = &app.app.as_ref().unwrap().store;
    for _ in 0..1000 {
        let counts = store.count_by_status().await.unwrap();
        let open: i64 =
            counts.iter().filter(|(s, _)| !s.is_final() && s.as_str() != "scheduled").map(|(_, n)| n).sum();
        if open == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("messages never settled");
}

/// What `pick` finds in `path`'s answer, once it finds something.
async fn wait_for_json(c: &Client, path: &str, pick: impl Fn(&Value) -> Option<String>) -> String {
    for _ in 0..500 {
        if let Some(v) = pick(&c.json("get", path, Value::Null).await) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never showed what was wanted");
}

/// The `{name}` parameters of a route, filled from B's ids.
fn fill(route: &str, vars: &[(&str, &str)], ids: &BTreeMap<&'static str, String>) -> String {
    let mut path = route.to_owned();
    for (name, key) in vars {
        let value = ids.get(key).unwrap_or_else(|| panic!("no id named {key}"));
        path = path.replace(&format!("{{{name}}}"), value);
    }
    assert!(!path.contains('{'), "{route}: a parameter left unfilled: {path}");
    path
}

/// Every (method, route) in the served OpenAPI document.
async fn documented_routes(a: &Client) -> BTreeSet<(String, String)> {
    let (s, doc) = a.call("get", "/api/v1/openapi.json", &Body::None).await;
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn a_key_of_one_account_reads_and_changes_nothing_of_another_on_any_route() {
    on_each_backend(|backend| async move {
        let app = TestApp::start(&backend).await;
        let store = app.app.as_ref().unwrap().store.clone();
        let (_, a_key) = store.create_account("alpha").await.unwrap();
        let (_, b_key) = store.create_account("bravo").await.unwrap();
        let client =
            |key: &str| Client { base: app.base.clone(), http: app.http.clone(), key: key.to_owned() };
        let (a, b, operator) = (client(&a_key), client(&b_key), client(API_KEY));

        let mut bravo = Bravo::create(&app, &b, &operator).await;
        // One of A's own, for routes that take A's id and name B's in the body.
        let g = a.json("post", "/api/v1/groups", json!({"name": "Alpha Base"})).await;
        bravo.ids.insert("alpha_group", g["id"].as_str().unwrap().to_owned());
        let before = bravo.snapshot(&b).await;
        // What A may never see: B's ids, phones and names.
        let mut secrets: Vec<String> = bravo
            .ids
            .iter()
            .filter(|(k, _)| {
                ![
                    "sms",
                    "en",
                    "sim",
                    "start",
                    "cancel",
                    "run",
                    "users",
                    "prefix",
                    "user",
                    "tariff",
                    "subscription",
                    "alpha_group",
                    "connector",
                ]
                .contains(k)
            })
            .map(|(_, v)| v.clone())
            .collect();
        secrets.extend([B_PHONE, B_OPTED_OUT, B_SENT_TO, "+48600777004", B_NAME, "bravo"].map(str::to_owned));

        let cases = cases();
        let documented = documented_routes(&a).await;
        let mut covered = BTreeSet::new();
        let mut unknown = Vec::new();
        for c in &cases {
            let key = (c.method.to_owned(), c.route.to_owned());
            if !documented.contains(&key) {
                unknown.push(key.clone());
            }
            covered.insert(key);
        }
        assert!(unknown.is_empty(), "tried routes the document does not have: {unknown:?}");
        for (method, route) in ACCOUNTLESS {
            assert!(
                documented.contains(&(method.to_string(), route.to_string())),
                "{method} {route} is gone"
            );
            covered.insert((method.to_string(), route.to_string()));
        }
        for (method, route) in CALLERS_OWN {
            assert!(
                documented.contains(&(method.to_string(), route.to_string())),
                "{method} {route} is gone"
            );
            covered.insert((method.to_string(), route.to_string()));
        }
        let missing: Vec<_> = documented.difference(&covered).collect();
        assert!(
            missing.is_empty(),
            "routes neither tried across accounts nor listed as account-less: {missing:?}"
        );

        for c in &cases {
            let path =
                fill(c.route, c.vars, &bravo.ids) + &c.query.replace("CAMPAIGN", &bravo.ids["campaign"]);
            let body = c.body_naming(&bravo.ids);
            let asked = format!("{} {}", path.replace("%2B", "+"), body.text());
            let (status, answer) = a.call(c.method, &path, &body).await;
            let what = format!("{} {path} as account A: {status} {answer}", c.method.to_uppercase());
            match c.expect {
                NotFound => assert_eq!(status, 404, "{what}"),
                Own => assert!((200..300).contains(&status), "{what}"),
                OperatorOnly => assert_eq!(status, 403, "{what}"),
                AsUnknown => {
                    let mut ids = bravo.ids.clone();
                    for (_, key) in c.vars {
                        let v = ids.get_mut(key).unwrap();
                        *v = made_up(v);
                    }
                    let (s, unknown) = a.call(c.method, &fill(c.route, c.vars, &ids), &body).await;
                    let strip = |text: &str, vars: &BTreeMap<&'static str, String>| {
                        c.vars.iter().fold(text.to_owned(), |t, (_, key)| {
                            t.replace(&vars[key], "X").replace(&vars[key].replace("%2B", "+"), "X")
                        })
                    };
                    assert_eq!((status, strip(&answer, &bravo.ids)), (s, strip(&unknown, &ids)), "{what}");
                }
                AsMissing => {
                    let mut ids = bravo.ids.clone();
                    for name in c.body_ids() {
                        let v = ids.get_mut(name).unwrap();
                        *v = made_up(v);
                    }
                    let (s, missing) = a.call(c.method, &path, &c.body_naming(&ids)).await;
                    assert_ne!(status, 403, "{what}");
                    let strip = |text: &str, ids: &BTreeMap<&'static str, String>| {
                        c.body_ids().iter().fold(text.to_owned(), |t, n| t.replace(&ids[n], "ID"))
                    };
                    assert_eq!(
                        (status, strip(&answer, &bravo.ids)),
                        (s, strip(&missing, &ids)),
                        "{what}: not the answer for an id nobody has"
                    );
                }
            }
            for secret in &secrets {
                if !asked.to_lowercase().contains(&secret.to_lowercase()) {
                    assert!(
                        !answer.to_lowercase().contains(&secret.to_lowercase()),
                        "{what}\nshows B's {secret}"
                    );
                }
            }
            // An id-taking route answers as for an id that does not exist.
            if c.expect == NotFound && !c.vars.is_empty() {
                let mut ids = bravo.ids.clone();
                for (_, key) in c.vars {
                    if !FIXED.contains(key) {
                        let v = ids.get_mut(key).unwrap();
                        *v = made_up(v);
                    }
                }
                let (s, _) = a.call(c.method, &fill(c.route, c.vars, &ids), &body).await;
                assert_eq!(s, 404, "{} {} with an id nobody has", c.method, c.route);
            }
        }
        settled(&app).await;
        let after = bravo.snapshot(&b).await;
        for ((path, was), (_, is)) in before.iter().zip(&after) {
            assert_eq!(was, is, "B's {path} changed while A tried");
        }
        app.stop().await;
    })
    .await;
}
