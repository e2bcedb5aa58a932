"""`cargo xtask up`, after the build: start the embedded AWS, deploy the template unchanged
through the CloudFormation API, report what the emulator kept and dropped, onboard the
sample merchants (onboarding.py), post sample payments over HTTP with their API keys, show
where their data lies, and write endpoint.json with a ready curl line.

Usage: python up.py --repo DIR --port PORT --work-dir DIR [--once]
  --once   stop the emulator and exit after the report (otherwise wait for Ctrl-C)

The end-to-end suite (tests/e2e/suite.py) reuses these steps.
"""

import argparse
import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3
from botocore.config import Config

import onboarding

REGION = "eu-west-1"
STACK = "payment-workflow-local"


# The work dir of each emulator start_emulator() started, by port: where its administrator's
# credentials are (the emulator enforces IAM; see iam.py).
WORK_DIRS = {}


def admin_credentials(work_dir):
    with open(os.path.join(work_dir, "admin-credentials.json")) as f:
        return json.load(f)


def clients(port, work_dir=None):
    credentials = admin_credentials(work_dir or WORK_DIRS[port])
    settings = dict(
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
    )
    # StartSyncExecution's host prefix ("sync-") cannot resolve on a local endpoint.
    make = lambda name: boto3.client(name, config=Config(inject_host_prefix=False), **settings)  # noqa: E731
    names = ["s3", "cloudformation", "dynamodb", "stepfunctions", "lambda", "sqs", "sns", "apigateway", "iam"]
    return {name: make(name) for name in names}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(repo, port, work_dir, api_port=None):
    """Starts the emulator; its API Gateway stages are served on `process.api_port`."""
    log = open(os.path.join(work_dir, "emulator.log"), "ab")
    launcher = os.path.join(repo, "tools", "emulator", "launcher.py")
    api_port = api_port or free_port()
    process = subprocess.Popen(
        [sys.executable, launcher, "--port", str(port), "--work-dir", work_dir, "--api-port", str(api_port)],
        stdout=log,
        stderr=log,
    )
    process.api_port = api_port
    with open(os.path.join(work_dir, "emulator.pid"), "w") as pid:
        pid.write(str(process.pid))
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            WORK_DIRS[port] = work_dir
            return process
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the emulator did not start; see {work_dir}/emulator.log") from None
            time.sleep(0.2)


def write_endpoint(endpoint, work_dir):
    """endpoint.json while the emulator serves (onboarding.endpoint says what it holds)."""
    with open(os.path.join(work_dir, "endpoint.json"), "w") as f:
        json.dump(endpoint, f, indent=2)
    return endpoint


