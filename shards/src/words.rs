//! Word extraction for search: lowercase runs of alphanumeric characters, at most
//! `MAX_WORD_BYTES` long (longer runs are cut there, at a character boundary).

use crate::model::NodeContent;
use std::collections::BTreeMap;

pub const MAX_WORD_BYTES: usize = 64;

pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut lw = w.to_lowercase();
            if lw.len() > MAX_WORD_BYTES {
                let mut cut = MAX_WORD_BYTES;
                while !lw.is_char_boundary(cut) {
                    cut -= 1;
                }
                lw.truncate(cut);
            }
            lw
        })
}

/// Word -> occurrences in the searchable fields of a node (title, summary, text).
pub fn node_words(c: &NodeContent) -> BTreeMap<String, u32> {
    let mut m = BTreeMap::new();
    let fields = [
        Some(c.title.as_str()),
        c.summary.as_deref(),
        c.text.as_deref(),
    ];
    for f in fields.into_iter().flatten() {
        for w in words(f) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lowercases_and_counts() {
        let c = NodeContent {
            title: "Monetary Policy".into(),
            summary: Some("policy, POLICY; rates-2019".into()),
            ..Default::default()
        };
        let w = node_words(&c);
        assert_eq!(w["policy"], 3);
        assert_eq!(w["monetary"], 1);
        assert_eq!(w["2019"], 1);
        assert!(!w.contains_key(""));
    }

    #[test]
    fn long_words_are_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let w: Vec<String> = words(&long).collect();
        assert!(w[0].len() <= MAX_WORD_BYTES);
        assert!(w[0].chars().all(|c| c == 'é'));
    }
}
