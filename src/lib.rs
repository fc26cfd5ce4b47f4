//! The TreeStore server: the `treestore.v1.TreeStore` gRPC API over the shard engine.
//!
//! One concept per module: `config` (flags, environment, TOML file), `status` (the one mapping
//! from engine errors to gRPC status codes), `convert` (proto <-> engine types), `paging` (page
//! tokens), `service` (the RPC handlers), `encode` and `wire` (node-read responses encoded
//! straight from cached trees), `grpc_errors` (status codes of requests rejected before
//! a handler runs), `security` (TLS, authentication, scopes, per-principal limits), `metrics`, `pprof` (CPU profiles on the metrics port), `logging`, `health`
//! and `server` (startup and graceful shutdown); `health_check` is the client side of health,
//! for `treestore health`.

pub mod admission;
pub mod backend;
pub mod config;
pub mod convert;
pub mod encode;
pub mod grpc_errors;
pub mod health;
pub mod health_check;
pub mod logging;
pub mod metrics;
pub mod paging;
pub mod pprof;
pub mod security;
pub mod server;
pub mod service;
pub mod status;
pub mod wire;

/// The generated protobuf messages, server and client of `treestore.v1`.
pub mod pb {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("treestore.v1");

    /// The file descriptor set served by the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("treestore_descriptor");

    /// The generated server: its node-read responses are `crate::wire` types (see build.rs).
    pub mod server {
        #![allow(clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/server/treestore.v1.rs"));
    }
}
