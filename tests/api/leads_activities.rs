//! Leads and their conversion, activities and tasks (with the linked
//! records' `last_activity_at`), the customer timeline and the lead funnel,
//! over HTTP. The conformance suite covers roles, 404s, unknown fields,
//! ETags, idempotency, paging and list filters; these tests cover the rules.

use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, Resp, TestApp};

both_backends!(
    leads_take_defaults_and_check_their_rules,
    lead_external_ids_are_unique_keys,
    converting_a_company_lead_makes_a_company_a_contact_and_an_opportunity,
    converting_a_person_lead_makes_a_person_customer,
    conversion_overrides_and_links_customers,
    a_failed_conversion_leaves_nothing_behind,
    conversion_replays_with_an_idempotency_key,
    a_converted_lead_changes_only_tags_and_custom_fields,
    activity_kinds_and_links_are_checked,
    tasks_are_open_overdue_and_completed,
    last_activity_at_follows_the_latest_activity,
    an_activity_keeps_an_opportunity_from_rotting,
    deleting_a_lead_detaches_its_activities,
    deleting_contacts_and_opportunities_clears_their_activity_links,
    deleting_a_customer_detaches_its_activities_and_leads,
    the_timeline_shows_everything_about_a_customer_newest_first,
    timeline_pages_never_skip_or_repeat_equal_times,
    lead_funnel_counts_statuses_rates_and_median_hours,
    deleting_what_a_lead_became_clears_its_links,
    concurrent_conversions_convert_once,
    concurrent_activities_keep_the_latest_time,
    conversion_names_a_customer_reference_inside_customer,
    activities_stay_editable_when_their_contact_or_opportunity_moves,
    the_timeline_shows_the_changes_of_the_contacts_it_has,
);

// ---------------------------------------------------------------- helpers

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn get_json(app: &TestApp, path: &str) -> Value {
    app.get(path, &app.admin_token).expect(200).json()
}

/// `extra`'s fields over `base`.
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn lead(app: &TestApp, body: Value) -> Value {
    let doc = merged(json!({"name": "Grace Hopper"}), body);
    app.post("/api/v1/leads", &app.admin_token, &doc)
        .expect(201)
        .json()
}

fn lead_url(lead: &Value) -> String {
    format!("/api/v1/leads/{}", id(lead))
}

fn reread(app: &TestApp, path: &str) -> Value {
    get_json(app, path)
}

fn contact(app: &TestApp, customer: &Value, first_name: &str) -> Value {
    app.post(
        "/api/v1/contacts",
        &app.admin_token,
        &json!({"customer_id": customer["id"], "first_name": first_name}),
    )
    .expect(201)
    .json()
}

fn opportunity(app: &TestApp, customer: &Value, extra: Value) -> Value {
    let doc = merged(
        json!({"customer_id": customer["id"], "name": "Deal"}),
        extra,
    );
    app.post("/api/v1/opportunities", &app.admin_token, &doc)
        .expect(201)
        .json()
}

fn activity(app: &TestApp, body: Value) -> Value {
    let doc = merged(json!({"kind": "note", "subject": "Note"}), body);
    app.post("/api/v1/activities", &app.admin_token, &doc)
        .expect(201)
        .json()
}

fn activity_url(a: &Value) -> String {
    format!("/api/v1/activities/{}", id(a))
}

fn convert(app: &TestApp, token: &str, lead: &Value, body: Value) -> Resp {
    app.post(&format!("{}/convert", lead_url(lead)), token, &body)
}

fn me(app: &TestApp, token: &str) -> String {
    id(&app.get("/api/v1/users/me", token).expect(200).json())
}

fn default_pipeline(app: &TestApp) -> Value {
    get_json(app, "/api/v1/pipelines?is_default=true")["data"][0].clone()
}

