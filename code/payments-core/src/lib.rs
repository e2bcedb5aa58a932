//! The payment domain, free of AWS types: what a payment is, which rules accept it, how a
//! decision is recorded exactly once, and how a receipt is signed. Adapters (DynamoDB, S3,
//! SNS, Secrets Manager) implement the ports in [`ports`]; [`memory`] holds in-memory
//! versions for tests.

pub mod errors;
pub mod fraud;
pub mod idempotency;
pub mod memory;
pub mod merchant;
pub mod money;
pub mod payment;
pub mod ports;
pub mod receipt;
pub mod rotation;
pub mod settlement;
pub mod time;
pub mod validation;

pub use errors::{Classify, ErrorClass};
pub use money::{Currency, Money};
pub use payment::{InvalidPayment, Payment};
