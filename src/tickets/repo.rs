//! Ticket queries: numbering, the SLA policy a ticket runs on, satisfaction
//! and the autoclose sweep; writers run inside the caller's transaction and
//! append their events.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::sla::check_transition;
use super::{
    Satisfaction, Ticket, TicketChannel, TicketInput, TicketPage, TicketPriority, TicketRow,
    TicketStatus,
};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{
    articles, contacts, counters, customers, record_tags, ticket_articles, ticket_ratings,
    ticket_reopens, tickets, users,
};
use crate::db::{self, tags, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;
use crate::sla_policies::{self, Applied};

const RESOURCE: ResourceKind = ResourceKind::Tickets;

fn now() -> DateTime<Utc> {
    db::to_utc(db::now())
}

/// Rows as tickets with their satisfaction, judged as of now.
fn tickets_of(conn: &mut DbConn, rows: Vec<TicketRow>) -> ApiResult<Vec<Ticket>> {
    let at = now();
    let mut list = rows
        .into_iter()
        .map(|r| r.into_ticket(at))
        .collect::<ApiResult<Vec<_>>>()?;
    attach(conn, &mut list)?;
    Ok(list)
}

/// Fills in each ticket's rating and linked articles, one query each.
fn attach(conn: &mut DbConn, list: &mut [Ticket]) -> ApiResult<()> {
    if list.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = list.iter().map(|t| t.id.as_str()).collect();
    let ratings: Vec<(String, i32, Option<String>, chrono::NaiveDateTime)> = ticket_ratings::table
        .filter(ticket_ratings::ticket_id.eq_any(ids))
        .select((
            ticket_ratings::ticket_id,
            ticket_ratings::rating,
            ticket_ratings::comment,
            ticket_ratings::rated_at,
        ))
        .load(conn)?;
    for (id, rating, comment, rated_at) in ratings {
        if let Some(t) = list.iter_mut().find(|t| t.id == id) {
            t.satisfaction = Some(Satisfaction {
                rating,
                comment,
                rated_at: db::to_utc(rated_at),
            });
        }
    }
    let ids: Vec<&str> = list.iter().map(|t| t.id.as_str()).collect();
    let links: Vec<(String, String)> = ticket_articles::table
        .filter(ticket_articles::ticket_id.eq_any(ids))
        .order((ticket_articles::linked_at, ticket_articles::article_id))
        .select((ticket_articles::ticket_id, ticket_articles::article_id))
        .load(conn)?;
    for (id, article_id) in links {
        if let Some(t) = list.iter_mut().find(|t| t.id == id) {
            t.article_ids.push(article_id);
        }
    }
    Ok(())
}

fn one(conn: &mut DbConn, row: Option<TicketRow>) -> ApiResult<Option<Ticket>> {
    Ok(tickets_of(conn, row.into_iter().collect())?.pop())
}

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Ticket>> {
    let row = tickets::table
        .find(id)
        .select(TicketRow::as_select())
        .first(conn)
        .optional()?;
    one(conn, row)
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Ticket> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("ticket"))
}

fn checked(
    conn: &mut DbConn,
    found: Option<(TicketRow, bool)>,
) -> ApiResult<Option<(Ticket, bool)>> {
    let Some((row, valid)) = found else {
        return Ok(None);
    };
    if !valid {
        return Ok(Some((row.into_ticket(now())?, false)));
    }
    Ok(one(conn, Some(row))?.map(|t| (t, true)))
}

/// The ticket with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Ticket, bool)>> {
    let found = crate::find_checked!(tickets, TicketRow, conn, id, caller)?;
    checked(conn, found)
}

/// The ticket with this `external_id` and the caller check beside it.
pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Ticket, bool)>> {
    let found = crate::find_checked!(tickets by external_id, TicketRow, conn, external_id, caller)?;
    checked(conn, found)
}

/// The ticket numbered `number` and the caller check beside it.
pub fn find_by_number(
    conn: &mut DbConn,
    number: i64,
    caller: &CallerCheck,
) -> ApiResult<Option<(Ticket, bool)>> {
    let found = crate::find_checked!(tickets by number, TicketRow, conn, number, caller)?;
    checked(conn, found)
}

