//! Bounded JSON responses (`SOCIAL_HTTP__MAX_RESPONSE_BYTES`).
//!
//! A search for 1,000 hits with their vectors at dimension 65,536 would build and send
//! over a gigabyte. Two checks keep every answer under the limit:
//!
//! - **before the search runs**, [`ResponseLimit::check_search`] estimates the vectors'
//!   share of the answer (`limit x dimension x` [`JSON_BYTES_PER_COMPONENT`]; the query
//!   vector has the collection's dimension) and refuses a request whose vectors alone
//!   would exceed the limit, so no work is done for an answer that cannot be sent;
//! - **once the answer is serialized** (once, into the body's bytes),
//!   [`ResponseLimit::json`] refuses a body over the limit (payloads cannot be estimated
//!   beforehand).
//!
//! Both refusals are `InvalidInput` problems (422) that say what to change.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use infra_base::{ErrorKind, InfraError, InfraResult};
use serde::Serialize;

use crate::catalog::{CATALOG_BACKEND, SearchRequest};

/// The most bytes one vector component takes in the JSON answer: a sign, nine significant
/// digits, a point, an exponent and the separator (`-1.2345678e-38,`).
pub const JSON_BYTES_PER_COMPONENT: u64 = 16;

/// The largest JSON body the API sends, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimit {
    max_bytes: u64,
}

impl ResponseLimit {
    /// A limit of `max_bytes` (`SOCIAL_HTTP__MAX_RESPONSE_BYTES`).
    pub fn new(max_bytes: u64) -> Self {
        Self { max_bytes }
    }

    /// The limit in bytes.
    pub fn max_bytes(self) -> u64 {
        self.max_bytes
    }

    /// Refuses, before it runs, a search whose hits' vectors alone would exceed the limit.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, naming the estimate, the limit and what to lower.
    pub fn check_search(self, request: &SearchRequest) -> InfraResult<()> {
        if !request.with_vector {
            return Ok(());
        }
        let components =
            u64::try_from(request.limit.saturating_mul(request.vector.len())).unwrap_or(u64::MAX);
        let estimate = components.saturating_mul(JSON_BYTES_PER_COMPONENT);
        if estimate > self.max_bytes {
            return Err(too_large(
                "search",
                format!(
                    "the answer would hold up to {components} vector components (about \
                     {estimate} bytes), over the response limit of {} bytes: lower limit or \
                     leave with_vector off",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Serializes `value` once into a JSON body, refused when over the limit.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the body is over the limit; `Internal` when `value` cannot be
    /// serialized (never for the API's own types).
    pub fn json<T: Serialize>(self, operation: &'static str, value: &T) -> InfraResult<Response> {
        let body = serde_json::to_vec(value).map_err(|err| {
            InfraError::new(
                ErrorKind::Internal,
                CATALOG_BACKEND,
                operation,
                "the answer cannot be serialized",
            )
            .with_source(err)
        })?;
        let size = u64::try_from(body.len()).unwrap_or(u64::MAX);
        if size > self.max_bytes {
            return Err(too_large(
                operation,
                format!(
                    "the answer is {size} bytes, over the response limit of {} bytes: ask for \
                     fewer items, leave vectors off or turn payloads off",
                    self.max_bytes
                ),
            ));
        }
        Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response())
    }
}

fn too_large(operation: &'static str, message: String) -> InfraError {
    InfraError::new(ErrorKind::InvalidInput, CATALOG_BACKEND, operation, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(limit: usize, dimension: usize, with_vector: bool) -> SearchRequest {
        serde_json::from_value(serde_json::json!({
            "vector": vec![0.5_f32; dimension],
            "limit": limit,
            "with_vector": with_vector,
        }))
        .unwrap()
    }

    #[test]
    fn searches_whose_vectors_cannot_fit_are_refused_before_they_run() {
        let limit = ResponseLimit::new(16 << 20);
        let huge = limit
            .check_search(&request(1_000, 65_536, true))
            .unwrap_err();
        assert_eq!(huge.kind(), ErrorKind::InvalidInput);
        assert!(
            huge.message().contains("65536000 vector components")
                && huge
                    .message()
                    .contains("lower limit or leave with_vector off"),
            "{}",
            huge.message()
        );
        // The same search without vectors, and a search whose vectors fit.
        assert!(limit.check_search(&request(1_000, 65_536, false)).is_ok());
        assert!(limit.check_search(&request(1_000, 768, true)).is_ok());
        // The boundary: exactly the limit passes, one component more does not.
        let exact = ResponseLimit::new(10 * 8 * JSON_BYTES_PER_COMPONENT);
        assert!(exact.check_search(&request(10, 8, true)).is_ok());
        assert!(exact.check_search(&request(10, 9, true)).is_err());
    }

    #[test]
    fn bodies_over_the_limit_are_refused_and_others_sent_as_serialized() {
        let value = serde_json::json!({ "hits": ["x".repeat(100)] });
        let size = serde_json::to_vec(&value).unwrap().len() as u64;
        let fits = ResponseLimit::new(size).json("search", &value).unwrap();
        assert_eq!(
            fits.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
        let err = ResponseLimit::new(size - 1)
            .json("search", &value)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.message()
                .contains(&format!("the answer is {size} bytes")),
            "{}",
            err.message()
        );
    }
}
