//! Tool-result cache, transactions, Health and Stats.

use super::{Caller, Service};
use crate::status::{invalid, to_status};
use crate::{convert, pb};
use shards::engine::{canonical_json, now_micros, ShardRouter};
use shards::{DocRef, MissReason, ToolLookup};
use tonic::Status;

const MAX_TOOL_NAME_BYTES: usize = 128;
const MAX_ARGS_BYTES: usize = 64 << 10;
const MAX_RESULT_BYTES: usize = 4 << 20;
const MAX_TTL_SECONDS: u64 = 2_592_000;

/// The public part of a (qualified) tool name is checked: the namespace adds no bytes to it.
fn check_tool_name(qualified: &str) -> Result<(), Status> {
    let name = shards::namespace::public(qualified);
    if name.is_empty() {
        return Err(invalid("tool_name", "must not be empty"));
    }
    if name.len() > MAX_TOOL_NAME_BYTES {
        return Err(invalid(
            "tool_name",
            format!(
                "is {} bytes; the limit is {MAX_TOOL_NAME_BYTES}",
                name.len()
            ),
        ));
    }
    Ok(())
}

fn check_size(field: &str, value: &str, limit: usize) -> Result<(), Status> {
    if value.len() > limit {
        return Err(to_status(shards::Error::ResourceExhausted(format!(
            "`{field}` is {} bytes; the limit is {limit}",
            value.len()
        ))));
    }
    Ok(())
}

fn check_txn_id(id: &str) -> Result<(), Status> {
    if id.is_empty() {
        return Err(invalid("transaction_id", "must not be empty"));
    }
    Ok(())
}

impl<R: ShardRouter> Service<R> {
    pub(super) async fn do_store_tool_result(
        &self,
        r: pb::StoreToolResultRequest,
    ) -> Result<pb::StoreToolResultResponse, Status> {
        check_tool_name(&r.tool_name)?;
        check_size("args_json", &r.args_json, MAX_ARGS_BYTES)?;
        check_size("result_json", &r.result_json, MAX_RESULT_BYTES)?;
        if r.ttl_seconds > MAX_TTL_SECONDS {
            return Err(invalid(
                "ttl_seconds",
                format!("the maximum is {MAX_TTL_SECONDS}"),
            ));
        }
        let args = canonical_json(&r.args_json).map_err(to_status)?;
        let deps = r
            .depends_on
            .into_iter()
            .map(|d| DocRef {
                doc_id: d.doc_id,
                version: d.version,
            })
            .collect();
        let rec = self
            .engine
            .store_tool_result(&r.tool_name, &args, &r.result_json, r.ttl_seconds, deps)
            .await
            .map_err(to_status)?;
        Ok(pb::StoreToolResultResponse {
            args_json: args,
            stored_at: rec.stored_at,
            expires_at: rec.expires_at,
            depends_on: rec.depends_on.into_iter().map(convert::doc_ref).collect(),
        })
    }

    pub(super) async fn do_get_tool_result(
        &self,
        r: pb::GetToolResultRequest,
    ) -> Result<pb::GetToolResultResponse, Status> {
        check_tool_name(&r.tool_name)?;
        check_size("args_json", &r.args_json, MAX_ARGS_BYTES)?;
        let found = self
            .engine
            .get_tool_result(&r.tool_name, &r.args_json)
            .await
            .map_err(to_status)?;
        self.metrics.tool_cache_lookup(match &found {
            ToolLookup::Hit(_) => "hit",
            ToolLookup::Miss(MissReason::NotFound) => "not_found",
            ToolLookup::Miss(MissReason::Expired) => "expired",
            ToolLookup::Miss(MissReason::Stale) => "stale",
        });
        Ok(match found {
            ToolLookup::Hit(rec) => pb::GetToolResultResponse {
                hit: true,
                result_json: rec.result_json,
                stored_at: rec.stored_at,
                expires_at: rec.expires_at,
                miss_reason: pb::MissReason::Unspecified as i32,
                depends_on: rec.depends_on.into_iter().map(convert::doc_ref).collect(),
            },
            ToolLookup::Miss(reason) => pb::GetToolResultResponse {
                miss_reason: match reason {
                    MissReason::NotFound => pb::MissReason::NotFound,
                    MissReason::Expired => pb::MissReason::Expired,
                    MissReason::Stale => pb::MissReason::Stale,
                } as i32,
                ..Default::default()
            },
        })
    }

