//! Opportunity queries. Writers take a share lock on the stage the
//! opportunity will be in before locking the opportunity (the one lock
//! order: stages, then opportunities; stage writers lock the stage
//! exclusively), write it, keep its stage history and append its events, in
//! the caller's transaction.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    Opportunity, OpportunityInput, OpportunityPage, OpportunityRow, OpportunityStatus, StageVisit,
    StageVisitPage, StageVisitRow,
};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{
    contacts, customers, leads, opportunities, opportunity_stages, record_tags, users,
};
use crate::db::{self, tags, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery, NoFilters};
use crate::http::IfMatch;
use crate::model::ToJson;
use crate::pipelines::{repo as pipeline_repo, Pipeline, Stage};

const RESOURCE: ResourceKind = ResourceKind::Opportunities;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Opportunity>> {
    opportunities::table
        .find(id)
        .select(OpportunityRow::as_select())
        .first(conn)
        .optional()?
        .map(OpportunityRow::into_opportunity)
        .transpose()
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Opportunity> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("opportunity"))
}

/// The opportunity with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Opportunity, bool)>> {
    crate::find_checked!(opportunities, OpportunityRow, conn, id, caller)?
        .map(|(row, valid)| Ok((row.into_opportunity()?, valid)))
        .transpose()
}

/// The opportunity with this `external_id` and the caller check beside it.
pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Opportunity, bool)>> {
    crate::find_checked!(opportunities by external_id, OpportunityRow, conn, external_id, caller)?
        .map(|(row, valid)| Ok((row.into_opportunity()?, valid)))
        .transpose()
}

/// The opportunity, locked against other writers until the transaction ends.
fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Opportunity> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |o| o.version,
        |c, version| crate::lock_at_version!(opportunities, c, id, version),
    )
}

/// Where an input puts the opportunity: its pipeline and stage.
struct Placement {
    pipeline: Pipeline,
    stage: Stage,
}

/// The pipeline and stage `input` names (defaults filled in): a stage
/// decides its pipeline; a pipeline alone means its first open stage;
/// neither means the default pipeline.
fn place(conn: &mut DbConn, input: &OpportunityInput) -> ApiResult<Placement> {
    let named = match &input.pipeline_id {
        None => None,
        Some(id) => Some(pipeline_repo::find(conn, id)?.ok_or_else(|| {
            ApiError::field("pipeline_id", "not_found", "no pipeline has this id")
        })?),
    };
    let pipeline = match (&input.stage_id, named) {
        (Some(stage_id), named) => {
            let pipeline_id: Option<String> = crate::db::schema::pipeline_stages::table
                .find(stage_id)
                .select(crate::db::schema::pipeline_stages::pipeline_id)
                .first(conn)
                .optional()?;
            let pipeline_id = pipeline_id
                .ok_or_else(|| ApiError::field("stage_id", "not_found", "no stage has this id"))?;
            match named {
                Some(p) if p.id != pipeline_id => {
                    return Err(ApiError::field(
                        "stage_id",
                        "wrong_pipeline",
                        "must be a stage of pipeline_id (to move to another pipeline, send a stage of it)",
                    ))
                }
                Some(p) => p,
                None => pipeline_repo::get(conn, &pipeline_id)?,
            }
        }
        (None, Some(p)) => p,
        (None, None) => pipeline_repo::default_pipeline(conn)?,
    };
    let stage = match &input.stage_id {
        Some(id) => pipeline.stage(id).cloned(),
        None => pipeline.first_open_stage().cloned(),
    }
    .ok_or_else(|| ApiError::field("stage_id", "not_found", "no stage has this id"))?;
    Ok(Placement { pipeline, stage })
}

