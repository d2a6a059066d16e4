//! Contacts through HTTP: people at a customer, on the customers pattern.

use std::sync::Barrier;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    create_read_normalizes_and_sets_etag,
    create_rejects_invalid_input_naming_fields,
    customer_must_exist,
    malformed_bodies_get_documented_errors,
    external_id_conflicts_name_existing_record,
    patch_is_a_json_merge_patch,
    delete_removes_and_logs_event,
    one_primary_contact_per_customer,
    primary_contact_migration_keeps_the_latest,
    list_filters_by_customer_and_text,
    list_rejects_bad_parameters,
    customer_contacts_route,
    idempotency_key_replays_and_refuses_other_bodies,
);

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Creates a contact of `customer` from `body` merged over a minimal one.
fn contact(app: &TestApp, customer: &Value, body: Value) -> Value {
    let mut doc = json!({"customer_id": customer["id"], "first_name": "Ada"});
    if let (Some(d), Some(b)) = (doc.as_object_mut(), body.as_object()) {
        for (k, v) in b {
            d.insert(k.clone(), v.clone());
        }
    }
    app.post("/api/v1/contacts", &app.admin_token, &doc)
        .expect(201)
        .json()
}

/// Every event of the feed about `resource`.
fn events_of(app: &TestApp, resource: &str) -> Vec<Value> {
    let feed = app
        .get(
            &format!("/api/v1/events?resource={resource}&limit=500"),
            &app.admin_token,
        )
        .expect(200)
        .json();
    feed["data"].as_array().unwrap().clone()
}

fn contacts_total(app: &TestApp) -> i64 {
    app.get("/api/v1/contacts?include_total=true", &app.admin_token)
        .expect(200)
        .json()["total"]
        .as_i64()
        .unwrap()
}

fn create_read_normalizes_and_sets_etag(app: &TestApp) {
    let customer = app.customer(json!({}));
    let res = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({
                "customer_id": customer["id"], "first_name": "  Ada ", "last_name": " Lovelace ",
                "email": " Ada@Example.COM ", "phone": "+44 20 7946 0000", "title": " CTO ",
                "is_primary": true, "external_id": " ERP-C-1 "
            }),
        )
        .expect(201);
    let c = res.json();
    let id = id_of(&c);
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/contacts/{id}").as_str())
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(c["customer_id"], customer["id"]);
    assert_eq!(c["first_name"], "Ada");
    assert_eq!(c["last_name"], "Lovelace");
    assert_eq!(c["email"], "ada@example.com");
    assert_eq!(c["phone"], "+44 20 7946 0000");
    assert_eq!(c["title"], "CTO");
    assert_eq!(c["is_primary"], true);
    assert_eq!(c["external_id"], "ERP-C-1");
    assert_eq!(c["version"], 1);
    assert!(c["created_at"].is_string() && c["updated_at"] == c["created_at"]);

    let got = app
        .get(&format!("/api/v1/contacts/{id}"), &app.admin_token)
        .expect(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.json(), c, "read back exactly what create answered");

    // Optional fields default to null / false; empty strings become null.
    let minimal = contact(app, &customer, json!({"email": "  ", "title": ""}));
    for field in ["last_name", "email", "phone", "title", "external_id"] {
        assert_eq!(minimal[field], Value::Null, "{field}");
    }
    assert_eq!(minimal["is_primary"], false);

    let events = events_of(app, "contacts");
    let created = events.iter().find(|e| e["record_id"] == c["id"]).unwrap();
    assert_eq!(created["action"], "created");
    assert_eq!(created["data"], c);
    assert_eq!(
        created["changes"]["first_name"],
        json!({"old": null, "new": "Ada"})
    );

    app.get("/api/v1/contacts/does-not-exist", &app.admin_token)
        .problem(404);
}

