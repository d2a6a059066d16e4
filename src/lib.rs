//! The CRM service: configuration, storage, HTTP application and the
//! resources. `start` builds everything the binary and the tests run.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod activities;
pub mod api_keys;
pub mod articles;
pub mod auth;
pub mod business_hours;
pub mod config;
pub mod contacts;
mod countries;
mod currencies;
pub mod customers;
pub mod db;
pub mod dependents;
pub mod error;
pub mod events;
pub mod http;
pub mod jobs;
pub mod leads;
pub mod model;
pub mod openapi;
pub mod opportunities;
pub mod ops;
pub mod orders;
pub mod pipelines;
pub mod reports;
pub mod seed;
pub mod sla_policies;
pub mod state;
pub mod tickets;
pub mod timeline;
pub mod users;
mod validation;

use std::net::SocketAddr;

use actix_cors::Cors;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use sha2::{Digest, Sha256};
use utoipa::OpenApi;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::state::AppState;

/// Registers every API route; the contract is collected from the same calls.
fn api_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(
        scope::scope("/api/v1")
            .configure(auth::api::routes)
            .configure(customers::api::routes)
            .configure(contacts::api::routes)
            .configure(orders::api::routes)
            .configure(pipelines::api::routes)
            .configure(leads::api::routes)
            .configure(opportunities::api::routes)
            .configure(activities::api::routes)
            .configure(tickets::api::routes)
            .configure(articles::api::routes)
            .configure(sla_policies::api::routes)
            .configure(business_hours::api::routes)
            .configure(reports::api::routes)
            .configure(events::api::routes)
            .configure(users::api::routes)
            .configure(api_keys::api::routes),
    )
    .service(ops::health)
    .service(ops::ready);
}

/// The OpenAPI contract, exactly as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(api_routes)
        .split_for_parts();
    openapi::refine_parameters(&mut doc);
    doc
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static(http::request_id::HEADER),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::HeaderName::from_static(http::request_id::HEADER),
        ])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// A bound, not yet awaited, server.
pub struct Running {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
}

/// Connects and migrates the database, prepares secrets and the first admin,
/// and binds the HTTP server.
pub fn start(config: &Config) -> anyhow::Result<Running> {
    auth::hashing::return_large_allocations_to_the_system();
    let pool = db::connect(&config.database_url, config.pool_size)?;
    let secret = ops::bootstrap(&pool, config)?;
    let state = web::Data::new(AppState {
        pool,
        tokens: auth::TokenKeys::new(&secret, config.token_ttl_secs),
        request_hash_salt: Sha256::new()
            .chain_update(b"idempotency")
            .chain_update(&secret)
            .finalize()
            .to_vec(),
        hashing: auth::hashing::PasswordHashing::new(
            config.hash_concurrency,
            config.hash_queue,
            std::time::Duration::from_secs(2),
        ),
        login_throttle: auth::throttle::LoginThrottle::new(
            config.login_max_failures,
            config.login_max_failures_per_address,
            chrono::Duration::seconds(config.login_window_secs),
            config.trusted_proxies.clone(),
        ),
        login_refusal_delay: std::time::Duration::from_millis(config.login_refusal_delay_ms),
        ready: ops::ReadyCheck::default(),
        idempotency_cleanup: http::idempotency::Cleanup::default(),
    });
    jobs::spawn(
        &state.clone().into_inner(),
        jobs::all(config),
        std::time::Duration::from_secs(config.jobs_interval_secs),
    )?;
    let doc = openapi();
    let routes = web::Data::new(http::routes::RouteTable::from_openapi(&doc));
    let origins = config.cors_origins.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(routes.clone())
            .wrap(from_fn(http::head_as_get))
            .wrap(cors(&origins))
            .wrap(from_fn(http::request_id::middleware))
            .into_utoipa_app()
            .configure(api_routes)
            .into_app()
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", doc.clone()))
            .route("/docs", web::get().to(ops::docs_redirect))
            .default_service(web::to(http::routes::fallback))
    })
    .shutdown_timeout(10)
    .bind(config.addr)
    .map_err(|e| anyhow::anyhow!("cannot listen on {} (CRM_ADDR): {e}", config.addr))?;
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("server bound to no address"))?;
    Ok(Running {
        server: server.run(),
        addr,
    })
}