/// 422 unless the references exist and agree: the contact is one of the
/// customer's, the owner a user.
fn check_references(conn: &mut DbConn, input: &OpportunityInput) -> ApiResult<()> {
    crate::check_references!(conn, {
        customer_id: customers "customer" = Some(input.customer_id.as_str()),
        owner_id: users "user" = input.owner_id.as_deref(),
        source_lead_id: leads "lead" = input.source_lead_id.as_deref(),
    })?;
    if let Some(contact_id) = &input.contact_id {
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
    Ok(())
}

/// The opportunity `input` describes (`current` is the one it replaces):
/// status, probability, currency, `closed_at` and the stage clock follow
/// the placement. `explicit_probability` says whether the caller sent the
/// probability in this change (else a new stage brings its own).
fn build(
    id: &str,
    input: OpportunityInput,
    placement: &Placement,
    current: Option<&Opportunity>,
    explicit_probability: bool,
    explicit_lost_reason: bool,
) -> ApiResult<Opportunity> {
    let now = db::to_utc(db::now());
    let stage = &placement.stage;
    let status = OpportunityStatus::of(stage.kind);
    let stage_changed = current.is_none_or(|c| c.stage_id != stage.id);
    let mut errors = Vec::new();
    let lost_reason = match status {
        OpportunityStatus::Lost => {
            if input.lost_reason.is_none() {
                errors.push(FieldError::new(
                    "lost_reason",
                    "required",
                    "is required in a lost stage",
                ));
            }
            input.lost_reason
        }
        _ if explicit_lost_reason && input.lost_reason.is_some() => {
            errors.push(FieldError::new(
                "lost_reason",
                "not_lost",
                "only a lost opportunity has a lost_reason",
            ));
            None
        }
        _ => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let probability = match input.probability {
        Some(p) if explicit_probability || !stage_changed => p,
        _ => stage.probability,
    };
    let currency = input
        .currency
        .or_else(|| placement.pipeline.currency.clone())
        .unwrap_or_else(|| crate::customers::value::base_currency().to_string());
    let closed_at = match (status, current) {
        (OpportunityStatus::Open, _) => None,
        (_, Some(c)) if c.status == status => c.closed_at,
        _ => Some(now),
    };
    Ok(Opportunity {
        id: id.to_string(),
        customer_id: input.customer_id,
        contact_id: input.contact_id,
        name: input.name,
        amount: input.amount,
        currency,
        pipeline_id: placement.pipeline.id.clone(),
        stage_id: stage.id.clone(),
        probability,
        expected_close_date: input.expected_close_date,
        status,
        lost_reason,
        closed_at,
        owner_id: input.owner_id,
        source_lead_id: input.source_lead_id,
        tags: input.tags,
        custom_fields: input.custom_fields,
        external_id: input.external_id,
        stage_entered_at: match current {
            Some(c) if !stage_changed => c.stage_entered_at,
            _ => now,
        },
        last_activity_at: current.and_then(|c| c.last_activity_at),
        rotting: false,
        version: current.map_or(1, |c| c.version + 1),
        created_at: current.map_or(now, |c| c.created_at),
        updated_at: now,
    })
    .map(|mut o| {
        o.rotting = super::rotting_at(
            o.status,
            stage.rotting_days,
            db::from_utc(o.stage_entered_at),
            o.last_activity_at.map(db::from_utc),
        )
        .is_some_and(|t| t <= db::now());
        o
    })
}

/// Closes the opportunity's open stage visit and opens one for `stage`.
fn enter_stage(
    conn: &mut DbConn,
    actor: &Actor,
    opportunity: &Opportunity,
    stage: &Stage,
    first: bool,
) -> ApiResult<()> {
    let at = db::from_utc(opportunity.stage_entered_at);
    if !first {
        diesel::update(
            opportunity_stages::table
                .filter(opportunity_stages::opportunity_id.eq(&opportunity.id))
                .filter(opportunity_stages::left_at.is_null()),
        )
        .set(opportunity_stages::left_at.eq(at))
        .execute(conn)?;
    }
    diesel::insert_into(opportunity_stages::table)
        .values(&StageVisitRow {
            id: db::new_id(),
            opportunity_id: opportunity.id.clone(),
            pipeline_id: stage.pipeline_id.clone(),
            stage_id: stage.id.clone(),
            stage_name: stage.name.clone(),
            entered_at: at,
            left_at: None,
            changed_by_type: actor.actor_type.as_str().to_string(),
            changed_by_id: actor.id.clone(),
        })
        .execute(conn)?;
    Ok(())
}

/// Where `input` puts the opportunity, with its stage share-locked and read
/// again under the lock (so its kind and rotting days are the ones that
/// stay until the transaction ends).
fn place_locked(conn: &mut DbConn, input: &OpportunityInput) -> ApiResult<Placement> {
    let first = place(conn, input)?;
    pipeline_repo::share_stage(conn, &first.stage.id)?;
    let placement = place(conn, input)?;
    if placement.stage.id != first.stage.id {
        return Err(ApiError::Conflict {
            detail: "the pipeline's stages are being changed by another request; retry".into(),
            field: "stage_id".into(),
            existing_id: None,
        });
    }
    Ok(placement)
}

pub fn create(tx: &mut Tx, actor: &Actor, input: OpportunityInput) -> ApiResult<Opportunity> {
    let conn = tx.conn();
    let placement = place_locked(conn, &input)?;
    check_references(conn, &input)?;
    let id = db::new_id();
    crate::ensure_unique!(
        conn,
        opportunities.external_id = input.external_id.as_deref(),
        except & id,
        "opportunity"
    )?;
    let opportunity = build(&id, input, &placement, None, true, true)?;
    diesel::insert_into(opportunities::table)
        .values(&opportunity.row(placement.stage.rotting_days))
        .execute(conn)?;
    tags::add(conn, RESOURCE.as_str(), &id, &opportunity.tags)?;
    enter_stage(conn, actor, &opportunity, &placement.stage, true)?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &id, opportunity.to_json()?)],
    )?;
    Ok(opportunity)
}

