"""The deploy tool on the embedded AWS (issue 14 [J]): `cargo xtask deploy --emulator` runs the
very plan a real deployment runs — content-addressed uploads, the template by S3 URL, a
uniquely named change set, its execution, the stack policy — against the emulator, under
the dev parameters, in a stack of its own next to the suite's.

- 34 a first deploy creates the stack;
- 35 the same deploy again succeeds and changes nothing (the empty change set is deleted);
- 36 a first deploy that fails half-way leaves ROLLBACK_COMPLETE and nothing retained that
  blocks the next try; the next deploy deletes it and creates the stack;
- 38 new code reaches the functions (M12): a build whose validator.zip differs is deployed
  (`--packages`, as a release job deploys what it downloaded) under a new content-addressed
  prefix, and the validator answers as the new code does; deploying the original build
  brings its answers back. The "new code" is another function's real package, so no second
  release build is needed.
"""

import json
import os
import shutil
import subprocess

STACK = "payment-workflow-dev"


def xtask(repo, work_dir, *args):
    """`cargo xtask deploy ... --emulator WORK_DIR --yes`; (exit code, output)."""
    command = ["cargo", "xtask", "deploy", "--env", "dev", "--emulator", work_dir, "--yes", *args]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    with open(os.path.join(work_dir, "deploy-tool.log"), "a") as log:
        log.write(f"$ {' '.join(command)}\n{output}\n(exit {done.returncode})\n\n")
    return done.returncode, output


def stack_status(aws):
    stacks = [s for s in aws["cloudformation"].list_stacks()["StackSummaries"]
              if s["StackName"] == STACK and s["StackStatus"] != "DELETE_COMPLETE"]
    return stacks[0]["StackStatus"] if stacks else None


def release_keys(aws, bucket):
    """The tool's uploads (the suite's own stack, deployed by up.py, shares the dev bucket under
    the parameter file's placeholder prefix)."""
    pages = aws["s3"].get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="releases/")
    return sorted(o["Key"] for page in pages for o in page.get("Contents", [])
                  if not o["Key"].startswith("releases/set-by-"))


def artifact_bucket(repo):
    with open(os.path.join(repo, "templates", "params", "dev.json")) as params:
        values = {p["ParameterKey"]: p["ParameterValue"] for p in json.load(params)}
    return values["ArtifactBucket"]


