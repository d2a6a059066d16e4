//! SLA-policy queries and the matching of a ticket to its policy; writers
//! run inside the caller's transaction and append their events.

use diesel::prelude::*;
use serde_json::Value;

use super::{Applied, Clock, SlaPolicy, SlaPolicyInput, SlaPolicyPage, SlaPolicyRow};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{business_hours, sla_policies};
use crate::db::{self, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListQuery, NoFilters};
use crate::http::IfMatch;
use crate::model::ToJson;
use crate::tickets::TicketChannel;

const RESOURCE: ResourceKind = ResourceKind::SlaPolicies;

/// The advisory lock key under which the default policy changes.
const DEFAULT_LOCK_KEY: i64 = 0x0C0F_0003;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<SlaPolicy>> {
    sla_policies::table
        .find(id)
        .select(SlaPolicyRow::as_select())
        .first(conn)
        .optional()?
        .map(SlaPolicyRow::into_record)
        .transpose()
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<SlaPolicy> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("SLA policy"))
}

/// The policy with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(SlaPolicy, bool)>> {
    crate::find_checked!(sla_policies, SlaPolicyRow, conn, id, caller)?
        .map(|(row, valid)| Ok((row.into_record()?, valid)))
        .transpose()
}

pub fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<SlaPolicy> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |p| p.version,
        |c, version| crate::lock_at_version!(sla_policies, c, id, version),
    )
}

/// The policy a ticket of this channel and these tags is measured by, with
/// its clock: the first matching policy by position, else the default;
/// None when there is no policy at all.
pub fn applied_for(
    conn: &mut DbConn,
    channel: Option<TicketChannel>,
    tags: &[String],
) -> ApiResult<Option<Applied>> {
    // A policy deleted between the choice and its lock is chosen again.
    for _ in 0..3 {
        let Some(policy) = choose(conn, channel, tags)? else {
            return Ok(None);
        };
        if share_lock(conn, &policy.id)? {
            return with_clock(conn, policy).map(Some);
        }
    }
    Err(ApiError::Conflict {
        detail: "the SLA policies are being changed by another request; retry".into(),
        field: "sla_policy_id".into(),
        existing_id: None,
    })
}

/// Share-locks a policy a write is about to measure a ticket by
/// (PostgreSQL; SQLite's one writer serializes already): deleting it then
/// waits for the write and sees its ticket, or the write waits for the
/// deletion and sees it gone (false).
fn share_lock(conn: &mut DbConn, id: &str) -> ApiResult<bool> {
    match conn {
        DbConn::Postgresql(c) => Ok(sla_policies::table
            .find(id)
            .select(sla_policies::id)
            .for_share()
            .first::<String>(c)
            .optional()?
            .is_some()),
        DbConn::Sqlite(_) => Ok(true),
    }
}

/// The first matching policy by position, else the default.
fn choose(
    conn: &mut DbConn,
    channel: Option<TicketChannel>,
    tags: &[String],
) -> ApiResult<Option<SlaPolicy>> {
    let policies: Vec<SlaPolicy> = sla_policies::table
        .order((
            sla_policies::position.asc(),
            sla_policies::created_at.asc(),
            sla_policies::id.asc(),
        ))
        .select(SlaPolicyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SlaPolicyRow::into_record)
        .collect::<ApiResult<_>>()?;
    let chosen = policies
        .iter()
        .position(|p| p.matches(channel, tags))
        .or_else(|| policies.iter().position(|p| p.is_default));
    Ok(chosen.and_then(|i| policies.into_iter().nth(i)))
}

/// The policy `id` with its clock, share-locked as in [`applied_for`];
/// None when it was deleted.
pub fn applied(conn: &mut DbConn, id: &str) -> ApiResult<Option<Applied>> {
    match find(conn, id)? {
        Some(policy) if share_lock(conn, id)? => with_clock(conn, policy).map(Some),
        _ => Ok(None),
    }
}

fn with_clock(conn: &mut DbConn, policy: SlaPolicy) -> ApiResult<Applied> {
    let clock = match &policy.business_hours_id {
        None => Clock::Calendar,
        Some(id) => match crate::business_hours::repo::find(conn, id)? {
            Some(hours) => Clock::Business(Box::new(hours.schedule())),
            None => Clock::Calendar,
        },
    };
    Ok(Applied { policy, clock })
}

fn check_unique_and_references(
    conn: &mut DbConn,
    id: &str,
    input: &SlaPolicyInput,
) -> ApiResult<()> {
    crate::check_references!(conn, {
        business_hours_id: business_hours "business hours" = input.business_hours_id.as_deref(),
    })?;
    crate::ensure_unique!(conn, sla_policies.name = Some(input.name.as_str()), except id, "SLA policy")
}

