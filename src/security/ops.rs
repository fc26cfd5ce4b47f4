//! Credentials on the operational endpoints (the metrics port): with authentication on,
//! `/metrics` needs any known principal (even one with no scope: give Prometheus a principal
//! of its own with `scopes = []`, which can read nothing through gRPC), and `/debug/pprof/*`
//! needs `admin`. Bearer tokens only (the metrics port is plain HTTP: bind it to localhost or
//! keep it on a trusted network, since a token sent to it travels in clear).

use super::scope::Scope;
use super::{Auth, UNAUTHENTICATED_MESSAGE};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::sync::Arc;

pub async fn require_credentials(
    State(auth): State<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Response {
    let needed = if req.uri().path().starts_with("/debug/pprof") {
        Some(Scope::Admin)
    } else {
        None
    };
    let mut headers = req.headers().get_all(http::header::AUTHORIZATION).iter();
    let (header, several) = (headers.next(), headers.next().is_some());
    let principal = match several {
        true => None,
        false => auth.authenticate(header.map(|v| v.as_bytes()), &[]),
    };
    let Some(principal) = principal else {
        return (
            StatusCode::UNAUTHORIZED,
            [(http::header::WWW_AUTHENTICATE, "Bearer")],
            UNAUTHENTICATED_MESSAGE,
        )
            .into_response();
    };
    if let Some(scope) = needed {
        if !principal.scopes.allows(scope) {
            tracing::warn!(
                principal = %principal.name,
                path = req.uri().path(),
                scope_needed = scope.name(),
                "permission denied"
            );
            return (StatusCode::FORBIDDEN, "needs scope admin").into_response();
        }
    }
    next.run(req).await
}
