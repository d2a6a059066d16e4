//! Service reports over HTTP: ticket volumes and backlog, response times
//! with SLA achievement, and satisfaction, each figure checked against
//! tickets made for it through the API, their times then set exactly in the
//! database.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};
use crm::db::schema::{ticket_ratings as g, ticket_reopens as o, tickets as t};

both_backends!(
    ticket_volumes_count_created_solved_reopened_and_the_backlog,
    response_times_give_medians_p90_and_sla_rates,
    satisfaction_gives_ratings_average_and_csat,
    service_reports_check_roles_and_parameters,
);

// ---------------------------------------------------------------- helpers

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("time")
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn with_db<T>(app: &TestApp, work: impl FnOnce(&mut crm::db::DbConn) -> T) -> T {
    let mut pooled = app.db();
    work(&mut pooled)
}

/// The ids of the admin and of a new agent, in text order of neither:
/// (admin, agent).
fn users(app: &TestApp) -> (String, String) {
    let me = |token: &str| id(&app.get("/api/v1/users/me", token).expect(200).json());
    let agent = app.token_for("agent");
    (me(&app.admin_token), me(&agent))
}

/// A new ticket of `customer` through the API; returns its id.
fn ticket(
    app: &TestApp,
    customer: &Value,
    channel: Option<&str>,
    priority: &str,
    assignee: Option<&str>,
) -> String {
    let body = json!({"customer_id": id(customer), "subject": "Help", "channel": channel,
                      "priority": priority, "assignee_id": assignee});
    id(&app
        .post("/api/v1/tickets", &app.admin_token, &body)
        .expect(201)
        .json())
}

fn status(app: &TestApp, ticket: &str, status: &str) -> Value {
    app.patch(
        &format!("/api/v1/tickets/{ticket}"),
        &app.admin_token,
        &json!({"status": status}),
    )
    .expect(200)
    .json()
}

fn report(app: &TestApp, path: &str) -> Value {
    app.get(path, &app.admin_token).expect(200).json()
}

/// The groups of a report, each as `[group, figures…]` for short literals.
fn rows(report: &Value, figures: &[&str]) -> Vec<Value> {
    report["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups: {report}"))
        .iter()
        .map(|g| {
            let mut row = vec![g["group"].clone()];
            row.extend(figures.iter().map(|f| g[*f].clone()));
            Value::Array(row)
        })
        .collect()
}

// ---------------------------------------------------------------- volumes

/// A ticket of the volumes test: created, solved, channel, priority,
/// assignee.
type Volume<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
);

