//! A ticket's comments: public replies and internal notes, append-only. A
//! user's first public reply answers the ticket; a public reply from the
//! customer's side reopens a pending or solved one. The author may correct
//! a comment's body for a short while (the event log keeps what it said);
//! managers may delete one.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{Ticket, TicketStatus};
use crate::auth::{Actor, ActorType, Role};
use crate::db::schema::{contacts, ticket_comments, users};
use crate::db::{self, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::TicketComments;

/// How long the author may correct a comment's body.
pub const EDIT_MINUTES: i64 = 15;

crate::page_type!(
    TicketCommentPage,
    TicketComment,
    "A page of a ticket's comments."
);

crate::text_enum! {
    /// Who wrote a comment.
    AuthorType {
        User => "user",
        Contact => "contact",
        Customer => "customer",
    }
}

/// Who wrote a comment: a user, or the ticket's customer or one of its
/// contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Author {
    #[serde(rename = "type")]
    pub author_type: AuthorType,
    #[schema(max_length = 64)]
    pub id: String,
}

fn default_public() -> bool {
    true
}

/// The body of a new comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct TicketCommentInput {
    /// Markdown, up to 64 KiB.
    #[schema(
        min_length = 1,
        max_length = 65536,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "We have refunded the order; it shows within 3 days.")]
    pub body: String,
    /// True: a reply the customer sees; false: an internal note.
    #[serde(default = "default_public")]
    pub public: bool,
    /// Default: the calling user (an API key must name the author). A user
    /// writes as themselves; an admin or an API key may name any user.
    #[serde(default)]
    pub author: Option<Author>,
}

impl TicketCommentInput {
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.body = self.body.trim().to_string();
        if let Some(a) = &mut self.author {
            a.id = a.id.trim().to_string();
        }
        crate::validation::check(&self)?;
        Ok(self)
    }
}

/// What a comment's author may change: its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct TicketCommentEdit {
    #[schema(
        min_length = 1,
        max_length = 65536,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    pub body: String,
}

/// The body of a comment PATCH, derived from [`TicketCommentEdit`].
pub type TicketCommentPatch = crate::http::patch::Patch<TicketCommentEdit>;

impl crate::http::patch::PatchTarget for TicketCommentEdit {
    fn template() -> Value {
        serde_json::json!({"body": "-"})
    }
}

/// A comment on a ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketComment {
    pub id: String,
    pub ticket_id: String,
    pub body: String,
    pub public: bool,
    pub author: Author,
    /// When the body was last corrected.
    pub edited_at: Option<DateTime<Utc>>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(TicketComment);

impl TicketComment {
    fn row(&self) -> TicketCommentRow {
        TicketCommentRow {
            id: self.id.clone(),
            ticket_id: self.ticket_id.clone(),
            body: self.body.clone(),
            public: self.public,
            author_type: self.author.author_type.as_str().to_string(),
            author_id: self.author.id.clone(),
            edited_at: self.edited_at.map(db::from_utc),
            version: self.version,
            created_at: db::from_utc(self.created_at),
            updated_at: db::from_utc(self.updated_at),
        }
    }
}

/// One row of `ticket_comments`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = ticket_comments, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct TicketCommentRow {
    pub id: String,
    pub ticket_id: String,
    pub body: String,
    pub public: bool,
    pub author_type: String,
    pub author_id: String,
    pub edited_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl TicketCommentRow {
    pub fn into_comment(self) -> ApiResult<TicketComment> {
        Ok(TicketComment {
            author: Author {
                author_type: AuthorType::from_db(&self.author_type)?,
                id: self.author_id,
            },
            id: self.id,
            ticket_id: self.ticket_id,
            body: self.body,
            public: self.public,
            edited_at: self.edited_at.map(db::to_utc),
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        })
    }
}

fn find(conn: &mut DbConn, ticket_id: &str, id: &str) -> ApiResult<Option<TicketComment>> {
    ticket_comments::table
        .find(id)
        .filter(ticket_comments::ticket_id.eq(ticket_id))
        .select(TicketCommentRow::as_select())
        .first(conn)
        .optional()?
        .map(TicketCommentRow::into_comment)
        .transpose()
}

/// The comment `id` of ticket `ticket_id` (404 for a comment of another ticket).
pub fn get(conn: &mut DbConn, ticket_id: &str, id: &str) -> ApiResult<TicketComment> {
    find(conn, ticket_id, id)?.ok_or_else(|| ApiError::not_found("comment"))
}

