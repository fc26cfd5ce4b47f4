//! The one mapping from engine errors to gRPC status codes (documented in README.md).

use shards::Error;
use tonic::{Code, Status};

/// The gRPC status of an engine error. The message names the offending field or object.
pub fn to_status(e: Error) -> Status {
    let code = code_of(&e);
    if code == Code::Internal {
        tracing::error!(error = %e, "internal error");
    }
    // Ids inside the engine are qualified by namespace; the message shows them as the caller
    // named them.
    Status::new(code, shards::namespace::publish_text(&e.to_string()))
}

pub fn code_of(e: &Error) -> Code {
    match e {
        Error::InvalidArgument { .. } => Code::InvalidArgument,
        Error::NotFound { .. } => Code::NotFound,
        Error::AlreadyExists { .. } => Code::AlreadyExists,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::Conflict(_) => Code::Aborted,
        Error::ResourceExhausted(_) => Code::ResourceExhausted,
        Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
        Error::Unavailable { .. } => Code::Unavailable,
        Error::DataLoss(_) => Code::DataLoss,
        Error::Storage(_) | Error::Internal(_) => Code::Internal,
    }
}

/// INVALID_ARGUMENT naming `field`, with the same wording as the engine's.
pub fn invalid(field: &str, reason: impl Into<String>) -> Status {
    to_status(Error::invalid(field, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_code() {
        let cases = [
            (Error::invalid("doc_id", "x"), Code::InvalidArgument),
            (Error::not_found("node", "d/n"), Code::NotFound),
            (Error::already_exists("document", "d"), Code::AlreadyExists),
            (
                Error::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (Error::Conflict("x".into()), Code::Aborted),
            (
                Error::ResourceExhausted("x".into()),
                Code::ResourceExhausted,
            ),
            (
                Error::Unavailable {
                    shard: 0,
                    reason: "x".into(),
                },
                Code::Unavailable,
            ),
            (Error::DeadlineExceeded("x".into()), Code::DeadlineExceeded),
            (Error::DataLoss("x".into()), Code::DataLoss),
            (Error::Storage("x".into()), Code::Internal),
            (Error::Internal("x".into()), Code::Internal),
        ];
        for (e, code) in cases {
            assert_eq!(to_status(e).code(), code);
        }
    }

    #[test]
    fn invalid_argument_names_the_field() {
        let s = to_status(Error::invalid("node.node_id", "must not be empty"));
        assert!(s.message().contains("node.node_id"), "{}", s.message());
    }
}
