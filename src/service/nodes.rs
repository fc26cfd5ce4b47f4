//! Node RPCs: GetNode, GetSubtree, GetChildren, GetAncestors, InsertNode, UpdateNode, MoveNode,
//! DeleteNode.

use super::{required, Service};
use crate::status::{invalid, to_status};
use crate::wire::{self, Reply};
use crate::{convert, encode, paging, pb};
use shards::engine::{ShardRouter, WriteResult};
use shards::request::AfterImage;
use shards::{FieldMask, NodeView, ReadAt};
use tonic::Status;

/// GetChildren page sizes.
const CHILDREN_PAGE: usize = 1000;
const CHILDREN_PAGE_MAX: usize = 10_000;

impl<R: ShardRouter> Service<R> {
    pub(super) async fn do_get_node(
        &self,
        r: pb::GetNodeRequest,
    ) -> Result<wire::GetNodeResponse, Status> {
        self.check_read_ids(&r.doc_id, Some(&r.node_id))?;
        let (at, txn) = convert::read_sel(r.read_at, r.transaction_id)?;
        let include_text = r.include_text.unwrap_or(true);
        if let Some(tree) = self.engine.cached_tree(&r.doc_id, at, txn.as_deref()) {
            let i = tree.must_find(&r.node_id).map_err(to_status)?;
            return Ok(Reply::Encoded(encode::get_node(&tree, i, include_text)));
        }
        // One shard call: the read reports the version it was made at.
        let n = self
            .engine
            .get_node_at(&r.doc_id, &r.node_id, at, include_text, txn)
            .await
            .map_err(to_status)?;
        Ok(pb::GetNodeResponse {
            node: Some(convert::node(n.value)),
            version: n.version,
        }
        .into())
    }

    pub(super) async fn do_get_subtree(
        &self,
        r: pb::GetSubtreeRequest,
    ) -> Result<wire::GetSubtreeResponse, Status> {
        self.check_read_ids(
            &r.doc_id,
            Some(r.node_id.as_str()).filter(|n| !n.is_empty()),
        )?;
        let (at, txn) = convert::read_sel(r.read_at, r.transaction_id)?;
        let max_depth = r.max_depth as usize;
        if let Some(tree) = self.engine.cached_tree(&r.doc_id, at, txn.as_deref()) {
            let roots = match convert::opt_str(r.node_id) {
                Some(id) => vec![tree.must_find(&id).map_err(to_status)?],
                None => tree.children(None).collect(),
            };
            let shape = encode::Shape {
                depth: max_depth,
                include_text: r.include_text,
            };
            let version = tree.version;
            let bytes = encode::NodesReply::new(&tree, roots, shape)
                .finish(|b| encode::put_version(b, 2, version));
            self.check_encoded_size(bytes.len())?;
            return Ok(Reply::Encoded(bytes));
        }
        let roots = self
            .engine
            .get_subtree_at(
                &r.doc_id,
                convert::opt_str(r.node_id),
                max_depth,
                r.include_text,
                at,
                txn,
            )
            .await
            .map_err(to_status)?;
        let resp = pb::GetSubtreeResponse {
            roots: convert::nodes(roots.value),
            version: roots.version,
        };
        self.check_size(&resp)?;
        Ok(resp.into())
    }

    pub(super) async fn do_get_children(
        &self,
        r: pb::GetChildrenRequest,
    ) -> Result<wire::GetChildrenResponse, Status> {
        self.check_read_ids(
            &r.doc_id,
            Some(r.node_id.as_str()).filter(|n| !n.is_empty()),
        )?;
        let (at, txn) = convert::read_sel(r.read_at, r.transaction_id)?;
        let offset = paging::decode_offset('C', &r.page_token)?;
        let size = paging::size(r.page_size, CHILDREN_PAGE, CHILDREN_PAGE_MAX);
        let next_token = |end: usize, total: usize| {
            if end < total {
                paging::encode('C', &end.to_string())
            } else {
                String::new()
            }
        };
        if let Some(tree) = self.engine.cached_tree(&r.doc_id, at, txn.as_deref()) {
            let parent = convert::opt_str(r.node_id)
                .map(|id| tree.must_find(&id))
                .transpose()
                .map_err(to_status)?;
            let all: Vec<u32> = tree.children(parent).collect();
            let total = all.len();
            let end = offset.saturating_add(size).min(total);
            let page = all.into_iter().skip(offset).take(size).collect();
            let token = next_token(end, total);
            let version = tree.version;
            let bytes = encode::NodesReply::new(&tree, page, encode::Shape::flat(r.include_text))
                .finish(|b| {
                    if !token.is_empty() {
                        b.push(2 << 3 | 2);
                        prost::encoding::encode_varint(token.len() as u64, b);
                        b.extend_from_slice(token.as_bytes());
                    }
                    encode::put_version(b, 3, version);
                });
            self.check_encoded_size(bytes.len())?;
            return Ok(Reply::Encoded(bytes));
        }
        let read = self
            .engine
            .get_children_at(
                &r.doc_id,
                convert::opt_str(r.node_id),
                at,
                r.include_text,
                txn,
            )
            .await
            .map_err(to_status)?;
        let version = read.version;
        let all = read.value;
        let total = all.len();
        let end = offset.saturating_add(size).min(total);
        let children: Vec<NodeView> = all.into_iter().skip(offset).take(size).collect();
        let resp = pb::GetChildrenResponse {
            children: convert::nodes(children),
            next_page_token: next_token(end, total),
            version,
        };
        self.check_size(&resp)?;
        Ok(resp.into())
    }

