"""The emulator backend of `cargo xtask bench`: starts the embedded AWS, deploys the template
unchanged (the steps of `cargo xtask up`), seeds the merchant, and describes each deployed
function (its environment as CloudFormation set it) in a JSON file, so the benchmark can run
the release binaries against the same tables, bucket, topic and secret.

Then it reads commands from stdin, one per line:
  pipeline N C OUT       N payments through StartSyncExecution, C at a time; timings to OUT
  load S MODE N DEP OUT  S seconds of payments over HTTP (load.py; MODE concurrency or rate,
                         N clients or payments per second; DEP workflow or floor); to OUT
and stops the emulator when stdin closes.

Usage: python backend.py --repo DIR --port PORT --work-dir DIR --describe FILE [--packages DIR]
  --packages DIR   deploy DIR/<function>.zip instead of the packages `cargo xtask package` built
"""

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import load  # noqa: E402
import onboarding  # noqa: E402
import up  # noqa: E402  (the steps of `cargo xtask up`)

# The end-to-end suite's view of the emulator's state (records, topics' deliveries), which
# the load's nothing-lost check reads as the suite's invariant does.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
from world import World  # noqa: E402


def describe(repo, aws, outputs, port, work_dir):
    functions = {}
    for crate in sorted(os.listdir(os.path.join(repo, "code", "functions"))):
        config = aws["lambda"].get_function_configuration(FunctionName=f"payment-{crate}-local")
        functions[crate] = {
            "name": config["FunctionName"],
            "memory_mb": config["MemorySize"],
            "timeout_s": config["Timeout"],
            "environment": config.get("Environment", {}).get("Variables", {}),
        }
    # The benchmark runs each release binary outside the emulator's Lambda, which alone may
    # assume the execution roles (their trust policies name only lambda.amazonaws.com): it
    # signs with the emulator's administrator keys. IAM is still evaluated on every call.
    admin = up.admin_credentials(work_dir)
    return {
        "endpoint": f"http://127.0.0.1:{port}",
        "credentials": {"access_key_id": admin["AccessKeyId"], "secret_access_key": admin["SecretAccessKey"]},
        # The key id onboarding bound to each sample merchant: the validator's caller.
        "api_key_ids": dict(up.BOUND_KEYS),
        "region": up.REGION,
        "state_machine_arn": outputs["StateMachineArn"],
        "functions": functions,
    }


def pipeline(aws, outputs, count, concurrency):
    """A fixed batch of approvable payments; the outcome of each is counted, whatever it is."""
    lock = threading.Lock()
    latencies, outcomes = [], {}

    def one(_):
        status, output, error, elapsed = up.run(aws, outputs, up.payment())
        outcome = output.get("outcome") or error or status
        with lock:
            latencies.append(elapsed)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    started = time.time()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    wall = time.time() - started
    return {
        "payments": count,
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "latencies_ms": sorted(latencies),
        "outcomes": outcomes,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--describe", required=True)
    parser.add_argument("--packages")
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    emulator = up.start_emulator(args.repo, args.port, args.work_dir)
    try:
        aws = up.clients(args.port)
        status, outputs = up.deploy(args.repo, aws, up.parameters(args.repo), args.packages)
        if status != "CREATE_COMPLETE":
            raise SystemExit(f"the stack ended {status}; see {args.work_dir}/emulator.log")
        onboarded = up.seed_merchants(aws, outputs)
        with open(args.describe, "w") as f:
            json.dump(describe(args.repo, aws, outputs, args.port, args.work_dir), f, indent=2)
        print("ready", flush=True)
        world = None
        for line in sys.stdin:
            command = line.split()
            if command[:1] == ["pipeline"]:
                count, concurrency, out = int(command[1]), int(command[2]), command[3]
                with open(out, "w") as f:
                    json.dump(pipeline(aws, outputs, count, concurrency), f)
                print("done", flush=True)
            elif command[:1] == ["load"]:
                seconds, mode, n, deployment, out = int(command[1]), command[2], float(command[3]), command[4], command[5]
                endpoint = onboarding.endpoint(aws, up.STACK, emulator.api_port, args.port, onboarded)
                if world is None and deployment == "workflow":
                    # Before the load: the topics' taps must be subscribed to see its alerts.
                    world = World(aws, outputs, args.work_dir, up.STACK)
                n = int(n) if mode == "concurrency" else n
                result = load.run(world, endpoint, args.work_dir, seconds, mode, n, deployment)
                with open(out, "w") as f:
                    json.dump(result, f)
                print("done", flush=True)
            else:
                raise SystemExit(f"unknown command {line!r}")
    finally:
        up.stop_emulator(emulator, args.work_dir)


if __name__ == "__main__":
    main()
