//! Scopes, and the one place that says which scope each RPC needs.
//!
//! `Rpc` has one variant per method of `treestore.v1.TreeStore` (the `rpcs!` list); `Rpc::scope`
//! is an exhaustive `match`, so a new variant does not compile until its scope is chosen, and
//! the unit test `every_proto_method_has_a_scope` fails until every method of the proto has a
//! variant.

use serde::{Deserialize, Serialize};

/// What a principal may do. `Admin` includes `Read` and `Write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }
}

/// A set of scopes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub const ALL: Scopes = Scopes(7);

    pub fn of(scopes: &[Scope]) -> Scopes {
        Scopes(scopes.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether a holder of these scopes may do what `needed` guards (`Admin` allows all).
    pub fn allows(self, needed: Scope) -> bool {
        self.0 & (needed.bit() | Scope::Admin.bit()) != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        [Scope::Read, Scope::Write, Scope::Admin]
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .map(Scope::name)
            .collect()
    }
}

/// Declares `Rpc` with one variant per name, `Rpc::ALL` and `Rpc::name` (the variant's name is
/// the method's name in the proto), so a method is added in one place: its name here, its scope
/// in `Rpc::scope` (which does not compile until it has one).
macro_rules! rpcs {
    ($($name:ident),+ $(,)?) => {
        /// The methods of `treestore.v1.TreeStore`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Rpc {
            $($name),+
        }

        impl Rpc {
            /// Every variant (the test checks it against the proto's methods).
            pub const ALL: &'static [Rpc] = &[$(Rpc::$name),+];

            /// The method's name in the proto (and in its gRPC path).
            pub fn name(self) -> &'static str {
                match self {
                    $(Rpc::$name => stringify!($name)),+
                }
            }
        }
    };
}

rpcs! {
    PutDocument,
    GetDocument,
    ListDocuments,
    DeleteDocument,
    ListVersions,
    GetNode,
    GetSubtree,
    GetChildren,
    GetAncestors,
    InsertNode,
    UpdateNode,
    MoveNode,
    DeleteNode,
    SearchNodes,
    GetVersionAsOf,
    DiffVersions,
    AddCrossReference,
    RemoveCrossReference,
    GetCrossReferences,
    StoreToolResult,
    GetToolResult,
    BeginTransaction,
    CommitTransaction,
    RollbackTransaction,
    Watch,
    Health,
    Stats,
}

impl Rpc {
    /// The scope a caller needs. Writes of any kind (documents, nodes, links, the tool-result
    /// cache, transactions, which exist only to write) need `Write`; everything that only reads
    /// needs `Read`. `Stats` needs `Admin`: its counts span every namespace (tenant), so only
    /// an operator may see them; admin guards profiling too.
    pub fn scope(self) -> Scope {
        match self {
            Rpc::PutDocument
            | Rpc::DeleteDocument
            | Rpc::InsertNode
            | Rpc::UpdateNode
            | Rpc::MoveNode
            | Rpc::DeleteNode
            | Rpc::AddCrossReference
            | Rpc::RemoveCrossReference
            | Rpc::StoreToolResult
            | Rpc::BeginTransaction
            | Rpc::CommitTransaction
            | Rpc::RollbackTransaction => Scope::Write,
            Rpc::GetDocument
            | Rpc::Watch
            | Rpc::ListDocuments
            | Rpc::ListVersions
            | Rpc::GetNode
            | Rpc::GetSubtree
            | Rpc::GetChildren
            | Rpc::GetAncestors
            | Rpc::SearchNodes
            | Rpc::GetVersionAsOf
            | Rpc::DiffVersions
            | Rpc::GetCrossReferences
            | Rpc::GetToolResult
            | Rpc::Health => Scope::Read,
            Rpc::Stats => Scope::Admin,
        }
    }

    pub fn from_name(name: &str) -> Option<Rpc> {
        Rpc::ALL.iter().copied().find(|r| r.name() == name)
    }
}

/// The service prefix of TreeStore's gRPC paths.
pub const TREESTORE_PREFIX: &str = "/treestore.v1.TreeStore/";

/// What a request's path asks for, and so what it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `grpc.health.v1.Health`: open to anyone who can connect (probes, `treestore health`);
    /// it tells only whether the server serves.
    StandardHealth,
    /// A TreeStore method.
    TreeStore(Rpc),
    /// Reflection (the API's schema): needs `Read`.
    Reflection,
    /// Anything else (an unknown method or service): needs `Admin`, so that a path no `Rpc`
    /// names is never open; tonic answers UNIMPLEMENTED to an admin.
    Unknown,
}

impl Target {
    pub fn of_path(path: &str) -> Target {
        if let Some(method) = path.strip_prefix(TREESTORE_PREFIX) {
            return Rpc::from_name(method).map_or(Target::Unknown, Target::TreeStore);
        }
        if path.starts_with("/grpc.health.v1.Health/") {
            return Target::StandardHealth;
        }
        if path.starts_with("/grpc.reflection.v1.ServerReflection/")
            || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
        {
            return Target::Reflection;
        }
        Target::Unknown
    }

    /// The scope needed; None: no credential needed.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Target::StandardHealth => None,
            Target::TreeStore(rpc) => Some(rpc.scope()),
            Target::Reflection => Some(Scope::Read),
            Target::Unknown => Some(Scope::Admin),
        }
    }

    /// The method's name for logs and metrics: a fixed set, never the client's path (a label
    /// per path an unauthenticated client makes up would grow the metrics without bound).
    pub fn method(self) -> &'static str {
        match self {
            Target::TreeStore(rpc) => rpc.name(),
            Target::StandardHealth => "grpc.health.v1",
            Target::Reflection => "reflection",
            Target::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Every method of `treestore.v1.TreeStore` in the compiled proto has exactly one `Rpc`.
    #[test]
    fn every_proto_method_has_a_scope() {
        let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let service = set
            .file
            .iter()
            .flat_map(|f| f.service.iter().map(move |s| (f.package(), s)))
            .find(|(pkg, s)| *pkg == "treestore.v1" && s.name() == "TreeStore")
            .map(|(_, s)| s)
            .expect("treestore.v1.TreeStore");
        let names: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
        for name in &names {
            let rpc = Rpc::from_name(name)
                .unwrap_or_else(|| panic!("{name} has no Rpc variant: add one and its scope"));
            let _ = rpc.scope();
        }
        assert_eq!(
            names.len(),
            Rpc::ALL.len(),
            "Rpc::ALL lists a removed method"
        );
    }

    #[test]
    fn scopes_and_targets() {
        let rw = Scopes::of(&[Scope::Read, Scope::Write]);
        assert!(rw.allows(Scope::Read) && rw.allows(Scope::Write) && !rw.allows(Scope::Admin));
        assert!(Scopes::of(&[Scope::Admin]).allows(Scope::Write));
        assert!(!Scopes::of(&[]).allows(Scope::Read));
        assert_eq!(
            Target::of_path("/treestore.v1.TreeStore/PutDocument").scope(),
            Some(Scope::Write)
        );
        assert_eq!(
            Target::of_path("/treestore.v1.TreeStore/Nope"),
            Target::Unknown
        );
        assert_eq!(
            Target::of_path("/grpc.health.v1.Health/Check").scope(),
            None
        );
        assert_eq!(
            Target::of_path("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo").scope(),
            Some(Scope::Read)
        );
        assert_eq!(Target::of_path("/x.Y/Z").scope(), Some(Scope::Admin));
    }
}
