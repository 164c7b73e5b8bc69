//! Compiles `proto/tanso/v1/*.proto` with protox (pure Rust, no protoc) and generates tonic code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/tanso/v1/pact.proto",
        "proto/tanso/v1/node.proto",
        "proto/tanso/v1/directory.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("tanso_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
