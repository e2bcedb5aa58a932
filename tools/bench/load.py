"""The load of `cargo xtask load`: payments POSTed through the deployed API's front door
(API key -> API Gateway -> StartSyncExecution -> the functions), for a bounded time, at a
fixed concurrency (closed model: N clients, each sending its next payment when answered) or
a fixed arrival rate (open model: payment i is due at i / rate seconds; its latency counts
from when it was due, so a slow system cannot hide behind late sends).

The mix repeats every 20 payments: 14 approvable, 3 declined by the fraud rules (a blocked
country), 2 refused by the domain (an unknown currency), 1 replay of a payment already
answered SETTLED. Every answer is checked against what its kind must get; the load reports,
it does not assert timings.

After the load: each function's platform.report records written during it (cold starts,
durations, memory), the throttles the emulator's Lambda recorded, and the nothing-lost
check: every accepted payment (200, 502, 504) is SETTLED or DECLINED in the transactions
table, or was alerted on the failed-transactions topic.
"""

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
import up  # noqa: E402  (payment bodies, the HTTP client)

PATTERN = ["approved"] * 14 + ["declined"] * 3 + ["invalid"] * 2 + ["replayed"]
ANY = object()
# What each kind must be answered: (HTTP status, outcome or error, replayed). A new payment
# may be answered as a replay: when settlement's first attempt committed but its answer was
# lost (under the emulator's latency, the template's 400 ms SDK operation timeout fires after
# DynamoDB applied the write), the workflow's retry finds the recorded decision and answers
# it: exactly once, as designed.
EXPECTED = {
    "approved": (200, "SETTLED", ANY),
    "declined": (200, "DECLINED", ANY),
    "invalid": (422, "InvalidPayment", None),
    "replayed": (200, "SETTLED", True),
}
# The floor's functions do no work (code/bench/src/bin/workflow-floor.rs): every payment of
# the same mix is answered SETTLED, never replayed.
FLOOR_EXPECTED = dict.fromkeys(EXPECTED, (200, "SETTLED", False))


def answered_as(got, expected):
    return all(e is ANY or g == e for g, e in zip(got, expected, strict=True))


