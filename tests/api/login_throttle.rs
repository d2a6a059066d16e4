//! Unauthenticated sign-ins are bounded: failed logins lock an account or a
//! client address for a growing time (shared by replicas), password hashes
//! run a few at a time, and an admin can see and clear an account's lock.

use std::sync::Barrier;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{Resp, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::{both_backends, both_backends_with};

both_backends!(
    five_failures_lock_an_account_whatever_the_password,
    unknown_and_known_emails_get_the_same_answers,
    a_successful_sign_in_clears_the_count,
    an_admin_sees_and_clears_a_lock,
);

/// A window of 30 s makes the first lock one second long.
const SHORT_WINDOW: &[(&str, &str)] = &[("CRM_LOGIN_WINDOW_SECS", "30")];
const ADDRESS_LIMIT: &[(&str, &str)] = &[("CRM_LOGIN_MAX_FAILURES_PER_ADDRESS", "3")];
const BEHIND_PROXY: &[(&str, &str)] = &[
    ("CRM_LOGIN_MAX_FAILURES_PER_ADDRESS", "2"),
    ("CRM_TRUSTED_PROXIES", "127.0.0.1"),
];
const ONE_HASH_NO_QUEUE: &[(&str, &str)] = &[
    ("CRM_HASH_CONCURRENCY", "1"),
    ("CRM_HASH_QUEUE", "0"),
    ("CRM_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
];

both_backends_with!(SHORT_WINDOW; locks_grow_and_pass);
both_backends_with!(ADDRESS_LIMIT; one_address_is_limited_over_many_emails);
both_backends_with!(BEHIND_PROXY; forwarded_for_counts_only_behind_a_trusted_proxy);
both_backends_with!(ONE_HASH_NO_QUEUE; hashing_beyond_capacity_answers_503);

fn login_from(app: &TestApp, email: &str, password: &str, forwarded_for: Option<&str>) -> Resp {
    let body = json!({"email": email, "password": password}).to_string();
    let headers: Vec<(&str, &str)> = forwarded_for
        .map(|f| vec![("X-Forwarded-For", f)])
        .unwrap_or_default();
    app.request(
        "POST",
        "/api/v1/auth/login",
        None,
        &headers,
        Some(body.as_bytes()),
    )
}

fn login(app: &TestApp, email: &str, password: &str) -> Resp {
    login_from(app, email, password, None)
}

fn retry_after(res: &Resp) -> i64 {
    res.header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After is whole seconds")
}

/// Asserts a 429 problem with `Retry-After`; returns the seconds.
#[track_caller]
fn throttled(res: Resp) -> i64 {
    let seconds = retry_after(&res);
    let p = res.problem(429);
    assert_eq!(p["type"], json!("urn:crm:problem:too_many_requests"));
    seconds
}

fn fail_times(app: &TestApp, email: &str, n: usize) {
    for _ in 0..n {
        login(app, email, "wrong-password").problem(401);
    }
}

fn five_failures_lock_an_account_whatever_the_password(app: &TestApp) {
    fail_times(app, ADMIN_EMAIL, 5);
    let seconds = throttled(login(app, ADMIN_EMAIL, ADMIN_PASSWORD));
    assert!((1..=30).contains(&seconds), "first lock is 30 s: {seconds}");
    throttled(login(app, ADMIN_EMAIL, "wrong-password"));
    // Another account from the same address is not affected.
    let other = app.token_for("agent");
    app.get("/api/v1/users/me", &other).expect(200);
    // Case and spaces name the same account.
    throttled(login(
        app,
        &format!("  {}  ", ADMIN_EMAIL.to_uppercase()),
        ADMIN_PASSWORD,
    ));
}

fn unknown_and_known_emails_get_the_same_answers(app: &TestApp) {
    let known = ADMIN_EMAIL;
    let unknown = "nobody-here@example.com";
    for _ in 0..5 {
        let a = login(app, known, "wrong-password");
        let b = login(app, unknown, "wrong-password");
        assert_eq!((a.status, &a.body), (b.status, &b.body));
    }
    let a = login(app, known, "wrong-password");
    let b = login(app, unknown, "wrong-password");
    assert_eq!(a.status, 429);
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    assert!((retry_after(&a) - retry_after(&b)).abs() <= 1);
}

fn a_successful_sign_in_clears_the_count(app: &TestApp) {
    fail_times(app, ADMIN_EMAIL, 4);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    fail_times(app, ADMIN_EMAIL, 5);
    throttled(login(app, ADMIN_EMAIL, ADMIN_PASSWORD));
}

fn locks_grow_and_pass(app: &TestApp) {
    fail_times(app, ADMIN_EMAIL, 5);
    assert_eq!(throttled(login(app, ADMIN_EMAIL, ADMIN_PASSWORD)), 1);
    std::thread::sleep(Duration::from_millis(1100));
    // The lock passed: the password is checked again; one more failure
    // doubles the lock.
    login(app, ADMIN_EMAIL, "wrong-password").problem(401);
    let second = throttled(login(app, ADMIN_EMAIL, ADMIN_PASSWORD));
    assert_eq!(second, 2, "the second lock is twice the first");
    std::thread::sleep(Duration::from_millis(2100));
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
}

fn one_address_is_limited_over_many_emails(app: &TestApp) {
    for i in 0..3 {
        login(app, &format!("spray-{i}@example.com"), "wrong-password").problem(401);
    }
    throttled(login(app, "spray-new@example.com", "wrong-password"));
    // The address is locked for every account, even with the right password.
    throttled(login(app, ADMIN_EMAIL, ADMIN_PASSWORD));
    // Tokens issued before keep working.
    app.get("/api/v1/users/me", &app.admin_token).expect(200);
}

fn forwarded_for_counts_only_behind_a_trusted_proxy(app: &TestApp) {
    // The peer (127.0.0.1) is a trusted proxy: the client is the address it forwards.
    let client = Some("203.0.113.9");
    login_from(app, "a@example.com", "wrong", client).problem(401);
    login_from(app, "b@example.com", "wrong", client).problem(401);
    throttled(login_from(app, "c@example.com", "wrong", client));
    // Another client behind the same proxy is not affected.
    login_from(app, "d@example.com", "wrong", Some("203.0.113.10")).problem(401);
    // Prepending an address does not escape: the nearest untrusted hop counts.
    throttled(login_from(
        app,
        "e@example.com",
        "wrong",
        Some("198.51.100.1, 203.0.113.9"),
    ));
}

#[test]
fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let app = TestApp::sqlite_with(&[("CRM_LOGIN_MAX_FAILURES_PER_ADDRESS", "2")]);
    login_from(&app, "a@example.com", "wrong", Some("203.0.113.1")).problem(401);
    login_from(&app, "b@example.com", "wrong", Some("203.0.113.2")).problem(401);
    // Both came from 127.0.0.1, whatever they claimed.
    throttled(login_from(
        &app,
        "c@example.com",
        "wrong",
        Some("203.0.113.3"),
    ));
}

fn an_admin_sees_and_clears_a_lock(app: &TestApp) {
    let user = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            &json!({"email": "locked@example.com", "name": "L", "role": "agent", "password": "password-123"}),
        )
        .expect(201)
        .json();
    let path = format!("/api/v1/users/{}/login-lock", user["id"].as_str().unwrap());
    let lock = app.get(&path, &app.admin_token).expect(200).json();
    assert_eq!(
        lock,
        json!({"failures": 0, "locked": false, "locked_until": null, "window_start": null})
    );
    fail_times(app, "locked@example.com", 5);
    throttled(login(app, "locked@example.com", "password-123"));
    let lock: Value = app.get(&path, &app.admin_token).expect(200).json();
    assert_eq!(lock["failures"], json!(5));
    assert_eq!(lock["locked"], json!(true));
    assert!(lock["locked_until"].is_string() && lock["window_start"].is_string());

    // Only an admin may see or clear it.
    let manager = app.token_for("manager");
    app.get(&path, &manager).problem(403);
    app.delete(&path, &manager).problem(403);
    app.request("DELETE", &path, None, &[], None).problem(401);
    throttled(login(app, "locked@example.com", "password-123"));

    app.delete(&path, &app.admin_token).expect(204);
    assert_eq!(
        app.get(&path, &app.admin_token).expect(200).json()["failures"],
        json!(0)
    );
    app.login("locked@example.com", "password-123");
    // Clearing twice is fine; an unknown user is 404.
    app.delete(&path, &app.admin_token).expect(204);
    app.delete("/api/v1/users/no-such-user/login-lock", &app.admin_token)
        .problem(404);
    app.get("/api/v1/users/no-such-user/login-lock", &app.admin_token)
        .problem(404);
}

