//! Transport security, authentication, authorization by scope and per-principal limits.
//!
//! - `tls`, `incoming`: TLS on the gRPC port (rustls), optional mutual TLS, reloadable.
//! - `token`: bearer tokens and their SHA-256; `principals`: the principals file.
//! - `scope`: the scope each RPC needs (one exhaustive match).
//! - `limits`: per-principal request rate and concurrency cap.
//! - `layer`: the tower layer in front of every gRPC service that applies all of the above.
//! - `ops`: the same credentials on the metrics and profiling endpoints.
//! - `reload`: SIGHUP and file changes reload the certificates and the principals file.

pub mod incoming;
pub mod layer;
pub mod limits;
pub mod ops;
pub mod principals;
pub mod reload;
pub mod scope;
pub mod tls;
pub mod token;

use principals::{Principal, Principals};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
    #[error("invalid auth file {path}: {reason}")]
    AuthFile { path: PathBuf, reason: String },
}

/// The one message of every refused credential: it does not say whether the principal exists,
/// nor which part of the credential was wrong.
pub const UNAUTHENTICATED_MESSAGE: &str = "missing or invalid credentials";

/// Who may call: either everyone (as the anonymous principal, with every scope), or the
/// principals of the auth file, reloadable.
pub struct Auth {
    file: Option<PathBuf>,
    principals: RwLock<Arc<Principals>>,
    pub limiters: limits::Limiters,
    anonymous: Arc<Principal>,
}

impl Auth {
    /// No authentication: every caller is `anonymous`.
    pub fn open() -> Auth {
        Auth {
            file: None,
            principals: RwLock::new(Arc::new(Principals::default())),
            limiters: limits::Limiters::default(),
            anonymous: Arc::new(Principal::anonymous()),
        }
    }

    /// The principals of `file`.
    pub fn from_file(file: PathBuf) -> Result<Auth, SecurityError> {
        let principals = Principals::load(&file)?;
        Ok(Auth {
            file: Some(file),
            principals: RwLock::new(Arc::new(principals)),
            limiters: limits::Limiters::default(),
            anonymous: Arc::new(Principal::anonymous()),
        })
    }

    pub fn required(&self) -> bool {
        self.file.is_some()
    }

    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    pub fn principals(&self) -> Arc<Principals> {
        match self.principals.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the file again; on error the current principals stay.
    pub fn reload(&self) -> Result<usize, SecurityError> {
        let Some(file) = &self.file else {
            return Ok(0);
        };
        let p = Arc::new(Principals::load(file)?);
        let n = p.all().len();
        match self.principals.write() {
            Ok(mut cur) => *cur = p,
            Err(poisoned) => *poisoned.into_inner() = p,
        }
        Ok(n)
    }

    /// The principal of a request's credentials: a bearer token if the request has an
    /// `authorization` header (a bad one is refused even beside a good certificate), else the
    /// client certificate's names. None: refused (UNAUTHENTICATED).
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        cert_names: &[String],
    ) -> Option<Arc<Principal>> {
        if !self.required() {
            return Some(self.anonymous.clone());
        }
        let principals = self.principals();
        match authorization {
            Some(value) => principals.by_token(token::bearer(value)?),
            None if !cert_names.is_empty() => principals.by_cert_names(cert_names),
            None => None,
        }
    }
}
