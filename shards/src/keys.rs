//! Key layout of a shard's column family. Every key starts with a one-byte tag; ids are joined
//! with 0x00, which no id contains (see `Limits::check_id`). Versions in node and header keys are
//! stored inverted (`!v`, big-endian) so a forward seek to `(…, !v)` lands on the newest entry
//! at or below `v`: an as-of read is one seek, whatever the number of versions.
//! The table in ARCHITECTURE.md documents each key; keep the two in step.

use crate::model::{Micros, VersionNo};
use crate::{Error, Result};

pub const META: u8 = b'm';
pub const HEAD: u8 = b'h';
pub const HEADER: u8 = b'd';
pub const NODE: u8 = b'n';
pub const SHAPE: u8 = b's';
pub const VERSION: u8 = b'v';
pub const CHANGES: u8 = b'g';
pub const EFFECTIVE: u8 = b'e';
pub const COMMIT: u8 = b'c';
pub const WORD: u8 = b'w';
pub const XREF_OUT: u8 = b'o';
pub const XREF_IN: u8 = b'i';
pub const TOOL: u8 = b't';
pub const FEED: u8 = b'f';
pub const FEED_INDEX: u8 = b'q';

pub const APPLIED_LSN: &[u8] = b"mapplied_lsn";
/// The LSN up to which retention has removed change-feed events (absent = none removed).
pub const FEED_TRIMMED: &[u8] = b"mfeed_trimmed";

fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut k = Vec::with_capacity(len + 16);
    k.push(tag);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

/// `prefix` followed by the separator: all keys whose next component starts after `prefix`.
fn scope(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = key(tag, parts);
    k.push(0);
    k
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF; prefix.len() + 1]
}

pub fn ordered_time(t: Micros) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// The big-endian u64 that `b` holds; `b` must be exactly 8 bytes (anything else is damaged data).
pub fn be_u64(b: &[u8]) -> Result<u64> {
    let a: [u8; 8] = b.try_into().map_err(|_| {
        Error::DataLoss(format!(
            "expected an 8-byte integer, found {} bytes",
            b.len()
        ))
    })?;
    Ok(u64::from_be_bytes(a))
}

pub fn head(doc: &str) -> Vec<u8> {
    key(HEAD, &[doc.as_bytes()])
}

pub fn head_prefix(id_prefix: &str) -> Vec<u8> {
    key(HEAD, &[id_prefix.as_bytes()])
}

/// The document id of a head key; a key without the head tag is damaged data.
pub fn doc_from_head(k: &[u8]) -> Result<&[u8]> {
    match k.split_first() {
        Some((&HEAD, doc)) => Ok(doc),
        _ => Err(Error::DataLoss(format!("malformed head key {k:?}"))),
    }
}

pub fn header(doc: &str, v: VersionNo) -> Vec<u8> {
    let mut k = scope(HEADER, &[doc.as_bytes()]);
    k.extend_from_slice(&(!v).to_be_bytes());
    k
}

pub fn header_scope(doc: &str) -> Vec<u8> {
    scope(HEADER, &[doc.as_bytes()])
}

pub fn node(doc: &str, node: &str, v: VersionNo) -> Vec<u8> {
    let mut k = node_scope(doc, node);
    k.extend_from_slice(&(!v).to_be_bytes());
    k
}

/// All versions of one node's content.
pub fn node_scope(doc: &str, node: &str) -> Vec<u8> {
    scope(NODE, &[doc.as_bytes(), node.as_bytes()])
}

/// All node contents of one document.
pub fn doc_nodes_scope(doc: &str) -> Vec<u8> {
    scope(NODE, &[doc.as_bytes()])
}

pub fn shape(doc: &str, node: &str, v: VersionNo) -> Vec<u8> {
    let mut k = shape_scope(doc, node);
    k.extend_from_slice(&(!v).to_be_bytes());
    k
}

/// All versions of one node's shape.
pub fn shape_scope(doc: &str, node: &str) -> Vec<u8> {
    scope(SHAPE, &[doc.as_bytes(), node.as_bytes()])
}

