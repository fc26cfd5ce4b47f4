//! The word index read as sorted posting lists and intersected by leapfrog.
//!
//! A posting is a `keys::word(word, doc, node)` entry whose value is the word's occurrences in
//! the node (u32, big-endian). One word's postings are ordered by `(doc, node)`. A multi-word
//! search needs the nodes present in every list: each list seeks to the furthest position any
//! list has reached, so a rare word jumps through a frequent one (one seek per jump) and two
//! dense lists are read in runs, instead of the first word's list being walked posting by
//! posting with a point lookup of every other word at each.

use crate::error::{Error, Result};
use crate::keys;
use crate::store::KvRead;

/// Postings read per seek past the target: a run starts at `FIRST_RUN` and doubles (up to
/// `MAX_RUN`) while a quarter or more of each run is visited, so a list read densely costs few
/// seeks; it halves (down to `MIN_RUN`) while the other lists jump past the rest, so a list
/// skipped through does not read far past each jump.
const FIRST_RUN: usize = 64;
const MIN_RUN: usize = 16;
const MAX_RUN: usize = 1024;

/// A node's place in every posting list: `doc \0 node`, the key suffix after
/// `keys::word_scope(word, None)`. Byte order is `(doc, node)` order, as ids hold no `\0`.
pub type Position = Vec<u8>;

/// The smallest position after every position of `(doc, node)`.
pub fn position_after(doc: &str, node: &str) -> Position {
    let mut p = Vec::with_capacity(doc.len() + node.len() + 2);
    p.extend_from_slice(doc.as_bytes());
    p.push(0);
    p.extend_from_slice(node.as_bytes());
    p.push(0);
    p
}

/// The document and node parts of a position (exactly one `\0` in it).
fn parts(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let sep = p.iter().position(|b| *b == 0)?;
    let (doc, node) = (&p[..sep], &p[sep + 1..]);
    (!node.contains(&0)).then_some((doc, node))
}

/// `(doc, node)` of a position.
pub fn split_position(p: &[u8]) -> Option<(String, String)> {
    let (doc, node) = parts(p)?;
    Some((
        String::from_utf8_lossy(doc).into_owned(),
        String::from_utf8_lossy(node).into_owned(),
    ))
}

/// A cursor over one word's postings, in one document or all.
struct Postings<'a> {
    store: &'a dyn KvRead,
    /// `word_scope(word, None)`: a posting's key is `base` followed by its position.
    base: Vec<u8>,
    /// The list's first key (`word_scope(word, doc)`) and the end of its key range.
    start: Vec<u8>,
    end: Vec<u8>,
    /// Postings read ahead, ascending, as (position's range in `bytes`, count); `buf[at..]`
    /// are not yet passed. Reused from run to run (no allocation per posting).
    buf: Vec<(std::ops::Range<usize>, u32)>,
    bytes: Vec<u8>,
    at: usize,
    /// Postings the next run reads; postings of this run `seek` has returned (`visited`, the
    /// last at index `last_visited`).
    run: usize,
    visited: usize,
    last_visited: usize,
    /// No posting follows those in `buf`.
    exhausted: bool,
}

impl<'a> Postings<'a> {
    fn new(store: &'a dyn KvRead, word: &str, doc: Option<&str>) -> Self {
        let start = keys::word_scope(word, doc);
        Postings {
            store,
            base: keys::word_scope(word, None),
            end: keys::prefix_end(&start),
            start,
            buf: vec![],
            bytes: vec![],
            at: 0,
            run: FIRST_RUN,
            visited: 0,
            last_visited: usize::MAX,
            exhausted: false,
        }
    }

    /// The first posting at or after `target`: its position and count, or `None` when the list
    /// has none.
    fn seek(&mut self, target: &[u8]) -> Result<Option<(&[u8], u32)>> {
        while self.at < self.buf.len() && &self.bytes[self.buf[self.at].0.clone()] < target {
            self.at += 1;
        }
        if self.at == self.buf.len() && !self.exhausted {
            self.read_run(target)?;
        }
        if self.at < self.buf.len() && self.at != self.last_visited {
            self.visited += 1;
            self.last_visited = self.at;
        }
        Ok(self
            .buf
            .get(self.at)
            .map(|(p, c)| (&self.bytes[p.clone()], *c)))
    }