def stop_emulator(process, work_dir):
    """Stops the emulator: politely, then hard if it is still busy (draining a queue) after
    10 seconds; forgets its PID and its endpoint."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for name in ("emulator.pid", "endpoint.json"):
        if os.path.exists(os.path.join(work_dir, name)):
            os.remove(os.path.join(work_dir, name))


def parameters(repo):
    with open(os.path.join(repo, "templates", "params", "dev.json")) as f:
        values = {p["ParameterKey"]: p["ParameterValue"] for p in json.load(f)}
    values["EnvironmentSuffix"] = "local"
    return values


def deploy(repo, aws, values, packages=None):
    """Deploys the template with the packages `cargo xtask package` built, or those in
    `packages` (a folder of <function>.zip: the load's no-op floor)."""
    bucket, prefix = values["ArtifactBucket"], values["ArtifactKeyPrefix"]
    aws["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    packages = packages or os.path.join(repo, "target", "lambda", "packages")
    # One package per function crate, as `cargo xtask package` builds them.
    for function in sorted(os.listdir(os.path.join(repo, "code", "functions"))):
        path = os.path.join(packages, f"{function}.zip")
        with open(path, "rb") as package:
            aws["s3"].put_object(Bucket=bucket, Key=f"{prefix}/{function}.zip", Body=package.read())
    # The template is over TemplateBody's 51,200 bytes (review B1): it travels by S3 URL, as
    # on AWS, and the emulator refuses it inline as AWS does.
    with open(os.path.join(repo, "templates", "payment-workflow.yaml"), "rb") as template:
        aws["s3"].put_object(Bucket=bucket, Key=f"{prefix}/payment-workflow.yaml", Body=template.read())
    aws["cloudformation"].create_stack(
        StackName=STACK,
        TemplateURL=f"https://{bucket}.s3.{REGION}.amazonaws.com/{prefix}/payment-workflow.yaml",
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


# merchant_id -> the id of the API key onboarding bound to it (for `run`, which has no key).
BOUND_KEYS = {}


def seed_merchants(aws, outputs):
    """Onboards the sample merchants (onboarding.py: keys, usage plan, merchant records);
    returns {merchant_id: {"api_key_id", "api_key"}}."""
    onboarded = onboarding.onboard(aws, STACK, outputs)
    BOUND_KEYS.update({merchant: entry["api_key_id"] for merchant, entry in onboarded.items()})
    return onboarded


def payment(**changes):
    body = {
        "transaction_id": str(uuid.uuid4()),
        "merchant_id": "merchant-001",
        "amount_minor": 1250,
        "currency": "EUR",
        # Letters only: a token with 13 or more consecutive digits looks like a card number
        # and is refused (payments_core::payment::contains_card_number).
        "payment_token": "tok_" + "".join(random.choices(string.ascii_letters, k=20)),
        "card_last4": "4242",
        "country": "DE",
    }
    body.update(changes)
    return body


def run(aws, outputs, body):
    """One payment straight through StartSyncExecution, with the input the API's mapping
    template builds (the caller: the key onboarding bound to the merchant). The benchmark's
    path; people and the end-to-end suite go through the API (`post`)."""
    started = time.time()
    state = {"payment": body, "caller": {"api_key_id": BOUND_KEYS.get(body.get("merchant_id"), "")}}
    answer = aws["stepfunctions"].start_sync_execution(
        stateMachineArn=outputs["StateMachineArn"], input=json.dumps(state)
    )
    elapsed = int((time.time() - started) * 1000)
    output = json.loads(answer["output"]) if answer.get("output") else {}
    return answer["status"], output, answer.get("error"), elapsed


def post(url, api_key, body=None, raw=None, headers=None, timeout=60):
    """POST a payment over HTTP as a client does: (status, headers, text, elapsed ms).
    `raw` sends bytes as they are (a malformed body); `api_key` None sends no key."""
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if api_key is not None:
        request.add_header("x-api-key", api_key)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    started = time.time()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_headers, text = response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        status, answer_headers, text = error.code, dict(error.headers), error.read().decode()
    return status, answer_headers, text, int((time.time() - started) * 1000)


def samples(endpoint):
    """Sample payments over HTTP, each with its expected (status, outcome or error, replayed)."""
    approved = payment()
    key, other = endpoint["api_key"], endpoint["other_merchant_api_key"]
    scenarios = [
        ("approved", approved, key, (200, "SETTLED", False)),
        ("declined for fraud (blocked country)", payment(country="KP"), key, (200, "DECLINED", False)),
        ("declined by merchant rules (amount)", payment(amount_minor=5_000_000), key, (200, "DECLINED", False)),
        ("refused by the domain (unknown currency)", payment(currency="XXX"), key, (422, "InvalidPayment", None)),
        ("key of another merchant", payment(), other, (403, "MerchantNotBound", None)),
        ("replay of the approved payment", approved, key, (200, "SETTLED", True)),
    ]
    results = []
    for name, body, api_key, expected in scenarios:
        status, _, text, elapsed = post(endpoint["url"], api_key, body)
        try:
            answer = json.loads(text)
        except ValueError:
            answer = {"error": f"not JSON: {text[:60]!r}"}
        got = (status, answer.get("outcome", answer.get("error")), answer.get("replayed"))
        results.append((name, body["transaction_id"], got, expected, elapsed))
    return results


def where_the_data_lies(aws, outputs):
    table = outputs["TransactionsTableArn"].split("/")[-1]
    audit = outputs["AuditLogsTableArn"].split("/")[-1]
    bucket = outputs["ArchiveBucketName"]
    # The receipt follows the committed record through the table's stream: give it a moment.
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
        if status != "CREATE_COMPLETE":
            raise SystemExit(f"the stack did not deploy: {status}; see {args.work_dir}/emulator.log")
        created, skipped, kept = fidelity(args.repo, aws, outputs)
        print(f"\n== fidelity: {len(created)} resources created; skipped by the emulator:")
        for kind, ids in sorted(skipped.items()):
            print(f"   {kind}: {', '.join(ids)}")
        print("   properties:")
        for name, ok in kept:
            print(f"   {'kept   ' if ok else 'dropped'} {name}")
        print("\n== onboarding the sample merchants (tools/emulator/onboarding.py)", flush=True)
        onboarded = seed_merchants(aws, outputs)
        for merchant_id, entry in onboarded.items():
            print(f"   {merchant_id}: API key {entry['api_key_id']}")
        endpoint = write_endpoint(
            onboarding.endpoint(aws, STACK, emulator.api_port, args.port, onboarded), args.work_dir
        )
        print("\n== sample payments over HTTP (API key -> API Gateway -> the workflow)\n")
        print("| scenario | transaction_id | HTTP status | outcome / error | replayed | ms | as expected |")
        print("| --- | --- | ---: | --- | --- | ---: | --- |")
        for name, tid, got, expected, elapsed in samples(endpoint):
            verdict = "yes" if got == expected else "NO, expected " + str(expected)
            print(f"| {name} | {tid} | {got[0]} | {got[1]} | {got[2]} | {elapsed} | {verdict} |")
        print("\n== where the data lies\n")
        for place, count, what in where_the_data_lies(aws, outputs):
            print(f"   {place}: {count} {what}")
        print(f"\n   function logs: {args.work_dir}/logs/   emulator log: {args.work_dir}/emulator.log")
        print(f"\n== the API, over HTTP ({args.work_dir}/endpoint.json); post your own payment:\n")
        body = json.dumps(payment())
        headers = f"-H 'x-api-key: {endpoint['api_key']}' -H 'Content-Type: application/json'"
        print(f"   curl -sS -X POST '{endpoint['url']}' {headers} -d '{body}'")
        print("\n   (other_merchant_api_key in endpoint.json answers 403 MerchantNotBound for merchant-001)")
        if not args.once:
            print(f"\n== the emulator keeps running on http://127.0.0.1:{args.port}; Ctrl-C (or cargo xtask down) stops it")
            # Blocked first: sigwait takes only a pending blocked signal; unblocked, SIGTERM's
            # default action would end this process before `finally` stops the emulator.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stop_emulator(emulator, args.work_dir)


if __name__ == "__main__":
    main()
