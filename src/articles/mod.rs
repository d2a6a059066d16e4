//! The knowledge base: articles agents answer customers with, searched by
//! relevance with each backend's own full-text index. Model and rules here,
//! queries in `repo`, the search in `search`, handlers in `api`.

pub mod api;
pub mod repo;
pub mod search;
pub mod snippet;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::articles;
use crate::db::{self};
use crate::dependents::{Dependent, OnDelete};
use crate::error::ApiResult;
use crate::events::ResourceKind;
use crate::model::clean;
use crate::validation;

crate::page_type!(ArticlePage, Article, "A page of articles.");

/// What deleting an article does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[Dependent {
    resource: ResourceKind::Tickets,
    field: "article_ids",
    on_delete: OnDelete::Clear,
    hint: "",
}];

crate::text_enum! {
    /// Whether customers may be pointed to the article.
    ArticleStatus {
        Draft => "draft",
        Published => "published",
    }
}

fn default_status() -> ArticleStatus {
    ArticleStatus::Draft
}

/// The fields a client sets on an article: the body of a create, and the
/// document a PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "How refunds work")]
    pub title: String,
    /// Markdown, up to 256 KiB.
    #[schema(max_length = 262144)]
    #[serde(default)]
    pub body: String,
    #[serde(default = "default_status")]
    pub status: ArticleStatus,
    /// Up to 50 labels of 1 to 64 characters; duplicates are dropped.
    #[validate(custom(function = "validation::tags"))]
    #[serde(default)]
    #[schema(value_type = Vec<validation::schema::Tag>, max_items = 50)]
    pub tags: Vec<String>,
    /// The user who wrote it; default: the calling user.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub author_id: Option<String>,
}

/// The body of an article PATCH, derived from [`ArticleInput`].
pub type ArticlePatch = crate::http::patch::Patch<ArticleInput>;

impl crate::http::patch::PatchTarget for ArticleInput {
    fn template() -> serde_json::Value {
        serde_json::json!({"title": "-"})
    }
}

impl ArticleInput {
    /// Trims the title, drops duplicate tags and checks every rule.
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.title = self.title.trim().to_string();
        clean(&mut self.author_id);
        self.tags = validation::normalize_tags(std::mem::take(&mut self.tags));
        validation::check(&self)?;
        Ok(self)
    }
}

/// A knowledge-base article.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body: String,
    pub status: ArticleStatus,
    pub tags: Vec<String>,
    /// Set when the article is first published, and kept.
    pub published_at: Option<DateTime<Utc>>,
    pub author_id: Option<String>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In a search: about 30 words of the body around the most of the
    /// words searched for, each found word (or a form of it) in
    /// `<mark>…</mark>`, `…` where the body goes on. Safe to show as HTML:
    /// the body's own text is escaped (`&`, `<`, `>`, quotes) and its line
    /// breaks are spaces. The start of the body when only the title matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// In a search: how well the article matches, higher is better (title
    /// words weigh more than body words). Comparable within one answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
}

crate::record!(Article);

impl Article {
    pub fn input(&self) -> ArticleInput {
        ArticleInput {
            title: self.title.clone(),
            body: self.body.clone(),
            status: self.status,
            tags: self.tags.clone(),
            author_id: self.author_id.clone(),
        }
    }

    /// This article with `input`'s fields, as its next version; publishing
    /// for the first time sets `published_at`.
    pub fn with(&self, input: ArticleInput, now: NaiveDateTime) -> Article {
        let at = db::to_utc(now);
        Article {
            published_at: match (self.published_at, input.status) {
                (None, ArticleStatus::Published) => Some(at),
                (kept, _) => kept,
            },
            title: input.title,
            body: input.body,
            status: input.status,
            tags: input.tags,
            author_id: input.author_id,
            version: self.version + 1,
            updated_at: at,
            ..self.clone()
        }
    }

    pub fn new(id: String, input: ArticleInput, now: NaiveDateTime) -> Article {
        let at = db::to_utc(now);
        let blank = Article {
            id,
            title: String::new(),
            body: String::new(),
            status: ArticleStatus::Draft,
            tags: Vec::new(),
            published_at: None,
            author_id: None,
            version: 0,
            created_at: at,
            updated_at: at,
            snippet: None,
            relevance: None,
        };
        blank.with(input, now)
    }

    pub fn row(&self) -> ArticleRow {
        ArticleRow {
            id: self.id.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            status: self.status.as_str().to_string(),
            tags: serde_json::to_string(&self.tags).unwrap_or_else(|_| "[]".into()),
            published_at: self.published_at.map(db::from_utc),
            author_id: self.author_id.clone(),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }
}

/// One row of `articles`, column for column (the search columns are the
/// database's own).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = articles, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ArticleRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub status: String,
    pub tags: String,
    pub published_at: Option<NaiveDateTime>,
    pub author_id: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ArticleRow {
    pub fn into_article(self) -> ApiResult<Article> {
        Ok(Article {
            status: ArticleStatus::from_db(&self.status)?,
            tags: serde_json::from_str(&self.tags)?,
            id: self.id,
            title: self.title,
            body: self.body,
            published_at: self.published_at.map(db::to_utc),
            author_id: self.author_id,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
            snippet: None,
            relevance: None,
        })
    }
}
