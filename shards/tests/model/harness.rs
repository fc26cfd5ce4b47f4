//! The model test's operations, their random generation, and the harness that runs each one
//! against an engine and against the model and compares the answers. Shared by the test over
//! `LocalRouter` (`model.rs`) and the one through the runtime (`model_runtime.rs`).
#![allow(dead_code)]

use super::state::Model;
use super::tree::{ek, R};
use crate::common::run;
use proptest::prelude::*;
use shards::engine::{Engine, ShardRouter};
use shards::request::{AfterImage, WriteOpts};
use shards::*;
use std::collections::BTreeMap;

pub const DOCS: [&str; 4] = ["d0", "d1", "d2", "x3"];
pub const NODES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
const VOCAB: [&str; 6] = ["alpha", "Beta", "gamma", "policy", "rate", "ALPHA"];
const WORDS: [&str; 6] = ["alpha", "beta", "gamma", "policy", "rate", "zeta"];
const TIME_SPAN: u32 = 40_000_000;

pub fn doc(i: u8) -> String {
    DOCS[i as usize % DOCS.len()].to_string()
}
pub fn node(i: u8) -> String {
    NODES[i as usize % NODES.len()].to_string()
}

#[derive(Clone, Debug)]
pub struct W {
    pub tx: Option<u8>,
    pub eff: Option<u32>,
    /// Who writes: `committer(by)`.
    pub by: u8,
}

/// The principals writing: "" stands for no principal (versions of older builds read so).
const COMMITTERS: [&str; 3] = ["", "alice", "bob"];

pub fn committer(by: u8) -> String {
    COMMITTERS[by as usize % COMMITTERS.len()].to_string()
}

#[derive(Clone, Debug)]
pub enum Op {
    Put(u8, bool, DocumentInput, W),
    DeleteDoc(u8, Option<u8>),
    Insert(u8, Option<u8>, Option<u8>, NodeInput, W),
    Update(u8, u8, NodeContent, FieldMask, W),
    Move(u8, u8, Option<u8>, Option<u8>, W),
    DeleteNode(u8, u8, W),
    GetDoc(u8, ReadAt, Option<u8>),
    GetNode(u8, u8, ReadAt, bool, Option<u8>),
    Children(u8, Option<u8>, ReadAt, bool, Option<u8>),
    Subtree(u8, Option<u8>, u8, bool, ReadAt, Option<u8>),
    Ancestors(u8, u8, ReadAt, bool, Option<u8>),
    ListDocs(u8, bool, Option<u8>, u8),
    ListVersions(u8, Option<u8>, u8),
    VersionAsOf(u8, u32, TimeAxis),
    Diff(u8, u8, u8),
    Search(Vec<u8>, Option<u8>, ReadAt, Option<(u8, u8)>, u8),
    AddXref(XrefKey, u8),
    RemoveXref(XrefKey),
    GetXrefs(u8, u8, Direction, u8, Option<u8>),
    StoreTool(u8, u8, bool, u8, u8, Vec<(u8, u8)>),
    GetTool(u8, u8, bool),
    Begin(u8, Option<u16>),
    /// Transaction slot, effective time, who commits (`committer`).
    Commit(Option<u8>, Option<u32>, u8),
    Rollback(Option<u8>),
    Stats,
}

