"""Lambda's execution environments, kept as Lambda keeps them: per function, long-lived
`bootstrap` processes, each with its own Runtime API (runtime_api.py), reused while warm,
never more of them busy than the function's concurrency allows.

AWS facts this module follows:

* "When the function returns a response, it stays active and waits to process additional
  events. If you invoke the function again while the first event is being processed, Lambda
  initializes another instance" ("Lambda function scaling",
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-scaling.html, as archived in
  awsdocs/aws-lambda-developer-guide doc_source/invocation-scaling.md); an environment's Init
  ends when the runtime sends its first Next request ("Understanding the Lambda execution
  environment lifecycle", https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html);
* "If the Lambda function crashes or times out during the Invoke phase, Lambda resets the
  execution environment" (same page): that environment alone is ended;
* "Lambda maintains the execution environment for some time in anticipation of another
  function invocation. In effect, Lambda freezes the execution environment" (same page): a
  waiting runtime is stopped (SIGSTOP) and continued (SIGCONT) for its next event; how long
  an idle environment is kept is not published (AWS re:Post, "Lambda runtime refresh period
  limit": "We do not publish these values"), so `settings.LAMBDA_IDLE_S` (300 s) is this
  emulator's choice;
* "Reserved concurrency also limits the maximum concurrency for the function" and "To
  throttle a function, set the reserved concurrency to zero" ("Configuring reserved
  concurrency", https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html);
  a function without reserved concurrency shares the account's quota: "The default regional
  concurrency quota starts at 1,000 instances" (invocation-scaling, above), approximated here
  as 1,000 for each function on its own (`ACCOUNT_CONCURRENCY`);
* a throttled Invoke answers 429 TooManyRequestsException, Reason
  `ReservedFunctionConcurrentInvocationLimitExceeded` "when a function with reserved
  concurrency exceeds its configured concurrency limit", `ConcurrentInvocationLimitExceeded`
  for a function without reserved concurrency over the account's limit (Lambda API
  reference, Invoke, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).

Not emulated: Lambda's scaling rate ("1,000 execution environment instances every 10
seconds" per function, https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html),
provisioned concurrency, and the periodic recycling of busy environments ("every few hours").
"""

import atexit
import os
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import runtime_api
import settings

ACCOUNT_CONCURRENCY = 1000  # Lambda's default concurrency quota of an account and Region
INIT_LIMIT_S = 10  # "The Init phase is limited to 10 seconds" (lifecycle page)
RESERVED, UNRESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded", "ConcurrentInvocationLimitExceeded"

# What became of an invocation handed to an environment.
ANSWERED, TIMED_OUT, EXITED, INIT_FAILED, NOT_DELIVERED = "answered", "timed out", "exited", "init failed", "not delivered"


