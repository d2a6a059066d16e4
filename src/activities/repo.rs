//! Activity queries. Every write locks the customers, leads and
//! opportunities the activity links to (before and after; the lock order:
//! customers, leads, opportunities, then the activity), writes it, and
//! recomputes their `last_activity_at` from their activities (one indexed
//! `MAX` each, no new version), in the caller's transaction.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Activity, ActivityInput, ActivityKind, ActivityPage, ActivityRow};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{activities, contacts, customers, leads, opportunities, tickets, users};
use crate::db::{self, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;

const RESOURCE: ResourceKind = ResourceKind::Activities;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Activity>> {
    activities::table
        .find(id)
        .select(ActivityRow::as_select())
        .first(conn)
        .optional()?
        .map(ActivityRow::into_activity)
        .transpose()
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Activity> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("activity"))
}

/// The activity with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Activity, bool)>> {
    crate::find_checked!(activities, ActivityRow, conn, id, caller)?
        .map(|(row, valid)| Ok((row.into_activity()?, valid)))
        .transpose()
}

fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Activity> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |a| a.version,
        |c, version| crate::lock_at_version!(activities, c, id, version),
    )
}

/// Fills in the customer a contact or opportunity implies and checks that
/// every link exists and that they agree (422 naming the link).
fn resolve_links(conn: &mut DbConn, mut input: ActivityInput) -> ApiResult<ActivityInput> {
    crate::check_references!(conn, {
        owner_id: users "user" = input.owner_id.as_deref(),
        customer_id: customers "customer" = input.customer_id.as_deref(),
        lead_id: leads "lead" = input.lead_id.as_deref(),
    })?;
    let mut implied: Vec<(&str, String)> = Vec::new();
    if let Some(contact_id) = &input.contact_id {
        let customer: Option<String> = contacts::table
            .find(contact_id)
            .select(contacts::customer_id)
            .first(conn)
            .optional()?;
        let customer = customer
            .ok_or_else(|| ApiError::field("contact_id", "not_found", "no contact has this id"))?;
        implied.push(("contact_id", customer));
    }
    if let Some(opportunity_id) = &input.opportunity_id {
        let customer: Option<String> = opportunities::table
            .find(opportunity_id)
            .select(opportunities::customer_id)
            .first(conn)
            .optional()?;
        let customer = customer.ok_or_else(|| {
            ApiError::field("opportunity_id", "not_found", "no opportunity has this id")
        })?;
        implied.push(("opportunity_id", customer));
    }
    if let Some(ticket_id) = &input.ticket_id {
        let customer: Option<String> = tickets::table
            .find(ticket_id)
            .select(tickets::customer_id)
            .first(conn)
            .optional()?;
        let customer = customer
            .ok_or_else(|| ApiError::field("ticket_id", "not_found", "no ticket has this id"))?;
        implied.push(("ticket_id", customer));
    }
    for (field, customer) in implied {
        match &input.customer_id {
            None => input.customer_id = Some(customer),
            Some(given) if *given != customer => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    field,
                    "wrong_customer",
                    "belongs to another customer than the activity's",
                )]))
            }
            Some(_) => {}
        }
    }
    Ok(input)
}

/// The records whose `last_activity_at` an activity feeds.
#[derive(Debug, Default, PartialEq)]
struct Parents {
    customers: Vec<String>,
    leads: Vec<String>,
    opportunities: Vec<String>,
}

