"""The client contract over HTTP (issue 12): answers for the payments a client gets right and
for every mistake a client can make, each answer's status and JSON body asserted, and then
proof that no refused payment left anything behind."""

import time
from concurrent.futures import ThreadPoolExecutor

from http_api import NO_KEY, new_id, payment
from world import NINETY_DAYS, attribute, wait_for

SETTLEMENT_KEYS = ["amount_minor", "currency", "fraud_score", "merchant_id", "outcome", "reasons", "recorded_at",
                   "replayed", "transaction_id"]
GATEWAY_KEYS = ["detail", "error"]


def receipt_id(document):
    """The transaction id a signed receipt (archived or announced) is about."""
    return ((document or {}).get("receipt") or {}).get("transaction_id")


def gateway_refusal(answer, status, response_type):
    """An API Gateway refusal: the template's gateway response {"error": type, "detail": message}."""
    return answer.status == status and answer.keys == GATEWAY_KEYS and answer.get("error") == response_type


def approved(ctx):
    api, world, check = ctx.api, ctx.world, ctx.results.check
    body = payment()
    tid = body["transaction_id"]
    started = int(time.time())
    answer = api.pay(body)
    check("1 approved: 200 SETTLED with the SettlementResult body",
          f"{answer.status} {answer.get('outcome')} replayed={answer.get('replayed')} keys {','.join(answer.keys)}",
          answer.status == 200 and answer.get("outcome") == "SETTLED" and answer.get("replayed") is False
          and answer.keys == SETTLEMENT_KEYS and answer.get("transaction_id") == tid)
    found = world.merchant_index("merchant-001", tid)
    check("1 approved: one SETTLED item, found through the merchant_id index", f"{len(found)} item",
          len(found) == 1 and found[0]["status"]["S"] == "SETTLED")
    entries = world.audit_entries(tid)
    expires = int(entries[0]["expires_at"]["N"]) if entries else 0
    check("1 approved: one audit entry, expiring in 90 days", f"{len(entries)} entry",
          len(entries) == 1 and started + NINETY_DAYS - 5 <= expires <= int(time.time()) + NINETY_DAYS + 5)
    receipts = world.receipts(tid, wait=20)
    content = world.receipt(next(iter(receipts))) if len(receipts) == 1 else {}
    check("1 approved: a signed receipt archived through the stream (one object, one version, signed)",
          f"{len(receipts)} object, {sum(receipts.values())} version, keys {','.join(sorted(content))}",
          len(receipts) == 1 and sum(receipts.values()) == 1 and receipt_id(content) == tid
          and content.get("signature"))
    announced = wait_for(lambda: world.announcements(tid), 20) or []
    first = announced[0] if announced else {}
    parsed = first.get("parsed") or {}
    check("1 approved: announced on the settlements topic as JSON, with transaction_id and merchant_id attributes",
          f"{len(announced)} message, JSON {isinstance(parsed, dict) and bool(parsed)}, attributes "
          f"{','.join(sorted((first.get('MessageAttributes') or {}).keys()))}",
          len(announced) >= 1 and receipt_id(parsed) == tid
          and attribute(first, "transaction_id") == tid and attribute(first, "merchant_id") == "merchant-001")
    emails = [m for m in world.messages("AlertsTopicArn")] + world.alerts(tid)
    check("1 approved: no e-mail per payment (alerts and failed-transactions topics)", f"{len(emails)} messages",
          not emails)
    replay = api.pay(body)
    check("4 replay: 200, the recorded answer again, replayed",
          f"{replay.status} {replay.get('outcome')} replayed={replay.get('replayed')}",
          replay.status == 200 and replay.get("outcome") == "SETTLED" and replay.get("replayed") is True
          and replay.get("recorded_at") == answer.get("recorded_at") and len(world.audit_entries(tid)) == 1)
    ctx.contract.observe("settled", answer, tid, retry=replay)
    ctx.approved = body
    second = payment(merchant_id="merchant-002")
    own = api.pay(second, merchant="merchant-002")
    check("1 approved: merchant-002 with its own key", f"{own.status} {own.get('outcome')}",
          own.status == 200 and own.get("outcome") == "SETTLED")