fn create_rejects_invalid_input_naming_fields(app: &TestApp) {
    let customer = app.customer(json!({}));
    let cid = customer["id"].clone();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"first_name": "Ada"}), "customer_id"),
        (json!({"customer_id": cid}), "first_name"),
        (
            json!({"customer_id": cid, "first_name": "   "}),
            "first_name",
        ),
        (
            json!({"customer_id": cid, "first_name": "x".repeat(101)}),
            "first_name",
        ),
        (json!({"customer_id": cid, "first_name": 7}), "first_name"),
        (
            json!({"customer_id": 7, "first_name": "Ada"}),
            "customer_id",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "last_name": "x".repeat(101)}),
            "last_name",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "phone": "call me"}),
            "phone",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "title": "x".repeat(101)}),
            "title",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "is_primary": "yes"}),
            "is_primary",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "external_id": "x".repeat(201)}),
            "external_id",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "nickname": "A"}),
            "nickname",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "id": "chosen"}),
            "id",
        ),
        (
            json!({"customer_id": cid, "first_name": "Ada", "version": 2}),
            "version",
        ),
    ];
    for (body, field) in cases {
        let p = app
            .post("/api/v1/contacts", &app.admin_token, &body)
            .problem(422);
        assert!(
            fields(&p).contains(&field.to_string()),
            "{body} should name {field}: {p}"
        );
    }
    assert_eq!(contacts_total(app), 0, "invalid requests changed nothing");
}

fn customer_must_exist(app: &TestApp) {
    let p = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": "no-such-customer", "first_name": "Ada"}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["customer_id"]);
    assert_eq!(p["errors"][0]["code"], "not_found");

    let customer = app.customer(json!({}));
    let c = contact(app, &customer, json!({}));
    let url = format!("/api/v1/contacts/{}", id_of(&c));
    let p = app
        .patch(&url, &app.admin_token, &json!({"customer_id": "gone"}))
        .problem(422);
    assert_eq!(fields(&p), vec!["customer_id"]);
    let p = app
        .patch(&url, &app.admin_token, &json!({"customer_id": null}))
        .problem(422);
    assert_eq!(fields(&p), vec!["customer_id"]);
    let now = app.get(&url, &app.admin_token).expect(200).json();
    assert_eq!(now, c, "refused patches changed nothing");

    // Moving a contact to another existing customer works.
    let other = app.customer(json!({"name": "Other"}));
    let moved = app
        .patch(&url, &app.admin_token, &json!({"customer_id": other["id"]}))
        .expect(200)
        .json();
    assert_eq!(moved["customer_id"], other["id"]);
    assert_eq!(moved["version"], 2);
}

fn malformed_bodies_get_documented_errors(app: &TestApp) {
    let customer = app.customer(json!({}));
    let t = Some(app.admin_token.as_str());
    let p = app
        .request(
            "POST",
            "/api/v1/contacts",
            t,
            &[],
            Some(b"{\"first_name\": "),
        )
        .problem(400);
    assert!(p["detail"].as_str().unwrap().contains("JSON"));
    app.request("POST", "/api/v1/contacts", t, &[], Some(b"\"Ada\""))
        .problem(422);
    let body = json!({"customer_id": customer["id"], "first_name": "Ada"}).to_string();
    app.request(
        "POST",
        "/api/v1/contacts",
        t,
        &[("Content-Type", "text/plain")],
        Some(body.as_bytes()),
    )
    .problem(415);
    let huge = json!({"customer_id": customer["id"], "first_name": "x".repeat(2 * 1024 * 1024)});
    app.request(
        "POST",
        "/api/v1/contacts",
        t,
        &[],
        Some(huge.to_string().as_bytes()),
    )
    .problem(413);
    let c = contact(app, &customer, json!({}));
    let url = format!("/api/v1/contacts/{}", id_of(&c));
    app.request("PATCH", &url, t, &[], Some(b"{oops"))
        .problem(400);
    app.request(
        "PATCH",
        &url,
        t,
        &[("Content-Type", "text/plain")],
        Some(b"{}"),
    )
    .problem(415);
    let odd = contact(
        app,
        &customer,
        json!({"first_name": "Zoë 🚀 '; DROP TABLE contacts; --", "title": "<b>boss</b>"}),
    );
    assert_eq!(odd["first_name"], "Zoë 🚀 '; DROP TABLE contacts; --");
    assert_eq!(odd["title"], "<b>boss</b>");
    assert_eq!(contacts_total(app), 2);
}

