"""Lambda's execution environments and concurrency (issue 16), as the emulator keeps them
(tools/emulator/lambda_pool.py): a function over its reserved concurrency is throttled
(429 TooManyRequestsException), the throttle shows in CloudWatch, and the workflow's Retry
on `Lambda.TooManyRequestsException` absorbs it; environments are reused warm; no runtime
panics in any function's log.

The evidence strings stay deterministic (the results file is compared): counts that depend
on timing (how many throttles) are printed, and the checks state relations between them."""

import copy
import os
from concurrent.futures import ThreadPoolExecutor

import onboarding
from http_api import payment

SETTLEMENT = "SettlementFunction"
THROTTLE_ERROR = "Lambda.TooManyRequestsException"
RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
# The runtime's panic when a second /next is answered without an invocation (the emulator's
# former one-shot Runtime API); any other panic is a real one.
REQUEST_ID_PANIC = "missing lambda-runtime-aws-request-id header"


def own_api(ctx):
    """The suite's API addressed by its id: these scenarios run after the deploy tool's stack,
    whose API has a stage of the same name (apigateway.py then needs
    /restapis/{api_id}/{stage}/_user_request_/...)."""
    api = onboarding.api_of(ctx.world.aws, ctx.world.stack)
    origin = "/".join(ctx.api.url.split("/")[:3])
    explicit = copy.copy(ctx.api)  # the same keys, and the same record of what was sent
    explicit.url = f"{origin}/restapis/{api['api_id']}/{api['stage']}/_user_request_{api['path']}"
    return explicit


def throttled_settlement(ctx, payments=3):
    """The settlement function's reserved concurrency lowered to 1 (PutFunctionConcurrency, as
    an operator would; restored afterwards). The first settlement holds its environment
    (faults.py `hold_s` with `until_throttled`: until another settlement has been throttled,
    at most 1.5 s, below the task's 2 s TimeoutSeconds), so payments sent at once meet a full
    concurrency deterministically. Step Functions sees the throttle as
    Lambda.TooManyRequestsException and retries it (the template's Retry on Settle); every
    payment settles."""
    api, world, check = own_api(ctx), ctx.world, ctx.results.check
    settlement = world.function(SETTLEMENT)
    lam = world.aws["lambda"]
    reserved = lam.get_function_concurrency(FunctionName=settlement).get("ReservedConcurrentExecutions")
    counted_before, logged_before = world.throttles(settlement), len(world.throttle_lines(settlement))
    fired_before = world.fired(settlement)
    bodies = [payment() for _ in range(payments)]
    lam.put_function_concurrency(FunctionName=settlement, ReservedConcurrentExecutions=1)
    try:
        world.arm(settlement, remaining=1, hold_s=1.5, until_throttled=True)
        with ThreadPoolExecutor(max_workers=payments) as pool:
            answers = list(pool.map(api.post, bodies))
    finally:
        world.clear()
        if reserved is None:
            lam.delete_function_concurrency(FunctionName=settlement)
        else:
            lam.put_function_concurrency(FunctionName=settlement, ReservedConcurrentExecutions=reserved)
    restored = lam.get_function_concurrency(FunctionName=settlement).get("ReservedConcurrentExecutions")
    tids = [b["transaction_id"] for b in bodies]
    settled = [a for a in answers if a.status == 200 and a.get("outcome") == "SETTLED"]
    recorded = [t for t in tids if world.status(t) == "SETTLED"]
    check(
        f"39 settlement's reserved concurrency lowered to 1, {payments} payments at once: every one 200 SETTLED "
        "and recorded SETTLED; the reserved concurrency restored afterwards",
        f"{len(settled)} of {payments} answered 200 SETTLED, {len(recorded)} recorded SETTLED, "
        f"hold fault fired {world.fired(settlement) - fired_before}, restored={restored == reserved}",
        len(settled) == payments
        and len(recorded) == payments
        and world.fired(settlement) - fired_before == 1
        and restored == reserved,
    )
    counted = world.throttles(settlement) - counted_before
    logged = world.throttle_lines(settlement)[logged_before:]
    reasons = sorted({entry["reason"] for entry in logged})
    retried = sum(world.failed_attempts(t, SETTLEMENT, cause=THROTTLE_ERROR) for t in tids)
    print(f"   ({counted} throttles counted, {len(logged)} logged, {retried} failed attempts named {THROTTLE_ERROR})", flush=True)
    check(
        "39 the throttles are visible: AWS/Lambda Throttles datapoints for the function in CloudWatch, the same "
        "number in logs/lambda-throttles.log, with Lambda's Reason",
        f"at least one throttle: {counted >= 1}; CloudWatch and the log agree: {counted == len(logged)}; reasons {reasons}",
        counted >= 1 and counted == len(logged) and reasons == [RESERVED_REASON],
    )
    check(
        f"39 Step Functions saw each throttle as {THROTTLE_ERROR} (execution history) and retried it: no payment failed",
        f"every throttle is a failed attempt named {THROTTLE_ERROR}: {retried == counted}; "
        f"all retried to SETTLED: {len(recorded) == payments}",
        retried == counted and retried >= 1 and len(recorded) == payments,
    )


