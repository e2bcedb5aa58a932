"""Permissions enforced locally: moto's IAM authorization turned on for the whole server,
with the policy evaluation AWS documents and the resource each request acts on.

moto (5.2.5) checks a request's action against the caller's policies only when
`INITIAL_NO_AUTH_ACTION_COUNT` is finite, knows the resource only for SQS, IAM and STS
(everything else is "*"), ignores every Condition except `StringEquals` on incoming
`sts:ExternalId` (an Allow with an unevaluable condition allows; a Deny with one denies),
matches actions case-sensitively and treats a statement with `NotResource` as allowing
everything. This module replaces that check:

* the policy evaluation logic of the IAM User Guide: an explicit Deny in any applicable
  policy wins, otherwise an Allow is needed, otherwise the request is implicitly denied
  ("Policy evaluation logic", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html);
  Action/NotAction (case-insensitive), Resource/NotResource (ARN segments matched one by
  one), every condition operator, `...IfExists`, `Null`, `ForAllValues:`/`ForAnyValue:`,
  and a key missing from the request context making a condition false (true for the
  negated operators) ("IAM JSON policy elements: Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html);
* the resource of each request for the services this template uses (`RESOURCES` below);
* resource-based policies of S3 buckets, SQS queues and SNS topics, for an explicit Deny
  and for an Allow naming the caller (same-account evaluation);
* the error each service returns (`AccessDeniedException`, SNS `AuthorizationError`, ...)
  with AWS's message ("Troubleshoot access denied error messages",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).

Condition keys the emulator cannot know (`kms:ViaService`, `aws:SourceIp`, ...) are absent
from the request context, as AWS treats an absent key, and each one met is written to
`iam-not-evaluated.json` in the work dir for the fidelity report.

The harness itself signs with an administrator's keys (`admin-credentials.json`). Services
acting on a role's behalf (Lambda, Step Functions, API Gateway) get temporary credentials
from `assume_role_for_service`, which first evaluates the role's trust policy with only
the condition keys that service really sends (`SERVICE_CONTEXT`).
"""

import datetime
import ipaddress
import json
import os
import re
import threading
import time

import settings

ACCOUNT = "123456789012"  # moto's default account: every request of the harness lands in it
PARTITION = "aws"
ADMIN_USER = "emulator-admin"
CREDENTIALS_FILE = "admin-credentials.json"
NOT_EVALUATED_FILE = "iam-not-evaluated.json"

# What a service puts in the request context when it assumes a role (trust policy
# evaluation). Research: /work/plan/facts-apigw-iam-sfn-cfn.md section 3. AWS Support says
# there is no public list (prowler-cloud/prowler#2810). Where a key is uncertain the
# emulator leaves it out: a condition on it then fails here, as it may on AWS.
SERVICE_CONTEXT = {
    "lambda.amazonaws.com": {
        # Lambda guide, "Working with AWS managed policies in the execution role": "you can
        # include the aws:SourceAccount and aws:SourceArn global condition context keys in
        # your role trust policy"; AWS's sample aws/agent-toolkit-for-aws lambda-trust-policy.json
        # uses aws:SourceAccount on lambda.amazonaws.com.
        "aws:SourceAccount": "sent (AWS doc wording + AWS sample)",
        # aws:SourceArn (the function ARN): community reports only -> uncertain -> not sent.
    },
    "states.amazonaws.com": {
        # Step Functions guide, "Creating an IAM role for your state machine", section
        # "Prevent cross-service confused deputy issue".
        "aws:SourceAccount": "sent (AWS doc)",
        "aws:SourceArn": "sent (AWS doc): the state machine ARN",
    },
    "apigateway.amazonaws.com": {
        # Integration credentials role: API Gateway does not populate aws:SourceAccount
        # (aws-solutions-library-samples/accelerated-intelligent-document-processing-on-aws
        # PR #479, live test-invoke-method); aws:SourceArn unknown -> uncertain -> not sent.
    },
}