/// The input a patch makes of `current`: a patch that names a stage but no
/// pipeline moves the opportunity to that stage's pipeline (a stage of
/// `null` means the first open stage of its pipeline).
fn patched(current: &Opportunity, patch: &serde_json::Value) -> ApiResult<OpportunityInput> {
    let mut base = current.input();
    if patch.get("stage_id").is_some_and(|s| !s.is_null()) && patch.get("pipeline_id").is_none() {
        base.pipeline_id = None;
    }
    crate::model::merged(&base, patch)?.normalized()
}

/// Applies a JSON merge patch. A patch that changes nothing leaves the
/// opportunity, its version and the event log untouched.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Opportunity> {
    let conn = tx.conn();
    // The stage it will be in is share-locked before the opportunity (the
    // lock order); it depends on the stage the opportunity is in, so that
    // must not have changed between the peek and the lock.
    let (current, input, placement) = {
        let mut attempt = 0;
        loop {
            let peek = get(conn, id)?;
            if_match.check(peek.version)?;
            let input = patched(&peek, patch)?;
            let placement = place_locked(conn, &input)?;
            // Its activities' customers are locked before it (the order
            // activity writers take), as a move to another customer
            // takes its activities along.
            crate::customers::value::lock_customers(
                conn,
                &[peek.customer_id.as_str(), input.customer_id.as_str()],
            )?;
            let current = read_locked(conn, id, if_match)?;
            if current.stage_id == peek.stage_id && current.customer_id == peek.customer_id {
                let input = patched(&current, patch)?;
                break (current, input, placement);
            }
            attempt += 1;
            if attempt == 3 {
                return Err(ApiError::Conflict {
                    detail: "the opportunity is being moved by another request; retry".into(),
                    field: "stage_id".into(),
                    existing_id: None,
                });
            }
        }
    };
    if input == current.input() {
        return Ok(current);
    }
    check_references(conn, &input)?;
    crate::ensure_unique!(
        conn,
        opportunities.external_id = input.external_id.as_deref(),
        except id,
        "opportunity"
    )?;
    let explicit_probability = patch.get("probability").is_some_and(|p| !p.is_null());
    let explicit_lost_reason = patch.get("lost_reason").is_some_and(|p| !p.is_null());
    let opportunity = build(
        id,
        input,
        &placement,
        Some(&current),
        explicit_probability,
        explicit_lost_reason,
    )?;
    // Defaults filled in (the pipeline of the stage sent, the pipeline's
    // currency) may make it the record it was.
    if opportunity.input() == current.input() {
        return Ok(current);
    }
    write(conn, actor, &current, &opportunity, &placement.stage)?;
    let mut changes = if opportunity.customer_id != current.customer_id {
        crate::activities::repo::follow_customer(
            conn,
            "opportunity_id",
            id,
            &opportunity.customer_id,
        )?
    } else {
        Vec::new()
    };
    changes.push(Change::updated(
        RESOURCE,
        id,
        current.to_json()?,
        opportunity.to_json()?,
    ));
    events::append(tx, actor, &changes)?;
    Ok(opportunity)
}

/// Writes `next` over `current` (locked): the row, its tags, and a stage
/// visit when the stage changed.
fn write(
    conn: &mut DbConn,
    actor: &Actor,
    current: &Opportunity,
    next: &Opportunity,
    stage: &Stage,
) -> ApiResult<()> {
    diesel::update(opportunities::table.find(&current.id))
        .set(&next.row(stage.rotting_days))
        .execute(conn)?;
    if next.tags != current.tags {
        tags::replace(conn, RESOURCE.as_str(), &current.id, &next.tags)?;
    }
    if next.stage_id != current.stage_id {
        enter_stage(conn, actor, next, stage, false)?;
    }
    Ok(())
}

