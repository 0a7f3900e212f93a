//! The address book as a client sees it, on SQLite and PostgreSQL:
//! contacts with typed custom fields, bulk upserts, groups, #tags.

mod common;

use common::{API_KEY, TestApp, on_each_backend};
use serde_json::{Value, json};

/// Requests beyond what the shared harness offers.
trait Rest {
    async fn contacts(&self, query: &str) -> Vec<Value>;
    async fn create(&self, body: Value) -> Value;
}

impl Rest for TestApp {
    async fn contacts(&self, query: &str) -> Vec<Value> {
        let (status, list) = self.get(&format!("/api/v1/contacts?{query}")).await;
        assert_eq!(status, 200, "{query}: {list}");
        list["contacts"].as_array().unwrap().clone()
    }

    async fn create(&self, body: Value) -> Value {
        let (status, c) = self.post("/api/v1/contacts", body.clone()).await;
        assert_eq!(status, 201, "{body} -> {c}");
        c
    }
}

fn phones(list: &[Value]) -> Vec<&str> {
    let mut p: Vec<&str> = list.iter().map(|c| c["phone"].as_str().unwrap()).collect();
    p.sort();
    p
}

async fn define_fields(app: &TestApp) {
    for (name, kind) in [("city", "text"), ("age", "number"), ("member_since", "date"), ("vip", "boolean")] {
        let (status, f) = app.post("/api/v1/contact-fields", json!({"name": name, "kind": kind})).await;
        assert_eq!(status, 201, "{f}");
    }
}