def declines(ctx):
    api, world, check = ctx.api, ctx.world, ctx.results.check
    fraud = payment(country="KP")
    answer = api.pay(fraud)
    check("2 fraud decline: 200 DECLINED (blocked_country), recorded, no receipt",
          f"{answer.status} {answer.get('outcome')} {answer.get('reasons')}",
          answer.status == 200 and answer.get("outcome") == "DECLINED" and "blocked_country" in answer.get("reasons", [])
          and answer.keys == SETTLEMENT_KEYS and world.status(fraud["transaction_id"]) == "DECLINED"
          and not world.receipts(fraud["transaction_id"]))
    retry = api.pay(fraud)
    ctx.contract.observe("settled", answer, fraud["transaction_id"], retry=retry)
    rules = payment(amount_minor=5_000_000)
    answer = api.pay(rules)
    check("3 merchant-rule decline (amount above the merchant's maximum): 200 DECLINED, recorded",
          f"{answer.status} {answer.get('outcome')} {answer.get('reasons')}",
          answer.status == 200 and answer.get("outcome") == "DECLINED" and answer.get("reasons")
          and world.status(rules["transaction_id"]) == "DECLINED")
    ctx.contract.observe("settled", answer, rules["transaction_id"])


def keys(ctx):
    api, world, check = ctx.api, ctx.world, ctx.results.check
    refused = ctx.refused
    body = payment()
    answer = api.pay(body, key=NO_KEY)
    again = api.pay(body, key=NO_KEY)
    check("5 no API key: 403 INVALID_API_KEY (gateway response, JSON)", f"{answer.status} {answer.body}",
          gateway_refusal(answer, 403, "INVALID_API_KEY"))
    ctx.contract.observe("bad-key", answer, body["transaction_id"], retry=again)
    refused.append(body["transaction_id"])
    body = payment()
    answer = api.pay(body, key="not-a-key-" + new_id().replace("-", ""))
    check("6 wrong API key: 403 INVALID_API_KEY", f"{answer.status} {answer.body}",
          gateway_refusal(answer, 403, "INVALID_API_KEY"))
    ctx.contract.observe("bad-key", answer, body["transaction_id"])
    refused.append(body["transaction_id"])
    # A disabled key: created in the template's usage plan, then switched off.
    gateway = world.aws["apigateway"]
    plan = world.physical("ApiUsagePlan")
    key = gateway.create_api_key(name="e2e-disabled-key", enabled=True)
    gateway.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    gateway.update_api_key(apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    value = gateway.get_api_key(apiKey=key["id"], includeValue=True)["value"]
    body = payment()
    answer = api.pay(body, key=value)
    check("6 disabled API key: 403 INVALID_API_KEY", f"{answer.status} {answer.body}",
          gateway_refusal(answer, 403, "INVALID_API_KEY"))
    ctx.contract.observe("bad-key", answer, body["transaction_id"])
    refused.append(body["transaction_id"])
    body = payment()
    answer = api.pay(body, merchant="merchant-002")
    again = api.pay(body, merchant="merchant-002")
    check("7 key of another merchant: 403 MerchantNotBound",
          f"{answer.status} {answer.get('error')} keys {','.join(answer.keys)}",
          answer.status == 403 and answer.get("error") == "MerchantNotBound" and answer.get("merchant_id") == "merchant-001"
          and answer.keys == ["detail", "error", "merchant_id"])
    ctx.contract.observe("not-bound", answer, body["transaction_id"], retry=again)
    refused.append(body["transaction_id"])
    body = payment(merchant_id="merchant-999")
    answer = api.pay(body)
    check("7 unknown merchant: 403 MerchantNotBound (an unknown merchant and a foreign key answer alike)",
          f"{answer.status} {answer.get('error')}", answer.status == 403 and answer.get("error") == "MerchantNotBound")
    ctx.contract.observe("not-bound", answer, body["transaction_id"])
    refused.append(body["transaction_id"])


def over_the_usage_plan(ctx):
    """A usage plan of rate 1/s, burst 1, created through the API, with a key of its own bound
    to merchant-001: of three requests at once one passes, the others answer 429."""
    api, world, check = ctx.api, ctx.world, ctx.results.check
    gateway = world.aws["apigateway"]
    api_stage = {"apiId": world.physical("PaymentApi"), "stage": world.physical("ApiStage")}
    plan = gateway.create_usage_plan(name="e2e-one-per-second", apiStages=[api_stage],
                                     throttle={"rateLimit": 1.0, "burstLimit": 1})
    key = gateway.create_api_key(name="e2e-tight-key", enabled=True)
    gateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    ctx.bind_key("merchant-001", key["id"])
    value = gateway.get_api_key(apiKey=key["id"], includeValue=True)["value"]
    bodies = [payment() for _ in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda b: api.post(b, key=value), bodies))
    passed = [(b, a) for b, a in zip(bodies, answers, strict=True) if a.status == 200]
    throttled = [(b, a) for b, a in zip(bodies, answers, strict=True) if a.status == 429]
    check("8 over the usage plan (rate 1, burst 1; 3 at once): 429 THROTTLED",
          f"{len(passed)} answered 200, {len(throttled)} answered 429 {throttled[0][1].body if throttled else ''}",
          len(passed) == 1 and len(throttled) == 2 and all(gateway_refusal(a, 429, "THROTTLED") for _, a in throttled))
    if throttled:
        time.sleep(1.2)  # the bucket refills one token a second
        later = api.pay(throttled[0][0], key=value)
        check("8 a throttled payment sent again a second later, same transaction_id: settled",
              f"{later.status} {later.get('outcome')}", later.status == 200 and later.get("outcome") == "SETTLED")
        ctx.contract.observe("throttled", throttled[0][1], throttled[0][0]["transaction_id"], retry=later,
                             retry_note="after 1.2 s")
        for body, answer in throttled[1:]:
            ctx.contract.observe("throttled", answer, body["transaction_id"])
            ctx.refused.append(body["transaction_id"])


