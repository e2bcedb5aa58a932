"""apigateway.py and apigateway_cfn.py against API Gateway's documented behaviour.

Sources (cited per test):
* THROTTLE: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
  ("token bucket algorithm ... the burst is the maximum bucket size"; 429 Too Many Requests)
* KEYS: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html and
  supported-gateway-response-types (INVALID_API_KEY 403); facts-apigw-iam-sfn-cfn.md 2.2
* VALIDATION: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html
  (JSON Schema draft 4; 400 "Invalid request body")
* SELECTION: IntegrationResponse.selectionPattern (API reference): "For all other HTTP and AWS back ends,
  the HTTP status code is matched"; an empty pattern is the default response
* GATEWAY: https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
  (types, default statuses; DEFAULT_4XX/DEFAULT_5XX apply to every type not configured)
* PASSTHROUGH: https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html
* SNAPSHOT: AWS CDK Deployment docs ("deployments are immutable ... changes will not be reflected unless a
  new deployment resource is created"); review M9
* M1: the review's M1 and facts 2.8 / 3 (API Gateway sends no aws:SourceAccount; 500 on a denied assume)
* LIMITS: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html ("Payload size 10 MB")
"""

import json
import time
import unittest
import urllib.error
import urllib.request

import apigateway
from tests import support


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TokenBuckets(unittest.TestCase):
    def test_burst_then_refill_at_the_rate(self):
        # THROTTLE: a full bucket of `burst` tokens, refilled at `rate` per second.
        clock = Clock()
        throttle = apigateway.Throttle(clock)
        limits = [(("plan", "p", "k"), 2.0, 3)]
        self.assertEqual([throttle.admit(limits) for _ in range(4)], [None, None, None, "THROTTLED"])
        clock.now = 0.5  # one token back
        self.assertEqual([throttle.admit(limits) for _ in range(2)], [None, "THROTTLED"])
        clock.now = 100.0  # never more than the burst
        self.assertEqual([throttle.admit(limits) for _ in range(4)], [None, None, None, "THROTTLED"])

    def test_every_bucket_must_have_a_token(self):
        # THROTTLE: per-client limits and the stage's per-method limits both apply.
        clock = Clock()
        throttle = apigateway.Throttle(clock)
        key_a = [(("plan", "p", "a"), 10.0, 10), (("stage", "api", "v1", "/t", "POST"), 1.0, 2)]
        key_b = [(("plan", "p", "b"), 10.0, 10), (("stage", "api", "v1", "/t", "POST"), 1.0, 2)]
        self.assertEqual([throttle.admit(key_a), throttle.admit(key_b), throttle.admit(key_a)], [None, None, "THROTTLED"])

    def test_quota(self):
        # KEYS: a usage plan quota over its period -> QUOTA_EXCEEDED (429).
        throttle = apigateway.Throttle(Clock())
        quota = (("p", "k"), 2, "DAY")
        self.assertEqual([throttle.admit([], quota) for _ in range(3)], [None, None, "QUOTA_EXCEEDED"])

    def test_stage_method_settings_are_read_per_method(self):
        # THROTTLE: "default per-method limits" from the stage's MethodSettings ("*/*").
        class Stage:
            name = "v1"
            method_settings = {"*/*": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 7}}

        limits = apigateway.throttle_limits(Stage(), "api", None, None, "/transactions", "POST")
        self.assertIn((("stage", "api", "v1", "/transactions", "POST"), 5.0, 7), limits)
        self.assertEqual(limits[-1], (("account",), 10000.0, 5000))


class FakeKey:
    def __init__(self, key_id, value, enabled=True):
        self.id, self.value, self.enabled = key_id, value, enabled


class FakePlan:
    def __init__(self, plan_id, api_stages):
        self.id, self.api_stages, self.throttle, self.quota = plan_id, api_stages, {}, {}


class FakeBackend:
    def __init__(self):
        self.keys = {"k1": FakeKey("k1", "a" * 40), "k2": FakeKey("k2", "b" * 40, enabled=False), "k3": FakeKey("k3", "c" * 40)}
        self.usage_plans = {
            "p1": FakePlan("p1", [{"apiId": "api", "stage": "v1"}]),
            "p2": FakePlan("p2", [{"apiId": "api", "stage": "v2"}]),
        }
        self.usage_plan_keys = {"p1": {"k1": object(), "k2": object()}, "p2": {"k3": object()}}


