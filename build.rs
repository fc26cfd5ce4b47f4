//! Compiles proto/treestore.proto twice:
//! - the messages and the client (`crate::pb`), and the file descriptor set the reflection
//!   service serves;
//! - the server (`crate::pb::server`), over those messages, except that the node-read responses
//!   are `crate::wire`'s types, which the service may send already encoded (`src/encode.rs`).
//!
//! protoc comes from protoc-bin-vendored.

use std::path::PathBuf;

/// Responses the server may send pre-encoded, with their `crate::wire` types.
const WIRE_RESPONSES: &[&str] = &[
    "GetDocumentResponse",
    "GetNodeResponse",
    "GetSubtreeResponse",
    "GetChildrenResponse",
    "GetAncestorsResponse",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto/treestore.proto");
    let protos = [PathBuf::from("proto/treestore.proto")];
    let includes = [PathBuf::from("proto"), protoc_bin_vendored::include_path()?];
    tonic_prost_build::configure()
        .build_server(false)
        .file_descriptor_set_path(out.join("treestore_descriptor.bin"))
        .compile_protos(&protos, &includes)?;

    let server_out = out.join("server");
    std::fs::create_dir_all(&server_out)?;
    let mut server = tonic_prost_build::configure()
        .build_client(false)
        .out_dir(&server_out);
    for name in WIRE_RESPONSES {
        server = server.extern_path(
            format!(".treestore.v1.{name}"),
            format!("crate::wire::{name}"),
        );
    }
    server
        .extern_path(".treestore.v1", "crate::pb")
        .compile_protos(&protos, &includes)?;
    Ok(())
}