# Context keys whose presence or absence the emulator models faithfully for a direct call
# made with a role's or user's credentials (IAM User Guide, "AWS global condition context
# keys"). Any other key in a policy is recorded as "not evaluated".
MODELLED_KEYS = {
    "aws:securetransport",  # approximation: always "true" (AWS SDKs use TLS; the emulator listens on HTTP)
    "aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:userid", "aws:username",
    "aws:requestedregion", "aws:currenttime", "aws:epochtime",
    "aws:viaawsservice", "aws:principalisawsservice", "aws:principalservicename",
    # Absent on a direct call from a function; present only when a service acts for you.
    "aws:sourcearn", "aws:sourceaccount", "aws:sourceowner", "aws:calledvia", "aws:calledviafirst", "aws:calledvialast",
    "dynamodb:enclosingoperation", "lambda:sourcefunctionarn",
}


class AssumeRoleDenied(Exception):
    """The service could not assume the role (trust policy, missing role)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------
# Policy evaluation (pure functions: the unit tests drive these directly)


def as_list(value):
    return value if isinstance(value, list) else [value]


def glob(pattern, value, ignore_case=False):
    """IAM wildcards: `*` any run of characters, `?` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, value, flags) is not None


def arn_like(pattern, arn):
    """ArnLike/ArnEquals and the Resource element: "Each of the six colon-delimited
    components of the ARN is checked separately" (condition operators page)."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return glob(pattern, arn)
    return all(glob(w, a) for w, a in zip(wanted, actual, strict=True))


def substitute(value, context):
    """Policy variables `${aws:username}` etc. (IAM guide, "Policy variables"); an unknown
    variable stays as written, so it cannot match by accident."""
    if "${" not in value:
        return value
    special = {"*": "*", "?": "?", "$": "$"}

    def one(match):
        name = match.group(1)
        if name in special:
            return special[name]
        found = context.get(name.lower())
        return found if isinstance(found, str) else match.group(0)

    return re.sub(r"\$\{([^}]+)\}", one, value)


NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _date(value):
    text = str(value)
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _match(operator, actual, wanted):
    actual, wanted = str(actual), str(wanted)
    if operator == "StringEquals":
        return actual == wanted
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() == wanted.lower()
    if operator == "StringLike":
        return glob(wanted, actual)
    if operator in ("ArnEquals", "ArnLike"):
        return arn_like(wanted, actual)
    if operator == "Bool":
        return actual.lower() == wanted.lower()
    if operator == "BinaryEquals":
        return actual == wanted
    if operator == "IpAddress":
        try:
            return ipaddress.ip_address(actual) in ipaddress.ip_network(wanted, strict=False)
        except ValueError:
            return False
    numeric = {"Equals": float.__eq__, "LessThan": float.__lt__, "LessThanEquals": float.__le__,
               "GreaterThan": float.__gt__, "GreaterThanEquals": float.__ge__}
    for prefix, parse in (("Numeric", float), ("Date", _date)):
        if operator.startswith(prefix) and operator[len(prefix):] in numeric:
            try:
                return numeric[operator[len(prefix):]](float(parse(actual)), float(parse(wanted)))
            except ValueError:
                return False
    # An operator IAM does not know: IAM refuses such a policy when it is written; here the
    # statement simply cannot match.
    return False


def operator_holds(operator, key, wanted, context, not_evaluated):
    qualifier = None
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    name = key.lower()
    if name not in MODELLED_KEYS:
        not_evaluated.add(key)
    present = name in context
    wanted = [substitute(str(w), context) if isinstance(w, str) else w for w in as_list(wanted)]
    if base == "Null":
        return (not present) == (str(wanted[0]).lower() == "true")
    if not present:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return base in NEGATED
    negated = base in NEGATED
    positive = NEGATED.get(base, base)
    actual = as_list(context[name])

    def hit(value):
        return any(_match(positive, value, w) for w in wanted)

    if qualifier == "ForAllValues":
        return all(hit(v) != negated for v in actual)
    if qualifier == "ForAnyValue":
        return any(hit(v) != negated for v in actual)
    return any(hit(v) for v in actual) != negated


def conditions_hold(block, context, not_evaluated):
    # Operators are ANDed, keys within an operator are ANDed, values within a key are ORed.
    return all(
        operator_holds(operator, key, values, context, not_evaluated)
        for operator, pairs in (block or {}).items()
        for key, values in pairs.items()
    )


def principal_matches(element, principal):
    """`principal`: {"AWS": [arns...], "account": id} for an IAM identity or
    {"Service": name} for a service principal. An account (root) principal in a
    same-account resource policy does not grant by itself (IAM guide, "Cross-account
    policy evaluation logic" / "Policy evaluation logic"), so it matches only for Deny."""
    if element == "*":
        return "exact"
    if not isinstance(element, dict):
        return None
    if "Service" in principal:
        names = [s.lower() for s in as_list(element.get("Service", []))]
        return "exact" if principal["Service"].lower() in names else None
    for wanted in as_list(element.get("AWS", [])):
        if wanted == "*" or wanted in principal["AWS"]:
            return "exact"
        if wanted in (principal["account"], f"arn:{PARTITION}:iam::{principal['account']}:root"):
            return "account"
    return None


def statement_applies(statement, action, resource, context, not_evaluated, principal=None):
    """None when the statement does not apply; otherwise how its principal matched
    ("exact" / "account", or "identity" for a policy attached to the caller)."""
    if "Action" in statement:
        if not any(glob(a, action, ignore_case=True) for a in as_list(statement["Action"])):
            return None
    elif "NotAction" in statement:
        if any(glob(a, action, ignore_case=True) for a in as_list(statement["NotAction"])):
            return None
    else:
        return None
    if "Resource" in statement:
        if not any(arn_like(substitute(r, context), resource) for r in as_list(statement["Resource"])):
            return None
    elif "NotResource" in statement:
        if any(arn_like(substitute(r, context), resource) for r in as_list(statement["NotResource"])):
            return None
    how = "identity"
    if principal is not None:
        if "Principal" in statement:
            how = principal_matches(statement["Principal"], principal)
        elif "NotPrincipal" in statement:
            how = None if principal_matches(statement["NotPrincipal"], principal) else "exact"
        else:
            how = None
        if how is None:
            return None
    if not conditions_hold(statement.get("Condition"), context, not_evaluated):
        return None
    return how


def evaluate(documents, action, resource, context, principal=None, not_evaluated=None):
    """"Deny" (an explicit deny), "Allow", or None (no statement allows: implicit deny)."""
    not_evaluated = set() if not_evaluated is None else not_evaluated
    allowed = False
    for document in documents:
        for statement in as_list(document.get("Statement", [])):
            how = statement_applies(statement, action, resource, context, not_evaluated, principal)
            if how is None:
                continue
            if statement.get("Effect") == "Deny":
                return "Deny"
            if statement.get("Effect") == "Allow" and how != "account":
                allowed = True
    return "Allow" if allowed else None


# ---------------------------------------------------------------------------------------
# moto's state: identities, their policies, resource policies


def _documents(policies):
    """Policy documents as moto keeps them: JSON text, a dict (roles created by
    CloudFormation), a managed Policy object, or a {"policy_document": ...} record."""
    documents = []
    for policy in policies:
        if hasattr(policy, "versions"):
            policy = next((v.document for v in policy.versions if v.is_default), None)
        if isinstance(policy, dict) and "policy_document" in policy:
            policy = policy["policy_document"]
        if isinstance(policy, str):
            try:
                policy = json.loads(policy)
            except ValueError:
                continue
        if isinstance(policy, dict):
            documents.append(policy)
    return documents


def _iam_backend(account=ACCOUNT):
    from moto.iam.models import iam_backends

    return iam_backends[account][PARTITION]


def role_documents(role_arn):
    backend = _iam_backend(role_arn.split(":")[4])
    role = backend.get_role_by_arn(role_arn)
    policies = [document for _, document in role.policies.items()]
    policies += [p for p in role.managed_policies.values()]
    return _documents(policies)


def _resource_policy(service, resource, account):
    """The resource-based policy that applies to `resource`, if this template's services
    keep one: S3 bucket, SQS queue, SNS topic."""
    try:
        if service == "s3":
            from moto.s3.models import s3_backends

            bucket = s3_backends[account][PARTITION].buckets.get(resource.split(":::", 1)[1].split("/")[0])
            return json.loads(bucket.policy) if bucket is not None and bucket.policy else None
        region = resource.split(":")[3]
        if service == "sqs":
            from moto.sqs.models import sqs_backends

            for queue in sqs_backends[account][region].queues.values():
                if queue.queue_arn == resource and queue.policy:
                    return json.loads(queue.policy)
        if service == "sns":
            from moto.sns.models import sns_backends

            topic = sns_backends[account][region].topics.get(resource)
            return json.loads(topic.policy) if topic is not None else None
    except (IndexError, KeyError, ValueError, TypeError):
        return None
    return None


class Caller:
    """Who signed a request: an IAM user or a role session, with its policies."""

    def __init__(self, arn, role_arn=None, user_name=None, access_key_id=None):
        self.arn, self.role_arn, self.user_name = arn, role_arn, user_name
        self.account = arn.split(":")[4]
        self.access_key_id = access_key_id

    def documents(self):
        if self.role_arn:
            try:
                return role_documents(self.role_arn)
            except Exception:  # the role was deleted: its sessions can do nothing
                return []
        from moto.iam.access_control import IAMUserAccessKey

        key = IAMUserAccessKey(self.account, PARTITION, self.access_key_id, {})
        return _documents(key.collect_policies())

    def principal(self):
        arns = [self.arn] + ([self.role_arn] if self.role_arn else [])
        return {"AWS": arns, "account": self.account}

    def context(self, region):
        now = time.time()
        context = {
            "aws:securetransport": "true",
            "aws:principalarn": self.role_arn or self.arn,
            "aws:principalaccount": self.account,
            "aws:principaltype": "AssumedRole" if self.role_arn else "User",
            "aws:requestedregion": region,
            "aws:currenttime": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": str(int(now)),
            "aws:viaawsservice": "false",
            "aws:principalisawsservice": "false",
        }
        if self.user_name:
            context["aws:username"] = self.user_name
        context.update(SESSION_CONTEXT.get(self.access_key_id, {}))
        return context


# Extra request-context keys of a session, by access key id (e.g. lambda:SourceFunctionArn:
# Lambda guide, "Using source function ARN to control function access behavior").
SESSION_CONTEXT = {}


def decide(caller, action, resource, region, extra=None, not_evaluated=None):
    """The decision for one (action, resource) of one caller: identity policies plus the
    resource's own policy (same account)."""
    context = caller.context(region)
    context.update({k.lower(): v for k, v in (extra or {}).items()})
    not_evaluated = set() if not_evaluated is None else not_evaluated
    identity = evaluate(caller.documents(), action, resource, context, None, not_evaluated)
    if identity == "Deny":
        return "Deny"
    document = _resource_policy(action.split(":")[0], resource, caller.account)
    resource_decision = None
    if document:
        resource_decision = evaluate([document], action, resource, context, caller.principal(), not_evaluated)
        if resource_decision == "Deny":
            return "Deny"
    return "Allow" if "Allow" in (identity, resource_decision) else None


def role_allows(role_arn, action, resource, extra=None):
    """For the emulator's own pollers acting with a function's execution role, as Lambda
    does: (allowed, message)."""
    session = f"arn:{PARTITION}:sts::{role_arn.split(':')[4]}:assumed-role/{role_arn.split('/')[-1]}/emulator"
    caller = Caller(session, role_arn=role_arn)
    region = resource.split(":")[3] if resource.count(":") >= 5 else "us-east-1"
    not_evaluated = set()
    decision = decide(caller, action, resource, region, extra, not_evaluated)
    _record_not_evaluated(not_evaluated, action)
    if decision == "Allow":
        return True, ""
    return False, denied_message(session, action, resource, decision == "Deny")


def denied_message(caller_arn, action, resource, explicit):
    why = "with an explicit deny in an identity-based policy" if explicit else (
        f"because no identity-based policy allows the {action} action")
    return f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource} {why}"


