//! Users through HTTP: admin-only management, `/users/me`, and how user
//! changes act on tokens already issued.

use std::sync::Barrier;

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

both_backends!(
    last_admin_cannot_be_removed_even_by_a_key,
    create_read_never_exposes_password,
    create_rejects_invalid_input_naming_fields,
    array_bodies_are_refused,
    duplicate_email_conflicts_naming_existing_user,
    list_filters_and_pages,
    patch_changes_fields_and_password,
    patch_refuses_bad_changes,
    admin_cannot_lock_themselves_out,
    delete_refuses_owners_and_self,
    non_admin_roles_are_forbidden,
    me_works_for_every_role_but_not_api_keys,
    deactivated_user_tokens_stop_working,
    role_changes_apply_to_existing_tokens,
    idempotent_user_creation,
);

const PASSWORD: &str = "correct horse battery";

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn new_user(app: &TestApp, email: &str, role: &str) -> Value {
    app.post(
        "/api/v1/users",
        &app.admin_token,
        &json!({"email": email, "name": "Someone", "role": role, "password": PASSWORD}),
    )
    .expect(201)
    .json()
}

fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.login_response(email, password).status
}

fn admin_id(app: &TestApp) -> String {
    id_of(
        &app.get("/api/v1/users/me", &app.admin_token)
            .expect(200)
            .json(),
    )
}

fn users_total(app: &TestApp) -> usize {
    app.get("/api/v1/users?limit=500", &app.admin_token)
        .expect(200)
        .json()["data"]
        .as_array()
        .unwrap()
        .len()
}

fn assert_no_secret(text: &str, password: &str) {
    assert!(!text.contains(password), "password leaked: {text}");
    assert!(!text.contains("argon2"), "hash leaked: {text}");
    assert!(!text.contains("password"), "password field leaked: {text}");
}

fn create_read_never_exposes_password(app: &TestApp) {
    let res = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            &json!({"email": "  Grace@Example.COM ", "name": " Grace Hopper ", "role": "manager", "password": PASSWORD}),
        )
        .expect(201);
    assert_no_secret(&res.body, PASSWORD);
    let u = res.json();
    let id = id_of(&u);
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
    let mut keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "active",
            "created_at",
            "email",
            "id",
            "name",
            "role",
            "updated_at",
            "version"
        ]
    );
    assert_eq!(u["email"], "grace@example.com");
    assert_eq!(u["name"], "Grace Hopper");
    assert_eq!(u["role"], "manager");
    assert_eq!(u["active"], true);
    assert_eq!(u["version"], 1);

    let got = app
        .get(&format!("/api/v1/users/{id}"), &app.admin_token)
        .expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_no_secret(&got.body, PASSWORD);
    assert_eq!(got.json(), u);

    let list = app.get("/api/v1/users", &app.admin_token).expect(200);
    assert_no_secret(&list.body, PASSWORD);
    assert_no_secret(&list.body, ADMIN_PASSWORD);
    let token = app.login("grace@example.com", PASSWORD);
    let me = app.get("/api/v1/users/me", &token).expect(200);
    assert_no_secret(&me.body, PASSWORD);
    assert_eq!(me.json(), u);

    app.patch(
        &format!("/api/v1/users/{id}"),
        &app.admin_token,
        &json!({"password": "another secret 123"}),
    )
    .expect(200);
    let feed = app
        .get("/api/v1/events?resource=users", &app.admin_token)
        .expect(200);
    assert_no_secret(&feed.body, PASSWORD);
    assert_no_secret(&feed.body, "another secret 123");
    assert_no_secret(&feed.body, ADMIN_PASSWORD);
    let events = feed.json()["data"].as_array().unwrap().clone();
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["record_id"] == u["id"])
        .collect();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0]["action"], "created");
    assert_eq!(mine[0]["data"], u);
    assert_eq!(mine[1]["action"], "updated");
    assert_eq!(mine[1]["data"]["version"], 2);
    assert_eq!(mine[1]["actor"]["id"], admin_id(app).as_str());

    app.get("/api/v1/users/no-such-user", &app.admin_token)
        .problem(404);
}

