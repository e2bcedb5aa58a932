//! In-memory implementations of the ports, with the same conditions as the DynamoDB
//! adapters, for unit tests of the domain and the benchmark's in-memory rows. Compiled only
//! for tests and with the `test-util` feature: none of this ships in a function.

use crate::errors::StoreError;
use crate::merchant::MerchantConfig;
use crate::payment::Payment;
use crate::ports::{
    Announcement, Announcer, CardActivityReader, ClaimOutcome, Clock, CompleteOutcome, Completion,
    DecisionStore, MerchantDirectory, PendingNotifications, ReceiptArchive, SettledRecords,
};
use crate::records::{
    AuditEntry, CardActivity, CardHistory, Claim, DecisionRecord, Outcome, SettlementResult,
    StoredStatus,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

/// Drives a future whose ports answer at once (the in-memory ones) to completion. It would
/// spin on a future that waits for real I/O: test use only.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().expect("no poisoning in tests")
}

/// A clock that moves only when told to, or when someone sleeps on it.
#[derive(Debug, Default)]
pub struct MemoryClock {
    now_ms: AtomicU64,
}

impl MemoryClock {
    pub fn at(now_ms: u64) -> Self {
        MemoryClock {
            now_ms: AtomicU64::new(now_ms),
        }
    }

    pub fn advance(&self, ms: u64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for MemoryClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    async fn sleep(&self, ms: u64) {
        // Time moves here only when someone sleeps: a wait of nothing would spin a polling
        // loop forever instead of failing the test that reached it.
        assert!(
            ms > 0,
            "slept 0 ms on the in-memory clock: a polling loop would spin"
        );
        self.advance(ms);
    }
}

struct Stored {
    record: DecisionRecord,
    claim: Claim,
    notification_retry: Option<u64>,
}

/// Faults a test can ask the store to play.
#[derive(Default)]
struct Faults {
    /// The next claim is applied, then answered as its SDK retry would see it.
    claim_twice: bool,
    fail_complete: Option<StoreError>,
    /// On the next read, the claim of this attempt completes (settled).
    complete_on_poll: Option<String>,
}

/// Decision records, audit entries and card windows, with the conditions of the DynamoDB
/// adapter.
#[derive(Default)]
pub struct MemoryDecisionStore {
    records: Mutex<BTreeMap<String, Stored>>,
    audit: Mutex<Vec<AuditEntry>>,
    cards: Mutex<BTreeMap<String, CardActivity>>,
    faults: Mutex<Faults>,
}

impl MemoryDecisionStore {
    pub fn audit_entries(&self) -> Vec<AuditEntry> {
        lock(&self.audit).clone()
    }

    pub fn record(&self, transaction_id: &str) -> Option<DecisionRecord> {
        lock(&self.records)
            .get(transaction_id)
            .map(|s| s.record.clone())
    }

    pub fn cards(&self) -> Vec<CardActivity> {
        lock(&self.cards).values().cloned().collect()
    }

    /// When the reconciler last touched a record.
    pub fn notification_retry(&self, transaction_id: &str) -> Option<u64> {
        lock(&self.records)
            .get(transaction_id)
            .and_then(|s| s.notification_retry)
    }

    /// Leaves a claim as a crashed or still-running invocation would.
    pub fn insert_claim(&self, payment: &Payment, attempt_id: &str, expiry_ms: u64) {
        let claim = Claim::new(payment, attempt_id, 0, expiry_ms);
        self.put(claim, None, None);
    }

    /// A settled record with its outbox marker, as settlement leaves it.
    pub fn insert_settled(&self, result: &SettlementResult, created_at_ms: u64) {
        let claim = Claim {
            transaction_id: result.transaction_id.clone(),
            merchant_id: result.merchant_id.clone(),
            attempt_id: "inserted".into(),
            created_at: crate::time::rfc3339_millis(created_at_ms),
            now_ms: created_at_ms,
            in_progress_expiry_ms: created_at_ms,
            payload_hash: "inserted".into(),
            amount_minor: result.amount_minor,
            currency: result.currency.clone(),
            token_fingerprint: "inserted".into(),
            country: "DE".into(),
        };
        let shard = (result.outcome == Outcome::Settled)
            .then(|| crate::records::notification_shard(&result.transaction_id));
        self.put(claim, Some(result.clone()), shard);
    }

    fn put(&self, claim: Claim, result: Option<SettlementResult>, pending: Option<String>) {
        let record = DecisionRecord {
            transaction_id: claim.transaction_id.clone(),
            status: result
                .as_ref()
                .map_or(StoredStatus::InProgress, |r| StoredStatus::of(r.outcome)),
            attempt_id: claim.attempt_id.clone(),
            in_progress_expiry_ms: claim.in_progress_expiry_ms,
            payload_hash: claim.payload_hash.clone(),
            result,
            notification_pending: pending,
        };
        lock(&self.records).insert(
            claim.transaction_id.clone(),
            Stored {
                record,
                claim,
                notification_retry: None,
            },
        );
    }

    /// The next claim is applied and then reported as failing its condition, as an SDK
    /// retry of an applied `PutItem` sees it (review F8).
    pub fn apply_next_claim_twice(&self) {
        lock(&self.faults).claim_twice = true;
    }

    pub fn fail_next_complete(&self, error: StoreError) {
        lock(&self.faults).fail_complete = Some(error);
    }

    /// The claim held by `attempt_id` completes (settled) before the next read answers.
    pub fn complete_on_next_poll(&self, attempt_id: &str) {
        lock(&self.faults).complete_on_poll = Some(attempt_id.into());
    }

