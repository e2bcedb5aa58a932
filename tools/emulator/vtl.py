"""Velocity as API Gateway runs it, with nothing it does not document.

Engine: airspeed-ext (PyPI, LocalStack's fork of airspeed whose behaviour is snapshot-tested
against API Gateway), with the semantics below patched in where Apache Velocity 1.7 (the Java
engine; measured side by side, see the helper report) or API Gateway differ from it.

Why strict: API Gateway never fails on a bad reference. `$util.toJson(...)` (AppSync's, not API
Gateway's), `$context.nope` or an undefined `$x` render as an empty string (community-verified:
toqoz/api-gateway-mapping-template#5, LocalStack airspeed snapshot tests recorded on AWS) and
the request goes on, which is how an invalid JSON body reached clients (review M2). Here every
reference to a variable, property or function API Gateway does not document for that kind of
template raises `VtlError` naming the reference, the template and the line.

What is NOT an error, as in API Gateway: a key missing from JSON data (parseJson, $input.path)
or a JSON null. API Gateway turns such a null reference into the empty string *before* using
it, so it renders as "", compares equal to "", and is TRUE in `#if` (Velocity 1.7 tests only
for null; LocalStack's AWS-recorded snapshot: `#if($undefined)` renders its body). `NULL` below
models that value.

Sources:
- variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
  (mirror: awsdocs/amazon-api-gateway-developer-guide doc_source/api-gateway-mapping-template-reference.md)
- access-log variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html
- gateway responses are not VTL: awsdocs doc_source/api-gateway-gatewayResponse-definition.md
- overrides: https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html
- Velocity 1.7 semantics: https://velocity.apache.org/engine/1.7/user-guide.html (#if, ==, strings)
"""

import base64
import binascii
import json
import operator
import re
import threading
import urllib.parse
from decimal import Decimal

from airspeed import operators as _ops

MAPPING_TEMPLATE_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html"
ACCESS_LOG_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html"

# $context for data transformations, as documented (mapping-template reference, 2023 mirror,
# plus `deploymentId` from the live page). `*` = any name below that prefix.
DATA_TRANSFORMATION_CONTEXT = (
    "accountId",
    "apiId",
    "authorizer.claims.*",
    "authorizer.principalId",
    "authorizer.*",
    "awsEndpointRequestId",
    "deploymentId",
    "domainName",
    "domainPrefix",
    "error.message",
    "error.messageString",
    "error.responseType",
    "error.validationErrorString",
    "extendedRequestId",
    "httpMethod",
    "identity.accountId",
    "identity.apiKey",
    "identity.apiKeyId",
    "identity.caller",
    "identity.cognitoAuthenticationProvider",
    "identity.cognitoAuthenticationType",
    "identity.cognitoIdentityId",
    "identity.cognitoIdentityPoolId",
    "identity.principalOrgId",
    "identity.sourceIp",
    "identity.user",
    "identity.userAgent",
    "identity.userArn",
    "path",
    "protocol",
    "requestId",
    "requestOverride.header.*",
    "requestOverride.path.*",
    "requestOverride.querystring.*",
    "responseOverride.header.*",
    "responseOverride.status",
    "requestTime",
    "requestTimeEpoch",
    "resourceId",
    "resourcePath",
    "stage",
    "wafResponseCode",
    "webaclArn",
    "xrayTraceId",
)
# "This variable can only be used for simple variable substitution in a GatewayResponse
# body-mapping template ... and in access logging" (same page): not in integration templates.
GATEWAY_RESPONSE_ONLY = ("error.message", "error.responseType")
# Access logging only (same page, "$context Variables for access logging only").
ACCESS_LOG_ONLY_CONTEXT = (
    "authorize.error",
    "authorize.latency",
    "authorize.status",
    "authorizer.error",
    "authorizer.integrationLatency",
    "authorizer.integrationStatus",
    "authorizer.latency",
    "authorizer.requestId",
    "authorizer.status",
    "authenticate.error",
    "authenticate.latency",
    "authenticate.status",
    "integration.error",
    "integration.integrationStatus",
    "integration.latency",
    "integration.requestId",
    "integration.status",
    "integrationErrorMessage",
    "integrationLatency",
    "integrationStatus",
    "responseLatency",
    "responseLength",
    "status",
    "waf.error",
    "waf.latency",
    "waf.status",
)
UTIL_FUNCTIONS = ("escapeJavaScript", "parseJson", "urlEncode", "urlDecode", "base64Encode", "base64Decode")

