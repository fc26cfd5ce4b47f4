//! `--load docs.jsonl [--load-xrefs xrefs.tsv]`: loads a corpus written by
//! `benches/vs_postgres/corpus.py` with `--clients` concurrent requests.
//!
//! Each line of `docs.jsonl` is one document: its first version as a tree (TreeStore NodeInput
//! fields, `children` nested) and later versions as new titles and summaries of some nodes.
//! Every version becomes one PutDocument (the first creates the document, the later ones
//! overwrite it) with the version's effective time. Then every line of `xrefs.tsv`
//! (`from_doc, from_node, to_doc, to_node, kind, label`, tab separated) becomes one
//! AddCrossReference. The server must not hold these documents yet.
//!
//! `--prewarm docs.jsonl` reads every version of every document of the file once (the whole
//! tree with text), so that the server starts the measurements with the corpus in its caches,
//! like PostgreSQL after pg_prewarm.

use crate::conn::Channel;
use crate::BoxErr;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, Mutex};
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;

#[derive(Deserialize)]
struct DocRecord {
    doc_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    versions: Vec<VersionRecord>,
}

#[derive(Deserialize)]
struct VersionRecord {
    effective_time: i64,
    #[serde(default)]
    roots: Vec<NodeRecord>,
    #[serde(default)]
    changes: HashMap<String, Change>,
}

#[derive(Deserialize)]
struct Change {
    title: String,
    summary: String,
}

#[derive(Deserialize)]
struct NodeRecord {
    node_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    text: String,
    start_page: Option<i64>,
    end_page: Option<i64>,
    line_num: Option<i64>,
    #[serde(default)]
    extra_json: String,
    #[serde(default)]
    children: Vec<NodeRecord>,
}

impl NodeRecord {
    fn into_input(self) -> pb::NodeInput {
        pb::NodeInput {
            node_id: self.node_id,
            title: self.title,
            summary: self.summary,
            text: self.text,
            start_page: self.start_page,
            end_page: self.end_page,
            line_num: self.line_num,
            extra_json: self.extra_json,
            children: self.children.into_iter().map(|c| c.into_input()).collect(),
        }
    }
}

/// Applies a version's changes to the tree; returns how many nodes it found.
fn apply(nodes: &mut [pb::NodeInput], changes: &HashMap<String, Change>) -> usize {
    let mut found = 0;
    for n in nodes {
        if let Some(c) = changes.get(&n.node_id) {
            n.title.clone_from(&c.title);
            n.summary.clone_from(&c.summary);
            found += 1;
        }
        found += apply(&mut n.children, changes);
    }
    found
}

/// Runs `call` again after a growing pause (10 ms doubling to 1 s, at most 60 tries) while the
/// server refuses it as overloaded: RESOURCE_EXHAUSTED "retry with backoff" (a full inbox, or a
/// shard's expected queue wait over its bound), as the server asks.
async fn with_backoff<T, Fut>(mut call: impl FnMut() -> Fut) -> Result<T, tonic::Status>
where
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut pause = std::time::Duration::from_millis(10);
    for _ in 0..60 {
        match call().await {
            Err(s)
                if s.code() == tonic::Code::ResourceExhausted
                    && s.message().contains("retry with backoff") =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            other => return other,
        }
    }
    call().await
}

async fn put_doc(c: &mut TreeStoreClient<Channel>, line: &str) -> Result<usize, BoxErr> {
    let doc: DocRecord =
        serde_json::from_str(line).map_err(|e| format!("bad document line: {e}"))?;
    let mut versions = doc.versions.into_iter();
    let first = versions
        .next()
        .ok_or_else(|| format!("{}: no versions", doc.doc_id))?;
    let mut roots: Vec<pb::NodeInput> = first.roots.into_iter().map(|n| n.into_input()).collect();
    let mut effective = first.effective_time;
    let mut n = 0;
    let mut next = Some(first.changes);
    while next.is_some() {
        let put = pb::PutDocumentRequest {
            doc_id: doc.doc_id.clone(),
            name: doc.name.clone(),
            description: doc.description.clone(),
            roots: roots.clone(),
            overwrite: n > 0,
            effective_time: Some(effective),
            message: format!("corpus version {}", n + 1),
            ..Default::default()
        };
        with_backoff(|| {
            let (mut c, put) = (c.clone(), put.clone());
            async move { c.put_document(put).await }
        })
        .await
        .map_err(|s| format!("PutDocument {} version {}: {s}", doc.doc_id, n + 1))?;
        n += 1;
        next = versions.next().map(|v| {
            effective = v.effective_time;
            v.changes
        });
        if let Some(changes) = &next {
            let found = apply(&mut roots, changes);
            if found != changes.len() {
                return Err(format!("{}: a version changes unknown nodes", doc.doc_id).into());
            }
        }
    }
    Ok(n)
}

