"""`cargo xtask up`, after the build: start the embedded AWS, deploy the template unchanged
through the CloudFormation API, report what the emulator kept and dropped, run sample
payments through StartSyncExecution and show where their data lies.

Usage: python up.py --repo DIR --port PORT --work-dir DIR [--once]
  --once   stop the emulator and exit after the report (otherwise wait for Ctrl-C)

The end-to-end suite (tests/e2e/suite.py) reuses these steps.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import boto3
from botocore.config import Config

REGION = "eu-west-1"
STACK = "payment-workflow-local"


def clients(port):
    settings = dict(
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # StartSyncExecution's host prefix ("sync-") cannot resolve on a local endpoint.
    make = lambda name: boto3.client(name, config=Config(inject_host_prefix=False), **settings)  # noqa: E731
    return {name: make(name) for name in ["s3", "cloudformation", "dynamodb", "stepfunctions", "lambda", "sqs", "sns"]}


def start_emulator(repo, port, work_dir):
    log = open(os.path.join(work_dir, "emulator.log"), "ab")
    launcher = os.path.join(repo, "tools", "emulator", "launcher.py")
    process = subprocess.Popen(
        [sys.executable, launcher, "--port", str(port), "--work-dir", work_dir], stdout=log, stderr=log
    )
    with open(os.path.join(work_dir, "emulator.pid"), "w") as pid:
        pid.write(str(process.pid))
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the emulator did not start; see {work_dir}/emulator.log")
            time.sleep(0.2)


def stop_emulator(process, work_dir):
    """Stops the emulator: politely, then hard if it is still busy (draining a queue) after
    10 seconds; forgets its PID."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    pid = os.path.join(work_dir, "emulator.pid")
    if os.path.exists(pid):
        os.remove(pid)


def parameters(repo):
    with open(os.path.join(repo, "templates", "params", "dev.json")) as f:
        values = {p["ParameterKey"]: p["ParameterValue"] for p in json.load(f)}
    values["EnvironmentSuffix"] = "local"
    return values


