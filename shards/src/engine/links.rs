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

    /// Whether each (document, node) exists at the latest version: from the published tree
    /// when cached, else from the documents' shards (asked concurrently, one call each).
    async fn nodes_exist(&self, nodes: Vec<(String, String)>) -> Result<Vec<bool>> {
        let mut out = vec![false; nodes.len()];
        let mut by_shard: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, (d, n)) in nodes.iter().enumerate() {
            let shard = self.shard_for(d);
            match self.router.cached_tree(shard, d, ReadAt::Latest) {
                Some(tree) => out[i] = tree.find(n).is_some(),
                None => by_shard.entry(shard).or_default().push(i),
            }
        }
        let asks = by_shard.into_iter().map(|(shard, idx)| {
            let ask = idx.iter().map(|&i| nodes[i].clone()).collect();
            let call = self.router.call(shard, Request::NodesExist { nodes: ask });
            async move { (idx, call.await) }
        });
        for (idx, got) in join_all(asks).await {
            let got = expect!(got?, Response::Bools(b) => b)?;
            for (i, b) in idx.into_iter().zip(got) {
                out[i] = b;
            }
        }
        Ok(out)
    }

    /// The authoritative (outgoing) entry of each link, from its source shard (asked
    /// concurrently, one call each).
    async fn link_values(&self, keys: &[XrefKey]) -> Result<Vec<Option<XrefValue>>> {
        let mut by_shard: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            by_shard
                .entry(self.shard_for(&k.from_doc))
                .or_default()
                .push(i);
        }
        let asks = by_shard.into_iter().map(|(shard, idx)| {
            let ask = idx.iter().map(|&i| keys[i].clone()).collect();
            let call = self.router.call(shard, Request::LinkValues { keys: ask });
            async move { (idx, call.await) }
        });
        let mut out = vec![None; keys.len()];
        for (idx, got) in join_all(asks).await {
            let got = expect!(got?, Response::LinkValues(v) => v)?;
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
        self.links_from(vec![(doc.to_string(), Some(node.to_string()))], side, kind)
            .await
    }

    /// Links of each start (a node, or with node None every node of a document), in one
    /// direction, verified against the other side: one call per shard holding a start, then one
    /// per shard holding the other ends (none when their documents' trees are cached).
    async fn links_from(
        &self,
        starts: Vec<(String, Option<String>)>,
        side: XrefSide,
        kind: Option<&str>,
    ) -> Result<Vec<CrossReference>> {
        let mut by_shard: HashMap<usize, Vec<(String, Option<String>)>> = HashMap::new();
        for start in starts {
            by_shard
                .entry(self.shard_for(&start.0))
                .or_default()
                .push(start);
        }
        let asks = by_shard.into_iter().map(|(shard, starts)| {
            let req = Request::ListXrefs {
                starts,
                side,
                kind: kind.map(str::to_string),
            };
            self.router.call(shard, req)
        });
        let mut links = vec![];
        for got in join_all(asks).await {
            links.extend(expect!(got?, Response::Xrefs(x) => x)?);
        }
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

    /// Links from, to, or both of a node, following them up to `max_hops` away, through the
    /// documents `visible` admits only.
    pub async fn get_xrefs(
        &self,
        doc: &str,
        node: &str,
        direction: Direction,
        max_hops: u32,
        kind: Option<String>,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<CrossReference>> {
        let start = (doc.to_string(), Some(node.to_string()));
        self.get_xrefs_from(start, direction, max_hops, kind, visible)
            .await
    }

    /// Links of `start` (a node, or with node None every node of a document), in `direction`,
    /// followed breadth first up to `max_hops` away: each link once, at the fewest hops it is
    /// reached in (on either side, for `Both`). Each hop asks all the nodes of its frontier at
    /// once. A link whose far end is a document `visible` refuses (another tenant's) is neither
    /// returned nor followed, so nothing behind it shows either.
    pub async fn get_xrefs_from(
        &self,
        start: (String, Option<String>),
        direction: Direction,
        max_hops: u32,
        kind: Option<String>,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<CrossReference>> {
        let max_hops = max_hops.max(1);
        let sides: &[XrefSide] = match direction {
            Direction::Outgoing => &[XrefSide::Out],
            Direction::Incoming => &[XrefSide::In],
            Direction::Both => &[XrefSide::Out, XrefSide::In],
        };
        let mut out: Vec<CrossReference> = vec![];
        // Each link's place in `out`: a link reached on both sides keeps the fewer hops.
        let mut seen_links: HashMap<XrefKey, usize> = HashMap::new();
        for &side in sides {
            // Nodes reached (expanded or to expand); a whole start document counts as reached.
            let mut visited: HashSet<(String, String)> = HashSet::new();
            let whole_doc = start.1.is_none().then(|| start.0.clone());
            if let (d, Some(n)) = &start {
                visited.insert((d.clone(), n.clone()));
            }
            let mut frontier = vec![start.clone()];
            for hop in 1..=max_hops {
                let mut next = vec![];
                for mut l in self.links_from(frontier, side, kind.as_deref()).await? {
                    let far = match side {
                        XrefSide::Out => (l.key.to_doc.clone(), l.key.to_node.clone()),
                        XrefSide::In => (l.key.from_doc.clone(), l.key.from_node.clone()),
                    };
                    if !visible(&far.0) {
                        continue;
                    }
                    if whole_doc.as_ref() != Some(&far.0) && visited.insert(far.clone()) {
                        next.push((far.0, Some(far.1)));
                    }
                    match seen_links.get(&l.key) {
                        Some(&i) => out[i].hops = out[i].hops.min(hop),
                        None => {
                            seen_links.insert(l.key.clone(), out.len());
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
