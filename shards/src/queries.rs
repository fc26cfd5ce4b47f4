//! Read-only queries over one shard's store that span more than one document view: listing
//! documents and versions, diffs, search, links, tool results and statistics.

use crate::codec::decode;
use crate::keys;
use crate::model::*;
use crate::mutation::{XrefSide, XrefValue};
use crate::namespace::{self, Namespace};
use crate::request::ShardStats;
use crate::store::KvRead;
use crate::view::{live_head, read_head, read_version_info, resolve, DocView};
use crate::words::node_words;
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

pub fn list_documents(
    store: &dyn KvRead,
    id_prefix: &str,
    metadata: &BTreeMap<String, String>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Document>> {
    // `id_prefix` is qualified (see `namespace`): its namespace's documents only. Those of the
    // default namespace all sort at or above DEFAULT_FLOOR, every other namespace's below it,
    // so an empty default prefix starts there.
    let ns = Namespace::of(id_prefix);
    let scope = keys::head_prefix(id_prefix);
    let floor = match ns.is_default() {
        true => scope.clone().max(keys::head(namespace::DEFAULT_FLOOR)),
        false => scope.clone(),
    };
    let start = match after {
        Some(a) if keys::head(a) >= floor => {
            let mut k = keys::head(a);
            k.push(0);
            k
        }
        _ => floor,
    };
    let mut out = vec![];
    let mut err = None;
    store.scan(&start, &keys::prefix_end(&scope), &mut |k, v| {
        let head: DocHead = decode(v)?;
        if head.deleted {
            return Ok(true);
        }
        let doc = String::from_utf8_lossy(keys::doc_from_head(k)?).into_owned();
        if !ns.contains(&doc) {
            return Ok(true);
        }
        let view = DocView {
            store,
            doc: &doc,
            version: head.version,
            overlay: None,
        };
        match view.document(&head) {
            Ok(d) => {
                if metadata
                    .iter()
                    .all(|(mk, mv)| d.metadata.get(mk) == Some(mv))
                {
                    out.push(d);
                }
            }
            Err(e) => {
                err = Some(e);
                return Ok(false);
            }
        }
        Ok(out.len() < limit)
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

pub fn list_versions(
    store: &dyn KvRead,
    doc: &str,
    after: Option<VersionNo>,
    limit: usize,
) -> Result<Vec<Version>> {
    live_head(store, doc)?;
    let scope = keys::version_scope(doc);
    let start = keys::version(doc, after.map(|a| a.saturating_add(1)).unwrap_or(0));
    let mut out = vec![];
    store.scan(&start, &keys::prefix_end(&scope), &mut |_, v| {
        out.push(Version::from(&VersionInfo::decode(v)?));
        Ok(out.len() < limit)
    })?;
    Ok(out)
}

/// Versions a live document holds: those since it was last created (version numbers go on
/// across a delete and re-create, and the delete removed the earlier ones). The creating
/// version is the one in force at `created_at` on the commit-time axis: one seek.
fn versions_stored(store: &dyn KvRead, doc: &str, head: &DocHead) -> Result<u64> {
    if head.version <= 1 {
        return Ok(head.version);
    }
    match crate::view::version_as_of(store, doc, head.created_at, TimeAxis::Commit) {
        Ok(first) => Ok(head.version.saturating_sub(first) + 1),
        // No version record at its creation time: count every version number.
        Err(Error::NotFound { .. }) => Ok(head.version),
        Err(e) => Err(e),
    }
}

pub fn count_versions(store: &dyn KvRead, doc: &str) -> Result<u64> {
    let scope = keys::version_scope(doc);
    let mut n = 0;
    store.scan(&scope, &keys::prefix_end(&scope), &mut |_, _| {
        n += 1;
        Ok(true)
    })?;
    Ok(n)
}

pub fn version(store: &dyn KvRead, doc: &str, v: VersionNo) -> Result<Version> {
    read_version_info(store, doc, v)?
        .map(|i| Version::from(&i))
        .ok_or_else(|| Error::not_found("version", format!("{doc}@{v}")))
}

/// Differences between two versions. A node is moved when its parent or its position among its
/// siblings differs (a reorder under the same parent included). Costs the versions in between
/// (their change lists) plus one read at both ends of each changed node and of the children of
/// each changed node.
pub fn diff(store: &dyn KvRead, doc: &str, from: VersionNo, to: VersionNo) -> Result<Diff> {
    let (_, from) = resolve(store, doc, ReadAt::Version(from))?;
    let (_, to) = resolve(store, doc, ReadAt::Version(to))?;
    let (lo, hi) = (from.min(to), from.max(to));
    let mut touched = BTreeSet::new();
    let mut header_changed = false;
    let mut committed_by = BTreeSet::new();
    store.scan(
        &keys::version(doc, lo + 1),
        &keys::version(doc, hi.saturating_add(1)),
        &mut |_, v| {
            let info = VersionInfo::decode(v)?;
            header_changed |= info.header_changed;
            committed_by.insert(info.committed_by);
            Ok(true)
        },
    )?;
    store.scan(
        &keys::changes(doc, lo + 1),
        &keys::changes(doc, hi.saturating_add(1)),
        &mut |_, v| {
            touched.extend(decode::<Vec<String>>(v)?);
            Ok(true)
        },
    )?;
    let a = DocView {
        store,
        doc,
        version: from,
        overlay: None,
    };
    let b = DocView {
        store,
        doc,
        version: to,
        overlay: None,
    };
    let mut d = Diff {
        from_version: from,
        to_version: to,
        committed_by: committed_by.into_iter().collect(),
        ..Default::default()
    };
    // A node's position lives in its parent's children list (or the top-level list): when that
    // list was rewritten, each node on it may have moved without its own record changing.
    let mut candidates = touched.clone();
    for id in &touched {
        for view in [&a, &b] {
            if let Some(shape) = view.shape(id)? {
                candidates.extend(shape.children);
            }
        }
    }
    if header_changed {
        candidates.extend(a.header()?.roots);
        candidates.extend(b.header()?.roots);
    }
    for id in candidates {
        match (a.node(&id)?, b.node(&id)?) {
            (None, None) => {}
            (None, Some(_)) => d.added.push(id),
            (Some(_), None) => d.removed.push(id),
            (Some(x), Some(y)) => {
                let fields = changed_fields(&x.content, &y.content);
                if !fields.is_empty() {
                    d.changed.push((id.clone(), fields));
                }
                let (px, py) = (
                    a.position(&id, x.parent.as_deref())?,
                    b.position(&id, y.parent.as_deref())?,
                );
                if x.parent != y.parent || px != py {
                    d.moved.push(MovedNode {
                        node_id: id,
                        old_parent: x.parent,
                        old_position: px,
                        new_parent: y.parent,
                        new_position: py,
                    });
                }
            }
        }
    }
    Ok(d)
}

fn changed_fields(a: &NodeContent, b: &NodeContent) -> Vec<String> {
    let mut f = vec![];
    let mut check = |name: &str, same: bool| {
        if !same {
            f.push(name.to_string());
        }
    };
    check("title", a.title == b.title);
    check("summary", a.summary == b.summary);
    check("text", a.text == b.text);
    check("start_page", a.start_page == b.start_page);
    check("end_page", a.end_page == b.end_page);
    check("line_num", a.line_num == b.line_num);
    check("extra_json", a.extra_json == b.extra_json);
    f
}

/// Nodes holding every word. At the latest version the word index answers (its posting lists
/// intersected, `postings`); at an older version the document's nodes at that version are read.
/// Where a search looks: one document, or every document of a namespace.
#[derive(Clone, Copy, Debug)]
pub enum SearchScope<'a> {
    Doc(&'a str),
    Namespace(&'a Namespace),
}

pub fn search(
    store: &dyn KvRead,
    words: &[String],
    scope: SearchScope<'_>,
    at: ReadAt,
    after: Option<(&str, &str)>,
    limit: usize,
) -> Result<Vec<SearchHit>> {
    let (doc, namespace) = match scope {
        SearchScope::Doc(d) => (Some(d), None),
        SearchScope::Namespace(ns) => (None, Some(ns)),
    };
    if words.is_empty() {
        return Err(Error::invalid("query", "has no words"));
    }
    if at != ReadAt::Latest {
        let Some(doc) = doc else {
            return Err(Error::invalid(
                "read_at",
                "a search at a version needs doc_id",
            ));
        };
        return search_at_version(store, words, doc, at, after, limit);
    }
    if let Some(d) = doc {
        live_head(store, d)?;
    }
    let mut hits = vec![];
    crate::postings::intersect(store, words, doc, after, &mut |position, score| {
        let Some((doc_id, node_id)) = crate::postings::split_position(position) else {
            return Ok(true);
        };
        // Another namespace's document: not this search's (its postings interleave by id).
        if namespace.is_some_and(|ns| !ns.contains(&doc_id)) {
            return Ok(true);
        }
        let title = title_of(store, &doc_id, &node_id)?;
        hits.push(SearchHit {
            doc_id,
            node_id,
            title,
            score,
        });
        Ok(hits.len() < limit)
    })?;
    Ok(hits)
}

fn title_of(store: &dyn KvRead, doc: &str, node: &str) -> Result<String> {
    let head = live_head(store, doc)?;
    let view = DocView {
        store,
        doc,
        version: head.version,
        overlay: None,
    };
    Ok(view
        .node(node)?
        .map(|r| r.content.title)
        .unwrap_or_default())
}

fn search_at_version(
    store: &dyn KvRead,
    words: &[String],
    doc: &str,
    at: ReadAt,
    after: Option<(&str, &str)>,
    limit: usize,
) -> Result<Vec<SearchHit>> {
    let (_, v) = resolve(store, doc, at)?;
    let view = DocView {
        store,
        doc,
        version: v,
        overlay: None,
    };
    let mut ids = view.all_ids()?;
    ids.sort();
    let mut hits = vec![];
    for id in ids {
        if let Some((ad, an)) = after {
            if (doc, id.as_str()) <= (ad, an) {
                continue;
            }
        }
        let Some(rec) = view.node(&id)? else { continue };
        let counts = node_words(&rec.content);
        let score: Option<u32> = words.iter().map(|w| counts.get(w).copied()).sum();
        if let Some(score) = score {
            hits.push(SearchHit {
                doc_id: doc.to_string(),
                node_id: id,
                title: rec.content.title,
                score,
            });
            if hits.len() >= limit {
                break;
            }
        }
    }
    Ok(hits)
}

pub fn list_xrefs(
    store: &dyn KvRead,
    doc: &str,
    node: Option<&str>,
    side: XrefSide,
    kind: Option<&str>,
) -> Result<Vec<CrossReference>> {
    let tag = match side {
        XrefSide::Out => keys::XREF_OUT,
        XrefSide::In => keys::XREF_IN,
    };
    let scope = keys::xref_scope(tag, doc, node);
    let mut out = vec![];
    store.scan(&scope, &keys::prefix_end(&scope), &mut |k, v| {
        // Every key under an xref scope is one the index wrote: five UTF-8 ids.
        let Some(key) = keys::xref_from_key(k) else {
            return Err(Error::DataLoss(format!(
                "malformed cross-reference key {k:?}"
            )));
        };
        if kind.is_some_and(|kd| kd != key.kind) {
            return Ok(true);
        }
        let val: XrefValue = decode(v)?;
        out.push(CrossReference {
            key,
            label: val.label,
            created_at: val.created_at,
            hops: 1,
        });
        Ok(true)
    })?;
    Ok(out)
}

/// One side of a link as stored on this shard.
pub fn xref_value(store: &dyn KvRead, key: &XrefKey, side: XrefSide) -> Result<Option<XrefValue>> {
    let k = match side {
        XrefSide::Out => keys::xref_out(key),
        XrefSide::In => keys::xref_in(key),
    };
    store.get(&k)?.map(|v| decode(&v)).transpose()
}

pub fn node_exists(store: &dyn KvRead, doc: &str, node: &str) -> Result<bool> {
    match read_head(store, doc)? {
        Some(h) if !h.deleted => {
            let view = DocView {
                store,
                doc,
                version: h.version,
                overlay: None,
            };
            Ok(view.shape(node)?.is_some())
        }
        _ => Ok(false),
    }
}

pub fn doc_version(store: &dyn KvRead, doc: &str) -> Result<Option<VersionNo>> {
    Ok(read_head(store, doc)?
        .filter(|h| !h.deleted)
        .map(|h| h.version))
}

/// The stored result for `(tool, args)`, expired or not (a sweep removes expired ones later).
pub fn get_tool_result(
    store: &dyn KvRead,
    tool: &str,
    args: &str,
    now: Micros,
) -> Result<Option<StoredToolResult>> {
    match store.get(&keys::tool(tool, args))? {
        None => Ok(None),
        Some(b) => {
            let record: ToolResultRecord = decode(&b)?;
            let expired = record.expires_at <= now;
            Ok(Some(StoredToolResult { record, expired }))
        }
    }
}

/// Expired tool results, at most `limit`, for a sweep.
pub fn expired_tool_results(
    store: &dyn KvRead,
    now: Micros,
    limit: usize,
) -> Result<Vec<(String, String)>> {
    let scope = keys::tool_scope();
    let mut out = vec![];
    store.scan(&scope, &keys::prefix_end(&scope), &mut |k, v| {
        let rec: ToolResultRecord = decode(v)?;
        if rec.expires_at <= now {
            let parts: Vec<&[u8]> = k[1..].splitn(2, |b| *b == 0).collect();
            if parts.len() == 2 {
                out.push((
                    String::from_utf8_lossy(parts[0]).into_owned(),
                    String::from_utf8_lossy(parts[1]).into_owned(),
                ));
            }
        }
        Ok(out.len() < limit)
    })?;
    Ok(out)
}

pub fn stats(store: &dyn KvRead) -> Result<ShardStats> {
    stats_in_batches(store, 1024)
}

fn stats_in_batches(store: &dyn KvRead, batch: usize) -> Result<ShardStats> {
    let mut s = ShardStats::default();
    let scope = vec![keys::HEAD];
    let end = keys::prefix_end(&scope);
    let mut from = scope;
    loop {
        // Heads in batches, so the per-document lookups below do not nest inside the scan.
        let mut live: Vec<(String, DocHead)> = Vec::with_capacity(batch);
        let mut last = None;
        store.scan(&from, &end, &mut |k, v| {
            let h: DocHead = decode(v)?;
            if !h.deleted {
                live.push((
                    String::from_utf8_lossy(keys::doc_from_head(k)?).into_owned(),
                    h,
                ));
            }
            last = Some(k.to_vec());
            Ok(live.len() < batch)
        })?;
        for (doc, h) in &live {
            s.documents += 1;
            s.nodes += h.node_count;
            s.versions += versions_stored(store, doc, h)?;
        }
        match last {
            Some(mut k) if live.len() == batch => {
                k.push(0);
                from = k;
            }
            _ => break,
        }
    }
    let scope = keys::tool_scope();
    store.scan(&scope, &keys::prefix_end(&scope), &mut |_, _| {
        s.tool_results += 1;
        Ok(true)
    })?;
    s.applied_lsn = crate::view::decode_applied_lsn(store)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Request, WriteOpts};
    use crate::shard::{Shard, ShardConfig};
    use crate::store::MemStore;

    #[test]
    fn stats_are_the_same_whatever_the_batch_size() {
        let mut shard = Shard::new(0, MemStore::new(), ShardConfig::default(), 1);
        let mut lsn = 0;
        let mut write = |shard: &mut Shard<MemStore>, req: Request| {
            let m = shard
                .handle(req, 1_000 + lsn as i64)
                .unwrap()
                .mutation
                .unwrap();
            lsn += 1;
            shard.apply(&m, lsn).unwrap();
        };
        for i in 0..7 {
            for name in ["a", "b"] {
                let doc = DocumentInput {
                    doc_id: format!("d{i}"),
                    name: name.into(),
                    ..Default::default()
                };
                let (overwrite, write_opts) = (true, WriteOpts::default());
                write(
                    &mut shard,
                    Request::PutDocument {
                        doc,
                        overwrite,
                        write: write_opts,
                    },
                );
            }
        }
        for i in [1, 4] {
            let req = Request::DeleteDocument {
                doc_id: format!("d{i}"),
                expected_version: None,
            };
            write(&mut shard, req);
        }
        let whole = stats(&shard.store).unwrap();
        assert_eq!((whole.documents, whole.versions), (5, 10));
        for batch in 1..=6 {
            assert_eq!(
                stats_in_batches(&shard.store, batch).unwrap(),
                whole,
                "batch {batch}"
            );
        }
    }
}