# Template kinds, each with the $context names it may read and the ones it may #set.
# requestOverride is set in the integration request template and readable later; responseOverride
# is set in the integration response template (override page above).
REQUEST, RESPONSE = "integration request", "integration response"
_INTEGRATION_CONTEXT = tuple(n for n in DATA_TRANSFORMATION_CONTEXT if n not in GATEWAY_RESPONSE_ONLY)
_READABLE = {
    REQUEST: tuple(n for n in _INTEGRATION_CONTEXT if not n.startswith("responseOverride")),
    RESPONSE: _INTEGRATION_CONTEXT,
}
_WRITABLE = {
    REQUEST: ("requestOverride.header.*", "requestOverride.path.*", "requestOverride.querystring.*"),
    RESPONSE: ("responseOverride.status", "responseOverride.header.*"),
}


class VtlError(Exception):
    """A template uses something API Gateway does not document (or fails at run time)."""


class JsonBodyError(VtlError):
    """$input.json/path on a body that is not JSON: API Gateway answers 400 (BAD_REQUEST_BODY,
    "Could not parse request body into json"; community reports, exact text uncertain)."""


class _JsonNull(str):
    """A null reference, after API Gateway has turned it into the empty string."""

    def __repr__(self):
        return "NULL"


NULL = _JsonNull("")
_local = threading.local()


def _fail(message):
    where = getattr(_local, "where", None) or "template"
    line = getattr(_local, "line", None)
    at = f" (line {line})" if line else ""
    raise VtlError(f"{where}{at}: {message} [documented variables: {MAPPING_TEMPLATE_DOC}]")


# --- Java's view of the values ---------------------------------------------------------------


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _java_double(value):
    """Double.toString: plain notation in [1e-3, 1e7), else shortest digits as d.dddE<n>."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{exponent + len(text) - 1}"


def java_str(value, nested=False):
    """How Velocity renders a value: Java's toString (HashMap `{k=v}`, ArrayList `[a, b]`)."""
    if value is None:
        return "null" if nested else ""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_str(k, True)}={java_str(v, True)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(java_str(v, True) for v in value) + "]"
    if isinstance(value, _VtlObject):
        _fail(f"cannot render ${value.path} itself")
    return str(value)


def truthy(value):
    """Velocity 1.7 `#if`: false only for false and null; API Gateway's null is "" (true)."""
    if value is None or value is False:
        return False
    return True


def java_equals(left, right):
    """Velocity 1.7 `==`: numbers numerically, same classes by equals(), others by toString()."""
    if _is_number(left) and _is_number(right):
        return left == right
    if left is None or right is None:
        return left is None and right is None
    same = (
        (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, bool) and isinstance(right, bool))
        or (isinstance(left, dict) and isinstance(right, dict))
        or (isinstance(left, list) and isinstance(right, list))
    )
    if same:
        return left == right
    return java_str(left, True) == java_str(right, True)


def _compare(op):
    def compare(left, right):
        # Velocity 1.7 compares numbers only; anything else logs an error and is false.
        return op(left, right) if _is_number(left) and _is_number(right) else False

    return compare


