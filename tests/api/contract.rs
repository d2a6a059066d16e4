//! The committed contract `openapi/openapi.json` is exactly what the code
//! serves. After an intended API change, regenerate it with
//! `cargo run -- openapi > openapi/openapi.json` (or run this test with
//! `UPDATE_OPENAPI=1`).

use crate::common::TestApp;

#[test]
fn committed_contract_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let generated = serde_json::to_value(crm::openapi()).expect("contract serializes");
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&generated).expect("pretty") + "\n";
        std::fs::write(path, text).expect("write contract");
    }
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json exists"))
            .expect("committed contract is JSON");
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code's contract; regenerate it with \
         `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn served_contract_is_the_committed_one() {
    let app = TestApp::sqlite();
    let served = app
        .request("GET", "/api/openapi.json", None, &[], None)
        .expect(200)
        .json();
    assert_eq!(served, serde_json::to_value(crm::openapi()).unwrap());
    assert_eq!(served["openapi"], "3.1.0");
    // Every operation but the public ones requires the bearer scheme.
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let public = path == "/api/v1/auth/login" || path == "/health" || path == "/ready";
            assert_eq!(op.get("security").is_some(), !public, "{method} {path}");
            assert!(
                op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|k| k.starts_with('2')),
                "{method} {path}"
            );
        }
    }
}

/// What every client relies on: a change or delete of a record can be made
/// conditional (`If-Match`, 412), and a create can be retried safely
/// (`Idempotency-Key`).
#[test]
fn record_changes_document_preconditions_and_creates_idempotency() {
    let doc = serde_json::to_value(crm::openapi()).unwrap();
    // Creating an API key refuses Idempotency-Key: a replay would have to
    // store the secret that is shown only once.
    const NO_REPLAY: &[&str] = &["/api/v1/api-keys"];
    let header_params = |op: &serde_json::Value| -> Vec<String> {
        op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "header")
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            let on_record = path.ends_with("{id}");
            if on_record && (method == "patch" || method == "delete") {
                assert!(
                    header_params(op).contains(&"If-Match".to_string()),
                    "{method} {path}"
                );
                assert!(statuses.iter().any(|s| *s == "412"), "{method} {path}");
                checked += 1;
            }
            if method == "post" && statuses.iter().any(|s| *s == "201") {
                let documented = header_params(op).contains(&"Idempotency-Key".to_string());
                assert_eq!(
                    documented,
                    !NO_REPLAY.contains(&path.as_str()),
                    "{method} {path}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 9, "found the record routes ({checked})");
}
