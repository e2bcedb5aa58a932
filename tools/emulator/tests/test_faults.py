"""faults.py (test-only fault injection) and lambda_env.py's system log records, against the
AWS documentation they imitate:

* DynamoDB API reference, TransactWriteItems: a cancelled transaction answers
  TransactionCanceledException with one CancellationReason per item, in order, "None" for
  the items that did not cause it, "TransactionConflict" for an item another transaction
  is using;
* the SNS and Step Functions service models (botocore): KMSThrottling is a 400 of SNS
  Publish; ThrottlingException answers 400 and ServiceUnavailable 503 (Step Functions API
  reference, "Common Errors");
* Lambda guide, "Log-level filtering": with the JSON log format, platform.start and
  platform.report are INFO system logs, sent at SystemLogLevel INFO (the default) and left
  out at WARN; "Configuring JSON and plain text log formats" shows the records' shape; a
  cold start adds platform.initStart and the report's initDurationMs (test_lambda_pool).
"""

import json
import os
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import faults
import settings
from tests import support

# A bootstrap speaking the Lambda Runtime API: one event in, the event back out.
ECHO_BOOTSTRAP = """#!/usr/bin/python3
import os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
with urllib.request.urlopen(api + "next") as response:
    request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
    event = response.read()
urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=event, method="POST")).read()
"""


def bootstrap_zip(source=ECHO_BOOTSTRAP):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


