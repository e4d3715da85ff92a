//! Integers in request bodies as JSON Schema means them: `5` and `5.0` are both the
//! integer 5 (the OpenAPI document says `"type": "integer"`, which admits integer-valued
//! numbers), while `5.5`, negatives and strings are refused with serde's usual message.

use serde::{Deserialize, Deserializer, de};

/// A `usize` from a JSON integer or integer-valued number (`deserialize_with`).
///
/// # Errors
///
/// Anything else: a fraction, a negative number, a value over `usize::MAX`, another type.
pub(crate) fn usize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    match Number::deserialize(deserializer)? {
        Number::Unsigned(n) => usize::try_from(n)
            .map_err(|_| de::Error::invalid_value(de::Unexpected::Unsigned(n), &EXPECTED)),
        Number::Signed(n) => Err(de::Error::invalid_value(
            de::Unexpected::Signed(n),
            &EXPECTED,
        )),
        Number::Float(x) => {
            // 2^64 as f64: every integral f64 in [0, 2^64) is a u64 exactly.
            const LIMIT: f64 = 18_446_744_073_709_551_616.0;
            if x.fract() != 0.0 || !(0.0..LIMIT).contains(&x) {
                return Err(de::Error::invalid_value(
                    de::Unexpected::Float(x),
                    &EXPECTED,
                ));
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = x as u64;
            usize::try_from(n)
                .map_err(|_| de::Error::invalid_value(de::Unexpected::Float(x), &EXPECTED))
        }
    }
}

/// An optional `usize` (`#[serde(default, deserialize_with = ...)]`): absent is `None`; a
/// present value is read as [`usize`] reads it, so `null` is refused like any other
/// non-integer (the OpenAPI document's optional integers are not nullable).
///
/// # Errors
///
/// What [`usize`] refuses, `null` included.
pub(crate) fn option_usize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    usize(deserializer).map(Some)
}

const EXPECTED: &str = "a non-negative integer";

#[derive(Deserialize)]
#[serde(untagged, expecting = "a non-negative integer")]
enum Number {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::usize")]
        n: usize,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Optional {
        #[serde(default, deserialize_with = "super::option_usize")]
        n: Option<usize>,
    }

    fn optional(json: &str) -> Result<Option<usize>, String> {
        serde_json::from_str::<Optional>(json)
            .map(|b| b.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_optional_integer_may_be_absent_and_is_read_like_a_required_one() {
        assert_eq!(optional("{}"), Ok(None));
        assert_eq!(optional(r#"{"n": 7}"#), Ok(Some(7)));
        assert_eq!(optional(r#"{"n": 7.0}"#), Ok(Some(7)));
        for refused in ["null", "-1", "7.5", "\"7\""] {
            let err = optional(&format!(r#"{{"n": {refused}}}"#)).unwrap_err();
            assert!(err.contains("a non-negative integer"), "{refused}: {err}");
        }
    }

    fn n(json: &str) -> Result<usize, String> {
        serde_json::from_str::<Body>(&format!(r#"{{"n": {json}}}"#))
            .map(|b| b.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integers_and_integer_valued_numbers_are_accepted() {
        assert_eq!(n("21"), Ok(21));
        assert_eq!(n("21.0"), Ok(21));
        assert_eq!(n("2.1e1"), Ok(21));
        assert_eq!(n("0"), Ok(0), "range checks are the caller's");
    }

    #[test]
    fn fractions_negatives_and_other_types_are_refused() {
        for refused in ["21.5", "-1", "-1.0", "1e30", "\"21\"", "null", "true"] {
            let err = n(refused).unwrap_err();
            assert!(err.contains("a non-negative integer"), "{refused}: {err}");
        }
    }
}
