//! The change feed `GET /api/v1/events`: order, paging, filters, who made
//! each change, who may see what, and no skips or repeats under concurrent
//! writers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    feed_lists_every_change_in_seq_order,
    after_and_limit_page_through_the_feed,
    resource_filter_selects_one_kind,
    actor_is_the_user_or_api_key,
    user_and_key_events_are_for_admins_only,
    bad_parameters_are_refused,
    concurrent_writers_are_seen_exactly_once,
    history_outlives_its_record_but_not_an_unknown_id,
);

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn feed(app: &TestApp, token: &str, query: &str) -> Value {
    app.get(&format!("/api/v1/events?{query}"), token)
        .expect(200)
        .json()
}

fn data(page: &Value) -> Vec<Value> {
    page["data"].as_array().expect("data").clone()
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

fn assert_strictly_increasing(seqs: &[i64]) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {seqs:?}"
    );
}

fn feed_lists_every_change_in_seq_order(app: &TestApp) {
    let admin = app.get("/api/v1/users/me", &app.admin_token).json();
    let start = feed(app, &app.admin_token, "limit=500");
    let start_after = start["next_after"].as_i64().unwrap();
    assert!(start_after >= 1, "the bootstrap admin's creation is logged");

    let c = app.customer(json!({"name": "Feed Co"}));
    let curl = format!("/api/v1/customers/{}", id_of(&c));
    app.patch(
        &curl,
        &app.admin_token,
        &json!({"name": "Feed Co 2", "tier": "a"}),
    )
    .expect(200);
    let k = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": c["id"], "first_name": "Ann"}),
        )
        .expect(201)
        .json();
    app.delete(&format!("/api/v1/contacts/{}", id_of(&k)), &app.admin_token)
        .expect(204);
    app.delete(&curl, &app.admin_token).expect(204);

    let page = feed(app, &app.admin_token, &format!("after={start_after}"));
    let events = data(&page);
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["record_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let s = |r: &str, a: &str, id: &Value| {
        (
            r.to_string(),
            a.to_string(),
            id.as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        summary,
        vec![
            s("customers", "created", &c["id"]),
            s("customers", "updated", &c["id"]),
            s("contacts", "created", &k["id"]),
            s("contacts", "deleted", &k["id"]),
            s("customers", "deleted", &c["id"]),
        ]
    );
    assert_strictly_increasing(&seqs(&events));
    assert!(events[0]["seq"].as_i64().unwrap() > start_after);
    assert_eq!(page["next_after"], events[4]["seq"]);
    assert_eq!(page["has_more"], false);

    let mut keys: Vec<&str> = events[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "action",
            "actor",
            "changes",
            "data",
            "occurred_at",
            "record_id",
            "resource",
            "seq"
        ]
    );
    assert_eq!(events[0]["data"], c);
    assert_eq!(
        events[0]["changes"]["name"],
        json!({"old": null, "new": "Feed Co"})
    );
    assert_eq!(
        events[1]["changes"],
        json!({"name": {"old": "Feed Co", "new": "Feed Co 2"}, "tier": {"old": null, "new": "a"}})
    );
    assert_eq!(events[1]["data"]["version"], 2);
    assert_eq!(
        events[3]["data"],
        Value::Null,
        "deletions are included, without data"
    );
    assert_eq!(events[4]["data"], Value::Null);
    assert_eq!(
        events[4]["changes"]["name"],
        json!({"old": "Feed Co 2", "new": null})
    );
    for e in &events {
        assert_eq!(e["actor"], json!({"type": "user", "id": admin["id"]}));
        let at = e["occurred_at"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339 time");
        assert!(at.ends_with('Z'), "UTC: {at}");
    }
    // Reading changes nothing and the feed reads the same twice.
    assert_eq!(
        feed(app, &app.admin_token, &format!("after={start_after}")),
        page
    );
    // The default page is 50 events from the start.
    let from_start = feed(app, &app.admin_token, "");
    assert_eq!(data(&from_start)[0]["seq"], start["data"][0]["seq"]);
}

