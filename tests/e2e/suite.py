"""The end-to-end suite (a stage of `cargo xtask test`): a fresh embedded AWS, the template
deployed unchanged, and payments run through StartSyncExecution. Every scenario checks its
evidence in the emulator's services, not only the answer. The deterministic results are
compared with src/generated/e2e-results.md (rewritten when UPDATE_GENERATED is set).

Usage: python suite.py --repo DIR --port PORT --work-dir DIR --results FILE
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "emulator"))
import up  # noqa: E402  (the same deployment steps as `cargo xtask up`)

NINETY_DAYS = 90 * 86_400


class Suite:
    def __init__(self, aws, outputs, port, work_dir):
        self.aws, self.outputs, self.port, self.work_dir = aws, outputs, port, work_dir
        self.table = outputs["TransactionsTableArn"].split("/")[-1]
        self.audit = outputs["AuditLogsTableArn"].split("/")[-1]
        self.bucket = outputs["ArchiveBucketName"]
        self.rows = []
        self.taps = {}
        self.tap("AlertsTopicArn")
        self.tap("FailedTransactionsTopicArn")
        self.tap("SettlementsTopicArn")

    def check(self, scenario, evidence, ok):
        self.rows.append((scenario, evidence, ok))
        print(f"   {'ok  ' if ok else 'FAIL'} {scenario}: {evidence}", flush=True)

    def run(self, body):
        return up.run(self.aws, self.outputs, body)

    def item(self, transaction_id):
        key = {"transaction_id": {"S": transaction_id}}
        return self.aws["dynamodb"].get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")

    def audit_entries(self, transaction_id):
        query = self.aws["dynamodb"].query(
            TableName=self.audit,
            KeyConditionExpression="transaction_id = :t",
            ExpressionAttributeValues={":t": {"S": transaction_id}},
        )
        return query["Items"]

    def receipts(self, transaction_id, wait=True):
        for _ in range(75 if wait else 1):
            objects = self.aws["s3"].list_objects_v2(Bucket=self.bucket, Prefix="receipts/").get("Contents", [])
            found = [o["Key"] for o in objects if transaction_id in o["Key"]]
            if found or not wait:
                return found
            time.sleep(0.2)
        return []

    def tap(self, output_key):
        """Subscribes a queue to a topic, as a person's inbox would be: what SNS delivers,
        the suite reads."""
        sqs, sns = self.aws["sqs"], self.aws["sns"]
        url = sqs.create_queue(QueueName=f"e2e-tap-{output_key}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.outputs[output_key], Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true"})
        self.taps[output_key] = (url, [])

    def topic_messages(self, output_key):
        url, seen = self.taps[output_key]
        while True:
            batch = self.aws["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return seen
            for message in batch:
                seen.append(message["Body"])
                self.aws["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def inject(self, function, count, error="RetryableError"):
        with open(os.path.join(self.work_dir, "faults.json"), "w") as faults:
            json.dump({function: {"remaining": count, "error": error}}, faults)

    def history(self, execution_arn):
        return self.aws["stepfunctions"].get_execution_history(executionArn=execution_arn)["events"]

    # 1
    def approved(self):
        body = up.payment()
        started = int(time.time())
        status, output, error, _ = self.run(body)
        tid = body["transaction_id"]
        self.check("1 approved: answer", f"{status} {output.get('outcome')}", (status, output.get("outcome")) == ("SUCCEEDED", "SETTLED"))
        index = self.aws["dynamodb"].query(
            TableName=self.table,
            IndexName="merchant_id-created_at-index",
            KeyConditionExpression="merchant_id = :m",
            ExpressionAttributeValues={":m": {"S": body["merchant_id"]}},
        )["Items"]
        found = [i for i in index if i["transaction_id"]["S"] == tid]
        self.check("1 approved: found through the merchant_id index", f"{len(found)} item", len(found) == 1 and found[0]["status"]["S"] == "SETTLED")
        entries = self.audit_entries(tid)
        expires = int(entries[0]["expires_at"]["N"]) if entries else 0
        ttl_ok = len(entries) == 1 and started + NINETY_DAYS - 5 <= expires <= int(time.time()) + NINETY_DAYS + 5
        self.check("1 approved: one audit entry expiring in 90 days", f"{len(entries)} entry", ttl_ok)
        self.check("1 approved: signed receipt archived in S3", f"{len(self.receipts(tid))} object", len(self.receipts(tid)) == 1)
        announced = [m for m in self.topic_messages("SettlementsTopicArn") if tid in m]
        self.check("1 approved: announced on the settlements topic", "received" if announced else "missing", len(announced) >= 1)
        emailed = [m for m in self.topic_messages("AlertsTopicArn") if tid in m]
        self.check("1 approved: no e-mail per payment (alerts topic)", f"{len(emailed)} messages", not emailed)

    # 2 and 3
    def declined_and_invalid(self):
        fraud = up.payment(country="KP")
        status, output, _, _ = self.run(fraud)
        nothing_settled = self.item(fraud["transaction_id"])["status"]["S"] == "DECLINED"
        self.check("2 fraud decline: typed answer, recorded as declined, no receipt",
                   f"{status} {output.get('outcome')} {output.get('reasons')}",
                   output.get("outcome") == "DECLINED" and "blocked_country" in output.get("reasons", [])
                   and nothing_settled and not self.receipts(fraud["transaction_id"], wait=False))
        invalid = up.payment(card_last4="42x2")
        status, output, error, _ = self.run(invalid)
        self.check("3 invalid payment: typed error, nothing recorded", f"{status} {error}",
                   (status, error) == ("FAILED", "InvalidPayment") and self.item(invalid["transaction_id"]) is None)

    # 4
    def transient_faults(self):
        self.inject("payment-settlement-local", 2)
        body = up.payment()
        answer = self.aws["stepfunctions"].start_sync_execution(
            stateMachineArn=self.outputs["StateMachineArn"], input=json.dumps(body)
        )
        failures = [e for e in self.history(answer["executionArn"]) if e["type"] == "LambdaFunctionFailed"]
        outcome = json.loads(answer.get("output") or "{}").get("outcome")
        self.check("4 two transient settlement faults: retried, then settled",
                   f"{len(failures)} failed attempts, {answer['status']} {outcome}",
                   len(failures) == 2 and answer["status"] == "SUCCEEDED" and outcome == "SETTLED")
        self.inject("payment-settlement-local", 4)
        body = up.payment()
        before = len([m for m in self.topic_messages("FailedTransactionsTopicArn") if body["transaction_id"] in m])
        status, output, error, _ = self.run(body)
        alerts = [m for m in self.topic_messages("FailedTransactionsTopicArn") if body["transaction_id"] in m]
        self.check("4 four faults: retries exhausted, alerted, nothing settled, typed error",
                   f"{status} {error}, {len(alerts) - before} alert",
                   (status, error) == ("FAILED", "PaymentFailed") and len(alerts) - before == 1
                   and self.item(body["transaction_id"]) is None)
        self.inject("payment-settlement-local", 0)

    # 5
    def concurrent_duplicates(self):
        body = up.payment()
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(lambda _: self.run(body), range(50)))
        outcomes = {(a[0], a[1].get("outcome")) for a in answers}
        settled_once = sum(1 for a in answers if a[1].get("replayed") is False)
        entries = self.audit_entries(body["transaction_id"])
        receipts = self.receipts(body["transaction_id"])
        self.check("5 the same payment 50 times at once: one settlement, one receipt, one answer",
                   f"answers {sorted(outcomes)}, {settled_once} recorded, {len(entries)} audit, {len(receipts)} receipt",
                   outcomes == {("SUCCEEDED", "SETTLED")} and settled_once == 1 and len(entries) == 1 and len(receipts) == 1)

    # 6
    def batch(self, size=200):
        kinds = [
            lambda: up.payment(),
            lambda: up.payment(country="KP"),
            lambda: up.payment(amount_minor=5_000_000),
            lambda: up.payment(currency="XXX"),
        ]
        bodies = [kinds[i % len(kinds)]() for i in range(size)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(self.run, bodies))
        settled = [b for b, a in zip(bodies, answers) if a[1].get("outcome") == "SETTLED"]
        declined = [b for b, a in zip(bodies, answers) if a[1].get("outcome") == "DECLINED"]
        invalid = [b for b, a in zip(bodies, answers) if a[2] == "InvalidPayment"]
        failed = [b for b, a in zip(bodies, answers) if a[2] == "PaymentFailed"]
        alerts = self.topic_messages("FailedTransactionsTopicArn")
        alerted = [b for b in failed if any(b["transaction_id"] in m for m in alerts)]
        recorded = [b for b in settled + declined if self.item(b["transaction_id"]) is not None]
        unqueued = [b for b in settled if any(b["transaction_id"] in m for m in alerts)]
        print(f"   batch: {len(settled)} settled, {len(declined)} declined, {len(failed)} failed "
              f"({len(alerted)} alerted), {len(invalid)} invalid; {len(unqueued)} settled without a "
              "queued notification, each alerted", flush=True)
        balanced = len(bodies) == len(settled) + len(declined) + len(failed) + len(invalid)
        self.check(f"6 a batch of {size} mixed payments, 4 at a time",
                   "every payment ended settled, declined, failed with an alert, or invalid; "
                   "every settled or declined payment is recorded",
                   balanced and len(alerted) == len(failed) and len(recorded) == len(settled) + len(declined))


    # 7
    def failing_notification(self):
        """A notification that keeps failing reaches the DLQ after maxReceiveCount (5)
        receives. The queue's 60 s visibility timeout is kept, so this takes minutes."""
        self.inject("payment-notification-local", 1000)
        body = up.payment()
        status, output, _, _ = self.run(body)
        dlq = self.aws["sqs"].get_queue_url(QueueName="payment-notifications-dlq-local")["QueueUrl"]
        parked = []
        deadline = time.time() + 480
        while not parked and time.time() < deadline:
            time.sleep(5)
            messages = self.aws["sqs"].receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                                       VisibilityTimeout=0).get("Messages", [])
            parked = [m for m in messages if body["transaction_id"] in m["Body"]]
        self.inject("payment-notification-local", 0)
        self.check("7 a notification that keeps failing: settled, no receipt, message kept in the DLQ",
                   f"{output.get('outcome')}, {len(self.receipts(body['transaction_id'], wait=False))} receipt, "
                   f"{len(parked)} DLQ message",
                   output.get("outcome") == "SETTLED" and len(parked) == 1
                   and not self.receipts(body["transaction_id"], wait=False))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--results", required=True)
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    faults = os.path.join(args.work_dir, "faults.json")
    if os.path.exists(faults):
        os.remove(faults)
    emulator = up.start_emulator(args.repo, args.port, args.work_dir)
    try:
        aws = up.clients(args.port)
        status, outputs = up.deploy(args.repo, aws, up.parameters(args.repo))
        if status != "CREATE_COMPLETE":
            raise SystemExit(f"the stack did not deploy: {status}")
        up.seed_merchants(aws, outputs)
        suite = Suite(aws, outputs, args.port, args.work_dir)
        for scenario in [suite.approved, suite.declined_and_invalid, suite.transient_faults,
                         suite.concurrent_duplicates, suite.batch, suite.failing_notification]:
            scenario()
    finally:
        up.stop_emulator(emulator, args.work_dir)
    lines = [
        "<!-- generated by the end-to-end stage of `cargo xtask test` (tests/e2e/suite.py); "
        "`cargo xtask regen` -->",
        "| scenario | evidence | result |",
        "| --- | --- | --- |",
    ]
    for scenario, evidence, ok in suite.rows:
        lines.append(f"| {scenario} | `{evidence}` | {'pass' if ok else 'FAIL'} |")
    fresh = "\n".join(lines) + "\n"
    if os.environ.get("UPDATE_GENERATED"):
        with open(args.results, "w") as out:
            out.write(fresh)
    elif (open(args.results).read() if os.path.exists(args.results) else "") != fresh:
        print(fresh)
        raise SystemExit(f"{args.results} differs from this run; run `cargo xtask regen` if the change is intended")
    failed = [row for row in suite.rows if not row[2]]
    if failed:
        raise SystemExit(f"{len(failed)} end-to-end checks failed")
    print(f"e2e: {len(suite.rows)} passed, 0 failed")


if __name__ == "__main__":
    main()
