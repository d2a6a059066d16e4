//! API keys through HTTP: shown once, never listed with a secret, usable as
//! a bearer token with their role, revocable and expiring.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    create_shows_the_key_exactly_once,
    key_acts_with_its_role,
    revoke_stops_the_key_at_once,
    create_rejects_invalid_input,
    expired_key_is_refused,
    non_admins_are_forbidden,
    list_pages_and_rejects_bad_parameters,
);

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Creates a key; returns the answer (with `key`).
fn new_key(app: &TestApp, name: &str, role: &str) -> Value {
    app.post(
        "/api/v1/api-keys",
        &app.admin_token,
        &json!({"name": name, "role": role}),
    )
    .expect(201)
    .json()
}

fn secret(key: &Value) -> String {
    key["key"].as_str().expect("key").to_string()
}

/// Asserts `text` holds neither the secret nor any form of its hash.
fn assert_no_secret(text: &str, key: &str) {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    assert!(!text.contains(key), "secret leaked: {text}");
    assert!(
        !text.contains(&key["crm_".len()..]),
        "secret leaked: {text}"
    );
    assert!(!text.contains(&hash), "hash leaked: {text}");
    assert!(!text.contains(&hash.to_uppercase()), "hash leaked: {text}");
    assert!(!text.contains("key_hash"), "hash field leaked: {text}");
    assert!(!text.contains("\"key\""), "key field present: {text}");
}

fn admin_id(app: &TestApp) -> String {
    id_of(
        &app.get("/api/v1/users/me", &app.admin_token)
            .expect(200)
            .json(),
    )
}

fn create_shows_the_key_exactly_once(app: &TestApp) {
    let res = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            &json!({"name": "  ERP sync ", "role": "agent"}),
        )
        .expect(201);
    let k = res.json();
    let id = id_of(&k);
    let key = secret(&k);
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/api-keys/{id}").as_str())
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(key.starts_with("crm_") && key.len() >= 36, "{key}");
    assert_eq!(k["name"], "ERP sync");
    assert_eq!(k["role"], "agent");
    assert_eq!(k["expires_at"], Value::Null);
    assert_eq!(k["created_by"], admin_id(app).as_str());
    assert_eq!(k["version"], 1);
    let prefix = k["key_prefix"].as_str().unwrap();
    assert!(
        key.starts_with(prefix) && prefix.len() < key.len() / 2,
        "{prefix}"
    );
    let mut keys: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "created_at",
            "created_by",
            "expires_at",
            "id",
            "key",
            "key_prefix",
            "name",
            "role",
            "updated_at",
            "version"
        ]
    );

    let other = new_key(app, "Other", "viewer");
    assert_ne!(secret(&other), key, "every key is new");

    let list = app.get("/api/v1/api-keys", &app.admin_token).expect(200);
    assert_no_secret(&list.body, &key);
    assert_no_secret(&list.body, &secret(&other));
    let page = list.json();
    let listed = page["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let mut expected = k.clone();
    expected.as_object_mut().unwrap().remove("key");
    assert_eq!(
        listed[0], expected,
        "the list shows everything but the secret"
    );
    assert_eq!(listed[1]["id"], other["id"]);

    let feed = app
        .get("/api/v1/events?resource=api_keys", &app.admin_token)
        .expect(200);
    assert_no_secret(&feed.body, &key);
    let events = feed.json()["data"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["action"], "created");
    assert_eq!(events[0]["data"], expected);
    // No route reads a key back.
    app.get(&format!("/api/v1/api-keys/{id}"), &app.admin_token)
        .problem(405);
}

