"""Every mapping template of templates/payment-workflow.yaml, rendered as API Gateway would.

The REAL template is loaded (CloudFormation tags kept, `!Sub` resolved with dummy values) and
each integration request/response template, gateway response and access-log format is rendered
with representative backend answers. Every body must parse as JSON and each answer must get the
status of the client contract (/work/plan/PLAN.md, "The new client contract").

Sources: the mapping-template reference
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html),
StartSyncExecution's response and errors (botocore stepfunctions model; facts-apigw-iam-sfn-cfn.md 5.1,
5.2: 200 with `status` SUCCEEDED|FAILED|TIMED_OUT; every client error 400 with a namespaced
`__type`), SelectionPattern semantics (facts 2.7).
"""

import json
import os
import re
import unittest

import yaml

import apigateway
import vtl

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TEMPLATE = os.path.join(REPO, "templates", "payment-workflow.yaml")
DUMMY = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "payment-workflow-local",
    "PaymentStateMachine": "arn:aws:states:eu-west-1:123456789012:stateMachine:payment-workflow-local",
}


def _sub(text, variables=None):
    def value(match):
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if variables and name in variables:
            return str(variables[name])
        return DUMMY.get(name, f"dummy-{name.replace('.', '-').replace('::', '-').lower()}")

    return re.sub(r"\$\{([^}]*)\}", value, text)


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Sub":
        return _sub(value) if isinstance(value, str) else _sub(value[0], value[1])
    if suffix == "Ref":
        return DUMMY.get(value, f"ref-{value}")
    return f"{suffix.lower()}-{value}"


_Loader.add_multi_constructor("!", _tag)


def load_template(path=TEMPLATE):
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)


def mapping_templates(template):
    """(kind, name, source, extra) for every mapping template of the template's API."""
    found = []
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGateway::Method":
            integration = props.get("Integration", {})
            for content_type, source in (integration.get("RequestTemplates") or {}).items():
                found.append((vtl.REQUEST, f"{logical_id} request {content_type}", source, None))
            for response in integration.get("IntegrationResponses", []):
                for content_type, source in (response.get("ResponseTemplates") or {}).items():
                    found.append((vtl.RESPONSE, f"{logical_id} {response['StatusCode']} {content_type}", source, response))
        elif resource["Type"] == "AWS::ApiGateway::GatewayResponse":
            for content_type, source in (props.get("ResponseTemplates") or {}).items():
                found.append(("gateway response", f"{logical_id} {content_type}", source, props))
        elif resource["Type"] == "AWS::ApiGateway::Stage" and props.get("AccessLogSetting"):
            found.append(("access log", f"{logical_id} access log", props["AccessLogSetting"]["Format"], None))
    return found


TXN = "0f8fad5b-d9cb-469f-a165-70867728950e"
PAYMENT = {
    "transaction_id": TXN,
    "merchant_id": "merchant-001",
    "amount_minor": 1250,
    "currency": "EUR",
    "payment_token": "tok_abcdefghijklmnop",
    "card_last4": "4242",
    "country": "DE",
}
EXECUTION_INPUT = json.dumps({"payment": PAYMENT, "caller": {"api_key_id": "abc123defg"}})
SETTLED = {
    "transaction_id": TXN,
    "merchant_id": "merchant-001",
    "outcome": "SETTLED",
    "replayed": False,
    "amount_minor": 1250,
    "currency": "EUR",
    "fraud_score": 12,
    "reasons": [],
    "recorded_at": "2026-01-01T00:00:00Z",
}


def run(status, **fields):
    body = {"executionArn": "arn:aws:states:eu-west-1:123456789012:express:payment:x", "status": status, "input": EXECUTION_INPUT}
    body.update({k: json.dumps(v) if k == "output" else v for k, v in fields.items()})
    return json.dumps(body)


# (case, backend status, backend body, status of the client contract)
BACKEND_ANSWERS = [
    ("SUCCEEDED settled", 200, run("SUCCEEDED", output=SETTLED), 200),
    ("SUCCEEDED declined", 200, run("SUCCEEDED", output=dict(SETTLED, outcome="DECLINED", reasons=["country_blocked"])), 200),
    (
        "SUCCEEDED InvalidPayment",
        200,
        run(
            "SUCCEEDED",
            output={
                "error": "InvalidPayment",
                "transaction_id": TXN,
                "field": "currency",
                "reason": "currency 'XXX' is not accepted",
            },
        ),
        422,
    ),
    (
        "SUCCEEDED TransactionIdReused",
        200,
        run("SUCCEEDED", output={"error": "TransactionIdReused", "transaction_id": TXN, "detail": "other body"}),
        422,
    ),
    ("SUCCEEDED MerchantNotBound", 200, run("SUCCEEDED", output={"error": "MerchantNotBound", "detail": "key not bound"}), 403),
    ("FAILED", 200, run("FAILED", error="PaymentFailed", cause='{"errorMessage": "it\'s \\"broken\\""}'), 502),
    ("TIMED_OUT", 200, run("TIMED_OUT"), 504),
    (
        "400 ThrottlingException",
        400,
        json.dumps({"__type": "com.amazon.coral.availability#ThrottlingException", "message": "Rate exceeded"}),
        503,
    ),
    (
        "400 StateMachineDoesNotExist",
        400,
        json.dumps(
            {"__type": "com.amazonaws.swf.service.v2.model#StateMachineDoesNotExist", "message": "State Machine Does Not Exist"}
        ),
        500,
    ),
    ("400 AccessDeniedException", 400, json.dumps({"__type": "AccessDeniedException", "message": "not authorized"}), 500),
    ("500 InternalFailure", 500, json.dumps({"__type": "com.amazon.coral.service#InternalFailure", "message": "oops"}), 502),
]


