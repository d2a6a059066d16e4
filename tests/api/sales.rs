//! Sales: pipelines, their stages and opportunities, over HTTP.

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    first_start_creates_the_default_sales_pipeline,
    viewers_read_pipelines_and_only_managers_change_them,
    pipeline_creates_check_their_stages_and_move_the_default,
    pipeline_deletes_refuse_the_default_and_pipelines_in_use,
    stages_are_inserted_moved_and_guarded,
    deleting_a_stage_moves_its_opportunities_or_is_refused,
    new_opportunities_take_defaults_and_follow_their_stage,
    bad_opportunity_input_names_the_field_and_changes_nothing,
    opportunities_move_between_pipelines_and_take_their_currency,
    opportunity_external_ids_are_unique_keys,
    stage_history_records_every_move,
    rotting_follows_the_stage_rotting_days,
    deleting_referenced_records_clears_or_refuses,
    opportunity_lists_filter_and_sort,
    a_patch_resending_the_current_stage_changes_nothing,
);

// ---------------------------------------------------------------- helpers

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn get_json(app: &TestApp, path: &str) -> Value {
    app.get(path, &app.admin_token).expect(200).json()
}

fn default_pipeline(app: &TestApp) -> Value {
    let page = get_json(app, "/api/v1/pipelines?is_default=true");
    let data = page["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "exactly one default pipeline: {page}");
    data[0].clone()
}

fn pipeline(app: &TestApp, id: &str) -> Value {
    get_json(app, &format!("/api/v1/pipelines/{id}"))
}

/// The id of the stage named `name` in `pipeline`.
fn stage(pipeline: &Value, name: &str) -> String {
    pipeline["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["name"] == name)
        .map(id_of)
        .unwrap_or_else(|| panic!("no stage {name} in {pipeline}"))
}

fn stage_names(app: &TestApp, pipeline_id: &str) -> Vec<String> {
    let list = get_json(app, &format!("/api/v1/pipelines/{pipeline_id}/stages"));
    let stages = list["data"].as_array().expect("data");
    for (i, s) in stages.iter().enumerate() {
        assert_eq!(s["position"], json!(i + 1), "positions are 1..n: {list}");
        assert_eq!(s["pipeline_id"], pipeline_id);
    }
    stages
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// An open, a won and a lost stage.
fn three_stages() -> Value {
    json!([
        {"name": "Open", "probability": 20},
        {"name": "Signed", "probability": 100, "kind": "won"},
        {"name": "Dropped", "probability": 0, "kind": "lost"},
    ])
}

/// Creates a pipeline from `extra` merged over a valid minimal one.
fn create_pipeline(app: &TestApp, name: &str, extra: Value) -> Value {
    let mut doc = json!({"name": name, "stages": three_stages()});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    app.post("/api/v1/pipelines", &app.admin_token, &doc)
        .expect(201)
        .json()
}

/// Creates an opportunity for `customer` from `extra` merged over a minimal one.
fn opportunity(app: &TestApp, token: &str, customer: &Value, extra: Value) -> Value {
    let mut doc = json!({"customer_id": customer["id"], "name": "Deal"});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    app.post("/api/v1/opportunities", token, &doc)
        .expect(201)
        .json()
}

fn opp_url(o: &Value) -> String {
    format!("/api/v1/opportunities/{}", id_of(o))
}

fn reread(app: &TestApp, o: &Value) -> Value {
    get_json(app, &opp_url(o))
}

fn history(app: &TestApp, path: &str) -> Vec<Value> {
    get_json(app, &format!("{path}/history?limit=500"))["data"]
        .as_array()
        .expect("data")
        .clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

fn stage_visits(app: &TestApp, o: &Value) -> Vec<Value> {
    get_json(app, &format!("{}/stages", opp_url(o)))["data"]
        .as_array()
        .expect("data")
        .clone()
}

fn me(app: &TestApp, token: &str) -> String {
    id_of(&app.get("/api/v1/users/me", token).expect(200).json())
}

fn error_code(problem: &Value) -> &str {
    problem["errors"][0]["code"].as_str().unwrap_or("")
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(id_of)
        .collect()
}

// ------------------------------------------------------------------ tests

fn first_start_creates_the_default_sales_pipeline(app: &TestApp) {
    let page = get_json(app, "/api/v1/pipelines");
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{page}");
    let p = &data[0];
    assert_eq!(p["name"], "Sales");
    assert_eq!(p["is_default"], true);
    assert_eq!(p["currency"], Value::Null);
    assert_eq!(p["version"], 1);
    let pid = id_of(p);
    let expected = [
        ("Qualification", 10, "open"),
        ("Needs analysis", 25, "open"),
        ("Proposal", 50, "open"),
        ("Negotiation", 75, "open"),
        ("Won", 100, "won"),
        ("Lost", 0, "lost"),
    ];
    let stages = p["stages"].as_array().unwrap();
    assert_eq!(stages.len(), expected.len());
    for (i, (s, (name, probability, kind))) in stages.iter().zip(expected).enumerate() {
        assert_eq!(s["name"], name);
        assert_eq!(s["probability"], probability);
        assert_eq!(s["kind"], kind);
        assert_eq!(s["position"], json!(i + 1));
        assert_eq!(s["rotting_days"], Value::Null);
        assert_eq!(s["pipeline_id"], pid.as_str());
    }
    let one = app
        .get(&format!("/api/v1/pipelines/{pid}"), &app.admin_token)
        .expect(200);
    assert_eq!(one.header("etag"), Some("\"1\""));
    assert_eq!(&one.json(), p);
    let listed = get_json(app, &format!("/api/v1/pipelines/{pid}/stages"));
    assert_eq!(listed["data"], p["stages"]);
    let events = history(app, &format!("/api/v1/pipelines/{pid}"));
    assert_eq!(actions(&events), vec!["created"]);
    assert_eq!(
        events[0]["actor"],
        json!({"type": "system", "id": "system"})
    );
    assert_eq!(events[0]["resource"], "pipelines");
    assert_eq!(events[0]["data"]["name"], "Sales");
    let others = get_json(app, "/api/v1/pipelines?is_default=false");
    assert_eq!(others["data"], json!([]));
    app.get("/api/v1/pipelines/no-such-pipeline", &app.admin_token)
        .problem(404);
    app.get(
        &format!("/api/v1/pipelines/{pid}/stages/no-such-stage"),
        &app.admin_token,
    )
    .problem(404);
    app.get(
        "/api/v1/pipelines/no-such-pipeline/stages",
        &app.admin_token,
    )
    .problem(404);
}

fn viewers_read_pipelines_and_only_managers_change_them(app: &TestApp) {
    let viewer = app.token_for("viewer");
    let agent = app.token_for("agent");
    let manager = app.token_for("manager");
    let p = default_pipeline(app);
    let pid = id_of(&p);
    let qualification = stage(&p, "Qualification");
    let stage_url = format!("/api/v1/pipelines/{pid}/stages/{qualification}");

    let listed = app.get("/api/v1/pipelines", &viewer).expect(200).json();
    assert_eq!(listed["data"][0]["id"], pid.as_str());
    app.get(&format!("/api/v1/pipelines/{pid}"), &viewer)
        .expect(200);
    app.get(&format!("/api/v1/pipelines/{pid}/stages"), &viewer)
        .expect(200);
    let s = app.get(&stage_url, &viewer).expect(200).json();
    assert_eq!(s["name"], "Qualification");
    app.get(&format!("/api/v1/pipelines/{pid}/history"), &viewer)
        .expect(200);

    let new_stage = json!({"name": "Demo", "probability": 30});
    for token in [&viewer, &agent] {
        app.post(
            "/api/v1/pipelines",
            token,
            &json!({"name": "Agents", "stages": three_stages()}),
        )
        .problem(403);
        app.patch(
            &format!("/api/v1/pipelines/{pid}"),
            token,
            &json!({"name": "Mine"}),
        )
        .problem(403);
        app.post(
            &format!("/api/v1/pipelines/{pid}/stages"),
            token,
            &new_stage,
        )
        .problem(403);
        app.patch(&stage_url, token, &json!({"probability": 5}))
            .problem(403);
        app.delete(&stage_url, token).problem(403);
        app.delete(&format!("/api/v1/pipelines/{pid}"), token)
            .problem(403);
    }
    assert_eq!(pipeline(app, &pid), p, "refused requests change nothing");
    assert_eq!(history(app, &format!("/api/v1/pipelines/{pid}")).len(), 1);
    assert_eq!(
        get_json(app, "/api/v1/pipelines")["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let created = app
        .post(
            "/api/v1/pipelines",
            &manager,
            &json!({"name": "Managed", "stages": three_stages()}),
        )
        .expect(201)
        .json();
    assert_eq!(created["is_default"], false);
    let renamed = app
        .patch(
            &format!("/api/v1/pipelines/{pid}"),
            &manager,
            &json!({"name": "Sales EU"}),
        )
        .expect(200)
        .json();
    assert_eq!(renamed["name"], "Sales EU");
    assert_eq!(renamed["version"], 2);
    app.post(
        &format!("/api/v1/pipelines/{pid}/stages"),
        &manager,
        &new_stage,
    )
    .expect(201);
    let changed = app
        .patch(&stage_url, &manager, &json!({"probability": 5}))
        .expect(200)
        .json();
    assert_eq!(changed["probability"], 5);
    app.delete(&format!("/api/v1/pipelines/{}", id_of(&created)), &manager)
        .expect(204);
    // Agents work opportunities in the pipelines managers set up.
    let customer = app.customer(json!({}));
    let o = opportunity(app, &agent, &customer, json!({}));
    assert_eq!(o["stage_id"], qualification.as_str());
    assert_eq!(o["probability"], 5, "the stage's changed probability");
    app.post(
        "/api/v1/opportunities",
        &viewer,
        &json!({"customer_id": customer["id"], "name": "No"}),
    )
    .problem(403);
}

fn pipeline_creates_check_their_stages_and_move_the_default(app: &TestApp) {
    let t = &app.admin_token;
    let sales = default_pipeline(app);
    let sales_id = id_of(&sales);
    let post = |body: Value| app.post("/api/v1/pipelines", t, &body);

    // Stages are required.
    let p = post(json!({"name": "No stages"})).problem(422);
    assert_eq!(fields(&p), vec!["stages"]);
    // An open, a won and a lost stage, whatever the count.
    for stages in [
        json!([{"name": "A", "probability": 1}, {"name": "B", "probability": 2}, {"name": "C", "probability": 3}]),
        json!([{"name": "A", "probability": 1}, {"name": "B", "probability": 100, "kind": "won"},
               {"name": "C", "probability": 100, "kind": "won"}]),
        json!([{"name": "A", "probability": 0, "kind": "lost"}, {"name": "B", "probability": 100, "kind": "won"},
               {"name": "C", "probability": 0, "kind": "lost"}, {"name": "D", "probability": 0, "kind": "lost"}]),
    ] {
        let p = post(json!({"name": "Kinds", "stages": stages})).problem(422);
        assert_eq!(fields(&p), vec!["stages"], "{stages}");
        assert_eq!(error_code(&p), "stage_kind_required", "{p}");
    }
    // Stage names are unique ignoring case.
    let p = post(json!({"name": "Dupes", "stages": [
        {"name": "Open", "probability": 20},
        {"name": "Won", "probability": 100, "kind": "won"},
        {"name": "  oPEN ", "probability": 0, "kind": "lost"},
    ]}))
    .problem(422);
    assert_eq!(fields(&p), vec!["stages[2].name"]);
    // A position, when sent, is the stage's place in the list.
    let p = post(json!({"name": "Places", "stages": [
        {"name": "Open", "probability": 20, "position": 1},
        {"name": "Won", "probability": 100, "kind": "won", "position": 3},
        {"name": "Lost", "probability": 0, "kind": "lost"},
    ]}))
    .problem(422);
    assert_eq!(fields(&p), vec!["stages[1].position"]);
    for currency in ["XXX", "ABC", "euro"] {
        let p = post(json!({"name": "Money", "currency": currency, "stages": three_stages()}))
            .problem(422);
        assert_eq!(fields(&p), vec!["currency"], "{currency}");
    }
    let p = post(json!({"name": "Sales", "stages": three_stages()})).problem(409);
    assert!(p["detail"].as_str().unwrap().contains(&sales_id), "{p}");
    // Nothing of the refused creates was written.
    let page = get_json(app, "/api/v1/pipelines");
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(default_pipeline(app), sales);

    // A create with positions that match their places, and a currency.
    let res = post(json!({"name": "Enterprise", "currency": "usd", "stages": [
        {"name": "Open", "probability": 20, "position": 1},
        {"name": "Signed", "probability": 100, "kind": "won", "position": 2, "rotting_days": null},
        {"name": "Dropped", "probability": 0, "kind": "lost"},
    ]}))
    .expect(201);
    assert_eq!(res.header("etag"), Some("\"1\""));
    let enterprise = res.json();
    let eid = id_of(&enterprise);
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/pipelines/{eid}").as_str())
    );
    assert_eq!(enterprise["currency"], "USD");
    assert_eq!(enterprise["is_default"], false);
    assert_eq!(enterprise["version"], 1);
    assert_eq!(stage_names(app, &eid), vec!["Open", "Signed", "Dropped"]);
    assert_eq!(pipeline(app, &eid), enterprise);
    assert_eq!(default_pipeline(app), sales, "the default stays");

    // A new default takes the flag from the old one: a new version of it
    // with its event.
    let partner = create_pipeline(app, "Partner", json!({"is_default": true}));
    let pid = id_of(&partner);
    assert_eq!(partner["is_default"], true);
    assert_eq!(default_pipeline(app)["id"], pid.as_str());
    let old = pipeline(app, &sales_id);
    assert_eq!(old["is_default"], false);
    assert_eq!(old["version"], 2);
    assert_eq!(old["stages"], sales["stages"]);
    let events = history(app, &format!("/api/v1/pipelines/{sales_id}"));
    assert_eq!(actions(&events), vec!["created", "updated"]);
    assert_eq!(
        events[1]["changes"]["is_default"],
        json!({"old": true, "new": false})
    );
    assert_eq!(events[1]["actor"]["type"], "user");

    // The default cannot stop being the default by itself.
    let p = app
        .patch(
            &format!("/api/v1/pipelines/{pid}"),
            t,
            &json!({"is_default": false}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["is_default"]);
    assert_eq!(pipeline(app, &pid), partner);
    // Renaming onto another pipeline's name is a conflict.
    app.patch(
        &format!("/api/v1/pipelines/{pid}"),
        t,
        &json!({"name": "Enterprise"}),
    )
    .problem(409);
    let p = app
        .patch(
            &format!("/api/v1/pipelines/{pid}"),
            t,
            &json!({"currency": "ABC"}),
        )
        .problem(422);
    assert_eq!(fields(&p), vec!["currency"]);
    assert_eq!(pipeline(app, &pid), partner);
    // Making another pipeline the default moves the flag back.
    let res = app
        .patch(
            &format!("/api/v1/pipelines/{sales_id}"),
            t,
            &json!({"is_default": true}),
        )
        .expect(200);
    assert_eq!(res.header("etag"), Some("\"3\""));
    assert_eq!(res.json()["is_default"], true);
    let partner_now = pipeline(app, &pid);
    assert_eq!(partner_now["is_default"], false);
    assert_eq!(partner_now["version"], 2);
    assert_eq!(default_pipeline(app)["id"], sales_id.as_str());
    // A patch that changes nothing makes no version.
    app.patch(
        &format!("/api/v1/pipelines/{pid}"),
        t,
        &json!({"is_default": false, "name": "Partner"}),
    )
    .expect(200);
    assert_eq!(pipeline(app, &pid)["version"], 2);
    // Sorted by name.
    let names: Vec<Value> = get_json(app, "/api/v1/pipelines?sort=name")["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("Enterprise"), json!("Partner"), json!("Sales")]
    );
}

fn pipeline_deletes_refuse_the_default_and_pipelines_in_use(app: &TestApp) {
    let t = &app.admin_token;
    let sales = default_pipeline(app);
    let sales_id = id_of(&sales);
    let p = app
        .delete(&format!("/api/v1/pipelines/{sales_id}"), t)
        .problem(409);
    assert!(p["detail"].as_str().unwrap().contains("default"), "{p}");
    assert_eq!(pipeline(app, &sales_id), sales);

    let used = create_pipeline(app, "Used", json!({}));
    let used_id = id_of(&used);
    let customer = app.customer(json!({}));
    opportunity(app, t, &customer, json!({"pipeline_id": used_id}));
    let p = app
        .delete(&format!("/api/v1/pipelines/{used_id}"), t)
        .problem(409);
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("1 opportunities"), "{detail}");
    assert_eq!(pipeline(app, &used_id), used);
    assert_eq!(stage_names(app, &used_id).len(), 3);

    let empty = create_pipeline(app, "Empty", json!({}));
    let empty_id = id_of(&empty);
    // A stale If-Match is refused; the current one deletes.
    app.request(
        "DELETE",
        &format!("/api/v1/pipelines/{empty_id}"),
        Some(t),
        &[("If-Match", "\"7\"")],
        None,
    )
    .problem(412);
    app.request(
        "DELETE",
        &format!("/api/v1/pipelines/{empty_id}"),
        Some(t),
        &[("If-Match", "\"1\"")],
        None,
    )
    .expect(204);
    app.get(&format!("/api/v1/pipelines/{empty_id}"), t)
        .problem(404);
    app.get(&format!("/api/v1/pipelines/{empty_id}/stages"), t)
        .problem(404);
    let events = history(app, &format!("/api/v1/pipelines/{empty_id}"));
    assert_eq!(actions(&events), vec!["created", "deleted"]);
    // Its name is free again.
    create_pipeline(app, "Empty", json!({}));
}

fn stages_are_inserted_moved_and_guarded(app: &TestApp) {
    let t = &app.admin_token;
    let p = default_pipeline(app);
    let pid = id_of(&p);
    let stages_url = format!("/api/v1/pipelines/{pid}/stages");

    let res = app
        .post(
            &stages_url,
            t,
            &json!({"name": "Demo", "probability": 30, "position": 2}),
        )
        .expect(201);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let demo = res.json();
    let demo_id = id_of(&demo);
    let demo_url = format!("{stages_url}/{demo_id}");
    assert_eq!(res.header("location"), Some(demo_url.as_str()));
    assert_eq!(
        demo,
        json!({"id": demo_id, "pipeline_id": pid, "name": "Demo", "position": 2,
               "probability": 30, "kind": "open", "rotting_days": null})
    );
    assert_eq!(pipeline(app, &pid)["version"], 2);
    assert_eq!(
        stage_names(app, &pid),
        vec![
            "Qualification",
            "Demo",
            "Needs analysis",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost"
        ]
    );
    let read = app.get(&demo_url, t).expect(200);
    assert_eq!(read.header("etag"), Some("\"2\""));
    assert_eq!(read.json(), demo);
    // Without a position: after the last.
    let last = app
        .post(
            &stages_url,
            t,
            &json!({"name": "On hold", "probability": 5}),
        )
        .expect(201)
        .json();
    assert_eq!(last["position"], 8);
    app.delete(&format!("{stages_url}/{}", id_of(&last)), t)
        .expect(204);

    // Moving a stage renumbers the others.
    let res = app.patch(&demo_url, t, &json!({"position": 5})).expect(200);
    assert_eq!(res.header("etag"), Some("\"5\""));
    assert_eq!(res.json()["position"], 5);
    assert_eq!(
        stage_names(app, &pid),
        vec![
            "Qualification",
            "Needs analysis",
            "Proposal",
            "Negotiation",
            "Demo",
            "Won",
            "Lost"
        ]
    );
    let p = pipeline(app, &pid);
    assert_eq!(p["version"], 5);

    // Refused changes leave the pipeline as it was.
    let p422 = app
        .patch(&demo_url, t, &json!({"name": "proposal"}))
        .problem(422);
    assert_eq!(fields(&p422), vec!["name"]);
    let p422 = app
        .post(&stages_url, t, &json!({"name": "WON", "probability": 1}))
        .problem(422);
    assert_eq!(fields(&p422), vec!["name"]);
    let won_url = format!("{stages_url}/{}", stage(&p, "Won"));
    let p422 = app
        .patch(&won_url, t, &json!({"kind": "open"}))
        .problem(422);
    assert_eq!(fields(&p422), vec!["kind"]);
    assert_eq!(error_code(&p422), "stage_kind_required");
    for (body, field) in [
        (json!({"probability": 101}), "probability"),
        (json!({"rotting_days": 0}), "rotting_days"),
        (json!({"position": 0}), "position"),
        (json!({"kind": "maybe"}), "kind"),
        (json!({"name": ""}), "name"),
    ] {
        let p422 = app.patch(&demo_url, t, &body).problem(422);
        assert_eq!(fields(&p422), vec![field], "{body}");
    }
    // A stage holding opportunities keeps its kind.
    let customer = app.customer(json!({}));
    let proposal_id = stage(&p, "Proposal");
    opportunity(app, t, &customer, json!({"stage_id": proposal_id}));
    let p409 = app
        .patch(
            &format!("{stages_url}/{proposal_id}"),
            t,
            &json!({"kind": "won"}),
        )
        .problem(409);
    assert!(p409["detail"].as_str().unwrap().contains('1'), "{p409}");
    // A stale version is refused.
    app.request(
        "PATCH",
        &demo_url,
        Some(t),
        &[("If-Match", "\"1\"")],
        Some(json!({"probability": 35}).to_string().as_bytes()),
    )
    .problem(412);
    app.request(
        "POST",
        &stages_url,
        Some(t),
        &[("If-Match", "\"1\"")],
        Some(
            json!({"name": "Late", "probability": 35})
                .to_string()
                .as_bytes(),
        ),
    )
    .problem(412);
    assert_eq!(pipeline(app, &pid), p, "refused changes change nothing");
    // The current version is accepted.
    let res = app.request(
        "PATCH",
        &demo_url,
        Some(t),
        &[("If-Match", "\"5\"")],
        Some(
            json!({"probability": 35, "rotting_days": 14})
                .to_string()
                .as_bytes(),
        ),
    );
    let res = res.expect(200);
    assert_eq!(res.header("etag"), Some("\"6\""));
    assert_eq!(res.json()["rotting_days"], 14);
    // Unknown stages and stages of other pipelines are not found.
    let other = create_pipeline(app, "Other", json!({}));
    let foreign = stage(&other, "Open");
    app.get(&format!("{stages_url}/{foreign}"), t).problem(404);
    app.patch(
        &format!("{stages_url}/{foreign}"),
        t,
        &json!({"probability": 1}),
    )
    .problem(404);
    app.post(
        "/api/v1/pipelines/no-such-pipeline/stages",
        t,
        &json!({"name": "X", "probability": 1}),
    )
    .problem(404);
    // One event per change.
    let events = history(app, &format!("/api/v1/pipelines/{pid}"));
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[1]["data"]["stages"][1]["name"], "Demo");
}

fn deleting_a_stage_moves_its_opportunities_or_is_refused(app: &TestApp) {
    let t = &app.admin_token;
    let p = default_pipeline(app);
    let pid = id_of(&p);
    let stages_url = format!("/api/v1/pipelines/{pid}/stages");
    let needs = stage(&p, "Needs analysis");
    let proposal = stage(&p, "Proposal");
    let customer = app.customer(json!({}));
    let a = opportunity(app, t, &customer, json!({"stage_id": needs, "name": "A"}));
    let b = opportunity(
        app,
        t,
        &customer,
        json!({"stage_id": needs, "name": "B", "probability": 33}),
    );
    let needs_url = format!("{stages_url}/{needs}");

    let p409 = app.delete(&needs_url, t).problem(409);
    assert!(
        p409["detail"].as_str().unwrap().contains("2 opportunities"),
        "{p409}"
    );
    let other = create_pipeline(app, "Other", json!({}));
    for target in [
        stage(&p, "Lost"),
        stage(&other, "Open"),
        needs.clone(),
        "no-such-stage".to_string(),
    ] {
        let p422 = app
            .delete(&format!("{needs_url}?move_to_stage_id={target}"), t)
            .problem(422);
        assert_eq!(fields(&p422), vec!["move_to_stage_id"], "{target}");
    }
    assert_eq!(pipeline(app, &pid), p, "refused deletes change nothing");
    assert_eq!(reread(app, &a), a);
    assert_eq!(reread(app, &b), b);

    app.delete(&format!("{needs_url}?move_to_stage_id={proposal}"), t)
        .expect(204);
    assert_eq!(
        stage_names(app, &pid),
        vec!["Qualification", "Proposal", "Negotiation", "Won", "Lost"]
    );
    app.get(&needs_url, t).problem(404);
    let after = pipeline(app, &pid);
    assert_eq!(after["version"], 2);
    for before in [&a, &b] {
        let now = reread(app, before);
        assert_eq!(now["stage_id"], proposal.as_str());
        assert_eq!(now["pipeline_id"], pid.as_str());
        assert_eq!(now["probability"], 50, "the new stage's probability");
        assert_eq!(now["version"], 2);
        assert_eq!(now["status"], "open");
        let events = history(app, &opp_url(before));
        assert_eq!(actions(&events), vec!["created", "updated"]);
        assert_eq!(
            events[1]["changes"]["stage_id"],
            json!({"old": needs, "new": proposal})
        );
        let visits = stage_visits(app, before);
        let names: Vec<&Value> = visits.iter().map(|v| &v["stage_name"]).collect();
        assert_eq!(names, vec!["Needs analysis", "Proposal"]);
        assert_eq!(visits[0]["left_at"], visits[1]["entered_at"]);
        assert_eq!(visits[1]["left_at"], Value::Null);
    }
    // The pipeline's event for the stage's removal.
    let events = history(app, &format!("/api/v1/pipelines/{pid}"));
    assert_eq!(actions(&events), vec!["created", "updated"]);
    assert_eq!(events[1]["data"]["stages"].as_array().unwrap().len(), 5);

    // The only lost stage stays.
    let lost_url = format!("{stages_url}/{}", stage(&p, "Lost"));
    let p422 = app.delete(&lost_url, t).problem(422);
    assert!(!fields(&p422).is_empty());
    assert_eq!(error_code(&p422), "stage_kind_required");
    assert_eq!(pipeline(app, &pid), after);
    // With a second lost stage, the first may go.
    app.post(
        &stages_url,
        t,
        &json!({"name": "Lost to competitor", "probability": 0, "kind": "lost"}),
    )
    .expect(201);
    app.delete(&lost_url, t).expect(204);
    // An empty open stage goes without a target.
    app.delete(&format!("{stages_url}/{}", stage(&p, "Negotiation")), t)
        .expect(204);
    assert_eq!(
        stage_names(app, &pid),
        vec!["Qualification", "Proposal", "Won", "Lost to competitor"]
    );
    app.delete(&lost_url, t).problem(404);
}

fn new_opportunities_take_defaults_and_follow_their_stage(app: &TestApp) {
    let agent = app.token_for("agent");
    let agent_id = me(app, &agent);
    let p = default_pipeline(app);
    let pid = id_of(&p);
    let customer = app.customer(json!({}));
    let res = app
        .post(
            "/api/v1/opportunities",
            &agent,
            &json!({"customer_id": customer["id"], "name": "  Acme renewal  "}),
        )
        .expect(201);
    assert_eq!(res.header("etag"), Some("\"1\""));
    let o = res.json();
    let url = opp_url(&o);
    assert_eq!(res.header("location"), Some(url.as_str()));
    assert_eq!(o["name"], "Acme renewal");
    assert_eq!(o["pipeline_id"], pid.as_str());
    assert_eq!(o["stage_id"], stage(&p, "Qualification").as_str());
    assert_eq!(o["probability"], 10);
    assert_eq!(o["currency"], "EUR");
    assert_eq!(o["status"], "open");
    assert_eq!(o["closed_at"], Value::Null);
    assert_eq!(o["lost_reason"], Value::Null);
    assert_eq!(o["amount"], 0);
    assert_eq!(o["contact_id"], Value::Null);
    assert_eq!(o["owner_id"], Value::Null);
    assert_eq!(o["expected_close_date"], Value::Null);
    assert_eq!(o["tags"], json!([]));
    assert_eq!(o["custom_fields"], json!({}));
    assert_eq!(o["rotting"], false);
    assert_eq!(o["version"], 1);
    assert_eq!(o["stage_entered_at"], o["created_at"]);
    assert_eq!(reread(app, &o), o);
    let visits = stage_visits(app, &o);
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0]["stage_name"], "Qualification");
    assert_eq!(visits[0]["stage_id"], o["stage_id"]);
    assert_eq!(visits[0]["pipeline_id"], pid.as_str());
    assert_eq!(visits[0]["entered_at"], o["stage_entered_at"]);
    assert_eq!(visits[0]["left_at"], Value::Null);
    assert_eq!(
        visits[0]["changed_by"],
        json!({"type": "user", "id": agent_id})
    );

    let patch = |body: Value| app.patch(&url, &agent, &body);
    // A new stage brings its probability…
    let o = patch(json!({"stage_id": stage(&p, "Proposal")}))
        .expect(200)
        .json();
    assert_eq!(
        (o["probability"].clone(), o["version"].clone()),
        (json!(50), json!(2))
    );
    // …unless the same change sets one.
    let o = patch(json!({"stage_id": stage(&p, "Negotiation"), "probability": 60}))
        .expect(200)
        .json();
    assert_eq!(o["probability"], 60);
    // Other changes keep it.
    let o = patch(json!({"amount": 125_000})).expect(200).json();
    assert_eq!(
        (o["probability"].clone(), o["amount"].clone()),
        (json!(60), json!(125_000))
    );
    // Won: closed.
    let o = patch(json!({"stage_id": stage(&p, "Won")}))
        .expect(200)
        .json();
    assert_eq!(o["status"], "won");
    assert_eq!(o["probability"], 100);
    assert!(o["closed_at"].is_string(), "{o}");
    assert_eq!(o["closed_at"], o["stage_entered_at"]);
    // Reopened: not closed.
    let o = patch(json!({"stage_id": stage(&p, "Proposal")}))
        .expect(200)
        .json();
    assert_eq!(o["status"], "open");
    assert_eq!(o["closed_at"], Value::Null);
    // Lost needs its reason.
    let before = o;
    let p422 = patch(json!({"stage_id": stage(&p, "Lost")})).problem(422);
    assert_eq!(fields(&p422), vec!["lost_reason"]);
    assert_eq!(reread(app, &before), before, "nothing changes");
    assert_eq!(stage_visits(app, &before).len(), 5);
    let o = patch(json!({"stage_id": stage(&p, "Lost"), "lost_reason": "Too expensive"}))
        .expect(200)
        .json();
    assert_eq!(o["status"], "lost");
    assert_eq!(o["lost_reason"], "Too expensive");
    assert_eq!(o["probability"], 0);
    assert!(o["closed_at"].is_string());
    // A lost opportunity's reason may change, not go.
    let lost = patch(json!({"lost_reason": "Went with a competitor"}))
        .expect(200)
        .json();
    assert_eq!(
        lost["closed_at"], o["closed_at"],
        "still closed at the same time"
    );
    let p422 = patch(json!({"lost_reason": null})).problem(422);
    assert_eq!(fields(&p422), vec!["lost_reason"]);
    assert_eq!(reread(app, &lost), lost);
    // Back to an open stage: the reason goes.
    let o = patch(json!({"stage_id": stage(&p, "Qualification")}))
        .expect(200)
        .json();
    assert_eq!(o["status"], "open");
    assert_eq!(o["lost_reason"], Value::Null);
    assert_eq!(o["closed_at"], Value::Null);
    assert_eq!(o["probability"], 10);
    // An open opportunity has no reason.
    let p422 = patch(json!({"lost_reason": "Nope"})).problem(422);
    assert_eq!(fields(&p422), vec!["lost_reason"]);
    assert_eq!(reread(app, &o), o);
    let p422 = app
        .post(
            "/api/v1/opportunities",
            &agent,
            &json!({"customer_id": customer["id"], "name": "X", "lost_reason": "early"}),
        )
        .problem(422);
    assert_eq!(fields(&p422), vec!["lost_reason"]);
    // Created straight into a lost stage, with its reason.
    let lost = opportunity(
        app,
        &agent,
        &customer,
        json!({"stage_id": stage(&p, "Lost"), "lost_reason": "No budget"}),
    );
    assert_eq!(lost["status"], "lost");
    assert!(lost["closed_at"].is_string());
    let events = history(app, &url);
    assert_eq!(events.len(), o["version"].as_u64().unwrap() as usize);
    assert_eq!(events[0]["action"], "created");
    assert_eq!(events[0]["actor"], json!({"type": "user", "id": agent_id}));
    // If-Match guards opportunity changes too.
    app.request(
        "PATCH",
        &url,
        Some(&agent),
        &[("If-Match", "\"1\"")],
        Some(json!({"amount": 1}).to_string().as_bytes()),
    )
    .problem(412);
    assert_eq!(reread(app, &o), o);
    // Deleting it takes its stage history.
    app.delete(&url, &agent).problem(403);
    app.delete(&url, &app.admin_token).expect(204);
    app.get(&url, &app.admin_token).problem(404);
    app.get(&format!("{url}/stages"), &app.admin_token)
        .problem(404);
    assert_eq!(actions(&history(app, &url)).last(), Some(&"deleted"));
}

fn bad_opportunity_input_names_the_field_and_changes_nothing(app: &TestApp) {
    let t = &app.admin_token;
    let p = default_pipeline(app);
    let pid = id_of(&p);
    let other = create_pipeline(app, "Other", json!({}));
    let foreign_stage = stage(&other, "Open");
    let customer = app.customer(json!({}));
    let someone_else = app.customer(json!({"name": "Globex"}));
    let their_contact = app
        .post(
            "/api/v1/contacts",
            t,
            &json!({"customer_id": someone_else["id"], "first_name": "Hank"}),
        )
        .expect(201)
        .json();
    let cases = [
        (
            json!({"pipeline_id": pid, "stage_id": foreign_stage}),
            "stage_id",
        ),
        (json!({"stage_id": "no-such-stage"}), "stage_id"),
        (json!({"pipeline_id": "no-such-pipeline"}), "pipeline_id"),
        (json!({"contact_id": their_contact["id"]}), "contact_id"),
        (json!({"contact_id": "no-such-contact"}), "contact_id"),
        (json!({"amount": -1}), "amount"),
        (json!({"amount": 1.5}), "amount"),
        (json!({"currency": "XXX"}), "currency"),
        (json!({"currency": "ABC"}), "currency"),
        (json!({"probability": 101}), "probability"),
        (json!({"probability": -1}), "probability"),
        (json!({"customer_id": "no-such-customer"}), "customer_id"),
        (json!({"owner_id": "no-such-user"}), "owner_id"),
        (
            json!({"expected_close_date": "2027-02-30"}),
            "expected_close_date",
        ),
        (
            json!({"expected_close_date": "soon"}),
            "expected_close_date",
        ),
        (json!({"name": "  "}), "name"),
        (json!({"status": "won"}), "status"),
    ];
    for (extra, field) in &cases {
        let mut body = json!({"customer_id": customer["id"], "name": "Deal"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let p422 = app.post("/api/v1/opportunities", t, &body).problem(422);
        assert_eq!(fields(&p422), vec![field.to_string()], "{extra}");
    }
    let page = get_json(app, "/api/v1/opportunities?include_total=true");
    assert_eq!(page["total"], 0, "nothing was created");

    // The same on a change.
    let o = opportunity(
        app,
        t,
        &customer,
        json!({"expected_close_date": "2027-02-28"}),
    );
    assert_eq!(o["expected_close_date"], "2027-02-28");
    for (extra, field) in &cases {
        let p422 = app.patch(&opp_url(&o), t, extra).problem(422);
        assert_eq!(fields(&p422), vec![field.to_string()], "{extra}");
    }
    // Moving to another customer keeps the contact only if it is theirs.
    let mine = app
        .post(
            "/api/v1/contacts",
            t,
            &json!({"customer_id": customer["id"], "first_name": "Ada"}),
        )
        .expect(201)
        .json();
    let p422 = app
        .patch(
            &opp_url(&o),
            t,
            &json!({"contact_id": mine["id"], "customer_id": someone_else["id"]}),
        )
        .problem(422);
    assert_eq!(fields(&p422), vec!["contact_id"]);
    assert_eq!(reread(app, &o), o, "refused changes change nothing");
    assert_eq!(history(app, &opp_url(&o)).len(), 1);
    assert_eq!(stage_visits(app, &o).len(), 1);
}

fn opportunities_move_between_pipelines_and_take_their_currency(app: &TestApp) {
    let t = &app.admin_token;
    let sales = default_pipeline(app);
    let sales_id = id_of(&sales);
    let us = create_pipeline(app, "US", json!({"currency": "USD"}));
    let us_id = id_of(&us);
    let customer = app.customer(json!({}));

    // A pipeline alone means its first open stage, and its currency.
    let dollars = opportunity(app, t, &customer, json!({"pipeline_id": us_id}));
    assert_eq!(dollars["currency"], "USD");
    assert_eq!(dollars["stage_id"], stage(&us, "Open").as_str());
    assert_eq!(dollars["probability"], 20);
    // A stage alone means its pipeline.
    let signed = opportunity(app, t, &customer, json!({"stage_id": stage(&us, "Signed")}));
    assert_eq!(signed["pipeline_id"], us_id.as_str());
    assert_eq!(signed["currency"], "USD");
    assert_eq!(signed["status"], "won");
    // An explicit currency wins.
    let euros = opportunity(
        app,
        t,
        &customer,
        json!({"pipeline_id": us_id, "currency": "eur"}),
    );
    assert_eq!(euros["currency"], "EUR");
    let default_one = opportunity(app, t, &customer, json!({}));
    assert_eq!(default_one["currency"], "EUR");
    assert_eq!(default_one["pipeline_id"], sales_id.as_str());

    // Only a stage of another pipeline: the opportunity moves there.
    let url = opp_url(&default_one);
    let moved = app
        .patch(&url, t, &json!({"stage_id": stage(&us, "Open")}))
        .expect(200)
        .json();
    assert_eq!(moved["pipeline_id"], us_id.as_str());
    assert_eq!(moved["stage_id"], stage(&us, "Open").as_str());
    assert_eq!(moved["probability"], 20);
    assert_eq!(moved["currency"], "EUR", "its currency stays");
    assert_eq!(moved["version"], 2);
    let events = history(app, &url);
    assert_eq!(
        events[1]["changes"]["pipeline_id"],
        json!({"old": sales_id, "new": us_id})
    );
    let visits = stage_visits(app, &moved);
    assert_eq!(visits.len(), 2);
    assert_eq!(visits[1]["pipeline_id"], us_id.as_str());
    assert_eq!(visits[1]["stage_name"], "Open");
    // Only a pipeline, while its stage is another pipeline's: refused.
    let p422 = app
        .patch(&url, t, &json!({"pipeline_id": sales_id}))
        .problem(422);
    assert_eq!(fields(&p422), vec!["stage_id"]);
    assert_eq!(reread(app, &moved), moved);
    // A pipeline with one of its stages: moved back.
    let back = app
        .patch(
            &url,
            t,
            &json!({"pipeline_id": sales_id, "stage_id": stage(&sales, "Proposal")}),
        )
        .expect(200)
        .json();
    assert_eq!(back["pipeline_id"], sales_id.as_str());
    assert_eq!(back["probability"], 50);
    // Filters by pipeline.
    let in_us = get_json(
        app,
        &format!("/api/v1/opportunities?pipeline_id={us_id}&sort=created_at"),
    );
    assert_eq!(
        ids(&in_us),
        vec![id_of(&dollars), id_of(&signed), id_of(&euros)]
    );
}

fn opportunity_external_ids_are_unique_keys(app: &TestApp) {
    let t = &app.admin_token;
    let customer = app.customer(json!({}));
    let first = opportunity(app, t, &customer, json!({"external_id": "ERP-OPP-1"}));
    let p409 = app
        .post(
            "/api/v1/opportunities",
            t,
            &json!({"customer_id": customer["id"], "name": "Again", "external_id": "ERP-OPP-1"}),
        )
        .problem(409);
    assert!(
        p409["detail"].as_str().unwrap().contains(&id_of(&first)),
        "{p409}"
    );
    let res = app
        .get("/api/v1/opportunities/by-external-id/ERP-OPP-1", t)
        .expect(200);
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(res.json(), first);
    app.get("/api/v1/opportunities/by-external-id/ERP-OPP-2", t)
        .problem(404);
    let second = opportunity(app, t, &customer, json!({"external_id": "ERP-OPP-2"}));
    app.patch(&opp_url(&second), t, &json!({"external_id": "ERP-OPP-1"}))
        .problem(409);
    assert_eq!(reread(app, &second), second);
    // A blank key is none, and many may have none.
    let blank = opportunity(app, t, &customer, json!({"external_id": "  "}));
    assert_eq!(blank["external_id"], Value::Null);
    opportunity(app, t, &customer, json!({}));
    // Freed by a change, the key can be taken.
    app.patch(&opp_url(&first), t, &json!({"external_id": null}))
        .expect(200);
    app.patch(&opp_url(&second), t, &json!({"external_id": "ERP-OPP-1"}))
        .expect(200);
    let res = get_json(app, "/api/v1/opportunities/by-external-id/ERP-OPP-1");
    assert_eq!(res["id"], second["id"]);
}

fn stage_history_records_every_move(app: &TestApp) {
    let admin = &app.admin_token;
    let admin_id = me(app, admin);
    let agent = app.token_for("agent");
    let agent_id = me(app, &agent);
    let p = default_pipeline(app);
    let customer = app.customer(json!({}));
    let o = opportunity(app, admin, &customer, json!({}));
    let url = opp_url(&o);
    app.patch(
        &url,
        &agent,
        &json!({"stage_id": stage(&p, "Needs analysis")}),
    )
    .expect(200);
    // A change that stays in the stage adds no entry.
    app.patch(&url, &agent, &json!({"amount": 10})).expect(200);
    app.patch(&url, admin, &json!({"stage_id": stage(&p, "Won")}))
        .expect(200);
    let last = app
        .patch(&url, &agent, &json!({"stage_id": stage(&p, "Proposal")}))
        .expect(200)
        .json();
    // Renaming a stage later keeps the name the opportunity saw.
    app.patch(
        &format!(
            "/api/v1/pipelines/{}/stages/{}",
            id_of(&p),
            stage(&p, "Won")
        ),
        admin,
        &json!({"name": "Closed won"}),
    )
    .expect(200);

    let visits = stage_visits(app, &o);
    let names: Vec<&str> = visits
        .iter()
        .map(|v| v["stage_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["Qualification", "Needs analysis", "Won", "Proposal"]
    );
    let movers: Vec<&Value> = visits.iter().map(|v| &v["changed_by"]).collect();
    assert_eq!(
        movers,
        vec![
            &json!({"type": "user", "id": admin_id}),
            &json!({"type": "user", "id": agent_id}),
            &json!({"type": "user", "id": admin_id}),
            &json!({"type": "user", "id": agent_id}),
        ]
    );
    assert_eq!(visits[0]["entered_at"], o["created_at"]);
    for pair in visits.windows(2) {
        assert!(pair[0]["left_at"].is_string(), "{pair:?}");
        assert_eq!(pair[0]["left_at"], pair[1]["entered_at"]);
        let entered = time(&pair[0]["entered_at"]);
        let left = time(&pair[0]["left_at"]);
        assert!(left >= entered);
        assert_eq!(
            pair[0]["seconds_in_stage"].as_i64().unwrap(),
            (left - entered).num_seconds()
        );
    }
    for v in &visits {
        assert!(v["seconds_in_stage"].as_i64().unwrap() >= 0, "{v}");
        assert_eq!(v["pipeline_id"], p["id"]);
    }
    let current = visits.last().unwrap();
    assert_eq!(current["left_at"], Value::Null);
    assert_eq!(current["entered_at"], last["stage_entered_at"]);
    assert_eq!(current["stage_id"], last["stage_id"]);
    // Paged like every list.
    let page = get_json(app, &format!("{url}/stages?limit=3"));
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    assert!(page["next_cursor"].is_string(), "{page}");
    let viewer = app.token_for("viewer");
    app.get(&format!("{url}/stages"), &viewer).expect(200);
    app.get("/api/v1/opportunities/no-such-opportunity/stages", admin)
        .problem(404);
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .with_timezone(&chrono::Utc)
}

/// Moves an opportunity's stage clock back, as if it entered its stage
/// `days` days ago (columns are `TIMESTAMP` without time zone, in UTC).
fn backdate_stage_entry(app: &TestApp, id: &str, days: i64) {
    use diesel::RunQueryDsl;
    let at = chrono::Utc::now().naive_utc() - chrono::Duration::days(days);
    let mut pooled = app.db();
    let conn: &mut crm::db::DbConn = &mut pooled;
    let changed = diesel::sql_query("UPDATE opportunities SET stage_entered_at = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Timestamp, _>(at)
        .bind::<diesel::sql_types::Text, _>(id)
        .execute(conn)
        .expect("backdate");
    assert_eq!(changed, 1);
}

fn rotting_follows_the_stage_rotting_days(app: &TestApp) {
    let t = &app.admin_token;
    let p = default_pipeline(app);
    let pid = id_of(&p);
    let proposal = stage(&p, "Proposal");
    let proposal_url = format!("/api/v1/pipelines/{pid}/stages/{proposal}");
    let s = app
        .patch(&proposal_url, t, &json!({"rotting_days": 1}))
        .expect(200)
        .json();
    assert_eq!(s["rotting_days"], 1);
    let customer = app.customer(json!({}));
    let o = opportunity(app, t, &customer, json!({"name": "Slow"}));
    let fresh = opportunity(
        app,
        t,
        &customer,
        json!({"name": "Fresh", "stage_id": proposal}),
    );
    let won = opportunity(app, t, &customer, json!({"name": "Done"}));
    let url = opp_url(&o);
    let moved = app
        .patch(&url, t, &json!({"stage_id": proposal}))
        .expect(200)
        .json();
    assert_eq!(moved["rotting"], false);
    let won = app
        .patch(&opp_url(&won), t, &json!({"stage_id": stage(&p, "Won")}))
        .expect(200)
        .json();

    backdate_stage_entry(app, &id_of(&o), 3);
    backdate_stage_entry(app, &id_of(&won), 3);
    // rotting_at was computed from the old clock: still not rotting.
    assert_eq!(reread(app, &o)["rotting"], false);
    let s = app
        .patch(&proposal_url, t, &json!({"rotting_days": 2}))
        .expect(200)
        .json();
    assert_eq!(s["rotting_days"], 2);
    let now = reread(app, &o);
    assert_eq!(now["rotting"], true, "{now}");
    assert_eq!(now["version"], moved["version"], "derived: no new version");
    assert_eq!(reread(app, &fresh)["rotting"], false);
    assert_eq!(reread(app, &won)["rotting"], false, "closed ones never rot");
    let rotting = get_json(app, "/api/v1/opportunities?rotting=true");
    assert_eq!(ids(&rotting), vec![id_of(&o)]);
    assert_eq!(rotting["data"][0]["rotting"], true);
    let not_rotting = ids(&get_json(app, "/api/v1/opportunities?rotting=false"));
    assert!(!not_rotting.contains(&id_of(&o)));
    assert!(not_rotting.contains(&id_of(&fresh)));
    assert!(not_rotting.contains(&id_of(&won)));
    assert_eq!(not_rotting.len(), 2);

    // Leaving the stage restarts the clock.
    let other = app
        .patch(&url, t, &json!({"stage_id": stage(&p, "Negotiation")}))
        .expect(200)
        .json();
    assert_eq!(other["rotting"], false);
    let back = app
        .patch(&url, t, &json!({"stage_id": proposal}))
        .expect(200)
        .json();
    assert_eq!(back["rotting"], false);
    backdate_stage_entry(app, &id_of(&o), 3);
    app.patch(&proposal_url, t, &json!({"rotting_days": 1}))
        .expect(200);
    assert_eq!(reread(app, &o)["rotting"], true);

    // No rotting days: never rotting.
    app.patch(&proposal_url, t, &json!({"rotting_days": null}))
        .expect(200);
    assert_eq!(reread(app, &o)["rotting"], false);
    assert_eq!(
        get_json(app, "/api/v1/opportunities?rotting=true")["data"],
        json!([])
    );
    assert_eq!(
        ids(&get_json(app, "/api/v1/opportunities?rotting=false")).len(),
        3
    );
}

fn deleting_referenced_records_clears_or_refuses(app: &TestApp) {
    let t = &app.admin_token;
    let customer = app.customer(json!({}));
    let contact = app
        .post(
            "/api/v1/contacts",
            t,
            &json!({"customer_id": customer["id"], "first_name": "Ada"}),
        )
        .expect(201)
        .json();
    let owner = app
        .post(
            "/api/v1/users",
            t,
            &json!({"email": "owner@test.local", "name": "Owner", "role": "agent",
                    "password": "password-123"}),
        )
        .expect(201)
        .json();
    let o = opportunity(
        app,
        t,
        &customer,
        json!({"contact_id": contact["id"], "owner_id": owner["id"]}),
    );
    assert_eq!(o["contact_id"], contact["id"]);
    assert_eq!(o["owner_id"], owner["id"]);

    // The contact goes; the opportunity loses the reference in a new version.
    app.delete(&format!("/api/v1/contacts/{}", id_of(&contact)), t)
        .expect(204);
    let now = reread(app, &o);
    assert_eq!(now["contact_id"], Value::Null);
    assert_eq!(now["version"], 2);
    assert_eq!(
        app.get(&opp_url(&o), t).expect(200).header("etag"),
        Some("\"2\"")
    );
    let events = history(app, &opp_url(&o));
    assert_eq!(actions(&events), vec!["created", "updated"]);
    assert_eq!(
        events[1]["changes"]["contact_id"],
        json!({"old": contact["id"], "new": null})
    );
    assert_eq!(events[1]["data"]["contact_id"], Value::Null);

    // The customer and the owner stay while the opportunity refers to them.
    let customer_url = format!("/api/v1/customers/{}", id_of(&customer));
    let before = get_json(app, &customer_url);
    let p409 = app.delete(&customer_url, t).problem(409);
    let detail = p409["detail"].as_str().unwrap();
    assert!(detail.contains("1 opportunities"), "{detail}");
    assert_eq!(get_json(app, &customer_url), before);
    let owner_url = format!("/api/v1/users/{}", id_of(&owner));
    let p409 = app.delete(&owner_url, t).problem(409);
    assert!(
        p409["detail"].as_str().unwrap().contains("1 opportunities"),
        "{p409}"
    );
    app.get(&owner_url, t).expect(200);
    assert_eq!(reread(app, &o), now);

    // Once the opportunity is gone, so may they be.
    app.delete(&opp_url(&o), t).expect(204);
    app.delete(&customer_url, t).expect(204);
    app.delete(&owner_url, t).expect(204);
}

fn opportunity_lists_filter_and_sort(app: &TestApp) {
    let t = &app.admin_token;
    let p = default_pipeline(app);
    let pid = id_of(&p);
    let other = create_pipeline(app, "Other", json!({}));
    let customer = app.customer(json!({}));
    let a = opportunity(
        app,
        t,
        &customer,
        json!({"name": "Acme Renewal 2027", "amount": 5000, "expected_close_date": "2027-01-15"}),
    );
    let b = opportunity(
        app,
        t,
        &customer,
        json!({"name": "Globex upsell", "amount": 20_000, "expected_close_date": "2026-12-01",
               "stage_id": stage(&p, "Proposal")}),
    );
    let c = opportunity(
        app,
        t,
        &customer,
        json!({"name": "Initech pilot", "amount": 100, "stage_id": stage(&other, "Open"),
               "tags": ["vip"], "currency": "usd"}),
    );
    let d = opportunity(
        app,
        t,
        &customer,
        json!({"name": "Umbrella renewal", "amount": 7000}),
    );
    let d = app
        .patch(&opp_url(&d), t, &json!({"stage_id": stage(&p, "Won")}))
        .expect(200)
        .json();
    let closed_at = d["closed_at"].as_str().unwrap().to_string();

    let list = |query: &str| ids(&get_json(app, &format!("/api/v1/opportunities?{query}")));
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(list("status=won"), vec![id_of(&d)]);
    assert_eq!(
        sorted(list("status=open")),
        sorted(vec![id_of(&a), id_of(&b), id_of(&c)])
    );
    assert_eq!(list("status=lost"), Vec::<String>::new());
    assert_eq!(
        list(&format!("stage_id={}", stage(&p, "Proposal"))),
        vec![id_of(&b)]
    );
    assert_eq!(
        list(&format!("pipeline_id={}", id_of(&other))),
        vec![id_of(&c)]
    );
    assert_eq!(
        sorted(list(&format!("pipeline_id={pid}"))),
        sorted(vec![id_of(&a), id_of(&b), id_of(&d)])
    );
    assert_eq!(
        list("amount_min=5000&sort=amount"),
        vec![id_of(&a), id_of(&d), id_of(&b)]
    );
    assert_eq!(list("amount_min=5001&amount_max=10000"), vec![id_of(&d)]);
    assert_eq!(list("expected_close_before=2027-01-01"), vec![id_of(&b)]);
    assert_eq!(
        list("expected_close_before=2027-01-16&sort=expected_close_date"),
        vec![id_of(&b), id_of(&a)]
    );
    assert_eq!(list("expected_close_after=2027-01-15"), vec![id_of(&a)]);
    assert_eq!(list(&format!("closed_after={closed_at}")), vec![id_of(&d)]);
    let later = (time(&d["closed_at"]) + chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(list(&format!("closed_after={later}")), Vec::<String>::new());
    assert_eq!(list(&format!("closed_before={later}")), vec![id_of(&d)]);
    assert_eq!(
        sorted(list("q=RENEWAL")),
        sorted(vec![id_of(&a), id_of(&d)])
    );
    assert_eq!(list("q=pilot"), vec![id_of(&c)]);
    // Without a date: last, in both directions of the date sort's key.
    let by_date = list("sort=expected_close_date");
    assert_eq!(&by_date[..2], &[id_of(&b), id_of(&a)]);
    assert_eq!(
        sorted(by_date[2..].to_vec()),
        sorted(vec![id_of(&c), id_of(&d)])
    );
    // Paging through the date sort keeps every record once.
    let first = get_json(
        app,
        "/api/v1/opportunities?sort=expected_close_date&limit=3",
    );
    assert!(first["next_cursor"].is_string(), "{first}");
    let cursor = first["next_cursor"].as_str().expect("next_cursor");
    let rest = get_json(
        app,
        &format!("/api/v1/opportunities?sort=expected_close_date&limit=3&cursor={cursor}"),
    );
    let mut all = ids(&first);
    all.extend(ids(&rest));
    assert_eq!(all, by_date);
    let p422 = app
        .get("/api/v1/opportunities?status=maybe", t)
        .problem(422);
    assert_eq!(fields(&p422), vec!["status"]);
    let p422 = app
        .get("/api/v1/opportunities?sort=probability", t)
        .problem(422);
    assert_eq!(fields(&p422), vec!["sort"]);
    assert_eq!(list("tag=vip"), vec![id_of(&c)]);
    assert_eq!(list("currency=usd"), vec![id_of(&c)]);
    // By customer and owner.
    let globex = app.customer(json!({"name": "Globex"}));
    let admin_id = me(app, t);
    let e = opportunity(app, t, &globex, json!({"owner_id": admin_id}));
    assert_eq!(
        list(&format!("customer_id={}", id_of(&globex))),
        vec![id_of(&e)]
    );
    assert_eq!(list(&format!("owner_id={admin_id}")), vec![id_of(&e)]);
    assert_eq!(list(&format!("customer_id={}", id_of(&customer))).len(), 4);
}

/// A PATCH whose merged result equals the opportunity changes nothing: no
/// new version, no event, no stage visit.
fn a_patch_resending_the_current_stage_changes_nothing(app: &TestApp) {
    let t = &app.admin_token;
    let p = default_pipeline(app);
    let customer = app.customer(json!({}));
    let o = opportunity(
        app,
        t,
        &customer,
        json!({"stage_id": stage(&p, "Proposal"), "currency": "EUR"}),
    );
    let url = opp_url(&o);
    // These are recognised as no change.
    for patch in [
        json!({}),
        json!({"name": "Deal", "amount": 0}),
        json!({"stage_id": o["stage_id"], "pipeline_id": o["pipeline_id"]}),
    ] {
        let res = app.patch(&url, t, &patch).expect(200);
        assert_eq!(res.header("etag"), Some("\"1\""), "{patch}");
    }
    // These describe the same opportunity too: the stage it is in, the
    // pipeline it is in (by its stage), the currency it has by default.
    let mut changed = Vec::new();
    for patch in [
        json!({"stage_id": o["stage_id"]}),
        json!({"pipeline_id": null}),
        json!({"currency": null}),
    ] {
        let res = app.patch(&url, t, &patch).expect(200);
        if res.header("etag") != Some("\"1\"") {
            changed.push(format!("{patch} made version {:?}", res.header("etag")));
        }
    }
    assert!(
        changed.is_empty(),
        "no-op patches made new versions: {changed:?}; history: {:?}",
        actions(&history(app, &url))
    );
    assert_eq!(reread(app, &o), o);
    assert_eq!(history(app, &url).len(), 1);
    assert_eq!(stage_visits(app, &o).len(), 1);
}