    /// Replaces the read-ahead with the next `run` postings at or after `target`, first sizing
    /// the run by how much of the last one was visited.
    fn read_run(&mut self, target: &[u8]) -> Result<()> {
        let mut from = self.base.clone();
        from.extend_from_slice(target);
        let from = from.max(self.start.clone());
        if !self.buf.is_empty() {
            self.run = if 4 * self.visited >= self.buf.len() {
                (2 * self.run).min(MAX_RUN)
            } else {
                (self.run / 2).max(MIN_RUN)
            };
        }
        self.visited = 0;
        self.last_visited = usize::MAX;
        self.buf.clear();
        self.bytes.clear();
        self.at = 0;
        let (base_len, run, buf, bytes) =
            (self.base.len(), self.run, &mut self.buf, &mut self.bytes);
        let mut seen = 0;
        // Every key in the range starts with `base` (it lies in `start`'s prefix range). A key
        // that is not `doc \0 node` after it would pass through as a position `split_position`
        // rejects; the index writes none.
        self.store.scan(&from, &self.end, &mut |k, v| {
            seen += 1;
            // A posting's value is its occurrence count, a 4-byte big-endian u32.
            let count = v.try_into().map(u32::from_be_bytes).map_err(|_| {
                Error::DataLoss(format!(
                    "posting {k:?}: count of {} bytes, expected 4",
                    v.len()
                ))
            })?;
            let position = k.get(base_len..).ok_or_else(|| {
                Error::DataLoss(format!("posting key {k:?} shorter than its word scope"))
            })?;
            let at = bytes.len();
            bytes.extend_from_slice(position);
            buf.push((at..bytes.len(), count));
            Ok(seen < run)
        })?;
        self.exhausted = seen < run;
        Ok(())
    }
}