fn stage(pipeline: &Value, name: &str) -> String {
    pipeline["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["name"] == name)
        .map(id)
        .unwrap_or_else(|| panic!("no stage {name} in {pipeline}"))
}

/// Every event after `after`, and the `seq` to continue from.
fn events_after(app: &TestApp, after: i64) -> (Vec<Value>, i64) {
    let mut events = Vec::new();
    let mut after = after;
    loop {
        let page = get_json(app, &format!("/api/v1/events?after={after}&limit=500"));
        events.extend(page["data"].as_array().expect("data").iter().cloned());
        after = page["next_after"].as_i64().expect("next_after");
        if page["has_more"] != true {
            return (events, after);
        }
    }
}

fn last_seq(app: &TestApp) -> i64 {
    events_after(app, 0).1
}

/// (resource, action, record_id) of each event, in feed order.
fn what(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap_or("?").to_string(),
                e["action"].as_str().unwrap_or("?").to_string(),
                e["record_id"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

fn ev(resource: &str, action: &str, record_id: &str) -> (String, String, String) {
    (
        resource.to_string(),
        action.to_string(),
        record_id.to_string(),
    )
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(id)
        .collect()
}

/// Everything a refused request must leave as it was: the customers,
/// contacts, opportunities, leads and activities, and the event log.
fn snapshot(app: &TestApp) -> Value {
    json!({
        "customers": get_json(app, "/api/v1/customers?limit=500")["data"],
        "contacts": get_json(app, "/api/v1/contacts?limit=500")["data"],
        "opportunities": get_json(app, "/api/v1/opportunities?limit=500")["data"],
        "leads": get_json(app, "/api/v1/leads?limit=500")["data"],
        "activities": get_json(app, "/api/v1/activities?limit=500")["data"],
        "seq": last_seq(app),
    })
}

fn code(problem: &Value) -> &str {
    problem["errors"][0]["code"].as_str().unwrap_or("")
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn at(s: &str) -> DateTime<Utc> {
    time(&json!(s))
}

fn naive(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time")
}

fn close_to(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 0.001)
}

/// Sets when a lead was created and converted, in the database.
fn set_lead_times(app: &TestApp, lead_id: &str, created: &str, converted: Option<&str>) {
    use crm::db::schema::leads as l;
    let mut pooled = app.db();
    let conn: &mut crm::db::DbConn = &mut pooled;
    let changed = diesel::update(l::table.find(lead_id))
        .set((
            l::created_at.eq(naive(created)),
            l::converted_at.eq(converted.map(naive)),
        ))
        .execute(conn)
        .expect("backdate lead");
    assert_eq!(changed, 1);
}

/// Moves an opportunity's entry into its stage `hours` into the past.
fn backdate_stage_entry(app: &TestApp, opportunity_id: &str, hours: i64) {
    use crm::db::schema::opportunities as o;
    let entered = Utc::now().naive_utc() - Duration::hours(hours);
    let mut pooled = app.db();
    let conn: &mut crm::db::DbConn = &mut pooled;
    let changed = diesel::update(o::table.find(opportunity_id))
        .set(o::stage_entered_at.eq(entered))
        .execute(conn)
        .expect("backdate stage entry");
    assert_eq!(changed, 1);
}

// ------------------------------------------------------------------ leads

fn leads_take_defaults_and_check_their_rules(app: &TestApp) {
    let t = &app.admin_token;
    let res = app
        .post(
            "/api/v1/leads",
            t,
            &json!({"name": "  Grace Hopper ", "email": "Grace@Example.COM"}),
        )
        .expect(201);
    assert_eq!(res.header("etag"), Some("\"1\""));
    let g = res.json();
    assert_eq!(res.header("location"), Some(lead_url(&g).as_str()), "{g}");
    assert_eq!(g["name"], "Grace Hopper");
    assert_eq!(g["email"], "grace@example.com");
    assert_eq!(g["status"], "new");
    assert_eq!(g["score"], 0);
    assert_eq!(g["source"], Value::Null);
    assert_eq!(g["unqualified_reason"], Value::Null);
    assert_eq!(g["tags"], json!([]));
    assert_eq!(g["custom_fields"], json!({}));
    for field in [
        "converted_at",
        "converted_customer_id",
        "converted_contact_id",
        "converted_opportunity_id",
        "last_activity_at",
        "owner_id",
        "external_id",
    ] {
        assert_eq!(g[field], Value::Null, "{field}: {g}");
    }
    assert_eq!(g["version"], 1);
    assert_eq!(reread(app, &lead_url(&g)), g);

    // Refused creates name the field and make nothing.
    let before = snapshot(app);
    let cases = [
        (
            json!({"name": "X", "status": "unqualified"}),
            "unqualified_reason",
            "required",
        ),
        (
            json!({"name": "X", "status": "new", "unqualified_reason": "no budget"}),
            "unqualified_reason",
            "not_unqualified",
        ),
        (
            json!({"name": "X", "unqualified_reason": "no budget"}),
            "unqualified_reason",
            "not_unqualified",
        ),
        (
            json!({"name": "X", "status": "converted"}),
            "status",
            "convert_required",
        ),
        (json!({"name": "X", "score": 101}), "score", ""),
        (json!({"name": "X", "score": -1}), "score", ""),
        (
            json!({"name": "X", "owner_id": "nobody"}),
            "owner_id",
            "not_found",
        ),
        (
            json!({"name": "X", "email": "not-an-email"}),
            "email",
            "invalid_email",
        ),
        (json!({"name": "  "}), "name", ""),
    ];
    for (body, field, expected_code) in cases {
        let p = app.post("/api/v1/leads", t, &body).problem(422);
        assert_eq!(fields(&p), vec![field], "{body}: {p}");
        if !expected_code.is_empty() {
            assert_eq!(code(&p), expected_code, "{body}: {p}");
        }
    }
    assert_eq!(snapshot(app), before, "refused creates change nothing");

    // The bounds of the score, a known owner, a reason when unqualified.
    let admin = me(app, t);
    let u = lead(
        app,
        json!({"name": "Ulla", "status": "unqualified", "unqualified_reason": " no budget ",
               "score": 100, "owner_id": admin, "source": "referral"}),
    );
    assert_eq!(u["unqualified_reason"], "no budget");
    assert_eq!(u["score"], 100);
    assert_eq!(u["owner_id"], admin.as_str());
    assert_eq!(u["source"], "referral");
    lead(app, json!({"name": "Zero", "score": 0}));

    // PATCH keeps the same rules, and refusals change nothing.
    let url = lead_url(&u);
    let before = snapshot(app);
    for (patch, field) in [
        (
            json!({"status": "contacted", "unqualified_reason": "still no budget"}),
            "unqualified_reason",
        ),
        (json!({"unqualified_reason": null}), "unqualified_reason"),
        (json!({"status": "converted"}), "status"),
        (json!({"score": 101}), "score"),
        (json!({"owner_id": "nobody"}), "owner_id"),
        (json!({"email": "nope"}), "email"),
    ] {
        let p = app.patch(&url, t, &patch).problem(422);
        assert_eq!(fields(&p), vec![field], "{patch}: {p}");
    }
    assert_eq!(snapshot(app), before, "refused patches change nothing");
    let res = app.get(&url, t).expect(200);
    assert_eq!(res.header("etag"), Some("\"1\""));

    // Leaving unqualified clears the reason.
    let moved = app
        .patch(&url, t, &json!({"status": "contacted"}))
        .expect(200)
        .json();
    assert_eq!(moved["status"], "contacted");
    assert_eq!(moved["unqualified_reason"], Value::Null);
    assert_eq!(moved["version"], 2);
    // Back to unqualified needs a reason again.
    let p = app
        .patch(&url, t, &json!({"status": "unqualified"}))
        .problem(422);
    assert_eq!(fields(&p), vec!["unqualified_reason"]);
    let back = app
        .patch(
            &url,
            t,
            &json!({"status": "unqualified", "unqualified_reason": "gone quiet"}),
        )
        .expect(200)
        .json();
    assert_eq!(back["unqualified_reason"], "gone quiet");
    assert_eq!(back["version"], 3);
    let history = get_json(app, &format!("{url}/history"));
    let actions: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "updated", "updated"]);
    assert_eq!(
        history["data"][1]["changes"]["unqualified_reason"],
        json!({"old": "no budget", "new": null})
    );
}

fn lead_external_ids_are_unique_keys(app: &TestApp) {
    let t = &app.admin_token;
    let a = lead(app, json!({"name": "A", "external_id": "crm-1"}));
    let p = app
        .post(
            "/api/v1/leads",
            t,
            &json!({"name": "B", "external_id": "crm-1"}),
        )
        .problem(409);
    assert_eq!(p["existing_id"], a["id"], "{p}");
    assert_eq!(fields(&p), vec!["external_id"]);
    let b = lead(app, json!({"name": "B", "external_id": "crm-2"}));
    let p = app
        .patch(&lead_url(&b), t, &json!({"external_id": "crm-1"}))
        .problem(409);
    assert_eq!(p["existing_id"], a["id"], "{p}");
    assert_eq!(reread(app, &lead_url(&b))["version"], 1);

    let res = app.get("/api/v1/leads/by-external-id/crm-1", t).expect(200);
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(res.json(), a);
    app.get("/api/v1/leads/by-external-id/crm-3", t)
        .problem(404);
    // A blank key is none: many leads may have it.
    let blank1 = lead(app, json!({"name": "C", "external_id": " "}));
    let blank2 = lead(app, json!({"name": "D", "external_id": ""}));
    assert_eq!(blank1["external_id"], Value::Null);
    assert_eq!(blank2["external_id"], Value::Null);
}

// ------------------------------------------------------------- conversion

fn converting_a_company_lead_makes_a_company_a_contact_and_an_opportunity(app: &TestApp) {
    let t = &app.admin_token;
    let admin = me(app, t);
    let l = lead(
        app,
        json!({"name": "Grace Brewster Hopper", "company_name": "Navy Labs",
               "email": "grace@navy.example", "phone": "+1 555 0100",
               "title": "Rear Admiral", "source": "event", "score": 70,
               "owner_id": admin, "status": "qualified", "tags": ["fair"]}),
    );
    let seq = last_seq(app);
    let c = convert(app, t, &l, json!({})).expect(200).json();
    assert_eq!(c["customer_created"], true);
    let customer = &c["customer"];
    assert_eq!(customer["kind"], "company");
    assert_eq!(customer["name"], "Navy Labs");
    assert_eq!(
        customer["email"],
        Value::Null,
        "the person's email is the contact's"
    );
    assert_eq!(customer["phone"], Value::Null);
    assert_eq!(customer["owner_id"], admin.as_str());
    assert_eq!(customer["version"], 1);
    let cid = id(customer);
    let stored = reread(app, &format!("/api/v1/customers/{cid}"));
    assert_eq!(stored["name"], "Navy Labs");
    assert_eq!(stored["kind"], "company");

    let k = &c["contact"];
    assert_eq!(k["customer_id"], cid.as_str());
    assert_eq!(k["first_name"], "Grace");
    assert_eq!(k["last_name"], "Brewster Hopper");
    assert_eq!(k["email"], "grace@navy.example");
    assert_eq!(k["phone"], "+1 555 0100");
    assert_eq!(k["title"], "Rear Admiral");
    let kid = id(k);
    assert_eq!(&reread(app, &format!("/api/v1/contacts/{kid}")), k);
    assert_eq!(c["opportunity"], Value::Null);

    let converted = &c["lead"];
    assert_eq!(converted["id"], l["id"]);
    assert_eq!(converted["status"], "converted");
    assert!(converted["converted_at"].is_string(), "{converted}");
    assert_eq!(converted["converted_customer_id"], cid.as_str());
    assert_eq!(converted["converted_contact_id"], kid.as_str());
    assert_eq!(converted["converted_opportunity_id"], Value::Null);
    assert_eq!(converted["version"], 2);
    assert_eq!(converted["name"], l["name"]);
    assert_eq!(converted["tags"], json!(["fair"]));
    let res = app.get(&lead_url(&l), t).expect(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(&res.json(), converted);

    let (events, seq) = events_after(app, seq);
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("customers", "created", &cid),
            ev("contacts", "created", &kid),
            ev("leads", "updated", &id(&l)),
        ]),
        "{events:?}"
    );
    let lead_event = events.iter().find(|e| e["resource"] == "leads").unwrap();
    assert_eq!(
        lead_event["changes"]["status"],
        json!({"old": "qualified", "new": "converted"})
    );
    assert_eq!(
        lead_event["changes"]["converted_customer_id"]["new"],
        cid.as_str()
    );

    // Converting again: 409 naming the customer it became.
    let before = snapshot(app);
    let p = convert(app, t, &l, json!({})).problem(409);
    assert_eq!(p["existing_id"], cid.as_str(), "{p}");
    assert_eq!(fields(&p), vec!["id"]);
    let p = convert(app, t, &l, json!({"opportunity": {"amount": 1}})).problem(409);
    assert_eq!(p["existing_id"], cid.as_str(), "{p}");
    assert_eq!(snapshot(app), before);

    // With an opportunity: in the default pipeline's first stage, from the lead.
    let l2 = lead(
        app,
        json!({"name": "Alan Turing", "company_name": "Bletchley Park", "email": "alan@bp.example"}),
    );
    let pipeline = default_pipeline(app);
    let c = convert(app, t, &l2, json!({"opportunity": {"amount": 5000}}))
        .expect(200)
        .json();
    let o = &c["opportunity"];
    let oid = id(o);
    let cid2 = id(&c["customer"]);
    let kid2 = id(&c["contact"]);
    assert_eq!(o["name"], "Bletchley Park");
    assert_eq!(o["amount"], 5000);
    assert_eq!(o["pipeline_id"], pipeline["id"]);
    assert_eq!(o["stage_id"], pipeline["stages"][0]["id"]);
    assert_eq!(o["status"], "open");
    assert_eq!(o["source_lead_id"], l2["id"]);
    assert_eq!(o["contact_id"], kid2.as_str());
    assert_eq!(o["customer_id"], cid2.as_str());
    assert_eq!(o["owner_id"], Value::Null);
    assert_eq!(o["version"], 1);
    let stored = reread(app, &format!("/api/v1/opportunities/{oid}"));
    assert_eq!(stored["source_lead_id"], l2["id"]);
    assert_eq!(stored["contact_id"], kid2.as_str());
    let converted = reread(app, &lead_url(&l2));
    assert_eq!(converted["status"], "converted");
    assert_eq!(converted["converted_customer_id"], cid2.as_str());
    assert_eq!(converted["converted_contact_id"], kid2.as_str());
    assert_eq!(converted["converted_opportunity_id"], oid.as_str());
    assert_eq!(converted["version"], 2);
    let (events, _) = events_after(app, seq);
    // The lead l2's own creation, then the conversion's four.
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("leads", "created", &id(&l2)),
            ev("customers", "created", &cid2),
            ev("contacts", "created", &kid2),
            ev("opportunities", "created", &oid),
            ev("leads", "updated", &id(&l2)),
        ]),
        "{events:?}"
    );
    let opportunity_event = events
        .iter()
        .find(|e| e["resource"] == "opportunities")
        .unwrap();
    assert_eq!(opportunity_event["data"]["source_lead_id"], l2["id"]);
}

fn converting_a_person_lead_makes_a_person_customer(app: &TestApp) {
    let t = &app.admin_token;
    let l = lead(
        app,
        json!({"name": "Ada Lovelace", "email": "Ada@Example.com", "phone": "+44 20 7946 0000"}),
    );
    let c = convert(app, t, &l, json!({})).expect(200).json();
    let customer = &c["customer"];
    assert_eq!(customer["kind"], "person");
    assert_eq!(customer["name"], "Ada Lovelace");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["phone"], "+44 20 7946 0000");
    assert_eq!(c["customer_created"], true);
    assert_eq!(
        c["contact"],
        Value::Null,
        "no contact for a person by default"
    );
    assert_eq!(c["opportunity"], Value::Null);
    assert_eq!(c["lead"]["converted_contact_id"], Value::Null);
    let contacts = get_json(
        app,
        &format!("/api/v1/contacts?customer_id={}", id(customer)),
    );
    assert_eq!(contacts["data"], json!([]));

    // create_contact makes one anyway.
    let l2 = lead(
        app,
        json!({"name": "Charles Babbage", "email": "charles@example.com"}),
    );
    let c = convert(app, t, &l2, json!({"create_contact": true}))
        .expect(200)
        .json();
    assert_eq!(c["customer"]["kind"], "person");
    let k = &c["contact"];
    assert_eq!(k["customer_id"], c["customer"]["id"]);
    assert_eq!(k["first_name"], "Charles");
    assert_eq!(k["last_name"], "Babbage");
    assert_eq!(k["email"], "charles@example.com");
    assert_eq!(c["lead"]["converted_contact_id"], k["id"]);

    // An opportunity of a person: named after the lead, with no contact.
    let l5 = lead(app, json!({"name": "Mary Somerville", "score": 12}));
    let c = convert(app, t, &l5, json!({"opportunity": {}}))
        .expect(200)
        .json();
    let o = &c["opportunity"];
    assert_eq!(o["name"], "Mary Somerville");
    assert_eq!(o["amount"], 0);
    assert_eq!(o["contact_id"], Value::Null);
    assert_eq!(o["customer_id"], c["customer"]["id"]);
    assert_eq!(o["source_lead_id"], l5["id"]);
    assert_eq!(c["lead"]["converted_opportunity_id"], o["id"]);
    let l6 = lead(app, json!({"name": "Emmy Noether"}));
    let c = convert(app, t, &l6, json!({"opportunity": null}))
        .expect(200)
        .json();
    assert_eq!(c["opportunity"], Value::Null);

    // One word: a first name only. create_contact false: none for a company.
    let l3 = lead(app, json!({"name": "Plato", "company_name": "Academy"}));
    let c = convert(app, t, &l3, json!({})).expect(200).json();
    assert_eq!(c["contact"]["first_name"], "Plato");
    assert_eq!(c["contact"]["last_name"], Value::Null);
    let l4 = lead(app, json!({"name": "Hypatia", "company_name": "Library"}));
    let c = convert(app, t, &l4, json!({"create_contact": false}))
        .expect(200)
        .json();
    assert_eq!(c["customer"]["kind"], "company");
    assert_eq!(c["contact"], Value::Null);
    assert_eq!(c["lead"]["converted_contact_id"], Value::Null);
}