fn key_acts_with_its_role(app: &TestApp) {
    let viewer = secret(&new_key(app, "v", "viewer"));
    let agent_key = new_key(app, "a", "agent");
    let agent = secret(&agent_key);
    let manager = secret(&new_key(app, "m", "manager"));
    let admin = secret(&new_key(app, "root", "admin"));
    let body = json!({"kind": "company", "name": "Via key"});

    app.get("/api/v1/customers", &viewer).expect(200);
    app.get("/api/v1/events", &viewer).expect(200);
    app.post("/api/v1/customers", &viewer, &body).problem(403);

    let c = app
        .post("/api/v1/customers", &agent, &body)
        .expect(201)
        .json();
    let url = format!("/api/v1/customers/{}", id_of(&c));
    app.patch(&url, &agent, &json!({"name": "Changed by key"}))
        .expect(200);
    app.delete(&url, &agent).problem(403);
    app.get("/api/v1/users", &agent).problem(403);

    app.delete(&url, &manager).expect(204);
    app.get("/api/v1/users", &manager).problem(403);
    app.get("/api/v1/api-keys", &manager).problem(403);

    app.get("/api/v1/users", &admin).expect(200);
    let made = app
        .post(
            "/api/v1/api-keys",
            &admin,
            &json!({"name": "child", "role": "viewer"}),
        )
        .expect(201)
        .json();
    let admin_key_id = app
        .get("/api/v1/api-keys?limit=500", &app.admin_token)
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "root")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        made["created_by"], admin_key_id,
        "created by the key itself"
    );

    // Changes made through a key name the key as their actor.
    let history = app
        .get(&format!("{url}/history"), &app.admin_token)
        .expect(200)
        .json();
    let events = history["data"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    for e in &events[..2] {
        assert_eq!(
            e["actor"],
            json!({"type": "api_key", "id": agent_key["id"]})
        );
    }
    assert_eq!(events[2]["actor"]["type"], "api_key");
    assert_ne!(events[2]["actor"]["id"], agent_key["id"]);

    // Both `Bearer` spellings work; a wrong key with the prefix does not.
    app.request(
        "GET",
        "/api/v1/customers",
        None,
        &[("Authorization", &format!("bearer {agent}"))],
        None,
    )
    .expect(200);
    let p = app
        .get("/api/v1/customers", &format!("{agent}x"))
        .problem(401);
    assert_eq!(p["detail"], "invalid or revoked API key");
    app.get("/api/v1/customers", "crm_").problem(401);
}

fn revoke_stops_the_key_at_once(app: &TestApp) {
    let k = new_key(app, "temp", "manager");
    let keep = new_key(app, "keep", "viewer");
    let key = secret(&k);
    let url = format!("/api/v1/api-keys/{}", id_of(&k));
    app.get("/api/v1/customers", &key).expect(200);

    // A stale If-Match refuses the revocation; the key's version is 1.
    let p = app
        .request(
            "DELETE",
            &url,
            Some(&app.admin_token),
            &[("If-Match", "\"2\"")],
            None,
        )
        .problem(412);
    assert_eq!(p["type"], "urn:crm:problem:precondition_failed");
    app.get("/api/v1/customers", &key).expect(200);
    let res = app
        .request(
            "DELETE",
            &url,
            Some(&app.admin_token),
            &[("If-Match", "\"1\"")],
            None,
        )
        .expect(204);
    assert!(res.body.is_empty());
    let p = app.get("/api/v1/customers", &key).problem(401);
    assert!(p["detail"].as_str().unwrap().contains("revoked"), "{p}");
    app.post(
        "/api/v1/customers",
        &key,
        &json!({"kind": "person", "name": "P"}),
    )
    .problem(401);
    app.get("/api/v1/customers", &secret(&keep)).expect(200);

    let list = app.get("/api/v1/api-keys", &app.admin_token).json();
    let ids: Vec<String> = list["data"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids, vec![id_of(&keep)]);
    let events = app
        .get("/api/v1/events?resource=api_keys", &app.admin_token)
        .json()["data"]
        .as_array()
        .unwrap()
        .clone();
    let last = events.last().unwrap();
    assert_eq!(last["action"], "deleted");
    assert_eq!(last["record_id"], k["id"]);
    assert_eq!(last["data"], Value::Null);
    assert_eq!(last["changes"]["name"], json!({"old": "temp", "new": null}));

    app.delete(&url, &app.admin_token).problem(404);
    app.delete("/api/v1/api-keys/no-such-key", &app.admin_token)
        .problem(404);
    // A key can revoke itself, and is refused at once afterwards.
    let admin_key = new_key(app, "self", "admin");
    let admin = secret(&admin_key);
    app.delete(&format!("/api/v1/api-keys/{}", id_of(&admin_key)), &admin)
        .expect(204);
    app.get("/api/v1/api-keys", &admin).problem(401);
}

