//! Several replicas on one PostgreSQL share everything that matters: the
//! token secret kept in the database, users, records, and one gap-free feed.

use std::collections::HashSet;

use serde_json::json;

use crate::common::TestApp;

/// No `CRM_JWT_SECRET`: the secret is generated once and kept in the database.
const NO_SECRET: &[(&str, &str)] = &[("CRM_JWT_SECRET", "")];

#[test]
fn replicas_share_secret_records_and_feed() {
    let Some(a) = TestApp::postgres_with(NO_SECRET) else {
        return;
    };
    let b = a.replica(NO_SECRET);

    // A token from one replica works on the other.
    let token_from_a = a.admin_token.clone();
    b.get("/api/v1/users/me", &token_from_a).expect(200);
    let agent_on_b = b.token_for("agent");
    a.get("/api/v1/customers", &agent_on_b).expect(200);

    // Writes through both replicas, concurrently, appear once each in the
    // feed, in one strictly increasing order.
    std::thread::scope(|s| {
        for (app, token) in [(&a, &token_from_a), (&b, &agent_on_b)] {
            for t in 0..3 {
                s.spawn(move || {
                    for i in 0..10 {
                        app.post(
                            "/api/v1/customers",
                            token,
                            &json!({"kind": "person", "name": format!("r{t}-{i}")}),
                        )
                        .expect(201);
                    }
                });
            }
        }
    });
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = b
            .get(
                &format!("/api/v1/events?resource=customers&after={after}&limit=7"),
                &token_from_a,
            )
            .expect(200)
            .json();
        let data = page["data"].as_array().unwrap();
        for e in data {
            seen.push((
                e["seq"].as_i64().unwrap(),
                e["record_id"].as_str().unwrap().to_string(),
            ));
        }
        after = page["next_after"].as_i64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen.len(), 60);
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "strictly increasing seq"
    );
    let ids: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 60, "each record once");
    let total = a
        .get(
            "/api/v1/customers?include_total=true&limit=1",
            &token_from_a,
        )
        .json()["total"]
        .clone();
    assert_eq!(total, 60);
}
