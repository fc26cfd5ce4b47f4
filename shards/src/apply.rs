//! `apply`: a mutation plus the state it applies to gives one write batch, deterministically.
//! It reads the store only for what the mutation replaces (old words of rewritten nodes, the
//! nodes of a deleted document), and during replay the store holds exactly the state the
//! mutation was planned against, because every batch records its LSN atomically with its data.

use crate::codec::{decode, encode, encode_u64};
use crate::feed::{Deletion, FeedEvent};
use crate::keys;
use crate::model::*;
use crate::mutation::{DocCommit, Mutation, NodeWrite, XrefSide};
use crate::store::{KvRead, WriteBatch};
use crate::view::{read_head, DocView};
use crate::words::node_words;
use crate::Result;

/// The batch that applies `m`, logged at `lsn`, and the change-feed event it records.
pub fn apply(
    store: &dyn KvRead,
    m: &Mutation,
    lsn: u64,
) -> Result<(WriteBatch, Option<FeedEvent>)> {
    apply_data(store, m)?.at_lsn(lsn)
}

/// What a mutation writes before its LSN is known (a put planned off the executor is applied
/// to a batch before it is logged).
pub struct Applied {
    pub batch: WriteBatch,
    /// The change-feed event, recorded under the LSN by `at_lsn`.
    pub event: Option<FeedEvent>,
}

impl Applied {
    /// The whole batch of a mutation logged at `lsn`: its data, its feed event (`f lsn`, and
    /// `q doc \0 v` for a version) and the applied LSN (the last op of every batch).
    pub fn at_lsn(self, lsn: u64) -> Result<(WriteBatch, Option<FeedEvent>)> {
        let Applied { mut batch, event } = self;
        if let Some(e) = &event {
            batch.put(keys::feed(lsn), e.encode()?);
            if let FeedEvent::Version(v) = e {
                batch.put(keys::feed_index(&v.doc_id, v.version), encode_u64(lsn));
            }
        }
        batch.put(keys::APPLIED_LSN.to_vec(), encode_u64(lsn));
        Ok((batch, event))
    }
}

/// The batch of `m` without its LSN record and feed event: what `at_lsn` completes.
pub fn apply_data(store: &dyn KvRead, m: &Mutation) -> Result<Applied> {
    let mut b = WriteBatch::default();
    let mut event = None;
    match m {
        Mutation::Commit(c) => event = Some(apply_commit(store, c, &mut b)?),
        Mutation::DeleteDocument { doc_id, deleted_at } => {
            event = apply_delete(store, doc_id, *deleted_at, &mut b)?
        }
        Mutation::PutXref { key, side, value } => {
            let k = match side {
                XrefSide::Out => keys::xref_out(key),
                XrefSide::In => keys::xref_in(key),
            };
            b.put(k, encode(value)?);
        }
        Mutation::RemoveXref { key, side } => b.delete(match side {
            XrefSide::Out => keys::xref_out(key),
            XrefSide::In => keys::xref_in(key),
        }),
        Mutation::PutToolResult { tool, args, record } => {
            b.put(keys::tool(tool, args), encode(record)?)
        }
        Mutation::RemoveToolResults { keys: doomed } => {
            for (tool, args) in doomed {
                b.delete(keys::tool(tool, args));
            }
        }
    }
    Ok(Applied { batch: b, event })
}

/// The content of a node in the latest stored version (the state `apply` replaces); None when
/// the node is not in the tree.
fn latest_content(store: &dyn KvRead, doc: &str, id: &str) -> Result<Option<NodeContent>> {
    let shapes = keys::shape_scope(doc, id);
    let exists = match store.first(&shapes, &keys::prefix_end(&shapes))? {
        Some((_, v)) => decode::<Option<NodeShape>>(&v)?.is_some(),
        None => false,
    };
    if !exists {
        return Ok(None);
    }
    let contents = keys::node_scope(doc, id);
    match store.first(&contents, &keys::prefix_end(&contents))? {
        Some((_, v)) => Ok(Some(decode(&v)?)),
        None => Err(crate::Error::DataLoss(format!(
            "node {doc}/{id} has a shape but no content"
        ))),
    }
}

