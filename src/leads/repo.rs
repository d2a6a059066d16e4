//! Lead queries and the conversion; writers run inside the caller's
//! transaction and append their events.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{
    converted_by_conversion, Conversion, ConvertLead, Lead, LeadInput, LeadPage, LeadRow,
    LeadSource, LeadStatus,
};
use crate::auth::{Actor, CallerCheck};
use crate::contacts::{self, ContactInput};
use crate::customers::{self, CustomerInput, CustomerKind};
use crate::db::schema::{leads, record_tags, users};
use crate::db::{self, tags, DbConn, Tx};
use crate::dependents::{self, Referrers};
use crate::error::{ApiError, ApiResult};
use crate::events::{self, Change, ResourceKind};
use crate::http::list::{ListFilters, ListQuery};
use crate::http::IfMatch;
use crate::model::ToJson;
use crate::opportunities::{self, OpportunityInput};

const RESOURCE: ResourceKind = ResourceKind::Leads;

pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Lead>> {
    leads::table
        .find(id)
        .select(LeadRow::as_select())
        .first(conn)
        .optional()?
        .map(LeadRow::into_lead)
        .transpose()
}

pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<Lead> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("lead"))
}

/// The lead with the caller check beside it, for [`crate::auth::authorize_read`].
pub fn find_checked(
    conn: &mut DbConn,
    id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Lead, bool)>> {
    crate::find_checked!(leads, LeadRow, conn, id, caller)?
        .map(|(row, valid)| Ok((row.into_lead()?, valid)))
        .transpose()
}

/// The lead with this `external_id` and the caller check beside it.
pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
    caller: &CallerCheck,
) -> ApiResult<Option<(Lead, bool)>> {
    crate::find_checked!(leads by external_id, LeadRow, conn, external_id, caller)?
        .map(|(row, valid)| Ok((row.into_lead()?, valid)))
        .transpose()
}

/// The lead, locked against other writers until the transaction ends.
pub fn read_locked(conn: &mut DbConn, id: &str, if_match: &IfMatch) -> ApiResult<Lead> {
    if_match.read_locked(
        conn,
        |c| get(c, id),
        |l| l.version,
        |c, version| crate::lock_at_version!(leads, c, id, version),
    )
}

fn check_unique_and_references(conn: &mut DbConn, id: &str, input: &LeadInput) -> ApiResult<()> {
    crate::check_references!(conn, {
        owner_id: users "user" = input.owner_id.as_deref(),
    })?;
    crate::ensure_unique!(
        conn,
        leads.external_id = input.external_id.as_deref(),
        except id,
        "lead"
    )
}

pub fn create(tx: &mut Tx, actor: &Actor, input: LeadInput) -> ApiResult<Lead> {
    let conn = tx.conn();
    let id = db::new_id();
    check_unique_and_references(conn, &id, &input)?;
    let lead = Lead::new(id.clone(), input, db::now());
    diesel::insert_into(leads::table)
        .values(&lead.row())
        .execute(conn)?;
    tags::add(conn, RESOURCE.as_str(), &id, &lead.tags)?;
    events::append(
        tx,
        actor,
        &[Change::created(RESOURCE, &id, lead.to_json()?)],
    )?;
    Ok(lead)
}

/// Applies a JSON merge patch. A converted lead changes only its tags and
/// custom fields (409 naming any other field); `converted` is reached by
/// conversion only.
pub fn update(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    patch: &Value,
) -> ApiResult<Lead> {
    let conn = tx.conn();
    let current = read_locked(conn, id, if_match)?;
    let explicit_reason = patch
        .get("unqualified_reason")
        .is_some_and(|r| !r.is_null());
    let input = crate::model::merged(&current.input(), patch)?.normalized(explicit_reason)?;
    if input == current.input() {
        return Ok(current);
    }
    if current.status == LeadStatus::Converted {
        let mut frozen = input.clone();
        frozen.tags = current.tags.clone();
        frozen.custom_fields = current.custom_fields.clone();
        if frozen != current.input() {
            let field = changed_field(&current.input(), &frozen);
            return Err(ApiError::Conflict {
                detail: "a converted lead changes only its tags and custom_fields".into(),
                field,
                existing_id: None,
            });
        }
    } else if input.status == LeadStatus::Converted {
        return Err(converted_by_conversion());
    }
    check_unique_and_references(conn, id, &input)?;
    let lead = current.with(input, db::now());
    write(conn, &current, &lead)?;
    events::append(
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_json()?,
            lead.to_json()?,
        )],
    )?;
    Ok(lead)
}

