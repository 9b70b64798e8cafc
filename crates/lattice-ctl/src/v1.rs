//! The subset of the wasmCloud 1.x control interface a client needs to fall back to a 1.x
//! host (placeholder: filled in below).

use crate::schema::MessageSchema;

pub(crate) fn catalog() -> Vec<(&'static str, fn(&'static str) -> MessageSchema)> {
    Vec::new()
}
