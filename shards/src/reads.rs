//! Reads that need nothing but a consistent view of the store: no transaction, no shard state.
//! `Shard::handle` answers them through `read` over its live store, and the runtime answers the
//! large ones through the same `read` over a snapshot on its blocking pool, so both paths give
//! the same answer.

use crate::limits::Limits;
use crate::model::*;
use crate::mutation::XrefSide;
use crate::queries;
use crate::request::{Request, Response};
use crate::store::KvRead;
use crate::tree::{self, DocTree};
use crate::view::{resolve, DocView};
use crate::{Error, Result};

/// A view of `doc` at `at`, outside any transaction.
fn view<'a>(
    st: &'a dyn KvRead,
    lim: &Limits,
    doc: &'a str,
    at: ReadAt,
) -> Result<(DocHead, DocView<'a>)> {
    lim.check_qualified_id("doc_id", doc)?;
    let (head, version) = resolve(st, doc, at)?;
    Ok((
        head,
        DocView {
            store: st,
            doc,
            version,
            overlay: None,
        },
    ))
}

/// Answers `req` from `st` when it is a snapshot read (None otherwise). `Stats` counts no
/// active transactions: the shard, which holds them, fills that in.
pub fn read(st: &dyn KvRead, lim: &Limits, req: &Request, now: Micros) -> Option<Result<Response>> {
    Some(match req {
        Request::GetDocument {
            doc_id,
            at,
            txn: None,
        } => view(st, lim, doc_id, *at)
            .and_then(|(head, v)| v.document(&head).map(Response::Document)),
        Request::GetNode {
            doc_id,
            node_id,
            at,
            include_text,
            txn: None,
        } => view(st, lim, doc_id, *at).and_then(|(_, v)| {
            Ok(Response::Node(
                v.node_view(node_id, *include_text)?,
                v.version,
            ))
        }),
        Request::GetChildren {
            doc_id,
            node_id,
            at,
            include_text,
            txn: None,
        } => view(st, lim, doc_id, *at).and_then(|(_, v)| {
            Ok(Response::Nodes(
                v.children(node_id.as_deref(), *include_text)?,
                v.version,
            ))
        }),
        Request::GetSubtree {
            doc_id,
            node_id,
            max_depth,
            include_text,
            at,
            txn: None,
        } => view(st, lim, doc_id, *at).and_then(|(_, v)| {
            Ok(Response::Nodes(
                v.subtree(node_id.as_deref(), *max_depth, *include_text)?,
                v.version,
            ))
        }),
        Request::GetAncestors {
            doc_id,
            node_id,
            at,
            include_text,
            txn: None,
        } => view(st, lim, doc_id, *at).and_then(|(_, v)| {
            Ok(Response::Nodes(
                v.ancestors(node_id, *include_text)?,
                v.version,
            ))
        }),
        Request::ListDocuments {
            id_prefix,
            metadata,
            after,
            limit,
        } => queries::list_documents(
            st,
            id_prefix,
            metadata,
            after.as_deref(),
            lim.page_size(*limit, 100),
        )
        .map(Response::Documents),
        Request::ListVersions {
            doc_id,
            after,
            limit,
        } => queries::list_versions(st, doc_id, *after, lim.page_size(*limit, 100))
            .map(Response::Versions),
        Request::VersionAsOf { doc_id, time, axis } => resolve(
            st,
            doc_id,
            ReadAt::AsOf {
                time: *time,
                axis: *axis,
            },
        )
        .and_then(|(_, v)| queries::version(st, doc_id, v))
        .map(Response::Version),
        Request::Diff { doc_id, from, to } => {
            queries::diff(st, doc_id, *from, *to).map(Response::Diff)
        }
        Request::Search {
            words,
            doc_id,
            namespace,
            at,
            after,
            limit,
        } => {
            let after = after.as_ref().map(|(d, n)| (d.as_str(), n.as_str()));
            let scope = match doc_id {
                Some(d) => queries::SearchScope::Doc(d),
                None => queries::SearchScope::Namespace(namespace),
            };
            search(st, lim, words, scope, *at, after, *limit)
        }
        Request::ListXrefs { starts, side, kind } => starts
            .iter()
            .map(|(doc, node)| {
                queries::list_xrefs(st, doc, node.as_deref(), *side, kind.as_deref())
            })
            .collect::<Result<Vec<_>>>()
            .map(|per_start| Response::Xrefs(per_start.concat())),
        Request::LinkValues { keys: ks } => ks
            .iter()
            .map(|k| queries::xref_value(st, k, XrefSide::Out))
            .collect::<Result<Vec<_>>>()
            .map(Response::LinkValues),
        Request::NodesExist { nodes } => nodes
            .iter()
            .map(|(d, n)| queries::node_exists(st, d, n))
            .collect::<Result<Vec<_>>>()
            .map(Response::Bools),
        Request::DocVersions { doc_ids } => doc_ids
            .iter()
            .map(|d| queries::doc_version(st, d))
            .collect::<Result<Vec<_>>>()
            .map(Response::DocVersions),
        Request::GetToolResult { tool, args } => lim
            .check_qualified_id("tool_name", tool)
            .and_then(|()| queries::get_tool_result(st, tool, args, now))
            .map(Response::StoredToolResult),
        Request::Stats => queries::stats(st).map(Response::Stats),
        _ => return None,
    })
}