class ApiKeys(unittest.TestCase):
    def test_a_key_must_exist_be_enabled_and_be_in_a_plan_of_this_stage(self):
        # KEYS: missing, unknown, disabled, or not in a usage plan of this API stage -> INVALID_API_KEY.
        backend = FakeBackend()
        key, plan = apigateway.check_api_key(backend, "api", "v1", "a" * 40)
        self.assertEqual((key.id, plan.id), ("k1", "p1"))
        for value in (None, "", "z" * 40, "b" * 40, "c" * 40):
            with self.assertRaises(apigateway.GatewayError) as refused:
                apigateway.check_api_key(backend, "api", "v1", value)
            self.assertEqual(refused.exception.response_type, "INVALID_API_KEY")


SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["n", "last4"],
    "properties": {"n": {"type": "integer", "minimum": 1}, "last4": {"type": "string", "pattern": "^[0-9]{4}$"}},
}


class ModelValidation(unittest.TestCase):
    def test_draft_4(self):
        # VALIDATION: draft 4; "integer" excludes 1.0 in draft 4 (it is allowed from draft 6 on).
        self.assertEqual(apigateway.validate_body(SCHEMA, {"n": 1, "last4": "4242"}), [])
        self.assertTrue(apigateway.validate_body(SCHEMA, {"n": 1.0, "last4": "4242"}))
        self.assertTrue(apigateway.validate_body(SCHEMA, {"n": 1, "last4": "4242", "pan": "4111"}))
        self.assertTrue(apigateway.validate_body(SCHEMA, {"n": 1}))

    def test_patterns_are_ecma_262(self):
        # JSON Schema draft 4 "pattern": ECMA 262 regular expressions; `$` does not match before a
        # final newline (Python's re would accept "4242\n").
        self.assertTrue(apigateway.validate_body(SCHEMA, {"n": 1, "last4": "4242\n"}))
        self.assertTrue(apigateway.validate_body(SCHEMA, {"n": 1, "last4": "٤٢٤٢"}))  # non-ASCII digits

    def test_malformed_json_and_schema_failures_are_bad_request_body(self):
        method = {"requestValidatorId": "v", "requestModels": {"application/json": "M"}}
        snap = {"validators": {"v": {"validateRequestBody": True}}, "models": {"M": {"schema": SCHEMA}}}
        params = {"path": {}, "querystring": {}, "header": {}}
        for body in ("{not json", '{"n": 0, "last4": "4242"}'):
            with self.assertRaises(apigateway.GatewayError) as refused:
                apigateway.validate_request(method, snap, params, body, "application/json")
            self.assertEqual(refused.exception.response_type, "BAD_REQUEST_BODY")
            self.assertEqual(refused.exception.message, "Invalid request body")
        apigateway.validate_request(method, snap, params, '{"n": 2, "last4": "4242"}', "application/json")


class Selection(unittest.TestCase):
    RESPONSES = {
        "200": {"statusCode": "200", "selectionPattern": None},
        "500": {"statusCode": "500", "selectionPattern": "4\\d{2}"},
        "502": {"statusCode": "502", "selectionPattern": "5\\d{2}"},
    }

    def test_selection_pattern_matches_the_whole_backend_status(self):
        # SELECTION: AWS integrations match the HTTP status; no pattern = default.
        choose = apigateway.select_integration_response
        self.assertEqual(choose(self.RESPONSES, 200)["statusCode"], "200")
        self.assertEqual(choose(self.RESPONSES, 400)["statusCode"], "500")
        self.assertEqual(choose(self.RESPONSES, 503)["statusCode"], "502")
        # A Java String.matches() is a whole match: "4\d{2}" does not select 4000.
        self.assertEqual(choose(self.RESPONSES, 4000)["statusCode"], "200")

    def test_templates_are_chosen_by_accept_then_the_first(self):
        templates = {"application/json": "j", "application/xml": "x"}
        self.assertEqual(apigateway.select_template(templates, "application/xml"), ("application/xml", "x"))
        self.assertEqual(apigateway.select_template(templates, "text/html"), ("application/json", "j"))


