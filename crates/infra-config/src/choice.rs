//! Closed sets of words (`standalone|cluster|sentinel`, `none|gzip`, ...).
//!
//! The `choice!` macro declares a small enum that reads its lower-case name
//! case-insensitively, writes it back in lower case, and reports an unknown
//! word as serde's `unknown_variant` so that the error lists what is accepted.

/// Declares a configuration enum with its accepted words and its default.
macro_rules! choice {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
        default = $default:ident;
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every accepted word, in the order they are documented.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The word of the default value (the key table reads it).
            #[allow(dead_code)] // Not every choice is a key of its own (`Scope`).
            pub(crate) const DEFAULT_NAME: &'static str = Self::$default.as_str();

            /// The word used for this value in configuration.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }

            /// Reads a word, ignoring ASCII case.
            pub fn from_name(word: &str) -> Option<Self> {
                $( if word.eq_ignore_ascii_case($text) { return Some(Self::$variant); } )+
                None
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let word = String::deserialize(deserializer)?;
                Self::from_name(word.trim()).ok_or_else(|| {
                    <D::Error as serde::de::Error>::unknown_variant(&word, Self::NAMES)
                })
            }
        }
    };
}

pub(crate) use choice;
