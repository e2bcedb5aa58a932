//! Physical names: every explicit name in the template, at its worst case, against the naming
//! rule of the service that owns it.
//!
//! A name's worst case replaces each `${Parameter}` by the longest value the parameter's
//! `AllowedPattern` / `AllowedValues` / `MaxLength` admits (see `pattern.rs`), `${AWS::Region}`
//! by every Region of every partition the SDK knows (`partitions.rs`), `${AWS::AccountId}` by
//! 12 digits, `${AWS::Partition}` / `${AWS::URLSuffix}` by each partition's value and
//! `${AWS::StackName}` by the longest stack name CloudFormation accepts.
//!
//! Names are found generically: every property whose key is `Name` or ends in `Name`, at any
//! depth of a resource's `Properties`, plus every output's `Export.Name`. A name property with
//! no rule here fails the check, so a new explicit name cannot slip past it.

use super::partitions::Partition;
use super::pattern::{CharSet, Shape, shape_of};
use crate::template::{Template, intrinsic, ref_target};
use serde_yaml::Value;

/// A service's rule for one name property.
#[derive(Clone, Copy, Debug)]
pub struct NameRule {
    /// The resource type, or `Outputs` for export names.
    pub kind: &'static str,
    /// The property's path below `Properties` (`*` stands for any list item).
    pub path: &'static str,
    pub service: &'static str,
    /// The whole name as a regular expression `pattern.rs` understands: length and characters.
    pub pattern: &'static str,
    /// Text the service counts together with the name (`{partition}`, `{region}`, `{account}`
    /// are filled in), and the limit that applies to the sum.
    pub counted_with: Option<(&'static str, usize)>,
    pub must_start: &'static [&'static str],
    pub must_not_start: &'static [&'static str],
    pub must_not_end: &'static [&'static str],
    pub must_not_contain: &'static [&'static str],
    pub not_an_ip_address: bool,
    /// Where AWS documents the rule.
    pub source: &'static str,
}

impl NameRule {
    const BASE: NameRule = NameRule {
        kind: "",
        path: "",
        service: "",
        pattern: "",
        counted_with: None,
        must_start: &[],
        must_not_start: &[],
        must_not_end: &[],
        must_not_contain: &[],
        not_an_ip_address: false,
        source: "",
    };

    /// The rule's own shape (its pattern must be one the analyser understands).
    pub fn shape(&self) -> Shape {
        shape_of(self.pattern).unwrap_or_else(|e| panic!("rule for {}: {e}", self.service))
    }

    /// The longest name the rule admits, if it has a limit.
    pub fn max(&self) -> Option<usize> {
        match self.counted_with {
            Some((_, limit)) => Some(limit),
            None => self.shape().max,
        }
    }
}