/// The ticket, locked against other writers until the transaction ends.
pub fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Ticket> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |t| t.version,
        |c, version| crate::lock_at_version!(tickets, c, id, version),
    )
}

/// The next ticket number: a sequence on PostgreSQL (no lock, so replicas
/// never wait on each other; a rolled-back number is skipped, never
/// reused), a counter row on SQLite (whose writers are serialized anyway).
fn allocate_number(conn: &mut DbConn) -> ApiResult<i64> {
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        value: i64,
    }
    match conn {
        DbConn::Postgresql(c) => Ok(
            diesel::sql_query("SELECT nextval('ticket_numbers') AS value")
                .get_result::<Next>(c)?
                .value,
        ),
        DbConn::Sqlite(c) => Ok(diesel::update(counters::table.find("ticket_numbers"))
            .set(counters::value.eq(counters::value + 1))
            .returning(counters::value)
            .get_result(c)?),
    }
}

/// 422 unless the references exist and agree (the contact is one of the
/// customer's; a follow-up follows a closed ticket); 409 for a taken
/// `external_id`.
/// On a change (`before` the ticket's input until now), the contact is
/// checked only when it or the customer changes: a contact who moved to
/// another customer since stays on the tickets of the one they were with,
/// which keep taking other changes.
fn check_references(
    conn: &mut DbConn,
    id: &str,
    input: &TicketInput,
    before: Option<&TicketInput>,
) -> ApiResult<()> {
    crate::check_references!(conn, {
        customer_id: customers "customer" = Some(input.customer_id.as_str()),
        assignee_id: users "user" = input.assignee_id.as_deref(),
    })?;
    let contact_changed = before
        .is_none_or(|b| b.contact_id != input.contact_id || b.customer_id != input.customer_id);
    if let Some(contact_id) = input.contact_id.as_ref().filter(|_| contact_changed) {
        let customer: Option<String> = contacts::table
            .find(contact_id)
            .select(contacts::customer_id)
            .first(conn)
            .optional()?;
        match customer {
            None => {
                return Err(ApiError::field(
                    "contact_id",
                    "not_found",
                    "no contact has this id",
                ))
            }
            Some(c) if c != input.customer_id => {
                return Err(ApiError::field(
                    "contact_id",
                    "wrong_customer",
                    "must be a contact of customer_id",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(previous) = &input.follow_up_of_id {
        let status: Option<String> = tickets::table
            .find(previous)
            .select(tickets::status)
            .first(conn)
            .optional()?;
        match status.as_deref() {
            None => {
                return Err(ApiError::field(
                    "follow_up_of_id",
                    "not_found",
                    "no ticket has this id",
                ))
            }
            Some(s) if s != TicketStatus::Closed.as_str() || previous == id => {
                return Err(ApiError::field(
                    "follow_up_of_id",
                    "not_closed",
                    "a follow-up follows a closed ticket",
                ))
            }
            Some(_) => {}
        }
    }
    crate::ensure_unique!(
        conn,
        tickets.external_id = input.external_id.as_deref(),
        except id,
        "ticket"
    )
}

/// The policy a ticket runs on: its own while it exists and the matching
/// did not change, else the one that matches now.
pub fn policy_of(conn: &mut DbConn, ticket: &Ticket, rematch: bool) -> ApiResult<Option<Applied>> {
    let applied = sla_policies::repo::applied_for(conn, ticket.channel, &ticket.tags)?;
    if rematch {
        return Ok(applied);
    }
    let Some(own) = &ticket.sla_policy_id else {
        return Ok(None);
    };
    if applied.as_ref().is_some_and(|a| &a.policy.id == own) {
        return Ok(applied);
    }
    sla_policies::repo::applied(conn, own)
}

pub fn create(tx: &mut Tx, actor: &Actor, input: TicketInput) -> ApiResult<Ticket> {
    let conn = tx.conn();
    let id = db::new_id();
    check_references(conn, &id, &input, None)?;
    let number = allocate_number(conn)?;
    let mut ticket = Ticket::new(id.clone(), number, input, db::now());
    let applied = policy_of(conn, &ticket, true)?;
    let at = ticket.created_at;
    ticket.settle(TicketStatus::New, at, applied.as_ref(), true);
    diesel::insert_into(tickets::table)
        .values(&ticket.row())
        .execute(conn)?;
    tags::add(conn, RESOURCE.as_str(), &id, &ticket.tags)?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &id, ticket.to_json()?)],
    )?;
    Ok(ticket)
}

fn closed_is_final() -> ApiError {
    ApiError::Conflict {
        detail: "the ticket is closed, which is final: open a follow-up (follow_up_of_id)".into(),
        field: "status".into(),
        existing_id: None,
    }
}

/// Applies a JSON merge patch: status rules, then the SLA clock.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &Value,
) -> ApiResult<Ticket> {
    let conn = tx.conn();
    // A move to another customer takes the ticket's activities along: both
    // customers are locked before the ticket (the order activity writers
    // take), so no activity is linked meanwhile under the old one.
    let mut moving_from = None;
    if let Some(to) = patch.get("customer_id").and_then(Value::as_str) {
        let peek = get(conn, id)?;
        if to != peek.customer_id {
            crate::customers::value::lock_customers(conn, &[peek.customer_id.as_str(), to])?;
            moving_from = Some(peek.customer_id);
        }
    }
    let current = read_locked(conn, id, if_match)?;
    if moving_from.is_some_and(|from| from != current.customer_id) {
        return Err(ApiError::Conflict {
            detail: "the ticket is being moved by another request; retry".into(),
            field: "customer_id".into(),
            existing_id: None,
        });
    }
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    if current.status == TicketStatus::Closed {
        return Err(closed_is_final());
    }
    check_transition(current.status, input.status)?;
    check_references(conn, id, &input, Some(&current.input()))?;
    let now = db::now();
    let mut next = current.with(input, now);
    let due_times = if next.channel != current.channel || next.tags != current.tags {
        DueTimes::Rematch
    } else if next.priority != current.priority {
        DueTimes::Recompute
    } else {
        DueTimes::Keep
    };
    // Its activities follow it to another customer.
    let moved = if next.customer_id != current.customer_id {
        crate::activities::repo::follow_customer(tx.conn(), "ticket_id", id, &next.customer_id)?
    } else {
        Vec::new()
    };
    save(
        tx,
        actor,
        &current,
        &mut next,
        db::to_utc(now),
        due_times,
        moved,
    )?;
    Ok(next)
}

/// What a change does to a ticket's due times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueTimes {
    /// Kept (they move only by the time spent pending).
    Keep,
    /// Computed anew from its policy (its priority changed).
    Recompute,
    /// Computed anew from the policy that matches it now (its channel or
    /// tags changed).
    Rematch,
}

