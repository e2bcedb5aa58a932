//! 000 §C1: API Gateway REST with request validation, API keys, 10,000 RPS, X-Ray.

use crate::template;
use payment_workflow_book::template::{at, getatt_target, ref_target, sub_text};

fn method() -> &'static serde_yaml::Value {
    template().resource("PostTransactionMethod")
}

#[test]
fn req_000_1_api_is_a_rest_api_with_post_transactions() {
    let t = template();
    assert_eq!(t.of_type("AWS::ApiGateway::RestApi").len(), 1);
    assert_eq!(
        at(t.resource("TransactionsResource"), "Properties.PathPart").as_str(),
        Some("transactions")
    );
    assert_eq!(at(method(), "Properties.HttpMethod").as_str(), Some("POST"));
}

#[test]
fn req_000_1_request_body_is_validated_against_a_closed_model() {
    let t = template();
    let validator_id =
        ref_target(at(method(), "Properties.RequestValidatorId")).expect("!Ref validator");
    let validator = t.resource(validator_id);
    assert_eq!(
        at(validator, "Properties.ValidateRequestBody").as_bool(),
        Some(true)
    );
    let model_id =
        ref_target(at(method(), "Properties.RequestModels.application/json")).expect("!Ref model");
    let schema = at(t.resource(model_id), "Properties.Schema");
    assert_eq!(
        schema["additionalProperties"].as_bool(),
        Some(false),
        "extra properties (a PAN) must be refused"
    );
    let required: Vec<&str> = schema["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    // The exact list is `design_the_api_model_and_the_domain_accept_the_same_fields`.
    for field in payments_core::payment::FIELDS {
        assert!(required.contains(&field), "{field} must be required");
    }
    assert_eq!(
        schema["properties"]["amount_minor"]["type"].as_str(),
        Some("integer"),
        "money is integer minor units"
    );
    assert_eq!(
        schema["properties"]["card_last4"]["pattern"].as_str(),
        Some("^[0-9]{4}$")
    );
}

#[test]
fn req_000_1_post_requires_an_api_key_bound_to_a_usage_plan() {
    let t = template();
    assert_eq!(
        at(method(), "Properties.ApiKeyRequired").as_bool(),
        Some(true)
    );
    assert_eq!(
        at(t.resource("PaymentApi"), "Properties.ApiKeySourceType").as_str(),
        Some("HEADER")
    );
    let binding = t.resource("ApiUsagePlanKey");
    assert_eq!(ref_target(at(binding, "Properties.KeyId")), Some("ApiKey"));
    assert_eq!(
        ref_target(at(binding, "Properties.UsagePlanId")),
        Some("ApiUsagePlan")
    );
}

#[test]
fn req_000_1_stage_throttles_at_10000_requests_per_second() {
    let t = template();
    let settings = at(t.resource("ApiStage"), "Properties.MethodSettings.0");
    assert_eq!(settings["ResourcePath"].as_str(), Some("/*"));
    let rate = ref_target(&settings["ThrottlingRateLimit"]).expect("rate from a parameter");
    assert_eq!(t.parameter(rate)["Default"].as_u64(), Some(10_000));
    assert!(ref_target(&settings["ThrottlingBurstLimit"]).is_some());
}

#[test]
fn req_000_1_stage_has_xray_tracing() {
    assert_eq!(
        at(template().resource("ApiStage"), "Properties.TracingEnabled").as_bool(),
        Some(true)
    );
}

#[test]
fn req_000_1_stage_writes_json_access_logs_and_no_bodies() {
    let stage = template().resource("ApiStage");
    assert_eq!(
        getatt_target(at(stage, "Properties.AccessLogSetting.DestinationArn")),
        Some(("ApiAccessLogGroup", "Arn"))
    );
    let format = at(stage, "Properties.AccessLogSetting.Format")
        .as_str()
        .unwrap();
    let parsed: serde_json::Value =
        serde_json::from_str(format).expect("access log format is JSON");
    assert!(parsed["requestId"].is_string() && parsed["apiKeyId"].is_string());
    let settings = at(stage, "Properties.MethodSettings.0");
    assert_eq!(
        settings["DataTraceEnabled"].as_bool(),
        Some(false),
        "bodies carry payment tokens"
    );
}

#[test]
fn req_001_per_key_throttle_is_1000_requests_per_second() {
    let t = template();
    let rate = ref_target(at(
        t.resource("ApiUsagePlan"),
        "Properties.Throttle.RateLimit",
    ))
    .unwrap();
    assert_eq!(t.parameter(rate)["Default"].as_u64(), Some(1_000));
}

#[test]
fn design_api_starts_the_workflow_synchronously_with_a_scoped_role() {
    let t = template();
    let integration = at(method(), "Properties.Integration");
    assert_eq!(integration["Type"].as_str(), Some("AWS"));
    assert!(
        sub_text(&integration["Uri"])
            .unwrap()
            .ends_with(":states:action/StartSyncExecution")
    );
    let role = getatt_target(&integration["Credentials"]).unwrap().0;
    let statement = at(
        t.resource(role),
        "Properties.Policies.0.PolicyDocument.Statement.0",
    );
    assert_eq!(
        statement["Action"].as_str(),
        Some("states:StartSyncExecution")
    );
    assert_eq!(
        ref_target(&statement["Resource"]),
        Some("PaymentStateMachine")
    );
}

#[test]
fn design_every_workflow_outcome_maps_to_a_typed_response() {
    let responses = at(method(), "Properties.Integration.IntegrationResponses");
    let ok = responses[0]["ResponseTemplates"]["application/json"]
        .as_str()
        .unwrap();
    for error in ["InvalidPayment", "PaymentFailed", "WorkflowTimedOut"] {
        assert!(ok.contains(error), "the 200 template must map {error}");
    }
    let declared: Vec<&str> = at(method(), "Properties.MethodResponses")
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|r| r["StatusCode"].as_str())
        .collect();
    for code in ["200", "422", "502", "503", "504"] {
        assert!(
            declared.contains(&code),
            "method response {code} must be declared"
        );
    }
}

