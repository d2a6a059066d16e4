//! Full-text search of articles, with each backend's own index: PostgreSQL
//! matches a `tsvector` column (GIN index, English stemming) and ranks with
//! `ts_rank` (title words weigh A, body words B); SQLite matches an FTS5
//! table (Porter stemming) and ranks with `bm25` (title ten times the body).
//!
//! The text a caller sends is never handed to a query parser: it is cut
//! into words (letters and digits), common words are dropped, and the query
//! is built from the words alone, so quotes, operators and punctuation can
//! neither break a search nor change its meaning.

use diesel::sql_types::{Double, Text};
use diesel::QueryableByName;

use super::repo::ArticleQuery;
use super::{Article, ArticlePage};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination;
use crate::reports::{Dialect, Sql};

/// The most words a search looks for.
const MAX_TERMS: usize = 20;
/// Words too long to be words are cut to this many characters.
const MAX_TERM_CHARS: usize = 64;

/// Common English words, dropped from searches (PostgreSQL's English
/// configuration drops them from its index too).
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for",
    "from", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no",
    "not", "of", "on", "or", "our", "so", "that", "the", "their", "there", "these", "this", "to",
    "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "you",
    "your",
];

/// The words of a search text, lower-cased, without common words and
/// repeats. 422 naming `field` when the text has no word at all (empty,
/// or only quotes, operators and punctuation).
pub fn words(text: &str, field: &str) -> ApiResult<Vec<String>> {
    let mut all = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .peekable();
    if all.peek().is_none() {
        return Err(ApiError::field(
            field,
            "no_words",
            "the search has no word to look for (letters or digits)",
        ));
    }
    let mut words: Vec<String> = Vec::new();
    for word in all {
        let word: String = word.to_lowercase().chars().take(MAX_TERM_CHARS).collect();
        // A lone letter (the "s" of "password's") says nothing.
        let lone_letter = word.chars().count() == 1 && !word.chars().all(char::is_numeric);
        if !lone_letter && !STOP_WORDS.contains(&word.as_str()) && !words.contains(&word) {
            words.push(word);
        }
        if words.len() == MAX_TERMS {
            break;
        }
    }
    Ok(words)
}

/// How a search joins its words.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Every word must occur (a search).
    All,
    /// Any word may occur, more is better (suggestions).
    Any,
}

/// The match expression of `words` in the backend's own syntax. Words
/// are letters and digits only, so they need no escaping.
fn expression(d: Dialect, words: &[String], join: Join) -> String {
    match d {
        Dialect::Postgres => words.join(if join == Join::All { " & " } else { " | " }),
        Dialect::Sqlite => words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(if join == Join::All { " AND " } else { " OR " }),
    }
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Double)]
    relevance: f64,
}

/// The conditions and order of one search.
struct Request<'a> {
    words: &'a [String],
    join: Join,
    /// Only published articles.
    published: bool,
    status: Option<&'a str>,
    author_id: Option<&'a str>,
    tag: Option<&'a str>,
    updated_since: Option<chrono::NaiveDateTime>,
    /// Where the previous page ended: (relevance, id).
    after: Option<(f64, String)>,
    limit: i64,
}

/// The matching articles of a request as a subquery of `id` and
/// `relevance`.
fn matches(sql: &mut Sql, d: Dialect, r: &Request) -> String {
    let q = sql.bind(expression(d, r.words, r.join));
    let mut conditions = Vec::new();
    if r.published {
        conditions.push("a.status = 'published'".to_string());
    }
    if let Some(status) = r.status {
        let n = sql.bind(status);
        conditions.push(format!("a.status = ${n}"));
    }
    if let Some(author) = r.author_id {
        let n = sql.bind(author);
        conditions.push(format!("a.author_id = ${n}"));
    }
    if let Some(tag) = r.tag {
        let n = sql.bind(tag.trim());
        conditions.push(format!(
            "a.id IN (SELECT t.record_id FROM record_tags t \
             WHERE t.resource = 'articles' AND t.tag = ${n})"
        ));
    }
    if let Some(since) = r.updated_since {
        let n = sql.bind_timestamp(since);
        conditions.push(format!("a.updated_at >= {}", d.timestamp(n)));
    }
    let filter = conditions
        .iter()
        .map(|c| format!(" AND {c}"))
        .collect::<String>();
    match d {
        Dialect::Postgres => format!(
            "SELECT a.id, CAST(ts_rank(a.search_vector, to_tsquery('english', ${q})) AS DOUBLE PRECISION) AS relevance \
             FROM articles a WHERE a.search_vector @@ to_tsquery('english', ${q}){filter}"
        ),
        Dialect::Sqlite => format!(
            "SELECT a.id AS id, -bm25(articles_fts, 10.0, 1.0) AS relevance \
             FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid \
             WHERE articles_fts MATCH ${q}{filter}"
        ),
    }
}

