//! Article queries; writers run inside the caller's transaction and append
//! their events. A list with `q` is a search (see [`super::search`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{Article, ArticleInput, ArticlePage, ArticleRow, ArticleStatus};
use crate::auth::{Actor, ActorType, CallerCheck};
use crate::db::schema::{articles, record_tags, users};
use crate::db::{self, tags, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::Articles;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Article>> {
    articles::table
        .find(id)
        .select(ArticleRow::as_select())
        .first(conn)
        .optional()?
        .map(ArticleRow::into_article)
        .transpose()
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Article> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("article"))
}

/// The articles `ids`, in that order (missing ones left out).
pub fn get_many(conn: &mut DbConn, ids: &[String]) -> ApiResult<Vec<Article>> {
    let mut found: Vec<Article> = articles::table
        .filter(articles::id.eq_any(ids))
        .select(ArticleRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ArticleRow::into_article)
        .collect::<ApiResult<_>>()?;
    let mut ordered = Vec::with_capacity(found.len());
    for id in ids {
        if let Some(i) = found.iter().position(|a| &a.id == id) {
            ordered.push(found.swap_remove(i));
        }
    }
    Ok(ordered)
}

/// The article with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Article, bool)>> {
    crate::find_checked!(articles, ArticleRow, conn, id, caller)?
        .map(|(row, valid)| Ok((row.into_article()?, valid)))
        .transpose()
}

pub fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Article> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |a| a.version,
        |c, version| crate::lock_at_version!(articles, c, id, version),
    )
}

fn check_references(conn: &mut DbConn, input: &ArticleInput) -> ApiResult<()> {
    crate::check_references!(conn, {
        author_id: users "user" = input.author_id.as_deref(),
    })
}

pub fn create(tx: &mut Tx, actor: &Actor, mut input: ArticleInput) -> ApiResult<Article> {
    if input.author_id.is_none() && actor.actor_type == ActorType::User {
        input.author_id = Some(actor.id.clone());
    }
    let conn = tx.conn();
    check_references(conn, &input)?;
    let id = db::new_id();
    let article = Article::new(id.clone(), input, db::now());
    diesel::insert_into(articles::table)
        .values(&article.row())
        .execute(conn)?;
    tags::add(conn, RESOURCE.as_str(), &id, &article.tags)?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &id, article.to_json()?)],
    )?;
    Ok(article)
}

pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &Value,
) -> ApiResult<Article> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    check_references(conn, &input)?;
    let next = current.with(input, db::now());
    diesel::update(articles::table.find(id))
        .set(&next.row())
        .execute(conn)?;
    if next.tags != current.tags {
        tags::replace(conn, RESOURCE.as_str(), id, &next.tags)?;
    }
    events::append(
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_json()?,
            next.to_json()?,
        )],
    )?;
    Ok(next)
}

/// Deletes an article; the tickets it is linked to lose the link (see
/// [`super::DEPENDENTS`]).
pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let current = read_locked(tx.conn(), id, if_match)?;
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    let conn = tx.conn();
    tags::remove_all(conn, RESOURCE.as_str(), id)?;
    diesel::delete(articles::table.find(id))
        .execute(conn)
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

/// Articles as dependents of users: an author stays while they wrote articles.
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        match field {
            "author_id" => Ok(articles::table
                .filter(articles::author_id.eq(id))
                .count()
                .get_result(conn)?),
            other => Err(dependents::unknown_field(RESOURCE, other)),
        }
    }
    fn delete_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }
    fn clear_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }
}

crate::sort_order! {
    /// Sort order of an article list; a leading `-` sorts descending. A
    /// search (`q`) is ordered by relevance instead.
    ArticleSort on articles for Article, default CreatedAtDesc {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
        Title => "title": title text asc,
        TitleDesc => "-title": title text desc,
    }
}

/// The filters of an article list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArticleFilters {
    /// Full-text search of the title and body: the articles holding every
    /// word (in any form: "refunds" finds "refund"), most relevant first,
    /// each with a `snippet` and its `relevance`. Punctuation and common
    /// words are ignored; a search without any word is refused (422).
    #[param(max_length = 200)]
    pub q: Option<String>,
    pub status: Option<ArticleStatus>,
    pub author_id: Option<String>,
    /// Articles carrying this tag.
    pub tag: Option<String>,
    /// Changed at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub updated_since: Option<DateTime<Utc>>,
}

impl ListFilters for ArticleFilters {
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching articles (costs a count).");
}

pub type ArticleQuery = ListQuery<ArticleSort, ArticleFilters>;

fn filtered(q: &ArticleQuery) -> articles::BoxedQuery<'static, db::MultiBackend> {
    let p = &q.filters;
    let mut query = articles::table.into_boxed();
    if let Some(v) = p.status {
        query = query.filter(articles::status.eq(v.as_str()));
    }
    if let Some(v) = &p.author_id {
        query = query.filter(articles::author_id.eq(v.clone()));
    }
    if let Some(tag) = &p.tag {
        let tagged = record_tags::table
            .filter(record_tags::resource.eq(RESOURCE.as_str()))
            .filter(record_tags::tag.eq(tag.trim().to_string()))
            .select(record_tags::record_id);
        query = query.filter(articles::id.eq_any(tagged));
    }
    if let Some(t) = p.updated_since {
        query = query.filter(articles::updated_at.ge(db::from_utc(t)));
    }
    query
}

pub fn list(conn: &mut DbConn, q: &ArticleQuery) -> ApiResult<ArticlePage> {
    if let Some(text) = &q.filters.q {
        return super::search::search(conn, text, q);
    }
    crate::load_page!(conn, q, filtered(q), ArticleRow => ArticleRow::into_article, ArticlePage)
}
