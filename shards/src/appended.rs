//! Fields appended after a stored record: how a record grows without a format version change.
//!
//! A record's bytes are the postcard encoding of its original fields (its *base*, exactly as
//! builds before the extension wrote it), then the appended fields, each a postcard value, in
//! the order they were added. Both directions stay readable:
//!
//! - an older build decodes the base with `postcard::from_bytes`, which ignores bytes after the
//!   value it decoded, so it reads a newer record and does not see the appended fields;
//! - this build reads a record without them (written by an older build) with their defaults.
//!
//! An appended field equal to its default is not written, so a record that has nothing to say
//! in it is byte for byte what older builds wrote. Bytes after the appended fields this build
//! knows are ignored, as older builds ignore these: later extensions append after them.
//!
//! The one appended field so far is `committed_by` (the principal that committed a version), on
//! `VersionInfo`, on the change feed's `FeedEvent::Version` and on the log's `Mutation::Commit`
//! (`docs/design.md`, "Appended fields"). `shards/tests/format.rs` pins both layouts.

use crate::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};

/// `base`'s encoding followed by `committed_by` when it is not empty.
pub fn encode_with_committer<T: Serialize>(base: &T, committed_by: &str) -> Result<Vec<u8>> {
    let mut out = crate::codec::encode(base)?;
    if !committed_by.is_empty() {
        out = postcard::to_extend(committed_by, out)
            .map_err(|e| Error::Internal(format!("encoding a record's committer: {e}")))?;
    }
    Ok(out)
}

/// The base decoded from the front of `bytes`, and the committer after it ("" when the record
/// has none: written by an older build, or with no committer).
pub fn decode_with_committer<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, String)> {
    let (base, rest) = take_base::<T>(bytes)?;
    Ok((base, committer_after_base(rest)?))
}

/// The base decoded from the front of `bytes`, and the bytes after it (its appended fields).
pub fn take_base<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8])> {
    Ok(postcard::take_from_bytes::<T>(bytes)?)
}

/// The committer appended after a base, from the bytes that follow the base ("" when none).
pub fn committer_after_base(rest: &[u8]) -> Result<String> {
    if rest.is_empty() {
        return Ok(String::new());
    }
    let (committed_by, _later_extensions) = postcard::take_from_bytes::<String>(rest)?;
    Ok(committed_by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Base {
        n: u64,
        s: String,
    }

    fn base() -> Base {
        Base {
            n: 300,
            s: "m".into(),
        }
    }

    #[test]
    fn no_committer_writes_the_base_alone() {
        let plain = crate::codec::encode(&base()).unwrap();
        assert_eq!(encode_with_committer(&base(), "").unwrap(), plain);
        assert_eq!(
            decode_with_committer::<Base>(&plain).unwrap(),
            (base(), String::new())
        );
    }

    #[test]
    fn the_committer_follows_the_base_and_older_readers_skip_it() {
        let bytes = encode_with_committer(&base(), "alice").unwrap();
        let plain = crate::codec::encode(&base()).unwrap();
        assert_eq!(&bytes[..plain.len()], &plain[..]);
        assert_eq!(&bytes[plain.len()..], b"\x05alice");
        assert_eq!(
            decode_with_committer::<Base>(&bytes).unwrap(),
            (base(), "alice".to_string())
        );
        // What an older build runs: postcard::from_bytes of the base.
        assert_eq!(crate::codec::decode::<Base>(&bytes).unwrap(), base());
    }

    #[test]
    fn later_extensions_are_ignored_and_damage_is_data_loss() {
        let mut bytes = encode_with_committer(&base(), "bob").unwrap();
        bytes.extend_from_slice(&[0x01, 0x02]);
        assert_eq!(
            decode_with_committer::<Base>(&bytes).unwrap(),
            (base(), "bob".to_string())
        );
        let mut cut = encode_with_committer(&base(), "bob").unwrap();
        cut.pop();
        assert!(matches!(
            decode_with_committer::<Base>(&cut),
            Err(Error::DataLoss(_))
        ));
        let mut not_utf8 = crate::codec::encode(&base()).unwrap();
        not_utf8.extend_from_slice(&[0x01, 0xff]);
        assert!(matches!(
            decode_with_committer::<Base>(&not_utf8),
            Err(Error::DataLoss(_))
        ));
    }
}
