//! A merchant's configuration, as the `merchant-configs` table holds it (seed 004), and the
//! API keys bound to it (issue 12, H2).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Amount bounds in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountLimits {
    pub min_amount_minor: u64,
    pub max_amount_minor: u64,
}

/// What one merchant may accept, and who may submit payments for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    pub merchant_id: String,
    pub active: bool,
    /// The currencies the merchant accepts, each with its own bounds. Empty: the defaults.
    #[serde(default)]
    pub currencies: BTreeMap<String, AmountLimits>,
    /// The ids (not the values) of the API Gateway keys that may submit its payments.
    pub api_key_ids: BTreeSet<String>,
}

impl MerchantConfig {
    /// True when the caller's API key is bound to this merchant. An empty id never is.
    pub fn binds(&self, api_key_id: &str) -> bool {
        !api_key_id.is_empty() && self.api_key_ids.contains(api_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_key_is_bound() {
        let merchant = MerchantConfig {
            merchant_id: "merchant-001".into(),
            active: true,
            currencies: BTreeMap::new(),
            api_key_ids: ["key-a".to_string()].into(),
        };
        assert!(merchant.binds("key-a"));
        assert!(!merchant.binds("key-b"));
        assert!(!merchant.binds(""));
    }
}