fn conversion_overrides_and_links_customers(app: &TestApp) {
    let t = &app.admin_token;
    let existing = app.customer(json!({"name": "Existing Co"}));
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs"}),
    );
    let before = snapshot(app);
    let cases = [
        (json!({"customer": {"tier": "gold"}}), "customer.tier"),
        (json!({"customer": {"email": "nope"}}), "customer.email"),
        (json!({"customer": {"name": " "}}), "customer.name"),
        (json!({"customer": {"colour": "red"}}), "customer.colour"),
        (json!({"customer": "Acme"}), "customer"),
        (json!({"customer_id": "no-such-customer"}), "customer_id"),
        (
            json!({"customer_id": existing["id"], "customer": {"name": "X"}}),
            "customer",
        ),
    ];
    for (body, field) in cases {
        let p = convert(app, t, &l, body.clone()).problem(422);
        assert_eq!(fields(&p), vec![field], "{body}: {p}");
    }
    assert_eq!(snapshot(app), before, "refused conversions change nothing");

    // Overrides apply over what the lead gives.
    let c = convert(
        app,
        t,
        &l,
        json!({"customer": {"name": "Other Name", "tier": "a", "industry": "Navy"}}),
    )
    .expect(200)
    .json();
    let customer = &c["customer"];
    assert_eq!(customer["name"], "Other Name");
    assert_eq!(customer["tier"], "a");
    assert_eq!(customer["industry"], "Navy");
    assert_eq!(customer["kind"], "company");
    assert_eq!(c["contact"]["customer_id"], customer["id"]);

    // Linking an existing customer creates none.
    let l2 = lead(
        app,
        json!({"name": "Alan Turing", "company_name": "Bletchley"}),
    );
    let customers = ids(&get_json(app, "/api/v1/customers?limit=500"));
    let seq = last_seq(app);
    let c = convert(
        app,
        t,
        &l2,
        json!({"customer_id": existing["id"],
               "opportunity": {"name": "Enigma", "amount": 100, "currency": "usd"}}),
    )
    .expect(200)
    .json();
    assert_eq!(c["customer_created"], false);
    assert_eq!(c["customer"]["id"], existing["id"]);
    assert_eq!(c["customer"]["name"], "Existing Co");
    assert_eq!(c["customer"]["version"], existing["version"]);
    assert_eq!(c["contact"]["customer_id"], existing["id"]);
    assert_eq!(c["opportunity"]["customer_id"], existing["id"]);
    assert_eq!(c["opportunity"]["name"], "Enigma");
    assert_eq!(c["opportunity"]["currency"], "USD");
    assert_eq!(c["lead"]["converted_customer_id"], existing["id"]);
    assert_eq!(
        ids(&get_json(app, "/api/v1/customers?limit=500")),
        customers
    );
    let (events, _) = events_after(app, seq);
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("contacts", "created", &id(&c["contact"])),
            ev("opportunities", "created", &id(&c["opportunity"])),
            ev("leads", "updated", &id(&l2)),
        ]),
        "{events:?}"
    );
}

fn a_failed_conversion_leaves_nothing_behind(app: &TestApp) {
    let t = &app.admin_token;
    let taken =
        app.customer(json!({"kind": "person", "name": "Taken", "email": "taken@example.com"}));
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs", "email": "grace@navy.example"}),
    );
    let before = snapshot(app);

    // The customer's email is another's: 409 naming it, after nothing else was made.
    let p = convert(
        app,
        t,
        &l,
        json!({"customer": {"email": "TAKEN@example.com"}, "opportunity": {"amount": 1}}),
    )
    .problem(409);
    assert_eq!(p["existing_id"], taken["id"], "{p}");
    assert_eq!(snapshot(app), before);

    // A person lead brings its email to the customer.
    let person = lead(
        app,
        json!({"name": "Other Taken", "email": "taken@example.com"}),
    );
    let before = snapshot(app);
    let p = convert(app, t, &person, json!({"create_contact": true})).problem(409);
    assert_eq!(p["existing_id"], taken["id"], "{p}");
    assert_eq!(snapshot(app), before);

    // An opportunity refused after the customer and the contact were made.
    let cases = [
        (json!({"stage_id": "no-such-stage"}), "opportunity.stage_id"),
        (
            json!({"pipeline_id": "no-such-pipeline"}),
            "opportunity.pipeline_id",
        ),
        (json!({"currency": "XXX"}), "opportunity.currency"),
        (json!({"amount": -1}), "opportunity.amount"),
        (json!({"name": " "}), "opportunity.name"),
    ];
    for (o, field) in cases {
        let p = convert(app, t, &l, json!({"opportunity": o})).problem(422);
        assert_eq!(fields(&p), vec![field], "{o}: {p}");
        assert_eq!(snapshot(app), before, "{o}");
    }
    let res = app.get(&lead_url(&l), t).expect(200);
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(res.json()["status"], "new");

    // A stale If-Match: 412, nothing made.
    let url = format!("{}/convert", lead_url(&l));
    let body = json!({"opportunity": {"amount": 1}}).to_string();
    app.request(
        "POST",
        &url,
        Some(t),
        &[("If-Match", "\"2\"")],
        Some(body.as_bytes()),
    )
    .problem(412);
    assert_eq!(snapshot(app), before);

    // Fixed, it converts (If-Match naming the current version).
    let c = app
        .request(
            "POST",
            &url,
            Some(t),
            &[("If-Match", "\"1\"")],
            Some(body.as_bytes()),
        )
        .expect(200)
        .json();
    assert_eq!(c["lead"]["version"], 2);
    assert_eq!(c["opportunity"]["amount"], 1);
}

fn conversion_replays_with_an_idempotency_key(app: &TestApp) {
    let t = Some(app.admin_token.as_str());
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs"}),
    );
    let url = format!("{}/convert", lead_url(&l));
    let body = json!({"opportunity": {"amount": 5000}}).to_string();
    let key = [("Idempotency-Key", "convert-1")];
    let first = app
        .request("POST", &url, t, &key, Some(body.as_bytes()))
        .expect(200);
    assert_eq!(first.header("idempotent-replayed"), None);
    let made = first.json();
    assert_eq!(made["lead"]["status"], "converted");
    let before = snapshot(app);
    for _ in 0..2 {
        let again = app
            .request("POST", &url, t, &key, Some(body.as_bytes()))
            .expect(200);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.json(), made, "the same answer");
    }
    assert_eq!(snapshot(app), before, "converted once");
    // Another body with the key: 422; without a key: converted already.
    app.request("POST", &url, t, &key, Some(b"{}")).problem(422);
    let p = app
        .request("POST", &url, t, &[], Some(body.as_bytes()))
        .problem(409);
    assert_eq!(p["existing_id"], made["customer"]["id"]);
    assert_eq!(snapshot(app), before);

    // A refused conversion stores no answer: the key works once it succeeds.
    let l2 = lead(app, json!({"name": "Alan Turing"}));
    let url2 = format!("{}/convert", lead_url(&l2));
    let key2 = [("Idempotency-Key", "convert-2")];
    let bad = json!({"customer_id": "no-such-customer"}).to_string();
    for _ in 0..2 {
        let p = app
            .request("POST", &url2, t, &key2, Some(bad.as_bytes()))
            .problem(422);
        assert_eq!(fields(&p), vec!["customer_id"]);
    }
    let good = app
        .request("POST", &url2, t, &key2, Some(b"{}"))
        .expect(200);
    assert_eq!(good.header("idempotent-replayed"), None);
    assert_eq!(good.json()["customer"]["kind"], "person");
}

fn a_converted_lead_changes_only_tags_and_custom_fields(app: &TestApp) {
    let t = &app.admin_token;
    let viewer = app.token_for("viewer");
    let agent = app.token_for("agent");
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs", "score": 50}),
    );
    let before = snapshot(app);
    convert(app, &viewer, &l, json!({})).problem(403);
    assert_eq!(snapshot(app), before, "a viewer converts nothing");
    assert_eq!(get_json(app, &lead_url(&l))["status"], "new");

    let c = convert(app, &agent, &l, json!({})).expect(200).json();
    assert_eq!(c["lead"]["version"], 2);
    let url = lead_url(&l);
    let tagged = app
        .patch(&url, &agent, &json!({"tags": ["vip"]}))
        .expect(200)
        .json();
    assert_eq!(tagged["tags"], json!(["vip"]));
    assert_eq!(tagged["version"], 3);
    assert_eq!(tagged["status"], "converted");
    let custom = app
        .patch(&url, t, &json!({"custom_fields": {"region": "west"}}))
        .expect(200)
        .json();
    assert_eq!(custom["custom_fields"], json!({"region": "west"}));
    assert_eq!(custom["version"], 4);
    assert_eq!(custom["converted_customer_id"], c["customer"]["id"]);

    let before = snapshot(app);
    for (patch, field) in [
        (json!({"name": "Other"}), "name"),
        (json!({"score": 60}), "score"),
        (json!({"status": "new"}), "status"),
        (json!({"company_name": "Elsewhere"}), "company_name"),
        (json!({"tags": ["a"], "name": "Y"}), "name"),
    ] {
        let p = app.patch(&url, t, &patch).problem(409);
        assert_eq!(fields(&p), vec![field], "{patch}: {p}");
    }
    assert_eq!(snapshot(app), before, "refused patches change nothing");
    // Resending what it has changes nothing.
    let same = app
        .patch(&url, t, &json!({"name": "Grace Hopper", "score": 50}))
        .expect(200)
        .json();
    assert_eq!(same["version"], 4);
    assert_eq!(snapshot(app), before);
    // A viewer reads it.
    assert_eq!(app.get(&url, &viewer).expect(200).json(), custom);
}

// ------------------------------------------------------------- activities

