"""vtl.py against the documentation of API Gateway mapping templates and Velocity 1.7.

Sources (cited per test):
* REF: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
  (the $context, $input, $stageVariables and $util tables; mirror: awsdocs/amazon-api-gateway-developer-guide
  doc_source/api-gateway-mapping-template-reference.md)
* OVERRIDE: https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html
* GATEWAY: awsdocs doc_source/api-gateway-gatewayResponse-definition.md ("rendered in a non-VTL mapping
  template supporting only simple variable substitutions")
* VELOCITY: https://velocity.apache.org/engine/1.7/user-guide.html and the 1.7 jar's ASTEQNode (measured)
* NULLS: LocalStack airspeed snapshot tests recorded on API Gateway (tests/test_templating.snapshot.json:
  test_formal_reference_in_an_if_condition, test_put_null_in_map); toqoz/api-gateway-mapping-template#5
"""

import json
import unittest

import vtl


def render(source, kind=vtl.RESPONSE, **kwargs):
    return vtl.render(source, kind, name="test", **kwargs)


class OnlyDocumentedReferences(unittest.TestCase):
    def test_util_tojson_is_not_an_api_gateway_function(self):
        # REF, $util table: escapeJavaScript, parseJson, urlEncode, urlDecode, base64Encode,
        # base64Decode and nothing else; toJson is AppSync's. API Gateway renders it as ""
        # (NULLS), which made the 422 body invalid JSON (review M2); here it fails.
        with self.assertRaisesRegex(vtl.VtlError, r"template test \(line 1\): \$util\.toJson"):
            render('{"detail": $util.toJson($input.body)}', body='"x"')

    def test_every_documented_util_function_works(self):
        # REF, $util table.
        text, _ = render(
            "$util.urlEncode('a b/~*')|$util.urlDecode('a+b%2F')|$util.base64Encode('hé')|"
            "$util.base64Decode('aMOp')|$util.parseJson('{\"a\":[1]}').a[0]"
        )
        # java.net.URLEncoder: space -> +, "~" encoded, "*" kept.
        self.assertEqual(text, "a+b%2F%7E*|a b/|aMOp|hé|1")

    def test_an_undocumented_context_variable_fails(self):
        # REF, $context table: $context.nope is not in it.
        with self.assertRaisesRegex(vtl.VtlError, r"\$context\.nope"):
            render("$context.nope")
        with self.assertRaisesRegex(vtl.VtlError, r"\$context\.identity\.nope"):
            render("$context.identity.nope")

    def test_documented_context_variables_resolve_and_unset_ones_are_empty(self):
        # REF: $context.identity.apiKeyId, $context.requestId; one with no value (no Cognito
        # here) renders as "" (NULLS).
        text, _ = render(
            "$context.identity.apiKeyId|$context.requestId|$context.identity.cognitoIdentityId|$context.authorizer.anything",
            context={"identity.apiKeyId": "k1", "requestId": "r1"},
        )
        self.assertEqual(text, "k1|r1||")

    def test_gateway_response_only_variables_fail_in_mapping_templates(self):
        # REF: $context.error.message / responseType "can only be used ... in a GatewayResponse
        # body-mapping template ... and in access logging".
        with self.assertRaises(vtl.VtlError):
            render("$context.error.responseType")

    def test_an_undefined_variable_fails(self):
        with self.assertRaisesRegex(vtl.VtlError, r"\$x is not defined"):
            render("#if($x)a#end")

    def test_method_request_is_not_a_mapping_template_variable(self):
        # REF links $method to the data-mapping reference, where method.request.header.X is a
        # parameter-mapping expression (request-response-data-mappings.md), not a VTL variable.
        with self.assertRaisesRegex(vtl.VtlError, r"\$method is not defined.*input\.params"):
            render("$method.request.header.X-Amzn-Trace-Id", kind=vtl.REQUEST)

    def test_stage_variables_are_the_stage_s_only(self):
        # REF, $stageVariables: $stageVariables.name and ['name'].
        text, _ = render("$stageVariables.env|$stageVariables['env']", stage_variables={"env": "dev"})
        self.assertEqual(text, "dev|dev")
        with self.assertRaises(vtl.VtlError):
            render("$stageVariables.other", stage_variables={"env": "dev"})

    def test_an_unknown_java_method_fails(self):
        with self.assertRaisesRegex(vtl.VtlError, r"String has no method toJson"):
            render("$input.body.toJson()", body="x")


