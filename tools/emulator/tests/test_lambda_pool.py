"""lambda_pool.py, runtime_api.py and lambda_metrics.py against the Lambda documentation they
follow (the module docstrings quote it):

* "Understanding the Lambda execution environment lifecycle": Init ends with the runtime's
  first Next; an environment is reused warm ("Lambda maintains the execution environment
  ... In effect, Lambda freezes the execution environment"); a crash or a timeout resets it;
* "Lambda function scaling": a second concurrent invocation gets another instance;
* "Configuring reserved concurrency" and the Invoke API reference: a function over its
  reserved concurrency is throttled, 429 TooManyRequestsException with
  Reason ReservedFunctionConcurrentInvocationLimitExceeded (ConcurrentInvocationLimitExceeded
  for an unreserved function over the account's limit); reserved concurrency 0 throttles all;
* "Types of metrics for Lambda functions": Throttles in AWS/Lambda by FunctionName;
* the Runtime API reference: /next hands out an event only when there is one;
* the JSON log format's platform records: initDurationMs on a cold start only.

Each test names the mutant it was seen to catch (the change made to the code under test, and
the failure it caused)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import lambda_pool
import runtime_api
import settings
from tests import support
from tests.test_faults import bootstrap_zip

# A runtime that serves events until told otherwise: {"sleep": s} works that long, {"exit": n}
# exits with status n; the answer carries its PID and its MARK variable. With INIT_ERROR set
# it reports a failed Init (and waits: the emulator must end it), writing its PID to PID_FILE.
LOOP_BOOTSTRAP = """#!/usr/bin/python3
import json, os, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/"
if os.environ.get("PID_FILE"):
    open(os.environ["PID_FILE"], "w").write(str(os.getpid()))
if os.environ.get("INIT_ERROR"):
    error = json.dumps({"errorType": "Runtime.BadConfig", "errorMessage": "missing setting"}).encode()
    urllib.request.urlopen(urllib.request.Request(api + "init/error", data=error, method="POST")).read()
    time.sleep(60)