    pub(super) async fn do_get_ancestors(
        &self,
        r: pb::GetAncestorsRequest,
    ) -> Result<wire::GetAncestorsResponse, Status> {
        self.check_read_ids(&r.doc_id, Some(&r.node_id))?;
        let (at, txn) = convert::read_sel(r.read_at, r.transaction_id)?;
        if let Some(tree) = self.engine.cached_tree(&r.doc_id, at, txn.as_deref()) {
            let i = tree.must_find(&r.node_id).map_err(to_status)?;
            let mut path = tree.ancestors(i);
            if r.include_self {
                path.push(i);
            }
            let version = tree.version;
            let bytes = encode::NodesReply::new(&tree, path, encode::Shape::flat(false))
                .finish(|b| encode::put_version(b, 2, version));
            return Ok(Reply::Encoded(bytes));
        }
        let read = self
            .engine
            .get_ancestors_at(&r.doc_id, &r.node_id, at, false, txn.clone())
            .await
            .map_err(to_status)?;
        let (mut ancestors, version) = (read.value, read.version);
        if r.include_self {
            // At the very version the ancestors were read (or through the same transaction).
            let at = if txn.is_some() {
                at
            } else {
                ReadAt::Version(version)
            };
            let me = self
                .engine
                .get_node(&r.doc_id, &r.node_id, at, false, txn)
                .await
                .map_err(to_status)?;
            ancestors.push(me);
        }
        Ok(pb::GetAncestorsResponse {
            ancestors: convert::nodes(ancestors),
            version,
        }
        .into())
    }

    /// The node as the write left it (its after-image: one shard call per write).
    fn written_node(res: &WriteResult) -> Result<pb::Node, Status> {
        match &res.after {
            Some(AfterImage::Node(n)) => Ok(convert::node(n.clone())),
            other => Err(Status::internal(format!(
                "a node write answered without the node: {other:?}"
            ))),
        }
    }

    pub(super) async fn do_insert_node(
        &self,
        r: pb::InsertNodeRequest,
        principal: String,
    ) -> Result<pb::InsertNodeResponse, Status> {
        let node = required(r.node, "node")?;
        let count = convert::count_inputs(std::slice::from_ref(&node));
        let write = self.write_opts(r.transaction_id, r.effective_time, r.message, principal);
        let res = self
            .engine
            .insert_node(
                &r.doc_id,
                convert::opt_str(r.parent_id),
                r.position,
                convert::node_input(node),
                write,
            )
            .await
            .map_err(to_status)?;
        let node = Self::written_node(&res)?;
        Ok(pb::InsertNodeResponse {
            node: Some(node),
            nodes_inserted: count,
            version: Some(convert::opt_version(res.version)),
        })
    }

    pub(super) async fn do_update_node(
        &self,
        r: pb::UpdateNodeRequest,
        principal: String,
    ) -> Result<pb::UpdateNodeResponse, Status> {
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(invalid("update_mask", "must name at least one field"));
        }
        let mask = if paths.iter().any(|p| p == "*") {
            if paths.len() > 1 {
                return Err(invalid("update_mask", "\"*\" must be the only path"));
            }
            FieldMask::ALL
        } else {
            FieldMask::from_paths(&paths[..]).map_err(to_status)?
        };
        let node = r.node.unwrap_or_default();
        if !node.node_id.is_empty() && node.node_id != r.node_id {
            return Err(invalid("node.node_id", "must be empty or equal node_id"));
        }
        if !node.children.is_empty() {
            return Err(invalid(
                "node.children",
                "must be empty (use InsertNode to add children)",
            ));
        }
        let write = self.write_opts(r.transaction_id, r.effective_time, r.message, principal);
        let res = self
            .engine
            .update_node(
                &r.doc_id,
                &r.node_id,
                convert::content_from(&node),
                mask,
                write,
            )
            .await
            .map_err(to_status)?;
        let node = Self::written_node(&res)?;
        Ok(pb::UpdateNodeResponse {
            node: Some(node),
            version: Some(convert::opt_version(res.version)),
        })
    }

    pub(super) async fn do_move_node(
        &self,
        r: pb::MoveNodeRequest,
        principal: String,
    ) -> Result<pb::MoveNodeResponse, Status> {
        let write = self.write_opts(r.transaction_id, r.effective_time, r.message, principal);
        let res = self
            .engine
            .move_node(
                &r.doc_id,
                &r.node_id,
                convert::opt_str(r.new_parent_id),
                r.position,
                write,
            )
            .await
            .map_err(to_status)?;
        let node = Self::written_node(&res)?;
        Ok(pb::MoveNodeResponse {
            node: Some(node),
            version: Some(convert::opt_version(res.version)),
        })
    }

    pub(super) async fn do_delete_node(
        &self,
        r: pb::DeleteNodeRequest,
        principal: String,
    ) -> Result<pb::DeleteNodeResponse, Status> {
        let write = self.write_opts(r.transaction_id, r.effective_time, r.message, principal);
        let res = self
            .engine
            .delete_node(&r.doc_id, &r.node_id, write)
            .await
            .map_err(to_status)?;
        Ok(pb::DeleteNodeResponse {
            nodes_deleted: res.removed_nodes,
            version: Some(convert::opt_version(res.version)),
        })
    }
}