const S3_BUCKET: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html";
const IAM_ROLE: &str = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (RoleName: 1-64, [\\w+=,.@-]+)";
const IAM_POLICY: &str = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html (PolicyName: 1-128, [\\w+=,.@-]+)";
const LAMBDA: &str = "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (FunctionName: \"If you specify only the function name, it is limited to 64 characters\")";
const DYNAMODB: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html (TableName, IndexName: 3-255, [a-zA-Z0-9_.-]+; key AttributeName 1-255)";
const DYNAMODB_TTL: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TimeToLiveSpecification.html (AttributeName: 1-255)";
const SQS: &str = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html (\"A queue name can have up to 80 characters. Valid values: alphanumeric characters, hyphens (-), and underscores (_).\")";
const SNS: &str = "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html (Name: up to 256 characters, ASCII letters, numbers, underscores, hyphens)";
const SNS_DISPLAY: &str = "https://docs.aws.amazon.com/sns/latest/api/API_SetTopicAttributes.html (DisplayName: \"maximum 100 characters\" for SMS)";
const LOGS: &str = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html (logGroupName: 1-512, [\\.\\-_/#A-Za-z0-9]+)";
const LOGS_QUERY: &str = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutQueryDefinition.html (name: 1-255)";
const STATES: &str = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (names ≤ 80 characters; \"use only ASCII characters\" so CloudWatch can track metrics: 0-9A-Za-z-_)";
const SSM: &str = "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html (\"The maximum length for a parameter name that you create is 1011 characters. This includes the characters in the ARN that precede the name\"; a-zA-Z0-9_.-/; not prefixed aws or ssm)";
const SECRETS: &str = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html (Name: 1-512, ASCII letters, numbers, /_+=.@-; do not end with a hyphen followed by six characters)";
const KMS_ALIAS: &str = "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html (AliasName: 1-256, ^[a-zA-Z0-9:/_-]+$, begins with alias/, not alias/aws/)";
const APIGW_KEY: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html (API key name: \"The name cannot exceed 1024 characters.\")";
const APIGW_UNDOCUMENTED: &str = "https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html (no documented length or character limit; uncertain)";
const APIGW_OPERATION: &str = "https://docs.aws.amazon.com/apigateway/latest/api/API_PutMethod.html (operationName: \"A human-friendly operation identifier for the method\"; no documented limit)";
const APIGW_MODEL: &str = "https://docs.aws.amazon.com/apigateway/latest/api/API_CreateModel.html (name: \"The name of the model. Must be alphanumeric.\")";
const APIGW_STAGE: &str = "https://docs.aws.amazon.com/apigateway/latest/api/API_CreateStage.html (stageName: \"Stage names can only contain alphanumeric characters, hyphens, and underscores. Maximum length is 128 characters.\")";
const WAF: &str = "https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html (Name: 1-128, ^[\\w\\-]+$)";
const WAF_METRIC: &str = "https://docs.aws.amazon.com/waf/latest/APIReference/API_VisibilityConfig.html (MetricName: 1-255, ^[\\w#:\\.\\-/]+$)";
const ALARM: &str = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html (AlarmName: 1-255, no ASCII control characters)";
const DASHBOARD: &str = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html (DashboardName: up to 255, \"A-Z, a-z, 0-9, -, and _\")";
const EVENTS: &str = "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html (Name: 1-64, [\\.\\-_A-Za-z0-9]+)";
const EXPORTS: &str = "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Export.html (no documented length or character limit; uncertain)";

/// The naming rule of every name property the template uses or is likely to use.
pub const RULES: &[NameRule] = &[
    NameRule {
        kind: "AWS::S3::Bucket",
        path: "BucketName",
        service: "S3 general purpose bucket",
        pattern: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        must_not_start: &["xn--", "sthree-", "amzn-s3-demo-"],
        must_not_end: &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"],
        must_not_contain: &[".."],
        not_an_ip_address: true,
        source: S3_BUCKET,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::IAM::Role",
        path: "RoleName",
        service: "IAM role",
        pattern: "^[\\w+=,.@-]{1,64}$",
        source: IAM_ROLE,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::IAM::Role",
        path: "Policies.*.PolicyName",
        service: "IAM inline policy",
        pattern: "^[\\w+=,.@-]{1,128}$",
        source: IAM_POLICY,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::Lambda::Function",
        path: "FunctionName",
        service: "Lambda function",
        pattern: "^[a-zA-Z0-9_-]{1,64}$",
        source: LAMBDA,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::DynamoDB::Table",
        path: "TableName",
        service: "DynamoDB table",
        pattern: "^[a-zA-Z0-9_.-]{3,255}$",
        source: DYNAMODB,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::DynamoDB::Table",
        path: "GlobalSecondaryIndexes.*.IndexName",
        service: "DynamoDB index",
        pattern: "^[a-zA-Z0-9_.-]{3,255}$",
        source: DYNAMODB,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::DynamoDB::Table",
        path: "AttributeDefinitions.*.AttributeName",
        service: "DynamoDB key attribute",
        pattern: "^.{1,255}$",
        source: DYNAMODB,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::DynamoDB::Table",
        path: "KeySchema.*.AttributeName",
        service: "DynamoDB key attribute",
        pattern: "^.{1,255}$",
        source: DYNAMODB,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::DynamoDB::Table",
        path: "GlobalSecondaryIndexes.*.KeySchema.*.AttributeName",
        service: "DynamoDB key attribute",
        pattern: "^.{1,255}$",
        source: DYNAMODB,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::DynamoDB::Table",
        path: "TimeToLiveSpecification.AttributeName",
        service: "DynamoDB TTL attribute",
        pattern: "^.{1,255}$",
        source: DYNAMODB_TTL,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::SQS::Queue",
        path: "QueueName",
        service: "SQS queue",
        pattern: "^[A-Za-z0-9_-]{1,80}$",
        source: SQS,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::SNS::Topic",
        path: "TopicName",
        service: "SNS topic",
        pattern: "^[A-Za-z0-9_-]{1,256}$",
        source: SNS,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::SNS::Topic",
        path: "DisplayName",
        service: "SNS display name",
        pattern: "^.{0,100}$",
        source: SNS_DISPLAY,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::Logs::LogGroup",
        path: "LogGroupName",
        service: "CloudWatch Logs log group",
        pattern: "^[.\\-_/#A-Za-z0-9]{1,512}$",
        source: LOGS,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::Logs::QueryDefinition",
        path: "Name",
        service: "Logs Insights saved query",
        pattern: "^.{1,255}$",
        source: LOGS_QUERY,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::StepFunctions::StateMachine",
        path: "StateMachineName",
        service: "Step Functions state machine (logged to CloudWatch)",
        pattern: "^[0-9A-Za-z_-]{1,80}$",
        source: STATES,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::SSM::Parameter",
        path: "Name",
        service: "SSM parameter",
        pattern: "^[a-zA-Z0-9_./-]{1,1011}$",
        counted_with: Some(("arn:{partition}:ssm:{region}:{account}:parameter", 1011)),
        must_not_start: &["aws", "ssm", "/aws", "/ssm"],
        source: SSM,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::SecretsManager::Secret",
        path: "Name",
        service: "Secrets Manager secret",
        pattern: "^[A-Za-z0-9/_+=.@-]{1,512}$",
        source: SECRETS,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::KMS::Alias",
        path: "AliasName",
        service: "KMS alias",
        pattern: "^[a-zA-Z0-9:/_-]{1,256}$",
        must_start: &["alias/"],
        must_not_start: &["alias/aws/"],
        source: KMS_ALIAS,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::ApiGateway::ApiKey",
        path: "Name",
        service: "API Gateway API key",
        pattern: "^.{1,1024}$",
        source: APIGW_KEY,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::ApiGateway::RestApi",
        path: "Name",
        service: "API Gateway REST API",
        pattern: "^.+$",
        source: APIGW_UNDOCUMENTED,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::ApiGateway::UsagePlan",
        path: "UsagePlanName",
        service: "API Gateway usage plan",
        pattern: "^.+$",
        source: APIGW_UNDOCUMENTED,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::ApiGateway::RequestValidator",
        path: "Name",
        service: "API Gateway request validator",
        pattern: "^.+$",
        source: APIGW_UNDOCUMENTED,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::ApiGateway::Method",
        path: "OperationName",
        service: "API Gateway operation name",
        pattern: "^.+$",
        source: APIGW_OPERATION,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::ApiGateway::Model",
        path: "Name",
        service: "API Gateway model",
        pattern: "^[A-Za-z0-9]+$",
        source: APIGW_MODEL,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::ApiGateway::Stage",
        path: "StageName",
        service: "API Gateway stage",
        pattern: "^[A-Za-z0-9_-]{1,128}$",
        source: APIGW_STAGE,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::WAFv2::WebACL",
        path: "Name",
        service: "WAF web ACL",
        pattern: "^[\\w-]{1,128}$",
        source: WAF,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::WAFv2::WebACL",
        path: "Rules.*.Name",
        service: "WAF rule",
        pattern: "^[\\w-]{1,128}$",
        source: WAF,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::WAFv2::WebACL",
        path: "VisibilityConfig.MetricName",
        service: "WAF metric",
        pattern: "^[\\w#:.\\-/]{1,255}$",
        source: WAF_METRIC,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::WAFv2::WebACL",
        path: "Rules.*.VisibilityConfig.MetricName",
        service: "WAF metric",
        pattern: "^[\\w#:.\\-/]{1,255}$",
        source: WAF_METRIC,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::CloudWatch::Alarm",
        path: "AlarmName",
        service: "CloudWatch alarm",
        pattern: "^[^\\x00-\\x1f\\x7f]{1,255}$",
        source: ALARM,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::CloudWatch::Dashboard",
        path: "DashboardName",
        service: "CloudWatch dashboard",
        pattern: "^[A-Za-z0-9_-]{1,255}$",
        source: DASHBOARD,
        ..NameRule::BASE
    },
    NameRule {
        kind: "AWS::Events::Rule",
        path: "Name",
        service: "EventBridge rule",
        pattern: "^[.\\-_A-Za-z0-9]{1,64}$",
        source: EVENTS,
        ..NameRule::BASE
    },
    NameRule {
        kind: "Outputs",
        path: "Export.Name",
        service: "CloudFormation export",
        pattern: "^.+$",
        source: EXPORTS,
        ..NameRule::BASE
    },
];

/// Name properties that name something AWS owns (a metric, a managed rule group, an HTTP
/// header), not a resource this stack creates: found by the scan, deliberately not checked.
pub const NOT_PHYSICAL_NAMES: &[(&str, &str, &str)] = &[
    (
        "AWS::CloudWatch::Alarm",
        "MetricName",
        "the metric the alarm watches",
    ),
    (
        "AWS::CloudWatch::Alarm",
        "Dimensions.*.Name",
        "a metric dimension",
    ),
    (
        "AWS::CloudWatch::Alarm",
        "Metrics.*.MetricStat.Metric.MetricName",
        "the metric the alarm watches",
    ),
    (
        "AWS::CloudWatch::Alarm",
        "Metrics.*.MetricStat.Metric.Dimensions.*.Name",
        "a metric dimension",
    ),
    (
        "AWS::WAFv2::WebACL",
        "Rules.*.Statement.ManagedRuleGroupStatement.Name",
        "an AWS managed rule group",
    ),
    (
        "AWS::WAFv2::WebACL",
        "Rules.*.Statement.ManagedRuleGroupStatement.VendorName",
        "the vendor of a managed rule group",
    ),
    (
        "AWS::WAFv2::WebACL",
        "Rules.*.Statement.ManagedRuleGroupStatement.RuleActionOverrides.*.Name",
        "a rule inside a managed rule group",
    ),
    (
        "AWS::WAFv2::WebACL",
        "Rules.*.Statement.ManagedRuleGroupStatement.ExcludedRules.*.Name",
        "a rule inside a managed rule group",
    ),
    (
        "AWS::WAFv2::LoggingConfiguration",
        "RedactedFields.*.SingleHeader.Name",
        "an HTTP header",
    ),
];

/// Subtrees whose keys are data (policies, workflow definitions, environment variables,
/// tags), not CloudFormation properties: a key ending in `Name` there is not a resource name.
const DATA_SUBTREES: &[&str] = &[
    "Definition",
    "DefinitionSubstitutions",
    "Environment",
    "PolicyDocument",
    "AssumeRolePolicyDocument",
    "KeyPolicy",
    "Schema",
    "Tags",
    "RequestTemplates",
    "ResponseTemplates",
    "FilterCriteria",
    "DashboardBody",
    "QueryString",
    "EventPattern",
];

/// What `${Resource}` (its `Ref`) contributes to a name, for the few resources whose generated
/// ids appear in names AWS fixes for us.
pub const REFERENCE_SHAPES: &[(&str, &str, &str)] = &[(
    "AWS::ApiGateway::RestApi",
    // AWS documents no length for a REST API id; the ids it generates are 10 lower-case
    // letters and digits (API-Gateway-Execution-Logs_{rest-api-id}/{stage_name},
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-execution-logging.html).
    // 64 is a generous bound (uncertain).
    "^[a-z0-9]{1,64}$",
    "REST API id",
)];

/// One explicit name in the template.
#[derive(Debug, Clone)]
pub struct ExplicitName<'a> {
    pub id: String,
    pub kind: String,
    pub path: String,
    pub value: &'a Value,
}

impl ExplicitName<'_> {
    pub fn label(&self) -> String {
        format!("{}.{}", self.id, self.path)
    }
}

/// Every explicit name: name properties whose value is written out (a literal, a `!Sub`, or a
/// `!Ref` of a parameter), not references to other resources.
pub fn explicit_names(t: &Template) -> Vec<ExplicitName<'_>> {
    let mut found = Vec::new();
    for (id, resource) in t.resources() {
        let kind = resource["Type"].as_str().unwrap_or_default();
        collect(
            t,
            id,
            kind,
            &resource["Properties"],
            &mut Vec::new(),
            &mut found,
        );
    }
    if let Some(outputs) = t.doc["Outputs"].as_mapping() {
        for (key, output) in outputs {
            let export = &output["Export"]["Name"];
            if !export.is_null() {
                found.push(ExplicitName {
                    id: format!("Outputs.{}", key.as_str().unwrap_or_default()),
                    kind: "Outputs".into(),
                    path: "Export.Name".into(),
                    value: export,
                });
            }
        }
    }
    found
}

fn collect<'a>(
    t: &Template,
    id: &str,
    kind: &str,
    value: &'a Value,
    path: &mut Vec<String>,
    found: &mut Vec<ExplicitName<'a>>,
) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                let key = key.as_str().unwrap_or_default();
                if DATA_SUBTREES.contains(&key) {
                    continue;
                }
                path.push(key.to_string());
                if key.ends_with("Name") && !is_resource_reference(t, child) {
                    found.push(ExplicitName {
                        id: id.to_string(),
                        kind: kind.to_string(),
                        path: path.join("."),
                        value: child,
                    });
                } else {
                    collect(t, id, kind, child, path, found);
                }
                path.pop();
            }
        }
        Value::Sequence(items) => {
            for item in items {
                path.push("*".into());
                collect(t, id, kind, item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `!Ref Resource` or `!GetAtt Resource.Attribute`: another resource's name, checked there.
fn is_resource_reference(t: &Template, value: &Value) -> bool {
    match intrinsic(value) {
        Some((tag, _)) if tag == "!GetAtt" => true,
        Some((tag, _)) if tag == "!Ref" => {
            let target = ref_target(value).unwrap_or_default();
            t.doc["Parameters"][target].is_null() && !target.starts_with("AWS::")
        }
        _ => false,
    }
}

/// The rule for a name property, or why it is not a physical name.
pub fn rule_for(kind: &str, path: &str) -> Result<Option<&'static NameRule>, String> {
    if let Some(rule) = RULES.iter().find(|r| r.kind == kind && r.path == path) {
        return Ok(Some(rule));
    }
    if NOT_PHYSICAL_NAMES
        .iter()
        .any(|(k, p, _)| *k == kind && *p == path)
    {
        return Ok(None);
    }
    Err(format!(
        "no naming rule for {kind} {path}: add one to tests/support/limits/names.rs with its AWS source"
    ))
}

/// Where a name is evaluated.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub partition: &'a Partition,
    pub region: &'a str,
}

/// A name at one place: its shape and the literal text known at both ends.
#[derive(Clone, Debug)]
pub struct Evaluated {
    pub shape: Shape,
    /// Literal text before the first variable, and whether the name is only that text.
    pub prefix: String,
    pub suffix: String,
    /// Every literal part, in order.
    pub texts: Vec<String>,
    pub literal: bool,
    /// The characters any variable part can contribute.
    pub variable_chars: CharSet,
}

/// One part of a `!Sub` string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Var(String),
}