fn activity_kinds_and_links_are_checked(app: &TestApp) {
    let t = &app.admin_token;
    let a = app.customer(json!({"name": "A"}));
    let b = app.customer(json!({"name": "B"}));
    let ka = contact(app, &a, "Ann");
    let kb = contact(app, &b, "Ben");
    let ob = opportunity(app, &b, json!({"name": "Deal B"}));
    let l = lead(app, json!({"name": "Lee"}));
    let day = "2026-01-01T00:00:00Z";
    let on_a = |extra: Value| merged(json!({"subject": "s", "customer_id": a["id"]}), extra);
    let before = snapshot(app);
    let cases = [
        (
            on_a(json!({"kind": "note", "direction": "inbound"})),
            vec!["direction"],
            "not_for_kind",
        ),
        (
            on_a(json!({"kind": "meeting", "direction": "outbound"})),
            vec!["direction"],
            "not_for_kind",
        ),
        (
            on_a(json!({"kind": "email", "duration_seconds": 60})),
            vec!["duration_seconds"],
            "not_for_kind",
        ),
        (
            on_a(json!({"kind": "call", "due_at": day})),
            vec!["due_at"],
            "not_for_kind",
        ),
        (
            on_a(json!({"kind": "call", "completed_at": day})),
            vec!["completed_at"],
            "not_for_kind",
        ),
        (
            on_a(json!({"kind": "note", "direction": "inbound", "due_at": day})),
            vec!["direction", "due_at"],
            "not_for_kind",
        ),
        (
            on_a(json!({"kind": "call", "duration_seconds": 604_801})),
            vec!["duration_seconds"],
            "",
        ),
        (
            json!({"kind": "note", "subject": "s"}),
            vec!["customer_id"],
            "link_required",
        ),
        (
            json!({"kind": "note", "subject": "s", "customer_id": " "}),
            vec!["customer_id"],
            "link_required",
        ),
        (
            json!({"kind": "call", "subject": "s", "customer_id": "nope"}),
            vec!["customer_id"],
            "not_found",
        ),
        (
            json!({"kind": "call", "subject": "s", "lead_id": "nope"}),
            vec!["lead_id"],
            "not_found",
        ),
        (
            json!({"kind": "call", "subject": "s", "contact_id": "nope"}),
            vec!["contact_id"],
            "not_found",
        ),
        (
            json!({"kind": "call", "subject": "s", "opportunity_id": "nope"}),
            vec!["opportunity_id"],
            "not_found",
        ),
        (
            json!({"kind": "call", "subject": "s", "customer_id": "nope", "lead_id": "nope"}),
            vec!["customer_id", "lead_id"],
            "not_found",
        ),
        (
            json!({"kind": "call", "subject": "s", "customer_id": b["id"], "contact_id": ka["id"]}),
            vec!["contact_id"],
            "wrong_customer",
        ),
        (
            json!({"kind": "call", "subject": "s", "customer_id": a["id"], "opportunity_id": ob["id"]}),
            vec!["opportunity_id"],
            "wrong_customer",
        ),
        (
            json!({"kind": "call", "subject": "s", "contact_id": ka["id"], "opportunity_id": ob["id"]}),
            vec!["opportunity_id"],
            "wrong_customer",
        ),
        (
            on_a(json!({"kind": "call", "subject": "  "})),
            vec!["subject"],
            "",
        ),
    ];
    for (body, expected, expected_code) in cases {
        let p = app.post("/api/v1/activities", t, &body).problem(422);
        assert_eq!(fields(&p), expected, "{body}: {p}");
        if !expected_code.is_empty() {
            assert_eq!(code(&p), expected_code, "{body}: {p}");
        }
    }
    assert_eq!(snapshot(app), before, "refused creates change nothing");

    // Each kind with what it may carry; occurred_at defaults to now.
    let start = Utc::now();
    let call = activity(
        app,
        on_a(json!({"kind": "call", "direction": "outbound", "duration_seconds": 300})),
    );
    let end = Utc::now();
    let occurred = time(&call["occurred_at"]);
    assert!(
        occurred >= start - Duration::seconds(1) && occurred <= end + Duration::seconds(1),
        "{call}"
    );
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["duration_seconds"], 300);
    assert_eq!(call["overdue"], false);
    assert_eq!(call["version"], 1);
    assert_eq!(&reread(app, &activity_url(&call)), &call);
    activity(app, on_a(json!({"kind": "email", "direction": "inbound"})));
    activity(
        app,
        on_a(json!({"kind": "meeting", "duration_seconds": 3600})),
    );
    let given = activity(
        app,
        on_a(json!({"occurred_at": "2026-02-03T04:05:06.789Z"})),
    );
    assert_eq!(time(&given["occurred_at"]), at("2026-02-03T04:05:06.789Z"));

    // A contact or an opportunity brings its customer.
    let on_contact = activity(app, json!({"contact_id": ka["id"]}));
    assert_eq!(on_contact["customer_id"], a["id"]);
    assert_eq!(on_contact["contact_id"], ka["id"]);
    let on_opportunity = activity(app, json!({"kind": "email", "opportunity_id": ob["id"]}));
    assert_eq!(on_opportunity["customer_id"], b["id"]);
    let both = activity(
        app,
        json!({"kind": "meeting", "contact_id": kb["id"], "opportunity_id": ob["id"]}),
    );
    assert_eq!(both["customer_id"], b["id"]);
    let agreeing = activity(
        app,
        json!({"customer_id": b["id"], "contact_id": kb["id"], "opportunity_id": ob["id"]}),
    );
    assert_eq!(agreeing["customer_id"], b["id"]);
    let on_lead = activity(app, json!({"lead_id": l["id"]}));
    assert_eq!(on_lead["customer_id"], Value::Null);
    assert_eq!(on_lead["lead_id"], l["id"]);

    // PATCH keeps the rules; refusals change nothing.
    let before = snapshot(app);
    let p = app
        .patch(
            &activity_url(&on_contact),
            t,
            &json!({"customer_id": b["id"]}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["contact_id"], "{p}");
    let p = app
        .patch(&activity_url(&call), t, &json!({"kind": "note"}))
        .problem(422);
    assert_eq!(fields(&p), vec!["direction", "duration_seconds"], "{p}");
    let p = app
        .patch(&activity_url(&on_lead), t, &json!({"lead_id": null}))
        .problem(422);
    assert_eq!(fields(&p), vec!["customer_id"], "{p}");
    assert_eq!(code(&p), "link_required");
    assert_eq!(snapshot(app), before);
    // Clearing the customer of a contact's activity takes the contact's again.
    let same = app
        .patch(&activity_url(&on_contact), t, &json!({"customer_id": null}))
        .expect(200)
        .json();
    assert_eq!(same["customer_id"], a["id"]);
    assert_eq!(same["version"], 1, "nothing changed");
    let moved = app
        .patch(
            &activity_url(&on_contact),
            t,
            &json!({"customer_id": b["id"], "contact_id": kb["id"]}),
        )
        .expect(200)
        .json();
    assert_eq!(moved["customer_id"], b["id"]);
    assert_eq!(moved["version"], 2);
}

fn tasks_are_open_overdue_and_completed(app: &TestApp) {
    let t = &app.admin_token;
    let c = app.customer(json!({}));
    let cid = id(&c);
    let task = |subject: &str, due: Option<DateTime<Utc>>| {
        let mut body = json!({"kind": "task", "subject": subject, "customer_id": cid});
        if let Some(due) = due {
            body["due_at"] = json!(text(due));
        }
        activity(app, body)
    };
    let late = task("Call back", Some(Utc::now() - Duration::hours(2)));
    assert_eq!(late["overdue"], true, "{late}");
    assert_eq!(late["completed_at"], Value::Null);
    let later = task("Send offer", Some(Utc::now() + Duration::days(2)));
    assert_eq!(later["overdue"], false);
    let undated = task("Someday", None);
    assert_eq!(undated["overdue"], false);
    let note = activity(app, json!({"customer_id": cid}));
    assert_eq!(note["overdue"], false);
    assert_eq!(reread(app, &activity_url(&late))["overdue"], true);

    let list = |query: &str| -> Vec<String> {
        sorted(ids(&get_json(
            app,
            &format!("/api/v1/activities?customer_id={cid}&{query}"),
        )))
    };
    assert_eq!(
        list("open_tasks=true"),
        sorted(vec![id(&late), id(&later), id(&undated)])
    );
    assert_eq!(list("open_tasks=false"), vec![id(&note)]);
    assert_eq!(list("overdue=true"), vec![id(&late)]);

    // Completing a task: no longer open, no longer overdue.
    let done = app
        .patch(
            &activity_url(&late),
            t,
            &json!({"completed_at": text(Utc::now())}),
        )
        .expect(200)
        .json();
    assert_eq!(done["overdue"], false, "{done}");
    assert!(done["completed_at"].is_string());
    assert_eq!(done["version"], 2);
    assert_eq!(list("overdue=true"), Vec::<String>::new());
    assert_eq!(
        list("open_tasks=true"),
        sorted(vec![id(&later), id(&undated)])
    );
    assert_eq!(list("open_tasks=false"), sorted(vec![id(&late), id(&note)]));
    // Reopened, it is overdue again.
    let reopened = app
        .patch(&activity_url(&late), t, &json!({"completed_at": null}))
        .expect(200)
        .json();
    assert_eq!(reopened["overdue"], true);
    assert_eq!(list("overdue=true"), vec![id(&late)]);
    // Only tasks are due.
    let p = app
        .patch(
            &activity_url(&note),
            t,
            &json!({"due_at": text(Utc::now())}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["due_at"]);
}

fn last_activity_at_follows_the_latest_activity(app: &TestApp) {
    let t = &app.admin_token;
    let a = app.customer(json!({"name": "A"}));
    let b = app.customer(json!({"name": "B"}));
    let l = lead(app, json!({"name": "Lee"}));
    let o = opportunity(app, &a, json!({}));
    let a_url = format!("/api/v1/customers/{}", id(&a));
    let b_url = format!("/api/v1/customers/{}", id(&b));
    let l_url = lead_url(&l);
    let o_url = format!("/api/v1/opportunities/{}", id(&o));
    let last = |url: &str| reread(app, url)["last_activity_at"].clone();
    let is = |url: &str, expected: Option<&str>| {
        let got = last(url);
        match expected {
            None => assert_eq!(got, Value::Null, "{url}"),
            Some(e) => assert_eq!(time(&got), at(e), "{url}"),
        }
    };
    for url in [&a_url, &b_url, &l_url, &o_url] {
        is(url, None);
    }
    let versions = |app: &TestApp| -> Vec<(Option<String>, Value)> {
        [&a_url, &b_url, &l_url, &o_url]
            .iter()
            .map(|u| {
                let res = app.get(u, &app.admin_token).expect(200);
                (
                    res.header("etag").map(str::to_string),
                    res.json()["version"].clone(),
                )
            })
            .collect()
    };
    let unchanged = versions(app);
    let seq = last_seq(app);

    let first = activity(
        app,
        json!({"kind": "call", "customer_id": a["id"], "lead_id": l["id"],
               "opportunity_id": o["id"], "occurred_at": "2026-05-01T10:00:00Z"}),
    );
    for url in [&a_url, &l_url, &o_url] {
        is(url, Some("2026-05-01T10:00:00Z"));
    }
    is(&b_url, None);
    let second = activity(
        app,
        json!({"opportunity_id": o["id"], "lead_id": l["id"], "occurred_at": "2026-05-03T10:00:00Z"}),
    );
    assert_eq!(second["customer_id"], a["id"]);
    let older = activity(
        app,
        json!({"customer_id": a["id"], "occurred_at": "2026-04-01T00:00:00Z"}),
    );
    for url in [&a_url, &l_url, &o_url] {
        is(url, Some("2026-05-03T10:00:00Z"));
    }
    // Derived: no version, no event for the records it is about.
    assert_eq!(versions(app), unchanged);
    let (events, _) = events_after(app, seq);
    assert_eq!(
        what(&events),
        vec![
            ev("activities", "created", &id(&first)),
            ev("activities", "created", &id(&second)),
            ev("activities", "created", &id(&older)),
        ]
    );
    // Lists show it too.
    let listed = get_json(app, "/api/v1/customers?limit=500");
    let in_list = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == a["id"])
        .unwrap()
        .clone();
    assert_eq!(
        time(&in_list["last_activity_at"]),
        at("2026-05-03T10:00:00Z")
    );

    // Deleting the latest goes back to the one before.
    app.delete(&activity_url(&second), t).expect(204);
    for url in [&a_url, &l_url, &o_url] {
        is(url, Some("2026-05-01T10:00:00Z"));
    }

    // Moving an activity to another customer recomputes both.
    let p = app
        .patch(&activity_url(&first), t, &json!({"customer_id": b["id"]}))
        .problem(422);
    assert_eq!(fields(&p), vec!["opportunity_id"], "{p}");
    is(&a_url, Some("2026-05-01T10:00:00Z"));
    let moved = app
        .patch(
            &activity_url(&first),
            t,
            &json!({"customer_id": b["id"], "opportunity_id": null}),
        )
        .expect(200)
        .json();
    assert_eq!(moved["customer_id"], b["id"]);
    is(&a_url, Some("2026-04-01T00:00:00Z"));
    is(&b_url, Some("2026-05-01T10:00:00Z"));
    is(&o_url, None);
    is(&l_url, Some("2026-05-01T10:00:00Z"));

    // A new time moves it; the last one gone, none is left.
    app.patch(
        &activity_url(&older),
        t,
        &json!({"occurred_at": "2026-06-01T00:00:00Z"}),
    )
    .expect(200);
    is(&a_url, Some("2026-06-01T00:00:00Z"));
    app.delete(&activity_url(&older), t).expect(204);
    is(&a_url, None);
    app.patch(&activity_url(&first), t, &json!({"lead_id": null}))
        .expect(200);
    is(&l_url, None);
    is(&b_url, Some("2026-05-01T10:00:00Z"));

    assert_eq!(versions(app), unchanged, "still no new versions");
    let (events, _) = events_after(app, seq);
    assert!(
        events.iter().all(|e| e["resource"] == "activities"),
        "{events:?}"
    );

    // Changing the records themselves keeps their last activity.
    activity(
        app,
        json!({"lead_id": l["id"], "opportunity_id": o["id"],
               "occurred_at": "2026-07-01T00:00:00Z"}),
    );
    let changed = app
        .patch(&b_url, t, &json!({"industry": "Shipping"}))
        .expect(200)
        .json();
    assert_eq!(
        time(&changed["last_activity_at"]),
        at("2026-05-01T10:00:00Z")
    );
    let changed = app
        .patch(&l_url, t, &json!({"score": 5}))
        .expect(200)
        .json();
    assert_eq!(
        time(&changed["last_activity_at"]),
        at("2026-07-01T00:00:00Z")
    );
    let changed = app
        .patch(&o_url, t, &json!({"amount": 5}))
        .expect(200)
        .json();
    assert_eq!(
        time(&changed["last_activity_at"]),
        at("2026-07-01T00:00:00Z")
    );
    is(&b_url, Some("2026-05-01T10:00:00Z"));
    is(&l_url, Some("2026-07-01T00:00:00Z"));
    is(&o_url, Some("2026-07-01T00:00:00Z"));
    is(&a_url, Some("2026-07-01T00:00:00Z"));
}