/// Deletes an opportunity with its stage history; what happens to the
/// records that refer to it is declared in [`super::DEPENDENTS`].
pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    // The leads converted into it are cleared: locked before it, too.
    let converted: Vec<String> = leads::table
        .filter(leads::converted_opportunity_id.eq(id))
        .select(leads::id)
        .load(tx.conn())?;
    crate::activities::repo::lock_parents_referring(tx.conn(), "opportunity_id", id, converted)?;
    let current = read_locked(tx.conn(), id, if_match)?;
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    let conn = tx.conn();
    tags::remove_all(conn, RESOURCE.as_str(), id)?;
    diesel::delete(opportunity_stages::table.filter(opportunity_stages::opportunity_id.eq(id)))
        .execute(conn)?;
    diesel::delete(opportunities::table.find(id))
        .execute(conn)
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

/// Stores the opportunity's latest activity (locked by the caller) and
/// when it starts rotting from there; derived data: no version, no event.
pub fn set_last_activity(
    conn: &mut DbConn,
    id: &str,
    last: Option<chrono::NaiveDateTime>,
) -> ApiResult<()> {
    let Some(current) = find(conn, id)? else {
        return Ok(());
    };
    let rotting_days: Option<Option<i32>> = crate::db::schema::pipeline_stages::table
        .find(&current.stage_id)
        .select(crate::db::schema::pipeline_stages::rotting_days)
        .first(conn)
        .optional()?;
    let rotting_at = super::rotting_at(
        current.status,
        rotting_days.flatten().map(i64::from),
        db::from_utc(current.stage_entered_at),
        last,
    );
    diesel::update(opportunities::table.find(id))
        .set((
            opportunities::last_activity_at.eq(last),
            opportunities::rotting_at.eq(rotting_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// How many opportunities are in a stage.
pub fn count_in_stage(conn: &mut DbConn, stage_id: &str) -> ApiResult<i64> {
    Ok(opportunities::table
        .filter(opportunities::stage_id.eq(stage_id))
        .count()
        .get_result(conn)?)
}

/// Moves every opportunity in the stage `from` (locked exclusively by the
/// caller) to `to`, a stage of the same pipeline that is not lost: each
/// with a new version, a stage visit and its change.
pub fn move_out_of_stage(
    conn: &mut DbConn,
    actor: &Actor,
    from: &str,
    to: &Stage,
) -> ApiResult<Vec<Change>> {
    let ids: Vec<String> = opportunities::table
        .filter(opportunities::stage_id.eq(from))
        .order(opportunities::id)
        .select(opportunities::id)
        .load(conn)?;
    let pipeline = pipeline_repo::get(conn, &to.pipeline_id)?;
    let placement = Placement {
        pipeline,
        stage: to.clone(),
    };
    let mut changes = Vec::with_capacity(ids.len());
    for id in ids {
        let current = read_locked(conn, &id, &IfMatch::default())?;
        if current.stage_id != from {
            continue;
        }
        let mut input = current.input();
        input.stage_id = Some(to.id.clone());
        let next = build(&id, input, &placement, Some(&current), false, false)?;
        write(conn, actor, &current, &next, to)?;
        changes.push(Change::updated(
            RESOURCE,
            &id,
            current.to_json()?,
            next.to_json()?,
        ));
    }
    Ok(changes)
}

/// Recomputes when the open opportunities of `stage` start rotting, after
/// its `rotting_days` changed (derived data: no new versions, no events).
pub fn refresh_rotting(conn: &mut DbConn, stage: &Stage) -> ApiResult<()> {
    let Some(days) = stage.rotting_days else {
        diesel::update(opportunities::table.filter(opportunities::stage_id.eq(&stage.id)))
            .set(opportunities::rotting_at.eq(None::<chrono::NaiveDateTime>))
            .execute(conn)?;
        return Ok(());
    };
    let sql = match conn {
        DbConn::Postgresql(_) => {
            "UPDATE opportunities SET rotting_at = GREATEST(stage_entered_at, \
             COALESCE(last_activity_at, stage_entered_at)) + make_interval(days => $1) \
             WHERE stage_id = $2 AND status = 'open'"
        }
        DbConn::Sqlite(_) => {
            "UPDATE opportunities SET rotting_at = strftime('%Y-%m-%d %H:%M:%f', \
             max(stage_entered_at, COALESCE(last_activity_at, stage_entered_at)), \
             '+' || $1 || ' days') WHERE stage_id = $2 AND status = 'open'"
        }
    };
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Integer, _>(i32::try_from(days).unwrap_or(i32::MAX))
        .bind::<diesel::sql_types::Text, _>(&stage.id)
        .execute(conn)?;
    Ok(())
}

/// Opportunities as dependents of other records (declared by customers,
/// contacts, users and pipelines).
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        let query = opportunities::table.into_boxed();
        let query = match field {
            "customer_id" => query.filter(opportunities::customer_id.eq(id.to_string())),
            "owner_id" => query.filter(opportunities::owner_id.eq(id.to_string())),
            "pipeline_id" => query.filter(opportunities::pipeline_id.eq(id.to_string())),
            "contact_id" => query.filter(opportunities::contact_id.eq(id.to_string())),
            "source_lead_id" => query.filter(opportunities::source_lead_id.eq(id.to_string())),
            other => return Err(dependents::unknown_field(RESOURCE, other)),
        };
        Ok(query.count().get_result(conn)?)
    }

    fn delete_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }

    /// Clears `contact_id` or `source_lead_id` (the references that may
    /// go), each with a new version and its change.
    fn clear_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        let conn = tx.conn();
        let query = opportunities::table.into_boxed();
        let query = match field {
            "contact_id" => query.filter(opportunities::contact_id.eq(id.to_string())),
            "source_lead_id" => query.filter(opportunities::source_lead_id.eq(id.to_string())),
            other => return Err(dependents::unknown_field(RESOURCE, other)),
        };
        let ids: Vec<String> = query
            .order(opportunities::id)
            .select(opportunities::id)
            .load(conn)?;
        let mut changes = Vec::with_capacity(ids.len());
        for oid in ids {
            let current = read_locked(conn, &oid, &IfMatch::default())?;
            let now = db::now();
            let cleared = match field {
                "contact_id" if current.contact_id.as_deref() == Some(id) => {
                    diesel::update(opportunities::table.find(&oid))
                        .set((
                            opportunities::contact_id.eq(None::<String>),
                            opportunities::version.eq(current.version + 1),
                            opportunities::updated_at.eq(now),
                        ))
                        .execute(conn)?
                }
                "source_lead_id" if current.source_lead_id.as_deref() == Some(id) => {
                    diesel::update(opportunities::table.find(&oid))
                        .set((
                            opportunities::source_lead_id.eq(None::<String>),
                            opportunities::version.eq(current.version + 1),
                            opportunities::updated_at.eq(now),
                        ))
                        .execute(conn)?
                }
                _ => 0,
            };
            if cleared == 0 {
                continue;
            }
            let after = get(conn, &oid)?;
            changes.push(Change::updated(
                RESOURCE,
                &oid,
                current.to_json()?,
                after.to_json()?,
            ));
        }
        Ok(changes)
    }
}

