"""API Gateway REST, executed: every deployed stage served over HTTP on loopback, from the
API definition its deployment snapshotted, in API Gateway's order, failing where it fails.

    POST http://127.0.0.1:{api_port}/{stage}/{path}                            (one API has the stage)
    POST http://127.0.0.1:{api_port}/restapis/{api_id}/{stage}/_user_request_/{path}

Request pipeline (API Gateway's; order of the checks after routing as LocalStack's REST
pipeline, which mirrors AWS: facts-apigw-iam-sfn-cfn.md 2.3):
 1. route: stage -> its deployment's snapshot -> resource + method, else
    MISSING_AUTHENTICATION_TOKEN 403;
 2. payload above 10 MB -> REQUEST_TOO_LARGE 413 (API Gateway quotas: "Payload size 10 MB");
 3. API key (ApiKeyRequired, key source HEADER, `x-api-key`): missing, unknown, disabled or
    not in a usage plan of this API stage -> INVALID_API_KEY 403;
 4. throttling, token buckets (rate = refill per second, burst = bucket size): usage plan
    per-key per-method, per-key, stage per-method (MethodSettings), account (10,000 rps,
    burst 5,000) -> THROTTLED 429; a usage-plan quota -> QUOTA_EXCEEDED 429
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html);
 5. request validator: required parameters -> BAD_REQUEST_PARAMETERS 400; the body against the
    model of its content type, JSON Schema draft 4 -> BAD_REQUEST_BODY 400
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html);
 6. integration request: the mapping template of the request's content type (default
    application/json), else passthrough per PassthroughBehavior (NEVER -> UNSUPPORTED_MEDIA_TYPE 415)
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html);
 7. the integration's Credentials role, assumed through the emulator's IAM (iam.py) with the
    condition keys API Gateway sends -> denied: API_CONFIGURATION_ERROR 500;
 8. the AWS integration (`arn:aws:apigateway:{region}:states:action/{Action}`): the rendered body,
    SigV4-signed with the role's credentials, POSTed to the emulator's Step Functions; no answer
    within TimeoutInMillis (default 29 s) -> INTEGRATION_TIMEOUT 504;
 9. integration response chosen by SelectionPattern (a Java regex matched against the whole
    backend status code; the one without a pattern is the default), its template for the
    Accept type, `$context.responseOverride.*` applied
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-integration-settings-integration-response.html);
10. every refusal answers with the API's GatewayResponse of that type, else DEFAULT_4XX/5XX,
    else API Gateway's built-in one (supported-gateway-response-types.html);
11. one access-log line per request in the stage's AccessLogSetting format
    (work_dir/logs/apigateway-access.log).

Deployment snapshots: creating a deployment (CloudFormation or CreateDeployment) copies the
API definition; a stage serves its deployment's copy, so a changed method reaches clients only
through a new deployment, as on AWS (review M9; CDK Deployment docs). Stage settings, keys and
usage plans are read live, as on AWS.

An emulator error (a template using an undocumented variable, an unsupported feature) answers
500 with API_CONFIGURATION_ERROR's gateway response, the reason in the `x-emulator-error`
header and in work_dir/logs/apigateway-errors.log.
"""

import copy
import datetime
import http.client
import http.server
import json
import os
import re
import secrets
import socket
import threading
import time
import uuid

import settings
import vtl

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # "10 MB" (quotas page); whether MB is 10^6 or 2^20: uncertain
DEFAULT_TIMEOUT_MS = 29000
ACCOUNT_THROTTLE = (10000.0, 5000)  # default account-level rate and burst per Region (throttling page)
DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'  # API Gateway's default body template