_NOT_EVALUATED = {}
_NOT_EVALUATED_LOCK = threading.Lock()


def _record_not_evaluated(keys, action):
    if not keys or settings.WORK_DIR is None:
        return
    with _NOT_EVALUATED_LOCK:
        changed = False
        for key in keys:
            actions = _NOT_EVALUATED.setdefault(key, set())
            if action not in actions:
                actions.add(action)
                changed = True
        if changed:
            with open(os.path.join(settings.WORK_DIR, NOT_EVALUATED_FILE), "w") as out:
                json.dump({k: sorted(v) for k, v in sorted(_NOT_EVALUATED.items())}, out, indent=1)


# ---------------------------------------------------------------------------------------
# What a request acts on: (IAM action, resource ARN, extra context) per request


def _arn(service, region, account, rest):
    return f"arn:{PARTITION}:{service}:{region}:{account}:{rest}"


def _table_arn(name, region, account):
    # DynamoDB accepts a table ARN wherever it takes a table name.
    return name if name.startswith("arn:") else _arn("dynamodb", region, account, f"table/{name}")


def dynamodb_requests(response, operation, region, account):
    """Service Authorization Reference, "Actions defined by Amazon DynamoDB"; transactions:
    DynamoDB guide, "Using IAM with DynamoDB transactions" (no TransactWriteItems action:
    each item's own action on its table, with dynamodb:EnclosingOperation)."""
    body = getattr(response, "body", None)
    body = body if isinstance(body, dict) else getattr(response, "params", {}) or {}
    if operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                 "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
        requests = []
        for item in body.get("TransactItems", []):
            for kind, spec in item.items():
                requests.append((f"dynamodb:{kinds.get(kind, kind)}", _table_arn(spec["TableName"], region, account),
                                 {"dynamodb:EnclosingOperation": operation}))
        return requests
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", _table_arn(name, region, account), {}) for name in body.get("RequestItems", {})]
    if operation in ("GetRecords",):
        # The shard iterator names its stream: "<stream arn>|1|<id>" (moto) ~ AWS's opaque token.
        return [(f"dynamodb:{operation}", str(body.get("ShardIterator", "")).split("|")[0] or "*", {})]
    if "StreamArn" in body:
        return [(f"dynamodb:{operation}", body["StreamArn"], {})]
    name = body.get("TableName") or body.get("ResourceArn")
    if not name:
        return [(f"dynamodb:{operation}", "*", {})]
    arn = _table_arn(name, region, account)
    if operation in ("Query", "Scan") and body.get("IndexName"):
        arn = f"{arn}/index/{body['IndexName']}"
    return [(f"dynamodb:{operation}", arn, {})]