fn create_rejects_invalid_input_naming_fields(app: &TestApp) {
    let ok = json!({"email": "x@example.com", "name": "X", "role": "agent", "password": PASSWORD});
    let with = |k: &str, v: Value| {
        let mut doc = ok.clone();
        doc[k] = v;
        doc
    };
    let without = |k: &str| {
        let mut doc = ok.clone();
        doc.as_object_mut().unwrap().remove(k);
        doc
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("email"), "email"),
        (without("name"), "name"),
        (without("role"), "role"),
        (without("password"), "password"),
        (with("email", json!("not-an-email")), "email"),
        (with("email", json!(5)), "email"),
        (with("name", json!("  ")), "name"),
        (with("name", json!("x".repeat(201))), "name"),
        (with("role", json!("superuser")), "role"),
        (with("role", json!("Admin")), "role"),
        (with("password", json!("short12")), "password"),
        (with("password", json!("x".repeat(257))), "password"),
        (with("active", json!("yes")), "active"),
        (
            with("password_hash", json!("$argon2id$...")),
            "password_hash",
        ),
        (with("id", json!("chosen")), "id"),
    ];
    for (body, field) in cases {
        let p = app
            .post("/api/v1/users", &app.admin_token, &body)
            .problem(422);
        assert!(
            fields(&p).contains(&field.to_string()),
            "{body} should name {field}: {p}"
        );
        assert!(!p.to_string().contains(PASSWORD));
    }
    app.request(
        "POST",
        "/api/v1/users",
        Some(&app.admin_token),
        &[],
        Some(b"{\"email\":"),
    )
    .problem(400);
    app.request(
        "POST",
        "/api/v1/users",
        Some(&app.admin_token),
        &[("Content-Type", "text/plain")],
        Some(ok.to_string().as_bytes()),
    )
    .problem(415);
    assert_eq!(users_total(app), 1, "only the bootstrap admin");
    // An inactive user may be created; it cannot sign in.
    let inactive = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            &with("active", json!(false)),
        )
        .expect(201)
        .json();
    assert_eq!(inactive["active"], false);
    assert_eq!(login_status(app, "x@example.com", PASSWORD), 401);
}

/// An array of the fields' values in declaration order used to create a user
/// (serde reads structs from sequences too); found by the contract fuzzer.
fn array_bodies_are_refused(app: &TestApp) {
    let t = &app.admin_token;
    let p = app
        .post(
            "/api/v1/users",
            t,
            &json!(["array@example.com", "Array", "viewer", PASSWORD, true]),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["body"]);
    let users = app.get("/api/v1/users", t).expect(200).json();
    assert!(
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["email"] != "array@example.com"),
        "no user was created"
    );
    let me = app.get("/api/v1/users/me", t).expect(200).json();
    let p = app
        .patch(
            &format!("/api/v1/users/{}", id_of(&me)),
            t,
            &json!(["admin@example.com", "Renamed"]),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["body"]);
    let p = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            &[],
            Some(format!("[\"{ADMIN_EMAIL}\", \"{ADMIN_PASSWORD}\"]").as_bytes()),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["body"]);
}

fn duplicate_email_conflicts_naming_existing_user(app: &TestApp) {
    let first = new_user(app, "dup@example.com", "agent");
    let p = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            &json!({"email": " DUP@example.com", "name": "B", "role": "viewer", "password": PASSWORD}),
        )
        .problem(409);
    assert_eq!(p["existing_id"], first["id"]);
    assert_eq!(fields(&p), vec!["email"]);
    let p = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            &json!({"email": ADMIN_EMAIL, "name": "B", "role": "viewer", "password": PASSWORD}),
        )
        .problem(409);
    assert_eq!(p["existing_id"], admin_id(app).as_str());

    let second = new_user(app, "second@example.com", "agent");
    let url = format!("/api/v1/users/{}", id_of(&second));
    let p = app
        .patch(&url, &app.admin_token, &json!({"email": "Dup@Example.com"}))
        .problem(409);
    assert_eq!(p["existing_id"], first["id"]);
    assert_eq!(
        app.get(&url, &app.admin_token).json()["email"],
        "second@example.com"
    );
    // Keeping one's own email is no conflict.
    app.patch(
        &url,
        &app.admin_token,
        &json!({"email": "second@example.com", "name": "Two"}),
    )
    .expect(200);
    assert_eq!(users_total(app), 3);
}