/// Settles `next`'s SLA after a change from `current` and writes it with
/// its event, after `changes` (those of the records the change moved).
pub fn save(
    tx: &mut Tx,
    actor: &Actor,
    current: &Ticket,
    next: &mut Ticket,
    now: DateTime<Utc>,
    due_times: DueTimes,
    mut changes: Vec<Change>,
) -> ApiResult<()> {
    let conn = tx.conn();
    let applied = policy_of(conn, next, due_times == DueTimes::Rematch)?;
    next.settle(
        current.status,
        now,
        applied.as_ref(),
        due_times != DueTimes::Keep,
    );
    diesel::update(tickets::table.find(&current.id))
        .set(&next.row())
        .execute(conn)?;
    if next.tags != current.tags {
        tags::replace(conn, RESOURCE.as_str(), &current.id, &next.tags)?;
    }
    if current.status == TicketStatus::Solved && next.status == TicketStatus::Open {
        diesel::insert_into(ticket_reopens::table)
            .values((
                ticket_reopens::ticket_id.eq(&current.id),
                ticket_reopens::reopened_at.eq(db::from_utc(now)),
            ))
            .execute(conn)?;
    }
    changes.push(Change::updated(
        RESOURCE,
        &current.id,
        current.to_json()?,
        next.to_json()?,
    ));
    events::append(tx, actor, &changes)
}