def _arith(op):
    def apply(left, right):
        if op == "+" and (isinstance(left, str) or isinstance(right, str)):
            return java_str(left) + java_str(right)
        if not (_is_number(left) and _is_number(right)):
            return None
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if right == 0:
            return None
        if isinstance(left, int) and isinstance(right, int):
            quotient = abs(left) // abs(right) * (1 if (left >= 0) == (right >= 0) else -1)
            return quotient if op == "/" else left - quotient * right
        return left / right if op == "/" else left - right * int(left / right)

    return apply


# --- Java regular expressions ----------------------------------------------------------------


def _java_regex(pattern):
    try:
        return re.compile(pattern)
    except re.error as err:
        _fail(f"regular expression {pattern!r} is not supported here ({err})")


def _java_replacement(replacement):
    """Matcher.replaceAll's replacement: `$1`/`${name}` are groups, backslash quotes the next char."""

    def expand(match):
        out, i = [], 0
        while i < len(replacement):
            ch = replacement[i]
            if ch == "\\" and i + 1 < len(replacement):
                out.append(replacement[i + 1])
                i += 2
            elif ch == "$":
                named = re.match(r"\{(\w+)\}", replacement[i + 1 :])
                number = re.match(r"\d", replacement[i + 1 :])
                if named:
                    out.append(match.group(named.group(1)) or "")
                    i += 1 + len(named.group(0))
                elif number:
                    out.append(match.group(int(number.group(0))) or "")
                    i += 2
                else:
                    _fail(f"illegal group reference in replacement {replacement!r}")
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    return expand


def _java_split(text, regex, limit=0):
    parts = _java_regex(regex).split(text) if limit <= 0 else _java_regex(regex).split(text, limit - 1)
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


def _index_of(text, sub, start=0):
    return text.find(java_str(sub), start)


def _substring(text, begin, end=None):
    end = len(text) if end is None else end
    if not 0 <= begin <= end <= len(text):
        _fail(f"substring({begin}, {end}) out of range for a string of length {len(text)}")
    return text[begin:end]


# Java methods templates may call, per receiver type (java.lang.String, java.util.List, Map,
# Number, Boolean). Anything else is an error here (API Gateway: silently "").
STRING_METHODS = {
    "charAt": lambda s, i: s[i],
    "concat": lambda s, o: s + java_str(o),
    "contains": lambda s, o: java_str(o) in s,
    "endsWith": lambda s, o: s.endswith(java_str(o)),
    "equals": lambda s, o: isinstance(o, str) and s == o,
    "equalsIgnoreCase": lambda s, o: isinstance(o, str) and s.lower() == o.lower(),
    "indexOf": _index_of,
    "isEmpty": lambda s: s == "",
    "lastIndexOf": lambda s, o: s.rfind(java_str(o)),
    "length": lambda s: len(s.encode("utf-16-le")) // 2,
    "matches": lambda s, p: _java_regex(p).fullmatch(s) is not None,
    "replace": lambda s, a, b: s.replace(java_str(a), java_str(b)),
    "replaceAll": lambda s, p, r: _java_regex(p).sub(_java_replacement(r), s),
    "replaceFirst": lambda s, p, r: _java_regex(p).sub(_java_replacement(r), s, count=1),
    "split": _java_split,
    "startsWith": lambda s, o: s.startswith(java_str(o)),
    "substring": _substring,
    "toLowerCase": lambda s: s.lower(),
    "toString": lambda s: str(s),
    "toUpperCase": lambda s: s.upper(),
    "trim": lambda s: s.strip(" \t\n\r\x0b\x0c\x00"),
}


def _list_get(items, index):
    if not isinstance(index, int) or not 0 <= index < len(items):
        _fail(f"list index {index!r} out of range")
    return items[index]


def _map_put(mapping, key, value):
    previous = mapping.get(key)
    mapping[key] = value
    return previous