while True:
    with urllib.request.urlopen(api + "invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(event["exit"])
    answer = json.dumps({"pid": os.getpid(), "mark": os.environ.get("MARK"), "event": event}).encode()
    url = api + "invocation/" + request_id + "/response"
    urllib.request.urlopen(urllib.request.Request(url, data=answer, method="POST")).read()
"""


def lambda_once():
    """A Lambda client that never retries (botocore retries a 429 by itself)."""
    port, _, admin = support.emulator()
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=support.REGION,
        aws_access_key_id=admin["AccessKeyId"],
        aws_secret_access_key=admin["SecretAccessKey"],
        config=Config(retries={"total_max_attempts": 1}, read_timeout=70),
    )


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


def state_of(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0]


class Functions:
    """Creates functions running LOOP_BOOTSTRAP and invokes them."""

    def __init__(self, prefix):
        support.emulator()
        self.role = support.role(f"{prefix}-role", "lambda.amazonaws.com", [])
        self.lam = lambda_once()

    def create(self, name, timeout=3, variables=None):
        self.lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Role=self.role,
            Handler="bootstrap",
            Code={"ZipFile": bootstrap_zip(LOOP_BOOTSTRAP)},
            Timeout=timeout,
            Environment={"Variables": variables or {"MARK": "1"}},
            LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "INFO"},
        )
        return name

    def invoke(self, name, event=None):
        """(answer, function error or None, seconds)."""
        started = time.time()
        answer = self.lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
        return json.loads(answer["Payload"].read()), answer.get("FunctionError"), time.time() - started

    def in_parallel(self, name, *events):
        results = [None] * len(events)

        def run(i, event):
            results[i] = self.invoke(name, event)

        threads = [threading.Thread(target=run, args=(i, e)) for i, e in enumerate(events)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    @staticmethod
    def records(name):
        with open(os.path.join(settings.WORK_DIR, "logs", f"{name}.log")) as f:
            return [json.loads(line) for line in f if line.startswith('{"time"')]

    @staticmethod
    def pool(name):
        return lambda_pool.pool_of(f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:function:{name}")


class WarmEnvironmentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Functions("pool")

    def test_a_warm_environment_serves_the_next_invocation(self):
        """Mutants caught: acquire never returning an idle environment (a cold start each
        time) -> a second PID; initDurationMs written on every report -> the warm report has
        it; maxMemoryUsedMB left at 0 -> fails the > 0 check."""
        name = self.f.create("pool-warm")
        first, _, _ = self.f.invoke(name, {"n": 1})
        second, _, _ = self.f.invoke(name, {"n": 2})
        self.assertEqual(first["pid"], second["pid"])
        self.assertEqual(second["event"], {"n": 2})
        records = self.f.records(name)
        self.assertEqual(
            [r["type"] for r in records],
            ["platform.initStart", "platform.start", "platform.report", "platform.start", "platform.report"],
        )
        cold, warm = records[2]["record"]["metrics"], records[4]["record"]["metrics"]
        self.assertGreater(cold["initDurationMs"], 0)
        self.assertNotIn("initDurationMs", warm)
        # Peak RSS of a Python runtime: some MB, never less than what the cold report saw.
        self.assertGreater(cold["maxMemoryUsedMB"], 1)
        self.assertGreaterEqual(warm["maxMemoryUsedMB"], cold["maxMemoryUsedMB"])

    def test_a_waiting_runtime_is_frozen_and_thawed_for_its_next_event(self):
        """Mutant caught: freeze a no-op -> the idle process is sleeping (S), not stopped (T)."""
        name = self.f.create("pool-frozen")
        pid = self.f.invoke(name)[0]["pid"]
        self.assertTrue(support.wait_for(lambda: state_of(pid) == "T", 5), "stopped while it waits in /next")
        self.assertEqual(self.f.invoke(name, {"n": 2})[0]["pid"], pid)

    def test_concurrent_invocations_get_their_own_environments(self):
        """Mutant caught: acquire handing out busy environments too -> both events queue on the
        one warm runtime (one PID, one after the other)."""
        name = self.f.create("pool-parallel")
        warm = self.f.invoke(name)[0]["pid"]
        results = self.f.in_parallel(name, {"sleep": 0.5}, {"sleep": 0.5})
        self.assertEqual([error for _, error, _ in results], [None, None])
        pids = {answer["pid"] for answer, _, _ in results}
        self.assertEqual(len(pids), 2)
        self.assertIn(warm, pids, "one of them ran warm")
        self.assertIn(self.f.invoke(name)[0]["pid"], pids, "the next invocation runs warm")
        self.assertEqual(sum(1 for r in self.f.records(name) if r["type"] == "platform.initStart"), 2)

    def test_a_configuration_update_starts_new_environments(self):
        """Mutant caught: environment_key without the environment variables -> the old
        environment (MARK 1) answers after the update."""
        name = self.f.create("pool-update", variables={"MARK": "1"})
        before = self.f.invoke(name)[0]
        self.f.lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MARK": "2"}})
        after = self.f.invoke(name)[0]
        self.assertEqual((before["mark"], after["mark"]), ("1", "2"))
        self.assertNotEqual(before["pid"], after["pid"])
        self.assertTrue(support.wait_for(lambda: not alive(before["pid"]), 5), "the old one is retired")

    def test_idle_environments_are_recycled(self):
        """Mutant caught: the reaper not ending idle environments -> the PID stays alive."""
        name = self.f.create("pool-idle")
        pid = self.f.invoke(name)[0]["pid"]
        idle = settings.LAMBDA_IDLE_S
        settings.LAMBDA_IDLE_S = 0.5
        try:
            self.assertTrue(support.wait_for(lambda: not alive(pid), 5), "ended after 0.5 s idle")
        finally:
            settings.LAMBDA_IDLE_S = idle
        again = self.f.invoke(name)[0]
        self.assertNotEqual(again["pid"], pid)
        self.assertIn("initDurationMs", self.f.records(name)[-1]["record"]["metrics"], "a cold start again")


class FailuresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Functions("poolfail")

    def two_warm(self, name):
        results = self.f.in_parallel(name, {"sleep": 0.3}, {"sleep": 0.3})
        pids = {answer["pid"] for answer, _, _ in results}
        self.assertEqual(len(pids), 2)
        return pids

    def test_a_timeout_resets_only_that_environment(self):
        """Mutant caught: a timed-out environment kept (release keep=True) -> its PID, still
        busy in its sleep, stays alive."""
        name = self.f.create("pool-timeout", timeout=1)
        pids = self.two_warm(name)
        answer, error, seconds = self.f.invoke(name, {"sleep": 5})
        self.assertEqual((bool(error), answer["errorType"]), (True, "Sandbox.Timedout"))
        self.assertLess(seconds, 3, "answered at the function's 1 s timeout, not when the code ends")
        dead = {pid for pid in pids if not alive(pid)}
        self.assertEqual(len(dead), 1, "the timed-out environment only")
        self.assertEqual({self.f.invoke(name)[0]["pid"]}, pids - dead)
        self.assertEqual(self.f.records(name)[-3]["record"]["status"], "timeout")

    def test_a_crash_retires_only_that_environment(self):
        """Mutant caught: a crash ending every environment of the function (pool.close()) ->
        the survivor is gone too."""
        name = self.f.create("pool-crash")
        pids = self.two_warm(name)
        answer, error, _ = self.f.invoke(name, {"exit": 3})
        self.assertEqual(answer["errorType"], "Runtime.ExitError")
        self.assertIn("exit status 3", answer["errorMessage"])
        dead = {pid for pid in pids if not alive(pid)}
        self.assertEqual(len(dead), 1)
        self.assertEqual({self.f.invoke(name)[0]["pid"]}, pids - dead)

    def test_an_init_error_retires_the_environment(self):
        """Mutant caught: /init/error ignored -> the invocation waits for its Init limit and
        times out (Sandbox.Timedout), the process left running."""
        pid_file = tempfile.mktemp(prefix="pool-init-")
        name = self.f.create("pool-initerror", variables={"INIT_ERROR": "1", "PID_FILE": pid_file})
        answer, error, seconds = self.f.invoke(name)
        self.assertEqual((bool(error), answer["errorType"]), (True, "Runtime.BadConfig"))
        self.assertLess(seconds, 5)
        with open(pid_file) as f:
            pid = int(f.read())
        self.assertTrue(support.wait_for(lambda: not alive(pid), 5))
        types = [r["type"] for r in self.f.records(name)]
        self.assertEqual(types, ["platform.initStart", "platform.initReport", "platform.start", "platform.report"])


class ThrottlesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.f = Functions("poolthrottle")
        cls.cloudwatch = support.client("cloudwatch")

    def throttles(self, name):
        now = time.time()
        points = self.cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Throttles",
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=now - 600,
            EndTime=now + 60,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    def logged(self, name):
        path = os.path.join(settings.WORK_DIR, "logs", "lambda-throttles.log")
        with open(path) as f:
            return [json.loads(line) for line in f if json.loads(line)["function"] == name]

    def busy_then_invoke(self, name, hold_event):
        holder = threading.Thread(target=self.f.invoke, args=(name, hold_event))
        holder.start()
        self.assertTrue(support.wait_for(lambda: self.f.pool(name).in_use == 1, 5))
        try:
            self.f.lam.invoke(FunctionName=name, Payload=b"{}")
        except ClientError as refused:
            return refused.response, holder
        return None, holder

    def test_reserved_concurrency_throttles(self):
        """Mutant caught: the cap ignored (acquire never raising Throttled) -> the second
        invocation runs in a second environment and answers 200."""
        name = self.f.create("pool-reserved")
        self.f.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        refused, holder = self.busy_then_invoke(name, {"sleep": 1})
        holder.join()
        self.assertIsNotNone(refused, "throttled")
        self.assertEqual(refused["ResponseMetadata"]["HTTPStatusCode"], 429)
        self.assertEqual(refused["Error"]["Code"], "TooManyRequestsException")
        self.assertEqual(
            (refused["Reason"], refused["Type"], refused["message"]),
            ("ReservedFunctionConcurrentInvocationLimitExceeded", "User", "Rate Exceeded."),
        )
        self.assertEqual(self.throttles(name), 1)
        self.assertEqual([e["reason"] for e in self.logged(name)], ["ReservedFunctionConcurrentInvocationLimitExceeded"])
        self.assertIsNone(self.f.invoke(name)[1], "the slot is free again")
        # "To throttle a function, set the reserved concurrency to zero."
        self.f.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        with self.assertRaises(ClientError):
            self.f.lam.invoke(FunctionName=name, Payload=b"{}")
        self.f.lam.delete_function_concurrency(FunctionName=name)
        self.assertIsNone(self.f.invoke(name)[1])
        self.assertEqual(self.throttles(name), 2)

    def test_an_unreserved_function_meets_the_account_limit(self):
        """Mutant caught: one Reason for both limits -> ReservedFunction... here."""
        name = self.f.create("pool-account")
        quota = lambda_pool.ACCOUNT_CONCURRENCY
        lambda_pool.ACCOUNT_CONCURRENCY = 1
        try:
            refused, holder = self.busy_then_invoke(name, {"sleep": 1})
            holder.join()
        finally:
            lambda_pool.ACCOUNT_CONCURRENCY = quota
        self.assertEqual(refused["Reason"], "ConcurrentInvocationLimitExceeded")

    def test_a_hold_fault_keeps_the_slot_until_a_throttle(self):
        """faults.py `hold_s` with `until_throttled`. Mutant caught: until_throttled ignored ->
        the held invocation takes its whole 5 s."""
        name = self.f.create("pool-hold")
        self.f.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        path = os.path.join(settings.WORK_DIR, "faults.json")
        with open(path, "w") as f:
            json.dump({name: {"remaining": 1, "hold_s": 5, "until_throttled": True}}, f)
        try:
            started = time.time()
            refused, holder = self.busy_then_invoke(name, {})
            holder.join()
            self.assertEqual(refused["Error"]["Code"], "TooManyRequestsException")
            self.assertLess(time.time() - started, 3)
        finally:
            os.remove(path)


class StepFunctionsSeesTheThrottleTest(unittest.TestCase):
    """Step Functions guide, "Handle Lambda service exceptions": "Lambda errors are reported
    as Lambda.ErrorName" and "When Lambda hits the maximum number of invocations, the error is
    Lambda.TooManyRequestsException" (stepfunctions.patch_lambda_service_errors)."""

    def test_a_throttled_task_is_retried_by_its_name(self):
        """Mutant caught: patch_lambda_service_errors not installed -> moto names the error
        "Exception": the Retry never matches (one failed attempt, not two) and the execution
        fails with "Exception"."""
        support.emulator()
        role = support.role("pool-sfn-lambda", "lambda.amazonaws.com", [])
        function = support.function("pool-sfn-f", role, lambda event, env: ('{"ok": true}', False))
        support.client("lambda").put_function_concurrency(FunctionName="pool-sfn-f", ReservedConcurrentExecutions=0)
        machine_role = support.role(
            "pool-sfn-role",
            "states.amazonaws.com",
            [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function}],
        )
        retry = [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 1}]
        definition = {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": function, "Retry": retry, "End": True}}}
        sfn = support.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="pool-sfn", definition=json.dumps(definition), roleArn=machine_role, type="EXPRESS"
        )["stateMachineArn"]
        answer = sfn.start_sync_execution(stateMachineArn=machine, input="{}")
        self.assertEqual((answer["status"], answer.get("error")), ("FAILED", "Lambda.TooManyRequestsException"))
        self.assertIn("Status Code: 429", answer.get("cause", ""))
        history = sfn.get_execution_history(executionArn=answer["executionArn"])["events"]
        failures = [e["lambdaFunctionFailedEventDetails"]["error"] for e in history if e["type"] == "LambdaFunctionFailed"]
        self.assertEqual(failures, ["Lambda.TooManyRequestsException"] * 2, "the first attempt and its retry")


