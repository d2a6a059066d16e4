//! Orders, customer value, by-external-id reads and bulk upsert, over HTTP.

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    order_totals_add_up_and_bad_input_names_the_field,
    customer_value_follows_order_writes_without_a_customer_version,
    order_lists_filter_sort_and_replace_items,
    batches_create_update_and_leave_unchanged_records_alone,
    batch_bad_input_is_named_by_index,
    batches_refer_to_customers_by_their_keys,
    batch_bodies_beyond_a_mebibyte_need_credentials,
    concurrent_batches_on_the_same_keys_never_duplicate,
    concurrent_order_writes_keep_the_value_exact,
);

fn batch_bodies_beyond_a_mebibyte_need_credentials(app: &TestApp) {
    // Valid JSON of about 2 MiB: a batch with an unknown padding field.
    let body = format!(
        r#"{{"items": [{{"kind": "person", "name": "x", "external_id": "PAD"}}], "padding": "{}"}}"#,
        "x".repeat(2 << 20)
    );
    let anonymous = app.request(
        "POST",
        "/api/v1/customers/batch",
        None,
        &[],
        Some(body.as_bytes()),
    );
    // Without valid credentials the answer is 401, before the body is read.
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let forged = app.request(
        "POST",
        "/api/v1/customers/batch",
        Some("not-a-token"),
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(forged.status, 401);
    let p = app
        .request(
            "POST",
            "/api/v1/customers/batch",
            Some(&app.admin_token),
            &[],
            Some(body.as_bytes()),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["padding"]);
    let huge = format!(r#"{{"items": [], "padding": "{}"}}"#, "x".repeat(17 << 20));
    let res = app.request(
        "POST",
        "/api/v1/customers/batch",
        Some(&app.admin_token),
        &[],
        Some(huge.as_bytes()),
    );
    assert_eq!(res.status, 413);
    // Other routes keep the 1 MiB limit.
    let res = app.request(
        "POST",
        "/api/v1/customers",
        Some(&app.admin_token),
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(res.status, 413);
}

fn order(customer_id: &str, extra: Value) -> Value {
    let mut doc = json!({
        "customer_id": customer_id,
        "ordered_at": "2026-03-01T10:00:00Z",
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250, "discount": 100}],
        "shipping": 500,
        "tax": 300,
    });
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    doc
}

fn order_totals_add_up_and_bad_input_names_the_field(app: &TestApp) {
    let t = &app.admin_token;
    let c = app.customer(json!({}));
    let cid = c["id"].as_str().unwrap();
    let res = app
        .post(
            "/api/v1/orders",
            t,
            &order(cid, json!({"currency": "eur", "number": "SO-1"})),
        )
        .expect(201);
    assert_eq!(res.header("etag"), Some("\"1\""));
    let o = res.json();
    assert_eq!(o["currency"], "EUR");
    assert_eq!(o["items"][0]["line_total"], 2400);
    assert_eq!(
        (o["subtotal"].clone(), o["total"].clone()),
        (json!(2400), json!(3200))
    );
    let id = o["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/orders/{id}"), t)
            .expect(200)
            .json(),
        o
    );

    // A total that is given must add up.
    app.post("/api/v1/orders", t, &order(cid, json!({"total": 3200})))
        .expect(201);
    // Integers as JSON Schema has them: 2.0 is 2, 2.5 is not an integer.
    let whole =
        json!({"items": [{"sku": "W", "quantity": 2.0, "unit_price": 1000}], "total": 2800.0});
    app.post("/api/v1/orders", t, &order(cid, whole))
        .expect(201);
    let half = json!({"items": [{"sku": "W", "quantity": 2.5, "unit_price": 1000}]});
    let p = app
        .post("/api/v1/orders", t, &order(cid, half))
        .problem(422);
    assert_eq!(fields(&p), vec!["items[0].quantity"]);
    let cases = [
        (json!({"total": 3199}), "total"),
        (
            json!({"items": [{"sku": "A", "quantity": -1, "unit_price": 1}]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [{"sku": "A", "quantity": 1, "unit_price": 1, "discount": 2}]}),
            "items[0].discount",
        ),
        (
            json!({"items": [{"sku": "", "quantity": 1, "unit_price": 1}]}),
            "items[0].sku",
        ),
        (json!({"items": []}), "items"),
        (json!({"currency": "XYZ"}), "currency"),
        (json!({"customer_id": "no-such-customer"}), "customer_id"),
        (json!({"status": "lost"}), "status"),
    ];
    for (extra, field) in cases {
        let p = app
            .post("/api/v1/orders", t, &order(cid, extra.clone()))
            .problem(422);
        assert_eq!(fields(&p), vec![field.to_string()], "{extra}");
    }
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"sku": format!("S{i}"), "quantity": 1, "unit_price": 1}))
        .collect();
    let p = app
        .post("/api/v1/orders", t, &order(cid, json!({"items": many})))
        .problem(422);
    assert_eq!(fields(&p), vec!["items"]);
    // Nothing of the refused orders was written.
    let list = app
        .get(
            &format!("/api/v1/orders?customer_id={cid}&include_total=true"),
            t,
        )
        .expect(200)
        .json();
    assert_eq!(list["total"], 3);
    // Roles: a viewer reads, cannot write.
    let viewer = app.token_for("viewer");
    app.get(&format!("/api/v1/orders/{id}"), &viewer)
        .expect(200);
    app.post("/api/v1/orders", &viewer, &order(cid, json!({})))
        .problem(403);
}

