//! `treestore health`: one grpc.health.v1 `Check` of the whole server (service "") against a
//! running TreeStore, for container health checks that have no shell or grpc tool at hand.
//! SERVING is healthy; anything else (another status, an error status, no connection, no answer
//! within the timeout) is not, with a one-line reason.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
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

/// TLS for the check (a server started with --tls-cert): the CA to trust, the name to verify,
/// and a client certificate when the server requires one (mutual TLS).
#[derive(Debug, Clone, Default)]
pub struct HealthTls {
    pub ca: PathBuf,
    pub server_name: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl HealthTls {
    fn config(&self) -> Result<ClientTlsConfig, String> {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut c = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&self.ca)?));
        if let Some(n) = &self.server_name {
            c = c.domain_name(n.clone());
        }
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Ok(c.identity(Identity::from_pem(read(cert)?, read(key)?))),
            (None, None) => Ok(c),
            _ => Err("a client certificate needs its key (and the other way round)".into()),
        }
    }
}

/// `http://ADDR` (`https://ADDR` with TLS) for a bare `host:port`; an address with a scheme is
/// taken as it is.
pub fn endpoint_uri(addr: &str, tls: bool) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else if tls {
        format!("https://{addr}")
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
/// grpc.health.v1 needs no credential (README, "Security"): only TLS is set up here.
pub async fn check(addr: &str, timeout: Duration, tls: Option<&HealthTls>) -> Outcome {
    let mut endpoint = match Endpoint::from_shared(endpoint_uri(addr, tls.is_some())) {
        Ok(e) => e,
        Err(e) => {
            return Outcome::CannotConnect(format!("invalid address {addr:?}: {}", chain(&e)))
        }
    };
    if let Some(tls) = tls {
        let config = match tls.config() {
            Ok(c) => c,
            Err(e) => return Outcome::CannotConnect(format!("TLS: {e}")),
        };
        endpoint = match endpoint.tls_config(config) {
            Ok(e) => e,
            Err(e) => return Outcome::CannotConnect(format!("TLS: {}", chain(&e))),
        };
    }
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
        assert_eq!(
            endpoint_uri("127.0.0.1:50051", false),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            endpoint_uri("127.0.0.1:50051", true),
            "https://127.0.0.1:50051"
        );
        assert_eq!(
            endpoint_uri("http://[::1]:50051", true),
            "http://[::1]:50051"
        );
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
        let out = check("not a uri", Duration::from_millis(500), None).await;
        assert!(matches!(out, Outcome::CannotConnect(_)), "{out:?}");
    }
}