fn list_filters_and_pages(app: &TestApp) {
    let roles = ["viewer", "agent", "manager", "agent", "viewer", "agent"];
    let mut made = vec![app.get("/api/v1/users/me", &app.admin_token).json()];
    for (i, role) in roles.iter().enumerate() {
        made.push(new_user(app, &format!("u{i}@example.com"), role));
    }
    app.patch(
        &format!("/api/v1/users/{}", id_of(&made[2])),
        &app.admin_token,
        &json!({"active": false}),
    )
    .expect(200);
    let ids = |q: &str| -> Vec<String> {
        let page = app
            .get(&format!("/api/v1/users?{q}"), &app.admin_token)
            .expect(200)
            .json();
        page["data"].as_array().unwrap().iter().map(id_of).collect()
    };
    let all: Vec<String> = made.iter().map(id_of).collect();
    assert_eq!(ids(""), all, "oldest first");
    assert_eq!(
        ids("role=agent"),
        vec![all[2].clone(), all[4].clone(), all[6].clone()]
    );
    assert_eq!(ids("role=admin"), vec![all[0].clone()]);
    assert_eq!(ids("role=manager"), vec![all[3].clone()]);
    assert_eq!(ids("active=false"), vec![all[2].clone()]);
    assert_eq!(ids("active=true").len(), 6);
    assert_eq!(
        ids("role=agent&active=true"),
        vec![all[4].clone(), all[6].clone()]
    );
    assert_eq!(ids("role=viewer&active=false"), Vec::<String>::new());

    let mut paged = Vec::new();
    let mut url = "/api/v1/users?limit=2".to_string();
    loop {
        let page = app.get(&url, &app.admin_token).expect(200).json();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        paged.extend(data.iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/users?limit=2&cursor={c}"),
            None => break,
        }
        assert!(paged.len() < 100);
    }
    assert_eq!(paged, all, "no skips or repeats");
    let page = app
        .get("/api/v1/users?limit=1&role=agent", &app.admin_token)
        .json();
    let c = page["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/api/v1/users?limit=5&role=agent&cursor={c}"),
            &app.admin_token,
        )
        .json();
    let rest: Vec<String> = next["data"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(rest, vec![all[4].clone(), all[6].clone()]);
    assert_eq!(next["next_cursor"], Value::Null);

    for (query, field) in [
        ("role=boss", "role"),
        ("active=maybe", "active"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=junk", "cursor"),
        ("sort=name", "sort"),
        ("email=x", "email"),
    ] {
        let p = app
            .get(&format!("/api/v1/users?{query}"), &app.admin_token)
            .problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{query}: {p}");
    }
}

fn patch_changes_fields_and_password(app: &TestApp) {
    let u = new_user(app, "ada@example.com", "viewer");
    let url = format!("/api/v1/users/{}", id_of(&u));
    let old_token = app.login("ada@example.com", PASSWORD);
    let res = app
        .patch(
            &url,
            &app.admin_token,
            &json!({"name": " Ada L. ", "email": " ADA.L@Example.com ", "role": "agent"}),
        )
        .expect(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let changed = res.json();
    assert_eq!(changed["name"], "Ada L.");
    assert_eq!(changed["email"], "ada.l@example.com");
    assert_eq!(changed["role"], "agent");
    assert_eq!(changed["active"], true, "fields not sent are kept");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["created_at"], u["created_at"]);
    assert_eq!(app.get(&url, &app.admin_token).json(), changed);
    assert_eq!(
        login_status(app, "ada@example.com", PASSWORD),
        401,
        "old email"
    );
    assert_eq!(login_status(app, "ada.l@example.com", PASSWORD), 200);

    // A patch that changes nothing keeps the version.
    let same = app
        .patch(
            &url,
            &app.admin_token,
            &json!({"role": "agent", "name": "Ada L."}),
        )
        .expect(200)
        .json();
    assert_eq!(same["version"], 2);

    let res = app
        .patch(
            &url,
            &app.admin_token,
            &json!({"password": "brand new password"}),
        )
        .expect(200);
    assert_no_secret(&res.body, "brand new password");
    assert_eq!(res.json()["version"], 3);
    assert_eq!(
        login_status(app, "ada.l@example.com", PASSWORD),
        401,
        "old password"
    );
    assert_eq!(
        login_status(app, "ada.l@example.com", "brand new password"),
        200
    );
    let event = app
        .get("/api/v1/events?resource=users", &app.admin_token)
        .json()["data"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(event["action"], "updated");
    assert_eq!(event["record_id"], u["id"]);
    assert_eq!(event["data"]["version"], 3);
    // Tokens issued before a password change stop working; new ones work.
    let user_id = u["id"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let earlier = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user_id, "role": "agent", "iat": now - 5, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(crate::common::JWT_SECRET.as_bytes()),
    )
    .unwrap();
    app.get("/api/v1/users/me", &earlier).problem(401);
    // The token from before the change, most likely issued within the same
    // second, is refused as well.
    app.get("/api/v1/users/me", &old_token).problem(401);
    let fresh = app.login("ada.l@example.com", "brand new password");
    app.get("/api/v1/users/me", &fresh).expect(200);

    app.request(
        "PATCH",
        &url,
        Some(&app.admin_token),
        &[("If-Match", "\"1\"")],
        Some(json!({"name": "stale"}).to_string().as_bytes()),
    )
    .problem(412);
    app.request(
        "DELETE",
        &url,
        Some(&app.admin_token),
        &[("If-Match", "\"2\"")],
        None,
    )
    .problem(412);
    app.request(
        "PATCH",
        &url,
        Some(&app.admin_token),
        &[
            ("If-Match", "\"3\""),
            ("Content-Type", "application/merge-patch+json"),
        ],
        Some(json!({"name": "fresh"}).to_string().as_bytes()),
    )
    .expect(200);
    assert_eq!(app.get(&url, &app.admin_token).json()["name"], "fresh");
    app.patch(
        "/api/v1/users/nobody",
        &app.admin_token,
        &json!({"name": "x"}),
    )
    .problem(404);
}

fn patch_refuses_bad_changes(app: &TestApp) {
    let u = new_user(app, "bea@example.com", "agent");
    let url = format!("/api/v1/users/{}", id_of(&u));
    for (body, field) in [
        (json!({"email": "nope"}), "email"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"role": "owner"}), "role"),
        (json!({"password": "short"}), "password"),
        (json!({"active": "no"}), "active"),
        (json!({"password_hash": "x"}), "password_hash"),
        (json!({"version": 9}), "version"),
        (json!({"email": null}), "email"),
        (json!({"name": null}), "name"),
        (json!({"role": null}), "role"),
        (json!({"active": null}), "active"),
        (json!({"password": null}), "password"),
    ] {
        let p = app.patch(&url, &app.admin_token, &body).problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{body}: {p}");
    }
    assert_eq!(app.get(&url, &app.admin_token).json(), u, "nothing changed");
    assert_eq!(login_status(app, "bea@example.com", PASSWORD), 200);
}

