//! Customers through HTTP: the reference resource every other copies.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    create_read_normalizes_and_sets_etag,
    create_rejects_invalid_input_naming_fields,
    malformed_bodies_get_documented_errors,
    arrays_are_not_objects,
    unique_values_conflict_naming_existing_record,
    patch_is_a_json_merge_patch,
    delete_removes_contacts_and_logs_events,
    list_filters_and_search,
    list_rejects_bad_parameters,
    idempotency_key_replays_and_refuses_other_bodies,
    idempotency_keys_expire_after_a_day,
    history_is_the_audit_trail,
    concurrent_patches_without_if_match_all_apply,
);

fn create_read_normalizes_and_sets_etag(app: &TestApp) {
    let res = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            &json!({
                "kind": "company", "name": "  Acme GmbH ", "email": " Billing@ACME.example ",
                "phone": "+49 30 1234567", "website": "https://acme.example",
                "address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "de"},
                "lifecycle_stage": "active", "tier": "a", "email_opt_in": true,
                "tags": [" vip ", "vip", "emea"], "custom_fields": {"erp_segment": 7},
                "external_id": "ERP-1"
            }),
        )
        .expect(201);
    let c = res.json();
    let id = c["id"].as_str().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/customers/{id}").as_str())
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(c["name"], "Acme GmbH");
    assert_eq!(c["email"], "billing@acme.example");
    assert_eq!(c["address"]["country"], "DE");
    assert_eq!(c["tags"], json!(["vip", "emea"]));
    assert_eq!(c["custom_fields"], json!({"erp_segment": 7}));
    assert_eq!(c["version"], 1);
    assert!(c["consent_updated_at"].is_string());

    let got = app
        .get(&format!("/api/v1/customers/{id}"), &app.admin_token)
        .expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.json(), c, "read back exactly what create answered");

    app.get("/api/v1/customers/does-not-exist", &app.admin_token)
        .problem(404);
}

fn create_rejects_invalid_input_naming_fields(app: &TestApp) {
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "x"}), "kind"),
        (json!({"kind": "company"}), "name"),
        (json!({"kind": "company", "name": "   "}), "name"),
        (json!({"kind": "robot", "name": "x"}), "kind"),
        (json!({"kind": "company", "name": 5}), "name"),
        (json!({"kind": "company", "name": "x".repeat(201)}), "name"),
        (
            json!({"kind": "company", "name": "x", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"kind": "company", "name": "x", "phone": "call me"}),
            "phone",
        ),
        (
            json!({"kind": "company", "name": "x", "website": "ftp://x.example"}),
            "website",
        ),
        (
            json!({"kind": "company", "name": "x", "address": {"country": "XX"}}),
            "address.country",
        ),
        (
            json!({"kind": "company", "name": "x", "address": {"planet": "Mars"}}),
            "address.planet",
        ),
        (json!({"kind": "company", "name": "x", "tier": "z"}), "tier"),
        (
            json!({"kind": "company", "name": "x", "lifecycle_stage": "dead"}),
            "lifecycle_stage",
        ),
        (
            json!({"kind": "company", "name": "x", "tags": ["ok", ""]}),
            "tags",
        ),
        (
            json!({"kind": "company", "name": "x", "tags": "vip"}),
            "tags",
        ),
        (
            json!({"kind": "company", "name": "x", "custom_fields": []}),
            "custom_fields",
        ),
        (
            json!({"kind": "company", "name": "x", "owner_id": "nobody"}),
            "owner_id",
        ),
        (
            json!({"kind": "company", "name": "x", "referred_by_id": "nobody"}),
            "referred_by_id",
        ),
        (
            json!({"kind": "company", "name": "x", "id": "chosen"}),
            "id",
        ),
        (
            json!({"kind": "company", "name": "x", "version": 3}),
            "version",
        ),
        (
            json!({"kind": "company", "name": "x", "email_opt_in": "yes"}),
            "email_opt_in",
        ),
    ];
    for (body, field) in cases {
        let p = app
            .post("/api/v1/customers", &app.admin_token, &body)
            .problem(422);
        assert!(
            fields(&p).contains(&field.to_string()),
            "{body} should name {field}: {p}"
        );
    }
    let list = app
        .get("/api/v1/customers?include_total=true", &app.admin_token)
        .expect(200)
        .json();
    assert_eq!(list["total"], 0, "invalid requests changed nothing");
}