fn after_and_limit_page_through_the_feed(app: &TestApp) {
    for i in 0..12 {
        app.customer(json!({"name": format!("C{i}")}));
    }
    let all = data(&feed(app, &app.admin_token, "limit=500"));
    assert_eq!(
        all.len(),
        14,
        "the default pipeline's and the admin's creation and 12 customers"
    );
    assert_strictly_increasing(&seqs(&all));

    let mut seen = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = feed(app, &app.admin_token, &format!("after={after}&limit=5"));
        let events = data(&page);
        assert!(events.len() <= 5);
        seen.extend(events.iter().cloned());
        pages += 1;
        if let Some(last) = events.last() {
            assert_eq!(page["next_after"], last["seq"]);
        }
        after = page["next_after"].as_i64().unwrap();
        if page["has_more"] == false {
            break;
        }
        assert!(pages < 20);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all, "pages join up exactly");

    let last_seq = *seqs(&all).last().unwrap();
    let exact = feed(
        app,
        &app.admin_token,
        &format!("after={}&limit=1", last_seq - 1),
    );
    assert_eq!(seqs(&data(&exact)), vec![last_seq]);
    assert_eq!(exact["has_more"], false);
    let boundary = feed(
        app,
        &app.admin_token,
        &format!("after={}&limit=1", last_seq - 2),
    );
    assert_eq!(boundary["has_more"], true);

    // Past the end: empty, and next_after stays where the caller is.
    let tail = feed(app, &app.admin_token, &format!("after={last_seq}"));
    assert_eq!(tail["data"], json!([]));
    assert_eq!(tail["next_after"], last_seq);
    assert_eq!(tail["has_more"], false);
    let far = feed(app, &app.admin_token, "after=999999999");
    assert_eq!(far["data"], json!([]));
    assert_eq!(far["next_after"], 999_999_999);

    // A later change shows up after the remembered position, and only it.
    let late = app.customer(json!({"name": "Late"}));
    let next = data(&feed(app, &app.admin_token, &format!("after={last_seq}")));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0]["record_id"], late["id"]);
    let max = data(&feed(app, &app.admin_token, "limit=500&after=0"));
    assert_eq!(max.len(), 15);
}

fn resource_filter_selects_one_kind(app: &TestApp) {
    let c = app.customer(json!({}));
    app.post(
        "/api/v1/contacts",
        &app.admin_token,
        &json!({"customer_id": c["id"], "first_name": "Ann"}),
    )
    .expect(201);
    app.token_for("agent");
    app.post(
        "/api/v1/api-keys",
        &app.admin_token,
        &json!({"name": "k", "role": "viewer"}),
    )
    .expect(201);
    let kinds = |q: &str| -> Vec<String> {
        data(&feed(app, &app.admin_token, q))
            .iter()
            .map(|e| e["resource"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kinds("resource=customers"), vec!["customers"]);
    assert_eq!(kinds("resource=contacts"), vec!["contacts"]);
    assert_eq!(kinds("resource=users"), vec!["users", "users"]);
    assert_eq!(kinds("resource=api_keys"), vec!["api_keys"]);
    assert_eq!(
        kinds(""),
        vec![
            "pipelines",
            "users",
            "customers",
            "contacts",
            "users",
            "api_keys"
        ]
    );
    // Filter and paging combine: next_after is the last matching event.
    let page = feed(app, &app.admin_token, "resource=users&limit=1");
    assert_eq!(page["has_more"], true);
    let after = page["next_after"].as_i64().unwrap();
    let rest = feed(
        app,
        &app.admin_token,
        &format!("resource=users&after={after}"),
    );
    assert_eq!(data(&rest).len(), 1);
    assert_eq!(rest["has_more"], false);
}

fn actor_is_the_user_or_api_key(app: &TestApp) {
    let agent = app.token_for("agent");
    let agent_id = id_of(&app.get("/api/v1/users/me", &agent).json());
    let key = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            &json!({"name": "sync", "role": "manager"}),
        )
        .expect(201)
        .json();
    let secret = key["key"].as_str().unwrap();
    let start = feed(app, &app.admin_token, "limit=500")["next_after"]
        .as_i64()
        .unwrap();

    let by_user = app
        .post(
            "/api/v1/customers",
            &agent,
            &json!({"kind": "person", "name": "U"}),
        )
        .expect(201)
        .json();
    let by_key = app
        .post(
            "/api/v1/customers",
            secret,
            &json!({"kind": "person", "name": "K"}),
        )
        .expect(201)
        .json();
    app.delete(&format!("/api/v1/customers/{}", id_of(&by_user)), secret)
        .expect(204);

    let events = data(&feed(app, &app.admin_token, &format!("after={start}")));
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["record_id"], by_user["id"]);
    assert_eq!(events[0]["actor"], json!({"type": "user", "id": agent_id}));
    assert_eq!(events[1]["record_id"], by_key["id"]);
    assert_eq!(
        events[1]["actor"],
        json!({"type": "api_key", "id": key["id"]})
    );
    assert_eq!(events[2]["action"], "deleted");
    assert_eq!(
        events[2]["actor"],
        json!({"type": "api_key", "id": key["id"]})
    );
    // An API key can read the feed too.
    let via_key = feed(app, secret, &format!("after={start}"));
    assert_eq!(data(&via_key), events);
}

fn user_and_key_events_are_for_admins_only(app: &TestApp) {
    let c = app.customer(json!({}));
    let viewer = app.token_for("viewer");
    let agent = app.token_for("agent");
    let manager = app.token_for("manager");
    let key = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            &json!({"name": "reader", "role": "manager"}),
        )
        .expect(201)
        .json();
    let manager_key = key["key"].as_str().unwrap().to_string();
    let admin_key = app
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

    let admin_events = data(&feed(app, &app.admin_token, "limit=500"));
    let admin_kinds: HashSet<String> = admin_events
        .iter()
        .map(|e| e["resource"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        admin_kinds,
        ["pipelines", "customers", "users", "api_keys"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(data(&feed(app, &admin_key, "limit=500")), admin_events);

    for token in [&viewer, &agent, &manager, &manager_key] {
        let events = data(&feed(app, token, "limit=500"));
        // The default pipeline's creation at first start, and the customer.
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0]["resource"], "pipelines");
        assert_eq!(events[1]["record_id"], c["id"]);
        for resource in ["users", "api_keys"] {
            app.get(&format!("/api/v1/events?resource={resource}"), token)
                .problem(403);
        }
        // Paging over hidden events still ends and never reveals them.
        let page = feed(app, token, &format!("after={}&limit=1", events[0]["seq"]));
        assert_eq!(data(&page).len(), 1);
        assert_eq!(page["has_more"], false);
    }
    app.request("GET", "/api/v1/events", None, &[], None)
        .problem(401);
    app.request("GET", "/api/v1/events", Some("nonsense"), &[], None)
        .problem(401);
}