/// Keeps the word index equal to the words of each node's latest content.
fn reindex(
    b: &mut WriteBatch,
    doc: &str,
    id: &str,
    old: Option<&NodeContent>,
    new: Option<&NodeContent>,
) {
    let old_words = old.map(node_words).unwrap_or_default();
    let new_words = new.map(node_words).unwrap_or_default();
    for w in old_words.keys() {
        if !new_words.contains_key(w) {
            b.delete(keys::word(w, doc, id));
        }
    }
    for (w, n) in &new_words {
        if old_words.get(w) != Some(n) {
            b.put(keys::word(w, doc, id), n.to_be_bytes().to_vec());
        }
    }
}

fn apply_commit(store: &dyn KvRead, c: &DocCommit, b: &mut WriteBatch) -> Result<FeedEvent> {
    let doc = c.doc_id.as_str();
    // Read before anything of `c` is in `b`: it counts against the state before the commit.
    let changes = crate::changed::classify(store, c)?;
    let nodes_changed = changes.count();
    let head = DocHead {
        version: c.version,
        node_count: c.node_count,
        created_at: c.created_at,
        updated_at: c.commit_time,
        last_commit_time: c.commit_time,
        deleted: false,
    };
    b.put(keys::head(doc), encode(&head)?);
    if let Some(h) = &c.header {
        b.put(keys::header(doc, c.version), encode(h)?);
    }
    for (id, write) in &c.nodes {
        match write {
            NodeWrite::Removed => {
                let old = latest_content(store, doc, id)?;
                reindex(b, doc, id, old.as_ref(), None);
                b.put(keys::shape(doc, id, c.version), encode(&None::<NodeShape>)?);
                // Links live with the latest state: a removed node takes its links with it.
                for tag in [keys::XREF_OUT, keys::XREF_IN] {
                    let s = keys::xref_scope(tag, doc, Some(id));
                    b.delete_range(s.clone(), keys::prefix_end(&s));
                }
            }
            NodeWrite::Put { shape, content } => {
                if let Some(shape) = shape {
                    b.put(keys::shape(doc, id, c.version), encode(&Some(shape))?);
                }
                if let Some(content) = content {
                    let old = latest_content(store, doc, id)?;
                    reindex(b, doc, id, old.as_ref(), Some(content));
                    b.put(keys::node(doc, id, c.version), encode(content)?);
                }
            }
        }
    }
    let info = VersionInfo {
        version: c.version,
        commit_time: c.commit_time,
        effective_time: c.effective_time,
        message: c.message.clone(),
        nodes_changed,
        header_changed: c.header.is_some(),
        node_count: c.node_count,
        committed_by: c.committed_by.clone(),
    };
    b.put(keys::version(doc, c.version), info.encode()?);
    let ids: Vec<&String> = c.nodes.iter().map(|(id, _)| id).collect();
    b.put(keys::changes(doc, c.version), encode(&ids)?);
    b.put(
        keys::time_index(keys::COMMIT, doc, c.commit_time, c.version),
        vec![],
    );
    b.put(
        keys::time_index(keys::EFFECTIVE, doc, c.effective_time, c.version),
        vec![],
    );
    Ok(FeedEvent::version(c, changes))
}

/// Deletes `doc`; its feed event, unless it was already gone.
fn apply_delete(
    store: &dyn KvRead,
    doc: &str,
    deleted_at: Micros,
    b: &mut WriteBatch,
) -> Result<Option<FeedEvent>> {
    let Some(mut head) = read_head(store, doc)? else {
        return Ok(None);
    };
    if head.deleted {
        return Ok(None);
    }
    let view = DocView {
        store,
        doc,
        version: head.version,
        overlay: None,
    };
    for id in view.all_ids()? {
        for w in node_words(&view.content(&id)?).keys() {
            b.delete(keys::word(w, doc, &id));
        }
    }
    for s in [
        keys::header_scope(doc),
        keys::doc_shapes_scope(doc),
        keys::doc_nodes_scope(doc),
        keys::version_scope(doc),
        keys::changes_scope(doc),
        keys::time_index_scope(keys::COMMIT, doc),
        keys::time_index_scope(keys::EFFECTIVE, doc),
        keys::xref_scope(keys::XREF_OUT, doc, None),
        keys::xref_scope(keys::XREF_IN, doc, None),
    ] {
        let end = keys::prefix_end(&s);
        b.delete_range(s, end);
    }
    head.deleted = true;
    head.node_count = 0;
    head.updated_at = deleted_at;
    b.put(keys::head(doc), encode(&head)?);
    Ok(Some(FeedEvent::Deleted(Deletion {
        doc_id: doc.to_string(),
        last_version: head.version,
        deleted_at,
    })))
}
