"""Throttles made visible as Lambda makes them visible: a `Throttles` datapoint (value 1) in
CloudWatch, namespace `AWS/Lambda`, dimension `FunctionName` ("Throttles – The number of
invocation requests that are throttled. When all function instances are processing requests
and no concurrency is available to scale up, Lambda rejects additional requests with a
TooManyRequestsException error", Lambda guide, "Working with Lambda function metrics",
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html; the wording as
archived in awsdocs/aws-lambda-developer-guide doc_source/monitoring-metrics.md). "Lambda sends
metric data to CloudWatch in 1-minute intervals" (same page); here each throttle is its own
datapoint, at once.

Emulator-only convenience: one JSON line per throttle, {"time", "function", "reason"}, in
`<work dir>/logs/lambda-throttles.log` (AWS has no such file)."""

import datetime
import json
import os
import threading

import settings

THROTTLES_LOG = "lambda-throttles.log"
_LOCK = threading.Lock()


def record_throttle(function, reason):
    from moto.cloudwatch.models import cloudwatch_backends

    now = datetime.datetime.now(datetime.timezone.utc)
    cloudwatch_backends[function.account_id][function.region].put_metric_data(
        "AWS/Lambda",
        [
            {
                # No Timestamp: moto stamps it now, as it does a PutMetricData without one.
                "MetricName": "Throttles",
                "Value": 1.0,
                "Unit": "Count",
                "Dimensions": [{"Name": "FunctionName", "Value": function.function_name}],
            }
        ],
    )
    if settings.WORK_DIR is None:
        return
    line = json.dumps(
        {
            "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "function": function.function_name,
            "reason": reason,
        }
    )
    path = os.path.join(settings.WORK_DIR, "logs", THROTTLES_LOG)
    with _LOCK:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as out:
            out.write(line + "\n")
