//! A model of AWS's limits and defaults that the template depends on, each with its source.
//! None of these is visible to cfn-lint, cfn-guard or the emulator: they are properties of
//! the real services (request sizes, name rules per Region and partition, principals per
//! partition, lifecycle and deletion defaults). `tests/limits.rs` applies them to the template.

pub mod names;
pub mod partitions;
pub mod pattern;
pub mod payload;
pub mod principals;

use serde_yaml::Value;

/// `TemplateBody`: "a maximum length of 51,200 bytes" (CreateChangeSet, CreateStack,
/// UpdateStack, ValidateTemplate).
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html
pub const TEMPLATE_BODY_MAX_BYTES: usize = 51_200;

/// A template passed by `TemplateURL`: "max size: 1 MB" in the current API reference; older
/// references and the botocore model in the venv say 460,800 bytes. The stricter applies.
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html
pub const TEMPLATE_URL_MAX_BYTES: usize = 460_800;

/// Step Functions: "Maximum size of a state machine definition: 1 MB" (hard quota;
/// CreateStateMachine `definition` max 1,048,576 in the SDK model).
/// https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
pub const STATE_MACHINE_DEFINITION_MAX_BYTES: usize = 1_048_576;

/// Step Functions: input and output of an execution and between states, 256 KiB as UTF-8
/// (StartSyncExecution `input` max 262,144).
/// https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
pub const STATE_PAYLOAD_MAX_BYTES: usize = 262_144;

/// The longest ARN or URL a `DefinitionSubstitutions` value can resolve to. IAM bounds ARNs
/// at 2,048 characters (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
/// via the `arnType` of the IAM API); a deliberately generous stand-in for every value.
pub const SUBSTITUTION_MAX_CHARS: usize = 2_048;

/// `$context.identity.apiKeyId`: AWS documents no length for an API key id (the ids API
/// Gateway generates are 10 characters); 1,024 is a generous bound (uncertain).
pub const API_KEY_ID_MAX_CHARS: usize = 1_024;

/// S3, small requests (under 512 KB): median latency is "often in the tens of milliseconds",
/// and the guideline is to retry a GET or PUT after 2 seconds, backing off if more retries
/// are needed (2 s, then 4 s). A shorter attempt timeout retries S3's ordinary tail.
/// https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html
pub const S3_SMALL_REQUEST_RETRY_AFTER_MS: u64 = 2_000;

/// A signed receipt is about 0.5 KB of JSON (issue 14); 4 KiB bounds it generously.
pub const RECEIPT_MAX_BYTES: u64 = 4_096;

/// S3 Lifecycle since September 2024: by default (`all_storage_classes_128K`) "objects smaller
/// than 128 KB will not transition to any storage class"; `varies_by_storage_class` lets them
/// transition to Glacier Flexible Retrieval (GLACIER) and Deep Archive only; an
/// `ObjectSizeGreaterThan` filter on the rule takes precedence over either default.
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
/// and the `AWS::S3::Bucket LifecycleConfiguration` reference.
pub const TRANSITION_DEFAULT_MINIMUM_BYTES: u64 = 128 * 1024;

/// Whether an object of `size` bytes moves to `storage_class` under one lifecycle `rule` of a
/// bucket whose `LifecycleConfiguration` is `lifecycle`.
pub fn transitions(lifecycle: &Value, rule: &Value, storage_class: &str, size: u64) -> bool {
    let filter_minimum = rule["Filter"]["ObjectSizeGreaterThan"]
        .as_u64()
        .or_else(|| rule["ObjectSizeGreaterThan"].as_u64());
    if let Some(minimum) = filter_minimum {
        return size > minimum;
    }
    let small_allowed = lifecycle["TransitionDefaultMinimumObjectSize"].as_str()
        == Some("varies_by_storage_class")
        && ["GLACIER", "DEEP_ARCHIVE"].contains(&storage_class);
    small_allowed || size >= TRANSITION_DEFAULT_MINIMUM_BYTES
}

/// The console's host per partition, for outputs that link to it. aws: `<region>.console.aws.amazon.com`
/// (https://docs.aws.amazon.com/general/latest/gr/mgmt-console.html); aws-cn:
/// `console.amazonaws.cn` (links in https://docs.amazonaws.cn/en_us/step-functions/latest/dg/service-quotas.html);
/// aws-us-gov: `console.amazonaws-us-gov.com` (sign-in at signin.amazonaws-us-gov.com,
/// https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-iam.html; the console
/// host itself from public runbooks, community).
/// The isolated partitions publish no console host here: a console link cannot be right there.
pub const CONSOLE_DOMAINS: &[(&str, &str)] = &[
    ("aws", "console.aws.amazon.com"),
    ("aws-cn", "console.amazonaws.cn"),
    ("aws-us-gov", "console.amazonaws-us-gov.com"),
];

/// Whether `host` is served in `partition`: an API endpoint under the partition's DNS suffix,
/// or the partition's console.
pub fn host_belongs_to(host: &str, partition: &partitions::Partition) -> bool {
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    under(&partition.dns_suffix)
        || CONSOLE_DOMAINS
            .iter()
            .any(|(p, domain)| *p == partition.name && under(domain))
}

/// The hosts of every `https://` URL in `text`.
pub fn url_hosts(text: &str) -> Vec<String> {
    text.match_indices("https://")
        .map(|(at, scheme)| {
            text[at + scheme.len()..]
                .split(['/', '?', '#', ' ', '"'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn small_objects_reach_glacier_only_with_varies_by_storage_class_or_a_size_filter() {
        let default = lifecycle("Rules: [{Transitions: [{StorageClass: GLACIER}]}]");
        let rule = &default["Rules"][0];
        assert!(!transitions(&default, rule, "GLACIER", 512));
        assert!(transitions(&default, rule, "GLACIER", 200 * 1024));
        let varies =
            lifecycle("{TransitionDefaultMinimumObjectSize: varies_by_storage_class, Rules: [{}]}");
        assert!(transitions(&varies, &varies["Rules"][0], "GLACIER", 512));
        assert!(!transitions(
            &varies,
            &varies["Rules"][0],
            "STANDARD_IA",
            512
        ));
        let filtered = lifecycle("Rules: [{Filter: {ObjectSizeGreaterThan: 100}}]");
        assert!(transitions(
            &filtered,
            &filtered["Rules"][0],
            "STANDARD_IA",
            512
        ));
    }

    #[test]
    fn hosts_are_judged_per_partition() {
        let partition = |name: &str, suffix: &str| partitions::Partition {
            name: name.into(),
            dns_suffix: suffix.into(),
            regions: vec![],
        };
        let cn = partition("aws-cn", "amazonaws.com.cn");
        let aws = partition("aws", "amazonaws.com");
        let hosts = url_hosts(
            "see https://eu-west-1.console.aws.amazon.com/cloudwatch/home and https://x.execute-api.eu-west-1.amazonaws.com/v1",
        );
        assert_eq!(
            hosts,
            [
                "eu-west-1.console.aws.amazon.com",
                "x.execute-api.eu-west-1.amazonaws.com"
            ]
        );
        assert!(host_belongs_to(&hosts[0], &aws) && !host_belongs_to(&hosts[0], &cn));
        assert!(host_belongs_to(
            "x.execute-api.cn-north-1.amazonaws.com.cn",
            &cn
        ));
    }
}