fn external_id_conflicts_name_existing_record(app: &TestApp) {
    let customer = app.customer(json!({}));
    let first = contact(app, &customer, json!({"external_id": "C-1"}));
    let p = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": customer["id"], "first_name": "Bob", "external_id": " C-1 "}),
        )
        .problem(409);
    assert_eq!(p["existing_id"], first["id"]);
    assert_eq!(fields(&p), vec!["external_id"]);

    let second = contact(
        app,
        &customer,
        json!({"first_name": "Bob", "external_id": "C-2"}),
    );
    let url = format!("/api/v1/contacts/{}", id_of(&second));
    let p = app
        .patch(&url, &app.admin_token, &json!({"external_id": "C-1"}))
        .problem(409);
    assert_eq!(p["existing_id"], first["id"]);
    assert_eq!(app.get(&url, &app.admin_token).json()["external_id"], "C-2");
    // A record may keep its own external_id, and a freed one can be reused.
    app.patch(
        &url,
        &app.admin_token,
        &json!({"external_id": "C-2", "title": "x"}),
    )
    .expect(200);
    app.patch(
        &format!("/api/v1/contacts/{}", id_of(&first)),
        &app.admin_token,
        &json!({"external_id": null}),
    )
    .expect(200);
    let now = app
        .patch(&url, &app.admin_token, &json!({"external_id": "C-1"}))
        .expect(200)
        .json();
    assert_eq!(now["external_id"], "C-1");
    assert_eq!(contacts_total(app), 2);
}