    fn read(&self, transaction_id: &str) -> Option<DecisionRecord> {
        let holder = lock(&self.faults).complete_on_poll.take();
        let mut records = lock(&self.records);
        let stored = records.get_mut(transaction_id)?;
        if holder.as_deref() == Some(stored.record.attempt_id.as_str())
            && stored.record.status == StoredStatus::InProgress
        {
            stored.record.status = StoredStatus::Settled;
            stored.record.result = Some(SettlementResult::decided(
                &stored.claim,
                Outcome::Settled,
                0,
                vec![],
            ));
        }
        Some(stored.record.clone())
    }
}

impl DecisionStore for MemoryDecisionStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let twice = std::mem::take(&mut lock(&self.faults).claim_twice);
        {
            let records = lock(&self.records);
            if let Some(existing) = records.get(&claim.transaction_id) {
                let reclaimable = existing.record.status == StoredStatus::InProgress
                    && existing.record.in_progress_expiry_ms < claim.now_ms;
                if !reclaimable {
                    return Ok(ClaimOutcome::Exists(Box::new(existing.record.clone())));
                }
            }
        }
        self.put(claim.clone(), None, None);
        if twice {
            return Ok(ClaimOutcome::Exists(Box::new(
                self.record(&claim.transaction_id).expect("just written"),
            )));
        }
        Ok(ClaimOutcome::Claimed)
    }

    async fn complete(&self, completion: &Completion) -> Result<CompleteOutcome, StoreError> {
        if let Some(error) = lock(&self.faults).fail_complete.take() {
            return Err(error);
        }
        let mut records = lock(&self.records);
        let mut audits = lock(&self.audit);
        let mut cards = lock(&self.cards);
        let claim = &completion.claim;
        let Some(stored) = records.get_mut(&claim.transaction_id) else {
            return Ok(CompleteOutcome::ClaimLost);
        };
        let holds_claim = stored.record.status == StoredStatus::InProgress
            && stored.record.attempt_id == claim.attempt_id;
        let audited = audits.iter().any(|a| {
            a.transaction_id == completion.audit.transaction_id && a.event == completion.audit.event
        });
        if !holds_claim || audited {
            return Ok(CompleteOutcome::ClaimLost);
        }
        let count = &completion.card;
        let current = cards.get(&count.card_key).map_or(0, |c| c.payments);
        if count.cap.is_some_and(|cap| current >= u64::from(cap)) {
            return Ok(CompleteOutcome::CardCapReached);
        }
        stored.record.status = StoredStatus::of(completion.result.outcome);
        stored.record.result = Some(completion.result.clone());
        stored.record.notification_pending = completion.notification_pending.clone();
        audits.push(completion.audit.clone());
        cards.insert(
            count.card_key.clone(),
            CardActivity {
                card_key: count.card_key.clone(),
                payments: current + 1,
                last_amount_minor: count.amount_minor,
                last_currency: count.currency.clone(),
                last_at_ms: count.at_ms,
                last_transaction_id: count.transaction_id.clone(),
                expires_at: count.expires_at,
            },
        );
        Ok(CompleteOutcome::Recorded)
    }

    async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        let mut records = lock(&self.records);
        let ours = records.get(&claim.transaction_id).is_some_and(|s| {
            s.record.status == StoredStatus::InProgress && s.record.attempt_id == claim.attempt_id
        });
        if ours {
            records.remove(&claim.transaction_id);
        }
        Ok(ours)
    }

    async fn get(&self, transaction_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        Ok(self.read(transaction_id))
    }
}

impl SettledRecords for MemoryDecisionStore {
    async fn settled(&self, transaction_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        Ok(self.read(transaction_id))
    }

    async fn clear_pending(&self, transaction_id: &str) -> Result<(), StoreError> {
        if let Some(stored) = lock(&self.records).get_mut(transaction_id) {
            stored.record.notification_pending = None;
        }
        Ok(())
    }
}

impl PendingNotifications for MemoryDecisionStore {
    async fn stale(&self, shard: &str, created_before: &str) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.records)
            .values()
            .filter(|s| {
                s.record.notification_pending.as_deref() == Some(shard)
                    && s.claim.created_at.as_str() < created_before
            })
            .map(|s| s.record.transaction_id.clone())
            .collect())
    }

    async fn retrigger(&self, transaction_id: &str, now_ms: u64) -> Result<bool, StoreError> {
        let mut records = lock(&self.records);
        match records.get_mut(transaction_id) {
            Some(stored) if stored.record.notification_pending.is_some() => {
                stored.notification_retry = Some(now_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl CardActivityReader for MemoryDecisionStore {
    async fn windows(&self, current: &str, previous: &str) -> Result<CardHistory, StoreError> {
        let cards = lock(&self.cards);
        Ok(CardHistory {
            current: cards.get(current).cloned(),
            previous: cards.get(previous).cloned(),
        })
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
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        Ok(lock(&self.objects)
            .entry(key.to_string())
            .or_insert(body)
            .clone())
    }
}

#[derive(Default)]
pub struct MemoryAnnouncer {
    pub announcements: Mutex<Vec<Announcement>>,
    fail_next: Mutex<bool>,
}

impl MemoryAnnouncer {
    /// The next announcement fails, as a crash between archive and announce would leave it.
    pub fn fail_next(&self) {
        *lock(&self.fail_next) = true;
    }
}

impl Announcer for MemoryAnnouncer {
    async fn announce(&self, announcement: &Announcement) -> Result<(), StoreError> {
        if std::mem::take(&mut *lock(&self.fail_next)) {
            return Err(StoreError::Unavailable {
                service: "SNS",
                detail: "injected".into(),
            });
        }
        lock(&self.announcements).push(announcement.clone());
        Ok(())
    }
}