fn bad_parameters_are_refused(app: &TestApp) {
    for (query, field) in [
        ("after=-1", "after"),
        ("after=abc", "after"),
        ("after=1.5", "after"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-3", "limit"),
        ("limit=many", "limit"),
        ("resource=invoices", "resource"),
        ("resource=Customers", "resource"),
        ("since=5", "since"),
        ("cursor=abc", "cursor"),
    ] {
        let p = app
            .get(&format!("/api/v1/events?{query}"), &app.admin_token)
            .problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{query}: {p}");
    }
    let page = feed(app, &app.admin_token, "after=0&limit=500&resource=users");
    assert_eq!(data(&page).len(), 1);
    feed(app, &app.admin_token, "limit=1");
}

/// Writers on many connections commit concurrently while a sync reader
/// follows the feed with `after=<last seen>`: it must see every event
/// exactly once, in strictly increasing order.
fn concurrent_writers_are_seen_exactly_once(app: &TestApp) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 15;
    let start = feed(app, &app.admin_token, "limit=500")["next_after"]
        .as_i64()
        .unwrap();
    let done = AtomicBool::new(false);
    let (created, seen) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let c = app
                                .post(
                                    "/api/v1/customers",
                                    &app.admin_token,
                                    &json!({"kind": "company", "name": format!("T{t}-{i}")}),
                                )
                                .expect(201)
                                .json();
                            id_of(&c)
                        })
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        let done = &done;
        let reader = scope.spawn(move || {
            let mut after = start;
            let mut seen: Vec<(i64, String)> = Vec::new();
            loop {
                // Read the flag before the page: once writers are done, one
                // more full drain sees everything.
                let finished = done.load(Ordering::SeqCst);
                let page = feed(
                    app,
                    &app.admin_token,
                    &format!("after={after}&limit=7&resource=customers"),
                );
                for e in data(&page) {
                    let seq = e["seq"].as_i64().unwrap();
                    assert!(
                        seq > after,
                        "seq {seq} not after {after}: seen twice or out of order"
                    );
                    after = seq;
                    seen.push((seq, e["record_id"].as_str().unwrap().to_string()));
                }
                assert_eq!(page["next_after"], after);
                if finished && page["has_more"] == false {
                    break;
                }
                assert!(
                    seen.len() <= THREADS * PER_THREAD,
                    "more events than writes"
                );
            }
            seen
        });
        let created: Vec<String> = writers
            .into_iter()
            .flat_map(|w| w.join().expect("writer"))
            .collect();
        done.store(true, Ordering::SeqCst);
        (created, reader.join().expect("reader"))
    });
    assert_eq!(created.len(), THREADS * PER_THREAD);
    assert_eq!(
        seen.len(),
        THREADS * PER_THREAD,
        "{}: every event seen exactly once",
        app.backend
    );
    assert_strictly_increasing(&seen.iter().map(|(s, _)| *s).collect::<Vec<_>>());
    let created: HashSet<String> = created.into_iter().collect();
    let seen_ids: HashSet<String> = seen.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen_ids, created);
    // The feed read afterwards in one go agrees.
    let all = data(&feed(
        app,
        &app.admin_token,
        &format!("after={start}&limit=500&resource=customers"),
    ));
    assert_eq!(all.len(), THREADS * PER_THREAD);
    let total = app
        .get(
            "/api/v1/customers?include_total=true&limit=1",
            &app.admin_token,
        )
        .json()["total"]
        .clone();
    assert_eq!(total, THREADS * PER_THREAD);
}

fn history_outlives_its_record_but_not_an_unknown_id(app: &TestApp) {
    let customer = app.customer(json!({}));
    let url = format!("/api/v1/customers/{}/history", id_of(&customer));
    app.delete(
        &format!("/api/v1/customers/{}", id_of(&customer)),
        &app.admin_token,
    )
    .expect(204);
    let history = app.get(&url, &app.admin_token).expect(200).json();
    let actions: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["created", "deleted"]);
    // Past its end, an empty page; an id that never existed has no history.
    let after = history["next_after"].as_i64().unwrap();
    let rest = app
        .get(&format!("{url}?after={after}"), &app.admin_token)
        .expect(200)
        .json();
    assert_eq!(rest["data"], json!([]));
    app.get("/api/v1/customers/never-existed/history", &app.admin_token)
        .problem(404);
}