async fn add_xref(c: &mut TreeStoreClient<Channel>, line: &str) -> Result<usize, BoxErr> {
    let f: Vec<&str> = line.split('\t').collect();
    let [from_doc, from_node, to_doc, to_node, kind, label] = f[..] else {
        return Err(
            format!("bad cross-reference line {line:?}: want 6 tab-separated fields").into(),
        );
    };
    let add = pb::AddCrossReferenceRequest {
        reference: Some(pb::CrossReference {
            from_doc_id: from_doc.into(),
            from_node_id: from_node.into(),
            to_doc_id: to_doc.into(),
            to_node_id: to_node.into(),
            kind: kind.into(),
            label: label.into(),
            ..Default::default()
        }),
    };
    with_backoff(|| {
        let (mut c, add) = (c.clone(), add.clone());
        async move { c.add_cross_reference(add).await }
    })
    .await
    .map_err(|s| format!("AddCrossReference {line:?}: {s}"))?;
    Ok(1)
}

#[derive(Clone, Copy)]
enum Kind {
    Docs,
    Xrefs,
    Prewarm,
}

#[derive(Deserialize)]
struct DocVersions {
    doc_id: String,
    versions: Vec<serde::de::IgnoredAny>,
}

/// Reads every version of one document's whole tree; returns the number of reads.
async fn read_doc(c: &mut TreeStoreClient<Channel>, line: &str) -> Result<usize, BoxErr> {
    let doc: DocVersions =
        serde_json::from_str(line).map_err(|e| format!("bad document line: {e}"))?;
    for v in 1..=doc.versions.len() as u64 {
        let read = pb::GetSubtreeRequest {
            doc_id: doc.doc_id.clone(),
            include_text: true,
            read_at: Some(pb::ReadAt {
                at: Some(pb::read_at::At::Version(v)),
            }),
            ..Default::default()
        };
        with_backoff(|| {
            let (mut c, read) = (c.clone(), read.clone());
            async move { c.get_subtree(read).await }
        })
        .await
        .map_err(|s| format!("GetSubtree {} version {v}: {s}", doc.doc_id))?;
    }
    Ok(doc.versions.len())
}

/// Sends every line of `path` through `clients` concurrent workers; returns (lines, requests).
async fn each_line(
    channels: &[Channel],
    clients: usize,
    path: &Path,
    kind: Kind,
) -> Result<(u64, u64), BoxErr> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (tx, rx) = mpsc::channel::<String>(4 * clients.max(1));
    let reader = tokio::task::spawn_blocking(move || -> Result<(), std::io::Error> {
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            if !line.is_empty() && tx.blocking_send(line).is_err() {
                break; // a worker failed: the error is reported from there
            }
        }
        Ok(())
    });
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = vec![];
    for i in 0..clients.max(1) {
        let rx = rx.clone();
        let done = done.clone();
        let name = path.display().to_string();
        let mut c = TreeStoreClient::new(channels[i % channels.len()].clone())
            .max_encoding_message_size(usize::MAX)
            .max_decoding_message_size(usize::MAX);
        workers.push(tokio::spawn(async move {
            let mut requests = 0u64;
            loop {
                let Some(line) = rx.lock().await.recv().await else {
                    return Ok::<u64, BoxErr>(requests);
                };
                let r = match kind {
                    Kind::Docs => put_doc(&mut c, &line).await,
                    Kind::Xrefs => add_xref(&mut c, &line).await,
                    Kind::Prewarm => read_doc(&mut c, &line).await,
                };
                match r {
                    Ok(n) => requests += n as u64,
                    Err(e) => {
                        rx.lock().await.close(); // stops the reader; the others drain and end
                        return Err(e);
                    }
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_multiple_of(2000) {
                    crate::report(&format!(
                        "  {} lines of {} ({:.0}/s)",
                        n,
                        name,
                        n as f64 / start.elapsed().as_secs_f64()
                    ));
                }
            }
        }));
    }
    let mut requests = 0;
    let mut first_err: Option<BoxErr> = None;
    for w in workers {
        match w.await? {
            Ok(r) => requests += r,
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    reader.await??;
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok((done.load(std::sync::atomic::Ordering::Relaxed), requests))
}

/// Loads the documents, then the cross references; prints and returns a summary line.
pub async fn load(
    channels: &[Channel],
    clients: usize,
    docs: &Path,
    xrefs: Option<&PathBuf>,
) -> Result<String, BoxErr> {
    let t0 = Instant::now();
    let (n_docs, n_versions) = each_line(channels, clients, docs, Kind::Docs).await?;
    let docs_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let n_xrefs = match xrefs {
        Some(p) => each_line(channels, clients, p, Kind::Xrefs).await?.1,
        None => 0,
    };
    let xrefs_s = t1.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"documents\": {n_docs}, \"versions\": {n_versions}, \"xrefs\": {n_xrefs}, \
         \"documents_seconds\": {docs_s:.1}, \"xrefs_seconds\": {xrefs_s:.1}, \
         \"load_seconds\": {:.1}}}",
        t0.elapsed().as_secs_f64()
    ))
}

/// Reads every version of every document once; returns a summary line.
pub async fn prewarm(channels: &[Channel], clients: usize, docs: &Path) -> Result<String, BoxErr> {
    let t0 = Instant::now();
    let (n_docs, reads) = each_line(channels, clients, docs, Kind::Prewarm).await?;
    Ok(format!(
        "{{\"documents\": {n_docs}, \"reads\": {reads}, \"prewarm_seconds\": {:.1}}}",
        t0.elapsed().as_secs_f64()
    ))
}
