//! Users and who may do what, as an admin and their colleagues meet it over
//! HTTP: users with roles and groups, signing in to the web UI with a
//! password (lockout, no user enumeration, sessions with CSRF tokens),
//! password resets, API keys per user with scopes and IP allow-lists.

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, Backend, TestApp, on_each_backend};
use serde_json::{Value, json};

/// Calls the API with `key`.
async fn call(app: &TestApp, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    app.call_as(key, method, path, body).await
}

/// Creates a user with `role` and password `<username>-password`; its id.
async fn user(app: &TestApp, username: &str, role: &str) -> String {
    let body = json!({"username": username, "role": role, "password": format!("{username}-password")});
    let (status, resp) = app.post("/api/v1/users", body).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["password"], Value::Null, "a given password is not echoed");
    resp["user"]["id"].as_str().unwrap().to_owned()
}

/// A new API key for user `id` with `scopes`; the key.
async fn key_for(app: &TestApp, id: &str, scopes: Value, allowed_ips: Value) -> String {
    let body = json!({"name": "k", "user_id": id, "scopes": scopes, "allowed_ips": allowed_ips});
    let (status, resp) = app.post("/api/v1/api-keys", body).await;
    assert_eq!(status, 201, "{resp}");
    resp["key"].as_str().unwrap().to_owned()
}

fn message() -> Value {
    json!({"to": "+48600100200", "text": "hello"})
}

/// A browser without JavaScript: a cookie jar of one session.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: app.base.clone(), cookie: String::new(), csrf: String::new() }
    }

    /// Posts the sign-in form; the answer's status and `Set-Cookie`.
    async fn sign_in_with(
        &mut self,
        username: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}/signin", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("username", username), ("password", password)]));
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let set_cookie =
            resp.headers().get("set-cookie").map(|c| c.to_str().unwrap().to_owned()).unwrap_or_default();
        if let Some(pair) = set_cookie.split(';').next().filter(|p| p.starts_with("kurier_session=")) {
            self.cookie = pair.to_owned();
        }
        (status, set_cookie)
    }

    async fn sign_in(&mut self, username: &str, password: &str) {
        let (status, _) = self.sign_in_with(username, password, &[]).await;
        assert_eq!(status, 303, "{username} signs in");
        let page = self.get("/").await;
        assert_eq!(page.0, 200);
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        if let Some(i) = body.find("_csrf=") {
            let token: String = body[i + 6..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            if !token.is_empty() {
                self.csrf = token;
            }
        }
        (status, body)
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)], csrf: bool) -> (u16, String) {
        let url = if csrf {
            format!("{}{path}?_csrf={}", self.base, self.csrf)
        } else {
            format!("{}{path}", self.base)
        };
        let resp = self
            .http
            .post(url)
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(form))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }
}

