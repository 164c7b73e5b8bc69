//! The peer protocol's full gRPC method names: signed in request headers, named in audit
//! entries, used as metric labels.

pub const METHOD_GET_FOOTPRINT: &str = "/tanso.v1.Connector/GetFootprint";
pub const METHOD_LIST_FOOTPRINTS: &str = "/tanso.v1.Connector/ListFootprints";
pub const METHOD_CREATE_REQUEST: &str = "/tanso.v1.Connector/CreateRequest";
pub const METHOD_DELIVER_ANSWER: &str = "/tanso.v1.Connector/DeliverAnswer";
pub const METHOD_NOTIFY: &str = "/tanso.v1.Connector/Notify";
pub const METHOD_SUBSCRIBE: &str = "/tanso.v1.Connector/Subscribe";
pub const METHOD_UPDATE_CARD: &str = "/tanso.v1.Connector/UpdateCard";
pub const METHOD_GET_CARD: &str = "/tanso.v1.Connector/GetCard";

/// Longest header string field (caller, key id, audience, method, purpose) accepted, in
/// bytes (the PACT door caps its purpose parameter the same). Company ids and method names are short; anything longer is refused as malformed
/// before any lookup.
pub const MAX_HEADER_FIELD_BYTES: usize = 512;
