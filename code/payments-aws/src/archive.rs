//! Receipts in the `transaction-archives` bucket, encrypted with SSE-S3, written once per
//! key: a redelivery never overwrites the first receipt (nor adds a version).

use crate::errors::classify;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use payments_core::errors::StoreError;
use payments_core::ports::ReceiptArchive;

#[derive(Clone)]
pub struct S3Archive {
    client: Client,
    bucket: String,
}

impl S3Archive {
    /// Builds the S3 client from the shared SDK configuration; path-style addressing
    /// when an endpoint override (the local emulator) is in force.
    pub fn new(config: &aws_config::SdkConfig, bucket: String) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        S3Archive {
            client: Client::from_conf(s3),
            bucket,
        }
    }
}

/// True only when PutObject refused because an object already has the key: 412
/// Precondition Failed, S3's answer to `If-None-Match: *` (S3 API reference, PutObject;
/// S3 User Guide, "How to prevent object overwrites with conditional writes"). Any other
/// failure (no bucket, access denied, a 409 ConditionalRequestConflict of a concurrent
/// write, a timeout) is an error, never "already archived".
fn already_archived(error: &SdkError<PutObjectError, HttpResponse>) -> bool {
    error.code() == Some("PreconditionFailed")
        || error
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 412)
}

impl ReceiptArchive for S3Archive {
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let written = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            // The bucket encrypts by default; asking explicitly makes a misconfigured
            // bucket visible instead of silently different.
            .server_side_encryption(ServerSideEncryption::Aes256)
            // Only if no object has the key: a key that exists answers 412 Precondition
            // Failed. Source: Amazon S3 User Guide, "How to prevent object overwrites with
            // conditional writes"; S3 API reference, PutObject If-None-Match.
            .if_none_match("*")
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        let error = match written {
            Ok(_) => return Ok(body),
            Err(error) => error,
        };
        if !already_archived(&error) {
            return Err(classify("S3", error));
        }
        // The first delivery's bytes win: answer with what is archived.
        let existing = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("S3", e))?;
        let bytes = existing
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                service: "S3",
                detail: format!("reading {key}: {e}"),
            })?;
        Ok(bytes.into_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::primitives::SdkBody;

    fn refused(status: u16, code: Option<&str>) -> SdkError<PutObjectError, HttpResponse> {
        let mut metadata = ErrorMetadata::builder();
        if let Some(code) = code {
            metadata = metadata.code(code);
        }
        SdkError::service_error(
            PutObjectError::generic(metadata.build()),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn only_a_failed_precondition_means_the_receipt_is_already_archived() {
        assert!(already_archived(&refused(412, Some("PreconditionFailed"))));
        // The status alone says it, whatever the body's code.
        assert!(already_archived(&refused(412, None)));
        for (status, code) in [
            (404, "NoSuchBucket"),
            (403, "AccessDenied"),
            (409, "ConditionalRequestConflict"),
            (400, "InvalidRequest"),
            (500, "InternalError"),
            (503, "SlowDown"),
        ] {
            assert!(!already_archived(&refused(status, Some(code))), "{code}");
        }
        assert!(!already_archived(&SdkError::timeout_error("timed out")));
    }
}
