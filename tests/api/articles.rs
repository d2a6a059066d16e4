//! The knowledge base: articles, full-text search on both backends, and
//! articles linked to and suggested for tickets, over HTTP.

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{fields, TestApp};

both_backends!(
    articles_publish_once_and_default_their_author,
    search_matches_word_forms_and_ranks_titles_first,
    search_ignores_punctuation_and_refuses_queries_without_words,
    search_pages_filters_and_counts,
    tickets_link_articles_and_get_suggestions,
);

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn article(app: &TestApp, body: Value) -> Value {
    app.post("/api/v1/articles", &app.admin_token, &body)
        .expect(201)
        .json()
}

fn search(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/articles?{query}"), &app.admin_token)
        .expect(200)
        .json()["data"]
        .as_array()
        .expect("data")
        .clone()
}

fn titles(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["title"].as_str().unwrap().to_string())
        .collect()
}

/// A small knowledge base.
fn library(app: &TestApp) {
    for (title, body, status) in [
        (
            "Refund policy",
            "How we pay money back for returned orders within 30 days.",
            "published",
        ),
        (
            "Shipping times",
            "Parcels arrive in 3 days. Late parcels can be refunded on request.",
            "published",
        ),
        (
            "Resetting your password",
            "Open the sign-in page and choose forgot password.",
            "published",
        ),
        (
            "Draft: gift cards",
            "Gift cards cannot be refunded yet.",
            "draft",
        ),
        (
            "Invoices",
            "Every order has an invoice; download it from your account.",
            "published",
        ),
    ] {
        article(
            app,
            json!({"title": title, "body": body, "status": status, "tags": ["kb"]}),
        );
    }
}

fn articles_publish_once_and_default_their_author(app: &TestApp) {
    let me = app
        .get("/api/v1/users/me", &app.admin_token)
        .expect(200)
        .json();
    let a = article(app, json!({"title": "  Welcome  "}));
    assert_eq!(a["title"], "Welcome");
    assert_eq!(a["status"], "draft");
    assert_eq!(a["body"], "");
    assert_eq!(a["author_id"], id(&me));
    assert!(a["published_at"].is_null());
    assert!(a.get("snippet").is_none() && a.get("relevance").is_none());
    let url = format!("/api/v1/articles/{}", id(&a));
    let published = app
        .patch(&url, &app.admin_token, &json!({"status": "published"}))
        .expect(200)
        .json();
    let first = published["published_at"].clone();
    assert!(first.is_string());
    app.patch(&url, &app.admin_token, &json!({"status": "draft"}))
        .expect(200);
    let again = app
        .patch(&url, &app.admin_token, &json!({"status": "published"}))
        .expect(200)
        .json();
    assert_eq!(
        again["published_at"], first,
        "set on the first publish only"
    );
    let viewer = app.token_for("viewer");
    let agent = app.token_for("agent");
    app.post("/api/v1/articles", &viewer, &json!({"title": "x"}))
        .problem(403);
    let draft = app
        .post(
            "/api/v1/articles",
            &agent,
            &json!({"title": "Agent's draft"}),
        )
        .expect(201)
        .json();
    let listed = app
        .get("/api/v1/articles?status=draft", &viewer)
        .expect(200)
        .json();
    assert_eq!(listed["data"][0]["id"], id(&draft), "viewers see drafts");
    for (body, field) in [
        (json!({"title": " "}), "title"),
        (json!({"title": "x", "body": "y".repeat(262_145)}), "body"),
        (json!({"title": "x", "author_id": "nobody"}), "author_id"),
        (json!({"title": "x", "status": "archived"}), "status"),
    ] {
        let p = app.post("/api/v1/articles", &agent, &body).problem(422);
        assert_eq!(fields(&p), [field], "{p}");
    }
    app.delete(&url, &agent).problem(403);
    // An author of articles stays a user.
    let author = app.get("/api/v1/users/me", &agent).expect(200).json();
    app.delete(&format!("/api/v1/users/{}", id(&author)), &app.admin_token)
        .problem(409);
    app.delete(&url, &app.admin_token).expect(204);
}