fn malformed_bodies_get_documented_errors(app: &TestApp) {
    let t = Some(app.admin_token.as_str());
    let p = app
        .request("POST", "/api/v1/customers", t, &[], Some(b"{\"kind\": "))
        .problem(400);
    assert!(p["detail"].as_str().unwrap().contains("JSON"));
    app.request("POST", "/api/v1/customers", t, &[], Some(b"[1,2]"))
        .problem(422);
    app.request(
        "POST",
        "/api/v1/customers",
        t,
        &[("Content-Type", "text/plain")],
        Some(b"{}"),
    )
    .problem(415);
    app.request(
        "POST",
        "/api/v1/customers",
        t,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"a=b"),
    )
    .problem(415);
    let huge = format!(
        "{{\"kind\":\"company\",\"name\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    app.request("POST", "/api/v1/customers", t, &[], Some(huge.as_bytes()))
        .problem(413);
    // Script and SQL fragments are just text: stored and returned as sent.
    let c = app.customer(json!({"name": "<script>alert(1)</script>'; DROP TABLE customers; --"}));
    assert_eq!(
        c["name"],
        "<script>alert(1)</script>'; DROP TABLE customers; --"
    );
    let c = app.customer(json!({"name": "Ünïcödé 🚀 株式会社"}));
    assert_eq!(c["name"], "Ünïcödé 🚀 株式会社");
    let p = app
        .request(
            "POST",
            "/api/v1/customers",
            t,
            &[],
            Some(b"{\"kind\":\"person\",\"name\":\"a\",\"name\":\"b\"}"),
        )
        .problem(400);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("duplicate field `name`"),
        "{p}"
    );
    // NUL cannot be stored by PostgreSQL and is refused everywhere, on both backends.
    let p = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            &json!({"kind": "person", "name": "a\u{0}b"}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["name"]);
    let p = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            &json!({"kind": "person", "name": "x", "address": {"city": "\u{0}"}}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["address.city"]);
    let p = app
        .get("/api/v1/customers?q=%00", &app.admin_token)
        .problem(422);
    assert_eq!(fields(&p), vec!["q"]);
    app.get("/api/v1/customers/%00", &app.admin_token)
        .problem(404);
    app.patch(
        "/api/v1/customers/%00",
        &app.admin_token,
        &json!({"name": "x"}),
    )
    .problem(404);
    app.request(
        "POST",
        "/api/v1/auth/login",
        None,
        &[],
        Some(b"{\"email\":\"a\\u0000@x.io\",\"password\":\"p\"}"),
    )
    .problem(422);
    app.get("/api/v1/customers", &app.admin_token).expect(200);
}

/// serde reads a struct from a JSON array of its field values; the contract
/// says objects, and so does the service (found by the contract fuzzer).
fn arrays_are_not_objects(app: &TestApp) {
    let t = &app.admin_token;
    let p = app
        .post("/api/v1/customers", t, &json!(["company", "Acme"]))
        .problem(422);
    assert_eq!(fields(&p), vec!["body"]);
    assert_eq!(p["errors"][0]["code"], "invalid_type");
    let p = app
        .post(
            "/api/v1/customers",
            t,
            &json!({"kind": "person", "name": "x", "address": ["Main St 1", null, "Berlin"]}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["address"]);
    assert_eq!(p["errors"][0]["code"], "invalid_type");
    let c = app.customer(json!({"name": "x", "address": {"city": "Berlin"}}));
    let url = format!("/api/v1/customers/{}", c["id"].as_str().unwrap());
    let p = app
        .patch(&url, t, &json!({"address": [null, null, "Paris"]}))
        .problem(422);
    assert_eq!(fields(&p), vec!["address"]);
    app.patch(&url, t, &json!(["x"])).problem(422);
    let unchanged = app.get(&url, t).expect(200).json();
    assert_eq!(unchanged["address"]["city"], "Berlin");
    assert_eq!(unchanged["version"], 1);
    // null and objects still work.
    let c = app.customer(json!({"name": "y", "address": null}));
    assert_eq!(c["address"]["city"], Value::Null);
    app.get("/api/v1/customers?include_total=true", t)
        .expect(200);
}

fn unique_values_conflict_naming_existing_record(app: &TestApp) {
    let first = app.customer(json!({"email": "dup@example.com", "external_id": "E-1"}));
    let p = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            &json!({"kind": "person", "name": "B", "email": "DUP@example.com"}),
        )
        .problem(409);
    assert_eq!(p["existing_id"], first["id"]);
    assert_eq!(fields(&p), vec!["email"]);
    let p = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            &json!({"kind": "person", "name": "B", "external_id": "E-1"}),
        )
        .problem(409);
    assert_eq!(p["existing_id"], first["id"]);
    let second = app.customer(json!({"name": "Other"}));
    let p = app
        .patch(
            &format!("/api/v1/customers/{}", second["id"].as_str().unwrap()),
            &app.admin_token,
            &json!({"email": "dup@example.com"}),
        )
        .problem(409);
    assert_eq!(p["existing_id"], first["id"]);
}

