"""The end-to-end suite (a stage of `cargo xtask test`): a fresh embedded AWS, the template
deployed unchanged, the merchants onboarded as an operator would (tools/emulator/onboarding.py),
and every payment POSTed over HTTP with an API key through the emulator's API Gateway.
Every answer's status and JSON body is asserted, and every scenario checks its evidence in
the emulator's services, not only the answer. Faults are injected on the emulator's side
(tools/emulator/faults.py). At the end: the template's saved Logs Insights queries over the
functions' real log lines, and the exactly-once invariant over the whole state.

Outputs, deterministic and compared with the checked-in files (rewritten when
UPDATE_GENERATED is set): --results (scenario / evidence / result) and, next to it,
client-contract.md (the client contract as observed) and fidelity.md (what the emulator
executes, approximates or leaves out, with the scenarios that showed it in this run).

Usage: python suite.py --repo DIR --port PORT --work-dir DIR --results FILE [--contract FILE]
  E2E_ONLY=name,name  runs only the scenarios whose name contains one of these (development)
"""

import argparse
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "emulator"))

import fidelity  # noqa: E402
import invariants  # noqa: E402
import onboarding  # noqa: E402
import reports  # noqa: E402
import saved_queries  # noqa: E402
import scenarios_contract  # noqa: E402
import scenarios_deploy  # noqa: E402
import scenarios_faults  # noqa: E402
import scenarios_lambda  # noqa: E402
import scenarios_permissions  # noqa: E402
import up  # noqa: E402  (the same deployment steps as `cargo xtask up`)
from http_api import Api  # noqa: E402
from world import World  # noqa: E402


class Context:
    """What every scenario gets: the client, the emulator's state, the results, the contract."""

    def __init__(self, api, world, results, contract):
        self.api, self.world, self.results, self.contract = api, world, results, contract
        self.refused = []  # transaction ids of payments the API or the workflow refused
        self.approved = None
        self.errors_at_start = {}

    def bind_key(self, merchant_id, key_id):
        onboarding.bind_key(self.world.aws, self.world.merchants, merchant_id, key_id)


def scenarios(repo):
    """(name, function, args) in the order they run. The client-mistake scenarios come first,
    with no fault armed, so that any function error during them is theirs."""
    return [
        ("approved, replay, second merchant", scenarios_contract.approved, ()),
        ("declines", scenarios_contract.declines, ()),
        ("API keys and merchant binding", scenarios_contract.keys, ()),
        ("over the usage plan", scenarios_contract.over_the_usage_plan, ()),
        ("malformed, refused and oversized bodies", scenarios_contract.bad_bodies, ()),
        ("reused transaction_id", scenarios_contract.reused_id, ()),
        ("refused payments left nothing", scenarios_contract.nothing_left_behind, ()),
        ("transient settlement faults", scenarios_faults.transient_settlement_faults, ()),
        ("commit, then lose the answer", scenarios_faults.answer_lost_after_commit, ()),
        ("TransactionConflict", scenarios_faults.transaction_conflict, ()),
        ("notifier fails before announcing", scenarios_faults.notifier_fails_before_announcing, ()),
        ("stream record delivered twice", scenarios_faults.delivered_twice, ()),
        ("same card, concurrently", scenarios_faults.same_card_concurrently, ()),
        ("same payment 50 times", scenarios_faults.same_payment_at_once, ()),
        ("Step Functions refuses the start", scenarios_faults.step_functions_refusals, ()),
        ("permissions: validator", scenarios_permissions.validator_cannot_read_merchants, ()),
        ("permissions: API role", scenarios_permissions.api_cannot_start_the_workflow, ()),
        ("permissions: API role trust", scenarios_permissions.api_role_trust_demands_source_account, ()),
        ("batch of 200", scenarios_faults.batch, ()),
        ("DLQ, then the reconciler", scenarios_faults.notification_parked_then_reconciled, ()),
        ("saved Logs Insights queries", saved_queries.run_all, (repo,)),
        ("the invariant", invariants.check_all, ()),
        ("the operator's commands", scenarios_deploy.operator_commands, (repo,)),
        # Last: a second stack, deployed by `cargo xtask deploy --emulator` (the suite's own
        # stack is already checked, so nothing of it can be disturbed).
        ("the deploy tool", scenarios_deploy.deploy_tool, (repo,)),
        # Added after the deploy tool so that the numbers above stay; they use the suite's
        # own stack, which the deploy tool leaves alone.
        ("reserved concurrency: settlement throttled", scenarios_lambda.throttled_settlement, ()),
        ("warm execution environments", scenarios_lambda.warm_environments, ()),
        ("no runtime panics", scenarios_lambda.no_runtime_panics, ()),
    ]