fn search_matches_word_forms_and_ranks_titles_first(app: &TestApp) {
    library(app);
    // "refunds" finds "refund" and "refunded".
    let hits = search(app, "q=refunds");
    let found = titles(&hits);
    assert_eq!(
        found[0], "Refund policy",
        "a title match ranks first: {found:?}"
    );
    assert!(found.contains(&"Shipping times".to_string()), "{found:?}");
    assert!(
        found.contains(&"Draft: gift cards".to_string()),
        "{found:?}"
    );
    assert!(!found.contains(&"Invoices".to_string()));
    for pair in hits.windows(2) {
        assert!(pair[0]["relevance"].as_f64() >= pair[1]["relevance"].as_f64());
    }
    let shipping = hits
        .iter()
        .find(|h| h["title"] == "Shipping times")
        .unwrap();
    let snippet = shipping["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>refunded</mark>"), "{snippet}");
    // Every word must occur.
    assert_eq!(titles(&search(app, "q=refund+parcels")), ["Shipping times"]);
    assert!(search(app, "q=refund+password").is_empty());
    // Published only, and by tag.
    let published = titles(&search(app, "q=refund&status=published"));
    assert!(
        !published.iter().any(|t| t.starts_with("Draft")),
        "{published:?}"
    );
    assert!(search(app, "q=refund&tag=other").is_empty());
    // A snippet is safe to show as HTML: only the marks are markup.
    article(
        app,
        json!({"title": "Markup", "body": "Paste <img src=x onerror=alert(1)> & the \"xylophone\"\nbelow."}),
    );
    let hits = search(app, "q=xylophones");
    assert_eq!(
        hits[0]["snippet"],
        "Paste &lt;img src=x onerror=alert(1)&gt; &amp; the &quot;<mark>xylophone</mark>&quot; below."
    );
}

fn search_ignores_punctuation_and_refuses_queries_without_words(app: &TestApp) {
    library(app);
    let q = |text: &str| -> String {
        format!(
            "q={}",
            form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
        )
    };
    assert_eq!(
        titles(&search(app, &q("How do I reset my password?!")))[0],
        "Resetting your password"
    );
    assert_eq!(
        titles(&search(app, &q("\"password\" AND (reset* OR NEAR) -x:y")))
            .first()
            .map(String::as_str),
        None,
        "operators are words here, and every word must occur"
    );
    assert_eq!(
        titles(&search(app, &q("password's reset")))[0],
        "Resetting your password"
    );
    assert!(
        search(app, &q("the and of")).is_empty(),
        "only common words: no match, no error"
    );
    for text in ["", "   ", "\"\"", "* - ( ) : ^ \" '", "&|!<->"] {
        let p = app
            .get(&format!("/api/v1/articles?{}", q(text)), &app.admin_token)
            .problem(422);
        assert_eq!(fields(&p), ["q"], "{text:?}: {p}");
    }
    let long = "word ".repeat(50);
    app.get(&format!("/api/v1/articles?{}", q(&long)), &app.admin_token)
        .problem(422);
}

fn search_pages_filters_and_counts(app: &TestApp) {
    for i in 0..7 {
        let body = "warranty ".repeat(i + 1);
        article(
            app,
            json!({"title": format!("Note {i}"), "body": body, "status": "published"}),
        );
    }
    article(
        app,
        json!({"title": "Warranty claims", "body": "How to claim.", "status": "published"}),
    );
    let all = search(app, "q=warranty&limit=100");
    assert_eq!(all.len(), 8);
    assert_eq!(all[0]["title"], "Warranty claims");
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(
                &format!("/api/v1/articles?q=warranty&limit=3{cursor}"),
                &app.admin_token,
            )
            .expect(200)
            .json();
        paged.extend(page["data"].as_array().unwrap().iter().map(id));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        paged,
        all.iter().map(id).collect::<Vec<_>>(),
        "pages follow relevance"
    );
    let counted = app
        .get(
            "/api/v1/articles?q=warranty&include_total=true&limit=2",
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(counted["total"], 8);
    // A list cursor is no search cursor.
    let listed = app
        .get("/api/v1/articles?limit=1", &app.admin_token)
        .expect(200)
        .json();
    let c = listed["next_cursor"].as_str().unwrap();
    let p = app
        .get(
            &format!("/api/v1/articles?q=warranty&cursor={c}"),
            &app.admin_token,
        )
        .problem(422);
    assert_eq!(fields(&p), ["cursor"], "{p}");
}

