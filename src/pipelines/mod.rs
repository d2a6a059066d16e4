//! Sales pipelines and their ordered stages. A pipeline's stages are part of
//! it: every stage change is a new version of the pipeline and one pipeline
//! event. Model and rules here (each pipeline keeps an open, a won and a lost
//! stage; stage names are unique within it), queries in `repo`, handlers in
//! `api`.

pub mod api;
pub mod repo;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::{pipeline_stages, pipelines};
use crate::db::{self};
use crate::dependents::{Dependent, OnDelete};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::events::ResourceKind;
use crate::model::clean;
use crate::validation;

crate::page_type!(PipelinePage, Pipeline, "A page of pipelines.");

/// The most stages one pipeline may have.
pub const MAX_STAGES: usize = 30;

/// What deleting a pipeline does to the records referring to it.
pub const DEPENDENTS: &[Dependent] = &[Dependent {
    resource: ResourceKind::Opportunities,
    field: "pipeline_id",
    on_delete: OnDelete::Refuse,
    hint: "move them to another pipeline first",
}];

crate::text_enum! {
    /// What reaching a stage means: still open, won or lost.
    StageKind {
        Open => "open",
        Won => "won",
        Lost => "lost",
    }
}

fn default_kind() -> StageKind {
    StageKind::Open
}

/// A stage as sent: in a pipeline's create, as the body of adding a stage,
/// and the document a stage PATCH merges into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    /// Unique within the pipeline (ignoring case).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Proposal")]
    pub name: String,
    /// 1-based place among the pipeline's stages; the stages from there on
    /// move one down. Default: after the last. In a pipeline's create, the
    /// stages are in the order sent and a `position`, when given, must be
    /// the stage's place in that list.
    #[validate(range(min = 1, max = 30))]
    #[schema(minimum = 1, maximum = 30)]
    #[serde(default, deserialize_with = "crate::model::optional_whole_number")]
    pub position: Option<i64>,
    /// The chance, in percent, that an opportunity in this stage is won;
    /// opportunities entering the stage take it unless they set their own.
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::model::whole_number")]
    pub probability: i64,
    #[serde(default = "default_kind")]
    pub kind: StageKind,
    /// An open opportunity with no activity for this many days in the stage
    /// is `rotting`. None: never.
    #[validate(range(min = 1, max = 3650))]
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "crate::model::optional_whole_number")]
    pub rotting_days: Option<i64>,
}

/// The body of a stage PATCH, derived from [`StageInput`].
pub type StagePatch = crate::http::patch::Patch<StageInput>;

impl crate::http::patch::PatchTarget for StageInput {
    fn template() -> serde_json::Value {
        serde_json::json!({"name": "-", "probability": 0})
    }
}

impl StageInput {
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.name = self.name.trim().to_string();
        validation::check(&self)?;
        Ok(self)
    }
}

/// The body of a pipeline's create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PipelineInput {
    /// Unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "Enterprise")]
    pub name: String,
    /// Exactly one pipeline is the default: making this one the default
    /// makes the previous one not. The first pipeline is the default.
    #[serde(default)]
    pub is_default: bool,
    /// The currency of its opportunities when they name none.
    #[validate(custom(function = "validation::currency"))]
    #[schema(value_type = Option<validation::schema::CurrencyCode>)]
    #[serde(default)]
    pub currency: Option<String>,
    /// The stages in order: at least one open, one won and one lost.
    #[validate(length(min = 3, max = 30), nested)]
    #[schema(min_items = 3, max_items = 30)]
    pub stages: Vec<StageInput>,
}

/// The fields of a pipeline a PATCH changes (its stages change through
/// their own routes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PipelineFields {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    pub name: String,
    /// Only `true` may be sent to a pipeline that is not the default: make
    /// another pipeline the default to change this one's.
    #[serde(default)]
    pub is_default: bool,
    #[validate(custom(function = "validation::currency"))]
    #[schema(value_type = Option<validation::schema::CurrencyCode>)]
    #[serde(default)]
    pub currency: Option<String>,
}