/// A form encoded as a browser sends it.
fn form_body(form: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

#[tokio::test]
async fn the_first_admin_signs_in_to_the_web_ui_with_the_printed_password() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let mut b = Browser::new(&app);
        let (status, cookie) = b.sign_in_with("admin", ADMIN_PASSWORD, &[]).await;
        assert_eq!(status, 303);
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP gets no Secure cookie: {cookie}");
        let (_, page) = b.get("/").await;
        assert!(page.contains("admin · owner"), "the page names the user and role");
        // Behind a TLS-terminating proxy the cookie is Secure.
        let (_, cookie) =
            Browser::new(&app).sign_in_with("Admin", ADMIN_PASSWORD, &[("x-forwarded-proto", "https")]).await;
        assert!(cookie.contains("; Secure"), "{cookie}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_session_needs_its_csrf_token_and_ends_with_sign_out() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let mut b = Browser::new(&app);
        b.sign_in("admin", ADMIN_PASSWORD).await;
        let (status, _) = b.post("/contacts", &[("phone", "+48600100201")], false).await;
        assert_eq!(status, 403, "a form without the session's token is refused");
        let (status, _) = b.post("/signout", &[], true).await;
        assert_eq!(status, 303);
        let (status, _) = b.get("/").await;
        assert_eq!(status, 303, "the old cookie no longer opens a page");
        // A forged token is no session either.
        b.cookie = "kurier_session=00ff".into();
        assert_eq!(b.get("/").await.0, 303);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn wrong_passwords_lock_a_user_and_never_tell_whether_a_user_exists() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let anna = user(&app, "anna", "sender").await;
        let mut b = Browser::new(&app);
        let (unknown_status, _) = b.sign_in_with("nobody", "whatever-password", &[]).await;
        let (_, unknown_page) =
            (unknown_status, b.post("/signin", &[("username", "nobody"), ("password", "x")], false).await.1);
        let (wrong_status, _) = b.sign_in_with("anna", "wrong-password", &[]).await;
        let (_, wrong_page) = b.post("/signin", &[("username", "anna"), ("password", "y")], false).await;
        assert_eq!(unknown_status, 401);
        assert_eq!(wrong_status, 401);
        assert_eq!(unknown_page, wrong_page, "the same page for an unknown user and a wrong password");

        // An unknown user costs about as much as a wrong password (a dummy hash is checked).
        let time = |username: &'static str| {
            let b = Browser::new(&app);
            async move {
                let mut b = b;
                let mut took = Vec::new();
                for _ in 0..3 {
                    let t = Instant::now();
                    b.sign_in_with(username, "not-the-password", &[]).await;
                    took.push(t.elapsed());
                }
                took.sort();
                took[1]
            }
        };
        let unknown = time("ghost").await;
        let known = time("admin").await;
        assert!(unknown * 3 > known, "unknown user {unknown:?} vs wrong password {known:?}");
        // Those were admin's failures 1-3; a good sign-in resets the count.
        b.sign_in("admin", ADMIN_PASSWORD).await;

        // anna has 2 failures; 3 more lock her, and then even her password is refused.
        for _ in 0..3 {
            assert_eq!(b.sign_in_with("anna", "wrong-password", &[]).await.0, 401);
        }
        assert_eq!(b.sign_in_with("anna", "anna-password", &[]).await.0, 401, "locked");
        let (_, shown) = app.get(&format!("/api/v1/users/{anna}")).await;
        assert!(shown["locked_until"].is_string(), "{shown}");

        // An admin's reset unlocks her with a new password, generated and shown once.
        let (status, reset) = app.post(&format!("/api/v1/users/{anna}/password"), json!({})).await;
        assert_eq!(status, 200, "{reset}");
        let password = reset["password"].as_str().unwrap().to_owned();
        assert_eq!(reset["user"]["locked_until"], Value::Null);
        assert_eq!(b.sign_in_with("anna", "anna-password", &[]).await.0, 401, "the old password is gone");
        b.sign_in("anna", &password).await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_password_reset_or_disabling_ends_the_users_sessions() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let bob = user(&app, "bob", "sender").await;
        let mut b = Browser::new(&app);
        // A sign-in form another site sent (login CSRF) is refused.
        let (status, page) = b.sign_in_with("bob", "bob-password", &[("sec-fetch-site", "cross-site")]).await;
        assert_eq!(status, 403, "{page}");
        assert_eq!(b.get("/").await.0, 303, "not signed in");
        let (status, _) = b.sign_in_with("bob", "bob-password", &[("sec-fetch-site", "same-origin")]).await;
        assert_eq!(status, 303, "Kurier's own page signs in");
        let (status, _) =
            app.post(&format!("/api/v1/users/{bob}/password"), json!({"password": "a brand new one"})).await;
        assert_eq!(status, 200);
        assert_eq!(b.get("/").await.0, 303, "signed out by the reset");
        b.sign_in("bob", "a brand new one").await;
        let (status, resp) = app.patch(&format!("/api/v1/users/{bob}"), json!({"disabled": true})).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["disabled"], true);
        assert_eq!(b.get("/").await.0, 303, "signed out by disabling");
        assert_eq!(
            b.sign_in_with("bob", "a brand new one", &[]).await.0,
            401,
            "a disabled user can't sign in"
        );
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn roles_decide_what_a_user_may_do_through_the_api_and_the_ui() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let all = json!(["read", "send", "manage"]);
        let viewer = key_for(&app, &user(&app, "vera", "viewer").await, all.clone(), json!([])).await;
        let sender = key_for(&app, &user(&app, "sam", "sender").await, all.clone(), json!([])).await;
        let admin = key_for(&app, &user(&app, "ada", "admin").await, all.clone(), json!([])).await;

        assert_eq!(call(&app, &viewer, "GET", "/api/v1/messages", None).await.0, 200);
        let (status, resp) = call(&app, &viewer, "POST", "/api/v1/messages", Some(message())).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("forbidden")), "{resp}");
        let contact = json!({"phone": "+48600100299"});
        assert_eq!(call(&app, &viewer, "POST", "/api/v1/contacts", Some(contact.clone())).await.0, 403);

        assert_eq!(call(&app, &sender, "POST", "/api/v1/messages", Some(message())).await.0, 202);
        assert_eq!(call(&app, &sender, "POST", "/api/v1/contacts", Some(contact)).await.0, 201);
        let new_user = json!({"username": "x1", "role": "viewer"});
        assert_eq!(call(&app, &sender, "POST", "/api/v1/users", Some(new_user.clone())).await.0, 403);
        assert_eq!(call(&app, &sender, "GET", "/api/v1/users", None).await.0, 403);
        assert_eq!(call(&app, &viewer, "GET", "/api/v1/api-keys", None).await.0, 403);
        // The secret that signs callbacks and preference links is the
        // managers' alone: a viewer or sender (or a key without the manage
        // scope) could otherwise forge both.
        for key in [&viewer, &sender] {
            let (status, account) = call(&app, key, "GET", "/api/v1/account", None).await;
            assert_eq!((status, &account["webhook_secret"]), (200, &serde_json::Value::Null), "{account}");
        }
        let (_, account) = call(&app, &admin, "GET", "/api/v1/account", None).await;
        assert!(account["webhook_secret"].as_str().is_some_and(|s| s.len() >= 32), "{account}");
        let reader = key_for(&app, &user(&app, "rita", "admin").await, json!(["read"]), json!([])).await;
        let (_, account) = call(&app, &reader, "GET", "/api/v1/account", None).await;
        assert_eq!(
            account["webhook_secret"],
            serde_json::Value::Null,
            "a read-only key of an admin: {account}"
        );

        let (status, made) = call(&app, &admin, "POST", "/api/v1/users", Some(new_user)).await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["password"].as_str().map(str::len), Some(20), "a generated password is shown once");
        let owner = json!({"username": "x2", "role": "owner"});
        let (status, resp) = call(&app, &admin, "POST", "/api/v1/users", Some(owner)).await;
        assert_eq!(status, 403, "only an owner makes an owner: {resp}");

        // In the web UI the viewer reads but cannot send.
        let mut b = Browser::new(&app);
        b.sign_in("vera", "vera-password").await;
        assert_eq!(b.get("/compose").await.0, 200);
        let (status, page) = b.post("/compose", &[("to", "+48600100200"), ("text", "hi")], true).await;
        assert_eq!(status, 403, "{page}");
        assert_eq!(b.get("/users").await.0, 403);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_last_owner_stays_an_owner() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let (_, users) = app.get("/api/v1/users").await;
        let admin = users["users"][0]["id"].as_str().unwrap().to_owned();
        let (status, resp) = app.patch(&format!("/api/v1/users/{admin}"), json!({"role": "admin"})).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (409, Some("last_owner")));
        let (status, _) = app.patch(&format!("/api/v1/users/{admin}"), json!({"disabled": true})).await;
        assert_eq!(status, 409);
        let other = user(&app, "olga", "owner").await;
        let others = key_for(&app, &other, json!(["manage"]), json!([])).await;
        let (status, resp) = app.patch(&format!("/api/v1/users/{admin}"), json!({"role": "admin"})).await;
        assert_eq!(status, 200, "with another owner: {resp}");
        let (_, resp) = app.get(&format!("/api/v1/users/{other}")).await;
        assert_eq!(resp["role"], "owner");
        // Two owners demoting each other at once (each with their own key):
        // one of them stays an owner.
        let admins = common::API_KEY.to_owned();
        let (admin_path, other_path) = (format!("/api/v1/users/{admin}"), format!("/api/v1/users/{other}"));
        let (status, _) = call(&app, &others, "PATCH", &admin_path, Some(json!({"role": "owner"}))).await;
        assert_eq!(status, 200);
        for _ in 0..10 {
            let demote = Some(json!({"role": "admin"}));
            let ((a, _), (b, _)) = tokio::join!(
                call(&app, &others, "PATCH", &admin_path, demote.clone()),
                call(&app, &admins, "PATCH", &other_path, demote)
            );
            assert!(
                (a == 200) != (b == 200) && [a, b].iter().all(|s| [200, 403, 409].contains(s)),
                "exactly one demotion goes through: {a} {b}"
            );
            let promote = Some(json!({"role": "owner"}));
            let (status, resp) = if a == 200 {
                call(&app, &others, "PATCH", &admin_path, promote).await
            } else {
                call(&app, &admins, "PATCH", &other_path, promote).await
            };
            assert_eq!(status, 200, "{resp}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_user_input_is_refused_and_changes_nothing() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        user(&app, "taken", "viewer").await;
        let cases = [
            (json!({"username": "", "role": "viewer"}), 422, "username"),
            (json!({"username": "a b", "role": "viewer"}), 422, "username"),
            (json!({"username": "ok", "role": "root"}), 422, "role"),
            (json!({"username": "ok"}), 422, "role"),
            (json!({"username": "ok", "role": "viewer", "password": "short"}), 422, "password"),
            (json!({"username": "TAKEN", "role": "viewer"}), 409, "username"),
            (json!({"username": "ok", "role": "viewer", "admin": true}), 422, ""),
        ];
        for (body, status, field) in cases {
            let (got, resp) = app.post("/api/v1/users", body.clone()).await;
            assert_eq!(got, status, "{body} -> {resp}");
            if !field.is_empty() {
                assert_eq!(resp["error"]["field"], field, "{body} -> {resp}");
            }
        }
        let (_, users) = app.get("/api/v1/users").await;
        assert_eq!(users["users"].as_array().unwrap().len(), 2, "admin and taken only");
        assert_eq!(app.get("/api/v1/users/not-an-id").await.0, 404);
        assert_eq!(app.get("/api/v1/users/0190f5a0-0000-7000-8000-000000000000").await.0, 404);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn user_groups_hold_users_of_the_account() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        user(&app, "dan", "sender").await;
        user(&app, "eve", "sender").await;
        let (status, g) =
            app.post("/api/v1/user-groups", json!({"name": "Dispatchers", "members": ["dan", "Eve"]})).await;
        assert_eq!(status, 201, "{g}");
        assert_eq!(g["members"], json!(["dan", "eve"]));
        let (status, resp) = app.post("/api/v1/user-groups", json!({"name": "Dispatchers"})).await;
        assert_eq!(status, 409, "{resp}");
        let (status, resp) = app.post("/api/v1/user-groups", json!({"name": "X", "members": ["zed"]})).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("members[0]")));
        let id = g["id"].as_str().unwrap();
        let (status, g) = app
            .put_json(&format!("/api/v1/user-groups/{id}"), json!({"name": "Night", "members": ["dan"]}))
            .await;
        assert_eq!((status, &g["members"]), (200, &json!(["dan"])));
        let (_, users) = app.get("/api/v1/users").await;
        let dan = users["users"].as_array().unwrap().iter().find(|u| u["username"] == "dan").unwrap();
        assert_eq!(dan["groups"], json!(["Night"]));
        // A user's own groups are set with the user, by group id or name,
        // in one change; an unknown group changes nothing.
        let dan_id = dan["id"].as_str().unwrap().to_owned();
        let (_, day) = app.post("/api/v1/user-groups", json!({"name": "Day"})).await;
        let (status, u) = app
            .patch(&format!("/api/v1/users/{dan_id}"), json!({"groups": ["Day", id], "role": "viewer"}))
            .await;
        assert_eq!(status, 200, "{u}");
        let mut groups: Vec<&str> =
            u["groups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
        groups.sort_unstable();
        assert_eq!((groups, u["role"].as_str()), (vec!["Day", "Night"], Some("viewer")));
        let (status, resp) = app
            .patch(&format!("/api/v1/users/{dan_id}"), json!({"groups": ["Day", "Nobody"], "role": "sender"}))
            .await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("groups[1]")), "{resp}");
        let (_, u) = app.get(&format!("/api/v1/users/{dan_id}")).await;
        assert_eq!((u["groups"].as_array().unwrap().len(), u["role"].as_str()), (2, Some("viewer")));
        let (status, u) = app.patch(&format!("/api/v1/users/{dan_id}"), json!({"groups": [day["id"]]})).await;
        assert_eq!((status, &u["groups"]), (200, &json!(["Day"])));
        let (_, all) = app.get("/api/v1/user-groups").await;
        let night = all["groups"].as_array().unwrap().iter().find(|g| g["id"] == id).unwrap();
        assert_eq!(night["members"], json!([]), "left Night: {all}");
        let resp = app
            .http
            .delete(app.url(&format!("/api/v1/user-groups/{id}")))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let (_, groups) = app.get("/api/v1/user-groups").await;
        let names: Vec<&str> =
            groups["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Day"], "Night is gone");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn admins_leave_owners_keys_quota_and_details_alone() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let (_, users) = app.get("/api/v1/users").await;
        let owner = users["users"][0]["id"].as_str().unwrap().to_owned();
        let ada = user(&app, "ada", "admin").await;
        let sam = user(&app, "sam", "sender").await;
        let owners_key_id = {
            key_for(&app, &owner, json!(["read"]), json!([])).await;
            let (_, keys) = app.get("/api/v1/api-keys").await;
            let keys = keys["keys"].as_array().unwrap().clone();
            keys.iter().find(|k| k["user_id"] == owner.as_str()).unwrap()["id"].as_str().unwrap().to_owned()
        };
        let sams_key_id = {
            key_for(&app, &sam, json!(["read"]), json!([])).await;
            let (_, keys) = app.get("/api/v1/api-keys").await;
            let keys = keys["keys"].as_array().unwrap().clone();
            keys.iter().find(|k| k["user_id"] == sam.as_str()).unwrap()["id"].as_str().unwrap().to_owned()
        };
        let admin = key_for(&app, &ada, json!(["read", "manage"]), json!([])).await;
        let as_admin = |method: &'static str, path: String, body: Option<Value>| {
            let admin = admin.clone();
            let app = &app;
            async move { call(app, &admin, method, &path, body).await }
        };
        for (method, path, body) in [
            ("DELETE", format!("/api/v1/api-keys/{owners_key_id}"), None),
            ("PUT", format!("/api/v1/billing/quotas/{owner}"), Some(json!({"monthly_segments": 0}))),
            ("PATCH", format!("/api/v1/users/{owner}"), Some(json!({"display_name": "Mallory"}))),
        ] {
            let (status, resp) = as_admin(method, path.clone(), body).await;
            assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {path}");
        }
        let (_, shown) = app.get(&format!("/api/v1/users/{owner}")).await;
        assert_ne!(shown["display_name"], "Mallory");
        // Everyone else's are theirs to manage.
        assert_eq!(as_admin("DELETE", format!("/api/v1/api-keys/{sams_key_id}"), None).await.0, 204);
        let quota = Some(json!({"monthly_segments": 5}));
        assert_eq!(as_admin("PUT", format!("/api/v1/billing/quotas/{sam}"), quota).await.0, 200);
        let name = Some(json!({"display_name": "Sam"}));
        assert_eq!(as_admin("PATCH", format!("/api/v1/users/{sam}"), name).await.0, 200);
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_key_makes_keys_only_within_its_own_scopes_and_addresses() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let ada = user(&app, "ada", "admin").await;
        let limited = key_for(&app, &ada, json!(["read", "manage"]), json!(["127.0.0.0/8"])).await;
        let make = |body: Value| call(&app, &limited, "POST", "/api/v1/api-keys", Some(body));
        let (status, made) = make(json!({"name": "by default"})).await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(
            (&made["scopes"], &made["allowed_ips"]),
            (&json!(["read", "manage"]), &json!(["127.0.0.0/8"]))
        );
        let (status, made) =
            make(json!({"name": "narrower", "scopes": ["read"], "allowed_ips": ["127.0.0.1"]})).await;
        assert_eq!((status, &made["scopes"]), (201, &json!(["read"])), "{made}");
        for (body, field) in [
            (json!({"name": "k", "scopes": ["read", "send"]}), "scopes[1]"),
            (json!({"name": "k", "allowed_ips": ["10.0.0.0/8"]}), "allowed_ips[0]"),
            (json!({"name": "k", "allowed_ips": ["127.0.0.1", "0.0.0.0/0"]}), "allowed_ips[1]"),
        ] {
            let (status, resp) = make(body.clone()).await;
            assert_eq!((status, resp["error"]["field"].as_str()), (422, Some(field)), "{body} -> {resp}");
        }
        // The account's own key (every scope, any address) is not limited.
        let (status, made) =
            app.post("/api/v1/api-keys", json!({"name": "wide", "user_id": ada, "scopes": ["send"]})).await;
        assert_eq!(status, 201, "{made}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn api_keys_have_scopes_ip_allow_lists_and_are_revocable() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let sam = user(&app, "sam", "sender").await;
        let read_only = key_for(&app, &sam, json!(["read"]), json!([])).await;
        assert_eq!(call(&app, &read_only, "GET", "/api/v1/messages", None).await.0, 200);
        let (status, resp) = call(&app, &read_only, "POST", "/api/v1/messages", Some(message())).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("scope_missing")));

        let elsewhere = key_for(&app, &sam, json!(["read", "send"]), json!(["10.0.0.0/8"])).await;
        let (status, resp) = call(&app, &elsewhere, "GET", "/api/v1/messages", None).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("ip_not_allowed")));
        let here = key_for(&app, &sam, json!(["send"]), json!(["127.0.0.1", "::1"])).await;
        assert_eq!(call(&app, &here, "POST", "/api/v1/messages", Some(message())).await.0, 202);

        // Listed without the key itself, with its last use.
        let (_, keys) = app.get("/api/v1/api-keys").await;
        let listed = keys["keys"].as_array().unwrap();
        assert!(!keys.to_string().contains(&here), "a key is never shown again");
        let entry = listed
            .iter()
            .find(|k| here.starts_with(k["prefix"].as_str().unwrap()) && k["scopes"] == json!(["send"]))
            .unwrap();
        assert!(entry["last_used_at"].is_string(), "{entry}");
        let id = entry["id"].as_str().unwrap();
        let resp = app
            .http
            .delete(app.url(&format!("/api/v1/api-keys/{id}")))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        assert_eq!(call(&app, &here, "GET", "/api/v1/messages", None).await.0, 401, "revoked");

        for (body, field) in [
            (json!({"name": "k", "user_id": sam, "scopes": ["write"]}), "scopes[0]"),
            (json!({"name": "k", "user_id": sam, "scopes": []}), "scopes"),
            (json!({"name": "k", "user_id": sam, "allowed_ips": ["10.0.0.0/33"]}), "allowed_ips[0]"),
            (json!({"name": "k", "user_id": sam, "allowed_ips": ["example.com"]}), "allowed_ips[0]"),
            (json!({"name": "", "user_id": sam}), "name"),
            (json!({"name": "k", "user_id": "nobody"}), "user_id"),
        ] {
            let (status, resp) = app.post("/api/v1/api-keys", body.clone()).await;
            assert_eq!((status, resp["error"]["field"].as_str()), (422, Some(field)), "{body} -> {resp}");
        }
        // A disabled user's keys stop working.
        let key = key_for(&app, &sam, json!(["read"]), json!([])).await;
        app.patch(&format!("/api/v1/users/{sam}"), json!({"disabled": true})).await;
        assert_eq!(call(&app, &key, "GET", "/api/v1/messages", None).await.0, 401);
        tokio::time::sleep(Duration::from_millis(1)).await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn expired_and_revoked_keys_are_refused_with_a_reason() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let clock = app.app.as_ref().unwrap().clock.clone();
        let sam = user(&app, "sam", "sender").await;
        let in_a_day = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let (status, made) = app
            .post("/api/v1/api-keys", json!({"name": "for a day", "user_id": sam, "expires_at": in_a_day}))
            .await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["state"], "active");
        assert!(made["expires_at"].as_str().unwrap().ends_with('Z'), "{made}");
        let key = made["key"].as_str().unwrap().to_owned();
        let id = made["id"].as_str().unwrap().to_owned();
        // Within its expiry it works and its use is recorded.
        assert_eq!(call(&app, &key, "GET", "/api/v1/messages", None).await.0, 200);
        let listed =
            |keys: &Value| keys["keys"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).cloned();
        let (_, keys) = app.get("/api/v1/api-keys").await;
        let before = listed(&keys).unwrap();
        assert_eq!(before["state"], "active", "{before}");
        let used = before["last_used_at"].as_str().expect("last use recorded").to_owned();

        // Two days later it is refused, says why, and its last use stays.
        clock.set(chrono::Utc::now() + chrono::Duration::days(2));
        let (status, resp) = call(&app, &key, "GET", "/api/v1/messages", None).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (401, Some("api_key_expired")), "{resp}");
        assert!(
            resp["error"]["message"].as_str().is_some_and(|m| m.starts_with("this API key expired at ")),
            "says when: {resp}"
        );
        assert!(resp["error"]["message"].as_str().unwrap().contains("expired"), "{resp}");
        let (status, _) = call(&app, &key, "POST", "/api/v1/messages", Some(message())).await;
        assert_eq!(status, 401);
        let (_, keys) = app.get("/api/v1/api-keys").await;
        let after = listed(&keys).unwrap();
        assert_eq!(after["state"], "expired", "{after}");
        assert_eq!(after["last_used_at"], used.as_str(), "an expired key's use is not recorded");
        let (_, list) = app.get("/api/v1/messages").await;
        assert_eq!(list["messages"], json!([]), "nothing was sent with the expired key");

        // A revoked key says so.
        let other = key_for(&app, &sam, json!(["read"]), json!([])).await;
        assert_eq!(call(&app, &other, "GET", "/api/v1/messages", None).await.0, 200, "no expiry: works");
        let other_id = app.get("/api/v1/api-keys").await.1["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| other.starts_with(k["prefix"].as_str().unwrap()) && k["id"] != id.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let resp = app
            .http
            .delete(app.url(&format!("/api/v1/api-keys/{other_id}")))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let (status, resp) = call(&app, &other, "GET", "/api/v1/messages", None).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (401, Some("api_key_revoked")), "{resp}");
        assert_eq!(resp["error"]["message"], "this API key was revoked");
        let (_, keys) = app.get("/api/v1/api-keys").await;
        assert_eq!(listed(&keys).unwrap()["state"], "expired");
        assert!(keys["keys"].as_array().unwrap().iter().any(|k| k["state"] == "revoked"), "{keys}");
        // An unknown key stays a plain 401.
        let (status, resp) = call(&app, "kur_nope", "GET", "/api/v1/messages", None).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (401, Some("unauthorized")));

        // An expiry must be a time in the (clock's) future; nothing is created otherwise.
        let count = app.get("/api/v1/api-keys").await.1["keys"].as_array().unwrap().len();
        for bad in [json!(in_a_day), json!("tomorrow"), json!(5)] {
            let (status, resp) =
                app.post("/api/v1/api-keys", json!({"name": "k", "user_id": sam, "expires_at": bad})).await;
            assert!(status == 422 || status == 400, "{bad} -> {status} {resp}");
            if status == 422 {
                assert_eq!(resp["error"]["field"], "expires_at", "{resp}");
            }
        }
        assert_eq!(app.get("/api/v1/api-keys").await.1["keys"].as_array().unwrap().len(), count);

        // The API keys page sets an expiry and shows it.
        let mut admin = Browser::new(&app);
        admin.sign_in("admin", ADMIN_PASSWORD).await;
        admin.get("/api-keys").await;
        let (status, page) = admin
            .post(
                "/api-keys",
                &[("name", "old"), ("user_id", &sam), ("scopes", "read"), ("expires_at", "2020-01-01T10:00")],
                true,
            )
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("must be in the future"), "{page}");
        let (status, page) = admin
            .post(
                "/api-keys",
                &[
                    ("name", "quarter"),
                    ("user_id", &sam),
                    ("scopes", "read"),
                    ("expires_at", "2099-03-31T18:00"),
                ],
                true,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(r#"data-testid="new-key""#), "{page}");
        let (_, page) = admin.get("/api-keys").await;
        assert!(page.contains("2099"), "the expiry is listed: {page}");
        assert!(page.contains("(expired)"), "the expired key is marked: {page}");
        let (_, keys) = app.get("/api/v1/api-keys").await;
        let quarter =
            keys["keys"].as_array().unwrap().iter().find(|k| k["name"] == "quarter").unwrap().clone();
        assert_eq!(quarter["expires_at"], "2099-03-31T18:00:00.000Z", "{quarter}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn every_action_lands_in_a_searchable_audit_log() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let sam = user(&app, "sam", "sender").await;
        let key = key_for(&app, &sam, json!(["read", "send"]), json!([])).await;
        assert_eq!(call(&app, &key, "POST", "/api/v1/messages", Some(message())).await.0, 202);
        assert_eq!(
            call(&app, &key, "POST", "/api/v1/users", Some(json!({"username": "z", "role": "viewer"})))
                .await
                .0,
            403
        );
        let mut b = Browser::new(&app);
        b.sign_in_with("sam", "wrong-password", &[]).await;
        b.sign_in("sam", "sam-password").await;
        let (status, _) = b.post("/contacts", &[("phone", "+48600100222")], true).await;
        assert_eq!(status, 303);

        let (status, log) = app.get("/api/v1/audit?user=sam").await;
        assert_eq!(status, 200, "{log}");
        let entries = log["entries"].as_array().unwrap();
        let actions: Vec<(&str, &str, u64)> = entries
            .iter()
            .map(|e| {
                (e["via"].as_str().unwrap(), e["action"].as_str().unwrap(), e["status"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("ui", "POST /contacts", 303),
                ("ui", "sign-in", 303),
                ("ui", "sign-in refused", 401),
                ("api", "POST /api/v1/users", 403),
                ("api", "POST /api/v1/messages", 202),
            ],
            "newest first: {log}"
        );
        for e in entries {
            assert_eq!(e["username"], "sam");
            assert_eq!(e["user_id"], sam.as_str());
            assert_eq!(e["ip"], "127.0.0.1", "{e}");
            assert!(e["at"].as_str().unwrap().ends_with('Z'));
        }
        // The admin's own actions (creating sam and the key) are there too, and filters combine.
        let (_, log) = app.get("/api/v1/audit?user=admin&action=api-keys").await;
        assert_eq!(log["entries"].as_array().unwrap().len(), 1, "{log}");
        // The action's part is matched ignoring case, and `%` and `_` are
        // characters like any other, on either database.
        for (part, found) in
            [("API-Keys", 1), ("api-_keys", 0), ("api-%keys", 0), ("api_keys", 0), ("ap_-keys", 0)]
        {
            let (status, log) =
                app.get(&format!("/api/v1/audit?user=admin&action={}", part.replace('%', "%25"))).await;
            assert_eq!(
                (status, log["entries"].as_array().map(Vec::len)),
                (200, Some(found)),
                "{part}: {log}"
            );
        }
        let (_, log) = app.get("/api/v1/audit?via=ui&limit=2").await;
        assert_eq!(log["entries"].as_array().unwrap().len(), 2);
        let cursor = log["next_cursor"].as_str().unwrap().to_owned();
        let (_, older) = app.get(&format!("/api/v1/audit?via=ui&cursor={cursor}")).await;
        assert_eq!(older["entries"][0]["action"], "sign-in refused");
        let (_, none) = app.get("/api/v1/audit?since=2999-01-01T00:00:00Z").await;
        assert_eq!(none["entries"], json!([]));
        for bad in ["via=mail", "since=yesterday", "limit=0", "cursor=zzz", "color=red", "limit=abc"] {
            let (status, body) = app.get(&format!("/api/v1/audit?{bad}")).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (400, Some("invalid_parameter")),
                "{bad}: {body}"
            );
        }
        // Only owners and admins read it; the admin page shows it.
        assert_eq!(call(&app, &key, "GET", "/api/v1/audit", None).await.0, 403);
        let mut admin = Browser::new(&app);
        admin.sign_in("admin", ADMIN_PASSWORD).await;
        let (status, page) = admin.get("/audit?user=sam").await;
        assert_eq!(status, 200);
        assert_eq!(page.matches(r#"data-testid="audit-row""#).count(), 5, "{page}");
        assert!(page.contains("POST /contacts"));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_list_asked_with_a_malformed_query_answers_a_json_400() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        for path in [
            "/api/v1/audit?limit=abc",
            "/api/v1/audit?foo=1",
            "/api/v1/emails/deliveries?limit=abc",
            "/api/v1/webhooks/deliveries?limit=-1",
            "/api/v1/keywords?number=1&number=2",
        ] {
            let (status, body) = app.get(path).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"]["code"], "invalid_parameter", "{path}: {body}");
            assert_eq!(body["error"]["field"], "query", "{path}: {body}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn sign_ins_sign_outs_and_data_exports_are_in_the_audit_log() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let sam = user(&app, "sam", "sender").await;
        let key = key_for(&app, &sam, json!(["read", "send"]), json!([])).await;
        let resp = app
            .http
            .get(app.url("/api/v1/exports/messages.csv?status=delivered"))
            .bearer_auth(&key)
            .header("x-forwarded-for", "203.0.113.50") // no trusted proxies: ignored
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(call(&app, &key, "GET", "/api/v1/messages", None).await.0, 200);
        let mut b = Browser::new(&app);
        let (status, _) = b.sign_in_with("sam", "not-the-password", &[]).await;
        assert_eq!(status, 401);
        b.sign_in("sam", "sam-password").await;
        let (status, csv) = b.get("/contacts/export.csv").await;
        assert_eq!(status, 200, "{csv}");
        let (status, _) = b.post("/signout", &[], true).await;
        assert_eq!(status, 303);
        assert_eq!(b.get("/").await.0, 303, "signed out");

        let (status, log) = app.get("/api/v1/audit?user=sam").await;
        assert_eq!(status, 200, "{log}");
        let entries: Vec<(String, String, String, u64)> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["ip"], "127.0.0.1", "from where: {e}");
                assert!(e["at"].as_str().unwrap().ends_with('Z'), "when: {e}");
                assert_eq!(e["user_id"], sam.as_str(), "who: {e}");
                let s = |k: &str| e[k].as_str().unwrap().to_owned();
                (s("via"), s("action"), s("target"), e["status"].as_u64().unwrap())
            })
            .collect();
        let expected = [
            ("ui", "sign-out", "/signout", 303),
            ("ui", "export GET /contacts/export.csv", "/contacts/export.csv", 200),
            ("ui", "sign-in", "/signin", 303),
            ("ui", "sign-in refused", "/signin", 401),
            (
                "api",
                "export GET /api/v1/exports/messages.csv",
                "/api/v1/exports/messages.csv?status=delivered",
                200,
            ),
        ];
        let expected: Vec<(String, String, String, u64)> = expected
            .iter()
            .map(|(v, a, t, s)| ((*v).to_owned(), (*a).to_owned(), (*t).to_owned(), *s))
            .collect();
        assert_eq!(entries, expected, "newest first; plain reads are not recorded: {log}");
        let (_, exports) = app.get("/api/v1/audit?action=export").await;
        assert_eq!(exports["entries"].as_array().unwrap().len(), 2, "{exports}");
        let (_, signs) = app.get("/api/v1/audit?action=sign-&via=ui").await;
        assert_eq!(signs["entries"].as_array().unwrap().len(), 3, "{signs}");
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn lockout_session_lifetime_and_trusted_proxies_follow_the_configuration() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start_with(&backend, |c| {
            c.auth.max_failed_sign_ins = 2;
            c.auth.lockout_secs = 2;
            c.auth.session_lifetime_secs = 600;
            c.server.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.0/8".into()];
        })
        .await;
        let sam = user(&app, "sam", "sender").await;
        let mut b = Browser::new(&app);
        for _ in 0..2 {
            assert_eq!(b.sign_in_with("sam", "wrong-password", &[]).await.0, 401);
        }
        assert_eq!(b.sign_in_with("sam", "sam-password", &[]).await.0, 401, "locked after two");
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        let via_proxy = [("x-forwarded-for", "192.0.2.66, 198.51.100.7, 10.1.2.3")];
        let (status, cookie) = b.sign_in_with("sam", "sam-password", &via_proxy).await;
        assert_eq!(status, 303, "the lockout is over");
        assert!(cookie.contains("Max-Age=600"), "{cookie}");
        let (_, log) = app.get("/api/v1/audit?user=sam&action=sign-in").await;
        let entries = log["entries"].as_array().unwrap();
        assert_eq!(entries[0]["action"], "sign-in", "{log}");
        assert_eq!(entries[0]["ip"], "198.51.100.7", "the nearest untrusted forwarded address: {log}");
        assert_eq!(entries[1]["ip"], "127.0.0.1", "no header: the peer: {log}");

        // API key allow-lists see the same address.
        let key = key_for(&app, &sam, json!(["read"]), json!(["198.51.100.7"])).await;
        let get = |xff: Option<&'static str>| {
            let mut req = app.http.get(app.url("/api/v1/messages")).bearer_auth(&key);
            if let Some(x) = xff {
                req = req.header("x-forwarded-for", x);
            }
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(get(Some("198.51.100.7")).await, 200);
        assert_eq!(get(Some("198.51.100.7, 203.0.113.1")).await, 403, "a forged entry left of a real one");
        assert_eq!(get(None).await, 403);
        app.stop().await;
    })
    .await;
}

/// An account with contacts in groups Drivers (+48600100001) and Office
/// (+48600100002), #night on +48600100003, and one more user in a group.
async fn address_book(app: &TestApp) -> (String, String) {
    let (_, drivers) = app.post("/api/v1/groups", json!({"name": "Drivers"})).await;
    let (_, office) = app.post("/api/v1/groups", json!({"name": "Office"})).await;
    let drivers = drivers["id"].as_str().unwrap().to_owned();
    let office = office["id"].as_str().unwrap();
    for (phone, body) in [
        ("+48600100001", json!({"groups": [drivers]})),
        ("+48600100002", json!({"groups": [office]})),
        ("+48600100003", json!({"tags": ["night"]})),
    ] {
        let mut body = body;
        body["phone"] = json!(phone);
        let (status, resp) = app.post("/api/v1/contacts", body).await;
        assert_eq!(status, 201, "{resp}");
    }
    (drivers, office.to_owned())
}

#[tokio::test]
async fn permissions_limit_whom_a_user_may_message_through_the_api() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let (_drivers, _) = address_book(&app).await;
        let sam = user(&app, "sam", "sender").await;
        let key = key_for(&app, &sam, json!(["read", "send"]), json!([])).await;
        let send = |to: Value| json!({"to": to, "text": "hi"});
        // No rule: not restricted.
        assert_eq!(
            call(&app, &key, "POST", "/api/v1/messages", Some(send(json!("+48600100999")))).await.0,
            202
        );

        let (status, rule) = app
            .put_json(
                &format!("/api/v1/permissions/users/{sam}"),
                json!({"groups": ["Drivers"], "tags": ["night"]}),
            )
            .await;
        assert_eq!(status, 200, "{rule}");
        assert_eq!(rule["groups"][0]["name"], "Drivers");
        assert_eq!(rule["tags"], json!(["#night"]));
        let cases = [
            (send(json!(["+48600100001", "+48600100003"])), 202, ""),
            (send(json!(["+48600100001", "+48600100002"])), 403, "to[1]"),
            (send(json!("+48600100999")), 403, "to[0]"),
            (json!({"to_groups": ["Drivers"], "text": "hi"}), 202, ""),
            (json!({"to_groups": ["Office"], "text": "hi"}), 403, "to_groups[0]"),
            (json!({"to_tags": ["night"], "text": "hi"}), 202, ""),
            (json!({"to_tags": ["day"], "text": "hi"}), 403, "to_tags[0]"),
        ];
        for (body, status, field) in cases {
            let (got, resp) = call(&app, &key, "POST", "/api/v1/messages", Some(body.clone())).await;
            assert_eq!(got, status, "{body} -> {resp}");
            if status == 403 {
                assert_eq!(resp["error"]["code"], "recipient_not_permitted");
                assert_eq!(resp["error"]["field"], field, "{resp}");
            }
        }
        // Nor may a restricted sender widen the limit through the address
        // book: it decides whom they may message.
        let writer = key_for(&app, &sam, json!(["read", "send", "manage"]), json!([])).await;
        let (_, contacts) = app.get("/api/v1/contacts?q=%2B48600100002").await;
        let office_contact = contacts["contacts"][0]["id"].as_str().unwrap().to_owned();
        for (method, path, body) in [
            (
                "POST",
                "/api/v1/contacts".to_owned(),
                Some(json!({"phone": "+48600100999", "groups": ["Drivers"]})),
            ),
            ("PUT", format!("/api/v1/contacts/{office_contact}/tags/night"), None),
            ("PATCH", format!("/api/v1/contacts/{office_contact}"), Some(json!({"groups": ["Drivers"]}))),
            ("POST", format!("/api/v1/groups/{_drivers}/members"), Some(json!({"phones": ["+48600100002"]}))),
        ] {
            let (status, resp) = call(&app, &writer, method, &path, body).await;
            assert_eq!(
                (status, resp["error"]["code"].as_str()),
                (403, Some("recipient_not_permitted")),
                "{path}"
            );
        }
        let (status, _) =
            call(&app, &key, "POST", "/api/v1/messages", Some(send(json!("+48600100002")))).await;
        assert_eq!(status, 403, "still out of reach");
        let mut browser = Browser::new(&app);
        browser.sign_in("sam", "sam-password").await;
        let (status, page) =
            browser.post("/contacts", &[("phone", "+48600100998"), ("groups", "Drivers")], true).await;
        assert_eq!(status, 403, "the web UI's form too: {page}");
        assert_eq!(browser.get("/contacts").await.0, 200, "reading stays");
        // A group's rule adds up with the user's own: any number now.
        let (_, group) =
            app.post("/api/v1/user-groups", json!({"name": "Dispatch", "members": ["sam"]})).await;
        let gid = group["id"].as_str().unwrap();
        let (status, _) = app
            .put_json(&format!("/api/v1/permissions/user-groups/{gid}"), json!({"any_number": true}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            call(&app, &key, "POST", "/api/v1/messages", Some(send(json!("+48600100999")))).await.0,
            202
        );
        let (_, list) = app.get("/api/v1/permissions").await;
        assert_eq!(list["permissions"].as_array().unwrap().len(), 2, "{list}");
        // Replies in a conversation are sends too.
        let resp = app
            .http
            .delete(app.url(&format!("/api/v1/permissions/user-groups/{gid}")))
            .bearer_auth(common::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let (status, resp) = call(
            &app,
            &key,
            "POST",
            "/api/v1/conversations/+48600100999/messages",
            Some(json!({"text": "hi"})),
        )
        .await;
        assert_eq!(status, 403, "{resp}");
        // Owners and admins are never restricted; bad rules are refused.
        assert_eq!(app.post("/api/v1/messages", send(json!("+48600100999"))).await.0, 202);
        for (path, body, status) in [
            (format!("/api/v1/permissions/users/{sam}"), json!({"groups": ["Nope"]}), 422),
            (format!("/api/v1/permissions/users/{sam}"), json!({"tags": ["no spaces"]}), 422),
            ("/api/v1/permissions/users/not-a-user".to_owned(), json!({}), 404),
            (format!("/api/v1/permissions/accounts/{sam}"), json!({}), 404),
        ] {
            assert_eq!(app.put_json(&path, body.clone()).await.0, status, "{path} {body}");
        }
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn permissions_hold_for_campaigns_and_the_compose_page() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let (drivers, office) = address_book(&app).await;
        let sam = user(&app, "sam", "sender").await;
        let key = key_for(&app, &sam, json!(["read", "send"]), json!([])).await;
        app.put_json(&format!("/api/v1/permissions/users/{sam}"), json!({"groups": [drivers]})).await;
        let campaign = |audience: Value| {
            let mut c = json!({"name": "c", "text": "hi"});
            for (k, v) in audience.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        for (audience, status, field) in [
            (json!({"groups": [drivers]}), 201, ""),
            (json!({"groups": [office]}), 403, "groups[0]"),
            (json!({"tags": ["night"]}), 403, "tags[0]"),
            (json!({"numbers": ["+48600100001"]}), 201, ""),
            (json!({"numbers": ["+48600100001", "+48600100999"]}), 403, "numbers[1]"),
        ] {
            let (got, resp) =
                call(&app, &key, "POST", "/api/v1/campaigns", Some(campaign(audience.clone()))).await;
            assert_eq!(got, status, "{audience} -> {resp}");
            if status == 403 {
                assert_eq!(resp["error"]["field"], field, "{resp}");
            }
        }
        let mut b = Browser::new(&app);
        b.sign_in("sam", "sam-password").await;
        b.get("/compose").await;
        let (status, page) = b.post("/compose", &[("to", "+48600100999"), ("text", "hi")], true).await;
        assert_eq!(status, 422, "the form comes back with the error at its field: {page}");
        assert!(page.contains("you may not send to +48600100999"), "{page}");
        let (status, page) = b.post("/compose", &[("to", "+48600100001"), ("text", "hi")], true).await;
        assert!(status == 200 || status == 303, "{status} {page}");
        let (_, list) = app.get("/api/v1/messages?to=%2B48600100001").await;
        assert_eq!(list["messages"].as_array().unwrap().len(), 1, "{list}");
        app.stop().await;
    })
    .await;
}

/// Polls a campaign's run `seq` until it has `status`; the run's report.
async fn run_with_status(app: &TestApp, campaign: &str, seq: i64, status: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (code, run) = app.get(&format!("/api/v1/campaigns/{campaign}/runs/{seq}")).await;
        if code == 200 && run["status"] == status {
            return run;
        }
        last = run;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {seq} of {campaign} never became {status}; last: {last}");
}

#[tokio::test]
async fn campaigns_are_rechecked_against_their_users_permissions_at_start_resume_and_each_run() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let (drivers, office) = address_book(&app).await;
        let sam = user(&app, "sam", "sender").await;
        let key = key_for(&app, &sam, json!(["read", "send"]), json!([])).await;
        let rule = format!("/api/v1/permissions/users/{sam}");
        app.put_json(&rule, json!({"groups": [drivers]})).await;
        let soon = || (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
        let create = async |extra: Value| {
            let mut body = json!({"name": "c", "text": "hi", "groups": [drivers]});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (status, resp) = call(&app, &key, "POST", "/api/v1/campaigns", Some(body)).await;
            assert_eq!(status, 201, "{resp}");
            assert_eq!(resp["campaign"]["created_by"], sam.as_str(), "{resp}");
            resp["campaign"]["id"].as_str().unwrap().to_owned()
        };
        let draft = create(json!({})).await;
        let once = create(json!({"send_at": soon(), "start": true})).await;
        let daily = create(json!({"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0", "start": true})).await;
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let paused = create(json!({"send_at": later, "start": true})).await;
        let (status, resp) =
            call(&app, &key, "POST", &format!("/api/v1/campaigns/{paused}/pause"), None).await;
        assert_eq!(status, 200, "{resp}");

        // The admin takes Drivers away from sam.
        let (status, _) = app.put_json(&rule, json!({"groups": [office]})).await;
        assert_eq!(status, 200);
        let (status, resp) =
            call(&app, &key, "POST", &format!("/api/v1/campaigns/{draft}/start"), None).await;
        assert_eq!(
            (status, resp["error"]["code"].as_str()),
            (403, Some("recipient_not_permitted")),
            "{resp}"
        );
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains("'sam'") && message.contains("group 'Drivers'"), "{message}");
        assert_eq!(app.get(&format!("/api/v1/campaigns/{draft}")).await.1["status"], "draft");
        let (status, resp) =
            call(&app, &key, "POST", &format!("/api/v1/campaigns/{paused}/resume"), None).await;
        assert_eq!(status, 403, "{resp}");
        assert_eq!(app.get(&format!("/api/v1/campaigns/{paused}")).await.1["status"], "paused");

        // Runs that fall due are not sent, and say why in their report
        // (the daily one's next occurrence is made due now).
        let db = sqlx::AnyPool::connect(&app.db.as_ref().unwrap().url).await.unwrap();
        sqlx::query("UPDATE campaigns SET next_run_at = $1 WHERE id = $2")
            .bind(chrono::Utc::now().timestamp_micros())
            .bind(&daily)
            .execute(&db)
            .await
            .unwrap();
        db.close().await;
        for (id, status_after) in [(&once, "completed"), (&daily, "scheduled")] {
            let run = run_with_status(&app, id, 1, "failed").await;
            let failure = run["failure"].as_str().unwrap_or_default();
            assert!(failure.contains("may not send to the group 'Drivers'"), "{run}");
            assert_eq!(run["recipients"], 0, "{run}");
            let (_, c) = app.get(&format!("/api/v1/campaigns/{id}")).await;
            assert_eq!(c["status"], status_after, "{c}");
            assert_eq!(c["last_run"]["status"], "failed", "{c}");
            let (_, sent) = app.get(&format!("/api/v1/messages?campaign={id}")).await;
            assert_eq!(sent["messages"], json!([]), "nothing went out: {sent}");
        }
        let (_, daily_c) = app.get(&format!("/api/v1/campaigns/{daily}")).await;
        assert!(daily_c["next_run_at"].is_string(), "the next occurrence stays planned: {daily_c}");

        // An admin may resume it: it then sends for the admin.
        let (status, resp) = app.post(&format!("/api/v1/campaigns/{paused}/resume"), json!({})).await;
        assert_eq!(status, 200, "{resp}");
        assert_ne!(resp["started_by"], sam.as_str(), "{resp}");
        assert!(resp["started_by"].is_string(), "{resp}");

        // With the permission back, sam starts the draft; it is sent.
        app.put_json(&rule, json!({"groups": [drivers]})).await;
        let (status, resp) =
            call(&app, &key, "POST", &format!("/api/v1/campaigns/{draft}/start"), None).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["started_by"], sam.as_str());
        let run = run_with_status(&app, &draft, 1, "completed").await;
        assert_eq!(run["recipients"], 1, "{run}");

        // A user disabled after starting a campaign: its run is not sent.
        let again = create(json!({"send_at": soon(), "start": true})).await;
        let (status, _) = app.patch(&format!("/api/v1/users/{sam}"), json!({"disabled": true})).await;
        assert_eq!(status, 200);
        let run = run_with_status(&app, &again, 1, "failed").await;
        assert!(run["failure"].as_str().unwrap().contains("'sam', who is disabled"), "{run}");
        let (_, sent) = app.get(&format!("/api/v1/messages?campaign={again}")).await;
        assert_eq!(sent["messages"], json!([]));
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_own_number_is_a_sender_only_after_its_code_is_entered() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let sam = user(&app, "sam", "sender").await;
        let key = key_for(&app, &sam, json!(["read", "send"]), json!([])).await;
        let phone = "+48600100777";
        let from_own = json!({"to": "+48600100200", "from": phone, "text": "hi"});
        let (status, resp) = call(&app, &key, "POST", "/api/v1/messages", Some(from_own.clone())).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("sender_not_verified")), "{resp}");

        let (status, added) =
            call(&app, &key, "POST", "/api/v1/me/numbers", Some(json!({"phone": phone}))).await;
        assert_eq!(status, 202, "{added}");
        assert_eq!(added["verified"], false);
        // The code goes out like any message: the phone receives it.
        let (_, sent) = app.get("/api/v1/messages?to=%2B48600100777").await;
        let id = sent["messages"][0]["id"].as_str().expect("the code's message").to_owned();
        let delivered = app.wait_for_status(&id, "delivered").await;
        let text = delivered["text"].as_str().unwrap().to_owned();
        let code = text.rsplit(' ').next().unwrap().to_owned();
        assert_eq!(code.len(), 6, "{text}");

        let (status, _) = call(&app, &key, "POST", "/api/v1/messages", Some(from_own.clone())).await;
        assert_eq!(status, 403, "not yet: the code was not entered");
        let campaign = |from: &str| {
            json!({"name": "own", "text": "from me", "numbers": ["+48600100201"], "from": from, "start": true})
        };
        let (status, resp) = call(&app, &key, "POST", "/api/v1/campaigns", Some(campaign(phone))).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("sender_not_verified")), "{resp}");
        assert_eq!(resp["error"]["field"], "from");
        assert_eq!(app.get("/api/v1/campaigns").await.1["campaigns"], json!([]), "nothing stored");
        let verify = format!("/api/v1/me/numbers/{}/verify", "%2B48600100777");
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let (status, resp) = call(&app, &key, "POST", &verify, Some(json!({"code": wrong}))).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("code")), "{resp}");
        let (status, resp) = call(&app, &key, "POST", &verify, Some(json!({"code": code}))).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["verified"], true);
        assert_eq!(call(&app, &key, "POST", "/api/v1/messages", Some(from_own)).await.0, 202);
        // A verified own number is a campaign's sender too.
        let (status, made) = call(&app, &key, "POST", "/api/v1/campaigns", Some(campaign(phone))).await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["campaign"]["from"], phone, "{made}");
        let id = made["campaign"]["id"].as_str().unwrap().to_owned();
        let run = run_with_status(&app, &id, 1, "completed").await;
        assert_eq!(run["recipients"], 1, "{run}");
        let (_, sent) = app.get(&format!("/api/v1/messages?campaign={id}")).await;
        assert_eq!(sent["messages"][0]["from"], phone, "{sent}");
        let (status, resp) =
            call(&app, &key, "POST", "/api/v1/campaigns", Some(campaign("+48600100778"))).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (403, Some("sender_not_verified")), "{resp}");
        let (_, list) = call(&app, &key, "GET", "/api/v1/me/numbers", None).await;
        assert_eq!(list["numbers"][0]["verified"], true, "{list}");
        // Another number still is not sam's to use.
        let other = json!({"to": "+48600100200", "from": "+48600100778", "text": "hi"});
        assert_eq!(call(&app, &key, "POST", "/api/v1/messages", Some(other)).await.0, 403);

        // Too many wrong codes spend it; a new one is needed.
        let second = "+48600100779";
        call(&app, &key, "POST", "/api/v1/me/numbers", Some(json!({"phone": second}))).await;
        let verify = "/api/v1/me/numbers/%2B48600100779/verify";
        for _ in 0..5 {
            assert_eq!(call(&app, &key, "POST", verify, Some(json!({"code": "x"}))).await.0, 422);
        }
        let (_, resp) = call(&app, &key, "POST", verify, Some(json!({"code": "x"}))).await;
        assert!(
            resp["error"]["message"].as_str().unwrap().contains("expired or was tried too often"),
            "{resp}"
        );
        for (body, status) in
            [(json!({"phone": "nope"}), 422), (json!({}), 422), (json!({"phone": phone}), 409)]
        {
            assert_eq!(
                call(&app, &key, "POST", "/api/v1/me/numbers", Some(body.clone())).await.0,
                status,
                "{body}"
            );
        }
        assert_eq!(
            call(&app, &key, "POST", "/api/v1/me/numbers/%2B48600100999/verify", Some(json!({"code": "1"})))
                .await
                .0,
            404
        );
        app.stop().await;
    })
    .await;
}

