//! The ports the domain needs from the outside world. Adapters implement them over AWS
//! (`payments-aws`); `crate::memory` implements them in memory for tests. Ports speak in
//! records ([`crate::records`]); services use ports.

use crate::errors::StoreError;
use crate::merchant::MerchantConfig;
use crate::records::{
    AuditEntry, CardCount, CardHistory, Claim, DecisionRecord, Outcome, SettlementResult,
};
use std::future::Future;

/// Merchant configuration lookups (the `merchant-configs` table).
pub trait MerchantDirectory {
    fn merchant(
        &self,
        merchant_id: &str,
    ) -> impl Future<Output = Result<Option<MerchantConfig>, StoreError>> + Send;
}

/// A card's current and previous velocity windows (the `card-activity` table): one read
/// of two items, whatever the merchant's rate.
pub trait CardActivityReader {
    fn windows(
        &self,
        current_key: &str,
        previous_key: &str,
    ) -> impl Future<Output = Result<CardHistory, StoreError>> + Send;
}

/// What a conditional claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    Claimed,
    /// The record that failed the condition, as it stood.
    Exists(Box<DecisionRecord>),
}

/// What completing a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum CompleteOutcome {
    Recorded,
    /// The claim expired and another attempt took it over.
    ClaimLost,
    /// The card's current window is full: nothing was written.
    CardCapReached,
}

/// Everything one completing transaction writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub claim: Claim,
    pub result: SettlementResult,
    pub audit: AuditEntry,
    pub card: CardCount,
    /// The outbox marker (the record's shard), set on a settlement.
    pub notification_pending: Option<String>,
}

/// Decision records and their audit entries (the `transactions`, `audit_logs` and
/// `card-activity` tables), as settlement writes them.
pub trait DecisionStore {
    /// Writes an `INPROGRESS` record unless one exists that is completed or still live.
    fn claim(&self, claim: &Claim)
    -> impl Future<Output = Result<ClaimOutcome, StoreError>> + Send;

    /// In one transaction, only while this attempt holds the claim: completes the record,
    /// writes its single audit entry and counts the payment in its card's window.
    fn complete(
        &self,
        completion: &Completion,
    ) -> impl Future<Output = Result<CompleteOutcome, StoreError>> + Send;

    /// Deletes this attempt's claim if it still holds it; true when it did.
    fn release(&self, claim: &Claim) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Reads a record with strong consistency.
    fn get(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<DecisionRecord>, StoreError>> + Send;
}

/// Committed decisions as the notifier reads them (the `transactions` table).
pub trait SettledRecords {
    /// Reads a record with strong consistency.
    fn settled(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<DecisionRecord>, StoreError>> + Send;

    /// Removes the outbox marker; already gone is not an error.
    fn clear_pending(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where signed receipts are kept (the `transaction-archives` bucket).
pub trait ReceiptArchive {
    /// Stores `body` under `key` unless an object is there already; answers the bytes the
    /// key holds afterwards (ours, or what an earlier delivery stored).
    fn put_once(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;
}

/// One announcement: the receipt's JSON, with attributes subscribers filter and
/// deduplicate on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub message: String,
    pub transaction_id: String,
    pub merchant_id: String,
    pub outcome: Outcome,
}

/// Where settled payments are announced (the settlements topic, for downstream systems).
pub trait Announcer {
    fn announce(
        &self,
        announcement: &Announcement,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Settled records whose notification is still pending (`notification-pending-index`).
pub trait PendingNotifications {
    /// The transaction ids of one shard whose record was created before `created_before`.
    fn stale(
        &self,
        shard: &str,
        created_before: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Touches a still-pending record so that its stream delivers it again; false when
    /// the marker was gone.
    fn retrigger(
        &self,
        transaction_id: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The time, and waiting.
pub trait Clock {
    fn now_ms(&self) -> u64;
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> + Send;
}