LIST_METHODS = {
    "add": lambda items, value: items.append(value) or True,
    "contains": lambda items, value: any(java_equals(i, value) for i in items),
    "get": _list_get,
    "indexOf": lambda items, value: next((n for n, i in enumerate(items) if java_equals(i, value)), -1),
    "isEmpty": lambda items: not items,
    "size": lambda items: len(items),
    "toString": lambda items: java_str(items),
}
MAP_METHODS = {
    "containsKey": lambda m, k: k in m,
    "containsValue": lambda m, v: any(java_equals(i, v) for i in m.values()),
    "get": lambda m, k: m.get(k),
    "isEmpty": lambda m: not m,
    "keySet": lambda m: list(m.keys()),
    "put": _map_put,
    "putAll": lambda m, other: m.update(other),
    "remove": lambda m, k: m.pop(k, None),
    "size": lambda m: len(m),
    "toString": lambda m: java_str(m),
    "values": lambda m: list(m.values()),
}
NUMBER_METHODS = {
    "toString": lambda n: java_str(n),
    "intValue": lambda n: int(n),
    "doubleValue": lambda n: float(n),
}
BOOLEAN_METHODS = {"toString": lambda b: java_str(b), "booleanValue": lambda b: b}


def _java_type(value):
    if isinstance(value, str):
        return "String", STRING_METHODS
    if isinstance(value, bool):
        return "Boolean", BOOLEAN_METHODS
    if _is_number(value):
        return "Number", NUMBER_METHODS
    if isinstance(value, dict):
        return "Map", MAP_METHODS
    if isinstance(value, list):
        return "List", LIST_METHODS
    return type(value).__name__, {}


# --- the documented variables ----------------------------------------------------------------


class _VtlObject:
    """A documented API Gateway object: only its documented members resolve."""

    path = "?"

    def member(self, name, call, args):
        raise NotImplementedError

    def __getitem__(self, name):  # airspeed's #set walks assignment targets with []
        return self.member(name, False, ())

    def __setitem__(self, name, value):
        _fail(f"${self.path}.{name} cannot be set in an {_local.kind} template")


class _ContextNode(_VtlObject):
    """A level of $context. `names` are the documented names below it (dotted, relative; `*` =
    any name); `writable` the ones this template kind may #set."""

    def __init__(self, path, names, values, writable):
        self.path = path
        self._names = names
        self._values = values  # shared by the whole tree: "identity.apiKeyId" -> value
        self._writable = writable

    def _key(self, name):
        return f"{self.path}.{name}".split(".", 1)[1]

    def member(self, name, call, args):
        if call:
            _fail(f"${self.path}.{name}() is not a function")
        below = tuple(n[len(name) + 1 :] for n in self._names if n.startswith(name + "."))
        if below:
            writable = tuple(w[len(name) + 1 :] for w in self._writable if w.startswith(name + "."))
            return _ContextNode(f"{self.path}.{name}", below, self._values, writable)
        if name not in self._names and "*" not in self._names:
            _fail(f"${self.path}.{name} is not a documented $context variable in {_local.kind} templates")
        value = self._values.get(self._key(name))
        return NULL if value is None else value

    def __setitem__(self, name, value):
        if name not in self._writable and "*" not in self._writable:
            super().__setitem__(name, value)
        self._values[self._key(name)] = value


class _StageVariables(_VtlObject):
    path = "stageVariables"

    def __init__(self, variables):
        self._variables = variables

    def member(self, name, call, args):
        if call or name not in self._variables:
            _fail(f"$stageVariables.{name} is not a variable of this stage")
        return self._variables[name]


def escape_javascript(text):
    """commons-lang 2.x StringEscapeUtils.escapeJavaScript, which API Gateway's documented `'`
    → `\\'` behaviour matches (measured against commons-lang 2.6 with Velocity 1.7): also `"`,
    `\\`, `/`, control characters, and every non-ASCII UTF-16 unit as uppercase \\uXXXX."""
    out = []
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        code = units[i] | units[i + 1] << 8
        ch = chr(code)
        if code > 0x7F:
            out.append(f"\\u{code:04X}")
        elif code < 32:
            out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(code, f"\\u{code:04X}"))
        else:
            out.append({"'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/"}.get(ch, ch))
    return "".join(out)


