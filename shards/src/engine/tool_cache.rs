//! Cached tool results: stored on the shard of their (tool, canonical arguments), stale once a
//! document they were computed from has a newer version.

use super::*;

/// Compact JSON with object keys sorted at every level: equal arguments give equal keys.
pub fn canonical_json(text: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid("args_json", format!("not valid JSON: {e}")))?;
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                    out.push(':');
                    write(&m[k.as_str()], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(&v, &mut out);
    Ok(out)
}

impl<R: ShardRouter> Engine<R> {
    async fn doc_versions(&self, docs: &[String]) -> Result<Vec<Option<VersionNo>>> {
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            let v = expect!(self.on_doc(d, Request::DocVersions { doc_ids: vec![d.clone()] }).await?, Response::DocVersions(v) => v)?;
            out.push(v.into_iter().next().flatten());
        }
        Ok(out)
    }

    /// Caches `result_json` for `tool` and `args_json` (canonicalised). `depends_on` versions of 0
    /// mean "the document's current version".
    pub async fn store_tool_result(
        &self,
        tool: &str,
        args_json: &str,
        result_json: &str,
        ttl_seconds: u64,
        depends_on: Vec<DocRef>,
    ) -> Result<ToolResultRecord> {
        let args = canonical_json(args_json)?;
        serde_json::from_str::<serde_json::Value>(result_json)
            .map_err(|e| Error::invalid("result_json", format!("not valid JSON: {e}")))?;
        let current = self
            .doc_versions(
                &depends_on
                    .iter()
                    .map(|d| d.doc_id.clone())
                    .collect::<Vec<_>>(),
            )
            .await?;
        let mut deps = vec![];
        for (d, cur) in depends_on.into_iter().zip(current) {
            let Some(cur) = cur else {
                return Err(Error::not_found("document", d.doc_id));
            };
            deps.push(DocRef {
                version: if d.version == 0 { cur } else { d.version },
                doc_id: d.doc_id,
            });
        }
        let ttl_seconds = if ttl_seconds == 0 {
            self.default_ttl_seconds
        } else {
            ttl_seconds
        };
        let shard = shard_of_tool(tool, &args, self.shard_count());
        let req = Request::PutToolResult {
            tool: tool.into(),
            args,
            result_json: result_json.to_string(),
            ttl_seconds,
            depends_on: deps,
        };
        expect!(self.router.call(shard, req).await?, Response::ToolResult(ToolLookup::Hit(r)) => r)
    }

    pub async fn get_tool_result(&self, tool: &str, args_json: &str) -> Result<ToolLookup> {
        let args = canonical_json(args_json)?;
        let shard = shard_of_tool(tool, &args, self.shard_count());
        let req = Request::GetToolResult {
            tool: tool.into(),
            args,
        };
        let stored =
            expect!(self.router.call(shard, req).await?, Response::StoredToolResult(t) => t)?;
        // Stale wins over expired (the proto's promise): a result computed from documents that
        // changed is wrong, not merely old, so staleness is checked first, expired or not.
        let found = match stored {
            None => ToolLookup::Miss(MissReason::NotFound),
            Some(StoredToolResult { record, expired }) => {
                let docs: Vec<String> =
                    record.depends_on.iter().map(|d| d.doc_id.clone()).collect();
                let current = self.doc_versions(&docs).await?;
                let stale = record
                    .depends_on
                    .iter()
                    .zip(current)
                    .any(|(d, cur)| cur != Some(d.version));
                if stale {
                    ToolLookup::Miss(MissReason::Stale)
                } else if expired {
                    ToolLookup::Miss(MissReason::Expired)
                } else {
                    ToolLookup::Hit(record)
                }
            }
        };
        if let Some(counters) = self.cache_lookups.get(shard) {
            let missed = !matches!(found, ToolLookup::Hit(_));
            counters[missed as usize].fetch_add(1, Ordering::Relaxed);
        }
        Ok(found)
    }
}