/// The first field (in the order of the input's document) whose value
/// differs between `a` and `b`.
fn changed_field(a: &LeadInput, b: &LeadInput) -> String {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return "id".into();
    };
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| "id".into())
}

fn write(conn: &mut DbConn, current: &Lead, next: &Lead) -> ApiResult<()> {
    diesel::update(leads::table.find(&current.id))
        .set(&next.row())
        .execute(conn)?;
    if next.tags != current.tags {
        tags::replace(conn, RESOURCE.as_str(), &current.id, &next.tags)?;
    }
    Ok(())
}

/// Deletes a lead; what happens to the records that refer to it is
/// declared in [`super::DEPENDENTS`].
pub fn delete(tx: &mut Tx, actor: &Actor, id: &str, if_match: &IfMatch) -> ApiResult<()> {
    crate::activities::repo::lock_parents_referring(tx.conn(), "lead_id", id, Vec::new())?;
    let current = read_locked(tx.conn(), id, if_match)?;
    let mut changes = dependents::before_delete(tx, super::DEPENDENTS, id)?;
    let conn = tx.conn();
    tags::remove_all(conn, RESOURCE.as_str(), id)?;
    diesel::delete(leads::table.find(id))
        .execute(conn)
        .map_err(db::refused_delete)?;
    changes.push(Change::deleted(RESOURCE, id, current.to_json()?));
    events::append(tx, actor, &changes)
}

/// Field errors of a part of the conversion's body, named inside it
/// (`customer.email`, `opportunity.amount`).
fn within(prefix: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|mut f| {
                    f.field = format!("{prefix}.{}", f.field);
                    f
                })
                .collect(),
        ),
        ApiError::Conflict {
            detail,
            field,
            existing_id,
        } => ApiError::Conflict {
            detail,
            field: format!("{prefix}.{field}"),
            existing_id,
        },
        other => other,
    }
}

/// The customer a lead becomes: a company named after its company, or the
/// person; `overrides` (a customer merge patch) on top.
fn customer_of(lead: &Lead, overrides: Option<&Value>) -> ApiResult<CustomerInput> {
    let company = lead.company_name.is_some();
    let mut doc = serde_json::json!({
        "kind": if company { "company" } else { "person" },
        "name": lead.company_name.clone().unwrap_or_else(|| lead.name.clone()),
        "owner_id": lead.owner_id,
    });
    if !company {
        doc["email"] = serde_json::json!(lead.email);
        doc["phone"] = serde_json::json!(lead.phone);
    }
    if let Some(overrides) = overrides {
        if !overrides.is_object() {
            return Err(ApiError::field(
                "customer",
                "invalid_type",
                "must be an object of customer fields",
            ));
        }
        crate::http::patch::Patch::<CustomerInput>::check(overrides)
            .map_err(|e| within("customer", e))?;
        crate::model::merge_patch(&mut doc, overrides);
    }
    crate::http::body::from_document::<CustomerInput>(&doc)
        .and_then(CustomerInput::normalized)
        .map_err(|e| within("customer", e))
}

/// The contact a lead's person becomes at `customer_id`.
fn contact_of(lead: &Lead, customer_id: &str) -> ApiResult<ContactInput> {
    let mut words = lead.name.splitn(2, ' ');
    let first = words.next().unwrap_or_default().to_string();
    let last = words.next().map(str::to_string);
    ContactInput {
        customer_id: customer_id.to_string(),
        first_name: first.chars().take(100).collect(),
        last_name: last.map(|l| l.chars().take(100).collect()),
        email: lead.email.clone(),
        phone: lead.phone.clone(),
        title: lead.title.clone(),
        is_primary: false,
        external_id: None,
    }
    .normalized()
    .map_err(|e| within("contact", e))
}

