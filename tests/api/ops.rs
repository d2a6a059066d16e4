//! Operations through HTTP: health and readiness, request ids, CORS, JSON
//! answers for unknown routes and methods, the docs page and the contract.

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::TestApp;

both_backends!(
    health_and_ready_need_no_credentials,
    request_id_is_echoed_or_generated,
    unknown_routes_are_json_404,
    wrong_methods_are_json_405_with_allow,
    head_answers_like_get_without_a_body,
    docs_and_contract_are_served,
    cors_is_off_without_configured_origins,
);

const ORIGIN: &str = "https://app.example";

fn health_and_ready_need_no_credentials(app: &TestApp) {
    let res = app.request("GET", "/health", None, &[], None).expect(200);
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(res.json(), json!({"status": "ok"}));
    let res = app.request("GET", "/ready", None, &[], None).expect(200);
    let body = res.json();
    assert_eq!(body["status"], json!("ready"));
    let checked_at = chrono::DateTime::parse_from_rfc3339(body["checked_at"].as_str().unwrap())
        .expect("checked_at is RFC 3339");
    let age = chrono::Utc::now().signed_duration_since(checked_at);
    assert!(
        age < chrono::Duration::seconds(2) && age > chrono::Duration::seconds(-1),
        "{age}"
    );
    // Many pollers share one check a second: a burst sees at most two.
    let started = std::time::Instant::now();
    let checks: std::collections::HashSet<String> = (0..30)
        .map(|_| {
            app.request("GET", "/ready", None, &[], None)
                .expect(200)
                .json()["checked_at"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    if started.elapsed() < std::time::Duration::from_millis(900) {
        assert!(checks.len() <= 2, "{checks:?}");
    }
    // A bad token does not matter on public routes.
    app.request("GET", "/health", Some("garbage"), &[], None)
        .expect(200);
    app.request("GET", "/ready", Some("garbage"), &[], None)
        .expect(200);
    app.request("POST", "/health", None, &[], None).problem(405);
}

fn request_id_is_echoed_or_generated(app: &TestApp) {
    let res = app.request(
        "GET",
        "/health",
        None,
        &[("X-Request-Id", "trace-abc_123.4:5")],
        None,
    );
    assert_eq!(res.header("x-request-id"), Some("trace-abc_123.4:5"));

    let first = app.request("GET", "/health", None, &[], None);
    let second = app.request("GET", "/health", None, &[], None);
    let a = first.header("x-request-id").expect("generated id");
    let b = second.header("x-request-id").expect("generated id");
    assert!(uuid::Uuid::parse_str(a).is_ok(), "{a}");
    assert_ne!(a, b, "a new id per request");

    // Echoed on errors too: problems, unauthorized and unknown routes.
    for (method, path, token) in [
        ("GET", "/api/v1/customers", None),
        (
            "GET",
            "/api/v1/customers/missing",
            Some(app.admin_token.as_str()),
        ),
        ("GET", "/nowhere", None),
        ("PUT", "/api/v1/customers", None),
    ] {
        let res = app.request(method, path, token, &[("X-Request-Id", "err-42")], None);
        assert!(res.status >= 400);
        assert_eq!(
            res.header("x-request-id"),
            Some("err-42"),
            "{method} {path}"
        );
    }
    let res = app.request(
        "POST",
        "/api/v1/customers",
        Some(&app.admin_token),
        &[("X-Request-Id", "create-1")],
        Some(
            json!({"kind": "company", "name": "R"})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(res.header("x-request-id"), Some("create-1"));
    res.expect(201);

    // Unsafe or oversized ids are replaced, not echoed.
    let long = "x".repeat(200);
    for bad in ["has space", "semi;colon", "<script>", long.as_str()] {
        let res = app.request("GET", "/health", None, &[("X-Request-Id", bad)], None);
        let id = res.header("x-request-id").expect("replaced id");
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

fn unknown_routes_are_json_404(app: &TestApp) {
    for (path, token) in [
        ("/nope", None),
        ("/api/v1/no-such-things", Some(app.admin_token.as_str())),
        ("/api/v2/customers", Some(app.admin_token.as_str())),
        ("/api/v1/customers/x/y/z", Some(app.admin_token.as_str())),
        ("/api/v1", None),
        ("/", None),
    ] {
        let p = app.request("GET", path, token, &[], None).problem(404);
        assert!(p["detail"].as_str().unwrap().contains(path), "{path}: {p}");
    }
    let p = app
        .request("POST", "/api/v1/nothing", None, &[], Some(b"{}"))
        .problem(404);
    assert_eq!(p["type"], "urn:crm:problem:not_found");
}

fn wrong_methods_are_json_405_with_allow(app: &TestApp) {
    let c = app.customer(json!({}));
    let cid = c["id"].as_str().unwrap();
    let allow = |header: &str| -> Vec<String> {
        let mut methods: Vec<String> = header.split(',').map(|m| m.trim().to_string()).collect();
        methods.sort();
        methods
    };
    let customer = format!("/api/v1/customers/{cid}");
    let history = format!("/api/v1/customers/{cid}/history");
    let contacts = format!("/api/v1/customers/{cid}/contacts");
    for (method, path, expected) in [
        ("PUT", "/api/v1/customers", vec!["GET", "HEAD", "POST"]),
        ("DELETE", "/api/v1/customers", vec!["GET", "HEAD", "POST"]),
        ("PATCH", "/api/v1/contacts", vec!["GET", "HEAD", "POST"]),
        (
            "PUT",
            customer.as_str(),
            vec!["DELETE", "GET", "HEAD", "PATCH"],
        ),
        (
            "POST",
            customer.as_str(),
            vec!["DELETE", "GET", "HEAD", "PATCH"],
        ),
        ("POST", history.as_str(), vec!["GET", "HEAD"]),
        ("POST", contacts.as_str(), vec!["GET", "HEAD"]),
        (
            "PUT",
            "/api/v1/contacts/any-id",
            vec!["DELETE", "GET", "HEAD", "PATCH"],
        ),
        ("POST", "/api/v1/users/me", vec!["GET", "HEAD"]),
        (
            "PUT",
            "/api/v1/users/some-id",
            vec!["DELETE", "GET", "HEAD", "PATCH"],
        ),
        ("PATCH", "/api/v1/api-keys", vec!["GET", "HEAD", "POST"]),
        ("GET", "/api/v1/api-keys/some-id", vec!["DELETE"]),
        ("POST", "/api/v1/events", vec!["GET", "HEAD"]),
        ("GET", "/api/v1/auth/login", vec!["POST"]),
        ("DELETE", "/health", vec!["GET", "HEAD"]),
        ("PUT", "/ready", vec!["GET", "HEAD"]),
    ] {
        let res = app.request(method, path, Some(&app.admin_token), &[], None);
        let header = res.header("allow").unwrap_or_default().to_string();
        let p = res.problem(405);
        assert_eq!(allow(&header), expected, "{method} {path}");
        assert_eq!(p["type"], "urn:crm:problem:method_not_allowed");
    }
    // Without credentials the answer is the same: the method is wrong anyway.
    let res = app.request("PUT", &customer, None, &[], None);
    assert!(res.header("allow").is_some());
    res.problem(405);
    app.get(&customer, &app.admin_token).expect(200);
}

/// Sends `HEAD path` over a plain TCP connection (so nothing hides a body the
/// server might send) and returns the whole answer as text.
fn raw_head(app: &TestApp, path: &str, token: Option<&str>) -> String {
    use std::io::{Read, Write};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("HEAD {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn head_answers_like_get_without_a_body(app: &TestApp) {
    let c = app.customer(json!({}));
    let customer = format!("/api/v1/customers/{}", c["id"].as_str().unwrap());
    let get = app.get(&customer, &app.admin_token).expect(200);
    let missing = format!("/api/v1/customers/{}", uuid::Uuid::now_v7());
    for (path, token, status) in [
        (customer.as_str(), Some(app.admin_token.as_str()), "200"),
        ("/api/v1/customers", Some(app.admin_token.as_str()), "200"),
        ("/health", None, "200"),
        (missing.as_str(), Some(app.admin_token.as_str()), "404"),
        (customer.as_str(), None, "401"),
        ("/api/v1/nowhere", None, "404"),
        ("/api/v1/auth/login", None, "405"),
    ] {
        let answer = raw_head(app, path, token);
        let status_line = answer.lines().next().unwrap_or_default();
        assert!(
            status_line.starts_with(&format!("HTTP/1.1 {status} ")),
            "HEAD {path}: {answer}"
        );
        let (head, body) = answer.split_once("\r\n\r\n").expect("end of headers");
        assert_eq!(body, "", "HEAD {path} sent a body: {answer}");
        if path == customer && token.is_some() {
            let etag = format!("etag: {}", get.header("etag").unwrap());
            assert!(head.to_lowercase().contains(&etag), "{answer}");
        }
    }
}

fn docs_and_contract_are_served(app: &TestApp) {
    let docs = app.request("GET", "/docs/", None, &[], None).expect(200);
    assert!(docs
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(
        docs.body.to_lowercase().contains("swagger"),
        "{}",
        docs.body
    );
    // `/docs` (as the README links it) leads to the same page.
    let bare = app.request("GET", "/docs", None, &[], None).expect(200);
    assert_eq!(bare.body, docs.body);
    // The page's assets are served by the service itself (works offline).
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"] {
        let res = app.request("GET", asset, None, &[], None).expect(200);
        assert!(res.body.len() > 1000, "{asset}");
    }
    let res = app
        .request("GET", "/api/openapi.json", None, &[], None)
        .expect(200);
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = res.json();
    assert_eq!(doc, serde_json::to_value(crm::openapi()).unwrap());
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/customers",
        "/api/v1/customers/{id}",
        "/api/v1/customers/{id}/contacts",
        "/api/v1/customers/{id}/history",
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/users",
        "/api/v1/users/me",
        "/api/v1/users/{id}",
        "/api/v1/api-keys",
        "/api/v1/api-keys/{id}",
        "/api/v1/events",
        "/health",
        "/ready",
    ] {
        assert!(paths.contains_key(path), "contract lacks {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

fn cors_is_off_without_configured_origins(app: &TestApp) {
    let res = app.request("GET", "/health", None, &[("Origin", ORIGIN)], None);
    assert_eq!(res.header("access-control-allow-origin"), None);
    let res = app.request(
        "OPTIONS",
        "/api/v1/customers",
        None,
        &[("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")],
        None,
    );
    assert_eq!(res.header("access-control-allow-origin"), None);
    // Same-origin and non-browser requests (no Origin) are unaffected.
    app.get("/api/v1/customers", &app.admin_token).expect(200);
}

fn header_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

fn cors_allows_the_configured_origin(app: &TestApp) {
    // Preflight for a write with every header a frontend sends.
    let res = app.request(
        "OPTIONS",
        "/api/v1/customers",
        None,
        &[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "PATCH"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type, if-match, idempotency-key, x-request-id",
            ),
        ],
        None,
    );
    assert!(res.status == 200 || res.status == 204, "{res:?}");
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    let methods = header_list(res.header("access-control-allow-methods"));
    for m in ["get", "post", "patch", "delete"] {
        assert!(methods.contains(&m.to_string()), "{methods:?}");
    }
    let headers = header_list(res.header("access-control-allow-headers"));
    for h in [
        "authorization",
        "content-type",
        "if-match",
        "idempotency-key",
        "x-request-id",
    ] {
        assert!(
            headers.contains(&h.to_string()),
            "{h} not allowed: {headers:?}"
        );
    }
    assert!(res.header("access-control-max-age").is_some());

    // Actual requests carry the origin and expose the headers clients need.
    let res = app.request(
        "POST",
        "/api/v1/customers",
        Some(&app.admin_token),
        &[("Origin", ORIGIN)],
        Some(
            json!({"kind": "company", "name": "Cors"})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    let exposed = header_list(res.header("access-control-expose-headers"));
    for h in ["etag", "location", "x-request-id"] {
        assert!(
            exposed.contains(&h.to_string()),
            "{h} not exposed: {exposed:?}"
        );
    }
    let vary = header_list(res.header("vary"));
    assert!(vary.contains(&"origin".to_string()), "{vary:?}");
    res.expect(201);
    // Errors carry CORS headers too, so a browser can read the problem.
    let res = app.request(
        "GET",
        "/api/v1/customers",
        None,
        &[("Origin", ORIGIN)],
        None,
    );
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    res.problem(401);

    // Other origins get no CORS permission.
    let res = app.request(
        "OPTIONS",
        "/api/v1/customers",
        None,
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
        None,
    );
    assert_eq!(res.header("access-control-allow-origin"), None);
    let res = app.request(
        "GET",
        "/api/v1/customers",
        Some(&app.admin_token),
        &[("Origin", "https://evil.example")],
        None,
    );
    assert_eq!(res.header("access-control-allow-origin"), None);
}

#[test]
fn cors_allows_the_configured_origin_sqlite() {
    cors_allows_the_configured_origin(&TestApp::sqlite_with(&[("CRM_CORS_ORIGINS", ORIGIN)]));
}

#[test]
fn cors_allows_the_configured_origin_postgres() {
    if let Some(app) = TestApp::postgres_with(&[("CRM_CORS_ORIGINS", ORIGIN)]) {
        cors_allows_the_configured_origin(&app);
    }
}
