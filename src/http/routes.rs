//! JSON answers for requests that match no route: 405 with `Allow` when the
//! path exists under other methods (known from the contract), 404 otherwise.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;

/// Path templates of the contract, split into segments, with their methods.
pub struct RouteTable(Vec<(Vec<String>, Vec<String>)>);

impl RouteTable {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_string).collect();
                let mut methods: Vec<String> = Vec::new();
                let ops = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                for (m, present) in ops {
                    if present {
                        methods.push(m.to_string());
                    }
                }
                (segments, methods)
            })
            .collect();
        RouteTable(routes)
    }

    fn allowed(&self, path: &str) -> Option<&[String]> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().find_map(|(template, methods)| {
            let same = template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
            same.then_some(methods.as_slice())
        })
    }
}

pub async fn fallback(req: HttpRequest, routes: web::Data<RouteTable>) -> HttpResponse {
    match routes.allowed(req.path()) {
        Some(methods) => {
            let mut res = ApiError::MethodNotAllowed.error_response();
            if let Ok(value) = header::HeaderValue::from_str(&methods.join(", ")) {
                res.headers_mut().insert(header::ALLOW, value);
            }
            res
        }
        None => ApiError::NotFound(format!("no route for {}", req.path())).error_response(),
    }
}