def compare_or_write(path, fresh):
    if os.environ.get("UPDATE_GENERATED"):
        with open(path, "w") as out:
            out.write(fresh)
        return True
    current = open(path).read() if os.path.exists(path) else ""
    if current != fresh:
        print(f"--- {path} as this run generated it:\n{fresh}")
        return False
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--contract", help="default: client-contract.md next to --results")
    args = parser.parse_args()
    generated = os.path.dirname(os.path.abspath(args.results))
    contract_path = args.contract or os.path.join(generated, "client-contract.md")
    fidelity_path = os.path.join(generated, "fidelity.md")
    # A fresh work dir: function logs, faults and the emulator's files of an earlier run would
    # mix into this run's evidence.
    for name in ("logs", "functions"):
        shutil.rmtree(os.path.join(args.work_dir, name), ignore_errors=True)
    for name in ("faults.json", "faults.log", "streams.log", "emulator.log"):
        if os.path.exists(os.path.join(args.work_dir, name)):
            os.remove(os.path.join(args.work_dir, name))
    os.makedirs(args.work_dir, exist_ok=True)
    results, contract = reports.Results(), reports.Contract()
    started = time.time()
    emulator = up.start_emulator(args.repo, args.port, args.work_dir)
    try:
        aws = up.clients(args.port)
        status, outputs = results.timed("deploy", up.deploy, args.repo, aws, up.parameters(args.repo)) or (None, {})
        if status != "CREATE_COMPLETE":
            raise SystemExit(f"the stack did not deploy: {status}; see {args.work_dir}/emulator.log")
        onboarded = results.timed("onboarding", up.seed_merchants, aws, outputs)
        endpoint = up.write_endpoint(onboarding.endpoint(aws, up.STACK, emulator.api_port, args.port, onboarded),
                                     args.work_dir)
        world = World(aws, outputs, args.work_dir, up.STACK)
        ctx = Context(Api(endpoint, onboarded), world, results, contract)
        ctx.errors_at_start = world.error_lines()
        only = [n.strip() for n in os.environ.get("E2E_ONLY", "").split(",") if n.strip()]
        for name, function, extra in scenarios(args.repo):
            if only and not any(o in name for o in only):
                continue  # E2E_ONLY: a subset while developing (the results then differ)
            results.timed(name, function, ctx, *extra)
            world.clear()
        world.messages("FailedTransactionsTopicArn")  # the last alerts, before the emulator stops
    finally:
        up.stop_emulator(emulator, args.work_dir)
    total = time.time() - started
    print("\n== timings")
    for name, seconds in results.timings:
        print(f"   {seconds:6.1f} s  {name}")
    print(f"   {total:6.1f} s  in all")
    alerts = [m.get("Message") or "" for m in world.delivered["FailedTransactionsTopicArn"]]
    if os.environ.get("E2E_ONLY"):
        same = True  # a subset: the generated files describe the whole suite, left alone
        print("(E2E_ONLY: the generated files are neither compared nor written)")
    else:
        same = compare_or_write(args.results, results.markdown())
        same = compare_or_write(contract_path, contract.markdown(lambda t: any(t in m for m in alerts))) and same
        # The fidelity report, each "executed" row shown only when its scenarios passed here.
        report = reports.HEADER + "\n" + fidelity.render(fidelity.ROWS, fidelity.scenarios_passed(results.rows))
        same = compare_or_write(fidelity_path, report) and same
    failed = [row for row in results.rows if not row[2]]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(results.rows)} end-to-end checks failed")
    if not same:
        raise SystemExit("the generated files differ from this run; run `cargo xtask regen` if the change is intended")
    print(f"e2e: {len(results.rows)} passed, 0 failed")


if __name__ == "__main__":
    main()
