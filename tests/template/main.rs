//! Template tests: one test per constraint of the primary specification (000 §C 1–8 and
//! SECURITY), per adopted constraint of seeds 001 and 004, and per design decision of the
//! book. Each test is named after its requirement id so a failure names what broke.

mod api;
mod data;
mod functions;
mod general;
mod messaging;
mod monitoring;
mod security;
mod workflow;

use payment_workflow_book::template::Template;
use std::sync::OnceLock;

/// The template, parsed once per test binary.
pub fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(Template::load)
}

/// The workflow's functions: logical id prefix, name stem and reserved concurrency.
pub const FUNCTIONS: [(&str, &str, u64); 6] = [
    ("Validator", "validator", 100),
    ("FraudDetector", "fraud-detector", 50),
    ("Settlement", "settlement", 50),
    ("Notification", "notification", 50),
    ("SecretRotation", "secret-rotation", 1),
    ("Reconciler", "reconciler", 1),
];

/// The four functions 000 §C2 names.
pub const SPEC_FUNCTIONS: [&str; 4] = ["Validator", "FraudDetector", "Settlement", "Notification"];

/// Every inline policy statement of every role, with the role's logical id.
pub fn role_statements() -> Vec<(&'static str, &'static serde_yaml::Value)> {
    let mut statements = Vec::new();
    for (id, role) in template().of_type("AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["PolicyDocument"]["Statement"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                statements.push((id, statement));
            }
        }
    }
    statements
}

/// True when a policy document's statements deny requests made without TLS.
pub fn denies_plain_http(statements: &serde_yaml::Value) -> bool {
    statements.as_sequence().into_iter().flatten().any(|s| {
        s["Effect"].as_str() == Some("Deny")
            && s["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
    })
}
