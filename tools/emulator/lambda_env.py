"""Lambda invocation: the function's real `bootstrap` from the zip CloudFormation deployed,
run in long-lived execution environments (lambda_pool.py) speaking the Lambda Runtime API
(runtime_api.py), with the function's template environment plus `AWS_ENDPOINT_URL` pointing
back at this emulator, and the temporary credentials of the function's execution role
(assumed as lambda.amazonaws.com through iam.py, as Lambda does: "Lambda generates an
ephemeral set of credentials by assuming your function's execution role", Lambda guide,
"Using source function ARN to control function access behavior"). The credentials are in
the environment's variables from its start ("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN – The access keys obtained from the function's execution role", Lambda
guide, "Defined runtime environment variables",
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html); that the role can
still be assumed is checked on every invocation.

An environment serves one configuration: code, environment variables, role, timeout, memory
and logging config (`environment_key`). After an update, invocations go to new environments
and the old ones are retired ("Lambda function states": once an update completes, the
function runs its new code and configuration,
https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html)."""

import datetime
import hashlib
import io
import json
import os
import threading
import time
import uuid
import zipfile

from moto.awslambda.exceptions import LambdaClientError

import faults
import iam
import lambda_metrics
import lambda_pool
import runtime_api
import settings

# Test-only seam: function name -> handler(event: dict, env: dict) -> (body: str, errored: bool),
# run instead of a `bootstrap` (env holds the execution role's credentials), within the
# function's concurrency like any invocation. Production code never registers one; the
# emulator's unit tests do.
PYTHON_HANDLERS = {}


class TooManyRequestsException(LambdaClientError):
    """The Invoke API's throttle: HTTP 429 with `Reason` and `Type` (Lambda API reference,
    Invoke, and the TooManyRequestsException shape of the Lambda service model). The message
    is the one Step Functions shows in its cause ("Rate Exceeded.")."""

    code = 429

    def __init__(self, reason):
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.description = json.dumps({"Reason": reason, "Type": "User", "message": "Rate Exceeded."})


UNPACKING = threading.Lock()
# code bytes object id -> (that object, its SHA-256): a deployed zip is hashed once, not on
# every invocation (twice each, ~4 ms for a 5 MB zip, which the load would measure).
_DIGESTS = {}


def code_digest(function):
    code = function.code_bytes
    cached = _DIGESTS.get(id(code))
    if cached is None or cached[0] is not code:
        cached = _DIGESTS[id(code)] = (code, hashlib.sha256(code).hexdigest())
    return cached[1]


def bootstrap_of(function):
    """The function's `bootstrap`, unpacked once from the zip CloudFormation deployed."""
    digest = code_digest(function)[:16]
    folder = os.path.join(settings.WORK_DIR, "functions", f"{function.function_name}-{digest}")
    path = os.path.join(folder, "bootstrap")
    with UNPACKING:
        if not os.path.exists(path):
            os.makedirs(folder, exist_ok=True)
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                data = archive.read("bootstrap")
            partial = path + ".partial"
            with open(partial, "wb") as out:
                out.write(data)
            os.chmod(partial, 0o755)
            # Renamed only once complete, so no invocation runs a half-written file.
            os.rename(partial, path)
    return path


def execution_credentials(function):
    """The execution role's credentials for one invocation, or AssumeRoleDenied."""
    credentials = iam.assume_role_for_service(
        function.role,
        "lambda.amazonaws.com",
        {"aws:SourceAccount": function.account_id, "aws:SourceArn": function.function_arn},
        session_name=function.function_name,
        session_context={"lambda:SourceFunctionArn": function.function_arn},
    )
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


