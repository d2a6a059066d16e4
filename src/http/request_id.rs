//! `X-Request-Id`: accepted from the caller when sane, generated otherwise,
//! echoed on the answer and written on the access log line. Errors are logged
//! here, once, with the request id (never with request bodies or secrets).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

pub const HEADER: &str = "x-request-id";

#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.path().to_string();
    let started = Instant::now();
    let mut res = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    let status = res.status();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(error) = res.response().error() {
        if status.is_server_error() {
            log::error!(
                "request_id={id} {method} {path} {} {elapsed_ms:.1}ms error={error}",
                status.as_u16()
            );
        } else {
            log::info!(
                "request_id={id} {method} {path} {} {elapsed_ms:.1}ms problem={error}",
                status.as_u16()
            );
        }
    } else {
        log::info!(
            "request_id={id} {method} {path} {} {elapsed_ms:.1}ms",
            status.as_u16()
        );
    }
    Ok(res)
}
