"""One embedded AWS per test process: every patch of launcher.start() applied, served by
moto's ThreadedMotoServer on a free port, with a temporary work dir. The patches are
process-wide, so all emulator test modules share this one server."""

import io
import json
import logging
import os
import socket
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
logging.getLogger("werkzeug").setLevel(logging.ERROR)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

REGION = "eu-west-1"
ACCOUNT = "123456789012"
_SERVER = {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def emulator():
    """(port, work_dir, admin credentials), starting the server on first use."""
    if not _SERVER:
        import launcher
        from moto.server import ThreadedMotoServer

        port = free_port()
        work_dir = tempfile.mkdtemp(prefix="emulator-test-")
        launcher.start(port, work_dir)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        with open(os.path.join(work_dir, "admin-credentials.json")) as f:
            credentials = json.load(f)
        _SERVER.update(port=port, work_dir=work_dir, credentials=credentials, server=server)
    return _SERVER["port"], _SERVER["work_dir"], _SERVER["credentials"]


def client(service, credentials=None):
    port, _, admin = emulator()
    credentials = credentials or admin
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials.get("SessionToken"),
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
    )


def trust(service, condition=None):
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def role(name, service, statements, condition=None):
    """A role `service` may assume, with one inline policy of `statements`."""
    iam = client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(service, condition))["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return arn


def stub_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
    return buffer.getvalue()


def function(name, role_arn, handler):
    """A function whose invocations run `handler(event, credentials_env)` (lambda_env's
    test seam) instead of a bootstrap."""
    import lambda_env

    lambda_env.PYTHON_HANDLERS[name] = handler
    return client("lambda").create_function(
        FunctionName=name, Runtime="provided.al2023", Role=role_arn, Handler="bootstrap",
        Code={"ZipFile": stub_zip()}, Timeout=3)["FunctionArn"]


def credentials_of(env):
    return {"AccessKeyId": env["AWS_ACCESS_KEY_ID"], "SecretAccessKey": env["AWS_SECRET_ACCESS_KEY"],
            "SessionToken": env["AWS_SESSION_TOKEN"]}


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
