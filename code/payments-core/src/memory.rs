//! In-memory implementations of the ports, with the same conditions as the DynamoDB
//! adapter, for unit tests of the domain and of the functions' handlers.

use crate::errors::StoreError;
use crate::fraud::RecentPayment;
use crate::idempotency::{DecisionRecord, StoredStatus};
use crate::merchant::MerchantConfig;
use crate::payment::Payment;
use crate::ports::{
    Announcer, ClaimOutcome, CompleteOutcome, DecisionStore, MerchantDirectory, PaymentHistory,
    ReceiptArchive,
};
use crate::settlement::{AuditEntry, Claim, SettlementResult};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Drives a future whose ports answer at once (the in-memory ones) to completion.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

#[derive(Default)]
pub struct MemoryDecisionStore {
    records: Mutex<BTreeMap<String, (DecisionRecord, Claim)>>,
    audit: Mutex<Vec<AuditEntry>>,
}

impl MemoryDecisionStore {
    pub fn audit_entries(&self) -> Vec<AuditEntry> {
        self.audit.lock().expect("no poisoning in tests").clone()
    }

    pub fn records(&self) -> Vec<DecisionRecord> {
        self.records
            .lock()
            .expect("no poisoning in tests")
            .values()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Leaves a claim as a crashed invocation would.
    pub fn insert_claim(&self, payment: &Payment, attempt_id: &str, expiry_ms: u64) {
        let claim = Claim {
            transaction_id: payment.transaction_id.clone(),
            merchant_id: payment.merchant_id.clone(),
            attempt_id: attempt_id.into(),
            created_at: crate::time::rfc3339_millis(0),
            now_ms: 0,
            in_progress_expiry_ms: expiry_ms,
            payload_hash: payment.payload_hash(),
            amount_minor: payment.amount.minor,
            currency: payment.amount.currency.code().into(),
            token_fingerprint: payment.token_fingerprint(),
            country: payment.country.clone(),
        };
        let record = in_progress(&claim);
        self.records
            .lock()
            .expect("no poisoning in tests")
            .insert(claim.transaction_id.clone(), (record, claim));
    }
}

fn in_progress(claim: &Claim) -> DecisionRecord {
    DecisionRecord {
        transaction_id: claim.transaction_id.clone(),
        status: StoredStatus::InProgress,
        attempt_id: claim.attempt_id.clone(),
        in_progress_expiry_ms: claim.in_progress_expiry_ms,
        payload_hash: claim.payload_hash.clone(),
        result: None,
    }
}

impl DecisionStore for MemoryDecisionStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let mut records = self.records.lock().expect("no poisoning in tests");
        if let Some((existing, _)) = records.get(&claim.transaction_id) {
            let reclaimable = existing.status == StoredStatus::InProgress
                && existing.in_progress_expiry_ms < claim.now_ms;
            if !reclaimable {
                return Ok(ClaimOutcome::Exists(Box::new(existing.clone())));
            }
        }
        records.insert(
            claim.transaction_id.clone(),
            (in_progress(claim), claim.clone()),
        );
        Ok(ClaimOutcome::Claimed)
    }

    async fn complete(
        &self,
        claim: &Claim,
        result: &SettlementResult,
        audit: &AuditEntry,
    ) -> Result<CompleteOutcome, StoreError> {
        let mut records = self.records.lock().expect("no poisoning in tests");
        let mut audits = self.audit.lock().expect("no poisoning in tests");
        let Some((record, _)) = records.get_mut(&claim.transaction_id) else {
            return Ok(CompleteOutcome::ClaimLost);
        };
        let holds_claim =
            record.status == StoredStatus::InProgress && record.attempt_id == claim.attempt_id;
        let audited = audits
            .iter()
            .any(|a| a.transaction_id == audit.transaction_id && a.event == audit.event);
        if !holds_claim || audited {
            return Ok(CompleteOutcome::ClaimLost);
        }
        record.status = StoredStatus::of(result.outcome);
        record.result = Some(result.clone());
        audits.push(audit.clone());
        Ok(CompleteOutcome::Recorded)
    }

    async fn get(&self, transaction_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .expect("no poisoning in tests")
            .get(transaction_id)
            .map(|(r, _)| r.clone()))
    }
}

impl PaymentHistory for MemoryDecisionStore {
    async fn recent(
        &self,
        merchant_id: &str,
        since_ms: u64,
    ) -> Result<Vec<RecentPayment>, StoreError> {
        Ok(self
            .records
            .lock()
            .expect("no poisoning in tests")
            .values()
            .filter(|(_, c)| c.merchant_id == merchant_id && c.now_ms >= since_ms)
            .map(|(_, c)| RecentPayment {
                transaction_id: c.transaction_id.clone(),
                token_fingerprint: c.token_fingerprint.clone(),
                amount_minor: c.amount_minor,
                currency: c.currency.clone(),
                created_at_ms: c.now_ms,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct MemoryMerchants {
    pub merchants: BTreeMap<String, MerchantConfig>,
}

impl MerchantDirectory for MemoryMerchants {
    async fn merchant(&self, merchant_id: &str) -> Result<Option<MerchantConfig>, StoreError> {
        Ok(self.merchants.get(merchant_id).cloned())
    }
}

#[derive(Default)]
pub struct MemoryArchive {
    pub objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl ReceiptArchive for MemoryArchive {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.objects
            .lock()
            .expect("no poisoning in tests")
            .insert(key.to_string(), body);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryAnnouncer {
    pub messages: Mutex<Vec<(String, String)>>,
}

impl Announcer for MemoryAnnouncer {
    async fn announce(&self, subject: &str, message: &str) -> Result<(), StoreError> {
        self.messages
            .lock()
            .expect("no poisoning in tests")
            .push((subject.into(), message.into()));
        Ok(())
    }
}