fn patch_is_a_json_merge_patch(app: &TestApp) {
    let c = app.customer(json!({
        "email": "a@example.com", "phone": "123456",
        "address": {"line1": "Street 1", "city": "Paris", "country": "FR"},
        "tags": ["x"]
    }));
    let url = format!("/api/v1/customers/{}", c["id"].as_str().unwrap());
    let res = app
        .patch(
            &url,
            &app.admin_token,
            &json!({"phone": null, "address": {"city": "Lyon", "line1": null}, "tier": "b"}),
        )
        .expect(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let u = res.json();
    assert_eq!(u["phone"], Value::Null);
    assert_eq!(u["email"], "a@example.com", "fields not sent are kept");
    assert_eq!(
        u["address"],
        json!({"line1": null, "line2": null, "city": "Lyon", "region": null, "postal_code": null, "country": "FR"})
    );
    assert_eq!(u["tier"], "b");
    assert_eq!(u["version"], 2);
    assert_eq!(u["created_at"], c["created_at"]);
    assert_eq!(
        u["consent_updated_at"], c["consent_updated_at"],
        "consent did not change"
    );

    // A patch that changes nothing keeps the version.
    let same = app
        .patch(&url, &app.admin_token, &json!({"tier": "b"}))
        .expect(200)
        .json();
    assert_eq!(same["version"], 2);

    let consent = app
        .patch(&url, &app.admin_token, &json!({"sms_opt_in": true}))
        .expect(200)
        .json();
    assert_ne!(consent["consent_updated_at"], c["consent_updated_at"]);

    // Required fields cannot be cleared; unknown and read-only fields are refused.
    for (body, field) in [
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"kind": null}), "kind"),
        (json!({"nickname": "x"}), "nickname"),
        (json!({"id": "x"}), "id"),
        (json!({"address": {"country": "ZZ"}}), "address.country"),
        (json!({"referred_by_id": c["id"]}), "referred_by_id"),
    ] {
        let p = app.patch(&url, &app.admin_token, &body).problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{body}: {p}");
    }
    app.request(
        "PATCH",
        &url,
        Some(&app.admin_token),
        &[("Content-Type", "application/merge-patch+json")],
        Some(b"{\"name\":\"Merged\"}"),
    )
    .expect(200);
    let now = app.get(&url, &app.admin_token).expect(200).json();
    assert_eq!(now["name"], "Merged");
    app.patch(
        "/api/v1/customers/unknown",
        &app.admin_token,
        &json!({"name": "x"}),
    )
    .problem(404);
}