def lambda_requests(response, operation, region, account):
    """Lambda guide, "Resources and conditions for Lambda actions": Invoke is authorized as
    lambda:InvokeFunction on the function ARN, qualified when a version or alias is given."""
    action = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction",
              "InvokeWithResponseStream": "InvokeFunction"}.get(operation, operation)
    uri = getattr(response, "uri_match", None) or {}
    name = uri.get("FunctionName") or uri.get("function_name")
    if not name:
        match = re.search(r"/functions/([^/]+)", getattr(response, "path", "") or "")
        name = match.group(1) if match else None
    if operation in ("CreateFunction",):
        name = (response._get_param("FunctionName") if hasattr(response, "_get_param") else None) or name
    if not name:
        return [(f"lambda:{action}", "*", {})]
    from urllib.parse import unquote

    name = unquote(name)
    qualifier = (getattr(response, "querystring", {}) or {}).get("Qualifier", [None])[0]
    if name.startswith("arn:"):
        arn = name
    elif ":" in name:  # "123456789012:function:name" or "name:qualifier"
        parts = name.split(":")
        arn = _arn("lambda", region, account, f"function:{parts[-1] if parts[1] == 'function' else parts[0]}")
        if parts[1] != "function":
            qualifier = parts[1]
    else:
        arn = _arn("lambda", region, account, f"function:{name}")
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return [(f"lambda:{action}", arn, {})]


