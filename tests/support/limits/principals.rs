//! Service principals per partition (review B3). IAM accepts `<service>.amazonaws.com` in
//! every partition, China included; writing `<service>.${AWS::URLSuffix}` yields
//! `lambda.amazonaws.com.cn` in aws-cn, which IAM rejects ("Invalid principal in policy").
//! The CloudWatch Logs principal is the exception: it is Region-qualified and carries the
//! partition's suffix (`logs.cn-north-1.amazonaws.com.cn`).
//!
//! Sources: AWS CDK `aws-iam/lib/principals.ts` ("These days all service principal names are
//! standardized, and they are all of the form `<servicename>.amazonaws.com`") and
//! `region-info/lib/default.ts` (legacy table: `logs` regional and partitional);
//! aws/aws-cdk#2198 (`lambda.amazonaws.com.cn` rejected in cn-north-1); mapbox/cloudfriend#37,
//! #56; serverless/serverless#12087 (logs in China ends with `.amazonaws.com.cn`).
//! CloudWatch Logs key policy: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
//! (`"Service": "logs.region.amazonaws.com"`).

use super::names::{Piece, pieces_of};
use super::partitions::Partition;
use crate::template::{Template, walk};
use serde_yaml::Value;

/// How a service's principal is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `<service>.amazonaws.com` in every partition.
    Global,
    /// `<service>.<region>.<partition's dnsSuffix>`.
    Regional,
}

/// The services whose principals the template may name.
pub const PRINCIPALS: &[(&str, Form)] = &[
    ("apigateway", Form::Global),
    ("cloudwatch", Form::Global),
    ("delivery.logs", Form::Global),
    ("dynamodb", Form::Global),
    ("events", Form::Global),
    ("lambda", Form::Global),
    ("logging.s3", Form::Global),
    ("scheduler", Form::Global),
    ("secretsmanager", Form::Global),
    ("sns", Form::Global),
    ("sqs", Form::Global),
    ("states", Form::Global),
    ("logs", Form::Regional),
];

/// The principal AWS uses for `service` in one Region of one partition.
pub fn expected(service: &str, partition: &Partition, region: &str) -> Option<String> {
    let (_, form) = PRINCIPALS.iter().find(|(s, _)| *s == service)?;
    Some(match form {
        Form::Global => format!("{service}.amazonaws.com"),
        Form::Regional => format!("{service}.{region}.{}", partition.dns_suffix),
    })
}

/// A service principal as written in the template.
#[derive(Clone, Debug)]
pub struct Written<'a> {
    pub at: String,
    pub value: &'a Value,
}

/// Every `Principal.Service` of every policy, and every `AWS::Lambda::Permission` principal
/// that names a service (it contains a dot; accounts and ARNs are other principals).
pub fn written(t: &Template) -> Vec<Written<'_>> {
    let mut found = Vec::new();
    for (id, resource) in t.resources() {
        if resource["Type"].as_str() == Some("AWS::Lambda::Permission") {
            let principal = &resource["Properties"]["Principal"];
            let text = pieces_of(principal).unwrap_or_default();
            let is_service = text
                .iter()
                .any(|p| matches!(p, Piece::Text(t) if t.contains('.')));
            if is_service {
                found.push(Written {
                    at: format!("{id}.Properties.Principal"),
                    value: principal,
                });
            }
        }
        walk(resource, &mut Vec::new(), &mut |path, value| {
            let n = path.len();
            if n >= 2 && path[n - 1] == "Service" && path[n - 2] == "Principal" {
                found.push(Written {
                    at: format!("{id}.{}", path.join(".")),
                    value,
                });
            }
        });
    }
    // `Service: [a, b]` lists several principals.
    found
        .into_iter()
        .flat_map(|w| match w.value {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, value)| Written {
                    at: format!("{}.{i}", w.at),
                    value,
                })
                .collect::<Vec<_>>(),
            _ => vec![w],
        })
        .collect()
}

/// The principal text in one Region of one partition.
pub fn resolve(value: &Value, partition: &Partition, region: &str) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces_of(value)? {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Var(var) => out.push_str(match var.as_str() {
                "AWS::Region" => region,
                "AWS::URLSuffix" => &partition.dns_suffix,
                "AWS::Partition" => &partition.name,
                other => return Err(format!("a principal built from ${{{other}}}")),
            }),
        }
    }
    Ok(out)
}

/// Which service a principal names, read from its commercial-partition spelling.
pub fn service_of(value: &Value, aws: &Partition) -> Result<String, String> {
    let region = "us-east-1";
    let text = resolve(value, aws, region)?;
    let service = text
        .strip_suffix(".amazonaws.com")
        .ok_or_else(|| format!("{text} is not a service principal"))?;
    Ok(service
        .strip_suffix(&format!(".{region}"))
        .unwrap_or(service)
        .to_string())
}

/// Every principal that is wrong in some Region of some partition.
pub fn violations(t: &Template, partitions: &[Partition]) -> Vec<String> {
    let aws = partitions
        .iter()
        .find(|p| p.name == "aws")
        .expect("the SDK data knows the aws partition");
    let mut broken = Vec::new();
    for principal in written(t) {
        let service = match service_of(principal.value, aws) {
            Ok(service) => service,
            Err(e) => {
                broken.push(format!("{}: {e}", principal.at));
                continue;
            }
        };
        for partition in partitions {
            for region in &partition.regions {
                let Some(wanted) = expected(&service, partition, region) else {
                    broken.push(format!(
                        "{}: no entry for the `{service}` principal in tests/support/limits/principals.rs",
                        principal.at
                    ));
                    break;
                };
                match resolve(principal.value, partition, region) {
                    Ok(got) if got == wanted => {}
                    Ok(got) => {
                        broken.push(format!(
                            "{}: `{got}` in {}/{region}, AWS uses `{wanted}`",
                            principal.at, partition.name
                        ));
                        break;
                    }
                    Err(e) => {
                        broken.push(format!("{}: {e}", principal.at));
                        break;
                    }
                }
            }
        }
        broken.dedup();
    }
    broken
}