    pub(super) async fn do_begin(
        &self,
        r: pb::BeginTransactionRequest,
    ) -> Result<pb::BeginTransactionResponse, Status> {
        let timeout_ms = match r.timeout_ms {
            None | Some(0) => self.default_txn_timeout_ms,
            Some(t) => u64::from(t),
        };
        let started = now_micros();
        let (transaction_id, snapshot_version) = self
            .engine
            .begin(&r.doc_id, r.timeout_ms.map(u64::from))
            .await
            .map_err(to_status)?;
        Ok(pb::BeginTransactionResponse {
            transaction_id,
            snapshot_version,
            expires_at: started.saturating_add((timeout_ms as i64).saturating_mul(1000)),
        })
    }

    pub(super) async fn do_commit(
        &self,
        r: pb::CommitTransactionRequest,
        caller: &Caller,
    ) -> Result<pb::CommitTransactionResponse, Status> {
        check_txn_id(&r.transaction_id)?;
        let res = self
            .engine
            .commit(
                &r.transaction_id,
                &caller.namespace,
                r.effective_time,
                r.message,
                caller.committer(),
            )
            .await
            .map_err(to_status)?;
        Ok(pb::CommitTransactionResponse {
            version: Some(convert::opt_version(res.version)),
        })
    }

    pub(super) async fn do_rollback(
        &self,
        r: pb::RollbackTransactionRequest,
        caller: &Caller,
    ) -> Result<pb::RollbackTransactionResponse, Status> {
        check_txn_id(&r.transaction_id)?;
        self.engine
            .rollback(&r.transaction_id, &caller.namespace)
            .await
            .map_err(to_status)?;
        Ok(pb::RollbackTransactionResponse {})
    }

    pub(super) async fn do_health(
        &self,
        _r: pb::HealthRequest,
    ) -> Result<pb::HealthResponse, Status> {
        let shards = self.engine.router().health();
        Ok(pb::HealthResponse {
            status: convert::overall(&shards) as i32,
            shards: shards.iter().map(convert::shard_health).collect(),
        })
    }

    pub(super) async fn do_stats(&self, _r: pb::StatsRequest) -> Result<pb::StatsResponse, Status> {
        let health = self.engine.router().health();
        let s = self.engine.stats().await.map_err(to_status)?;
        let shards: Vec<pb::ShardStats> = s
            .per_shard
            .iter()
            .enumerate()
            .map(|(i, answer)| {
                let h = health.get(i);
                let (x, unavailable) = match answer {
                    Ok(x) => (x.clone(), String::new()),
                    Err(e) => (
                        Default::default(),
                        to_status(e.clone()).message().to_string(),
                    ),
                };
                pb::ShardStats {
                    shard_id: i as u32,
                    documents: x.documents,
                    nodes: x.nodes,
                    versions: x.versions,
                    wal_bytes: h.map(|h| h.wal_bytes).unwrap_or(0),
                    cache_hits: s.cache_per_shard.get(i).map_or(0, |c| c.hits),
                    cache_misses: s.cache_per_shard.get(i).map_or(0, |c| c.misses),
                    active_transactions: x.active_transactions,
                    state: h
                        .map(|h| convert::shard_state(h.state))
                        .unwrap_or(pb::ShardState::Unspecified) as i32,
                    unavailable,
                }
            })
            .collect();
        let lookups = s.cache_hits + s.cache_misses;
        Ok(pb::StatsResponse {
            documents: s.total.documents,
            nodes: s.total.nodes,
            versions: s.total.versions,
            wal_bytes: health.iter().map(|h| h.wal_bytes).sum(),
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            cache_hit_rate: if lookups == 0 {
                0.0
            } else {
                s.cache_hits as f64 / lookups as f64
            },
            active_transactions: s.total.active_transactions,
            uptime_seconds: self.started.elapsed().as_secs(),
            partial: s.partial(),
            shards,
        })
    }
}