/// The parts of a `!Sub` format string (`${!Literal}` stays literal).
pub fn sub_pieces(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + len];
        let before = &rest[..start];
        if let Some(literal) = inner.strip_prefix('!') {
            pieces.push(Piece::Text(format!("{before}${{{literal}}}")));
        } else {
            pieces.push(Piece::Text(before.to_string()));
            pieces.push(Piece::Var(inner.to_string()));
        }
        rest = &rest[start + len + 1..];
    }
    pieces.push(Piece::Text(rest.to_string()));
    // Merge neighbouring text.
    let mut merged: Vec<Piece> = Vec::new();
    for piece in pieces {
        match (merged.last_mut(), piece) {
            (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
            (_, Piece::Text(b)) if b.is_empty() => {}
            (_, piece) => merged.push(piece),
        }
    }
    merged
}

/// A name value as pieces: a literal, a `!Sub` string, or `!Ref` of a parameter.
pub fn pieces_of(value: &Value) -> Result<Vec<Piece>, String> {
    if let Some(text) = crate::template::scalar(value) {
        return Ok(vec![Piece::Text(text)]);
    }
    match intrinsic(value) {
        Some((tag, inner)) if tag == "!Sub" => match inner.as_str() {
            Some(text) => Ok(sub_pieces(text)),
            None => Err("`!Sub [format, variables]` is not supported here".into()),
        },
        Some((tag, inner)) if tag == "!Ref" => Ok(vec![Piece::Var(
            inner.as_str().unwrap_or_default().to_string(),
        )]),
        _ => Err(format!("cannot bound the name {value:?}")),
    }
}

