//! The data directory's manifest: format version and shard count, fixed when the directory is
//! created. Written once via a temp file, fsync, rename and directory fsync.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::Path;

/// 2: node shapes (`s` keys) stored apart from node contents (`n` keys); `DocCommit` carries
/// per-node `NodeWrite`s and the creation time.
pub const FORMAT_VERSION: u32 = 2;
pub const FILE: &str = "MANIFEST.json";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub shard_count: usize,
    pub created_at: i64,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Storage(format!("{what} {}: {e}", path.display()))
}

/// Reads the manifest of `dir`, creating it with `shard_count` shards when the directory is new.
/// A manifest of another format version is refused.
pub fn open_or_create(dir: &Path, shard_count: usize, now: i64) -> Result<Manifest> {
    let path = dir.join(FILE);
    if path.exists() {
        let text = fs::read_to_string(&path).map_err(|e| io("reading", &path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::DataLoss(format!(
                "{} is not a TreeStore manifest: {e}",
                path.display()
            ))
        })?;
        if m.format_version != FORMAT_VERSION {
            return Err(Error::FailedPrecondition(format!(
                "data directory {} has format version {}, this build reads version {FORMAT_VERSION}; \
                 use a matching TreeStore release or export and re-import the data",
                dir.display(),
                m.format_version
            )));
        }
        if m.shard_count == 0 {
            return Err(Error::DataLoss(format!(
                "{} records zero shards",
                path.display()
            )));
        }
        return Ok(m);
    }
    if shard_count == 0 {
        return Err(Error::invalid("shards", "must be at least 1"));
    }
    fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let m = Manifest {
        format_version: FORMAT_VERSION,
        shard_count,
        created_at: now,
    };
    let tmp = dir.join(format!("{FILE}.tmp"));
    let body = serde_json::to_string_pretty(&m).map_err(|e| Error::Internal(e.to_string()))?;
    let mut f = fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
    f.write_all(body.as_bytes())
        .map_err(|e| io("writing", &tmp, e))?;
    f.sync_all().map_err(|e| io("syncing", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| io("renaming", &tmp, e))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", dir, e))?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_count_is_fixed_at_creation() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(open_or_create(d.path(), 4, 1).unwrap().shard_count, 4);
        assert_eq!(open_or_create(d.path(), 2, 2).unwrap().shard_count, 4);
    }

    #[test]
    fn other_format_versions_are_refused_clearly() {
        // 1: the layout before node shapes were stored apart; 99: a future one.
        for old in [1, 99] {
            let d = tempfile::tempdir().unwrap();
            fs::write(
                d.path().join(FILE),
                format!(r#"{{"format_version": {old}, "shard_count": 2, "created_at": 0}}"#),
            )
            .unwrap();
            let e = open_or_create(d.path(), 2, 0).unwrap_err();
            assert!(matches!(e, Error::FailedPrecondition(_)), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("format version {old}")), "{msg}");
            assert!(
                msg.contains(&format!("reads version {FORMAT_VERSION}")),
                "{msg}"
            );
        }
    }
}
