//! What happens to the records that refer to a record when it is deleted,
//! declared once per parent (its `DEPENDENTS`) instead of coded inside other
//! resources' repositories. Each kind of record that refers to others
//! implements [`Referrers`]; [`referrers_of`] is the one exhaustive list.

use crate::db::{DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::events::{Change, ResourceKind};

/// What deleting the parent does to a dependent record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// Delete the dependents too, each with its own event.
    Cascade,
    /// Clear the dependents' reference, each with an event.
    Clear,
    /// Refuse the delete (409) while any dependent exists, naming how many.
    Refuse,
    /// Clear the dependents' reference, and delete those left referring to
    /// nothing else; each with an event.
    Detach,
}

/// One kind of record that refers to the parent through `field`.
#[derive(Debug, Clone, Copy)]
pub struct Dependent {
    pub resource: ResourceKind,
    pub field: &'static str,
    pub on_delete: OnDelete,
    /// For `Refuse`: what the caller can do instead.
    pub hint: &'static str,
}

/// The records of one kind, as dependents of others.
pub trait Referrers: Sync {
    /// How many records refer to `id` through `field`.
    fn count_referring(&self, conn: &mut DbConn, field: &str, id: &str) -> ApiResult<i64>;
    /// Deletes the records referring to `id` through `field` (and their own
    /// dependents); returns their changes.
    fn delete_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>>;
    /// Clears `field` on the records referring to `id`; returns their changes.
    fn clear_referring(&self, tx: &mut Tx, field: &str, id: &str) -> ApiResult<Vec<Change>>;
    /// Clears `field` on the records referring to `id` and deletes those
    /// left referring to nothing; returns their changes.
    fn detach_referring(&self, _: &mut Tx, field: &str, _: &str) -> ApiResult<Vec<Change>> {
        Err(ApiError::internal(format!("{field} cannot be detached")))
    }
}

/// The kinds that can refer to others. Exhaustive: a new kind must decide.
fn referrers_of(kind: ResourceKind) -> Option<&'static dyn Referrers> {
    match kind {
        ResourceKind::Customers => Some(&crate::customers::repo::Referring),
        ResourceKind::Contacts => Some(&crate::contacts::repo::Referring),
        ResourceKind::Orders => Some(&crate::orders::repo::Referring),
        ResourceKind::Pipelines => Some(&crate::pipelines::repo::Referring),
        ResourceKind::Opportunities => Some(&crate::opportunities::repo::Referring),
        ResourceKind::Leads => Some(&crate::leads::repo::Referring),
        ResourceKind::Activities => Some(&crate::activities::repo::Referring),
        ResourceKind::SlaPolicies => Some(&crate::sla_policies::repo::Referring),
        ResourceKind::Tickets => Some(&crate::tickets::repo::Referring),
        ResourceKind::TicketComments => Some(&crate::tickets::comments::Referring),
        ResourceKind::Articles => Some(&crate::articles::repo::Referring),
        ResourceKind::Users | ResourceKind::ApiKeys | ResourceKind::BusinessHours => None,
    }
}

fn referrers(dependent: &Dependent) -> ApiResult<&'static dyn Referrers> {
    referrers_of(dependent.resource).ok_or_else(|| {
        ApiError::internal(format!(
            "{} are declared as dependents but refer to nothing",
            dependent.resource.as_str()
        ))
    })
}

/// Applies `dependents` before the record `id` is deleted, in the deleting
/// transaction: refusals first (so a refused delete changes nothing), then
/// cascades and cleared references. Returns the changes for the caller to
/// append with the deletion's own.
pub fn before_delete(tx: &mut Tx, dependents: &[Dependent], id: &str) -> ApiResult<Vec<Change>> {
    for d in dependents
        .iter()
        .filter(|d| d.on_delete == OnDelete::Refuse)
    {
        let n = referrers(d)?.count_referring(tx.conn(), d.field, id)?;
        if n > 0 {
            return Err(ApiError::Conflict {
                detail: format!(
                    "{n} {} refer to this record through {}; {}",
                    d.resource.as_str().replace('_', " "),
                    d.field,
                    d.hint
                ),
                field: "id".into(),
                existing_id: None,
            });
        }
    }
    let mut changes = Vec::new();
    for d in dependents {
        match d.on_delete {
            OnDelete::Refuse => {}
            OnDelete::Cascade => changes.extend(referrers(d)?.delete_referring(tx, d.field, id)?),
            OnDelete::Clear => changes.extend(referrers(d)?.clear_referring(tx, d.field, id)?),
            OnDelete::Detach => changes.extend(referrers(d)?.detach_referring(tx, d.field, id)?),
        }
    }
    Ok(changes)
}

/// The error for a reference field the `Referrers` of a kind do not know.
pub fn unknown_field(resource: ResourceKind, field: &str) -> ApiError {
    ApiError::internal(format!(
        "{} have no reference field {field}",
        resource.as_str()
    ))
}
