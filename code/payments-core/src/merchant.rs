//! A merchant's configuration, as the `merchant-configs` table holds it (seed 004).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Amount bounds in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountLimits {
    pub min_amount_minor: u64,
    pub max_amount_minor: u64,
}

/// What one merchant may accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantConfig {
    pub merchant_id: String,
    pub active: bool,
    /// The currencies the merchant accepts, each with its own bounds. Empty: the defaults.
    #[serde(default)]
    pub currencies: BTreeMap<String, AmountLimits>,
}
