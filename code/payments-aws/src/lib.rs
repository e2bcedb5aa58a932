//! Adapters from the domain's ports (`payments_core::ports`) to AWS: DynamoDB for
//! decisions, history and merchants, S3 for receipts, SNS for announcements, Secrets
//! Manager for the signing key and its rotation. Clients are built once per process;
//! `AWS_ENDPOINT_URL` is honoured, so the same binaries run against the local emulator.

pub mod announcer;
pub mod archive;
pub mod config;
pub mod decisions;
pub mod errors;
pub mod items;
pub mod lambda;
pub mod merchants;
pub mod signing_key;
pub mod vault;

pub use config::{aws_config, required_env};