class GatewayResponses(unittest.TestCase):
    PARAMS = {"path": {}, "querystring": {}, "header": {}}

    def test_specific_then_default_4xx_then_built_in(self):
        # GATEWAY: a configured type wins; else DEFAULT_4XX/5XX with the type's own status; else
        # API Gateway's {"message": ...}.
        snap = {
            "gateway_responses": {
                "THROTTLED": {
                    "statusCode": "429",
                    "responseTemplates": {"application/json": '{"t": "$context.error.responseType"}'},
                },
                "DEFAULT_4XX": {"responseTemplates": {"application/json": '{"d": $context.error.messageString}'}},
            }
        }
        respond = apigateway.gateway_response
        status, _, body = respond(snap, apigateway.GatewayError("THROTTLED"), {}, {}, self.PARAMS, "application/json")
        self.assertEqual((status, json.loads(body)), (429, {"t": "THROTTLED"}))
        status, headers, body = respond(snap, apigateway.GatewayError("INVALID_API_KEY"), {}, {}, self.PARAMS, "application/json")
        self.assertEqual((status, json.loads(body), headers["x-amzn-ErrorType"]), (403, {"d": "Forbidden"}, "ForbiddenException"))
        status, _, body = respond(snap, apigateway.GatewayError("INTEGRATION_TIMEOUT"), {}, {}, self.PARAMS, "application/json")
        self.assertEqual((status, json.loads(body)), (504, {"message": "Endpoint request timed out"}))


class Routing(unittest.TestCase):
    SNAP = {
        "resources": {
            "r1": {"path": "/transactions", "methods": {"POST": {"httpMethod": "POST"}}},
            "r2": {"path": "/transactions/{id}", "methods": {"GET": {"httpMethod": "GET"}}},
            "r3": {"path": "/{proxy+}", "methods": {"ANY": {"httpMethod": "ANY"}}},
        }
    }

    def test_literal_segments_win_and_unknown_routes_miss(self):
        self.assertEqual(apigateway.match_resource(self.SNAP, "/transactions", "POST")[0], "r1")
        self.assertEqual(apigateway.match_resource(self.SNAP, "/transactions/7", "GET")[3], {"id": "7"})
        self.assertEqual(apigateway.match_resource(self.SNAP, "/transactions", "DELETE")[0], "r3")
        self.assertIsNone(apigateway.match_resource({"resources": {"r1": self.SNAP["resources"]["r1"]}}, "/other", "POST"))


# --- a deployed stack, served over HTTP --------------------------------------------------------

REQUEST_TEMPLATE = {
    "Fn::Sub": '{"stateMachineArn": "${Machine}", "input": "{\\"payment\\": $util.escapeJavaScript($input.json(\'$\')), '
    '\\"key\\": \\"$context.identity.apiKeyId\\"}"}'
}
RESPONSE_TEMPLATE = """#set($run = $util.parseJson($input.body))
#if($run.status == "SUCCEEDED")
#set($out = $util.parseJson($run.output))
#if($out.payment.n == 13)
#set($context.responseOverride.status = 422)
#end
{"version": "VERSION", "echo": $run.output}
#else
#set($context.responseOverride.status = 502)
{"failed": true}
#end"""