/// The body of a pipeline PATCH, derived from [`PipelineFields`].
pub type PipelinePatch = crate::http::patch::Patch<PipelineFields>;

impl crate::http::patch::PatchTarget for PipelineFields {
    fn template() -> serde_json::Value {
        serde_json::json!({"name": "-"})
    }
}

fn clean_currency(currency: &mut Option<String>) {
    clean(currency);
    if let Some(c) = currency {
        *c = c.to_ascii_uppercase();
    }
}

impl PipelineFields {
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.name = self.name.trim().to_string();
        clean_currency(&mut self.currency);
        validation::check(&self)?;
        Ok(self)
    }
}

impl PipelineInput {
    pub fn normalized(mut self) -> ApiResult<Self> {
        self.name = self.name.trim().to_string();
        clean_currency(&mut self.currency);
        for stage in &mut self.stages {
            stage.name = stage.name.trim().to_string();
        }
        validation::check(&self)?;
        let mut errors = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.position.is_some_and(|p| p != i as i64 + 1) {
                errors.push(FieldError::new(
                    format!("stages[{i}].position"),
                    "out_of_range",
                    format!("must be {} (its place in the list) or absent", i + 1),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(self)
    }

    pub fn fields(&self) -> PipelineFields {
        PipelineFields {
            name: self.name.clone(),
            is_default: self.is_default,
            currency: self.currency.clone(),
        }
    }
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Stage {
    pub id: String,
    pub pipeline_id: String,
    pub name: String,
    /// 1-based place in the pipeline.
    pub position: i64,
    pub probability: i64,
    pub kind: StageKind,
    pub rotting_days: Option<i64>,
}

impl crate::model::ToJson for Stage {}

impl Stage {
    pub fn input(&self) -> StageInput {
        StageInput {
            name: self.name.clone(),
            position: Some(self.position),
            probability: self.probability,
            kind: self.kind,
            rotting_days: self.rotting_days,
        }
    }
}

/// A pipeline with its stages in order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub currency: Option<String>,
    pub stages: Vec<Stage>,
    /// Grows by one on every change, its stages' included; the `ETag` is
    /// this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::record!(Pipeline);

impl Pipeline {
    pub fn fields(&self) -> PipelineFields {
        PipelineFields {
            name: self.name.clone(),
            is_default: self.is_default,
            currency: self.currency.clone(),
        }
    }

    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The stage new opportunities start in: the first open one.
    pub fn first_open_stage(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == StageKind::Open)
    }
}

/// The stages of a pipeline (all of them, in order).
#[derive(Debug, Serialize, ToSchema)]
pub struct StageList {
    pub data: Vec<Stage>,
}

/// A pipeline's stages as they will be after a change: the one place where
/// the rules across stages are checked.
pub struct StagePlan {
    pub stages: Vec<Stage>,
}

impl StagePlan {
    /// Puts `stage` at 1-based `position` (after the last when `None` or
    /// beyond it), removing it from its old place first.
    pub fn place(&mut self, stage: Stage, position: Option<i64>) {
        self.stages.retain(|s| s.id != stage.id);
        let at = position
            .map(|p| usize::try_from(p - 1).unwrap_or(0))
            .unwrap_or(self.stages.len())
            .min(self.stages.len());
        self.stages.insert(at, stage);
        self.renumber();
    }

    pub fn remove(&mut self, id: &str) {
        self.stages.retain(|s| s.id != id);
        self.renumber();
    }

    fn renumber(&mut self) {
        for (i, stage) in self.stages.iter_mut().enumerate() {
            stage.position = i as i64 + 1;
        }
    }

    /// 422 unless the stages fit: names unique (ignoring case), and an
    /// open, a won and a lost stage; 409 beyond [`MAX_STAGES`]. `field` names
    /// what the caller changed; `name_field` the name that would be doubled.
    pub fn check(&self, field: &str, name_field: impl Fn(usize) -> String) -> ApiResult<()> {
        if self.stages.len() > MAX_STAGES {
            return Err(ApiError::Conflict {
                detail: format!("a pipeline has at most {MAX_STAGES} stages"),
                field: "stages".into(),
                existing_id: None,
            });
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let name = stage.name.to_lowercase();
            if self.stages[..i]
                .iter()
                .any(|s| s.name.to_lowercase() == name)
            {
                return Err(ApiError::field(
                    name_field(i),
                    "duplicate",
                    "another stage of this pipeline has this name",
                ));
            }
        }
        let missing: Vec<&str> = StageKind::ALL
            .iter()
            .filter(|kind| !self.stages.iter().any(|s| s.kind == **kind))
            .map(|kind| kind.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::field(
                field,
                "stage_kind_required",
                format!(
                    "a pipeline needs at least one open, one won and one lost stage; it would have no {} stage",
                    missing.join(" and no ")
                ),
            ));
        }
        Ok(())
    }
}

/// One row of `pipelines`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = pipelines, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct PipelineRow {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub currency: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One row of `pipeline_stages`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = pipeline_stages, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct StageRow {
    pub id: String,
    pub pipeline_id: String,
    pub name: String,
    pub position: i32,
    pub probability: i32,
    pub kind: String,
    pub rotting_days: Option<i32>,
}

impl StageRow {
    pub fn of(stage: &Stage) -> Self {
        // Positions, probabilities and rotting days are range-checked small numbers.
        StageRow {
            id: stage.id.clone(),
            pipeline_id: stage.pipeline_id.clone(),
            name: stage.name.clone(),
            position: i32::try_from(stage.position).unwrap_or(i32::MAX),
            probability: i32::try_from(stage.probability).unwrap_or(0),
            kind: stage.kind.as_str().to_string(),
            rotting_days: stage.rotting_days.and_then(|d| i32::try_from(d).ok()),
        }
    }