/// Makes `id` the only default (under a lock all replicas share): clears
/// the flag of the policy that has it, a new version with its event.
fn take_default(conn: &mut DbConn, id: &str) -> ApiResult<Vec<Change>> {
    let previous: Option<String> = sla_policies::table
        .filter(sla_policies::is_default.eq(true))
        .filter(sla_policies::id.ne(id))
        .select(sla_policies::id)
        .first(conn)
        .optional()?;
    let Some(previous) = previous else {
        return Ok(Vec::new());
    };
    let before = read_locked(conn, &previous, &IfMatch::default())?;
    let mut input = before.input();
    input.is_default = false;
    let after = before.with(input, db::now());
    diesel::update(sla_policies::table.find(&previous))
        .set(&after.row())
        .execute(conn)?;
    Ok(vec![Change::updated(
        RESOURCE,
        &previous,
        before.to_json()?,
        after.to_json()?,
    )])
}

fn lock_default(conn: &mut DbConn) -> ApiResult<()> {
    if let DbConn::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(DEFAULT_LOCK_KEY)
            .execute(c)?;
    }
    Ok(())
}

fn has_default(conn: &mut DbConn) -> ApiResult<bool> {
    Ok(sla_policies::table
        .filter(sla_policies::is_default.eq(true))
        .select(sla_policies::id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Creates a policy; the first one becomes the default whatever it says
/// (then it must match by nothing).
pub fn create(tx: &mut Tx, actor: &Actor, mut input: SlaPolicyInput) -> ApiResult<SlaPolicy> {
    let conn = tx.conn();
    let id = db::new_id();
    lock_default(conn)?;
    if !input.is_default && !has_default(conn)? {
        input.is_default = true;
        input = input.normalized().map_err(|_| {
            ApiError::field(
                "is_default",
                "default_required",
                "the first policy is the default, which matches by nothing: leave out match_channel and match_tag",
            )
        })?;
    }
    input.check_matching()?;
    check_unique_and_references(conn, &id, &input)?;
    let mut changes = if input.is_default {
        take_default(conn, &id)?
    } else {
        Vec::new()
    };
    let policy = SlaPolicy::new(id.clone(), input, db::now());
    diesel::insert_into(sla_policies::table)
        .values(&policy.row())
        .execute(conn)?;
    changes.push(Change::created(RESOURCE, &id, policy.to_json()?));
    events::append(tx, actor, &changes)?;
    Ok(policy)
}

/// Applies a JSON merge patch. Tickets keep the due times computed so far;
/// a changed policy counts from their next computation.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &Value,
) -> ApiResult<SlaPolicy> {
    let conn = tx.conn();
    lock_default(conn)?;
    let current = read_locked(conn, id, if_match)?;
    let input = crate::model::merged(&current.input(), patch)?.normalized()?;
    if input == current.input() {
        return Ok(current);
    }
    if current.is_default && !input.is_default {
        return Err(ApiError::field(
            "is_default",
            "default_required",
            "one policy is always the default: make another policy the default instead",
        ));
    }
    input.check_matching()?;
    check_unique_and_references(conn, id, &input)?;
    let mut changes = if input.is_default && !current.is_default {
        take_default(conn, id)?
    } else {
        Vec::new()
    };
    let next = current.with(input, db::now());
    diesel::update(sla_policies::table.find(id))
        .set(&next.row())
        .execute(conn)?;
    changes.push(Change::updated(
        RESOURCE,
        id,
        current.to_json()?,
        next.to_json()?,
    ));
    events::append(tx, actor, &changes)?;
    Ok(next)
}

/// Deletes a policy no running ticket uses; the default goes only as the
/// last policy.
pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    lock_default(tx.conn())?;
    let current = read_locked(tx.conn(), id, if_match)?;
    if current.is_default {
        let others: i64 = sla_policies::table
            .filter(sla_policies::id.ne(id))
            .count()
            .get_result(tx.conn())?;
        if others > 0 {
            return Err(ApiError::Conflict {
                detail: "this is the default policy: make another policy the default first".into(),
                field: "id".into(),
                existing_id: None,
            });
        }
    }
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    diesel::delete(sla_policies::table.find(id))
        .execute(tx.conn())
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

/// Policies as dependents of business hours: a schedule in use is kept.
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        match field {
            "business_hours_id" => Ok(sla_policies::table
                .filter(sla_policies::business_hours_id.eq(id))
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
    /// Sort order of a policy list; a leading `-` sorts descending.
    SlaPolicySort on sla_policies for SlaPolicy, default Position {
        Position => "position": position int asc,
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
    }
}

pub type SlaPolicyQuery = ListQuery<SlaPolicySort, NoFilters>;

pub fn list(conn: &mut DbConn, q: &SlaPolicyQuery) -> ApiResult<SlaPolicyPage> {
    crate::load_page!(
        conn, q, sla_policies::table.into_boxed(),
        SlaPolicyRow => SlaPolicyRow::into_record, SlaPolicyPage
    )
}
