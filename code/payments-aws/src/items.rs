//! Reading and writing DynamoDB attribute values without losing a type error.

use aws_sdk_dynamodb::types::AttributeValue;
use payments_core::errors::StoreError;
use std::collections::HashMap;

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

fn missing(name: &str) -> StoreError {
    StoreError::Malformed(format!("attribute {name} is missing or of the wrong type"))
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

pub fn get_strings(item: &Item, name: &str) -> Result<Vec<String>, StoreError> {
    match item.get(name) {
        None => Ok(Vec::new()),
        Some(value) => value
            .as_l()
            .map_err(|_| missing(name))?
            .iter()
            .map(|v| v.as_s().cloned().map_err(|_| missing(name)))
            .collect(),
    }
}