/// All node shapes of one document.
pub fn doc_shapes_scope(doc: &str) -> Vec<u8> {
    scope(SHAPE, &[doc.as_bytes()])
}

/// The node id of a node or shape key of `doc` (between the document scope and the version).
pub fn node_of<'k>(doc_scope: &[u8], k: &'k [u8]) -> Option<&'k [u8]> {
    let rest = k.strip_prefix(doc_scope)?;
    let id_end = rest.len().checked_sub(9)?;
    (rest[id_end] == 0).then(|| &rest[..id_end])
}

/// Version number of a header, node or shape key (its last eight bytes, inverted). A key shorter
/// than a tag and eight bytes is damaged data.
pub fn inverted_version(k: &[u8]) -> Result<VersionNo> {
    let start = k
        .len()
        .checked_sub(8)
        .filter(|s| *s >= 1)
        .ok_or_else(|| Error::DataLoss(format!("versioned key {k:?} is too short")))?;
    Ok(!be_u64(&k[start..])?)
}

pub fn version(doc: &str, v: VersionNo) -> Vec<u8> {
    let mut k = version_scope(doc);
    k.extend_from_slice(&v.to_be_bytes());
    k
}

pub fn version_scope(doc: &str) -> Vec<u8> {
    scope(VERSION, &[doc.as_bytes()])
}

/// Ids of the nodes a version wrote.
pub fn changes(doc: &str, v: VersionNo) -> Vec<u8> {
    let mut k = changes_scope(doc);
    k.extend_from_slice(&v.to_be_bytes());
    k
}

pub fn changes_scope(doc: &str) -> Vec<u8> {
    scope(CHANGES, &[doc.as_bytes()])
}

/// Time index entry `(tag, doc, !time, !version)`, tag `EFFECTIVE` or `COMMIT`. Both parts are
/// inverted so the first key at or after `time_index(t, MAX)` is the newest version at or before
/// `t`, the greater version first among equal times.
pub fn time_index(tag: u8, doc: &str, t: Micros, v: VersionNo) -> Vec<u8> {
    let mut k = scope(tag, &[doc.as_bytes()]);
    k.extend_from_slice(&(!u64::from_be_bytes(ordered_time(t))).to_be_bytes());
    k.extend_from_slice(&(!v).to_be_bytes());
    k
}

pub fn time_index_scope(tag: u8, doc: &str) -> Vec<u8> {
    scope(tag, &[doc.as_bytes()])
}

pub fn word(word: &str, doc: &str, node: &str) -> Vec<u8> {
    key(WORD, &[word.as_bytes(), doc.as_bytes(), node.as_bytes()])
}

pub fn word_scope(word: &str, doc: Option<&str>) -> Vec<u8> {
    match doc {
        Some(d) => scope(WORD, &[word.as_bytes(), d.as_bytes()]),
        None => scope(WORD, &[word.as_bytes()]),
    }
}

/// Splits a key's components after the tag at 0x00 (for keys without binary suffixes). An empty
/// key has one empty component.
pub fn split(k: &[u8]) -> Vec<&[u8]> {
    k.get(1..).unwrap_or_default().split(|b| *b == 0).collect()
}

pub fn xref_out(x: &crate::XrefKey) -> Vec<u8> {
    key(
        XREF_OUT,
        &[
            x.from_doc.as_bytes(),
            x.from_node.as_bytes(),
            x.kind.as_bytes(),
            x.to_doc.as_bytes(),
            x.to_node.as_bytes(),
        ],
    )
}

pub fn xref_in(x: &crate::XrefKey) -> Vec<u8> {
    key(
        XREF_IN,
        &[
            x.to_doc.as_bytes(),
            x.to_node.as_bytes(),
            x.kind.as_bytes(),
            x.from_doc.as_bytes(),
            x.from_node.as_bytes(),
        ],
    )
}