/// Deletes a ticket with its comments and rating; what happens to the
/// records that refer to it is declared in [`super::DEPENDENTS`].
pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    // The ticket first, then what its activities feed (as an update that
    // moves them does), then the activities (as activity writers do).
    let current = read_locked(tx.conn(), id, if_match)?;
    crate::activities::repo::lock_parents_referring(tx.conn(), "ticket_id", id, Vec::new())?;
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    let conn = tx.conn();
    tags::remove_all(conn, RESOURCE.as_str(), id)?;
    diesel::delete(ticket_ratings::table.find(id)).execute(conn)?;
    diesel::delete(ticket_articles::table.filter(ticket_articles::ticket_id.eq(id)))
        .execute(conn)?;
    diesel::delete(ticket_reopens::table.filter(ticket_reopens::ticket_id.eq(id))).execute(conn)?;
    diesel::delete(tickets::table.find(id))
        .execute(conn)
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

/// How long after solving a rating may still be given or changed.
pub const RATING_DAYS: i64 = 7;

/// The body of a rating.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionInput {
    /// 1 (bad) to 5 (great).
    #[validate(range(min = 1, max = 5))]
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "crate::model::whole_number")]
    pub rating: i64,
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub comment: Option<String>,
}

impl SatisfactionInput {
    pub fn normalized(mut self) -> ApiResult<Self> {
        crate::model::clean(&mut self.comment);
        crate::validation::check(&self)?;
        Ok(self)
    }
}

/// Rates a solved or closed ticket (409 otherwise, and once the rating
/// window after solving has passed): a new version of the ticket.
pub fn rate(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    input: SatisfactionInput,
) -> ApiResult<Ticket> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    let solved_at = match (current.status, current.solved_at) {
        (TicketStatus::Solved | TicketStatus::Closed, Some(at)) => at,
        _ => {
            return Err(ApiError::Conflict {
                detail: "only a solved or closed ticket can be rated".into(),
                field: "rating".into(),
                existing_id: None,
            })
        }
    };
    let now = db::now();
    if db::to_utc(now) > solved_at + chrono::Duration::days(RATING_DAYS) {
        return Err(ApiError::Conflict {
            detail: format!(
                "a rating can be given or changed for {RATING_DAYS} days after solving"
            ),
            field: "rating".into(),
            existing_id: None,
        });
    }
    let satisfaction = Satisfaction {
        rating: input.rating as i32,
        comment: input.comment,
        rated_at: db::to_utc(now),
    };
    if current
        .satisfaction
        .as_ref()
        .is_some_and(|s| s.rating == satisfaction.rating && s.comment == satisfaction.comment)
    {
        return Ok(current);
    }
    let row = (
        ticket_ratings::ticket_id.eq(id),
        ticket_ratings::rating.eq(satisfaction.rating),
        ticket_ratings::comment.eq(satisfaction.comment.clone()),
        ticket_ratings::rated_at.eq(now),
    );
    if current.satisfaction.is_some() {
        diesel::update(ticket_ratings::table.find(id))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(ticket_ratings::table)
            .values(row)
            .execute(conn)?;
    }
    let mut next = current.with(current.input(), now);
    next.satisfaction = Some(satisfaction);
    diesel::update(tickets::table.find(id))
        .set((
            tickets::version.eq(next.version),
            tickets::updated_at.eq(now),
        ))
        .execute(conn)?;
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

/// Closes up to `limit` tickets solved before `solved_before`, each with
/// its own event by the system; returns how many. On PostgreSQL the rows
/// are claimed with `FOR UPDATE SKIP LOCKED`, so replicas sweeping at once
/// share the work instead of waiting on (or closing twice) the same rows.
pub fn close_solved(tx: &mut Tx, solved_before: DateTime<Utc>, limit: i64) -> ApiResult<usize> {
    let conn = tx.conn();
    // A macro, not a closure: each backend needs the query typed for it.
    macro_rules! claim {
        () => {
            tickets::table
                .filter(tickets::status.eq(TicketStatus::Solved.as_str()))
                .filter(tickets::solved_at.lt(db::from_utc(solved_before)))
                .order((tickets::solved_at, tickets::id))
                .limit(limit)
                .select(TicketRow::as_select())
        };
    }
    let rows: Vec<TicketRow> = match conn {
        DbConn::Postgresql(c) => claim!().for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => claim!().load(c)?,
    };
    let mut changes = Vec::with_capacity(rows.len());
    let now = db::now();
    // Closing recomputes the stored response and resolution minutes, which
    // must stay on the ticket's own policy's clock (business minutes where
    // it uses business hours); a batch shares a handful of policies.
    let mut policies: std::collections::HashMap<String, Option<Applied>> = Default::default();
    for current in tickets_of(conn, rows)? {
        let applied = match &current.sla_policy_id {
            None => None,
            Some(id) => {
                if !policies.contains_key(id) {
                    policies.insert(id.clone(), sla_policies::repo::applied(conn, id)?);
                }
                policies.get(id).and_then(Option::as_ref)
            }
        };
        let mut input = current.input();
        input.status = TicketStatus::Closed;
        let mut next = current.with(input, now);
        next.settle(current.status, db::to_utc(now), applied, false);
        diesel::update(tickets::table.find(&current.id))
            .set(&next.row())
            .execute(conn)?;
        changes.push(Change::updated(
            RESOURCE,
            &current.id,
            current.to_json()?,
            next.to_json()?,
        ));
    }
    events::append(tx, &Actor::system(), &changes)?;
    Ok(changes.len())
}

