//! Pipeline and stage queries. Every write locks the pipeline (at its
//! version), writes the next version with its stages and appends one event,
//! in the caller's transaction. Changing the default pipeline takes one
//! database-wide lock, so two pipelines never both become the default.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    new_stage, Pipeline, PipelineFields, PipelineInput, PipelinePage, PipelineRow, Stage,
    StageInput, StageKind, StageList, StagePlan, StageRow,
};
use crate::auth::{Actor, CallerCheck};
use crate::db::schema::{pipeline_stages, pipelines};
use crate::db::{self, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;
use crate::opportunities::repo as opportunities;

const RESOURCE: ResourceKind = ResourceKind::Pipelines;

/// The stages of these pipelines, each pipeline's in position order.
fn stages_of(conn: &mut DbConn, ids: &[&str]) -> ApiResult<HashMap<String, Vec<Stage>>> {
    let mut by_pipeline: HashMap<String, Vec<Stage>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_pipeline);
    }
    let rows: Vec<StageRow> = pipeline_stages::table
        .filter(pipeline_stages::pipeline_id.eq_any(ids))
        .order((pipeline_stages::pipeline_id, pipeline_stages::position))
        .select(StageRow::as_select())
        .load(conn)?;
    for row in rows {
        let stage = row.into_stage()?;
        by_pipeline
            .entry(stage.pipeline_id.clone())
            .or_default()
            .push(stage);
    }
    Ok(by_pipeline)
}

fn with_stages(conn: &mut DbConn, rows: Vec<PipelineRow>) -> ApiResult<Vec<Pipeline>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut stages = stages_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let own = stages.remove(&row.id).unwrap_or_default();
            row.into_pipeline(own)
        })
        .collect())
}

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Pipeline>> {
    let row = pipelines::table
        .find(id)
        .select(PipelineRow::as_select())
        .first(conn)
        .optional()?;
    Ok(with_stages(conn, row.into_iter().collect())?.pop())
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Pipeline> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("pipeline"))
}

/// The default pipeline (there is always one once the service has started).
pub fn default_pipeline(conn: &mut DbConn) -> ApiResult<Pipeline> {
    let row = pipelines::table
        .filter(pipelines::is_default.eq(true))
        .select(PipelineRow::as_select())
        .first(conn)
        .optional()?;
    with_stages(conn, row.into_iter().collect())?
        .pop()
        .ok_or_else(|| ApiError::internal("no default pipeline"))
}

/// The pipeline with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Pipeline, bool)>> {
    let Some((row, valid)) = crate::find_checked!(pipelines, PipelineRow, conn, id, caller)? else {
        return Ok(None);
    };
    if !valid {
        return Ok(Some((row.into_pipeline(Vec::new()), false)));
    }
    Ok(with_stages(conn, vec![row])?.pop().map(|p| (p, true)))
}

/// The pipeline, locked against other writers until the transaction ends.
pub fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Pipeline> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |p| p.version,
        |c, version| crate::lock_at_version!(pipelines, c, id, version),
    )
}

/// The advisory lock key under which the default pipeline changes.
const DEFAULT_LOCK_KEY: i64 = 0x0C0F_0002;

/// Makes `id` the only default: clears the flag on the pipeline that has it
/// (a new version and an event), under a lock all replicas share.
fn take_default(conn: &mut DbConn, id: &str) -> ApiResult<Vec<Change>> {
    if let DbConn::Postgresql(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(DEFAULT_LOCK_KEY)
            .execute(c)?;
    }
    let previous: Option<String> = pipelines::table
        .filter(pipelines::is_default.eq(true))
        .filter(pipelines::id.ne(id))
        .select(pipelines::id)
        .first(conn)
        .optional()?;
    let Some(previous) = previous else {
        return Ok(Vec::new());
    };
    let before = read_locked(conn, &previous, &IfMatch::default())?;
    let mut after = before.clone();
    after.is_default = false;
    let after = write_pipeline(conn, &before, after)?;
    Ok(vec![Change::updated(
        RESOURCE,
        &previous,
        before.to_json()?,
        after.to_json()?,
    )])
}

/// Writes `after` as the next version of `before` (locked): the row and the
/// stages that differ.
fn write_pipeline(
    conn: &mut DbConn,
    before: &Pipeline,
    mut after: Pipeline,
) -> ApiResult<Pipeline> {
    after.version = before.version + 1;
    after.updated_at = db::to_utc(db::now());
    diesel::update(pipelines::table.find(&before.id))
        .set(&row_of(&after))
        .execute(conn)?;
    write_stages(conn, &before.stages, &after.stages)?;
    Ok(after)
}

