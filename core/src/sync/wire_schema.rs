//! JSON Schemas of the wire fields whose JSON form is not their Rust type's (built with the
//! `schema` feature, for the server's `GET /openapi.json`): Automerge bytes travel as base64,
//! change hashes as hex, so a schema derived from `Vec<u8>` or a bare `String` would describe a
//! message no client sends. The patterns are those of `schemas/wire/*.schema.json`.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Automerge bytes or a catalogue bundle ([`super::wire::b64`]): standard base64, padded. The
/// pattern admits only what the decoder takes (whole quanta, padding only at the end): the
/// looser `^[A-Za-z0-9+/]*={0,2}$` of `schemas/wire` let generated requests through that the
/// server refuses as malformed.
pub fn base64(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "contentEncoding": "base64",
        "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
    })
}

/// A list of change hashes ([`super::wire::heads_field`]): lowercase hex SHA-256 each.
pub fn heads(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    })
}

/// A record id ([`super::wire::id_field`]): a UUID, hyphenated.
pub fn doc_id(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "uuid",
        "pattern": "^[0-9a-fA-F-]{36}$"
    })
}