fn an_activity_keeps_an_opportunity_from_rotting(app: &TestApp) {
    let t = &app.admin_token;
    let pipeline = default_pipeline(app);
    let first = stage(&pipeline, "Qualification");
    let stage_url = format!("/api/v1/pipelines/{}/stages/{first}", id(&pipeline));
    app.patch(&stage_url, t, &json!({"rotting_days": 1}))
        .expect(200);
    let c = app.customer(json!({}));
    let o = opportunity(app, &c, json!({}));
    let url = format!("/api/v1/opportunities/{}", id(&o));
    assert_eq!(o["stage_id"], first.as_str());
    assert_eq!(o["rotting"], false);
    let version = o["version"].clone();
    let rotting = |expected: bool| {
        let now = reread(app, &url);
        assert_eq!(now["rotting"], expected, "{now}");
        assert_eq!(now["version"], version, "derived: no new version");
        let listed = ids(&get_json(app, "/api/v1/opportunities?rotting=true"));
        assert_eq!(listed.contains(&id(&o)), expected, "{listed:?}");
    };

    // Three days in the stage, rotting after two.
    backdate_stage_entry(app, &id(&o), 72);
    app.patch(&stage_url, t, &json!({"rotting_days": 2}))
        .expect(200);
    rotting(true);

    // An activity from before it entered the stage does not count.
    let ago = |hours: i64| text(Utc::now() - Duration::hours(hours));
    activity(
        app,
        json!({"opportunity_id": o["id"], "occurred_at": ago(120)}),
    );
    rotting(true);
    // One since, within the rotting days, does.
    let day_and_a_half = activity(
        app,
        json!({"opportunity_id": o["id"], "occurred_at": ago(36)}),
    );
    rotting(false);
    // The stage's days are counted from the last activity as well.
    app.patch(&stage_url, t, &json!({"rotting_days": 1}))
        .expect(200);
    rotting(true);
    let recent = activity(app, json!({"kind": "call", "opportunity_id": o["id"]}));
    rotting(false);
    app.delete(&activity_url(&recent), t).expect(204);
    rotting(true);
    app.patch(&stage_url, t, &json!({"rotting_days": 2}))
        .expect(200);
    rotting(false);
    app.delete(&activity_url(&day_and_a_half), t).expect(204);
    rotting(true);
    // A change of the opportunity itself counts from its last activity too.
    activity(
        app,
        json!({"opportunity_id": o["id"], "occurred_at": ago(1)}),
    );
    rotting(false);
    let changed = app
        .patch(&url, t, &json!({"amount": 700}))
        .expect(200)
        .json();
    assert_eq!(changed["rotting"], false, "{changed}");
    let now = reread(app, &url);
    assert_eq!(now["rotting"], false, "{now}");
    assert!(now["last_activity_at"].is_string());
}

fn deleting_a_lead_detaches_its_activities(app: &TestApp) {
    let t = &app.admin_token;
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs"}),
    );
    let only = activity(app, json!({"lead_id": l["id"], "subject": "Lead only"}));
    let c = convert(app, t, &l, json!({"opportunity": {"amount": 10}}))
        .expect(200)
        .json();
    let cid = id(&c["customer"]);
    let oid = id(&c["opportunity"]);
    let linked = activity(
        app,
        json!({"kind": "call", "lead_id": l["id"], "customer_id": cid,
               "occurred_at": "2026-05-01T00:00:00Z"}),
    );
    let other = activity(
        app,
        json!({"customer_id": cid, "occurred_at": "2026-04-01T00:00:00Z"}),
    );
    let seq = last_seq(app);

    app.delete(&lead_url(&l), t).expect(204);
    app.get(&lead_url(&l), t).problem(404);
    app.get(&activity_url(&only), t).problem(404);
    let kept = reread(app, &activity_url(&linked));
    assert_eq!(kept["lead_id"], Value::Null);
    assert_eq!(kept["customer_id"], cid.as_str());
    assert_eq!(kept["version"], 2);
    assert_eq!(reread(app, &activity_url(&other)), other);
    let o = reread(app, &format!("/api/v1/opportunities/{oid}"));
    assert_eq!(o["source_lead_id"], Value::Null);
    assert_eq!(o["version"], 2);
    let customer = reread(app, &format!("/api/v1/customers/{cid}"));
    assert_eq!(
        time(&customer["last_activity_at"]),
        at("2026-05-01T00:00:00Z")
    );

    let (events, _) = events_after(app, seq);
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("activities", "deleted", &id(&only)),
            ev("activities", "updated", &id(&linked)),
            ev("opportunities", "updated", &oid),
            ev("leads", "deleted", &id(&l)),
        ]),
        "{events:?}"
    );
    let update = events
        .iter()
        .find(|e| e["record_id"] == linked["id"])
        .unwrap();
    assert_eq!(
        update["changes"]["lead_id"],
        json!({"old": l["id"], "new": null})
    );
    assert_eq!(update["data"]["lead_id"], Value::Null);
}

fn deleting_contacts_and_opportunities_clears_their_activity_links(app: &TestApp) {
    let t = &app.admin_token;
    let c = app.customer(json!({}));
    let cid = id(&c);
    let k = contact(app, &c, "Kim");
    let o = opportunity(app, &c, json!({}));
    let on_contact = activity(app, json!({"contact_id": k["id"]}));
    let on_opportunity = activity(app, json!({"kind": "call", "opportunity_id": o["id"]}));
    let on_both = activity(
        app,
        json!({"kind": "meeting", "contact_id": k["id"], "opportunity_id": o["id"]}),
    );
    let seq = last_seq(app);

    app.delete(&format!("/api/v1/contacts/{}", id(&k)), t)
        .expect(204);
    let a = reread(app, &activity_url(&on_contact));
    assert_eq!(
        (
            a["contact_id"].clone(),
            a["customer_id"].clone(),
            a["version"].clone()
        ),
        (Value::Null, json!(cid), json!(2))
    );
    let a = reread(app, &activity_url(&on_both));
    assert_eq!(a["contact_id"], Value::Null);
    assert_eq!(a["opportunity_id"], o["id"]);
    assert_eq!(a["customer_id"], cid.as_str());
    assert_eq!(reread(app, &activity_url(&on_opportunity)), on_opportunity);
    let (events, seq) = events_after(app, seq);
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("activities", "updated", &id(&on_contact)),
            ev("activities", "updated", &id(&on_both)),
            ev("contacts", "deleted", &id(&k)),
        ]),
        "{events:?}"
    );

    app.delete(&format!("/api/v1/opportunities/{}", id(&o)), t)
        .expect(204);
    for a in [&on_opportunity, &on_both] {
        let now = reread(app, &activity_url(a));
        assert_eq!(now["opportunity_id"], Value::Null, "{now}");
        assert_eq!(now["customer_id"], cid.as_str());
    }
    let (events, _) = events_after(app, seq);
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("activities", "updated", &id(&on_opportunity)),
            ev("activities", "updated", &id(&on_both)),
            ev("opportunities", "deleted", &id(&o)),
        ]),
        "{events:?}"
    );
    assert_eq!(
        ids(&get_json(
            app,
            &format!("/api/v1/activities?customer_id={cid}")
        ))
        .len(),
        3,
        "all three stay with the customer"
    );
}

