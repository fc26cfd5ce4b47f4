//! Proto <-> engine types. Empty summary and text strings stand for "none" (None in the
//! engine); transaction ids, parent ids and node ids use "" for "none" likewise.

use crate::pb;
use crate::status::invalid;
use shards::{engine::ShardHealth, engine::ShardState, model as m};
use tonic::Status;

pub fn opt_str(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

pub fn content_from(n: &pb::NodeInput) -> m::NodeContent {
    m::NodeContent {
        title: n.title.clone(),
        summary: opt_str(n.summary.clone()),
        text: opt_str(n.text.clone()),
        start_page: n.start_page,
        end_page: n.end_page,
        line_num: n.line_num,
        extra_json: n.extra_json.clone(),
    }
}

/// A tree to write. Nesting is bounded by the protobuf decoder (100 levels), so recursion is.
pub fn node_input(n: pb::NodeInput) -> m::NodeInput {
    let content = content_from(&n);
    m::NodeInput {
        node_id: n.node_id,
        content,
        children: n.children.into_iter().map(node_input).collect(),
    }
}

pub fn count_inputs(nodes: &[pb::NodeInput]) -> u64 {
    nodes.iter().map(|n| 1 + count_inputs(&n.children)).sum()
}

pub fn node(n: m::NodeView) -> pb::Node {
    pb::Node {
        node_id: n.node_id,
        parent_id: n.parent_id.unwrap_or_default(),
        position: n.position,
        title: n.content.title,
        summary: n.content.summary.unwrap_or_default(),
        text: n.content.text.unwrap_or_default(),
        start_page: n.content.start_page,
        end_page: n.content.end_page,
        line_num: n.content.line_num,
        extra_json: n.content.extra_json,
        children: n.children.into_iter().map(node).collect(),
        has_children: n.has_children,
    }
}

pub fn nodes(ns: Vec<m::NodeView>) -> Vec<pb::Node> {
    ns.into_iter().map(node).collect()
}

/// The id a response shows for a qualified one: its public part (see `shards::namespace`).
pub fn public_id(qualified: String) -> String {
    match shards::namespace::split(&qualified) {
        (None, _) => qualified,
        (Some(_), id) => id.to_string(),
    }
}

/// The namespace a response shows for a qualified id.
pub fn namespace_of(qualified: &str) -> String {
    shards::namespace::Namespace::of(qualified)
        .name()
        .to_string()
}

pub fn document(d: m::Document) -> pb::Document {
    pb::Document {
        doc_id: public_id(d.doc_id),
        name: d.name,
        description: d.description,
        metadata: d.metadata.into_iter().collect(),
        created_at: d.created_at,
        updated_at: d.updated_at,
        version: d.version,
        node_count: d.node_count,
    }
}

pub fn version(v: m::Version) -> pb::Version {
    pb::Version {
        version: v.version,
        commit_time: v.commit_time,
        effective_time: v.effective_time,
        message: v.message,
        nodes_changed: v.nodes_changed,
        committed_by: v.committed_by,
    }
}

/// The version of a write: all zero when it did not commit (inside a transaction).
pub fn opt_version(v: Option<m::Version>) -> pb::Version {
    v.map(version).unwrap_or_default()
}

pub fn axis(a: i32) -> Result<m::TimeAxis, Status> {
    match pb::TimeAxis::try_from(a) {
        Ok(pb::TimeAxis::Unspecified | pb::TimeAxis::Commit) => Ok(m::TimeAxis::Commit),
        Ok(pb::TimeAxis::Effective) => Ok(m::TimeAxis::Effective),
        Err(_) => Err(invalid("as_of.axis", format!("unknown time axis {a}"))),
    }
}

pub fn read_at(r: Option<pb::ReadAt>) -> Result<m::ReadAt, Status> {
    Ok(match r.and_then(|r| r.at) {
        None | Some(pb::read_at::At::Version(0)) => m::ReadAt::Latest,
        Some(pb::read_at::At::Version(v)) => m::ReadAt::Version(v),
        Some(pb::read_at::At::AsOf(a)) => m::ReadAt::AsOf {
            time: a.time,
            axis: axis(a.axis)?,
        },
    })
}

/// The read selector and transaction of a read; both given is INVALID_ARGUMENT.
pub fn read_sel(r: Option<pb::ReadAt>, txn: String) -> Result<(m::ReadAt, Option<String>), Status> {
    let has_at = r.as_ref().is_some_and(|r| r.at.is_some());
    let txn = opt_str(txn);
    if has_at && txn.is_some() {
        return Err(invalid("read_at", "cannot be combined with transaction_id"));
    }
    Ok((read_at(r)?, txn))
}

pub fn direction(d: i32) -> Result<m::Direction, Status> {
    match pb::Direction::try_from(d) {
        Ok(pb::Direction::Unspecified | pb::Direction::Outgoing) => Ok(m::Direction::Outgoing),
        Ok(pb::Direction::Incoming) => Ok(m::Direction::Incoming),
        Ok(pb::Direction::Both) => Ok(m::Direction::Both),
        Err(_) => Err(invalid("direction", format!("unknown direction {d}"))),
    }
}

pub fn xref(x: m::CrossReference) -> pb::CrossReference {
    pb::CrossReference {
        from_namespace: namespace_of(&x.key.from_doc),
        to_namespace: namespace_of(&x.key.to_doc),
        from_doc_id: public_id(x.key.from_doc),
        from_node_id: x.key.from_node,
        to_doc_id: public_id(x.key.to_doc),
        to_node_id: x.key.to_node,
        kind: x.key.kind,
        label: x.label,
        created_at: x.created_at,
    }
}

pub fn doc_ref(d: m::DocRef) -> pb::DocRef {
    pb::DocRef {
        doc_id: public_id(d.doc_id),
        version: d.version,
    }
}

pub fn diff(d: m::Diff) -> pb::DiffVersionsResponse {
    pb::DiffVersionsResponse {
        from_version: d.from_version,
        to_version: d.to_version,
        added: d.added,
        removed: d.removed,
        changed: d
            .changed
            .into_iter()
            .map(|(node_id, fields)| pb::NodeChange { node_id, fields })
            .collect(),
        moved: d
            .moved
            .into_iter()
            .map(|mv| pb::NodeMove {
                node_id: mv.node_id,
                old_parent_id: mv.old_parent.unwrap_or_default(),
                old_position: mv.old_position,
                new_parent_id: mv.new_parent.unwrap_or_default(),
                new_position: mv.new_position,
            })
            .collect(),
        committed_by: d.committed_by,
    }
}

/// Proto shard state. A shard checkpointing on the way out has no proto state of its own: it is
/// reported as UNSPECIFIED with detail "stopping".
pub fn shard_state(s: ShardState) -> pb::ShardState {
    match s {
        ShardState::Recovering => pb::ShardState::Recovering,
        ShardState::Serving => pb::ShardState::Serving,
        ShardState::Poisoned => pb::ShardState::Poisoned,
        ShardState::Stopping => pb::ShardState::Unspecified,
    }
}

pub fn shard_health(h: &ShardHealth) -> pb::ShardHealth {
    let mut detail = h.detail.clone();
    if h.state == ShardState::Stopping && detail.is_empty() {
        detail = "stopping".into();
    }
    pb::ShardHealth {
        shard_id: h.shard as u32,
        state: shard_state(h.state) as i32,
        wal_durable_lsn: h.durable_lsn,
        wal_last_lsn: h.last_lsn,
        detail,
        corruption: h.corruption.as_ref().map(|c| pb::LogCorruption {
            file: c.file.clone(),
            offset: c.offset,
            reason: c.reason.clone(),
        }),
    }
}

/// Overall status: SERVING when every shard serves, NOT_SERVING when none does, else DEGRADED.
pub fn overall(shards: &[ShardHealth]) -> pb::HealthStatus {
    let serving = shards
        .iter()
        .filter(|s| s.state == ShardState::Serving)
        .count();
    if !shards.is_empty() && serving == shards.len() {
        pb::HealthStatus::Serving
    } else if serving == 0 {
        pb::HealthStatus::NotServing
    } else {
        pb::HealthStatus::Degraded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_are_none_and_back() {
        let input = pb::NodeInput {
            node_id: "n".into(),
            title: "T".into(),
            children: vec![pb::NodeInput {
                node_id: "c".into(),
                summary: "s".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let n = node_input(input);
        assert_eq!((n.content.summary, n.content.text), (None, None));
        assert_eq!(n.children[0].content.summary.as_deref(), Some("s"));
    }

    #[test]
    fn read_selectors() {
        assert_eq!(read_at(None).unwrap(), m::ReadAt::Latest);
        let v0 = pb::ReadAt {
            at: Some(pb::read_at::At::Version(0)),
        };
        assert_eq!(read_at(Some(v0)).unwrap(), m::ReadAt::Latest);
        assert!(read_sel(Some(v0), "t".into()).is_err());
        let bad_axis = pb::ReadAt {
            at: Some(pb::read_at::At::AsOf(pb::AsOf { time: 1, axis: 9 })),
        };
        assert_eq!(
            read_at(Some(bad_axis)).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn overall_status() {
        let h = |state| ShardHealth {
            state,
            ..Default::default()
        };
        assert_eq!(
            overall(&[h(ShardState::Serving)]),
            pb::HealthStatus::Serving
        );
        assert_eq!(
            overall(&[h(ShardState::Serving), h(ShardState::Recovering)]),
            pb::HealthStatus::Degraded
        );
        assert_eq!(
            overall(&[h(ShardState::Poisoned)]),
            pb::HealthStatus::NotServing
        );
    }
}