/// Every user, a viewer too, keeps their own language and time zone and
/// changes their own password with the current one.
#[tokio::test]
async fn a_user_keeps_their_own_language_time_zone_and_password() {
    on_each_backend(|backend: Backend| async move {
        let app = TestApp::start(&backend).await;
        let vic = user(&app, "vic", "viewer").await;
        let key = key_for(&app, &vic, json!(["read"]), json!([])).await;
        let (status, me) = call(&app, &key, "GET", "/api/v1/me", None).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(
            (me["username"].clone(), me["language"].clone(), me["time_zone"].clone()),
            (json!("vic"), Value::Null, Value::Null)
        );
        for (body, field) in
            [(json!({"time_zone": "Mars/Base"}), "time_zone"), (json!({"language": "de"}), "language")]
        {
            let (status, resp) = call(&app, &key, "PATCH", "/api/v1/me", Some(body)).await;
            assert_eq!((status, resp["error"]["field"].as_str()), (422, Some(field)), "{resp}");
        }
        let (status, me) = call(
            &app,
            &key,
            "PATCH",
            "/api/v1/me",
            Some(json!({"language": "pl-PL", "time_zone": "Europe/Warsaw"})),
        )
        .await;
        assert_eq!(status, 200, "{me}");
        assert_eq!((me["language"].clone(), me["time_zone"].clone()), (json!("pl"), json!("Europe/Warsaw")));
        let (_, me) = call(&app, &key, "PATCH", "/api/v1/me", Some(json!({"language": ""}))).await;
        assert_eq!((me["language"].clone(), me["time_zone"].clone()), (Value::Null, json!("Europe/Warsaw")));
        // Two changes of different fields at once both stay.
        for _ in 0..5 {
            let (a, b) = tokio::join!(
                call(&app, &key, "PATCH", "/api/v1/me", Some(json!({"language": "bg"}))),
                call(&app, &key, "PATCH", "/api/v1/me", Some(json!({"time_zone": "Asia/Tokyo"}))),
            );
            assert_eq!((a.0, b.0), (200, 200));
            let (_, me) = call(&app, &key, "GET", "/api/v1/me", None).await;
            assert_eq!((me["language"].clone(), me["time_zone"].clone()), (json!("bg"), json!("Asia/Tokyo")));
            call(&app, &key, "PATCH", "/api/v1/me", Some(json!({"language": "", "time_zone": ""}))).await;
        }
        call(&app, &key, "PATCH", "/api/v1/me", Some(json!({"time_zone": "Europe/Warsaw"}))).await;

        let change = |current: &str, new: &str| json!({"current_password": current, "password": new});
        let (status, resp) =
            call(&app, &key, "POST", "/api/v1/me/password", Some(change("wrong-password", "vic-password-2")))
                .await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("current_password")), "{resp}");
        let (status, resp) =
            call(&app, &key, "POST", "/api/v1/me/password", Some(change("vic-password", "short"))).await;
        assert_eq!((status, resp["error"]["field"].as_str()), (422, Some("password")), "{resp}");
        let (status, _) =
            call(&app, &key, "POST", "/api/v1/me/password", Some(change("vic-password", "vic-password-2")))
                .await;
        assert_eq!(status, 204);
        let (status, _) =
            call(&app, &key, "POST", "/api/v1/me/password", Some(change("vic-password", "vic-password-3")))
                .await;
        assert_eq!(status, 422, "the old password is no longer the current one");
        let (status, _) =
            call(&app, &key, "POST", "/api/v1/me/password", Some(change("vic-password-2", "vic-password-3")))
                .await;
        assert_eq!(status, 204);

        // A key of no user has no "me".
        let store = app.app.as_ref().unwrap().store.clone();
        let (_, nobody) = store.create_account("bravo").await.unwrap();
        let (status, resp) = call(&app, &nobody, "GET", "/api/v1/me", None).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (422, Some("no_user")), "{resp}");
        app.stop().await;
    })
    .await;
}
