//! Validation + fraud scoring of one payment, the pure work of the `validator` and
//! `fraud-detector` functions without their lookups: parse the workflow input, check the
//! merchant's limits, score the patterns. The Python baseline times the same three steps.
//!
//! `cargo xtask bench` runs it with the template's rule settings and the sample payment in
//! `VALIDATION_RULES`, `FRAUD_RULES`, `MERCHANTS` and `BENCH_PAYMENT`.

use criterion::{Criterion, criterion_group, criterion_main};
use payments_core::fraud::{FraudRules, assess};
use payments_core::merchant::MerchantConfig;
use payments_core::payment::Payment;
use payments_core::records::CardHistory;
use payments_core::validation::{ValidationRules, validate};
use serde_json::Value;
use std::collections::BTreeMap;
use std::hint::black_box;

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this benchmark with `cargo xtask bench`")
    })
}

fn screening(c: &mut Criterion) {
    let validation = ValidationRules::from_json(&setting("VALIDATION_RULES")).expect("rules");
    let fraud = FraudRules::from_json(&setting("FRAUD_RULES")).expect("rules");
    let merchants: BTreeMap<String, MerchantConfig> =
        serde_json::from_str(&setting("MERCHANTS")).expect("merchants");
    let input: Value = serde_json::from_str(&setting("BENCH_PAYMENT")).expect("a payment");
    let now_ms = 1_800_000_000_000;
    c.bench_function("screen_one_payment", |b| {
        b.iter(|| {
            let payment = Payment::from_value(black_box(&input)).expect("a valid payment");
            let merchant = merchants
                .get(&payment.merchant_id)
                .expect("a sample merchant");
            let outcome = validate(&payment, merchant, &validation);
            let assessment = assess(&payment, &CardHistory::default(), &fraud, now_ms);
            black_box((outcome, assessment))
        })
    });
}

criterion_group!(benches, screening);
criterion_main!(benches);