fn admin_cannot_lock_themselves_out(app: &TestApp) {
    let me = app.get("/api/v1/users/me", &app.admin_token).json();
    let url = format!("/api/v1/users/{}", id_of(&me));
    for role in ["manager", "agent", "viewer"] {
        let p = app
            .patch(&url, &app.admin_token, &json!({"role": role}))
            .problem(422);
        assert_eq!(fields(&p), vec!["role"]);
    }
    let p = app
        .patch(&url, &app.admin_token, &json!({"active": false}))
        .problem(422);
    assert_eq!(fields(&p), vec!["active"]);
    let p = app.delete(&url, &app.admin_token).problem(422);
    assert!(p["detail"].as_str().unwrap().contains("yourself"), "{p}");
    let now = app
        .get("/api/v1/users/me", &app.admin_token)
        .expect(200)
        .json();
    assert_eq!(now, me, "nothing changed");

    // Harmless changes to oneself are fine.
    let renamed = app
        .patch(
            &url,
            &app.admin_token,
            &json!({"name": "Chief", "role": "admin", "active": true}),
        )
        .expect(200)
        .json();
    assert_eq!(renamed["name"], "Chief");
    assert_eq!(renamed["role"], "admin");
    // Another admin may demote, deactivate and delete this one.
    let other = new_user(app, "second-admin@example.com", "admin");
    let other_token = app.login("second-admin@example.com", PASSWORD);
    app.patch(&url, &other_token, &json!({"role": "manager"}))
        .expect(200);
    app.get("/api/v1/users", &app.admin_token).problem(403);
    app.delete(&url, &other_token).expect(204);
    app.get("/api/v1/users/me", &app.admin_token).problem(401);
    assert_eq!(login_status(app, ADMIN_EMAIL, ADMIN_PASSWORD), 401);
    let list = app.get("/api/v1/users", &other_token).expect(200).json();
    assert_eq!(list["data"][0]["id"], other["id"]);
}

