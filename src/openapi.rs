//! The contract's root: info, tags, the bearer security scheme and the
//! reusable error responses. Paths and schemas are collected from the
//! handlers registered in `lib.rs`.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

/// Problem responses shared by every route (RFC 9457 bodies).
pub mod responses {
    use crate::error::Problem;
    use utoipa::ToResponse;

    /// The body is not valid JSON.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct BadRequest(#[allow(dead_code)] Problem);

    /// No credentials, or a bad, expired or revoked token or key.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Unauthorized(#[allow(dead_code)] Problem);

    /// The caller's role does not allow this.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Forbidden(#[allow(dead_code)] Problem);

    /// No such record.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct NotFound(#[allow(dead_code)] Problem);

    /// A unique value is already taken; `existing_id` names the record holding it.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Conflict(#[allow(dead_code)] Problem);

    /// `If-Match` names a version that is no longer current.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct PreconditionFailed(#[allow(dead_code)] Problem);

    /// The body is larger than 1 MiB.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct PayloadTooLarge(#[allow(dead_code)] Problem);

    /// The body is not `application/json`.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct UnsupportedMediaType(#[allow(dead_code)] Problem);

    /// A rule is broken; `errors` lists each field with a code and message.
    #[derive(ToResponse)]
    #[response(content_type = "application/problem+json")]
    pub struct Unprocessable(#[allow(dead_code)] Problem);

    /// Too many failed attempts; retry after `Retry-After` seconds.
    #[derive(ToResponse)]
    #[response(
        content_type = "application/problem+json",
        headers(("Retry-After" = i64, description = "Seconds to wait before retrying"))
    )]
    pub struct TooManyRequests(#[allow(dead_code)] Problem);

    /// The database is unavailable or the service busy; retry after `Retry-After` seconds.
    #[derive(ToResponse)]
    #[response(
        content_type = "application/problem+json",
        headers(("Retry-After" = i64, description = "Seconds to wait before retrying"))
    )]
    pub struct Unavailable(#[allow(dead_code)] Problem);
}

/// The error answers each kind of route shares, named once and listed in a
/// route's `responses(...)` beside its success answer. A route adds the
/// answers particular to it (a 403 for admin-only reads, a 409 where a value
/// is unique) as single entries.
pub mod errors {
    use std::collections::BTreeMap;

    use utoipa::openapi::{Ref, RefOr, Response};
    use utoipa::IntoResponses;

