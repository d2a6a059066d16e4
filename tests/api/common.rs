//! Test harness: each test gets the real service on a random port over a
//! fresh database (a temporary SQLite file, or a new PostgreSQL database),
//! and talks to it over HTTP.

use std::collections::HashMap;
use std::sync::mpsc;

use diesel::RunQueryDsl;
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Where PostgreSQL tests connect; they create and drop their own databases.
fn postgres_admin_url() -> String {
    std::env::var("CRM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn postgres_required() -> bool {
    std::env::var("CRM_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

enum Database {
    // Held for its Drop, which removes the directory.
    Sqlite(#[allow(dead_code)] tempfile_dir::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another app's database: that app cleans it up.
    Shared,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { admin_url, name } = self {
            if let Ok(mut conn) = crm::db::establish_postgres(admin_url) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
            }
        }
    }
}

/// A tiny temporary directory, removed on drop.
mod tempfile_dir {
    pub struct TempDir(pub std::path::PathBuf);
    impl TempDir {
        pub fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("crm-test-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub admin_token: String,
    pub backend: &'static str,
    database_url: String,
    agent: ureq::Agent,
    server: actix_web::dev::ServerHandle,
    _database: Database,
}

impl Drop for TestApp {
    /// Stops the server (and so its pool) before the database goes away, so
    /// no pool keeps reconnecting to a dropped database for the rest of the run.
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; nobody needs to
        // wait for its completion.
        drop(self.server.stop(false));
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {:?}",
                self.status, self.body
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }
    /// Asserts a problem+json answer with this status; returns the problem.
    #[track_caller]
    pub fn problem(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        let p = self.json();
        assert_eq!(p["status"], json!(status));
        assert!(p["title"].is_string() && p["detail"].is_string() && p["type"].is_string());
        p
    }
}

/// The field names listed in a validation problem.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

impl TestApp {
    pub fn sqlite() -> TestApp {
        let dir = tempfile_dir::TempDir::new();
        let url = dir.0.join("crm.db").to_string_lossy().to_string();
        Self::spawn(url, Database::Sqlite(dir), "sqlite", &[])
    }

    /// `None` when no PostgreSQL is reachable (and it is not required).
    pub fn postgres() -> Option<TestApp> {
        Self::postgres_with(&[])
    }

    pub fn postgres_with(extra: &[(&str, &str)]) -> Option<TestApp> {
        let admin_url = postgres_admin_url();
        let mut conn = match crm::db::establish_postgres(&admin_url) {
            Ok(c) => c,
            Err(e) if postgres_required() => panic!("PostgreSQL required but unreachable: {e}"),
            Err(_) => {
                eprintln!("skipping: no PostgreSQL at {admin_url} (set CRM_TEST_DATABASE_URL)");
                return None;
            }
        };
        let name = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .expect("create test database");
        let url = match admin_url.rfind('/') {
            Some(i) if admin_url[..i].contains("://") && admin_url[i..].len() > 1 => {
                format!("{}/{name}", &admin_url[..i])
            }
            _ => format!("{}/{name}", admin_url.trim_end_matches('/')),
        };
        Some(Self::spawn(
            url,
            Database::Postgres { admin_url, name },
            "postgres",
            extra,
        ))
    }

    pub fn sqlite_with(extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile_dir::TempDir::new();
        let url = dir.0.join("crm.db").to_string_lossy().to_string();
        Self::spawn(url, Database::Sqlite(dir), "sqlite", extra)
    }

    fn spawn(
        url: String,
        database: Database,
        backend: &'static str,
        extra: &[(&str, &str)],
    ) -> TestApp {
        let mut env: HashMap<String, String> = [
            ("CRM_ADDR", "127.0.0.1:0"),
            ("CRM_ADMIN_EMAIL", ADMIN_EMAIL),
            ("CRM_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("CRM_JWT_SECRET", JWT_SECRET),
            ("CRM_WORKERS", "2"),
            ("CRM_DB_POOL_SIZE", "4"),
            // Refused sign-ins answer at once in tests; one test checks the delay.
            ("CRM_LOGIN_REFUSAL_DELAY_MS", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.insert("DATABASE_URL".into(), url.clone());
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let config =
            crm::config::Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match crm::start(&config) {
                    Ok(running) => {
                        let _ = tx.send(Ok((running.addr, running.server.handle())));
                        let _ = running.server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            })
        });
        let (addr, server) = rx.recv().expect("server thread").expect("server start");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut app = TestApp {
            base: format!("http://{addr}"),
            admin_token: String::new(),
            backend,
            database_url: url,
            agent,
            server,
            _database: database,
        };
        app.admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
        app
    }

    /// Sends any request. `headers` may include `Content-Type`; a JSON body
    /// gets `application/json` unless another is given.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            builder = builder.header("Authorization", format!("Bearer {t}"));
        }
        let has_content_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_content_type {
            builder = builder.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            .expect("request");
        let mut res = self.agent.run(request).expect("HTTP request failed");
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = res.body_mut().read_to_string().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// The PostgreSQL database this app runs on (`None` on SQLite).
    pub fn postgres_database(&self) -> Option<&str> {
        match &self._database {
            Database::Postgres { name, .. } => Some(name),
            Database::Sqlite(_) | Database::Shared => None,
        }
    }

    /// A direct connection to this app's database, to arrange or check what
    /// the API cannot (rows as an older version or an earlier race left them).
    pub fn db(&self) -> crm::db::PooledConn {
        crm::db::connect(&self.database_url, 1)
            .expect("database")
            .get()
            .expect("connection")
    }

    /// A second replica of the service on this app's database (it must
    /// outlive the replica, which does not clean up).
    pub fn replica(&self, extra: &[(&str, &str)]) -> TestApp {
        Self::spawn(
            self.database_url.clone(),
            Database::Shared,
            self.backend,
            extra,
        )
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.request("GET", path, Some(token), &[], None)
    }
    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.request(
            "POST",
            path,
            Some(token),
            &[],
            Some(body.to_string().as_bytes()),
        )
    }
    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.request(
            "PATCH",
            path,
            Some(token),
            &[],
            Some(body.to_string().as_bytes()),
        )
    }
    pub fn delete(&self, path: &str, token: &str) -> Resp {
        self.request("DELETE", path, Some(token), &[], None)
    }

    pub fn login_response(&self, email: &str, password: &str) -> Resp {
        let body = json!({"email": email, "password": password}).to_string();
        self.request(
            "POST",
            "/api/v1/auth/login",
            None,
            &[],
            Some(body.as_bytes()),
        )
    }

    pub fn login(&self, email: &str, password: &str) -> String {
        let res = self.login_response(email, password).expect(200);
        res.json()["access_token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Creates a user with `role` and returns a token for it.
    pub fn token_for(&self, role: &str) -> String {
        let email = format!("{role}-{}@test.local", uuid::Uuid::now_v7().simple());
        self.post(
            "/api/v1/users",
            &self.admin_token,
            &json!({"email": email, "name": role, "role": role, "password": "password-123"}),
        )
        .expect(201);
        self.login(&email, "password-123")
    }

    /// Creates a customer from `body` merged over a valid minimal one.
    pub fn customer(&self, body: Value) -> Value {
        let mut doc = json!({"kind": "company", "name": "Acme"});
        if let (Some(d), Some(b)) = (doc.as_object_mut(), body.as_object()) {
            for (k, v) in b {
                d.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/v1/customers", &self.admin_token, &doc)
            .expect(201)
            .json()
    }
}

/// Runs each listed test function against SQLite, and against PostgreSQL
/// when one is reachable (`CRM_TEST_REQUIRE_POSTGRES=1` makes it mandatory).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name(&$crate::common::TestApp::sqlite());
                }
                #[test]
                fn postgres() {
                    if let Some(app) = $crate::common::TestApp::postgres() {
                        super::$name(&app);
                    }
                }
            }
        )*
    };
}

/// [`both_backends!`] with extra configuration: `both_backends_with!(ENV;
/// test, …)` where `ENV` is a `&[(&str, &str)]` constant of the test module.
#[macro_export]
macro_rules! both_backends_with {
    ($env:ident; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name(&$crate::common::TestApp::sqlite_with(super::$env));
                }
                #[test]
                fn postgres() {
                    if let Some(app) = $crate::common::TestApp::postgres_with(super::$env) {
                        super::$name(&app);
                    }
                }
            }
        )*
    };
}
