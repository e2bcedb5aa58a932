//! The largest JSON a request model admits, in bytes: every property present at its longest
//! value. A schema that leaves anything unbounded (an open object, a string without pattern or
//! maxLength, a number without bounds, an array without maxItems) is refused, because the
//! largest input would then be whatever the API's 10 MB payload limit lets through.

use super::pattern::{CharSet, Shape, shape_of};
use serde_json::Value;

/// The longest JSON text (compact serialisation, UTF-8 bytes) a value of `schema` can have.
pub fn max_json_bytes(schema: &Value) -> Result<usize, String> {
    if let Some(values) = schema["enum"].as_array() {
        return Ok(values
            .iter()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(0));
    }
    match schema["type"].as_str() {
        Some("object") => object_bytes(schema),
        Some("string") => string_bytes(schema),
        Some("integer") => integer_bytes(schema),
        Some("boolean") => Ok("false".len()),
        Some("null") => Ok("null".len()),
        Some("array") => {
            let items = schema["maxItems"]
                .as_u64()
                .ok_or("an array without maxItems")? as usize;
            let item = max_json_bytes(&schema["items"])?;
            Ok(2 + items * item + items.saturating_sub(1))
        }
        other => Err(format!("type {other:?} is not bounded here")),
    }
}

fn object_bytes(schema: &Value) -> Result<usize, String> {
    if schema["additionalProperties"] != Value::Bool(false) {
        return Err("an object that admits additional properties".into());
    }
    let properties = schema["properties"]
        .as_object()
        .ok_or("an object without properties")?;
    let mut total = 2 + properties.len().saturating_sub(1); // braces and commas
    for (name, property) in properties {
        let value = max_json_bytes(property).map_err(|e| format!("{name}: {e}"))?;
        total += Value::String(name.clone()).to_string().len() + 1 + value;
    }
    Ok(total)
}

fn string_bytes(schema: &Value) -> Result<usize, String> {
    let pattern = match schema["pattern"].as_str() {
        Some(pattern) => shape_of(pattern)?,
        None => Shape::anything(),
    };
    let max_length = schema["maxLength"].as_u64().map(|n| n as usize);
    let shape = pattern.within(None, max_length);
    let chars = shape
        .max
        .ok_or("a string without pattern bound or maxLength")?;
    Ok(2 + chars * json_bytes_per_char(shape.chars))
}

/// The most bytes one character of `set` takes inside a JSON string.
pub fn json_bytes_per_char(set: CharSet) -> usize {
    if set.has_non_ascii() {
        // A character outside the BMP escaped as two \uXXXX units (raw UTF-8 would be 4).
        return 12;
    }
    set.ascii_chars()
        .map(|c| match c {
            '"' | '\\' => 2,
            c if (c as u32) < 0x20 => 6,
            _ => 1,
        })
        .max()
        .unwrap_or(0)
}

fn integer_bytes(schema: &Value) -> Result<usize, String> {
    let maximum = schema["maximum"]
        .as_i64()
        .ok_or("an integer without maximum")?;
    let minimum = schema["minimum"]
        .as_i64()
        .ok_or("an integer without minimum")?;
    Ok(maximum.to_string().len().max(minimum.to_string().len()))
}

/// The state machine input the request mapping template builds around the client's body
/// (PLAN: `{"payment": <body>, "caller": {"api_key_id": "<$context.identity.apiKeyId>"}}`).
pub fn workflow_input_bytes(payment: usize, api_key_id: usize) -> usize {
    r#"{"payment":"#.len()
        + payment
        + r#","caller":{"api_key_id":""#.len()
        + api_key_id
        + r#""}}"#.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_closed_object_of_bounded_fields_has_a_largest_serialisation() {
        let schema = json!({"type": "object", "additionalProperties": false, "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-f]{4}$"},
            "n": {"type": "integer", "minimum": 1, "maximum": 100}
        }});
        // {"id":"ffff","n":100}
        assert_eq!(
            max_json_bytes(&schema).unwrap(),
            r#"{"id":"ffff","n":100}"#.len()
        );
    }

    #[test]
    fn anything_unbounded_is_refused() {
        for schema in [
            json!({"type": "object", "properties": {}}),
            json!({"type": "string"}),
            json!({"type": "string", "pattern": "^a+$"}),
            json!({"type": "integer", "minimum": 0}),
            json!({"type": "number", "minimum": 0, "maximum": 1}),
            json!({"type": "array", "items": {"type": "boolean"}}),
        ] {
            assert!(max_json_bytes(&schema).is_err(), "{schema}");
        }
    }

    #[test]
    fn characters_that_json_escapes_count_double() {
        assert_eq!(json_bytes_per_char(CharSet::of("ab")), 1);
        assert_eq!(json_bytes_per_char(CharSet::of("a\"")), 2);
        assert_eq!(json_bytes_per_char(CharSet::of("\n")), 6);
        assert_eq!(json_bytes_per_char(CharSet::any()), 12);
        assert_eq!(
            workflow_input_bytes(2, 0),
            r#"{"payment":{},"caller":{"api_key_id":""}}"#.len()
        );
    }
}
