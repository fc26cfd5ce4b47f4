//! The benchmark's connections: plaintext or TLS (`--tls-ca`), and a bearer token (`--token`)
//! and a namespace (`--namespace`) added to every request, so the cost of TLS, authentication
//! and namespaces can be measured.

use crate::{Args, BoxErr};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// A connection as the workloads use it: the channel with the token interceptor.
pub type Channel = InterceptedService<tonic::transport::Channel, Token>;

/// Adds `authorization: Bearer <token>` and `treestore-namespace` to every request (each
/// only when given).
#[derive(Clone)]
pub struct Token {
    bearer: Option<MetadataValue<Ascii>>,
    namespace: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.bearer {
            req.metadata_mut().insert("authorization", v.clone());
        }
        if let Some(v) = &self.namespace {
            req.metadata_mut().insert("treestore-namespace", v.clone());
        }
        Ok(req)
    }
}

pub async fn connect(args: &Args) -> Result<Vec<Channel>, BoxErr> {
    let token = match &args.token {
        Some(t) => Some(format!("Bearer {t}").parse::<MetadataValue<Ascii>>()?),
        None => match std::env::var("TREESTORE_TOKEN") {
            Ok(t) if !t.is_empty() => Some(format!("Bearer {t}").parse()?),
            _ => None,
        },
    };
    let namespace = match &args.namespace {
        Some(n) => Some(n.parse::<MetadataValue<Ascii>>()?),
        None => None,
    };
    let interceptor = Token {
        bearer: token,
        namespace,
    };
    let tls = match &args.tls_ca {
        Some(ca) => {
            let pem = std::fs::read(ca)?;
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            if let Some(name) = &args.tls_server_name {
                tls = tls.domain_name(name.clone());
            }
            Some(tls)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", args.addr);
    let mut channels = vec![];
    for _ in 0..args.connections.max(1) {
        let mut endpoint = Endpoint::from_shared(url.clone())?;
        if let Some(tls) = &tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        let channel = endpoint.connect().await?;
        channels.push(InterceptedService::new(channel, interceptor.clone()));
    }
    Ok(channels)
}