class Load:
    """One load against one deployment's endpoint."""

    def __init__(self, endpoint, expected):
        self.url, self.key = endpoint["url"], endpoint["api_key"]
        self.expected = expected
        self.lock = threading.Lock()
        self.samples = []
        self.sent = []  # (transaction_id, status) of every answer
        self.settled = []  # bodies answered SETTLED, for replays
        self.next = 0

    def body(self, kind):
        if kind == "declined":
            return up.payment(country="KP")
        if kind == "invalid":
            return up.payment(currency="XXX")
        if kind == "replayed":
            with self.lock:
                if self.settled:
                    return self.settled[len(self.samples) % len(self.settled)]
            return None  # nothing settled yet: send an approvable payment instead
        return up.payment()

    def one(self, started_at, due):
        with self.lock:
            kind = PATTERN[self.next % len(PATTERN)]
            self.next += 1
        body = self.body(kind)
        if body is None:
            kind, body = "approved", up.payment()
        try:
            status, _, text, _ = up.post(self.url, self.key, body)
        except Exception as error:  # a timeout, a dropped connection: no answer at all
            status, text = 0, f"no answer: {type(error).__name__}"
        ended = time.time()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):  # not JSON, or JSON that is not an object
            answer = {"error": text[:60] if status == 0 else "not a JSON object"}
        got = (status, answer.get("outcome", answer.get("error")), answer.get("replayed"))
        with self.lock:
            self.samples.append(
                {
                    "t": round(ended - started_at, 3),
                    "ms": round((ended - due) * 1000, 1),
                    "kind": kind,
                    "answer": f"{got[0]} {got[1]}",
                    "expected": answered_as(got, self.expected[kind]),
                }
            )
            self.sent.append((body["transaction_id"], status))
            if got[:2] == (200, "SETTLED"):
                self.settled.append(body)

    def progress(self, started_at, seconds, stop):
        while not stop.wait(1.0):
            with self.lock:
                done = len(self.samples)
                unexpected = sum(1 for s in self.samples if not s["expected"])
                latencies = sorted(s["ms"] for s in self.samples[-200:])
            elapsed = time.time() - started_at
            p50 = latencies[len(latencies) // 2] if latencies else 0
            print(
                f"\r   {elapsed:5.0f}/{seconds} s  {done} answered  {done / elapsed:6.1f}/s  "
                f"recent p50 {p50:.0f} ms  unexpected {unexpected}   ",
                end="",
                file=sys.stderr,
                flush=True,
            )
        print(file=sys.stderr, flush=True)

    def run(self, seconds, mode, n):
        started_at = time.time()
        deadline = started_at + seconds
        stop = threading.Event()
        reporter = threading.Thread(target=self.progress, args=(started_at, seconds, stop), daemon=True)
        reporter.start()
        if mode == "concurrency":
            failures = []

            def client():
                try:
                    while time.time() < deadline:
                        self.one(started_at, time.time())
                except Exception as error:  # a failure of the harness itself, not an answer
                    failures.append(error)

            threads = [threading.Thread(target=client) for _ in range(n)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                raise failures[0]
        elif mode == "rate":
            # Enough clients that a due payment waits for one only when the system is slower
            # than 64 in flight can carry; that wait is part of its latency.
            with ThreadPoolExecutor(max_workers=64) as pool:
                i, sent = 0, []
                while True:
                    due = started_at + i / n
                    if due >= deadline:
                        break
                    time.sleep(max(0.0, due - time.time()))
                    sent.append(pool.submit(self.one, started_at, due))
                    i += 1
                for future in sent:
                    future.result()  # a failure of the harness itself ends the load, loudly
        else:
            raise SystemExit(f"unknown load mode {mode!r}")
        wall = time.time() - started_at
        stop.set()
        reporter.join()
        return wall


def log_offsets(work_dir):
    """Where each function log ends now: what the load writes comes after."""
    folder = os.path.join(work_dir, "logs")
    if not os.path.isdir(folder):
        return {}
    return {name: os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)}


def lambda_records(work_dir, offsets):
    """Per function: invocations, cold starts, durations and peak memory from the
    platform.report records written after `offsets`, and throttles from the emulator's
    record of them (tools/emulator, logs/lambda-throttles.log)."""
    folder = os.path.join(work_dir, "logs")
    functions = {}
    for name in sorted(os.listdir(folder)):
        if not name.startswith("payment-") or not name.endswith(".log"):
            continue
        function = name[: -len(".log")]
        with open(os.path.join(folder, name), "rb") as log:
            log.seek(offsets.get(name, 0))
            lines = log.read().decode(errors="replace").splitlines()
        stats = {"invocations": 0, "cold_starts": 0, "throttles": 0, "durations_ms": [], "max_memory_mb": 0}
        for line in lines:
            if '"platform.report"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            metrics = record.get("record", {}).get("metrics", {})
            stats["invocations"] += 1
            stats["cold_starts"] += "initDurationMs" in metrics
            stats["durations_ms"].append(metrics.get("durationMs", 0))
            stats["max_memory_mb"] = max(stats["max_memory_mb"], metrics.get("maxMemoryUsedMB", 0))
        if stats["invocations"]:
            functions[function] = stats
    throttles = os.path.join(folder, "lambda-throttles.log")
    if os.path.exists(throttles):
        with open(throttles, "rb") as log:
            log.seek(offsets.get("lambda-throttles.log", 0))
            for line in log.read().decode(errors="replace").splitlines():
                try:
                    function = json.loads(line)["function"]
                except (ValueError, KeyError):
                    continue
                functions.setdefault(
                    function, {"invocations": 0, "cold_starts": 0, "throttles": 0, "durations_ms": [], "max_memory_mb": 0}
                )
                functions[function]["throttles"] += 1
    for stats in functions.values():
        durations = sorted(stats.pop("durations_ms"))
        stats["duration_ms_p50"] = durations[len(durations) // 2] if durations else 0.0
        stats["duration_ms_p99"] = durations[min(len(durations) - 1, int(len(durations) * 0.99))] if durations else 0.0
    return functions


def nothing_lost(world, sent, settle_s=60):
    """Accepted payments (200, 502, 504) that are neither SETTLED nor DECLINED nor alerted,
    after giving the workflow's stragglers `settle_s` seconds."""
    accepted = sorted({tid for tid, status in sent if status in (200, 502, 504)})

    def lost():
        status = {i["transaction_id"]["S"]: i["status"]["S"] for i in world.items()}
        return [t for t in accepted if status.get(t) not in ("SETTLED", "DECLINED") and not world.alerts(t)]

    deadline = time.time() + settle_s
    missing = lost()
    while missing and time.time() < deadline:
        time.sleep(1)
        missing = lost()
    return len(accepted), missing


def run(world, endpoint, work_dir, seconds, mode, n, deployment):
    """The load, its Lambda records and (for the real workflow) the nothing-lost check."""
    offsets = log_offsets(work_dir)
    load = Load(endpoint, FLOOR_EXPECTED if deployment == "floor" else EXPECTED)
    wall = load.run(seconds, mode, n)
    result = {
        "deployment": deployment,
        "wall_s": round(wall, 3),
        "samples": sorted(load.samples, key=lambda s: s["t"]),
        "functions": lambda_records(work_dir, offsets),
    }
    if world is not None:
        accepted, lost = nothing_lost(world, load.sent)
        result["accepted"], result["lost"] = accepted, lost
    return result