class RuntimeApiTest(unittest.TestCase):
    def test_next_is_answered_only_with_an_invocation(self):
        """Mutant caught: the former one-shot server (a second /next answered 503) -> /next
        answers without an invocation."""
        api = runtime_api.RuntimeApi()
        url = f"http://{api.address}/2018-06-01/runtime/invocation/"
        try:
            got = {}

            def next_event():
                with urllib.request.urlopen(url + "next") as response:
                    got.update(headers=dict(response.headers), body=response.read())

            waiter = threading.Thread(target=next_event)
            waiter.start()
            time.sleep(0.5)
            self.assertEqual(got, {}, "no answer without an invocation")
            invocation = runtime_api.Invocation("req-1", '{"a": 1}', 3, "arn:aws:lambda:eu-west-1:1:function:f")
            api.assign(invocation)
            waiter.join(5)
            self.assertEqual(got["body"], b'{"a": 1}')
            self.assertEqual(got["headers"]["Lambda-Runtime-Aws-Request-Id"], "req-1")
            deadline = int(got["headers"]["Lambda-Runtime-Deadline-Ms"])
            self.assertAlmostEqual(deadline / 1000, time.time() + 3, delta=1)
            with self.assertRaises(urllib.error.HTTPError) as unknown:
                urllib.request.urlopen(urllib.request.Request(url + "req-2/response", data=b"{}", method="POST"))
            self.assertEqual(unknown.exception.code, 400)
            urllib.request.urlopen(urllib.request.Request(url + "req-1/response", data=b'"ok"', method="POST")).read()
            self.assertEqual(invocation.answer, ('"ok"', False))
        finally:
            api.close()