def stack_template(version="one", deployment="DeploymentA", trust_condition=None):
    trust = {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
    if trust_condition:
        trust["Condition"] = trust_condition
    sfn_trust = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ref = lambda name: {"Ref": name}  # noqa: E731
    return {
        "Resources": {
            "MachineRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "gw-test-machine",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [sfn_trust]},
                },
            },
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "gw-test",
                    "StateMachineType": "EXPRESS",
                    "RoleArn": {"Fn::GetAtt": ["MachineRole", "Arn"]},
                    "DefinitionString": json.dumps({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}),
                },
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "gw-test", "ApiKeySourceType": "HEADER"}},
            "Model": {
                "Type": "AWS::ApiGateway::Model",
                "Properties": {"RestApiId": ref("Api"), "Name": "Body", "ContentType": "application/json", "Schema": SCHEMA},
            },
            "Validator": {
                "Type": "AWS::ApiGateway::RequestValidator",
                "Properties": {"RestApiId": ref("Api"), "Name": "body", "ValidateRequestBody": True},
            },
            "Things": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {
                    "RestApiId": ref("Api"),
                    "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "PathPart": "things",
                },
            },
            "ApiRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "gw-test-api",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
                    "Policies": [
                        {
                            "PolicyName": "start",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "states:StartSyncExecution", "Resource": ref("Machine")}
                                ],
                            },
                        }
                    ],
                },
            },
            "Post": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": ref("Api"),
                    "ResourceId": ref("Things"),
                    "HttpMethod": "POST",
                    "AuthorizationType": "NONE",
                    "ApiKeyRequired": True,
                    "RequestValidatorId": ref("Validator"),
                    "RequestModels": {"application/json": ref("Model")},
                    "Integration": {
                        "Type": "AWS",
                        "IntegrationHttpMethod": "POST",
                        "Uri": {"Fn::Sub": "arn:aws:apigateway:${AWS::Region}:states:action/StartSyncExecution"},
                        "Credentials": {"Fn::GetAtt": ["ApiRole", "Arn"]},
                        "PassthroughBehavior": "NEVER",
                        "RequestTemplates": {"application/json": REQUEST_TEMPLATE},
                        "IntegrationResponses": [
                            {
                                "StatusCode": "200",
                                "ResponseTemplates": {"application/json": RESPONSE_TEMPLATE.replace("VERSION", version)},
                            },
                            {
                                "StatusCode": "500",
                                "SelectionPattern": "4\\d{2}",
                                "ResponseTemplates": {"application/json": '{"error": "Config"}'},
                            },
                        ],
                    },
                    "MethodResponses": [{"StatusCode": "200"}, {"StatusCode": "500"}],
                },
            },
            "Default4xx": {
                "Type": "AWS::ApiGateway::GatewayResponse",
                "Properties": {
                    "RestApiId": ref("Api"),
                    "ResponseType": "DEFAULT_4XX",
                    "ResponseTemplates": {
                        "application/json": '{"error": "$context.error.responseType", "detail": $context.error.messageString}'
                    },
                },
            },
            deployment: {
                "Type": "AWS::ApiGateway::Deployment",
                "DependsOn": ["Post", "Default4xx"],
                "Properties": {"RestApiId": ref("Api")},
            },
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {
                    "RestApiId": ref("Api"),
                    "DeploymentId": ref(deployment),
                    "StageName": "t1",
                    "AccessLogSetting": {
                        "DestinationArn": "arn:aws:logs:eu-west-1:123456789012:log-group:x",
                        "Format": '{"id":"$context.requestId","status":"$context.status"}',
                    },
                    "MethodSettings": [
                        {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 1000, "ThrottlingBurstLimit": 1000}
                    ],
                },
            },
            "Key": {
                "Type": "AWS::ApiGateway::ApiKey",
                "DependsOn": "Stage",
                "Properties": {"Name": "gw-test-key", "Enabled": True},
            },
            "DisabledKey": {
                "Type": "AWS::ApiGateway::ApiKey",
                "DependsOn": "Stage",
                "Properties": {"Name": "gw-test-off", "Enabled": False},
            },
            "Plan": {
                "Type": "AWS::ApiGateway::UsagePlan",
                "Properties": {
                    "UsagePlanName": "gw-test-plan",
                    "ApiStages": [{"ApiId": ref("Api"), "Stage": ref("Stage")}],
                    "Throttle": {"RateLimit": 1, "BurstLimit": 3},
                },
            },
            "PlanKey": {
                "Type": "AWS::ApiGateway::UsagePlanKey",
                "Properties": {"KeyId": ref("Key"), "KeyType": "API_KEY", "UsagePlanId": ref("Plan")},
            },
            "PlanKeyOff": {
                "Type": "AWS::ApiGateway::UsagePlanKey",
                "Properties": {"KeyId": ref("DisabledKey"), "KeyType": "API_KEY", "UsagePlanId": ref("Plan")},
            },
        }
    }