# System log levels, most detailed first ("Log-level filtering", Lambda guide:
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
# "By default, Lambda sets the system log level to INFO. With this setting, Lambda
# automatically sends `start` and `report` log messages to CloudWatch": platform.start and
# platform.report are INFO events, so SystemLogLevel WARN leaves them out.
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def system_logs_on(function):
    """Whether the function's LoggingConfig lets INFO system records through, in the JSON
    format (approximation: the plain-text START/REPORT lines are not written)."""
    config = getattr(function, "logging_config", None) or {}
    if config.get("LogFormat", "Text") != "JSON":
        return False
    return SYSTEM_LEVELS.index(config.get("SystemLogLevel", "INFO")) <= SYSTEM_LEVELS.index("INFO")


def write_system_records(function, records):
    """Appends platform records to the function's log, in the JSON log format (Lambda guide,
    "Configuring JSON and plain text log formats"; the records' fields: "Lambda Telemetry API
    Event schema reference", https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html)."""
    path = os.path.join(settings.WORK_DIR, "logs", f"{function.function_name}.log")
    with open(path, "ab") as log:
        log.write("".join(json.dumps(r) + "\n" for r in records).encode())


def init_start_record(function, when):
    """platform.initStart, once per environment, when its Init phase starts (a cold start).
    The runtime's version fields are left out: no managed runtime version runs here."""
    return {"time": _iso(when), "type": "platform.initStart",
            "record": {"initializationType": "on-demand", "phase": "init",
                       "functionName": function.function_name, "functionVersion": "$LATEST"}}


def init_report_record(when, duration_ms, error_type):
    """platform.initReport, written here only for an Init that failed (a successful on-demand
    Init shows in platform.report's initDurationMs)."""
    return {"time": _iso(when), "type": "platform.initReport",
            "record": {"initializationType": "on-demand", "phase": "init", "status": "error",
                       "errorType": error_type, "metrics": {"durationMs": duration_ms}}}


def start_record(request_id, when):
    return {"time": _iso(when), "type": "platform.start", "record": {"requestId": request_id, "version": "$LATEST"}}