class FaultsTest(unittest.TestCase):
    def setUp(self):
        support.emulator()
        self.path = os.path.join(settings.WORK_DIR, "faults.json")

    def tearDown(self):
        if os.path.exists(self.path):
            os.remove(self.path)

    def arm(self, **faults_):
        with open(self.path, "w") as f:
            json.dump(faults_, f)

    def test_a_transaction_conflict_cancels_one_transaction_with_one_reason_per_item(self):
        ddb = support.client("dynamodb")
        for name in ("faults-a", "faults-b"):
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        items = [{"Put": {"TableName": "faults-a", "Item": {"id": {"S": "1"}}}},
                 {"Put": {"TableName": "faults-b", "Item": {"id": {"S": "1"}}}}]
        self.arm(**{"dynamodb:TransactWriteItems": {"remaining": 1, "error": "TransactionConflict", "target": "faults-b"}})
        with self.assertRaises(ClientError) as refused:
            ddb.transact_write_items(TransactItems=items)
        error = refused.exception.response
        self.assertEqual(error["Error"]["Code"], "TransactionCanceledException")
        self.assertEqual([r["Code"] for r in error["CancellationReasons"]], ["None", "TransactionConflict"])
        self.assertNotIn("Item", ddb.get_item(TableName="faults-a", Key={"id": {"S": "1"}}))
        ddb.transact_write_items(TransactItems=items)  # consumed: the retry goes through
        self.assertIn("Item", ddb.get_item(TableName="faults-a", Key={"id": {"S": "1"}}))

    def test_a_fault_with_a_target_leaves_other_targets_alone(self):
        sns = support.client("sns")
        topic = sns.create_topic(Name="faults-topic")["TopicArn"]
        other = sns.create_topic(Name="faults-other")["TopicArn"]
        self.arm(**{"sns:Publish": {"remaining": 1, "error": "KMSThrottling", "target": topic}})
        sns.publish(TopicArn=other, Message="{}")
        with self.assertRaises(ClientError) as refused:
            sns.publish(TopicArn=topic, Message="{}")
        self.assertEqual(refused.exception.response["Error"]["Code"], "KMSThrottling")
        self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        sns.publish(TopicArn=topic, Message="{}")

    def test_step_functions_answers_with_the_status_given(self):
        # One attempt only: the SDK would retry a 503 itself.
        port, _, admin = support.emulator()
        sfn = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{port}", region_name=support.REGION,
                           aws_access_key_id=admin["AccessKeyId"], aws_secret_access_key=admin["SecretAccessKey"],
                           config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}))
        self.arm(**{"states:StartSyncExecution": {"remaining": 1, "error": "ServiceUnavailable", "status": 503}})
        with self.assertRaises(ClientError) as refused:
            sfn.start_sync_execution(stateMachineArn="arn:aws:states:eu-west-1:123456789012:stateMachine:none")
        self.assertEqual(refused.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertEqual(refused.exception.response["Error"]["Code"], "ServiceUnavailable")

    def test_occurrences_are_consumed_and_logged(self):
        self.arm(**{"some-function": {"remaining": 2, "error": "RetryableError"}})
        before = self.fired("some-function")
        self.assertEqual(faults.function_fault("some-function")["error"], "RetryableError")
        self.assertEqual(faults.injected_fault("some-function"), "RetryableError")
        self.assertIsNone(faults.function_fault("some-function"))
        self.assertEqual(self.fired("some-function") - before, 2)

    def fired(self, key):
        path = os.path.join(settings.WORK_DIR, "faults.log")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return sum(1 for line in f if json.loads(line)["key"] == key)


class AnswerLostAndSystemLogsTest(unittest.TestCase):
    """A real bootstrap over the Runtime API: the code runs, then its answer is lost; and
    the platform records Lambda writes, by SystemLogLevel."""

    @classmethod
    def setUpClass(cls):
        support.emulator()
        cls.role = support.role("faults-echo-role", "lambda.amazonaws.com", [])
        cls.lam = support.client("lambda")

    def create(self, name, system_level):
        self.lam.create_function(
            FunctionName=name, Runtime="provided.al2023", Role=self.role, Handler="bootstrap",
            Code={"ZipFile": bootstrap_zip()}, Timeout=5,
            LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": system_level})

    def records(self, name):
        path = os.path.join(settings.WORK_DIR, "logs", f"{name}.log")
        with open(path) as f:
            return [json.loads(line) for line in f if line.startswith("{")]

    def test_the_answer_is_lost_after_the_code_ran(self):
        self.create("faults-echo-lost", "INFO")
        with open(os.path.join(settings.WORK_DIR, "faults.json"), "w") as f:
            json.dump({"faults-echo-lost": {"remaining": 1, "after_run": True, "error": "Lambda.Unknown"}}, f)
        try:
            lost = self.lam.invoke(FunctionName="faults-echo-lost", Payload=b'{"n": 1}')
        finally:
            os.remove(os.path.join(settings.WORK_DIR, "faults.json"))
        self.assertTrue(lost.get("FunctionError"))
        self.assertEqual(json.loads(lost["Payload"].read())["errorType"], "Lambda.Unknown")
        reports = [r for r in self.records("faults-echo-lost") if r["type"] == "platform.report"]
        self.assertEqual(len(reports), 1, "the code ran: Lambda reported the invocation")
        answered = self.lam.invoke(FunctionName="faults-echo-lost", Payload=b'{"n": 2}')
        self.assertEqual(json.loads(answered["Payload"].read()), {"n": 2})

    def test_platform_records_are_info_and_follow_the_system_log_level(self):
        self.create("faults-echo-info", "INFO")
        self.create("faults-echo-warn", "WARN")
        for name in ("faults-echo-info", "faults-echo-warn"):
            self.lam.invoke(FunctionName=name, Payload=b"{}")
        info = self.records("faults-echo-info")
        # A first invocation is a cold start: platform.initStart, then start and report.
        self.assertEqual([r["type"] for r in info], ["platform.initStart", "platform.start", "platform.report"])
        metrics = info[2]["record"]["metrics"]
        self.assertEqual(sorted(metrics), ["billedDurationMs", "durationMs", "initDurationMs", "maxMemoryUsedMB",
                                           "memorySizeMB"])
        self.assertEqual(info[2]["record"]["status"], "success")
        self.assertEqual(self.records("faults-echo-warn") if os.path.exists(
            os.path.join(settings.WORK_DIR, "logs", "faults-echo-warn.log")) else [], [])

    def test_the_logging_config_is_kept_and_returned(self):
        self.create("faults-echo-config", "WARN")
        config = self.lam.get_function_configuration(FunctionName="faults-echo-config")["LoggingConfig"]
        self.assertEqual(config["SystemLogLevel"], "WARN")
        self.assertEqual(config["LogFormat"], "JSON")

    def test_a_runtime_that_exits_without_answering_fails_at_once(self):
        import time

        self.lam.create_function(
            FunctionName="faults-exits", Runtime="provided.al2023", Role=self.role, Handler="bootstrap",
            Code={"ZipFile": bootstrap_zip("#!/bin/sh\necho 'Error: a missing setting' >&2\nexit 1\n")}, Timeout=30)
        started = time.time()
        answer = self.lam.invoke(FunctionName="faults-exits", Payload=b"{}")
        self.assertLess(time.time() - started, 10, "not held until the 30 s timeout")
        self.assertTrue(answer.get("FunctionError"))
        self.assertEqual(json.loads(answer["Payload"].read())["errorType"], "Runtime.ExitError")


if __name__ == "__main__":
    unittest.main()
