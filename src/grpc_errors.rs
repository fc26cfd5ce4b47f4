//! Status codes of requests that tonic rejects before a handler runs. Tonic answers a client's
//! malformed request (undecodable protobuf, invalid UTF-8 in a string field, a message nested too
//! deep, a bad frame or compression flag, a truncated body) with INTERNAL and an oversized one
//! with OUT_OF_RANGE. TreeStore promises INTERNAL only for its own bugs, so this layer rewrites
//! those trailers-only answers: malformed -> INVALID_ARGUMENT, too large -> RESOURCE_EXHAUSTED.
//!
//! It also answers DEADLINE_EXCEEDED when the client's `grpc-timeout` expires. Tonic runs a timer
//! of its own for it, started just after this layer is called, and answers CANCELLED when that
//! fires first; this layer's deadline, counted from the request's arrival, is due no later, and
//! tonic polls the layer before its timer. The handler counts its deadline from the same arrival
//! (`Arrival`), so a request that reached it is answered (and logged) by it; this layer covers
//! the time before, such as waiting for the request body.
//!
//! Requests this layer answers (or rewrites) never reached a handler, so it counts them in the
//! request metrics and logs them itself, under the method named by the request's path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::metrics::Metrics;
use crate::service::parse_timeout;
use std::sync::Arc;
use tower::{Layer, Service};

/// When the request reached this layer, before tonic's own `grpc-timeout` timer started.
#[derive(Clone, Copy, Debug)]
pub struct Arrival(pub Instant);

/// Messages (prefixes) of tonic's decode-side errors that are the client's fault.
const MALFORMED: &[&str] = &[
    "failed to decode Protobuf message",
    "protocol error",
    "Error decompressing",
    "Unexpected EOF decoding stream",
    "Missing request message",
];
const TOO_LARGE: &str = "Error, decoded message length too large";

#[derive(Clone)]
pub struct ClientErrorsLayer {
    metrics: Arc<Metrics>,
}

impl ClientErrorsLayer {
    pub fn new(metrics: Arc<Metrics>) -> ClientErrorsLayer {
        ClientErrorsLayer { metrics }
    }
}

impl<S> Layer<S> for ClientErrorsLayer {
    type Service = ClientErrors<S>;
    fn layer(&self, inner: S) -> ClientErrors<S> {
        ClientErrors {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ClientErrors<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// The method of a gRPC path (`/treestore.v1.TreeStore/GetNode` -> `GetNode`), or the path.
pub(crate) fn method_of(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// A request answered without its handler: counted and logged here.
pub(crate) fn rejected(
    metrics: &Metrics,
    method: &str,
    code: tonic::Code,
    arrival: Instant,
    why: &str,
) {
    let elapsed = arrival.elapsed();
    metrics.observe(method, code, elapsed);
    tracing::info!(
        method,
        code = ?code,
        elapsed_us = elapsed.as_micros() as u64,
        reason = why,
        "request rejected before its handler"
    );
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ClientErrors<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let arrival = Instant::now();
        let deadline = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_timeout)
            .map(|d| (d, arrival.checked_add(d)));
        if deadline.is_some() {
            req.extensions_mut().insert(Arrival(arrival));
        }
        let method = method_of(req.uri().path());
        let metrics = self.metrics.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = match deadline {
                Some((d, Some(at))) => match tokio::time::timeout_at(at.into(), fut).await {
                    Ok(resp) => resp?,
                    Err(_) => {
                        let code = tonic::Code::DeadlineExceeded;
                        rejected(&metrics, &method, code, arrival, "client deadline");
                        return Ok(tonic::Status::deadline_exceeded(format!(
                            "the client deadline ({d:?}) expired before the request was handled"
                        ))
                        .into_http());
                    }
                },
                _ => fut.await?,
            };
            if let Some(code) = fix(resp.headers_mut()) {
                rejected(&metrics, &method, code, arrival, "malformed or too large");
            }
            Ok(resp)
        })
    }
}

/// Rewrites `grpc-status` of a trailers-only answer when it blames the server for a client
/// error; returns the code it wrote.
pub fn fix(headers: &mut http::HeaderMap) -> Option<tonic::Code> {
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok())?;
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    let new = match code {
        "13" if MALFORMED.iter().any(|p| message.starts_with(p)) => tonic::Code::InvalidArgument,
        "11" if message.starts_with(TOO_LARGE) => tonic::Code::ResourceExhausted,
        _ => return None,
    };
    tracing::debug!(%message, code = ?new, "malformed request rejected");
    headers.insert("grpc-status", http::HeaderValue::from(new as i32));
    Some(new)
}

/// Decodes a `grpc-message` header value (percent-encoded, as the gRPC spec says).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(code: &str, msg: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", code.parse().unwrap());
        h.insert("grpc-message", msg.parse().unwrap());
        h
    }

    #[test]
    fn rewrites_client_errors_only() {
        let mut h = headers("13", "failed%20to%20decode%20Protobuf%20message%3A%20x");
        assert_eq!(fix(&mut h), Some(tonic::Code::InvalidArgument));
        assert_eq!(h["grpc-status"], "3");
        let mut h = headers("11", "Error,%20decoded%20message%20length%20too%20large");
        assert_eq!(fix(&mut h), Some(tonic::Code::ResourceExhausted));
        assert_eq!(h["grpc-status"], "8");
        let mut h = headers("13", "internal%20error%3A%20bug");
        assert_eq!(fix(&mut h), None);
        assert_eq!(h["grpc-status"], "13");
        assert_eq!(method_of("/treestore.v1.TreeStore/GetNode"), "GetNode");
    }
}
