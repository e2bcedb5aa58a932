//! SDK errors, classified for the workflow: what a retry may fix is `Unavailable`
//! (Retryable), everything else `Refused` (alert a person). The message keeps the
//! SDK's context chain so the cause is never lost.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use payments_core::errors::StoreError;

/// Service error codes that mean "try again later".
const TRANSIENT_CODES: [&str; 10] = [
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
    "SlowDown",
    // S3: a concurrent conditional write to the same key; "retry the upload".
    // Source: S3 API reference, PutObject If-None-Match.
    "ConditionalRequestConflict",
];

pub fn classify<E, R>(service: &'static str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(&error).to_string();
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => error
            .code()
            .is_some_and(|code| TRANSIENT_CODES.contains(&code)),
        _ => false,
    };
    if transient {
        StoreError::Unavailable { service, detail }
    } else {
        StoreError::Refused { service, detail }
    }
}

/// What a cancelled completing transaction means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancellation {
    /// The owner condition (or the audit entry's absence) failed: another attempt decided.
    ClaimLost,
    /// The card counter's cap condition failed.
    CardCapReached,
    /// A conflict with a concurrent transaction, or throttling: retry.
    Transient(String),
    /// Anything else (validation, item size, …): a fault to look at.
    Refused(String),
}

/// Cancellation reason codes a retry may clear. Source: DynamoDB API reference,
/// `TransactWriteItems` / `TransactionCanceledException` ("Cancellation reason codes and
/// possible error messages") and `CancellationReason`.
const TRANSIENT_REASONS: [&str; 3] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
];

/// Reads a cancelled transaction's reasons, one per item in request order (review F2):
/// `owner_items` are the positions whose failed condition means the claim was lost,
/// `card_item` the card counter's. `TransactionCanceledException` itself is never
/// retried by the SDK, so a transient reason must be reported as retryable here.
pub fn classify_cancellation(
    cancelled: &TransactionCanceledException,
    owner_items: &[usize],
    card_item: usize,
) -> Cancellation {
    let codes: Vec<&str> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or("None"))
        .collect();
    let failed = |i: usize| codes.get(i) == Some(&"ConditionalCheckFailed");
    let summary = format!("transaction cancelled: {codes:?}");
    if owner_items.iter().any(|&i| failed(i)) {
        Cancellation::ClaimLost
    } else if failed(card_item) {
        Cancellation::CardCapReached
    } else if codes.iter().any(|c| TRANSIENT_REASONS.contains(c)) {
        Cancellation::Transient(summary)
    } else {
        Cancellation::Refused(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_s3::primitives::SdkBody;

    fn cancelled(codes: &[&str]) -> TransactionCanceledException {
        let mut builder = TransactionCanceledException::builder().message("Transaction cancelled");
        for code in codes {
            builder =
                builder.cancellation_reasons(CancellationReason::builder().code(*code).build());
        }
        builder.build()
    }

    fn service(code: &str, status: u16) -> SdkError<GetItemError, HttpResponse> {
        SdkError::service_error(
            GetItemError::generic(ErrorMetadata::builder().code(code).build()),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn throttling_timeouts_and_lost_connections_are_retryable_and_refusals_are_not() {
        let retryable = |e: SdkError<GetItemError, HttpResponse>| {
            matches!(classify("DynamoDB", e), StoreError::Unavailable { .. })
        };
        for code in TRANSIENT_CODES {
            assert!(retryable(service(code, 400)), "{code}");
        }
        for code in [
            "AccessDeniedException",
            "ValidationException",
            "ResourceNotFoundException",
            "ConditionalCheckFailedException",
            "UnrecognizedClientException",
        ] {
            assert!(!retryable(service(code, 400)), "{code}");
        }
        assert!(retryable(SdkError::timeout_error("attempt timeout")));
        assert!(retryable(SdkError::dispatch_failure(ConnectorError::io(
            "connection refused".into()
        ))));
        assert!(retryable(SdkError::response_error(
            "truncated body",
            HttpResponse::new(200.try_into().unwrap(), SdkBody::empty())
        )));
        // A request the SDK could not even build will not build on a retry either.
        assert!(!retryable(SdkError::construction_failure("no table name")));
    }

    fn read(codes: &[&str]) -> Cancellation {
        classify_cancellation(&cancelled(codes), &[0, 1], 2)
    }

    #[test]
    fn cancellation_reasons_decide_what_a_cancelled_completion_means() {
        assert_eq!(
            read(&["ConditionalCheckFailed", "None", "None"]),
            Cancellation::ClaimLost
        );
        assert_eq!(
            read(&["None", "ConditionalCheckFailed", "None"]),
            Cancellation::ClaimLost
        );
        assert_eq!(
            read(&["ConditionalCheckFailed", "None", "ConditionalCheckFailed"]),
            Cancellation::ClaimLost,
            "a lost claim outranks a full card"
        );
        assert_eq!(
            read(&["None", "None", "ConditionalCheckFailed"]),
            Cancellation::CardCapReached
        );
        for transient in [
            "TransactionConflict",
            "ThrottlingError",
            "ProvisionedThroughputExceeded",
        ] {
            assert!(
                matches!(
                    read(&["None", transient, "None"]),
                    Cancellation::Transient(_)
                ),
                "{transient}"
            );
        }
        for other in ["ValidationError", "ItemCollectionSizeLimitExceeded"] {
            assert!(
                matches!(read(&[other, "None", "None"]), Cancellation::Refused(_)),
                "{other}"
            );
        }
        assert!(matches!(read(&[]), Cancellation::Refused(_)));
    }
}
