"""The emulator's state, read the way an operator would read AWS: items, audit entries,
receipts (and their S3 versions), what the topics delivered, the durable queues, the
executions, the function logs, and the test-only fault switch (tools/emulator/faults.py)."""

import json
import os
import threading
import time

import boto3
from botocore.config import Config

import onboarding

NINETY_DAYS = 90 * 86_400


def wait_for(predicate, timeout=15.0, every=0.2):
    """Polls `predicate` until it returns something truthy (returned) or the time is up (None)."""
    deadline = time.time() + timeout
    while True:
        found = predicate()
        if found or time.time() > deadline:
            return found
        time.sleep(every)


class World:
    def __init__(self, aws, outputs, work_dir, stack):
        self.aws, self.outputs, self.work_dir, self.stack = aws, outputs, work_dir, stack
        self.resources = onboarding.stack_resources(aws, stack)
        self.table = outputs["TransactionsTableArn"].split("/")[-1]
        self.audit = outputs["AuditLogsTableArn"].split("/")[-1]
        self.merchants = outputs["MerchantsTableArn"].split("/")[-1]
        self.cards = self.physical("CardActivityTable")
        self.bucket = outputs["ArchiveBucketName"]
        self.machine = outputs["StateMachineArn"]
        self.functions = {lid: physical for lid, (kind, physical) in self.resources.items()
                          if kind == "AWS::Lambda::Function"}
        self.failed_queue = self.queue_url("FailedTransactionsQueue")
        self.dead_letters = self.queue_url("NotificationDeadLetterQueue")
        self.delivered = {}  # topic output key -> [SNS envelope dicts], in arrival order
        self.taps = {}
        self.queued = {"failed": [], "dlq": []}
        self._lock = threading.Lock()
        self._executions = {}
        client = aws["lambda"]
        credentials = client._get_credentials()
        self.lambda_once = boto3.client(
            "lambda", endpoint_url=client.meta.endpoint_url, region_name=client.meta.region_name,
            aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
            config=Config(retries={"total_max_attempts": 1}, read_timeout=90))
        self.cloudwatch = boto3.client(
            "cloudwatch", endpoint_url=client.meta.endpoint_url, region_name=client.meta.region_name,
            aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key)
        for output_key in ("SettlementsTopicArn", "FailedTransactionsTopicArn", "AlertsTopicArn"):
            self.tap(output_key)

    def physical(self, logical_id):
        return self.resources[logical_id][1]

    def function(self, logical_id):
        return self.functions[logical_id]

    def queue_url(self, logical_id):
        physical = self.physical(logical_id)
        if physical.startswith("http"):
            return physical
        return self.aws["sqs"].get_queue_url(QueueName=physical.split("/")[-1])["QueueUrl"]

    # --- records -------------------------------------------------------------------------

    def item(self, tid):
        key = {"transaction_id": {"S": tid}}
        return self.aws["dynamodb"].get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")

    def status(self, tid):
        item = self.item(tid)
        return item["status"]["S"] if item else None

    def items(self):
        found, kwargs = [], {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.aws["dynamodb"].scan(**kwargs)
            found.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def audit_entries(self, tid):
        return self.aws["dynamodb"].query(
            TableName=self.audit,
            KeyConditionExpression="transaction_id = :t",
            ExpressionAttributeValues={":t": {"S": tid}},
        )["Items"]

    def merchant_index(self, merchant_id, tid):
        items = self.aws["dynamodb"].query(
            TableName=self.table,
            IndexName="merchant_id-created_at-index",
            KeyConditionExpression="merchant_id = :m",
            ExpressionAttributeValues={":m": {"S": merchant_id}},
        )["Items"]
        return [i for i in items if i["transaction_id"]["S"] == tid]

    def pending(self):
        """Transaction ids still carrying the outbox marker (the sparse index's content)."""
        return sorted(i["transaction_id"]["S"] for i in self.items() if "notification_pending" in i)

    def drained(self, timeout=30.0):
        """Waits for the outbox to deliver everything pending (before arming a notifier fault,
        which would otherwise hit an earlier payment's notification). True when it did."""
        return bool(wait_for(lambda: not self.pending(), timeout, every=0.3))

    # --- receipts ------------------------------------------------------------------------

    def receipt_versions(self):
        """receipt key -> number of S3 versions (the archive bucket is versioned)."""
        found, kwargs = {}, {"Bucket": self.bucket, "Prefix": "receipts/"}
        while True:
            page = self.aws["s3"].list_object_versions(**kwargs)
            for version in page.get("Versions", []):
                found[version["Key"]] = found.get(version["Key"], 0) + 1
            if not page.get("IsTruncated"):
                return found
            kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page.get("NextVersionIdMarker"))

    def receipts(self, tid, wait=0.0):
        """The receipt keys of `tid` with their version counts, waiting up to `wait` s for one."""

        def look():
            return {k: v for k, v in self.receipt_versions().items() if f"/{tid}.json" in k}

        return (wait_for(look, wait) if wait else look()) or {}

    def receipt(self, key):
        return json.loads(self.aws["s3"].get_object(Bucket=self.bucket, Key=key)["Body"].read())

    # --- topics and queues ---------------------------------------------------------------

    def tap(self, output_key):
        """A queue subscribed to a topic (the SNS envelope, as a subscriber receives it)."""
        sqs, sns = self.aws["sqs"], self.aws["sns"]
        url = sqs.create_queue(QueueName=f"e2e-tap-{output_key}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.outputs[output_key], Protocol="sqs", Endpoint=arn)
        self.taps[output_key] = url
        self.delivered[output_key] = []

    def _drain(self, url, into, parse):
        while True:
            batch = self.aws["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                    MessageAttributeNames=["All"]).get("Messages", [])
            if not batch:
                return into
            for message in batch:
                into.append(parse(message))
                self.aws["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def messages(self, output_key):
        """Everything the topic delivered so far: SNS envelopes with `Message` parsed when JSON."""

        def parse(message):
            envelope = json.loads(message["Body"])
            try:
                envelope["parsed"] = json.loads(envelope.get("Message", ""))
            except ValueError:
                envelope["parsed"] = None
            return envelope

        with self._lock:
            return self._drain(self.taps[output_key], self.delivered[output_key], parse)

    def announcements(self, tid=None):
        found = self.messages("SettlementsTopicArn")
        return [m for m in found if tid is None or attribute(m, "transaction_id") == tid]

    def alerts(self, tid=None):
        found = self.messages("FailedTransactionsTopicArn")
        return [m for m in found if tid is None or tid in (m.get("Message") or "")]

    def failed_queue_messages(self, tid=None):
        """The deployed durable subscriber of the failed-transactions topic (raw delivery)."""
        with self._lock:
            found = self._drain(self.failed_queue, self.queued["failed"], lambda m: m["Body"])
        return [m for m in found if tid is None or tid in m]

    def dead_letter_records(self):
        """The stream mapping's on-failure records (metadata of the failed batch)."""
        with self._lock:
            return self._drain(self.dead_letters, self.queued["dlq"], lambda m: json.loads(m["Body"]))

    # --- executions ----------------------------------------------------------------------

    def executions(self):
        """transaction id -> [(status, execution arn)], every execution of the workflow so far."""
        sfn = self.aws["stepfunctions"]
        kwargs = {"stateMachineArn": self.machine, "maxResults": 1000}
        while True:
            page = sfn.list_executions(**kwargs)
            for execution in page["executions"]:
                arn = execution["executionArn"]
                known = self._executions.get(arn)
                if known is None or known[1] == "RUNNING":
                    described = sfn.describe_execution(executionArn=arn)
                    try:
                        tid = json.loads(described.get("input") or "{}").get("payment", {}).get("transaction_id")
                    except (ValueError, AttributeError):
                        tid = None
                    self._executions[arn] = (tid, described["status"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        by_tid = {}
        for arn, (tid, status) in self._executions.items():
            by_tid.setdefault(tid, []).append((status, arn))
        return by_tid

    def failed_attempts(self, tid, function_logical_id, cause=None):
        """LambdaFunctionFailed/TimedOut events of `function`'s task in `tid`'s executions
        (with `cause`: only the failures whose cause contains it; the emulator's load adds
        failures of its own, SDK timeouts, which are not the scenario's)."""
        function_arn_part = f":function:{self.function(function_logical_id)}"
        count = 0
        for _, arn in self.executions().get(tid, []):
            events = self.aws["stepfunctions"].get_execution_history(executionArn=arn, maxResults=1000)["events"]
            scheduled = {e["id"] for e in events if e["type"] == "LambdaFunctionScheduled"
                         and e["lambdaFunctionScheduledEventDetails"]["resource"].endswith(function_arn_part)}
            for event in events:
                if event["type"] in ("LambdaFunctionFailed", "LambdaFunctionTimedOut"):
                    details = event.get("lambdaFunctionFailedEventDetails") or event.get(
                        "lambdaFunctionTimedOutEventDetails") or {}
                    if cause is not None and cause not in json.dumps(details):
                        continue
                    if _scheduled_by(events, event) in scheduled:
                        count += 1
        return count

    # --- logs ----------------------------------------------------------------------------

    def log_path(self, function_name):
        return os.path.join(self.work_dir, "logs", f"{function_name}.log")

    def log_lines(self, function_name):
        """[(raw line, parsed JSON or None)] of one function's log file."""
        path = self.log_path(function_name)
        if not os.path.exists(path):
            return []
        lines = []
        with open(path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                try:
                    parsed = json.loads(line)
                except ValueError:
                    parsed = None
                lines.append((line, parsed if isinstance(parsed, dict) else None))
        return lines

    def system_records(self, function_name, kind):
        """The platform records of `kind` (e.g. "platform.report") in one function's log."""
        return [parsed for _, parsed in self.log_lines(function_name) if parsed and parsed.get("type") == kind]

    def throttles(self, function_name):
        """Throttles of the function in the last hour, as CloudWatch counts them (the Sum of
        AWS/Lambda Throttles by FunctionName)."""
        now = time.time()
        points = self.cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Throttles", StartTime=now - 3600, EndTime=now + 60, Period=3600,
            Dimensions=[{"Name": "FunctionName", "Value": function_name}], Statistics=["Sum"])["Datapoints"]
        return int(sum(p["Sum"] for p in points))

    def throttle_lines(self, function_name):
        """The emulator's own throttle log (logs/lambda-throttles.log), for one function."""
        path = os.path.join(self.work_dir, "logs", "lambda-throttles.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [entry for entry in map(json.loads, f) if entry["function"] == function_name]

    def error_lines(self):
        """Every ERROR line of every function's log: {function name: [lines]}."""
        found = {}
        for name in self.functions.values():
            errors = [raw for raw, parsed in self.log_lines(name) if parsed and parsed.get("level") == "ERROR"]
            if errors:
                found[name] = errors
        return found

    # --- faults --------------------------------------------------------------------------

    def _faults_path(self):
        return os.path.join(self.work_dir, "faults.json")

    def arm(self, key, **fault):
        path = self._faults_path()
        faults = json.load(open(path)) if os.path.exists(path) else {}
        faults[key] = fault
        with open(path + ".new", "w") as f:
            json.dump(faults, f)
        os.replace(path + ".new", path)

    def clear(self):
        if os.path.exists(self._faults_path()):
            os.remove(self._faults_path())

    def fired(self, key):
        """How many occurrences of the fault under `key` the emulator consumed so far."""
        path = os.path.join(self.work_dir, "faults.log")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return sum(1 for line in f if json.loads(line)["key"] == key)

    # --- direct calls, as an operator would make them -----------------------------------

    def invoke(self, logical_id, event):
        """One synchronous invocation, never retried by the SDK (a retried invoke would run the
        function twice), waiting up to the function's 60 s timeout."""
        answer = self.lambda_once.invoke(FunctionName=self.function(logical_id), Payload=json.dumps(event).encode())
        payload = answer["Payload"].read().decode()
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = payload
        return answer.get("FunctionError"), parsed


def attribute(envelope, name):
    value = (envelope.get("MessageAttributes") or {}).get(name)
    return value.get("Value") if isinstance(value, dict) else None


def _scheduled_by(events, event):
    """The LambdaFunctionScheduled event a task's outcome belongs to (its nearest ancestor)."""
    by_id = {e["id"]: e for e in events}
    current = event
    while current is not None:
        if current["type"] == "LambdaFunctionScheduled":
            return current["id"]
        current = by_id.get(current.get("previousEventId"))
    return None