/// All links stored under `(tag, doc)` or `(tag, doc, node)`.
pub fn xref_scope(tag: u8, doc: &str, node: Option<&str>) -> Vec<u8> {
    match node {
        Some(n) => scope(tag, &[doc.as_bytes(), n.as_bytes()]),
        None => scope(tag, &[doc.as_bytes()]),
    }
}

/// Decodes an `o` or `i` key back into the link it stores.
pub fn xref_from_key(k: &[u8]) -> Option<crate::XrefKey> {
    let parts = split(k);
    if parts.len() != 5 {
        return None;
    }
    let s = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    let (a, b, kind, c, d) = (
        s(parts[0])?,
        s(parts[1])?,
        s(parts[2])?,
        s(parts[3])?,
        s(parts[4])?,
    );
    Some(match *k.first()? {
        XREF_OUT => crate::XrefKey {
            from_doc: a,
            from_node: b,
            kind,
            to_doc: c,
            to_node: d,
        },
        XREF_IN => crate::XrefKey {
            to_doc: a,
            to_node: b,
            kind,
            from_doc: c,
            from_node: d,
        },
        _ => return None,
    })
}

pub fn tool(tool: &str, canonical_args: &str) -> Vec<u8> {
    key(TOOL, &[tool.as_bytes(), canonical_args.as_bytes()])
}

pub fn tool_scope() -> Vec<u8> {
    vec![TOOL]
}

/// `f lsn`: the change-feed event of the mutation logged at `lsn` (LSN big-endian, so the feed
/// is one key range in log order).
pub fn feed(lsn: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(FEED);
    k.extend_from_slice(&lsn.to_be_bytes());
    k
}

/// The LSN of a feed key (`None` when `k` is not one).
pub fn feed_lsn(k: &[u8]) -> Option<u64> {
    match k.split_first() {
        Some((&FEED, rest)) => rest.try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

/// `q doc \0 v`: the LSN of the feed event of version `v` of `doc` (version big-endian, so a
/// document's entries are in version order). Kept when the document is deleted; removed with
/// the event by retention.
pub fn feed_index(doc: &str, v: VersionNo) -> Vec<u8> {
    key(FEED_INDEX, &[doc.as_bytes(), &v.to_be_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_sort_first_within_a_node() {
        let v1 = node("d", "n", 1);
        let v2 = node("d", "n", 2);
        assert!(v2 < v1);
        assert_eq!(inverted_version(&v2), Ok(2));
        // A seek to version 5 lands on v2: the newest at or below 5.
        let seek = node("d", "n", 5);
        assert!(seek < v2);
    }

    #[test]
    fn scopes_do_not_bleed_into_longer_ids() {
        let s = node_scope("d", "n");
        let other = node("d", "n1", 1);
        assert!(!other.starts_with(&s));
        let docs = doc_nodes_scope("d");
        assert!(!node("dx", "n", 1).starts_with(&docs));
    }

    #[test]
    fn ordered_time_sorts_negative_before_positive() {
        assert!(ordered_time(-5) < ordered_time(0));
        assert!(ordered_time(0) < ordered_time(7));
        // The time index puts later times first, and the greater version first on a tie.
        assert!(time_index(EFFECTIVE, "d", 10, 1) < time_index(EFFECTIVE, "d", 5, 9));
        assert!(time_index(EFFECTIVE, "d", 5, 9) < time_index(EFFECTIVE, "d", 5, 2));
    }

    #[test]
    fn prefix_end_is_a_strict_upper_bound() {
        assert_eq!(prefix_end(b"ab"), b"ac".to_vec());
        assert_eq!(prefix_end(&[1, 0xFF]), vec![2]);
    }

    #[test]
    fn xref_keys_round_trip() {
        let x = crate::XrefKey {
            from_doc: "a".into(),
            from_node: "1".into(),
            kind: "cites".into(),
            to_doc: "b".into(),
            to_node: "2".into(),
        };
        assert_eq!(xref_from_key(&xref_out(&x)), Some(x.clone()));
        assert_eq!(xref_from_key(&xref_in(&x)), Some(x));
    }
}