# responseType -> (default status, message, x-amzn-ErrorType). Statuses: AWS doc
# (supported-gateway-response-types). Messages and error types: as observed on AWS and used by
# LocalStack (community); where unsure, marked.
GATEWAY_RESPONSE_TYPES = {
    "ACCESS_DENIED": (403, "Forbidden", "AccessDeniedException"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error", "InternalServerErrorException"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error", "AuthorizerConfigurationException"),
    "AUTHORIZER_FAILURE": (500, "Internal server error", "AuthorizerFailureException"),
    "BAD_REQUEST_PARAMETERS": (400, "Missing required request parameters", "BadRequestException"),
    "BAD_REQUEST_BODY": (400, "Invalid request body", "BadRequestException"),
    "DEFAULT_4XX": (None, "", ""),
    "DEFAULT_5XX": (None, "", ""),
    "EXPIRED_TOKEN": (403, "Token expired", "ExpiredTokenException"),
    "INTEGRATION_FAILURE": (504, "Internal server error", "InternalServerErrorException"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out", "InternalServerErrorException"),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "INVALID_SIGNATURE": (403, "Forbidden", "InvalidSignatureException"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "QUOTA_EXCEEDED": (429, "Limit Exceeded", "LimitExceededException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLongException"),  # message: uncertain
    "RESOURCE_NOT_FOUND": (404, "Not Found", "ResourceNotFoundException"),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type", "UnsupportedMediaTypeException"),
    "WAF_FILTERED": (403, "Forbidden", "WAFFilteredException"),
}

_SNAPSHOTS = {}  # (api_id, deployment_id) -> the API definition at deployment time
_SNAPSHOTS_LOCK = threading.Lock()


class GatewayError(Exception):
    """A refusal answered with a gateway response."""

    def __init__(self, response_type, message=None, validation=None, emulator_error=None):
        super().__init__(message or GATEWAY_RESPONSE_TYPES[response_type][1])
        self.response_type = response_type
        self.message = message or GATEWAY_RESPONSE_TYPES[response_type][1]
        self.validation = validation
        self.emulator_error = emulator_error


def _emulator_error(reason):
    return GatewayError("API_CONFIGURATION_ERROR", emulator_error=reason)


# --- deployment snapshots ----------------------------------------------------------------


def snapshot_of(api):
    """Everything of `api` (a moto RestAPI) a deployment freezes."""
    models = {}
    for name, model in api.models.items():
        schema = model.schema
        models[name] = {"content_type": model.content_type, "schema": json.loads(schema) if isinstance(schema, str) else schema}
    return copy.deepcopy(
        {
            "api_id": api.id,
            "api_key_source": api.api_key_source,
            "resources": {
                resource.id: {
                    "path": resource.get_path(),
                    "methods": {v: m.to_json() for v, m in resource.resource_methods.items()},
                }
                for resource in api.resources.values()
            },
            "models": models,
            "validators": {vid: v.to_dict() for vid, v in api.request_validators.items()},
            "gateway_responses": {t: r.to_json() for t, r in api.gateway_responses.items()},
        }
    )


def record_snapshot(api, deployment_id):
    with _SNAPSHOTS_LOCK:
        _SNAPSHOTS[(api.id, deployment_id)] = snapshot_of(api)


def snapshot(api_id, deployment_id):
    with _SNAPSHOTS_LOCK:
        return _SNAPSHOTS.get((api_id, deployment_id))


def patch_deployments():
    """Snapshot the API whenever moto creates a deployment (CloudFormation or the API)."""
    from moto.apigateway.models import RestAPI

    if getattr(RestAPI, "_snapshots_deployments", False):
        return
    original = RestAPI.create_deployment

    def create_deployment(self, name, description, stage_variables=None):
        deployment = original(self, name, description, stage_variables)
        record_snapshot(self, deployment.id)
        return deployment

    RestAPI.create_deployment = create_deployment
    RestAPI._snapshots_deployments = True


# --- throttling ---------------------------------------------------------------------------


class TokenBucket:
    """API Gateway's token bucket: `burst` tokens at most, refilled at `rate` per second."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self.tokens, self.updated = float(burst), clock()

    def _refill(self):
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def available(self):
        self._refill()
        return self.tokens >= 1

    def take(self):
        self._refill()
        self.tokens -= 1


class Throttle:
    """All of a request's buckets are checked; a token is taken from each only if all have one."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._buckets = {}
        self._quota = {}
        self._lock = threading.Lock()

    def bucket(self, key, rate, burst):
        full_key = (key, float(rate), int(burst))
        if full_key not in self._buckets:
            self._buckets[full_key] = TokenBucket(rate, burst, self.clock)
        return self._buckets[full_key]

    def admit(self, limits, quota=None):
        """limits: [(key, rate, burst)]; quota: (key, limit, period) or None. Returns None or the
        gateway response type refusing the request."""
        with self._lock:
            buckets = [self.bucket(key, rate, burst) for key, rate, burst in limits]
            if not all(b.available() for b in buckets):
                return "THROTTLED"
            if quota is not None:
                key, limit, period = quota
                window = _quota_window(period, datetime.datetime.now(datetime.timezone.utc))
                used = self._quota.get((key, window), 0)
                if used >= int(limit):
                    return "QUOTA_EXCEEDED"
                self._quota[(key, window)] = used + 1
            for bucket in buckets:
                bucket.take()
            return None


def _quota_window(period, now):
    # Approximation: windows start at UTC midnight / Monday / the 1st; the plan's offset is ignored.
    if period == "DAY":
        return now.strftime("%Y-%m-%d")
    if period == "WEEK":
        return now.strftime("%G-W%V")
    return now.strftime("%Y-%m")


THROTTLE = Throttle()


def _setting_for(method_settings, resource_path, verb):
    specific = resource_path[1:].replace("/", "~1") + "/" + verb
    for key in (specific, "*/" + verb, resource_path[1:].replace("/", "~1") + "/*", "*/*"):
        if key in method_settings:
            return key, method_settings[key]
    return None, None


def throttle_limits(stage, api_id, plan, key_id, resource_path, verb):
    """The buckets a request draws from, in API Gateway's order."""
    limits = []
    if plan is not None:
        for api_stage in plan.api_stages:
            if api_stage.get("apiId") == api_id and api_stage.get("stage") == stage.name:
                method_throttle = (api_stage.get("throttle") or {}).get(f"{resource_path}/{verb}")
                if method_throttle:
                    limits.append(
                        (
                            ("plan-method", plan.id, key_id, resource_path, verb),
                            method_throttle["rateLimit"],
                            method_throttle["burstLimit"],
                        )
                    )
        if plan.throttle.get("rateLimit") is not None:
            limits.append((("plan", plan.id, key_id), plan.throttle["rateLimit"], plan.throttle.get("burstLimit", 0)))
    setting_key, setting = _setting_for(stage.method_settings or {}, resource_path, verb)
    if setting and setting.get("throttlingRateLimit") is not None:
        # Stage limits apply to each method separately, all clients together.
        limits.append(
            (("stage", api_id, stage.name, resource_path, verb), setting["throttlingRateLimit"], setting["throttlingBurstLimit"])
        )
    limits.append((("account",), *ACCOUNT_THROTTLE))
    return limits


# --- API keys -----------------------------------------------------------------------------


def check_api_key(backend, api_id, stage_name, value):
    """(key, plan) for a key valid on this API stage, else GatewayError(INVALID_API_KEY).

    Missing, unknown, disabled, or in no usage plan of this stage all answer 403 "Forbidden"
    (facts 2.2: AWS doc for INVALID_API_KEY; LocalStack api_key_validation; community)."""
    if not value:
        raise GatewayError("INVALID_API_KEY")
    key = next((k for k in backend.keys.values() if k.value == value), None)
    if key is None or not key.enabled:
        raise GatewayError("INVALID_API_KEY")
    for plan in backend.usage_plans.values():
        in_stage = any(s.get("apiId") == api_id and s.get("stage") == stage_name for s in plan.api_stages)
        if in_stage and key.id in backend.usage_plan_keys.get(plan.id, {}):
            return key, plan
    raise GatewayError("INVALID_API_KEY")


# --- request validation -------------------------------------------------------------------


def _ecma_pattern_validator():
    """JSON Schema's `pattern` is an ECMA-262 regex: `$` matches only at the very end and `\\d`
    only ASCII digits, unlike Python's `re` (a trailing newline would pass `^[0-9]{4}$`)."""
    from jsonschema import Draft4Validator, validators
    from jsonschema.exceptions import ValidationError

    def ecma(pattern):
        out, in_class, escaped = [], False, False
        for ch in pattern:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                out.append(ch)
                escaped = True
            elif ch == "[":
                in_class = True
                out.append(ch)
            elif ch == "]":
                in_class = False
                out.append(ch)
            elif ch == "$" and not in_class:
                out.append(r"\Z")
            else:
                out.append(ch)
        return re.compile("".join(out), re.ASCII)

    def pattern(validator, value, instance, schema):
        if validator.is_type(instance, "string") and not ecma(value).search(instance):
            yield ValidationError(f"ECMA 262 regex {json.dumps(value)} does not match input string {json.dumps(instance)}")

    return validators.extend(Draft4Validator, {"pattern": pattern})


_VALIDATOR_CLASS = None


def validate_body(schema, document):
    """Draft-4 error messages, in brackets as `$context.error.validationErrorString` (its exact
    wording on AWS comes from another validator: approximation)."""
    global _VALIDATOR_CLASS
    if "$ref" in json.dumps(schema):
        raise _emulator_error("model schemas with $ref are not supported by the emulator")
    if _VALIDATOR_CLASS is None:
        _VALIDATOR_CLASS = _ecma_pattern_validator()
    errors = sorted(_VALIDATOR_CLASS(schema).iter_errors(document), key=lambda e: list(e.path))
    return [e.message for e in errors]


def _mime(value, default="application/json"):
    return (value or default).split(";")[0].strip().lower() or default


def validate_request(method, snapshot_, params, body_text, content_type):
    validator_id = method.get("requestValidatorId")
    if not validator_id:
        return
    validator = snapshot_["validators"].get(validator_id)
    if validator is None:
        raise _emulator_error(f"request validator {validator_id} is not in the deployment")
    if validator.get("validateRequestParameters"):
        missing = []
        for expression, required in (method.get("requestParameters") or {}).items():
            where, name = expression.split(".")[2], expression.split(".", 3)[3]
            present = params[where].get(name) if where != "header" else _header(params["header"], name)
            if required and present is None:
                missing.append(name)
        if missing:
            raise GatewayError("BAD_REQUEST_PARAMETERS", f"Missing required request parameters: [{', '.join(missing)}]")
    if validator.get("validateRequestBody"):
        models = method.get("requestModels") or {}
        model_name = models.get(content_type) or models.get("$default")
        if not model_name or model_name == "Empty":
            return
        model = snapshot_["models"].get(model_name)
        if model is None:
            raise _emulator_error(f"model {model_name} is not in the deployment")
        try:
            document = json.loads(body_text) if body_text.strip() else None
        except ValueError as err:
            raise GatewayError("BAD_REQUEST_BODY", validation=f"[Invalid JSON: {err}]") from None
        problems = validate_body(model["schema"], document)
        if problems:
            raise GatewayError("BAD_REQUEST_BODY", validation="[" + ", ".join(problems) + "]")


def _header(headers, name):
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


# --- the integration ----------------------------------------------------------------------


def call_aws_integration(uri, body, credentials, timeout_seconds):
    """POST `body` to the emulator as API Gateway's AWS integration would call the service.
    Returns (status, headers, body). Raises socket.timeout at the integration timeout."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = re.fullmatch(r"arn:aws[\w-]*:apigateway:([\w-]+):([\w.-]+):action/(\w+)", uri or "")
    if not match:
        raise _emulator_error(f"integration URI {uri!r}: only `arn:aws:apigateway:{{region}}:{{service}}:action/{{Action}}`")
    region, service, action = match.groups()
    targets = {"states": ("AWSStepFunctions", "application/x-amz-json-1.0")}
    if service not in targets:
        raise _emulator_error(f"AWS integrations with {service} are not emulated (only: {', '.join(targets)})")
    prefix, content_type = targets[service]
    headers = {"Content-Type": content_type, "X-Amz-Target": f"{prefix}.{action}"}
    request = AWSRequest("POST", f"http://127.0.0.1:{settings.PORT}/", data=body.encode(), headers=headers)
    creds = Credentials(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials.get("SessionToken"))
    SigV4Auth(creds, service, region).add_auth(request)
    connection = http.client.HTTPConnection("127.0.0.1", settings.PORT, timeout=timeout_seconds)
    try:
        connection.request("POST", "/", body=request.body, headers=dict(request.headers))
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def assume_integration_role(role_arn, account_id, source_arn):
    if not role_arn:
        raise _emulator_error("an AWS integration without Credentials is not emulated")
    if ":user/" in role_arn or role_arn == "arn:aws:iam::*:user/*":
        raise _emulator_error("caller-credential passthrough is not emulated")
    try:
        import iam
    except ImportError:
        raise _emulator_error("tools/emulator/iam.py is missing: cannot assume the integration role") from None
    # iam.py keeps only the keys API Gateway really sends (its SERVICE_CONTEXT table).
    context = {"aws:SourceAccount": account_id, "aws:SourceArn": source_arn}
    try:
        return iam.assume_role_for_service(role_arn, "apigateway.amazonaws.com", context)
    except iam.AssumeRoleDenied as denied:
        # test-invoke-method: "Execution failed due to configuration error: API Gateway does not
        # have permission to assume the provided role" -> 500 (review M1; facts 2.8).
        raise GatewayError(
            "API_CONFIGURATION_ERROR",
            emulator_error=f"API Gateway does not have permission to assume the provided role: {denied.reason}",
        ) from None


def select_integration_response(responses, status):
    """SelectionPattern is a Java regex matched against the whole status code (String.matches);
    the response without a pattern is the default."""
    default, matched = None, []
    for code in sorted(responses):
        response = responses[code]
        pattern = response.get("selectionPattern")
        if not pattern:
            default = response
        elif re.fullmatch(pattern, str(status)):
            matched.append(response)
    if len(matched) > 1:
        _log_error(
            f"several integration responses match status {status}: {[r['statusCode'] for r in matched]}; the first is used"
        )
    return matched[0] if matched else default


def select_template(templates, wanted):
    """The template for `wanted`, else the first one (mapping-template selection rules)."""
    if not templates:
        return None, None
    if wanted in templates:
        return wanted, templates[wanted]
    first = next(iter(templates))
    return first, templates[first]


# --- gateway responses --------------------------------------------------------------------


def gateway_response(snapshot_, error, context, stage_variables, params, accept):
    """(status, headers, body) for a refusal: the API's response of that type, else its
    DEFAULT_4XX/DEFAULT_5XX, else API Gateway's own."""
    default_status, _, error_type = GATEWAY_RESPONSE_TYPES[error.response_type]
    configured = (snapshot_ or {}).get("gateway_responses", {}).get(error.response_type)
    if configured is None:
        fallback = "DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX"
        configured = (snapshot_ or {}).get("gateway_responses", {}).get(fallback) or {}
    status = int(configured.get("statusCode") or default_status)
    values = dict(context)
    values.update(
        {
            "error.message": error.message,
            "error.messageString": json.dumps(error.message),
            "error.responseType": error.response_type,
            "error.validationErrorString": error.validation,
        }
    )
    content_type, template = select_template(
        configured.get("responseTemplates") or {"application/json": DEFAULT_TEMPLATE}, accept
    )
    body = vtl.substitute(
        template or "",
        name=error.response_type,
        kind="gateway response",
        context=values,
        stage_variables=stage_variables,
        request_params=params,
    )
    headers = {"Content-Type": content_type or "application/json", "x-amzn-ErrorType": error_type}
    for target, source in (configured.get("responseParameters") or {}).items():
        name = target.split("gatewayresponse.header.", 1)[-1]
        if source.startswith("'") and source.endswith("'"):
            headers[name] = source[1:-1]
        elif source.startswith("method.request."):
            where, param = source.split(".")[2], source.split(".", 3)[3]
            value = _header(params["header"], param) if where == "header" else params.get(where, {}).get(param)
            if value is not None:
                headers[name] = value
        else:
            raise vtl.VtlError(f"gateway response {error.response_type}: parameter source {source!r} is not emulated")
    return status, headers, body


# --- serving ------------------------------------------------------------------------------


def _backends():
    from moto.apigateway.models import apigateway_backends

    for account_id, regions in list(apigateway_backends.items()):
        for region, backend in list(regions.items()):
            yield account_id, region, backend


def find_stage(path, host):
    """(account, region, backend, api, stage, rest of the path) or None."""
    explicit = re.fullmatch(r"/restapis/([^/]+)/([^/]+)/_user_request_(/.*)?", path)
    by_host = re.match(r"([a-z0-9]+)\.execute-api\.", host or "")
    if explicit:
        api_id, stage_name, rest = explicit.group(1), explicit.group(2), explicit.group(3) or "/"
    else:
        parts = path.split("/", 2)
        stage_name, rest = parts[1] if len(parts) > 1 else "", "/" + (parts[2] if len(parts) > 2 else "")
        api_id = by_host.group(1) if by_host else None
    found = []
    for account_id, region, backend in _backends():
        for api in list(backend.apis.values()):
            if (api_id is None or api.id == api_id) and stage_name in api.stages:
                found.append((account_id, region, backend, api, api.stages[stage_name], rest))
    if len(found) > 1:
        raise _emulator_error(
            f"several APIs have a stage {stage_name!r}: use /restapis/{{api_id}}/{stage_name}/_user_request_/..."
        )
    return found[0] if found else None


def match_resource(snapshot_, path, verb):
    """(resource id, resource, method, path parameters) or None; literal segments win over {params}."""
    path = "/" + path.strip("/") if path.strip("/") else "/"
    best = None
    for resource_id, resource in snapshot_["resources"].items():
        pattern, literal = "", 0
        for segment in resource["path"].strip("/").split("/") if resource["path"] != "/" else []:
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            param = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                pattern += rf"/(?P<{greedy.group(1)}>.+)"
            elif param:
                pattern += rf"/(?P<{param.group(1)}>[^/]+)"
            else:
                pattern += "/" + re.escape(segment)
                literal += 1
        matched = re.fullmatch(pattern or "/", path)
        if not matched:
            continue
        method = resource["methods"].get(verb) or resource["methods"].get("ANY")
        if method is not None and (best is None or literal > best[0]):
            best = (literal, resource_id, resource, method, matched.groupdict())
    return best[1:] if best else None


def _log_error(message):
    print(f"[apigateway] {message}", flush=True)
    if settings.WORK_DIR:
        os.makedirs(os.path.join(settings.WORK_DIR, "logs"), exist_ok=True)
        with open(os.path.join(settings.WORK_DIR, "logs", "apigateway-errors.log"), "a") as log:
            log.write(f"{datetime.datetime.now(datetime.timezone.utc).isoformat()} {message}\n")


def _access_log(stage, values):
    log_settings = stage.access_log_settings or {}
    if not log_settings.get("format"):
        return
    try:
        line = vtl.substitute(log_settings["format"], name=stage.name, kind="access log", context=values, missing="-")
    except vtl.VtlError as err:
        _log_error(str(err))
        return
    if settings.WORK_DIR:
        os.makedirs(os.path.join(settings.WORK_DIR, "logs"), exist_ok=True)
        with open(os.path.join(settings.WORK_DIR, "logs", "apigateway-access.log"), "a") as log:
            log.write(line.replace("\n", " ") + "\n")


class Request:
    def __init__(self, verb, path, query, headers, body, source_ip):
        self.verb, self.path, self.query, self.headers, self.body, self.source_ip = verb, path, query, headers, body, source_ip


def handle(request):
    """Runs the pipeline; returns (status, headers, body bytes)."""
    started = time.time()
    request_id = str(uuid.uuid4())
    values = {
        "requestId": request_id,
        "extendedRequestId": secrets.token_urlsafe(12)[:16],
        "httpMethod": request.verb,
        "protocol": "HTTP/1.1",
        "identity.sourceIp": request.source_ip,
        "identity.userAgent": _header(request.headers, "User-Agent"),
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(started)),
        "requestTimeEpoch": int(started * 1000),
        "domainName": _header(request.headers, "Host"),
    }
    values["domainPrefix"] = (values["domainName"] or "").split(".")[0] or None
    accept = _mime(_header(request.headers, "Accept"))
    if accept == "*/*":
        accept = "application/json"
    params = {"path": {}, "querystring": dict(request.query), "header": dict(request.headers)}
    snapshot_, stage, stage_variables = None, None, {}
    try:
        found = find_stage(request.path, values["domainName"])
        if found is None:
            body = json.dumps({"message": "Forbidden"}).encode()
            return 403, {"Content-Type": "application/json", "x-amzn-ErrorType": "ForbiddenException"}, body
        account_id, region, backend, api, stage, rest = found
        stage_variables = dict(stage.variables or {})
        values.update({"accountId": account_id, "apiId": api.id, "stage": stage.name, "deploymentId": stage.deployment_id})
        values["path"] = f"/{stage.name}{rest}"
        if stage.tracing_enabled:
            values["xrayTraceId"] = f"1-{int(started):08x}-{secrets.token_hex(12)}"
        snapshot_ = snapshot(api.id, stage.deployment_id)
        if snapshot_ is None:
            raise _emulator_error(f"stage {stage.name} points at deployment {stage.deployment_id}, which has no snapshot")
        routed = match_resource(snapshot_, rest, request.verb)
        if routed is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        resource_id, resource, method, path_params = routed
        params["path"] = path_params
        values.update({"resourceId": resource_id, "resourcePath": resource["path"]})
        if len(request.body) > MAX_PAYLOAD_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE")
        if method.get("authorizationType", "NONE") != "NONE":
            raise _emulator_error(f"authorization type {method['authorizationType']} is not emulated")
        key, plan = None, None
        if method.get("apiKeyRequired"):
            if snapshot_["api_key_source"] != "HEADER":
                raise _emulator_error("API keys from an authorizer are not emulated")
            key, plan = check_api_key(backend, api.id, stage.name, _header(request.headers, "x-api-key"))
            values.update({"identity.apiKey": key.value, "identity.apiKeyId": key.id})
        quota = None
        if plan is not None and plan.quota.get("limit") is not None:
            quota = ((plan.id, key.id), plan.quota["limit"], plan.quota.get("period", "MONTH"))
        limits = throttle_limits(stage, api.id, plan, key.id if key else None, resource["path"], request.verb)
        refused = THROTTLE.admit(limits, quota)
        if refused:
            raise GatewayError(refused)
        body_text = request.body.decode("utf-8", errors="replace")
        content_type = _mime(_header(request.headers, "Content-Type"))
        validate_request(method, snapshot_, params, body_text, content_type)
        call = (method, snapshot_, params, body_text, content_type, accept, stage_variables, api, stage, request, started)
        return _integrate(values, *call)
    except GatewayError as error:
        if error.emulator_error:
            _log_error(f"{values.get('requestId')}: {error.emulator_error}")
        try:
            status, headers, body = gateway_response(snapshot_, error, values, stage_variables, params, accept)
        except vtl.VtlError as err:
            _log_error(str(err))
            status, headers, body = (
                500,
                {"Content-Type": "application/json", "x-emulator-error": str(err)[:500]},
                '{"message": null}',
            )
        if error.emulator_error:
            headers["x-emulator-error"] = error.emulator_error[:500].replace("\n", " ")
        values.update({"error.message": error.message, "error.responseType": error.response_type})
        return _finish(status, headers, body, values, stage, started)