def _param(response, name):
    try:
        return response._get_param(name)
    except Exception:
        return None


def states_requests(response, operation, region, account):
    arn = _param(response, "stateMachineArn") or _param(response, "executionArn") or "*"
    return [(f"states:{operation}", arn, {})]


def sns_requests(response, operation, region, account):
    arn = _param(response, "TopicArn") or _param(response, "TargetArn") or _param(response, "ResourceArn")
    if operation == "CreateTopic" and _param(response, "Name"):
        arn = _arn("sns", region, account, _param(response, "Name"))
    return [(f"sns:{operation}", arn or "*", {})]


def secretsmanager_requests(response, operation, region, account):
    secret_id = _param(response, "SecretId") or _param(response, "Name")
    if not secret_id:
        return [(f"secretsmanager:{operation}", "*", {})]
    arn = secret_id if secret_id.startswith("arn:") else _arn("secretsmanager", region, account, f"secret:{secret_id}")
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        arn = secretsmanager_backends[account][region].secrets[secret_id].arn
    except (KeyError, AttributeError):
        pass
    return [(f"secretsmanager:{operation}", arn, {})]


def logs_requests(response, operation, region, account):
    # Service Authorization Reference for CloudWatch Logs: log-group and log-stream resource
    # types (which action takes which is approximated here: stream-level actions on the
    # stream ARN, the rest on the group ARN).
    group = _param(response, "logGroupName")
    if not group:
        return [(f"logs:{operation}", "*", {})]
    arn = _arn("logs", region, account, f"log-group:{group}")
    stream = _param(response, "logStreamName")
    if stream and operation in ("CreateLogStream", "PutLogEvents", "GetLogEvents", "DeleteLogStream"):
        arn = f"{arn}:log-stream:{stream}"
    return [(f"logs:{operation}", arn, {})]