def deploy(repo, aws, values):
    bucket, prefix = values["ArtifactBucket"], values["ArtifactKeyPrefix"]
    aws["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    # One package per function crate, as `cargo xtask package` builds them.
    for function in sorted(os.listdir(os.path.join(repo, "code", "functions"))):
        path = os.path.join(repo, "target", "lambda", "packages", f"{function}.zip")
        with open(path, "rb") as package:
            aws["s3"].put_object(Bucket=bucket, Key=f"{prefix}/{function}.zip", Body=package.read())
    with open(os.path.join(repo, "templates", "payment-workflow.yaml")) as template:
        aws["cloudformation"].create_stack(
            StackName=STACK,
            TemplateBody=template.read(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
    stack = aws["cloudformation"].describe_stacks(StackName=STACK)["Stacks"][0]
    return stack["StackStatus"], {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def fidelity(repo, aws, outputs):
    """What the emulator created, skipped, and which properties it kept or dropped."""
    import yaml  # PyYAML comes with moto

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(os.path.join(repo, "templates", "payment-workflow.yaml")) as template:
        declared = yaml.load(template, Loader=Loader)["Resources"]
    created = {
        r["LogicalResourceId"]
        for r in aws["cloudformation"].list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    skipped = {}
    for logical_id, resource in declared.items():
        if logical_id not in created:
            skipped.setdefault(resource["Type"], []).append(logical_id)
    table = outputs["TransactionsTableArn"].split("/")[-1]
    audit = outputs["AuditLogsTableArn"].split("/")[-1]
    ddb, lam, sfn = aws["dynamodb"], aws["lambda"], aws["stepfunctions"]
    pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    ttl = ddb.describe_time_to_live(TableName=audit)["TimeToLiveDescription"]
    validator = lam.get_function(FunctionName="payment-validator-local")
    concurrency = validator.get("Concurrency", {}).get("ReservedConcurrentExecutions")
    machine = sfn.describe_state_machine(stateMachineArn=outputs["StateMachineArn"])
    try:
        lifecycle = aws["s3"].get_bucket_lifecycle_configuration(Bucket=outputs["ArchiveBucketName"])["Rules"]
    except Exception:
        lifecycle = []
    kept = [
        ("transactions PITR", pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"),
        ("audit_logs TTL", ttl.get("TimeToLiveStatus") == "ENABLED"),
        ("validator reserved concurrency 100", concurrency == 100),
        ("validator X-Ray active", validator["Configuration"].get("TracingConfig", {}).get("Mode") == "Active"),
        ("state machine EXPRESS", machine.get("type") == "EXPRESS"),
        ("archive Glacier lifecycle", bool(lifecycle)),
    ]
    return sorted(created), skipped, kept


def seed_merchants(aws, outputs):
    """The sample merchants (sample-merchants.json, also the benchmark's in-memory ones)."""
    table = outputs["MerchantsTableArn"].split("/")[-1]
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample-merchants.json")) as f:
        merchants = json.load(f)
    for merchant in merchants.values():
        currencies = {
            code: {"M": {name: {"N": str(value)} for name, value in limits.items()}}
            for code, limits in merchant["currencies"].items()
        }
        aws["dynamodb"].put_item(
            TableName=table,
            Item={
                "merchant_id": {"S": merchant["merchant_id"]},
                "active": {"BOOL": merchant["active"]},
                "currencies": {"M": currencies},
            },
        )


def payment(**changes):
    body = {
        "transaction_id": str(uuid.uuid4()),
        "merchant_id": "merchant-001",
        "amount_minor": 1250,
        "currency": "EUR",
        "payment_token": "tok_" + uuid.uuid4().hex[:20],
        "card_last4": "4242",
        "country": "DE",
    }
    body.update(changes)
    return body


def run(aws, outputs, body):
    started = time.time()
    answer = aws["stepfunctions"].start_sync_execution(
        stateMachineArn=outputs["StateMachineArn"], input=json.dumps(body)
    )
    elapsed = int((time.time() - started) * 1000)
    output = json.loads(answer["output"]) if answer.get("output") else {}
    return answer["status"], output, answer.get("error"), elapsed


def samples(aws, outputs):
    approved = payment()
    scenarios = [
        ("approved", approved, ("SUCCEEDED", "SETTLED", False)),
        ("declined for fraud (blocked country)", payment(country="KP"), ("SUCCEEDED", "DECLINED", False)),
        ("declined by merchant rules (amount)", payment(amount_minor=5_000_000), ("SUCCEEDED", "DECLINED", False)),
        ("rejected as invalid (unknown currency)", payment(currency="XXX"), ("FAILED", "InvalidPayment", None)),
        ("replay of the approved payment", approved, ("SUCCEEDED", "SETTLED", True)),
    ]
    results = []
    for name, body, expected in scenarios:
        status, output, error, elapsed = run(aws, outputs, body)
        outcome = output.get("outcome", error)
        got = (status, outcome, output.get("replayed"))
        results.append((name, body["transaction_id"], got, expected, elapsed))
    return results


def where_the_data_lies(aws, outputs):
    table = outputs["TransactionsTableArn"].split("/")[-1]
    audit = outputs["AuditLogsTableArn"].split("/")[-1]
    bucket = outputs["ArchiveBucketName"]
    # Notification runs from the queue, after the answer: give it a moment.
    receipts = []
    for _ in range(50):
        receipts = aws["s3"].list_objects_v2(Bucket=bucket, Prefix="receipts/").get("Contents", [])
        if receipts:
            break
        time.sleep(0.2)
    return [
        (f"DynamoDB {table}", aws["dynamodb"].scan(TableName=table)["Count"], "decision records"),
        (f"DynamoDB {audit}", aws["dynamodb"].scan(TableName=audit)["Count"], "audit entries (TTL 90 days)"),
        (f"S3 {bucket}", len(receipts), "signed receipts under receipts/"),
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    print(f"== starting the embedded AWS (moto, patched) on 127.0.0.1:{args.port}", flush=True)
    emulator = start_emulator(args.repo, args.port, args.work_dir)
    try:
        aws = clients(args.port)
        print("== deploying templates/payment-workflow.yaml unchanged through the CloudFormation API", flush=True)
        status, outputs = deploy(args.repo, aws, parameters(args.repo))
        print(f"   stack {STACK}: {status}")
        created, skipped, kept = fidelity(args.repo, aws, outputs)
        print(f"\n== fidelity: {len(created)} resources created; skipped by the emulator:")
        for kind, ids in sorted(skipped.items()):
            print(f"   {kind}: {', '.join(ids)}")
        print("   properties:")
        for name, ok in kept:
            print(f"   {'kept   ' if ok else 'dropped'} {name}")
        seed_merchants(aws, outputs)
        print("\n== sample payments through StartSyncExecution\n")
        print("| scenario | transaction_id | status | outcome / error | replayed | ms | as expected |")
        print("| --- | --- | --- | --- | --- | ---: | --- |")
        for name, tid, got, expected, elapsed in samples(aws, outputs):
            verdict = "yes" if got == expected else "NO, expected " + str(expected)
            print(f"| {name} | {tid} | {got[0]} | {got[1]} | {got[2]} | {elapsed} | {verdict} |")
        print("\n== where the data lies\n")
        for place, count, what in where_the_data_lies(aws, outputs):
            print(f"   {place}: {count} {what}")
        print(f"\n   function logs: {args.work_dir}/logs/   emulator log: {args.work_dir}/emulator.log")
        if not args.once:
            print(f"\n== the emulator keeps running on http://127.0.0.1:{args.port}; Ctrl-C (or cargo xtask down) stops it")
            signal.sigwait([signal.SIGINT, signal.SIGTERM])
    finally:
        stop_emulator(emulator, args.work_dir)


if __name__ == "__main__":
    main()