fn deleting_a_customer_detaches_its_activities_and_leads(app: &TestApp) {
    let t = &app.admin_token;
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs"}),
    );
    let lead_only = activity(
        app,
        json!({"lead_id": l["id"], "occurred_at": "2026-03-01T00:00:00Z"}),
    );
    let c = convert(app, t, &l, json!({})).expect(200).json();
    let cid = id(&c["customer"]);
    let kid = id(&c["contact"]);
    let on_customer = activity(app, json!({"kind": "call", "customer_id": cid}));
    let on_contact = activity(app, json!({"contact_id": kid}));
    let with_lead = activity(
        app,
        json!({"kind": "meeting", "customer_id": cid, "contact_id": kid, "lead_id": l["id"],
               "occurred_at": "2026-04-01T00:00:00Z"}),
    );
    let d = app.customer(json!({"name": "Bystander"}));
    let elsewhere = activity(app, json!({"customer_id": d["id"]}));
    let seq = last_seq(app);

    app.delete(&format!("/api/v1/customers/{cid}"), t)
        .expect(204);
    app.get(&format!("/api/v1/customers/{cid}"), t).problem(404);
    app.get(&format!("/api/v1/contacts/{kid}"), t).problem(404);
    app.get(&activity_url(&on_customer), t).problem(404);
    app.get(&activity_url(&on_contact), t).problem(404);
    let kept = reread(app, &activity_url(&with_lead));
    assert_eq!(kept["customer_id"], Value::Null);
    assert_eq!(kept["contact_id"], Value::Null);
    assert_eq!(kept["lead_id"], l["id"]);
    assert_eq!(kept["version"], 2);
    assert_eq!(reread(app, &activity_url(&lead_only)), lead_only);
    assert_eq!(reread(app, &activity_url(&elsewhere)), elsewhere);

    let now = reread(app, &lead_url(&l));
    assert_eq!(now["status"], "converted");
    assert_eq!(now["converted_at"], c["lead"]["converted_at"]);
    assert_eq!(now["converted_customer_id"], Value::Null);
    assert_eq!(now["converted_contact_id"], Value::Null);
    assert!(now["version"].as_i64().unwrap() > 2, "{now}");
    assert_eq!(time(&now["last_activity_at"]), at("2026-04-01T00:00:00Z"));

    let (events, _) = events_after(app, seq);
    let mut expected = vec![
        ev("activities", "deleted", &id(&on_customer)),
        ev("activities", "deleted", &id(&on_contact)),
        ev("activities", "updated", &id(&with_lead)),
        ev("contacts", "deleted", &kid),
        ev("customers", "deleted", &cid),
    ];
    let lead_updates = events
        .iter()
        .filter(|e| e["resource"] == "leads")
        .inspect(|e| assert_eq!(e["action"], "updated", "{e}"))
        .count();
    assert!(lead_updates >= 1, "{events:?}");
    expected.extend((0..lead_updates).map(|_| ev("leads", "updated", &id(&l))));
    assert_eq!(sorted(what(&events)), sorted(expected), "{events:?}");
    let last_lead_event = events
        .iter()
        .rev()
        .find(|e| e["resource"] == "leads")
        .unwrap();
    assert_eq!(last_lead_event["data"], now);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["resource"] == "leads")
            .filter_map(|e| e["changes"]["converted_customer_id"]["old"].as_str())
            .collect::<Vec<_>>(),
        vec![cid.as_str()]
    );
}

fn deleting_what_a_lead_became_clears_its_links(app: &TestApp) {
    let t = &app.admin_token;
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs"}),
    );
    let c = convert(app, t, &l, json!({"opportunity": {"amount": 10}}))
        .expect(200)
        .json();
    let kid = id(&c["contact"]);
    let oid = id(&c["opportunity"]);
    let seq = last_seq(app);
    app.delete(&format!("/api/v1/contacts/{kid}"), t)
        .expect(204);
    let now = reread(app, &lead_url(&l));
    assert_eq!(now["converted_contact_id"], Value::Null);
    assert_eq!(now["converted_opportunity_id"], oid.as_str());
    assert_eq!(now["version"], 3);
    let o = reread(app, &format!("/api/v1/opportunities/{oid}"));
    assert_eq!(o["contact_id"], Value::Null);
    let (events, seq) = events_after(app, seq);
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("contacts", "deleted", &kid),
            ev("opportunities", "updated", &oid),
            ev("leads", "updated", &id(&l)),
        ]),
        "{events:?}"
    );
    app.delete(&format!("/api/v1/opportunities/{oid}"), t)
        .expect(204);
    let now = reread(app, &lead_url(&l));
    assert_eq!(now["converted_opportunity_id"], Value::Null);
    assert_eq!(now["converted_customer_id"], c["customer"]["id"]);
    assert_eq!(now["status"], "converted");
    assert_eq!(now["version"], 4);
    let (events, _) = events_after(app, seq);
    assert_eq!(
        sorted(what(&events)),
        sorted(vec![
            ev("opportunities", "deleted", &oid),
            ev("leads", "updated", &id(&l)),
        ]),
        "{events:?}"
    );
    // With nothing left referring to it, the customer can go.
    app.delete(&format!("/api/v1/customers/{}", id(&c["customer"])), t)
        .expect(204);
    let now = reread(app, &lead_url(&l));
    assert_eq!(now["converted_customer_id"], Value::Null);
    assert_eq!(now["version"], 5);
}

fn concurrent_conversions_convert_once(app: &TestApp) {
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs"}),
    );
    let customers = ids(&get_json(app, "/api/v1/customers?limit=500")).len();
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    convert(
                        app,
                        &app.admin_token,
                        &l,
                        json!({"opportunity": {"amount": 1}}),
                    )
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let statuses = sorted(answers.iter().map(|r| r.status).collect());
    assert_eq!(statuses, [200, 409, 409, 409], "{answers:?}");
    let made = answers.iter().find(|r| r.status == 200).unwrap().json();
    for refused in answers.iter().filter(|r| r.status == 409) {
        assert_eq!(refused.json()["existing_id"], made["customer"]["id"]);
    }
    assert_eq!(
        ids(&get_json(app, "/api/v1/customers?limit=500")).len(),
        customers + 1
    );
    assert_eq!(
        ids(&get_json(app, "/api/v1/opportunities?limit=500")),
        vec![id(&made["opportunity"])]
    );
    let now = reread(app, &lead_url(&l));
    assert_eq!(now["version"], 2);
    assert_eq!(now["converted_customer_id"], made["customer"]["id"]);
}

