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