/// Calls `hit(position, summed counts)` for every node holding all `words` (in `doc`, or in any
/// document), in position order, starting after `after`, until `hit` returns `false`.
pub fn intersect(
    store: &dyn KvRead,
    words: &[String],
    doc: Option<&str>,
    after: Option<(&str, &str)>,
    hit: &mut dyn FnMut(&[u8], u32) -> Result<bool>,
) -> Result<()> {
    let mut lists: Vec<Postings> = words.iter().map(|w| Postings::new(store, w, doc)).collect();
    if lists.is_empty() {
        return Ok(());
    }
    let mut target: Position = match after {
        Some((d, n)) => position_after(d, n),
        None => vec![],
    };
    loop {
        // Seek every list to `target`; a list positioned beyond it moves `target` there and
        // the round starts again. A round where no list moves found a node in all of them.
        let score = 'round: loop {
            let mut score = 0u32;
            for list in lists.iter_mut() {
                match list.seek(&target)? {
                    None => return Ok(()),
                    Some((p, count)) if p == target.as_slice() => {
                        score = score.saturating_add(count)
                    }
                    Some((p, _)) => {
                        target = p.to_vec();
                        continue 'round;
                    }
                }
            }
            break score;
        };
        if !hit(&target, score)? {
            return Ok(());
        }
        target.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use crate::store::{KvStore, WriteBatch};

    fn store_with(postings: &[(&str, &str, &str, u32)]) -> MemStore {
        let s = MemStore::new();
        let mut b = WriteBatch::default();
        for (w, d, n, c) in postings {
            b.put(keys::word(w, d, n), c.to_be_bytes().to_vec());
        }
        s.write(b).unwrap();
        s
    }

    fn all(
        s: &MemStore,
        words: &[&str],
        doc: Option<&str>,
        after: Option<(&str, &str)>,
    ) -> Vec<(String, String, u32)> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let mut out = vec![];
        intersect(s, &words, doc, after, &mut |p, c| {
            let (d, n) = split_position(p).unwrap();
            out.push((d, n, c));
            Ok(true)
        })
        .unwrap();
        out
    }

    #[test]
    fn intersects_in_position_order_with_summed_counts() {
        let mut p = vec![];
        // "a" in every node of two documents, "b" in a sparse few, "c" in one.
        for d in ["d1", "d2"] {
            for n in 0..300 {
                p.push(("a", d, format!("{n:04}"), 1));
            }
        }
        let owned: Vec<(String, String, String, u32)> = p
            .into_iter()
            .map(|(w, d, n, c)| (w.to_string(), d.to_string(), n, c))
            .chain([
                ("b".into(), "d1".into(), "0007".into(), 2),
                ("b".into(), "d1".into(), "0250".into(), 3),
                ("b".into(), "d2".into(), "0100".into(), 4),
                ("b".into(), "d3".into(), "0001".into(), 5),
                ("c".into(), "d1".into(), "0250".into(), 7),
            ])
            .collect();
        let refs: Vec<(&str, &str, &str, u32)> = owned
            .iter()
            .map(|(w, d, n, c)| (w.as_str(), d.as_str(), n.as_str(), *c))
            .collect();
        let s = store_with(&refs);
        let t = |d: &str, n: &str, c: u32| (d.to_string(), n.to_string(), c);
        assert_eq!(
            all(&s, &["a", "b"], None, None),
            vec![t("d1", "0007", 3), t("d1", "0250", 4), t("d2", "0100", 5)]
        );
        assert_eq!(
            all(&s, &["b", "a"], None, None),
            all(&s, &["a", "b"], None, None)
        );
        assert_eq!(
            all(&s, &["a", "b", "c"], None, None),
            vec![t("d1", "0250", 11)]
        );
        assert_eq!(
            all(&s, &["a", "b"], Some("d2"), None),
            vec![t("d2", "0100", 5)]
        );
        assert_eq!(
            all(&s, &["a", "b"], None, Some(("d1", "0007"))),
            vec![t("d1", "0250", 4), t("d2", "0100", 5)]
        );
        assert_eq!(all(&s, &["a", "missing"], None, None), vec![]);
        assert_eq!(all(&s, &["a"], Some("d2"), Some(("d2", "0297"))).len(), 2);
        assert_eq!(all(&s, &["b"], None, None).len(), 4);
    }

    #[test]
    fn long_lists_read_in_growing_and_shrinking_runs_lose_nothing() {
        // "a" in every node, "b" in every third, "c" in every 500th: runs of "a" grow while it
        // is read densely against "b" and shrink while "c" jumps through it.
        let ids: Vec<String> = (0..5000).map(|n| format!("{n:05}")).collect();
        let mut p = vec![];
        for (n, id) in ids.iter().enumerate() {
            p.push(("a", "d", id.as_str(), 1));
            if n % 3 == 0 {
                p.push(("b", "d", id.as_str(), 1));
            }
            if n % 500 == 7 {
                p.push(("c", "d", id.as_str(), 1));
            }
        }
        let s = store_with(&p);
        let ab: Vec<String> = all(&s, &["a", "b"], None, None)
            .into_iter()
            .map(|x| x.1)
            .collect();
        let want: Vec<String> = ids.iter().step_by(3).cloned().collect();
        assert_eq!(ab, want);
        let ac: Vec<String> = all(&s, &["a", "c"], None, None)
            .into_iter()
            .map(|x| x.1)
            .collect();
        let want: Vec<String> = (0..10).map(|k| format!("{:05}", k * 500 + 7)).collect();
        assert_eq!(ac, want);
        let abc = all(&s, &["c", "b", "a"], None, None);
        let want: Vec<String> = (0..10)
            .map(|k| k * 500 + 7)
            .filter(|n| n % 3 == 0)
            .map(|n| format!("{n:05}"))
            .collect();
        assert_eq!(abc.iter().map(|x| x.1.clone()).collect::<Vec<_>>(), want);
        assert!(abc.iter().all(|x| x.2 == 3));
    }

    #[test]
    fn a_node_id_that_prefixes_another_is_not_skipped() {
        let s = store_with(&[
            ("a", "d", "1", 1),
            ("a", "d", "10", 1),
            ("b", "d", "1", 1),
            ("b", "d", "10", 1),
        ]);
        let got: Vec<String> = all(&s, &["a", "b"], None, None)
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(got, vec!["1", "10"]);
        let got: Vec<String> = all(&s, &["a", "b"], None, Some(("d", "1")))
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(got, vec!["10"]);
    }

    #[test]
    fn stops_when_the_caller_says_so() {
        let s = store_with(&[("a", "d", "1", 1), ("a", "d", "2", 1), ("a", "d", "3", 1)]);
        let mut seen = 0;
        intersect(&s, &["a".to_string()], None, None, &mut |_, _| {
            seen += 1;
            Ok(seen < 2)
        })
        .unwrap();
        assert_eq!(seen, 2);
    }
}