def _integrate(values, method, snapshot_, params, body_text, content_type, accept, stage_variables, api, stage, request, started):
    integration = method.get("methodIntegration") or {}
    if integration.get("type") != "AWS":
        raise _emulator_error(f"integration type {integration.get('type')} is not emulated (only AWS)")
    templates = integration.get("requestTemplates") or {}
    passthrough = integration.get("passthroughBehavior") or "WHEN_NO_MATCH"
    template = templates.get(content_type)
    if template is None and (passthrough == "NEVER" or (passthrough == "WHEN_NO_TEMPLATES" and templates)):
        raise GatewayError("UNSUPPORTED_MEDIA_TYPE")
    try:
        if template:
            payload, values = vtl.render(
                template,
                vtl.REQUEST,
                name=f"{content_type} of {method['httpMethod']} {values['resourcePath']}",
                body=body_text,
                params=params,
                context=values,
                stage_variables=stage_variables,
            )
        else:
            payload = body_text
    except vtl.JsonBodyError as err:
        raise GatewayError("BAD_REQUEST_BODY", str(err).split(": ", 1)[-1]) from None
    except vtl.VtlError as err:
        raise _emulator_error(str(err)) from None
    region, account = api.region_name, values["accountId"]
    source_arn = f"arn:aws:execute-api:{region}:{account}:{api.id}/{stage.name}/{request.verb}{values['resourcePath']}"
    credentials = assume_integration_role(integration.get("credentials"), values["accountId"], source_arn)
    timeout = int(integration.get("timeoutInMillis") or DEFAULT_TIMEOUT_MS) / 1000
    called = time.time()
    try:
        status, headers, backend_body = call_aws_integration(integration.get("uri"), payload, credentials, timeout)
    except (socket.timeout, TimeoutError):
        values["integration.latency"] = values["integrationLatency"] = int((time.time() - called) * 1000)
        raise GatewayError("INTEGRATION_TIMEOUT") from None
    except OSError as err:
        raise GatewayError("INTEGRATION_FAILURE", emulator_error=f"integration call failed: {err}") from None
    latency = int((time.time() - called) * 1000)
    values.update(
        {
            "integration.latency": latency,
            "integrationLatency": latency,
            "integration.status": status,
            "integrationStatus": status,
            "awsEndpointRequestId": _header(headers, "x-amzn-RequestId"),
            "integration.requestId": _header(headers, "x-amzn-RequestId"),
        }
    )
    responses = integration.get("integrationResponses") or {}
    chosen = select_integration_response(responses, status)
    if chosen is None:
        raise _emulator_error(f"no integration response matches status {status} and none is the default")
    if str(chosen["statusCode"]) not in (method.get("methodResponses") or {}):
        raise _emulator_error(f"integration response {chosen['statusCode']} has no method response")
    response_type, response_template = select_template(chosen.get("responseTemplates") or {}, accept)
    try:
        if response_template:
            out, values = vtl.render(
                response_template,
                vtl.RESPONSE,
                name=f"{chosen['statusCode']} {response_type} of {method['httpMethod']} {values['resourcePath']}",
                body=backend_body,
                params=params,
                context=values,
                stage_variables=stage_variables,
            )
        else:
            out = backend_body
    except vtl.VtlError as err:
        raise _emulator_error(str(err)) from None
    final_status = values.get("responseOverride.status") or chosen["statusCode"]
    try:
        final_status = int(str(final_status))
    except ValueError:
        raise _emulator_error(f"$context.responseOverride.status {final_status!r} is not a status code") from None
    out_headers = {"Content-Type": response_type or "application/json"}
    for target, source in (chosen.get("responseParameters") or {}).items():
        name = target.split("method.response.header.", 1)[-1]
        if source.startswith("'") and source.endswith("'"):
            out_headers[name] = source[1:-1]
        elif source.startswith("integration.response.header."):
            value = _header(headers, source.split("integration.response.header.", 1)[1])
            if value is not None:
                out_headers[name] = value
        else:
            raise _emulator_error(f"response parameter source {source!r} is not emulated")
    for key, value in values.items():
        if key.startswith("responseOverride.header."):
            out_headers[key.split("responseOverride.header.", 1)[1]] = vtl.java_str(value)
    return _finish(final_status, out_headers, out, values, stage, started)