crate::sort_order! {
    /// Sort order of an opportunity list; a leading `-` sorts descending.
    OpportunitySort on opportunities for Opportunity, default CreatedAtDesc {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
        Amount => "amount": amount int asc,
        AmountDesc => "-amount": amount int desc,
        ExpectedCloseDate => "expected_close_date": close_sort text asc by close_sort,
        ExpectedCloseDateDesc => "-expected_close_date": close_sort text desc by close_sort,
        Name => "name": name text asc,
        NameDesc => "-name": name text desc,
    }
}

/// The filters of an opportunity list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OpportunityFilters {
    pub customer_id: Option<String>,
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub status: Option<OpportunityStatus>,
    pub owner_id: Option<String>,
    /// Opportunities carrying this tag.
    pub tag: Option<String>,
    /// Amount at least this (minor units).
    pub amount_min: Option<i64>,
    /// Amount at most this (minor units).
    pub amount_max: Option<i64>,
    /// ISO 4217 code (case-insensitive).
    pub currency: Option<String>,
    /// Expected to close on or after this date.
    pub expected_close_after: Option<NaiveDate>,
    /// Expected to close before this date.
    pub expected_close_before: Option<NaiveDate>,
    /// Closed (won or lost) at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub closed_after: Option<DateTime<Utc>>,
    /// Closed (won or lost) before this time (RFC 3339).
    #[serde(default, deserialize_with = "crate::model::time_filter")]
    pub closed_before: Option<DateTime<Utc>>,
    /// Only rotting opportunities (`true`) or only the others (`false`).
    pub rotting: Option<bool>,
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

