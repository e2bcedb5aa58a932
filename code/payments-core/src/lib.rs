//! The payment domain, free of AWS types: what a payment is, which rules accept it, how a
//! decision is recorded exactly once, how a receipt is signed and announced once per
//! settlement. Layers: [`records`] (what is stored) below [`ports`] (what the domain needs
//! from outside) below the services ([`validation`], [`fraud`], [`settlement`],
//! [`receipt`], [`reconcile`]). Adapters (DynamoDB, S3, SNS, Secrets Manager) implement
//! the ports in `payments-aws`; `memory` holds in-memory versions for tests (feature
//! `test-util`).

pub mod errors;
pub mod fraud;
pub mod idempotency;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod merchant;
pub mod money;
pub mod payment;
pub mod ports;
pub mod receipt;
pub mod reconcile;
pub mod records;
pub mod settlement;
pub mod time;
pub mod validation;
pub mod velocity;

pub use errors::{Classify, ErrorClass};
pub use money::{Currency, Money};
pub use payment::{InvalidPayment, Payment};
