//! Which shard owns a document. The hash must give the same answer on every machine, CPU and
//! build for as long as a data directory lives: XXH3-64 (seed 0) is a fixed, published algorithm
//! whose output does not depend on CPU features or crate version (unlike ahash, which is for
//! in-memory maps only).

use xxhash_rust::xxh3::xxh3_64;

pub fn shard_of(doc_id: &str, shard_count: usize) -> usize {
    (xxh3_64(doc_id.as_bytes()) % shard_count.max(1) as u64) as usize
}

/// The shard holding a cached tool result.
pub fn shard_of_tool(tool: &str, canonical_args: &str, shard_count: usize) -> usize {
    let mut bytes = Vec::with_capacity(tool.len() + canonical_args.len() + 1);
    bytes.extend_from_slice(tool.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(canonical_args.as_bytes());
    (xxh3_64(&bytes) % shard_count.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_is_pinned() {
        // These values are part of the on-disk format: a change here strands documents.
        assert_eq!(xxh3_64(b""), 0x2D06800538D394C2);
        assert_eq!(shard_of("fed-2019", 1), 0);
        let spread: std::collections::HashSet<usize> =
            (0..100).map(|i| shard_of(&format!("doc-{i}"), 4)).collect();
        assert_eq!(spread.len(), 4);
    }
}
