//! The ports the domain needs from the outside world. Adapters implement them over AWS
//! (`payments-aws`); [`crate::memory`] implements them in memory for tests.

use crate::errors::StoreError;
use crate::fraud::RecentPayment;
use crate::idempotency::DecisionRecord;
use crate::merchant::MerchantConfig;
use crate::settlement::{AuditEntry, Claim, SettlementResult};
use std::future::Future;

/// Merchant configuration lookups (the `merchant-configs` table).
pub trait MerchantDirectory {
    fn merchant(
        &self,
        merchant_id: &str,
    ) -> impl Future<Output = Result<Option<MerchantConfig>, StoreError>> + Send;
}

/// A merchant's payments since a time (the `transactions` merchant index).
pub trait PaymentHistory {
    fn recent(
        &self,
        merchant_id: &str,
        since_ms: u64,
    ) -> impl Future<Output = Result<Vec<RecentPayment>, StoreError>> + Send;
}

/// What a conditional claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    Claimed,
    Exists(Box<DecisionRecord>),
}

/// What completing a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum CompleteOutcome {
    Recorded,
    /// The claim expired and another attempt took it over.
    ClaimLost,
}

/// Decision records and their audit entries (the `transactions` and `audit_logs` tables).
pub trait DecisionStore {
    /// Writes an `INPROGRESS` record unless one exists that is completed or still live.
    fn claim(&self, claim: &Claim)
    -> impl Future<Output = Result<ClaimOutcome, StoreError>> + Send;

    /// In one transaction: completes the record this attempt holds and writes its single
    /// audit entry.
    fn complete(
        &self,
        claim: &Claim,
        result: &SettlementResult,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<CompleteOutcome, StoreError>> + Send;

    /// Reads a record with strong consistency.
    fn get(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<DecisionRecord>, StoreError>> + Send;
}

/// Where signed receipts are kept (the `transaction-archives` bucket).
pub trait ReceiptArchive {
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where settled payments are announced (the settlements topic, for downstream systems).
pub trait Announcer {
    fn announce(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
