//! The model's document tree: a plain map of nodes, edited in place. Every operation checks its
//! preconditions in the order the engine documents, so error kinds can be compared exactly.

use shards::*;
use std::collections::{BTreeMap, BTreeSet};

/// An engine error reduced to what the model predicts: its kind and the field or thing named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EK {
    NotFound(&'static str),
    Invalid(String),
    Exists(&'static str),
    Precondition,
    Conflict,
    Exhausted,
    Other(String),
}

pub type R<T> = std::result::Result<T, EK>;

pub fn ek(e: Error) -> EK {
    match e {
        Error::NotFound { what, .. } => EK::NotFound(what),
        Error::InvalidArgument { field, .. } => EK::Invalid(field),
        Error::AlreadyExists { what, .. } => EK::Exists(what),
        Error::FailedPrecondition(_) => EK::Precondition,
        Error::Conflict(_) => EK::Conflict,
        Error::ResourceExhausted(_) => EK::Exhausted,
        other => EK::Other(other.to_string()),
    }
}

pub fn invalid(f: &str) -> EK {
    EK::Invalid(f.to_string())
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Header {
    pub name: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub roots: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MNode {
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub content: NodeContent,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    pub header: Header,
    pub nodes: BTreeMap<String, MNode>,
}

/// What an edit wrote: the header and/or these node ids (a transaction's write set).
#[derive(Clone, Debug, Default)]
pub struct Touch {
    pub header: bool,
    pub nodes: BTreeSet<String>,
}

impl Touch {
    fn parent(&mut self, parent: Option<&str>) {
        match parent {
            None => self.header = true,
            Some(p) => {
                self.nodes.insert(p.to_string());
            }
        }
    }
}

fn extra_ok(c: &NodeContent) -> bool {
    c.extra_json.is_empty()
        || matches!(
            serde_json::from_str::<serde_json::Value>(&c.extra_json),
            Ok(serde_json::Value::Object(_))
        )
}

/// Pre-order ids of an input forest, checking content and duplicates as the engine does.
fn check_input(roots: &[NodeInput]) -> R<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut ids = vec![];
    let mut stack: Vec<&NodeInput> = roots.iter().rev().collect();
    while let Some(n) = stack.pop() {
        if !extra_ok(&n.content) {
            return Err(invalid("extra_json"));
        }
        if !seen.insert(n.node_id.clone()) {
            return Err(invalid("node_id"));
        }
        ids.push(n.node_id.clone());
        stack.extend(n.children.iter().rev());
    }
    Ok(ids)
}

impl Tree {
    pub fn siblings(&self, parent: Option<&str>) -> &Vec<String> {
        match parent {
            None => &self.header.roots,
            Some(p) => &self.nodes[p].children,
        }
    }

    fn siblings_mut(&mut self, parent: Option<&str>) -> &mut Vec<String> {
        match parent {
            None => &mut self.header.roots,
            Some(p) => &mut self.nodes.get_mut(p).expect("parent").children,
        }
    }

    pub fn position(&self, id: &str) -> u32 {
        let p = self.nodes[id].parent.as_deref();
        self.siblings(p)
            .iter()
            .position(|s| s == id)
            .expect("in parent") as u32
    }

    fn must(&self, id: &str) -> R<&MNode> {
        self.nodes.get(id).ok_or(EK::NotFound("node"))
    }

    pub fn view(&self, id: &str, text: bool) -> NodeView {
        let n = &self.nodes[id];
        let mut content = n.content.clone();
        if !text {
            content.text = None;
        }
        NodeView {
            node_id: id.to_string(),
            parent_id: n.parent.clone(),
            position: self.position(id),
            content,
            has_children: !n.children.is_empty(),
            children: vec![],
        }
    }

    pub fn get_node(&self, id: &str, text: bool) -> R<NodeView> {
        self.must(id)?;
        Ok(self.view(id, text))
    }

    pub fn children(&self, parent: Option<&str>, text: bool) -> R<Vec<NodeView>> {
        if let Some(p) = parent {
            self.must(p)?;
        }
        Ok(self
            .siblings(parent)
            .iter()
            .map(|c| self.view(c, text))
            .collect())
    }

    fn build(&self, id: &str, depth: usize, text: bool) -> NodeView {
        let mut v = self.view(id, text);
        if depth > 1 {
            v.children = self.nodes[id]
                .children
                .iter()
                .map(|c| self.build(c, depth - 1, text))
                .collect();
        }
        v
    }

    pub fn subtree(&self, root: Option<&str>, max_depth: usize, text: bool) -> R<Vec<NodeView>> {
        let depth = if max_depth == 0 {
            usize::MAX
        } else {
            max_depth
        };
        match root {
            Some(r) => {
                self.must(r)?;
                Ok(vec![self.build(r, depth, text)])
            }
            None => Ok(self
                .header
                .roots
                .iter()
                .map(|r| self.build(r, depth, text))
                .collect()),
        }
    }

    pub fn ancestors(&self, id: &str, text: bool) -> R<Vec<NodeView>> {
        let mut out = vec![];
        let mut cur = self.must(id)?.parent.clone();
        while let Some(p) = cur {
            out.push(self.view(&p, text));
            cur = self.nodes[&p].parent.clone();
        }
        out.reverse();
        Ok(out)
    }

    /// `id` and its descendants, pre-order.
    pub fn subtree_ids(&self, id: &str) -> Vec<String> {
        let mut out = vec![];
        let mut stack = vec![id.to_string()];
        while let Some(n) = stack.pop() {
            stack.extend(self.nodes[&n].children.iter().rev().cloned());
            out.push(n);
        }
        out
    }

    fn write_tree(&mut self, parent: Option<&str>, nodes: &[NodeInput], touch: &mut Touch) {
        for n in nodes {
            self.nodes.insert(
                n.node_id.clone(),
                MNode {
                    parent: parent.map(str::to_string),
                    children: n.children.iter().map(|c| c.node_id.clone()).collect(),
                    content: n.content.clone(),
                },
            );
            touch.nodes.insert(n.node_id.clone());
            self.write_tree(Some(&n.node_id), &n.children, touch);
        }
    }

    /// Replaces the whole tree and header.
    pub fn put(&mut self, d: &DocumentInput) -> R<Touch> {
        let ids: BTreeSet<String> = check_input(&d.roots)?.into_iter().collect();
        let mut touch = Touch {
            header: true,
            ..Default::default()
        };
        touch
            .nodes
            .extend(self.nodes.keys().filter(|k| !ids.contains(*k)).cloned());
        self.nodes.clear();
        self.write_tree(None, &d.roots, &mut touch);
        self.header = Header {
            name: d.name.clone(),
            description: d.description.clone(),
            metadata: d.metadata.clone(),
            roots: d.roots.iter().map(|n| n.node_id.clone()).collect(),
        };
        Ok(touch)
    }

    fn place(siblings: &mut Vec<String>, pos: Option<u32>, id: &str) -> R<()> {
        let at = match pos {
            None => siblings.len(),
            Some(p) if p as usize <= siblings.len() => p as usize,
            Some(_) => return Err(invalid("position")),
        };
        siblings.insert(at, id.to_string());
        Ok(())
    }

    pub fn insert(&mut self, parent: Option<&str>, pos: Option<u32>, node: &NodeInput) -> R<Touch> {
        if let Some(p) = parent {
            self.must(p)?;
        }
        let ids = check_input(std::slice::from_ref(node))?;
        if ids.iter().any(|i| self.nodes.contains_key(i)) {
            return Err(EK::Exists("node"));
        }
        let mut sib = self.siblings(parent).clone();
        Self::place(&mut sib, pos, &node.node_id)?;
        *self.siblings_mut(parent) = sib;
        let mut touch = Touch::default();
        touch.parent(parent);
        self.write_tree(parent, std::slice::from_ref(node), &mut touch);
        Ok(touch)
    }

    pub fn update(&mut self, id: &str, content: &NodeContent, mask: &FieldMask) -> R<Touch> {
        let mut c = self.must(id)?.content.clone();
        mask.apply(&mut c, content);
        if !extra_ok(&c) {
            return Err(invalid("extra_json"));
        }
        self.nodes.get_mut(id).expect("node").content = c;
        let mut touch = Touch::default();
        touch.nodes.insert(id.to_string());
        Ok(touch)
    }

    pub fn move_node(&mut self, id: &str, np: Option<&str>, pos: Option<u32>) -> R<Touch> {
        let old = self.must(id)?.parent.clone();
        if let Some(p) = np {
            self.must(p)?;
            let mut cur = Some(p.to_string());
            while let Some(c) = cur {
                if c == id {
                    return Err(EK::Precondition);
                }
                cur = self.nodes[&c].parent.clone();
            }
        }
        let mut old_sib = self.siblings(old.as_deref()).clone();
        old_sib.retain(|s| s != id);
        let mut new_sib = if old.as_deref() == np {
            old_sib.clone()
        } else {
            self.siblings(np).clone()
        };
        Self::place(&mut new_sib, pos, id)?;
        *self.siblings_mut(old.as_deref()) = old_sib;
        *self.siblings_mut(np) = new_sib;
        self.nodes.get_mut(id).expect("node").parent = np.map(str::to_string);
        let mut touch = Touch::default();
        touch.parent(old.as_deref());
        touch.parent(np);
        touch.nodes.insert(id.to_string());
        Ok(touch)
    }

    pub fn delete(&mut self, id: &str) -> R<(u64, Touch)> {
        let parent = self.must(id)?.parent.clone();
        let ids = self.subtree_ids(id);
        self.siblings_mut(parent.as_deref()).retain(|s| s != id);
        let mut touch = Touch::default();
        touch.parent(parent.as_deref());
        for i in &ids {
            self.nodes.remove(i);
            touch.nodes.insert(i.clone());
        }
        Ok((ids.len() as u64, touch))
    }

    /// Ids whose stored record (parent, children, content) differs between two trees.
    pub fn changed_ids(&self, other: &Tree) -> BTreeSet<String> {
        self.nodes
            .keys()
            .chain(other.nodes.keys())
            .filter(|k| self.nodes.get(*k) != other.nodes.get(*k))
            .cloned()
            .collect()
    }

    /// How many nodes `other` (the next version) inserted, removed, updated or moved relative
    /// to `self`: a node whose only change is its children list does not count; a node that
    /// kept its parent counts as moved when it is not in a longest common subsequence of the
    /// old and new order of the siblings both versions share (quadratic LCS here, apart from
    /// the server's own algorithm).
    pub fn nodes_changed(&self, other: &Tree) -> u64 {
        let mut changed = BTreeSet::new();
        let mut lists = vec![(&self.header.roots, &other.header.roots)];
        for (id, old) in &self.nodes {
            match other.nodes.get(id) {
                None => {
                    changed.insert(id.clone());
                }
                Some(new) => {
                    if new.parent != old.parent || new.content != old.content {
                        changed.insert(id.clone());
                    }
                    lists.push((&old.children, &new.children));
                }
            }
        }
        for id in other.nodes.keys() {
            if !self.nodes.contains_key(id) {
                changed.insert(id.clone());
            }
        }
        // Reorders among the siblings that did not change otherwise.
        let unchanged = |ids: &Vec<String>| -> Vec<String> {
            ids.iter()
                .filter(|id| !changed.contains(*id))
                .cloned()
                .collect()
        };
        let moved: usize = lists
            .iter()
            .map(|(old, new)| moved_by_lcs(&unchanged(old), &unchanged(new)).len())
            .sum();
        (changed.len() + moved) as u64
    }

    /// Panics unless every parent/child link agrees both ways and every node is reachable.
    pub fn assert_consistent(&self) {
        let mut reached = 0;
        let mut stack: Vec<(Option<String>, String)> = self
            .header
            .roots
            .iter()
            .map(|r| (None, r.clone()))
            .collect();
        while let Some((p, id)) = stack.pop() {
            let n = self.nodes.get(&id).expect("child exists");
            assert_eq!(n.parent, p, "parent of {id}");
            reached += 1;
            assert!(reached <= self.nodes.len(), "cycle or shared child");
            stack.extend(n.children.iter().map(|c| (Some(id.clone()), c.clone())));
        }
        assert_eq!(reached, self.nodes.len(), "unreachable nodes in {self:?}");
    }
}

/// Shared ids of `before` and `after` outside one longest common subsequence of the two.
fn moved_by_lcs(before: &[String], after: &[String]) -> Vec<String> {
    let a: Vec<&String> = before.iter().filter(|x| after.contains(x)).collect();
    let b: Vec<&String> = after.iter().filter(|x| before.contains(x)).collect();
    // lcs[i][j]: LCS length of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut kept) = (0, 0, BTreeSet::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            kept.insert(a[i].clone());
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    b.into_iter()
        .filter(|x| !kept.contains(*x))
        .cloned()
        .collect()
}

fn changed_fields(a: &NodeContent, b: &NodeContent) -> Vec<String> {
    let checks = [
        ("title", a.title == b.title),
        ("summary", a.summary == b.summary),
        ("text", a.text == b.text),
        ("start_page", a.start_page == b.start_page),
        ("end_page", a.end_page == b.end_page),
        ("line_num", a.line_num == b.line_num),
        ("extra_json", a.extra_json == b.extra_json),
    ];
    checks
        .iter()
        .filter(|(_, same)| !same)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// Every node added, removed, changed, or at a different (parent, position), by id.
pub fn diff(a: &Tree, b: &Tree, from: VersionNo, to: VersionNo) -> Diff {
    let mut d = Diff {
        from_version: from,
        to_version: to,
        ..Default::default()
    };
    let ids: BTreeSet<&String> = a.nodes.keys().chain(b.nodes.keys()).collect();
    for id in ids {
        match (a.nodes.get(id), b.nodes.get(id)) {
            (None, None) => {}
            (None, Some(_)) => d.added.push(id.clone()),
            (Some(_), None) => d.removed.push(id.clone()),
            (Some(x), Some(y)) => {
                let f = changed_fields(&x.content, &y.content);
                if !f.is_empty() {
                    d.changed.push((id.clone(), f));
                }
                let (px, py) = (a.position(id), b.position(id));
                if x.parent != y.parent || px != py {
                    d.moved.push(MovedNode {
                        node_id: id.clone(),
                        old_parent: x.parent.clone(),
                        old_position: px,
                        new_parent: y.parent.clone(),
                        new_position: py,
                    });
                }
            }
        }
    }
    d
}

/// Search hits of one tree, ordered by node id.
pub fn hits(doc: &str, t: &Tree, words: &[String]) -> Vec<SearchHit> {
    let mut out = vec![];
    for (id, n) in &t.nodes {
        let counts = shards::words::node_words(&n.content);
        let score: Option<u32> = words.iter().map(|w| counts.get(w).copied()).sum();
        if let Some(score) = score {
            out.push(SearchHit {
                doc_id: doc.to_string(),
                node_id: id.clone(),
                title: n.content.title.clone(),
                score,
            });
        }
    }
    out
}
