//! The tower layer in front of every gRPC service (TreeStore, grpc.health.v1, reflection): it
//! authenticates the request (UNAUTHENTICATED), checks the scope its method needs
//! (PERMISSION_DENIED, logged with the principal, the method and the scope), and admits it under
//! the principal's limits (RESOURCE_EXHAUSTED), all before the request body is read. It also
//! resolves the request's namespace (the `treestore-namespace` header; absent = `default`):
//! malformed is INVALID_ARGUMENT, one the principal may not use is PERMISSION_DENIED (logged).
//! An admitted request goes on with its `Arc<Principal>` and its `Namespace` in its extensions
//! and without its `authorization` header, so nothing after this layer can log the token.

use super::incoming::PeerIdentity;
use super::limits::Exceeded;
use super::scope::Target;
use super::{Auth, UNAUTHENTICATED_MESSAGE};
use crate::metrics::Metrics;
use shards::namespace::Namespace;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

#[derive(Clone)]
pub struct AuthLayer {
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
}

impl AuthLayer {
    pub fn new(auth: Arc<Auth>, metrics: Arc<Metrics>) -> AuthLayer {
        AuthLayer { auth, metrics }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.auth.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let target = Target::of_path(req.uri().path());
        let Some(needed) = target.scope() else {
            // grpc.health.v1: open (see `Target::StandardHealth`).
            return Box::pin(self.inner.call(req));
        };
        let started = Instant::now();
        let method = target.method();
        let metrics = self.metrics.clone();
        let refuse = move |code: tonic::Code, message: String| -> Self::Future {
            metrics.observe(method, code, started.elapsed());
            Box::pin(std::future::ready(Ok(
                tonic::Status::new(code, message).into_http()
            )))
        };
        let names = req
            .extensions()
            .get::<PeerIdentity>()
            .map(|p| p.cert_names.clone())
            .unwrap_or_default();
        // Two `authorization` headers are ambiguous: refused, whatever they hold.
        let several = req
            .headers()
            .get_all(http::header::AUTHORIZATION)
            .iter()
            .nth(1)
            .is_some();
        let authorization = req.headers_mut().remove(http::header::AUTHORIZATION);
        let principal = match several {
            true => None,
            false => self
                .auth
                .authenticate(authorization.as_ref().map(|v| v.as_bytes()), &names),
        };
        let Some(principal) = principal else {
            let remote = req
                .extensions()
                .get::<PeerIdentity>()
                .and_then(|p| p.remote);
            tracing::info!(
                method = target.method(),
                remote = ?remote,
                "unauthenticated request refused"
            );
            return refuse(tonic::Code::Unauthenticated, UNAUTHENTICATED_MESSAGE.into());
        };
        if !principal.scopes.allows(needed) {
            tracing::warn!(
                principal = %principal.name,
                method = target.method(),
                scope_needed = needed.name(),
                "permission denied"
            );
            return refuse(
                tonic::Code::PermissionDenied,
                format!(
                    "{} needs scope {:?}; principal {:?} has {:?}",
                    target.method(),
                    needed.name(),
                    principal.name,
                    principal.scopes.names()
                ),
            );
        }
        let namespace = match namespace_of(req.headers()) {
            Ok(ns) => ns,
            Err(reason) => return refuse(tonic::Code::InvalidArgument, reason),
        };
        if !principal.namespaces.allows(&namespace) {
            tracing::warn!(
                principal = %principal.name,
                method = target.method(),
                namespace = %namespace,
                "permission denied: namespace"
            );
            return refuse(
                tonic::Code::PermissionDenied,
                format!(
                    "principal {:?} may not use namespace {:?}",
                    principal.name,
                    namespace.name()
                ),
            );
        }
        let admitted = match self.auth.limiters.admit(&principal) {
            Ok(a) => a,
            Err(why) => {
                let limit = match why {
                    Exceeded::Rate => "request rate",
                    Exceeded::Concurrency => "concurrent requests",
                };
                tracing::debug!(principal = %principal.name, limit, "request over the principal's limit");
                return refuse(
                    tonic::Code::ResourceExhausted,
                    format!(
                        "principal {:?} is over its limit of {limit}",
                        principal.name
                    ),
                );
            }
        };
        req.extensions_mut().insert(principal);
        req.extensions_mut().insert(namespace);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let out = fut.await;
            // The concurrency slot is held until the response (headers) is ready.
            drop(admitted);
            out
        })
    }
}

/// The metadata key naming a request's namespace.
pub const NAMESPACE_HEADER: &str = "treestore-namespace";

/// The namespace a request names: its `treestore-namespace` header, `default` when absent.
/// Two headers, a value that is not text, or a malformed name are refused.
pub fn namespace_of(headers: &http::HeaderMap) -> Result<Namespace, String> {
    let mut values = headers.get_all(NAMESPACE_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(Namespace::default());
    };
    if values.next().is_some() {
        return Err(format!("{NAMESPACE_HEADER}: given twice"));
    }
    let name = value
        .to_str()
        .map_err(|_| format!("{NAMESPACE_HEADER}: not ASCII text"))?;
    Namespace::parse(NAMESPACE_HEADER, name).map_err(|e| e.to_string())
}
