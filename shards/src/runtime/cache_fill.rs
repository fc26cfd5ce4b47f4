//! Filling a shard's tree cache after reads missed it: the tree a read was answered from is
//! loaded on a snapshot on the blocking pool, then kept if it is still current when it arrives
//! (the rules are `tree::Loads`'s).

use super::executor::{spawn_blocking, spawn_local};
use super::shard_loop::Served;
use super::ShardStore;
use crate::model::VersionNo;
use crate::tree;
use crate::view::read_head;
use std::rc::Rc;
use treestore_wal::FileSystem;

/// After a read of `doc` at `version` was answered from the store: loads that tree into the
/// cache, off the executor, when `tree::Loads` says so.
pub(super) fn after_read<F: FileSystem + 'static, S: ShardStore>(
    s: &Rc<Served<F, S>>,
    doc: String,
    version: VersionNo,
) {
    let Ok(Some(head)) = read_head(&s.store, &doc) else {
        return;
    };
    if !s
        .core
        .borrow_mut()
        .loads
        .start(&s.cache, &doc, version, &head)
    {
        return;
    }
    // Any snapshot holding `version` gives the same tree; the checks in `finish` drop it if the
    // document was deleted or re-created meanwhile.
    let snapshot = s.store.snapshot();
    s.in_flight.set(s.in_flight.get() + 1);
    let s = s.clone();
    spawn_local(async move {
        let d = doc.clone();
        let loaded = spawn_blocking(move || {
            let head = read_head(&*snapshot, &d)?
                .ok_or_else(|| crate::Error::not_found("document", d.as_str()))?;
            tree::load(&*snapshot, &d, version, &head)
        })
        .await;
        if let Err(e) = &loaded {
            tracing::debug!(shard = s.id, doc = %doc, version, error = %e, "tree not loaded");
        }
        let head = read_head(&s.store, &doc).ok().flatten();
        let mut core = s.core.borrow_mut();
        let pending = core.staging.pending(&doc);
        core.loads
            .finish(&s.cache, &doc, version, loaded.ok(), head.as_ref(), pending);
        drop(core);
        s.in_flight.set(s.in_flight.get() - 1);
    });
}
