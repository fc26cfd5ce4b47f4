//! Size limits on what callers send, and the validation of ids and fields against them.
//! Every check names the offending field so the caller can fix the request.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Longest document id, node id, tool name, cross-reference kind (bytes).
    pub max_id_bytes: usize,
    /// Longest title, name, description, label, commit message (bytes).
    pub max_short_field_bytes: usize,
    /// Longest metadata value (bytes).
    pub max_metadata_value_bytes: usize,
    /// Longest summary, extra_json, tool arguments (bytes).
    pub max_field_bytes: usize,
    /// Longest node text or tool result (bytes).
    pub max_text_bytes: usize,
    /// Deepest tree: a top-level node has depth 1.
    pub max_depth: usize,
    /// Most nodes one document may hold.
    pub max_nodes_per_document: usize,
    /// Most metadata entries of one document.
    pub max_metadata_entries: usize,
    /// Largest page a list or search returns.
    pub max_page_size: usize,
    /// Most words in one search query.
    pub max_query_words: usize,
    /// Most hops of a transitive cross-reference query.
    pub max_hops: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_id_bytes: 256,
            max_short_field_bytes: 64 << 10,
            max_metadata_value_bytes: 4 << 10,
            max_field_bytes: 1 << 20,
            max_text_bytes: 16 << 20,
            max_depth: 64,
            max_nodes_per_document: 1_000_000,
            max_metadata_entries: 64,
            max_page_size: 1000,
            max_query_words: 16,
            max_hops: 8,
        }
    }
}

/// Earliest time a version may carry: 0001-01-01T00:00:00Z, Unix microseconds.
pub const MIN_TIME: i64 = -62_135_596_800_000_000;
/// Latest time a version may carry: 9999-12-31T23:59:59.999999Z, Unix microseconds. With
/// `MIN_TIME`, the range every client's calendar type holds (Python's `datetime` included).
pub const MAX_TIME: i64 = 253_402_300_799_999_999;

/// A time a version stores (commit or effective time): within `MIN_TIME..=MAX_TIME`, or
/// INVALID_ARGUMENT naming the field.
pub fn check_time(field: &str, t: i64) -> Result<()> {
    if (MIN_TIME..=MAX_TIME).contains(&t) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!(
            "{t} is out of range: a time is Unix microseconds from {MIN_TIME} \
             (0001-01-01T00:00:00Z) to {MAX_TIME} (9999-12-31T23:59:59.999999Z)"
        ),
    ))
}

impl Limits {
    /// An id: 1..=max_id_bytes bytes of UTF-8 without control characters (so 0x00, the key
    /// separator, never occurs in one).
    pub fn check_id(&self, field: &str, id: &str) -> Result<()> {
        if id.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if id.len() > self.max_id_bytes {
            return Err(Error::invalid(
                field,
                format!("is {} bytes; the limit is {}", id.len(), self.max_id_bytes),
            ));
        }
        if id.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(())
    }

    /// A qualified name (a document id or a tool name in its namespace, see `namespace`): a
    /// well-formed namespace and an id `check_id` accepts. Messages name the public id only.
    pub fn check_qualified_id(&self, field: &str, qualified: &str) -> Result<()> {
        let (ns, id) = crate::namespace::split(qualified);
        if let Some(ns) = ns {
            crate::namespace::check_name("namespace", ns)?;
        }
        self.check_id(field, id)
    }

    /// A size limit: exceeding it is `ResourceExhausted` naming the field.
    pub fn check_len(&self, field: &str, value: &str, limit: usize) -> Result<()> {
        if value.len() > limit {
            return Err(Error::ResourceExhausted(format!(
                "`{field}` is {} bytes; the limit is {limit}",
                value.len()
            )));
        }
        Ok(())
    }

    pub fn check_short(&self, field: &str, value: &str) -> Result<()> {
        self.check_len(field, value, self.max_short_field_bytes)
    }

    pub fn check_content(&self, c: &crate::NodeContent) -> Result<()> {
        self.check_short("title", &c.title)?;
        if let Some(s) = &c.summary {
            self.check_len("summary", s, self.max_field_bytes)?;
        }
        if let Some(t) = &c.text {
            self.check_len("text", t, self.max_text_bytes)?;
        }
        self.check_len("extra_json", &c.extra_json, self.max_field_bytes)?;
        if !c.extra_json.is_empty() {
            match serde_json::from_str::<serde_json::Value>(&c.extra_json) {
                Ok(serde_json::Value::Object(_)) => {}
                _ => {
                    return Err(Error::invalid(
                        "extra_json",
                        "must be a JSON object or empty",
                    ))
                }
            }
        }
        Ok(())
    }

    pub fn page_size(&self, requested: usize, default: usize) -> usize {
        match requested {
            0 => default.min(self.max_page_size),
            n => n.min(self.max_page_size),
        }
    }
}
