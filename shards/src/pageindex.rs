//! PageIndex JSON <-> TreeStore documents, losslessly: known keys map to node fields, every other
//! key (whatever its position or type) is kept in `extra_json` and written back on export, so
//! `export(import(x)) == x` as JSON values. Key order is not preserved (JSON objects are
//! unordered).

use crate::model::*;
use crate::{Error, Result};
use serde_json::{Map, Value};

const NODE_KEYS: [&str; 8] = [
    "title",
    "node_id",
    "start_index",
    "end_index",
    "summary",
    "text",
    "line_num",
    "nodes",
];

fn bad(what: impl Into<String>) -> Error {
    Error::invalid("pageindex", what)
}

fn opt_i64(m: &Map<String, Value>, k: &str) -> Result<Option<i64>> {
    match m.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(format!("`{k}` is not an integer"))),
    }
}

fn opt_str(m: &Map<String, Value>, k: &str) -> Result<Option<String>> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("`{k}` is not a string"))),
    }
}

fn node_from(v: &Value) -> Result<NodeInput> {
    let m = v
        .as_object()
        .ok_or_else(|| bad("a node is not an object"))?;
    let node_id = opt_str(m, "node_id")?.ok_or_else(|| bad("a node has no node_id"))?;
    let extra: Map<String, Value> = m
        .iter()
        .filter(|(k, _)| !NODE_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let title = match m.get("title") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(bad(format!("node {node_id} has no string title"))),
    };
    let children = match m.get("nodes") {
        None => vec![],
        Some(Value::Array(a)) => a.iter().map(node_from).collect::<Result<_>>()?,
        Some(_) => return Err(bad(format!("node {node_id}: `nodes` is not an array"))),
    };
    Ok(NodeInput {
        node_id,
        content: NodeContent {
            title,
            summary: opt_str(m, "summary")?,
            text: opt_str(m, "text")?,
            start_page: opt_i64(m, "start_index")?,
            end_page: opt_i64(m, "end_index")?,
            line_num: opt_i64(m, "line_num")?,
            extra_json: if extra.is_empty() {
                String::new()
            } else {
                Value::Object(extra).to_string()
            },
        },
        children,
    })
}

/// Reads a PageIndex output (`{doc_name, doc_description?, structure}` or a bare node array).
/// Other top-level keys go into metadata as JSON text under `pageindex:<key>`.
pub fn import(doc_id: &str, json: &Value) -> Result<DocumentInput> {
    let (structure, top) = match json {
        Value::Array(_) => (json, None),
        Value::Object(m) => (
            m.get("structure").ok_or_else(|| bad("no `structure`"))?,
            Some(m),
        ),
        _ => return Err(bad("not a JSON object or array")),
    };
    let roots = structure
        .as_array()
        .ok_or_else(|| bad("`structure` is not an array"))?
        .iter()
        .map(node_from)
        .collect::<Result<_>>()?;
    let mut doc = DocumentInput {
        doc_id: doc_id.to_string(),
        roots,
        ..Default::default()
    };
    if let Some(m) = top {
        doc.name = opt_str(m, "doc_name")?.unwrap_or_default();
        if let Some(d) = opt_str(m, "doc_description")? {
            doc.description = d;
            doc.metadata
                .insert("pageindex:has_description".into(), "true".into());
        }
        for (k, v) in m {
            if !["structure", "doc_name", "doc_description"].contains(&k.as_str()) {
                doc.metadata.insert(format!("pageindex:{k}"), v.to_string());
            }
        }
        if !m.contains_key("doc_name") {
            doc.metadata
                .insert("pageindex:no_name".into(), "true".into());
        }
    } else {
        doc.metadata.insert("pageindex:bare".into(), "true".into());
    }
    Ok(doc)
}

fn node_to(n: &NodeView) -> Result<Value> {
    let mut m = Map::new();
    let c = &n.content;
    m.insert("title".into(), Value::String(c.title.clone()));
    m.insert("node_id".into(), Value::String(n.node_id.clone()));
    if let Some(p) = c.start_page {
        m.insert("start_index".into(), p.into());
    }
    if let Some(p) = c.end_page {
        m.insert("end_index".into(), p.into());
    }
    if let Some(l) = c.line_num {
        m.insert("line_num".into(), l.into());
    }
    if let Some(s) = &c.summary {
        m.insert("summary".into(), Value::String(s.clone()));
    }
    if let Some(t) = &c.text {
        m.insert("text".into(), Value::String(t.clone()));
    }
    if !c.extra_json.is_empty() {
        let extra: Map<String, Value> = serde_json::from_str(&c.extra_json).map_err(|e| {
            Error::DataLoss(format!(
                "node {}: stored extra_json unreadable: {e}",
                n.node_id
            ))
        })?;
        m.extend(extra);
    }
    if !n.children.is_empty() {
        m.insert(
            "nodes".into(),
            Value::Array(n.children.iter().map(node_to).collect::<Result<_>>()?),
        );
    }
    Ok(Value::Object(m))
}

/// Writes a stored document (its full subtree, text included) back as PageIndex JSON.
pub fn export(doc: &Document, roots: &[NodeView]) -> Result<Value> {
    let structure = Value::Array(roots.iter().map(node_to).collect::<Result<_>>()?);
    if doc.metadata.contains_key("pageindex:bare") {
        return Ok(structure);
    }
    let mut m = Map::new();
    if !doc.metadata.contains_key("pageindex:no_name") {
        m.insert("doc_name".into(), Value::String(doc.name.clone()));
    }
    if doc.metadata.contains_key("pageindex:has_description") {
        m.insert(
            "doc_description".into(),
            Value::String(doc.description.clone()),
        );
    }
    for (k, v) in &doc.metadata {
        if let Some(key) = k.strip_prefix("pageindex:") {
            if !["bare", "no_name", "has_description"].contains(&key) {
                let val = serde_json::from_str(v).unwrap_or(Value::String(v.clone()));
                m.insert(key.to_string(), val);
            }
        }
    }
    m.insert("structure".into(), structure);
    Ok(Value::Object(m))
}