# SQS batch calls are authorized as their single-message action (SQS guide, "Amazon SQS API
# permissions: Actions and resource reference").
SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
               "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
# moto's S3 action names that are not IAM actions (S3 guide, "Actions, resources, and
# condition keys for Amazon S3": HeadBucket and ListObjects(V2) need s3:ListBucket).
S3_ACTIONS = {"HeadBucket": "ListBucket", "ListBucketVersions": "ListBucketVersions"}
# The signing name is the IAM prefix except for these (Service Authorization Reference).
PREFIXES = {"monitoring": "cloudwatch", "email": "ses"}

RESOURCES = {
    "dynamodb": dynamodb_requests,
    "lambda": lambda_requests,
    "states": states_requests,
    "sns": sns_requests,
    "secretsmanager": secretsmanager_requests,
    "logs": logs_requests,
}


def _object_exists(resource, account):
    try:
        from moto.s3.models import s3_backends

        bucket, key = resource.split(":::", 1)[1].split("/", 1)
        return key in s3_backends[account][PARTITION].buckets[bucket].keys
    except (IndexError, KeyError, ValueError):
        return True  # no bucket: S3's own error answers


def requests_of(response, service, operation, moto_resource, region, account):
    if service == "s3":
        data = getattr(response, "data", {}) or {}
        name = data.get("Action") or operation
        requests = [(f"s3:{S3_ACTIONS.get(name, name)}", moto_resource, {})]
        if name == "GetObject" and not _object_exists(moto_resource, account):
            # "If the object you request doesn't exist ... If you don't have the s3:ListBucket
            # permission, Amazon S3 returns an HTTP status code 403 Access Denied error."
            # (S3 API reference, GetObject / HeadObject, Permissions)
            requests.append(("s3:ListBucket", moto_resource.split("/")[0], {}))
        return requests
    if service in RESOURCES:
        return RESOURCES[service](response, operation, region, account)
    if service == "sqs":
        operation = SQS_ACTIONS.get(operation, operation)
    return [(f"{PREFIXES.get(service, service)}:{operation}", moto_resource or "*", {})]


# ---------------------------------------------------------------------------------------
# The errors services return


def access_denied(service, response, message):
    from moto.core.exceptions import JsonRESTError
    from moto.core.exceptions import _RESTError as RESTError

    if service == "sns":
        error = RESTError("AuthorizationError", message)
        error.code = 403
        return error
    json_services = {"dynamodb": 400, "states": 400, "secretsmanager": 400, "logs": 400, "kms": 400,
                     "ssm": 400, "lambda": 403, "events": 400}
    content_type = (response.headers.get("Content-Type") or "") if hasattr(response, "headers") else ""
    if service in json_services or (service == "sqs" and "json" in content_type):
        error = JsonRESTError("AccessDeniedException", message)
        error.code = json_services.get(service, 400)
        return error
    error = RESTError("AccessDenied", message)
    error.code = 403
    return error


# ---------------------------------------------------------------------------------------
# The patch


def _caller_of(access_key):
    from moto.iam.access_control import AssumedRoleAccessKey

    if isinstance(access_key, AssumedRoleAccessKey):
        from moto.sts.models import sts_backends

        for session in sts_backends[access_key.account_id][PARTITION].assumed_roles:
            if session.access_key_id == access_key._access_key_id:
                return Caller(access_key.arn, role_arn=session.role_arn, access_key_id=access_key._access_key_id)
    return Caller(access_key.arn, user_name=getattr(access_key, "_owner_user_name", None),
                  access_key_id=access_key._access_key_id)