#[tokio::test]
async fn a_contact_is_created_read_updated_and_deleted() {
    on_each_backend(|b| async move {
        let app = TestApp::start_with(&b, |c| c.messages.default_region = Some("PL".into())).await;
        define_fields(&app).await;
        let (_, group) = app.post("/api/v1/groups", json!({"name": "Klienci"})).await;
        let c = app
            .create(json!({
                "phone": "600 100 200",
                "name": "Łukasz Żółć",
                "email": "Lukasz@Example.PL",
                "language": "pl_pl",
                "time_zone": "europe/Warsaw",
                "external_id": "C-1",
                "notes": "line one\nline two",
                "fields": {"city": "Kraków", "age": 42, "member_since": "01.05.2020", "vip": "tak"},
                "tags": ["#Awaria", "nocna"],
                "groups": ["klienci"],
            }))
            .await;
        assert_eq!(c["phone"], "+48600100200");
        assert_eq!(c["email"], "Lukasz@example.pl");
        assert_eq!(c["language"], "pl-PL");
        assert_eq!(c["time_zone"], "Europe/Warsaw");
        assert_eq!(c["fields"], json!({"age": 42, "city": "Kraków", "member_since": "2020-05-01", "vip": true}));
        assert_eq!(c["tags"], json!(["awaria", "nocna"]));
        assert_eq!(c["groups"][0]["id"], group["id"]);
        assert_eq!(c["opted_out"], false);
        let id = c["id"].as_str().unwrap();

        let (status, got) = app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!((status, &got), (200, &c));

        let (status, patched) = app
            .call(
                "PATCH",
                &format!("/api/v1/contacts/{id}"),
                Some(json!({"email": null, "fields": {"age": 43.5, "city": null}, "tags": [], "opted_out": true})),
            )
            .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(patched["email"], Value::Null);
        assert_eq!(patched["name"], "Łukasz Żółć", "absent fields stay");
        assert_eq!(patched["fields"], json!({"age": 43.5, "member_since": "2020-05-01", "vip": true}));
        assert_eq!(patched["tags"], json!([]));
        assert_eq!(patched["opted_out"], true);
        assert!(patched["opted_out_at"].as_str().is_some());
        assert_eq!(patched["groups"], c["groups"], "groups stay when not named");

        let (status, _) = app.call("DELETE", &format!("/api/v1/contacts/{id}"), None).await;
        assert_eq!(status, 204);
        let (status, resp) = app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (404, Some("not_found")));
        let (_, g) = app.get(&format!("/api/v1/groups/{}", group["id"].as_str().unwrap())).await;
        assert_eq!(g["members"], 0, "the membership went with the contact");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_contacts_get_a_json_error_naming_the_field_and_store_nothing() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        define_fields(&app).await;
        let ok = "+48600100200";
        let cases: Vec<(Value, u16, &str)> = vec![
            (json!({"name": "No number"}), 422, "phone"),
            (json!({"phone": null}), 422, "phone"),
            (json!({"phone": "not a number"}), 422, "phone"),
            (json!({"phone": "600100200"}), 422, "phone"),
            (json!({"phone": 48600100200u64}), 422, "phone"),
            (json!({"phone": ok, "email": "jan@"}), 422, "email"),
            (json!({"phone": ok, "language": "polish"}), 422, "language"),
            (json!({"phone": ok, "time_zone": "Mars/Olympus"}), 422, "time_zone"),
            (json!({"phone": ok, "name": "x".repeat(201)}), 422, "name"),
            (json!({"phone": ok, "name": "bell\u{7}"}), 422, "name"),
            (json!({"phone": ok, "fields": {"colour": "red"}}), 422, "fields.colour"),
            (json!({"phone": ok, "fields": {"age": "forty"}}), 422, "fields.age"),
            (json!({"phone": ok, "fields": {"age": 1e16}}), 422, "fields.age"),
            (json!({"phone": ok, "fields": {"member_since": "2024-02-30"}}), 422, "fields.member_since"),
            (json!({"phone": ok, "fields": {"vip": "maybe"}}), 422, "fields.vip"),
            (json!({"phone": ok, "fields": {"city": 5}}), 422, "fields.city"),
            (json!({"phone": ok, "tags": ["ok", "two words"]}), 422, "tags[1]"),
            (json!({"phone": ok, "groups": ["nope"]}), 422, "groups[0]"),
            (json!({"phone": ok, "opted_out": "yes"}), 422, "opted_out"),
            (json!({"phone": ok, "colour": "red"}), 422, "colour"),
        ];
        for (body, want_status, want_field) in cases {
            let (status, resp) = app.post("/api/v1/contacts", body.clone()).await;
            assert_eq!(status, want_status, "{body} -> {resp}");
            assert_eq!(resp["error"]["code"], "invalid_field", "{body} -> {resp}");
            let field = resp["error"]["field"].as_str().unwrap_or_default();
            assert!(field == want_field || field.starts_with(want_field), "{body} -> {resp}");
            assert!(!resp["error"]["message"].as_str().unwrap().is_empty());
        }
        assert!(app.contacts("").await.is_empty(), "nothing stored");
        for (id, want) in [("01234567-89ab-7def-8123-456789abcdef", 404), ("not-an-id", 404)] {
            let (status, _) = app.get(&format!("/api/v1/contacts/{id}")).await;
            assert_eq!(status, want, "{id}");
            let (status, _) =
                app.call("PATCH", &format!("/api/v1/contacts/{id}"), Some(json!({"name": "x"}))).await;
            assert_eq!(status, want, "{id}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn numbers_and_external_ids_are_unique_within_an_account_only() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let a = app.create(json!({"phone": "+48600100200", "external_id": "A"})).await;
        let b2 = app.create(json!({"phone": "+48600100201"})).await;
        for (body, field) in [
            (json!({"phone": "+48 600 100 200"}), "phone"),
            (json!({"phone": "+48600100202", "external_id": "A"}), "external_id"),
        ] {
            let (status, resp) = app.post("/api/v1/contacts", body.clone()).await;
            assert_eq!((status, resp["error"]["code"].as_str()), (409, Some("duplicate")), "{body}: {resp}");
            assert_eq!(resp["error"]["field"], field);
        }
        let path = format!("/api/v1/contacts/{}", b2["id"].as_str().unwrap());
        let (status, resp) = app.call("PATCH", &path, Some(json!({"phone": "+48600100200"}))).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (409, Some("phone")));
        let (status, resp) = app.call("PATCH", &path, Some(json!({"external_id": "A"}))).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (409, Some("external_id")));
        // A contact may hand its number on once it has another.
        let (status, _) = app
            .call(
                "PATCH",
                &format!("/api/v1/contacts/{}", a["id"].as_str().unwrap()),
                Some(json!({"phone": "+48600100299"})),
            )
            .await;
        assert_eq!(status, 200);
        let (status, moved) = app.call("PATCH", &path, Some(json!({"phone": "+48600100200"}))).await;
        assert_eq!((status, moved["phone"].as_str()), (200, Some("+48600100200")));

        // Another account has an address book of its own.
        let store = &app.app.as_ref().unwrap().store;
        let (_, other_key) = store.create_account("other").await.unwrap();
        let resp = app
            .http
            .post(app.url("/api/v1/contacts"))
            .bearer_auth(&other_key)
            .json(&json!({"phone": "+48600100200", "external_id": "A"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let theirs: Value = resp.json().await.unwrap();
        let (status, _) = app.get(&format!("/api/v1/contacts/{}", theirs["id"].as_str().unwrap())).await;
        assert_eq!(status, 404, "not visible to the first account");
        assert_eq!(app.contacts("").await.len(), 2);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_list_filters_by_group_tag_field_text_and_opt_out_and_pages_with_a_cursor() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        define_fields(&app).await;
        app.post("/api/v1/groups", json!({"name": "Kierowcy"})).await;
        app.create(json!({"phone": "+48600100200", "name": "Łukasz Wąsik", "fields": {"city": "Kraków", "vip": true}, "groups": ["Kierowcy"], "tags": ["nocna"]})).await;
        app.create(json!({"phone": "+48600100201", "name": "Anna Nowak", "email": "anna@firma.pl", "fields": {"city": "Łódź", "age": 30}})).await;
        app.create(json!({"phone": "+48600300400", "name": "Иван Петров", "groups": ["Kierowcy"], "opted_out": true})).await;
        app.create(json!({"phone": "+359881234567", "name": "100%_real", "fields": {"age": 30.0}})).await;

        let cases: &[(&str, &[&str])] = &[
            ("", &["+359881234567", "+48600100200", "+48600100201", "+48600300400"]),
            ("group=kierowcy", &["+48600100200", "+48600300400"]),
            ("tag=%23NOCNA", &["+48600100200"]),
            ("field.city=Krak%C3%B3w", &["+48600100200"]),
            ("field.vip=tak", &["+48600100200"]),
            ("field.age=30", &["+359881234567", "+48600100201"]),
            ("field.age=30&field.city=%C5%81%C3%B3d%C5%BA", &["+48600100201"]),
            ("q=lukasz", &["+48600100200"]),
            ("q=WASIK", &["+48600100200"]),
            ("q=%D0%B8%D0%B2%D0%B0%D0%BD", &["+48600300400"]),
            ("q=firma.pl", &["+48600100201"]),
            ("q=600%20300", &["+48600300400"]),
            ("q=100%25_", &["+359881234567"]),
            ("opted_out=true", &["+48600300400"]),
            ("opted_out=false&group=Kierowcy", &["+48600100200"]),
        ];
        for (query, want) in cases {
            let got = app.contacts(query).await;
            assert_eq!(phones(&got), *want, "{query}");
        }

        let (_, page1) = app.get("/api/v1/contacts?limit=3").await;
        assert_eq!(page1["contacts"].as_array().unwrap().len(), 3);
        assert_eq!(page1["contacts"][0]["phone"], "+359881234567", "newest first");
        let cursor = page1["next_cursor"].as_str().unwrap();
        let (_, page2) = app.get(&format!("/api/v1/contacts?limit=3&cursor={cursor}")).await;
        assert_eq!(page2["contacts"].as_array().unwrap().len(), 1);
        assert!(page2["next_cursor"].is_null());

        for (query, field) in [
            ("group=nope", "group"),
            ("tag=two%20words", "tag"),
            ("field.colour=red", "field.colour"),
            ("field.age=old", "field.age"),
            ("opted_out=maybe", "opted_out"),
            ("cursor=abc", "cursor"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("colour=red", "colour"),
        ] {
            let (status, resp) = app.get(&format!("/api/v1/contacts?{query}")).await;
            assert_eq!((status, resp["error"]["field"].as_str()), (400, Some(field)), "{query}: {resp}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bulk_upserts_create_and_update_by_number_or_external_id_with_per_row_errors() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        define_fields(&app).await;
        // Notes make the body larger than server.max_body_bytes (2 MiB): the
        // bulk endpoint has a limit of its own.
        let notes = "n".repeat(250);
        let mut rows: Vec<Value> = (0..10_000)
            .map(|i| json!({"phone": format!("+48600{i:06}"), "name": format!("Osoba {i}"), "external_id": format!("E{i}"), "notes": notes}))
            .collect();
        assert!(serde_json::to_vec(&json!({"contacts": rows})).unwrap().len() > 2 * 1024 * 1024);
        rows[10] = json!({"phone": "bogus"});
        rows[20] = json!({"phone": "+48600000021", "email": "nope"});
        rows[30] = json!({"name": "no number"});
        rows[40] = json!({"phone": "+48600000041", "fields": {"age": "old"}});
        rows[9_999] = json!({"phone": "+48600000000", "name": "Osoba 0, later"});
        let (status, resp) = app.post("/api/v1/contacts/bulk", json!({"contacts": rows})).await;
        assert_eq!(status, 200, "{}", resp.to_string().chars().take(500).collect::<String>());
        assert_eq!(resp["created"], 9_995);
        assert_eq!(resp["updated"], 1, "the last row merged into the first");
        let errors = common::item_errors(&resp, "field");
        assert_eq!(
            errors,
            [(10, "contacts[10].phone"), (20, "contacts[20].email"), (30, "contacts[30].phone"), (40, "contacts[40].fields.age")]
        );
        let first = by_phone(&app, "+48600000000").await;
        assert_eq!(first["name"], "Osoba 0, later");
        assert_eq!(first["external_id"], "E0", "a later row without a value keeps it");

        // By external id: the number may change; an unknown id with a new number creates.
        let (status, resp) = app
            .post(
                "/api/v1/contacts/bulk",
                json!({"match_by": "external_id", "contacts": [
                    {"external_id": "E1", "phone": "+48699000001", "fields": {"vip": true}},
                    {"external_id": "E2", "name": "Renamed"},
                    {"external_id": "NEW", "phone": "+48699000002"},
                    {"external_id": "E3", "phone": "+48600000004"},
                    {"external_id": "NOPE"},
                ]}),
            )
            .await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!((resp["created"].as_u64(), resp["updated"].as_u64()), (Some(1), Some(2)), "{resp}");
        let codes = common::item_errors(&resp, "code");
        assert_eq!(codes, [(3, "duplicate"), (4, "missing")]);
        assert_eq!(by_phone(&app, "+48699000001").await["fields"]["vip"], true);
        assert_eq!(by_phone(&app, "+48600000002").await["name"], "Renamed");

        // Atomic: one bad row stores nothing.
        let before = app.app.as_ref().unwrap().store.count_contacts(&account_id(&app).await).await.unwrap();
        let (status, resp) = app
            .post(
                "/api/v1/contacts/bulk",
                json!({"atomic": true, "contacts": [{"phone": "+48698000001"}, {"phone": "+48600000001", "external_id": "E5"}]}),
            )
            .await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("contacts[1].external_id")), "{resp}");
        let after = app.app.as_ref().unwrap().store.count_contacts(&account_id(&app).await).await.unwrap();
        assert_eq!(before, after);

        for (body, field) in [
            (json!({"contacts": []}), "contacts"),
            (json!({"contacts": (0..10_001).map(|i| json!({"phone": format!("+48600{i:06}")})).collect::<Vec<_>>()}), "contacts"),
            (json!({"contacts": [{}], "match_by": "name"}), "match_by"),
        ] {
            let (status, resp) = app.post("/api/v1/contacts/bulk", body).await;
            assert_eq!((status, resp["error"]["field"].as_str()), (422, Some(field)), "{resp}");
        }
        app.stop().await;
    })
    .await;
}

async fn by_phone(app: &TestApp, phone: &str) -> Value {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let list = app.contacts(&format!("q={digits}&limit=500")).await;
    list.into_iter().find(|c| c["phone"] == phone).unwrap_or_else(|| panic!("no contact {phone}"))
}

async fn account_id(app: &TestApp) -> String {
    app.get("/api/v1/account").await.1["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn custom_fields_are_defined_typed_and_removed_with_their_values() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        define_fields(&app).await;
        let (_, list) = app.get("/api/v1/contact-fields").await;
        let names: Vec<(&str, &str)> = list["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["kind"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [("age", "number"), ("city", "text"), ("member_since", "date"), ("vip", "boolean")]
        );
        for (body, status, field) in [
            (json!({"name": "City", "kind": "text"}), 409, "name"),
            (json!({"name": "phone", "kind": "text"}), 422, "name"),
            (json!({"name": "2nd", "kind": "text"}), 422, "name"),
            (json!({"name": "colour", "kind": "colour"}), 422, "kind"),
            (json!({"kind": "text"}), 422, "name"),
        ] {
            let (got, resp) = app.post("/api/v1/contact-fields", body.clone()).await;
            assert_eq!((got, resp["error"]["field"].as_str()), (status, Some(field)), "{body}: {resp}");
        }
        let c = app.create(json!({"phone": "+48600100200", "fields": {"city": "Gdańsk", "age": 7}})).await;
        let (status, _) = app.call("DELETE", "/api/v1/contact-fields/city", None).await;
        assert_eq!(status, 204);
        let (_, c) = app.get(&format!("/api/v1/contacts/{}", c["id"].as_str().unwrap())).await;
        assert_eq!(c["fields"], json!({"age": 7}));
        let (status, _) = app.call("DELETE", "/api/v1/contact-fields/city", None).await;
        assert_eq!(status, 404);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn groups_count_their_members_and_deleting_a_group_keeps_its_contacts() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (status, g) =
            app.post("/api/v1/groups", json!({"name": "Night shift", "description": "22-06"})).await;
        assert_eq!(status, 201);
        let gid = g["id"].as_str().unwrap().to_owned();
        for (body, status, code) in [
            (json!({"name": "NIGHT SHIFT"}), 409, "duplicate"),
            (json!({"name": "  "}), 422, "invalid_field"),
            (json!({}), 422, "invalid_field"),
            (json!({"name": "x".repeat(101)}), 422, "invalid_field"),
        ] {
            let (got, resp) = app.post("/api/v1/groups", body.clone()).await;
            assert_eq!((got, resp["error"]["code"].as_str()), (status, Some(code)), "{body}");
        }
        let a = app.create(json!({"phone": "+48600100200"})).await;
        let b2 = app.create(json!({"phone": "+48600100201"})).await;
        app.create(json!({"phone": "+48600100202"})).await;
        let members = format!("/api/v1/groups/{gid}/members");
        let (status, resp) = app
            .post(
                &members,
                json!({
                    "contact_ids": [a["id"], "01234567-89ab-7def-8123-456789abcdef", "junk"],
                    "phones": ["+48 600 100 201", "+48600100202", "+48600999999", "abc"],
                }),
            )
            .await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!((resp["changed"].as_u64(), resp["members"].as_i64()), (Some(3), Some(3)));
        let errors: Vec<(&str, &str)> = resp["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(
            errors,
            [
                ("contact_ids[1]", "not_found"),
                ("contact_ids[2]", "not_found"),
                ("phones[2]", "not_found"),
                ("phones[3]", "invalid_number")
            ]
        );
        let (_, again) = app.post(&members, json!({"phones": ["+48600100200"]})).await;
        assert_eq!((again["changed"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(1)));

        let (status, resp) = app.call("DELETE", &members, Some(json!({"contact_ids": [b2["id"]]}))).await;
        assert_eq!((status, resp["changed"].as_u64(), resp["members"].as_i64()), (200, Some(1), Some(2)));
        let (_, list) = app.get("/api/v1/groups").await;
        assert_eq!(list["groups"][0]["members"], 2);

        let (status, renamed) = app
            .call(
                "PATCH",
                &format!("/api/v1/groups/{gid}"),
                Some(json!({"name": "Nights", "description": null})),
            )
            .await;
        assert_eq!(
            (status, renamed["name"].as_str(), &renamed["description"]),
            (200, Some("Nights"), &Value::Null)
        );

        let (status, _) = app.call("DELETE", &format!("/api/v1/groups/{gid}"), None).await;
        assert_eq!(status, 204);
        assert_eq!(app.contacts("").await.len(), 3, "the contacts stay");
        let (status, _) = app.get(&format!("/api/v1/groups/{gid}")).await;
        assert_eq!(status, 404);
        let (status, _) = app.post(&members, json!({"phones": ["+48600100200"]})).await;
        assert_eq!(status, 404);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn tags_are_subscribed_case_insensitively_in_any_script() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let a = app.create(json!({"phone": "+48600100200"})).await;
        let b2 = app.create(json!({"phone": "+48600100201", "tags": ["awaria"]})).await;
        let a_tags = format!("/api/v1/contacts/{}/tags", a["id"].as_str().unwrap());
        for tag in ["%23Awaria", "%D0%90%D0%B2%D0%B0%D1%80%D0%B8%D1%8F", "awaria"] {
            let (status, resp) = app.call("PUT", &format!("{a_tags}/{tag}"), None).await;
            assert_eq!(status, 204, "{tag}: {resp}");
        }
        assert_eq!(phones(&app.contacts("tag=AWARIA").await), ["+48600100200", "+48600100201"]);
        assert_eq!(phones(&app.contacts("tag=%D0%B0%D0%B2%D0%B0%D1%80%D0%B8%D1%8F").await), ["+48600100200"]);
        let (status, _) = app.call("DELETE", &format!("{a_tags}/AWARIA"), None).await;
        assert_eq!(status, 204);
        assert_eq!(phones(&app.contacts("tag=awaria").await), ["+48600100201"]);
        let (status, resp) = app.call("PUT", &format!("{a_tags}/two%20words"), None).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("tag")));
        let (status, _) =
            app.call("PUT", "/api/v1/contacts/01234567-89ab-7def-8123-456789abcdef/tags/x", None).await;
        assert_eq!(status, 404);
        let (_, b_now) = app.get(&format!("/api/v1/contacts/{}", b2["id"].as_str().unwrap())).await;
        assert_eq!(b_now["tags"], json!(["awaria"]));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_bulk_upserts_of_the_same_numbers_make_one_contact_each() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let mut calls = Vec::new();
        for writer in 0..4 {
            let (http, url) = (app.http.clone(), app.url("/api/v1/contacts/bulk"));
            let mut rows: Vec<Value> = (0..500)
                .map(|i| json!({"phone": format!("+48600{i:06}"), "notes": format!("writer {writer}")}))
                .collect();
            if writer % 2 == 1 {
                rows.reverse();
            }
            calls.push(tokio::spawn(async move {
                let resp = http
                    .post(url)
                    .bearer_auth(API_KEY)
                    .json(&json!({"contacts": rows}))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap();
                (status, body)
            }));
        }
        let mut created = 0;
        for c in calls {
            let (status, body) = c.await.unwrap();
            assert_eq!(status, 200, "{body}");
            assert!(body["errors"].as_array().unwrap().is_empty(), "{body}");
            created += body["created"].as_u64().unwrap();
        }
        assert_eq!(created, 500, "each number was created once");
        let store = &app.app.as_ref().unwrap().store;
        assert_eq!(store.count_contacts(&account_id(&app).await).await.unwrap(), 500);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_address_book() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let doc: Value =
            app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        for path in [
            "/api/v1/contacts",
            "/api/v1/contacts/{id}",
            "/api/v1/contacts/bulk",
            "/api/v1/contacts/{id}/tags/{tag}",
            "/api/v1/contact-fields",
            "/api/v1/groups/{id}/members",
            "/api/v1/imports",
            "/api/v1/imports/{id}/errors.csv",
            "/api/v1/exports/contacts.xlsx",
            "/api/v1/exports/messages.csv",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        assert!(doc["components"]["schemas"]["ContactView"].is_object());
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_history_filters_by_contact_and_by_group() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (_, group) = app.post("/api/v1/groups", json!({"name": "Drivers"})).await;
        let gid = group["id"].as_str().unwrap().to_owned();
        let (_, anna) =
            app.post("/api/v1/contacts", json!({"phone": "+48600100201", "groups": ["Drivers"]})).await;
        let (_, bob) = app.post("/api/v1/contacts", json!({"phone": "+48600100202"})).await;
        for to in ["+48600100201", "+48600100202", "+48600100203"] {
            app.send(json!({"to": to, "text": "shift change"})).await;
        }
        let count = |v: &serde_json::Value| v["messages"].as_array().unwrap().len();
        let anna_id = anna["id"].as_str().unwrap();
        let bob_id = bob["id"].as_str().unwrap();
        assert_eq!(count(&app.get(&format!("/api/v1/messages?contact={anna_id}")).await.1), 1);
        assert_eq!(count(&app.get(&format!("/api/v1/messages?contact={bob_id}")).await.1), 1);
        assert_eq!(count(&app.get(&format!("/api/v1/messages?group={gid}")).await.1), 1);
        let (status, err) = app.get("/api/v1/messages?group=drivers").await;
        assert_eq!((status, err["error"]["field"].as_str()), (400, Some("group")));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn sending_to_groups_and_tags_reaches_their_members_once_and_skips_opted_out() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        app.post("/api/v1/groups", json!({"name": "Drivers"})).await;
        for (phone, groups, tags, opted_out) in [
            ("+48600100201", vec!["Drivers"], vec!["nocna"], false),
            ("+48600100202", vec!["Drivers"], vec![], false),
            ("+48600100203", vec!["Drivers"], vec![], true),
            ("+48600100204", vec![], vec!["Nocna"], false),
        ] {
            let (status, c) = app
                .post("/api/v1/contacts", json!({"phone": phone, "groups": groups, "tags": tags, "opted_out": opted_out}))
                .await;
            assert_eq!(status, 201, "{c}");
        }
        let (status, resp) = app
            .post(
                "/api/v1/messages",
                json!({"to": ["+48600100202"], "to_groups": ["drivers"], "to_tags": ["#nocna"], "text": "Shift starts at 22:00"}),
            )
            .await;
        assert_eq!(status, 202, "{resp}");
        let mut to: Vec<&str> = resp["messages"].as_array().unwrap().iter().map(|m| m["to"].as_str().unwrap()).collect();
        to.sort();
        assert_eq!(to, ["+48600100201", "+48600100202", "+48600100204"]);
        assert_eq!(resp["errors"].as_array().unwrap().len(), 0, "overlaps are not errors: {resp}");

        let (status, resp) = app.post("/api/v1/messages", json!({"to_groups": ["Nobody"], "text": "x"})).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("to_groups[0]")));
        app.post("/api/v1/groups", json!({"name": "Empty"})).await;
        let (status, resp) = app.post("/api/v1/messages", json!({"to_groups": ["Empty"], "text": "x"})).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("to_groups")));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn opting_a_number_out_by_hand_cancels_what_waits_for_it_whichever_way_it_is_done() {
    on_each_backend(|b| async move {
        let app = TestApp::start(&b).await;
        let (s, sender) = app.post("/api/v1/sender-ids", json!({"sender": "Kurier", "default": true})).await;
        assert_eq!(s, 201, "{sender}");
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        // (number, how it is opted out, the reason its waiting message shows).
        let ways = [
            ("+48600300001", "contact edited", "the recipient was opted out on its contact"),
            ("+48600300002", "contact created", "the recipient was opted out on its contact"),
            ("+48600300003", "opt-outs API", "the recipient was opted out through the API"),
            ("+48600300004", "import", "the recipient was opted out on its contact"),
        ];
        let mut waiting = Vec::new();
        for (phone, _, _) in ways {
            let sale = app.send(json!({"to": phone, "text": "Sale at noon", "send_at": later})).await;
            let visit = app
                .send(json!({"to": phone, "text": "Your visit at noon", "send_at": later, "transactional": true}))
                .await;
            waiting.push((sale, visit));
        }
        let others = app.send(json!({"to": "+48600300009", "text": "Sale at noon", "send_at": later})).await;
        let now = app.send(json!({"to": ways[0].0, "text": "Sale now"})).await;
        app.wait_for_status(&now, "delivered").await;

        let edited = app.create(json!({"phone": ways[0].0})).await;
        let (s, c) =
            app.patch(&format!("/api/v1/contacts/{}", edited["id"].as_str().unwrap()), json!({"opted_out": true})).await;
        assert_eq!(s, 200, "{c}");
        app.create(json!({"phone": ways[1].0, "opted_out": true})).await;
        let (s, o) = app.post("/api/v1/opt-outs", json!({"phone": ways[2].0})).await;
        assert_eq!(s, 201, "{o}");
        let job: Value = app
            .http
            .post(app.url("/api/v1/imports"))
            .bearer_auth(API_KEY)
            .header("content-type", "text/csv")
            .body(format!("phone,opted_out\n{},yes\n", ways[3].0))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut status = Value::Null;
        for _ in 0..500 {
            let (_, j) = app.get(&format!("/api/v1/imports/{}", job["id"].as_str().unwrap())).await;
            status = j["status"].clone();
            if status == "completed" || status == "failed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(status, "completed", "{job}");

        for ((phone, way, why), (sale, visit)) in ways.iter().zip(&waiting) {
            let (_, m) = app.get(&format!("/api/v1/messages/{sale}")).await;
            assert_eq!(m["status"], "canceled", "{way}: {m}");
            let last = m["events"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["detail"], *why, "{way}: {m}");
            let (_, v) = app.get(&format!("/api/v1/messages/{visit}")).await;
            assert_eq!(v["status"], "scheduled", "{way} ({phone}): the transactional one waits on");
        }
        let (_, m) = app.get(&format!("/api/v1/messages/{others}")).await;
        assert_eq!(m["status"], "scheduled", "another number's message waits on");
        let (_, m) = app.get(&format!("/api/v1/messages/{now}")).await;
        assert_eq!(m["status"], "delivered", "what was sent stays sent");
        app.stop().await;
    })
    .await;
}