class InputVariable(unittest.TestCase):
    BODY = json.dumps({"a": {"b": [1, 2.5, "s", True, None]}, "name": "it's"})

    def test_json_path_body_and_params(self):
        # REF, $input table: body, json(x), path(x), params(), params(x) (path, then query
        # string, then header).
        params = {"path": {"id": "p"}, "querystring": {"q": "1", "id": "q"}, "header": {"X-Trace": "t"}}
        text, _ = render(
            "$input.json('$.a.b')|$input.path('$.a.b')[1]|$input.json('$.a.b[2]')|$input.params('id')|"
            "$input.params('x-trace')|$input.params().querystring.q|$input.body.length()",
            body=self.BODY,
            params=params,
        )
        self.assertEqual(text, f'[1,2.5,"s",true,null]|2.5|"s"|p|t|1|{len(self.BODY)}')

    def test_missing_keys_in_json_data_are_empty_not_errors(self):
        # NULLS: API Gateway turns a null reference into "" (not an error, not the literal).
        text, _ = render(
            "[$input.path('$.missing')][$input.json('$.a.missing')][$util.parseJson($input.body).a.missing.deeper]",
            body=self.BODY,
        )
        self.assertEqual(text, "[][][]")

    def test_a_body_that_is_not_json_is_a_json_body_error(self):
        with self.assertRaises(vtl.JsonBodyError):
            render("$input.json('$')", body="{not json")

    def test_unsupported_jsonpath_fails(self):
        with self.assertRaisesRegex(vtl.VtlError, "JSONPath"):
            render("$input.json('$..b')", body=self.BODY)


class Velocity(unittest.TestCase):
    def test_set_if_elseif_else_foreach(self):
        # VELOCITY: #set, #if/#elseif/#else, #foreach with $foreach.hasNext.
        text, _ = render(
            "#set($n = $input.path('$.n'))#if($n > 5)big#elseif($n == 3)three#{else}small#end"
            "#foreach($i in [1,2,3])$i#if($foreach.hasNext),#end#end",
            body='{"n": 3}',
        )
        self.assertEqual(text, "three1,2,3")

    def test_equality_is_velocity_1_7s(self):
        # VELOCITY (ASTEQNode, measured with velocity-1.7.jar): numbers numerically, other classes
        # by toString(): 422 == "422" is true.
        text, _ = render("#if($input.path('$.n') == \"422\")y#{else}n#end#if(1 == 1.0)y#end", body='{"n": 422}')
        self.assertEqual(text, "yy")

    def test_null_is_true_in_if_and_empty_when_rendered(self):
        # NULLS: on API Gateway `#if(${a.b.c})` with nothing defined renders its body, and a
        # null map value interpolates as "". Velocity 1.7 is false only for false and null.
        text, _ = render(
            '#set($m = $util.parseJson(\'{"f": false, "e": ""}\'))'
            '#if($m.missing)T#end#if($m.f)F#end#if($m.e)E#end#if("$m.missing" == "")empty#end',
        )
        self.assertEqual(text, "TEempty")

    def test_maps_and_lists_render_as_java_does(self):
        # VELOCITY: a parsed object renders with Java's toString (measured: {b=[1, 2.5, s, true, z]}).
        text, _ = render('$util.parseJson(\'{"b":[1,2.5,"s",true,null],"d":1e20}\')')
        self.assertEqual(text, "{b=[1, 2.5, s, true, null], d=1.0E20}")

    def test_string_methods(self):
        # The java.lang.String methods templates use.
        text, _ = render(
            "#set($s = 'com.amazonaws#ThrottlingException')"
            "$s.contains('Throttling') $s.endsWith('Exception') $s.replaceAll('^.*#(\\w+)$', '$1') $s.substring(0, 3) "
            "$s.split('#').size() $s.toUpperCase().startsWith('COM') $s.indexOf('#') $s.matches('.*Exception')"
        )
        self.assertEqual(text, "true true ThrottlingException com 2 true 13 true")

    def test_string_literals_keep_backslashes(self):
        # VELOCITY 1.7: no backslash escapes inside string literals, so "\\'" is the regex \\'
        # (a backslash then a quote), exactly what REF's replaceAll("\\'","'") relies on.
        text, _ = render('$util.escapeJavaScript("it\'s").replaceAll("\\\\\'","\'")')
        self.assertEqual(text, "it's")


