//! Node-read responses encoded straight from a cached `DocTree`, without building `pb::Node`
//! messages: field by field in the order and with the defaults prost uses, so the bytes are
//! exactly those of the prost encoding of the same message (the tests check it).
//!
//! A subtree's nested lengths are computed first (children before their parents, one pass over
//! the subtree's slice of the pre-order layout), then the bytes are written in one pass.

use crate::pb;
use prost::encoding::{encode_varint, encoded_len_varint};
use prost::Message;
use shards::tree::DocTree;

// Field keys of `treestore.v1.Node`: (field number << 3) | wire type (0 varint, 2 bytes).
const NODE_ID: u8 = 1 << 3 | 2;
const PARENT_ID: u8 = 2 << 3 | 2;
const POSITION: u8 = 3 << 3;
const TITLE: u8 = 4 << 3 | 2;
const SUMMARY: u8 = 5 << 3 | 2;
const TEXT: u8 = 6 << 3 | 2;
const START_PAGE: u8 = 7 << 3;
const END_PAGE: u8 = 8 << 3;
const LINE_NUM: u8 = 9 << 3;
const EXTRA_JSON: u8 = 10 << 3 | 2;
const CHILDREN: u8 = 11 << 3 | 2;
const HAS_CHILDREN: u8 = 12 << 3;

/// Which nodes of a tree a response carries, and how.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Levels of nesting from each listed node: 1 = the node alone, 0 = unlimited.
    pub depth: usize,
    pub include_text: bool,
}

impl Shape {
    /// Single nodes, children not filled.
    pub fn flat(include_text: bool) -> Shape {
        Shape {
            depth: 1,
            include_text,
        }
    }
}

fn str_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + encoded_len_varint(s.len() as u64) + s.len()
    }
}

fn int_len(v: Option<i64>) -> usize {
    v.map_or(0, |v| 1 + encoded_len_varint(v as u64))
}

fn put_str(buf: &mut Vec<u8>, key: u8, s: &str) {
    if !s.is_empty() {
        buf.push(key);
        encode_varint(s.len() as u64, buf);
        buf.extend_from_slice(s.as_bytes());
    }
}

fn put_int(buf: &mut Vec<u8>, key: u8, v: Option<i64>) {
    if let Some(v) = v {
        buf.push(key);
        encode_varint(v as u64, buf);
    }
}

/// A length-delimited field's key and length prefix.
fn put_len(buf: &mut Vec<u8>, key: u8, len: usize) {
    buf.push(key);
    encode_varint(len as u64, buf);
}

fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Encodes nodes of one tree. With nesting, `lens[j - base]` is the encoded length of node `j`
/// with its nested children, for every node of the subtrees listed (`base` is the first one).
struct Encoder<'t> {
    tree: &'t DocTree,
    shape: Shape,
    base: u32,
    lens: Vec<u32>,
}

impl<'t> Encoder<'t> {
    /// An encoder for `nodes` of `tree` (and, nested, their subtrees).
    fn new(tree: &'t DocTree, shape: Shape, nodes: &[u32]) -> Self {
        let (base, end) = if shape.depth == 1 {
            (0, 0)
        } else {
            let base = nodes.iter().copied().min().unwrap_or(0);
            let end = nodes.iter().map(|i| tree.node(*i).end).max().unwrap_or(0);
            (base, end)
        };
        Encoder {
            tree,
            shape,
            base,
            lens: vec![0; end.saturating_sub(base) as usize],
        }
    }

    /// The measured length of node `i` with its nested children.
    fn nested_len(&self, i: u32) -> usize {
        self.lens[(i - self.base) as usize] as usize
    }

    fn max_depth(&self) -> usize {
        if self.shape.depth == 0 {
            usize::MAX
        } else {
            self.shape.depth
        }
    }

    /// Length of node `i`'s own fields (all but its children).
    fn own_len(&self, i: u32) -> usize {
        let n = self.tree.node(i);
        let c = &n.body.content;
        str_len(&n.body.id)
            + str_len(self.tree.parent_id(i))
            + if n.position == 0 {
                0
            } else {
                1 + encoded_len_varint(u64::from(n.position))
            }
            + str_len(&c.title)
            + str_len(c.summary.as_deref().unwrap_or(""))
            + if self.shape.include_text {
                str_len(c.text.as_deref().unwrap_or(""))
            } else {
                0
            }
            + int_len(c.start_page)
            + int_len(c.end_page)
            + int_len(c.line_num)
            + str_len(&c.extra_json)
            + if self.tree.has_children(i) { 2 } else { 0 }
    }

    /// Computes the encoded length of `root` with its children `depth - 1` levels down, and of
    /// each of those (children before parents).
    fn measure(&mut self, root: u32) -> usize {
        let max = self.max_depth();
        if max == 1 {
            return self.own_len(root);
        }
        let end = self.tree.node(root).end;
        // Depth of each node of the subtree below `root` (1 = root), in pre-order.
        let mut depth = vec![0usize; (end - root) as usize];
        depth[0] = 1;
        for j in root + 1..end {
            let p = self.tree.node(j).parent;
            depth[(j - root) as usize] = depth[(p - root) as usize] + 1;
        }
        for j in (root..end).rev() {
            let d = depth[(j - root) as usize];
            if d > max {
                continue;
            }
            let mut len = self.own_len(j);
            if d < max {
                for c in self.tree.children(Some(j)) {
                    len += field_len(self.nested_len(c));
                }
            }
            self.lens[(j - self.base) as usize] = len as u32;
        }
        self.nested_len(root)
    }

