"""Lambda invocation: the function's real `bootstrap` from the zip CloudFormation deployed,
speaking the Lambda Runtime API to a server here, with the function's template
environment plus `AWS_ENDPOINT_URL` pointing back at this emulator, and the temporary
credentials of the function's execution role (assumed as lambda.amazonaws.com through
iam.py, as Lambda does: "Lambda generates an ephemeral set of credentials by assuming your
function's execution role", Lambda guide, "Using source function ARN to control function
access behavior")."""

import datetime
import hashlib
import http.server
import io
import json
import os
import subprocess
import threading
import time
import uuid
import zipfile

import faults
import iam
import settings

# Test-only seam: function name -> handler(event: dict, env: dict) -> (body: str, errored: bool),
# run instead of a `bootstrap` (env holds the execution role's credentials). Production code
# never registers one; the emulator's unit tests do.
PYTHON_HANDLERS = {}


class RuntimeApi(http.server.ThreadingHTTPServer):
    """The Lambda Runtime API for one invocation: hands out one event, takes one answer."""

    def __init__(self, event, request_id, deadline_ms, function_arn):
        super().__init__(("127.0.0.1", 0), RuntimeApiHandler)
        self.event = event
        self.request_id = request_id
        self.deadline_ms = deadline_ms
        self.function_arn = function_arn
        self.served = False
        self.answer = None
        self.done = threading.Event()
        self.next_at = None  # when the runtime asked for its event: the end of its init


class RuntimeApiHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        api = self.server
        if self.path.endswith("/invocation/next") and not api.served:
            api.served = True
            api.next_at = time.time()
            body = api.event.encode()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", api.request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(api.deadline_ms))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", api.function_arn)
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            # The second /next: the invocation is over; hold until the process is stopped.
            api.done.wait(30)
            self.send_response(503)
            self.end_headers()

    def do_POST(self):
        api = self.server
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode() if length else ""
        if self.path.endswith("/response"):
            api.answer = (body, False)
        else:
            api.answer = (body or json.dumps({"errorType": "Runtime.Unknown", "errorMessage": ""}), True)
        self.send_response(202)
        self.end_headers()
        api.done.set()


UNPACKING = threading.Lock()


def bootstrap_of(function):
    """The function's `bootstrap`, unpacked once from the zip CloudFormation deployed."""
    digest = hashlib.sha256(function.code_bytes).hexdigest()[:16]
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


def system_log(function, log, request_id, spawned, next_at, ended, succeeded):
    """platform.start and platform.report in the JSON log format (Lambda guide, "Configuring
    JSON and plain text log formats", example system log records), when the function's
    LoggingConfig lets INFO system logs through. Every invocation here is a cold start, so
    the report carries initDurationMs (spawn to the runtime's first /next)."""
    config = getattr(function, "logging_config", None) or {}
    if config.get("LogFormat", "Text") != "JSON":
        return  # approximation: the plain-text START/REPORT lines are not written
    level = config.get("SystemLogLevel", "INFO")
    if SYSTEM_LEVELS.index(level) > SYSTEM_LEVELS.index("INFO"):
        return
    started = next_at or ended
    duration_ms = round((ended - started) * 1000, 2)
    metrics = {
        "durationMs": duration_ms,
        "billedDurationMs": int(-(-duration_ms // 1)),
        "memorySizeMB": int(function.memory_size),
        "maxMemoryUsedMB": 0,  # not measured here
        "initDurationMs": round((started - spawned) * 1000, 2),
    }
    records = [
        {"time": _iso(started), "type": "platform.start",
         "record": {"requestId": request_id, "version": "$LATEST"}},
        {"time": _iso(ended), "type": "platform.report",
         "record": {"requestId": request_id, "metrics": metrics, "status": "success" if succeeded else "error"}},
    ]
    log.write("".join(json.dumps(r) + "\n" for r in records).encode())


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

    def run_invocation(self, event):
        try:
            credentials = execution_credentials(self)
        except iam.AssumeRoleDenied as denied:
            # What AWS returns when the role became unassumable after CreateFunction is not
            # documented (uncertain): the invocation fails, visibly.
            return json.dumps({"errorType": "AccessDeniedException", "errorMessage": denied.reason}), True, ""
        handler = PYTHON_HANDLERS.get(self.function_name)
        if handler is not None:
            body, errored = handler(event if event is not None else {}, credentials)
            return body, errored, ""
        payload = json.dumps(event if event is not None else {})
        request_id = str(uuid.uuid4())
        timeout_s = int(self.timeout or 3)
        api = RuntimeApi(payload, request_id, int((time.time() + timeout_s) * 1000), self.function_arn)
        threading.Thread(target=api.serve_forever, daemon=True).start()
        env = {
            "PATH": "/usr/bin:/bin",
            **{k: str(v) for k, v in (self.environment_vars or {}).items()},
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            # LoggingConfig.ApplicationLogLevel reaches the runtime as AWS_LAMBDA_LOG_LEVEL.
            **({"AWS_LAMBDA_LOG_LEVEL": self.logging_config["ApplicationLogLevel"]}
               if (getattr(self, "logging_config", None) or {}).get("ApplicationLogLevel") else {}),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{settings.PORT}",
            **credentials,
        }
        log_path = os.path.join(settings.WORK_DIR, "logs", f"{self.function_name}.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "ab") as log:
            spawned = time.time()
            process = subprocess.Popen([bootstrap_of(self)], env=env, stdout=log, stderr=log)
            deadline = spawned + timeout_s + 5
            finished = exited = False
            while not finished and not exited and time.time() < deadline:
                finished = api.done.wait(0.05)
                # A runtime that exits without answering (a failed init, a crash) ends the
                # invocation at once: "Runtime exited with error" (Runtime.ExitError), not a
                # timeout.
                exited = not finished and process.poll() is not None and not api.done.is_set()
            finished = finished or api.done.is_set()
            ended = time.time()
            process.kill()
            status = process.wait()
            system_log(self, log, request_id, spawned, api.next_at, ended, finished and not api.answer[1])
        api.shutdown()
        api.server_close()
        if exited and not finished:
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}"
            return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}), True, ""
        if not finished:
            # Reported as Lambda reports a function timeout. ("States.*" names belong to Step
            # Functions; moto's interpreter refuses one as a function error and fails the
            # whole execution with States.Runtime.)
            message = f"Task timed out after {timeout_s:.2f} seconds"
            return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}), True, ""
        body, errored = api.answer
        return body, errored, ""

    LambdaFunction._invoke_lambda = invoke
    keep_logging_config(LambdaBackend, LambdaFunction)