fn value_of(app: &TestApp, id: &str) -> (Value, i64) {
    let c = app
        .get(&format!("/api/v1/customers/{id}"), &app.admin_token)
        .expect(200)
        .json();
    (c["value"].clone(), c["version"].as_i64().unwrap())
}

fn customer_value_follows_order_writes_without_a_customer_version(app: &TestApp) {
    let t = &app.admin_token;
    let c = app.customer(json!({"external_id": "VAL-1"}));
    let cid = c["id"].as_str().unwrap();
    let (value, _) = value_of(app, cid);
    assert_eq!(
        value,
        json!({"currency": "EUR", "order_count": 0, "total_spent": 0,
        "average_order_value": 0, "first_order_at": null, "last_order_at": null, "other_currencies": []})
    );
    let a = app
        .post(
            "/api/v1/orders",
            t,
            &order(cid, json!({"ordered_at": "2026-01-01T00:00:00Z"})),
        )
        .expect(201)
        .json();
    app.post(
        "/api/v1/orders",
        t,
        &order(
            cid,
            json!({"ordered_at": "2026-02-01T00:00:00Z",
        "items": [{"sku": "B", "quantity": 1, "unit_price": 1001}], "shipping": 0, "tax": 0}),
        ),
    )
    .expect(201);
    app.post(
        "/api/v1/orders",
        t,
        &order(
            cid,
            json!({"currency": "USD", "ordered_at": "2026-04-01T00:00:00Z"}),
        ),
    )
    .expect(201);
    app.post(
        "/api/v1/orders",
        t,
        &order(
            cid,
            json!({"status": "cancelled", "ordered_at": "2026-05-01T00:00:00Z"}),
        ),
    )
    .expect(201);
    let (value, version) = value_of(app, cid);
    assert_eq!(
        version, 1,
        "value changes do not bump the customer's version"
    );
    assert_eq!(value["order_count"], 2);
    assert_eq!(value["total_spent"], 3200 + 1001);
    assert_eq!(value["average_order_value"], 2101); // 4201 / 2, rounded
    assert_eq!(value["first_order_at"], "2026-01-01T00:00:00Z");
    assert_eq!(value["last_order_at"], "2026-02-01T00:00:00Z");
    assert_eq!(value["other_currencies"][0]["currency"], "USD");
    assert_eq!(value["other_currencies"][0]["total_spent"], 3200);
    let history = app
        .get(&format!("/api/v1/customers/{cid}/history"), t)
        .expect(200)
        .json();
    assert_eq!(
        history["data"].as_array().unwrap().len(),
        1,
        "only the customer's creation"
    );

    // Refunding and deleting orders take them out again.
    let aid = a["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/orders/{aid}"),
        t,
        &json!({"status": "refunded"}),
    )
    .expect(200);
    assert_eq!(value_of(app, cid).0["total_spent"], 1001);
    // Filters and sorts by value.
    let other = app.customer(json!({"name": "Nobody"}));
    let list = app
        .get(
            "/api/v1/customers?total_spent_min=1000&sort=-total_spent",
            t,
        )
        .expect(200)
        .json();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![cid]);
    let list = app
        .get(
            "/api/v1/customers?last_order_before=2026-03-01T00:00:00Z",
            t,
        )
        .expect(200)
        .json();
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "never-ordered customers do not match"
    );
    let list = app
        .get("/api/v1/customers?sort=-last_order_at&limit=1", t)
        .expect(200)
        .json();
    assert_eq!(list["data"][0]["id"], cid);
    let next = list["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/customers?sort=-last_order_at&limit=1&cursor={next}"),
            t,
        )
        .expect(200)
        .json();
    assert_eq!(rest["data"][0]["id"], other["id"]);
    // A customer with orders cannot be deleted; the answer says how many.
    let p = app
        .delete(&format!("/api/v1/customers/{cid}"), t)
        .problem(409);
    assert!(p["detail"].as_str().unwrap().starts_with("4 orders"), "{p}");
    app.delete(&format!("/api/v1/orders/{aid}"), t).expect(204);
    assert_eq!(value_of(app, cid).0["order_count"], 1);
    let by_key = app
        .get("/api/v1/customers/by-external-id/VAL-1", t)
        .expect(200);
    assert_eq!(by_key.json()["id"], cid);
    app.get("/api/v1/customers/by-external-id/NOPE", t)
        .problem(404);
}

