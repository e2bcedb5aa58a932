//! Receipts in the `transaction-archives` bucket, encrypted with SSE-S3.

use crate::errors::classify;
use aws_sdk_s3::Client;
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

impl ReceiptArchive for S3Archive {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            // The bucket encrypts by default; asking explicitly makes a misconfigured
            // bucket visible instead of silently different.
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify("S3", e))?;
        Ok(())
    }
}