def authorize(self, iam_request_cls, resource="*"):
    """Replaces moto's ActionAuthenticatorMixin._authenticate_and_authorize_action."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import _RESTError as RESTError

    if ActionAuthenticatorMixin.request_count < moto_settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    if "Authorization" not in self.headers:
        error = RESTError("MissingAuthenticationToken", "Request is missing Authentication Token")
        error.code = 403
        raise error
    from urllib.parse import urlparse

    path = self.raw_path
    if urlparse(self.uri).query:
        path += "?" + urlparse(self.uri).query
    operation = self._get_action()
    try:
        request = iam_request_cls(account_id=self.current_account, method=self.method, path=path, data=self.data,
                                  body=self.raw_body, headers=self.headers, action=operation)
        request.check_signature()
    except Exception as error:
        raise _authentication_error(self, error) from None
    caller = _caller_of(request._access_key)
    service, region = request._service, request._region
    if f"{service}:{operation}" == "sts:GetCallerIdentity":
        return  # "No permissions are required to perform this operation" (STS API reference)
    not_evaluated = set()
    for action, arn, extra in requests_of(self, service, operation, resource, region, caller.account):
        decision = decide(caller, action, arn, region, extra, not_evaluated)
        if decision == "Allow" and action.lower() == "sts:assumerole":
            decision = _trust_allows_caller(arn, caller, region)
        _record_not_evaluated(not_evaluated, action)
        if decision != "Allow":
            if service == "s3":
                request._raise_access_denied()
            raise access_denied(service, self, denied_message(caller.arn, action, arn, decision == "Deny"))


def _authentication_error(response, error):
    """moto answers a bad key or signature in XML; JSON-protocol services answer JSON with
    their own codes (e.g. DynamoDB: UnrecognizedClientException / InvalidSignatureException,
    "Error handling with DynamoDB", Developer Guide)."""
    from moto.core.exceptions import InvalidClientTokenIdError, JsonRESTError, SignatureDoesNotMatchError

    credential = response.headers.get("Authorization", "").partition("Credential=")[2].split("/")
    service = credential[3] if len(credential) > 3 else ""
    json_protocol = service in ("dynamodb", "states", "secretsmanager", "logs", "kms", "ssm", "lambda", "events") or (
        service == "sqs" and "json" in (response.headers.get("Content-Type") or ""))
    if not json_protocol or not isinstance(error, (InvalidClientTokenIdError, SignatureDoesNotMatchError)):
        return error
    if isinstance(error, InvalidClientTokenIdError):
        converted = JsonRESTError("UnrecognizedClientException", "The security token included in the request is invalid.")
    else:
        converted = JsonRESTError("InvalidSignatureException", error.message)
    converted.code = 403 if service == "lambda" else 400
    return converted


def _trust_allows_caller(role_arn, caller, region):
    """sts:AssumeRole by an IAM identity also needs the role's trust policy to name it."""
    try:
        role = _iam_backend(role_arn.split(":")[4]).get_role_by_arn(role_arn)
    except Exception:
        return None
    trust = json.loads(role.assume_role_policy_document)
    return evaluate([trust], "sts:AssumeRole", role_arn, caller.context(region), caller.principal())


def _bucket_permission(bucket, action, resource):
    """moto checks a bucket policy on object requests by itself, ignoring its conditions
    (so `Deny unless aws:SecureTransport` denies everything): evaluate it properly."""
    from moto.iam.access_control import PermissionResult

    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    context = {"aws:securetransport": "true"}
    decision = evaluate([json.loads(bucket.policy)], action, resource, context, {"AWS": ["*"], "account": ACCOUNT})
    return {"Deny": PermissionResult.DENIED, "Allow": PermissionResult.PERMITTED}.get(decision, PermissionResult.NEUTRAL)