impl Parents {
    fn of<'a>(activities: impl IntoIterator<Item = &'a Activity>) -> Self {
        let mut p = Parents::default();
        for a in activities {
            p.customers.extend(a.customer_id.clone());
            p.leads.extend(a.lead_id.clone());
            p.opportunities.extend(a.opportunity_id.clone());
        }
        for ids in [&mut p.customers, &mut p.leads, &mut p.opportunities] {
            ids.sort();
            ids.dedup();
        }
        p
    }

    /// Locks them in the one order (customers, leads, opportunities; each
    /// by id) on PostgreSQL; SQLite's write transaction already serializes.
    fn lock(&self, conn: &mut DbConn) -> ApiResult<()> {
        let DbConn::Postgresql(c) = conn else {
            return Ok(());
        };
        if !self.customers.is_empty() {
            customers::table
                .filter(customers::id.eq_any(&self.customers))
                .order(customers::id)
                .select(customers::id)
                .for_no_key_update()
                .load::<String>(c)?;
        }
        if !self.leads.is_empty() {
            leads::table
                .filter(leads::id.eq_any(&self.leads))
                .order(leads::id)
                .select(leads::id)
                .for_no_key_update()
                .load::<String>(c)?;
        }
        if !self.opportunities.is_empty() {
            opportunities::table
                .filter(opportunities::id.eq_any(&self.opportunities))
                .order(opportunities::id)
                .select(opportunities::id)
                .for_no_key_update()
                .load::<String>(c)?;
        }
        Ok(())
    }

    /// Stores each one's latest activity (derived data: no version, no event).
    fn refresh(&self, conn: &mut DbConn) -> ApiResult<()> {
        for id in &self.customers {
            let last: Option<NaiveDateTime> = activities::table
                .filter(activities::customer_id.eq(id))
                .select(diesel::dsl::max(activities::occurred_at))
                .first(conn)?;
            diesel::update(customers::table.find(id))
                .set(customers::last_activity_at.eq(last))
                .execute(conn)?;
        }
        for id in &self.leads {
            let last: Option<NaiveDateTime> = activities::table
                .filter(activities::lead_id.eq(id))
                .select(diesel::dsl::max(activities::occurred_at))
                .first(conn)?;
            diesel::update(leads::table.find(id))
                .set(leads::last_activity_at.eq(last))
                .execute(conn)?;
        }
        for id in &self.opportunities {
            let last: Option<NaiveDateTime> = activities::table
                .filter(activities::opportunity_id.eq(id))
                .select(diesel::dsl::max(activities::occurred_at))
                .first(conn)?;
            crate::opportunities::repo::set_last_activity(conn, id, last)?;
        }
        Ok(())
    }
}

pub fn create(tx: &mut Tx, actor: &Actor, input: ActivityInput) -> ApiResult<Activity> {
    let conn = tx.conn();
    let (activity, parents) = {
        let mut attempt = 0;
        loop {
            let resolved = resolve_links(conn, input.clone())?;
            let activity = Activity::of(db::new_id(), resolved, 1, db::now());
            let parents = Parents::of([&activity]);
            parents.lock(conn)?;
            // A contact or opportunity moved meanwhile moved its customer.
            let again = resolve_links(conn, input.clone())?;
            if again.customer_id == activity.customer_id {
                break (activity, parents);
            }
            attempt += 1;
            if attempt == 3 {
                return Err(ApiError::Conflict {
                    detail: "the activity's contact or opportunity is being moved; retry".into(),
                    field: "customer_id".into(),
                    existing_id: None,
                });
            }
        }
    };
    diesel::insert_into(activities::table)
        .values(&activity.row())
        .execute(conn)?;
    parents.refresh(conn)?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &activity.id, activity.to_json()?)],
    )?;
    Ok(activity)
}

/// Locks the parents the activity has and will have, then the activity;
/// its links must still be the ones read first (else another writer
/// changed them meanwhile: read again).
fn lock_for_change(
    conn: &mut DbConn,
    id: &str,
    if_match: &IfMatch,
    next: impl Fn(&mut DbConn, &Activity) -> ApiResult<Option<Activity>>,
) -> ApiResult<(Activity, Option<Activity>)> {
    for _ in 0..3 {
        let peek = get(conn, id)?;
        if_match.check(peek.version)?;
        let planned = next(conn, &peek)?;
        Parents::of([&peek].into_iter().chain(planned.as_ref())).lock(conn)?;
        let current = read_locked(conn, id, if_match)?;
        if Parents::of([&current]) == Parents::of([&peek]) {
            let planned = next(conn, &current)?;
            return Ok((current, planned));
        }
    }
    Err(ApiError::Conflict {
        detail: "the activity's links are being changed by another request; retry".into(),
        field: "id".into(),
        existing_id: None,
    })
}