class _Util(_VtlObject):
    path = "util"

    def member(self, name, call, args):
        if name not in UTIL_FUNCTIONS:
            _fail(f"$util.{name} is not a $util function of API Gateway (it has exactly {', '.join(UTIL_FUNCTIONS)})")
        if not call or len(args) != 1:
            _fail(f"$util.{name} takes exactly one argument")
        (value,) = args
        if not isinstance(value, str):
            _fail(f"$util.{name} expects a string, got {_java_type(value)[0]}")
        if name == "escapeJavaScript":
            return escape_javascript(value)
        if name == "parseJson":
            try:
                return json.loads(value)
            except ValueError as err:
                _fail(f"$util.parseJson: not JSON ({err})")
        if name == "urlEncode":
            # java.net.URLEncoder: space → "+", keeps only [A-Za-z0-9.*_-].
            return urllib.parse.quote_plus(value, safe="*").replace("~", "%7E")
        if name == "urlDecode":
            return urllib.parse.unquote_plus(value)
        if name == "base64Encode":
            return base64.b64encode(value.encode()).decode()
        try:
            return base64.b64decode(value.encode(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            _fail(f"$util.base64Decode: {err}")


def json_path(document, path):
    """The JSONPath subset mapping templates use: `$`, `.name`, `['name']`, `[n]`."""
    if not isinstance(path, str) or not path.startswith("$"):
        _fail(f"JSONPath {path!r} must start with $")
    steps = re.findall(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]", path[1:])
    rebuilt = "".join(re.findall(r"\.[A-Za-z0-9_-]+|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\]", path[1:]))
    if rebuilt != path[1:]:
        _fail(f"JSONPath {path!r} uses syntax this emulator does not implement (only $, .a, ['a'], [0])")
    current = document
    for name, index, quoted, double in steps:
        key = name or quoted or double
        if index:
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
        else:
            current = current.get(key) if isinstance(current, dict) else None
        if current is None:
            return None
    return current


class _Input(_VtlObject):
    path = "input"

    def __init__(self, body, params):
        self._body = body
        self._params = params

    def _document(self):
        if self._body.strip() == "":
            return {}  # uncertain: API Gateway gives {} for an empty body
        try:
            return json.loads(self._body)
        except ValueError as err:
            raise JsonBodyError(f"Could not parse request body into json: {err}") from None

    def member(self, name, call, args):
        if name == "body" and not call:
            return self._body
        if name == "json" and call and len(args) == 1:
            found = json_path(self._document(), args[0])
            return NULL if found is None else json.dumps(found, separators=(",", ":"), ensure_ascii=False)
        if name == "path" and call and len(args) == 1:
            found = json_path(self._document(), args[0])
            return NULL if found is None else found
        if name == "params" and call and not args:
            return self._params
        if name == "params" and call and len(args) == 1:
            for where in ("path", "querystring", "header"):
                for key, value in self._params.get(where, {}).items():
                    if key == args[0] or (where == "header" and key.lower() == str(args[0]).lower()):
                        return value
            return NULL
        _fail(f"$input.{name}{'(...)' if call else ''} is not one of $input.body, json(x), path(x), params(), params(x)")


class _Root(dict):
    """The template's top-level names; anything undefined is an error."""

    def __getitem__(self, key):
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            hint = ""
            if key == "method":
                hint = " (method.request.* is parameter-mapping syntax, not a mapping-template variable: use $input.params('X'))"
            _fail(f"${key} is not defined{hint}")


# --- the engine patch ------------------------------------------------------------------------


def _resolve(element, current, loader, top):
    call = element.parameters is not None
    args = tuple(element.parameters.calculate(top, loader)) if call else ()
    if isinstance(current, _ops.LocalNamespace):
        value = current[element.name]
        if isinstance(value, _ops._FunctionDefinition):
            return _original_calculate(element, current, loader, top)
        if call:
            _fail(f"${element.name}(...) is not a function")
    elif isinstance(current, _VtlObject):
        value = current.member(element.name, call, args)
    elif call:
        kind, methods = _java_type(current)
        method = methods.get(element.name)
        if method is None:
            _fail(f"{kind} has no method {element.name}() usable here")
        try:
            value = method(current, *args)
        except (TypeError, IndexError, ValueError) as err:
            _fail(f"{kind}.{element.name}{args!r} failed: {err}")
    elif isinstance(current, dict):
        value = current.get(element.name)  # Map.get: a missing key is null, not an error
    elif current is NULL:
        value = NULL  # API Gateway: a property of a null reference is "" as well
    elif element.name == "empty" and isinstance(current, (str, list)):
        value = len(current) == 0  # Velocity's isEmpty() property
    else:
        _fail(f"{_java_type(current)[0]} has no property .{element.name}")
    if element.index is not None:
        index = element.index.calculate(top, loader)
        if isinstance(value, list) and isinstance(index, int) and not isinstance(index, bool):
            value = value[index] if 0 <= index < len(value) else None
        elif isinstance(value, dict):
            value = value.get(index)
        elif isinstance(value, _VtlObject) and isinstance(index, str):
            value = value.member(index, False, ())  # $stageVariables['name'] (REF)
        elif value is NULL:
            value = NULL
        else:
            _fail(f"cannot index {_java_type(value)[0]} with [{index!r}]")
    return NULL if value is None else value


def _strict_calculate(self, current_object, loader, top_namespace):
    line = self._full_text.count("\n", 0, self.start) + 1
    previous = getattr(_local, "line", None)
    _local.line = line
    try:
        return _resolve(self, current_object, loader, top_namespace)
    finally:
        _local.line = previous


_original_calculate = _ops.NameOrCall.calculate


def _patch_airspeed():
    if getattr(_ops, "_api_gateway_patched", False):
        return
    _ops.NameOrCall.calculate = _strict_calculate
    _ops.value_to_string = java_str
    operators = _ops.BinaryOperator.OPERATORS
    operators["=="] = operators["eq"] = java_equals
    operators["!="] = operators["ne"] = lambda a, b: not java_equals(a, b)
    comparisons = ((">", "gt", operator.gt), (">=", "ge", operator.ge), ("<", "lt", operator.lt), ("<=", "le", operator.le))
    for symbol, word, fn in comparisons:
        operators[symbol] = operators[word] = _compare(fn)
    operators["&&"] = operators["and"] = lambda a, b: truthy(a) and truthy(b)
    operators["||"] = operators["or"] = lambda a, b: truthy(a) or truthy(b)
    for op in "+-*/%":
        operators[op] = _arith(op)
    _ops.Condition.calculate = lambda self, ns, loader: truthy(self.expression.calculate(ns, loader))
    _ops.UnaryOperatorValue.calculate = lambda self, ns, loader: not truthy(self.value.calculate(ns, loader))
    _ops._api_gateway_patched = True


_patch_airspeed()
_TEMPLATES = {}
_TEMPLATES_LOCK = threading.Lock()


def _compiled(source, where):
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(source)
    if template is None:
        template = _ops.Template(source, where)
        try:
            template.ensure_compiled()
        except _ops.TemplateSyntaxError as err:
            raise VtlError(f"{where}: Velocity syntax error: {err}") from None
        with _TEMPLATES_LOCK:
            _TEMPLATES[source] = template
    return template


def context_object(kind, values):
    """$context for a template kind; `values` maps dotted names (e.g. "identity.apiKeyId") to values
    and receives the overrides the template sets."""
    return _ContextNode("context", _READABLE[kind], values, _WRITABLE[kind])


def render(source, kind, *, name, body="", params=None, context=None, stage_variables=None):
    """Renders an integration request/response mapping template.

    Returns (text, context_values): context_values holds what the template #set, e.g.
    "responseOverride.status" or "responseOverride.header.X-Foo"."""
    values = dict(context or {})
    params = params or {"path": {}, "querystring": {}, "header": {}}
    namespace = _Root(
        context=context_object(kind, values),
        input=_Input(body, params),
        util=_Util(),
        stageVariables=_StageVariables(stage_variables or {}),
    )
    where = f"{kind} template {name}"
    template = _compiled(source, where)
    _local.where, _local.kind = where, kind
    try:
        text = template.merge(namespace)
    except _ops.TemplateExecutionError as err:
        cause, expression = err.__cause__, err.element.my_text().strip()[:200]
        if isinstance(cause, VtlError):
            raise type(cause)(f"{cause} -- in `{expression}`") from None
        raise VtlError(f"{where}: {type(cause).__name__}: {cause} -- in `{expression}`") from None
    except _ops.TemplateError as err:
        raise VtlError(f"{where}: {err}") from None
    finally:
        _local.where = _local.kind = _local.line = None
    return text, values


# --- non-VTL substitution: gateway responses and access logs ---------------------------------

_SUBSTITUTION = re.compile(r"\$(context|stageVariables|method\.request\.(?:path|querystring|header))((?:\.[A-Za-z0-9_-]+)+)")
GATEWAY_RESPONSE_CONTEXT = DATA_TRANSFORMATION_CONTEXT
ACCESS_LOG_CONTEXT = DATA_TRANSFORMATION_CONTEXT + ACCESS_LOG_ONLY_CONTEXT


def _documented_prefix(dotted, names):
    """The longest documented name that `dotted` starts with (the rest is literal text)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        for name in names:
            wildcard = name.endswith(".*") and candidate.startswith(name[:-2] + ".") and end == len(name.split("."))
            if name == candidate or wildcard:
                return candidate, "." + ".".join(parts[end:]) if end < len(parts) else ""
    return None, None


def substitute(source, *, name, kind, context, stage_variables=None, request_params=None, missing=""):
    """Gateway-response templates and access-log formats: plain `$context.x` substitution, no
    Velocity ("rendered in a non-VTL mapping template supporting only simple variable
    substitutions", gateway-response doc). `missing` is what an unset value prints: "" in a
    gateway response, "-" in an access log."""
    names = ACCESS_LOG_CONTEXT if kind == "access log" else GATEWAY_RESPONSE_CONTEXT
    where = f"{kind} template {name}"
    for directive in ("#set", "#if", "#foreach", "$util.", "$input."):
        if directive in source:
            raise VtlError(f"{where}: {directive} is Velocity, but {kind} templates are not processed by Velocity")

    def value_of(match):
        root, dotted = match.group(1), match.group(2)[1:]
        if root == "context":
            found, rest = _documented_prefix(dotted, names)
            if found is None:
                raise VtlError(f"{where}: $context.{dotted} is not a documented $context variable ({ACCESS_LOG_DOC})")
            value = context.get(found)
        elif root == "stageVariables":
            found, rest = dotted.split(".")[0], "." + ".".join(dotted.split(".")[1:]) if "." in dotted else ""
            if found not in (stage_variables or {}):
                raise VtlError(f"{where}: $stageVariables.{found} is not a variable of this stage")
            value = stage_variables[found]
        else:
            where_in = root.split(".")[-1]
            found, rest = dotted.split(".")[0], "." + ".".join(dotted.split(".")[1:]) if "." in dotted else ""
            value = (request_params or {}).get(where_in, {}).get(found)
        return (missing if value is None or value == "" else java_str(value)) + rest

    return _SUBSTITUTION.sub(value_of, source)
