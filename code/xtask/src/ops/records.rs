//! The merchant record of `merchant-configs` in DynamoDB's JSON, as `onboard` writes it and the
//! validator reads it (`payments_aws::merchants::merchant_from_item`, checked by the test
//! below): `merchant_id` (S), `active` (BOOL), `currencies` (M of code → M{min_amount_minor,
//! max_amount_minor: N}; absent: the VALIDATION_RULES defaults) and `api_key_ids` (SS: the
//! ids, never the values, of the API keys that may submit the merchant's payments).

use payments_core::Currency;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Amount bounds of one currency, in its minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub min: u64,
    pub max: u64,
}

pub type Currencies = BTreeMap<String, Limits>;

/// `EUR:100:1000000`: a currency this system knows and 1 ≤ min ≤ max.
pub fn parse_currency(spec: &str) -> Result<(String, Limits), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [code, min, max] = parts[..] else {
        return Err(format!(
            "--currency {spec}: expected CODE:MIN:MAX (minor units)"
        ));
    };
    if Currency::from_code(code).is_none() {
        return Err(format!(
            "--currency {spec}: {code} is not a currency the system knows"
        ));
    }
    let number = |text: &str| {
        text.parse::<u64>()
            .map_err(|_| format!("--currency {spec}: {text} is not a whole number"))
    };
    let limits = Limits {
        min: number(min)?,
        max: number(max)?,
    };
    if limits.min == 0 || limits.min > limits.max {
        return Err(format!("--currency {spec}: needs 1 ≤ MIN ≤ MAX"));
    }
    Ok((code.to_string(), limits))
}

/// The API model's rule for `merchant_id` (`^[A-Za-z0-9_-]{3,64}$`): an id no payment could
/// carry is refused before anything is created for it.
pub fn valid_merchant_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `{"S": …}` of a key.
pub fn key(merchant_id: &str) -> Value {
    json!({"merchant_id": {"S": merchant_id}})
}

/// `currencies` as a DynamoDB map.
pub fn currencies_value(currencies: &Currencies) -> Value {
    let map: serde_json::Map<String, Value> = currencies
        .iter()
        .map(|(code, limits)| {
            (
                code.clone(),
                json!({"M": {
                    "min_amount_minor": {"N": limits.min.to_string()},
                    "max_amount_minor": {"N": limits.max.to_string()},
                }}),
            )
        })
        .collect();
    json!({ "M": map })
}

/// A whole new record.
pub fn item(
    merchant_id: &str,
    active: bool,
    currencies: &Currencies,
    api_key_ids: &BTreeSet<String>,
) -> Value {
    let mut item = json!({
        "merchant_id": {"S": merchant_id},
        "active": {"BOOL": active},
        "api_key_ids": {"SS": api_key_ids.iter().collect::<Vec<_>>()},
    });
    if !currencies.is_empty() {
        item["currencies"] = currencies_value(currencies);
    }
    item
}

/// What a stored record says, read leniently enough to decide what to do and strictly
/// enough to refuse touching a record someone corrupted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stored {
    pub active: Option<bool>,
    pub currencies: Option<Currencies>,
    pub api_key_ids: BTreeSet<String>,
}