    pub fn into_stage(self) -> ApiResult<Stage> {
        Ok(Stage {
            kind: StageKind::from_db(&self.kind)?,
            id: self.id,
            pipeline_id: self.pipeline_id,
            name: self.name,
            position: i64::from(self.position),
            probability: i64::from(self.probability),
            rotting_days: self.rotting_days.map(i64::from),
        })
    }
}

impl PipelineRow {
    pub fn into_pipeline(self, stages: Vec<Stage>) -> Pipeline {
        Pipeline {
            id: self.id,
            name: self.name,
            is_default: self.is_default,
            currency: self.currency,
            stages,
            version: self.version,
            created_at: db::to_utc(self.created_at),
            updated_at: db::to_utc(self.updated_at),
        }
    }
}

/// A new stage of `pipeline_id` from its input.
pub fn new_stage(pipeline_id: &str, input: &StageInput) -> Stage {
    Stage {
        id: db::new_id(),
        pipeline_id: pipeline_id.to_string(),
        name: input.name.clone(),
        position: input.position.unwrap_or(i64::MAX),
        probability: input.probability,
        kind: input.kind,
        rotting_days: input.rotting_days,
    }
}

/// The pipeline the service creates on its first start.
pub fn default_pipeline() -> PipelineInput {
    let stage = |name: &str, probability, kind| StageInput {
        name: name.to_string(),
        position: None,
        probability,
        kind,
        rotting_days: None,
    };
    PipelineInput {
        name: "Sales".into(),
        is_default: true,
        currency: None,
        stages: vec![
            stage("Qualification", 10, StageKind::Open),
            stage("Needs analysis", 25, StageKind::Open),
            stage("Proposal", 50, StageKind::Open),
            stage("Negotiation", 75, StageKind::Open),
            stage("Won", 100, StageKind::Won),
            stage("Lost", 0, StageKind::Lost),
        ],
    }
}
