"""The benchmark's Python baseline: validation and fraud scoring for one payment, written
the way the seeds write their handlers (boto3 imported and a DynamoDB resource built at
module load, a dict in and a dict out, one try/except around the body), with the rules of
`payments_core::validation` and `payments_core::fraud` and the rule settings the template's
SSM parameters hold (VALIDATION_RULES, FRAUD_RULES in the environment, as the functions get
them).

Backend: in-memory. The seeds would call `table.get_item` for the merchant and query the
merchant index for history; here the merchant comes from MERCHANTS (JSON) and the history is
empty, exactly as the Rust `in-memory` rows are fed, so both sides do the same work.

Run by `cargo xtask bench` in two ways:
  python -m awslambdaric python_baseline.handler   (through the Lambda Runtime API)
  python python_baseline.py --per-payment N         (the rules alone, timed in-process)
"""

import hashlib
import json
import os
import re
import sys
import time

import boto3

dynamodb = boto3.resource("dynamodb")  # seed habit: clients at module load
VALIDATION_RULES = json.loads(os.environ["VALIDATION_RULES"])
FRAUD_RULES = json.loads(os.environ["FRAUD_RULES"])
MERCHANTS = json.loads(os.environ.get("MERCHANTS", "{}"))

FIELDS = ["transaction_id", "merchant_id", "amount_minor", "currency", "payment_token", "card_last4", "country"]
# Minor-unit exponents of the currencies the sample payments use (payments_core::money has all).
EXPONENTS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KWD": 3, "CHF": 2}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MERCHANT_ID = re.compile(r"^[A-Za-z0-9_-]{3,64}$")
TOKEN = re.compile(r"^tok_[A-Za-z0-9]{16,64}$")
CARD_NUMBER = re.compile(r"[0-9]{13}")  # as payments_core::payment::contains_card_number
WEIGHTS = {"blocked_country": 100, "velocity": 60, "rapid_retry": 40, "high_amount": 30, "round_amount": 15}


def parse(event):
    unknown = [k for k in event if k not in FIELDS]
    if unknown:
        raise ValueError(f"{unknown[0]}: is not a payment field")
    for field in FIELDS:
        if field not in event:
            raise ValueError(f"Missing required field: {field}")
    if event["currency"] not in EXPONENTS:
        raise ValueError("currency: not supported")
    amount = event["amount_minor"]
    if not isinstance(amount, int) or not 1 <= amount <= 10_000_000_000:
        raise ValueError("amount_minor: out of range")
    checks = [
        ("transaction_id", UUID),
        ("merchant_id", MERCHANT_ID),
        ("payment_token", TOKEN),
    ]
    for field, pattern in checks:
        if not pattern.match(event[field]):
            raise ValueError(f"{field}: malformed")
    if CARD_NUMBER.search(event["payment_token"]):
        raise ValueError("payment_token: must not contain a card number")
    if not (len(event["card_last4"]) == 4 and event["card_last4"].isdigit()):
        raise ValueError("card_last4: malformed")
    if not (len(event["country"]) == 2 and event["country"].isalpha() and event["country"].isupper()):
        raise ValueError("country: malformed")
    return event


def validate(payment, merchant):
    rejections = []
    limits = None
    if merchant is None:
        rejections.append({"rule": "unknown_merchant"})
    else:
        if not merchant["active"]:
            rejections.append({"rule": "merchant_inactive"})
        currencies = merchant.get("currencies", {})
        if currencies:
            limits = currencies.get(payment["currency"])
        elif payment["currency"] in VALIDATION_RULES["currencies"]:
            limits = VALIDATION_RULES
        if limits is None:
            rejections.append({"rule": "currency_not_accepted", "currency": payment["currency"]})
    if limits is not None:
        if payment["amount_minor"] < limits["min_amount_minor"]:
            rejections.append({"rule": "amount_below_minimum"})
        if payment["amount_minor"] > limits["max_amount_minor"]:
            rejections.append({"rule": "amount_above_maximum"})
    return {"accepted": not rejections, "rejections": rejections}


def assess(payment, recent, now_ms):
    rules = FRAUD_RULES
    signals = []
    if payment["country"] in rules["blocked_countries"]:
        signals.append({"signal": "blocked_country", "country": payment["country"]})
    fingerprint = hashlib.sha256(payment["payment_token"].encode()).hexdigest()[:32]
    same_card = [
        p for p in recent if p["transaction_id"] != payment["transaction_id"] and p["fingerprint"] == fingerprint
    ]
    window_start = now_ms - rules["velocity_window_seconds"] * 1000
    in_window = sum(1 for p in same_card if p["created_at_ms"] >= window_start)
    if in_window >= rules["velocity_max_per_token"]:
        signals.append({"signal": "velocity", "payments_in_window": in_window})
    retry_start = now_ms - rules["rapid_retry_seconds"] * 1000
    if any(p["created_at_ms"] >= retry_start and p["amount_minor"] == payment["amount_minor"] for p in same_card):
        signals.append({"signal": "rapid_retry"})
    # Thresholds per currency, in its own minor units (review F10), as payments_core::fraud.
    amount = payment["amount_minor"]
    high = rules["high_amount_minor"].get(payment["currency"])
    if high is not None and amount >= high:
        signals.append({"signal": "high_amount"})
    round_ = rules["round_amount_minor"].get(payment["currency"])
    if round_ is not None and amount >= round_ and amount % round_ == 0:
        signals.append({"signal": "round_amount"})
    score = min(100, sum(WEIGHTS[s["signal"]] for s in signals))
    return {"score": score, "approved": score < rules["decline_score"], "signals": signals}


def screen(event):
    payment = parse(event)
    validation = validate(payment, MERCHANTS.get(payment["merchant_id"]))
    fraud = assess(payment, [], int(time.time() * 1000))
    return {"validation": validation, "fraud": fraud}


def handler(event, context):
    try:
        return screen(event)
    except ValueError as e:
        return {"statusCode": 400, "error": str(e)}
    except Exception as e:
        print(f"Error: {str(e)}")
        return {"statusCode": 500, "error": "Internal error"}


if __name__ == "__main__" and sys.argv[1:2] == ["--per-payment"]:
    # The rules alone, in-process: the counterpart of the criterion benchmark. Prints the
    # median nanoseconds per payment over 15 rounds.
    count = int(sys.argv[2])
    payment = json.loads(os.environ["BENCH_PAYMENT"])
    rounds = []
    for _ in range(15):
        started = time.perf_counter_ns()
        for _ in range(count):
            screen(payment)
        rounds.append((time.perf_counter_ns() - started) / count)
    rounds.sort()
    print(json.dumps({"median_ns": rounds[len(rounds) // 2]}))
