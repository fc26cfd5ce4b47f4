//! TLS for the gRPC port: the server's certificate chain and key, and optionally a client CA
//! (mutual TLS: every client must present a certificate it signed), read from PEM files.
//!
//! `TlsFiles::load` builds a rustls `ServerConfig`; `ReloadableTls` holds the current one and
//! swaps it when the files are reloaded. Each new connection takes the config current at its
//! accept, so after a reload new connections use the new certificate; established connections
//! keep the session they negotiated.

use super::SecurityError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The files TLS is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Mutual TLS: the CA (PEM, one or more certificates) client certificates must chain to.
    pub client_ca: Option<PathBuf>,
}

fn read_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let bytes = std::fs::read(path).map_err(|source| SecurityError::Read {
        what,
        path: path.into(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SecurityError::Tls(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(SecurityError::Tls(format!(
            "{what} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

impl TlsFiles {
    pub fn paths(&self) -> Vec<&Path> {
        let mut v = vec![self.cert.as_path(), self.key.as_path()];
        v.extend(self.client_ca.as_deref());
        v
    }

    /// Reads the files and builds the server's TLS config (TLS 1.2 and 1.3, ALPN h2).
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>, SecurityError> {
        let chain = read_certs("TLS certificate", &self.cert)?;
        let key_bytes = std::fs::read(&self.key).map_err(|source| SecurityError::Read {
            what: "TLS key",
            path: self.key.clone(),
            source,
        })?;
        // The key's own parse error may quote the file: say only which file failed.
        let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| {
            SecurityError::Tls(format!(
                "TLS key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
                self.key.display()
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| SecurityError::Tls(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in read_certs("TLS client CA", ca)? {
                    roots.add(c).map_err(|e| {
                        SecurityError::Tls(format!("TLS client CA {}: {e}", ca.display()))
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| SecurityError::Tls(format!("TLS client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| SecurityError::Tls(format!("TLS certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The TLS config new connections get; replaced by `reload`.
pub struct ReloadableTls {
    files: TlsFiles,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl ReloadableTls {
    pub fn new(files: TlsFiles) -> Result<ReloadableTls, SecurityError> {
        let config = files.load()?;
        Ok(ReloadableTls {
            files,
            current: RwLock::new(config),
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again; on error the current config stays.
    pub fn reload(&self) -> Result<(), SecurityError> {
        let config = self.files.load()?;
        match self.current.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }
}

/// The names a client certificate is known by: its subject's common names, then its DNS and
/// URI subject alternative names. Empty when the certificate cannot be parsed (the handshake
/// verified its chain; a name we cannot read authenticates nobody).
pub fn cert_names(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push((*d).to_owned()),
                GeneralName::URI(u) => names.push((*u).to_owned()),
                _ => {}
            }
        }
    }
    names
}
