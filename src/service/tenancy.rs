//! Tenant isolation in the service: who calls (`Caller`), and the one place where every
//! request's names are put into the caller's namespace (`Qualify`, one impl per request type:
//! the `rpc!` macro calls it for every RPC, so a request type without one does not compile).
//!
//! Rule: identifiers a request names (document ids, a link's ends, tool names, a tool result's
//! dependencies) are qualified here (see `shards::namespace`); sets a request ranges over
//! (ListDocuments' prefix, SearchNodes without doc_id, Watch, a transaction id) take the
//! namespace as an engine argument, so the handler cannot leave it out. Answers show public ids
//! (`convert` strips the qualification), and error messages too (`status::to_status`).

use crate::pb;
use crate::security::principals::{Namespaces, Principal};
use shards::namespace::Namespace;
use std::sync::Arc;
use tonic::Status;

/// The caller of one request: its principal and the namespace the request names, as the
/// security layer resolved them (that layer has already checked that the principal may use
/// the namespace).
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Arc<Principal>,
    pub namespace: Namespace,
}

impl Caller {
    /// The caller of `req`. Without the security layer's extensions (a service built without
    /// it, in-process) the caller is a nameless principal allowed the default namespace only.
    pub fn of<T>(req: &tonic::Request<T>) -> Caller {
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        let namespace = req.extensions().get::<Namespace>().cloned();
        match (principal, namespace) {
            (Some(principal), Some(namespace)) => Caller {
                principal,
                namespace,
            },
            _ => Caller {
                principal: Arc::new(Principal {
                    name: String::new(),
                    scopes: crate::security::scope::Scopes::ALL,
                    limits: Default::default(),
                    namespaces: Namespaces::Only([Namespace::default()].into()),
                }),
                namespace: Namespace::default(),
            },
        }
    }

    /// The name a version this caller commits records (`anonymous` without authentication,
    /// "" when no auth layer ran).
    pub fn committer(&self) -> String {
        self.principal.name.clone()
    }

    /// Whether the caller may see a document (qualified id): one of its namespaces'.
    pub fn may_see(&self, qualified_doc: &str) -> bool {
        self.principal
            .namespaces
            .allows(&Namespace::of(qualified_doc))
    }

    /// The namespace named by `field` of a request ("" = the request's own), which the caller
    /// must be allowed: PERMISSION_DENIED otherwise, logged.
    fn other_namespace(&self, field: &str, name: &str) -> Result<Namespace, Status> {
        let ns = Namespace::parse(field, name).map_err(crate::status::to_status)?;
        if name.is_empty() {
            return Ok(self.namespace.clone());
        }
        if !self.principal.namespaces.allows(&ns) {
            tracing::warn!(
                principal = %self.principal.name,
                field,
                namespace = %ns,
                "permission denied: namespace"
            );
            return Err(Status::permission_denied(format!(
                "principal {:?} may not use namespace {:?} ({field})",
                self.principal.name,
                ns.name()
            )));
        }
        Ok(ns)
    }
}

/// Puts a request's names into the caller's namespace.
pub trait Qualify {
    fn qualify(&mut self, caller: &Caller) -> Result<(), Status>;
}

fn q(ns: &Namespace, id: &mut String) {
    *id = ns.qualify(id);
}

/// Requests whose only name is `doc_id`.
macro_rules! doc_id_only {
    ($($t:ident),* $(,)?) => {$(
        impl Qualify for pb::$t {
            fn qualify(&mut self, caller: &Caller) -> Result<(), Status> {
                q(&caller.namespace, &mut self.doc_id);
                Ok(())
            }
        }
    )*};
}

doc_id_only!(
    PutDocumentRequest,
    GetDocumentRequest,
    DeleteDocumentRequest,
    ListVersionsRequest,
    GetNodeRequest,
    GetSubtreeRequest,
    GetChildrenRequest,
    GetAncestorsRequest,
    InsertNodeRequest,
    UpdateNodeRequest,
    MoveNodeRequest,
    DeleteNodeRequest,
    GetVersionAsOfRequest,
    DiffVersionsRequest,
    GetCrossReferencesRequest,
    BeginTransactionRequest,
);

/// Requests that name no document or tool: their handlers pass `caller.namespace` to the
/// engine (ListDocuments, Commit/RollbackTransaction, Watch), or they read no tenant data
/// (Health) or need the admin scope (Stats).
macro_rules! no_names {
    ($($t:ident),* $(,)?) => {$(
        impl Qualify for pb::$t {
            fn qualify(&mut self, _: &Caller) -> Result<(), Status> {
                Ok(())
            }
        }
    )*};
}