/// The longest stack name: ≤ 128, a letter then letters, digits and hyphens
/// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
pub const STACK_NAME_PATTERN: &str = "^[a-zA-Z][-a-zA-Z0-9]{0,127}$";

/// The shape of one `${Variable}` at a place.
pub fn variable_shape(t: &Template, name: &str, place: Place) -> Result<Shape, String> {
    match name {
        "AWS::Region" => Ok(Shape::literal(place.region)),
        "AWS::Partition" => Ok(Shape::literal(&place.partition.name)),
        "AWS::URLSuffix" => Ok(Shape::literal(&place.partition.dns_suffix)),
        // An account id is 12 digits (https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html).
        "AWS::AccountId" => Ok(Shape::run(CharSet::digits(), 12, Some(12))),
        "AWS::StackName" => shape_of(STACK_NAME_PATTERN),
        other if other.starts_with("AWS::") => Err(format!("${{{other}}} is not bounded here")),
        other => {
            let declared = &t.doc["Parameters"][other];
            if !declared.is_null() {
                return parameter_shape(other, declared);
            }
            let kind = t.doc["Resources"][other]["Type"]
                .as_str()
                .unwrap_or_default();
            match REFERENCE_SHAPES.iter().find(|(k, _, _)| *k == kind) {
                Some((_, pattern, _)) => shape_of(pattern),
                None => Err(format!(
                    "${{{other}}} names another resource: its length is not bounded here"
                )),
            }
        }
    }
}

