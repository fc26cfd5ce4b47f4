//! Principals: who may call, with which scopes and limits, known by which credentials. Read
//! from a TOML file (`--auth-file`), reloaded on SIGHUP or when the file changes:
//!
//! ```toml
//! [[principal]]
//! name = "reasoner"
//! scopes = ["read", "write"]          # "admin" includes both
//! token_sha256 = ["<64 hex digits>"]  # SHA-256 of each bearer token (`treestore token`)
//! cert_names = ["reasoner.example"]   # mTLS client certificates: subject CN or a DNS SAN
//! requests_per_second = 500           # optional: rate limit (burst = one second's worth)
//! burst = 1000                        # optional
//! max_concurrent = 64                 # optional: requests in flight at once
//! namespaces = ["acme", "default"]    # optional: the namespaces (tenants) it may use;
//!                                     # "*" = all; absent = ["default"]
//! ```
//!
//! Invariants checked at load: names are unique and non-empty, every hash is 64 hex digits, no
//! token hash or certificate name belongs to two principals (so a credential maps to at most
//! one principal), and every namespace is a valid name (or "*").

use super::scope::{Scope, Scopes};
use super::token::TokenHash;
use super::SecurityError;
use serde::Deserialize;
use shards::namespace::Namespace;
use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;

/// A principal's request limits (None: unlimited).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrincipalLimits {
    pub requests_per_second: Option<NonZeroU32>,
    pub burst: Option<NonZeroU32>,
    pub max_concurrent: Option<usize>,
}

/// The namespaces (tenants) a principal may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Namespaces {
    All,
    Only(BTreeSet<Namespace>),
}

impl Namespaces {
    pub fn allows(&self, ns: &Namespace) -> bool {
        match self {
            Namespaces::All => true,
            Namespaces::Only(set) => set.contains(ns),
        }
    }

    /// The grant of a file entry: "*" is all; absent is the default namespace only.
    fn parse(principal: &str, names: Option<&[String]>) -> Result<Namespaces, String> {
        let Some(names) = names else {
            return Ok(Namespaces::Only([Namespace::default()].into()));
        };
        if names.iter().any(|n| n == "*") {
            return Ok(Namespaces::All);
        }
        let mut set = BTreeSet::new();
        for n in names {
            if n.is_empty() {
                return Err(format!(
                    "principal {principal:?}: an empty namespace (write \"default\")"
                ));
            }
            let ns = Namespace::parse("namespaces", n)
                .map_err(|e| format!("principal {principal:?}: namespace {n:?}: {e}"))?;
            set.insert(ns);
        }
        Ok(Namespaces::Only(set))
    }
}

/// An authenticated caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub scopes: Scopes,
    pub limits: PrincipalLimits,
    pub namespaces: Namespaces,
}

impl Principal {
    /// The caller of a server without authentication (`--insecure-plaintext` or `--no-auth`):
    /// every scope, every namespace.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            scopes: Scopes::ALL,
            limits: PrincipalLimits::default(),
            namespaces: Namespaces::All,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSchema {
    #[serde(default)]
    principal: Vec<PrincipalEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalEntry {
    name: String,
    #[serde(default)]
    scopes: Vec<Scope>,
    #[serde(default)]
    token_sha256: Vec<String>,
    #[serde(default)]
    cert_names: Vec<String>,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
    max_concurrent: Option<usize>,
    namespaces: Option<Vec<String>>,
}

/// The principals of one version of the file, with their credentials.
#[derive(Debug, Default)]
pub struct Principals {
    principals: Vec<Arc<Principal>>,
    /// (hash, index into `principals`).
    tokens: Vec<(TokenHash, usize)>,
    /// (certificate name, index into `principals`).
    cert_names: Vec<(String, usize)>,
}

impl Principals {
    pub fn load(path: &Path) -> Result<Principals, SecurityError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecurityError::Read {
            what: "auth file",
            path: path.into(),
            source: e,
        })?;
        Principals::parse(&text).map_err(|e| SecurityError::AuthFile {
            path: path.into(),
            reason: e,
        })
    }

    pub fn parse(text: &str) -> Result<Principals, String> {
        let file: FileSchema = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut out = Principals::default();
        let mut names = HashSet::new();
        let mut certs = HashSet::new();
        for (i, e) in file.principal.into_iter().enumerate() {
            if e.name.trim().is_empty() {
                return Err(format!("principal #{}: empty name", i + 1));
            }
            if !names.insert(e.name.clone()) {
                return Err(format!("principal {:?} appears twice", e.name));
            }
            for h in &e.token_sha256 {
                let hash = TokenHash::from_hex(h).ok_or_else(|| {
                    format!(
                        "principal {:?}: token_sha256 entries are 64 hex digits",
                        e.name
                    )
                })?;
                if out.tokens.iter().any(|(t, _)| *t == hash) {
                    return Err(format!(
                        "principal {:?}: a token hash belongs to two principals",
                        e.name
                    ));
                }
                out.tokens.push((hash, i));
            }
            for c in &e.cert_names {
                if !certs.insert(c.clone()) {
                    return Err(format!("certificate name {c:?} belongs to two principals"));
                }
                out.cert_names.push((c.clone(), i));
            }
            let nonzero = |field: &str, v: Option<u32>| -> Result<Option<NonZeroU32>, String> {
                v.map(|v| {
                    NonZeroU32::new(v).ok_or_else(|| {
                        format!("principal {:?}: {field} must be at least 1", e.name)
                    })
                })
                .transpose()
            };
            if e.max_concurrent == Some(0) {
                return Err(format!(
                    "principal {:?}: max_concurrent must be at least 1",
                    e.name
                ));
            }
            let limits = PrincipalLimits {
                requests_per_second: nonzero("requests_per_second", e.requests_per_second)?,
                burst: nonzero("burst", e.burst)?,
                max_concurrent: e.max_concurrent,
            };
            let namespaces = Namespaces::parse(&e.name, e.namespaces.as_deref())?;
            out.principals.push(Arc::new(Principal {
                name: e.name,
                scopes: Scopes::of(&e.scopes),
                limits,
                namespaces,
            }));
        }
        Ok(out)
    }

