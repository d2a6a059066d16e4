//! One conformance suite for every resource: each resource describes itself
//! once ([`Resource`]), and the same checks run on every description, on
//! SQLite and on PostgreSQL. A failing test is named
//! `conformance::<resource>::<check>::<backend>`.
//!
//! Rules particular to one resource (normalization, uniqueness conflicts,
//! primary contacts, cascades, secrets shown once…) stay in that resource's
//! own test file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde_json::{json, Value};

use crate::common::{fields, Resp, TestApp};

// ---------------------------------------------------------------------------
// The description of a resource
// ---------------------------------------------------------------------------

pub const ROLES: [&str; 4] = ["viewer", "agent", "manager", "admin"];
pub const READERS: &[&str] = &["viewer", "agent", "manager", "admin"];
pub const WRITERS: &[&str] = &["agent", "manager", "admin"];
pub const DELETERS: &[&str] = &["manager", "admin"];
pub const ADMINS: &[&str] = &["admin"];
pub const NOBODY: &[&str] = &[];

/// Which roles may use each verb of a resource.
#[derive(Clone, Copy)]
pub struct Roles {
    /// The list, `GET {path}/{id}` and the record's history.
    pub read: &'static [&'static str],
    pub create: &'static [&'static str],
    pub update: &'static [&'static str],
    pub delete: &'static [&'static str],
}

/// What `Idempotency-Key` does on create.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Idempotency {
    /// Same key and body replay the answer; another body gets 422.
    Replays,
    /// The header is refused (422 naming it): nothing is created.
    Refused,
}

/// A list filter of the contract.
pub struct Filter {
    /// The query parameter, as named in the contract (`q` included).
    pub param: &'static str,
    /// Creates records that match and records that do not, and returns the
    /// parameter's value.
    pub prepare: fn(&Run) -> String,
    /// Whether a record belongs in the answer to `param=value`.
    pub holds: fn(&Value, &str) -> bool,
}

/// Another read route of a resource, with who may read it.
pub struct OtherRead {
    pub path: String,
    pub roles: &'static [&'static str],
}

/// What the conformance checks need to know about one resource.
pub struct Resource {
    /// Its name in the change feed (`/api/v1/events?resource=…`).
    pub feed: &'static str,
    /// The collection; each record is at `{path}/{id}`.
    pub path: &'static str,
    /// What records need (contacts: a company customer); handed to `create`.
    pub setup: fn(&TestApp) -> Value,
    /// A valid create body, different on every call (unique fields never collide).
    pub create: fn(&Value) -> Value,
    /// A valid merge patch that changes a record, different on every call;
    /// `None` when records cannot be changed.
    pub patch: Option<fn() -> Value>,
    /// `GET {path}/{id}` exists.
    pub read_one: bool,
    pub roles: Roles,
    pub idempotency: Idempotency,
    /// The `sort` values of the contract; empty when the list has one fixed order.
    pub sorts: &'static [&'static str],
    /// The order of a list asked for without `sort`.
    pub default_sort: &'static str,
    pub filters: Vec<Filter>,
    /// `{path}/{id}/history` (the record's events) exists.
    pub history: bool,
    /// Other read routes (besides the list, the record and its history),
    /// given the setup and a record id.
    pub other_reads: fn(&Value, &str) -> Vec<OtherRead>,
}

impl Resource {
    fn record(&self, id: &str) -> String {
        format!("{}/{id}", self.path)
    }

    fn history_of(&self, id: &str) -> Option<String> {
        self.history.then(|| format!("{}/{id}/history", self.path))
    }

    /// Every read route of a record with who may read it: the record, its
    /// history and the other reads.
    fn reads(&self, ctx: &Value, id: &str) -> Vec<OtherRead> {
        let mut reads = Vec::new();
        if self.read_one {
            reads.push(OtherRead {
                path: self.record(id),
                roles: self.roles.read,
            });
        }
        if let Some(path) = self.history_of(id) {
            reads.push(OtherRead {
                path,
                roles: self.roles.read,
            });
        }
        reads.extend((self.other_reads)(ctx, id));
        reads
    }
}

/// A short token, different on every call in this process, whose order
/// differs from the order of the calls (so name order is not creation order).
/// Lowercase hex only: every backend collation orders it the same way.
pub fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) as u32;
    format!("{:08x}", n.wrapping_mul(2_654_435_761))
}

fn none(_: &Value, _: &str) -> Vec<OtherRead> {
    Vec::new()
}

fn no_setup(_: &TestApp) -> Value {
    Value::Null
}

fn text(record: &Value, field: &str) -> String {
    record[field].as_str().unwrap_or_default().to_lowercase()
}