class Throttled(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def concurrency_limit(function):
    """(limit, throttle reason) of `function` (moto keeps ReservedConcurrentExecutions, from
    the template and from PutFunctionConcurrency, as `reserved_concurrency`)."""
    reserved = getattr(function, "reserved_concurrency", None)
    if reserved is None or reserved == "":
        return ACCOUNT_CONCURRENCY, UNRESERVED
    return int(reserved), RESERVED


# Every process is started from one long-lived thread: with `setpriv --pdeathsig KILL` the
# kernel then ends the environments if the emulator itself is killed (the parent-death
# signal follows the thread that started the child, and request threads end).
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-spawner")
_SETPRIV = shutil.which("setpriv")


def _spawn(command, env, log):
    prefix = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []
    return _SPAWNER.submit(subprocess.Popen, prefix + command, env=env, stdout=log, stderr=log).result()


class Environment:
    """One `bootstrap` process and its Runtime API, for one configuration of one function."""

    def __init__(self, key, command, env, log_path):
        self.key = key
        self.busy = True  # created for the invocation that needs it
        self.invocations = 0
        self.last_used = time.time()
        self.api = runtime_api.RuntimeApi(freeze=lambda: self._signal(signal.SIGSTOP), thaw=lambda: self._signal(signal.SIGCONT))
        self.log = open(log_path, "ab")
        self.spawned = time.time()
        self.process = _spawn(command, {**env, "AWS_LAMBDA_RUNTIME_API": self.api.address}, self.log)

    def _signal(self, number):
        try:
            os.kill(self.process.pid, number)
        except (ProcessLookupError, AttributeError):
            pass

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def init_duration_ms(self):
        return round((self.api.first_next_at - self.spawned) * 1000, 2) if self.api.first_next_at else None

    def max_memory_mb(self):
        """Peak resident memory of the environment's process (VmHWM), in MB rounded up: Lambda
        reports "the maximum memory used across all invocations" of an environment."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return -(-int(line.split()[1]) // 1024)
        except OSError:
            pass
        return 0

    def run(self, invocation):
        """Hands `invocation` to the runtime; waits for its answer, its deadline, or the end of
        the process. Returns one of ANSWERED, TIMED_OUT, EXITED, INIT_FAILED, NOT_DELIVERED."""
        cold = self.invocations == 0
        self.invocations += 1
        assigned = time.time()
        self.api.assign(invocation)
        while True:
            if invocation.done.wait(0.05):
                return ANSWERED
            if self.api.init_error is not None:
                return INIT_FAILED
            if not self.alive():
                # The answer is posted before a runtime exits: look once more.
                if invocation.done.is_set():
                    return ANSWERED
                return EXITED if invocation.delivered_at is not None or cold else NOT_DELIVERED
            now = time.time()
            # The function's timeout limits the Invoke phase; a cold start has its Init phase
            # (10 s) before it.
            limit = invocation.deadline or assigned + (INIT_LIMIT_S if cold else 0) + invocation.timeout_s
            if now > limit:
                return TIMED_OUT

    def end(self):
        """SIGKILL (a frozen process too), as Lambda ends an environment it resets or retires."""
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.api.close()
        self.log.close()


class FunctionPool:
    """The environments of one function, and how many invocations it is running."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.environments = []
        self.in_use = 0
        self.throttles = 0
        self.throttled = threading.Condition(self.lock)

    def acquire(self, limit, reason, key):
        """A slot for one invocation, with a warm environment of configuration `key` if one is
        idle (else None: the caller starts one and `adopt`s it). Raises Throttled."""
        retired = []
        with self.lock:
            if self.in_use >= limit:
                self.throttles += 1
                self.throttled.notify_all()
                raise Throttled(reason)
            self.in_use += 1
            found = None
            for env in reversed(self.environments):  # the most recently used first
                if env.busy:
                    continue
                if env.key != key or not env.alive():
                    retired.append(env)  # an old configuration, or a runtime that exited
                elif found is None:
                    found = env
            for env in retired:
                self.environments.remove(env)
            if found is not None:
                found.busy = True
        for env in retired:
            env.end()
        return found

    def adopt(self, env):
        with self.lock:
            self.environments.append(env)

    def release(self, env, key, keep=True):
        """Ends the invocation's slot; its environment waits for the next event, or is retired
        (reset after a failure, replaced by a newer configuration)."""
        with self.lock:
            self.in_use -= 1
            if env is None:
                return
            env.busy = False
            env.last_used = time.time()
            keep = keep and env.key == key and env.alive()
            if not keep and env in self.environments:
                self.environments.remove(env)
        if not keep:
            env.end()

    def discard(self, env):
        """Retires `env`; its invocation keeps its slot (it goes on to another environment)."""
        with self.lock:
            if env in self.environments:
                self.environments.remove(env)
        env.end()

    def wait_for_throttle(self, since, timeout):
        """Blocks until this function has been throttled more than `since` times, or `timeout`."""
        with self.lock:
            return self.throttled.wait_for(lambda: self.throttles > since, timeout)

    def idle_longer_than(self, seconds):
        now = time.time()
        with self.lock:
            old = [e for e in self.environments if not e.busy and (now - e.last_used > seconds or not e.alive())]
            for env in old:
                self.environments.remove(env)
        return old

    def close(self):
        with self.lock:
            environments, self.environments = self.environments, []
        for env in environments:
            env.end()


_POOLS = {}
_POOLS_LOCK = threading.Lock()
_REAPER = []


def pool_of(function_arn, name=""):
    with _POOLS_LOCK:
        pool = _POOLS.get(function_arn)
        if pool is None:
            pool = _POOLS[function_arn] = FunctionPool(name)
        if not _REAPER:
            _REAPER.append(threading.Thread(target=_reap, daemon=True, name="lambda-reaper"))
            _REAPER[0].start()
            atexit.register(shutdown)
        return pool


def pools():
    with _POOLS_LOCK:
        return list(_POOLS.values())


def _reap():
    """Ends environments idle longer than settings.LAMBDA_IDLE_S (and those whose runtime
    exited): SIGKILL while the runtime waits, frozen, in /next."""
    while True:
        time.sleep(max(0.05, min(1.0, settings.LAMBDA_IDLE_S / 4)))
        for pool in pools():
            for env in pool.idle_longer_than(settings.LAMBDA_IDLE_S):
                env.end()


def shutdown():
    """Ends every environment (at the emulator's exit: no `bootstrap` is left running)."""
    for pool in pools():
        pool.close()