fn order_lists_filter_sort_and_replace_items(app: &TestApp) {
    let t = &app.admin_token;
    let c = app.customer(json!({}));
    let cid = c["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for (i, sku) in ["RED", "BLUE", "RED"].iter().enumerate() {
        let o = app.post("/api/v1/orders", t, &order(cid, json!({
            "external_id": format!("ERP-O-{i}"), "number": format!("SO-{i}"),
            "items": [{"sku": sku, "quantity": i + 1, "unit_price": 1000}], "shipping": 0, "tax": 0,
        }))).expect(201).json();
        ids.push(o["id"].as_str().unwrap().to_string());
    }
    let red = app
        .get("/api/v1/orders?sku=RED&sort=total", t)
        .expect(200)
        .json();
    let got: Vec<&str> = red["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[2].as_str()]);
    let page = app
        .get("/api/v1/orders?sort=-total&limit=2&total_min=1500", t)
        .expect(200)
        .json();
    assert_eq!(page["data"][0]["total"], 3000);
    assert_eq!(page["data"][1]["total"], 2000);
    assert!(page["next_cursor"].is_null());
    assert_eq!(
        app.get("/api/v1/orders?q=so-1", t).expect(200).json()["data"][0]["id"],
        ids[1]
    );
    app.get("/api/v1/orders?total_min=abc", t).problem(422);
    app.get("/api/v1/orders?colour=red", t).problem(422);
    // PATCH replaces the items as a whole; the total follows.
    let path = format!("/api/v1/orders/{}", ids[0]);
    let o = app
        .patch(
            &path,
            t,
            &json!({"items": [{"sku": "GREEN", "quantity": 3, "unit_price": 100}]}),
        )
        .expect(200)
        .json();
    assert_eq!(o["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (o["total"].clone(), o["version"].clone()),
        (json!(300), json!(2))
    );
    assert!(
        app.get("/api/v1/orders?sku=RED", t).expect(200).json()["data"]
            .as_array()
            .unwrap()
            .len()
            == 1
    );
    let same = app
        .patch(&path, t, &json!({"status": "pending"}))
        .expect(200)
        .json();
    assert_eq!(same["version"], 2, "an empty change writes nothing");
    let by_key = app
        .get("/api/v1/orders/by-external-id/ERP-O-1", t)
        .expect(200)
        .json();
    assert_eq!(by_key["id"], ids[1]);
    // Keys with reserved characters are addressed percent-encoded.
    let odd = app
        .post(
            "/api/v1/orders",
            t,
            &order(cid, json!({"external_id": "SO/2024/1+a%b c"})),
        )
        .expect(201)
        .json();
    let got = app
        .get("/api/v1/orders/by-external-id/SO%2F2024%2F1%2Ba%25b%20c", t)
        .expect(200);
    assert_eq!(got.json()["id"], odd["id"]);
    let history = app.get(&format!("{path}/history"), t).expect(200).json();
    assert_eq!(history["data"].as_array().unwrap().len(), 2);
}

fn batch(app: &TestApp, path: &str, body: &Value) -> Value {
    app.post(path, &app.admin_token, body).expect(200).json()
}

fn event_count(app: &TestApp) -> usize {
    app.get("/api/v1/events?limit=500", &app.admin_token)
        .expect(200)
        .json()["data"]
        .as_array()
        .unwrap()
        .len()
}

fn batches_create_update_and_leave_unchanged_records_alone(app: &TestApp) {
    let items: Vec<Value> = (0..5)
        .map(|i| {
            json!({"kind": "person", "name": format!("P{i}"), "external_id": format!("K{i}"),
            "email": format!("p{i}@example.com"), "tags": ["erp"]})
        })
        .collect();
    let body = json!({"items": items});
    let r = batch(app, "/api/v1/customers/batch", &body);
    assert_eq!(
        (r["created"].clone(), r["failed"].clone()),
        (json!(5), json!(0))
    );
    assert_eq!(r["results"][3]["index"], 3);
    let events = event_count(app);
    // A resend changes nothing: no version, no event.
    let again = batch(app, "/api/v1/customers/batch", &body);
    assert_eq!(again["unchanged"], 5);
    assert_eq!(again["results"][0]["id"], r["results"][0]["id"]);
    assert_eq!(event_count(app), events);
    // One changed item is an update (a full replace: the absent tags go).
    let mut items = body["items"].as_array().unwrap().clone();
    items[2] = json!({"kind": "person", "name": "P2 changed", "external_id": "K2", "email": "p2@example.com"});
    let r = batch(app, "/api/v1/customers/batch", &json!({"items": items}));
    assert_eq!(
        (r["updated"].clone(), r["unchanged"].clone()),
        (json!(1), json!(4))
    );
    assert_eq!(r["results"][2]["version"], 2);
    assert_eq!(event_count(app), events + 1);
    let c = app
        .get("/api/v1/customers/by-external-id/K2", &app.admin_token)
        .expect(200)
        .json();
    assert_eq!(
        (c["name"].clone(), c["tags"].clone()),
        (json!("P2 changed"), json!([]))
    );
    // The same custom fields in another key order are the same record.
    let ordered = |fields: Value| {
        json!({"items": [{"kind": "company", "name": "Fields",
        "external_id": "FIELDS", "custom_fields": fields}]})
    };
    batch(
        app,
        "/api/v1/customers/batch",
        &ordered(json!({"a": 1, "b": 2})),
    );
    let events = event_count(app);
    let r = batch(
        app,
        "/api/v1/customers/batch",
        &ordered(json!({"b": 2, "a": 1})),
    );
    assert_eq!(
        (r["unchanged"].clone(), r["results"][0]["version"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(event_count(app), events);
    // null options mean their defaults.
    let defaults = json!({"match_on": null, "atomic": null, "items": [
        {"kind": "person", "name": "P4", "external_id": "K4", "email": "p4@example.com", "tags": ["erp"]}]});
    assert_eq!(
        batch(app, "/api/v1/customers/batch", &defaults)["unchanged"],
        1
    );
    // Matching on email.
    let r = batch(
        app,
        "/api/v1/customers/batch",
        &json!({"match_on": "email",
        "items": [{"kind": "person", "name": "P0 by email", "email": "p0@example.com", "external_id": "K0"}]}),
    );
    assert_eq!(r["updated"], 1);
    // Idempotency-Key replays the answer.
    let key_body = json!({"items": [{"kind": "company", "name": "Idem", "external_id": "IDEM"}]});
    let first = app
        .request(
            "POST",
            "/api/v1/customers/batch",
            Some(&app.admin_token),
            &[("Idempotency-Key", "batch-1")],
            Some(key_body.to_string().as_bytes()),
        )
        .expect(200);
    let replay = app
        .request(
            "POST",
            "/api/v1/customers/batch",
            Some(&app.admin_token),
            &[("Idempotency-Key", "batch-1")],
            Some(key_body.to_string().as_bytes()),
        )
        .expect(200);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json(), replay.json());
    assert_eq!(first.json()["created"], 1);
    // Roles: viewers may not.
    let viewer = app.token_for("viewer");
    app.post("/api/v1/customers/batch", &viewer, &key_body)
        .problem(403);
}

fn batch_bad_input_is_named_by_index(app: &TestApp) {
    let t = &app.admin_token;
    app.customer(json!({"email": "taken@example.com", "external_id": "HOLDER"}));
    let events = event_count(app);
    let r = batch(
        app,
        "/api/v1/customers/batch",
        &json!({"items": [
            {"kind": "person", "name": "ok", "external_id": "A"},
            "not an object",
            {"kind": "person", "name": "no key"},
            {"kind": "robot", "name": "bad kind", "external_id": "B"},
            {"kind": "person", "name": "taken", "external_id": "C", "email": "taken@example.com"},
            {"kind": "person", "name": "", "external_id": "D", "owner_id": "nobody"},
        ]}),
    );
    let statuses: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["created", "failed", "failed", "failed", "failed", "failed"]
    );
    assert_eq!(r["results"][2]["errors"][0]["field"], "external_id");
    assert_eq!(r["results"][3]["errors"][0]["field"], "kind");
    assert_eq!(r["results"][4]["errors"][0]["code"], "conflict");
    assert_eq!(
        event_count(app),
        events + 1,
        "only the good item was written"
    );
    // Whole-batch refusals write nothing.
    let dup = app.post("/api/v1/customers/batch", t, &json!({"items": [
        {"kind": "person", "name": "x", "external_id": "DUP"}, {"kind": "person", "name": "y", "external_id": "Z"},
        {"kind": "person", "name": "z", "external_id": "DUP"}]})).problem(422);
    assert_eq!(
        fields(&dup),
        vec!["items[0].external_id", "items[2].external_id"]
    );
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"kind": "person", "name": "n", "external_id": format!("M{i}")}))
        .collect();
    assert_eq!(
        fields(
            &app.post("/api/v1/customers/batch", t, &json!({"items": too_many}))
                .problem(422)
        ),
        vec!["items"]
    );
    assert_eq!(
        fields(
            &app.post("/api/v1/customers/batch", t, &json!({"items": []}))
                .problem(422)
        ),
        vec!["items"]
    );
    assert_eq!(
        fields(
            &app.post("/api/v1/customers/batch", t, &json!({"items": {}}))
                .problem(422)
        ),
        vec!["items"]
    );
    assert_eq!(
        fields(
            &app.post(
                "/api/v1/orders/batch",
                t,
                &json!({"items": [{}], "match_on": "email"})
            )
            .problem(422)
        ),
        vec!["match_on"]
    );
    let atomic = app
        .post(
            "/api/v1/customers/batch",
            t,
            &json!({"atomic": true, "items": [
        {"kind": "person", "name": "fine", "external_id": "AT1"},
        {"kind": "person", "name": "bad", "external_id": "AT2", "email": "nope"}]}),
        )
        .problem(422);
    assert_eq!(fields(&atomic), vec!["items[1].email"]);
    assert_eq!(event_count(app), events + 1);
    app.get("/api/v1/customers/by-external-id/AT1", t)
        .problem(404);
}