fn tickets_link_articles_and_get_suggestions(app: &TestApp) {
    library(app);
    let c = app.customer(json!({}));
    let ticket = app
        .post(
            "/api/v1/tickets",
            &app.admin_token,
            &json!({"customer_id": id(&c), "subject": "Refund for a late parcel?",
                    "description": "My parcels are late. I want my money back."}),
        )
        .expect(201)
        .json();
    let tid = id(&ticket);
    let suggested = app
        .get(
            &format!("/api/v1/tickets/{tid}/suggested-articles"),
            &app.admin_token,
        )
        .expect(200)
        .json();
    let mut names = titles(suggested["data"].as_array().unwrap());
    names.sort();
    assert_eq!(
        names,
        ["Refund policy", "Shipping times"],
        "the published articles with words in common"
    );
    let one = app
        .get(
            &format!("/api/v1/tickets/{tid}/suggested-articles?limit=1"),
            &app.admin_token,
        )
        .expect(200)
        .json();
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    app.get(
        &format!("/api/v1/tickets/{tid}/suggested-articles?limit=21"),
        &app.admin_token,
    )
    .problem(422);
    app.get("/api/v1/tickets/nope/suggested-articles", &app.admin_token)
        .problem(404);

    let refund = search(app, "q=refund+policy")[0].clone();
    let url = format!("/api/v1/tickets/{tid}/articles");
    let agent = app.token_for("agent");
    let viewer = app.token_for("viewer");
    app.post(&url, &viewer, &json!({"article_id": id(&refund)}))
        .problem(403);
    let p = app
        .post(&url, &agent, &json!({"article_id": "nope"}))
        .problem(422);
    assert_eq!(fields(&p), ["article_id"], "{p}");
    let linked = app
        .post(&url, &agent, &json!({"article_id": id(&refund)}))
        .expect(200)
        .json();
    assert_eq!(linked["article_ids"], json!([id(&refund)]));
    assert_eq!(linked["version"], 2);
    let again = app
        .post(&url, &agent, &json!({"article_id": id(&refund)}))
        .expect(200)
        .json();
    assert_eq!(again["version"], 2, "linking twice changes nothing");
    app.delete(&format!("{url}/{}", id(&refund)), &agent)
        .expect(204);
    app.delete(&format!("{url}/{}", id(&refund)), &agent)
        .problem(404);
    app.post(&url, &agent, &json!({"article_id": id(&refund)}))
        .expect(200);
    // Deleting the article removes its links, with the ticket's event.
    app.delete(
        &format!("/api/v1/articles/{}", id(&refund)),
        &app.admin_token,
    )
    .expect(204);
    let after = app
        .get(&format!("/api/v1/tickets/{tid}"), &app.admin_token)
        .expect(200)
        .json();
    assert_eq!(after["article_ids"], json!([]));
    assert_eq!(after["version"], 5);
    let history = app
        .get(&format!("/api/v1/tickets/{tid}/history"), &app.admin_token)
        .expect(200)
        .json();
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["changes"]["article_ids"]["new"], json!([]));
    // Nothing changes on a closed ticket.
    let other = search(app, "q=invoice")[0].clone();
    app.patch(
        &format!("/api/v1/tickets/{tid}"),
        &app.admin_token,
        &json!({"status": "closed"}),
    )
    .expect(200);
    app.post(&url, &agent, &json!({"article_id": id(&other)}))
        .problem(409);
}