class EscapeJavaScript(unittest.TestCase):
    def test_single_quotes_become_backslash_quote(self):
        # REF, escapeJavaScript: "This function will turn any regular single quotes (') into
        # escaped ones (\'). However, the escaped single quotes are not valid in JSON."
        self.assertEqual(vtl.escape_javascript("it's"), "it\\'s")
        with self.assertRaises(ValueError):
            json.loads('"' + vtl.escape_javascript("it's") + '"')

    def test_commons_lang_rules(self):
        # Measured with commons-lang 2.6 StringEscapeUtils.escapeJavaScript (Velocity 1.7's
        # classpath): quotes, backslash, slash, controls, non-ASCII as uppercase \\uXXXX, and
        # characters beyond the BMP as two UTF-16 escapes.
        self.assertEqual(
            vtl.escape_javascript('a"b\\c/d\te\né☃😀\x01'),
            'a\\"b\\\\c\\/d\\te\\n\\u00E9\\u2603\\uD83D\\uDE00\\u0001',
        )

    def test_the_documented_idiom_gives_valid_json(self):
        # REF: $util.escapeJavaScript(data).replaceAll("\\'","'") for JSON properties.
        text, _ = render(
            '{"detail": "$util.escapeJavaScript($input.body).replaceAll("\\\\\'","\'")"}',
            body='{"why": "it\'s a \\"quote\\" / é"}',
        )
        self.assertEqual(json.loads(json.loads(text)["detail"]), {"why": 'it\'s a "quote" / é'})


class ResponseOverride(unittest.TestCase):
    def test_status_and_headers_can_be_overridden_in_integration_responses(self):
        # OVERRIDE: "$context.responseOverride.status" and ".header.header_name" set in an
        # integration response template replace the method response's.
        _, values = render(
            "#set($context.responseOverride.status = 422)#set($context.responseOverride.header.Retry-After = '5')"
            "$context.responseOverride.status"
        )
        self.assertEqual(values["responseOverride.status"], 422)
        self.assertEqual(values["responseOverride.header.Retry-After"], "5")

    def test_response_override_is_not_for_request_templates(self):
        # OVERRIDE: request overrides in integration request templates, response overrides in
        # integration response templates.
        with self.assertRaises(vtl.VtlError):
            render("#set($context.responseOverride.status = 422)", kind=vtl.REQUEST)
        _, values = render("#set($context.requestOverride.header.X-A = 'b')", kind=vtl.REQUEST)
        self.assertEqual(values["requestOverride.header.X-A"], "b")

    def test_ordinary_context_variables_are_read_only(self):
        with self.assertRaisesRegex(vtl.VtlError, "cannot be set"):
            render("#set($context.requestId = 'x')")


class NonVelocityTemplates(unittest.TestCase):
    def test_gateway_response_substitution(self):
        # GATEWAY + REF: $context.error.messageString is already quoted; responseType is not.
        text = vtl.substitute(
            '{"error": "$context.error.responseType", "detail": $context.error.messageString, "stage": "$context.stage"}',
            name="DEFAULT_4XX",
            kind="gateway response",
            context={"error.responseType": "THROTTLED", "error.messageString": '"Too Many Requests"', "stage": "v1"},
        )
        self.assertEqual(json.loads(text), {"error": "THROTTLED", "detail": "Too Many Requests", "stage": "v1"})

    def test_velocity_in_a_gateway_response_fails(self):
        # GATEWAY: not processed by Velocity, so $util/#if would reach the client literally.
        with self.assertRaisesRegex(vtl.VtlError, "not processed by Velocity"):
            vtl.substitute("$util.escapeJavaScript($context.error.message)", name="X", kind="gateway response", context={})
        with self.assertRaisesRegex(vtl.VtlError, r"\$context\.nope"):
            vtl.substitute('{"a": "$context.nope"}', name="X", kind="gateway response", context={})

    def test_access_log_prints_a_dash_for_missing_values(self):
        # ACCESS LOG variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html
        line = vtl.substitute(
            '{"id":"$context.requestId","lat":"$context.integration.latency","waf":"$context.wafResponseCode"}',
            name="v1",
            kind="access log",
            context={"requestId": "r", "integration.latency": 12},
            missing="-",
        )
        self.assertEqual(json.loads(line), {"id": "r", "lat": "12", "waf": "-"})


if __name__ == "__main__":
    unittest.main()