impl ListFilters for OpportunityFilters {
    const SEARCH: Option<&'static str> = Some("Case-insensitive substring of the name.");
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching opportunities (costs a count).");
}

pub type OpportunityQuery = ListQuery<OpportunitySort, OpportunityFilters>;

type Boxed<'a> = opportunities::BoxedQuery<'a, db::MultiBackend>;

fn filtered(q: &OpportunityQuery) -> Boxed<'static> {
    let p = &q.filters;
    let mut query = opportunities::table.into_boxed();
    if let Some(v) = &p.customer_id {
        query = query.filter(opportunities::customer_id.eq(v.clone()));
    }
    if let Some(v) = &p.pipeline_id {
        query = query.filter(opportunities::pipeline_id.eq(v.clone()));
    }
    if let Some(v) = &p.stage_id {
        query = query.filter(opportunities::stage_id.eq(v.clone()));
    }
    if let Some(v) = p.status {
        query = query.filter(opportunities::status.eq(v.as_str()));
    }
    if let Some(v) = &p.owner_id {
        query = query.filter(opportunities::owner_id.eq(v.clone()));
    }
    if let Some(tag) = &p.tag {
        let tagged = record_tags::table
            .filter(record_tags::resource.eq(RESOURCE.as_str()))
            .filter(record_tags::tag.eq(tag.trim().to_string()))
            .select(record_tags::record_id);
        query = query.filter(opportunities::id.eq_any(tagged));
    }
    if let Some(n) = p.amount_min {
        query = query.filter(opportunities::amount.ge(n));
    }
    if let Some(n) = p.amount_max {
        query = query.filter(opportunities::amount.le(n));
    }
    if let Some(c) = &p.currency {
        query = query.filter(opportunities::currency.eq(c.trim().to_ascii_uppercase()));
    }
    if let Some(d) = p.expected_close_after {
        query = query.filter(opportunities::close_sort.ge(super::close_sort(Some(d))));
        query = query.filter(opportunities::close_sort.ne(super::NO_CLOSE_DATE));
    }
    if let Some(d) = p.expected_close_before {
        query = query.filter(opportunities::close_sort.lt(super::close_sort(Some(d))));
    }
    if let Some(t) = p.closed_after {
        query = query.filter(opportunities::closed_at.ge(db::from_utc(t)));
    }
    if let Some(t) = p.closed_before {
        query = query.filter(opportunities::closed_at.lt(db::from_utc(t)));
    }
    match p.rotting {
        Some(true) => query = query.filter(opportunities::rotting_at.le(db::now())),
        Some(false) => {
            query = query.filter(
                opportunities::rotting_at
                    .is_null()
                    .or(opportunities::rotting_at.gt(db::now())),
            )
        }
        None => {}
    }
    if let Some(t) = p.created_after {
        query = query.filter(opportunities::created_at.ge(db::from_utc(t)));
    }
    if let Some(t) = p.created_before {
        query = query.filter(opportunities::created_at.lt(db::from_utc(t)));
    }
    if let Some(t) = p.updated_since {
        query = query.filter(opportunities::updated_at.ge(db::from_utc(t)));
    }
    if let Some(pattern) = &q.search {
        query = query.filter(
            opportunities::search_text
                .like(pattern.clone())
                .escape('\\'),
        );
    }
    query
}

pub fn list(conn: &mut DbConn, q: &OpportunityQuery) -> ApiResult<OpportunityPage> {
    crate::load_page!(conn, q, filtered(q), OpportunityRow => OpportunityRow::into_opportunity, OpportunityPage)
}

crate::sort_order! {
    /// An opportunity's stage history is in the order it entered them.
    StageVisitSort on opportunity_stages for StageVisit, default EnteredAt, fixed true {
        EnteredAt => "entered_at": entered_at time asc,
    }
}

pub type StageVisitQuery = ListQuery<StageVisitSort, NoFilters>;

/// The stage history of an opportunity, oldest first; 404 when it does not exist.
pub fn stage_history(
    conn: &mut DbConn,
    id: &str,
    q: &StageVisitQuery,
) -> ApiResult<StageVisitPage> {
    get(conn, id)?;
    let filtered = || {
        opportunity_stages::table
            .filter(opportunity_stages::opportunity_id.eq(id.to_string()))
            .into_boxed()
    };
    crate::load_page!(conn, q, filtered(), StageVisitRow => StageVisitRow::into_visit, StageVisitPage)
}
