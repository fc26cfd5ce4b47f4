//! `treestore health`: one grpc.health.v1 `Check` of the whole server (service "") against a
//! running TreeStore, for container health checks that have no shell or grpc tool at hand.
//! SERVING is healthy; anything else (another status, an error status, no connection, no answer
//! within the timeout) is not, with a one-line reason.

use std::fmt;
use std::time::Duration;
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered SERVING.
    Serving,
    /// The server answered, but not SERVING: its status name, or the gRPC error it returned.
    NotServing(String),
    /// No connection: the address is invalid, or connecting failed (refused, unreachable, ...).
    CannotConnect(String),
    /// No answer within the timeout (connecting and the call together).
    Timeout(Duration),
}

impl Outcome {
    pub fn is_serving(&self) -> bool {
        matches!(self, Outcome::Serving)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Serving => write!(f, "serving"),
            Outcome::NotServing(why) => write!(f, "not serving: {why}"),
            Outcome::CannotConnect(why) => write!(f, "cannot connect: {why}"),
            Outcome::Timeout(t) => write!(f, "timeout: no answer within {} ms", t.as_millis()),
        }
    }
}

/// `http://ADDR` for a bare `host:port`; an address with a scheme is taken as it is.
pub fn endpoint_uri(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// An error with its sources, joined on one line ("transport error: tcp connect error: ...").
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.ends_with(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text.replace('\n', " ")
}

/// Connects to `addr` and asks for the status of service "", all within `timeout`.
pub async fn check(addr: &str, timeout: Duration) -> Outcome {
    let endpoint = match Endpoint::from_shared(endpoint_uri(addr)) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::CannotConnect(format!("invalid address {addr:?}: {}", chain(&e)))
        }
    };
    // One deadline for connecting and the call together.
    let call = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| Outcome::CannotConnect(chain(&e)))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|status| {
                Outcome::NotServing(format!(
                    "the server answered {:?}: {}",
                    status.code(),
                    status.message()
                ))
            })
    };
    let response = match tokio::time::timeout(timeout, call).await {
        Err(_) => return Outcome::Timeout(timeout),
        Ok(Err(outcome)) => return outcome,
        Ok(Ok(response)) => response.into_inner(),
    };
    match ServingStatus::try_from(response.status) {
        Ok(ServingStatus::Serving) => Outcome::Serving,
        Ok(other) => Outcome::NotServing(other.as_str_name().to_string()),
        Err(_) => Outcome::NotServing(format!("unknown status {}", response.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_addresses_get_http() {
        assert_eq!(endpoint_uri("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(endpoint_uri("http://[::1]:50051"), "http://[::1]:50051");
    }

    #[test]
    fn reasons_are_one_line() {
        let t = Outcome::Timeout(Duration::from_millis(2000));
        assert_eq!(t.to_string(), "timeout: no answer within 2000 ms");
        assert_eq!(
            Outcome::NotServing("NOT_SERVING".into()).to_string(),
            "not serving: NOT_SERVING"
        );
        let err = std::io::Error::other("line one\nline two");
        assert!(!chain(&err).contains('\n'));
    }

    #[tokio::test]
    async fn an_invalid_address_cannot_connect() {
        let out = check("not a uri", Duration::from_millis(500)).await;
        assert!(matches!(out, Outcome::CannotConnect(_)), "{out:?}");
    }
}
