"""The fidelity report: what the embedded AWS executes as AWS does, what it approximates, and
what it does not emulate at all — per AWS behaviour the template relies on, each with the
AWS documentation it follows. `up.py` prints it; the end-to-end suite renders it into the
book (src/generated/fidelity.md), marking a behaviour "executed" only when the scenarios that
exercise it passed in that very run; otherwise the row says so.

Statuses:
- executed: the template's resource runs here and a scenario checks the behaviour;
- approximated: it runs here, but differs from AWS in the stated way;
- absent: not emulated; the last column says what proves it instead (a static check) or that
  it is assumed.
"""

from dataclasses import dataclass, field

EXECUTED, APPROXIMATED, ABSENT = "executed", "approximated", "absent"


@dataclass(frozen=True)
class Row:
    service: str
    behaviour: str
    status: str
    how: str
    source: str = ""
    # Numbers of the end-to-end scenarios whose checks all passed in this run prove an
    # "executed" row.
    evidence: tuple = field(default_factory=tuple)


APIGW = "https://docs.aws.amazon.com/apigateway/latest/developerguide"
SFN = "https://docs.aws.amazon.com/step-functions/latest/dg"
LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg"
DDB = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide"
CFN = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide"
IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide"

ROWS = [
    # API Gateway (apigateway.py, vtl.py, apigateway_cfn.py)
    Row("API Gateway", "API key required: missing, unknown or disabled key, or a key in no usage plan of the stage → 403",
        EXECUTED, "checked against the deployed keys and usage plans", f"{APIGW}/api-gateway-api-usage-plans.html",
        ("5", "6")),
    Row("API Gateway", "usage-plan and stage throttling → 429", APPROXIMATED,
        "exact token buckets (rate, burst); AWS applies them on a best-effort basis",
        f"{APIGW}/api-gateway-request-throttling.html", ("8",)),
    Row("API Gateway", "request validation against the model (JSON Schema draft 4) → 400", APPROXIMATED,
        "jsonschema's Draft 4 validator with ECMA-262 patterns; the error wording differs from AWS's",
        f"{APIGW}/api-gateway-method-request-validation.html", ("9", "10", "12")),
    Row("API Gateway", "mapping templates (Velocity)", APPROXIMATED,
        "airspeed-ext with Java semantics for ==, #if and string methods; a reference AWS does not document "
        "($util.toJson, an unknown $context key) is an error here, where AWS renders it silently",
        f"{APIGW}/api-gateway-mapping-template-reference.html", ("1", "11", "13")),
    Row("API Gateway", "integration credentials role assumed with the keys API Gateway sends (none)", EXECUTED,
        "the role's trust policy is evaluated by the emulator's STS; a condition on aws:SourceAccount refuses it",
        f"{APIGW}/integration-request-basic-setup.html", ("1", "28")),
    Row("API Gateway", "AWS integration to StartSyncExecution; integration response chosen by SelectionPattern",
        EXECUTED, "a SigV4-signed call to the emulator's Step Functions; its status selects the response",
        f"{APIGW}/api-gateway-integration-settings-integration-response.html", ("1", "16", "27")),
    Row("API Gateway", "gateway responses (DEFAULT_4XX/5XX)", APPROXIMATED,
        "plain $context substitution as on AWS; built-in messages taken from AWS's observed answers",
        f"{APIGW}/api-gateway-gatewayResponse-definition.html", ("5", "9")),
    Row("API Gateway", "a stage serves its deployment's snapshot, not the live API", APPROXIMATED,
        "the definition is copied when the deployment is created (unit-tested: test_apigateway); the template "
        "test recomputes the deployment's hash", f"{APIGW}/set-up-deployments.html"),
    Row("API Gateway", "29 s integration timeout → 504", APPROXIMATED,
        "TimeoutInMillis enforced on the integration call; no scenario reaches it", f"{APIGW}/limits.html"),
    Row("API Gateway", "WAF web ACL and its logging", ABSENT,
        "not emulated; proven by cfn-guard (API_PROTECTED_BY_WAF) and the template tests", ""),
    Row("API Gateway", "TLS security policy, custom domains, execution logs", ABSENT,
        "loopback HTTP; the policy is a template property checked statically", ""),
    # Step Functions and Lambda (stepfunctions.py, lambda_env.py, lambda_pool.py)
    Row("Step Functions", "the template's own definition executed (moto's ASL interpreter)", EXECUTED,
        "Parallel, Choice, Pass, Retry with backoff, Catch, Task timeouts", f"{SFN}/concepts-amazon-states-language.html",
        ("1", "15", "16")),
    Row("Step Functions", "a throttled Lambda task fails as Lambda.TooManyRequestsException and the Retry on it "
        "fires", APPROXIMATED, "moto's interpreter patched to name Lambda's service errors Lambda.<Exception>; the "
        "history event stays LambdaFunctionFailed", f"{SFN}/bp-lambda-serviceexception.html", ("39",)),
    Row("Step Functions", "Express synchronous execution (StartSyncExecution)", APPROXIMATED,
        "answered by waiting for moto's execution; logging and X-Ray are not emulated",
        f"{SFN}/concepts-standard-vs-express.html", ("1",)),
    Row("Lambda", "the deployed Rust bootstrap speaks the Runtime API; handler errors keep their errorType", EXECUTED,
        "long-lived execution environments, one bootstrap process and Runtime API each; /next answers only with an "
        "event", f"{LAMBDA}/runtimes-api.html", ("1", "15", "41")),
    Row("Lambda", "warm execution environments: reused, a new one per concurrent invocation, reset after a crash or a "
        "timeout, replaced after a code or configuration update; initDurationMs only on a cold start",
        APPROXIMATED, "frozen between invocations (SIGSTOP/SIGCONT); idle ones ended after 300 s, a time Lambda does "
        "not publish; no periodic recycling every few hours; maxMemoryUsedMB is the process's peak RSS",
        f"{LAMBDA}/lambda-runtime-environment.html", ("38", "40", "41")),
    Row("Lambda", "reserved concurrency and throttling: 429 TooManyRequestsException with its Reason, Throttles in "
        "CloudWatch (AWS/Lambda, FunctionName); a throttled stream batch retried without using up its retries",
        APPROXIMATED, "an unreserved function is capped at 1,000 on its own (the account's default quota, not shared); "
        "no scaling rate (1,000 environments per 10 s per function), no provisioned concurrency; one datapoint per "
        "throttle, not 1-minute aggregates; an asynchronous invoke is throttled like a synchronous one (Lambda would "
        "queue it)", f"{LAMBDA}/configuration-concurrency.html", ("39",)),
    # IAM (iam.py)
    Row("IAM", "every call is signed with the caller's own role (functions, state machine, API integration)", EXECUTED,
        "credentials from the emulator's STS after the trust policy is evaluated with the keys each service sends",
        f"{IAM}/reference_policies_evaluation-logic.html", ("26", "27", "28")),
    Row("IAM", "identity policies: actions, resources (tables, indexes, streams, functions, topics, buckets, secrets)",
        EXECUTED, "explicit deny wins; conditions with documented operators; per-item actions of DynamoDB transactions",
        f"{IAM}/reference_policies_evaluation-logic.html", ("26",)),
    Row("IAM", "kms:ViaService, KMS key policies, aws:SecureTransport, resource policies of buckets, queues and topics",
        ABSENT, "not evaluated (the emulator's services never call KMS; moto's CloudFormation does not deploy those "
        "policies); proven statically by cfn-guard and checkov", ""),
    # DynamoDB and streams (streams.py)
    Row("DynamoDB", "conditional writes and TransactWriteItems (the exactly-once guarantees)", APPROXIMATED,
        "moto's engine, one request at a time: moto is not atomic under concurrent requests, so the emulator "
        "serialises them as DynamoDB's isolation guarantees", f"{DDB}/transaction-apis.html", ("17", "21", "22")),
    Row("DynamoDB", "Streams delivered to Lambda: batches, filters, retries, bisect, partial failure, on-failure record",
        EXECUTED, "one shard per table, polled every 0.1 s", f"{LAMBDA}/with-ddb.html", ("1", "19", "20", "24")),
    Row("DynamoDB", "TTL expiry, PITR restores, Contributor Insights, on-demand throttling", ABSENT,
        "properties checked by template tests; not exercised", ""),
    # S3, SNS, SQS, Secrets Manager
    Row("S3", "conditional put (If-None-Match), versioning, the archive's objects", EXECUTED,
        "moto's S3", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html", ("1", "19")),
    Row("S3", "lifecycle transitions, server access logs, EventBridge notifications", ABSENT,
        "not emulated; the lifecycle rule is checked by the limits test", ""),
    Row("SNS / SQS", "announcements with message attributes; failed-payment alerts to the topic and its queue",
        EXECUTED, "moto's SNS delivers to SQS subscribers", "", ("1", "16")),
    Row("SNS", "e-mail subscriptions and their suspension above 10 messages a second", ABSENT, "not emulated", ""),
    Row("Secrets Manager", "the signing key read at cold start; rotation", APPROXIMATED,
        "the secret is generated at deploy; the four rotation steps are unit-tested, not run by Secrets Manager", ""),
    # CloudFormation (cloudformation.py)
    Row("CloudFormation", "the template deployed unchanged, by TemplateURL; TemplateBody over 51,200 bytes refused",
        EXECUTED, "moto's CloudFormation with the missing resource types registered", f"{CFN}/cloudformation-limits.html",
        ("1",)),
    Row("CloudFormation", "change sets, a failed create rolled back (RetainExceptOnCreate), ROLLBACK_COMPLETE",
        APPROXIMATED, "run by `cargo xtask deploy --emulator`; synchronous operations, simplified events; stack "
        "policies stored, not enforced", f"{CFN}/aws-attribute-deletionpolicy.html", ("34", "35", "36", "38")),
    Row("CloudWatch", "alarms, metrics, dashboards, embedded metric format", ABSENT,
        "not evaluated; alarm definitions checked by the template tests and cfn-guard", ""),
    Row("CloudWatch Logs", "saved Logs Insights queries run on the lines the functions wrote", APPROXIMATED,
        "the commands the queries use (logs_insights.py), over the functions' captured log lines",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html", ("29",)),
    Row("EventBridge", "the reconciler's schedule and the security-control rule", ABSENT,
        "not fired; the suite invokes the reconciler itself", ""),
]


def claim_class(row):
    """The book's three classes (introduction): emulated (executed here, exactly or with the
    stated approximation), proven statically (not executed here, but a static check fails
    when it breaks), assumed (holds only on AWS; nothing here executes or checks it)."""
    if row.status == EXECUTED:
        return "emulated"
    if row.status == APPROXIMATED:
        return "emulated, approximated"
    return "proven statically" if ("proven" in row.how or "checked" in row.how) else "assumed"


def scenarios_passed(rows):
    """Scenario numbers whose checks all passed, from the suite's (name, evidence, ok) rows;
    a check's name starts with its scenario's number ("1 approved: ...")."""
    seen, failed = set(), set()
    for name, _evidence, ok in rows:
        number = name.split(" ", 1)[0]
        if number.isdigit():
            seen.add(number)
            if not ok:
                failed.add(number)
    return seen - failed


def render(rows, passed):
    """The markdown table; `passed` is the set of scenario numbers whose checks all passed."""
    lines = [
        "| class | service | behaviour | here | how | scenarios | AWS documentation |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        status = row.status
        missing = [e for e in row.evidence if e not in passed]
        if row.evidence and missing:
            status = f"NOT SHOWN (scenario {', '.join(missing)} did not pass)"
        link = f"[doc]({row.source})" if row.source else ""
        lines.append(f"| {claim_class(row)} | {row.service} | {row.behaviour} | {status} | {row.how} "
                     f"| {', '.join(row.evidence)} | {link} |")
    counts = {}
    for row in rows:
        counts[claim_class(row)] = counts.get(claim_class(row), 0) + 1
    summary = "; ".join(f"{c}: {n}" for c, n in sorted(counts.items()))
    return "\n".join(lines) + f"\n\n{len(rows)} behaviours: {summary}.\n"