/// A GetSubtree outside a transaction: the reads that may be answered in bulk (bounded, or from
/// a loaded tree).
struct SubtreeRead<'r> {
    doc_id: &'r str,
    node_id: Option<&'r str>,
    max_depth: usize,
    include_text: bool,
    at: ReadAt,
}

impl<'r> SubtreeRead<'r> {
    fn of(req: &'r Request) -> Option<Self> {
        match req {
            Request::GetSubtree {
                doc_id,
                node_id,
                max_depth,
                include_text,
                at,
                txn: None,
            } => Some(SubtreeRead {
                doc_id,
                node_id: node_id.as_deref(),
                max_depth: *max_depth,
                include_text: *include_text,
                at: *at,
            }),
            _ => None,
        }
    }
}

/// A GetSubtree outside a transaction, answered only when its answer holds at most `max_nodes`
/// nodes; None when it holds more (or `req` is no such read).
pub fn subtree_within(
    st: &dyn KvRead,
    lim: &Limits,
    req: &Request,
    max_nodes: usize,
) -> Option<Result<Response>> {
    let r = SubtreeRead::of(req)?;
    let (_, v) = match view(st, lim, r.doc_id, r.at) {
        Ok(found) => found,
        Err(e) => return Some(Err(e)),
    };
    match v.subtree_within(r.node_id, r.max_depth, r.include_text, max_nodes) {
        Ok(Some(nodes)) => Some(Ok(Response::Nodes(nodes, v.version))),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}

/// Documents of at most this many nodes answer a large subtree read by loading their whole tree
/// (two range scans) rather than seeking node by node; the tree then serves later reads from
/// memory. Larger ones are read node by node (loading them costs more than most subtrees).
pub const LOAD_FOR_SUBTREE_MAX_NODES: u64 = 65_536;

/// A GetSubtree outside a transaction answered from the document's tree at the version read,
/// loaded from `st` (and returned, for the cache). None when `req` is no such read or the
/// document has more than `LOAD_FOR_SUBTREE_MAX_NODES` nodes.
pub fn subtree_from_loaded_tree(
    st: &dyn KvRead,
    lim: &Limits,
    req: &Request,
) -> Option<Result<(Response, DocTree)>> {
    let r = SubtreeRead::of(req)?;
    let (head, version) = match lim
        .check_qualified_id("doc_id", r.doc_id)
        .and_then(|()| resolve(st, r.doc_id, r.at))
    {
        Ok(found) => found,
        Err(e) => return Some(Err(e)),
    };
    if head.node_count > LOAD_FOR_SUBTREE_MAX_NODES {
        return None;
    }
    Some(tree::load(st, r.doc_id, version, &head).and_then(|t| {
        let nodes = t.subtree_views(r.node_id, r.max_depth, r.include_text)?;
        Ok((Response::Nodes(nodes, version), t))
    }))
}

fn search(
    st: &dyn KvRead,
    lim: &Limits,
    words: &[String],
    scope: queries::SearchScope<'_>,
    at: ReadAt,
    after: Option<(&str, &str)>,
    limit: usize,
) -> Result<Response> {
    if words.len() > lim.max_query_words {
        return Err(Error::invalid(
            "query",
            format!("more than {} words", lim.max_query_words),
        ));
    }
    queries::search(st, words, scope, at, after, lim.page_size(limit, 20)).map(Response::Hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::WriteOpts;
    use crate::shard::{Shard, ShardConfig};
    use crate::store::MemStore;

    fn node(id: &str, children: Vec<NodeInput>) -> NodeInput {
        NodeInput {
            node_id: id.into(),
            content: NodeContent::default(),
            children,
        }
    }

    fn subtree_of(root: Option<&str>) -> Request {
        Request::GetSubtree {
            doc_id: "d".into(),
            node_id: root.map(String::from),
            max_depth: 0,
            include_text: true,
            at: ReadAt::Latest,
            txn: None,
        }
    }

    #[test]
    fn a_bounded_subtree_read_answers_small_trees_and_gives_up_on_large_ones() {
        let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
        let doc = DocumentInput {
            doc_id: "d".into(),
            roots: vec![
                node("a", vec![node("a1", vec![]), node("a2", vec![])]),
                node("b", vec![]),
            ],
            ..Default::default()
        };
        let put = Request::PutDocument {
            doc,
            overwrite: false,
            write: WriteOpts::default(),
        };
        let m = shard.handle(put, 10).unwrap().mutation.unwrap();
        shard.apply(&m, 1).unwrap();
        let lim = Limits::default();
        let whole = read(&shard.store, &lim, &subtree_of(None), 20)
            .unwrap()
            .unwrap();
        // 4 nodes: a budget of 4 answers exactly what the unbounded read does; 3 gives up.
        let bounded = subtree_within(&shard.store, &lim, &subtree_of(None), 4);
        assert_eq!(bounded.unwrap().unwrap(), whole);
        assert!(subtree_within(&shard.store, &lim, &subtree_of(None), 3).is_none());
        let a = subtree_within(&shard.store, &lim, &subtree_of(Some("a")), 3);
        assert!(matches!(a, Some(Ok(Response::Nodes(ref n, 1))) if n[0].children.len() == 2));
        // Errors are answers, not "too large"; other requests are not bounded subtree reads.
        let missing = subtree_within(&shard.store, &lim, &subtree_of(Some("zz")), 3);
        assert!(
            matches!(missing, Some(Err(Error::NotFound { .. }))),
            "{missing:?}"
        );
        assert!(subtree_within(&shard.store, &lim, &Request::Stats, 3).is_none());
    }
}
