//! Cross references: links whose two ends may live on different shards. The outgoing entry
//! (on the source document's shard) is the link; the incoming entry is an index to it, verified
//! against the link on every read (see the `engine` module comment).

use super::*;

impl<R: ShardRouter> Engine<R> {
    /// Adds a link; returns its creation time. AlreadyExists when the link exists (the check on
    /// the source shard is atomic with the write), NotFound when either node does not.
    pub async fn add_xref(&self, key: XrefKey, label: String) -> Result<Micros> {
        let exists = self
            .nodes_exist(vec![(key.from_doc.clone(), key.from_node.clone())])
            .await?;
        if exists != [true] {
            return Err(Error::not_found(
                "node",
                format!("{}/{}", key.from_doc, key.from_node),
            ));
        }
        let created_at = now_micros();
        let req = |side, label: String, created_at, replaces| Request::PutXref {
            key: key.clone(),
            side,
            label,
            created_at,
            replaces,
        };
        // The index entry first: a link never exists without it. An index entry with no link
        // (a crashed add's, say) is filtered out on read, and incoming reads take the label and
        // time from the link itself.
        let index = req(XrefSide::In, label.clone(), created_at, None);
        expect!(self.on_doc(&key.to_doc, index).await?, Response::Done => ())?;
        let link = req(XrefSide::Out, label, created_at, None);
        match self.on_doc(&key.from_doc, link).await {
            Ok(Response::Done) => Ok(created_at),
            Ok(other) => Err(Error::Internal(format!("unexpected response {other:?}"))),
            Err(e @ Error::AlreadyExists { .. }) => {
                // The link exists (added before, or by a concurrent add that won). Our index
                // entry replaced its own: put that back, so that removing the link (which removes
                // the index entry of the link's `created_at` only) removes it too. Only over our
                // entry: if the link was removed and added again meanwhile, the index is theirs.
                let won = self
                    .links_of(
                        &key.from_doc,
                        &key.from_node,
                        XrefSide::Out,
                        Some(&key.kind),
                    )
                    .await?
                    .into_iter()
                    .find(|l| l.key == key);
                if let Some(won) = won {
                    let index = req(XrefSide::In, won.label, won.created_at, Some(created_at));
                    expect!(self.on_doc(&key.to_doc, index).await?, Response::Done => ())?;
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a link; NotFound when it does not exist. The link goes first, then the index
    /// entry made with it, and only that one: an add of the same link racing this removal
    /// keeps its new index entry.
    pub async fn remove_xref(&self, key: XrefKey) -> Result<()> {
        let link = Request::RemoveXref {
            key: key.clone(),
            side: XrefSide::Out,
            created_at: None,
        };
        let created_at =
            expect!(self.on_doc(&key.from_doc, link).await?, Response::XrefRemoved(Some(t)) => t)?;
        let index = Request::RemoveXref {
            key: key.clone(),
            side: XrefSide::In,
            created_at: Some(created_at),
        };
        expect!(self.on_doc(&key.to_doc, index).await?, Response::XrefRemoved(_) => ())
    }

    async fn nodes_exist(&self, nodes: Vec<(String, String)>) -> Result<Vec<bool>> {
        let mut by_shard: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, (d, _)) in nodes.iter().enumerate() {
            by_shard.entry(self.shard_for(d)).or_default().push(i);
        }
        let mut out = vec![false; nodes.len()];
        for (shard, idx) in by_shard {
            let ask = idx.iter().map(|&i| nodes[i].clone()).collect();
            let got = expect!(self.router.call(shard, Request::NodesExist { nodes: ask }).await?, Response::Bools(b) => b)?;
            for (i, b) in idx.into_iter().zip(got) {
                out[i] = b;
            }
        }
        Ok(out)
    }

    /// The authoritative (outgoing) entry of each link, from its source shard.
    async fn link_values(&self, keys: &[XrefKey]) -> Result<Vec<Option<XrefValue>>> {
        let mut by_shard: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            by_shard
                .entry(self.shard_for(&k.from_doc))
                .or_default()
                .push(i);
        }
        let mut out = vec![None; keys.len()];
        for (shard, idx) in by_shard {
            let ask = idx.iter().map(|&i| keys[i].clone()).collect();
            let got = expect!(self.router.call(shard, Request::LinkValues { keys: ask }).await?, Response::LinkValues(v) => v)?;
            for (i, v) in idx.into_iter().zip(got) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Links of one node, in one direction, verified against the other side.
    async fn links_of(
        &self,
        doc: &str,
        node: &str,
        side: XrefSide,
        kind: Option<&str>,
    ) -> Result<Vec<CrossReference>> {
        let req = Request::ListXrefs {
            doc_id: doc.into(),
            node_id: Some(node.into()),
            side,
            kind: kind.map(str::to_string),
        };
        let links = expect!(self.on_doc(doc, req).await?, Response::Xrefs(x) => x)?;
        match side {
            XrefSide::Out => {
                let far = links
                    .iter()
                    .map(|l| (l.key.to_doc.clone(), l.key.to_node.clone()))
                    .collect();
                let keep = self.nodes_exist(far).await?;
                Ok(links
                    .into_iter()
                    .zip(keep)
                    .filter_map(|(l, k)| k.then_some(l))
                    .collect())
            }
            XrefSide::In => {
                let keys: Vec<XrefKey> = links.into_iter().map(|l| l.key).collect();
                let values = self.link_values(&keys).await?;
                Ok(keys
                    .into_iter()
                    .zip(values)
                    .filter_map(|(key, v)| {
                        v.map(|v| CrossReference {
                            key,
                            label: v.label,
                            created_at: v.created_at,
                            hops: 1,
                        })
                    })
                    .collect())
            }
        }
    }

    /// Links from, to, or both of a node, following them up to `max_hops` away.
    pub async fn get_xrefs(
        &self,
        doc: &str,
        node: &str,
        direction: Direction,
        max_hops: u32,
        kind: Option<String>,
    ) -> Result<Vec<CrossReference>> {
        let max_hops = max_hops.max(1);
        let sides: &[XrefSide] = match direction {
            Direction::Outgoing => &[XrefSide::Out],
            Direction::Incoming => &[XrefSide::In],
            Direction::Both => &[XrefSide::Out, XrefSide::In],
        };
        let mut out = vec![];
        let mut seen_links = HashSet::new();
        for &side in sides {
            let mut visited: HashSet<(String, String)> =
                HashSet::from([(doc.to_string(), node.to_string())]);
            let mut frontier = vec![(doc.to_string(), node.to_string())];
            for hop in 1..=max_hops {
                let mut next = vec![];
                for (d, n) in &frontier {
                    for mut l in self.links_of(d, n, side, kind.as_deref()).await? {
                        let far = match side {
                            XrefSide::Out => (l.key.to_doc.clone(), l.key.to_node.clone()),
                            XrefSide::In => (l.key.from_doc.clone(), l.key.from_node.clone()),
                        };
                        if visited.insert(far.clone()) {
                            next.push(far);
                        }
                        if seen_links.insert(l.key.clone()) {
                            l.hops = hop;
                            out.push(l);
                        }
                    }
                }
                if next.is_empty() {
                    break;
                }
                frontier = next;
            }
        }
        Ok(out)
    }
}