fn row_of(p: &Pipeline) -> PipelineRow {
    PipelineRow {
        id: p.id.clone(),
        name: p.name.clone(),
        is_default: p.is_default,
        currency: p.currency.clone(),
        version: p.version,
        created_at: db::from_utc(p.created_at),
        updated_at: db::from_utc(p.updated_at),
    }
}

fn write_stages(conn: &mut DbConn, before: &[Stage], after: &[Stage]) -> ApiResult<()> {
    let gone: Vec<&str> = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.id == b.id))
        .map(|b| b.id.as_str())
        .collect();
    if !gone.is_empty() {
        diesel::delete(pipeline_stages::table.filter(pipeline_stages::id.eq_any(gone)))
            .execute(conn)
            .map_err(db::refused_delete)?;
    }
    for stage in after {
        match before.iter().find(|b| b.id == stage.id) {
            Some(old) if old == stage => {}
            Some(_) => {
                diesel::update(pipeline_stages::table.find(&stage.id))
                    .set(&StageRow::of(stage))
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(pipeline_stages::table)
                    .values(&StageRow::of(stage))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

fn ensure_unique_name(conn: &mut DbConn, id: &str, name: &str) -> ApiResult<()> {
    crate::ensure_unique!(conn, pipelines.name = Some(name), except id, "pipeline")
}

/// Writes a new pipeline; returns it and its changes (its own, and the
/// previous default's when it becomes the default).
fn insert(conn: &mut DbConn, input: PipelineInput) -> ApiResult<(Pipeline, Vec<Change>)> {
    let id = db::new_id();
    ensure_unique_name(conn, &id, &input.name)?;
    let mut plan = StagePlan { stages: Vec::new() };
    for stage in &input.stages {
        plan.place(new_stage(&id, stage), None);
    }
    plan.check("stages", |i| format!("stages[{i}].name"))?;
    let has_default = pipelines::table
        .filter(pipelines::is_default.eq(true))
        .select(pipelines::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    let is_default = input.is_default || !has_default;
    let mut changes = if is_default {
        take_default(conn, &id)?
    } else {
        Vec::new()
    };
    let now = db::to_utc(db::now());
    let pipeline = Pipeline {
        id: id.clone(),
        name: input.name,
        is_default,
        currency: input.currency,
        stages: plan.stages,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(pipelines::table)
        .values(&row_of(&pipeline))
        .execute(conn)?;
    write_stages(conn, &[], &pipeline.stages)?;
    changes.push(Change::created(RESOURCE, &id, pipeline.to_json()?));
    Ok((pipeline, changes))
}

pub fn create(tx: &mut Tx, actor: &Actor, input: PipelineInput) -> ApiResult<Pipeline> {
    let (pipeline, changes) = insert(tx.conn(), input)?;
    events::append(tx, actor, &changes)?;
    Ok(pipeline)
}

/// Creates the default pipeline "Sales" when there is no pipeline at all
/// (the service's first start), as the system. Replicas starting together
/// take turns on the default lock; the later ones find it made.
pub fn ensure_default(conn: &mut DbConn) -> ApiResult<()> {
    let any: Option<String> = pipelines::table
        .select(pipelines::id)
        .first(conn)
        .optional()?;
    if any.is_some() {
        return Ok(());
    }
    db::write_tx(conn, |tx| {
        if let DbConn::Postgresql(c) = tx.conn() {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(DEFAULT_LOCK_KEY)
                .execute(c)?;
        }
        let any: Option<String> = pipelines::table
            .select(pipelines::id)
            .first(tx.conn())
            .optional()?;
        if any.is_some() {
            return Ok(());
        }
        let input = super::default_pipeline().normalized()?;
        create(tx, &Actor::system(), input).map(|_| ())
    })
}

pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<Pipeline> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    let fields: PipelineFields = crate::model::merged(&current.fields(), patch)?.normalized()?;
    if fields == current.fields() {
        return Ok(current);
    }
    if current.is_default && !fields.is_default {
        return Err(ApiError::field(
            "is_default",
            "default_required",
            "one pipeline is always the default: make another pipeline the default instead",
        ));
    }
    ensure_unique_name(conn, id, &fields.name)?;
    let mut changes = if fields.is_default && !current.is_default {
        take_default(conn, id)?
    } else {
        Vec::new()
    };
    let mut next = current.clone();
    next.name = fields.name;
    next.is_default = fields.is_default;
    next.currency = fields.currency;
    let pipeline = write_pipeline(conn, &current, next)?;
    changes.push(Change::updated(
        RESOURCE,
        id,
        current.to_json()?,
        pipeline.to_json()?,
    ));
    events::append(tx, actor, &changes)?;
    Ok(pipeline)
}

pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    let current = read_locked(tx.conn(), id, if_match)?;
    if current.is_default {
        return Err(ApiError::Conflict {
            detail: "this is the default pipeline: make another pipeline the default first".into(),
            field: "id".into(),
            existing_id: None,
        });
    }
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    let conn = tx.conn();
    diesel::delete(pipeline_stages::table.filter(pipeline_stages::pipeline_id.eq(id)))
        .execute(conn)
        .map_err(db::refused_delete)?;
    diesel::delete(pipelines::table.find(id))
        .execute(conn)
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

pub fn list_stages(conn: &mut DbConn, pipeline_id: &str) -> ApiResult<StageList> {
    Ok(StageList {
        data: get(conn, pipeline_id)?.stages,
    })
}

/// One stage and its pipeline's version (the stage's `ETag`).
pub fn get_stage(conn: &mut DbConn, pipeline_id: &str, stage_id: &str) -> ApiResult<(Stage, i64)> {
    let pipeline = get(conn, pipeline_id)?;
    let stage = pipeline
        .stage(stage_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("stage"))?;
    Ok((stage, pipeline.version))
}

/// Locks a stage row against deletion and kind changes until the
/// transaction ends (PostgreSQL; SQLite's write transaction already does).
/// Writers that change a stage lock it exclusively (see [`lock_stage`]).
pub fn share_stage(conn: &mut DbConn, stage_id: &str) -> ApiResult<()> {
    let found = match conn {
        DbConn::Postgresql(c) => pipeline_stages::table
            .find(stage_id)
            .select(pipeline_stages::id)
            .for_share()
            .load::<String>(c)?,
        DbConn::Sqlite(_) => return Ok(()),
    };
    if found.is_empty() {
        return Err(ApiError::field(
            "stage_id",
            "not_found",
            "the stage was deleted meanwhile",
        ));
    }
    Ok(())
}

fn lock_stage(conn: &mut DbConn, stage_id: &str) -> ApiResult<()> {
    if let DbConn::Postgresql(c) = conn {
        pipeline_stages::table
            .find(stage_id)
            .select(pipeline_stages::id)
            .for_update()
            .load::<String>(c)?;
    }
    Ok(())
}

/// Writes the stage plan as the pipeline's next version with its event.
fn commit_plan(
    tx: &mut Tx,
    actor: &Actor,
    current: &Pipeline,
    plan: StagePlan,
    mut changes: Vec<Change>,
) -> ApiResult<Pipeline> {
    let mut next = current.clone();
    next.stages = plan.stages;
    let pipeline = write_pipeline(tx.conn(), current, next)?;
    changes.push(Change::updated(
        RESOURCE,
        &current.id,
        current.to_json()?,
        pipeline.to_json()?,
    ));
    events::append(tx, actor, &changes)?;
    Ok(pipeline)
}

pub fn add_stage(
    tx: &mut Tx,
    actor: &Actor,
    pipeline_id: &str,
    if_match: &IfMatch,
    input: StageInput,
) -> ApiResult<(Stage, i64)> {
    let current = read_locked(tx.conn(), pipeline_id, if_match)?;
    let stage = new_stage(pipeline_id, &input);
    let id = stage.id.clone();
    let mut plan = StagePlan {
        stages: current.stages.clone(),
    };
    plan.place(stage, input.position);
    plan.check("kind", |_| "name".into())?;
    let pipeline = commit_plan(tx, actor, &current, plan, Vec::new())?;
    finish(pipeline, &id)
}

fn finish(pipeline: Pipeline, stage_id: &str) -> ApiResult<(Stage, i64)> {
    let stage = pipeline
        .stage(stage_id)
        .cloned()
        .ok_or_else(|| ApiError::internal("stage lost in its own write"))?;
    Ok((stage, pipeline.version))
}

/// Applies a merge patch to a stage. Its kind cannot change while
/// opportunities are in it (their status follows the kind); a new
/// `rotting_days` applies to the opportunities in it at once.
pub fn update_stage(
    tx: &mut Tx,
    actor: &Actor,
    pipeline_id: &str,
    stage_id: &str,
    if_match: &IfMatch,
    patch: &serde_json::Value,
) -> ApiResult<(Stage, i64)> {
    let current = read_locked(tx.conn(), pipeline_id, if_match)?;
    let before = current
        .stage(stage_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("stage"))?;
    let input = crate::model::merged(&before.input(), patch)?.normalized()?;
    if input == before.input() {
        return Ok((before, current.version));
    }
    lock_stage(tx.conn(), stage_id)?;
    if input.kind != before.kind {
        let held = opportunities::count_in_stage(tx.conn(), stage_id)?;
        if held > 0 {
            return Err(ApiError::Conflict {
                detail: format!(
                    "{held} opportunities are in this stage and their status follows its kind: move them first"
                ),
                field: "kind".into(),
                existing_id: None,
            });
        }
    }
    let after = Stage {
        name: input.name.clone(),
        probability: input.probability,
        kind: input.kind,
        rotting_days: input.rotting_days,
        ..before.clone()
    };
    let mut plan = StagePlan {
        stages: current.stages.clone(),
    };
    plan.place(after.clone(), input.position);
    plan.check("kind", |_| "name".into())?;
    if after.rotting_days != before.rotting_days {
        opportunities::refresh_rotting(tx.conn(), &after)?;
    }
    let pipeline = commit_plan(tx, actor, &current, plan, Vec::new())?;
    finish(pipeline, stage_id)
}

/// Deletes a stage. Opportunities in it are moved to `move_to_stage_id` (a
/// stage of the same pipeline that is not lost: a lost stage needs each
/// one's reason), each with an event and a stage-history entry; without it
/// the delete is refused while the stage holds any.
pub fn delete_stage(
    tx: &mut Tx,
    actor: &Actor,
    pipeline_id: &str,
    stage_id: &str,
    if_match: &IfMatch,
    move_to: Option<&str>,
) -> ApiResult<()> {
    let current = read_locked(tx.conn(), pipeline_id, if_match)?;
    if current.stage(stage_id).is_none() {
        return Err(ApiError::not_found("stage"));
    }
    let target = match move_to {
        None => None,
        Some(target) => {
            let stage = current
                .stage(target)
                .filter(|s| s.id != stage_id)
                .ok_or_else(|| {
                    ApiError::field(
                        "move_to_stage_id",
                        "not_found",
                        "must be another stage of this pipeline",
                    )
                })?;
            if stage.kind == StageKind::Lost {
                return Err(ApiError::field(
                    "move_to_stage_id",
                    "lost_stage",
                    "opportunities cannot be moved to a lost stage without each one's lost_reason",
                ));
            }
            Some(stage.clone())
        }
    };
    let mut plan = StagePlan {
        stages: current.stages.clone(),
    };
    plan.remove(stage_id);
    plan.check("stage_id", |_| "name".into())?;
    lock_stage(tx.conn(), stage_id)?;
    let changes = match target {
        None => {
            let held = opportunities::count_in_stage(tx.conn(), stage_id)?;
            if held > 0 {
                return Err(ApiError::Conflict {
                    detail: format!(
                        "{held} opportunities are in this stage: give move_to_stage_id to move them"
                    ),
                    field: "stage_id".into(),
                    existing_id: None,
                });
            }
            Vec::new()
        }
        Some(target) => opportunities::move_out_of_stage(tx.conn(), actor, stage_id, &target)?,
    };
    commit_plan(tx, actor, &current, plan, changes).map(|_| ())
}

/// Pipelines as dependents of other records: none refer to any.
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, _: &mut DbConn, field: &str, _: &str) -> ApiResult<i64> {
        Err(dependents::unknown_field(RESOURCE, field))
    }
    fn delete_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }
    fn clear_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }
}