fn hashing_beyond_capacity_answers_503(app: &TestApp) {
    const CALLERS: usize = 8;
    let barrier = Barrier::new(CALLERS);
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CALLERS)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    login(app, &format!("flood-{i}@example.com"), "wrong-password")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut busy = 0;
    let mut refused = 0;
    for res in answers {
        match res.status {
            401 => refused += 1,
            503 => {
                assert_eq!(res.header("retry-after"), Some("1"));
                res.problem(503);
                busy += 1;
            }
            other => panic!("unexpected {other}: {}", res.body),
        }
    }
    // One hash at a time and nobody may wait: overlapping callers are turned away.
    assert!(refused >= 1, "someone was checked");
    assert!(
        busy >= 1,
        "with one slot and no queue, some of {CALLERS} at once get 503"
    );
    // Once the burst is over, sign-in works.
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
}

#[test]
fn refused_sign_ins_are_answered_after_a_delay() {
    let app = TestApp::sqlite_with(&[("CRM_LOGIN_REFUSAL_DELAY_MS", "400")]);
    fail_times(&app, ADMIN_EMAIL, 5);
    // Refused once from the database, then from the lock remembered in the process.
    for _ in 0..2 {
        let started = std::time::Instant::now();
        throttled(login(&app, ADMIN_EMAIL, ADMIN_PASSWORD));
        assert!(started.elapsed() >= Duration::from_millis(400));
    }
}

#[test]
fn replicas_share_the_throttle() {
    let Some(a) = TestApp::postgres() else {
        return;
    };
    let b = a.replica(&[]);
    for _ in 0..3 {
        login(&a, ADMIN_EMAIL, "wrong-password").problem(401);
    }
    for _ in 0..2 {
        login(&b, ADMIN_EMAIL, "wrong-password").problem(401);
    }
    throttled(login(&a, ADMIN_EMAIL, ADMIN_PASSWORD));
    throttled(login(&b, ADMIN_EMAIL, ADMIN_PASSWORD));

    // Failures counted at once on both replicas all count.
    let c = "concurrent@example.com";
    std::thread::scope(|s| {
        for app in [&a, &b] {
            s.spawn(move || {
                for _ in 0..2 {
                    login(app, c, "wrong-password").problem(401);
                }
            });
        }
    });
    login(&a, c, "wrong-password").problem(401);
    throttled(login(&b, c, "wrong-password"));
}
