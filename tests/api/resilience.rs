//! The database going away answers 503 quickly with a problem body, and the
//! service recovers by itself when it returns (PostgreSQL only: SQLite is a
//! file inside the process).

use std::time::{Duration, Instant};

use diesel::{PgConnection, RunQueryDsl};

use crate::common::TestApp;

fn admin_conn() -> PgConnection {
    let url = std::env::var("CRM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    crm::db::establish_postgres(&url).expect("admin connection")
}

#[test]
fn database_outage_answers_503_then_recovers() {
    let Some(app) = TestApp::postgres() else {
        return;
    };
    let customer = app.customer(serde_json::json!({}));
    let url = format!("/api/v1/customers/{}", customer["id"].as_str().unwrap());
    let name = app.postgres_database().unwrap().to_string();
    let mut conn = admin_conn();
    let run = |conn: &mut PgConnection, sql: String| {
        diesel::sql_query(sql)
            .execute(conn)
            .expect("admin statement");
    };

    run(
        &mut conn,
        format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"),
    );
    run(
        &mut conn,
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    );
    let started = Instant::now();
    let p = app.get(&url, &app.admin_token).problem(503);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "503 took {elapsed:?}");
    assert!(
        !p["detail"].as_str().unwrap().contains(&name),
        "no internals: {p}"
    );
    // /ready answers from a check at most a second old: 503 within about a second.
    let until_status = |status: u16, within: Duration| {
        let deadline = Instant::now() + within;
        loop {
            let res = app.request("GET", "/ready", None, &[], None);
            if res.status == status {
                return res;
            }
            assert!(Instant::now() < deadline, "/ready still {}", res.status);
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until_status(503, Duration::from_secs(3)).problem(503);
    app.request("GET", "/health", None, &[], None).expect(200);

    run(
        &mut conn,
        format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.get(&url, &app.admin_token);
        if res.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover: {}", res.body);
        std::thread::sleep(Duration::from_millis(100));
    }
    until_status(200, Duration::from_secs(3));
}