/// Converts a lead in the caller's transaction: the customer (created, or
/// linked when given), a contact for its person, an opportunity when asked,
/// and the lead marked `converted` with links to them, each with its event.
/// Any failure leaves nothing behind (the caller's transaction rolls back).
pub fn convert(
    tx: &mut Tx,
    actor: &Actor,
    id: &str,
    if_match: &IfMatch,
    body: ConvertLead,
) -> ApiResult<Conversion> {
    let current = read_locked(tx.conn(), id, if_match)?;
    if current.status == LeadStatus::Converted {
        let customer = current.converted_customer_id.clone();
        return Err(ApiError::Conflict {
            detail: format!(
                "the lead was converted already, into customer {}",
                customer.as_deref().unwrap_or("(since deleted)")
            ),
            field: "id".into(),
            existing_id: customer,
        });
    }
    let (customer, customer_created) = match &body.customer_id {
        Some(customer_id) => {
            if body.customer.is_some() {
                return Err(ApiError::field(
                    "customer",
                    "conflicting",
                    "give either customer_id (to link) or customer (to create)",
                ));
            }
            let customer =
                customers::repo::get(tx.conn(), customer_id.trim()).map_err(|e| match e {
                    ApiError::NotFound(_) => {
                        ApiError::field("customer_id", "not_found", "no customer has this id")
                    }
                    other => other,
                })?;
            (customer, false)
        }
        None => {
            let input = customer_of(&current, body.customer.as_ref())?;
            let customer =
                customers::repo::create(tx, actor, input).map_err(|e| within("customer", e))?;
            (customer, true)
        }
    };
    let wants_contact = body
        .create_contact
        .unwrap_or(customer.kind == CustomerKind::Company);
    let contact = if wants_contact {
        let mut input = contact_of(&current, &customer.id)?;
        // The only contact of a customer made now is its main one.
        input.is_primary = customer_created;
        Some(contacts::repo::create(tx, actor, input)?)
    } else {
        None
    };
    let opportunity = match body.opportunity {
        None => None,
        Some(o) => {
            let input = OpportunityInput {
                customer_id: customer.id.clone(),
                contact_id: contact.as_ref().map(|c| c.id.clone()),
                name: o.name.unwrap_or_else(|| {
                    current
                        .company_name
                        .clone()
                        .unwrap_or_else(|| current.name.clone())
                }),
                amount: o.amount.unwrap_or(0),
                currency: o.currency,
                pipeline_id: o.pipeline_id,
                stage_id: o.stage_id,
                probability: None,
                expected_close_date: o.expected_close_date,
                lost_reason: None,
                owner_id: current.owner_id.clone(),
                source_lead_id: Some(current.id.clone()),
                tags: Vec::new(),
                custom_fields: serde_json::Map::new(),
                external_id: None,
            }
            .normalized()
            .map_err(|e| within("opportunity", e))?;
            Some(
                opportunities::repo::create(tx, actor, input)
                    .map_err(|e| within("opportunity", e))?,
            )
        }
    };
    let now = db::now();
    let mut lead = current.with(current.input(), now);
    lead.status = LeadStatus::Converted;
    lead.unqualified_reason = None;
    lead.converted_at = Some(db::to_utc(now));
    lead.converted_customer_id = Some(customer.id.clone());
    lead.converted_contact_id = contact.as_ref().map(|c| c.id.clone());
    lead.converted_opportunity_id = opportunity.as_ref().map(|o| o.id.clone());
    write(tx.conn(), &current, &lead)?;
    events::append(
        tx,
        actor,
        &[Change::updated(
            RESOURCE,
            id,
            current.to_json()?,
            lead.to_json()?,
        )],
    )?;
    Ok(Conversion {
        lead,
        customer,
        customer_created,
        contact,
        opportunity,
    })
}

/// Leads as dependents of other records: a conversion's links are cleared
/// when the record they name is deleted.
pub struct Referring;

impl Referrers for Referring {
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64> {
        let query = leads::table.into_boxed();
        let query = match field {
            "owner_id" => query.filter(leads::owner_id.eq(id.to_string())),
            "converted_customer_id" => {
                query.filter(leads::converted_customer_id.eq(id.to_string()))
            }
            "converted_contact_id" => query.filter(leads::converted_contact_id.eq(id.to_string())),
            "converted_opportunity_id" => {
                query.filter(leads::converted_opportunity_id.eq(id.to_string()))
            }
            other => return Err(dependents::unknown_field(RESOURCE, other)),
        };
        Ok(query.count().get_result(conn)?)
    }