fn patch_is_a_json_merge_patch(app: &TestApp) {
    let customer = app.customer(json!({}));
    let c = contact(
        app,
        &customer,
        json!({"last_name": "Lovelace", "email": "ada@example.com", "phone": "123456", "title": "CTO"}),
    );
    let url = format!("/api/v1/contacts/{}", id_of(&c));
    let res = app
        .patch(
            &url,
            &app.admin_token,
            &json!({"phone": null, "title": null, "email": " NEW@Example.com ", "first_name": " Augusta "}),
        )
        .expect(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let u = res.json();
    assert_eq!(u["phone"], Value::Null);
    assert_eq!(u["title"], Value::Null);
    assert_eq!(u["email"], "new@example.com", "normalized like on create");
    assert_eq!(u["first_name"], "Augusta");
    assert_eq!(u["last_name"], "Lovelace", "fields not sent are kept");
    assert_eq!(u["customer_id"], customer["id"]);
    assert_eq!(u["version"], 2);
    assert_eq!(u["created_at"], c["created_at"]);
    assert_eq!(app.get(&url, &app.admin_token).json(), u);

    let events = events_of(app, "contacts");
    let last = events.last().unwrap();
    assert_eq!(last["action"], "updated");
    assert_eq!(
        last["changes"]["phone"],
        json!({"old": "123456", "new": null})
    );
    assert_eq!(
        last["changes"]["first_name"],
        json!({"old": "Ada", "new": "Augusta"})
    );
    assert!(
        last["changes"].get("last_name").is_none(),
        "unchanged fields are not listed"
    );
    assert_eq!(last["data"], u);

    // A patch that changes nothing keeps the version and writes no event.
    let same = app
        .patch(&url, &app.admin_token, &json!({"last_name": "Lovelace"}))
        .expect(200)
        .json();
    assert_eq!(same["version"], 2);
    assert_eq!(events_of(app, "contacts").len(), events.len());

    for (body, field) in [
        (json!({"first_name": null}), "first_name"),
        (json!({"first_name": ""}), "first_name"),
        (json!({"first_name": 3}), "first_name"),
        (json!({"email": "nope"}), "email"),
        (json!({"is_primary": "yes"}), "is_primary"),
        (json!({"nickname": "x"}), "nickname"),
        (json!({"id": "x"}), "id"),
        (json!({"created_at": "2020-01-01T00:00:00Z"}), "created_at"),
    ] {
        let p = app.patch(&url, &app.admin_token, &body).problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{body}: {p}");
    }
    assert_eq!(app.get(&url, &app.admin_token).json()["version"], 2);
    app.request(
        "PATCH",
        &url,
        Some(&app.admin_token),
        &[("Content-Type", "application/merge-patch+json")],
        Some(b"{\"title\":\"Countess\"}"),
    )
    .expect(200);
    assert_eq!(app.get(&url, &app.admin_token).json()["title"], "Countess");
    app.patch(
        "/api/v1/contacts/unknown",
        &app.admin_token,
        &json!({"title": "x"}),
    )
    .problem(404);
}

fn delete_removes_and_logs_event(app: &TestApp) {
    let customer = app.customer(json!({}));
    let c = contact(app, &customer, json!({"first_name": "Gone"}));
    let keep = contact(app, &customer, json!({"first_name": "Kept"}));
    let url = format!("/api/v1/contacts/{}", id_of(&c));
    let res = app.delete(&url, &app.admin_token).expect(204);
    assert!(res.body.is_empty());
    app.get(&url, &app.admin_token).problem(404);
    app.get(
        &format!("/api/v1/contacts/{}", id_of(&keep)),
        &app.admin_token,
    )
    .expect(200);
    app.get(
        &format!("/api/v1/customers/{}", id_of(&customer)),
        &app.admin_token,
    )
    .expect(200);
    let last = events_of(app, "contacts").last().unwrap().clone();
    assert_eq!(last["action"], "deleted");
    assert_eq!(last["record_id"], c["id"]);
    assert_eq!(last["data"], Value::Null);
    assert_eq!(
        last["changes"]["first_name"],
        json!({"old": "Gone", "new": null})
    );
    app.delete(&url, &app.admin_token).problem(404);
    assert_eq!(contacts_total(app), 1);
}

fn one_primary_contact_per_customer(app: &TestApp) {
    let customer = app.customer(json!({}));
    let other_customer = app.customer(json!({"name": "Other"}));
    let elsewhere = contact(app, &other_customer, json!({"is_primary": true}));
    let a = contact(
        app,
        &customer,
        json!({"first_name": "A", "is_primary": true}),
    );
    let plain = contact(app, &customer, json!({"first_name": "Plain"}));
    let seq_before = events_of(app, "contacts").last().unwrap()["seq"]
        .as_i64()
        .unwrap();

    // A new primary clears the flag on the customer's other primary contact.
    let b = contact(
        app,
        &customer,
        json!({"first_name": "B", "is_primary": true}),
    );
    let get = |c: &Value| {
        app.get(&format!("/api/v1/contacts/{}", id_of(c)), &app.admin_token)
            .expect(200)
            .json()
    };
    let a_now = get(&a);
    assert_eq!(a_now["is_primary"], false);
    assert_eq!(a_now["version"], 2);
    assert_eq!(get(&b)["is_primary"], true);
    assert_eq!(get(&plain)["version"], 1, "non-primary contacts untouched");
    assert_eq!(
        get(&elsewhere)["is_primary"],
        true,
        "other customers untouched"
    );
    assert_eq!(get(&elsewhere)["version"], 1);

    let new_events: Vec<Value> = events_of(app, "contacts")
        .into_iter()
        .filter(|e| e["seq"].as_i64().unwrap() > seq_before)
        .collect();
    assert_eq!(new_events.len(), 2, "{new_events:?}");
    let cleared = new_events
        .iter()
        .find(|e| e["record_id"] == a["id"])
        .expect("event for the contact that lost the flag");
    assert_eq!(cleared["action"], "updated");
    assert_eq!(
        cleared["changes"],
        json!({"is_primary": {"old": true, "new": false}})
    );
    assert_eq!(cleared["data"]["is_primary"], false);
    let created = new_events
        .iter()
        .find(|e| e["record_id"] == b["id"])
        .unwrap();
    assert_eq!(created["action"], "created");
    assert_eq!(cleared["actor"], created["actor"]);

    // Making one primary by PATCH does the same.
    let res = app
        .patch(
            &format!("/api/v1/contacts/{}", id_of(&plain)),
            &app.admin_token,
            &json!({"is_primary": true}),
        )
        .expect(200)
        .json();
    assert_eq!(res["is_primary"], true);
    let b_now = get(&b);
    assert_eq!(b_now["is_primary"], false);
    assert_eq!(b_now["version"], 2);
    assert_eq!(get(&a)["version"], 2, "a was no longer primary: untouched");
    let last_b = events_of(app, "contacts")
        .into_iter()
        .rfind(|e| e["record_id"] == b["id"])
        .unwrap();
    assert_eq!(
        last_b["changes"],
        json!({"is_primary": {"old": true, "new": false}})
    );

    let primaries = app
        .get(
            &format!("/api/v1/customers/{}/contacts", id_of(&customer)),
            &app.admin_token,
        )
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_primary"] == true)
        .count();
    assert_eq!(primaries, 1);

    // Clearing the flag leaves the customer without a primary contact.
    let res = app
        .patch(
            &format!("/api/v1/contacts/{}", id_of(&plain)),
            &app.admin_token,
            &json!({"is_primary": false}),
        )
        .expect(200)
        .json();
    assert_eq!(res["is_primary"], false);
    assert_eq!(get(&b)["is_primary"], false);

    // Moving a primary contact to another customer makes it that customer's
    // primary, clearing the flag there.
    let moved = app
        .patch(
            &format!("/api/v1/contacts/{}", id_of(&b)),
            &app.admin_token,
            &json!({"is_primary": true, "customer_id": other_customer["id"]}),
        )
        .expect(200)
        .json();
    assert_eq!(moved["customer_id"], other_customer["id"]);
    assert_eq!(moved["is_primary"], true);
    let was_primary = get(&elsewhere);
    assert_eq!(was_primary["is_primary"], false);
    assert_eq!(was_primary["version"], 2);
}

/// The contacts of `customer` (at most 500).
fn contacts_of(app: &TestApp, customer: &Value) -> Vec<Value> {
    app.get(
        &format!("/api/v1/customers/{}/contacts?limit=500", id_of(customer)),
        &app.admin_token,
    )
    .expect(200)
    .json()["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// Many writers at once make contacts of one customer primary, by create and
/// by PATCH (of contacts that are or are not primary): each request succeeds,
/// the customer ends with exactly one primary contact, and the feed tells
/// every contact's final state.
#[test]
fn concurrent_primaries_leave_exactly_one() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 6;
    // Enough connections that no writer waits for the pool.
    let Some(app) = TestApp::postgres_with(&[("CRM_DB_POOL_SIZE", "16")]) else {
        return;
    };
    let customer = app.customer(json!({}));
    let existing: Vec<String> = (0..THREADS)
        .map(|i| {
            id_of(&contact(
                &app,
                &customer,
                json!({"first_name": format!("E{i}")}),
            ))
        })
        .collect();
    let barrier = Barrier::new(THREADS);
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (app, customer, existing, barrier) = (&app, &customer, &existing, &barrier);
                s.spawn(move || {
                    let mut answers = Vec::new();
                    for round in 0..ROUNDS {
                        barrier.wait();
                        let res = if (t + round) % 2 == 0 {
                            app.post(
                                "/api/v1/contacts",
                                &app.admin_token,
                                &json!({
                                    "customer_id": customer["id"],
                                    "first_name": format!("N{t}-{round}"),
                                    "is_primary": true
                                }),
                            )
                        } else {
                            let id = &existing[(t + round) % existing.len()];
                            app.patch(
                                &format!("/api/v1/contacts/{id}"),
                                &app.admin_token,
                                &json!({"is_primary": true, "title": format!("T{t}-{round}")}),
                            )
                        };
                        answers.push((res.status, res.body));
                    }
                    answers
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    for (status, body) in &answers {
        assert!(
            *status == 200 || *status == 201,
            "unexpected answer {status}: {body}"
        );
    }

    let all = contacts_of(&app, &customer);
    assert_eq!(all.len(), THREADS + THREADS * ROUNDS / 2);
    let primaries: Vec<&Value> = all.iter().filter(|c| c["is_primary"] == true).collect();
    assert_eq!(primaries.len(), 1, "{primaries:?}");

    // Every demotion was logged: each contact's last event shows it as it is.
    let events = events_of(&app, "contacts");
    for c in &all {
        let last = events
            .iter()
            .rfind(|e| e["record_id"] == c["id"])
            .expect("an event per contact");
        assert_eq!(&last["data"], c, "{last}");
    }
}

/// Where an earlier race left several primary contacts, the migration that
/// adds the unique index keeps the most recently updated one (then the
/// newest) primary, and from then on the index holds.
fn primary_contact_migration_keeps_the_latest(app: &TestApp) {
    use crm::db::schema::contacts as c;
    let customer = app.customer(json!({}));
    let other_customer = app.customer(json!({"name": "Other"}));
    let oldest = contact(
        app,
        &customer,
        json!({"first_name": "A", "is_primary": true}),
    );
    let tied = contact(app, &customer, json!({"first_name": "B"}));
    let newest = contact(app, &customer, json!({"first_name": "C"}));
    let plain = contact(app, &customer, json!({"first_name": "D"}));
    let elsewhere = contact(app, &other_customer, json!({"is_primary": true}));

    let up_sql = if app.backend == "postgres" {
        include_str!("../../migrations/postgres/2026-11-29-000002_primary_contact_unique/up.sql")
    } else {
        include_str!("../../migrations/sqlite/2026-11-29-000002_primary_contact_unique/up.sql")
    };
    let mut pooled = app.db();
    let conn: &mut crm::db::DbConn = &mut pooled;
    // The state before the migration: no index, three primaries.
    conn.batch_execute("DROP INDEX contacts_one_primary")
        .unwrap();
    let hour = chrono::Duration::hours(1);
    let now = chrono::Utc::now().naive_utc();
    for (who, at) in [
        (&oldest, now - hour * 2),
        (&tied, now - hour),
        (&newest, now - hour),
    ] {
        diesel::update(c::table.find(id_of(who)))
            .set((c::is_primary.eq(true), c::updated_at.eq(at)))
            .execute(conn)
            .unwrap();
    }

    conn.batch_execute(up_sql).unwrap();

    let get = |v: &Value| {
        app.get(&format!("/api/v1/contacts/{}", id_of(v)), &app.admin_token)
            .expect(200)
            .json()
    };
    let primaries: Vec<String> = contacts_of(app, &customer)
        .iter()
        .filter(|c| c["is_primary"] == true)
        .map(id_of)
        .collect();
    assert_eq!(
        primaries,
        vec![id_of(&newest)],
        "same time: the newest id wins"
    );
    for demoted in [&oldest, &tied] {
        let now = get(demoted);
        assert_eq!(now["is_primary"], false);
        assert_eq!(now["version"], 2, "a new version for the repaired record");
    }
    assert_eq!(get(&plain)["version"], 1, "untouched");
    assert_eq!(get(&newest)["version"], 1, "untouched");
    assert_eq!(
        get(&elsewhere)["is_primary"],
        true,
        "other customers untouched"
    );
    assert_eq!(get(&elsewhere)["version"], 1);

    // The index holds: a second primary cannot be written behind the API's back.
    let second = diesel::update(c::table.find(id_of(&plain)))
        .set(c::is_primary.eq(true))
        .execute(conn);
    assert!(
        matches!(
            second,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        ),
        "{second:?}"
    );
    // Through the API it moves the flag.
    app.patch(
        &format!("/api/v1/contacts/{}", id_of(&plain)),
        &app.admin_token,
        &json!({"is_primary": true}),
    )
    .expect(200);
    assert_eq!(get(&newest)["is_primary"], false);
}

fn collect_pages(app: &TestApp, base: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if base.contains('?') { '&' } else { '?' };
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}{sep}cursor={c}"),
            None => base.to_string(),
        };
        let page = app.get(&url, &app.admin_token).expect(200).json();
        let data = page["data"].as_array().unwrap();
        all.extend(data.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(!data.is_empty(), "a page with a cursor has data");
                cursor = Some(c.to_string());
            }
            None => break,
        }
        assert!(all.len() < 1000, "paging does not end");
    }
    all
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(id_of).collect()
}