fn delete_refuses_owners_and_self(app: &TestApp) {
    let owner = new_user(app, "owner@example.com", "agent");
    let owner_token = app.login("owner@example.com", PASSWORD);
    let url = format!("/api/v1/users/{}", id_of(&owner));
    let customer = app.customer(json!({"owner_id": owner["id"]}));
    let p = app.delete(&url, &app.admin_token).problem(409);
    assert!(p["detail"].as_str().unwrap().contains("owns"), "{p}");
    app.get(&url, &app.admin_token).expect(200);
    app.get("/api/v1/users/me", &owner_token).expect(200);

    app.patch(
        &format!("/api/v1/customers/{}", id_of(&customer)),
        &app.admin_token,
        &json!({"owner_id": null}),
    )
    .expect(200);
    let res = app.delete(&url, &app.admin_token).expect(204);
    assert!(res.body.is_empty());
    app.get(&url, &app.admin_token).problem(404);
    app.delete(&url, &app.admin_token).problem(404);
    app.get("/api/v1/users/me", &owner_token).problem(401);
    app.get("/api/v1/customers", &owner_token).problem(401);
    assert_eq!(login_status(app, "owner@example.com", PASSWORD), 401);

    let event = app
        .get("/api/v1/events?resource=users", &app.admin_token)
        .json()["data"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(event["action"], "deleted");
    assert_eq!(event["record_id"], owner["id"]);
    assert_eq!(event["data"], Value::Null);
    assert_eq!(
        event["changes"]["email"],
        json!({"old": "owner@example.com", "new": null})
    );

    // The email is free again.
    new_user(app, "owner@example.com", "viewer");
    let p = app
        .delete(
            &format!("/api/v1/users/{}", admin_id(app)),
            &app.admin_token,
        )
        .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("yourself"));
}

fn non_admin_roles_are_forbidden(app: &TestApp) {
    let target = new_user(app, "target@example.com", "viewer");
    let url = format!("/api/v1/users/{}", id_of(&target));
    let create =
        json!({"email": "new@example.com", "name": "N", "role": "admin", "password": PASSWORD});
    for role in ["viewer", "agent", "manager"] {
        let token = app.token_for(role);
        app.get("/api/v1/users", &token).problem(403);
        app.post("/api/v1/users", &token, &create).problem(403);
        app.get(&url, &token).problem(403);
        app.patch(&url, &token, &json!({"role": "admin"}))
            .problem(403);
        app.delete(&url, &token).problem(403);
        // Not even on themselves.
        let me = app.get("/api/v1/users/me", &token).expect(200).json();
        let own = format!("/api/v1/users/{}", id_of(&me));
        app.get(&own, &token).problem(403);
        app.patch(&own, &token, &json!({"role": "admin"}))
            .problem(403);
        app.patch(&own, &token, &json!({"name": "x"})).problem(403);
        app.delete(&own, &token).problem(403);
        assert_eq!(app.get("/api/v1/users/me", &token).json()["role"], role);
    }
    assert_eq!(
        app.get(&url, &app.admin_token).json(),
        target,
        "nothing changed"
    );
    assert_eq!(
        login_status(app, "new@example.com", PASSWORD),
        401,
        "no user created"
    );
    for (method, path) in [
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/users/me"),
        ("GET", url.as_str()),
        ("PATCH", url.as_str()),
        ("DELETE", url.as_str()),
    ] {
        let body = (method == "POST" || method == "PATCH").then(|| create.to_string());
        app.request(method, path, None, &[], body.as_deref().map(str::as_bytes))
            .problem(401);
    }
}