/// Links an article to a ticket (a new version of the ticket; linking a
/// linked article changes nothing). 409 on a closed ticket.
pub fn link_article(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    article_id: &str,
) -> ApiResult<Ticket> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    if current.article_ids.iter().any(|a| a == article_id) {
        return Ok(current);
    }
    if current.status == TicketStatus::Closed {
        return Err(closed_is_final());
    }
    crate::check_references!(conn, {
        article_id: articles "article" = Some(article_id),
    })?;
    let now = db::now();
    diesel::insert_into(ticket_articles::table)
        .values((
            ticket_articles::ticket_id.eq(id),
            ticket_articles::article_id.eq(article_id),
            ticket_articles::linked_at.eq(now),
        ))
        .execute(conn)?;
    let mut next = current.with(current.input(), now);
    next.article_ids.push(article_id.to_string());
    write_links(tx, actor, &current, &next)?;
    Ok(next)
}

/// Removes an article's link from a ticket (404 when it is not linked).
pub fn unlink_article(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    article_id: &str,
) -> ApiResult<Ticket> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    if !current.article_ids.iter().any(|a| a == article_id) {
        return Err(ApiError::not_found("article link"));
    }
    if current.status == TicketStatus::Closed {
        return Err(closed_is_final());
    }
    diesel::delete(
        ticket_articles::table
            .filter(ticket_articles::ticket_id.eq(id))
            .filter(ticket_articles::article_id.eq(article_id)),
    )
    .execute(conn)?;
    let mut next = current.with(current.input(), db::now());
    next.article_ids.retain(|a| a != article_id);
    write_links(tx, actor, &current, &next)?;
    Ok(next)
}

/// Writes a change of links only: the ticket's version and time, and its event.
fn write_links(tx: &mut Tx, actor: &Actor, current: &Ticket, next: &Ticket) -> ApiResult<()> {
    diesel::update(tickets::table.find(&current.id))
        .set((
            tickets::version.eq(next.version),
            tickets::updated_at.eq(db::from_utc(next.updated_at)),
        ))
        .execute(tx.conn())?;
    events::append(
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            &current.id,
            current.to_json()?,
            next.to_json()?,
        )],
    )
}

/// Removes a deleted article's links from every ticket; returns the
/// tickets' changes for the deleting transaction to append.
fn unlink_everywhere(tx: &mut Tx, article_id: &str) -> ApiResult<Vec<Change>> {
    let ids: Vec<String> = ticket_articles::table
        .filter(ticket_articles::article_id.eq(article_id))
        .order(ticket_articles::ticket_id)
        .select(ticket_articles::ticket_id)
        .load(tx.conn())?;
    let mut changes = Vec::with_capacity(ids.len());
    for tid in ids {
        let current = read_locked(tx.conn(), &tid, &IfMatch::default())?;
        let mut next = current.with(current.input(), db::now());
        next.article_ids.retain(|a| a != article_id);
        diesel::delete(
            ticket_articles::table
                .filter(ticket_articles::ticket_id.eq(&tid))
                .filter(ticket_articles::article_id.eq(article_id)),
        )
        .execute(tx.conn())?;
        diesel::update(tickets::table.find(&tid))
            .set((
                tickets::version.eq(next.version),
                tickets::updated_at.eq(db::from_utc(next.updated_at)),
            ))
            .execute(tx.conn())?;
        changes.push(Change::updated(
            RESOURCE,
            &tid,
            current.to_json()?,
            next.to_json()?,
        ));
    }
    Ok(changes)
}

