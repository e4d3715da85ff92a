//! Turning engine, file-system and task failures into [`InfraError`]s.
//!
//! [`engine_error`] is the one place where qdrant-edge's `OperationError` becomes a kind.
//! Messages are safe to show a client: engine details (file paths, backtraces) stay in the
//! error's `source`, for logs.

use std::io;
use std::path::Path;

use infra_base::{ErrorKind, InfraError, VECTOR_BACKEND};
use qdrant_edge::OperationError;

pub(crate) fn error(
    kind: ErrorKind,
    operation: &'static str,
    message: impl Into<String>,
) -> InfraError {
    InfraError::new(kind, VECTOR_BACKEND, operation, message)
}

/// Maps an engine error to a kind, keeping it as the source.
///
/// Errors about the request (a wrong vector, a payload type the engine refuses) are
/// `InvalidInput` with the engine's own text; a missing point is `NotFound`; a timeout is
/// `Timeout`; a cancelled operation is `Unavailable`; storage, I/O, memory and consistency
/// failures are `Internal`, with a generic message (their text names files).
pub(crate) fn engine_error(operation: &'static str, err: OperationError) -> InfraError {
    let (kind, message) = match &err {
        OperationError::WrongVectorDimension { .. }
        | OperationError::VectorNameNotExists { .. }
        | OperationError::TypeError { .. }
        | OperationError::TypeInferenceError { .. }
        | OperationError::ValidationError { .. }
        | OperationError::WrongSparse
        | OperationError::WrongMulti
        | OperationError::MissingRangeIndexForOrderBy { .. }
        | OperationError::MissingMapIndexForFacet { .. }
        | OperationError::VariableTypeError { .. }
        | OperationError::NonFiniteNumber { .. } => (ErrorKind::InvalidInput, err.to_string()),
        OperationError::PointIdError { .. } => (ErrorKind::NotFound, err.to_string()),
        OperationError::Timeout { .. } => (
            ErrorKind::Timeout,
            "the embedded vector engine timed out".to_owned(),
        ),
        OperationError::Cancelled { .. } => (
            ErrorKind::Unavailable,
            "the embedded vector engine cancelled the operation".to_owned(),
        ),
        OperationError::ServiceError { .. }
        | OperationError::InconsistentStorage { .. }
        | OperationError::OutOfMemory { .. } => (
            ErrorKind::Internal,
            "the embedded vector engine failed".to_owned(),
        ),
    };
    error(kind, operation, message).with_source(err)
}

/// A file-system failure of the store's own directory handling; `what` says what was being
/// done (`"create the data directory"`), and the path is named, since these errors are
/// about the operator's configuration.
pub(crate) fn io_error(
    operation: &'static str,
    what: &str,
    path: &Path,
    err: io::Error,
) -> InfraError {
    let hint = match err.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            " (not writable: check SOCIAL_QDRANT__PATH and the directory's permissions)"
        }
        _ => "",
    };
    error(
        ErrorKind::Unavailable,
        operation,
        format!("cannot {what} {}: {err}{hint}", path.display()),
    )
    .with_source(err)
}

/// A blocking task that did not complete: the engine panicked (an engine bug or an I/O
/// failure it does not report), or the runtime is shutting down.
pub(crate) fn join_error(operation: &'static str, err: tokio::task::JoinError) -> InfraError {
    if err.is_panic() {
        error(
            ErrorKind::Internal,
            operation,
            "the embedded vector engine panicked",
        )
        .with_source(err)
    } else {
        error(
            ErrorKind::Unavailable,
            operation,
            "the embedded vector store's task was cancelled (runtime shutting down)",
        )
        .with_source(err)
    }
}

pub(crate) fn not_found(name: &str, operation: &'static str) -> InfraError {
    error(
        ErrorKind::NotFound,
        operation,
        format!("collection {name} does not exist"),
    )
}

pub(crate) fn closed(operation: &'static str) -> InfraError {
    error(
        ErrorKind::Unavailable,
        operation,
        "the embedded vector store is closed",
    )
}

pub(crate) fn not_initialized(operation: &'static str) -> InfraError {
    error(
        ErrorKind::Unavailable,
        operation,
        "the embedded vector store is not initialized: call Lifecycle::init first",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_kinds_and_keep_the_source() {
        let cases = [
            (
                OperationError::WrongVectorDimension {
                    expected_dim: 3,
                    received_dim: 2,
                },
                ErrorKind::InvalidInput,
            ),
            (
                OperationError::PointIdError {
                    missed_point_id: qdrant_edge::PointId::NumId(7),
                },
                ErrorKind::NotFound,
            ),
            (
                OperationError::timeout(std::time::Duration::from_secs(1), "search"),
                ErrorKind::Timeout,
            ),
            (OperationError::cancelled("stop"), ErrorKind::Unavailable),
            (
                OperationError::service_error_light("failed to write /secret/path"),
                ErrorKind::Internal,
            ),
        ];
        for (err, kind) in cases {
            let mapped = engine_error("search", err);
            assert_eq!(mapped.kind(), kind, "{mapped:?}");
            assert!(std::error::Error::source(&mapped).is_some());
            assert!(!mapped.message().contains("/secret/path"));
        }
    }

    #[test]
    fn io_errors_name_the_path_and_hint_at_permissions() {
        let err = io_error(
            "init",
            "create the data directory",
            Path::new("/data/q"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.message().contains("/data/q"), "{}", err.message());
        assert!(err.message().contains("not writable"), "{}", err.message());
    }
}