def deploy_tool(ctx, repo):
    aws, check, work_dir = ctx.world.aws, ctx.results.check, ctx.world.work_dir
    # 36 first: a fixed-name table of the stack already exists, so the first create fails
    # half-way and rolls back (the way a name taken by a retained resource fails on AWS).
    ddb = aws["dynamodb"]
    blocker = "merchant-configs-dev"
    ddb.create_table(TableName=blocker, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "merchant_id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "merchant_id", "KeyType": "HASH"}])
    code, output = xtask(repo, work_dir)
    status = stack_status(aws)
    check("36 a first deploy whose table name is taken: the tool fails, the stack is ROLLBACK_COMPLETE",
          f"exit {code}, {status}", code != 0 and status == "ROLLBACK_COMPLETE")
    tables = set(ddb.list_tables()["TableNames"])
    left = sorted(t for t in tables if t.endswith("-dev") and t != blocker)
    check("36 the rolled-back create left no table behind (RetainExceptOnCreate)", f"{left}", not left)
    ddb.delete_table(TableName=blocker)

    code, output = xtask(repo, work_dir)
    status = stack_status(aws)
    check("36 the next deploy deletes the ROLLBACK_COMPLETE stack and creates it", f"exit {code}, {status}",
          code == 0 and status == "CREATE_COMPLETE" and "ROLLBACK_COMPLETE" in output)
    check("34 a first deploy by the tool: CREATE_COMPLETE, template by TemplateURL, stack policy set",
          f"exit {code}, {status}",
          code == 0 and status == "CREATE_COMPLETE" and "--template-url" in output
          and "--template-body" not in output
          and bool(aws["cloudformation"].get_stack_policy(StackName=STACK).get("StackPolicyBody")))
    keys = release_keys(aws, artifact_bucket(repo))
    zips = [k for k in keys if k.endswith(".zip")]
    check("34 the packages and the template uploaded under content-addressed keys",
          f"{len(zips)} packages, {len(keys) - len(zips)} other objects",
          len(zips) == 6 and len({k.split("/")[1] for k in keys}) == 1
          and any(k.endswith(".yaml") for k in keys))

    code, output = xtask(repo, work_dir)
    check("35 the same deploy again: success, no change executed, no new object",
          f"exit {code}, {stack_status(aws)}",
          code == 0 and stack_status(aws) == "CREATE_COMPLETE" and release_keys(aws, artifact_bucket(repo)) == keys)

    new_code(ctx, repo)


def validator_answer(aws):
    """What the dev stack's validator answers, invoked directly, for a payment of a merchant
    the dev stack does not know: its keys."""
    body = {"payment": {"transaction_id": "0b5c6d2e-1f3a-4b7c-9d8e-2a4b6c8d0e1f", "merchant_id": "merchant-404",
                        "amount_minor": 100, "currency": "EUR", "payment_token": "tok_abcdefghijklmnop"},
            "caller": {"api_key_id": "none"}}
    answer = aws["lambda"].invoke(FunctionName="payment-validator-dev", Payload=json.dumps(body).encode())
    payload = json.loads(answer["Payload"].read() or b"{}")
    return sorted(payload) if isinstance(payload, dict) else []


def new_code(ctx, repo):
    aws, check, work_dir = ctx.world.aws, ctx.results.check, ctx.world.work_dir
    before = validator_answer(aws)
    built = os.path.join(repo, "target", "lambda", "packages")
    changed = os.path.join(work_dir, "packages-changed")
    shutil.rmtree(changed, ignore_errors=True)
    shutil.copytree(built, changed)
    shutil.copyfile(os.path.join(built, "fraud-detector.zip"), os.path.join(changed, "validator.zip"))
    with open(os.path.join(changed, "manifest.json")) as f:
        manifest = json.load(f)
    manifest["validator"] = dict(manifest["fraud-detector"])
    with open(os.path.join(changed, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    keys_before = release_keys(aws, artifact_bucket(repo))
    code, _ = xtask(repo, work_dir, "--packages", changed)
    after = validator_answer(aws)
    new_prefixes = {k.split("/")[1] for k in release_keys(aws, artifact_bucket(repo))} - {
        k.split("/")[1] for k in keys_before}
    check("38 a build with a new validator.zip: a new release prefix, and the validator answers as the new code",
          f"exit {code}, {stack_status(aws)}, {len(new_prefixes)} new prefix; answer keys {before} -> {after}",
          code == 0 and stack_status(aws) == "UPDATE_COMPLETE" and len(new_prefixes) == 1
          and "verdict" in before and "verdict" not in after)
    code, _ = xtask(repo, work_dir)
    check("38 the original build deployed again: the validator answers as before",
          f"exit {code}, answer keys {validator_answer(aws)}", code == 0 and validator_answer(aws) == before)


def operator_commands(ctx, repo):
    """37: the runbook's operator commands against the suite's own stack, as an operator runs
    them after a deployment: `cargo xtask onboard` the smoke-test merchant (twice: the second
    run creates nothing), then `cargo xtask smoke` posts one payment through the API."""
    check, work_dir, stack = ctx.results.check, ctx.world.work_dir, ctx.world.stack
    common = ["--env", "dev", "--stack", stack, "--emulator", work_dir]

    def run(*args):
        done = subprocess.run(["cargo", "xtask", *args, *common], cwd=repo, capture_output=True, text=True,
                              timeout=600)
        with open(os.path.join(work_dir, "deploy-tool.log"), "a") as log:
            log.write(f"$ cargo xtask {' '.join(args + tuple(common))}\n{done.stdout}{done.stderr}\n"
                      f"(exit {done.returncode})\n\n")
        return done.returncode

    def smoke_keys():
        items = ctx.world.aws["apigateway"].get_api_keys(limit=500)["items"]
        return [k for k in items if k.get("name", "").endswith("-smoke-test")]

    first = run("onboard", "--merchant", "smoke-test")
    keys = smoke_keys()
    again = run("onboard", "--merchant", "smoke-test")
    keys_after = smoke_keys()
    check("37 cargo xtask onboard smoke-test, twice: one key, bound once",
          f"exit {first}, {again}; {len(keys)} then {len(keys_after)} keys",
          first == 0 and again == 0 and len(keys) == 1 and len(keys_after) == 1)
    smoke = run("smoke")
    check("37 cargo xtask smoke through the emulated API: 200 SETTLED, the replay, the receipt",
          f"exit {smoke} (deploy-tool.log)", smoke == 0)