/// The published articles that best match a ticket's subject and
/// description (404 for an unknown ticket).
pub fn suggested_articles(
    conn: &mut DbConn,
    id: &str,
    limit: i64,
) -> ApiResult<Vec<crate::articles::Article>> {
    let ticket = get(conn, id)?;
    let text = format!(
        "{} {}",
        ticket.subject,
        ticket.description.as_deref().unwrap_or_default()
    );
    // The opening of a long description says what the ticket is about.
    let text: String = text.chars().take(2000).collect();
    crate::articles::search::suggestions(conn, &text, limit)
}

/// Tickets as dependents of other records (declared by customers,
/// contacts, users, SLA policies and tickets).
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        let query = tickets::table.into_boxed();
        let query = match field {
            "customer_id" => query.filter(tickets::customer_id.eq(id.to_string())),
            "assignee_id" => query.filter(tickets::assignee_id.eq(id.to_string())),
            "follow_up_of_id" => query.filter(tickets::follow_up_of_id.eq(id.to_string())),
            "article_ids" => query.filter(
                tickets::id.eq_any(
                    ticket_articles::table
                        .filter(ticket_articles::article_id.eq(id.to_string()))
                        .select(ticket_articles::ticket_id),
                ),
            ),
            // Closed tickets keep the policy they were measured by.
            "sla_policy_id" => query
                .filter(tickets::sla_policy_id.eq(id.to_string()))
                .filter(tickets::status.ne(TicketStatus::Closed.as_str())),
            other => return Err(dependents::unknown_field(RESOURCE, other)),
        };
        Ok(query.count().get_result(conn)?)
    }

    fn delete_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }

    /// Clears `contact_id` (a deleted contact) or the link to a deleted
    /// article (`article_ids`), each a new version with its change.
    fn clear_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        if field == "article_ids" {
            return unlink_everywhere(tx, id);
        }
        if field != "contact_id" {
            return Err(dependents::unknown_field(RESOURCE, field));
        }
        let conn = tx.conn();
        let ids: Vec<String> = tickets::table
            .filter(tickets::contact_id.eq(id))
            .order(tickets::id)
            .select(tickets::id)
            .load(conn)?;
        let mut changes = Vec::with_capacity(ids.len());
        for tid in ids {
            let current = read_locked(conn, &tid, &IfMatch::default())?;
            let mut next = current.with(current.input(), db::now());
            next.contact_id = None;
            diesel::update(tickets::table.find(&tid))
                .set(&next.row())
                .execute(conn)?;
            changes.push(Change::updated(
                RESOURCE,
                &tid,
                current.to_json()?,
                next.to_json()?,
            ));
        }
        Ok(changes)
    }
}

crate::sort_order! {
    /// Sort order of a ticket list; a leading `-` sorts descending.
    TicketSort on tickets for Ticket, default CreatedAtDesc {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
        Priority => "priority": priority_rank int asc by priority_rank,
        PriorityDesc => "-priority": priority_rank int desc by priority_rank,
        SlaDue => "sla_due": sla_due_sort time asc by sla_due_sort,
        Number => "number": number int asc,
        NumberDesc => "-number": number int desc,
    }
}

impl Ticket {
    fn priority_rank(&self) -> i64 {
        self.priority.rank()
    }
}

/// The filters of a ticket list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketFilters {
    /// One status or several, comma-separated or repeated (`status=open&status=pending`).
    #[param(
        example = "open,pending",
        pattern = "^(new|open|pending|solved|closed)(,(new|open|pending|solved|closed))*$"
    )]
    pub status: Option<String>,
    pub priority: Option<TicketPriority>,
    pub channel: Option<TicketChannel>,
    pub assignee_id: Option<String>,
    /// Only tickets without an assignee.
    pub unassigned: Option<bool>,
    pub customer_id: Option<String>,
    pub contact_id: Option<String>,
    /// Tickets carrying this tag.
    pub tag: Option<String>,
    /// `true`: a target is breached (running past due, or met late);
    /// `false`: none is.
    pub sla_breached: Option<bool>,
    /// The earliest running target falls before this time (RFC 3339): the
    /// queue of what is about to breach.
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub sla_due_before: Option<DateTime<Utc>>,
    /// Created at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub created_before: Option<DateTime<Utc>>,
    /// Changed at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub updated_since: Option<DateTime<Utc>>,
}