/// What a parameter's constraints admit.
pub fn parameter_shape(name: &str, declared: &Value) -> Result<Shape, String> {
    let length = |key: &str| declared[key].as_u64().map(|n| n as usize);
    if let Some(values) = declared["AllowedValues"].as_sequence() {
        let mut shapes = values
            .iter()
            .filter_map(crate::template::scalar)
            .map(|v| Shape::literal(&v));
        let first = shapes
            .next()
            .ok_or_else(|| format!("{name}: empty AllowedValues"))?;
        return Ok(shapes.fold(first, |a, b| a.or(&b)));
    }
    let base = match declared["Type"].as_str() {
        Some("Number") => Shape::run(CharSet::digits().union(CharSet::of("-.")), 1, None),
        _ => match declared["AllowedPattern"].as_str() {
            Some(pattern) => shape_of(pattern).map_err(|e| format!("{name}: {e}"))?,
            None => Shape::anything(),
        },
    };
    Ok(base.within(length("MinLength"), length("MaxLength")))
}

/// A name's shape at one place.
pub fn evaluate(t: &Template, value: &Value, place: Place) -> Result<Evaluated, String> {
    // Region, partition and suffix are fixed at a place: they are literal text there.
    let mut pieces: Vec<Piece> = Vec::new();
    for piece in pieces_of(value)? {
        let fixed = match &piece {
            Piece::Var(v) if v == "AWS::Region" => Some(place.region.to_string()),
            Piece::Var(v) if v == "AWS::Partition" => Some(place.partition.name.clone()),
            Piece::Var(v) if v == "AWS::URLSuffix" => Some(place.partition.dns_suffix.clone()),
            _ => None,
        };
        match (pieces.last_mut(), fixed) {
            (Some(Piece::Text(before)), Some(text)) => before.push_str(&text),
            (_, Some(text)) => pieces.push(Piece::Text(text)),
            (Some(Piece::Text(before)), None) if matches!(&piece, Piece::Text(_)) => {
                if let Piece::Text(text) = &piece {
                    before.push_str(text);
                }
            }
            (_, None) => pieces.push(piece),
        }
    }
    let mut shape = Shape::literal("");
    let mut variable_chars = CharSet::EMPTY;
    for piece in &pieces {
        let part = match piece {
            Piece::Text(text) => Shape::literal(text),
            Piece::Var(var) => {
                let part = variable_shape(t, var, place)?;
                variable_chars = variable_chars.union(part.chars);
                part
            }
        };
        shape = shape.then(&part);
    }
    let text_at = |piece: Option<&Piece>| match piece {
        Some(Piece::Text(text)) => text.clone(),
        _ => String::new(),
    };
    Ok(Evaluated {
        shape,
        prefix: text_at(pieces.first()),
        suffix: text_at(pieces.last()),
        texts: pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(text) => Some(text.clone()),
                Piece::Var(_) => None,
            })
            .collect(),
        literal: pieces.iter().all(|p| matches!(p, Piece::Text(_))),
        variable_chars,
    })
}