fn create_rejects_invalid_input(app: &TestApp) {
    let past = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"role": "agent"}), "name"),
        (json!({"name": "x"}), "role"),
        (json!({"name": "", "role": "agent"}), "name"),
        (json!({"name": "   ", "role": "agent"}), "name"),
        (json!({"name": "x".repeat(101), "role": "agent"}), "name"),
        (json!({"name": "x", "role": "root"}), "role"),
        (
            json!({"name": "x", "role": "agent", "expires_at": past}),
            "expires_at",
        ),
        (
            json!({"name": "x", "role": "agent", "expires_at": "2000-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "role": "agent", "expires_at": "tomorrow"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "role": "agent", "expires_at": 1_900_000_000}),
            "expires_at",
        ),
        (
            json!({"name": "x", "role": "agent", "key": "crm_chosen"}),
            "key",
        ),
        (
            json!({"name": "x", "role": "agent", "scopes": ["read"]}),
            "scopes",
        ),
    ];
    for (body, field) in cases {
        let p = app
            .post("/api/v1/api-keys", &app.admin_token, &body)
            .problem(422);
        assert!(
            fields(&p).contains(&field.to_string()),
            "{body} should name {field}: {p}"
        );
    }
    app.request(
        "POST",
        "/api/v1/api-keys",
        Some(&app.admin_token),
        &[],
        Some(b"{\"name\""),
    )
    .problem(400);
    app.request(
        "POST",
        "/api/v1/api-keys",
        Some(&app.admin_token),
        &[("Content-Type", "text/plain")],
        Some(json!({"name": "x", "role": "agent"}).to_string().as_bytes()),
    )
    .problem(415);
    let list = app.get("/api/v1/api-keys", &app.admin_token).json();
    assert_eq!(list["data"], json!([]), "nothing was created");

    let future = "2999-01-01T00:00:00Z";
    let k = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            &json!({"name": "long", "role": "viewer", "expires_at": future}),
        )
        .expect(201)
        .json();
    assert_eq!(k["expires_at"], future);
    app.get("/api/v1/customers", &secret(&k)).expect(200);
}

fn expired_key_is_refused(app: &TestApp) {
    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    let k = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            &json!({"name": "short-lived", "role": "viewer", "expires_at": expires.to_rfc3339()}),
        )
        .expect(201)
        .json();
    let key = secret(&k);
    app.get("/api/v1/customers", &key).expect(200);
    let wait = expires - chrono::Utc::now() + chrono::Duration::milliseconds(200);
    if let Ok(wait) = wait.to_std() {
        std::thread::sleep(wait);
    }
    let p = app.get("/api/v1/customers", &key).problem(401);
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
    // Still listed (so an admin sees it lapsed), still without its secret.
    let list = app.get("/api/v1/api-keys", &app.admin_token).expect(200);
    assert_no_secret(&list.body, &key);
    assert_eq!(list.json()["data"][0]["id"], k["id"]);
}

fn non_admins_are_forbidden(app: &TestApp) {
    let existing = new_key(app, "existing", "viewer");
    let url = format!("/api/v1/api-keys/{}", id_of(&existing));
    let body = json!({"name": "mine", "role": "admin"});
    let mut callers: Vec<String> = ["viewer", "agent", "manager"]
        .iter()
        .map(|r| app.token_for(r))
        .collect();
    for role in ["viewer", "agent", "manager"] {
        callers.push(secret(&new_key(app, role, role)));
    }
    for token in &callers {
        app.post("/api/v1/api-keys", token, &body).problem(403);
        app.get("/api/v1/api-keys", token).problem(403);
        app.delete(&url, token).problem(403);
    }
    app.get("/api/v1/customers", &secret(&existing)).expect(200);
    let list = app.get("/api/v1/api-keys", &app.admin_token).json();
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        4,
        "no key created or revoked"
    );
    app.request(
        "POST",
        "/api/v1/api-keys",
        None,
        &[],
        Some(body.to_string().as_bytes()),
    )
    .problem(401);
    app.request("GET", "/api/v1/api-keys", None, &[], None)
        .problem(401);
    app.request("DELETE", &url, None, &[], None).problem(401);
}

fn list_pages_and_rejects_bad_parameters(app: &TestApp) {
    let made: Vec<String> = (0..5)
        .map(|i| id_of(&new_key(app, &format!("k{i}"), "viewer")))
        .collect();
    let mut seen = Vec::new();
    let mut url = "/api/v1/api-keys?limit=2".to_string();
    loop {
        let page = app.get(&url, &app.admin_token).expect(200).json();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/api-keys?limit=2&cursor={c}"),
            None => break,
        }
        assert!(seen.len() < 100);
    }
    assert_eq!(seen, made, "oldest first, no skips or repeats");
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=junk", "cursor"),
        ("role=admin", "role"),
    ] {
        let p = app
            .get(&format!("/api/v1/api-keys?{query}"), &app.admin_token)
            .problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{query}: {p}");
    }
}