fn content() -> impl Strategy<Value = NodeContent> {
    let words = prop::collection::vec(prop::sample::select(VOCAB.to_vec()), 1..3);
    (
        words,
        prop::option::of(prop::sample::select(VOCAB.to_vec())),
        prop::option::of(prop::sample::select(VOCAB.to_vec())),
        prop::option::of(0i64..3),
        prop_oneof![8 => Just(""), 1 => Just(r#"{"k":1}"#), 1 => Just("[1]")],
    )
        .prop_map(|(t, s, x, p, e)| NodeContent {
            title: t.join(" "),
            summary: s.map(str::to_string),
            text: x.map(|x| format!("{x} text")),
            start_page: p,
            extra_json: e.to_string(),
            ..Default::default()
        })
}

/// A forest of up to `n` nodes with distinct ids (or, now and then, one duplicate).
fn forest(n: usize) -> impl Strategy<Value = Vec<NodeInput>> {
    (
        Just(NODES.to_vec()).prop_shuffle(),
        prop::collection::vec((any::<u8>(), content()), 0..n),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(ids, specs, dup)| {
            // Node i hangs under the top level or under an earlier node.
            let mut parents = vec![];
            let mut nodes: Vec<NodeInput> = vec![];
            for (i, (p, c)) in specs.into_iter().enumerate() {
                let id = if dup && i > 0 { ids[0] } else { ids[i] };
                parents.push((p as usize) % (i + 1));
                nodes.push(NodeInput {
                    node_id: id.to_string(),
                    content: c,
                    children: vec![],
                });
            }
            let mut roots = vec![];
            while let Some(n) = nodes.pop() {
                let i = nodes.len();
                match parents[i] {
                    0 => roots.insert(0, n),
                    p => nodes[p - 1].children.insert(0, n),
                }
            }
            roots
        })
}

fn read_at() -> impl Strategy<Value = ReadAt> {
    prop_oneof![
        3 => Just(ReadAt::Latest),
        2 => (0u64..8).prop_map(ReadAt::Version),
        1 => (0..TIME_SPAN).prop_map(|t| ReadAt::AsOf { time: t as i64, axis: TimeAxis::Commit }),
        1 => (0..TIME_SPAN).prop_map(|t| ReadAt::AsOf { time: t as i64, axis: TimeAxis::Effective }),
    ]
}

fn opt_tx() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![3 => Just(None), 1 => any::<u8>().prop_map(Some)]
}

fn w() -> impl Strategy<Value = W> {
    (opt_tx(), prop::option::of(0..TIME_SPAN), 0u8..3).prop_map(|(tx, eff, by)| W { tx, eff, by })
}

fn pos() -> impl Strategy<Value = Option<u8>> {
    prop::option::of(0u8..4)
}

fn xref() -> impl Strategy<Value = XrefKey> {
    (0u8..4, 0u8..8, 0u8..2, 0u8..4, 0u8..8).prop_map(|(a, b, k, c, d)| XrefKey {
        from_doc: doc(a),
        from_node: node(b),
        kind: ["cites", "see"][k as usize].into(),
        to_doc: doc(c),
        to_node: node(d),
    })
}

pub fn op() -> impl Strategy<Value = Op> {
    let d = || 0u8..4;
    let n = || 0u8..8;
    let put = (d(), any::<bool>(), forest(6), prop::option::of(0u8..2), w()).prop_map(
        |(i, ow, roots, meta, w)| {
            let metadata: BTreeMap<String, String> = meta
                .map(|m| [("k".to_string(), format!("v{m}"))].into())
                .unwrap_or_default();
            Op::Put(
                i,
                ow,
                DocumentInput {
                    doc_id: doc(i),
                    name: format!("name {}", roots.len()),
                    metadata,
                    roots,
                    ..Default::default()
                },
                w,
            )
        },
    );
    let mask = prop::array::uniform7(any::<bool>()).prop_map(|m| FieldMask {
        title: m[0],
        summary: m[1],
        text: m[2],
        start_page: m[3],
        end_page: m[4],
        line_num: m[5],
        extra_json: m[6],
    });
    let axis = prop_oneof![Just(TimeAxis::Commit), Just(TimeAxis::Effective)];
    let dir = prop_oneof![
        Just(Direction::Outgoing),
        Just(Direction::Incoming),
        Just(Direction::Both)
    ];
    prop_oneof![
        4 => put,
        1 => (d(), prop::option::of(0u8..6)).prop_map(|(i, v)| Op::DeleteDoc(i, v)),
        4 => (d(), prop::option::of(n()), pos(), forest(3), w()).prop_filter_map(
            "one node", |(i, p, at, mut f, w)| (!f.is_empty()).then(|| Op::Insert(i, p, at, f.remove(0), w))),
        3 => (d(), n(), content(), mask, w()).prop_map(|(i, x, c, m, w)| Op::Update(i, x, c, m, w)),
        3 => (d(), n(), prop::option::of(n()), pos(), w()).prop_map(|(i, x, p, at, w)| Op::Move(i, x, p, at, w)),
        2 => (d(), n(), w()).prop_map(|(i, x, w)| Op::DeleteNode(i, x, w)),
        1 => (d(), read_at(), opt_tx()).prop_map(|(i, at, t)| Op::GetDoc(i, at, t)),
        2 => (d(), n(), read_at(), any::<bool>(), opt_tx()).prop_map(|(i, x, at, t, tx)| Op::GetNode(i, x, at, t, tx)),
        1 => (d(), prop::option::of(n()), read_at(), any::<bool>(), opt_tx()).prop_map(|(i, x, at, t, tx)| Op::Children(i, x, at, t, tx)),
        2 => (d(), prop::option::of(n()), 0u8..4, any::<bool>(), read_at(), opt_tx()).prop_map(|(i, x, m, t, at, tx)| Op::Subtree(i, x, m, t, at, tx)),
        1 => (d(), n(), read_at(), any::<bool>(), opt_tx()).prop_map(|(i, x, at, t, tx)| Op::Ancestors(i, x, at, t, tx)),
        1 => (0u8..4, any::<bool>(), prop::option::of(d()), 0u8..4).prop_map(|(p, m, a, s)| Op::ListDocs(p, m, a, s)),
        1 => (d(), prop::option::of(0u8..5), 0u8..4).prop_map(|(i, a, l)| Op::ListVersions(i, a, l)),
        1 => (d(), 0..TIME_SPAN, axis).prop_map(|(i, t, a)| Op::VersionAsOf(i, t, a)),
        1 => (d(), 0u8..7, 0u8..7).prop_map(|(i, a, b)| Op::Diff(i, a, b)),
        2 => (prop::collection::vec(0u8..6, 0..4), prop::option::of(d()), read_at(), prop::option::of((d(), n())), 0u8..5)
            .prop_map(|(ws, i, at, after, l)| Op::Search(ws, i, at, after, l)),
        2 => (xref(), 0u8..3).prop_map(|(k, l)| Op::AddXref(k, l)),
        1 => xref().prop_map(Op::RemoveXref),
        2 => (d(), n(), dir, 0u8..4, prop::option::of(0u8..2)).prop_map(|(i, x, r, h, k)| Op::GetXrefs(i, x, r, h, k)),
        1 => (0u8..2, 0u8..3, any::<bool>(), 0u8..8, 0u8..6, prop::collection::vec((d(), 0u8..4), 0..3))
            .prop_map(|(t, q, f, bad, ttl, deps)| Op::StoreTool(t, q, f, bad, ttl, deps)),
        1 => (0u8..2, 0u8..3, any::<bool>()).prop_map(|(t, q, f)| Op::GetTool(t, q, f)),
        2 => (d(), prop::option::of(prop_oneof![Just(0u16), Just(1500), Just(4000)])).prop_map(|(i, t)| Op::Begin(i, t)),
        2 => (prop::option::of(any::<u8>()), prop::option::of(0..TIME_SPAN), 0u8..3).prop_map(|(t, e, by)| Op::Commit(t, e, by)),
        1 => prop::option::of(any::<u8>()).prop_map(Op::Rollback),
        1 => Just(Op::Stats),
    ]
}

/// A step: advance the clock by `dt` tenths of a second (0 repeats a time), then run `op`.
pub fn steps(max: usize) -> impl Strategy<Value = Vec<(u8, Op)>> {
    prop::collection::vec((0u8..16, op()), 1..max)
}

pub struct Harness<'a, Router: ShardRouter> {
    pub e: &'a Engine<Router>,
    pub m: Model,
    /// Engine ids of the transactions the model knows, by slot.
    pub txn_ids: Vec<String>,
    /// Prefix of every document id and tool name this harness uses: clients with distinct
    /// prefixes never touch each other's documents, links or tool results.
    pub ns: String,
    /// Other clients write beside this one: shard-wide reads that would see their documents
    /// (statistics, search without a document) are not run.
    pub shared: bool,
}

