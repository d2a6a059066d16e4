//! Signing in and bearer tokens: the login answer, refused credentials, and
//! tokens that are expired, tampered with or malformed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET};

both_backends!(
    login_answers_a_bearer_token,
    wrong_credentials_get_identical_answers,
    login_rejects_malformed_requests,
    expired_token_is_refused,
    tampered_or_foreign_tokens_are_refused,
    token_role_claim_is_not_trusted,
    malformed_authorization_headers_are_refused,
    reading_one_record_checks_the_caller,
);

fn login(app: &TestApp, body: &Value) -> crate::common::Resp {
    app.request(
        "POST",
        "/api/v1/auth/login",
        None,
        &[],
        Some(body.to_string().as_bytes()),
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

fn admin_id(app: &TestApp) -> String {
    app.get("/api/v1/users/me", &app.admin_token)
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn new_user(app: &TestApp, email: &str, role: &str, active: bool) -> Value {
    app.post(
        "/api/v1/users",
        &app.admin_token,
        &json!({"email": email, "name": "U", "role": role, "password": "password-123", "active": active}),
    )
    .expect(201)
    .json()
}

fn login_answers_a_bearer_token(app: &TestApp) {
    let res = login(
        app,
        &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    )
    .expect(200);
    assert!(res
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let body = res.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, vec!["access_token", "expires_in", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600, "CRM_TOKEN_TTL_SECS default");
    let token = body["access_token"].as_str().unwrap();

    // A JWT carrying the user and role, valid for `expires_in` seconds.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &validation,
    )
    .expect("a JWT signed with the configured secret")
    .claims;
    let id = admin_id(app);
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["role"], "admin");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert!((iat - now()).abs() <= 5, "issued now");
    assert!(!token.contains(ADMIN_PASSWORD));

    let me = app.get("/api/v1/users/me", token).expect(200).json();
    assert_eq!(me["id"], id.as_str());

    // The email is matched trimmed and case-insensitively.
    let res = login(
        app,
        &json!({"email": "  ADMIN@Test.Local ", "password": ADMIN_PASSWORD}),
    );
    let other = res.expect(200).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.get("/api/v1/users/me", &other).expect(200);
    // No token needed to sign in, and a stale one does not get in the way.
    app.request(
        "POST",
        "/api/v1/auth/login",
        Some("garbage"),
        &[],
        Some(
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
                .to_string()
                .as_bytes(),
        ),
    )
    .expect(200);
}

fn wrong_credentials_get_identical_answers(app: &TestApp) {
    new_user(app, "inactive@example.com", "agent", false);
    let wrong_password = login(
        app,
        &json!({"email": ADMIN_EMAIL, "password": "wrong-password"}),
    );
    let unknown_email = login(
        app,
        &json!({"email": "nobody@example.com", "password": ADMIN_PASSWORD}),
    );
    let inactive = login(
        app,
        &json!({"email": "inactive@example.com", "password": "password-123"}),
    );
    let empty = login(app, &json!({"email": ADMIN_EMAIL, "password": ""}));
    let case = login(
        app,
        &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD.to_uppercase()}),
    );
    let reference = wrong_password.body.clone();
    assert_eq!(wrong_password.header("www-authenticate"), Some("Bearer"));
    let p = wrong_password.problem(401);
    assert!(p.get("errors").is_none());
    for (what, res) in [
        ("unknown email", unknown_email),
        ("inactive user", inactive),
        ("empty password", empty),
        ("password case", case),
    ] {
        assert_eq!(
            res.body, reference,
            "{what}: same answer as a wrong password"
        );
        assert_eq!(res.header("www-authenticate"), Some("Bearer"), "{what}");
        res.problem(401);
    }
}

fn login_rejects_malformed_requests(app: &TestApp) {
    for (body, field) in [
        (json!({"email": ADMIN_EMAIL}), "password"),
        (json!({"password": ADMIN_PASSWORD}), "email"),
        (
            json!({"email": ADMIN_EMAIL, "password": 12345678}),
            "password",
        ),
        (
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "remember": true}),
            "remember",
        ),
    ] {
        let p = login(app, &body).problem(422);
        assert!(fields(&p).contains(&field.to_string()), "{body}: {p}");
        assert!(
            !p.to_string().contains(ADMIN_PASSWORD),
            "no echo of the password"
        );
    }
    app.request(
        "POST",
        "/api/v1/auth/login",
        None,
        &[],
        Some(b"{\"email\":"),
    )
    .problem(400);
    app.request("POST", "/api/v1/auth/login", None, &[], Some(b""))
        .problem(400);
    let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    app.request(
        "POST",
        "/api/v1/auth/login",
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(body.as_bytes()),
    )
    .problem(415);
    let huge = json!({"email": ADMIN_EMAIL, "password": "x".repeat(2 * 1024 * 1024)});
    app.request(
        "POST",
        "/api/v1/auth/login",
        None,
        &[],
        Some(huge.to_string().as_bytes()),
    )
    .problem(413);
    app.request("GET", "/api/v1/auth/login", None, &[], None)
        .problem(405);
}