#[test]
fn design_the_api_model_and_the_domain_accept_the_same_fields() {
    // The API refuses what the model does not name and the functions refuse what the domain
    // does not parse; the two lists must be one.
    let schema = at(
        template().resource("PaymentRequestModel"),
        "Properties.Schema",
    );
    let mut declared: Vec<&str> = schema["properties"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    let mut required: Vec<&str> = schema["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let mut domain = payments_core::payment::FIELDS.to_vec();
    declared.sort();
    required.sort();
    domain.sort();
    assert_eq!(declared, domain);
    assert_eq!(required, domain);
    let maximum = schema["properties"]["amount_minor"]["maximum"].as_u64();
    assert_eq!(maximum, Some(payments_core::payment::MAX_AMOUNT_MINOR));
}

// ANCHOR: deployment-hash
/// M9: a deployment snapshots the API once, when it is created; a changed method behind an
/// unchanged deployment never reaches clients. The deployment's logical id carries a hash
/// of the API definition, so any change to it creates a new deployment for the stage.
#[test]
fn m9_the_api_deployment_is_recreated_whenever_the_api_definition_changes() {
    let t = template();
    let expected = t.api_deployment_id();
    let deployments: Vec<&str> = t
        .of_type("AWS::ApiGateway::Deployment")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(deployments.len(), 1, "one deployment");
    if deployments[0] != expected && std::env::var_os("UPDATE_GENERATED").is_some() {
        let path =
            payment_workflow_book::repo::root().join(payment_workflow_book::template::TEMPLATE);
        std::fs::write(&path, t.text.replace(deployments[0], &expected))
            .expect("rewrite the template");
        return;
    }
    assert_eq!(
        deployments[0], expected,
        "the API definition changed: run `cargo xtask regen` to give the deployment a new id"
    );
    let stage = ref_target(at(t.resource("ApiStage"), "Properties.DeploymentId"));
    assert_eq!(
        stage,
        Some(expected.as_str()),
        "the stage serves that deployment"
    );
    // Kept mutant: editing one response template of the method changes the required id.
    let edited = payment_workflow_book::template::Template::parse(&t.text.replacen(
        "#set($context.responseOverride.status = 422)",
        "#set($context.responseOverride.status = 400)",
        1,
    ));
    assert_ne!(edited.api_deployment_id(), expected);
}
// ANCHOR_END: deployment-hash

/// PCI DSS 4.2.1 (defence in depth: no card number crosses the API). Without a security
/// policy a Regional REST API accepts TLS 1.0; an enhanced policy (`SecurityPolicy_…`) needs an
/// endpoint access mode, and `STRICT` refuses requests whose SNI host is not the API's
/// (API Gateway Developer Guide, "Security policies for REST APIs in API Gateway").
#[test]
fn design_the_api_refuses_old_tls_and_foreign_hosts() {
    let api = template().resource("PaymentApi");
    let policy = at(api, "Properties.SecurityPolicy").as_str().unwrap_or("");
    assert!(
        policy.starts_with("SecurityPolicy_TLS13_1_2")
            || policy.starts_with("SecurityPolicy_TLS13_1_3"),
        "an enhanced policy with TLS 1.2 at least: {policy:?}"
    );
    assert_eq!(
        at(api, "Properties.EndpointAccessMode").as_str(),
        Some("STRICT")
    );
}
