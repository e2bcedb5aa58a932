"""Logs Insights as the suite runs it over captured lines (logs_insights.py).
Syntax reference: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html"""

import json
import unittest

import logs_insights

# The shape lambda_runtime's tracing subscriber writes with AWS_LAMBDA_LOG_FORMAT=JSON: the
# event's fields nested under "fields" (tracing-subscriber's JSON format, flatten_event off).
SETTLED = {"level": "INFO", "fields": {"message": "decision recorded", "transaction_id": "t1",
                                       "merchant_id": "m1", "outcome": "Settled", "replayed": False}}
FAILED = {"level": "ERROR", "fields": {"message": "handler failed", "error_type": "RetryableError",
                                       "transaction_id": "t2"}}
REPORT = {"time": "2026-12-01T00:00:00Z", "type": "platform.report",
          "record": {"requestId": "r", "metrics": {"durationMs": 12.5, "initDurationMs": 4.0}}}


def events():
    lines = [SETTLED, FAILED, REPORT, SETTLED]
    return [logs_insights.event("/aws/lambda/f", 1_000 * i, json.dumps(line)) for i, line in enumerate(lines)]


class LogsInsights(unittest.TestCase):
    def test_nested_json_fields_are_addressed_with_dots(self):
        rows = logs_insights.run(
            "fields @timestamp, fields.outcome | filter ispresent(fields.outcome)"
            " | stats count(*) as payments by fields.merchant_id, fields.outcome", events())
        self.assertEqual(rows, [{"fields.merchant_id": "m1", "fields.outcome": "Settled", "payments": 2}])

    def test_a_query_on_a_field_the_functions_do_not_write_returns_nothing(self):
        # The review's M8: `outcome` at the top level does not exist in these lines.
        rows = logs_insights.run("filter ispresent(outcome) | stats count(*) as n by outcome", events())
        self.assertEqual(rows, [])

    def test_errors_by_type(self):
        rows = logs_insights.run(
            'filter level = "ERROR" | stats count(*) as errors by @log, fields.error_type | sort errors desc', events())
        self.assertEqual(rows, [{"@log": "/aws/lambda/f", "fields.error_type": "RetryableError", "errors": 1}])

    def test_percentiles_over_platform_reports(self):
        rows = logs_insights.run(
            'filter type = "platform.report" | stats pct(record.metrics.durationMs, 50) as p50,'
            " max(record.metrics.initDurationMs) as cold by @log, bin(5m)", events())
        self.assertEqual(rows, [{"@log": "/aws/lambda/f", "bin(5m)": 0, "p50": 12.5, "cold": 4.0}])

    def test_unknown_syntax_is_an_error_not_an_empty_result(self):
        with self.assertRaises(logs_insights.QueryError):
            logs_insights.run("parse @message 'x'", events())
        with self.assertRaises(logs_insights.QueryError):
            logs_insights.run("stats median(x)", events())


if __name__ == "__main__":
    unittest.main()
