//! Nothing: this package holds one bench, `benches/official_client.rs` (see its docs).
