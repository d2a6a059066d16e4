//! The bodies of the routes every resource has: a handler parses its path
//! and headers through extractors and calls one of these with its
//! repository's function, so each rule (authorize first, then parse, write in
//! a transaction, answer with an `ETag`) is written once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::idempotency::{self, Created, IdempotencyKey};
use super::patch::{Patch, PatchTarget};
use super::{IfMatch, JsonBody};
use crate::auth::{self, Actor, CallerCheck, Credentials, Need};
use crate::db::{self, DbConn, Tx};
use crate::error::{ApiError, ApiResult};
use crate::model::Record;
use crate::state::AppState;

/// Reads one record with the caller check beside it (`Some((record, caller_valid))`).
pub type FindChecked<T> = fn(&mut DbConn, &str, &CallerCheck) -> ApiResult<Option<(T, bool)>>;
/// Applies a merge patch to the record `id`.
pub type Update<T> = fn(&mut Tx, &Actor, &str, &IfMatch, &serde_json::Value) -> ApiResult<T>;
/// Deletes the record `id`.
pub type Delete = fn(&mut Tx, &Actor, &str, &IfMatch) -> ApiResult<()>;

/// `POST /{collection}`: 201 with `Location` and `ETag`, honouring
/// `Idempotency-Key`. The body is parsed and normalized after the caller is
/// authorized.
#[allow(clippy::too_many_arguments)]
pub async fn create<I, T>(
    state: &actix_web::web::Data<AppState>,
    req: &HttpRequest,
    credentials: Credentials,
    need: Need,
    key: IdempotencyKey,
    body: JsonBody<I>,
    collection: &'static str,
    normalize: fn(I) -> ApiResult<I>,
    create: fn(&mut Tx, &Actor, I) -> ApiResult<T>,
) -> ApiResult<HttpResponse>
where
    I: DeserializeOwned + 'static,
    T: Record,
{
    let bytes = body.bytes.clone();
    idempotency::create(
        state,
        credentials,
        need,
        key,
        req,
        &bytes,
        move |tx, actor| {
            let input = normalize(body.parse()?.value)?;
            let record = create(tx, actor, input)?;
            Ok(Created::record(
                collection,
                record.id(),
                record.version(),
                record.to_json()?,
            ))
        },
    )
    .await
}

/// `GET /{collection}`: one page.
pub async fn list<Q, P>(
    state: &AppState,
    credentials: Credentials,
    need: Need,
    query: Q,
    list: fn(&mut DbConn, &Q) -> ApiResult<P>,
) -> ApiResult<HttpResponse>
where
    Q: Send + 'static,
    P: Serialize + Send + 'static,
{
    let page = auth::authorize(state, credentials, need, move |conn, _| list(conn, &query)).await?;
    super::json(&page)
}

/// `GET /{collection}/{id}` for records every role may read: the caller is
/// checked in the record's own query (see [`auth::authorize_read`]).
pub async fn read<T: Record>(
    state: &AppState,
    credentials: Credentials,
    id: String,
    what: &'static str,
    find: FindChecked<T>,
) -> ApiResult<HttpResponse> {
    let record = auth::authorize_read(state, credentials, move |conn, caller| {
        find(conn, &id, caller)
    })
    .await?
    .ok_or_else(|| ApiError::not_found(what))?;
    super::record(StatusCode::OK, &record, record.version())
}

/// `PATCH /{collection}/{id}`: a JSON merge patch of input `I`, checked
/// before the record is read and applied in a transaction.
pub async fn update<I, T>(
    state: &AppState,
    credentials: Credentials,
    need: Need,
    id: String,
    if_match: IfMatch,
    body: JsonBody<Patch<I>>,
    update: Update<T>,
) -> ApiResult<HttpResponse>
where
    I: PatchTarget,
    T: Record,
{
    let record = auth::authorize(state, credentials, need, move |conn, actor| {
        let patch = body.parse()?.document;
        Patch::<I>::check(&patch)?;
        db::write_tx(conn, |tx| update(tx, actor, &id, &if_match, &patch))
    })
    .await?;
    super::record(StatusCode::OK, &record, record.version())
}

/// `DELETE /{collection}/{id}`: 204.
pub async fn delete(
    state: &AppState,
    credentials: Credentials,
    need: Need,
    id: String,
    if_match: IfMatch,
    delete: Delete,
) -> ApiResult<HttpResponse> {
    auth::authorize(state, credentials, need, move |conn, actor| {
        db::write_tx(conn, |tx| delete(tx, actor, &id, &if_match))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
