//! Building a document's tree at one version from the store: two range scans, one over the
//! document's node shapes and one over its node contents, instead of a seek per node.
//!
//! Within a node's keys versions are stored newest first (`keys.rs`), so the first entry at or
//! below the version read is the node at that version and the node's older entries are skipped.

use super::{DocTree, NodeBody};
use crate::codec::decode;
use crate::keys;
use crate::model::*;
use crate::store::KvRead;
use crate::view::{read_version_info, DocView};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// The tree of `doc` at `version`, which must be a version of the live document `head`.
pub fn load(store: &dyn KvRead, doc: &str, version: VersionNo, head: &DocHead) -> Result<DocTree> {
    let info = read_version_info(store, doc, version)?
        .ok_or_else(|| Error::not_found("version", format!("{doc}@{version}")))?;
    let view = DocView {
        store,
        doc,
        version,
        overlay: None,
    };
    let header = Arc::new(view.header()?);
    let mut shapes: HashMap<Arc<str>, NodeShape, ahash::RandomState> = HashMap::default();
    scan_at(
        store,
        &keys::doc_shapes_scope(doc),
        version,
        &mut |id, bytes| {
            if let Some(shape) = decode::<Option<NodeShape>>(bytes)? {
                shapes.insert(Arc::from(id), shape);
            }
            Ok(())
        },
    )?;
    let mut bodies: HashMap<Arc<str>, Arc<NodeBody>, ahash::RandomState> =
        HashMap::with_capacity_and_hasher(shapes.len(), Default::default());
    scan_at(
        store,
        &keys::doc_nodes_scope(doc),
        version,
        &mut |id, bytes| {
            // Content entries of nodes absent at this version (removed) are skipped undecoded.
            if let Some((id, _)) = shapes.get_key_value(id) {
                let id = id.clone();
                bodies.insert(id.clone(), NodeBody::new(id, decode(bytes)?));
            }
            Ok(())
        },
    )?;
    let expected = shapes.len();
    DocTree::build(
        doc.to_string(),
        version,
        head.created_at,
        info.commit_time,
        header,
        expected,
        |id| {
            let Some(shape) = shapes.remove(id) else {
                return Ok(None);
            };
            let body = bodies.remove(id).ok_or_else(|| {
                Error::DataLoss(format!("node {doc}/{id} has a shape but no content"))
            })?;
            let children = shape
                .children
                .iter()
                .map(|c| Arc::from(c.as_str()))
                .collect();
            Ok(Some((children, body)))
        },
    )
}

/// Calls `f(node_id, value)` with each node's newest entry at or below `version` under `scope`
/// (a document's shape or content keys), in node-id order.
fn scan_at(
    store: &dyn KvRead,
    scope: &[u8],
    version: VersionNo,
    f: &mut dyn FnMut(&str, &[u8]) -> Result<()>,
) -> Result<()> {
    // The node whose entry was taken: its older entries follow and are skipped.
    let mut taken: Vec<u8> = vec![];
    let mut failed = None;
    store.scan(scope, &keys::prefix_end(scope), &mut |k, v| {
        let Some(id) = keys::node_of(scope, k) else {
            failed = Some(Error::DataLoss(format!("malformed node key {k:?}")));
            return Ok(false);
        };
        if id == taken.as_slice() || keys::inverted_version(k)? > version {
            return Ok(true);
        }
        taken.clear();
        taken.extend_from_slice(id);
        let Ok(id) = std::str::from_utf8(id) else {
            failed = Some(Error::DataLoss(format!("node id {id:?} is not UTF-8")));
            return Ok(false);
        };
        f(id, v)?;
        Ok(true)
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