fn list_filters_by_customer_and_text(app: &TestApp) {
    let acme = app.customer(json!({"name": "Acme"}));
    let globex = app.customer(json!({"name": "Globex"}));
    let ada = contact(
        app,
        &acme,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example"}),
    );
    let bob = contact(
        app,
        &acme,
        json!({"first_name": "Bob", "phone": "+1 555 0100"}),
    );
    let cy = contact(
        app,
        &globex,
        json!({"first_name": "Cy", "last_name": "100% Real_Deal", "title": "Lovelace fan"}),
    );
    let list = |q: &str| -> Vec<String> {
        let page = app
            .get(
                &format!("/api/v1/contacts?sort=created_at&{q}"),
                &app.admin_token,
            )
            .expect(200)
            .json();
        ids(page["data"].as_array().unwrap())
    };
    assert_eq!(list(""), vec![id_of(&ada), id_of(&bob), id_of(&cy)]);
    assert_eq!(
        list(&format!("customer_id={}", id_of(&acme))),
        vec![id_of(&ada), id_of(&bob)]
    );
    assert_eq!(
        list(&format!("customer_id={}", id_of(&globex))),
        vec![id_of(&cy)]
    );
    assert_eq!(list("customer_id=nobody"), Vec::<String>::new());
    assert_eq!(
        list("q=LOVELACE"),
        vec![id_of(&ada)],
        "title is not searched"
    );
    assert_eq!(list("q=acme.example"), vec![id_of(&ada)]);
    assert_eq!(list("q=555"), vec![id_of(&bob)]);
    assert_eq!(list("q=%20bob%20"), vec![id_of(&bob)], "q is trimmed");
    assert_eq!(list("q=100%25"), vec![id_of(&cy)], "% is literal");
    assert_eq!(list("q=r_al"), Vec::<String>::new(), "_ is literal");
    assert_eq!(list("q=real_deal"), vec![id_of(&cy)]);
    assert_eq!(list("q="), list(""), "an empty q matches everything");
    assert_eq!(
        list(&format!("customer_id={}&q=bob", id_of(&acme))),
        vec![id_of(&bob)]
    );
    assert_eq!(
        list(&format!("customer_id={}&q=ada", id_of(&globex))),
        Vec::<String>::new()
    );
    let default = app
        .get("/api/v1/contacts", &app.admin_token)
        .expect(200)
        .json();
    assert_eq!(
        ids(default["data"].as_array().unwrap()),
        vec![id_of(&cy), id_of(&bob), id_of(&ada)],
        "newest first by default"
    );
    assert!(default.get("total").is_none());
    assert_eq!(default["next_cursor"], Value::Null);
    let page = app
        .get(
            &format!(
                "/api/v1/contacts?customer_id={}&include_total=true&limit=1",
                id_of(&acme)
            ),
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
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("sort=name", "sort"),
        ("sort=email", "sort"),
        ("cursor=garbage", "cursor"),
        ("include_total=maybe", "include_total"),
        ("kind=company", "kind"),
        ("colour=red", "colour"),
    ] {
        let p = app
            .get(&format!("/api/v1/contacts?{query}"), &app.admin_token)
            .problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{query}: {p}");
    }
    let long_q = "q".repeat(201);
    let p = app
        .get(&format!("/api/v1/contacts?q={long_q}"), &app.admin_token)
        .problem(422);
    assert_eq!(fields(&p), vec!["q"]);
    let customer = app.customer(json!({}));
    for _ in 0..3 {
        contact(app, &customer, json!({}));
    }
    let page = app
        .get("/api/v1/contacts?limit=1&sort=updated_at", &app.admin_token)
        .json();
    let cursor = page["next_cursor"].as_str().unwrap();
    let p = app
        .get(
            &format!("/api/v1/contacts?limit=1&sort=created_at&cursor={cursor}"),
            &app.admin_token,
        )
        .problem(422);
    assert_eq!(
        fields(&p),
        vec!["cursor"],
        "a cursor only works with its own sort"
    );
    app.get(
        &format!("/api/v1/contacts?limit=1&sort=updated_at&cursor={cursor}"),
        &app.admin_token,
    )
    .expect(200);
}