/// One page of hits, best first, in one query.
fn hits(conn: &mut DbConn, r: &Request) -> ApiResult<Vec<Hit>> {
    let d = Dialect::of(conn);
    let mut sql = Sql::new();
    let matches = matches(&mut sql, d, r);
    let keyset = match &r.after {
        None => String::new(),
        Some((relevance, id)) => {
            let rel = sql.bind(relevance.to_string());
            let id = sql.bind(id.clone());
            let rel = d.float(&format!("${rel}"));
            format!("WHERE s.relevance < {rel} OR (s.relevance = {rel} AND s.id > ${id})")
        }
    };
    let limit = r.limit + 1;
    sql.text = format!(
        "SELECT s.id, s.relevance FROM ({matches}) s {keyset} \
         ORDER BY s.relevance DESC, s.id LIMIT {limit}"
    );
    sql.load(conn)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many articles a search finds (for `include_total`).
fn count(conn: &mut DbConn, r: &Request) -> ApiResult<i64> {
    let d = Dialect::of(conn);
    let mut sql = Sql::new();
    let matches = matches(&mut sql, d, r);
    sql.text = format!("SELECT COUNT(*) AS n FROM ({matches}) s");
    let rows: Vec<Count> = sql.load(conn)?;
    Ok(rows.first().map(|c| c.n).unwrap_or(0))
}

/// The articles of hits, in the hits' order, with their relevance and a
/// snippet of their body for `words`.
fn articles_of(conn: &mut DbConn, hits: &[Hit], words: &[String]) -> ApiResult<Vec<Article>> {
    let ids: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
    let mut articles = super::repo::get_many(conn, &ids)?;
    for a in &mut articles {
        if let Some(h) = hits.iter().find(|h| h.id == a.id) {
            a.snippet = Some(super::snippet::snippet(&a.body, words));
            a.relevance = Some(h.relevance);
        }
    }
    Ok(articles)
}

/// Prefix of a search cursor's value: a search is paged by relevance.
const CURSOR_PREFIX: &str = "relevance:";

/// A list with `q`: the articles holding every word, best first, keyset
/// paged by (relevance, id).
pub fn search(conn: &mut DbConn, text: &str, q: &ArticleQuery) -> ApiResult<ArticlePage> {
    if text.chars().count() > pagination::MAX_SEARCH_CHARS {
        return Err(ApiError::field(
            "q",
            "too_long",
            format!("at most {} characters", pagination::MAX_SEARCH_CHARS),
        ));
    }
    let words = words(text, "q")?;
    let after = match &q.after {
        None => None,
        Some(after) => {
            let (value, id) = after.text();
            let relevance = value
                .strip_prefix(CURSOR_PREFIX)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    ApiError::field(
                        "cursor",
                        "invalid_cursor",
                        "this cursor is not one of a search",
                    )
                })?;
            Some((relevance, id))
        }
    };
    let empty = ArticlePage {
        data: Vec::new(),
        next_cursor: None,
        total: q.include_total.then_some(0),
    };
    if words.is_empty() {
        return Ok(empty);
    }
    let f = &q.filters;
    let request = Request {
        words: &words,
        join: Join::All,
        published: false,
        status: f.status.map(|s| s.as_str()),
        author_id: f.author_id.as_deref(),
        tag: f.tag.as_deref(),
        updated_since: f.updated_since.map(crate::db::from_utc),
        after,
        limit: q.limit,
    };
    let total = match q.include_total {
        false => None,
        true => Some(count(conn, &request)?),
    };
    let found = hits(conn, &request)?;
    let (data, next_cursor) = q.finish(articles_of(conn, &found, &words)?, |_, a| {
        (
            format!("{CURSOR_PREFIX}{}", a.relevance.unwrap_or_default()),
            a.id.clone(),
        )
    });
    Ok(ArticlePage {
        data,
        next_cursor,
        total,
    })
}

/// The published articles that best match a ticket's subject and
/// description: any of their words, most relevant first.
pub fn suggestions(conn: &mut DbConn, text: &str, limit: i64) -> ApiResult<Vec<Article>> {
    let words = match words(text, "subject") {
        Ok(words) => words,
        // A ticket without a single word has nothing to suggest.
        Err(_) => return Ok(Vec::new()),
    };
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let request = Request {
        words: &words,
        join: Join::Any,
        published: true,
        status: None,
        author_id: None,
        tag: None,
        updated_since: None,
        after: None,
        limit: limit - 1,
    };
    let found = hits(conn, &request)?;
    articles_of(conn, &found, &words)
}