class Served(unittest.TestCase):
    """One stack, deployed through the CloudFormation API and called over HTTP."""

    @classmethod
    def setUpClass(cls):
        cls.cfn = support.client("cloudformation")
        cls.apigw = support.client("apigateway")
        cls.stack = "gw-test"
        cls.cfn.create_stack(
            StackName=cls.stack, TemplateBody=json.dumps(stack_template()), Capabilities=["CAPABILITY_NAMED_IAM"]
        )
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cls.cfn.list_stack_resources(StackName=cls.stack)["StackResourceSummaries"]
        }
        cls.api_id = resources["Api"]
        cls.key = cls.apigw.get_api_key(apiKey=resources["Key"], includeValue=True)["value"]
        cls.off_key = cls.apigw.get_api_key(apiKey=resources["DisabledKey"], includeValue=True)["value"]
        cls.port = support.free_port()
        cls.server = apigateway.start_server(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        apigateway.THROTTLE.__init__()  # fresh buckets per test

    def post(self, body, key=None, content_type="application/json", raw=None):
        headers = {"Content-Type": content_type}
        if key:
            headers["x-api-key"] = key
        data = raw if raw is not None else json.dumps(body).encode()
        url = f"http://127.0.0.1:{self.port}/restapis/{self.api_id}/t1/_user_request_/things"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null"), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null"), dict(error.headers)

    def test_the_control_plane_shows_what_the_template_declared(self):
        # The skipped types now exist in moto's backend (get-stage, get-usage-plans, ...).
        stage = self.apigw.get_stage(restApiId=self.api_id, stageName="t1")
        self.assertEqual(stage["methodSettings"]["*/*"]["throttlingBurstLimit"], 1000)
        self.assertIn("$context.requestId", stage["accessLogSettings"]["format"])
        self.assertEqual(len(self.key), 40)  # API Gateway generates 40 characters
        plans = self.apigw.get_usage_plans()["items"]
        self.assertTrue(any(p["name"] == "gw-test-plan" and p["throttle"]["burstLimit"] == 3 for p in plans))
        self.assertEqual(self.apigw.get_request_validators(restApiId=self.api_id)["items"][0]["validateRequestBody"], True)
        self.assertEqual(self.apigw.get_gateway_responses(restApiId=self.api_id)["items"][0]["responseType"], "DEFAULT_4XX")
        integration = self.apigw.get_integration(restApiId=self.api_id, resourceId=self._resource_id(), httpMethod="POST")
        self.assertEqual(integration["passthroughBehavior"], "NEVER")
        self.assertIn("500", integration["integrationResponses"])

    def _resource_id(self):
        return next(r["id"] for r in self.apigw.get_resources(restApiId=self.api_id)["items"] if r["path"] == "/things")

    def test_a_valid_request_runs_the_workflow(self):
        status, body, headers = self.post({"n": 1, "last4": "4242"}, self.key)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["echo"]["payment"], {"n": 1, "last4": "4242"})
        self.assertTrue(body["echo"]["key"])  # $context.identity.apiKeyId reached the workflow

    def test_response_override_sets_the_status(self):
        # OVERRIDE (vtl tests): #set($context.responseOverride.status = 422) in the 200 response.
        status, body, _ = self.post({"n": 13, "last4": "4242"}, self.key)
        self.assertEqual((status, body["version"]), (422, "one"))

    def test_keys(self):
        # KEYS: no key, an unknown one, a disabled one -> 403 INVALID_API_KEY (via DEFAULT_4XX).
        for key in (None, "x" * 40, self.off_key):
            status, body, headers = self.post({"n": 1, "last4": "4242"}, key)
            self.assertEqual((status, body), (403, {"error": "INVALID_API_KEY", "detail": "Forbidden"}))

    def test_usage_plan_throttle(self):
        # THROTTLE + KEYS: the plan's burst of 3 at 1 rps -> the 4th quick request is 429.
        statuses = [self.post({"n": 1, "last4": "4242"}, self.key)[0] for _ in range(5)]
        self.assertEqual(statuses[:3], [200, 200, 200])
        self.assertIn(429, statuses[3:])

    def test_model_validation(self):
        # VALIDATION: a body the model refuses and malformed JSON -> 400 BAD_REQUEST_BODY.
        for raw in (json.dumps({"n": 1, "last4": "42"}).encode(), b"{oops"):
            status, body, _ = self.post(None, self.key, raw=raw)
            self.assertEqual((status, body["error"]), (400, "BAD_REQUEST_BODY"))

    def test_unmapped_content_type_with_passthrough_never(self):
        # PASSTHROUGH: NEVER rejects a content type without a template -> 415.
        status, body, _ = self.post(None, self.key, content_type="text/plain", raw=b"hello")
        self.assertEqual((status, body["error"]), (415, "UNSUPPORTED_MEDIA_TYPE"))

    def test_unknown_route(self):
        # GATEWAY: an unknown resource or method is MISSING_AUTHENTICATION_TOKEN 403.
        url = f"http://127.0.0.1:{self.port}/restapis/{self.api_id}/t1/_user_request_/nothing"
        with self.assertRaises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=10)
        self.assertEqual(
            (refused.exception.code, json.loads(refused.exception.read())["error"]), (403, "MISSING_AUTHENTICATION_TOKEN")
        )

    def test_payload_limit(self):
        # LIMITS: above 10 MB -> 413 REQUEST_TOO_LARGE.
        status, body, _ = self.post(None, self.key, raw=b" " * (apigateway.MAX_PAYLOAD_BYTES + 1))
        self.assertEqual((status, body["error"]), (413, "REQUEST_TOO_LARGE"))

    def test_access_log(self):
        self.post({"n": 1, "last4": "4242"}, self.key)
        _, work_dir, _ = support.emulator()
        with open(f"{work_dir}/logs/apigateway-access.log") as log:
            last = json.loads(log.read().splitlines()[-1])
        self.assertEqual(last["status"], "200")

    def test_zz_snapshot_semantics(self):
        # SNAPSHOT: an updated method without a new deployment changes nothing for clients; a new
        # deployment (a new logical id, as CDK and the template's hash do) serves the change.
        self.cfn.update_stack(
            StackName=self.stack, TemplateBody=json.dumps(stack_template("two")), Capabilities=["CAPABILITY_NAMED_IAM"]
        )
        integration = self.apigw.get_integration(restApiId=self.api_id, resourceId=self._resource_id(), httpMethod="POST")
        self.assertIn('"two"', integration["integrationResponses"]["200"]["responseTemplates"]["application/json"])
        self.assertEqual(self.post({"n": 1, "last4": "4242"}, self.key)[1]["version"], "one")
        self.cfn.update_stack(
            StackName=self.stack,
            TemplateBody=json.dumps(stack_template("two", "DeploymentB")),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        time.sleep(1.1)  # a token back in the plan's bucket
        self.assertEqual(self.post({"n": 1, "last4": "4242"}, self.key)[1]["version"], "two")


class CredentialsRole(unittest.TestCase):
    def test_a_trust_condition_api_gateway_cannot_satisfy_answers_500(self):
        # M1: API Gateway sends no aws:SourceAccount when it assumes the integration role, so
        # this trust condition denies every request: 500 API_CONFIGURATION_ERROR, the workflow
        # never starts.
        cfn = support.client("cloudformation")
        template = stack_template(trust_condition={"StringEquals": {"aws:SourceAccount": support.ACCOUNT}})
        text = json.dumps(template).replace("gw-test", "gw-m1")
        cfn.create_stack(StackName="gw-m1", TemplateBody=text, Capabilities=["CAPABILITY_NAMED_IAM"])
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.list_stack_resources(StackName="gw-m1")["StackResourceSummaries"]
        }
        key = support.client("apigateway").get_api_key(apiKey=resources["Key"], includeValue=True)["value"]
        port = support.free_port()
        server = apigateway.start_server(port)
        try:
            url = f"http://127.0.0.1:{port}/restapis/{resources['Api']}/t1/_user_request_/things"
            request = urllib.request.Request(
                url,
                data=json.dumps({"n": 1, "last4": "4242"}).encode(),
                headers={"x-api-key": key, "Content-Type": "application/json"},
            )
            with self.assertRaises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            self.assertEqual(refused.exception.code, 500)
            self.assertEqual(json.loads(refused.exception.read()), {"message": "Internal server error"})
            self.assertIn("assume", refused.exception.headers["x-emulator-error"])
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    unittest.main()
