//! Service: business hours, SLA policies, tickets, their comments and
//! ratings, and the autoclose job, over HTTP.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::common::{fields, TestApp};
use crate::{both_backends, both_backends_with};
use crm::db::schema::{ticket_comments as tc, tickets as t};

both_backends!(
    business_hours_check_their_schedule_and_are_for_managers,
    sla_policies_keep_one_default_and_match_by_position,
    ticket_numbers_are_handed_out_in_order,
    bad_ticket_input_names_the_field_and_changes_nothing,
    status_rules_guard_closed_and_solved_tickets,
    calendar_targets_are_met_breached_and_recomputed,
    pending_pauses_the_resolution_clock,
    business_hour_targets_skip_weekends_holidays_and_dst,
    comments_answer_reopen_and_are_append_only,
    satisfaction_is_for_solved_tickets_within_seven_days,
    ticket_lists_filter_and_sort_the_queues,
    deleting_referenced_records_refuses_or_clears,
    tickets_join_the_customer_timeline,
    activities_link_to_tickets_and_follow_them,
);

both_backends_with!(FAST_JOBS; solved_tickets_are_closed_by_the_background_job);

const FAST_JOBS: &[(&str, &str)] = &[("CRM_JOBS_INTERVAL_SECS", "1")];

// ---------------------------------------------------------------- helpers

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("time")
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("no time: {v}"))
        .parse()
        .expect("RFC 3339")
}

fn target(first: i64, resolution: i64) -> Value {
    json!({"first_response_minutes": first, "resolution_minutes": resolution})
}

/// Targets: urgent 10/60, high 60/240, normal 120/480, low 240/960 minutes.
fn targets() -> Value {
    json!({"urgent": target(10, 60), "high": target(60, 240),
           "normal": target(120, 480), "low": target(240, 960)})
}

fn policy(app: &TestApp, body: Value) -> Value {
    let mut doc =
        json!({"name": format!("p{}", uuid::Uuid::now_v7().simple()), "targets": targets()});
    merge(&mut doc, &body);
    app.post("/api/v1/sla-policies", &app.admin_token, &doc)
        .expect(201)
        .json()
}

fn merge(doc: &mut Value, extra: &Value) {
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
}

fn ticket(app: &TestApp, customer: &Value, body: Value) -> Value {
    let mut doc = json!({"customer_id": id(customer), "subject": "Where is my refund?"});
    merge(&mut doc, &body);
    app.post("/api/v1/tickets", &app.admin_token, &doc)
        .expect(201)
        .json()
}

fn get(app: &TestApp, path: &str) -> Value {
    app.get(path, &app.admin_token).expect(200).json()
}

fn patch(app: &TestApp, ticket: &Value, body: Value) -> Value {
    app.patch(
        &format!("/api/v1/tickets/{}", id(ticket)),
        &app.admin_token,
        &body,
    )
    .expect(200)
    .json()
}

fn comment(app: &TestApp, token: &str, ticket: &Value, body: Value) -> crate::common::Resp {
    app.post(
        &format!("/api/v1/tickets/{}/comments", id(ticket)),
        token,
        &body,
    )
}

fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> crate::common::Resp {
    app.request(
        "PUT",
        path,
        Some(token),
        &[("Content-Type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
}

fn with_db<T>(app: &TestApp, work: impl FnOnce(&mut crm::db::DbConn) -> T) -> T {
    let mut pooled = app.db();
    work(&mut pooled)
}

fn count(app: &TestApp, path: &str) -> usize {
    get(app, path)["data"].as_array().expect("data").len()
}

fn berlin_office() -> Value {
    let day = |d: &str| json!({"day": d, "start": "09:00", "end": "17:30"});
    json!({"name": "Berlin office", "timezone": "Europe/Berlin",
           "openings": [day("mon"), day("tue"), day("wed"), day("thu"), day("fri")],
           "holidays": ["2026-04-06"]})
}

// ---------------------------------------------------------------- tests

fn business_hours_check_their_schedule_and_are_for_managers(app: &TestApp) {
    let path = "/api/v1/business-hours";
    let agent = app.token_for("agent");
    app.post(path, &agent, &berlin_office()).problem(403);

    let mut bad = berlin_office();
    bad["timezone"] = json!("Europe/Atlantis");
    let p = app.post(path, &app.admin_token, &bad).problem(422);
    assert_eq!(fields(&p), ["timezone"], "{p}");

    let mut bad = berlin_office();
    bad["openings"] = json!([
        {"day": "mon", "start": "09:00", "end": "12:00"},
        {"day": "mon", "start": "11:00", "end": "17:00"},
        {"day": "tue", "start": "17:00", "end": "09:00"},
    ]);
    let p = app.post(path, &app.admin_token, &bad).problem(422);
    assert_eq!(fields(&p), ["openings[1]", "openings[2].end"], "{p}");

    let mut bad = berlin_office();
    bad["holidays"] = json!(["2026-12-25", "christmas", "2026-02-30"]);
    let p = app.post(path, &app.admin_token, &bad).problem(422);
    assert_eq!(fields(&p), ["holidays[1]", "holidays[2]"], "{p}");

    let mut bad = berlin_office();
    bad["openings"] = json!([{"day": "mon", "start": "9:00", "end": "24:01"}]);
    let p = app.post(path, &app.admin_token, &bad).problem(422);
    assert!(
        fields(&p).iter().all(|f| f.starts_with("openings[0]")),
        "{p}"
    );
    // Two digits each side, nothing else.
    bad["openings"] = json!([
        {"day": "mon", "start": "+9:00", "end": "10:00"},
        {"day": "tue", "start": "09:00", "end": "10:+5"}
    ]);
    let p = app.post(path, &app.admin_token, &bad).problem(422);
    assert_eq!(fields(&p), ["openings[0].start", "openings[1].end"], "{p}");
    assert_eq!(count(app, path), 0, "nothing was created");

    let mut good = berlin_office();
    good["holidays"] = json!(["2026-12-26", "2026-12-25", "2026-12-26"]);
    good["openings"] = json!([{"day": "sat", "start": "00:00", "end": "24:00"}]);
    let made = app.post(path, &app.admin_token, &good).expect(201).json();
    assert_eq!(
        made["holidays"],
        json!(["2026-12-25", "2026-12-26"]),
        "sorted, once"
    );

    let p = app.post(path, &app.admin_token, &good).problem(409);
    assert_eq!(fields(&p), ["name"], "{p}");

    // A schedule in use by a policy stays.
    let used = policy(app, json!({"business_hours_id": id(&made)}));
    app.delete(&format!("{path}/{}", id(&made)), &app.admin_token)
        .problem(409);
    app.delete(
        &format!("/api/v1/sla-policies/{}", id(&used)),
        &app.admin_token,
    )
    .expect(204);
    app.delete(&format!("{path}/{}", id(&made)), &agent)
        .problem(403);
    app.delete(&format!("{path}/{}", id(&made)), &app.admin_token)
        .expect(204);
}

fn sla_policies_keep_one_default_and_match_by_position(app: &TestApp) {
    let path = "/api/v1/sla-policies";
    // A policy without a target for a priority.
    let mut t = targets();
    t.as_object_mut().unwrap().remove("low");
    let p = app
        .post(
            path,
            &app.admin_token,
            &json!({"name": "Partial", "targets": t}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["targets.low"], "{p}");
    let mut t = targets();
    t["high"]["resolution_minutes"] = json!(0);
    let p = app
        .post(
            path,
            &app.admin_token,
            &json!({"name": "Zero", "targets": t}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["targets.high.resolution_minutes"], "{p}");
    // The first policy is the default, which matches by nothing.
    let p = app
        .post(
            path,
            &app.admin_token,
            &json!({"name": "Chat first", "match_channel": "chat", "targets": targets()}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["is_default"], "{p}");

    let standard = policy(app, json!({"name": "Standard"}));
    assert_eq!(
        standard["is_default"], true,
        "the first policy is the default"
    );
    let p = app
        .post(
            path,
            &app.admin_token,
            &json!({"name": "Loose", "targets": targets()}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["match_channel"], "{p}");

    let mut fast = targets();
    fast["normal"] = target(5, 30);
    let chat = policy(
        app,
        json!({"name": "Chat", "match_channel": "chat", "position": 2, "targets": fast}),
    );
    let mut vip_targets = targets();
    vip_targets["normal"] = target(1, 10);
    let vip = policy(
        app,
        json!({"name": "VIP", "match_tag": "vip", "position": 1, "targets": vip_targets}),
    );

    let c = app.customer(json!({}));
    let plain = ticket(app, &c, json!({"channel": "email"}));
    let by_chat = ticket(app, &c, json!({"channel": "chat"}));
    let both = ticket(app, &c, json!({"channel": "chat", "tags": ["vip"]}));
    assert_eq!(plain["sla_policy_id"], id(&standard));
    assert_eq!(by_chat["sla_policy_id"], id(&chat));
    assert_eq!(both["sla_policy_id"], id(&vip), "the lower position wins");
    let minutes = |t: &Value, field: &str| (time(&t[field]) - time(&t["created_at"])).num_minutes();
    assert_eq!(minutes(&plain, "first_response_due_at"), 120);
    assert_eq!(minutes(&by_chat, "first_response_due_at"), 5);
    assert_eq!(minutes(&both, "resolution_due_at"), 10);

    // Tags change: the matching changes and the due times follow.
    let untagged = patch(app, &both, json!({"tags": []}));
    assert_eq!(untagged["sla_policy_id"], id(&chat));
    assert_eq!(minutes(&untagged, "resolution_due_at"), 30);

    // Another default takes the flag over; the default cannot be dropped or deleted.
    let p = app
        .patch(
            &format!("{path}/{}", id(&standard)),
            &app.admin_token,
            &json!({"is_default": false}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["is_default"], "{p}");
    let second = policy(app, json!({"name": "Second", "is_default": true}));
    assert_eq!(second["is_default"], true);
    assert_eq!(
        get(app, &format!("{path}/{}", id(&standard)))["is_default"],
        false
    );
    app.delete(&format!("{path}/{}", id(&second)), &app.admin_token)
        .problem(409);
    // A policy running tickets stays.
    ticket(app, &c, json!({"tags": ["vip"]}));
    let p = app
        .delete(&format!("{path}/{}", id(&vip)), &app.admin_token)
        .problem(409);
    assert!(
        p["detail"].as_str().unwrap().starts_with("1 tickets"),
        "{p}"
    );
    let manager = app.token_for("manager");
    let agent = app.token_for("agent");
    let viewer = app.token_for("viewer");
    app.get(path, &viewer).expect(200);
    app.patch(
        &format!("{path}/{}", id(&vip)),
        &agent,
        &json!({"position": 3}),
    )
    .problem(403);
    app.patch(
        &format!("{path}/{}", id(&vip)),
        &manager,
        &json!({"position": 3}),
    )
    .expect(200);
    let order: Vec<String> = get(app, path)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        ["Standard", "Second", "Chat", "VIP"],
        "by position, then age"
    );
}

fn ticket_numbers_are_handed_out_in_order(app: &TestApp) {
    let c = app.customer(json!({}));
    let numbers: Vec<i64> = (0..5)
        .map(|_| ticket(app, &c, json!({}))["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    // A deleted ticket's number is not handed out again.
    let last = get(app, "/api/v1/tickets/by-number/5");
    app.delete(&format!("/api/v1/tickets/{}", id(&last)), &app.admin_token)
        .expect(204);
    assert_eq!(ticket(app, &c, json!({}))["number"], 6);
    let viewer = app.token_for("viewer");
    let third = app.get("/api/v1/tickets/by-number/3", &viewer).expect(200);
    assert_eq!(third.header("etag"), Some("\"1\""));
    assert_eq!(third.json()["number"], 3);
    app.get("/api/v1/tickets/by-number/5", &viewer).problem(404);
    app.get("/api/v1/tickets/by-number/abc", &viewer)
        .problem(404);
    app.get("/api/v1/tickets/by-number/-1", &viewer)
        .problem(404);
    app.get("/api/v1/tickets/by-number/99999999999999999999999", &viewer)
        .problem(404);
    // Concurrent creates never share a number.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| ticket(app, &c, json!({}))["number"].as_i64().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<i64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 20, "20 distinct numbers");
    });
}

fn bad_ticket_input_names_the_field_and_changes_nothing(app: &TestApp) {
    let c = app.customer(json!({}));
    let other = app.customer(json!({"name": "Other"}));
    let contact = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": id(&other), "first_name": "Ola"}),
        )
        .expect(201)
        .json();
    let post = |body: Value| app.post("/api/v1/tickets", &app.admin_token, &body);
    let base = |extra: Value| {
        let mut doc = json!({"customer_id": id(&c), "subject": "Help"});
        merge(&mut doc, &extra);
        doc
    };
    let cases = [
        (base(json!({"contact_id": id(&contact)})), "contact_id"),
        (base(json!({"customer_id": "nope"})), "customer_id"),
        (base(json!({"subject": "   "})), "subject"),
        (base(json!({"priority": "whenever"})), "priority"),
        (base(json!({"status": "closed"})), "status"),
        (base(json!({"assignee_id": "nobody"})), "assignee_id"),
        (
            base(json!({"description": "x".repeat(65537)})),
            "description",
        ),
        (base(json!({"number": 7})), "number"),
        (base(json!({"sla": null})), "sla"),
    ];
    for (body, field) in cases {
        let p = post(body).problem(422);
        assert_eq!(fields(&p), [field], "{p}");
    }
    let open = ticket(app, &c, json!({"external_id": "zd-1"}));
    let p = post(base(json!({"follow_up_of_id": id(&open)}))).problem(422);
    assert_eq!(
        fields(&p),
        ["follow_up_of_id"],
        "a follow-up follows a closed ticket: {p}"
    );
    let p = post(base(json!({"external_id": "zd-1"}))).problem(409);
    assert_eq!(p["existing_id"], id(&open), "{p}");
    assert_eq!(
        count(app, "/api/v1/tickets"),
        1,
        "only the good one was created"
    );
    let by_key = get(app, "/api/v1/tickets/by-external-id/zd-1");
    assert_eq!(id(&by_key), id(&open));
}

fn status_rules_guard_closed_and_solved_tickets(app: &TestApp) {
    let c = app.customer(json!({}));
    let t1 = ticket(app, &c, json!({}));
    let url = format!("/api/v1/tickets/{}", id(&t1));
    let opened = patch(app, &t1, json!({"status": "open"}));
    let p = app
        .patch(&url, &app.admin_token, &json!({"status": "new"}))
        .problem(409);
    assert_eq!(fields(&p), ["status"], "{p}");
    let solved = patch(app, &opened, json!({"status": "solved"}));
    assert!(solved["solved_at"].is_string());
    app.patch(&url, &app.admin_token, &json!({"status": "pending"}))
        .problem(409);
    let reopened = patch(app, &solved, json!({"status": "open"}));
    assert!(
        reopened["solved_at"].is_null(),
        "reopening clears solved_at"
    );
    let closed = patch(app, &reopened, json!({"status": "closed"}));
    assert!(closed["closed_at"].is_string() && closed["solved_at"].is_string());
    let version = closed["version"].clone();
    for body in [
        json!({"status": "open"}),
        json!({"subject": "More"}),
        json!({"tags": ["x"]}),
    ] {
        let p = app.patch(&url, &app.admin_token, &body).problem(409);
        assert_eq!(fields(&p), ["status"], "{p}");
    }
    assert_eq!(
        get(app, &url)["version"],
        version,
        "a closed ticket does not change"
    );
    let follow = ticket(app, &c, json!({"follow_up_of_id": id(&t1)}));
    assert_eq!(follow["follow_up_of_id"], id(&t1));
    // The deleted-ticket rule: a ticket with follow-ups stays.
    app.delete(&url, &app.admin_token).problem(409);
    let agent = app.token_for("agent");
    app.delete(&format!("/api/v1/tickets/{}", id(&follow)), &agent)
        .problem(403);
    // A contact who moves to another customer stays on the tickets of the
    // first, which keep taking changes; naming them anew is checked.
    let contact = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": id(&c), "first_name": "Ann"}),
        )
        .expect(201)
        .json();
    let theirs = ticket(app, &c, json!({"contact_id": id(&contact)}));
    let elsewhere = app.customer(json!({"name": "Elsewhere"}));
    app.patch(
        &format!("/api/v1/contacts/{}", id(&contact)),
        &app.admin_token,
        &json!({"customer_id": id(&elsewhere)}),
    )
    .expect(200);
    let solved = patch(app, &theirs, json!({"status": "solved"}));
    assert_eq!(solved["contact_id"], id(&contact));
    let p = app
        .patch(
            &format!("/api/v1/tickets/{}", id(&theirs)),
            &app.admin_token,
            &json!({"contact_id": null}),
        )
        .expect(200)
        .json();
    let p = app
        .patch(
            &format!("/api/v1/tickets/{}", id(&p)),
            &app.admin_token,
            &json!({"contact_id": id(&contact)}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["contact_id"], "{p}");
}

fn calendar_targets_are_met_breached_and_recomputed(app: &TestApp) {
    let c = app.customer(json!({}));
    let none = ticket(app, &c, json!({}));
    assert!(
        none["sla"].is_null() && none["first_response_due_at"].is_null(),
        "no policy, no SLA"
    );
    policy(app, json!({"name": "Standard"}));
    let t1 = ticket(app, &c, json!({"priority": "urgent"}));
    let created = time(&t1["created_at"]);
    assert_eq!(
        (time(&t1["first_response_due_at"]) - created).num_minutes(),
        10
    );
    assert_eq!((time(&t1["resolution_due_at"]) - created).num_minutes(), 60);
    assert_eq!(
        t1["sla"],
        json!({"first_response": "due", "resolution": "due", "paused": false})
    );

    // Priority changes recompute from creation.
    let low = patch(app, &t1, json!({"priority": "low"}));
    assert_eq!(
        (time(&low["first_response_due_at"]) - created).num_minutes(),
        240
    );

    // An internal note is no response; a public user reply is.
    let note = comment(
        app,
        &app.admin_token,
        &t1,
        json!({"body": "looking", "public": false}),
    )
    .expect(201)
    .json();
    assert_eq!(note["public"], false);
    assert!(get(app, &format!("/api/v1/tickets/{}", id(&t1)))["first_responded_at"].is_null());
    comment(app, &app.admin_token, &t1, json!({"body": "We are on it"})).expect(201);
    let answered = get(app, &format!("/api/v1/tickets/{}", id(&t1)));
    assert!(answered["first_responded_at"].is_string());
    assert_eq!(
        answered["status"], "open",
        "the first reply opens a new ticket"
    );
    assert_eq!(answered["sla"]["first_response"], "met");

    // A breach shows as soon as the due time passes, in reads and the filter.
    let late = ticket(app, &c, json!({}));
    let breached = || {
        get(app, "/api/v1/tickets?sla_breached=true")["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>()
    };
    assert!(!breached().contains(&id(&late)));
    with_db(app, |conn| {
        let past = Utc::now().naive_utc() - chrono::Duration::minutes(1);
        diesel::update(t::table.find(id(&late)))
            .set((
                t::first_response_due_at.eq(Some(past)),
                t::sla_due_sort.eq(past),
            ))
            .execute(conn)
            .unwrap();
    });
    let read = get(app, &format!("/api/v1/tickets/{}", id(&late)));
    assert_eq!(read["sla"]["first_response"], "breached");
    assert_eq!(breached(), [id(&late)]);
    let not_breached = get(app, "/api/v1/tickets?sla_breached=false");
    assert!(!not_breached["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| id(t) == id(&late)));

    // Answered late: breached for good, still in the filter.
    comment(
        app,
        &app.admin_token,
        &late,
        json!({"body": "Sorry for the wait"}),
    )
    .expect(201);
    let read = get(app, &format!("/api/v1/tickets/{}", id(&late)));
    assert_eq!(read["sla"]["first_response"], "breached");
    assert_eq!(breached(), [id(&late)]);
}

fn pending_pauses_the_resolution_clock(app: &TestApp) {
    policy(app, json!({"name": "Standard"}));
    let c = app.customer(json!({}));
    let t1 = ticket(app, &c, json!({}));
    let due = time(&t1["resolution_due_at"]);
    let pending = patch(app, &t1, json!({"status": "pending"}));
    assert_eq!(pending["sla"]["paused"], true);
    assert_eq!(pending["sla"]["resolution"], "due");
    // An hour on hold.
    with_db(app, |conn| {
        let hour_ago = Utc::now().naive_utc() - chrono::Duration::minutes(60);
        diesel::update(t::table.find(id(&t1)))
            .set(t::pending_since.eq(Some(hour_ago)))
            .execute(conn)
            .unwrap();
    });
    let resumed = patch(app, &pending, json!({"status": "open"}));
    assert_eq!(resumed["sla"]["paused"], false);
    let moved = (time(&resumed["resolution_due_at"]) - due).num_minutes();
    assert!(
        (59..=61).contains(&moved),
        "moved by the hour on hold: {moved}"
    );
    assert_eq!(
        resumed["first_response_due_at"], t1["first_response_due_at"],
        "not the first response"
    );

    // Solving stops the clock; the time on hold does not count.
    let solved = patch(app, &resumed, json!({"status": "solved"}));
    assert_eq!(solved["sla"]["resolution"], "met");
    assert_eq!(solved["resolution_minutes"], 0);
    assert_eq!(
        solved["sla"]["first_response"], "met",
        "solved before the first response was due"
    );

    // On hold after a breach: the due time stays, the resolution time
    // still leaves the hour out.
    let t2 = ticket(app, &c, json!({"priority": "urgent"}));
    let minutes_ago = |m: i64| {
        let t = Utc::now().naive_utc() - chrono::Duration::minutes(m);
        chrono::Timelike::with_nanosecond(&t, 0).unwrap()
    };
    with_db(app, |conn| {
        diesel::update(t::table.find(id(&t2)))
            .set((
                t::created_at.eq(minutes_ago(180)),
                t::resolution_due_at.eq(Some(minutes_ago(120))),
            ))
            .execute(conn)
            .unwrap();
    });
    let t2 = get(app, &format!("/api/v1/tickets/{}", id(&t2)));
    let pending = patch(app, &t2, json!({"status": "pending"}));
    with_db(app, |conn| {
        diesel::update(t::table.find(id(&t2)))
            .set(t::pending_since.eq(Some(minutes_ago(60))))
            .execute(conn)
            .unwrap();
    });
    let resumed = patch(app, &pending, json!({"status": "open"}));
    assert_eq!(resumed["resolution_due_at"], t2["resolution_due_at"]);
    assert_eq!(resumed["sla"]["resolution"], "breached");
    let solved = patch(app, &resumed, json!({"status": "solved"}));
    let minutes = solved["resolution_minutes"].as_i64().unwrap();
    assert!(
        (119..=121).contains(&minutes),
        "3 hours less 1 on hold: {minutes}"
    );
}

fn business_hour_targets_skip_weekends_holidays_and_dst(app: &TestApp) {
    let hours = app
        .post("/api/v1/business-hours", &app.admin_token, &berlin_office())
        .expect(201)
        .json();
    policy(
        app,
        json!({"name": "Office", "business_hours_id": id(&hours)}),
    );
    let c = app.customer(json!({}));
    let t1 = ticket(app, &c, json!({}));
    // Made on Friday 2026-03-27 16:30 in Berlin (15:30 UTC, winter time); the
    // clocks go forward on Sunday; Monday 2026-04-06 (Easter Monday) is a
    // holiday of the schedule.
    with_db(app, |conn| {
        diesel::update(t::table.find(id(&t1)))
            .set(t::created_at.eq(at("2026-03-27 15:30:00")))
            .execute(conn)
            .unwrap();
    });
    // high: 60 min to respond, 240 to resolve: recomputed on the change.
    let high = patch(app, &t1, json!({"priority": "high"}));
    // The hour left on Friday: due at closing time, 17:30 winter time.
    assert_eq!(
        high["first_response_due_at"], "2026-03-27T16:30:00Z",
        "{high}"
    );
    // 60 on Friday, 180 on Monday from 09:00 summer time: 12:00 Berlin.
    assert_eq!(high["resolution_due_at"], "2026-03-30T10:00:00Z", "{high}");
    // low: 240 / 960 minutes: Fri 1 h, Mon 8.5 h, Tue 6.5 h → Tue 15:30.
    let low = patch(app, &high, json!({"priority": "low"}));
    assert_eq!(
        low["first_response_due_at"], "2026-03-30T10:00:00Z",
        "{low}"
    );
    assert_eq!(low["resolution_due_at"], "2026-03-31T13:30:00Z", "{low}");
    // Over the Easter weekend: made Thursday 2026-04-02 17:00 (15:00 UTC);
    // Friday counts, Monday is a holiday.
    with_db(app, |conn| {
        diesel::update(t::table.find(id(&t1)))
            .set(t::created_at.eq(at("2026-04-02 15:00:00")))
            .execute(conn)
            .unwrap();
    });
    let urgent = patch(app, &low, json!({"priority": "urgent"}));
    // 10 minutes: Thursday 17:10 Berlin.
    assert_eq!(urgent["first_response_due_at"], "2026-04-02T15:10:00Z");
    // 60 minutes: 30 on Thursday, 30 on Friday the 3rd from 09:00.
    assert_eq!(urgent["resolution_due_at"], "2026-04-03T07:30:00Z");
    let normal = patch(app, &urgent, json!({"priority": "normal"}));
    // 480 minutes: 30 Thu, 8.5 h Fri = 540 ≥ 480 → Friday 16:30 Berlin.
    assert_eq!(normal["resolution_due_at"], "2026-04-03T14:30:00Z");
    // The reply is measured in business minutes: Thu 17:00 → Tue 09:30 is
    // 30 + 510 + 30 = 570 (the weekend and Easter Monday do not count).
    let reply = comment(app, &app.admin_token, &normal, json!({"body": "Hello"}))
        .expect(201)
        .json();
    with_db(app, |conn| {
        diesel::update(t::table.find(id(&t1)))
            .set(t::first_responded_at.eq(Some(at("2026-04-07 07:30:00"))))
            .execute(conn)
            .unwrap();
        diesel::update(tc::table.find(id(&reply)))
            .set(tc::created_at.eq(at("2026-04-07 07:30:00")))
            .execute(conn)
            .unwrap();
    });
    let back = patch(app, &normal, json!({"priority": "high"}));
    assert_eq!(back["first_response_minutes"], 570, "{back}");
    assert_eq!(back["sla"]["first_response"], "breached");
}

fn comments_answer_reopen_and_are_append_only(app: &TestApp) {
    let c = app.customer(json!({}));
    let other = app.customer(json!({"name": "Other"}));
    let contact = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": id(&c), "first_name": "Ann"}),
        )
        .expect(201)
        .json();
    let stranger = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": id(&other), "first_name": "Bo"}),
        )
        .expect(201)
        .json();
    let t1 = ticket(app, &c, json!({}));
    let agent = app.token_for("agent");
    let viewer = app.token_for("viewer");
    let manager = app.token_for("manager");
    comment(app, &viewer, &t1, json!({"body": "hi"})).problem(403);
    for (body, field) in [
        (json!({"body": "  "}), "body"),
        (json!({"body": "x".repeat(65537)}), "body"),
        (
            json!({"body": "hi", "author": {"type": "contact", "id": id(&stranger)}}),
            "author.id",
        ),
        (
            json!({"body": "hi", "author": {"type": "customer", "id": id(&other)}}),
            "author.id",
        ),
        (
            json!({"body": "hi", "author": {"type": "robot", "id": "r"}}),
            "author.type",
        ),
    ] {
        let p = comment(app, &agent, &t1, body).problem(422);
        assert_eq!(fields(&p), [field], "{p}");
    }
    // A user writes as themselves.
    let me = app
        .get("/api/v1/users/me", &app.admin_token)
        .expect(200)
        .json();
    let p = comment(
        app,
        &agent,
        &t1,
        json!({"body": "hi", "author": {"type": "user", "id": id(&me)}}),
    )
    .problem(422);
    assert_eq!(fields(&p), ["author.id"], "{p}");
    assert_eq!(
        count(app, &format!("/api/v1/tickets/{}/comments", id(&t1))),
        0
    );

    // The agent replies; the ticket goes pending; the contact's reply reopens it.
    let reply = comment(
        app,
        &agent,
        &t1,
        json!({"body": "Could you send the invoice?"}),
    )
    .expect(201);
    assert_eq!(reply.header("etag"), Some("\"1\""));
    let reply = reply.json();
    let pending = patch(
        app,
        &get(app, &format!("/api/v1/tickets/{}", id(&t1))),
        json!({"status": "pending"}),
    );
    assert_eq!(pending["status"], "pending");
    comment(
        app,
        &agent,
        &t1,
        json!({"body": "note", "public": false, "author": {"type": "contact", "id": id(&contact)}}),
    )
    .expect(201);
    assert_eq!(
        get(app, &format!("/api/v1/tickets/{}", id(&t1)))["status"],
        "pending",
        "notes do not reopen"
    );
    comment(
        app,
        &agent,
        &t1,
        json!({"body": "Here it is", "author": {"type": "contact", "id": id(&contact)}}),
    )
    .expect(201);
    let reopened = get(app, &format!("/api/v1/tickets/{}", id(&t1)));
    assert_eq!(reopened["status"], "open");
    let solved = patch(app, &reopened, json!({"status": "solved"}));
    comment(
        app,
        &agent,
        &t1,
        json!({"body": "Thanks!", "author": {"type": "customer", "id": id(&c)}}),
    )
    .expect(201);
    assert_eq!(
        get(app, &format!("/api/v1/tickets/{}", id(&solved)))["status"],
        "open"
    );

    // Listing: in order, paged, filtered.
    let list = get(
        app,
        &format!("/api/v1/tickets/{}/comments?limit=2", id(&t1)),
    );
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(id(&list["data"][0]), id(&reply));
    let next = list["next_cursor"].as_str().expect("a next page");
    let rest = get(
        app,
        &format!("/api/v1/tickets/{}/comments?limit=2&cursor={next}", id(&t1)),
    );
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        count(
            app,
            &format!("/api/v1/tickets/{}/comments?public=false", id(&t1))
        ),
        1
    );

    // Corrections: the author only, within 15 minutes, kept in the log.
    let url = format!("/api/v1/tickets/{}/comments/{}", id(&t1), id(&reply));
    app.patch(&url, &manager, &json!({"body": "Not mine"}))
        .problem(403);
    let fixed = app
        .patch(
            &url,
            &agent,
            &json!({"body": "Could you send the invoice, please?"}),
        )
        .expect(200)
        .json();
    assert!(fixed["edited_at"].is_string());
    assert_eq!(fixed["version"], 2);
    let history = get(app, &format!("{url}/history"));
    let events = history["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1]["changes"]["body"]["old"],
        "Could you send the invoice?"
    );
    with_db(app, |conn| {
        let old = Utc::now().naive_utc() - chrono::Duration::minutes(16);
        diesel::update(tc::table.find(id(&reply)))
            .set(tc::created_at.eq(old))
            .execute(conn)
            .unwrap();
    });
    let p = app
        .patch(&url, &agent, &json!({"body": "Too late"}))
        .problem(409);
    assert_eq!(fields(&p), ["body"], "{p}");
    // Managers delete; the event keeps who and when.
    app.delete(&url, &agent).problem(403);
    app.delete(&url, &manager).expect(204);
    app.get(&url, &app.admin_token).problem(404);
    let history = get(app, &format!("{url}/history"));
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "deleted");
    assert_eq!(last["actor"]["type"], "user");
    assert!(last["occurred_at"].is_string());

    // Nothing on a closed ticket.
    patch(
        app,
        &get(app, &format!("/api/v1/tickets/{}", id(&t1))),
        json!({"status": "closed"}),
    );
    let p = comment(app, &agent, &t1, json!({"body": "Anything else?"})).problem(409);
    assert_eq!(fields(&p), ["ticket_id"], "{p}");
    // A comment of another ticket is not found under this one.
    let t2 = ticket(app, &c, json!({}));
    let c2 = comment(app, &agent, &t2, json!({"body": "x"}))
        .expect(201)
        .json();
    app.get(
        &format!("/api/v1/tickets/{}/comments/{}", id(&t1), id(&c2)),
        &agent,
    )
    .problem(404);
    app.get("/api/v1/tickets/nope/comments", &agent)
        .problem(404);
}

fn satisfaction_is_for_solved_tickets_within_seven_days(app: &TestApp) {
    let c = app.customer(json!({}));
    let t1 = ticket(app, &c, json!({}));
    let url = format!("/api/v1/tickets/{}/satisfaction", id(&t1));
    let agent = app.token_for("agent");
    let p = put(app, &url, &agent, &json!({"rating": 5})).problem(409);
    assert_eq!(fields(&p), ["rating"], "{p}");
    patch(app, &t1, json!({"status": "solved"}));
    for (body, field) in [
        (json!({"rating": 6}), "rating"),
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 4.5}), "rating"),
        (json!({"comment": "no rating"}), "rating"),
    ] {
        let p = put(app, &url, &agent, &body).problem(422);
        assert_eq!(fields(&p), [field], "{p}");
    }
    let viewer = app.token_for("viewer");
    put(app, &url, &viewer, &json!({"rating": 5})).problem(403);
    let rated = put(app, &url, &agent, &json!({"rating": 4, "comment": "Quick"})).expect(200);
    let rated = rated.json();
    assert_eq!(rated["satisfaction"]["rating"], 4);
    assert_eq!(rated["satisfaction"]["comment"], "Quick");
    let changed = put(app, &url, &agent, &json!({"rating": 5}))
        .expect(200)
        .json();
    assert_eq!(changed["satisfaction"]["rating"], 5);
    assert!(changed["satisfaction"]["comment"].is_null());
    assert_eq!(
        get(app, &format!("/api/v1/tickets/{}", id(&t1)))["satisfaction"]["rating"],
        5
    );
    let listed = get(app, "/api/v1/tickets");
    assert_eq!(
        listed["data"][0]["satisfaction"]["rating"], 5,
        "lists carry it too"
    );
    with_db(app, |conn| {
        let long_ago = Utc::now().naive_utc() - chrono::Duration::days(8);
        diesel::update(t::table.find(id(&t1)))
            .set(t::solved_at.eq(Some(long_ago)))
            .execute(conn)
            .unwrap();
    });
    put(app, &url, &agent, &json!({"rating": 1})).problem(409);
    assert_eq!(
        get(app, &format!("/api/v1/tickets/{}", id(&t1)))["satisfaction"]["rating"],
        5
    );
}

fn ticket_lists_filter_and_sort_the_queues(app: &TestApp) {
    policy(app, json!({"name": "Standard"}));
    let c = app.customer(json!({}));
    let me = app
        .get("/api/v1/users/me", &app.admin_token)
        .expect(200)
        .json();
    let mine = |priority: &str, status: &str| {
        let t1 = ticket(
            app,
            &c,
            json!({"priority": priority, "assignee_id": id(&me)}),
        );
        if status != "new" {
            patch(app, &t1, json!({"status": status}))
        } else {
            t1
        }
    };
    let low = mine("low", "open");
    let urgent = mine("urgent", "open");
    let normal = mine("normal", "pending");
    let solved = mine("high", "solved");
    let unassigned = ticket(
        app,
        &c,
        json!({"priority": "high", "subject": "Printer on fire"}),
    );
    let ids = |path: &str| -> Vec<String> {
        get(app, path)["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect()
    };
    let queue = format!(
        "/api/v1/tickets?assignee_id={}&status=open,pending&sort=sla_due",
        id(&me)
    );
    // urgent's first response (10 min) is due first, then normal (120), low (240).
    assert_eq!(ids(&queue), [id(&urgent), id(&normal), id(&low)]);
    let repeated = format!(
        "/api/v1/tickets?assignee_id={}&status=open&status=pending&sort=sla_due",
        id(&me)
    );
    assert_eq!(ids(&repeated), ids(&queue), "repeated or comma list");
    assert_eq!(ids("/api/v1/tickets?unassigned=true"), [id(&unassigned)]);
    assert_eq!(ids("/api/v1/tickets?q=PRINTER"), [id(&unassigned)]);
    assert_eq!(
        ids("/api/v1/tickets?sort=priority&status=open"),
        [id(&urgent), id(&low)],
        "urgent first"
    );
    assert_eq!(ids("/api/v1/tickets?status=solved"), [id(&solved)]);
    let soon = (Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let soon = form_urlencoded::byte_serialize(soon.as_bytes()).collect::<String>();
    assert_eq!(
        ids(&format!("/api/v1/tickets?sla_due_before={soon}")),
        [id(&urgent)]
    );
    let numbers: Vec<i64> = get(app, "/api/v1/tickets?sort=-number")["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [5, 4, 3, 2, 1]);
    let p = app
        .get("/api/v1/tickets?status=open,later", &app.admin_token)
        .problem(422);
    assert_eq!(fields(&p), ["status"], "{p}");
    // Paging the queue one by one gives the same order.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(app, &format!("{queue}&limit=1{cursor}"));
        seen.extend(page["data"].as_array().unwrap().iter().map(id));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids(&queue));
}

fn deleting_referenced_records_refuses_or_clears(app: &TestApp) {
    let c = app.customer(json!({}));
    let contact = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": id(&c), "first_name": "Ann"}),
        )
        .expect(201)
        .json();
    let agent_email = format!("a{}@test.local", uuid::Uuid::now_v7().simple());
    let agent = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            &json!({"email": agent_email, "name": "A", "role": "agent", "password": "password-123"}),
        )
        .expect(201)
        .json();
    let t1 = ticket(
        app,
        &c,
        json!({"contact_id": id(&contact), "assignee_id": id(&agent)}),
    );
    ticket(app, &c, json!({}));
    let p = app
        .delete(&format!("/api/v1/customers/{}", id(&c)), &app.admin_token)
        .problem(409);
    assert!(
        p["detail"].as_str().unwrap().starts_with("2 tickets"),
        "{p}"
    );
    app.delete(&format!("/api/v1/users/{}", id(&agent)), &app.admin_token)
        .problem(409);
    app.delete(
        &format!("/api/v1/contacts/{}", id(&contact)),
        &app.admin_token,
    )
    .expect(204);
    let after = get(app, &format!("/api/v1/tickets/{}", id(&t1)));
    assert!(after["contact_id"].is_null());
    assert_eq!(after["version"], 2);
    // A ticket's deletion takes its comments, each with an event.
    let note = comment(
        app,
        &app.admin_token,
        &t1,
        json!({"body": "x", "public": false}),
    )
    .expect(201)
    .json();
    app.delete(&format!("/api/v1/tickets/{}", id(&t1)), &app.admin_token)
        .expect(204);
    let history = get(
        app,
        &format!("/api/v1/tickets/{}/comments/{}/history", id(&t1), id(&note)),
    );
    assert_eq!(
        history["data"].as_array().unwrap().last().unwrap()["action"],
        "deleted"
    );
    // Under its own ticket only, deleted or not.
    let other = ticket(app, &c, json!({}));
    let path = format!(
        "/api/v1/tickets/{}/comments/{}/history",
        id(&other),
        id(&note)
    );
    app.get(&path, &app.admin_token).problem(404);
    let live = comment(app, &app.admin_token, &other, json!({"body": "y"}))
        .expect(201)
        .json();
    let path = format!("/api/v1/tickets/{}/comments/{}/history", id(&t1), id(&live));
    app.get(&path, &app.admin_token).problem(404);
}

fn solved_tickets_are_closed_by_the_background_job(app: &TestApp) {
    let hours = app
        .post("/api/v1/business-hours", &app.admin_token, &berlin_office())
        .expect(201)
        .json();
    policy(
        app,
        json!({"name": "Office", "business_hours_id": id(&hours)}),
    );
    let c = app.customer(json!({}));
    let old = ticket(app, &c, json!({}));
    let recent = ticket(app, &c, json!({}));
    patch(app, &old, json!({"status": "solved"}));
    patch(app, &recent, json!({"status": "solved"}));
    // Made Friday 2026-03-27 16:30 Berlin, solved Monday 12:00 (summer
    // time): 60 + 180 business minutes, 3,990 calendar ones.
    with_db(app, |conn| {
        diesel::update(t::table.find(id(&old)))
            .set((
                t::created_at.eq(at("2026-03-27 15:30:00")),
                t::solved_at.eq(Some(at("2026-03-30 10:00:00"))),
            ))
            .execute(conn)
            .unwrap();
    });
    let url = format!("/api/v1/tickets/{}", id(&old));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get(app, &url)["status"] != "closed" {
        assert!(
            std::time::Instant::now() < deadline,
            "the job closed the ticket"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(
        get(app, &format!("/api/v1/tickets/{}", id(&recent)))["status"],
        "solved"
    );
    // Closing keeps the resolution time on the policy's clock.
    assert_eq!(get(app, &url)["resolution_minutes"], 240);
    let history = get(app, &format!("{url}/history"));
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], json!({"type": "system", "id": "system"}));
    assert_eq!(
        last["changes"]["status"],
        json!({"old": "solved", "new": "closed"})
    );
    // Exactly one closing event, however many rounds ran.
    let closings = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["changes"]["status"]["new"] == "closed")
        .count();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(closings, 1);
    assert_eq!(
        get(app, &format!("{url}/history"))["data"]
            .as_array()
            .unwrap()
            .len(),
        history["data"].as_array().unwrap().len()
    );
}

fn tickets_join_the_customer_timeline(app: &TestApp) {
    let c = app.customer(json!({}));
    let other = app.customer(json!({"name": "Other"}));
    let t1 = ticket(
        app,
        &c,
        json!({"priority": "high", "subject": "Broken login"}),
    );
    ticket(app, &other, json!({}));
    let timeline = get(
        app,
        &format!("/api/v1/customers/{}/timeline?types=ticket_opened", id(&c)),
    );
    let items = timeline["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{timeline}");
    assert_eq!(items[0]["record_id"], id(&t1));
    assert_eq!(items[0]["summary"], "Broken login");
    assert_eq!(
        items[0]["data"],
        json!({"number": t1["number"], "status": "new", "priority": "high"})
    );
    assert_eq!(items[0]["occurred_at"], t1["created_at"]);
    let all = get(app, &format!("/api/v1/customers/{}/timeline", id(&c)));
    assert!(all["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["type"] == "ticket_opened"));
}

fn activities_link_to_tickets_and_follow_them(app: &TestApp) {
    let c = app.customer(json!({}));
    let other = app.customer(json!({"name": "Other"}));
    let t1 = ticket(app, &c, json!({}));
    let call = app
        .post(
            "/api/v1/activities",
            &app.admin_token,
            &json!({"kind": "call", "subject": "Called back", "ticket_id": id(&t1)}),
        )
        .expect(201)
        .json();
    assert_eq!(call["ticket_id"], id(&t1));
    assert_eq!(
        call["customer_id"],
        id(&c),
        "the ticket's customer is implied"
    );
    let p = app
        .post(
            "/api/v1/activities",
            &app.admin_token,
            &json!({"kind": "note", "subject": "x", "ticket_id": id(&t1), "customer_id": id(&other)}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["ticket_id"], "{p}");
    let p = app
        .post(
            "/api/v1/activities",
            &app.admin_token,
            &json!({"kind": "note", "subject": "x", "ticket_id": "nope"}),
        )
        .problem(422);
    assert_eq!(fields(&p), ["ticket_id"], "{p}");
    let listed = get(app, &format!("/api/v1/activities?ticket_id={}", id(&t1)));
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    // The ticket moves to another customer: its activity follows.
    patch(app, &t1, json!({"customer_id": id(&other)}));
    let moved = get(app, &format!("/api/v1/activities/{}", id(&call)));
    assert_eq!(moved["customer_id"], id(&other));
    assert_eq!(moved["version"], 2);

    // The ticket goes: the link is cleared, the activity stays with the customer.
    app.delete(&format!("/api/v1/tickets/{}", id(&t1)), &app.admin_token)
        .expect(204);
    let kept = get(app, &format!("/api/v1/activities/{}", id(&call)));
    assert!(kept["ticket_id"].is_null());
    assert_eq!(kept["customer_id"], id(&other));
}