def report_record(function, request_id, started, ended, status, max_memory_mb, init_duration_ms=None):
    """platform.report. `initDurationMs` only on a cold start: "Init Duration – For the first
    request served, the amount of time it took the runtime to load the function and run code
    outside of the handler method"; `maxMemoryUsedMB`, the environment's peak: "When
    invocations share an execution environment, Lambda reports the maximum memory used across
    all invocations" (Lambda guide, the language guides' "Logging" pages, REPORT fields)."""
    duration_ms = round((ended - started) * 1000, 2)
    metrics = {
        "durationMs": duration_ms,
        "billedDurationMs": int(-(-duration_ms // 1)),
        "memorySizeMB": int(function.memory_size),
        "maxMemoryUsedMB": max_memory_mb,
    }
    if init_duration_ms is not None:
        metrics["initDurationMs"] = init_duration_ms
    return {"time": _iso(ended), "type": "platform.report",
            "record": {"requestId": request_id, "metrics": metrics, "status": status}}


def environment_key(function):
    """Everything Lambda starts new execution environments for: a new environment is set up
    from the function's code and configuration ("When you create your Lambda function, you
    specify configuration information, such as the amount of memory available and the maximum
    execution time allowed for your function. Lambda uses this information to set up the
    execution environment", lifecycle page)."""
    return json.dumps([
        code_digest(function),
        function.environment_vars or {},
        function.role,
        function.timeout,
        function.memory_size,
        getattr(function, "logging_config", None) or {},
        function.handler,
        function.run_time,
        function.architectures,
    ], sort_keys=True, default=str)


def environment_variables(function, credentials):
    logging_config = getattr(function, "logging_config", None) or {}
    return {
        "PATH": "/usr/bin:/bin",
        **{k: str(v) for k, v in (function.environment_vars or {}).items()},
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        # LoggingConfig.ApplicationLogLevel reaches the runtime as AWS_LAMBDA_LOG_LEVEL.
        **({"AWS_LAMBDA_LOG_LEVEL": logging_config["ApplicationLogLevel"]}
           if logging_config.get("ApplicationLogLevel") else {}),
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{settings.PORT}",
        **credentials,
    }


def keep_logging_config(backend_class, function_class):
    """moto (5.2.5) drops a function's LoggingConfig, from CreateFunction and from
    CloudFormation alike: keep it, for the system log records above."""
    if getattr(function_class, "_keeps_logging_config", False):
        return
    create_function = backend_class.create_function

    def create_keeping(self, spec):
        function = create_function(self, spec)
        function.logging_config = spec.get("LoggingConfig") or {}
        return function

    backend_class.create_function = create_keeping
    from_cfn = function_class.create_from_cloudformation_json.__func__

    def create_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        function = from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        function.logging_config = cloudformation_json.get("Properties", {}).get("LoggingConfig") or {}
        return function

    function_class.create_from_cloudformation_json = classmethod(create_from_cfn)
    update_configuration = function_class.update_configuration

    def update_keeping(self, config):
        answer = update_configuration(self, config)
        if "LoggingConfig" in config:
            self.logging_config = config["LoggingConfig"] or {}
        return answer

    function_class.update_configuration = update_keeping
    get_configuration = function_class.get_configuration

    def configuration_with_logging(self, *args, **kwargs):
        # GetFunction(Configuration) returns the function's LoggingConfig (API reference,
        # FunctionConfiguration.LoggingConfig).
        configuration = get_configuration(self, *args, **kwargs)
        if getattr(self, "logging_config", None):
            configuration["LoggingConfig"] = dict(self.logging_config)
        return configuration

    function_class.get_configuration = configuration_with_logging
    function_class._keeps_logging_config = True


def patch_lambda():
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    create_function = LambdaBackend.create_function

    def create_checked(self, spec):
        # "The role defined for the function cannot be assumed by Lambda."
        # (InvalidParameterValueException at CreateFunction; reported in e.g.
        # aws-samples/aws-ct-vpc-flowlogs#1 and pdomala/LambdaCDDemo#1.)
        role = spec.get("Role", "")
        account = role.split(":")[4] if role.count(":") >= 5 else self.account_id
        name = spec.get("FunctionName", "")
        arn = f"arn:aws:lambda:{self.region_name}:{account}:function:{name}"
        try:
            decision, _ = iam.trust_decision(role, "lambda.amazonaws.com", {"aws:SourceAccount": account, "aws:SourceArn": arn})
        except iam.AssumeRoleDenied:
            decision = None
        if decision != "Allow":
            raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")
        return create_function(self, spec)

    LambdaBackend.create_function = create_checked

    def invoke(self, event=None):
        fault = faults.function_fault(self.function_name)
        if fault is not None and fault.get("hold_s") is not None:
            return run_invocation(self, event, hold=fault)
        if fault is not None and not fault.get("after_run"):
            return json.dumps({"errorType": fault["error"], "errorMessage": "injected by the end-to-end suite"}), True, ""
        body, errored, logs = run_invocation(self, event)
        if fault is not None:
            # The code ran (and committed what it committed); its answer is lost on the way.
            if fault.get("late_s"):
                time.sleep(float(fault["late_s"]))
            else:
                return json.dumps({"errorType": fault["error"], "errorMessage": "injected after the function ran"}), True, ""
        return body, errored, logs

    LambdaFunction._invoke_lambda = invoke
    keep_logging_config(LambdaBackend, LambdaFunction)


def run_invocation(function, event, hold=None):
    """One invocation within the function's concurrency: on a warm environment of its current
    configuration if one is idle, else on a new one. Raises TooManyRequestsException."""
    try:
        credentials = execution_credentials(function)
    except iam.AssumeRoleDenied as denied:
        # What AWS returns when the role became unassumable after CreateFunction is not
        # documented (uncertain): the invocation fails, visibly.
        return json.dumps({"errorType": "AccessDeniedException", "errorMessage": denied.reason}), True, ""
    pool = lambda_pool.pool_of(function.function_arn, function.function_name)
    limit, reason = lambda_pool.concurrency_limit(function)
    key = environment_key(function)
    # Counted before acquiring: a throttle that lands while this invocation takes its
    # environment already ends a hold (faults.py `until_throttled`).
    throttles_before = pool.throttles
    try:
        env = pool.acquire(limit, reason, key)
    except lambda_pool.Throttled as throttled:
        lambda_metrics.record_throttle(function, throttled.reason)
        raise TooManyRequestsException(throttled.reason) from None
    keep = False
    try:
        if hold is not None:
            _hold(pool, hold, throttles_before)
        handler = PYTHON_HANDLERS.get(function.function_name)
        if handler is not None:
            body, errored = handler(event if event is not None else {}, credentials)
            return body, errored, ""
        payload = json.dumps(event if event is not None else {})
        while True:
            if env is None:
                env = _start_environment(function, key, credentials)
                pool.adopt(env)
            outcome, answer = _run_on(function, env, payload)
            if outcome != lambda_pool.NOT_DELIVERED:
                keep = outcome == lambda_pool.ANSWERED
                return answer
            # A warm runtime that exited before it took the event: the event never reached
            # any code, so it goes to a new environment.
            pool.discard(env)
            env = None
    finally:
        pool.release(env, environment_key(function), keep=keep)


def _hold(pool, fault, since):
    """faults.py's `hold_s`: the invocation keeps its environment busy for `hold_s` seconds
    before its event is handed over (with `until_throttled`, only until this function is next
    throttled after `since` throttles), so that other invocations meet a full concurrency."""
    if fault.get("until_throttled"):
        pool.wait_for_throttle(since, float(fault["hold_s"]))
    else:
        time.sleep(float(fault["hold_s"]))


def _start_environment(function, key, credentials):
    log_path = os.path.join(settings.WORK_DIR, "logs", f"{function.function_name}.log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    env = lambda_pool.Environment(key, [bootstrap_of(function)], environment_variables(function, credentials), log_path)
    if system_logs_on(function):
        write_system_records(function, [init_start_record(function, env.spawned)])
    return env


def _run_on(function, env, payload):
    """(outcome, (body, errored, logs)) of one event on `env`, with its system records."""
    records = system_logs_on(function)
    cold = env.invocations == 0
    request_id = str(uuid.uuid4())
    timeout_s = int(function.timeout or 3)

    def delivered(invocation):
        if records:
            write_system_records(function, [start_record(invocation.request_id, invocation.delivered_at)])

    invocation = runtime_api.Invocation(request_id, payload, timeout_s, function.function_arn, on_delivered=delivered)
    outcome = env.run(invocation)
    ended = time.time()
    if outcome == lambda_pool.NOT_DELIVERED:
        return outcome, None
    memory = env.max_memory_mb()
    if outcome == lambda_pool.ANSWERED:
        body, errored = invocation.answer
    elif outcome == lambda_pool.INIT_FAILED:
        body, errored = env.api.init_error, True
    elif outcome == lambda_pool.EXITED:
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {env.process.returncode}"
        body, errored = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}), True
    else:
        # Reported as Lambda reports a function timeout. ("States.*" names belong to Step
        # Functions; moto's interpreter refuses one as a function error and fails the whole
        # execution with States.Runtime.)
        message = f"Task timed out after {timeout_s:.2f} seconds"
        body, errored = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}), True
    if records:
        extra = []
        if invocation.delivered_at is None:
            if outcome in (lambda_pool.INIT_FAILED, lambda_pool.EXITED):
                error_type = _error_type(body)
                extra.append(init_report_record(ended, round((ended - env.spawned) * 1000, 2), error_type))
            extra.append(start_record(request_id, ended))
        status = "success" if not errored else ("timeout" if outcome == lambda_pool.TIMED_OUT else "error")
        started = invocation.delivered_at or ended
        init_ms = env.init_duration_ms() if cold else None
        write_system_records(function, [*extra, report_record(function, request_id, started, ended, status, memory,
                                                              init_ms)])
    return outcome, (body, errored, "")


def _error_type(body):
    try:
        return json.loads(body).get("errorType") or "Runtime.Unknown"
    except (ValueError, AttributeError):
        return "Runtime.Unknown"