    /// Writes node `i` (measured) and its children down to `depth` levels.
    fn write(&self, buf: &mut Vec<u8>, i: u32, depth: usize) {
        let n = self.tree.node(i);
        let c = &n.body.content;
        put_str(buf, NODE_ID, &n.body.id);
        put_str(buf, PARENT_ID, self.tree.parent_id(i));
        if n.position != 0 {
            buf.push(POSITION);
            encode_varint(u64::from(n.position), buf);
        }
        put_str(buf, TITLE, &c.title);
        put_str(buf, SUMMARY, c.summary.as_deref().unwrap_or(""));
        if self.shape.include_text {
            put_str(buf, TEXT, c.text.as_deref().unwrap_or(""));
        }
        put_int(buf, START_PAGE, c.start_page);
        put_int(buf, END_PAGE, c.end_page);
        put_int(buf, LINE_NUM, c.line_num);
        put_str(buf, EXTRA_JSON, &c.extra_json);
        if depth > 1 {
            for ch in self.tree.children(Some(i)) {
                put_len(buf, CHILDREN, self.nested_len(ch));
                self.write(buf, ch, depth - 1);
            }
        }
        if self.tree.has_children(i) {
            buf.push(HAS_CHILDREN);
            buf.push(1);
        }
    }
}

/// The nodes a node-read response lists, encoded as repeated field `key` of the response.
struct Listed {
    key: u8,
    nodes: Vec<u32>,
    lens: Vec<usize>,
}

impl Listed {
    /// The encoded length of the field (every element with its key and length prefix).
    fn encoded_len(&self) -> usize {
        self.lens.iter().map(|l| field_len(*l)).sum()
    }
}

/// Nodes of `tree` as repeated message field `field` (a field number) of a response: each of
/// `nodes` with its children as `shape` says.
fn list(enc: &mut Encoder<'_>, field: u32, nodes: Vec<u32>) -> Listed {
    let lens = nodes.iter().map(|i| enc.measure(*i)).collect();
    Listed {
        key: (field << 3 | 2) as u8,
        nodes,
        lens,
    }
}

fn write_list(enc: &Encoder<'_>, buf: &mut Vec<u8>, listed: &Listed) {
    let depth = enc.max_depth();
    for (i, len) in listed.nodes.iter().zip(&listed.lens) {
        put_len(buf, listed.key, *len);
        enc.write(buf, *i, depth);
    }
}

/// A response made of repeated node field 1 plus scalar fields after it, encoded.
pub struct NodesReply<'t> {
    enc: Encoder<'t>,
    listed: Listed,
}

impl<'t> NodesReply<'t> {
    /// `nodes` of `tree` as field 1 of a response, each nested as `shape` says.
    pub fn new(tree: &'t DocTree, nodes: Vec<u32>, shape: Shape) -> Self {
        let mut enc = Encoder::new(tree, shape, &nodes);
        let listed = list(&mut enc, 1, nodes);
        NodesReply { enc, listed }
    }

    /// The response: the node field, then `tail` (the encoding of the response's other fields,
    /// all numbered after field 1).
    pub fn finish(self, tail: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.listed.encoded_len() + 32);
        write_list(&self.enc, &mut buf, &self.listed);
        tail(&mut buf);
        buf
    }
}

/// `GetNodeResponse { node, version }`.
pub fn get_node(tree: &DocTree, node: u32, include_text: bool) -> Vec<u8> {
    let version = tree.version;
    NodesReply::new(tree, vec![node], Shape::flat(include_text))
        .finish(|b| put_version(b, 2, version))
}

/// A `uint64 version` field, skipped when 0 as prost does.
pub fn put_version(buf: &mut Vec<u8>, field: u32, version: u64) {
    if version != 0 {
        buf.push((field << 3) as u8);
        encode_varint(version, buf);
    }
}

/// `GetDocumentResponse { document, roots }`: the document message (prost-encoded; it is small)
/// then, with `tree_shape`, every top-level node with its subtree as field 2.
pub fn get_document(tree: &DocTree, document: &pb::Document, tree_shape: Option<Shape>) -> Vec<u8> {
    let doc_len = document.encoded_len();
    let mut buf = Vec::new();
    let roots = tree_shape.map(|shape| {
        let tops: Vec<u32> = tree.children(None).collect();
        let mut enc = Encoder::new(tree, shape, &tops);
        let listed = list(&mut enc, 2, tops);
        (enc, listed)
    });
    buf.reserve(field_len(doc_len) + roots.as_ref().map_or(0, |(_, l)| l.encoded_len()));
    put_len(&mut buf, 1 << 3 | 2, doc_len);
    document.encode_raw(&mut buf);
    if let Some((enc, listed)) = roots {
        write_list(&enc, &mut buf, &listed);
    }
    buf
}

#[cfg(test)]
mod tests;