/// Eight tickets around January 2026 (weeks from Mon 2025-12-29):
///
/// | ticket | created    | solved     | channel | priority | assignee |
/// |--------|------------|------------|---------|----------|----------|
/// | t0     | 2025-12-20 | open       | email   | normal   | admin    |
/// | t1     | 2025-12-10 | 2025-12-20 | email   | normal   | -        |
/// | t2     | 2025-12-28 | 2026-01-02 | phone   | high     | -        |
/// | t3     | 2026-01-01 | 2026-01-06 | chat    | urgent   | admin    |
/// | t4     | 2026-01-06 | open       | -       | low      | -        |
/// | t5     | 2026-01-07 | 2026-01-21 | email   | high     | admin    |
/// | t6     | 2026-01-27 | 2026-02-03 | email   | normal   | agent    |
/// | t7     | 2026-02-05 | open       | phone   | normal   | -        |
///
/// Reopened: t3 on 2026-01-03, t5 on 2026-01-19 (through the API) and on
/// 2026-02-02.
fn ticket_volumes_count_created_solved_reopened_and_the_backlog(app: &TestApp) {
    let (admin, agent) = users(app);
    let c = app.customer(json!({}));
    let specs: [Volume; 8] = [
        (
            "2025-12-20 09:00:00",
            None,
            Some("email"),
            "normal",
            Some(admin.as_str()),
        ),
        (
            "2025-12-10 08:00:00",
            Some("2025-12-20 10:00:00"),
            Some("email"),
            "normal",
            None,
        ),
        (
            "2025-12-28 23:00:00",
            Some("2026-01-02 10:00:00"),
            Some("phone"),
            "high",
            None,
        ),
        (
            "2026-01-01 00:00:00",
            Some("2026-01-06 12:00:00"),
            Some("chat"),
            "urgent",
            Some(admin.as_str()),
        ),
        ("2026-01-06 08:00:00", None, None, "low", None),
        (
            "2026-01-07 08:00:00",
            Some("2026-01-21 08:00:00"),
            Some("email"),
            "high",
            Some(admin.as_str()),
        ),
        (
            "2026-01-27 08:00:00",
            Some("2026-02-03 08:00:00"),
            Some("email"),
            "normal",
            Some(agent.as_str()),
        ),
        ("2026-02-05 08:00:00", None, Some("phone"), "normal", None),
    ];
    let ids: Vec<String> = specs
        .iter()
        .map(|(_, _, channel, priority, assignee)| ticket(app, &c, *channel, priority, *assignee))
        .collect();
    // t5 is solved, reopened and solved again through the API: one reopening.
    status(app, &ids[5], "solved");
    let reopened = status(app, &ids[5], "open");
    assert!(reopened["solved_at"].is_null(), "{reopened}");
    status(app, &ids[5], "solved");
    for (i, (_, solved, ..)) in specs.iter().enumerate() {
        if solved.is_some() && i != 5 {
            status(app, &ids[i], if i == 1 { "closed" } else { "solved" });
        }
    }
    with_db(app, |conn| {
        assert_eq!(
            o::table
                .filter(o::ticket_id.eq(&ids[5]))
                .count()
                .get_result::<i64>(conn)
                .unwrap(),
            1
        );
        diesel::update(o::table.filter(o::ticket_id.eq(&ids[5])))
            .set(o::reopened_at.eq(at("2026-01-19 10:00:00")))
            .execute(conn)
            .unwrap();
        for (ticket, when) in [
            (&ids[5], "2026-02-02 10:00:00"),
            (&ids[3], "2026-01-03 10:00:00"),
        ] {
            diesel::insert_into(o::table)
                .values((o::ticket_id.eq(ticket), o::reopened_at.eq(at(when))))
                .execute(conn)
                .unwrap();
        }
        for (i, (created, solved, ..)) in specs.iter().enumerate() {
            diesel::update(t::table.find(&ids[i]))
                .set((
                    t::created_at.eq(at(created)),
                    t::solved_at.eq(solved.map(at)),
                ))
                .execute(conn)
                .unwrap();
        }
    });
    let figures = ["created", "solved", "backlog", "reopened"];

    // By ISO week: the first week starts before `from`; the backlog starts
    // at t0 and t2 (open on Jan 1), and the empty week keeps the one before.
    let weeks = report(
        app,
        "/api/v1/reports/tickets?from=2026-01-01&to=2026-01-31&group_by=week",
    );
    assert_eq!(
        (&weeks["from"], &weeks["to"], &weeks["group_by"]),
        (&json!("2026-01-01"), &json!("2026-01-31"), &json!("week"))
    );
    assert_eq!(
        rows(&weeks, &figures),
        [
            json!(["2025-12-29", 1, 1, 2, 1]),
            json!(["2026-01-05", 2, 1, 3, 0]),
            json!(["2026-01-12", 0, 0, 3, 0]),
            json!(["2026-01-19", 0, 1, 2, 1]),
            json!(["2026-01-26", 1, 0, 3, 0]),
        ],
        "{weeks}"
    );
    // The full shape of a group.
    assert_eq!(
        weeks["groups"][1],
        json!({"group": "2026-01-05", "created": 2, "solved": 1, "backlog": 3, "reopened": 0})
    );

    // By day: Jan 5 is empty and keeps the backlog the range starts with
    // (t0 and t3); t3 is solved on Jan 6, when t4 is created.
    let days = report(
        app,
        "/api/v1/reports/tickets?from=2026-01-05&to=2026-01-08&group_by=day",
    );
    assert_eq!(
        rows(&days, &figures),
        [
            json!(["2026-01-05", 0, 0, 2, 0]),
            json!(["2026-01-06", 1, 1, 2, 0]),
            json!(["2026-01-07", 1, 0, 3, 0]),
            json!(["2026-01-08", 0, 0, 3, 0]),
        ],
        "{days}"
    );

    // By month, labelled by their first day (December's before `from`);
    // February ends with the range on the 10th.
    let months = report(
        app,
        "/api/v1/reports/tickets?from=2025-12-15&to=2026-02-10&group_by=month",
    );
    assert_eq!(
        rows(&months, &figures),
        [
            json!(["2025-12-01", 2, 1, 2, 0]),
            json!(["2026-01-01", 4, 3, 3, 2]),
            json!(["2026-02-01", 1, 1, 3, 1]),
        ],
        "{months}"
    );
    // `to` is inclusive: t7, created on Feb 5, is in from that day on.
    let until_feb_4 = report(
        app,
        "/api/v1/reports/tickets?from=2026-02-01&to=2026-02-04&group_by=month",
    );
    assert_eq!(
        rows(&until_feb_4, &figures),
        [json!(["2026-02-01", 0, 1, 2, 1])]
    );
    let until_feb_5 = report(
        app,
        "/api/v1/reports/tickets?from=2026-02-01&to=2026-02-05&group_by=month",
    );
    assert_eq!(
        rows(&until_feb_5, &figures),
        [json!(["2026-02-01", 1, 1, 3, 1])]
    );

    // By channel, priority and assignee: the backlog at the end of the range
    // (t0, t4 and t6; t7 comes later), none last.
    let january = "/api/v1/reports/tickets?from=2026-01-01&to=2026-01-31";
    let channels = report(app, &format!("{january}&group_by=channel"));
    assert_eq!(
        rows(&channels, &figures),
        [
            json!(["chat", 1, 1, 0, 1]),
            json!(["email", 2, 1, 2, 1]),
            json!(["phone", 0, 1, 0, 0]),
            json!([null, 1, 0, 1, 0]),
        ],
        "{channels}"
    );
    let priorities = report(app, &format!("{january}&group_by=priority"));
    assert_eq!(
        rows(&priorities, &figures),
        [
            json!(["urgent", 1, 1, 0, 1]),
            json!(["high", 1, 2, 0, 1]),
            json!(["normal", 1, 0, 2, 0]),
            json!(["low", 1, 0, 1, 0]),
        ],
        "{priorities}"
    );
    let assignees = report(app, &format!("{january}&group_by=assignee"));
    let mut expected = vec![
        (admin.clone(), json!([admin, 2, 2, 1, 2])),
        (agent.clone(), json!([agent, 1, 0, 1, 0])),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<Value> = expected.into_iter().map(|(_, v)| v).collect();
    expected.push(json!([null, 1, 1, 1, 0]));
    assert_eq!(rows(&assignees, &figures), expected, "{assignees}");

    // Filters: email tickets by week (t5 reopened in the week of Jan 19).
    let email = report(app, &format!("{january}&group_by=week&channel=email"));
    assert_eq!(
        rows(&email, &figures),
        [
            json!(["2025-12-29", 0, 0, 1, 0]),
            json!(["2026-01-05", 1, 0, 2, 0]),
            json!(["2026-01-12", 0, 0, 2, 0]),
            json!(["2026-01-19", 0, 1, 1, 1]),
            json!(["2026-01-26", 1, 0, 2, 0]),
        ],
        "{email}"
    );
    // High priority by day: the first day has no row and keeps the backlog
    // of the start (t2, solved on Jan 2).
    let high = report(
        app,
        "/api/v1/reports/tickets?from=2026-01-01&to=2026-01-03&group_by=day&priority=high",
    );
    assert_eq!(
        rows(&high, &figures),
        [
            json!(["2026-01-01", 0, 0, 1, 0]),
            json!(["2026-01-02", 0, 1, 0, 0]),
            json!(["2026-01-03", 0, 0, 0, 0]),
        ],
        "{high}"
    );
    let mine = report(
        app,
        &format!("{january}&group_by=priority&assignee_id={admin}"),
    );
    assert_eq!(
        rows(&mine, &figures),
        [
            json!(["urgent", 1, 1, 0, 1]),
            json!(["high", 1, 1, 0, 1]),
            json!(["normal", 0, 0, 1, 0]),
        ],
        "{mine}"
    );
    let both = report(
        app,
        &format!("{january}&group_by=channel&assignee_id={admin}&priority=high&channel=email"),
    );
    assert_eq!(rows(&both, &figures), [json!(["email", 1, 1, 0, 1])]);
    let nobody = report(
        app,
        &format!("{january}&group_by=channel&assignee_id=nobody"),
    );
    assert_eq!(nobody["groups"], json!([]));
    // Before any ticket: every period, all zero.
    let before = report(
        app,
        "/api/v1/reports/tickets?from=2025-01-01&to=2025-03-31&group_by=month",
    );
    assert_eq!(
        rows(&before, &figures),
        [
            json!(["2025-01-01", 0, 0, 0, 0]),
            json!(["2025-02-01", 0, 0, 0, 0]),
            json!(["2025-03-01", 0, 0, 0, 0]),
        ]
    );
}

// ---------------------------------------------------------------- response times

/// What a ticket of the response-times test measures, in minutes after its
/// creation.
struct Measured {
    created: &'static str,
    channel: Option<&'static str>,
    priority: &'static str,
    admin: bool,
    first_response: Option<i64>,
    first_response_due: Option<i64>,
    solved: Option<i64>,
    resolution_due: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
const fn m(
    created: &'static str,
    channel: Option<&'static str>,
    priority: &'static str,
    admin: bool,
    first_response: Option<i64>,
    first_response_due: Option<i64>,
    solved: Option<i64>,
    resolution_due: Option<i64>,
) -> Measured {
    Measured {
        created,
        channel,
        priority,
        admin,
        first_response,
        first_response_due,
        solved,
        resolution_due,
    }
}

const EMAIL: Option<&str> = Some("email");
const CHAT: Option<&str> = Some("chat");
const PHONE: Option<&str> = Some("phone");
const WEB: Option<&str> = Some("web");

/// Thirteen tickets created in March 2026 (weeks from Mon Feb 23), and two
/// just outside it.
const MEASURED: [Measured; 15] = [
    // Week of Mar 2.
    m(
        "2026-03-02 08:00:00",
        EMAIL,
        "urgent",
        true,
        Some(5),
        Some(10),
        Some(100),
        Some(60),
    ),
    m(
        "2026-03-03 08:00:00",
        EMAIL,
        "high",
        true,
        Some(10),
        Some(60),
        Some(200),
        Some(240),
    ),
    m(
        "2026-03-04 08:00:00",
        EMAIL,
        "normal",
        false,
        Some(15),
        Some(120),
        Some(300),
        Some(480),
    ),
    m(
        "2026-03-05 08:00:00",
        CHAT,
        "normal",
        false,
        Some(20),
        None,
        Some(400),
        None,
    ),
    m(
        "2026-03-06 08:00:00",
        CHAT,
        "low",
        false,
        Some(30),
        Some(240),
        Some(500),
        Some(960),
    ),
    // Week of Mar 9.
    m(
        "2026-03-09 08:00:00",
        PHONE,
        "low",
        true,
        Some(40),
        Some(240),
        Some(1000),
        Some(960),
    ),
    m(
        "2026-03-10 08:00:00",
        PHONE,
        "high",
        false,
        Some(50),
        Some(60),
        None,
        Some(240),
    ),
    m(
        "2026-03-11 08:00:00",
        None,
        "normal",
        false,
        Some(60),
        Some(120),
        None,
        Some(480),
    ),
    m(
        "2026-03-12 08:00:00",
        None,
        "normal",
        false,
        Some(90),
        Some(60),
        None,
        None,
    ),
    // Week of Mar 16; the last is solved without a first response, late.
    m(
        "2026-03-16 08:00:00",
        WEB,
        "urgent",
        false,
        Some(120),
        Some(10),
        None,
        Some(60),
    ),
    m(
        "2026-03-17 08:00:00",
        WEB,
        "high",
        false,
        Some(601),
        Some(60),
        None,
        None,
    ),
    m(
        "2026-03-18 08:00:00",
        EMAIL,
        "low",
        false,
        None,
        Some(240),
        Some(300),
        Some(960),
    ),
    // Week of Mar 30: neither answered nor solved, created on the last day.
    m(
        "2026-03-31 23:59:59",
        EMAIL,
        "normal",
        false,
        None,
        Some(120),
        None,
        Some(480),
    ),
    // Outside the range.
    m(
        "2026-02-28 23:59:59",
        EMAIL,
        "normal",
        true,
        Some(1),
        Some(10),
        Some(1),
        Some(10),
    ),
    m(
        "2026-04-01 00:00:00",
        EMAIL,
        "normal",
        true,
        Some(1),
        Some(10),
        Some(1),
        Some(10),
    ),
];

fn minutes(count: i64, median: Option<f64>, p90: Option<i64>) -> Value {
    json!({"count": count, "median": median, "p90": p90})
}

fn sla(met: i64, total: i64) -> Value {
    let rate = (total > 0).then(|| met as f64 / total as f64);
    json!({"met": met, "total": total, "rate": rate})
}

/// A group of the response-times report: (first response count, median,
/// p90), (resolution count, median, p90), (met, total) of each target.
fn times(
    group: Value,
    tickets: i64,
    first: (i64, Option<f64>, Option<i64>),
    resolution: (i64, Option<f64>, Option<i64>),
    first_sla: (i64, i64),
    resolution_sla: (i64, i64),
) -> Value {
    json!({
        "group": group,
        "tickets": tickets,
        "first_response": minutes(first.0, first.1, first.2),
        "resolution": minutes(resolution.0, resolution.1, resolution.2),
        "first_response_sla": sla(first_sla.0, first_sla.1),
        "resolution_sla": sla(resolution_sla.0, resolution_sla.1),
    })
}

const NONE: (i64, Option<f64>, Option<i64>) = (0, None, None);

fn response_times_give_medians_p90_and_sla_rates(app: &TestApp) {
    let (admin, _) = users(app);
    let c = app.customer(json!({}));
    let mut ids = Vec::new();
    for spec in &MEASURED {
        let id = ticket(
            app,
            &c,
            spec.channel,
            spec.priority,
            spec.admin.then_some(admin.as_str()),
        );
        // A public reply answers the ticket; solving stops the clock.
        if spec.first_response.is_some() {
            app.post(
                &format!("/api/v1/tickets/{id}/comments"),
                &app.admin_token,
                &json!({"body": "On it", "public": true}),
            )
            .expect(201);
        }
        if spec.solved.is_some() {
            status(app, &id, "solved");
        }
        ids.push(id);
    }
    with_db(app, |conn| {
        for (id, spec) in ids.iter().zip(&MEASURED) {
            let created = at(spec.created);
            let after = |minutes: Option<i64>| minutes.map(|m| created + Duration::minutes(m));
            diesel::update(t::table.find(id))
                .set((
                    t::created_at.eq(created),
                    t::first_responded_at.eq(after(spec.first_response)),
                    t::first_response_minutes.eq(spec.first_response),
                    t::first_response_due_at.eq(after(spec.first_response_due)),
                    t::solved_at.eq(after(spec.solved)),
                    t::resolution_minutes.eq(spec.solved),
                    t::resolution_due_at.eq(after(spec.resolution_due)),
                ))
                .execute(conn)
                .unwrap();
        }
    });
    let march = "/api/v1/reports/response-times?from=2026-03-01&to=2026-03-31";

    // The whole month: 11 first responses (median the 6th, p90 the 10th of
    // 11, not the largest), 7 resolutions (median the 4th, p90 the 7th);
    // first response met by 7 of 11 (no due time: not counted; neither
    // answered nor solved: still running), resolution by 4 of 6.
    let month = report(app, &format!("{march}&group_by=month"));
    assert_eq!(month["group_by"], "month");
    assert_eq!(
        month["groups"],
        json!([times(
            json!("2026-03-01"),
            13,
            (11, Some(40.0), Some(120)),
            (7, Some(300.0), Some(1000)),
            (7, 11),
            (4, 6)
        )]),
        "{month}"
    );

    // By week: odd and even counts, an empty week first (Feb 23) and one
    // in between, a week whose only ticket has nothing to count.
    let weeks = report(app, &format!("{march}&group_by=week"));
    assert_eq!(
        weeks["groups"],
        json!([
            times(json!("2026-02-23"), 0, NONE, NONE, (0, 0), (0, 0)),
            times(
                json!("2026-03-02"),
                5,
                (5, Some(15.0), Some(30)),
                (5, Some(300.0), Some(500)),
                (4, 4),
                (3, 4)
            ),
            times(
                json!("2026-03-09"),
                4,
                (4, Some(55.0), Some(90)),
                (1, Some(1000.0), Some(1000)),
                (3, 4),
                (0, 1)
            ),
            times(
                json!("2026-03-16"),
                3,
                (2, Some(360.5), Some(601)),
                (1, Some(300.0), Some(300)),
                (0, 3),
                (1, 1)
            ),
            times(json!("2026-03-23"), 0, NONE, NONE, (0, 0), (0, 0)),
            times(json!("2026-03-30"), 1, NONE, NONE, (0, 0), (0, 0)),
        ]),
        "{weeks}"
    );

    // By day, over three days: the first one's ticket only.
    let days = report(
        app,
        "/api/v1/reports/response-times?from=2026-03-01&to=2026-03-03&group_by=day",
    );
    assert_eq!(
        days["groups"],
        json!([
            times(json!("2026-03-01"), 0, NONE, NONE, (0, 0), (0, 0)),
            times(
                json!("2026-03-02"),
                1,
                (1, Some(5.0), Some(5)),
                (1, Some(100.0), Some(100)),
                (1, 1),
                (0, 1)
            ),
            times(
                json!("2026-03-03"),
                1,
                (1, Some(10.0), Some(10)),
                (1, Some(200.0), Some(200)),
                (1, 1),
                (1, 1)
            ),
        ]),
        "{days}"
    );

    let channels = report(app, &format!("{march}&group_by=channel"));
    assert_eq!(
        channels["groups"],
        json!([
            times(
                json!("chat"),
                2,
                (2, Some(25.0), Some(30)),
                (2, Some(450.0), Some(500)),
                (1, 1),
                (1, 1)
            ),
            times(
                json!("email"),
                5,
                (3, Some(10.0), Some(15)),
                (4, Some(250.0), Some(300)),
                (3, 4),
                (3, 4)
            ),
            times(
                json!("phone"),
                2,
                (2, Some(45.0), Some(50)),
                (1, Some(1000.0), Some(1000)),
                (2, 2),
                (0, 1)
            ),
            times(
                json!("web"),
                2,
                (2, Some(360.5), Some(601)),
                NONE,
                (0, 2),
                (0, 0)
            ),
            times(
                json!(null),
                2,
                (2, Some(75.0), Some(90)),
                NONE,
                (1, 2),
                (0, 0)
            ),
        ]),
        "{channels}"
    );

    let priorities = report(app, &format!("{march}&group_by=priority"));
    assert_eq!(
        priorities["groups"],
        json!([
            times(
                json!("urgent"),
                2,
                (2, Some(62.5), Some(120)),
                (1, Some(100.0), Some(100)),
                (1, 2),
                (0, 1)
            ),
            times(
                json!("high"),
                3,
                (3, Some(50.0), Some(601)),
                (1, Some(200.0), Some(200)),
                (2, 3),
                (1, 1)
            ),
            times(
                json!("normal"),
                5,
                (4, Some(40.0), Some(90)),
                (2, Some(350.0), Some(400)),
                (2, 3),
                (1, 1)
            ),
            times(
                json!("low"),
                3,
                (2, Some(35.0), Some(40)),
                (3, Some(500.0), Some(1000)),
                (2, 3),
                (2, 3)
            ),
        ]),
        "{priorities}"
    );

    // By assignee: eight first responses without one (p90 the 8th of 8).
    let assignees = report(app, &format!("{march}&group_by=assignee"));
    assert_eq!(
        assignees["groups"],
        json!([
            times(
                json!(admin),
                3,
                (3, Some(10.0), Some(40)),
                (3, Some(200.0), Some(1000)),
                (3, 3),
                (1, 3)
            ),
            times(
                json!(null),
                10,
                (8, Some(55.0), Some(601)),
                (4, Some(350.0), Some(500)),
                (4, 8),
                (3, 3)
            ),
        ]),
        "{assignees}"
    );

    // Filters.
    let email = report(app, &format!("{march}&group_by=month&channel=email"));
    assert_eq!(
        email["groups"],
        json!([times(
            json!("2026-03-01"),
            5,
            (3, Some(10.0), Some(15)),
            (4, Some(250.0), Some(300)),
            (3, 4),
            (3, 4)
        )]),
        "{email}"
    );
    let normal = report(app, &format!("{march}&group_by=channel&priority=normal"));
    assert_eq!(
        normal["groups"],
        json!([
            times(
                json!("chat"),
                1,
                (1, Some(20.0), Some(20)),
                (1, Some(400.0), Some(400)),
                (0, 0),
                (0, 0)
            ),
            times(
                json!("email"),
                2,
                (1, Some(15.0), Some(15)),
                (1, Some(300.0), Some(300)),
                (1, 1),
                (1, 1)
            ),
            times(
                json!(null),
                2,
                (2, Some(75.0), Some(90)),
                NONE,
                (1, 2),
                (0, 0)
            ),
        ]),
        "{normal}"
    );
    let mine = report(
        app,
        &format!("{march}&group_by=month&assignee_id={admin}&priority=low"),
    );
    assert_eq!(
        mine["groups"],
        json!([times(
            json!("2026-03-01"),
            1,
            (1, Some(40.0), Some(40)),
            (1, Some(1000.0), Some(1000)),
            (1, 1),
            (0, 1)
        )]),
        "{mine}"
    );

    // Ten tickets on one day: 0.9 × 10 is exactly 9, so p90 is the 9th
    // value (not the 10th); the median is between the 5th and the 6th.
    for i in 1..=10_i64 {
        let id = ticket(app, &c, WEB, "low", None);
        let created = at("2026-06-01 08:00:00");
        with_db(app, |conn| {
            diesel::update(t::table.find(&id))
                .set((
                    t::created_at.eq(created),
                    t::first_responded_at.eq(Some(created + Duration::minutes(i))),
                    t::first_response_minutes.eq(Some(i)),
                    t::solved_at.eq(Some(created + Duration::minutes(100 * i))),
                    t::resolution_minutes.eq(Some(100 * i)),
                ))
                .execute(conn)
                .unwrap();
        });
    }
    let ten = report(
        app,
        "/api/v1/reports/response-times?from=2026-06-01&to=2026-06-01&group_by=day",
    );
    assert_eq!(
        ten["groups"],
        json!([times(
            json!("2026-06-01"),
            10,
            (10, Some(5.5), Some(9)),
            (10, Some(550.0), Some(900)),
            (0, 0),
            (0, 0)
        )]),
        "{ten}"
    );
}

// ---------------------------------------------------------------- satisfaction

/// A rating of the satisfaction test: rated at, rating, and its ticket's
/// channel, priority and assignee.
type Rated<'a> = (&'a str, i64, Option<&'a str>, &'a str, Option<&'a str>);

fn csat(group: Value, ratings: i64, sum: i64, satisfied: i64) -> Value {
    json!({
        "group": group,
        "ratings": ratings,
        "average_rating": (ratings > 0).then(|| sum as f64 / ratings as f64),
        "satisfied": satisfied,
        "csat": (ratings > 0).then(|| satisfied as f64 / ratings as f64),
    })
}

fn satisfaction_gives_ratings_average_and_csat(app: &TestApp) {
    let (admin, agent) = users(app);
    let c = app.customer(json!({}));
    // (rated at, rating, channel, priority, assignee); weeks of May 2026
    // start on Apr 27.
    let ratings: [Rated; 8] = [
        (
            "2026-05-01 10:00:00",
            5,
            EMAIL,
            "high",
            Some(admin.as_str()),
        ),
        ("2026-05-02 10:00:00", 4, EMAIL, "normal", None),
        ("2026-05-05 10:00:00", 2, CHAT, "normal", None),
        ("2026-05-12 10:00:00", 1, None, "low", Some(agent.as_str())),
        (
            "2026-05-13 10:00:00",
            4,
            PHONE,
            "urgent",
            Some(admin.as_str()),
        ),
        ("2026-05-31 23:59:59", 5, EMAIL, "low", None),
        // Outside the range.
        (
            "2026-06-01 00:00:00",
            1,
            EMAIL,
            "high",
            Some(admin.as_str()),
        ),
        ("2026-04-30 23:59:59", 5, CHAT, "normal", None),
    ];
    for (rated_at, rating, channel, priority, assignee) in ratings {
        let id = ticket(app, &c, channel, priority, assignee);
        status(app, &id, "solved");
        let rated = app
            .request(
                "PUT",
                &format!("/api/v1/tickets/{id}/satisfaction"),
                Some(&app.admin_token),
                &[],
                Some(
                    json!({"rating": rating, "comment": "Thanks"})
                        .to_string()
                        .as_bytes(),
                ),
            )
            .expect(200)
            .json();
        assert_eq!(rated["satisfaction"]["rating"], rating);
        with_db(app, |conn| {
            diesel::update(g::table.find(&id))
                .set(g::rated_at.eq(at(rated_at)))
                .execute(conn)
                .unwrap();
        });
    }
    // A solved ticket without a rating counts nowhere.
    let unrated = ticket(app, &c, EMAIL, "normal", None);
    status(app, &unrated, "solved");

    let may = "/api/v1/reports/satisfaction?from=2026-05-01&to=2026-05-31";
    let weeks = report(app, &format!("{may}&group_by=week"));
    assert_eq!(
        weeks["groups"],
        json!([
            csat(json!("2026-04-27"), 2, 9, 2),
            csat(json!("2026-05-04"), 1, 2, 0),
            csat(json!("2026-05-11"), 2, 5, 1),
            csat(json!("2026-05-18"), 0, 0, 0),
            csat(json!("2026-05-25"), 1, 5, 1),
        ]),
        "{weeks}"
    );
    // Literal figures for one group, beside the computed ones above.
    assert_eq!(
        weeks["groups"][2],
        json!({"group": "2026-05-11", "ratings": 2, "average_rating": 2.5, "satisfied": 1, "csat": 0.5})
    );
    assert!(weeks["groups"][3]["average_rating"].is_null());
    assert!(weeks["groups"][3]["csat"].is_null());

    let month = report(app, &format!("{may}&group_by=month"));
    assert_eq!(
        month["groups"],
        json!([csat(json!("2026-05-01"), 6, 21, 4)]),
        "{month}"
    );
    assert_eq!(month["groups"][0]["average_rating"], json!(3.5));

    let days = report(
        app,
        "/api/v1/reports/satisfaction?from=2026-05-01&to=2026-05-03&group_by=day",
    );
    assert_eq!(
        days["groups"],
        json!([
            csat(json!("2026-05-01"), 1, 5, 1),
            csat(json!("2026-05-02"), 1, 4, 1),
            csat(json!("2026-05-03"), 0, 0, 0),
        ]),
        "{days}"
    );

    let channels = report(app, &format!("{may}&group_by=channel"));
    assert_eq!(
        channels["groups"],
        json!([
            csat(json!("chat"), 1, 2, 0),
            csat(json!("email"), 3, 14, 3),
            csat(json!("phone"), 1, 4, 1),
            csat(json!(null), 1, 1, 0),
        ]),
        "{channels}"
    );
    let priorities = report(app, &format!("{may}&group_by=priority"));
    assert_eq!(
        priorities["groups"],
        json!([
            csat(json!("urgent"), 1, 4, 1),
            csat(json!("high"), 1, 5, 1),
            csat(json!("normal"), 2, 6, 1),
            csat(json!("low"), 2, 6, 1),
        ]),
        "{priorities}"
    );
    let assignees = report(app, &format!("{may}&group_by=assignee"));
    let mut expected = vec![
        (admin.clone(), csat(json!(admin), 2, 9, 2)),
        (agent.clone(), csat(json!(agent), 1, 1, 0)),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<Value> = expected.into_iter().map(|(_, v)| v).collect();
    expected.push(csat(json!(null), 3, 11, 2));
    assert_eq!(assignees["groups"], json!(expected), "{assignees}");

    let email = report(app, &format!("{may}&group_by=month&channel=email"));
    assert_eq!(
        email["groups"],
        json!([csat(json!("2026-05-01"), 3, 14, 3)])
    );
    let mine = report(app, &format!("{may}&group_by=priority&assignee_id={admin}"));
    assert_eq!(
        mine["groups"],
        json!([csat(json!("urgent"), 1, 4, 1), csat(json!("high"), 1, 5, 1)]),
        "{mine}"
    );
    let low = report(app, &format!("{may}&group_by=week&priority=low"));
    assert_eq!(
        low["groups"],
        json!([
            csat(json!("2026-04-27"), 0, 0, 0),
            csat(json!("2026-05-04"), 0, 0, 0),
            csat(json!("2026-05-11"), 1, 1, 0),
            csat(json!("2026-05-18"), 0, 0, 0),
            csat(json!("2026-05-25"), 1, 5, 1),
        ]),
        "{low}"
    );
}

// ---------------------------------------------------------------- roles, parameters

fn service_reports_check_roles_and_parameters(app: &TestApp) {
    let viewer = app.token_for("viewer");
    let paths = [
        "/api/v1/reports/tickets",
        "/api/v1/reports/response-times",
        "/api/v1/reports/satisfaction",
    ];
    let today = chrono::Utc::now().date_naive();
    for path in paths {
        assert_eq!(
            app.request("GET", path, None, &[], None).status,
            401,
            "{path}"
        );
        assert_eq!(
            app.request("GET", path, Some("not-a-token"), &[], None)
                .status,
            401,
            "{path}"
        );
        // Defaults: the 90 days to today, by day.
        let r = app.get(path, &viewer).expect(200).json();
        assert_eq!(r["group_by"], "day", "{path}");
        assert_eq!(r["to"], json!(today.to_string()), "{path}");
        assert_eq!(
            r["from"],
            json!((today - Duration::days(89)).to_string()),
            "{path}"
        );
        let groups = r["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 90, "{path}");
        assert_eq!(groups[89]["group"], json!(today.to_string()), "{path}");
        for agent_role in ["agent", "manager"] {
            app.get(path, &app.token_for(agent_role)).expect(200);
        }
    }
    // A default `from` follows `to`.
    let r = report(app, "/api/v1/reports/tickets?to=2026-03-31");
    assert_eq!(r["from"], "2026-01-01");

    for path in paths {
        for (query, field) in [
            ("group_by=year", "group_by"),
            ("group_by=", "group_by"),
            ("channel=fax", "channel"),
            ("priority=critical", "priority"),
            ("from=2026-02-30", "from"),
            ("to=yesterday", "to"),
            ("from=2026-02-01&to=2026-01-31", "to"),
            ("from=2016-01-01&to=2026-01-31", "to"),
            ("to=-262143-01-01", "to"),
            ("from=0000-12-01&to=0001-01-31", "from"),
            ("color=red", "color"),
        ] {
            let url = format!("{path}?{query}");
            let p = app.get(&url, &viewer).problem(422);
            assert_eq!(fields(&p), vec![field], "{url}: {p}");
        }
        let url = format!("{path}?assignee_id={}", "x".repeat(65));
        let p = app.get(&url, &viewer).problem(422);
        assert_eq!(fields(&p), vec!["assignee_id"], "{url}: {p}");
        // Ten years is the most: 3,653 days by day.
        let ten = report(app, &format!("{path}?from=2016-01-01&to=2025-12-31"));
        assert_eq!(ten["groups"].as_array().unwrap().len(), 3653, "{path}");
        app.get(
            &format!("{path}?from=0001-01-01&to=0001-03-31&group_by=week"),
            &viewer,
        )
        .expect(200);
    }

    // The last day that can be asked for counts to its end on both backends.
    let c = app.customer(json!({}));
    let last = ticket(app, &c, EMAIL, "normal", None);
    let first = ticket(app, &c, EMAIL, "normal", None);
    with_db(app, |conn| {
        diesel::update(t::table.find(&last))
            .set(t::created_at.eq(at("9999-12-31 23:59:59")))
            .execute(conn)
            .unwrap();
        diesel::update(t::table.find(&first))
            .set(t::created_at.eq(at("0001-01-01 00:00:00")))
            .execute(conn)
            .unwrap();
    });
    let end = report(
        app,
        "/api/v1/reports/tickets?from=9999-12-01&to=9999-12-31&group_by=week",
    );
    let weeks = end["groups"].as_array().unwrap();
    assert_eq!(weeks.len(), 5, "{end}");
    assert_eq!(weeks[0]["group"], "9999-11-29");
    assert_eq!(
        weeks[4],
        json!({"group": "9999-12-27", "created": 1, "solved": 0, "backlog": 2, "reopened": 0})
    );
    let start = report(
        app,
        "/api/v1/reports/tickets?from=0001-01-01&to=0001-01-31&group_by=month",
    );
    assert_eq!(
        start["groups"],
        json!([{"group": "0001-01-01", "created": 1, "solved": 0, "backlog": 1, "reopened": 0}])
    );
    let times = report(
        app,
        "/api/v1/reports/response-times?from=9999-12-31&to=9999-12-31",
    );
    assert_eq!(times["groups"][0]["tickets"], 1, "{times}");
}
