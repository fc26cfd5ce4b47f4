//! SearchNodes, GetVersionAsOf, DiffVersions.

use super::{required, Caller, Service};
use crate::status::{invalid, to_status};
use crate::{convert, paging, pb};
use futures_util::future::join_all;
use shards::engine::ShardRouter;
use shards::ReadAt;
use tonic::Status;

const SEARCH_PAGE: usize = 20;
const SEARCH_PAGE_MAX: usize = 1000;
const MAX_QUERY_BYTES: usize = 1024;
/// Snippet length in characters.
const SNIPPET_CHARS: usize = 200;

impl<R: ShardRouter> Service<R> {
    pub(super) async fn do_search_nodes(
        &self,
        r: pb::SearchNodesRequest,
        caller: &Caller,
    ) -> Result<pb::SearchNodesResponse, Status> {
        if r.query.len() > MAX_QUERY_BYTES {
            return Err(invalid(
                "query",
                format!("is {} bytes; the limit is {MAX_QUERY_BYTES}", r.query.len()),
            ));
        }
        let words: Vec<String> = shards::words::words(&r.query).collect();
        if words.len() > self.limits.max_query_words {
            return Err(invalid(
                "query",
                format!(
                    "has {} words; the limit is {}",
                    words.len(),
                    self.limits.max_query_words
                ),
            ));
        }
        let token = paging::decode('S', &r.page_token)?;
        let size = paging::size(r.limit, SEARCH_PAGE, SEARCH_PAGE_MAX);
        let page = self
            .engine
            .search(
                &r.query,
                convert::opt_str(r.doc_id),
                &caller.namespace,
                ReadAt::Latest,
                token,
                size,
            )
            .await
            .map_err(to_status)?;
        let snippets = join_all(page.items.iter().map(|h| async {
            match self
                .engine
                .get_node(&h.doc_id, &h.node_id, ReadAt::Latest, true, None)
                .await
            {
                Ok(n) => snippet(&n.content, &words),
                Err(_) => h.title.clone(),
            }
        }))
        .await;
        let hits = page
            .items
            .into_iter()
            .zip(snippets)
            .map(|(h, snippet)| pb::SearchHit {
                doc_id: convert::public_id(h.doc_id),
                node_id: h.node_id,
                title: h.title,
                score: f64::from(h.score),
                snippet,
            })
            .collect();
        Ok(pb::SearchNodesResponse {
            hits,
            next_page_token: page
                .next
                .map(|c| paging::encode('S', &c))
                .unwrap_or_default(),
        })
    }

    pub(super) async fn do_get_version_as_of(
        &self,
        r: pb::GetVersionAsOfRequest,
    ) -> Result<pb::GetVersionAsOfResponse, Status> {
        let as_of = required(r.as_of, "as_of")?;
        let axis = convert::axis(as_of.axis)?;
        let v = self
            .engine
            .version_as_of(&r.doc_id, as_of.time, axis)
            .await
            .map_err(to_status)?;
        Ok(pb::GetVersionAsOfResponse {
            version: Some(convert::version(v)),
        })
    }

    pub(super) async fn do_diff_versions(
        &self,
        r: pb::DiffVersionsRequest,
    ) -> Result<pb::DiffVersionsResponse, Status> {
        if r.from_version == 0 {
            return Err(invalid("from_version", "must be a version (>= 1)"));
        }
        let to = match r.to_version {
            0 => self.latest_version(&r.doc_id).await?,
            v => v,
        };
        let d = self
            .engine
            .diff(&r.doc_id, r.from_version, to)
            .await
            .map_err(to_status)?;
        Ok(convert::diff(d))
    }
}

/// About SNIPPET_CHARS characters around the first whole-word match of a query word in the text,
/// else the summary, else the title.
pub fn snippet(c: &shards::NodeContent, words: &[String]) -> String {
    for field in [
        c.text.as_deref(),
        c.summary.as_deref(),
        Some(c.title.as_str()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(at) = first_match(field, words) {
            return window(field, at);
        }
    }
    window(&c.title, 0)
}

/// Char index of the first word of `text` (maximal run of letters and digits) that lower-cases
/// to one of `words`.
fn first_match(text: &str, words: &[String]) -> Option<usize> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let w: String = chars[start..i]
            .iter()
            .flat_map(|c| c.to_lowercase())
            .collect();
        if words.contains(&w) {
            return Some(start);
        }
    }
    None
}

fn window(text: &str, at: usize) -> String {
    let start = at.saturating_sub(SNIPPET_CHARS / 4);
    text.chars().skip(start).take(SNIPPET_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_prefers_text_and_finds_whole_words() {
        let c = shards::NodeContent {
            title: "Deep leaf".into(),
            text: Some("a zebrafish and a Zebra crossing".into()),
            ..Default::default()
        };
        let s = snippet(&c, &["zebra".into()]);
        assert!(s.contains("Zebra crossing"), "{s}");
        let s = snippet(&c, &["leaf".into()]);
        assert_eq!(s, "Deep leaf");
    }
}
