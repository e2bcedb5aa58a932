//! Per-card velocity in fixed windows: the settlement counts each decision in its card's
//! current window (capped, so concurrent payments of one card cannot all settle), and the
//! fraud detector reads the current and previous windows — two items, whatever the
//! merchant's rate — and estimates the sliding-window count from them.

use crate::records::CardHistory;

/// The window length and the cap per card, from the fraud rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Velocity {
    pub window_seconds: u64,
    pub max_per_token: u32,
}

impl Velocity {
    /// The start (epoch seconds) of the fixed window holding `now_ms`.
    pub fn window_start(&self, now_ms: u64) -> u64 {
        let now_s = now_ms / 1000;
        now_s - now_s % self.window_seconds
    }

    /// The key of a card's window item.
    pub fn card_key(fingerprint: &str, window_start: u64) -> String {
        format!("{fingerprint}#{window_start}")
    }

    /// The keys of the card's current and previous windows.
    pub fn keys(&self, fingerprint: &str, now_ms: u64) -> (String, String) {
        let start = self.window_start(now_ms);
        (
            Velocity::card_key(fingerprint, start),
            Velocity::card_key(fingerprint, start.saturating_sub(self.window_seconds)),
        )
    }

    /// When a window's item may go (DynamoDB TTL): one window after the window ends, so
    /// it is still there while it is the "previous" window.
    pub fn expires_at(&self, window_start: u64) -> u64 {
        window_start.saturating_add(self.window_seconds.saturating_mul(2))
    }

    /// The sliding-window estimate: the previous window's count weighted by the share of
    /// the sliding window that still overlaps it, plus the current window's count.
    pub fn estimate(&self, history: &CardHistory, now_ms: u64) -> u64 {
        let window_ms = u128::from(self.window_seconds) * 1000;
        let elapsed_ms = u128::from(now_ms) - u128::from(self.window_start(now_ms)) * 1000;
        let remaining_ms = window_ms.saturating_sub(elapsed_ms);
        let count = |w: &Option<crate::records::CardActivity>| {
            w.as_ref().map_or(0u128, |a| u128::from(a.payments))
        };
        let weighted = count(&history.previous) * remaining_ms / window_ms;
        u64::try_from(count(&history.current) + weighted).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::CardActivity;

    const TEN_MINUTES: Velocity = Velocity {
        window_seconds: 600,
        max_per_token: 5,
    };

    fn window(payments: u64) -> Option<CardActivity> {
        Some(CardActivity {
            card_key: "k".into(),
            payments,
            last_amount_minor: 1,
            last_currency: "EUR".into(),
            last_at_ms: 0,
            last_transaction_id: "t".into(),
            expires_at: 0,
        })
    }

    #[test]
    fn windows_are_fixed_and_keyed_by_card_and_start() {
        let now_ms = 1_800_000_123_456;
        let start = TEN_MINUTES.window_start(now_ms);
        assert_eq!(start % 600, 0);
        assert!(start * 1000 <= now_ms && now_ms < (start + 600) * 1000);
        let (current, previous) = TEN_MINUTES.keys("abc", now_ms);
        assert_eq!(current, format!("abc#{start}"));
        assert_eq!(previous, format!("abc#{}", start - 600));
        assert_eq!(TEN_MINUTES.expires_at(start), start + 1200);
    }

    #[test]
    fn the_estimate_weighs_the_previous_window_by_its_overlap() {
        let start_ms = 1_800_000_000_000; // a multiple of 600 000 ms: a window's start
        assert_eq!(TEN_MINUTES.window_start(start_ms) * 1000, start_ms);
        let history = CardHistory {
            current: window(2),
            previous: window(10),
        };
        // At the start of a window the previous one counts fully, at its middle half.
        assert_eq!(TEN_MINUTES.estimate(&history, start_ms), 12);
        assert_eq!(TEN_MINUTES.estimate(&history, start_ms + 300_000), 7);
        assert_eq!(TEN_MINUTES.estimate(&history, start_ms + 599_999), 2);
        assert_eq!(TEN_MINUTES.estimate(&CardHistory::default(), start_ms), 0);
    }
}