fn delete_removes_contacts_and_logs_events(app: &TestApp) {
    let c = app.customer(json!({}));
    let id = c["id"].as_str().unwrap();
    let referred = app.customer(json!({"name": "Referred", "referred_by_id": id}));
    let contact = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": id, "first_name": "Ada"}),
        )
        .expect(201)
        .json();
    app.delete(&format!("/api/v1/customers/{id}"), &app.admin_token)
        .expect(204);
    app.get(
        &format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap()),
        &app.admin_token,
    )
    .problem(404);
    let r = app
        .get(
            &format!("/api/v1/customers/{}", referred["id"].as_str().unwrap()),
            &app.admin_token,
        )
        .json();
    assert_eq!(r["referred_by_id"], Value::Null);
    assert_eq!(r["version"], 2);

    let feed = app
        .get("/api/v1/events?resource=contacts", &app.admin_token)
        .json();
    let last = feed["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "deleted");
    assert_eq!(last["record_id"], contact["id"]);
    assert_eq!(last["data"], Value::Null);
    let feed = app
        .get("/api/v1/events?resource=customers", &app.admin_token)
        .json();
    let last = feed["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "deleted");
    assert_eq!(last["record_id"], c["id"]);
    assert_eq!(last["changes"]["name"], json!({"old": "Acme", "new": null}));
    app.delete(&format!("/api/v1/customers/{id}"), &app.admin_token)
        .problem(404);
}

fn list_filters_and_search(app: &TestApp) {
    let owner = app.post("/api/v1/users", &app.admin_token, &json!({"email": "owner@test.local", "name": "O", "role": "agent", "password": "password-123"})).expect(201).json();
    let a = app.customer(json!({"name": "Alpha Foods", "kind": "company", "tier": "a", "lifecycle_stage": "active",
        "tags": ["vip"], "address": {"country": "DE"}, "owner_id": owner["id"], "email": "sales@alpha.example"}));
    let b = app.customer(
        json!({"name": "Bob Person", "kind": "person", "tier": "b", "phone": "+1 555 0100_9"
        .replace('_', ""), "address": {"country": "US"}}),
    );
    let c = app.customer(json!({"name": "100% Real_Deal", "kind": "company", "lifecycle_stage": "churned", "tags": ["vip", "old"]}));
    let ids = |q: &str| -> Vec<String> {
        let page = app
            .get(
                &format!("/api/v1/customers?sort=name&{q}"),
                &app.admin_token,
            )
            .expect(200)
            .json();
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    assert_eq!(ids("kind=person"), vec![id(&b)]);
    assert_eq!(ids("tier=a"), vec![id(&a)]);
    assert_eq!(ids("lifecycle_stage=churned"), vec![id(&c)]);
    assert_eq!(ids("lifecycle_stage=prospect"), vec![id(&b)]);
    assert_eq!(ids("tag=vip"), vec![id(&c), id(&a)]);
    assert_eq!(ids("tag=old"), vec![id(&c)]);
    assert_eq!(ids("country=de"), vec![id(&a)]);
    assert_eq!(
        ids(&format!("owner_id={}", owner["id"].as_str().unwrap())),
        vec![id(&a)]
    );
    assert_eq!(ids("q=ALPHA"), vec![id(&a)]);
    assert_eq!(ids("q=sales%40alpha"), vec![id(&a)]);
    assert_eq!(ids("q=555"), vec![id(&b)]);
    assert_eq!(ids("q=100%25"), vec![id(&c)], "% is literal");
    assert_eq!(ids("q=r_al"), Vec::<String>::new(), "_ is literal");
    assert_eq!(ids("q=real_deal"), vec![id(&c)]);
    assert_eq!(ids("kind=company&tag=vip&tier=a"), vec![id(&a)]);
    let created = a["created_at"].as_str().unwrap().replace('+', "%2B");
    assert_eq!(ids(&format!("created_before={created}")).len(), 0);
    assert_eq!(ids(&format!("created_after={created}")).len(), 3);
    let far = "2999-01-01T00:00:00Z";
    assert_eq!(ids(&format!("updated_since={far}")).len(), 0);
    assert_eq!(ids("updated_since=2000-01-01T00:00:00Z").len(), 3);
    let page = app
        .get(
            "/api/v1/customers?tag=vip&include_total=true&limit=1",
            &app.admin_token,
        )
        .json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
}

fn list_rejects_bad_parameters(app: &TestApp) {
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("sort=email", "sort"),
        ("kind=robot", "kind"),
        ("tier=z", "tier"),
        ("created_after=yesterday", "created_after"),
        ("cursor=garbage", "cursor"),
        ("include_total=maybe", "include_total"),
        ("colour=red", "colour"),
    ] {
        let p = app
            .get(&format!("/api/v1/customers?{query}"), &app.admin_token)
            .problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{query}: {p}");
    }
    // `q` takes 200 characters as sent, as the contract says, even those
    // that lower-case to two (İ).
    let q = "%C4%B0".repeat(200);
    app.get(&format!("/api/v1/customers?q={q}"), &app.admin_token)
        .expect(200);
    let p = app
        .get(&format!("/api/v1/customers?q={q}a"), &app.admin_token)
        .problem(422);
    assert_eq!(fields(&p), vec!["q"]);
    for _ in 0..3 {
        app.customer(json!({}));
    }
    let page = app
        .get("/api/v1/customers?limit=1&sort=name", &app.admin_token)
        .json();
    let cursor = page["next_cursor"].as_str().unwrap();
    let p = app
        .get(
            &format!("/api/v1/customers?limit=1&sort=created_at&cursor={cursor}"),
            &app.admin_token,
        )
        .problem(422);
    assert_eq!(
        fields(&p),
        vec!["cursor"],
        "a cursor only works with its own sort"
    );
}

fn idempotency_key_replays_and_refuses_other_bodies(app: &TestApp) {
    let t = Some(app.admin_token.as_str());
    let body = json!({"kind": "company", "name": "Once"}).to_string();
    let first = app
        .request(
            "POST",
            "/api/v1/customers",
            t,
            &[("Idempotency-Key", "abc-1")],
            Some(body.as_bytes()),
        )
        .expect(201);
    let again = app
        .request(
            "POST",
            "/api/v1/customers",
            t,
            &[("Idempotency-Key", "abc-1")],
            Some(body.as_bytes()),
        )
        .expect(201);
    assert_eq!(first.json(), again.json());
    assert_eq!(first.header("location"), again.header("location"));
    assert_eq!(again.header("etag"), Some("\"1\""));
    let other = json!({"kind": "company", "name": "Twice"}).to_string();
    app.request(
        "POST",
        "/api/v1/customers",
        t,
        &[("Idempotency-Key", "abc-1")],
        Some(other.as_bytes()),
    )
    .problem(422);
    let list = app
        .get("/api/v1/customers?include_total=true", &app.admin_token)
        .json();
    assert_eq!(list["total"], 1, "one customer however often it was sent");
    // A failed request stores nothing: the key can be used again.
    let bad = json!({"kind": "company", "name": "Dup", "external_id": "X"}).to_string();
    app.customer(json!({"external_id": "X"}));
    app.request(
        "POST",
        "/api/v1/customers",
        t,
        &[("Idempotency-Key", "abc-2")],
        Some(bad.as_bytes()),
    )
    .problem(409);
    let fixed = json!({"kind": "company", "name": "Dup", "external_id": "Y"}).to_string();
    app.request(
        "POST",
        "/api/v1/customers",
        t,
        &[("Idempotency-Key", "abc-2")],
        Some(fixed.as_bytes()),
    )
    .expect(201);
    // Keys belong to their caller.
    let agent = app.token_for("agent");
    app.request(
        "POST",
        "/api/v1/customers",
        Some(&agent),
        &[("Idempotency-Key", "abc-1")],
        Some(body.as_bytes()),
    )
    .expect(201);
    app.request(
        "POST",
        "/api/v1/customers",
        t,
        &[("Idempotency-Key", "")],
        Some(body.as_bytes()),
    )
    .problem(422);
}

/// A key is honoured for 24 hours: after that the same request creates
/// again, whether or not the expired key was deleted yet. Each replica deletes
/// expired keys at most once a minute, the first time at its first create.
fn idempotency_keys_expire_after_a_day(app: &TestApp) {
    use crm::db::schema::idempotency_keys as ik;
    let started = std::time::Instant::now();
    let mut pooled = app.db();
    let conn: &mut crm::db::DbConn = &mut pooled;
    let day_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(25);
    let expire_all = |conn: &mut crm::db::DbConn| {
        diesel::update(ik::table)
            .set(ik::created_at.eq(day_ago))
            .execute(conn)
            .unwrap();
    };
    let store_expired = |conn: &mut crm::db::DbConn, key: &str| {
        diesel::insert_into(ik::table)
            .values((
                ik::actor_id.eq("someone"),
                ik::key.eq(key),
                ik::request_hash.eq("0"),
                ik::status_code.eq(201),
                ik::body.eq("{}"),
                ik::created_at.eq(day_ago),
            ))
            .execute(conn)
            .unwrap();
    };
    let stored_keys = |conn: &mut crm::db::DbConn| {
        ik::table
            .select(ik::key)
            .order(ik::key)
            .load::<String>(conn)
            .unwrap()
    };
    let send = |key: &str, body: &Value| {
        app.request(
            "POST",
            "/api/v1/customers",
            Some(&app.admin_token),
            &[("Idempotency-Key", key)],
            Some(body.to_string().as_bytes()),
        )
    };
    let body = json!({"kind": "company", "name": "Once"});

    // Left from long ago; this process's first create deletes it.
    store_expired(conn, "ancient");
    let first = send("k-1", &body).expect(201).json();
    assert_eq!(stored_keys(conn), vec!["k-1"]);

    // A day later the same request creates again (the expired key is still
    // stored: the last cleanup was less than a minute ago) ...
    expire_all(conn);
    let again = send("k-1", &body).expect(201);
    assert_eq!(again.header("idempotent-replayed"), None);
    let again = again.json();
    assert_ne!(again["id"], first["id"]);
    // ... and the key now holds the new answer.
    let replayed = send("k-1", &body).expect(201);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.json(), again);
    // An expired key with another body is not a mismatch either.
    expire_all(conn);
    let other = send("k-1", &json!({"kind": "company", "name": "Other"})).expect(201);
    assert_eq!(other.json()["name"], "Other");

    // Within the minute, creates do not clean again.
    store_expired(conn, "stale");
    send("k-2", &body).expect(201);
    if started.elapsed() < std::time::Duration::from_secs(50) {
        assert_eq!(stored_keys(conn), vec!["k-1", "k-2", "stale"]);
    }
    let total = app
        .get("/api/v1/customers?include_total=true", &app.admin_token)
        .json()["total"]
        .clone();
    assert_eq!(total, 4);
}
fn history_is_the_audit_trail(app: &TestApp) {
    let agent = app.token_for("agent");
    let c = app
        .post(
            "/api/v1/customers",
            &agent,
            &json!({"kind": "company", "name": "H"}),
        )
        .expect(201)
        .json();
    let id = c["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/customers/{id}"),
        &agent,
        &json!({"name": "H2", "tags": ["a"]}),
    )
    .expect(200);
    app.delete(&format!("/api/v1/customers/{id}"), &app.admin_token)
        .expect(204);
    let h = app
        .get(&format!("/api/v1/customers/{id}/history"), &app.admin_token)
        .expect(200)
        .json();
    let events = h["data"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["created", "updated", "deleted"]);
    assert_eq!(events[0]["actor"]["type"], "user");
    assert_eq!(
        events[1]["changes"]["name"],
        json!({"old": "H", "new": "H2"})
    );
    assert_eq!(
        events[1]["changes"]["tags"],
        json!({"old": [], "new": ["a"]})
    );
    assert!(events[1]["changes"].get("version").is_none());
    assert_eq!(events[1]["data"]["name"], "H2");
    assert_eq!(events[2]["data"], Value::Null);
    assert_ne!(events[2]["actor"]["id"], events[0]["actor"]["id"]);
    assert_eq!(h["has_more"], false);
    assert_eq!(h["next_after"], events[2]["seq"]);
    let page = app
        .get(
            &format!("/api/v1/customers/{id}/history?limit=1"),
            &app.admin_token,
        )
        .json();
    assert_eq!(page["has_more"], true);
    let next = page["next_after"].as_i64().unwrap();
    let page2 = app
        .get(
            &format!("/api/v1/customers/{id}/history?limit=1&after={next}"),
            &app.admin_token,
        )
        .json();
    assert_eq!(page2["data"][0]["action"], "updated");
}

fn concurrent_patches_without_if_match_all_apply(app: &TestApp) {
    let c = app.customer(json!({}));
    let url = format!("/api/v1/customers/{}", c["id"].as_str().unwrap());
    std::thread::scope(|s| {
        for i in 0..8 {
            let url = &url;
            s.spawn(move || {
                app.patch(
                    url,
                    &app.admin_token,
                    &json!({"name": format!("writer {i}")}),
                )
                .expect(200);
            });
        }
    });
    let now = app.get(&url, &app.admin_token).expect(200).json();
    assert_eq!(now["version"], 9, "every change applied once, none lost");
    let history = app
        .get(&format!("{url}/history?limit=500"), &app.admin_token)
        .json();
    assert_eq!(history["data"].as_array().unwrap().len(), 9);
}