def _aws_request(self):
    """moto signs an empty body as its parsed parameters (`body or data`), so every GET and
    every body-less POST (ListFunctions, Invoke without payload) fails its signature check.
    The signature covers the bytes sent: an empty body is b"" (a form body moto has
    already parsed is re-encoded, as moto does)."""
    from botocore.awsrequest import AWSRequest

    signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed, self._headers)
    body = self._body or b""
    form = "x-www-form-urlencoded" in (self._headers.get("Content-Type") or "")
    if not body and form and self._data:
        body = self._data  # a form body moto already parsed: re-encoded as sent
    request = AWSRequest(method=self._method, url=self._path, data=body, headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request


def bootstrap_admin(work_dir):
    """The harness's identity: an IAM user allowed everything; its keys go to
    work_dir/admin-credentials.json (read by up.py's clients())."""
    backend = _iam_backend()
    try:
        backend.get_user(ADMIN_USER)
    except Exception:
        backend.create_user(region_name="us-east-1", user_name=ADMIN_USER)
        backend.put_user_policy(ADMIN_USER, "administrator", json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = backend.create_access_key(ADMIN_USER)
    credentials = {"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key}
    path = os.path.join(work_dir, CREDENTIALS_FILE)
    with open(path + ".partial", "w") as out:
        json.dump(credentials, out)
    os.replace(path + ".partial", path)
    return credentials


def enable(work_dir):
    """Turn on authorization for every request to the server (after bootstrapping the
    administrator, which is created in-process and needs no request)."""
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequestBase
    from moto.s3.models import FakeBucket

    credentials = bootstrap_admin(work_dir)
    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
    IAMRequestBase._create_aws_request = _aws_request
    FakeBucket.get_permission = _bucket_permission
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return credentials


# ---------------------------------------------------------------------------------------
# Services assuming roles


_SESSIONS = {}
_SESSIONS_LOCK = threading.Lock()


def trust_decision(role_arn, service, context):
    """Evaluate the role's trust policy for `service` with only the keys that service
    sends. Returns (decision, context used)."""
    try:
        role = _iam_backend(role_arn.split(":")[4]).get_role_by_arn(role_arn)
    except Exception:
        raise AssumeRoleDenied(f"role {role_arn} does not exist") from None
    sent = SERVICE_CONTEXT.get(service, {})
    request_context = {k.lower(): v for k, v in context.items() if k in sent}
    request_context.update({
        "aws:principalservicename": service,
        "aws:principalisawsservice": "true",
        "aws:securetransport": "true",
        "aws:viaawsservice": "false",
        "aws:currenttime": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:epochtime": str(int(time.time())),
    })
    trust = json.loads(role.assume_role_policy_document)
    not_evaluated = set()
    decision = evaluate([trust], "sts:AssumeRole", role_arn, request_context, {"Service": service}, not_evaluated)
    _record_not_evaluated(not_evaluated, "sts:AssumeRole")
    return decision, request_context


def assume_role_for_service(role_arn, service, context, session_name=None, session_context=None):
    """Temporary credentials of `role_arn` as `service` (e.g. "lambda.amazonaws.com")
    would get them, or AssumeRoleDenied(reason).

    `context`: the condition keys the caller knows (e.g. {"aws:SourceAccount": ...,
    "aws:SourceArn": ...}); only those `SERVICE_CONTEXT` says the service sends are used.
    `session_context`: extra keys on every request made with these credentials.
    The trust policy is evaluated on every call; the STS session is reused."""
    decision, used = trust_decision(role_arn, service, context)
    if decision != "Allow":
        keys = ", ".join(sorted(k for k in used if not k.startswith("aws:principal") and k not in (
            "aws:securetransport", "aws:viaawsservice", "aws:currenttime", "aws:epochtime"))) or "none"
        why = "an explicit deny" if decision == "Deny" else "no statement allows it"
        raise AssumeRoleDenied(
            f"{service} cannot assume {role_arn}: {why} in its trust policy "
            f"(condition keys {service} sends, per the emulator's table: {keys})")
    session_name = (session_name or service.split(".")[0])[:64]
    cache_key = (role_arn, service, session_name)
    with _SESSIONS_LOCK:
        credentials = _SESSIONS.get(cache_key)
        if credentials is None:
            from moto.sts.models import sts_backends

            account = role_arn.split(":")[4]
            session = sts_backends[account][PARTITION].assume_role(
                region_name="us-east-1", role_session_name=session_name, role_arn=role_arn,
                policy=None, duration=3600, external_id=None)
            credentials = {"AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret_access_key,
                           "SessionToken": session.session_token}
            _SESSIONS[cache_key] = credentials
        if session_context:
            SESSION_CONTEXT[credentials["AccessKeyId"]] = {k.lower(): v for k, v in session_context.items()}
    return dict(credentials)