fn customer_contacts_route(app: &TestApp) {
    let acme = app.customer(json!({"name": "Acme"}));
    let globex = app.customer(json!({"name": "Globex"}));
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(contact(
            app,
            &acme,
            json!({"first_name": format!("Acme {i}")}),
        ));
    }
    let theirs = contact(app, &globex, json!({"first_name": "Acme fan"}));
    let base = format!("/api/v1/customers/{}/contacts", id_of(&acme));

    let page = app.get(&base, &app.admin_token).expect(200).json();
    let mut expected = ids(&mine);
    expected.reverse();
    assert_eq!(
        ids(page["data"].as_array().unwrap()),
        expected,
        "newest first"
    );
    assert_eq!(page["next_cursor"], Value::Null);

    let all = collect_pages(app, &format!("{base}?limit=2&sort=created_at"));
    assert_eq!(
        ids(&all),
        ids(&mine),
        "paged, oldest first, nothing skipped"
    );

    let found = app
        .get(
            &format!("{base}?q=acme%203&include_total=true"),
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(
        ids(found["data"].as_array().unwrap()),
        vec![id_of(&mine[3])]
    );
    assert_eq!(found["total"], 1);
    let fan = app
        .get(
            &format!("/api/v1/customers/{}/contacts?q=fan", id_of(&globex)),
            &app.admin_token,
        )
        .json();
    assert_eq!(ids(fan["data"].as_array().unwrap()), vec![id_of(&theirs)]);

    let empty = app.customer(json!({"name": "Empty"}));
    let none = app
        .get(
            &format!("/api/v1/customers/{}/contacts", id_of(&empty)),
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(none["data"], json!([]));

    app.get(
        "/api/v1/customers/no-such-customer/contacts",
        &app.admin_token,
    )
    .problem(404);
    let p = app
        .get(
            &format!("{base}?customer_id={}", id_of(&globex)),
            &app.admin_token,
        )
        .problem(422);
    assert_eq!(
        fields(&p),
        vec!["customer_id"],
        "the path names the customer"
    );
    let p = app
        .get(&format!("{base}?limit=0"), &app.admin_token)
        .problem(422);
    assert_eq!(fields(&p), vec!["limit"]);
    app.request("GET", &base, None, &[], None).problem(401);

    // After the customer is deleted, its contacts route is gone too.
    app.delete(
        &format!("/api/v1/customers/{}", id_of(&acme)),
        &app.admin_token,
    )
    .expect(204);
    app.get(&base, &app.admin_token).problem(404);
}

fn idempotency_key_replays_and_refuses_other_bodies(app: &TestApp) {
    let customer = app.customer(json!({}));
    let t = Some(app.admin_token.as_str());
    let body = json!({"customer_id": customer["id"], "first_name": "Once"}).to_string();
    let key = [("Idempotency-Key", "contact-1")];
    let first = app
        .request("POST", "/api/v1/contacts", t, &key, Some(body.as_bytes()))
        .expect(201);
    let again = app
        .request("POST", "/api/v1/contacts", t, &key, Some(body.as_bytes()))
        .expect(201);
    assert_eq!(first.json(), again.json());
    assert_eq!(first.header("location"), again.header("location"));
    assert_eq!(again.header("etag"), Some("\"1\""));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = json!({"customer_id": customer["id"], "first_name": "Twice"}).to_string();
    app.request("POST", "/api/v1/contacts", t, &key, Some(other.as_bytes()))
        .problem(422);
    assert_eq!(
        contacts_total(app),
        1,
        "one contact however often it was sent"
    );
    let created = events_of(app, "contacts")
        .iter()
        .filter(|e| e["action"] == "created")
        .count();
    assert_eq!(created, 1, "one event too");

    // A failed request stores nothing: the key can be used again.
    let bad = json!({"customer_id": "missing", "first_name": "Later"}).to_string();
    let key2 = [("Idempotency-Key", "contact-2")];
    app.request("POST", "/api/v1/contacts", t, &key2, Some(bad.as_bytes()))
        .problem(422);
    let fixed = json!({"customer_id": customer["id"], "first_name": "Later"}).to_string();
    app.request("POST", "/api/v1/contacts", t, &key2, Some(fixed.as_bytes()))
        .expect(201);
    // Keys belong to their caller.
    let agent = app.token_for("agent");
    let res = app
        .request(
            "POST",
            "/api/v1/contacts",
            Some(&agent),
            &key,
            Some(body.as_bytes()),
        )
        .expect(201);
    assert_ne!(res.json()["id"], first.json()["id"]);
    assert_eq!(contacts_total(app), 3);
}