/// Applies a JSON merge patch. A patch that changes nothing leaves the
/// activity, its version and the event log untouched.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Activity> {
    let conn = tx.conn();
    let (current, next) = lock_for_change(conn, id, if_match, |conn, current| {
        let input = crate::model::merged(&current.input(), patch)?.normalized()?;
        if input == current.input() {
            return Ok(None);
        }
        let input = resolve_links(conn, input)?;
        let next = Activity::of(
            current.id.clone(),
            input,
            current.version + 1,
            db::from_utc(current.created_at),
        );
        Ok((next.input() != current.input()).then_some(next))
    })?;
    let Some(next) = next else {
        return Ok(current);
    };
    diesel::update(activities::table.find(id))
        .set(&next.row())
        .execute(conn)?;
    Parents::of([&current, &next]).refresh(conn)?;
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

pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let conn = tx.conn();
    let (current, _) = lock_for_change(conn, id, if_match, |_, _| Ok(None))?;
    diesel::delete(activities::table.find(id)).execute(conn)?;
    Parents::of([&current]).refresh(conn)?;
    events::append(
        tx,
        actor,
        &[Change::deleted(RESOURCE, id, current.to_json()?)],
    )
}

/// Locks (in the one order) the customers, leads and opportunities of the
/// activities that link to `id` through `field`: a record whose deletion
/// detaches its activities calls this before locking itself, so that it
/// takes its locks in the order activity writers take theirs.
/// `also_leads`: leads the deletion changes besides (locked in the same order).
pub fn lock_parents_referring(
    conn: &mut DbConn,
    field: &str,
    id: &str,
    also_leads: Vec<String>,
) -> ApiResult<()> {
    let rows = Referring::referring(conn, field, id)?;
    let activities = rows
        .into_iter()
        .map(ActivityRow::into_activity)
        .collect::<ApiResult<Vec<_>>>()?;
    let mut parents = Parents::of(activities.iter());
    parents.leads.extend(also_leads);
    parents.leads.sort();
    parents.leads.dedup();
    parents.lock(conn)
}

/// A contact or opportunity (`field` names which) moved to `customer_id`:
/// its activities follow it, each with a new version and its change; a
/// second link that would now disagree (the opportunity of a moved
/// contact's activity, or the contact of a moved opportunity's) is cleared.
/// Both customers' last activity is recomputed.
pub fn follow_customer(
    conn: &mut DbConn,
    field: &str,
    id: &str,
    customer_id: &str,
) -> ApiResult<Vec<Change>> {
    let moving: Vec<Activity> = Referring::referring(conn, field, id)?
        .into_iter()
        .filter(|r| r.customer_id.as_deref() != Some(customer_id))
        .map(ActivityRow::into_activity)
        .collect::<ApiResult<_>>()?;
    if moving.is_empty() {
        return Ok(Vec::new());
    }
    let mut parents = Parents::of(moving.iter());
    parents.customers.push(customer_id.to_string());
    parents.customers.sort();
    parents.customers.dedup();
    parents.lock(conn)?;
    let mut changes = Vec::with_capacity(moving.len());
    let mut touched = Vec::with_capacity(moving.len() * 2);
    for activity in moving {
        let current = read_locked(conn, &activity.id, &IfMatch::default())?;
        let mut next = current.clone();
        next.customer_id = Some(customer_id.to_string());
        let other_customer: Option<String> = match field {
            "contact_id" => match &next.opportunity_id {
                Some(o) => opportunities::table
                    .find(o)
                    .select(opportunities::customer_id)
                    .first(conn)
                    .optional()?,
                None => None,
            },
            _ => match &next.contact_id {
                Some(k) => contacts::table
                    .find(k)
                    .select(contacts::customer_id)
                    .first(conn)
                    .optional()?,
                None => None,
            },
        };
        if other_customer.is_some_and(|c| c != customer_id) {
            match field {
                "contact_id" => next.opportunity_id = None,
                _ => next.contact_id = None,
            }
        }
        // A ticket of the old customer, or (for a moved ticket) an
        // opportunity of the old customer, no longer agrees either.
        let elsewhere = match field {
            "ticket_id" => match &next.opportunity_id {
                Some(o) => opportunities::table
                    .find(o)
                    .select(opportunities::customer_id)
                    .first::<String>(conn)
                    .optional()?,
                None => None,
            },
            _ => match &next.ticket_id {
                Some(t) => tickets::table
                    .find(t)
                    .select(tickets::customer_id)
                    .first::<String>(conn)
                    .optional()?,
                None => None,
            },
        };
        if elsewhere.is_some_and(|c| c != customer_id) {
            match field {
                "ticket_id" => next.opportunity_id = None,
                _ => next.ticket_id = None,
            }
        }
        next.version += 1;
        next.updated_at = db::to_utc(db::now());
        diesel::update(activities::table.find(&current.id))
            .set(&next.row())
            .execute(conn)?;
        changes.push(Change::updated(
            RESOURCE,
            &current.id,
            current.to_json()?,
            next.to_json()?,
        ));
        touched.push(current);
        touched.push(next);
    }
    Parents::of(touched.iter()).refresh(conn)?;
    Ok(changes)
}