impl ListFilters for TicketFilters {
    const SEARCH: Option<&'static str> =
        Some("Case-insensitive substring of the subject or description.");
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching tickets (costs a count).");
    const REPEATABLE: &'static [&'static str] = &["status"];
}

pub type TicketQuery = ListQuery<TicketSort, TicketFilters>;

/// The statuses of a `status` filter.
fn statuses(text: &str) -> ApiResult<Vec<&'static str>> {
    text.split(',')
        .map(|s| {
            TicketStatus::parse(s.trim())
                .map(TicketStatus::as_str)
                .ok_or_else(|| {
                    ApiError::field(
                        "status",
                        "invalid_value",
                        "must be new, open, pending, solved or closed (comma-separated)",
                    )
                })
        })
        .collect()
}

fn filtered(q: &TicketQuery) -> ApiResult<tickets::BoxedQuery<'static, db::MultiBackend>> {
    let p = &q.filters;
    let mut query = tickets::table.into_boxed();
    if let Some(v) = &p.status {
        query = query.filter(tickets::status.eq_any(statuses(v)?));
    }
    if let Some(v) = p.priority {
        // The rank, which `tickets_priority_id` leads with.
        query = query.filter(tickets::priority_rank.eq(v.rank()));
    }
    if let Some(v) = p.channel {
        query = query.filter(tickets::channel.eq(v.as_str()));
    }
    if let Some(v) = &p.assignee_id {
        query = query.filter(tickets::assignee_id.eq(v.clone()));
    }
    match p.unassigned {
        Some(true) => query = query.filter(tickets::assignee_id.is_null()),
        Some(false) => query = query.filter(tickets::assignee_id.is_not_null()),
        None => {}
    }
    if let Some(v) = &p.customer_id {
        query = query.filter(tickets::customer_id.eq(v.clone()));
    }
    if let Some(v) = &p.contact_id {
        query = query.filter(tickets::contact_id.eq(v.clone()));
    }
    if let Some(tag) = &p.tag {
        let tagged = record_tags::table
            .filter(record_tags::resource.eq(RESOURCE.as_str()))
            .filter(record_tags::tag.eq(tag.trim().to_string()))
            .select(record_tags::record_id);
        query = query.filter(tickets::id.eq_any(tagged));
    }
    let now = db::now();
    match p.sla_breached {
        Some(true) => {
            query = query.filter(
                tickets::sla_due_sort
                    .lt(now)
                    .or(tickets::sla_missed.eq(true)),
            )
        }
        Some(false) => {
            query = query.filter(
                tickets::sla_due_sort
                    .ge(now)
                    .and(tickets::sla_missed.eq(false)),
            )
        }
        None => {}
    }
    if let Some(t) = p.sla_due_before {
        query = query.filter(tickets::sla_due_sort.lt(db::from_utc(t)));
    }
    if let Some(t) = p.created_after {
        query = query.filter(tickets::created_at.ge(db::from_utc(t)));
    }
    if let Some(t) = p.created_before {
        query = query.filter(tickets::created_at.lt(db::from_utc(t)));
    }
    if let Some(t) = p.updated_since {
        query = query.filter(tickets::updated_at.ge(db::from_utc(t)));
    }
    if let Some(pattern) = &q.search {
        query = query.filter(tickets::search_text.like(pattern.clone()).escape('\\'));
    }
    Ok(query)
}

pub fn list(conn: &mut DbConn, q: &TicketQuery) -> ApiResult<TicketPage> {
    let page: ApiResult<TicketPage> = crate::load_page!(
        conn, q, filtered(q)?, TicketRow => |row: TicketRow| row.into_ticket(now()), TicketPage
    );
    let mut page = page?;
    attach(conn, &mut page.data)?;
    Ok(page)
}