fn at(record: &Value, field: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let value = record[field].as_str().unwrap_or_else(|| panic!("{field}"));
    chrono::DateTime::parse_from_rfc3339(value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn time(value: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn created_at(record: &Value) -> String {
    record["created_at"]
        .as_str()
        .expect("created_at")
        .to_string()
}

/// `tag`: records carrying the tag (any resource with `tags`).
fn tag_filter() -> Filter {
    Filter {
        param: "tag",
        prepare: |run| {
            let tag = format!("t{}", unique());
            run.create(|b| b["tags"] = json!([tag, "other"]));
            run.create(|b| b["tags"] = json!(["other"]));
            tag
        },
        holds: |r, v| {
            r["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t == v))
        },
    }
}

/// `updated_since`: records changed at or after the time (any resource with a PATCH).
fn updated_since_filter() -> Filter {
    Filter {
        param: "updated_since",
        prepare: |run| {
            let changed = run.create(|_| {});
            run.create(|_| {});
            let changed = run.change(&changed);
            changed["updated_at"].as_str().unwrap().to_string()
        },
        holds: |r, v| at(r, "updated_at") >= time(v),
    }
}

/// A customer created by the run, with one order of `total` at `at`.
fn with_order(run: &Run, total: i64, at: &str) -> Value {
    let c = run.create(|_| {});
    run.app
        .post(
            "/api/v1/orders",
            &run.app.admin_token,
            &json!({"customer_id": c["id"], "ordered_at": at, "currency": "EUR",
                    "items": [{"sku": "S", "quantity": 1, "unit_price": total}]}),
        )
        .expect(201);
    c
}

pub fn customers() -> Resource {
    Resource {
        feed: "customers",
        path: "/api/v1/customers",
        setup: no_setup,
        create: |_| {
            let u = unique();
            json!({"kind": "company", "name": format!("c{u}"),
                   "email": format!("c{u}@example.com"), "external_id": format!("ext-{u}")})
        },
        patch: Some(|| json!({"name": format!("p{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "name",
            "-name",
            "total_spent",
            "-total_spent",
            "last_order_at",
            "-last_order_at",
        ],
        default_sort: "-created_at",
        filters: vec![
            Filter {
                param: "total_spent_min",
                prepare: |run| {
                    with_order(run, 5000, "2026-02-01T00:00:00Z");
                    run.create(|_| {});
                    "4000".into()
                },
                holds: |r, v| r["value"]["total_spent"].as_i64() >= v.parse().ok(),
            },
            Filter {
                param: "total_spent_max",
                prepare: |run| {
                    with_order(run, 5000, "2026-02-01T00:00:00Z");
                    run.create(|_| {});
                    "100".into()
                },
                holds: |r, v| r["value"]["total_spent"].as_i64() <= v.parse().ok(),
            },
            Filter {
                param: "order_count_min",
                prepare: |run| {
                    with_order(run, 5000, "2026-02-01T00:00:00Z");
                    run.create(|_| {});
                    "1".into()
                },
                holds: |r, v| r["value"]["order_count"].as_i64() >= v.parse().ok(),
            },
            Filter {
                param: "last_order_before",
                prepare: |run| {
                    with_order(run, 5000, "2020-02-01T00:00:00Z");
                    with_order(run, 5000, "2026-02-01T00:00:00Z");
                    "2021-01-01T00:00:00Z".into()
                },
                holds: |r, v| {
                    r["value"]["last_order_at"]
                        .as_str()
                        .is_some_and(|t| time(t) < time(v))
                },
            },
            Filter {
                param: "last_order_after",
                prepare: |run| {
                    with_order(run, 5000, "2020-02-01T00:00:00Z");
                    with_order(run, 5000, "2026-02-01T00:00:00Z");
                    "2021-01-01T00:00:00Z".into()
                },
                holds: |r, v| {
                    r["value"]["last_order_at"]
                        .as_str()
                        .is_some_and(|t| time(t) >= time(v))
                },
            },
            Filter {
                param: "kind",
                prepare: |run| {
                    run.create(|b| b["kind"] = json!("person"));
                    run.create(|b| b["kind"] = json!("company"));
                    "person".into()
                },
                holds: |r, v| r["kind"] == v,
            },
            Filter {
                param: "lifecycle_stage",
                prepare: |run| {
                    run.create(|b| b["lifecycle_stage"] = json!("churned"));
                    run.create(|b| b["lifecycle_stage"] = json!("active"));
                    "churned".into()
                },
                holds: |r, v| r["lifecycle_stage"] == v,
            },
            Filter {
                param: "tier",
                prepare: |run| {
                    run.create(|b| b["tier"] = json!("a"));
                    run.create(|b| b["tier"] = json!("b"));
                    "a".into()
                },
                holds: |r, v| r["tier"] == v,
            },
            Filter {
                param: "owner_id",
                prepare: |run| {
                    let owner = run
                        .app
                        .post(
                            "/api/v1/users",
                            &run.app.admin_token,
                            &json!({"email": format!("o{}@example.com", unique()),
                                    "name": "Owner", "role": "agent", "password": "password-123"}),
                        )
                        .expect(201)
                        .json();
                    run.create(|b| b["owner_id"] = owner["id"].clone());
                    run.create(|_| {});
                    id(&owner)
                },
                holds: |r, v| r["owner_id"] == v,
            },
            tag_filter(),
            Filter {
                param: "country",
                prepare: |run| {
                    run.create(|b| b["address"] = json!({"country": "DE"}));
                    run.create(|b| b["address"] = json!({"country": "FR"}));
                    "DE".into()
                },
                holds: |r, v| r["address"]["country"] == v,
            },
            Filter {
                param: "created_after",
                prepare: |run| {
                    run.create(|_| {});
                    let middle = run.create(|_| {});
                    run.create(|_| {});
                    created_at(&middle)
                },
                holds: |r, v| at(r, "created_at") >= time(v),
            },
            Filter {
                param: "created_before",
                prepare: |run| {
                    run.create(|_| {});
                    let middle = run.create(|_| {});
                    run.create(|_| {});
                    created_at(&middle)
                },
                holds: |r, v| at(r, "created_at") < time(v),
            },
            updated_since_filter(),
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["name"] = json!(format!("{word} company")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| {
                    let v = v.to_lowercase();
                    ["name", "email", "phone"]
                        .iter()
                        .any(|f| text(r, f).contains(&v))
                },
            },
        ],
        history: true,
        other_reads: |_, id| {
            vec![OtherRead {
                path: format!("/api/v1/customers/{id}/contacts"),
                roles: READERS,
            }]
        },
    }
}

pub fn contacts() -> Resource {
    Resource {
        feed: "contacts",
        path: "/api/v1/contacts",
        setup: |app| app.customer(json!({"kind": "company", "name": "Employer"})),
        create: |customer| {
            let u = unique();
            json!({"customer_id": customer["id"], "first_name": format!("f{u}"),
                   "email": format!("p{u}@example.com"), "external_id": format!("ext-{u}")})
        },
        patch: Some(|| json!({"title": format!("title {}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &["created_at", "-created_at", "updated_at", "-updated_at"],
        default_sort: "-created_at",
        filters: vec![
            Filter {
                param: "customer_id",
                prepare: |run| {
                    let other = run.app.customer(json!({"name": "Other employer"}));
                    run.create(|b| b["customer_id"] = other["id"].clone());
                    run.create(|_| {});
                    id(&other)
                },
                holds: |r, v| r["customer_id"] == v,
            },
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["last_name"] = json!(format!("{word}son")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| {
                    let v = v.to_lowercase();
                    ["first_name", "last_name", "email", "phone"]
                        .iter()
                        .any(|f| text(r, f).contains(&v))
                },
            },
        ],
        history: false,
        other_reads: |customer, _| {
            vec![OtherRead {
                path: format!("/api/v1/customers/{}/contacts", id(customer)),
                roles: READERS,
            }]
        },
    }
}

pub fn users() -> Resource {
    Resource {
        feed: "users",
        path: "/api/v1/users",
        setup: no_setup,
        create: |_| {
            let u = unique();
            json!({"email": format!("u{u}@example.com"), "name": format!("u{u}"),
                   "role": "viewer", "password": "password-123"})
        },
        patch: Some(|| json!({"name": format!("p{}", unique())})),
        read_one: true,
        roles: Roles {
            read: ADMINS,
            create: ADMINS,
            update: ADMINS,
            delete: ADMINS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[],
        default_sort: "created_at",
        filters: vec![
            Filter {
                param: "role",
                prepare: |run| {
                    run.create(|b| b["role"] = json!("agent"));
                    run.create(|b| b["role"] = json!("manager"));
                    "agent".into()
                },
                holds: |r, v| r["role"] == v,
            },
            Filter {
                param: "active",
                prepare: |run| {
                    run.create(|b| b["active"] = json!(false));
                    run.create(|b| b["active"] = json!(true));
                    "false".into()
                },
                holds: |r, v| r["active"] == v.parse::<bool>().expect("true or false"),
            },
        ],
        history: false,
        other_reads: |_, id| {
            vec![
                OtherRead {
                    path: format!("/api/v1/users/{id}/login-lock"),
                    roles: ADMINS,
                },
                OtherRead {
                    path: "/api/v1/users/me".into(),
                    roles: READERS,
                },
            ]
        },
    }
}

pub fn api_keys() -> Resource {
    Resource {
        feed: "api_keys",
        path: "/api/v1/api-keys",
        setup: no_setup,
        create: |_| json!({"name": format!("k{}", unique()), "role": "viewer"}),
        patch: None,
        read_one: false,
        roles: Roles {
            read: ADMINS,
            create: ADMINS,
            update: NOBODY,
            delete: ADMINS,
        },
        idempotency: Idempotency::Refused,
        sorts: &[],
        default_sort: "created_at",
        filters: Vec::new(),
        history: false,
        other_reads: none,
    }
}

pub fn orders() -> Resource {
    Resource {
        feed: "orders",
        path: "/api/v1/orders",
        setup: |app| app.customer(json!({"kind": "company", "name": "Buyer"})),
        create: |customer| {
            let u = unique();
            // Totals and times differ between records, so their sorts are not all ties.
            let price = i64::from_str_radix(&u[..4], 16).unwrap_or(1);
            json!({"customer_id": customer["id"], "number": format!("SO-{u}"),
                   "external_id": format!("ext-{u}"), "currency": "EUR",
                   "ordered_at": chrono::Utc::now().to_rfc3339(),
                   "items": [{"sku": format!("sku-{u}"), "quantity": 1, "unit_price": price}]})
        },
        patch: Some(|| json!({"tags": [format!("t{}", unique())]})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[
            "ordered_at",
            "-ordered_at",
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "total",
            "-total",
        ],
        default_sort: "-ordered_at",
        filters: vec![
            Filter {
                param: "customer_id",
                prepare: |run| {
                    let other = run.app.customer(json!({"name": "Other buyer"}));
                    run.create(|b| b["customer_id"] = other["id"].clone());
                    run.create(|_| {});
                    id(&other)
                },
                holds: |r, v| r["customer_id"] == v,
            },
            Filter {
                param: "status",
                prepare: |run| {
                    run.create(|b| b["status"] = json!("refunded"));
                    run.create(|b| b["status"] = json!("paid"));
                    "refunded".into()
                },
                holds: |r, v| r["status"] == v,
            },
            Filter {
                param: "currency",
                prepare: |run| {
                    run.create(|b| b["currency"] = json!("JPY"));
                    run.create(|_| {});
                    "jpy".into()
                },
                holds: |r, _| r["currency"] == "JPY",
            },
            Filter {
                param: "sku",
                prepare: |run| {
                    let sku = format!("only-{}", unique());
                    run.create(|b| b["items"][0]["sku"] = json!(sku));
                    run.create(|_| {});
                    sku
                },
                holds: |r, v| {
                    r["items"]
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| i["sku"] == v))
                },
            },
            tag_filter(),
            Filter {
                param: "ordered_after",
                prepare: |run| {
                    run.create(|b| b["ordered_at"] = json!("2020-01-01T00:00:00Z"));
                    run.create(|b| b["ordered_at"] = json!("2024-01-01T00:00:00Z"));
                    "2022-01-01T00:00:00Z".into()
                },
                holds: |r, v| at(r, "ordered_at") >= time(v),
            },
            Filter {
                param: "ordered_before",
                prepare: |run| {
                    run.create(|b| b["ordered_at"] = json!("2020-01-01T00:00:00Z"));
                    run.create(|b| b["ordered_at"] = json!("2024-01-01T00:00:00Z"));
                    "2022-01-01T00:00:00Z".into()
                },
                holds: |r, v| at(r, "ordered_at") < time(v),
            },
            Filter {
                param: "total_min",
                prepare: |run| {
                    run.create(|b| b["items"][0]["unit_price"] = json!(900_000));
                    run.create(|b| b["items"][0]["unit_price"] = json!(10));
                    "800000".into()
                },
                holds: |r, v| r["total"].as_i64() >= v.parse().ok(),
            },
            Filter {
                param: "total_max",
                prepare: |run| {
                    run.create(|b| b["items"][0]["unit_price"] = json!(900_000));
                    run.create(|b| b["items"][0]["unit_price"] = json!(10));
                    "100".into()
                },
                holds: |r, v| r["total"].as_i64() <= v.parse().ok(),
            },
            updated_since_filter(),
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["number"] = json!(format!("{word}-SO")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| text(r, "number").contains(&v.to_lowercase()),
            },
        ],
        history: true,
        other_reads: none,
    }
}

/// A stage of the default pipeline, by name.
fn default_stage(app: &TestApp, name: &str) -> String {
    let page = app
        .get("/api/v1/pipelines?is_default=true", &app.admin_token)
        .expect(200)
        .json();
    let stages = page["data"][0]["stages"]
        .as_array()
        .expect("stages")
        .clone();
    stages
        .iter()
        .find(|s| s["name"] == name)
        .map(id)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

pub fn pipelines() -> Resource {
    Resource {
        feed: "pipelines",
        path: "/api/v1/pipelines",
        setup: no_setup,
        create: |_| {
            json!({"name": format!("p{}", unique()), "stages": [
                {"name": "Talk", "probability": 20},
                {"name": "Won", "probability": 100, "kind": "won"},
                {"name": "Lost", "probability": 0, "kind": "lost"},
            ]})
        },
        patch: Some(|| json!({"name": format!("n{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: DELETERS,
            update: DELETERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &["created_at", "-created_at", "name", "-name"],
        default_sort: "created_at",
        filters: vec![Filter {
            param: "is_default",
            prepare: |run| {
                run.create(|b| b["is_default"] = json!(true));
                run.create(|_| {});
                "true".into()
            },
            holds: |r, v| r["is_default"] == v.parse::<bool>().expect("true or false"),
        }],
        history: true,
        other_reads: |_, id| {
            vec![OtherRead {
                path: format!("/api/v1/pipelines/{id}/stages"),
                roles: READERS,
            }]
        },
    }
}

pub fn opportunities() -> Resource {
    Resource {
        feed: "opportunities",
        path: "/api/v1/opportunities",
        setup: |app| app.customer(json!({"kind": "company", "name": "Prospect"})),
        create: |customer| {
            let u = unique();
            // Amounts and dates differ between records, so their sorts are not all ties.
            let n = i64::from_str_radix(&u[..4], 16).unwrap_or(1);
            let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).expect("date")
                + chrono::Duration::days(n % 700);
            json!({"customer_id": customer["id"], "name": format!("o{u}"), "amount": n,
                   "expected_close_date": day.to_string(), "external_id": format!("ext-{u}")})
        },
        patch: Some(|| json!({"tags": [format!("t{}", unique())]})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "amount",
            "-amount",
            "expected_close_date",
            "-expected_close_date",
            "name",
            "-name",
        ],
        default_sort: "-created_at",
        filters: vec![
            Filter {
                param: "customer_id",
                prepare: |run| {
                    let other = run.app.customer(json!({"name": "Other prospect"}));
                    run.create(|b| b["customer_id"] = other["id"].clone());
                    run.create(|_| {});
                    id(&other)
                },
                holds: |r, v| r["customer_id"] == v,
            },
            Filter {
                param: "pipeline_id",
                prepare: |run| {
                    let other = run
                        .app
                        .post(
                            "/api/v1/pipelines",
                            &run.app.admin_token,
                            &(pipelines().create)(&Value::Null),
                        )
                        .expect(201)
                        .json();
                    run.create(|b| b["pipeline_id"] = other["id"].clone());
                    run.create(|_| {});
                    id(&other)
                },
                holds: |r, v| r["pipeline_id"] == v,
            },
            Filter {
                param: "stage_id",
                prepare: |run| {
                    let stage = default_stage(run.app, "Proposal");
                    run.create(|b| b["stage_id"] = json!(stage));
                    run.create(|_| {});
                    stage
                },
                holds: |r, v| r["stage_id"] == v,
            },
            Filter {
                param: "status",
                prepare: |run| {
                    let won = default_stage(run.app, "Won");
                    run.create(|b| b["stage_id"] = json!(won));
                    run.create(|_| {});
                    "won".into()
                },
                holds: |r, v| r["status"] == v,
            },
            Filter {
                param: "owner_id",
                prepare: |run| {
                    let me = run
                        .app
                        .get("/api/v1/users/me", &run.app.admin_token)
                        .expect(200)
                        .json();
                    run.create(|b| b["owner_id"] = me["id"].clone());
                    run.create(|_| {});
                    id(&me)
                },
                holds: |r, v| r["owner_id"] == v,
            },
            tag_filter(),
            Filter {
                param: "amount_min",
                prepare: |run| {
                    run.create(|b| b["amount"] = json!(900_000));
                    run.create(|b| b["amount"] = json!(10));
                    "800000".into()
                },
                holds: |r, v| r["amount"].as_i64() >= v.parse().ok(),
            },
            Filter {
                param: "amount_max",
                prepare: |run| {
                    run.create(|b| b["amount"] = json!(900_000));
                    run.create(|b| b["amount"] = json!(10));
                    "100".into()
                },
                holds: |r, v| r["amount"].as_i64() <= v.parse().ok(),
            },
            Filter {
                param: "currency",
                prepare: |run| {
                    run.create(|b| b["currency"] = json!("JPY"));
                    run.create(|_| {});
                    "jpy".into()
                },
                holds: |r, _| r["currency"] == "JPY",
            },
            Filter {
                param: "expected_close_after",
                prepare: |run| {
                    run.create(|b| b["expected_close_date"] = json!("2031-05-01"));
                    run.create(|b| b["expected_close_date"] = Value::Null);
                    "2029-01-01".into()
                },
                holds: |r, v| r["expected_close_date"].as_str().is_some_and(|d| d >= v),
            },
            Filter {
                param: "expected_close_before",
                prepare: |run| {
                    run.create(|b| b["expected_close_date"] = json!("2026-05-01"));
                    run.create(|b| b["expected_close_date"] = Value::Null);
                    "2026-12-01".into()
                },
                holds: |r, v| r["expected_close_date"].as_str().is_some_and(|d| d < v),
            },
            Filter {
                param: "closed_after",
                prepare: |run| {
                    let won = default_stage(run.app, "Won");
                    run.create(|b| b["stage_id"] = json!(won));
                    run.create(|_| {});
                    "2000-01-01T00:00:00Z".into()
                },
                holds: |r, v| r["closed_at"].is_string() && at(r, "closed_at") >= time(v),
            },
            Filter {
                param: "closed_before",
                prepare: |run| {
                    let lost = default_stage(run.app, "Lost");
                    run.create(|b| {
                        b["stage_id"] = json!(lost);
                        b["lost_reason"] = json!("price");
                    });
                    run.create(|_| {});
                    "2100-01-01T00:00:00Z".into()
                },
                holds: |r, v| r["closed_at"].is_string() && at(r, "closed_at") < time(v),
            },
            Filter {
                param: "rotting",
                prepare: |run| {
                    use crm::db::schema::opportunities as o;
                    use diesel::prelude::*;
                    // Rotting takes days; the computation has its own test
                    // (sales.rs). Here one record started rotting long ago.
                    let old = run.create(|_| {});
                    run.create(|_| {});
                    let mut pooled = run.app.db();
                    let conn: &mut crm::db::DbConn = &mut pooled;
                    let long_ago = chrono::NaiveDate::from_ymd_opt(2001, 1, 1)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .expect("time");
                    diesel::update(o::table.find(id(&old)))
                        .set(o::rotting_at.eq(Some(long_ago)))
                        .execute(conn)
                        .expect("backdated");
                    "true".into()
                },
                holds: |r, v| r["rotting"] == v.parse::<bool>().expect("true or false"),
            },
            Filter {
                param: "created_after",
                prepare: |run| {
                    run.create(|_| {});
                    let later = run.create(|_| {});
                    created_at(&later)
                },
                holds: |r, v| at(r, "created_at") >= time(v),
            },
            Filter {
                param: "created_before",
                prepare: |run| {
                    run.create(|_| {});
                    let later = run.create(|_| {});
                    created_at(&later)
                },
                holds: |r, v| at(r, "created_at") < time(v),
            },
            updated_since_filter(),
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["name"] = json!(format!("{word} deal")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| text(r, "name").contains(&v.to_lowercase()),
            },
        ],
        history: true,
        other_reads: |_, id| {
            vec![OtherRead {
                path: format!("/api/v1/opportunities/{id}/stages"),
                roles: READERS,
            }]
        },
    }
}

pub fn leads() -> Resource {
    Resource {
        feed: "leads",
        path: "/api/v1/leads",
        setup: no_setup,
        create: |_| {
            let u = unique();
            let score = i64::from_str_radix(&u[..2], 16).unwrap_or(1) % 101;
            json!({"name": format!("l{u}"), "company_name": format!("Co {u}"),
                   "email": format!("l{u}@example.com"), "score": score,
                   "external_id": format!("ext-{u}")})
        },
        patch: Some(|| json!({"title": format!("t{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "score",
            "-score",
            "name",
            "-name",
        ],
        default_sort: "-created_at",
        filters: vec![
            Filter {
                param: "status",
                prepare: |run| {
                    run.create(|b| b["status"] = json!("qualified"));
                    run.create(|_| {});
                    "qualified".into()
                },
                holds: |r, v| r["status"] == v,
            },
            Filter {
                param: "source",
                prepare: |run| {
                    run.create(|b| b["source"] = json!("event"));
                    run.create(|b| b["source"] = json!("web"));
                    "event".into()
                },
                holds: |r, v| r["source"] == v,
            },
            Filter {
                param: "owner_id",
                prepare: |run| {
                    let me = run
                        .app
                        .get("/api/v1/users/me", &run.app.admin_token)
                        .expect(200)
                        .json();
                    run.create(|b| b["owner_id"] = me["id"].clone());
                    run.create(|_| {});
                    id(&me)
                },
                holds: |r, v| r["owner_id"] == v,
            },
            tag_filter(),
            Filter {
                param: "score_min",
                prepare: |run| {
                    run.create(|b| b["score"] = json!(100));
                    run.create(|b| b["score"] = json!(0));
                    "100".into()
                },
                holds: |r, v| r["score"].as_i64() >= v.parse().ok(),
            },
            Filter {
                param: "score_max",
                prepare: |run| {
                    run.create(|b| b["score"] = json!(100));
                    run.create(|b| b["score"] = json!(0));
                    "0".into()
                },
                holds: |r, v| r["score"].as_i64() <= v.parse().ok(),
            },
            Filter {
                param: "created_after",
                prepare: |run| {
                    run.create(|_| {});
                    let later = run.create(|_| {});
                    created_at(&later)
                },
                holds: |r, v| at(r, "created_at") >= time(v),
            },
            Filter {
                param: "created_before",
                prepare: |run| {
                    run.create(|_| {});
                    let later = run.create(|_| {});
                    created_at(&later)
                },
                holds: |r, v| at(r, "created_at") < time(v),
            },
            updated_since_filter(),
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["company_name"] = json!(format!("{word} Ltd")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| text(r, "company_name").contains(&v.to_lowercase()),
            },
        ],
        history: true,
        other_reads: none,
    }
}

pub fn activities() -> Resource {
    Resource {
        feed: "activities",
        path: "/api/v1/activities",
        setup: |app| app.customer(json!({"kind": "company", "name": "Talked to"})),
        create: |customer| {
            let u = unique();
            // Times differ between records, so their sorts are not all ties.
            let n = i64::from_str_radix(&u[..4], 16).unwrap_or(1);
            let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("time")
                + chrono::Duration::minutes(n);
            json!({"kind": "task", "subject": format!("a{u}"), "customer_id": customer["id"],
                   "occurred_at": at.to_rfc3339(),
                   "due_at": (at + chrono::Duration::days(400)).to_rfc3339()})
        },
        patch: Some(|| json!({"subject": format!("s{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[
            "occurred_at",
            "-occurred_at",
            "due_at",
            "-due_at",
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
        ],
        default_sort: "-occurred_at",
        filters: vec![
            Filter {
                param: "kind",
                prepare: |run| {
                    run.create(|b| {
                        b["kind"] = json!("meeting");
                        b["due_at"] = Value::Null;
                    });
                    run.create(|_| {});
                    "meeting".into()
                },
                holds: |r, v| r["kind"] == v,
            },
            Filter {
                param: "customer_id",
                prepare: |run| {
                    let other = run.app.customer(json!({"name": "Other"}));
                    run.create(|b| b["customer_id"] = other["id"].clone());
                    run.create(|_| {});
                    id(&other)
                },
                holds: |r, v| r["customer_id"] == v,
            },
            Filter {
                param: "contact_id",
                prepare: |run| {
                    let contact = run
                        .app
                        .post(
                            "/api/v1/contacts",
                            &run.app.admin_token,
                            &json!({"customer_id": run.ctx["id"], "first_name": "K"}),
                        )
                        .expect(201)
                        .json();
                    run.create(|b| b["contact_id"] = contact["id"].clone());
                    run.create(|_| {});
                    id(&contact)
                },
                holds: |r, v| r["contact_id"] == v,
            },
            Filter {
                param: "lead_id",
                prepare: |run| {
                    let lead = run
                        .app
                        .post("/api/v1/leads", &run.app.admin_token, &json!({"name": "L"}))
                        .expect(201)
                        .json();
                    run.create(|b| b["lead_id"] = lead["id"].clone());
                    run.create(|_| {});
                    id(&lead)
                },
                holds: |r, v| r["lead_id"] == v,
            },
            Filter {
                param: "opportunity_id",
                prepare: |run| {
                    let opp = run
                        .app
                        .post(
                            "/api/v1/opportunities",
                            &run.app.admin_token,
                            &json!({"customer_id": run.ctx["id"], "name": "O"}),
                        )
                        .expect(201)
                        .json();
                    run.create(|b| b["opportunity_id"] = opp["id"].clone());
                    run.create(|_| {});
                    id(&opp)
                },
                holds: |r, v| r["opportunity_id"] == v,
            },
            Filter {
                param: "ticket_id",
                prepare: |run| {
                    let ticket = run
                        .app
                        .post(
                            "/api/v1/tickets",
                            &run.app.admin_token,
                            &json!({"customer_id": run.ctx["id"], "subject": "T"}),
                        )
                        .expect(201)
                        .json();
                    run.create(|b| b["ticket_id"] = ticket["id"].clone());
                    run.create(|_| {});
                    id(&ticket)
                },
                holds: |r, v| r["ticket_id"] == v,
            },
            Filter {
                param: "owner_id",
                prepare: |run| {
                    let me = run
                        .app
                        .get("/api/v1/users/me", &run.app.admin_token)
                        .expect(200)
                        .json();
                    run.create(|b| b["owner_id"] = me["id"].clone());
                    run.create(|_| {});
                    id(&me)
                },
                holds: |r, v| r["owner_id"] == v,
            },
            Filter {
                param: "open_tasks",
                prepare: |run| {
                    run.create(|b| b["completed_at"] = json!("2026-02-01T00:00:00Z"));
                    run.create(|b| {
                        b["kind"] = json!("note");
                        b["due_at"] = Value::Null;
                    });
                    "true".into()
                },
                holds: |r, v| {
                    let open = r["kind"] == "task" && r["completed_at"].is_null();
                    open == v.parse::<bool>().expect("true or false")
                },
            },
            Filter {
                param: "due_before",
                prepare: |run| {
                    run.create(|b| b["due_at"] = json!("2020-01-01T00:00:00Z"));
                    run.create(|_| {});
                    "2021-01-01T00:00:00Z".into()
                },
                holds: |r, v| r["due_at"].is_string() && at(r, "due_at") < time(v),
            },
            Filter {
                param: "due_after",
                prepare: |run| {
                    run.create(|b| b["due_at"] = json!("2031-01-01T00:00:00Z"));
                    run.create(|b| {
                        b["kind"] = json!("note");
                        b["due_at"] = Value::Null;
                    });
                    "2030-01-01T00:00:00Z".into()
                },
                holds: |r, v| r["due_at"].is_string() && at(r, "due_at") >= time(v),
            },
            Filter {
                param: "overdue",
                prepare: |run| {
                    run.create(|b| b["due_at"] = json!("2020-01-01T00:00:00Z"));
                    run.create(|_| {});
                    "true".into()
                },
                holds: |r, v| r["overdue"] == v.parse::<bool>().expect("true or false"),
            },
            Filter {
                param: "occurred_after",
                prepare: |run| {
                    run.create(|b| b["occurred_at"] = json!("2030-01-01T00:00:00Z"));
                    run.create(|_| {});
                    "2029-01-01T00:00:00Z".into()
                },
                holds: |r, v| at(r, "occurred_at") >= time(v),
            },
            Filter {
                param: "occurred_before",
                prepare: |run| {
                    run.create(|b| b["occurred_at"] = json!("2020-01-01T00:00:00Z"));
                    run.create(|_| {});
                    "2021-01-01T00:00:00Z".into()
                },
                holds: |r, v| at(r, "occurred_at") < time(v),
            },
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["body"] = json!(format!("spoke about {word}")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| text(r, "body").contains(&v.to_lowercase()),
            },
        ],
        history: true,
        other_reads: none,
    }
}

pub fn business_hours() -> Resource {
    Resource {
        feed: "business_hours",
        path: "/api/v1/business-hours",
        setup: no_setup,
        create: |_| {
            json!({"name": format!("b{}", unique()), "timezone": "Europe/Berlin",
                   "openings": [{"day": "mon", "start": "09:00", "end": "17:30"}],
                   "holidays": ["2026-12-25"]})
        },
        patch: Some(|| json!({"name": format!("n{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: DELETERS,
            update: DELETERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &["created_at", "-created_at", "name", "-name"],
        default_sort: "created_at",
        filters: Vec::new(),
        history: true,
        other_reads: none,
    }
}

/// The same SLA target for every priority.
fn sla_targets(first_response_minutes: i64, resolution_minutes: i64) -> Value {
    let t = json!({"first_response_minutes": first_response_minutes,
                   "resolution_minutes": resolution_minutes});
    json!({"urgent": t, "high": t, "normal": t, "low": t})
}

/// Makes a new SLA policy the default (the first policy is the default
/// anyway); its targets are a year away, so no ticket breaches while a test runs.
fn default_policy(app: &TestApp) -> Value {
    app.post(
        "/api/v1/sla-policies",
        &app.admin_token,
        &json!({"name": format!("default {}", unique()), "is_default": true,
                "targets": sla_targets(525_600, 525_600)}),
    )
    .expect(201)
    .json()
}

pub fn sla_policies() -> Resource {
    Resource {
        feed: "sla_policies",
        path: "/api/v1/sla-policies",
        // The first policy is the default, which matches by nothing; every
        // other one matches by a channel or a tag.
        setup: default_policy,
        create: |_| {
            let u = unique();
            // Positions differ between records, so their sort is not all ties.
            let position = i64::from_str_radix(&u[..4], 16).unwrap_or(1) % 10_001;
            json!({"name": format!("s{u}"), "match_tag": format!("m{u}"), "position": position,
                   "targets": sla_targets(60, 480)})
        },
        patch: Some(|| json!({"name": format!("n{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: DELETERS,
            update: DELETERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &["position", "created_at", "-created_at"],
        default_sort: "position",
        filters: Vec::new(),
        history: true,
        other_reads: none,
    }
}

/// The earliest SLA target of a ticket still running (not met, not paused),
/// or far in the future when none is: the key of the `sla_due` sort.
fn sla_due(ticket: &Value) -> String {
    let solved = !ticket["solved_at"].is_null();
    let mut running = Vec::new();
    if ticket["first_responded_at"].is_null() && !solved {
        running.push(&ticket["first_response_due_at"]);
    }
    if !solved && ticket["sla"]["paused"] != true {
        running.push(&ticket["resolution_due_at"]);
    }
    running
        .into_iter()
        .filter_map(Value::as_str)
        .min_by_key(|t| time(t))
        .unwrap_or("9999-12-31T00:00:00Z")
        .to_string()
}

/// The key of the `priority` sort: urgent first.
fn priority_rank(priority: &Value) -> Option<&'static str> {
    match priority.as_str()? {
        "urgent" => Some("0"),
        "high" => Some("1"),
        "normal" => Some("2"),
        "low" => Some("3"),
        _ => None,
    }
}

fn me(app: &TestApp) -> Value {
    app.get("/api/v1/users/me", &app.admin_token)
        .expect(200)
        .json()
}

/// A customer to ask, and a default SLA policy whose targets differ by
/// priority and are days away (so the `sla_due` order is neither creation
/// order nor all ties, and no ticket breaches while a test runs).
fn tickets_setup(app: &TestApp) -> Value {
    let t = |days: i64| {
        json!({"first_response_minutes": days * 1440,
                               "resolution_minutes": days * 1440 * 7})
    };
    app.post(
        "/api/v1/sla-policies",
        &app.admin_token,
        &json!({"name": "Standard", "targets":
                {"urgent": t(1), "high": t(2), "normal": t(3), "low": t(4)}}),
    )
    .expect(201);
    app.customer(json!({"kind": "company", "name": "Requester"}))
}

pub fn tickets() -> Resource {
    Resource {
        feed: "tickets",
        path: "/api/v1/tickets",
        setup: tickets_setup,
        create: |customer| {
            let u = unique();
            // Priorities differ between records, so their sort is not all ties.
            let n = usize::from_str_radix(&u[..2], 16).unwrap_or(0);
            let priority = ["low", "normal", "high", "urgent"][n % 4];
            json!({"customer_id": customer["id"], "subject": format!("t{u}"),
                   "description": "It does not work.", "priority": priority,
                   "external_id": format!("ext-{u}")})
        },
        patch: Some(|| json!({"subject": format!("s{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "priority",
            "-priority",
            "sla_due",
            "number",
            "-number",
        ],
        default_sort: "-created_at",
        filters: vec![
            Filter {
                param: "status",
                prepare: |run| {
                    run.create(|b| b["status"] = json!("open"));
                    run.create(|_| {});
                    "open".into()
                },
                holds: |r, v| r["status"] == v,
            },
            Filter {
                param: "priority",
                prepare: |run| {
                    run.create(|b| b["priority"] = json!("urgent"));
                    run.create(|b| b["priority"] = json!("low"));
                    "urgent".into()
                },
                holds: |r, v| r["priority"] == v,
            },
            Filter {
                param: "channel",
                prepare: |run| {
                    run.create(|b| b["channel"] = json!("chat"));
                    run.create(|b| b["channel"] = json!("email"));
                    "chat".into()
                },
                holds: |r, v| r["channel"] == v,
            },
            Filter {
                param: "assignee_id",
                prepare: |run| {
                    let me = me(run.app);
                    run.create(|b| b["assignee_id"] = me["id"].clone());
                    run.create(|_| {});
                    id(&me)
                },
                holds: |r, v| r["assignee_id"] == v,
            },
            Filter {
                param: "unassigned",
                prepare: |run| {
                    let me = me(run.app);
                    run.create(|b| b["assignee_id"] = me["id"].clone());
                    run.create(|_| {});
                    "true".into()
                },
                holds: |r, v| {
                    r["assignee_id"].is_null() == v.parse::<bool>().expect("true or false")
                },
            },
            Filter {
                param: "customer_id",
                prepare: |run| {
                    let other = run.app.customer(json!({"name": "Other requester"}));
                    run.create(|b| b["customer_id"] = other["id"].clone());
                    run.create(|_| {});
                    id(&other)
                },
                holds: |r, v| r["customer_id"] == v,
            },
            Filter {
                param: "contact_id",
                prepare: |run| {
                    let contact = run
                        .app
                        .post(
                            "/api/v1/contacts",
                            &run.app.admin_token,
                            &json!({"customer_id": run.ctx["id"], "first_name": "K"}),
                        )
                        .expect(201)
                        .json();
                    run.create(|b| b["contact_id"] = contact["id"].clone());
                    run.create(|_| {});
                    id(&contact)
                },
                holds: |r, v| r["contact_id"] == v,
            },
            tag_filter(),
            Filter {
                param: "sla_breached",
                prepare: |run| {
                    use crm::db::schema::tickets as t;
                    use diesel::prelude::*;
                    // Breaching takes at least a minute; the SLA clock has
                    // its own tests. Here one ticket's first response was
                    // due long ago.
                    default_policy(run.app);
                    let late = run.create(|_| {});
                    run.create(|_| {});
                    let mut pooled = run.app.db();
                    let conn: &mut crm::db::DbConn = &mut pooled;
                    let long_ago = chrono::NaiveDate::from_ymd_opt(2001, 1, 1)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .expect("time");
                    diesel::update(t::table.find(id(&late)))
                        .set((
                            t::first_response_due_at.eq(Some(long_ago)),
                            t::sla_due_sort.eq(long_ago),
                        ))
                        .execute(conn)
                        .expect("backdated");
                    "true".into()
                },
                holds: |r, v| {
                    let breached = ["first_response", "resolution"]
                        .iter()
                        .any(|target| r["sla"][target] == "breached");
                    breached == v.parse::<bool>().expect("true or false")
                },
            },
            Filter {
                param: "sla_due_before",
                prepare: |run| {
                    // Tickets with this tag are due in an hour; the others
                    // in days or a year (the default policies) or never
                    // (made before any policy).
                    default_policy(run.app);
                    let tag = format!("t{}", unique());
                    run.app
                        .post(
                            "/api/v1/sla-policies",
                            &run.app.admin_token,
                            &json!({"name": format!("p{}", unique()), "match_tag": tag,
                                    "targets": sla_targets(60, 120)}),
                        )
                        .expect(201);
                    let soon = run.create(|b| b["tags"] = json!([tag]));
                    run.create(|_| {});
                    (at(&soon, "created_at") + chrono::Duration::hours(2)).to_rfc3339()
                },
                holds: |r, v| time(&sla_due(r)) < time(v),
            },
            Filter {
                param: "created_after",
                prepare: |run| {
                    run.create(|_| {});
                    let later = run.create(|_| {});
                    created_at(&later)
                },
                holds: |r, v| at(r, "created_at") >= time(v),
            },
            Filter {
                param: "created_before",
                prepare: |run| {
                    run.create(|_| {});
                    let later = run.create(|_| {});
                    created_at(&later)
                },
                holds: |r, v| at(r, "created_at") < time(v),
            },
            updated_since_filter(),
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["description"] = json!(format!("It is about {word}s.")));
                    run.create(|b| b["subject"] = json!(format!("{word} again")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| {
                    let v = v.to_lowercase();
                    ["subject", "description"]
                        .iter()
                        .any(|f| text(r, f).contains(&v))
                },
            },
        ],
        history: true,
        // `/api/v1/tickets/by-number/{number}` needs more than the id.
        other_reads: |_, id| {
            vec![OtherRead {
                path: format!("/api/v1/tickets/{id}/comments"),
                roles: READERS,
            }]
        },
    }
}

fn all_resources() -> Vec<Resource> {
    vec![
        customers(),
        contacts(),
        users(),
        api_keys(),
        orders(),
        pipelines(),
        opportunities(),
        leads(),
        activities(),
        business_hours(),
        sla_policies(),
        tickets(),
        articles(),
    ]
}

pub fn articles() -> Resource {
    Resource {
        feed: "articles",
        path: "/api/v1/articles",
        setup: no_setup,
        create: |_| {
            let u = unique();
            json!({"title": format!("How to a{u}"), "body": "Open the settings page.",
                   "status": "published", "tags": ["kb"]})
        },
        patch: Some(|| json!({"title": format!("Why b{}", unique())})),
        read_one: true,
        roles: Roles {
            read: READERS,
            create: WRITERS,
            update: WRITERS,
            delete: DELETERS,
        },
        idempotency: Idempotency::Replays,
        sorts: &[
            "created_at",
            "-created_at",
            "updated_at",
            "-updated_at",
            "title",
            "-title",
        ],
        default_sort: "-created_at",
        filters: vec![
            // A search: every word of q in the title or body, in any form.
            Filter {
                param: "q",
                prepare: |run| {
                    let word = format!("w{}", unique());
                    run.create(|b| b["body"] = json!(format!("Restart the {word} first.")));
                    run.create(|_| {});
                    word.to_uppercase()
                },
                holds: |r, v| text(r, "body").contains(&v.to_lowercase()),
            },
            Filter {
                param: "status",
                prepare: |run| {
                    run.create(|b| b["status"] = json!("draft"));
                    run.create(|_| {});
                    "draft".into()
                },
                holds: |r, v| r["status"] == v,
            },
            Filter {
                param: "author_id",
                prepare: |run| {
                    let agent = run.app.token_for("agent");
                    let me = run.app.get("/api/v1/users/me", &agent).expect(200).json();
                    run.create(|b| b["author_id"] = me["id"].clone());
                    run.create(|_| {});
                    id(&me)
                },
                holds: |r, v| r["author_id"] == v,
            },
            tag_filter(),
            updated_since_filter(),
        ],
        history: true,
        other_reads: none,
    }
}

// ---------------------------------------------------------------------------
// Running checks against one app
// ---------------------------------------------------------------------------

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("record id").to_string()
}

fn etag_of(version: &Value) -> String {
    format!("\"{}\"", version.as_i64().expect("version"))
}

fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// One resource on one running app, with what its setup made.
pub struct Run<'a> {
    pub app: &'a TestApp,
    pub res: &'a Resource,
    pub ctx: Value,
}

impl<'a> Run<'a> {
    fn new(app: &'a TestApp, res: &'a Resource) -> Self {
        Run {
            app,
            res,
            ctx: (res.setup)(app),
        }
    }

    fn body(&self) -> Value {
        (self.res.create)(&self.ctx)
    }

    /// Creates a record (as admin) from a fresh body changed by `edit`.
    pub fn create(&self, edit: impl FnOnce(&mut Value)) -> Value {
        let mut body = self.body();
        edit(&mut body);
        self.app
            .post(self.res.path, &self.app.admin_token, &body)
            .expect(201)
            .json()
    }

    /// Applies a fresh patch (as admin); returns the changed record.
    pub fn change(&self, record: &Value) -> Value {
        let patch = self.res.patch.expect("a resource that can be changed")();
        let changed = self
            .app
            .patch(&self.res.record(&id(record)), &self.app.admin_token, &patch)
            .expect(200)
            .json();
        assert_ne!(
            changed["version"], record["version"],
            "the patch changed it"
        );
        changed
    }

    /// Every record of the list, as admin.
    fn all(&self) -> Vec<Value> {
        self.pages("", 500, || {})
    }

    /// The record as the list or `GET` shows it, if it exists.
    fn find(&self, record_id: &str) -> Option<Value> {
        if self.res.read_one {
            let res = self
                .app
                .get(&self.res.record(record_id), &self.app.admin_token);
            match res.status {
                200 => Some(res.json()),
                404 => None,
                other => panic!("GET {record_id}: {other} {}", res.body),
            }
        } else {
            self.all().into_iter().find(|r| r["id"] == record_id)
        }
    }

    /// Pages through the list with `query` (may be empty), calling `between`
    /// before each page after the first.
    fn pages(&self, query: &str, limit: usize, mut between: impl FnMut()) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if query.is_empty() { "" } else { "&" };
        loop {
            let url = match &cursor {
                Some(c) => format!(
                    "{}?limit={limit}{sep}{query}&cursor={}",
                    self.res.path,
                    enc(c)
                ),
                None => format!("{}?limit={limit}{sep}{query}", self.res.path),
            };
            let page = self.app.get(&url, &self.app.admin_token).expect(200).json();
            let data = page["data"].as_array().expect("data");
            assert!(data.len() <= limit, "{url}: more than {limit} records");
            assert!(
                page.get("total").is_none(),
                "{url}: total only when asked for"
            );
            all.extend(data.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert!(!data.is_empty(), "{url}: an empty page with a cursor");
                    cursor = Some(c.to_string());
                }
                None => break,
            }
            assert!(all.len() < 5000, "{url}: paging does not end");
            between();
        }
        all
    }
}

fn token(app: &TestApp, role: &str) -> String {
    if role == "admin" {
        app.admin_token.clone()
    } else {
        app.token_for(role)
    }
}

/// The events of the feed about `resource` after `after`, and where it ends.
fn feed(app: &TestApp, resource: &str, after: i64) -> (Vec<Value>, i64) {
    let mut events = Vec::new();
    let mut after = after;
    loop {
        let page = app
            .get(
                &format!("/api/v1/events?after={after}&limit=500&resource={resource}"),
                &app.admin_token,
            )
            .expect(200)
            .json();
        events.extend(page["data"].as_array().expect("data").iter().cloned());
        after = page["next_after"].as_i64().expect("next_after");
        if page["has_more"] != true {
            return (events, after);
        }
    }
}

fn actions_of(events: &[Value], record_id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["record_id"] == record_id)
        .map(|e| e["action"].as_str().unwrap_or("?").to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------

/// Each role against each verb: a role that may not gets 403 before its body
/// is even read (and nothing changes); a role that may succeeds. Every route
/// answers 401 without credentials or with a bad token.
pub fn roles(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    let tokens: Vec<(&str, String)> = ROLES.iter().map(|r| (*r, token(app, r))).collect();
    let target = run.create(|_| {});
    let target_id = id(&target);
    let url = res.record(&target_id);
    let bad_bodies: [&[u8]; 2] = [b"{oops", b"{\"no_such_field\": [1]}"];
    for (role, token) in &tokens {
        let may = |roles: &[&str]| roles.contains(role);
        let what = |verb: &str| format!("{} {verb} by {role}", res.feed);

        let list = app.get(res.path, token);
        if may(res.roles.read) {
            list.expect(200);
        } else {
            list.problem(403);
        }
        for read in res.reads(&run.ctx, &target_id) {
            let got = app.get(&read.path, token);
            assert_eq!(
                got.status,
                if read.roles.contains(role) { 200 } else { 403 },
                "{}: {}",
                what(&format!("GET {}", read.path)),
                got.body
            );
        }

        let before = run.all().len();
        if may(res.roles.create) {
            let made = app.post(res.path, token, &run.body()).expect(201).json();
            assert_eq!(run.all().len(), before + 1, "{}", what("create"));
            assert!(run.find(&id(&made)).is_some(), "{}", what("create"));
        } else {
            for body in bad_bodies {
                let p = app
                    .request("POST", res.path, Some(token), &[], Some(body))
                    .problem(403);
                assert!(fields(&p).is_empty(), "{}: {p}", what("create"));
            }
            app.post(res.path, token, &run.body()).problem(403);
            assert_eq!(
                run.all().len(),
                before,
                "{}: nothing created",
                what("create")
            );
        }

        if let Some(patch) = res.patch {
            let before = run.find(&target_id).expect("target");
            if may(res.roles.update) {
                let changed = app.patch(&url, token, &patch()).expect(200).json();
                assert_ne!(changed["version"], before["version"], "{}", what("update"));
            } else {
                for body in bad_bodies {
                    app.request("PATCH", &url, Some(token), &[], Some(body))
                        .problem(403);
                }
                app.patch(&url, token, &patch()).problem(403);
                assert_eq!(
                    run.find(&target_id).as_ref(),
                    Some(&before),
                    "{}: nothing changed",
                    what("update")
                );
            }
        }

        if may(res.roles.delete) {
            let victim = id(&run.create(|_| {}));
            let res_ = app.delete(&res.record(&victim), token).expect(204);
            assert!(res_.body.is_empty());
            assert!(run.find(&victim).is_none(), "{}", what("delete"));
        } else {
            app.delete(&url, token).problem(403);
            assert!(
                run.find(&target_id).is_some(),
                "{}: still there",
                what("delete")
            );
        }
    }

    // Without credentials, or with a bad token, every route answers 401.
    let patch_body = res.patch.map(|p| p().to_string());
    let create_body = run.body().to_string();
    let mut routes: Vec<(&str, String, Option<&str>)> = vec![
        ("GET", res.path.to_string(), None),
        ("POST", res.path.to_string(), Some(&create_body)),
        ("DELETE", url.clone(), None),
    ];
    if let Some(body) = &patch_body {
        routes.push(("PATCH", url.clone(), Some(body)));
    }
    for read in res.reads(&run.ctx, &target_id) {
        routes.push(("GET", read.path, None));
    }
    let before = run.all();
    for (method, path, body) in &routes {
        for auth in [
            None,
            Some("Bearer not-a-token"),
            Some("Bearer crm_not_a_key"),
            Some("Basic YWRtaW46YWRtaW4="),
            Some(""),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("Authorization", a)).into_iter().collect();
            let got = app.request(method, path, None, &headers, body.map(str::as_bytes));
            assert_eq!(
                got.status, 401,
                "{method} {path} with {auth:?}: {}",
                got.body
            );
            got.problem(401);
        }
    }
    assert_eq!(run.all(), before, "refused requests changed nothing");
    // The scheme's name is case-insensitive.
    for scheme in ["bearer", "BEARER"] {
        let auth = format!("{scheme} {}", app.admin_token);
        app.request("GET", res.path, None, &[("Authorization", &auth)], None)
            .expect(200);
    }
}

/// An unknown id is 404 on every verb of a record.
pub fn not_found(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    run.create(|_| {});
    let fresh = uuid::Uuid::now_v7().to_string();
    for unknown in [fresh.as_str(), "no-such-record"] {
        let url = res.record(unknown);
        if res.read_one {
            app.get(&url, &app.admin_token).problem(404);
        }
        if let Some(patch) = res.patch {
            app.patch(&url, &app.admin_token, &patch()).problem(404);
        }
        app.delete(&url, &app.admin_token).problem(404);
        // A record that never existed has no history either.
        if let Some(history) = res.history_of(unknown) {
            app.get(&history, &app.admin_token).problem(404);
        }
    }
    // A deleted record is unknown too (its history, deletion included, stays).
    let gone = id(&run.create(|_| {}));
    app.delete(&res.record(&gone), &app.admin_token).expect(204);
    if let Some(history) = res.history_of(&gone) {
        app.get(&history, &app.admin_token).expect(200);
    }
    if res.read_one {
        app.get(&res.record(&gone), &app.admin_token).problem(404);
    }
    if let Some(patch) = res.patch {
        app.patch(&res.record(&gone), &app.admin_token, &patch())
            .problem(404);
    }
    app.delete(&res.record(&gone), &app.admin_token)
        .problem(404);
}

/// An unknown field in a create or patch body is 422 naming it; nothing changes.
pub fn unknown_fields(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    let record = run.create(|_| {});
    let before = run.all();
    for field in ["nickname", "zz_unknown"] {
        let mut body = run.body();
        body[field] = json!("x");
        let p = app.post(res.path, &app.admin_token, &body).problem(422);
        assert_eq!(fields(&p), vec![field.to_string()], "create: {p}");
        if let Some(patch) = res.patch {
            let mut body = patch();
            body[field] = json!("x");
            let p = app
                .patch(&res.record(&id(&record)), &app.admin_token, &body)
                .problem(422);
            assert_eq!(fields(&p), vec![field.to_string()], "patch: {p}");
            // `null` removes a field in a merge patch: an unknown one is
            // refused all the same.
            let p = app
                .patch(
                    &res.record(&id(&record)),
                    &app.admin_token,
                    &json!({ field: null }),
                )
                .problem(422);
            assert_eq!(fields(&p), vec![field.to_string()], "patch null: {p}");
        }
    }
    assert_eq!(run.all(), before, "refused bodies changed nothing");
}

/// Strong ETags carry the version; a stale `If-Match` is 412 and changes
/// nothing, the current one succeeds.
pub fn etags(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    let created = app
        .post(res.path, &app.admin_token, &run.body())
        .expect(201);
    let record = created.json();
    let url = res.record(&id(&record));
    let mut current = etag_of(&record["version"]);
    match created.header("etag") {
        Some(tag) => assert_eq!(tag, current, "create answers the version as a strong ETag"),
        None => panic!("create answers with an ETag"),
    }
    if res.read_one {
        let got = app.get(&url, &app.admin_token).expect(200);
        assert_eq!(got.header("etag"), Some(current.as_str()));
        assert_eq!(got.json(), record);
    }
    let t = Some(app.admin_token.as_str());
    if let Some(patch) = res.patch {
        let stale_tags = [
            "\"0\"".to_string(),
            format!("W/{current}"),
            format!("\"{}\"", record["version"].as_i64().unwrap() + 1),
        ];
        for stale in &stale_tags {
            let body = patch().to_string();
            let p = app
                .request(
                    "PATCH",
                    &url,
                    t,
                    &[("If-Match", stale)],
                    Some(body.as_bytes()),
                )
                .problem(412);
            assert!(p["detail"].as_str().unwrap().contains("If-Match"), "{p}");
            assert_eq!(
                run.find(&id(&record)).as_ref(),
                Some(&record),
                "{stale} changed nothing"
            );
        }
        let body = patch().to_string();
        let changed = app
            .request(
                "PATCH",
                &url,
                t,
                &[("If-Match", &current)],
                Some(body.as_bytes()),
            )
            .expect(200);
        let now = changed.json();
        assert_eq!(now["version"], record["version"].as_i64().unwrap() + 1);
        let next = etag_of(&now["version"]);
        assert_eq!(changed.header("etag"), Some(next.as_str()));
        if res.read_one {
            let got = app.get(&url, &app.admin_token).expect(200);
            assert_eq!(got.header("etag"), Some(next.as_str()));
        }
        // The tag that was current before is stale now.
        let body = patch().to_string();
        app.request(
            "PATCH",
            &url,
            t,
            &[("If-Match", &current)],
            Some(body.as_bytes()),
        )
        .problem(412);
        // A list of tags matches when one of them does.
        let list = format!("\"0\", {current}, {next}");
        let body = patch().to_string();
        let changed = app
            .request(
                "PATCH",
                &url,
                t,
                &[("If-Match", &list)],
                Some(body.as_bytes()),
            )
            .expect(200)
            .json();
        current = etag_of(&changed["version"]);
    }
    let before = run.find(&id(&record)).expect("still there");
    let mut stale_tags = vec!["\"0\"".to_string(), format!("W/{current}"), "\"99\"".into()];
    if current != etag_of(&record["version"]) {
        stale_tags.push(etag_of(&record["version"]));
    }
    for stale in stale_tags {
        app.request("DELETE", &url, t, &[("If-Match", &stale)], None)
            .problem(412);
        assert_eq!(
            run.find(&id(&record)).as_ref(),
            Some(&before),
            "{stale} deleted nothing"
        );
    }
    let tags = match res.patch {
        Some(_) => current,
        None => format!("\"0\", {current}"),
    };
    app.request("DELETE", &url, t, &[("If-Match", &tags)], None)
        .expect(204);
    assert!(run.find(&id(&record)).is_none());
}

/// `Idempotency-Key`: the same key and body replay the answer, another body
/// is 422, and one record is made however often it is sent. Resources that
/// refuse the header create nothing.
pub fn idempotency(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    run.create(|_| {});
    let before = run.all();
    let (_, seq) = feed(app, res.feed, 0);
    let t = Some(app.admin_token.as_str());
    let body = run.body().to_string();
    let key = [("Idempotency-Key", "conformance-1")];
    match res.idempotency {
        Idempotency::Refused => {
            let p = app
                .request("POST", res.path, t, &key, Some(body.as_bytes()))
                .problem(422);
            assert_eq!(fields(&p), vec!["Idempotency-Key"]);
            assert_eq!(run.all(), before, "nothing created");
            assert_eq!(feed(app, res.feed, seq).0, Vec::<Value>::new());
            app.request("POST", res.path, t, &[], Some(body.as_bytes()))
                .expect(201);
        }
        Idempotency::Replays => {
            let first = app
                .request("POST", res.path, t, &key, Some(body.as_bytes()))
                .expect(201);
            let made = first.json();
            let location = res.record(&id(&made));
            assert_eq!(first.header("location"), Some(location.as_str()));
            for _ in 0..2 {
                let again = app
                    .request("POST", res.path, t, &key, Some(body.as_bytes()))
                    .expect(201);
                assert_eq!(again.json(), made, "the same answer");
                assert_eq!(again.header("location"), Some(location.as_str()));
                assert_eq!(again.header("etag"), first.header("etag"));
                assert_eq!(again.header("idempotent-replayed"), Some("true"));
            }
            assert_eq!(first.header("idempotent-replayed"), None);
            let other = run.body().to_string();
            app.request("POST", res.path, t, &key, Some(other.as_bytes()))
                .problem(422);
            let after = run.all();
            assert_eq!(after.len(), before.len() + 1, "one record made");
            let (events, _) = feed(app, res.feed, seq);
            let created: Vec<&Value> = events.iter().filter(|e| e["action"] == "created").collect();
            assert_eq!(created.len(), 1, "one event: {events:?}");
            assert_eq!(created[0]["record_id"], made["id"]);
        }
    }
}

/// What a page sequence must be: in the sort's order (by the sort's field,
/// then id), every original record exactly once.
pub fn verify_pages(sort: &str, originals: &[String], seen: &[Value]) -> Result<(), String> {
    let field = sort.trim_start_matches('-');
    let desc = sort.starts_with('-');
    let key = |r: &Value| -> Result<(String, String), String> {
        // Derived figures sort by the base currency's value; never is the epoch.
        let computed;
        let raw = match field {
            "total_spent" | "last_order_at" => &r["value"][field],
            // Tickets: urgent first; the earliest running SLA target.
            "priority" => {
                computed = json!(priority_rank(&r[field]));
                &computed
            }
            "sla_due" => {
                computed = json!(sla_due(r));
                &computed
            }
            _ => &r[field],
        };
        let padded;
        let value = match raw {
            Value::Number(n) => {
                padded = format!("{:020}", n.as_i64().unwrap_or_default());
                padded.as_str()
            }
            Value::Null if field == "last_order_at" => "1970-01-01T00:00:00Z",
            // Opportunities without an expected close date sort after every date.
            Value::Null if field == "expected_close_date" => "9999-12-31",
            // Activities without a due time sort after every time.
            Value::Null if field == "due_at" => "9999-12-31T00:00:00Z",
            other => other
                .as_str()
                .ok_or_else(|| format!("{r} has no {field}"))?,
        };
        let value = if field.ends_with("_at") || field == "sla_due" {
            chrono::DateTime::parse_from_rfc3339(value)
                .map_err(|e| format!("{value}: {e}"))?
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.9f")
                .to_string()
        } else {
            value.to_string()
        };
        let id = r["id"].as_str().ok_or_else(|| format!("{r} has no id"))?;
        Ok((value, id.to_string()))
    };
    let keys = seen.iter().map(key).collect::<Result<Vec<_>, _>>()?;
    for (i, pair) in keys.windows(2).enumerate() {
        let ordered = if desc {
            pair[0] > pair[1]
        } else {
            pair[0] < pair[1]
        };
        if !ordered {
            return Err(format!(
                "not ordered by {sort} at {}: {:?} then {:?}",
                i + 1,
                pair[0],
                pair[1]
            ));
        }
    }
    for original in originals {
        match seen.iter().filter(|r| r["id"] == original.as_str()).count() {
            1 => {}
            0 => return Err(format!("{original} skipped")),
            n => return Err(format!("{original} repeated {n} times")),
        }
    }
    Ok(())
}

/// Runs its closure when dropped, also when unwinding from a panic.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// One write of a writer that runs beside the paging reader.
#[derive(Clone, Copy)]
enum Write {
    Create,
    ChangeNew,
    ChangeOriginal,
    DeleteNew,
}

/// How many threads write while a list is paged through.
const WRITERS_BESIDE_PAGING: usize = 2;

/// Writes in rounds (`writes`: create a record, change it, change an
/// original, delete the new record) until `stop`, counting each write in
/// `count`; leaves no record of its own behind.
fn write_until(
    run: &Run,
    writes: &[Write],
    originals: &[String],
    writer: usize,
    stop: &AtomicBool,
    count: &AtomicUsize,
) {
    let (app, res) = (run.app, run.res);
    let mut made: Option<Value> = None;
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        match writes[i % writes.len()] {
            Write::Create => made = Some(run.create(|_| {})),
            Write::ChangeNew => made = made.map(|m| run.change(&m)),
            Write::ChangeOriginal => {
                // Each writer changes other originals.
                let round = i / writes.len();
                let r = &originals[(round * WRITERS_BESIDE_PAGING + writer) % originals.len()];
                let patch = res.patch.expect("a patch")();
                app.patch(&res.record(r), &app.admin_token, &patch)
                    .expect(200);
            }
            Write::DeleteNew => {
                if let Some(m) = made.take() {
                    app.delete(&res.record(&id(&m)), &app.admin_token)
                        .expect(204);
                }
            }
        }
        i += 1;
        count.fetch_add(1, Ordering::SeqCst);
    }
    // Leave the list as it was for the next sort.
    if let Some(m) = made {
        app.delete(&res.record(&id(&m)), &app.admin_token)
            .expect(204);
    }
}

/// Paging through every sort with `limit=2` neither skips nor repeats a
/// record and keeps the order, while two other threads create, change and
/// delete records between the pages (and change the records being paged
/// when that does not move them in the order).
pub fn paging(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    let originals: Vec<Value> = (0..7).map(|_| run.create(|_| {})).collect();
    // Change some, so updated_at order is not created_at order.
    if res.patch.is_some() {
        for r in [&originals[0], &originals[3]] {
            run.change(r);
        }
    }
    let original_ids: Vec<String> = originals.iter().map(id).collect();
    let mut sorts: Vec<Option<&str>> = res.sorts.iter().copied().map(Some).collect();
    sorts.push(None);
    for sort in sorts {
        let order = sort.unwrap_or(res.default_sort);
        let field = order.trim_start_matches('-');
        let mut plan = vec![Write::Create];
        if let Some(patch) = res.patch {
            plan.push(Write::ChangeNew);
            if field != "updated_at" && patch().get(field).is_none() {
                plan.push(Write::ChangeOriginal);
            }
        }
        plan.push(Write::DeleteNew);
        let stop = AtomicBool::new(false);
        let writer_ended = AtomicBool::new(false);
        let writes = AtomicUsize::new(0);
        let query = sort.map(|s| format!("sort={}", enc(s))).unwrap_or_default();
        let seen = std::thread::scope(|s| {
            for writer in 0..WRITERS_BESIDE_PAGING {
                let (run, plan, original_ids) = (&run, &plan, &original_ids);
                let (stop, writer_ended, writes) = (&stop, &writer_ended, &writes);
                s.spawn(move || {
                    let _ended = OnDrop(|| writer_ended.store(true, Ordering::SeqCst));
                    write_until(run, plan, original_ids, writer, stop, writes);
                });
            }
            let _stop = OnDrop(|| stop.store(true, Ordering::SeqCst));
            let wait_for_a_write = || {
                let before = writes.load(Ordering::SeqCst);
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while writes.load(Ordering::SeqCst) == before {
                    assert!(!writer_ended.load(Ordering::SeqCst), "a writer failed");
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the writers are stuck"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            };
            wait_for_a_write();
            run.pages(&query, 2, wait_for_a_write)
        });
        if let Err(e) = verify_pages(order, &original_ids, &seen) {
            panic!("{} sorted by {order}: {e}", res.feed);
        }
    }

    // Oldest first: a record created after the first page comes last.
    let oldest_first = if res.sorts.contains(&"created_at") {
        "sort=created_at"
    } else {
        assert_eq!(
            res.default_sort, "created_at",
            "{}: an oldest-first order",
            res.feed
        );
        ""
    };
    let sep = if oldest_first.is_empty() { "" } else { "&" };
    let first = app
        .get(
            &format!("{}?limit=2{sep}{oldest_first}", res.path),
            &app.admin_token,
        )
        .expect(200)
        .json();
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let late = run.create(|_| {});
    let rest = app
        .get(
            &format!(
                "{}?limit=500{sep}{oldest_first}&cursor={}",
                res.path,
                enc(cursor)
            ),
            &app.admin_token,
        )
        .expect(200)
        .json();
    let mut seen: Vec<Value> = first["data"].as_array().unwrap().clone();
    seen.extend(rest["data"].as_array().unwrap().iter().cloned());
    assert_eq!(
        seen.last().map(id),
        Some(id(&late)),
        "{}: the late record comes last",
        res.feed
    );
    if let Err(e) = verify_pages("created_at", &original_ids, &seen) {
        panic!("{} with a record created while paging: {e}", res.feed);
    }

    // Only the sorts of the contract are accepted.
    for bad in ["colour", "-id"] {
        let p = app
            .get(&format!("{}?sort={bad}", res.path), &app.admin_token)
            .problem(422);
        assert_eq!(fields(&p), vec!["sort"], "{p}");
    }
}

/// Each filter returns every matching record and only those (paging through
/// the filtered list), and leaves some out.
pub fn filters(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    assert!(
        !res.filters.is_empty(),
        "{} has no filters to check",
        res.feed
    );
    for _ in 0..2 {
        run.create(|_| {});
    }
    for filter in &res.filters {
        let value = (filter.prepare)(&run);
        let all = run.all();
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|r| (filter.holds)(r, &value))
            .map(id)
            .collect();
        let query = format!("{}={}", filter.param, enc(&value));
        let got = run.pages(&query, 2, || {});
        let got_ids: Vec<String> = got.iter().map(id).collect();
        let what = format!("{}?{query}", res.path);
        for r in &got {
            assert!((filter.holds)(r, &value), "{what} returned {r}");
        }
        let unique_ids: BTreeSet<String> = got_ids.iter().cloned().collect();
        assert_eq!(unique_ids.len(), got_ids.len(), "{what} repeated a record");
        assert_eq!(unique_ids, expected, "{what}: all matching records");
        assert!(!expected.is_empty(), "{what}: no record matches");
        assert!(expected.len() < all.len(), "{what}: every record matches");
        // A time filter takes the years both backends store and compare
        // alike, and refuses the rest by name (never a 500).
        if chrono::DateTime::parse_from_rfc3339(&value).is_ok() {
            for far in ["-5000-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"] {
                let query = format!("{}?{}={}", res.path, filter.param, enc(far));
                let p = app.get(&query, &app.admin_token).problem(422);
                assert_eq!(fields(&p), vec![filter.param.to_string()], "{query}: {p}");
            }
        }
    }
}

/// A create, a change and a delete each appear in the feed (filtered by the
/// resource) with their action and record id, and in the record's history.
pub fn events(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    let (_, seq) = feed(app, res.feed, 0);
    let record = run.create(|_| {});
    let record_id = id(&record);
    let mut expected = vec!["created"];
    if res.patch.is_some() {
        run.change(&record);
        expected.push("updated");
    }
    app.delete(&res.record(&record_id), &app.admin_token)
        .expect(204);
    expected.push("deleted");

    let (events, _) = feed(app, res.feed, seq);
    assert_eq!(actions_of(&events, &record_id), expected, "{events:?}");
    for e in &events {
        assert_eq!(e["resource"], res.feed, "{e}");
        assert!(e["seq"].as_i64().unwrap() > seq, "{e}");
    }
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["record_id"] == record_id.as_str())
        .collect();
    for e in &mine[..mine.len() - 1] {
        assert_eq!(e["data"]["id"], record["id"], "{e}");
    }
    assert_eq!(mine.last().unwrap()["data"], Value::Null);
    // A feed of another kind of record does not hold them.
    for other in ["customers", "contacts", "users", "api_keys"] {
        if other != res.feed {
            let (events, _) = feed(app, other, seq);
            assert!(
                actions_of(&events, &record_id).is_empty(),
                "{other}: {events:?}"
            );
        }
    }
    if let Some(history) = res.history_of(&record_id) {
        let page = app
            .get(&format!("{history}?limit=500"), &app.admin_token)
            .expect(200)
            .json();
        let events = page["data"].as_array().unwrap();
        assert!(events.iter().all(|e| e["record_id"] == record["id"]));
        assert_eq!(actions_of(events, &record_id), expected, "{page}");
    }
}

fn same_answer(what: &str, get: &Resp, head: &Resp) {
    assert_eq!(head.status, get.status, "{what}: status");
    let strip = |r: &Resp| -> BTreeMap<String, String> {
        r.headers
            .iter()
            .filter(|(k, _)| k.as_str() != "date" && k.as_str() != "x-request-id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(strip(head), strip(get), "{what}: headers");
    assert!(head.body.is_empty(), "{what}: HEAD has no body");
}

/// `HEAD` answers like `GET` on the collection and on records (found, not
/// found, unauthenticated): the same status and headers, and no body.
pub fn head(app: &TestApp, res: &Resource) {
    let run = Run::new(app, res);
    let record = run.create(|_| {});
    run.create(|_| {});
    let record_id = id(&record);
    let viewer = app.token_for("viewer");
    let mut paths = vec![
        res.path.to_string(),
        format!("{}?limit=1", res.path),
        format!("{}?limit=0", res.path),
        res.record(&record_id),
        res.record("no-such-record"),
    ];
    paths.extend(res.reads(&run.ctx, &record_id).into_iter().map(|r| r.path));
    for path in &paths {
        for token in [Some(app.admin_token.as_str()), Some(viewer.as_str()), None] {
            let get = app.request("GET", path, token, &[], None);
            let head = app.request("HEAD", path, token, &[], None);
            same_answer(&format!("HEAD {path}"), &get, &head);
        }
    }
}

/// The description says what the contract says: the routes that exist, the
/// sorts and filters of the list, the feed name, `Idempotency-Key`.
pub fn matches_contract(doc: &Value, res: &Resource) {
    let name = res.feed;
    let schema = |r: &Value| -> Value {
        match r["$ref"].as_str() {
            Some(name) => doc["components"]["schemas"]
                [name.trim_start_matches("#/components/schemas/")]
            .clone(),
            None => r.clone(),
        }
    };
    let set =
        |items: &[&str]| -> BTreeSet<String> { items.iter().map(|s| s.to_string()).collect() };
    let methods = |path: &str| -> BTreeSet<String> {
        doc["paths"][path]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let kinds = &schema(&json!({"$ref": "#/components/schemas/ResourceKind"}))["enum"];
    assert!(
        kinds.as_array().unwrap().contains(&json!(name)),
        "{name} is no resource of the feed"
    );
    assert_eq!(methods(res.path), set(&["get", "post"]), "{name}");
    let mut record = vec!["delete"];
    if res.read_one {
        record.push("get");
    }
    if res.patch.is_some() {
        record.push("patch");
    }
    assert_eq!(
        methods(&format!("{}/{{id}}", res.path)),
        set(&record),
        "{name}"
    );
    assert_eq!(
        methods(&format!("{}/{{id}}/history", res.path)),
        if res.history { set(&["get"]) } else { set(&[]) },
        "{name} history"
    );
    assert_eq!(res.roles.update.is_empty(), res.patch.is_none(), "{name}");

    let params: Vec<Value> = doc["paths"][res.path]["get"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sorts: BTreeSet<String> = params
        .iter()
        .filter(|p| p["name"] == "sort")
        .flat_map(|p| {
            schema(&p["schema"])["enum"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(sorts, set(res.sorts), "{name} sorts");
    if !res.sorts.is_empty() {
        assert!(res.sorts.contains(&res.default_sort), "{name}");
    }
    let filters: BTreeSet<String> = params
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_string())
        .filter(|n| !["limit", "cursor", "sort", "include_total"].contains(&n.as_str()))
        .collect();
    let described: Vec<&str> = res.filters.iter().map(|f| f.param).collect();
    assert_eq!(filters, set(&described), "{name} filters");

    let headers: Vec<Value> = doc["paths"][res.path]["post"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let documented = headers.iter().any(|p| p["name"] == "Idempotency-Key");
    assert_eq!(
        documented,
        res.idempotency == Idempotency::Replays,
        "{name}"
    );
}

/// Kinds of record that live under another record's path (no collection of
/// their own for a [`Resource`] to describe): ticket comments, at
/// `/api/v1/tickets/{id}/comments`, are tested in `service.rs`.
const NESTED: &[&str] = &["ticket_comments"];

#[test]
fn descriptions_match_the_contract() {
    let doc = serde_json::to_value(crm::openapi()).expect("contract");
    let mut feeds = Vec::new();
    for res in all_resources() {
        matches_contract(&doc, &res);
        assert!(!NESTED.contains(&res.feed), "{} is nested", res.feed);
        feeds.push(json!(res.feed));
    }
    let kinds = doc["components"]["schemas"]["ResourceKind"]["enum"]
        .as_array()
        .expect("ResourceKind")
        .clone();
    for nested in NESTED {
        assert!(
            kinds.contains(&json!(nested)),
            "{nested} is no kind of record"
        );
    }
    let described: Vec<Value> = kinds
        .into_iter()
        .filter(|k| !NESTED.iter().any(|n| k == n))
        .collect();
    assert_eq!(
        Value::Array(described),
        Value::Array(feeds),
        "every kind of record is described"
    );
}

/// Every check can fail: each one is run against a description that is wrong
/// in one point (as a service that broke that rule would be), and must fail
/// for that reason.
mod checks_can_fail {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use serde_json::{json, Value};

    use super::*;

    fn message(e: &(dyn std::any::Any + Send)) -> String {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// Runs `check` on SQLite and asserts it fails with a message containing `why`.
    #[track_caller]
    fn fails(check: fn(&TestApp, &Resource), res: Resource, why: &str) {
        let app = TestApp::sqlite();
        let e = catch_unwind(AssertUnwindSafe(|| check(&app, &res)))
            .expect_err("the check passed on a wrong description");
        let msg = message(e.as_ref());
        assert!(msg.contains(why), "failed for another reason: {msg}");
    }

    fn rec(i: u32, at: &str) -> Value {
        json!({"id": format!("id-{i}"), "created_at": at, "name": format!("n{i}")})
    }

    #[test]
    fn paging_notices_repeats_skips_and_disorder() {
        let a = rec(1, "2030-01-01T00:00:01Z");
        let b = rec(2, "2030-01-01T00:00:02Z");
        let c = rec(3, "2030-01-01T00:00:02.5+00:00");
        let d = rec(4, "2030-01-01T01:00:02+01:00"); // the same instant as b
        let originals: Vec<String> = [&a, &b, &c].iter().map(|r| id(r)).collect();
        let ok = [a.clone(), b.clone(), c.clone()];
        assert_eq!(verify_pages("created_at", &originals, &ok), Ok(()));
        let mut desc = ok.to_vec();
        desc.reverse();
        assert_eq!(verify_pages("-created_at", &originals, &desc), Ok(()));
        // Ties are ordered by id; a non-original record may be anywhere in order.
        assert_eq!(
            verify_pages(
                "created_at",
                &originals,
                &[a.clone(), b.clone(), d.clone(), c.clone()]
            ),
            Ok(())
        );
        let bad: Vec<(&str, Vec<Value>, &str)> = vec![
            (
                "created_at",
                vec![a.clone(), b.clone(), b.clone(), c.clone()],
                "not ordered",
            ),
            ("created_at", vec![a.clone(), c.clone()], "id-2 skipped"),
            (
                "created_at",
                vec![b.clone(), a.clone(), c.clone()],
                "not ordered",
            ),
            ("created_at", desc.clone(), "not ordered"),
            ("-created_at", ok.to_vec(), "not ordered"),
            (
                "created_at",
                vec![a.clone(), d.clone(), b.clone(), c.clone()],
                "not ordered",
            ),
            ("name", vec![c.clone(), a.clone(), b.clone()], "not ordered"),
        ];
        for (sort, seen, why) in bad {
            let e = verify_pages(sort, &originals, &seen).expect_err(why);
            assert!(e.contains(why), "{e}");
        }
        // A repeat of an original is noticed even where the order would hide it
        // (a record moved by a change between pages).
        let mut moved = b.clone();
        moved["created_at"] = json!("2030-01-01T00:00:03Z");
        let e = verify_pages("created_at", &originals, &[a, b, c, moved]).unwrap_err();
        assert!(e.contains("id-2 repeated 2 times"), "{e}");
    }

    #[test]
    fn head_notices_other_answers() {
        let get = Resp {
            status: 200,
            headers: [
                ("etag".to_string(), "\"1\"".to_string()),
                ("date".to_string(), "x".to_string()),
            ]
            .into_iter()
            .collect(),
            body: "{}".into(),
        };
        let same = || Resp {
            status: get.status,
            headers: get.headers.clone(),
            body: String::new(),
        };
        same_answer("same", &get, &same());
        let mut other_status = same();
        other_status.status = 404;
        let mut other_header = same();
        other_header.headers.insert("etag".into(), "\"2\"".into());
        let mut no_header = same();
        no_header.headers.remove("etag");
        let mut with_body = same();
        with_body.body = "{}".into();
        for (wrong, why) in [
            (other_status, "status"),
            (other_header, "headers"),
            (no_header, "headers"),
            (with_body, "no body"),
        ] {
            let e =
                catch_unwind(AssertUnwindSafe(|| same_answer("x", &get, &wrong))).expect_err(why);
            assert!(message(e.as_ref()).contains(why), "{}", message(e.as_ref()));
        }
    }

    #[test]
    fn contract() {
        let doc = serde_json::to_value(crm::openapi()).expect("contract");
        let mutants: Vec<(Resource, &str)> = vec![
            (
                Resource {
                    sorts: &["created_at", "-created_at", "name"],
                    ..customers()
                },
                "sorts",
            ),
            (
                Resource {
                    filters: Vec::new(),
                    ..customers()
                },
                "filters",
            ),
            (
                Resource {
                    history: true,
                    ..contacts()
                },
                "history",
            ),
            (
                Resource {
                    read_one: true,
                    ..api_keys()
                },
                "api_keys",
            ),
            (
                Resource {
                    idempotency: Idempotency::Replays,
                    ..api_keys()
                },
                "api_keys",
            ),
            (
                Resource {
                    feed: "api-keys",
                    ..api_keys()
                },
                "no resource of the feed",
            ),
        ];
        for (res, why) in mutants {
            let e = catch_unwind(AssertUnwindSafe(|| matches_contract(&doc, &res))).expect_err(why);
            assert!(message(e.as_ref()).contains(why), "{}", message(e.as_ref()));
        }
    }

    #[test]
    fn roles_when_an_agent_may_not_change() {
        let res = Resource {
            roles: Roles {
                update: DELETERS,
                ..customers().roles
            },
            ..customers()
        };
        fails(roles, res, "unexpected status");
    }

    #[test]
    fn roles_when_a_viewer_may_not_read() {
        let res = Resource {
            roles: Roles {
                read: WRITERS,
                ..contacts().roles
            },
            ..contacts()
        };
        fails(roles, res, "unexpected status");
    }

    #[test]
    fn not_found_on_a_route_that_is_not_there() {
        fails(
            not_found,
            Resource {
                read_one: true,
                ..api_keys()
            },
            "left: 405",
        );
    }

    #[test]
    fn unknown_fields_when_patch_is_not_there() {
        fails(
            unknown_fields,
            Resource {
                patch: Some(|| json!({"name": "x"})),
                ..api_keys()
            },
            "left: 405",
        );
    }

    #[test]
    fn etags_when_the_record_cannot_be_read() {
        fails(
            etags,
            Resource {
                read_one: true,
                ..api_keys()
            },
            "left: 405",
        );
    }

    #[test]
    fn idempotency_when_a_key_is_refused() {
        fails(
            idempotency,
            Resource {
                idempotency: Idempotency::Replays,
                ..api_keys()
            },
            "left: 422",
        );
    }

    #[test]
    fn idempotency_when_a_key_replays() {
        fails(
            idempotency,
            Resource {
                idempotency: Idempotency::Refused,
                ..customers()
            },
            "left: 201",
        );
    }

    #[test]
    fn paging_in_the_wrong_direction() {
        let res = Resource {
            sorts: &[],
            default_sort: "created_at",
            ..customers()
        };
        fails(paging, res, "sorted by created_at: not ordered");
    }

    #[test]
    fn filters_with_a_wrong_predicate() {
        let mut res = customers();
        res.filters.retain(|f| f.param == "tier");
        res.filters[0].holds = |r, v| r["tier"] == v || r["tier"].is_null();
        fails(filters, res, "all matching records");
        let mut res = users();
        res.filters.retain(|f| f.param == "role");
        res.filters[0].holds = |r, _| r["role"] == "viewer";
        fails(filters, res, "returned");
    }

    #[test]
    fn events_under_another_name() {
        fails(
            events,
            Resource {
                feed: "contacts",
                ..customers()
            },
            "left: []",
        );
    }
}

/// Runs each check on each resource, on SQLite and on PostgreSQL:
/// `conformance::<resource>::<check>::{sqlite,postgres}`.
macro_rules! conformance {
    ($($resource:ident: [$($check:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $resource {
                $(
                    mod $check {
                        #[test]
                        fn sqlite() {
                            let app = $crate::common::TestApp::sqlite();
                            super::super::$check(&app, &super::super::$resource());
                        }
                        #[test]
                        fn postgres() {
                            if let Some(app) = $crate::common::TestApp::postgres() {
                                super::super::$check(&app, &super::super::$resource());
                            }
                        }
                    }
                )*
            }
        )*
    };
}

conformance! {
    customers: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    contacts: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    orders: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    pipelines: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    opportunities: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    leads: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    activities: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    users: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    api_keys: [roles, not_found, unknown_fields, etags, idempotency, paging, events, head],
    business_hours: [roles, not_found, unknown_fields, etags, idempotency, paging, events, head],
    sla_policies: [roles, not_found, unknown_fields, etags, idempotency, paging, events, head],
    tickets: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
    articles: [roles, not_found, unknown_fields, etags, idempotency, paging, filters, events, head],
}