    macro_rules! error_set {
        ($(#[$doc:meta])* $name:ident { $($status:literal => $response:ident),* $(,)? }) => {
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    BTreeMap::from([
                        $(($status.to_string(), Ref::from_response_name(stringify!($response)).into()),)*
                    ])
                }
            }
        };
    }

    error_set!(
        /// A `POST` that creates a record.
        CreateErrors {
            "400" => BadRequest, "401" => Unauthorized, "403" => Forbidden,
            "413" => PayloadTooLarge, "415" => UnsupportedMediaType,
            "422" => Unprocessable, "503" => Unavailable,
        }
    );
    error_set!(
        /// A `GET` of one record.
        ReadErrors { "401" => Unauthorized, "404" => NotFound, "503" => Unavailable }
    );
    error_set!(
        /// A `GET` of a list.
        ListErrors { "401" => Unauthorized, "422" => Unprocessable, "503" => Unavailable }
    );
    error_set!(
        /// A `PATCH` of one record.
        UpdateErrors {
            "400" => BadRequest, "401" => Unauthorized, "403" => Forbidden,
            "404" => NotFound, "409" => Conflict, "412" => PreconditionFailed,
            "413" => PayloadTooLarge, "415" => UnsupportedMediaType,
            "422" => Unprocessable, "503" => Unavailable,
        }
    );
    error_set!(
        /// A `DELETE` of one record.
        DeleteErrors {
            "401" => Unauthorized, "403" => Forbidden, "404" => NotFound,
            "412" => PreconditionFailed, "503" => Unavailable,
        }
    );
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CRM API",
        version = "1.0.0",
        description = "A headless CRM: customers, contacts, users, API keys and the change feed.\n\n\
            Authenticate with `Authorization: Bearer <token>`, where the token comes from \
            `POST /api/v1/auth/login` or is an API key. Errors are `application/problem+json`.\n\n\
            Text values are trimmed (passwords and custom field values are kept as sent); an \
            optional text sent blank (`\"\"`) means none, like `null`. \
            No text may contain U+0000. The schemas state every other rule the service checks \
            on a single value. What depends on stored records (a referenced id must exist, a \
            unique value must be free, `If-Match` must name the current version) or on the \
            clock (`expires_at` in the future) no schema can state; the answer is then 409, \
            412 or 422.",
        license(name = "MIT", identifier = "MIT")
    ),
    // Schemas only a query parameter refers to are not collected from the
    // handlers (only bodies are), so they are listed here.
    components(schemas(
        crate::error::Problem,
        crate::error::FieldError,
    ), responses(
        responses::BadRequest,
        responses::Unauthorized,
        responses::Forbidden,
        responses::NotFound,
        responses::Conflict,
        responses::PreconditionFailed,
        responses::PayloadTooLarge,
        responses::UnsupportedMediaType,
        responses::Unprocessable,
        responses::TooManyRequests,
        responses::Unavailable,
    )),
    tags(
        (name = "auth", description = "Sign in"),
        (name = "customers", description = "People and companies that buy"),
        (name = "contacts", description = "People at a customer"),
        (name = "orders", description = "What customers bought, as the ERP knows it"),
        (name = "pipelines", description = "The stages a sale goes through (changed by managers)"),
        (name = "leads", description = "Prospects not yet qualified, and their conversion"),
        (name = "opportunities", description = "Sales being worked through a pipeline"),
        (name = "activities", description = "Calls, emails, meetings, notes and tasks"),
        (name = "tickets", description = "Customers' requests, their comments and ratings, measured against SLAs"),
        (name = "articles", description = "The knowledge base, searched by relevance"),
        (name = "sla-policies", description = "Response and resolution targets per priority (changed by managers)"),
        (name = "business-hours", description = "Weekly schedules with holidays that SLA targets count in (changed by managers)"),
        (name = "reports", description = "Figures computed in the database"),
        (name = "events", description = "The change feed"),
        (name = "users", description = "Who may sign in (admin)"),
        (name = "api-keys", description = "Keys for integrations (admin)"),
        (name = "operations", description = "Health and readiness"),
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from /api/v1/auth/login, or an API key",
                    ))
                    .build(),
            ),
        );
    }
}

/// The rules of the path ids, which the handlers declare by name and type
/// only (the headers declare theirs with their extractors, `IfMatch` and
/// `IdempotencyKey`): applied by [`crate::openapi`] to the finished
/// document (the routes' operations are added after [`ApiDoc`] is built).
pub fn refine_parameters(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            refine_operation(operation);
        }
    }
}

fn refine_operation(operation: &mut Operation) {
    let mut takes_an_id = false;
    for parameter in operation.parameters.iter_mut().flatten() {
        let RefOr::T(parameter) = parameter else {
            continue;
        };
        let text = ObjectBuilder::new().schema_type(Type::String);
        let schema = match (&parameter.parameter_in, parameter.name.as_str()) {
            // `http::RecordId`: anything longer is simply not found.
            (ParameterIn::Path, "id" | "stage_id" | "comment_id" | "article_id") => {
                takes_an_id = true;
                text.min_length(Some(1)).max_length(Some(64))
            }
            _ => continue,
        };
        parameter.schema = Some(schema.build().into());
    }
    // An id that cannot be one (`http::RecordId`) is not found on every route
    // that takes one, before anything else is looked at.
    if takes_an_id {
        operation
            .responses
            .responses
            .entry("404".to_string())
            .or_insert_with(|| Ref::from_response_name("NotFound").into());
    }
}