crate::sort_order! {
    /// Sort order of a pipeline list; a leading `-` sorts descending.
    PipelineSort on pipelines for Pipeline, default CreatedAt {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        Name => "name": name text asc,
        NameDesc => "-name": name text desc,
    }
}

/// The filters of a pipeline list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineFilters {
    /// Only the default pipeline (`true`) or only the others (`false`).
    pub is_default: Option<bool>,
}

impl ListFilters for PipelineFilters {
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching pipelines (costs a count).");
}

pub type PipelineQuery = ListQuery<PipelineSort, PipelineFilters>;

fn filtered(q: &PipelineQuery) -> pipelines::BoxedQuery<'static, db::MultiBackend> {
    let mut query = pipelines::table.into_boxed();
    if let Some(is_default) = q.filters.is_default {
        query = query.filter(pipelines::is_default.eq(is_default));
    }
    query
}

pub fn list(conn: &mut DbConn, q: &PipelineQuery) -> ApiResult<PipelinePage> {
    let page: ApiResult<PipelinePage> = crate::load_page!(
        conn, q, filtered(q), PipelineRow => |row| Ok(row.into_pipeline(Vec::new())), PipelinePage
    );
    let mut page = page?;
    let ids: Vec<&str> = page.data.iter().map(|p| p.id.as_str()).collect();
    let mut stages = stages_of(conn, &ids)?;
    for pipeline in &mut page.data {
        pipeline.stages = stages.remove(&pipeline.id).unwrap_or_default();
    }
    Ok(page)
}
