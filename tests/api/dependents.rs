//! The shared checks and the declared dependents: missing references are
//! listed in one 422, unique values answer 409 naming the holder, and a
//! delete applies what the parent declares (cascade, clear, refuse).

use serde_json::json;

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    every_missing_reference_is_listed_in_one_answer,
    a_taken_unique_value_names_its_holder,
    a_refused_delete_names_how_many_depend_on_it,
    a_delete_cascades_and_clears_with_an_event_each,
);

fn every_missing_reference_is_listed_in_one_answer(app: &TestApp) {
    let p = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            &json!({"kind": "person", "name": "P", "owner_id": "no-such-user", "referred_by_id": "no-such-customer"}),
        )
        .problem(422);
    let mut listed = fields(&p);
    listed.sort();
    assert_eq!(listed, vec!["owner_id", "referred_by_id"], "{p}");
    for e in p["errors"].as_array().unwrap() {
        assert_eq!(e["code"], "not_found");
    }
    // Nothing was created.
    let page = app
        .get("/api/v1/customers?include_total=true", &app.admin_token)
        .expect(200)
        .json();
    assert_eq!(page["total"], 0);
    // One missing among present ones is named alone.
    let referrer = app.customer(json!({}));
    let p = app
        .post(
            "/api/v1/customers",
            &app.admin_token,
            &json!({"kind": "person", "name": "P", "owner_id": "no-such-user", "referred_by_id": referrer["id"]}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["owner_id"]);
}

fn a_taken_unique_value_names_its_holder(app: &TestApp) {
    let holder = app.customer(json!({"email": "taken@example.com", "external_id": "erp-1"}));
    for body in [
        json!({"kind": "person", "name": "Q", "email": "TAKEN@example.com"}),
        json!({"kind": "person", "name": "Q", "external_id": "erp-1"}),
    ] {
        let p = app
            .post("/api/v1/customers", &app.admin_token, &body)
            .problem(409);
        assert_eq!(p["existing_id"], holder["id"], "{p}");
    }
}

fn a_refused_delete_names_how_many_depend_on_it(app: &TestApp) {
    let user = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            &json!({"email": "owner@example.com", "name": "O", "role": "agent", "password": "password-123"}),
        )
        .expect(201)
        .json();
    for _ in 0..3 {
        app.customer(json!({"owner_id": user["id"]}));
    }
    let url = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let p = app.delete(&url, &app.admin_token).problem(409);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("3 customers") && detail.contains("owner_id"),
        "{p}"
    );
    // Nothing changed: the user is still there.
    app.get(&url, &app.admin_token).expect(200);
}

fn a_delete_cascades_and_clears_with_an_event_each(app: &TestApp) {
    let parent = app.customer(json!({}));
    let parent_id = parent["id"].as_str().unwrap();
    let referred = app.customer(json!({"referred_by_id": parent_id}));
    let contacts: Vec<String> = (0..2)
        .map(|i| {
            app.post(
                "/api/v1/contacts",
                &app.admin_token,
                &json!({"customer_id": parent_id, "first_name": format!("C{i}")}),
            )
            .expect(201)
            .json()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let after = app
        .get("/api/v1/events?after=0&limit=500", &app.admin_token)
        .json()["next_after"]
        .as_i64()
        .unwrap();
    app.delete(&format!("/api/v1/customers/{parent_id}"), &app.admin_token)
        .expect(204);

    let referred_now = app
        .get(
            &format!("/api/v1/customers/{}", referred["id"].as_str().unwrap()),
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert!(referred_now["referred_by_id"].is_null());
    assert_eq!(referred_now["version"], 2);
    for id in &contacts {
        app.get(&format!("/api/v1/contacts/{id}"), &app.admin_token)
            .problem(404);
    }
    let events = app
        .get(&format!("/api/v1/events?after={after}"), &app.admin_token)
        .json();
    let mut seen: Vec<(String, String, String)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["record_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (
            "customers".to_string(),
            "deleted".to_string(),
            parent_id.to_string(),
        ),
        (
            "customers".to_string(),
            "updated".to_string(),
            referred["id"].as_str().unwrap().to_string(),
        ),
    ];
    for id in &contacts {
        expected.push(("contacts".into(), "deleted".into(), id.clone()));
    }
    expected.sort();
    assert_eq!(seen, expected);
}
