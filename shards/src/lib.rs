//! TreeStore's shard engine: the versioned document-tree model over a key-value store, one shard
//! per core.
//!
//! Layers, bottom up:
//! - `store`: ordered key-value storage behind `KvStore` (RocksDB column family, or memory).
//! - `keys`, `codec`, `model`: the key layout and the stored records.
//! - `view` (reads at a version), `draft` (writes), `apply` (mutation -> write batch),
//!   `queries`: the tree logic, as plain functions over a store.
//! - `tree`: documents as decoded in-memory trees, and the per-shard cache of published ones.
//! - `shard`: one shard's request handling over its state, no executor needed.
//! - `engine`: many shards behind a `ShardRouter`, with placement and cross-shard operations.
//! - `runtime`: the glommio executors, inboxes and the shard log (the only glommio code).

pub mod appended;
pub mod apply;
pub mod changed;
pub mod codec;
pub mod disk_space;
pub mod draft;
pub mod engine;
pub mod error;
pub mod feed;
pub mod keys;
pub mod limits;
pub mod local;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod mutation;
pub mod namespace;
pub mod pageindex;
pub mod placement;
pub mod postings;
pub mod queries;
pub mod reads;
pub mod request;
pub mod runtime;
pub mod shard;
pub mod store;
pub mod tree;
pub mod view;
pub mod words;

pub use error::{Error, Result};
pub use limits::Limits;
pub use model::*;