/// Activities as dependents of the records they link to (declared `Detach`
/// by customers, contacts, leads and opportunities): a deleted record's
/// link is cleared, and an activity left linking to nothing is deleted.
pub struct Referring;

impl Referring {
    fn query(
        field: &str,
        id: &str,
    ) -> ApiResult<activities::BoxedQuery<'static, db::MultiBackend>> {
        let query = activities::table.into_boxed();
        Ok(match field {
            "customer_id" => query.filter(activities::customer_id.eq(id.to_string())),
            "contact_id" => query.filter(activities::contact_id.eq(id.to_string())),
            "lead_id" => query.filter(activities::lead_id.eq(id.to_string())),
            "opportunity_id" => query.filter(activities::opportunity_id.eq(id.to_string())),
            "ticket_id" => query.filter(activities::ticket_id.eq(id.to_string())),
            "owner_id" => query.filter(activities::owner_id.eq(id.to_string())),
            other => return Err(dependents::unknown_field(RESOURCE, other)),
        })
    }

    fn referring(conn: &mut DbConn, field: &str, id: &str) -> ApiResult<Vec<ActivityRow>> {
        Ok(Self::query(field, id)?
            .order(activities::id)
            .select(ActivityRow::as_select())
            .load(conn)?)
    }
}

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        Ok(Self::query(field, id)?.count().get_result(conn)?)
    }

    fn delete_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }

    fn clear_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }

    /// Clears the link `field` (a customer's deletion also clears the links
    /// to its contacts, which go with it); deletes the activities left
    /// without any link. Each with its event; the parents' last activity is
    /// recomputed for those that remain.
    fn detach_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        let conn = tx.conn();
        let rows = Self::referring(conn, field, id)?;
        let mut changes = Vec::with_capacity(rows.len());
        let mut touched = Vec::new();
        for row in rows {
            let current = read_locked(conn, &row.id, &IfMatch::default())?;
            let mut next = current.clone();
            match field {
                "customer_id" => {
                    next.customer_id = None;
                    next.contact_id = None;
                }
                "contact_id" => next.contact_id = None,
                "lead_id" => next.lead_id = None,
                "ticket_id" => next.ticket_id = None,
                _ => next.opportunity_id = None,
            }
            if next.customer_id.is_none()
                && next.contact_id.is_none()
                && next.lead_id.is_none()
                && next.opportunity_id.is_none()
                && next.ticket_id.is_none()
            {
                diesel::delete(activities::table.find(&current.id)).execute(conn)?;
                changes.push(Change::deleted(RESOURCE, &current.id, current.to_json()?));
                continue;
            }
            next.version += 1;
            next.updated_at = db::to_utc(db::now());
            diesel::update(activities::table.find(&current.id))
                .set(&next.row())
                .execute(conn)?;
            changes.push(Change::updated(
                RESOURCE,
                &current.id,
                current.to_json()?,
                next.to_json()?,
            ));
            touched.push(next);
        }
        let mut parents = Parents::of(touched.iter());
        // The record being deleted keeps no last activity.
        parents
            .customers
            .retain(|c| !(field == "customer_id" && c == id));
        parents.leads.retain(|l| !(field == "lead_id" && l == id));
        parents
            .opportunities
            .retain(|o| !(field == "opportunity_id" && o == id));
        parents.refresh(conn)?;
        Ok(changes)
    }
}