def bad_bodies(ctx):
    api, check = ctx.api, ctx.results.check
    tid = new_id()
    raw = ('{"transaction_id": "' + tid + '", "merchant_id": "merchant-001", "amount_minor": 1250,').encode()
    answer = api.post(raw=raw)
    again = api.post(raw=raw)
    check("9 malformed JSON: 400 BAD_REQUEST_BODY", f"{answer.status} {answer.body}",
          gateway_refusal(answer, 400, "BAD_REQUEST_BODY"))
    ctx.contract.observe("bad-body", answer, tid, retry=again)
    ctx.refused.append(tid)
    body = payment(card_number="4111111111111111")
    answer = api.pay(body)
    check("10 a body the model refuses (a card number: additionalProperties false): 400 BAD_REQUEST_BODY",
          f"{answer.status} {answer.body}", gateway_refusal(answer, 400, "BAD_REQUEST_BODY"))
    ctx.contract.observe("bad-body", answer, body["transaction_id"])
    ctx.refused.append(body["transaction_id"])
    body = payment(currency="XXX")
    answer = api.pay(body)
    again = api.pay(body)
    check("11 a body the model accepts and the domain refuses (currency XXX): 422 InvalidPayment",
          f"{answer.status} {answer.get('error')} field={answer.get('field')} keys {','.join(answer.keys)}",
          answer.status == 422 and answer.get("error") == "InvalidPayment" and answer.get("field") == "currency"
          and {"error", "field", "reason"} <= set(answer.keys))
    ctx.contract.observe("invalid", answer, body["transaction_id"], retry=again)
    ctx.refused.append(body["transaction_id"])
    # 1 MB: under API Gateway's 10 MB payload quota, so the request validator decides; every
    # field of the model is bounded (patterns, additionalProperties false), so no body over a
    # few hundred bytes can pass it, and Step Functions' 256 KB input limit is never reached.
    body = payment(payment_token="tok_" + "a" * (1024 * 1024))
    answer = api.pay(body)
    check("12 a 1 MB body (a 1 MB payment_token): 400 BAD_REQUEST_BODY from the model, before the workflow",
          f"{answer.status} {answer.get('error')}", gateway_refusal(answer, 400, "BAD_REQUEST_BODY"))
    ctx.contract.observe("bad-body", answer, body["transaction_id"])
    ctx.refused.append(body["transaction_id"])


