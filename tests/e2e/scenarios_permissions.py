"""Permissions enforced (issue 14): take one permission the code uses away from one deployed
role, see the call fail the way AWS fails it (the answer, the function's log), put it back,
and see the same payment succeed. Kept mutants: they prove the emulator's IAM enforcement
(tools/emulator/iam.py) is on, so a role missing a permission fails the suite."""

import ast
import json
import time

from http_api import payment
from world import wait_for


def policy_document(document):
    """A policy document as GetRolePolicy returns it. AWS returns URL-encoded JSON (boto3
    decodes it); moto's CloudFormation stores a role's inline policy as a Python repr, which
    GetRolePolicy hands back as is (an emulator gap: accepted here, reported)."""
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return ast.literal_eval(document)


def without_action(document, action):
    """The policy document with `action` removed from every statement (statements left with
    no action dropped)."""
    statements = []
    for statement in document["Statement"]:
        actions = statement.get("Action")
        listed = actions if isinstance(actions, list) else [actions]
        kept = [a for a in listed if a != action]
        if not kept:
            continue
        statements.append(dict(statement, Action=kept if isinstance(actions, list) or len(kept) > 1 else kept[0]))
    return dict(document, Statement=statements)


class InlinePolicy:
    """One deployed role's inline policy that grants `action`, restorable."""

    def __init__(self, world, role_logical_id, action):
        self.iam = world.aws["iam"]
        self.role = world.physical(role_logical_id)
        self.action = action
        for name in self.iam.list_role_policies(RoleName=self.role)["PolicyNames"]:
            document = policy_document(self.iam.get_role_policy(RoleName=self.role, PolicyName=name)["PolicyDocument"])
            if action in json.dumps(document):
                self.name, self.original = name, document
                return
        raise AssertionError(f"no inline policy of {self.role} grants {action}")

    def __enter__(self):
        mutant = without_action(self.original, self.action)
        if mutant["Statement"]:
            self.iam.put_role_policy(RoleName=self.role, PolicyName=self.name, PolicyDocument=json.dumps(mutant))
        else:  # IAM refuses an empty Statement: the policy granted only this action, so it goes
            self.iam.delete_role_policy(RoleName=self.role, PolicyName=self.name)
        return self

    def __exit__(self, *exc):
        self.iam.put_role_policy(RoleName=self.role, PolicyName=self.name, PolicyDocument=json.dumps(self.original))


def validator_cannot_read_merchants(ctx):
    api, world, check = ctx.api, ctx.world, ctx.results.check
    validator = world.function("ValidatorFunction")
    lines_before = len(world.log_lines(validator))
    body = payment()
    tid = body["transaction_id"]
    with InlinePolicy(world, "ValidatorRole", "dynamodb:GetItem"):
        answer = api.post(body)
    denied = [raw for raw, _ in world.log_lines(validator)[lines_before:] if "AccessDenied" in raw]
    alerts = wait_for(lambda: world.alerts(tid), 10) or []
    check("26 the validator's role without dynamodb:GetItem: the read is denied as on AWS "
          "(AccessDeniedException in its log); 502 PaymentFailed, alerted",
          f"{answer.status} {answer.get('error')}, {len(denied) > 0 and 'AccessDenied logged' or 'no AccessDenied'}, "
          f"{len(alerts)} alert",
          answer.status == 502 and answer.get("error") == "PaymentFailed" and denied and len(alerts) == 1)
    again = api.pay(body)
    check("26 the permission restored, the same payment again: 200 SETTLED", f"{again.status} {again.get('outcome')}",
          again.status == 200 and again.get("outcome") == "SETTLED")
    ctx.contract.observe("failed", answer, tid, retry=again, retry_note="(the permission restored)")


def api_cannot_start_the_workflow(ctx):
    api, world, check = ctx.api, ctx.world, ctx.results.check
    body = payment()
    tid = body["transaction_id"]
    with InlinePolicy(world, "ApiStartExecutionRole", "states:StartSyncExecution"):
        answer = api.post(body)
    started = world.executions().get(tid, [])
    check("27 the API's role without states:StartSyncExecution: Step Functions answers AccessDenied (400); "
          "500 ConfigurationError, nothing started",
          f"{answer.status} {answer.get('error')} keys {','.join(answer.keys)}, {len(started)} execution",
          answer.status == 500 and answer.get("error") == "ConfigurationError" and not started)
    again = api.pay(body)
    check("27 the permission restored, the same payment again: 200 SETTLED", f"{again.status} {again.get('outcome')}",
          again.status == 200 and again.get("outcome") == "SETTLED")
    ctx.contract.observe("sfn-4xx", answer, tid, retry=again, retry_note="(the permission restored)")


def api_role_trust_demands_source_account(ctx):
    """Review M1: a trust condition on aws:SourceAccount, which API Gateway does not send when
    it assumes an integration's credentials role, refuses every request (500)."""
    api, world, check = ctx.api, ctx.world, ctx.results.check
    iam = world.aws["iam"]
    role = world.physical("ApiStartExecutionRole")
    original = policy_document(iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])
    mutant = json.loads(json.dumps(original))
    for statement in mutant["Statement"]:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": world.outputs["StateMachineArn"].split(":")[4]}}
    body = payment()
    tid = body["transaction_id"]
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(mutant))
    try:
        answer = api.post(body)
    finally:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(original))
    time.sleep(0.1)
    again = api.pay(body)
    check("28 the API's role trusting API Gateway only with aws:SourceAccount (a key it does not send): "
          "500 API_CONFIGURATION_ERROR; trust restored: 200 SETTLED",
          f"{answer.status} {answer.get('error')}; again {again.status} {again.get('outcome')}",
          answer.status == 500 and answer.get("error") == "API_CONFIGURATION_ERROR" and answer.keys == ["detail", "error"]
          and again.status == 200 and again.get("outcome") == "SETTLED")
    ctx.contract.observe("role", answer, tid, retry=again, retry_note="(the trust policy restored)")
