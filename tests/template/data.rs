//! 000 §C4 and §C5: the DynamoDB tables and the archive bucket.

use crate::{denies_plain_http, template};
use payment_workflow_book::template::{at, getatt_target, ref_target, sub_text};
use serde_yaml::Value;

fn key_schema(table: &Value) -> Vec<(String, String)> {
    at(table, "Properties.KeySchema")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().into(),
                k["KeyType"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn is_on_demand_with_pitr(table: &Value) -> bool {
    at(table, "Properties.BillingMode").as_str() == Some("PAY_PER_REQUEST")
        && at(
            table,
            "Properties.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled",
        )
        .as_bool()
            == Some(true)
}

#[test]
fn req_000_4_transactions_table_is_on_demand_with_pitr() {
    let table = template().resource("TransactionsTable");
    assert!(is_on_demand_with_pitr(table));
    assert_eq!(
        sub_text(at(table, "Properties.TableName")),
        Some("transactions-${EnvironmentSuffix}")
    );
}

#[test]
fn req_000_4_transactions_table_has_a_gsi_on_merchant_id() {
    let table = template().resource("TransactionsTable");
    let index = at(table, "Properties.GlobalSecondaryIndexes.0");
    assert_eq!(
        index["KeySchema"][0]["AttributeName"].as_str(),
        Some("merchant_id")
    );
    assert_eq!(index["KeySchema"][0]["KeyType"].as_str(), Some("HASH"));
}

#[test]
fn design_transactions_key_is_the_client_transaction_id_alone() {
    // A server-side timestamp in the key would make every retry a new item: settled twice.
    let table = template().resource("TransactionsTable");
    assert_eq!(
        key_schema(table),
        vec![("transaction_id".to_string(), "HASH".to_string())]
    );
}

#[test]
fn req_000_4_audit_logs_table_is_on_demand_with_pitr_and_ttl() {
    let table = template().resource("AuditLogsTable");
    assert!(is_on_demand_with_pitr(table));
    assert_eq!(
        at(table, "Properties.TimeToLiveSpecification.Enabled").as_bool(),
        Some(true)
    );
    assert_eq!(
        at(table, "Properties.TimeToLiveSpecification.AttributeName").as_str(),
        Some("expires_at")
    );
    assert_eq!(
        sub_text(at(table, "Properties.TableName")),
        Some("audit-logs-${EnvironmentSuffix}")
    );
}

#[test]
fn req_000_4_audit_ttl_is_90_days() {
    let t = template();
    let days = getatt_target(at(
        t.resource("SettlementFunction"),
        "Properties.Environment.Variables.AUDIT_RETENTION_DAYS",
    ))
    .unwrap()
    .0;
    assert_eq!(
        at(t.resource(days), "Properties.Value").as_str(),
        Some("90")
    );
}

#[test]
fn req_004_merchant_configuration_table() {
    let table = template().resource("MerchantsTable");
    assert!(is_on_demand_with_pitr(table));
    assert_eq!(
        key_schema(table),
        vec![("merchant_id".to_string(), "HASH".to_string())]
    );
}

/// Data outlives the stack, except after a failed first creation: a retained table or bucket
/// with a fixed name would make every retry of that deployment fail with "already exists"
/// (review M11; `RetainExceptOnCreate`, CloudFormation since July 2023).
#[test]
fn design_data_stores_are_kept_when_the_stack_is_deleted_or_replaced() {
    let t = template();
    for id in [
        "TransactionsTable",
        "AuditLogsTable",
        "MerchantsTable",
        "CardActivityTable",
        "ArchiveBucket",
        "ArchiveAccessLogsBucket",
        "SigningSecret",
        "DataKey",
    ] {
        let resource = t.resource(id);
        assert_eq!(
            resource["DeletionPolicy"].as_str(),
            Some("RetainExceptOnCreate"),
            "{id}"
        );
        assert_eq!(
            resource["UpdateReplacePolicy"].as_str(),
            Some("Retain"),
            "{id}"
        );
    }
    for (id, table) in t.of_type("AWS::DynamoDB::Table") {
        let protection = ref_target(at(table, "Properties.DeletionProtectionEnabled"));
        assert_eq!(protection, Some("TableDeletionProtection"), "{id}");
    }
}

#[test]
fn req_000_5_archive_bucket_uses_sse_s3() {
    let bucket = template().resource("ArchiveBucket");
    let rule = at(
        bucket,
        "Properties.BucketEncryption.ServerSideEncryptionConfiguration.0",
    );
    assert_eq!(
        rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"].as_str(),
        Some("AES256")
    );
    let name = sub_text(at(bucket, "Properties.BucketName")).unwrap();
    assert!(name.starts_with("transaction-archives-${EnvironmentSuffix}"));
}

#[test]
fn req_000_5_archive_moves_to_glacier_at_30_days() {
    let rule = at(
        template().resource("ArchiveBucket"),
        "Properties.LifecycleConfiguration.Rules.0",
    );
    assert_eq!(rule["Status"].as_str(), Some("Enabled"));
    assert_eq!(
        rule["Transitions"][0]["StorageClass"].as_str(),
        Some("GLACIER")
    );
    assert_eq!(
        rule["Transitions"][0]["TransitionInDays"].as_u64(),
        Some(30)
    );
}

#[test]
fn design_buckets_block_public_access_and_refuse_plain_http() {
    let t = template();
    let buckets = t.of_type("AWS::S3::Bucket");
    assert!(!buckets.is_empty());
    let policies = t.of_type("AWS::S3::BucketPolicy");
    for (id, bucket) in buckets {
        let block = at(bucket, "Properties.PublicAccessBlockConfiguration");
        for flag in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(block[flag].as_bool(), Some(true), "{id}.{flag}");
        }
        let policy = policies
            .iter()
            .find(|(_, p)| ref_target(at(p, "Properties.Bucket")) == Some(id))
            .unwrap_or_else(|| panic!("{id} has no bucket policy"));
        let denies_http = denies_plain_http(at(policy.1, "Properties.PolicyDocument.Statement"));
        assert!(denies_http, "{id} must deny requests without TLS");
    }
}

#[test]
fn design_stack_policy_forbids_replacing_or_deleting_every_retained_data_resource() {
    let path = payment_workflow_book::repo::root().join("templates/stack-policy.json");
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let deny = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("a Deny statement");
    let actions: Vec<&str> = deny["Action"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(actions.contains(&"Update:Replace") && actions.contains(&"Update:Delete"));
    let protected: Vec<&str> = deny["Resource"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    for (id, resource) in template().resources() {
        let data = ["AWS::DynamoDB::Table", "AWS::KMS::Key"]
            .contains(&resource["Type"].as_str().unwrap())
            || id == "ArchiveBucket";
        if data {
            assert!(
                protected.contains(&format!("LogicalResourceId/{id}").as_str()),
                "{id} is not protected"
            );
        }
    }
    for resource in protected {
        let id = resource.trim_start_matches("LogicalResourceId/");
        assert!(
            !template().resource(id).is_null(),
            "the policy names a missing resource {id}"
        );
    }
}
