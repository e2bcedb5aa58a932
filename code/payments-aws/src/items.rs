//! Reading and writing DynamoDB attribute values without losing a type error: a missing
//! or mistyped attribute is `StoreError::Malformed`, never a default.

use aws_sdk_dynamodb::types::AttributeValue;
use payments_core::errors::StoreError;
use std::collections::{BTreeSet, HashMap};

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}

pub fn malformed(name: &str, why: &str) -> StoreError {
    StoreError::Malformed(format!("attribute {name} {why}"))
}

fn missing(name: &str) -> StoreError {
    malformed(name, "is missing or of the wrong type")
}

pub fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| missing(name))
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| missing(name))
}

pub fn get_bool(item: &Item, name: &str) -> Result<bool, StoreError> {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| missing(name))
}

/// A list of strings (`L` of `S`); required.
pub fn get_strings(item: &Item, name: &str) -> Result<Vec<String>, StoreError> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| missing(name))?
        .iter()
        .map(|v| v.as_s().cloned().map_err(|_| missing(name)))
        .collect()
}

/// A string set (`SS`); required.
pub fn get_string_set(item: &Item, name: &str) -> Result<BTreeSet<String>, StoreError> {
    Ok(item
        .get(name)
        .and_then(|v| v.as_ss().ok())
        .ok_or_else(|| missing(name))?
        .iter()
        .cloned()
        .collect())
}

/// An optional attribute: absent is `None`, present with another type is malformed.
pub fn optional<T>(
    item: &Item,
    name: &str,
    read: impl Fn(&Item, &str) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    if item.contains_key(name) {
        read(item, name).map(Some)
    } else {
        Ok(None)
    }
}