fn expired_token_is_refused(app: &TestApp) {
    let id = admin_id(app);
    let t = now();
    // Control: a token signed the same way but still valid is accepted, so the
    // refusal below is about expiry and nothing else.
    let valid = sign(
        &json!({"sub": id, "role": "admin", "iat": t - 10, "exp": t + 60}),
        JWT_SECRET.as_bytes(),
    );
    app.get("/api/v1/users/me", &valid).expect(200);

    let expired = sign(
        &json!({"sub": id, "role": "admin", "iat": t - 3660, "exp": t - 60}),
        JWT_SECRET.as_bytes(),
    );
    let res = app.get("/api/v1/users/me", &expired);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    let p = res.problem(401);
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
    app.get("/api/v1/customers", &expired).problem(401);
    app.post(
        "/api/v1/customers",
        &expired,
        &json!({"kind": "person", "name": "P"}),
    )
    .problem(401);
    let list = app
        .get("/api/v1/customers?include_total=true", &app.admin_token)
        .json();
    assert_eq!(list["total"], 0);
    // Without an expiry a token is not accepted at all.
    let eternal = sign(
        &json!({"sub": id, "role": "admin", "iat": t}),
        JWT_SECRET.as_bytes(),
    );
    app.get("/api/v1/users/me", &eternal).problem(401);
}

fn tampered_or_foreign_tokens_are_refused(app: &TestApp) {
    let viewer = new_user(app, "viewer@example.com", "viewer", true);
    let token = app.login("viewer@example.com", "password-123");
    app.get("/api/v1/users/me", &token).expect(200);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);

    // The payload rewritten to name the admin, keeping the viewer's signature.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["sub"], viewer["id"]);
    claims["sub"] = json!(admin_id(app));
    claims["role"] = json!("admin");
    let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    app.get("/api/v1/users/me", &forged).problem(401);
    app.get("/api/v1/users", &forged).problem(401);

    // A changed signature.
    let sig = parts[2];
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let bad_sig = format!("{}.{}.{}{}", parts[0], parts[1], flipped, &sig[1..]);
    app.get("/api/v1/users/me", &bad_sig).problem(401);
    // A truncated token and one without its signature.
    app.get("/api/v1/users/me", &token[..token.len() - 5])
        .problem(401);
    app.get("/api/v1/users/me", &format!("{}.{}.", parts[0], parts[1]))
        .problem(401);
    // `alg: none`.
    let none_header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    app.get(
        "/api/v1/users/me",
        &format!("{none_header}.{forged_payload}."),
    )
    .problem(401);
    // Signed with another secret.
    let t = now();
    let claims = json!({"sub": admin_id(app), "role": "admin", "iat": t, "exp": t + 600});
    let foreign = sign(&claims, b"some-other-secret-some-other-secret-0000");
    app.get("/api/v1/users/me", &foreign).problem(401);
    // Another algorithm with the right secret.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    app.get("/api/v1/users/me", &hs512).problem(401);
    // Correctly signed, but for a user that does not exist.
    let ghost = sign(
        &json!({"sub": "no-such-user", "role": "admin", "iat": t, "exp": t + 600}),
        JWT_SECRET.as_bytes(),
    );
    app.get("/api/v1/users/me", &ghost).problem(401);
    app.get("/api/v1/users/me", &token).expect(200);
}

fn token_role_claim_is_not_trusted(app: &TestApp) {
    let viewer = new_user(app, "lowly@example.com", "viewer", true);
    let t = now();
    let claims = json!({"sub": viewer["id"], "role": "admin", "iat": t, "exp": t + 600});
    let token = sign(&claims, JWT_SECRET.as_bytes());
    let me = app.get("/api/v1/users/me", &token).expect(200).json();
    assert_eq!(me["role"], "viewer", "the stored role applies");
    app.get("/api/v1/users", &token).problem(403);
    app.post(
        "/api/v1/customers",
        &token,
        &json!({"kind": "person", "name": "P"}),
    )
    .problem(403);
}

