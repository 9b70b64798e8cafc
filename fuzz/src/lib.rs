//! Shared checks for the fuzz targets.

use lattice_spec::WireMessage;
use std::fmt::Debug;

/// Decodes `data` as `T`; whatever decodes must encode and decode back to itself.
pub fn round_trip<T: WireMessage + PartialEq + Debug>(data: &[u8]) {
    if let Ok(message) = T::decode(data) {
        let encoded = message.encode().expect("a decoded message encodes");
        let again = T::decode(&encoded).expect("an encoded message decodes");
        assert_eq!(again, message);
    }
}

/// Parses `data` as `T` with `FromStr`; whatever parses must print and parse back to itself.
pub fn parse_round_trip<T>(data: &str)
where
    T: std::str::FromStr + std::fmt::Display + PartialEq + Debug,
{
    if let Ok(value) = data.parse::<T>() {
        let printed = value.to_string();
        assert_eq!(printed.parse::<T>().ok(), Some(value));
    }
}
