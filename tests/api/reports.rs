//! Sales reports over HTTP: every figure checked against opportunities
//! made for it (times set in the database where a report needs days).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};
use crm::db::schema::{opportunities as o, opportunity_stages as h};

both_backends!(
    pipeline_report_sums_open_opportunities_per_stage_and_currency,
    forecast_groups_by_period_and_currency,
    win_rate_reports_what_closed_in_the_range,
    reports_refuse_bad_parameters,
);

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("time")
}

/// The default pipeline's stage ids by name.
fn stages(app: &TestApp) -> std::collections::HashMap<String, String> {
    let page = app
        .get("/api/v1/pipelines?is_default=true", &app.admin_token)
        .expect(200)
        .json();
    page["data"][0]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn opportunity(app: &TestApp, customer: &Value, body: Value) -> Value {
    let mut doc = json!({"customer_id": customer["id"], "name": "Deal"});
    for (k, v) in body.as_object().expect("object") {
        doc[k] = v.clone();
    }
    app.post("/api/v1/opportunities", &app.admin_token, &doc)
        .expect(201)
        .json()
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn close_to(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 0.01)
}

fn pipeline_report_sums_open_opportunities_per_stage_and_currency(app: &TestApp) {
    let s = stages(app);
    let c = app.customer(json!({}));
    let me = app
        .get("/api/v1/users/me", &app.admin_token)
        .expect(200)
        .json();
    let q = &s["Qualification"];
    let old = opportunity(app, &c, json!({"stage_id": q, "amount": 1000}));
    opportunity(
        app,
        &c,
        json!({"stage_id": q, "amount": 3000, "probability": 33, "owner_id": me["id"]}),
    );
    opportunity(
        app,
        &c,
        json!({"stage_id": q, "amount": 500, "currency": "USD"}),
    );
    opportunity(app, &c, json!({"stage_id": s["Proposal"], "amount": 2001}));
    opportunity(app, &c, json!({"stage_id": s["Won"], "amount": 9999}));

    // One opportunity entered its stage three days ago, and the stage rots after two.
    let pipeline = app
        .get("/api/v1/pipelines?is_default=true", &app.admin_token)
        .expect(200)
        .json()["data"][0]
        .clone();
    let stage_url = format!("/api/v1/pipelines/{}/stages/{q}", id(&pipeline));
    {
        let mut pooled = app.db();
        let conn: &mut crm::db::DbConn = &mut pooled;
        let three_days_ago = chrono::Utc::now().naive_utc() - chrono::Duration::days(3);
        diesel::update(o::table.find(id(&old)))
            .set(o::stage_entered_at.eq(three_days_ago))
            .execute(conn)
            .unwrap();
    }
    app.patch(&stage_url, &app.admin_token, &json!({"rotting_days": 2}))
        .expect(200);

    let viewer = app.token_for("viewer");
    let report = app
        .get("/api/v1/reports/pipeline", &viewer)
        .expect(200)
        .json();
    assert_eq!(report["pipeline_id"], pipeline["id"]);
    let names: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // Every stage, in order; the won one holds an opportunity, but no open one.
    assert_eq!(
        names,
        [
            "Qualification",
            "Needs analysis",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost"
        ]
    );
    assert_eq!(report["stages"][4]["open_count"], 0);
    assert_eq!(report["stages"][4]["amounts"], json!([]));
    let qual = &report["stages"][0];
    assert_eq!(qual["open_count"], 3);
    assert_eq!(qual["rotting_count"], 1);
    // Three days, zero and zero: one day on average.
    assert!(close_to(&qual["average_days_in_stage"], 1.0), "{qual}");
    assert_eq!(
        qual["amounts"],
        json!([
            {"currency": "EUR", "count": 2, "amount": 4000, "weighted_amount": 1090},
            {"currency": "USD", "count": 1, "amount": 500, "weighted_amount": 50},
        ])
    );
    let proposal = &report["stages"][2];
    // 2001 × 50% = 1000.5, rounded half up.
    assert_eq!(
        proposal["amounts"],
        json!([{"currency": "EUR", "count": 1, "amount": 2001, "weighted_amount": 1001}])
    );
    assert_eq!(report["stages"][1]["open_count"], 0);
    assert!(report["stages"][1]["average_days_in_stage"].is_null());

    let mine = app
        .get(
            &format!(
                "/api/v1/reports/pipeline?owner_id={}",
                me["id"].as_str().unwrap()
            ),
            &viewer,
        )
        .expect(200)
        .json();
    assert_eq!(
        mine["stages"][0]["amounts"],
        json!([{"currency": "EUR", "count": 1, "amount": 3000, "weighted_amount": 990}])
    );
    assert_eq!(mine["stages"][2]["open_count"], 0);

    // Another pipeline, by id.
    let other = app
        .post(
            "/api/v1/pipelines",
            &app.admin_token,
            &json!({"name": "Renewals", "stages": [
                {"name": "Open", "probability": 40},
                {"name": "Won", "probability": 100, "kind": "won"},
                {"name": "Lost", "probability": 0, "kind": "lost"}]}),
        )
        .expect(201)
        .json();
    opportunity(app, &c, json!({"pipeline_id": other["id"], "amount": 100}));
    let renewals = app
        .get(
            &format!("/api/v1/reports/pipeline?pipeline_id={}", id(&other)),
            &viewer,
        )
        .expect(200)
        .json();
    assert_eq!(renewals["pipeline_name"], "Renewals");
    assert_eq!(
        renewals["stages"][0]["amounts"],
        json!([{"currency": "EUR", "count": 1, "amount": 100, "weighted_amount": 40}])
    );
}

fn forecast_groups_by_period_and_currency(app: &TestApp) {
    let s = stages(app);
    let c = app.customer(json!({}));
    opportunity(
        app,
        &c,
        json!({"stage_id": s["Qualification"], "amount": 1000, "expected_close_date": "2027-01-15"}),
    );
    opportunity(
        app,
        &c,
        json!({"stage_id": s["Proposal"], "amount": 2000, "expected_close_date": "2027-02-10"}),
    );
    opportunity(
        app,
        &c,
        json!({"stage_id": s["Negotiation"], "amount": 4000, "currency": "USD", "expected_close_date": "2027-04-01"}),
    );
    opportunity(app, &c, json!({"amount": 777}));
    opportunity(
        app,
        &c,
        json!({"amount": 888, "expected_close_date": "2027-07-01"}),
    );
    let won = opportunity(app, &c, json!({"stage_id": s["Won"], "amount": 5000}));
    {
        let mut pooled = app.db();
        let conn: &mut crm::db::DbConn = &mut pooled;
        diesel::update(o::table.find(id(&won)))
            .set(o::closed_at.eq(Some(at("2027-01-20 10:00:00"))))
            .execute(conn)
            .unwrap();
    }

    let month = app
        .get(
            "/api/v1/reports/forecast?from=2027-01-01&to=2027-06-30",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(month["period"], "month");
    let periods: Vec<&str> = month["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(
        periods,
        ["2027-01", "2027-02", "2027-03", "2027-04", "2027-05", "2027-06"]
    );
    assert_eq!(
        month["periods"][0]["amounts"],
        json!([{"currency": "EUR", "open_count": 1, "open_weighted_amount": 100,
                "open_best_case": 1000, "won_count": 1, "won_amount": 5000}])
    );
    assert_eq!(
        month["periods"][1]["amounts"],
        json!([{"currency": "EUR", "open_count": 1, "open_weighted_amount": 1000,
                "open_best_case": 2000, "won_count": 0, "won_amount": 0}])
    );
    assert_eq!(month["periods"][2]["amounts"], json!([]));
    assert_eq!(
        month["periods"][3]["amounts"],
        json!([{"currency": "USD", "open_count": 1, "open_weighted_amount": 3000,
                "open_best_case": 4000, "won_count": 0, "won_amount": 0}])
    );

    let quarter = app
        .get(
            "/api/v1/reports/forecast?from=2027-01-01&to=2027-06-30&period=quarter",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(
        quarter["periods"],
        json!([
            {"period": "2027-Q1", "amounts": [{"currency": "EUR", "open_count": 2,
                "open_weighted_amount": 1100, "open_best_case": 3000, "won_count": 1, "won_amount": 5000}]},
            {"period": "2027-Q2", "amounts": [{"currency": "USD", "open_count": 1,
                "open_weighted_amount": 3000, "open_best_case": 4000, "won_count": 0, "won_amount": 0}]},
        ])
    );
    // `to` is inclusive; the pipeline filter narrows.
    let one_day = app
        .get(
            "/api/v1/reports/forecast?from=2027-02-10&to=2027-02-10",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(one_day["periods"][0]["amounts"][0]["open_best_case"], 2000);
    let other = app
        .get(
            "/api/v1/reports/forecast?from=2027-01-01&to=2027-06-30&pipeline_id=nope",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert!(other["periods"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["amounts"] == json!([])));
}

fn win_rate_reports_what_closed_in_the_range(app: &TestApp) {
    let s = stages(app);
    let c = app.customer(json!({}));
    // Created on Jan 1; closed after 10, 20, 30 and 60 days.
    let cases = [
        ("Won", None, 1000, "EUR", "2026-01-11 00:00:00"),
        ("Lost", Some("price"), 2000, "EUR", "2026-01-21 00:00:00"),
        ("Lost", Some("timing"), 3000, "USD", "2026-01-31 00:00:00"),
        ("Lost", Some("price"), 4000, "EUR", "2026-03-02 00:00:00"),
    ];
    for (stage, reason, amount, currency, closed) in cases {
        let opp = opportunity(app, &c, json!({"amount": amount, "currency": currency}));
        let mut patch = json!({"stage_id": s[stage]});
        if let Some(reason) = reason {
            patch["lost_reason"] = json!(reason);
        }
        app.patch(
            &format!("/api/v1/opportunities/{}", id(&opp)),
            &app.admin_token,
            &patch,
        )
        .expect(200);
        let mut pooled = app.db();
        let conn: &mut crm::db::DbConn = &mut pooled;
        let created = at("2026-01-01 00:00:00");
        diesel::update(o::table.find(id(&opp)))
            .set((o::created_at.eq(created), o::closed_at.eq(Some(at(closed)))))
            .execute(conn)
            .unwrap();
        // Its time in Qualification: from creation to closing.
        diesel::update(
            h::table
                .filter(h::opportunity_id.eq(id(&opp)))
                .filter(h::left_at.is_not_null()),
        )
        .set((h::entered_at.eq(created), h::left_at.eq(Some(at(closed)))))
        .execute(conn)
        .unwrap();
    }
    // Still open: not in the report.
    opportunity(app, &c, json!({"amount": 50}));

    let report = app
        .get(
            "/api/v1/reports/win-rate?from=2026-01-01&to=2026-03-31",
            &app.token_for("viewer"),
        )
        .expect(200)
        .json();
    assert_eq!(report["won_count"], 1);
    assert_eq!(report["lost_count"], 3);
    assert!(close_to(&report["win_rate"], 0.25), "{report}");
    assert!(close_to(&report["average_cycle_days"], 30.0), "{report}");
    assert!(close_to(&report["median_cycle_days"], 25.0), "{report}");
    assert_eq!(
        report["amounts"],
        json!([
            {"currency": "EUR", "won_count": 1, "won_amount": 1000, "lost_count": 2, "lost_amount": 6000},
            {"currency": "USD", "won_count": 0, "won_amount": 0, "lost_count": 1, "lost_amount": 3000},
        ])
    );
    assert_eq!(report["stages"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["stages"][0]["stage_name"], "Qualification");
    assert_eq!(report["stages"][0]["visits"], 4);
    assert!(close_to(&report["stages"][0]["average_days"], 30.0));
    assert_eq!(
        report["top_lost_reasons"],
        json!([{"reason": "price", "count": 2}, {"reason": "timing", "count": 1}])
    );

    // The range is by closing day, both ends included.
    let later = app
        .get(
            "/api/v1/reports/win-rate?from=2026-01-12&to=2026-01-31",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(
        (later["won_count"].clone(), later["lost_count"].clone()),
        (json!(0), json!(2))
    );
    assert!(close_to(&later["median_cycle_days"], 25.0), "{later}");
    assert!(close_to(&later["win_rate"], 0.0));

    let none = app
        .get(
            "/api/v1/reports/win-rate?from=2025-01-01&to=2025-12-31",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(none["won_count"], 0);
    assert!(none["win_rate"].is_null());
    assert!(none["average_cycle_days"].is_null());
    assert!(none["median_cycle_days"].is_null());
    assert_eq!(none["stages"], json!([]));
}

fn reports_refuse_bad_parameters(app: &TestApp) {
    let t = &app.admin_token;
    for (path, field) in [
        ("/api/v1/reports/pipeline?pipeline_id=nope", "pipeline_id"),
        ("/api/v1/reports/pipeline?color=red", "color"),
        (
            "/api/v1/reports/forecast?from=2027-02-01&to=2027-01-01",
            "to",
        ),
        ("/api/v1/reports/forecast?period=week", "period"),
        ("/api/v1/reports/forecast?from=2027-02-30", "from"),
        (
            "/api/v1/reports/forecast?from=2000-01-01&to=2030-01-01",
            "to",
        ),
        ("/api/v1/reports/win-rate?to=yesterday", "to"),
        // Dates both backends cannot store or compare alike.
        ("/api/v1/reports/win-rate?to=-262143-01-01", "to"),
        ("/api/v1/reports/lead-funnel?to=-262143-01-01", "to"),
        (
            "/api/v1/reports/forecast?from=0000-01-01&to=0000-12-31",
            "from",
        ),
        (
            "/api/v1/reports/win-rate?from=0000-01-01&to=0001-02-01",
            "from",
        ),
    ] {
        let p = app.get(path, t).problem(422);
        assert_eq!(fields(&p), vec![field], "{path}: {p}");
    }
    // The last days both backends store are a range like any other.
    for report in ["forecast", "win-rate", "lead-funnel"] {
        let path = format!("/api/v1/reports/{report}?from=9999-12-01&to=9999-12-31");
        app.get(&path, t).expect(200);
    }
    let long = "x".repeat(65);
    for (path, field) in [
        (
            format!("/api/v1/reports/pipeline?owner_id={long}"),
            "owner_id",
        ),
        (
            format!("/api/v1/reports/forecast?pipeline_id={long}"),
            "pipeline_id",
        ),
        (
            format!("/api/v1/reports/win-rate?owner_id={long}"),
            "owner_id",
        ),
    ] {
        let p = app.get(&path, t).problem(422);
        assert_eq!(fields(&p), vec![field], "{path}: {p}");
    }
    let c = app.customer(json!({}));
    let p = app
        .get(
            &format!(
                "/api/v1/customers/{}/timeline?before=0000-06-01T00:00:00Z",
                c["id"].as_str().unwrap()
            ),
            t,
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["before"]);
    let p = app
        .post(
            "/api/v1/opportunities",
            t,
            &json!({"customer_id": c["id"], "name": "Far", "expected_close_date": "+10000-01-01"}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["expected_close_date"]);
    for path in [
        "/api/v1/reports/pipeline",
        "/api/v1/reports/forecast",
        "/api/v1/reports/win-rate",
    ] {
        assert_eq!(app.request("GET", path, None, &[], None).status, 401);
        app.get(path, t).expect(200);
    }
}
