//! Adapters from the domain's ports (`payments_core::ports`) to AWS: DynamoDB for
//! decisions, card activity, the outbox and merchants, S3 for receipts, SNS for
//! announcements, Secrets Manager for the signing key and its rotation. Clients are built
//! once per process with the function's `SDK_TIMEOUTS`; `AWS_ENDPOINT_URL` is honoured,
//! so the same binaries run against the local emulator. Each adapter holds only the tables
//! its function uses.

pub mod announcer;
pub mod archive;
pub mod cards;
pub mod config;
pub mod decisions;
pub mod errors;
pub mod items;
pub mod lambda;
pub mod merchants;
pub mod pending;
pub mod rotation;
pub mod settled;
pub mod signing_key;
pub mod stream;
pub mod transactions;
pub mod vault;

pub use config::{SdkTimeouts, aws_config, required_env};