fn malformed_authorization_headers_are_refused(app: &TestApp) {
    let token = app.admin_token.clone();
    let cases = [
        "Bearer".to_string(),
        "Bearer ".to_string(),
        "Bearer    ".to_string(),
        token.clone(),
        format!("Token {token}"),
        format!(
            "Basic {}",
            URL_SAFE_NO_PAD.encode(format!("{ADMIN_EMAIL}:{ADMIN_PASSWORD}"))
        ),
        format!("Bearer{token}"),
        "Bearer a.b.c".to_string(),
        "Bearer not-a-token".to_string(),
        format!("Bearer {token} extra"),
    ];
    for value in &cases {
        let res = app.request(
            "GET",
            "/api/v1/customers",
            None,
            &[("Authorization", value)],
            None,
        );
        assert_eq!(res.header("www-authenticate"), Some("Bearer"), "{value}");
        res.problem(401);
    }
    let p = app
        .request("GET", "/api/v1/customers", None, &[], None)
        .problem(401);
    assert!(
        p["detail"].as_str().unwrap().contains("Authorization"),
        "{p}"
    );
    // A header that is not even text (the client library refuses to send
    // one, so it goes over a raw connection).
    let raw = raw_get(app, b"Authorization: Bearer \xff\xfe\r\n");
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert!(raw.contains("application/problem+json"), "{raw}");
    // The same token, well formed, is fine.
    app.request(
        "GET",
        "/api/v1/customers",
        None,
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
    .expect(200);
}

/// Sends `GET /api/v1/customers` with `extra` header lines over a plain TCP
/// connection and returns the whole answer as (lossy) text.
fn raw_get(app: &TestApp, extra: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let mut request = format!("GET /api/v1/customers HTTP/1.1\r\nHost: {addr}\r\n").into_bytes();
    request.extend_from_slice(extra);
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    stream.write_all(&request).expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Reading one record checks the caller inside the record's own query, so it
/// gets its own test: every way a caller stops being valid must refuse both
/// an existing record and a missing one with 401 (never the record, never a
/// 404 that would tell which ids exist).
fn reading_one_record_checks_the_caller(app: &TestApp) {
    let customer = app.customer(json!({"name": "Checked"}));
    let customer_id = customer["id"].as_str().unwrap().to_string();
    let contact = app
        .post(
            "/api/v1/contacts",
            &app.admin_token,
            &json!({"customer_id": customer_id, "first_name": "Ada"}),
        )
        .expect(201)
        .json();
    let contact_id = contact["id"].as_str().unwrap().to_string();
    let missing = uuid::Uuid::now_v7().to_string();
    let reads = |caller: &str, valid: bool| {
        for (path, id) in [("customers", &customer_id), ("contacts", &contact_id)] {
            let found = app.get(&format!("/api/v1/{path}/{id}"), caller);
            let absent = app.get(&format!("/api/v1/{path}/{missing}"), caller);
            if valid {
                assert_eq!(found.expect(200).json()["id"], json!(id));
                absent.problem(404);
            } else {
                found.problem(401);
                absent.problem(401);
            }
        }
    };
    let user = |email: &str| -> (String, String) {
        let created = new_user(app, email, "viewer", true);
        let id = created["id"].as_str().unwrap().to_string();
        (id, app.login(email, "password-123"))
    };

    // A deactivated user, and again once reactivated.
    let (id, token) = user("deactivated@example.com");
    reads(&token, true);
    app.patch(
        &format!("/api/v1/users/{id}"),
        &app.admin_token,
        &json!({"active": false}),
    )
    .expect(200);
    reads(&token, false);
    app.patch(
        &format!("/api/v1/users/{id}"),
        &app.admin_token,
        &json!({"active": true}),
    )
    .expect(200);
    reads(&token, true);

    // A deleted user.
    let (id, token) = user("deleted@example.com");
    reads(&token, true);
    app.delete(&format!("/api/v1/users/{id}"), &app.admin_token)
        .expect(204);
    reads(&token, false);

    // A password change revokes the tokens issued before it, even within the
    // same second (tokens carry whole seconds), and not the ones issued after.
    let (id, old_token) = user("changed@example.com");
    reads(&old_token, true);
    app.patch(
        &format!("/api/v1/users/{id}"),
        &app.admin_token,
        &json!({"password": "password-456"}),
    )
    .expect(200);
    reads(&old_token, false);
    reads(&app.login("changed@example.com", "password-456"), true);

    // A revoked API key, and one that expired.
    let key = |expires_at: Option<chrono::DateTime<chrono::Utc>>| -> (String, String) {
        let mut body = json!({"name": "reader", "role": "viewer"});
        if let Some(t) = expires_at {
            body["expires_at"] = json!(t.to_rfc3339());
        }
        let k = app
            .post("/api/v1/api-keys", &app.admin_token, &body)
            .expect(201)
            .json();
        (
            k["id"].as_str().unwrap().to_string(),
            k["key"].as_str().unwrap().to_string(),
        )
    };
    let (id, secret) = key(None);
    reads(&secret, true);
    app.delete(&format!("/api/v1/api-keys/{id}"), &app.admin_token)
        .expect(204);
    reads(&secret, false);
    let expires = chrono::Utc::now() + chrono::Duration::seconds(1);
    let (_, secret) = key(Some(expires));
    reads(&secret, true);
    if let Ok(wait) = (expires - chrono::Utc::now() + chrono::Duration::milliseconds(200)).to_std()
    {
        std::thread::sleep(wait);
    }
    reads(&secret, false);
    // An unknown key.
    reads("crm_0000000000000000000000000000000000000000000000", false);
}