def reused_id(ctx):
    api, world, check = ctx.api, ctx.world, ctx.results.check
    original = ctx.approved
    body = dict(original, amount_minor=original["amount_minor"] + 1)
    answer = api.pay(body)
    again = api.pay(body)
    item = world.item(original["transaction_id"]) or {}
    check("13 a reused transaction_id with another body: 422 TransactionIdReused, the settled item unchanged",
          f"{answer.status} {answer.get('error')} keys {','.join(answer.keys)}",
          answer.status == 422 and answer.get("error") == "TransactionIdReused"
          and answer.get("transaction_id") == original["transaction_id"]
          and item.get("amount_minor", {}).get("N") == str(original["amount_minor"]))
    ctx.contract.observe("reused", answer, original["transaction_id"], retry=again)


def nothing_left_behind(ctx):
    """After the client mistakes: no item, receipt, alert or failed execution for any refused
    payment, and no function error (a client mistake is data, not a failure: M5/F15).

    The emulator's own slowness can fail an attempt (an SDK timeout under load: the workflow
    retries it, and `pay` retries a 502 as the contract says). Such a failure is not the
    client's: it is printed, and left out of these checks, which hold the client's mistakes
    to "nothing at all"."""
    world, check = ctx.world, ctx.results.check
    refused, errors_before = ctx.refused, ctx.errors_at_start
    time.sleep(1.5)  # anything the stream would deliver, it delivers by now (batching window 1 s)
    noisy = {t for t, _, _ in ctx.api.retried}
    if noisy & set(refused):
        print(f"   (load: {len(noisy & set(refused))} refused payments answered 5xx first and were sent again)")
    clean = [t for t in refused if t not in noisy]
    items = [t for t in refused if world.item(t)]
    receipts = [t for t in refused if world.receipts(t)]
    alerts = [t for t in clean + [ctx.approved["transaction_id"]] if world.alerts(t) or world.failed_queue_messages(t)]
    executions = world.executions()
    failed = [t for t in clean + [ctx.approved["transaction_id"]]
              if any(status != "SUCCEEDED" for status, _ in executions.get(t, []))]
    check(f"14 the {len(refused)} refused payments left no item, receipt, alert or failed execution",
          f"{len(items)} items, {len(receipts)} receipts, {len(alerts)} alerts, {len(failed)} failed executions",
          not items and not receipts and not alerts and not failed)
    errors_after = world.error_lines()
    new = [line for f, lines in errors_after.items() for line in lines[len(errors_before.get(f, [])):]]
    load = [line for line in new if is_load(line)]
    if load:
        print(f"   (load: {len(load)} function errors were SDK timeouts against the emulator, retried)")
    mistakes = [line for line in new if not is_load(line)]
    mentioning = [line for line in mistakes if any(t in line for t in refused)]
    check("14 client mistakes caused no Lambda function error (no ERROR line in any function log)",
          f"{len(mistakes)} ERROR lines, {len(mentioning)} naming a refused payment", not mistakes)


def is_load(line):
    """An ERROR line from an SDK call the emulator answered too slowly (SDK_TIMEOUTS)."""
    return "request has timed out" in line or "is being settled by another attempt" in line
