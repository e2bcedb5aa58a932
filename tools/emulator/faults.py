"""Fault injection for the end-to-end suite (test-only: production code has no such switch).

`faults.json` in the work dir holds the faults; each entry is consumed one occurrence at a
time (`remaining`), and the file is re-read on every check, so the suite arms and clears
faults while the emulator runs. Kinds:

* a Lambda function, by name, failed before it runs (the real code never starts):
    {"payment-settlement-local": {"remaining": 2, "error": "RetryableError"}}
* a Lambda function that runs and commits, then loses its answer (`after_run`): either
  reported as failed with `error` as the error type (Step Functions matches the name, e.g.
  "Lambda.Unknown"; how AWS names a service error after the code ran is the approximation
  here: the real service reports `Lambda.Unknown` when it returns no error type), or, with
  `late_s`, answered only after that many seconds, so that the caller's timer (the task's
  TimeoutSeconds) fires first:
    {"payment-settlement-local": {"remaining": 1, "after_run": true, "error": "Lambda.Unknown"}}
    {"payment-settlement-local": {"remaining": 1, "after_run": true, "late_s": 3}}
* a Lambda function whose invocation holds its execution environment (its concurrency slot)
  for `hold_s` seconds before its event is handed to the code (a slow invocation: the code
  then runs unchanged), so that invocations arriving meanwhile meet a full reserved
  concurrency (lambda_pool.py); with `until_throttled`, the hold ends as soon as another
  invocation of the function has been throttled (at most `hold_s`), which makes the overlap
  deterministic without keeping the workflow waiting:
    {"payment-settlement-local": {"remaining": 1, "hold_s": 1.5, "until_throttled": true}}
* an AWS API call refused with that service's error, keyed "<service>:<Operation>" and
  narrowed by `target` (a table name or a topic ARN):
    {"dynamodb:TransactWriteItems": {"remaining": 1, "error": "TransactionConflict", "target": "transactions-local"}}
      -> TransactionCanceledException whose CancellationReasons name `error` for the first
         item on `target` and "None" for the others (DynamoDB API reference,
         TransactWriteItems, "TransactionCanceledException");
    {"sns:Publish": {"remaining": 1, "error": "KMSThrottling", "target": "<topic arn>"}}
      -> the SNS error of that code (status from the service model: KMSThrottling is 400,
         which the AWS SDKs' standard retry does not retry);
    {"states:StartSyncExecution": {"remaining": 1, "error": "ThrottlingException", "status": 400}}
      -> a Step Functions error as the service answers it (JSON `__type`, the status given;
         Step Functions API reference, "Common Errors": ThrottlingException 400,
         ServiceUnavailable 503), e.g. to API Gateway's integration;
* the key "cloudformation" fails resources during a stack operation instead:
    {"cloudformation": {"fail_resource": "<LogicalId>", "remaining": 1}}
  makes the next `remaining` attempts to create or update that resource fail (a deploy that
  fails half-way).

Every occurrence consumed is appended to `faults.log` in the work dir (what fired, when), so
a test can prove its fault really happened."""

import datetime
import json
import os
import threading

import settings

_LOCK = threading.Lock()


def _path():
    return os.path.join(settings.WORK_DIR, "faults.json")


def _take(key, matches=lambda fault: True):
    """Consumes one occurrence of the fault under `key` (if it matches); returns it or None."""
    path = _path()
    with _LOCK:
        if not os.path.exists(path):
            return None
        with open(path) as f:
            faults = json.load(f)
        fault = faults.get(key)
        if not fault or fault.get("remaining", 0) <= 0 or not matches(fault):
            return None
        fault["remaining"] -= 1
        with open(path, "w") as f:
            json.dump(faults, f)
        with open(os.path.join(settings.WORK_DIR, "faults.log"), "a") as log:
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            log.write(json.dumps({"at": now, "key": key, **fault}) + "\n")
        return dict(fault)


def function_fault(function_name):
    """The fault for this invocation of `function_name`, or None."""
    return _take(function_name)


def injected_fault(function_name):
    """The error type to fail this invocation with before it runs, or None (kept for callers
    that know only the before-run kind)."""
    fault = function_fault(function_name)
    return fault["error"] if fault else None


def cloudformation_fault(logical_id):
    """The reason to fail creating/updating `logical_id` now, or None."""
    fault = _take("cloudformation", lambda f: f.get("fail_resource") == logical_id)
    if fault is None:
        return None
    return fault.get("reason", "Resource creation failed (injected by the end-to-end suite)")


def api_fault(service, operation, targets):
    """The fault for an API call touching any of `targets`, or None."""
    return _take(f"{service}:{operation}", lambda f: not f.get("target") or f["target"] in targets)


# --- the API faults, patched into moto's request handlers --------------------------------


def _transact_targets(items):
    return [next(iter(item.values())).get("TableName", "") for item in items]


def install():
    """Patches the handlers of the operations above; without a faults.json they do nothing."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.responses import DynamoHandler
    from moto.sns.exceptions import SNSException
    from moto.sns.responses import SNSResponse
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(DynamoHandler, "_faults_installed", False):
        return
    transact_write_items = DynamoHandler.transact_write_items

    def transact_write_items_with_faults(self):
        tables = _transact_targets(self.body.get("TransactItems", []))
        fault = api_fault("dynamodb", "TransactWriteItems", tables)
        if fault is not None:
            # One reason per item, in order; the conflicting one first on the target table.
            target = fault.get("target") or tables[0]
            first = tables.index(target) if target in tables else 0
            reasons = [(fault["error"], "Transaction is ongoing for the item", None) if i == first else (None, None, None)
                       for i in range(len(tables))]
            raise TransactionCanceledException(reasons)
        return transact_write_items(self)

    DynamoHandler.transact_write_items = transact_write_items_with_faults
    publish = SNSResponse.publish

    def publish_with_faults(self):
        topic = self._get_param("TopicArn") or self._get_param("TargetArn") or ""
        fault = api_fault("sns", "Publish", [topic])
        if fault is not None:
            raise SNSException(fault["error"], fault.get("message", "Injected by the end-to-end suite"))
        return publish(self)

    SNSResponse.publish = publish_with_faults
    start_sync_execution = StepFunctionResponse.start_sync_execution

    def start_sync_execution_with_faults(self):
        fault = api_fault("states", "StartSyncExecution", [self._get_param("stateMachineArn") or ""])
        if fault is not None:
            error = JsonRESTError(fault["error"], fault.get("message", "Injected by the end-to-end suite"))
            error.code = int(fault.get("status", 400))
            raise error
        return start_sync_execution(self)

    StepFunctionResponse.start_sync_execution = start_sync_execution_with_faults
    DynamoHandler._faults_installed = True
