//! The macro that defines an open, string-valued wire enum.

/// Defines a string-valued wire enum with an `Unknown` fallback.
///
/// Every enum on the lattice wire is an *open set*: a newer peer may send a value this version
/// does not know, and decoding must not fail because of it. The macro adds the `Unknown`
/// variant (`#[serde(other)]`), `#[non_exhaustive]`, `as_str`, `Display`, and the derives every
/// message type carries, so that the rule is applied in one place.
///
/// It is exported for the other message crates of this workspace; it is not a stable API.
#[doc(hidden)]
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize, ::schemars::JsonSchema,
        )]
        #[cfg_attr(feature = "arbitrary", derive(::arbitrary::Arbitrary))]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
            /// A value sent by a newer peer that this version does not know.
            #[serde(rename = "unknown", other)]
            Unknown,
        }

        impl $name {
            /// Every known value, in declaration order (without `Unknown`).
            pub const KNOWN: &'static [Self] = &[$( Self::$variant, )+];

            /// The value as it appears on the wire.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unknown => "unknown",
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}