    fn delete_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(dependents::unknown_field(RESOURCE, field))
    }

    fn clear_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>> {
        let conn = tx.conn();
        let ids: Vec<String> = match field {
            "converted_customer_id" => leads::table
                .filter(leads::converted_customer_id.eq(id))
                .select(leads::id)
                .load(conn)?,
            "converted_contact_id" => leads::table
                .filter(leads::converted_contact_id.eq(id))
                .select(leads::id)
                .load(conn)?,
            "converted_opportunity_id" => leads::table
                .filter(leads::converted_opportunity_id.eq(id))
                .select(leads::id)
                .load(conn)?,
            other => return Err(dependents::unknown_field(RESOURCE, other)),
        };
        let mut changes = Vec::with_capacity(ids.len());
        for lid in ids {
            let current = read_locked(conn, &lid, &IfMatch::default())?;
            let mut next = current.with(current.input(), db::now());
            match field {
                "converted_customer_id" => next.converted_customer_id = None,
                "converted_contact_id" => next.converted_contact_id = None,
                _ => next.converted_opportunity_id = None,
            }
            if next.converted_customer_id == current.converted_customer_id
                && next.converted_contact_id == current.converted_contact_id
                && next.converted_opportunity_id == current.converted_opportunity_id
            {
                continue;
            }
            write(conn, &current, &next)?;
            changes.push(Change::updated(
                RESOURCE,
                &lid,
                current.to_json()?,
                next.to_json()?,
            ));
        }
        Ok(changes)
    }
}

crate::sort_order! {
    /// Sort order of a lead list; a leading `-` sorts descending.
    LeadSort on leads for Lead, default CreatedAtDesc {
        CreatedAt => "created_at": created_at time asc,
        CreatedAtDesc => "-created_at": created_at time desc,
        UpdatedAt => "updated_at": updated_at time asc,
        UpdatedAtDesc => "-updated_at": updated_at time desc,
        Score => "score": score int asc,
        ScoreDesc => "-score": score int desc,
        Name => "name": name text asc,
        NameDesc => "-name": name text desc,
    }
}

/// The filters of a lead list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeadFilters {
    pub status: Option<LeadStatus>,
    pub source: Option<LeadSource>,
    pub owner_id: Option<String>,
    /// Leads carrying this tag.
    pub tag: Option<String>,
    /// Score at least this.
    pub score_min: Option<i64>,
    /// Score at most this.
    pub score_max: Option<i64>,
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

impl ListFilters for LeadFilters {
    const SEARCH: Option<&'static str> =
        Some("Case-insensitive substring of name, company name, email or phone.");
    const TOTAL: Option<&'static str> =
        Some("Also return `total`, the number of matching leads (costs a count).");
}

pub type LeadQuery = ListQuery<LeadSort, LeadFilters>;

fn filtered(q: &LeadQuery) -> leads::BoxedQuery<'static, db::MultiBackend> {
    let p = &q.filters;
    let mut query = leads::table.into_boxed();
    if let Some(v) = p.status {
        query = query.filter(leads::status.eq(v.as_str()));
    }
    if let Some(v) = p.source {
        query = query.filter(leads::source.eq(v.as_str()));
    }
    if let Some(v) = &p.owner_id {
        query = query.filter(leads::owner_id.eq(v.clone()));
    }
    if let Some(tag) = &p.tag {
        let tagged = record_tags::table
            .filter(record_tags::resource.eq(RESOURCE.as_str()))
            .filter(record_tags::tag.eq(tag.trim().to_string()))
            .select(record_tags::record_id);
        query = query.filter(leads::id.eq_any(tagged));
    }
    if let Some(n) = p.score_min {
        query = query.filter(leads::score.ge(n));
    }
    if let Some(n) = p.score_max {
        query = query.filter(leads::score.le(n));
    }
    if let Some(t) = p.created_after {
        query = query.filter(leads::created_at.ge(db::from_utc(t)));
    }
    if let Some(t) = p.created_before {
        query = query.filter(leads::created_at.lt(db::from_utc(t)));
    }
    if let Some(t) = p.updated_since {
        query = query.filter(leads::updated_at.ge(db::from_utc(t)));
    }
    if let Some(pattern) = &q.search {
        query = query.filter(leads::search_text.like(pattern.clone()).escape('\\'));
    }
    query
}

pub fn list(conn: &mut DbConn, q: &LeadQuery) -> ApiResult<LeadPage> {
    crate::load_page!(conn, q, filtered(q), LeadRow => LeadRow::into_lead, LeadPage)
}
