//! `crm seed --articles N`: knowledge-base articles of generated text
//! (see [`super::text`]): 150 to 1,500 words each (log-uniform, so most
//! are short), written over the last three years by the users, four in five
//! published, some edited since, with a few tags. Each backend indexes them
//! itself: PostgreSQL's generated `search_vector`, SQLite's FTS5 triggers.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use rand::seq::IndexedRandom;
use rand::Rng;

use super::service::id_at;
use super::text::vocabulary;
use super::TagRow;
use crate::articles::ArticleRow;
use crate::db::schema::{articles, record_tags, users};
use crate::db::{self, DbConn, Pool};

const ARTICLE_TAGS: &[&str] = &[
    "getting-started",
    "billing",
    "integrations",
    "admin",
    "troubleshooting",
    "api",
    "security",
    "mobile",
    "reports",
    "automation",
    "faq",
];

const DAY: i64 = 86_400;

/// Loads `n` articles in `threads` threads; returns how many.
pub fn load(pool: &Pool, n: u64, threads: u64, started: std::time::Instant) -> anyhow::Result<u64> {
    if n == 0 {
        return Ok(0);
    }
    let mut pooled = pool.get()?;
    let conn: &mut DbConn = &mut pooled;
    let postgres = db::is_postgres(conn);
    let authors: Vec<String> = users::table
        .filter(users::active.eq(true))
        .order(users::id)
        .select(users::id)
        .load(conn)?;
    drop(pooled);
    let now = db::to_utc(db::now());
    let batch: u64 = if postgres { 1000 } else { 200 };
    let batches = n.div_ceil(batch);
    let written = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let authors = &authors;
                scope.spawn(move || -> anyhow::Result<u64> {
                    let mut conn = pool.get()?;
                    let mut rng = rand::rng();
                    let mut written = 0;
                    for k in (t..batches).step_by(threads as usize) {
                        let size = batch.min(n - k * batch);
                        let mut rows = Vec::with_capacity(size as usize);
                        let mut tags = Vec::new();
                        for _ in 0..size {
                            one_article(&mut rng, authors, now, &mut rows, &mut tags);
                        }
                        written += rows.len() as u64;
                        insert(&mut conn, &rows, &tags)?;
                        let done = (k + 1) * batch;
                        if done % 20_000 < batch {
                            log::info!(
                                "articles up to {} of {n} in {:.1}s",
                                done.min(n),
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(written)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("seed thread panicked"))?
            })
            .sum::<anyhow::Result<u64>>()
    })?;
    Ok(written)
}

fn one_article(
    rng: &mut impl Rng,
    authors: &[String],
    now: DateTime<Utc>,
    rows: &mut Vec<ArticleRow>,
    tags: &mut Vec<TagRow>,
) {
    let v = vocabulary();
    let topic = v.topic(rng);
    let words = (rng.random_range((150f64).ln()..(1500f64).ln())).exp() as usize;
    let created = now - Duration::seconds(rng.random_range(0..3 * 365 * DAY));
    let published = rng.random_bool(0.8);
    let mut version = 1;
    let published_at = published.then(|| {
        if rng.random_bool(0.5) {
            created
        } else {
            // Drafted first, published later.
            version += 1;
            (created + Duration::seconds(rng.random_range(600..10 * DAY))).min(now)
        }
    });
    let mut updated = published_at.unwrap_or(created);
    if rng.random_bool(0.3) {
        version += 1;
        updated = (updated + Duration::seconds(rng.random_range(600..120 * DAY))).min(now);
    }
    let mut article_tags: Vec<String> = (0..rng.random_range(0..=3))
        .map(|_| ARTICLE_TAGS.choose(rng).unwrap_or(&"faq").to_string())
        .collect();
    article_tags.sort();
    article_tags.dedup();
    let id = id_at(created);
    for tag in &article_tags {
        tags.push(TagRow {
            resource: "articles",
            tag: tag.clone(),
            record_id: id.clone(),
        });
    }
    rows.push(ArticleRow {
        id,
        title: v.article_title(rng, topic),
        body: v.article_body(rng, topic, words),
        status: if published { "published" } else { "draft" }.to_string(),
        tags: serde_json::to_string(&article_tags).unwrap_or_else(|_| "[]".into()),
        published_at: published_at.map(db::from_utc),
        author_id: authors.choose(rng).cloned(),
        version,
        created_at: db::from_utc(created),
        updated_at: db::from_utc(updated),
    });
}

fn insert(conn: &mut DbConn, rows: &[ArticleRow], tags: &[TagRow]) -> anyhow::Result<()> {
    conn.transaction(|conn| {
        match conn {
            DbConn::Postgresql(c) => {
                diesel::copy_from(articles::table)
                    .from_insertable(rows)
                    .execute(c)?;
                diesel::copy_from(record_tags::table)
                    .from_insertable(tags)
                    .execute(c)?;
            }
            DbConn::Sqlite(c) => {
                for part in rows.chunks(200) {
                    diesel::insert_into(articles::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in tags.chunks(4000) {
                    diesel::insert_into(record_tags::table)
                        .values(part)
                        .execute(c)?;
                }
            }
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}
