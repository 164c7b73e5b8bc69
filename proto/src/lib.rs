//! tanso wire types: generated from `proto/tanso/v1/*.proto`; nothing else lives here.

/// Messages and services of package `tanso.v1`.
#[allow(clippy::all, clippy::pedantic, unreachable_pub, missing_docs)]
pub mod pb {
    tonic::include_proto!("tanso.v1");

    /// The encoded `FileDescriptorSet`, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/tanso_descriptor.bin"));
}
