"""The embedded local AWS: moto server, patched where moto 5.2.5 cannot run this template.

The template is deployed to it unchanged; every gap is closed here (DESIGN.md section 5):

* CloudFormation: KMS key tags and SSM parameter tags in CloudFormation's format,
  `!GetAtt Parameter.Value`, the state machine's `Definition` object with its
  `DefinitionSubstitutions`, and `AWS::SecretsManager::Secret` with a generated value.
* Step Functions: state machines execute (moto's ASL interpreter) in the backend that
  CloudFormation creates them in, and `StartSyncExecution` is answered.
* Lambda: an invocation runs the function's real `bootstrap` from the zip CloudFormation
  deployed, speaking the Lambda Runtime API to a server here, with the function's
  template environment plus `AWS_ENDPOINT_URL` pointing back at this emulator; a poller
  redelivers SQS messages as Lambda does, so failures reach the dead-letter queue.

Usage: python launcher.py --port PORT --work-dir DIR
"""

import argparse
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

PORT = None
WORK_DIR = None


def patch_cloudformation():
    from moto.cloudformation import parsing
    from moto.kms.models import Key
    from moto.ssm.models import Parameter

    resolve = parsing.clean_json

    def clean_json(value, resources_map):
        # moto drops every key whose value resolves to None, literal nulls included; the
        # state machine's `ResultPath: null` (keep the input) must survive.
        is_intrinsic = isinstance(value, dict) and any(k == "Ref" or k.startswith("Fn::") for k in value)
        if not isinstance(value, dict) or is_intrinsic:
            return resolve(value, resources_map)
        cleaned = {}
        for key, item in value.items():
            if item is None:
                cleaned[key] = None
                continue
            resolved = clean_json(item, resources_map)
            if resolved is not None:
                cleaned[key] = resolved
        return cleaned

    parsing.clean_json = clean_json
    key_create = Key.create_from_cloudformation_json.__func__

    def create_key(cls, name, cfn, account_id, region_name, **kwargs):
        # moto reads KMS's TagKey/TagValue; CloudFormation writes Key/Value.
        props = cfn["Properties"]
        props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        return key_create(cls, name, cfn, account_id, region_name, **kwargs)

    Key.create_from_cloudformation_json = classmethod(create_key)

    parameter_create = Parameter.create_from_cloudformation_json.__func__

    def create_parameter(cls, name, cfn, account_id, region_name, **kwargs):
        # AWS::SSM::Parameter tags are a map in CloudFormation.
        props = cfn["Properties"]
        if isinstance(props.get("Tags"), dict):
            props["Tags"] = [{"Key": k, "Value": v} for k, v in props["Tags"].items()]
        return parameter_create(cls, name, cfn, account_id, region_name, **kwargs)

    def parameter_attribute(self, attribute):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute == "Value":
            return self.value
        if attribute == "Type":
            return self.parameter_type
        raise UnformattedGetAttTemplateException()

    Parameter.create_from_cloudformation_json = classmethod(create_parameter)
    Parameter.get_cfn_attribute = parameter_attribute
    Parameter.has_cfn_attr = classmethod(lambda cls, attribute: attribute in ("Value", "Type"))

    patch_state_machine_resource()
    register_secret_resource()


def patch_state_machine_resource():
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    def create(cls, name, cfn, account_id, region_name, **kwargs):
        props = cfn["Properties"]
        definition = props.get("DefinitionString")
        if definition is None:
            definition = json.dumps(props["Definition"])
            for key, value in (props.get("DefinitionSubstitutions") or {}).items():
                definition = definition.replace("${" + key + "}", str(value))
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.create_state_machine(
            props.get("StateMachineName", name),
            definition,
            props.get("RoleArn", ""),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])],
            sm_type=props.get("StateMachineType", "STANDARD"),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create)


def register_secret_resource():
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class CfnSecret(CloudFormationModel):
        # moto's model metaclass names the service after the module.
        __module__ = "moto.secretsmanager.launcher"

        def __init__(self, arn):
            self.arn = arn

        @property
        def physical_resource_id(self):
            return self.arn

        @staticmethod
        def cloudformation_type():
            return "AWS::SecretsManager::Secret"

        @staticmethod
        def cloudformation_name_type():
            return "Name"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            backend = secretsmanager_backends[account_id][region_name]
            value = props.get("SecretString")
            generate = props.get("GenerateSecretString")
            if value is None and generate is not None:
                secret = json.loads(generate.get("SecretStringTemplate", "{}"))
                secret[generate["GenerateStringKey"]] = uuid.uuid4().hex + uuid.uuid4().hex
                value = json.dumps(secret)
            created = backend.create_secret(
                name=props.get("Name", name),
                secret_string=value,
                secret_binary=None,
                description=props.get("Description"),
                tags=props.get("Tags", []),
                kms_key_id=props.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
            return cls(json.loads(created)["ARN"])

    # Subclassing CloudFormationModel registers the type with moto's CloudFormation.
    return CfnSecret


def patch_step_functions():
    from moto.core.config import default_user_config
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.responses import StepFunctionResponse

    default_user_config["stepfunctions"] = {"execute_state_machine": True}

    def start_sync_execution(self):
        backend = stepfunctions_parser_backends[self.current_account][self.region]
        name = self._get_param("name") or str(uuid.uuid4())
        execution = backend.start_execution(
            self._get_param("stateMachineArn"), name, self._get_param("input", if_none="{}")
        )
        deadline = time.time() + 60
        while execution.exec_status == "RUNNING" and time.time() < deadline:
            time.sleep(0.01)
        response = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": name,
            "startDate": execution.start_date,
            "stopDate": execution.stop_date,
            "status": getattr(execution.exec_status, "value", str(execution.exec_status)),
            "input": execution.input_data if isinstance(execution.input_data, str) else json.dumps(execution.input_data),
        }
        if execution.output is not None:
            response["output"] = execution.output if isinstance(execution.output, str) else json.dumps(execution.output)
        if execution.error is not None:
            response["error"] = execution.error
        if execution.cause is not None:
            response["cause"] = execution.cause
        return ActionResult(response)

    StepFunctionResponse.start_sync_execution = start_sync_execution


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


class RuntimeApiHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        api = self.server
        if self.path.endswith("/invocation/next") and not api.served:
            api.served = True
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
    folder = os.path.join(WORK_DIR, "functions", f"{function.function_name}-{digest}")
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


FAULTS = threading.Lock()


def injected_fault(function_name):
    """Test-only switch of the end-to-end suite: `faults.json` in the work dir maps a
    function name to a number of invocations to fail with an error type, e.g.
    {"payment-settlement-local": {"remaining": 2, "error": "RetryableError"}}. The real
    function is not run for those invocations."""
    path = os.path.join(WORK_DIR, "faults.json")
    with FAULTS:
        if not os.path.exists(path):
            return None
        with open(path) as f:
            faults = json.load(f)
        fault = faults.get(function_name)
        if not fault or fault["remaining"] <= 0:
            return None
        fault["remaining"] -= 1
        with open(path, "w") as f:
            json.dump(faults, f)
        return fault["error"]


def patch_lambda():
    from moto.awslambda.models import LambdaFunction

    def invoke(self, event=None):
        fault = injected_fault(self.function_name)
        if fault is not None:
            return json.dumps({"errorType": fault, "errorMessage": "injected by the end-to-end suite"}), True, ""
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
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{PORT}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        log_path = os.path.join(WORK_DIR, "logs", f"{self.function_name}.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen([bootstrap_of(self)], env=env, stdout=log, stderr=log)
            finished = api.done.wait(timeout_s + 5)
            process.kill()
            process.wait()
        api.shutdown()
        api.server_close()
        if not finished:
            # Reported as Lambda reports a function timeout. ("States.*" names belong to Step
            # Functions; moto's interpreter refuses one as a function error and fails the
            # whole execution with States.Runtime.)
            message = f"Task timed out after {timeout_s:.2f} seconds"
            return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}), True, ""
        body, errored = api.answer
        return body, errored, ""

    LambdaFunction._invoke_lambda = invoke


def start_queue_poller():
    """Lambda's SQS poller, which moto lacks (it invokes once, when a message is sent, and
    never again). Every second each enabled queue mapping receives a batch with the queue's
    own visibility timeout; successful records are deleted, records named in
    `batchItemFailures` and every record of a failed invocation stay until their
    visibility timeout ends, and moto's redrive moves a message to the DLQ after
    `maxReceiveCount` receives."""
    from moto.awslambda.utils import get_backend
    from moto.sqs.models import sqs_backends

    def poll():
        while True:
            time.sleep(1)
            for account_id, regions in list(sqs_backends.items()):
                for region, backend in list(regions.items()):
                    for queue in list(backend.queues.values()):
                        for function_arn, mapping in list(queue.lambda_event_source_mappings.items()):
                            if mapping.enabled:
                                deliver(backend, queue, function_arn, mapping, get_backend(account_id, region))

    def deliver(backend, queue, function_arn, mapping, lambda_backend):
        messages = backend.receive_message(queue.name, mapping.batch_size, 0, queue.visibility_timeout)
        if not messages:
            return
        event = {"Records": [{
            "messageId": m.id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": {"ApproximateReceiveCount": str(m.approximate_receive_count)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": queue.queue_arn,
            "awsRegion": queue.region,
        } for m in messages]}
        headers = {}
        try:
            body = lambda_backend.invoke(function_arn, None, json.dumps(event), {}, headers)
        except Exception:
            return
        if "x-amz-function-error" in headers:
            return
        try:
            failed = {f["itemIdentifier"] for f in json.loads(body or b"{}").get("batchItemFailures", [])}
        except (ValueError, AttributeError):
            failed = set()
        for message in messages:
            if message.id not in failed:
                backend.delete_message(queue.name, message.receipt_handle)

    threading.Thread(target=poll, daemon=True).start()


def main():
    global PORT, WORK_DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    PORT = args.port
    WORK_DIR = os.path.abspath(args.work_dir)
    os.makedirs(WORK_DIR, exist_ok=True)
    # moto's Step Functions interpreter calls Lambda through this server's port.
    os.environ["MOTO_PORT"] = str(PORT)
    patch_cloudformation()
    patch_step_functions()
    patch_lambda()
    start_queue_poller()
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", str(PORT)])


if __name__ == "__main__":
    main()