/// `get-item --output json`: `{}` or nothing when there is no record, else `{"Item": …}`.
pub fn parse_get_item(text: &str) -> Result<Option<Stored>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let answer: Value =
        serde_json::from_str(text).map_err(|e| format!("get-item answered {text:?}: {e}"))?;
    let Some(item) = answer.get("Item") else {
        return Ok(None);
    };
    let malformed = |what: &str| format!("the merchant record's {what}; fix it by hand first");
    let api_key_ids = match item.get("api_key_ids") {
        None => BTreeSet::new(),
        Some(value) => value["SS"]
            .as_array()
            .and_then(|ids| ids.iter().map(|i| i.as_str().map(str::to_string)).collect())
            .ok_or_else(|| malformed("api_key_ids is not a string set"))?,
    };
    let active = match item.get("active") {
        None => None,
        Some(value) => Some(
            value["BOOL"]
                .as_bool()
                .ok_or_else(|| malformed("active is not a boolean"))?,
        ),
    };
    let currencies = match item.get("currencies") {
        None => None,
        Some(value) => {
            let map = value["M"]
                .as_object()
                .ok_or_else(|| malformed("currencies is not a map"))?;
            let mut currencies = Currencies::new();
            for (code, limits) in map {
                let number = |name: &str| {
                    limits["M"][name]["N"]
                        .as_str()
                        .and_then(|n| n.parse::<u64>().ok())
                        .ok_or_else(|| {
                            malformed(&format!("currencies.{code}.{name} is not a number"))
                        })
                };
                currencies.insert(
                    code.clone(),
                    Limits {
                        min: number("min_amount_minor")?,
                        max: number("max_amount_minor")?,
                    },
                );
            }
            Some(currencies)
        }
    };
    Ok(Some(Stored {
        active,
        currencies,
        api_key_ids,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue as A;
    use payments_aws::merchants::merchant_from_item;

    /// DynamoDB JSON as the SDK's attribute values (the subset a merchant record uses).
    fn attribute(value: &Value) -> A {
        let (kind, inner) = value.as_object().unwrap().iter().next().unwrap();
        let strings = || {
            inner
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        match kind.as_str() {
            "S" => A::S(inner.as_str().unwrap().into()),
            "N" => A::N(inner.as_str().unwrap().into()),
            "BOOL" => A::Bool(inner.as_bool().unwrap()),
            "SS" => A::Ss(strings()),
            "L" => A::L(inner.as_array().unwrap().iter().map(attribute).collect()),
            "M" => A::M(
                inner
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), attribute(v)))
                    .collect(),
            ),
            other => panic!("a merchant record holds no {other}"),
        }
    }

    fn as_item(value: &Value) -> payments_aws::items::Item {
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect()
    }

    fn eur() -> Currencies {
        Currencies::from([(
            "EUR".to_string(),
            parse_currency("EUR:100:1000000").unwrap().1,
        )])
    }

    #[test]
    fn the_record_onboard_writes_is_the_record_the_validator_reads() {
        let keys = BTreeSet::from(["k1".to_string(), "k2".to_string()]);
        let written = item("merchant-001", true, &eur(), &keys);
        let read = merchant_from_item(&as_item(&written), "merchant-001").unwrap();
        assert!(read.active && read.binds("k1") && read.binds("k2") && !read.binds("k3"));
        assert_eq!(read.currencies["EUR"].min_amount_minor, 100);
        assert_eq!(read.currencies["EUR"].max_amount_minor, 1_000_000);
        // No --currency: the attribute is absent and the defaults apply.
        let defaults = item("merchant-001", false, &Currencies::new(), &keys);
        let read = merchant_from_item(&as_item(&defaults), "merchant-001").unwrap();
        assert!(!read.active && read.currencies.is_empty());
        // Mutants of the writer: each shape the validator refuses as malformed.
        let mutants = [
            ("api_key_ids", json!({"L": [{"S": "k1"}]})),
            ("active", json!({"S": "true"})),
            (
                "currencies",
                json!({"M": {"EUR": {"M": {"min_amount_minor": {"N": "1"}}}}}),
            ),
        ];
        for (name, value) in mutants {
            let mut bad = written.clone();
            bad[name] = value;
            assert!(
                merchant_from_item(&as_item(&bad), "merchant-001").is_err(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_stored_record_reads_back_as_written() {
        let keys = BTreeSet::from(["k1".to_string()]);
        let answer = json!({"Item": item("merchant-001", true, &eur(), &keys)}).to_string();
        let stored = parse_get_item(&answer).unwrap().unwrap();
        assert_eq!(stored.active, Some(true));
        assert_eq!(stored.currencies, Some(eur()));
        assert_eq!(stored.api_key_ids, keys);
        assert_eq!(parse_get_item("").unwrap(), None);
        assert_eq!(parse_get_item("{}\n").unwrap(), None);
        let corrupted = json!({"Item": {"merchant_id": {"S": "m"}, "api_key_ids": {"L": []}}});
        assert!(parse_get_item(&corrupted.to_string()).is_err());
        let no_keys = json!({"Item": {"merchant_id": {"S": "m"}}});
        let stored = parse_get_item(&no_keys.to_string()).unwrap().unwrap();
        assert!(stored.api_key_ids.is_empty() && stored.active.is_none());
    }

    #[test]
    fn currencies_and_merchant_ids_are_checked_before_anything_is_created() {
        assert_eq!(
            parse_currency("JPY:1:500000").unwrap(),
            (
                "JPY".to_string(),
                Limits {
                    min: 1,
                    max: 500_000
                }
            )
        );
        for bad in [
            "EUR", "EUR:1", "EURO:1:2", "XXX:1:2", "EUR:0:5", "EUR:9:1", "EUR:a:1",
        ] {
            assert!(parse_currency(bad).is_err(), "{bad}");
        }
        assert!(valid_merchant_id("merchant-001") && valid_merchant_id("smoke_test"));
        for bad in ["m1", "merchant 001", "merchant/001", &"m".repeat(65)] {
            assert!(!valid_merchant_id(bad), "{bad}");
        }
    }
}