class ShutdownTest(unittest.TestCase):
    """No `bootstrap` outlives the emulator: ended at exit (SIGTERM: atexit), and by the kernel
    if the emulator is killed (SIGKILL: the parent-death signal)."""

    def bootstraps(self, work_dir):
        listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        return [line for line in listing.splitlines() if work_dir in line and "bootstrap" in line]

    def start(self):
        port, work_dir = support.free_port(), tempfile.mkdtemp(prefix="pool-shutdown-")
        launcher = os.path.join(os.path.dirname(support.HERE), "launcher.py")
        process = subprocess.Popen(
            # An API port of its own: the default (port + 1) may be taken on a busy machine.
            [sys.executable, launcher, "--port", str(port), "--work-dir", work_dir, "--api-port", str(support.free_port())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # A failed assertion must not leave an emulator running (its bootstraps follow it).
        self.addCleanup(lambda: process.poll() is None and process.kill())
        self.assertTrue(support.wait_for(lambda: os.path.exists(os.path.join(work_dir, "admin-credentials.json")), 60))
        with open(os.path.join(work_dir, "admin-credentials.json")) as f:
            admin = json.load(f)

        def client(service):
            return boto3.client(
                service,
                endpoint_url=f"http://127.0.0.1:{port}",
                region_name=support.REGION,
                aws_access_key_id=admin["AccessKeyId"],
                aws_secret_access_key=admin["SecretAccessKey"],
                config=Config(retries={"total_max_attempts": 1}),
            )

        def ready():
            try:
                return client("lambda").list_functions() is not None
            except Exception:
                return False

        self.assertTrue(support.wait_for(ready, 60))
        role = client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=support.trust("lambda.amazonaws.com"))
        client("lambda").create_function(
            FunctionName="f",
            Runtime="provided.al2023",
            Role=role["Role"]["Arn"],
            Handler="bootstrap",
            Code={"ZipFile": bootstrap_zip(LOOP_BOOTSTRAP)},
        )
        threads = [
            threading.Thread(target=client("lambda").invoke, kwargs={"FunctionName": "f", "Payload": b'{"sleep": 0.3}'})
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len(self.bootstraps(work_dir)), 2, "two warm environments")
        return process, work_dir

    def test_none_left_after_sigterm(self):
        """Mutant caught (together with the next test's): atexit.register(shutdown) and the
        parent-death signal both removed -> two bootstraps left running."""
        process, work_dir = self.start()
        process.send_signal(signal.SIGTERM)
        process.wait(20)
        self.assertEqual(support.wait_for(lambda: not self.bootstraps(work_dir), 5), True)

    @unittest.skipUnless(shutil.which("setpriv"), "needs util-linux setpriv (the parent-death signal)")
    def test_none_left_after_sigkill(self):
        """Mutant caught: `setpriv --pdeathsig KILL` removed -> the bootstraps survive a killed
        emulator (frozen, forever)."""
        process, work_dir = self.start()
        process.kill()
        process.wait(20)
        self.assertEqual(support.wait_for(lambda: not self.bootstraps(work_dir), 5), True)


if __name__ == "__main__":
    unittest.main()