class RealTemplate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = load_template()
        cls.found = mapping_templates(cls.template)
        cls.methods = [r for r in cls.template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]

    def test_the_template_has_mapping_templates(self):
        kinds = {kind for kind, *_ in self.found}
        self.assertTrue({vtl.REQUEST, vtl.RESPONSE, "gateway response", "access log"} <= kinds, kinds)

    def test_request_templates_build_the_state_machine_input(self):
        # The contract: {"payment": <body unchanged>, "caller": {"api_key_id": $context.identity.apiKeyId}}.
        for kind, name, source, _ in self.found:
            if kind != vtl.REQUEST:
                continue
            with self.subTest(name):
                text, _ = vtl.render(
                    source,
                    kind,
                    name=name,
                    body=json.dumps(PAYMENT),
                    params={
                        "path": {},
                        "querystring": {},
                        "header": {"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793"},
                    },
                    context={"identity.apiKeyId": "abc123defg", "requestId": "r-1"},
                )
                request = json.loads(text)
                self.assertEqual(request["stateMachineArn"], DUMMY["PaymentStateMachine"])
                self.assertEqual(json.loads(request["input"]), {"payment": PAYMENT, "caller": {"api_key_id": "abc123defg"}})

    def test_every_backend_answer_maps_to_json_with_the_contract_status(self):
        for method in self.methods:
            integration = method["Properties"]["Integration"]
            responses = {
                str(r["StatusCode"]): {
                    "statusCode": str(r["StatusCode"]),
                    "selectionPattern": r.get("SelectionPattern"),
                    "responseTemplates": r.get("ResponseTemplates") or {},
                }
                for r in integration.get("IntegrationResponses", [])
            }
            method_responses = {str(r["StatusCode"]) for r in method["Properties"].get("MethodResponses", [])}
            for case, backend_status, backend_body, contract_status in BACKEND_ANSWERS:
                with self.subTest(case):
                    chosen = apigateway.select_integration_response(responses, backend_status)
                    self.assertIsNotNone(chosen, "no integration response and no default")
                    self.assertIn(chosen["statusCode"], method_responses, "an integration response needs its method response")
                    _, source = apigateway.select_template(chosen["responseTemplates"], "application/json")
                    text, values = vtl.render(source, vtl.RESPONSE, name=f"{chosen['statusCode']} ({case})", body=backend_body)
                    body = json.loads(text)
                    status = int(values.get("responseOverride.status") or chosen["statusCode"])
                    self.assertEqual(status, contract_status, body)
                    if status != 200:
                        self.assertIn("error", body)

    def test_gateway_responses_and_access_log_are_json(self):
        context = {
            "requestId": "r-1",
            "identity.sourceIp": "127.0.0.1",
            "identity.apiKeyId": "abc123defg",
            "requestTime": "01/Jan/2026:00:00:00 +0000",
            "httpMethod": "POST",
            "resourcePath": "/transactions",
            "status": 403,
            "responseLength": 52,
            "integration.latency": 3,
        }
        for kind, name, source, _ in self.found:
            if kind not in ("gateway response", "access log"):
                continue
            for response_type in (
                "INVALID_API_KEY",
                "THROTTLED",
                "BAD_REQUEST_BODY",
                "INTEGRATION_TIMEOUT",
                "API_CONFIGURATION_ERROR",
            ):
                with self.subTest(f"{name} {response_type}"):
                    message = apigateway.GATEWAY_RESPONSE_TYPES[response_type][1]
                    values = dict(
                        context,
                        **{
                            "error.responseType": response_type,
                            "error.message": message,
                            "error.messageString": json.dumps(message),
                        },
                    )
                    text = vtl.substitute(
                        source, name=name, kind=kind, context=values, missing="-" if kind == "access log" else ""
                    )
                    json.loads(text)

    def test_kept_mutant_util_tojson_fails(self):
        # Review M2: `$util.toJson` is not API Gateway's. The same templates with it must fail.
        mutated = 0
        for kind, name, source, _ in self.found:
            if kind != vtl.RESPONSE or "$util." not in source:
                continue
            mutant = re.sub(r"\$util\.(escapeJavaScript|parseJson)\(", "$util.toJson(", source, count=1)
            with self.subTest(name), self.assertRaisesRegex(vtl.VtlError, r"\$util\.toJson"):
                for _, _status, body, _ in BACKEND_ANSWERS:
                    vtl.render(mutant, kind, name=name, body=body)
            mutated += 1
        self.assertGreater(mutated, 0)


if __name__ == "__main__":
    unittest.main()