fn batches_refer_to_customers_by_their_keys(app: &TestApp) {
    let t = &app.admin_token;
    batch(
        app,
        "/api/v1/customers/batch",
        &json!({"items": [
        {"kind": "company", "name": "Buyer", "external_id": "CUST-1"}]}),
    );
    let contacts = batch(
        app,
        "/api/v1/contacts/batch",
        &json!({"items": [
        {"customer_external_id": "CUST-1", "first_name": "Ada", "external_id": "CON-1", "is_primary": true},
        {"customer_external_id": "CUST-404", "first_name": "Bob", "external_id": "CON-2"},
        {"customer_external_id": "CUST-1", "customer_id": "x", "first_name": "Cy", "external_id": "CON-3"}]}),
    );
    assert_eq!(contacts["created"], 1);
    assert_eq!(
        contacts["results"][1]["errors"][0]["field"],
        "customer_external_id"
    );
    assert_eq!(contacts["results"][2]["errors"][0]["code"], "conflicting");
    let again = batch(
        app,
        "/api/v1/contacts/batch",
        &json!({"items": [
        {"customer_external_id": "CUST-1", "first_name": "Ada", "external_id": "CON-1", "is_primary": true}]}),
    );
    assert_eq!(again["unchanged"], 1);
    // A second primary takes the flag from the first: both changes are events,
    // the unchanged item none.
    let events = event_count(app);
    let flip = batch(
        app,
        "/api/v1/contacts/batch",
        &json!({"items": [
        {"customer_external_id": "CUST-1", "first_name": "Ada", "external_id": "CON-1", "is_primary": true},
        {"customer_external_id": "CUST-1", "first_name": "Dee", "external_id": "CON-4", "is_primary": true}]}),
    );
    assert_eq!(
        (flip["unchanged"].clone(), flip["created"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        event_count(app),
        events + 2,
        "CON-4 created, CON-1 no longer primary"
    );
    let ada = app
        .get("/api/v1/contacts/by-external-id/CON-1", t)
        .expect(200)
        .json();
    assert_eq!(
        (ada["is_primary"].clone(), ada["version"].clone()),
        (json!(false), json!(2))
    );
    let orders: Vec<Value> = (0..3)
        .map(|i| json!({"customer_external_id": "CUST-1", "external_id": format!("ORD-{i}"),
            "ordered_at": "2026-06-01T00:00:00Z", "currency": "EUR", "status": "paid",
            "items": [{"sku": "S", "quantity": 1, "unit_price": 1000}, {"sku": "T", "quantity": 2, "unit_price": 50}]}))
        .collect();
    let mut bad = orders.clone();
    bad.push(json!({"customer_external_id": "CUST-1", "external_id": "ORD-BAD", "ordered_at": "2026-06-01T00:00:00Z",
        "currency": "EUR", "items": [{"sku": "S", "quantity": 1, "unit_price": 1000}], "total": 1}));
    let r = batch(app, "/api/v1/orders/batch", &json!({"items": bad}));
    assert_eq!(
        (r["created"].clone(), r["failed"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(r["results"][3]["errors"][0]["field"], "total");
    let c = app
        .get("/api/v1/customers/by-external-id/CUST-1", t)
        .expect(200)
        .json();
    assert_eq!(
        (
            c["value"]["order_count"].clone(),
            c["value"]["total_spent"].clone()
        ),
        (json!(3), json!(3300))
    );
    let o = app
        .get("/api/v1/orders/by-external-id/ORD-1", t)
        .expect(200)
        .json();
    assert_eq!(o["items"].as_array().unwrap().len(), 2);
    // Resend with one order cancelled: one update, the value follows.
    let mut changed = orders.clone();
    changed[0]["status"] = json!("cancelled");
    let r = batch(app, "/api/v1/orders/batch", &json!({"items": changed}));
    assert_eq!(
        (r["updated"].clone(), r["unchanged"].clone()),
        (json!(1), json!(2))
    );
    let c = app
        .get("/api/v1/customers/by-external-id/CUST-1", t)
        .expect(200)
        .json();
    assert_eq!(c["value"]["total_spent"], 2200);
    assert_eq!(c["version"], 1);
    app.get("/api/v1/contacts/by-external-id/CON-1", t)
        .expect(200);
}

fn concurrent_batches_on_the_same_keys_never_duplicate(app: &TestApp) {
    let items: Vec<Value> = (0..300)
        .map(|i| json!({"kind": "person", "name": format!("N{i}"), "external_id": format!("RACE-{i:03}")}))
        .collect();
    let forward = json!({"items": items});
    let mut reversed_items = items.clone();
    reversed_items.reverse();
    let backward = json!({"items": reversed_items});
    let answers: Vec<Value> = std::thread::scope(|s| {
        let a = s.spawn(|| batch(app, "/api/v1/customers/batch", &forward));
        let b = s.spawn(|| batch(app, "/api/v1/customers/batch", &backward));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let created: i64 = answers.iter().map(|a| a["created"].as_i64().unwrap()).sum();
    let failed: i64 = answers.iter().map(|a| a["failed"].as_i64().unwrap()).sum();
    assert_eq!((created, failed), (300, 0), "{answers:?}");
    let list = app
        .get(
            "/api/v1/customers?q=n&include_total=true&limit=1",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(list["total"], 300);
}

/// Order writes for one customer at the same time each see the others'
/// committed orders: the value is exact, never a lost update.
fn concurrent_order_writes_keep_the_value_exact(app: &TestApp) {
    let c = app.customer(json!({"external_id": "BUSY"}));
    let cid = c["id"].as_str().unwrap();
    std::thread::scope(|s| {
        for writer in 0..4 {
            s.spawn(move || {
                for i in 0..5 {
                    app.post(
                        "/api/v1/orders",
                        &app.admin_token,
                        &order(cid, json!({"items": [{"sku": "S", "quantity": 1, "unit_price": 100 * (writer * 5 + i + 1)}],
                            "shipping": 0, "tax": 0})),
                    )
                    .expect(201);
                }
            });
        }
        // A batch of orders for the same customer at the same time.
        s.spawn(|| {
            let items: Vec<Value> = (0..10)
                .map(|i| {
                    json!({"customer_external_id": "BUSY", "external_id": format!("BUSY-{i}"),
                    "ordered_at": "2026-06-01T00:00:00Z", "currency": "EUR",
                    "items": [{"sku": "B", "quantity": 1, "unit_price": 7}]})
                })
                .collect();
            let r = batch(app, "/api/v1/orders/batch", &json!({"items": items}));
            assert_eq!(r["created"], 10, "{r}");
        });
    });
    let value = value_of(app, cid).0;
    // 20 single orders of 100..2000 (sum 21,000) and 10 of 7.
    assert_eq!(
        (value["order_count"].clone(), value["total_spent"].clone()),
        (json!(30), json!(21_070))
    );
}