/// Activities written at the same time for the same records: each record's
/// `last_activity_at` ends at the latest one, never a lost update.
fn concurrent_activities_keep_the_latest_time(app: &TestApp) {
    let c = app.customer(json!({}));
    let l = lead(app, json!({"name": "Lee"}));
    let o = opportunity(app, &c, json!({}));
    let base = at("2026-03-01T00:00:00Z");
    let made: Vec<Vec<Value>> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (c, l, o) = (&c, &l, &o);
                s.spawn(move || {
                    (0..5)
                        .map(|i| {
                            let when = base + Duration::minutes(w * 5 + i);
                            activity(
                                app,
                                json!({"customer_id": c["id"], "lead_id": l["id"],
                                       "opportunity_id": o["id"], "occurred_at": text(when)}),
                            )
                        })
                        .collect()
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let urls = [
        format!("/api/v1/customers/{}", id(&c)),
        lead_url(&l),
        format!("/api/v1/opportunities/{}", id(&o)),
    ];
    let latest = base + Duration::minutes(19);
    for url in &urls {
        assert_eq!(time(&reread(app, url)["last_activity_at"]), latest, "{url}");
    }
    // The latest of each writer deleted at the same time: the one before
    // the latest writer's last is left.
    std::thread::scope(|s| {
        for writer in &made {
            let last = writer.last().unwrap();
            s.spawn(move || {
                app.delete(&activity_url(last), &app.admin_token)
                    .expect(204)
            });
        }
    });
    let latest = base + Duration::minutes(18);
    for url in &urls {
        assert_eq!(time(&reread(app, url)["last_activity_at"]), latest, "{url}");
    }
}

// --------------------------------------------------------------- timeline

fn timeline(app: &TestApp, customer_id: &str, query: &str) -> Value {
    get_json(
        app,
        &format!("/api/v1/customers/{customer_id}/timeline?{query}"),
    )
}

/// Every item, following `next_cursor` from `query`'s first page.
fn all_pages(app: &TestApp, customer_id: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut page = timeline(app, customer_id, query);
    for _ in 0..200 {
        items.extend(page["data"].as_array().expect("data").iter().cloned());
        match page["next_cursor"].as_str() {
            None => return items,
            Some(cursor) => page = timeline(app, customer_id, &format!("{query}&cursor={cursor}")),
        }
    }
    panic!("paging does not end");
}

fn types_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn assert_newest_first(items: &[Value]) {
    for pair in items.windows(2) {
        assert!(
            time(&pair[0]["occurred_at"]) >= time(&pair[1]["occurred_at"]),
            "not newest first: {pair:?}"
        );
    }
}

fn the_timeline_shows_everything_about_a_customer_newest_first(app: &TestApp) {
    let t = &app.admin_token;
    let pipeline = default_pipeline(app);
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs", "source": "web", "score": 40}),
    );
    let lead_note = activity(
        app,
        json!({"lead_id": l["id"], "subject": "Met at the fair"}),
    );
    let c = convert(
        app,
        t,
        &l,
        json!({"opportunity": {"amount": 5000, "currency": "EUR"}}),
    )
    .expect(200)
    .json();
    let cid = id(&c["customer"]);
    let kid = id(&c["contact"]);
    let oid = id(&c["opportunity"]);
    let call = activity(
        app,
        json!({"kind": "call", "subject": "Intro call", "customer_id": cid,
               "direction": "outbound", "duration_seconds": 300}),
    );
    let note = activity(app, json!({"subject": "Likes Cobol", "contact_id": kid}));
    let proposal = stage(&pipeline, "Proposal");
    app.patch(
        &format!("/api/v1/opportunities/{oid}"),
        t,
        &json!({"stage_id": proposal}),
    )
    .expect(200);
    let order = app
        .post(
            "/api/v1/orders",
            t,
            &json!({
                "customer_id": cid,
                "number": "SO-1",
                "ordered_at": text(Utc::now()),
                "currency": "EUR",
                "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250, "discount": 100}],
                "shipping": 500,
                "tax": 300,
            }),
        )
        .expect(201)
        .json();
    assert_eq!(order["total"], 3200);
    app.patch(
        &format!("/api/v1/customers/{cid}"),
        t,
        &json!({"industry": "Defense"}),
    )
    .expect(200);

    let full = timeline(app, &cid, "limit=500");
    assert_eq!(full["next_cursor"], Value::Null);
    let items = full["data"].as_array().expect("data").clone();
    assert_newest_first(&items);
    assert_eq!(
        sorted(types_of(&items)),
        sorted(
            [
                "activity",
                "activity",
                "activity",
                "opportunity_created",
                "stage_changed",
                "lead_converted",
                "order_placed",
                "customer_changed",
                "customer_changed",
                "contact_changed",
            ]
            .map(String::from)
            .to_vec()
        ),
        "{full}"
    );
    for item in &items {
        assert!(item["occurred_at"].is_string(), "{item}");
        assert!(item["record_id"].is_string(), "{item}");
        assert!(item["summary"].is_string(), "{item}");
        assert!(item["data"].is_object(), "{item}");
    }
    // The newest: the customer's change, with what changed.
    assert_eq!(items[0]["type"], "customer_changed", "{full}");
    assert_eq!(items[0]["record_id"], cid.as_str());
    assert_eq!(items[0]["data"]["action"], "updated");
    assert_eq!(
        items[0]["data"]["changes"]["industry"],
        json!({"old": null, "new": "Defense"})
    );
    let of_type = |ty: &str| -> Vec<&Value> { items.iter().filter(|i| i["type"] == ty).collect() };
    let activities: Vec<String> = of_type("activity")
        .iter()
        .map(|i| i["record_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sorted(activities),
        sorted(vec![id(&lead_note), id(&call), id(&note)])
    );
    let call_item = of_type("activity")
        .into_iter()
        .find(|i| i["record_id"] == call["id"])
        .unwrap();
    assert_eq!(call_item["summary"], "Intro call");
    assert_eq!(
        call_item["data"],
        json!({"kind": "call", "direction": "outbound", "duration_seconds": 300})
    );
    assert_eq!(time(&call_item["occurred_at"]), time(&call["occurred_at"]));
    let created = of_type("opportunity_created")[0];
    assert_eq!(created["record_id"], oid.as_str());
    assert_eq!(created["summary"], "Navy Labs");
    assert_eq!(created["data"], json!({"amount": 5000, "currency": "EUR"}));
    let moved = of_type("stage_changed")[0];
    assert_eq!(moved["record_id"], oid.as_str());
    assert_eq!(moved["data"]["stage_name"], "Proposal");
    assert_eq!(moved["data"]["stage_id"], proposal.as_str());
    let converted = of_type("lead_converted")[0];
    assert_eq!(converted["record_id"], l["id"]);
    assert_eq!(converted["summary"], "Grace Hopper");
    assert_eq!(
        converted["data"],
        json!({"source": "web", "score": 40, "opportunity_id": oid})
    );
    assert_eq!(
        time(&converted["occurred_at"]),
        time(&c["lead"]["converted_at"])
    );
    let placed = of_type("order_placed")[0];
    assert_eq!(placed["record_id"], order["id"]);
    assert_eq!(placed["summary"], "SO-1");
    assert_eq!(placed["data"]["total"], 3200);
    assert_eq!(placed["data"]["currency"], "EUR");
    assert_eq!(placed["data"]["number"], "SO-1");
    let customer_changes = of_type("customer_changed");
    assert_eq!(customer_changes[1]["data"]["action"], "created");
    assert_eq!(
        customer_changes[1]["data"]["changes"]["name"]["new"],
        "Navy Labs"
    );
    let contact_changed = of_type("contact_changed")[0];
    assert_eq!(contact_changed["record_id"], kid.as_str());
    assert_eq!(contact_changed["data"]["action"], "created");
    assert_eq!(contact_changed["summary"], "contact created");

    // Only some types.
    let some = timeline(app, &cid, "types=activity,stage_changed&limit=500");
    let expected: Vec<Value> = items
        .iter()
        .filter(|i| i["type"] == "activity" || i["type"] == "stage_changed")
        .cloned()
        .collect();
    assert_eq!(some["data"], json!(expected));
    assert_eq!(expected.len(), 4);
    let spaced = timeline(app, &cid, "types=%20order_placed%20&limit=500");
    assert_eq!(spaced["data"], json!([placed]));
    for bad in ["types=meeting", "types=activity,nope", "types="] {
        let p = app
            .get(&format!("/api/v1/customers/{cid}/timeline?{bad}"), t)
            .problem(422);
        assert_eq!(fields(&p), vec!["types"], "{bad}: {p}");
    }

    // Before and after a time in the middle.
    let pivot = time(&items[4]["occurred_at"]);
    let pivot_text = text(pivot);
    let after = timeline(app, &cid, &format!("after={pivot_text}&limit=500"));
    let expected: Vec<Value> = items
        .iter()
        .filter(|i| time(&i["occurred_at"]) >= pivot)
        .cloned()
        .collect();
    assert_eq!(after["data"], json!(expected));
    let before = timeline(app, &cid, &format!("before={pivot_text}&limit=500"));
    let expected: Vec<Value> = items
        .iter()
        .filter(|i| time(&i["occurred_at"]) < pivot)
        .cloned()
        .collect();
    assert_eq!(before["data"], json!(expected));
    assert!(!expected.is_empty());

    // Pages of two: every item once, in the same order.
    let paged = all_pages(app, &cid, "limit=2");
    assert_eq!(paged, items);
    let paged = all_pages(app, &cid, "limit=3&types=activity,customer_changed");
    let expected: Vec<Value> = items
        .iter()
        .filter(|i| i["type"] == "activity" || i["type"] == "customer_changed")
        .cloned()
        .collect();
    assert_eq!(paged, expected);

    app.get("/api/v1/customers/no-such-customer/timeline", t)
        .problem(404);
    let viewer = app.token_for("viewer");
    let seen = app
        .get(
            &format!("/api/v1/customers/{cid}/timeline?limit=500"),
            &viewer,
        )
        .expect(200)
        .json();
    assert_eq!(seen, full);
    // Another customer's timeline has none of it.
    let other = app.customer(json!({"name": "Other"}));
    let theirs = timeline(app, &id(&other), "limit=500");
    assert_eq!(
        types_of(theirs["data"].as_array().unwrap()),
        ["customer_changed"]
    );
}

fn timeline_pages_never_skip_or_repeat_equal_times(app: &TestApp) {
    let t = &app.admin_token;
    let c = app.customer(json!({}));
    let cid = id(&c);
    let tie = "2026-04-01T12:00:00Z";
    let mut expected_ids = Vec::new();
    for i in 0..5 {
        let a = activity(
            app,
            json!({"customer_id": cid, "subject": format!("Tie {i}"), "occurred_at": tie}),
        );
        expected_ids.push(id(&a));
    }
    for at_time in [
        "2026-04-01T12:00:00.000001Z",
        "2026-04-01T11:59:59.999999Z",
        "2026-04-01T12:00:00.5Z",
    ] {
        let a = activity(app, json!({"customer_id": cid, "occurred_at": at_time}));
        expected_ids.push(id(&a));
    }
    // An order at the same time: a tie across kinds.
    let order = app
        .post(
            "/api/v1/orders",
            t,
            &json!({"customer_id": cid, "ordered_at": tie, "currency": "EUR",
                    "items": [{"sku": "S", "quantity": 1, "unit_price": 100}]}),
        )
        .expect(201)
        .json();
    expected_ids.push(id(&order));

    let full = timeline(app, &cid, "limit=500")["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(full.len(), 10, "nine items and the customer's creation");
    assert_newest_first(&full);
    let record_ids: Vec<String> = full
        .iter()
        .filter(|i| i["type"] != "customer_changed")
        .map(|i| i["record_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sorted(record_ids), sorted(expected_ids.clone()));
    let tied = full
        .iter()
        .filter(|i| time(&i["occurred_at"]) == at(tie))
        .count();
    assert_eq!(tied, 6);

    for query in [
        "limit=1",
        "limit=2",
        "limit=4",
        "limit=1&types=activity,order_placed",
    ] {
        let paged = all_pages(app, &cid, query);
        let expected: Vec<Value> = if query.contains("types") {
            full.iter()
                .filter(|i| i["type"] != "customer_changed")
                .cloned()
                .collect()
        } else {
            full.clone()
        };
        assert_eq!(paged, expected, "{query}");
    }
    // The time filters keep equal times together.
    let from_tie = timeline(
        app,
        &cid,
        &format!("after={tie}&before=2026-04-01T12:00:00.000001Z&limit=500"),
    );
    assert_eq!(from_tie["data"].as_array().unwrap().len(), 6);
    let paged = all_pages(
        app,
        &cid,
        &format!("after={tie}&before=2026-04-01T12:00:00.000001Z&limit=1"),
    );
    assert_eq!(json!(paged), from_tie["data"]);
}

// ------------------------------------------------------------ lead funnel

fn lead_funnel_counts_statuses_rates_and_median_hours(app: &TestApp) {
    let t = &app.admin_token;
    let admin = me(app, t);
    let agent_token = app.token_for("agent");
    let agent = me(app, &agent_token);
    // (name, source, owner, status, created, hours to conversion)
    let none: Option<&str> = None;
    let plan = [
        (
            "W1",
            Some("web"),
            Some(&agent),
            "new",
            "2026-06-01 00:00:00",
            None,
        ),
        (
            "W2",
            Some("web"),
            None,
            "contacted",
            "2026-06-30 23:59:59",
            None,
        ),
        (
            "W3",
            Some("web"),
            Some(&agent),
            "converted",
            "2026-06-10 08:00:00",
            Some(10),
        ),
        (
            "W4",
            Some("web"),
            Some(&agent),
            "converted",
            "2026-06-11 08:00:00",
            Some(40),
        ),
        (
            "W5",
            Some("web"),
            Some(&admin),
            "converted",
            "2026-06-12 08:00:00",
            Some(20),
        ),
        (
            "Wbefore",
            Some("web"),
            None,
            "new",
            "2026-05-31 23:59:59",
            None,
        ),
        (
            "Wafter",
            Some("web"),
            None,
            "converted",
            "2026-07-01 00:00:00",
            Some(1),
        ),
        (
            "R1",
            Some("referral"),
            Some(&admin),
            "qualified",
            "2026-06-05 09:00:00",
            None,
        ),
        (
            "R2",
            Some("referral"),
            None,
            "unqualified",
            "2026-06-06 09:00:00",
            None,
        ),
        (
            "N1",
            none,
            None,
            "converted",
            "2026-06-15 12:00:00",
            Some(5),
        ),
        ("N2", none, Some(&agent), "new", "2026-06-16 12:00:00", None),
    ];
    for (name, source, owner, status, created, hours) in plan {
        let mut body = json!({"name": name, "source": source, "owner_id": owner});
        match status {
            "converted" => {}
            "unqualified" => {
                body["status"] = json!(status);
                body["unqualified_reason"] = json!("no budget");
            }
            _ => body["status"] = json!(status),
        }
        let l = lead(app, body);
        if status == "converted" {
            convert(app, t, &l, json!({})).expect(200);
        }
        let converted = hours.map(|h| {
            (naive(created) + Duration::hours(h))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        });
        set_lead_times(app, &id(&l), created, converted.as_deref());
    }

    let viewer = app.token_for("viewer");
    let report = app
        .get(
            "/api/v1/reports/lead-funnel?from=2026-06-01&to=2026-06-30",
            &viewer,
        )
        .expect(200)
        .json();
    assert_eq!(report["from"], "2026-06-01");
    assert_eq!(report["to"], "2026-06-30");
    assert_eq!(report["group_by"], "source");
    let groups = report["groups"].as_array().expect("groups");
    let names: Vec<&Value> = groups.iter().map(|g| &g["group"]).collect();
    assert_eq!(
        names,
        [&json!("referral"), &json!("web"), &Value::Null],
        "{report}"
    );
    let counts = |g: &Value| {
        let c = &g["counts"];
        [
            &c["new"],
            &c["contacted"],
            &c["qualified"],
            &c["unqualified"],
            &c["converted"],
        ]
        .map(|v| v.as_i64().unwrap())
    };
    let referral = &groups[0];
    assert_eq!(counts(referral), [0, 0, 1, 1, 0]);
    assert_eq!(referral["total"], 2);
    assert!(close_to(&referral["conversion_rate"], 0.0), "{referral}");
    assert_eq!(referral["median_hours_to_conversion"], Value::Null);
    let web = &groups[1];
    assert_eq!(counts(web), [1, 1, 0, 0, 3], "{web}");
    assert_eq!(web["total"], 5);
    assert!(close_to(&web["conversion_rate"], 0.6), "{web}");
    assert!(close_to(&web["median_hours_to_conversion"], 20.0), "{web}");
    let no_source = &groups[2];
    assert_eq!(counts(no_source), [1, 0, 0, 0, 1]);
    assert_eq!(no_source["total"], 2);
    assert!(close_to(&no_source["conversion_rate"], 0.5));
    assert!(
        close_to(&no_source["median_hours_to_conversion"], 5.0),
        "{no_source}"
    );

    // Per owner: ids in order, no owner last; an even count's median is the mean of the middle two.
    let report = get_json(
        app,
        "/api/v1/reports/lead-funnel?from=2026-06-01&to=2026-06-30&group_by=owner",
    );
    assert_eq!(report["group_by"], "owner");
    let groups = report["groups"].as_array().expect("groups");
    let mut owners = [admin.clone(), agent.clone()];
    owners.sort();
    let names: Vec<Value> = groups.iter().map(|g| g["group"].clone()).collect();
    assert_eq!(
        names,
        vec![json!(owners[0]), json!(owners[1]), Value::Null],
        "{report}"
    );
    let by = |owner: &Value| groups.iter().find(|g| &g["group"] == owner).unwrap();
    let of_agent = by(&json!(agent));
    assert_eq!(counts(of_agent), [2, 0, 0, 0, 2], "{of_agent}");
    assert_eq!(of_agent["total"], 4);
    assert!(close_to(&of_agent["conversion_rate"], 0.5));
    assert!(
        close_to(&of_agent["median_hours_to_conversion"], 25.0),
        "{of_agent}"
    );
    let of_admin = by(&json!(admin));
    assert_eq!(counts(of_admin), [0, 0, 1, 0, 1]);
    assert!(close_to(&of_admin["median_hours_to_conversion"], 20.0));
    let unowned = by(&Value::Null);
    assert_eq!(counts(unowned), [0, 1, 0, 1, 1], "{unowned}");
    assert_eq!(unowned["total"], 3);
    assert!(close_to(&unowned["conversion_rate"], 1.0 / 3.0));
    assert!(close_to(&unowned["median_hours_to_conversion"], 5.0));

    // The range: `to` is inclusive, and leads outside it are left out.
    let web_of = |query: &str| {
        let report = get_json(app, &format!("/api/v1/reports/lead-funnel?{query}"));
        report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == "web")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let w = web_of("from=2026-06-01&to=2026-06-29");
    assert_eq!(
        counts(&w),
        [1, 0, 0, 0, 3],
        "W2 was created on the 30th: {w}"
    );
    let w = web_of("from=2026-06-02&to=2026-06-30");
    assert_eq!(
        counts(&w),
        [0, 1, 0, 0, 3],
        "W1 was created on the 1st: {w}"
    );
    let w = web_of("from=2026-05-31&to=2026-07-01");
    assert_eq!(counts(&w), [2, 1, 0, 0, 4], "{w}");
    assert!(close_to(&w["median_hours_to_conversion"], 15.0), "{w}");
    let w = web_of("from=2026-06-01&to=2026-06-01");
    assert_eq!(counts(&w), [1, 0, 0, 0, 0], "{w}");
    assert_eq!(w["median_hours_to_conversion"], Value::Null);
    assert!(close_to(&w["conversion_rate"], 0.0));
    let empty = get_json(
        app,
        "/api/v1/reports/lead-funnel?from=2025-01-01&to=2025-12-31",
    );
    assert_eq!(empty["groups"], json!([]));

    for (query, field) in [
        ("group_by=stage", "group_by"),
        ("from=2026-07-01&to=2026-06-01", "to"),
        ("from=yesterday", "from"),
        ("colour=red", "colour"),
    ] {
        let p = app
            .get(&format!("/api/v1/reports/lead-funnel?{query}"), t)
            .problem(422);
        assert_eq!(fields(&p), vec![field], "{query}: {p}");
    }
}

// ------------------------------------------------- found by review, fixed

/// An override naming a record that does not exist is a field of the
/// `customer` override, like every other invalid override.
fn conversion_names_a_customer_reference_inside_customer(app: &TestApp) {
    let t = &app.admin_token;
    let l = lead(
        app,
        json!({"name": "Grace Hopper", "company_name": "Navy Labs"}),
    );
    let before = snapshot(app);
    for (body, field) in [
        (
            json!({"customer": {"owner_id": "nobody"}}),
            "customer.owner_id",
        ),
        (
            json!({"customer": {"referred_by_id": "no-such-customer"}}),
            "customer.referred_by_id",
        ),
    ] {
        let p = convert(app, t, &l, body.clone()).problem(422);
        assert_eq!(fields(&p), vec![field], "{body}: {p}");
    }
    assert_eq!(snapshot(app), before);
}

/// An activity's contact and opportunity belong to its customer; moving the
/// contact or the opportunity must not leave its activities in a state that
/// refuses every later change.
fn activities_stay_editable_when_their_contact_or_opportunity_moves(app: &TestApp) {
    let t = &app.admin_token;
    let a = app.customer(json!({"name": "A"}));
    let b = app.customer(json!({"name": "B"}));
    let k = contact(app, &a, "Kim");
    let o = opportunity(app, &a, json!({}));
    let on_contact = activity(app, json!({"contact_id": k["id"]}));
    let on_opportunity = activity(app, json!({"kind": "call", "opportunity_id": o["id"]}));
    app.patch(
        &format!("/api/v1/contacts/{}", id(&k)),
        t,
        &json!({"customer_id": b["id"]}),
    )
    .expect(200);
    app.patch(
        &format!("/api/v1/opportunities/{}", id(&o)),
        t,
        &json!({"customer_id": b["id"]}),
    )
    .expect(200);
    for a in [&on_contact, &on_opportunity] {
        let edited = app
            .patch(&activity_url(a), t, &json!({"subject": "Edited"}))
            .expect(200)
            .json();
        assert_eq!(edited["subject"], "Edited");
        assert_eq!(edited["customer_id"], b["id"], "{edited}");
    }
}

/// `contact_changed`: the events of the contacts the customer has now; a
/// deleted contact's leave the timeline, a moved one's go with it.
fn the_timeline_shows_the_changes_of_the_contacts_it_has(app: &TestApp) {
    let t = &app.admin_token;
    let c = app.customer(json!({}));
    let other = app.customer(json!({"name": "Other"}));
    let kept = contact(app, &c, "Kim");
    let gone = contact(app, &c, "Lou");
    let moved = contact(app, &c, "Max");
    app.patch(
        &format!("/api/v1/contacts/{}", id(&kept)),
        t,
        &json!({"title": "CTO"}),
    )
    .expect(200);
    app.delete(&format!("/api/v1/contacts/{}", id(&gone)), t)
        .expect(204);
    app.patch(
        &format!("/api/v1/contacts/{}", id(&moved)),
        t,
        &json!({"customer_id": other["id"]}),
    )
    .expect(200);
    let items = |customer: &Value| -> Vec<(String, String)> {
        timeline(app, &id(customer), "types=contact_changed&limit=500")["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["record_id"].as_str().unwrap().to_string(),
                    i["data"]["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        items(&c),
        [
            (id(&kept), "updated".to_string()),
            (id(&kept), "created".to_string())
        ]
    );
    assert_eq!(
        items(&other),
        [
            (id(&moved), "updated".to_string()),
            (id(&moved), "created".to_string())
        ]
    );
}

mod deleting_a_lead_while_its_activity_changes_does_not_deadlock {
    #[test]
    fn postgres() {
        if let Some(app) = crate::common::TestApp::postgres() {
            super::deleting_a_lead_while_its_activity_changes_does_not_deadlock(&app);
        }
    }
}

/// Waits until `n` backends of the app's PostgreSQL database wait on a lock.
fn wait_for_lock_waiters(app: &TestApp, n: i64) {
    #[derive(diesel::QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut pooled = app.db();
    let conn: &mut crm::db::DbConn = &mut pooled;
    let crm::db::DbConn::Postgresql(conn) = conn else {
        panic!("PostgreSQL only");
    };
    for _ in 0..500 {
        let waiting: Waiting = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(conn)
        .expect("pg_stat_activity");
        if waiting.n >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{n} requests never waited on a lock");
}

/// A lead deleted while one of its activities (also the customer's) is
/// changed: the activity change takes the customer, then the lead; the
/// delete holds the lead and the activity, then takes the customer to
/// refresh its last activity. The customer is held (by a test transaction)
/// until both requests wait, so that they meet in that order every time.
fn deleting_a_lead_while_its_activity_changes_does_not_deadlock(app: &TestApp) {
    let c = app.customer(json!({}));
    let l = lead(app, json!({"name": "Lee"}));
    let shared = activity(app, json!({"customer_id": c["id"], "lead_id": l["id"]}));
    let lead_only = activity(app, json!({"lead_id": l["id"]}));
    let (locked, holding) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (patched, deleted) = std::thread::scope(|s| {
        let holder = s.spawn(move || {
            let mut pooled = app.db();
            pooled
                .transaction::<_, diesel::result::Error, _>(|conn| {
                    diesel::sql_query("SELECT id FROM customers WHERE id = $1 FOR UPDATE")
                        .bind::<diesel::sql_types::Text, _>(id(&c))
                        .execute(conn)?;
                    locked.send(()).expect("locked");
                    released.recv().expect("release");
                    Ok(())
                })
                .expect("test transaction");
        });
        holding.recv().expect("holding");
        let patch = s.spawn(|| {
            app.patch(
                &activity_url(&shared),
                &app.admin_token,
                &json!({"subject": "Edited"}),
            )
        });
        wait_for_lock_waiters(app, 1);
        let delete = s.spawn(|| app.delete(&lead_url(&l), &app.admin_token));
        wait_for_lock_waiters(app, 2);
        release.send(()).expect("release");
        holder.join().unwrap();
        (patch.join().unwrap(), delete.join().unwrap())
    });
    assert_eq!(
        (patched.status, deleted.status),
        (200, 204),
        "patch: {}; delete: {}",
        patched.body,
        deleted.body
    );
    let now = reread(app, &activity_url(&shared));
    assert_eq!(now["subject"], "Edited");
    assert_eq!(now["lead_id"], Value::Null);
    app.get(&activity_url(&lead_only), &app.admin_token)
        .problem(404);
}