    /// The principal a bearer token belongs to. Every configured hash is compared, in constant
    /// time, whatever matches: the time taken does not depend on which one (or none) did.
    pub fn by_token(&self, token: &str) -> Option<Arc<Principal>> {
        let hash = TokenHash::of(token);
        let mut found = None;
        for (h, i) in &self.tokens {
            if h.ct_eq(&hash) {
                found = Some(*i);
            }
        }
        found.and_then(|i| self.principals.get(i).cloned())
    }

    /// The principal of a client certificate, by any of its names (subject CN, DNS SANs).
    pub fn by_cert_names(&self, names: &[String]) -> Option<Arc<Principal>> {
        self.cert_names
            .iter()
            .find(|(n, _)| names.iter().any(|c| c == n))
            .and_then(|(_, i)| self.principals.get(*i).cloned())
    }

    pub fn all(&self) -> &[Arc<Principal>] {
        &self.principals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_looks_up() {
        let t = TokenHash::of("tok-a").to_hex();
        let text = format!(
            "[[principal]]\nname = \"a\"\nscopes = [\"read\"]\ntoken_sha256 = [\"{t}\"]\n\
             requests_per_second = 5\nmax_concurrent = 2\n\
             [[principal]]\nname = \"b\"\nscopes = [\"admin\"]\ncert_names = [\"b.example\"]\n"
        );
        let p = Principals::parse(&text).unwrap();
        let a = p.by_token("tok-a").unwrap();
        assert_eq!(a.name, "a");
        assert!(a.scopes.allows(Scope::Read) && !a.scopes.allows(Scope::Write));
        assert_eq!(a.limits.requests_per_second, NonZeroU32::new(5));
        assert_eq!(a.limits.max_concurrent, Some(2));
        assert!(p.by_token("tok-b").is_none());
        assert_eq!(
            p.by_cert_names(&["x".into(), "b.example".into()])
                .unwrap()
                .name,
            "b"
        );
        assert!(p.by_cert_names(&["a".into()]).is_none());
    }

    #[test]
    fn namespace_grants() {
        let ns = |n: &str| Namespace::parse("ns", n).unwrap();
        let text = "[[principal]]\nname = \"a\"\n\
                    [[principal]]\nname = \"b\"\nnamespaces = [\"acme\", \"default\"]\n\
                    [[principal]]\nname = \"c\"\nnamespaces = [\"*\"]\n\
                    [[principal]]\nname = \"d\"\nnamespaces = []\n";
        let p = Principals::parse(text).unwrap();
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| &p.all()[i].namespaces);
        assert!(a.allows(&Namespace::default()) && !a.allows(&ns("acme")));
        assert!(b.allows(&ns("acme")) && b.allows(&Namespace::default()));
        assert!(!b.allows(&ns("beta")));
        assert!(c.allows(&ns("beta")));
        assert!(!d.allows(&Namespace::default()));
    }

    #[test]
    fn rejects_ambiguous_or_malformed_files() {
        let t = TokenHash::of("x").to_hex();
        for bad in [
            "[[principal]]\nname = \"\"".to_string(),
            "[[principal]]\nname = \"a\"\n[[principal]]\nname = \"a\"".to_string(),
            "[[principal]]\nname = \"a\"\ntoken_sha256 = [\"abc\"]".to_string(),
            format!(
                "[[principal]]\nname = \"a\"\ntoken_sha256 = [\"{t}\"]\n\
                 [[principal]]\nname = \"b\"\ntoken_sha256 = [\"{t}\"]"
            ),
            "[[principal]]\nname = \"a\"\ncert_names = [\"c\"]\n\
             [[principal]]\nname = \"b\"\ncert_names = [\"c\"]"
                .to_string(),
            "[[principal]]\nname = \"a\"\nscopes = [\"root\"]".to_string(),
            "[[principal]]\nname = \"a\"\ntoken = \"plain\"".to_string(),
            "[[principal]]\nname = \"a\"\nrequests_per_second = 0".to_string(),
            "[[principal]]\nname = \"a\"\nnamespaces = [\"Acme\"]".to_string(),
            "[[principal]]\nname = \"a\"\nnamespaces = [\"\"]".to_string(),
        ] {
            assert!(Principals::parse(&bad).is_err(), "accepted: {bad}");
        }
    }
}