fn me_works_for_every_role_but_not_api_keys(app: &TestApp) {
    let me = app.get("/api/v1/users/me", &app.admin_token).expect(200);
    assert_eq!(me.header("etag"), Some("\"1\""));
    let me = me.json();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["role"], "admin");
    for role in ["viewer", "agent", "manager"] {
        let email = format!("me-{role}@example.com");
        let u = new_user(app, &email, role);
        let token = app.login(&email, PASSWORD);
        let got = app.get("/api/v1/users/me", &token).expect(200).json();
        assert_eq!(got, u);
    }
    for role in ["viewer", "admin"] {
        let key = app
            .post(
                "/api/v1/api-keys",
                &app.admin_token,
                &json!({"name": "script", "role": role}),
            )
            .expect(201)
            .json();
        let p = app
            .get("/api/v1/users/me", key["key"].as_str().unwrap())
            .problem(404);
        assert!(p["detail"].as_str().unwrap().contains("API key"), "{p}");
    }
}

fn deactivated_user_tokens_stop_working(app: &TestApp) {
    let u = new_user(app, "leaver@example.com", "agent");
    let url = format!("/api/v1/users/{}", id_of(&u));
    let token = app.login("leaver@example.com", PASSWORD);
    app.get("/api/v1/customers", &token).expect(200);
    app.post(
        "/api/v1/customers",
        &token,
        &json!({"kind": "person", "name": "P"}),
    )
    .expect(201);

    let off = app
        .patch(&url, &app.admin_token, &json!({"active": false}))
        .expect(200)
        .json();
    assert_eq!(off["active"], false);
    app.get("/api/v1/customers", &token).problem(401);
    app.get("/api/v1/users/me", &token).problem(401);
    app.post(
        "/api/v1/customers",
        &token,
        &json!({"kind": "person", "name": "Q"}),
    )
    .problem(401);
    assert_eq!(login_status(app, "leaver@example.com", PASSWORD), 401);
    let list = app
        .get("/api/v1/customers?include_total=true", &app.admin_token)
        .json();
    assert_eq!(list["total"], 1, "the refused create changed nothing");

    app.patch(&url, &app.admin_token, &json!({"active": true}))
        .expect(200);
    let fresh = app.login("leaver@example.com", PASSWORD);
    app.get("/api/v1/customers", &fresh).expect(200);
}

fn role_changes_apply_to_existing_tokens(app: &TestApp) {
    let u = new_user(app, "mover@example.com", "viewer");
    let url = format!("/api/v1/users/{}", id_of(&u));
    let token = app.login("mover@example.com", PASSWORD);
    let body = json!({"kind": "person", "name": "P"});
    app.post("/api/v1/customers", &token, &body).problem(403);
    app.get("/api/v1/users", &token).problem(403);

    app.patch(&url, &app.admin_token, &json!({"role": "agent"}))
        .expect(200);
    let c = app
        .post("/api/v1/customers", &token, &body)
        .expect(201)
        .json();
    let customer_url = format!("/api/v1/customers/{}", id_of(&c));
    app.delete(&customer_url, &token).problem(403);
    assert_eq!(app.get("/api/v1/users/me", &token).json()["role"], "agent");

    app.patch(&url, &app.admin_token, &json!({"role": "admin"}))
        .expect(200);
    app.get("/api/v1/users", &token).expect(200);
    app.delete(&customer_url, &token).expect(204);

    app.patch(&url, &app.admin_token, &json!({"role": "viewer"}))
        .expect(200);
    app.post("/api/v1/customers", &token, &body).problem(403);
    app.get("/api/v1/users", &token).problem(403);
    app.get("/api/v1/customers", &token).expect(200);
}