/// What a name breaks at one place (empty when it follows the rule).
pub fn check(rule: &NameRule, name: &Evaluated, place: Place) -> Vec<String> {
    let wanted = rule.shape();
    let got = &name.shape;
    let mut broken = Vec::new();
    match (got.max, wanted.max) {
        (None, Some(limit)) => broken.push(format!("unbounded length (limit {limit})")),
        (Some(len), Some(limit)) if len > limit => {
            broken.push(format!("up to {len} characters (limit {limit})"))
        }
        _ => {}
    }
    if got.min < wanted.min {
        broken.push(format!(
            "as short as {} characters (minimum {})",
            got.min, wanted.min
        ));
    }
    if let Some((counted, limit)) = rule.counted_with {
        let extra = counted
            .replace("{partition}", &place.partition.name)
            .replace("{region}", place.region)
            .replace("{account}", "123456789012");
        let slash = usize::from(got.first != CharSet::of("/"));
        let total = got.max.map(|len| extra.len() + slash + len);
        if let Some(total) = total.filter(|t| *t > limit) {
            broken.push(format!("{total} characters with `{extra}` (limit {limit})"));
        }
    }
    for (what, have, allowed) in [
        ("characters", got.chars, wanted.chars),
        ("first characters", got.first, wanted.first),
        ("last characters", got.last, wanted.last),
    ] {
        let extra = have.minus(allowed);
        if !extra.is_empty() {
            broken.push(format!("{what} {extra:?} not allowed"));
        }
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    // Literal text decides a prefix rule; past it, a variable could complete the reserved
    // text only if it can produce every character still missing.
    let undecided = |known: &str, fixed: &str| {
        !name.literal
            && fixed.starts_with(known)
            && fixed[known.len()..].chars().all(|c| {
                name.variable_chars.contains(c)
                    || name.variable_chars.contains(c.to_ascii_uppercase())
            })
    };
    for start in rule.must_not_start {
        let (known, start) = (lower(&name.prefix), lower(start));
        if known.starts_with(&start) || (known.len() < start.len() && undecided(&known, &start)) {
            broken.push(format!("may start with the reserved `{start}`"));
        }
    }
    if !rule.must_start.is_empty() && !rule.must_start.iter().any(|s| name.prefix.starts_with(s)) {
        broken.push(format!("must start with {:?}", rule.must_start));
    }
    for end in rule.must_not_end {
        let known = &name.suffix;
        let reversed = |s: &str| s.chars().rev().collect::<String>();
        if known.ends_with(end)
            || (known.len() < end.len() && undecided(&reversed(known), &reversed(end)))
        {
            broken.push(format!("may end with the reserved `{end}`"));
        }
    }
    for fragment in rule.must_not_contain {
        // Conservative: a variable that can produce any character of the fragment may form it.
        let from_variables = fragment.chars().any(|c| name.variable_chars.contains(c));
        if name.texts.iter().any(|t| t.contains(fragment)) || from_variables {
            broken.push(format!("may contain `{fragment}`"));
        }
    }
    if rule.not_an_ip_address
        && got
            .chars
            .minus(CharSet::digits().union(CharSet::of(".")))
            .is_empty()
    {
        broken.push("may be formatted as an IP address".into());
    }
    broken
}

/// One explicit name's worst case over every Region of every partition.
#[derive(Clone, Debug)]
pub struct WorstCase {
    pub label: String,
    pub text: String,
    pub service: &'static str,
    pub limit: Option<usize>,
    /// The longest length and where it occurs (`None` when unbounded).
    pub longest: Option<usize>,
    pub at: String,
    pub violations: Vec<String>,
    pub source: &'static str,
}

/// Checks every explicit name of `t` at every Region of every partition.
pub fn worst_cases(t: &Template, partitions: &[Partition]) -> Vec<WorstCase> {
    let mut cases = Vec::new();
    for name in explicit_names(t) {
        let text = match pieces_of(name.value) {
            Ok(pieces) => pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(s) => s.clone(),
                    Piece::Var(v) => format!("${{{v}}}"),
                })
                .collect(),
            Err(e) => e,
        };
        let rule = match rule_for(&name.kind, &name.path) {
            Ok(Some(rule)) => rule,
            Ok(None) => continue,
            Err(e) => {
                cases.push(WorstCase {
                    label: name.label(),
                    text,
                    service: "unknown",
                    limit: None,
                    longest: None,
                    at: String::new(),
                    violations: vec![e],
                    source: "",
                });
                continue;
            }
        };
        let mut case = WorstCase {
            label: name.label(),
            text,
            service: rule.service,
            limit: rule.max(),
            longest: Some(0),
            at: String::new(),
            violations: Vec::new(),
            source: rule.source,
        };
        let mut lengths = std::collections::BTreeSet::new();
        for partition in partitions {
            let mut regions: Vec<&String> = partition.regions.iter().collect();
            regions.sort_by_key(|r| std::cmp::Reverse(r.len()));
            for region in regions {
                let place = Place { partition, region };
                let broken = match evaluate(t, name.value, place) {
                    Ok(evaluated) => {
                        let len = evaluated.shape.max;
                        let longer = match (len, case.longest) {
                            (None, _) => case.longest.is_some(),
                            (_, None) => false,
                            (Some(a), Some(b)) => a > b,
                        };
                        if longer || case.at.is_empty() {
                            case.longest = len;
                            case.at = format!("{}/{region}", partition.name);
                        }
                        lengths.insert(len);
                        check(rule, &evaluated, place)
                    }
                    Err(e) => vec![e],
                };
                if !broken.is_empty() {
                    case.violations.push(format!(
                        "{}/{region}: {}",
                        partition.name,
                        broken.join("; ")
                    ));
                    break; // one violation per partition is enough to act on
                }
            }
        }
        if lengths.len() == 1 {
            case.at = "every Region".into();
        }
        case.violations.dedup();
        cases.push(case);
    }
    cases
}