crate::sort_order! {
    /// Sort order of an activity list; a leading `-` sorts descending.
    ActivitySort on activities for Activity, default OccurredAtDesc {
        OccurredAt => "occurred_at": occurred_at time asc,
        OccurredAtDesc => "-occurred_at": occurred_at time desc,
        DueAt => "due_at": due_sort time asc by due_sort,
        DueAtDesc => "-due_at": due_sort time desc by due_sort,
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
    }
}

/// The filters of an activity list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityFilters {
    pub kind: Option<ActivityKind>,
    pub customer_id: Option<String>,
    pub contact_id: Option<String>,
    pub lead_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub ticket_id: Option<String>,
    pub owner_id: Option<String>,
    /// Only tasks not completed (`true`).
    pub open_tasks: Option<bool>,
    /// Due before this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub due_before: Option<DateTime<Utc>>,
    /// Due at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub due_after: Option<DateTime<Utc>>,
    /// Only open tasks whose due time has passed (`true`).
    pub overdue: Option<bool>,
    /// Happened at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub occurred_after: Option<DateTime<Utc>>,
    /// Happened before this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub occurred_before: Option<DateTime<Utc>>,
}

impl ListFilters for ActivityFilters {
    const SEARCH: Option<&'static str> = Some("Case-insensitive substring of subject or body.");
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching activities (costs a count).");
}

pub type ActivityQuery = ListQuery<ActivitySort, ActivityFilters>;

fn filtered(q: &ActivityQuery) -> activities::BoxedQuery<'static, db::MultiBackend> {
    let p = &q.filters;
    let mut query = activities::table.into_boxed();
    if let Some(v) = p.kind {
        query = query.filter(activities::kind.eq(v.as_str()));
    }
    if let Some(v) = &p.customer_id {
        query = query.filter(activities::customer_id.eq(v.clone()));
    }
    if let Some(v) = &p.contact_id {
        query = query.filter(activities::contact_id.eq(v.clone()));
    }
    if let Some(v) = &p.lead_id {
        query = query.filter(activities::lead_id.eq(v.clone()));
    }
    if let Some(v) = &p.opportunity_id {
        query = query.filter(activities::opportunity_id.eq(v.clone()));
    }
    if let Some(v) = &p.ticket_id {
        query = query.filter(activities::ticket_id.eq(v.clone()));
    }
    if let Some(v) = &p.owner_id {
        query = query.filter(activities::owner_id.eq(v.clone()));
    }
    let open_task = |q: activities::BoxedQuery<'static, db::MultiBackend>| {
        q.filter(activities::kind.eq(ActivityKind::Task.as_str()))
            .filter(activities::completed_at.is_null())
    };
    match p.open_tasks {
        Some(true) => query = open_task(query),
        Some(false) => {
            query = query.filter(
                activities::kind
                    .ne(ActivityKind::Task.as_str())
                    .or(activities::completed_at.is_not_null()),
            )
        }
        None => {}
    }
    match p.overdue {
        Some(true) => {
            query = open_task(query).filter(activities::due_sort.lt(db::now()));
        }
        Some(false) => {
            query = query.filter(
                activities::kind
                    .ne(ActivityKind::Task.as_str())
                    .or(activities::completed_at.is_not_null())
                    .or(activities::due_sort.ge(db::now())),
            )
        }
        None => {}
    }
    if let Some(t) = p.due_before {
        query = query.filter(activities::due_sort.lt(db::from_utc(t)));
    }
    if let Some(t) = p.due_after {
        query = query
            .filter(activities::due_sort.ge(db::from_utc(t)))
            .filter(activities::due_at.is_not_null());
    }
    if let Some(t) = p.occurred_after {
        query = query.filter(activities::occurred_at.ge(db::from_utc(t)));
    }
    if let Some(t) = p.occurred_before {
        query = query.filter(activities::occurred_at.lt(db::from_utc(t)));
    }
    if let Some(pattern) = &q.search {
        query = query.filter(activities::search_text.like(pattern.clone()).escape('\\'));
    }
    query
}

pub fn list(conn: &mut DbConn, q: &ActivityQuery) -> ApiResult<ActivityPage> {
    crate::load_page!(conn, q, filtered(q), ActivityRow => ActivityRow::into_activity, ActivityPage)
}