no_names!(
    ListDocumentsRequest,
    CommitTransactionRequest,
    RollbackTransactionRequest,
    WatchRequest,
    HealthRequest,
    StatsRequest,
);

impl Qualify for pb::SearchNodesRequest {
    /// doc_id "" (every document of the namespace) stays empty: the handler passes the namespace.
    fn qualify(&mut self, caller: &Caller) -> Result<(), Status> {
        if !self.doc_id.is_empty() {
            q(&caller.namespace, &mut self.doc_id);
        }
        Ok(())
    }
}

impl Qualify for pb::AddCrossReferenceRequest {
    fn qualify(&mut self, caller: &Caller) -> Result<(), Status> {
        if let Some(x) = &mut self.reference {
            let from = caller.other_namespace("reference.from_namespace", &x.from_namespace)?;
            if from != caller.namespace {
                return Err(crate::status::invalid(
                    "reference.from_namespace",
                    "must be empty or the request's namespace (a link starts in it)",
                ));
            }
            let to = caller.other_namespace("reference.to_namespace", &x.to_namespace)?;
            q(&from, &mut x.from_doc_id);
            q(&to, &mut x.to_doc_id);
        }
        Ok(())
    }
}

impl Qualify for pb::RemoveCrossReferenceRequest {
    fn qualify(&mut self, caller: &Caller) -> Result<(), Status> {
        let to = caller.other_namespace("to_namespace", &self.to_namespace)?;
        q(&caller.namespace, &mut self.from_doc_id);
        q(&to, &mut self.to_doc_id);
        Ok(())
    }
}

impl Qualify for pb::StoreToolResultRequest {
    /// The tool name is qualified too: each namespace has its own cache entries.
    fn qualify(&mut self, caller: &Caller) -> Result<(), Status> {
        q(&caller.namespace, &mut self.tool_name);
        for d in &mut self.depends_on {
            q(&caller.namespace, &mut d.doc_id);
        }
        Ok(())
    }
}

impl Qualify for pb::GetToolResultRequest {
    fn qualify(&mut self, caller: &Caller) -> Result<(), Status> {
        q(&caller.namespace, &mut self.tool_name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(ns: &str, grants: &[&str]) -> Caller {
        let grants = grants
            .iter()
            .map(|n| Namespace::parse("ns", n).unwrap())
            .collect();
        Caller {
            principal: Arc::new(Principal {
                name: "p".into(),
                scopes: crate::security::scope::Scopes::ALL,
                limits: Default::default(),
                namespaces: Namespaces::Only(grants),
            }),
            namespace: Namespace::parse("ns", ns).unwrap(),
        }
    }

    #[test]
    fn ids_go_into_the_callers_namespace() {
        let c = caller("acme", &["acme"]);
        let mut r = pb::GetNodeRequest {
            doc_id: "d".into(),
            node_id: "n".into(),
            ..Default::default()
        };
        r.qualify(&c).unwrap();
        assert_eq!(r.doc_id, "\u{1f}acme\u{1f}d");
        assert_eq!(r.node_id, "n");
        let mut t = pb::StoreToolResultRequest {
            tool_name: "tool".into(),
            depends_on: vec![pb::DocRef {
                doc_id: "d".into(),
                version: 0,
            }],
            ..Default::default()
        };
        t.qualify(&c).unwrap();
        assert_eq!(t.tool_name, "\u{1f}acme\u{1f}tool");
        assert_eq!(t.depends_on[0].doc_id, "\u{1f}acme\u{1f}d");
    }

    #[test]
    fn a_link_into_another_namespace_needs_a_grant_for_it() {
        let link = |to_ns: &str| pb::AddCrossReferenceRequest {
            reference: Some(pb::CrossReference {
                from_doc_id: "a".into(),
                to_doc_id: "b".into(),
                to_namespace: to_ns.into(),
                ..Default::default()
            }),
        };
        let mut r = link("beta");
        let e = r.qualify(&caller("acme", &["acme"])).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let mut r = link("beta");
        r.qualify(&caller("acme", &["acme", "beta"])).unwrap();
        let x = r.reference.unwrap();
        assert_eq!(x.from_doc_id, "\u{1f}acme\u{1f}a");
        assert_eq!(x.to_doc_id, "\u{1f}beta\u{1f}b");
        let mut r = link("");
        r.qualify(&caller("acme", &["acme"])).unwrap();
        assert_eq!(r.reference.unwrap().to_doc_id, "\u{1f}acme\u{1f}b");
        let mut r = pb::RemoveCrossReferenceRequest {
            to_namespace: "default".into(),
            ..Default::default()
        };
        let e = r.qualify(&caller("acme", &["acme"])).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
    }
}
