//! The CloudFormation template as the tests read it: parsed with serde_yaml, which keeps
//! `!Ref` / `!GetAtt` / `!Sub` as tagged values, so a test sees exactly what was written.

use crate::repo;
use serde_yaml::Value;
use std::fs;
use std::path::PathBuf;

pub const TEMPLATE: &str = "templates/payment-workflow.yaml";

/// What an `AWS::ApiGateway::Deployment` captures when it is created (and never after).
pub const API_DEFINITION_TYPES: [&str; 6] = [
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::GatewayResponse",
];

pub struct Template {
    pub doc: Value,
    pub text: String,
}

impl Template {
    /// Loads the repository's template.
    pub fn load() -> Self {
        Self::load_from(repo::root().join(TEMPLATE))
    }

    pub fn load_from(path: PathBuf) -> Self {
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Self {
        let doc =
            serde_yaml::from_str(text).unwrap_or_else(|e| panic!("template is not YAML: {e}"));
        Template {
            doc,
            text: text.to_string(),
        }
    }

    /// A copy with one change made to the parsed document (a mutant for a check's own test;
    /// `text` stays the original's).
    pub fn mutated(&self, change: impl FnOnce(&mut Value)) -> Self {
        let mut doc = self.doc.clone();
        change(&mut doc);
        Template {
            doc,
            text: self.text.clone(),
        }
    }

    /// Every resource, in template order, as (logical id, definition).
    pub fn resources(&self) -> Vec<(&str, &Value)> {
        self.doc["Resources"]
            .as_mapping()
            .expect("Resources is a mapping")
            .iter()
            .map(|(k, v)| (k.as_str().expect("logical ids are strings"), v))
            .collect()
    }

    /// The resources of one CloudFormation type.
    pub fn of_type(&self, kind: &str) -> Vec<(&str, &Value)> {
        self.resources()
            .into_iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(kind))
            .collect()
    }

    /// One resource by logical id; panics with the id when it is missing.
    pub fn resource(&self, id: &str) -> &Value {
        let found = &self.doc["Resources"][id];
        assert!(!found.is_null(), "the template has no resource {id}");
        found
    }

    pub fn parameter(&self, name: &str) -> &Value {
        let found = &self.doc["Parameters"][name];
        assert!(!found.is_null(), "the template has no parameter {name}");
        found
    }

    /// The SHA-256 (hex) of the REST API's definition: the API and every resource a
    /// deployment snapshots (resources, methods, models, validators, gateway responses), as
    /// canonical JSON (keys sorted, comments and layout ignored).
    pub fn api_definition_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let definition: serde_json::Map<String, serde_json::Value> = self
            .resources()
            .into_iter()
            .filter(|(_, r)| API_DEFINITION_TYPES.contains(&r["Type"].as_str().unwrap_or("")))
            .map(|(id, r)| (id.to_string(), to_json(r)))
            .collect();
        let canonical = serde_json::to_string(&definition).expect("JSON serialises");
        Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The logical id the API's deployment must have: a new definition, a new deployment.
    pub fn api_deployment_id(&self) -> String {
        format!("ApiDeployment{}", &self.api_definition_hash()[..10])
    }

    /// The state machine's `Definition` as JSON, with each `${Name}` substitution replaced
    /// by `resolve(Name)` — what Step Functions receives after CloudFormation resolves it.
    pub fn resolved_definition(&self, resolve: impl Fn(&str) -> String) -> serde_json::Value {
        let machines = self.of_type("AWS::StepFunctions::StateMachine");
        assert_eq!(machines.len(), 1, "one state machine expected");
        let properties = &machines[0].1["Properties"];
        let json = to_json(&properties["Definition"]);
        let mut text = serde_json::to_string(&json).expect("definition serialises");
        if let Some(substitutions) = properties["DefinitionSubstitutions"].as_mapping() {
            for key in substitutions.keys().filter_map(Value::as_str) {
                text = text.replace(&format!("${{{key}}}"), &resolve(key));
            }
        }
        serde_json::from_str(&text).expect("substituted definition is JSON")
    }
}

/// The value at a dotted path (`Properties.TracingConfig.Mode`, list indices as numbers).
pub fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(value, |node, key| match key.parse::<usize>() {
            Ok(index) if node.is_sequence() => &node[index],
            _ => &node[key],
        })
}

/// The tag and inner value of an intrinsic written in short form (`!Ref X`).
pub fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((tagged.tag.to_string(), &tagged.value)),
        _ => None,
    }
}

/// The target of `!Ref X`.
pub fn ref_target(value: &Value) -> Option<&str> {
    match intrinsic(value) {
        Some((tag, inner)) if tag == "!Ref" => inner.as_str(),
        _ => None,
    }
}

/// The (resource, attribute) of `!GetAtt Resource.Attribute`.
pub fn getatt_target(value: &Value) -> Option<(&str, &str)> {
    match intrinsic(value) {
        Some((tag, inner)) if tag == "!GetAtt" => inner.as_str()?.split_once('.'),
        _ => None,
    }
}

/// The format string of `!Sub "…"`.
pub fn sub_text(value: &Value) -> Option<&str> {
    match intrinsic(value) {
        Some((tag, inner)) if tag == "!Sub" => inner.as_str(),
        _ => None,
    }
}

/// A scalar as text (numbers and booleans included), or `None` for anything else.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Visits every node of a value tree with its path (keys, indices and tags).
pub fn walk<'a>(
    value: &'a Value,
    path: &mut Vec<String>,
    visit: &mut impl FnMut(&[String], &'a Value),
) {
    visit(path, value);
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                path.push(scalar(key).unwrap_or_default());
                walk(child, path, visit);
                path.pop();
            }
        }
        Value::Sequence(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(index.to_string());
                walk(child, path, visit);
                path.pop();
            }
        }
        Value::Tagged(tagged) => {
            // The tag is a path step, so a visitor can tell `!Ref X` from a literal `X`.
            path.push(tagged.tag.to_string());
            walk(&tagged.value, path, visit);
            path.pop();
        }
        _ => {}
    }
}

/// A YAML value as JSON; tags are kept as `{"!Tag": value}` (the definition has none).
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::to_value(n).expect("numbers convert"),
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Mapping(map) => J::Object(
            map.iter()
                .map(|(k, v)| (scalar(k).unwrap_or_default(), to_json(v)))
                .collect(),
        ),
        Value::Tagged(tagged) => {
            serde_json::json!({ tagged.tag.to_string(): to_json(&tagged.value) })
        }
    }
}
