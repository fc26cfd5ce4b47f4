//! Compiles proto/treestore.proto into the tonic server and client, and writes the file
//! descriptor set the reflection service serves. protoc comes from protoc-bin-vendored.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto/treestore.proto");
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("treestore_descriptor.bin"))
        .compile_protos(
            &[PathBuf::from("proto/treestore.proto")],
            &[PathBuf::from("proto"), protoc_bin_vendored::include_path()?],
        )?;
    Ok(())
}