def _finish(status, headers, body, values, stage, started):
    data = body.encode() if isinstance(body, str) else body
    headers = dict(headers)
    headers["x-amzn-RequestId"] = values.get("requestId", "")
    values = dict(values)
    values.update({"status": status, "responseLength": len(data), "responseLatency": int((time.time() - started) * 1000)})
    if stage is not None:
        _access_log(stage, values)
    return status, headers, data


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self):
        from urllib.parse import parse_qsl, urlsplit

        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES + 1:
            body = b"x" * (MAX_PAYLOAD_BYTES + 1)  # stands for the unread body: REQUEST_TOO_LARGE
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
        request = Request(self.command, url.path, parse_qsl(url.query), dict(self.headers.items()), body, self.client_address[0])
        try:
            status, headers, data = handle(request)
        except Exception as err:  # an emulator bug: say so, do not hang the client
            _log_error(f"internal error: {err!r}")
            status, headers, data = 500, {"Content-Type": "text/plain", "x-emulator-error": repr(err)[:500]}, repr(err).encode()
        self.send_response(status)
        for name, value in headers.items():
            # HTTP/1.1 header values are Latin-1: escape anything else (an error text, say).
            self.send_header(name, str(value).encode("latin-1", "backslashreplace").decode("latin-1"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format, *args):  # the access log is written by the pipeline
        pass


def start_server(port):
    """Serve on 127.0.0.1:`port` in a daemon thread; returns the server."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="apigateway", daemon=True).start()
    return server