/// 404 unless the comment is, or was before it was deleted, one of the
/// ticket's (as its creation event records): a comment's history is read
/// under its own ticket only.
pub fn check_of_ticket(conn: &mut DbConn, ticket_id: &str, id: &str) -> ApiResult<()> {
    use crate::db::schema::events;
    let created: Option<Option<String>> = events::table
        .filter(events::resource.eq(RESOURCE.as_str()))
        .filter(events::record_id.eq(id))
        .filter(events::action.eq("created"))
        .select(events::data)
        .first(conn)
        .optional()?;
    let of_ticket = created
        .flatten()
        .and_then(|data| serde_json::from_str::<Value>(&data).ok())
        .is_some_and(|comment| comment["ticket_id"] == ticket_id);
    if of_ticket {
        Ok(())
    } else {
        Err(ApiError::not_found("comment"))
    }
}

fn read_locked(
    conn: &mut DbConn,
    ticket_id: &str,
    id: &str,
    if_match: &IfMatch,
) -> ApiResult<TicketComment> {
    if_match.read_locked(
        conn,
        |c| get(c, ticket_id, id),
        |t| t.version,
        |c, version| crate::lock_at_version!(ticket_comments, c, id, version),
    )
}

fn not_on_closed() -> ApiError {
    ApiError::Conflict {
        detail: "the ticket is closed, which is final: open a follow-up (follow_up_of_id)".into(),
        field: "ticket_id".into(),
        existing_id: None,
    }
}

/// The comment's author: the one named (checked against the ticket and the
/// caller) or the calling user.
fn author_of(
    conn: &mut DbConn,
    actor: &Actor,
    ticket: &Ticket,
    named: Option<Author>,
) -> ApiResult<Author> {
    let Some(author) = named else {
        return match actor.actor_type {
            ActorType::User => Ok(Author {
                author_type: AuthorType::User,
                id: actor.id.clone(),
            }),
            _ => Err(ApiError::field(
                "author",
                "required",
                "a comment made with an API key names its author",
            )),
        };
    };
    let wrong = |message: &str| Err(ApiError::field("author.id", "invalid_author", message));
    match author.author_type {
        AuthorType::User => {
            let speaks_for_others =
                actor.actor_type != ActorType::User || actor.role == Role::Admin;
            if author.id != actor.id && !speaks_for_others {
                return wrong("a user writes comments as themselves");
            }
            let exists: bool = diesel::select(diesel::dsl::exists(
                users::table.filter(users::id.eq(&author.id)),
            ))
            .get_result(conn)?;
            if !exists {
                return wrong("no user has this id");
            }
        }
        AuthorType::Contact => {
            let customer: Option<String> = contacts::table
                .find(&author.id)
                .select(contacts::customer_id)
                .first(conn)
                .optional()?;
            if customer.as_deref() != Some(ticket.customer_id.as_str()) {
                return wrong("must be a contact of the ticket's customer");
            }
        }
        AuthorType::Customer => {
            if author.id != ticket.customer_id {
                return wrong("must be the ticket's customer");
            }
        }
    }
    Ok(author)
}

/// Adds a comment and what it does to the ticket: a user's first public
/// reply answers it (and opens a new one), a public reply from the
/// customer's side reopens a pending or solved one.
pub fn create(
    tx: &mut Tx,
    actor: &Actor,
    ticket_id: &str,
    input: TicketCommentInput,
) -> ApiResult<TicketComment> {
    let ticket = super::repo::read_locked(tx.conn(), ticket_id, &IfMatch::default())?;
    if ticket.status == TicketStatus::Closed {
        return Err(not_on_closed());
    }
    let author = author_of(tx.conn(), actor, &ticket, input.author)?;
    let now = db::now();
    let at = db::to_utc(now);
    let comment = TicketComment {
        id: db::new_id(),
        ticket_id: ticket_id.to_string(),
        body: input.body,
        public: input.public,
        author,
        edited_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(ticket_comments::table)
        .values(&comment.row())
        .execute(tx.conn())?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &comment.id, comment.to_json()?)],
    )?;
    let mut next = ticket.with(ticket.input(), now);
    if comment.public {
        match comment.author.author_type {
            AuthorType::User => {
                if next.first_responded_at.is_none() {
                    next.first_responded_at = Some(at);
                }
                if next.status == TicketStatus::New {
                    next.status = TicketStatus::Open;
                }
            }
            AuthorType::Contact | AuthorType::Customer => {
                if matches!(next.status, TicketStatus::Pending | TicketStatus::Solved) {
                    next.status = TicketStatus::Open;
                }
            }
        }
    }
    if next.first_responded_at != ticket.first_responded_at || next.status != ticket.status {
        super::repo::save(
            tx,
            actor,
            &ticket,
            &mut next,
            at,
            super::repo::DueTimes::Keep,
            Vec::new(),
        )?;
    }
    Ok(comment)
}