def warm_environments(ctx):
    """Two payments in a row after the suite: their settlements run on environments started
    earlier (no initDurationMs in their reports), while the run's first settlement was a cold
    start; every initDurationMs belongs to an environment's first invocation (as many as the
    platform.initStart records)."""
    api, world, check = own_api(ctx), ctx.world, ctx.results.check
    settlement = world.function(SETTLEMENT)
    tids = []
    for _ in range(2):
        body = payment()
        answer = api.pay(body)
        tids.append((body["transaction_id"], answer.status == 200 and answer.get("outcome") == "SETTLED"))
    lines = world.log_lines(settlement)
    request_ids = {
        (p.get("fields") or {}).get("transaction_id"): (p.get("span") or {}).get("requestId")
        for _, p in lines
        if p and (p.get("fields") or {}).get("message") == "decision recorded"
    }
    reports = world.system_records(settlement, "platform.report")
    by_request = {r["record"]["requestId"]: r["record"]["metrics"] for r in reports}
    ours = [by_request.get(request_ids.get(tid)) for tid, _ in tids]
    warm = [m is not None and "initDurationMs" not in m for m in ours]
    cold = [r for r in reports if "initDurationMs" in r["record"]["metrics"]]
    starts = world.system_records(settlement, "platform.initStart")
    print(f"   ({len(reports)} settlement reports, {len(cold)} cold starts)", flush=True)
    check(
        "40 warm execution environments: two payments in a row settle on warm environments (no initDurationMs); "
        "the run's first settlement was cold; initDurationMs only on each environment's first invocation",
        f"settled {[ok for _, ok in tids]}, warm {warm}; first report cold: "
        f"{bool(reports) and 'initDurationMs' in reports[0]['record']['metrics']}; "
        f"cold reports = platform.initStart records: {len(cold) == len(starts)}; fewer cold starts than "
        f"invocations: {len(cold) < len(reports)}",
        all(ok for _, ok in tids)
        and all(warm)
        and reports
        and "initDurationMs" in reports[0]["record"]["metrics"]
        and len(cold) == len(starts)
        and len(cold) < len(reports),
    )


def no_runtime_panics(ctx):
    """After the whole suite: no function's log has a panic (the suite's stack and the deploy
    tool's), in particular not the runtime's "missing lambda-runtime-aws-request-id header"
    that answering /next without an invocation causes (environments are ended with SIGKILL
    while they wait, frozen, in /next)."""
    world, check = ctx.world, ctx.results.check
    folder = os.path.join(world.work_dir, "logs")
    names = sorted(n[: -len(".log")] for n in os.listdir(folder) if n.endswith(".log") and n.startswith("payment-"))
    request_id, other = 0, []
    for name in names:
        for raw, _ in world.log_lines(name):
            if REQUEST_ID_PANIC in raw:
                request_id += 1
            elif "panicked at" in raw:
                other.append(f"{name}: {raw[:160]}")
    for line in other[:5]:
        print(f"   {line}", flush=True)
    check(
        "41 no runtime panics in any function's log (the request-id panic of an unanswered /next, or any other)",
        f"{request_id} request-id panics, {len(other)} other panics, in {len(names)} function logs (both stacks)",
        request_id == 0 and not other and names,
    )