fn tool_args(q: u8, flip: bool, bad: bool) -> String {
    if bad {
        return "{bad".into();
    }
    match flip {
        false => format!(r#"{{"q": "w{q}", "depth": 2}}"#),
        true => format!(r#"{{"depth":2,"q":"w{q}"}}"#),
    }
}

macro_rules! check {
    ($got:expr, $want:expr, $ctx:expr) => {{
        let got: R<_> = $got.map_err(ek);
        let want: R<_> = $want;
        prop_assert_eq!(got, want, "{:?}", $ctx);
    }};
}

impl<'a, Router: ShardRouter> Harness<'a, Router> {
    /// A harness with an empty model at `now`, alone on `e` unless `shared`.
    pub fn new(e: &'a Engine<Router>, now: Micros, ns: &str, shared: bool) -> Self {
        Harness {
            e,
            m: Model {
                now,
                ..Default::default()
            },
            txn_ids: vec![],
            ns: ns.to_string(),
            shared,
        }
    }

    /// Document `i` of this harness.
    pub fn doc(&self, i: u8) -> String {
        format!("{}{}", self.ns, doc(i))
    }

    fn key(&self, k: XrefKey) -> XrefKey {
        XrefKey {
            from_doc: format!("{}{}", self.ns, k.from_doc),
            to_doc: format!("{}{}", self.ns, k.to_doc),
            ..k
        }
    }

    fn tool(&self, t: u8) -> String {
        format!("{}tool{t}", self.ns)
    }

    fn slot(&self, tx: Option<u8>) -> (Option<String>, Option<usize>) {
        match tx {
            None => (None, None),
            Some(_) if self.txn_ids.is_empty() => (Some("t0-0-999".into()), None),
            Some(t) => {
                let i = t as usize % self.txn_ids.len();
                (Some(self.txn_ids[i].clone()), Some(i))
            }
        }
    }

    fn opts(&self, w: &W) -> (WriteOpts, Option<usize>) {
        let (txn, slot) = self.slot(w.tx);
        let o = WriteOpts {
            txn,
            effective_time: w.eff.map(|t| t as i64),
            message: String::new(),
            commit_time: None,
            committed_by: committer(w.by),
        };
        (o, slot)
    }

    /// A write: through the model's transaction when `w.tx`, else committed at once.
    fn model_write(
        &mut self,
        d: &str,
        w: &W,
        creates: bool,
        create_only: bool,
        op: impl FnOnce(&mut super::tree::Tree) -> R<(u64, super::tree::Touch)>,
    ) -> R<shards::engine::WriteResult> {
        let (o, slot) = self.opts(w);
        self.m.by = o.committed_by;
        match o.txn {
            Some(_) => self.m.txn_write(slot, d, creates, create_only, op),
            None => self
                .m
                .write(d, creates, o.effective_time, "", |t| op(t).map(|r| r.0)),
        }
    }

    /// A node write's expected answer: the model's result with the node as it now reads
    /// (through the transaction, or at the latest version), text included.
    fn node_after(
        &mut self,
        want: R<shards::engine::WriteResult>,
        d: &str,
        x: &str,
        w: &W,
    ) -> R<shards::engine::WriteResult> {
        let mut r = want?;
        let node = self.model_read(d, ReadAt::Latest, w.tx, |t| t.get_node(x, true))?;
        r.after = Some(AfterImage::Node(node));
        Ok(r)
    }

    /// A read: through a transaction (its snapshot plus its writes) or at `at`.
    fn model_read<T>(
        &mut self,
        d: &str,
        at: ReadAt,
        tx: Option<u8>,
        f: impl FnOnce(&super::tree::Tree) -> R<T>,
    ) -> R<T> {
        let (txn, slot) = self.slot(tx);
        if txn.is_none() {
            return f(&self.m.resolve(d, at)?.tree);
        }
        if at != ReadAt::Latest {
            return Err(super::tree::invalid("read_at"));
        }
        let (i, _) = self.m.txn_view(slot, d)?;
        f(&self.m.txns[i].tree)
    }

    pub fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let e = self.e;
        match op.clone() {
            Op::Put(i, overwrite, mut input, w) => {
                let d = self.doc(i);
                input.doc_id = d.clone();
                let (o, _) = self.opts(&w);
                let got = run(e.put_document(input.clone(), overwrite, o.clone())).map(|r| r.1);
                let want = if !overwrite && o.txn.is_none() && self.m.live(&d).is_some() {
                    Err(super::tree::EK::Exists("document"))
                } else {
                    self.model_write(&d, &w, true, !overwrite, |t| t.put(&input).map(|x| (0, x)))
                };
                // A put outside a transaction answers with the document it made.
                let want = match want {
                    Ok(mut r) if o.txn.is_none() => {
                        self.m.document(&d, ReadAt::Latest).map(|doc| {
                            r.after = Some(AfterImage::Document(doc));
                            r
                        })
                    }
                    other => other,
                };
                check!(got, want, op);
            }
            Op::DeleteDoc(i, v) => {
                let d = self.doc(i);
                let got = run(e.delete_document(&d, v.map(u64::from)));
                check!(got, self.m.delete_document(&d, v.map(u64::from)), op);
            }
            Op::Insert(i, p, at, n, w) => {
                let (d, p) = (self.doc(i), p.map(node));
                let (o, _) = self.opts(&w);
                let got = run(e.insert_node(&d, p.clone(), at.map(u32::from), n.clone(), o));
                let want = self.model_write(&d, &w, false, false, |t| {
                    t.insert(p.as_deref(), at.map(u32::from), &n)
                        .map(|x| (0, x))
                });
                let want = self.node_after(want, &d, &n.node_id, &w);
                check!(got, want, op);
            }
            Op::Update(i, x, c, mask, w) => {
                let (d, x) = (self.doc(i), node(x));
                let (o, _) = self.opts(&w);
                let got = run(e.update_node(&d, &x, c.clone(), mask.clone(), o));
                let want = self.model_write(&d, &w, false, false, |t| {
                    t.update(&x, &c, &mask).map(|x| (0, x))
                });
                let want = self.node_after(want, &d, &x, &w);
                check!(got, want, op);
            }
            Op::Move(i, x, p, at, w) => {
                let (d, x, p) = (self.doc(i), node(x), p.map(node));
                let (o, _) = self.opts(&w);
                let got = run(e.move_node(&d, &x, p.clone(), at.map(u32::from), o));
                let want = self.model_write(&d, &w, false, false, |t| {
                    t.move_node(&x, p.as_deref(), at.map(u32::from))
                        .map(|x| (0, x))
                });
                let want = self.node_after(want, &d, &x, &w);
                check!(got, want, op);
            }
            Op::DeleteNode(i, x, w) => {
                let (d, x) = (self.doc(i), node(x));
                let (o, _) = self.opts(&w);
                let got = run(e.delete_node(&d, &x, o));
                let want = self.model_write(&d, &w, false, false, |t| t.delete(&x));
                check!(got, want, op);
            }
            Op::GetDoc(i, at, tx) => {
                let d = self.doc(i);
                let got = run(e.get_document(&d, at, self.slot(tx).0));
                let want = match self.slot(tx) {
                    (None, _) => self.m.document(&d, at),
                    (Some(_), _) if at != ReadAt::Latest => Err(super::tree::invalid("read_at")),
                    (Some(_), slot) => self.m.txn_view(slot, &d).map(|r| r.1),
                };
                check!(got, want, op);
            }
            Op::GetNode(i, x, at, text, tx) => {
                let (d, x) = (self.doc(i), node(x));
                let got = run(e.get_node(&d, &x, at, text, self.slot(tx).0));
                check!(
                    got,
                    self.model_read(&d, at, tx, |t| t.get_node(&x, text)),
                    op
                );
            }
            Op::Children(i, x, at, text, tx) => {
                let (d, x) = (self.doc(i), x.map(node));
                let got = run(e.get_children(&d, x.clone(), at, text, self.slot(tx).0));
                check!(
                    got,
                    self.model_read(&d, at, tx, |t| t.children(x.as_deref(), text)),
                    op
                );
            }
            Op::Subtree(i, x, depth, text, at, tx) => {
                let (d, x) = (self.doc(i), x.map(node));
                let got =
                    run(e.get_subtree(&d, x.clone(), depth as usize, text, at, self.slot(tx).0));
                let want = self.model_read(&d, at, tx, |t| {
                    t.subtree(x.as_deref(), depth as usize, text)
                });
                check!(got, want, op);
            }
            Op::Ancestors(i, x, at, text, tx) => {
                let (d, x) = (self.doc(i), node(x));
                let got = run(e.get_ancestors(&d, &x, at, text, self.slot(tx).0));
                check!(
                    got,
                    self.model_read(&d, at, tx, |t| t.ancestors(&x, text)),
                    op
                );
            }
            Op::ListDocs(p, meta, after, size) => {
                let prefix = format!("{}{}", self.ns, ["", "d", "d1", "x"][p as usize]);
                let prefix = prefix.as_str();
                let filter: BTreeMap<String, String> = if meta {
                    [("k".to_string(), "v1".to_string())].into()
                } else {
                    BTreeMap::new()
                };
                let after = after.map(|i| self.doc(i));
                let got = run(e.list_documents(
                    &Default::default(),
                    prefix,
                    filter.clone(),
                    after.clone(),
                    size as usize,
                    1000,
                ));
                let want = self
                    .m
                    .list_documents(prefix, &filter, after.as_deref(), size as usize);
                check!(got, Ok(want), op);
            }
            Op::ListVersions(i, after, limit) => {
                let (d, after) = (self.doc(i), after.map(u64::from));
                let got = run(e.list_versions(&d, after, limit as usize));
                check!(got, self.m.list_versions(&d, after, limit as usize), op);
            }
            Op::VersionAsOf(i, t, axis) => {
                let d = self.doc(i);
                let got = run(e.version_as_of(&d, t as i64, axis));
                let at = ReadAt::AsOf {
                    time: t as i64,
                    axis,
                };
                check!(got, self.m.resolve(&d, at).map(|v| v.v.clone()), op);
            }
            Op::Diff(i, a, b) => {
                let d = self.doc(i);
                let got = run(e.diff(&d, a as u64, b as u64));
                check!(got, self.m.diff(&d, a as u64, b as u64), op);
            }
            Op::Search(_, None, ..) if self.shared => {}
            Op::Search(ws, i, at, after, limit) => {
                let query: Vec<&str> = ws.iter().map(|w| WORDS[*w as usize]).collect();
                let mut words: Vec<String> = vec![];
                for w in &query {
                    if !words.iter().any(|x| x == w) {
                        words.push(w.to_string());
                    }
                }
                let token = after.map(|(a, b)| format!("{}\u{1}{}", self.doc(a), node(b)));
                let got = run(e.search(
                    &query.join(" "),
                    i.map(|i| self.doc(i)),
                    &Default::default(),
                    at,
                    token,
                    limit as usize,
                ));
                let after = after.map(|(a, b)| (self.doc(a), node(b)));
                let after = after.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
                let want = self.m.search(
                    &words,
                    i.map(|i| self.doc(i)).as_deref(),
                    at,
                    after,
                    limit as usize,
                );
                check!(got, want, op);
            }
            Op::AddXref(k, l) => {
                let k = self.key(k);
                let got = run(e.add_xref(k.clone(), format!("label{l}"))).map(|_| ());
                check!(got, self.m.add_xref(k, format!("label{l}")), op);
            }
            Op::RemoveXref(k) => {
                let k = self.key(k);
                let got = run(e.remove_xref(k.clone()));
                check!(got, self.m.remove_xref(&k), op);
            }
            Op::GetXrefs(i, x, dir, hops, kind) => {
                let (d, x) = (self.doc(i), node(x));
                let kind = kind.map(|k| ["cites", "see"][k as usize].to_string());
                let got =
                    run(e.get_xrefs(&d, &x, dir, hops as u32, kind.clone(), &|_| true)).map(|v| {
                        v.into_iter()
                            .map(|c| (c.key, c.label, c.hops))
                            .collect::<Vec<_>>()
                    });
                check!(
                    got,
                    Ok(self.m.get_xrefs(&d, &x, dir, hops as u32, kind.as_deref())),
                    op
                );
            }
            Op::StoreTool(t, q, flip, bad, ttl, deps) => {
                let tool = self.tool(t);
                let args = tool_args(q, flip, bad == 0);
                let result = if bad == 1 {
                    "{nope"
                } else {
                    r#"{"hits": [1, 2]}"#
                };
                let deps: Vec<DocRef> = deps
                    .iter()
                    .map(|(d, v)| DocRef {
                        doc_id: self.doc(*d),
                        version: *v as u64,
                    })
                    .collect();
                let got = run(e.store_tool_result(&tool, &args, result, ttl as u64, deps.clone()));
                let want = self.model_store_tool(tool, q, bad, result, ttl, deps);
                check!(got, want, op);
            }
            Op::GetTool(t, q, flip) => {
                let got = run(e.get_tool_result(&self.tool(t), &tool_args(q, flip, false)));
                check!(
                    got,
                    Ok(self.m.get_tool(&(self.tool(t), format!("w{q}")))),
                    op
                );
            }
            Op::Begin(i, timeout) => {
                let d = self.doc(i);
                let got = run(e.begin(&d, timeout.map(u64::from)));
                let (snap, slot) = self.m.begin(&d, timeout.map(u64::from));
                prop_assert_eq!(got.as_ref().map(|r| r.1).map_err(|e| e.clone()), Ok(snap));
                let id = got.expect("checked").0;
                self.m.txns[slot].id = id.clone();
                self.txn_ids.push(id);
            }
            Op::Commit(tx, eff, by) => {
                let (txn, slot) = self.slot(tx.or(Some(0)));
                let txn = if tx.is_none() {
                    "zzz".to_string()
                } else {
                    txn.expect("some")
                };
                let slot = if tx.is_none() { None } else { slot };
                let got = run(e.commit(
                    &txn,
                    &Default::default(),
                    eff.map(|t| t as i64),
                    String::new(),
                    committer(by),
                ));
                self.m.by = committer(by);
                check!(got, self.m.commit_txn(slot, eff.map(|t| t as i64), ""), op);
            }
            Op::Rollback(tx) => {
                let (txn, slot) = self.slot(tx.or(Some(0)));
                let txn = if tx.is_none() {
                    "t9-0-1".to_string()
                } else {
                    txn.expect("some")
                };
                let slot = if tx.is_none() { None } else { slot };
                check!(
                    run(e.rollback(&txn, &Default::default())),
                    self.m.rollback(slot),
                    op
                );
            }
            Op::Stats if self.shared => {}
            Op::Stats => {
                let s = run(e.stats()).expect("stats").total;
                let live: Vec<_> = self.m.docs.values().filter(|d| !d.deleted).collect();
                let nodes: u64 = live
                    .iter()
                    .map(|d| d.latest().tree.nodes.len() as u64)
                    .sum();
                prop_assert_eq!(
                    (s.documents, s.nodes, s.tool_results),
                    (live.len() as u64, nodes, self.m.tools.len() as u64)
                );
            }
        }
        Ok(())
    }

    fn model_store_tool(
        &mut self,
        tool: String,
        q: u8,
        bad: u8,
        result: &str,
        ttl: u8,
        deps: Vec<DocRef>,
    ) -> R<ToolResultRecord> {
        if bad == 0 {
            return Err(super::tree::invalid("args_json"));
        }
        if bad == 1 {
            return Err(super::tree::invalid("result_json"));
        }
        let mut resolved = vec![];
        for d in deps {
            let Some(cur) = self.m.doc_version(&d.doc_id) else {
                return Err(super::tree::EK::NotFound("document"));
            };
            let version = if d.version == 0 { cur } else { d.version };
            resolved.push(DocRef {
                doc_id: d.doc_id,
                version,
            });
        }
        let ttl = if ttl == 0 { 3600 } else { ttl as i64 };
        let rec = ToolResultRecord {
            result_json: result.to_string(),
            stored_at: self.m.now,
            expires_at: self.m.now + ttl * 1_000_000,
            depends_on: resolved,
        };
        self.m.tools.insert((tool, format!("w{q}")), rec.clone());
        Ok(rec)
    }
}