/// Corrects a comment's body: only its author, within [`EDIT_MINUTES`] of
/// writing it, on a ticket that is not closed.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    ticket_id: &str,
    id: &str,
    if_match: &IfMatch,
    patch: &Value,
) -> ApiResult<TicketComment> {
    let ticket = super::repo::get(tx.conn(), ticket_id)?;
    let current = read_locked(tx.conn(), ticket_id, id, if_match)?;
    let edit = TicketCommentEdit {
        body: current.body.clone(),
    };
    let mut edit: TicketCommentEdit = crate::model::merged(&edit, patch)?;
    edit.body = edit.body.trim().to_string();
    crate::validation::check(&edit)?;
    let own = current.author.author_type == AuthorType::User
        && actor.actor_type == ActorType::User
        && current.author.id == actor.id;
    if !own {
        return Err(ApiError::Forbidden("only its author corrects a comment"));
    }
    if edit.body == current.body {
        return Ok(current);
    }
    if ticket.status == TicketStatus::Closed {
        return Err(not_on_closed());
    }
    let now = db::now();
    if db::to_utc(now) > current.created_at + chrono::Duration::minutes(EDIT_MINUTES) {
        return Err(ApiError::Conflict {
            detail: format!(
                "a comment can be corrected for {EDIT_MINUTES} minutes after it was written"
            ),
            field: "body".into(),
            existing_id: None,
        });
    }
    let next = TicketComment {
        body: edit.body,
        edited_at: Some(db::to_utc(now)),
        version: current.version + 1,
        updated_at: db::to_utc(now),
        ..current.clone()
    };
    diesel::update(ticket_comments::table.find(id))
        .set(&next.row())
        .execute(tx.conn())?;
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

/// Deletes a comment; its deletion event keeps who and when.
pub fn delete(
    tx: &mut Tx,
    actor: &Actor,
    ticket_id: &str,
    id: &str,
    if_match: &IfMatch,
) -> ApiResult<()> {
    let current = read_locked(tx.conn(), ticket_id, id, if_match)?;
    diesel::delete(ticket_comments::table.find(id)).execute(tx.conn())?;
    events::append(
        tx,
        actor,
        &[Change::deleted(RESOURCE, id, current.to_json()?)],
    )
}

/// Comments as dependents of their ticket: they go with it.
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        match field {
            "ticket_id" => Ok(ticket_comments::table
                .filter(ticket_comments::ticket_id.eq(id))
                .count()
                .get_result(conn)?),
            other => Err(dependents::unknown_field(RESOURCE, other)),
        }
    }

    fn delete_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        if field != "ticket_id" {
            return Err(dependents::unknown_field(RESOURCE, field));
        }
        let comments: Vec<TicketComment> = ticket_comments::table
            .filter(ticket_comments::ticket_id.eq(id))
            .order(ticket_comments::id)
            .select(TicketCommentRow::as_select())
            .load(tx.conn())?
            .into_iter()
            .map(TicketCommentRow::into_comment)
            .collect::<ApiResult<_>>()?;
        diesel::delete(ticket_comments::table.filter(ticket_comments::ticket_id.eq(id)))
            .execute(tx.conn())?;
        comments
            .iter()
            .map(|c| Ok(Change::deleted(RESOURCE, &c.id, c.to_json()?)))
            .collect()
    }

    fn clear_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }
}

crate::sort_order! {
    /// Comments come in the order they were written.
    TicketCommentOrder on ticket_comments for TicketComment, default CreatedAt, fixed true {
        CreatedAt => "created_at": created_at time asc,
    }
}

/// The filters of a comment list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketCommentFilters {
    /// Only public replies (`true`) or only internal notes (`false`).
    pub public: Option<bool>,
}

impl ListFilters for TicketCommentFilters {}

pub type TicketCommentQuery = ListQuery<TicketCommentOrder, TicketCommentFilters>;

/// One page of a ticket's comments (404 for a ticket that does not exist).
pub fn list(
    conn: &mut DbConn,
    ticket_id: &str,
    q: &TicketCommentQuery,
) -> ApiResult<TicketCommentPage> {
    super::repo::get(conn, ticket_id)?;
    let filtered = || {
        let query = ticket_comments::table
            .filter(ticket_comments::ticket_id.eq(ticket_id.to_string()))
            .into_boxed();
        match q.filters.public {
            Some(public) => query.filter(ticket_comments::public.eq(public)),
            None => query,
        }
    };
    crate::load_page!(conn, q, filtered(), TicketCommentRow => TicketCommentRow::into_comment, TicketCommentPage)
}