fn idempotent_user_creation(app: &TestApp) {
    let t = Some(app.admin_token.as_str());
    let body =
        json!({"email": "once@example.com", "name": "Once", "role": "agent", "password": PASSWORD})
            .to_string();
    let key = [("Idempotency-Key", "user-1")];
    let first = app
        .request("POST", "/api/v1/users", t, &key, Some(body.as_bytes()))
        .expect(201);
    let again = app
        .request("POST", "/api/v1/users", t, &key, Some(body.as_bytes()))
        .expect(201);
    assert_eq!(first.json(), again.json());
    assert_eq!(first.header("location"), again.header("location"));
    assert_no_secret(&again.body, PASSWORD);
    let other = json!({"email": "once@example.com", "name": "Once", "role": "agent", "password": "different password"})
        .to_string();
    app.request("POST", "/api/v1/users", t, &key, Some(other.as_bytes()))
        .problem(422);
    assert_eq!(users_total(app), 2);
    assert_eq!(login_status(app, "once@example.com", PASSWORD), 200);
}

fn last_admin_cannot_be_removed_even_by_a_key(app: &TestApp) {
    let key = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            &json!({"name": "root", "role": "admin"}),
        )
        .expect(201)
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("/api/v1/users/{}", admin_id(app));
    app.patch(&url, &key, &json!({"role": "manager"}))
        .problem(422);
    app.patch(&url, &key, &json!({"active": false}))
        .problem(422);
    app.delete(&url, &key).problem(422);
    // With a second admin, the first one can step down.
    let other = new_user(app, "second-admin@example.com", "admin");
    app.patch(&url, &key, &json!({"role": "manager"}))
        .expect(200);
    let other_url = format!("/api/v1/users/{}", id_of(&other));
    app.patch(&other_url, &key, &json!({"active": false}))
        .problem(422);
}

/// Two admins remove each other at the same moment (each by demotion,
/// deactivation or deletion, in every pairing over the rounds): exactly one
/// wins and one active admin remains. The other request fails cleanly: with
/// the last-admin 422 when it was authorized before the winner committed, or
/// as a caller who is no longer an active admin (401 or 403) after.
#[test]
fn concurrent_admin_removals_keep_an_admin() {
    let Some(app) = TestApp::postgres() else {
        return;
    };
    let removals = [
        ("PATCH", json!({"role": "manager"})),
        ("PATCH", json!({"active": false})),
        ("DELETE", Value::Null),
    ];
    let mut survivor = (admin_id(&app), app.admin_token.clone());
    for round in 0..9 {
        let email = format!("admin-{round}@example.com");
        let other = app
            .post(
                "/api/v1/users",
                &survivor.1,
                &json!({"email": email, "name": "Admin", "role": "admin", "password": PASSWORD}),
            )
            .expect(201)
            .json();
        let other = (id_of(&other), app.login(&email, PASSWORD));
        let pair = [survivor.clone(), other];
        let barrier = Barrier::new(2);
        let answers: Vec<(u16, String)> = std::thread::scope(|s| {
            let sides: Vec<_> = (0..2)
                .map(|side| {
                    let (app, pair, barrier) = (&app, &pair, &barrier);
                    let (method, body) = &removals[(round / 3 * side + round) % 3];
                    s.spawn(move || {
                        let (_, token) = &pair[side];
                        let (target, _) = &pair[1 - side];
                        let path = format!("/api/v1/users/{target}");
                        let body = body.to_string();
                        let body = (*method == "PATCH").then_some(body.as_bytes());
                        barrier.wait();
                        let res = app.request(method, &path, Some(token), &[], body);
                        (res.status, res.body)
                    })
                })
                .collect();
            sides.into_iter().map(|s| s.join().unwrap()).collect()
        });
        let won: Vec<usize> = (0..2)
            .filter(|&i| matches!(answers[i].0, 200 | 204))
            .collect();
        assert_eq!(won.len(), 1, "round {round}: {answers:?}");
        let (status, body) = &answers[1 - won[0]];
        assert!(
            matches!(status, 401 | 403 | 422),
            "round {round}: loser answered {status}: {body}"
        );
        if *status == 422 {
            assert!(body.contains("last active admin"), "{body}");
        }
        survivor = pair[won[0]].clone();
        let admins = app
            .get("/api/v1/users?role=admin&active=true", &survivor.1)
            .expect(200)
            .json();
        let ids: Vec<String> = admins["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect();
        assert_eq!(ids, vec![survivor.0.clone()], "round {round}");
    }
}
