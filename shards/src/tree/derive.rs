//! The tree of version v+1 from the tree of version v and the commit that made v+1: what the
//! commit did not write is taken from the old tree, sharing its node bodies. A commit that only
//! changes contents keeps the layout (and the id index) and replaces the changed bodies; one
//! that changes the structure lays the tree out again.

use super::{DocTree, NodeBody, TreeNode};
use crate::model::NodeShape;
use crate::mutation::{DocCommit, NodeWrite};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

impl DocTree {
    /// The tree after `c`, which must be the commit of version `self.version + 1`.
    pub fn derive(&self, c: &DocCommit) -> Result<DocTree> {
        if c.doc_id != self.doc_id || c.version != self.version + 1 {
            return Err(Error::Internal(format!(
                "deriving {}@{} from the tree of {}@{}",
                c.doc_id, c.version, self.doc_id, self.version
            )));
        }
        let restructures = c
            .header
            .as_ref()
            .is_some_and(|h| h.roots != self.header.roots)
            || c.nodes.iter().any(|(_, w)| match w {
                NodeWrite::Removed => true,
                NodeWrite::Put { shape, .. } => shape.is_some(),
            });
        if restructures {
            self.relaid(c)
        } else {
            self.with_contents(c)
        }
    }

    /// Only contents (and maybe the header's name, description or metadata) changed.
    fn with_contents(&self, c: &DocCommit) -> Result<DocTree> {
        let mut nodes = self.nodes.clone();
        let mut bytes = self.bytes;
        for (id, write) in &c.nodes {
            let NodeWrite::Put {
                content: Some(content),
                ..
            } = write
            else {
                continue;
            };
            let i = self.find(id).ok_or_else(|| {
                Error::Internal(format!(
                    "commit of {id} in {} changes a node it lacks",
                    c.doc_id
                ))
            })? as usize;
            let body = NodeBody::new(nodes[i].body.id.clone(), content.clone());
            bytes = bytes + body.bytes() - nodes[i].body.bytes();
            nodes[i] = TreeNode {
                body,
                ..nodes[i].clone()
            };
        }
        let header = match &c.header {
            Some(h) => Arc::new(h.clone()),
            None => self.header.clone(),
        };
        Ok(DocTree {
            doc_id: self.doc_id.clone(),
            version: c.version,
            created_at: self.created_at,
            commit_time: c.commit_time,
            header,
            nodes,
            index: self.index.clone(),
            bytes,
        })
    }

    /// The structure changed: lay the tree out again from the new shapes and the old ones.
    fn relaid(&self, c: &DocCommit) -> Result<DocTree> {
        let written: HashMap<&str, &NodeWrite> =
            c.nodes.iter().map(|(id, w)| (id.as_str(), w)).collect();
        let header = match &c.header {
            Some(h) => Arc::new(h.clone()),
            None => self.header.clone(),
        };
        let old_children = |i: u32| -> Vec<Arc<str>> {
            self.children(Some(i))
                .map(|ch| self.nodes[ch as usize].body.id.clone())
                .collect()
        };
        DocTree::build(
            self.doc_id.clone(),
            c.version,
            self.created_at,
            c.commit_time,
            header,
            c.node_count as usize,
            |id| {
                let old = self.find(id);
                let (shape, content) = match written.get(id) {
                    Some(NodeWrite::Removed) => return Ok(None),
                    Some(NodeWrite::Put { shape, content }) => (shape.as_ref(), content.as_ref()),
                    None => (None, None),
                };
                let children = match (shape, old) {
                    (Some(NodeShape { children, .. }), _) => {
                        children.iter().map(|c| Arc::from(c.as_str())).collect()
                    }
                    (None, Some(i)) => old_children(i),
                    (None, None) => return Ok(None),
                };
                let body = match (content, old) {
                    (Some(content), _) => NodeBody::new(Arc::from(id), content.clone()),
                    (None, Some(i)) => self.nodes[i as usize].body.clone(),
                    (None, None) => {
                        return Err(Error::Internal(format!(
                            "node {}/{id} is new in v{} without content",
                            self.doc_id, c.version
                        )))
                    }
                };
                Ok(Some((children, body)))
            },
        )
    }
}