/// Every broken rule, one line per name and partition.
pub fn violations(t: &Template, partitions: &[Partition]) -> Vec<String> {
    worst_cases(t, partitions)
        .into_iter()
        .flat_map(|case| {
            let text = case.text.clone();
            let label = case.label.clone();
            case.violations
                .into_iter()
                .map(move |v| format!("{label} = {text}: {v}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions() -> Vec<Partition> {
        vec![
            Partition {
                name: "aws".into(),
                dns_suffix: "amazonaws.com".into(),
                regions: vec!["eu-west-1".into(), "ap-southeast-7".into()],
            },
            Partition {
                name: "aws-iso-f".into(),
                dns_suffix: "csp.hci.ic.gov".into(),
                regions: vec!["us-isof-south-1".into()],
            },
        ]
    }

    fn fixture(suffix_pattern: &str, resources: &str) -> Template {
        Template::parse(&format!(
            "Parameters:\n  Suffix:\n    Type: String\n    AllowedPattern: \"{suffix_pattern}\"\nResources:\n{resources}"
        ))
    }

    const BUCKET: &str = "  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub transaction-archives-${Suffix}-${AWS::AccountId}-${AWS::Region}\n";

    #[test]
    fn a_bucket_name_fits_with_a_short_suffix_in_the_longest_region() {
        // 21 + 8 + 1 + 12 + 1 + 15 (us-isof-south-1) = 58 ≤ 63
        let cases = worst_cases(&fixture("^[a-z][a-z0-9-]{1,7}$", BUCKET), &partitions());
        assert_eq!(cases.len(), 1);
        assert!(cases[0].violations.is_empty(), "{:?}", cases[0].violations);
        assert_eq!(cases[0].longest, Some(58));
        assert_eq!(cases[0].at, "aws-iso-f/us-isof-south-1");
    }

    #[test]
    fn a_longer_suffix_pattern_breaks_the_bucket_name() {
        let broken = violations(&fixture("^[a-z][a-z0-9-]{1,15}$", BUCKET), &partitions());
        assert!(
            broken
                .iter()
                .any(|v| v.contains("up to 65 characters (limit 63)")),
            "{broken:?}"
        );
        assert!(
            broken
                .iter()
                .any(|v| v.contains("aws-iso-f/us-isof-south-1: up to 66"))
        );
    }

    #[test]
    fn a_seventy_character_bucket_name_fails() {
        let name = "a".repeat(70);
        let t = fixture(
            "^[a-z]{1,8}$",
            &format!(
                "  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: {name}\n"
            ),
        );
        let broken = violations(&t, &partitions());
        assert!(
            broken
                .iter()
                .any(|v| v.contains("up to 70 characters (limit 63)")),
            "{broken:?}"
        );
    }

    #[test]
    fn characters_reserved_prefixes_and_unbounded_parameters_fail() {
        let t = Template::parse(
            "Parameters:\n  Free:\n    Type: String\nResources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: Upper-Case\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: xn--abc\n  C:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub q-${Free}\n  D:\n    Type: AWS::KMS::Alias\n    Properties:\n      AliasName: alias/aws/mine\n      TargetKeyId: k\n",
        );
        let broken = violations(&t, &partitions());
        let has = |label: &str, what: &str| {
            broken
                .iter()
                .any(|v| v.starts_with(label) && v.contains(what))
        };
        assert!(
            has("A.BucketName", "characters [CU] not allowed"),
            "{broken:?}"
        );
        assert!(has("B.BucketName", "reserved `xn--`"), "{broken:?}");
        assert!(has("C.QueueName", "unbounded length"), "{broken:?}");
        assert!(has("D.AliasName", "reserved `alias/aws/`"), "{broken:?}");
    }

    #[test]
    fn a_name_property_without_a_rule_fails_and_references_are_not_names() {
        let t = Template::parse(
            "Resources:\n  G:\n    Type: AWS::Glue::Database\n    Properties:\n      DatabaseInput:\n        Name: mine\n  P:\n    Type: AWS::Lambda::Permission\n    Properties:\n      FunctionName: !GetAtt F.Arn\n  Q:\n    Type: AWS::Lambda::EventSourceMapping\n    Properties:\n      FunctionName: !Ref F\n",
        );
        let broken = violations(&t, &partitions());
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("no naming rule for AWS::Glue::Database DatabaseInput.Name"));
    }

    #[test]
    fn ssm_counts_the_arn_prefix_with_the_name() {
        let long = format!("/{}", "p".repeat(970));
        let t = Template::parse(&format!(
            "Resources:\n  S:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: {long}\n"
        ));
        // arn:aws-iso-f:ssm:us-isof-south-1:123456789012:parameter = 56; 56 + 971 > 1011
        let broken = violations(&t, &partitions());
        assert!(
            broken.iter().any(|v| v.contains("with `arn:aws-iso-f:ssm")),
            "{broken:?}"
        );
    }

    #[test]
    fn every_rule_pattern_is_understood() {
        for rule in RULES {
            assert!(
                shape_of(rule.pattern).is_ok(),
                "{}: {}",
                rule.service,
                rule.pattern
            );
            assert!(
                rule.source.starts_with("https://"),
                "{} cites no source",
                rule.service
            );
        }
    }

    #[test]
    fn sub_strings_split_into_text_and_variables() {
        assert_eq!(
            sub_pieces("a-${X}${!Literal}-${AWS::Region}"),
            [
                Piece::Text("a-".into()),
                Piece::Var("X".into()),
                Piece::Text("${Literal}-".into()),
                Piece::Var("AWS::Region".into()),
            ]
        );
    }
}
