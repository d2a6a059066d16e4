//! The binary as a user runs it: first start prints the admin's password
//! once, a bad setting stops start-up with one line naming it, SIGTERM shuts
//! down gracefully, and `openapi` prints the contract.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_crm");

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("crm-cli-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn first_start_prints_admin_password_and_sigterm_stops_gracefully() {
    let dir = temp_dir();
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .env("CRM_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open until the end: a closed pipe would fail the child's next print.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = stdout.next().unwrap().unwrap();
    assert!(
        first.starts_with("Created the first admin: admin@localhost with password "),
        "{first}"
    );
    let password = first.rsplit(' ').next().unwrap().to_string();
    assert!(password.len() >= 16);

    // The log says where it listens; the SQLite file is created beside it.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = stderr.next().unwrap().unwrap();
        assert!(!line.contains(&password), "the password is never logged");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(dir.join("crm.db").exists());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let res = agent
        .post(format!("http://{addr}/api/v1/auth/login"))
        .header("Content-Type", "application/json")
        .send(format!(
            r#"{{"email":"admin@localhost","password":"{password}"}}"#
        ))
        .unwrap();
    assert_eq!(res.status(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");

    // A restart keeps the admin and prints no new password.
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_stop_start_up_with_one_line_naming_them() {
    let dir = temp_dir();
    for (name, value) in [
        ("CRM_ADDR", "not-an-address"),
        ("CRM_DB_POOL_SIZE", "0"),
        ("CRM_TOKEN_TTL_SECS", "soon"),
        ("CRM_JWT_SECRET", "short"),
        ("CRM_ADMIN_EMAIL", "nobody"),
        ("CRM_CORS_ORIGINS", "ftp://x"),
        ("CRM_BASE_CURRENCY", "EURO"),
    ] {
        let out = Command::new(BIN)
            .current_dir(&dir)
            .env_clear()
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
    }
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!dir.join("crm.db").exists(), "nothing was created");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn openapi_subcommand_prints_the_contract() {
    let out = Command::new(BIN)
        .arg("openapi")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, serde_json::to_value(crm::openapi()).unwrap());
}

/// The service started in `dir` (SQLite there) with `env`; its address.
fn start_in(dir: &std::path::Path, env: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_clear()
        .env("CRM_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("CRM_ADMIN_EMAIL", "admin@cli.test")
        .env("CRM_ADMIN_PASSWORD", "password-123")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = stderr.next().unwrap().unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keeps reading the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr {});
    (child, addr)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Changing `CRM_BASE_CURRENCY` takes effect at the next start: `value`
/// shows the new currency first and the value filters and sorts use it.
#[test]
fn a_new_base_currency_recomputes_the_value_columns_at_start() {
    let dir = temp_dir();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call =
        |addr: &str, method: &str, path: &str, token: &str, body: Option<serde_json::Value>| {
            let url = format!("http://{addr}{path}");
            let mut res = match body {
                Some(b) => agent
                    .post(&url)
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send(b.to_string())
                    .unwrap(),
                None => {
                    assert_eq!(method, "GET");
                    agent
                        .get(&url)
                        .header("Authorization", &format!("Bearer {token}"))
                        .call()
                        .unwrap()
                }
            };
            let text = res.body_mut().read_to_string().unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        };
    let login = |addr: &str| {
        call(
            addr,
            "POST",
            "/api/v1/auth/login",
            "",
            Some(serde_json::json!(
            {"email": "admin@cli.test", "password": "password-123"})),
        )["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let (child, addr) = start_in(&dir, &[]);
    let token = login(&addr);
    let c = call(
        &addr,
        "POST",
        "/api/v1/customers",
        &token,
        Some(serde_json::json!(
        {"kind": "company", "name": "Two currencies", "external_id": "TWO"})),
    );
    let id = c["id"].as_str().unwrap().to_string();
    for (currency, price) in [("EUR", 1000), ("USD", 5000)] {
        let o = call(
            &addr,
            "POST",
            "/api/v1/orders",
            &token,
            Some(serde_json::json!({
            "customer_id": id, "ordered_at": "2026-01-01T00:00:00Z", "currency": currency,
            "items": [{"sku": "S", "quantity": 1, "unit_price": price}]})),
        );
        assert_eq!(o["total"], price);
    }
    let c = call(
        &addr,
        "GET",
        &format!("/api/v1/customers/{id}"),
        &token,
        None,
    );
    assert_eq!(
        (
            c["value"]["currency"].clone(),
            c["value"]["total_spent"].clone()
        ),
        (serde_json::json!("EUR"), serde_json::json!(1000))
    );
    stop(child);

    let (child, addr) = start_in(&dir, &[("CRM_BASE_CURRENCY", "usd")]);
    let token = login(&addr);
    let c = call(
        &addr,
        "GET",
        &format!("/api/v1/customers/{id}"),
        &token,
        None,
    );
    assert_eq!(c["value"]["currency"], "USD");
    assert_eq!(c["value"]["total_spent"], 5000);
    assert_eq!(c["value"]["other_currencies"][0]["currency"], "EUR");
    assert_eq!(c["version"], 1);
    let list = call(
        &addr,
        "GET",
        "/api/v1/customers?total_spent_min=4000",
        &token,
        None,
    );
    assert_eq!(
        list["data"][0]["id"],
        id.as_str(),
        "the filter uses the new base currency"
    );
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `crm seed` also creates orders, and each customer's value agrees with
/// them; and the sales records, consistent with each other.
#[test]
fn seeded_customers_carry_the_value_of_their_seeded_orders() {
    let dir = temp_dir();
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        // The seed's agents make it create the first admin, as a first start.
        .env("CRM_ADMIN_EMAIL", "admin@cli.test")
        .env("CRM_ADMIN_PASSWORD", "password-123")
        .args(["seed", "--customers", "200"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (child, addr) = start_in(&dir, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str, token: &str| -> serde_json::Value {
        let mut res = agent
            .get(format!("http://{addr}{path}"))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap()
    };
    let mut res = agent
        .post(format!("http://{addr}/api/v1/auth/login"))
        .header("Content-Type", "application/json")
        .send(r#"{"email":"admin@cli.test","password":"password-123"}"#)
        .unwrap();
    let token: serde_json::Value =
        serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let buyers = get("/api/v1/customers?order_count_min=1&limit=20", &token);
    let buyers = buyers["data"].as_array().unwrap();
    assert!(!buyers.is_empty(), "some seeded customers have orders");
    for c in buyers {
        let orders = get(
            &format!(
                "/api/v1/orders?customer_id={}&limit=500",
                c["id"].as_str().unwrap()
            ),
            &token,
        );
        let counted: Vec<&serde_json::Value> = orders["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                o["currency"] == "EUR"
                    && !["cancelled", "refunded"].contains(&o["status"].as_str().unwrap())
            })
            .collect();
        assert_eq!(c["value"]["order_count"], counted.len(), "{c}");
        let spent: i64 = counted.iter().map(|o| o["total"].as_i64().unwrap()).sum();
        assert_eq!(c["value"]["total_spent"], spent, "{c}");
    }

    // Sales: a lead and an opportunity per customer, three activities each.
    let total = |path: &str| get(path, &token)["total"].as_i64().unwrap();
    assert_eq!(total("/api/v1/leads?include_total=true&limit=1"), 200);
    assert_eq!(
        total("/api/v1/opportunities?include_total=true&limit=1"),
        200
    );
    assert_eq!(total("/api/v1/activities?include_total=true&limit=1"), 600);
    let converted = get("/api/v1/leads?status=converted&limit=5", &token);
    for lead in converted["data"].as_array().unwrap() {
        let opp = get(
            &format!(
                "/api/v1/opportunities/{}",
                lead["converted_opportunity_id"].as_str().unwrap()
            ),
            &token,
        );
        assert_eq!(opp["source_lead_id"], lead["id"], "{lead}");
        assert_eq!(opp["customer_id"], lead["converted_customer_id"]);
    }
    // Each opportunity's stage history ends in the stage it is in.
    let opps = get("/api/v1/opportunities?limit=20", &token);
    for o in opps["data"].as_array().unwrap() {
        let visits = get(
            &format!("/api/v1/opportunities/{}/stages", o["id"].as_str().unwrap()),
            &token,
        );
        let visits = visits["data"].as_array().unwrap();
        let last = visits.last().unwrap();
        assert_eq!(last["stage_id"], o["stage_id"], "{o}");
        assert!(last["left_at"].is_null());
        assert_eq!(last["entered_at"], o["stage_entered_at"]);
        assert_eq!(o["status"] != "open", o["closed_at"].is_string(), "{o}");
    }
    let pipeline = get("/api/v1/reports/pipeline", &token);
    let open: i64 = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["open_count"].as_i64().unwrap())
        .sum();
    assert_eq!(
        open,
        total("/api/v1/opportunities?status=open&include_total=true&limit=1")
    );
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `crm seed` with `--tickets` and `--articles` (and a second seed of tickets
/// only, over the customers there are) on SQLite.
#[test]
fn seeded_tickets_and_articles_are_consistent_on_sqlite() {
    let dir = temp_dir();
    seeded_tickets_and_articles(&dir, &[]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same on PostgreSQL, when one is reachable (`CRM_TEST_REQUIRE_POSTGRES=1`
/// makes it mandatory).
#[test]
fn seeded_tickets_and_articles_are_consistent_on_postgres() {
    let admin = std::env::var("CRM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let required = std::env::var("CRM_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let mut conn = match crm::db::establish_postgres(&admin) {
        Ok(c) => c,
        Err(e) if !required => {
            eprintln!("skipped: PostgreSQL is not reachable: {e}");
            return;
        }
        Err(e) => panic!("PostgreSQL is required: {e}"),
    };
    use diesel::RunQueryDsl;
    let name = format!("crm_cli_seed_{}", uuid::Uuid::now_v7().simple());
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .unwrap();
    /// Drops the database however the test ends.
    struct Dropped(diesel::PgConnection, String);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.1);
            let _ = diesel::sql_query(sql).execute(&mut self.0);
        }
    }
    let _dropped = Dropped(conn, name.clone());
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let dir = temp_dir();
    seeded_tickets_and_articles(&dir, &[("DATABASE_URL", url.as_str())]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seeds 300 customers, 400 tickets and 60 articles, then 50 more tickets,
/// and checks through the API: every ticket numbered once (and the service
/// numbers after them), its status, times and comments agree, its `sla`
/// object and the `sla_breached` filter agree with its stored times and the
/// policy's targets, ratings come after solving, and the articles are found
/// by a word of their title.
fn seeded_tickets_and_articles(dir: &std::path::Path, env: &[(&str, &str)]) {
    use chrono::{DateTime, Utc};
    use serde_json::{json, Value};
    use std::collections::{HashMap, HashSet};

    for args in [
        &[
            "seed",
            "--customers",
            "300",
            "--tickets",
            "400",
            "--articles",
            "60",
        ][..],
        &["seed", "--tickets", "50"][..],
    ] {
        let mut command = Command::new(BIN);
        command
            .current_dir(dir)
            .env_clear()
            .env("CRM_ADMIN_EMAIL", "admin@cli.test")
            .env("CRM_ADMIN_PASSWORD", "password-123")
            .args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (child, addr) = start_in(dir, env);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .post(format!("http://{addr}/api/v1/auth/login"))
        .header("Content-Type", "application/json")
        .send(r#"{"email":"admin@cli.test","password":"password-123"}"#)
        .unwrap();
    let token: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let get = |path: &str| -> Value {
        let mut res = agent
            .get(format!("http://{addr}{path}"))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap()
    };
    let all = |path: &str| -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                None => get(path),
                Some(c) => get(&format!("{path}&cursor={c}")),
            };
            items.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
    };
    let time = |v: &Value| -> Option<DateTime<Utc>> { v.as_str().map(|s| s.parse().unwrap()) };

    // Every ticket numbered once; the service numbers its own after them.
    let tickets = all("/api/v1/tickets?sort=number&limit=500");
    assert_eq!(tickets.len(), 450);
    let numbers: HashSet<i64> = tickets
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers.len(), 450, "ticket numbers are unique");
    let customer = tickets[0]["customer_id"].as_str().unwrap().to_string();
    let mut res = agent
        .post(format!("http://{addr}/api/v1/tickets"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(json!({"customer_id": customer, "subject": "After the seed"}).to_string())
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    assert!(created["number"].as_i64().unwrap() > *numbers.iter().max().unwrap());

    // The policy the seed made, in calendar time.
    let policies = get("/api/v1/sla-policies");
    let policy = &policies["data"][0];
    assert_eq!(policy["name"], "Standard");
    assert!(policy["business_hours_id"].is_null());

    // Each ticket as the service judges it now.
    let now = Utc::now();
    let minutes = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_minutes().max(0);
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut breached: HashSet<String> = HashSet::new();
    let mut borderline: HashSet<String> = HashSet::new();
    for t in &tickets {
        let id = t["id"].as_str().unwrap().to_string();
        let status = t["status"].as_str().unwrap();
        *statuses.entry(status.to_string()).or_default() += 1;
        let created = time(&t["created_at"]).unwrap();
        let responded = time(&t["first_responded_at"]);
        let solved = time(&t["solved_at"]);
        let closed = time(&t["closed_at"]);
        let first_due = time(&t["first_response_due_at"]).unwrap();
        let resolution_due = time(&t["resolution_due_at"]).unwrap();
        let target = &policy["targets"][t["priority"].as_str().unwrap()];
        assert_eq!(t["sla_policy_id"], policy["id"], "{t}");
        assert_eq!(
            minutes(created, first_due),
            target["first_response_minutes"].as_i64().unwrap(),
            "{t}"
        );
        // Time spent pending moves the resolution due time later.
        assert!(
            minutes(created, resolution_due) >= target["resolution_minutes"].as_i64().unwrap(),
            "{t}"
        );
        assert!(
            created <= now && time(&t["updated_at"]).unwrap() <= now,
            "{t}"
        );
        assert_eq!(
            t["first_response_minutes"].as_i64(),
            responded.map(|r| minutes(created, r)),
            "{t}"
        );
        assert_eq!(
            solved.is_some(),
            ["solved", "closed"].contains(&status),
            "{t}"
        );
        assert_eq!(closed.is_some(), status == "closed", "{t}");
        if status == "new" {
            assert!(responded.is_none(), "{t}");
        }
        // The sla object from the stored times.
        let outcome = |stop: Option<DateTime<Utc>>, due: DateTime<Utc>| match stop {
            Some(s) if s <= due => "met",
            Some(_) => "breached",
            None if now > due => "breached",
            None => "due",
        };
        let sla = &t["sla"];
        assert_eq!(
            sla["first_response"],
            outcome(responded.or(solved), first_due),
            "{t}"
        );
        assert_eq!(sla["paused"], status == "pending", "{t}");
        if status != "pending" {
            assert_eq!(sla["resolution"], outcome(solved, resolution_due), "{t}");
        }
        if sla["first_response"] == "breached" || sla["resolution"] == "breached" {
            breached.insert(id.clone());
        }
        if [first_due, resolution_due]
            .iter()
            .any(|d| (*d - now).num_seconds().abs() < 120)
        {
            borderline.insert(id.clone());
        }
        // Satisfaction only after solving, within the rating window.
        if let Some(rated) = time(&t["satisfaction"]["rated_at"]) {
            let solved = solved.expect("a rated ticket is solved");
            assert!(
                rated >= solved && rated <= solved + chrono::Duration::days(7),
                "{t}"
            );
            assert!((1..=5).contains(&t["satisfaction"]["rating"].as_i64().unwrap()));
        }
    }
    assert!(
        statuses.get("closed").copied().unwrap_or(0) > 300,
        "{statuses:?}"
    );
    assert!(!breached.is_empty(), "some tickets missed a target");
    // The breach filter agrees with the sla objects.
    let filtered: HashSet<String> = all("/api/v1/tickets?sla_breached=true&limit=500")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let differ: Vec<&String> = filtered.symmetric_difference(&breached).collect();
    assert!(
        differ.iter().all(|id| borderline.contains(*id)),
        "sla_breached and the sla objects disagree on {differ:?}"
    );

    // Comments: 1 to 4, none before the ticket, the first response among them.
    for t in tickets.iter().step_by(15) {
        let id = t["id"].as_str().unwrap();
        let comments = get(&format!("/api/v1/tickets/{id}/comments?limit=50"));
        let comments = comments["data"].as_array().unwrap();
        assert!((1..=4).contains(&comments.len()), "{t} {comments:?}");
        let created = time(&t["created_at"]).unwrap();
        for c in comments {
            assert!(time(&c["created_at"]).unwrap() >= created, "{c}");
        }
        if let Some(responded) = time(&t["first_responded_at"]) {
            let first = comments
                .iter()
                .filter(|c| c["public"] == true && c["author"]["type"] == "user")
                .filter_map(|c| time(&c["created_at"]))
                .min();
            assert_eq!(first, Some(responded), "{t} {comments:?}");
        }
    }
    // Reopened tickets are counted once per reopening: none before the seed.
    let reopened = get("/api/v1/tickets?status=open&include_total=true&limit=1");
    assert!(reopened["total"].as_i64().is_some());

    // Articles: 60, each found by a word of its title.
    let articles = all("/api/v1/articles?limit=100");
    assert_eq!(articles.len(), 60);
    let published = articles
        .iter()
        .filter(|a| a["status"] == "published")
        .count();
    assert!(published > 30, "{published} published");
    for a in articles.iter().take(5) {
        let body_words = a["body"].as_str().unwrap().split_whitespace().count();
        assert!((150..=1700).contains(&body_words), "{body_words} words");
        let word = a["title"]
            .as_str()
            .unwrap()
            .split(|c: char| !c.is_alphabetic())
            .max_by_key(|w| w.len())
            .unwrap()
            .to_lowercase();
        let found = get(&format!("/api/v1/articles?q={word}&limit=100"));
        let ids: Vec<&str> = found["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&a["id"].as_str().unwrap()), "{word}: {ids:?}");
    }
    stop(child);
}
