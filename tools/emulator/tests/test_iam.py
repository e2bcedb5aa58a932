"""iam.py against the AWS documentation it follows:

* IAM User Guide, "Policy evaluation logic" and "The difference between explicit and
  implicit denies" (an explicit Deny wins; without an Allow the request is denied);
* IAM User Guide, "IAM JSON policy elements: Condition operators" ("If the key that you
  specify in a policy condition is not present in the request context, the values do not
  match and the condition is false. If the policy condition requires that the key is not
  matched, such as StringNotLike or ArnNotLike, and the right key is not present, the
  condition is true. This logic applies to all condition operators except ...IfExists and
  Null check.");
* IAM User Guide, "IAM JSON policy elements: Resource" / ArnLike ("Each of the six
  colon-delimited components of the ARN is checked separately");
* DynamoDB Developer Guide, "Using IAM with DynamoDB transactions" (no TransactWriteItems
  action: each item's own action on its table);
* Lambda Developer Guide, "Resources and conditions for Lambda actions" (Invoke is
  lambda:InvokeFunction on the function ARN);
* IAM User Guide, "Troubleshoot access denied error messages" (the message format);
* research notes /work/plan/facts-apigw-iam-sfn-cfn.md section 3 (which condition keys a
  service sends when it assumes a role).
"""

import json
import os
import unittest

import iam
from tests import support


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"


class Evaluation(unittest.TestCase):
    def test_an_explicit_deny_wins_over_any_allow(self):
        allow = policy({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
        deny = policy({"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE})
        self.assertEqual(iam.evaluate([allow, deny], "dynamodb:DeleteItem", TABLE, {}), "Deny")
        self.assertEqual(iam.evaluate([allow, deny], "dynamodb:GetItem", TABLE, {}), "Allow")

    def test_without_an_allow_the_request_is_implicitly_denied(self):
        allow = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE})
        self.assertIsNone(iam.evaluate([allow], "dynamodb:PutItem", TABLE, {}))
        self.assertIsNone(iam.evaluate([allow], "dynamodb:GetItem", TABLE + "-other", {}))

    def test_actions_match_case_insensitively_and_resources_do_not(self):
        allow = policy({"Effect": "Allow", "Action": "DynamoDB:getitem", "Resource": TABLE})
        self.assertEqual(iam.evaluate([allow], "dynamodb:GetItem", TABLE, {}), "Allow")
        self.assertIsNone(iam.evaluate([allow], "dynamodb:GetItem", TABLE.upper(), {}))

    def test_not_action_and_not_resource_exclude(self):
        allow = policy({"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "NotResource": TABLE})
        self.assertIsNone(iam.evaluate([allow], "dynamodb:GetItem", TABLE, {}))
        self.assertEqual(iam.evaluate([allow], "dynamodb:GetItem", TABLE + "2", {}), "Allow")
        self.assertIsNone(iam.evaluate([allow], "dynamodb:DeleteItem", TABLE + "2", {}))
        # A Deny with NotResource denies everything else (moto treats it as an Allow).
        deny = policy({"Effect": "Deny", "Action": "*", "NotResource": TABLE})
        self.assertEqual(iam.evaluate([deny], "s3:GetObject", "arn:aws:s3:::b/k", {}), "Deny")

    def test_a_table_grant_does_not_cover_its_indexes_or_streams(self):
        allow = policy({"Effect": "Allow", "Action": "dynamodb:Query", "Resource": TABLE})
        self.assertIsNone(iam.evaluate([allow], "dynamodb:Query", TABLE + "/index/by-merchant", {}))
        both = policy({"Effect": "Allow", "Action": "dynamodb:Query", "Resource": TABLE + "/index/*"})
        self.assertEqual(iam.evaluate([both], "dynamodb:Query", TABLE + "/index/by-merchant", {}), "Allow")

    def test_arn_wildcards_are_matched_segment_by_segment(self):
        self.assertTrue(iam.arn_like("arn:aws:logs:*:*:log-group:/aws/lambda/f:*",
                                     "arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/f:log-stream:s"))
        self.assertFalse(iam.arn_like("arn:aws:dynamodb:*:*:table/t", "arn:aws:dynamodb:eu-west-1:1:table/t/index/i"))
        self.assertTrue(iam.arn_like("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b.json"))
        self.assertFalse(iam.arn_like("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"))

    def test_a_missing_key_makes_a_condition_false_and_a_negated_one_true(self):
        statement = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                     "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}}}
        self.assertIsNone(iam.evaluate([policy(statement)], "kms:Decrypt", "k", {}))
        via = {"kms:viaservice": "dynamodb.eu-west-1.amazonaws.com"}
        self.assertEqual(iam.evaluate([policy(statement)], "kms:Decrypt", "k", via), "Allow")
        negated = dict(statement, Condition={"StringNotEquals": {"kms:ViaService": "x"}})
        self.assertEqual(iam.evaluate([policy(negated)], "kms:Decrypt", "k", {}), "Allow")
        if_exists = dict(statement, Condition={"StringEqualsIfExists": {"kms:ViaService": "x"}})
        self.assertEqual(iam.evaluate([policy(if_exists)], "kms:Decrypt", "k", {}), "Allow")

    def test_an_unmet_condition_on_a_deny_does_not_deny(self):
        # moto denies here: it ignores the Bool condition and applies the Deny.
        deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
        context = {"aws:securetransport": "true"}
        self.assertEqual(iam.evaluate([policy(deny, allow)], "s3:GetObject", "arn:aws:s3:::b/k", context), "Allow")
        self.assertEqual(iam.evaluate([policy(deny, allow)], "s3:GetObject", "arn:aws:s3:::b/k",
                                      {"aws:securetransport": "false"}), "Deny")

    def test_null_and_set_operators(self):
        def holds(block, context):
            return iam.conditions_hold(block, context, set())

        self.assertTrue(holds({"Null": {"aws:TokenIssueTime": "true"}}, {}))
        self.assertFalse(holds({"Null": {"aws:TokenIssueTime": "false"}}, {}))
        operation = {"dynamodb:enclosingoperation": "TransactWriteItems"}
        self.assertTrue(holds({"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}},
                              operation))
        self.assertFalse(holds({"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}},
                               {}))
        self.assertTrue(holds({"ForAllValues:StringLike": {"aws:TagKeys": ["env*"]}}, {}))
        self.assertTrue(holds({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}))
        self.assertTrue(holds({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
                              {"aws:currenttime": "2021-01-01T00:00:00Z"}))
        self.assertTrue(holds({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"}))

    def test_keys_the_emulator_does_not_model_are_recorded(self):
        seen = set()
        statement = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                     "Condition": {"StringEquals": {"kms:ViaService": "x", "aws:SourceAccount": "1"}}}
        iam.evaluate([policy(statement)], "kms:Decrypt", "k", {}, None, seen)
        self.assertEqual(seen, {"kms:ViaService"})

    def test_policy_variables(self):
        allow = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:username}/*"})
        self.assertEqual(iam.evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/ana/x", {"aws:username": "ana"}), "Allow")
        self.assertIsNone(iam.evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/bob/x", {"aws:username": "ana"}))


class TrustPolicies(unittest.TestCase):
    """Only the keys a service sends (SERVICE_CONTEXT) reach the trust policy; an uncertain
    key is left out, so a condition on it fails (facts file section 3)."""

    @classmethod
    def setUpClass(cls):
        support.emulator()

    def assume(self, name, service, condition, context):
        arn = support.role(name, service, [], condition)
        return iam.assume_role_for_service(arn, service, context)

    def test_lambda_sends_its_source_account(self):
        condition = {"StringEquals": {"aws:SourceAccount": support.ACCOUNT}}
        credentials = self.assume("t-lambda-account", "lambda.amazonaws.com", condition,
                                  {"aws:SourceAccount": support.ACCOUNT})
        self.assertTrue(credentials["AccessKeyId"].startswith("ASIA"))
        self.assertIn("SessionToken", credentials)

    def test_lambda_source_arn_is_uncertain_so_a_condition_on_it_fails(self):
        condition = {"ArnLike": {"aws:SourceArn": "arn:aws:lambda:*:*:function:f"}}
        with self.assertRaises(iam.AssumeRoleDenied):
            self.assume("t-lambda-arn", "lambda.amazonaws.com", condition,
                        {"aws:SourceArn": "arn:aws:lambda:eu-west-1:123456789012:function:f"})

    def test_step_functions_sends_source_arn_and_account(self):
        machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:m"
        condition = {"ArnLike": {"aws:SourceArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:*"},
                     "StringEquals": {"aws:SourceAccount": support.ACCOUNT}}
        self.assume("t-states", "states.amazonaws.com", condition,
                    {"aws:SourceArn": machine, "aws:SourceAccount": support.ACCOUNT})

    def test_api_gateway_does_not_send_source_account(self):
        # Review M1; facts file: PR #479 of aws-solutions-library-samples, live repro.
        condition = {"StringEquals": {"aws:SourceAccount": support.ACCOUNT}}
        with self.assertRaises(iam.AssumeRoleDenied) as denied:
            self.assume("t-apigw", "apigateway.amazonaws.com", condition, {"aws:SourceAccount": support.ACCOUNT})
        self.assertIn("apigateway.amazonaws.com cannot assume", denied.exception.reason)
        self.assume("t-apigw-plain", "apigateway.amazonaws.com", None, {"aws:SourceAccount": support.ACCOUNT})

    def test_another_service_principal_or_a_missing_role_is_refused(self):
        ec2_role = support.role("t-other", "ec2.amazonaws.com", [])
        with self.assertRaises(iam.AssumeRoleDenied):
            iam.assume_role_for_service(ec2_role, "lambda.amazonaws.com", {})
        with self.assertRaises(iam.AssumeRoleDenied):
            iam.assume_role_for_service("arn:aws:iam::123456789012:role/missing", "lambda.amazonaws.com", {})


class Requests(unittest.TestCase):
    """Requests signed with a role session's credentials, over HTTP, against the server."""

    @classmethod
    def setUpClass(cls):
        support.emulator()
        ddb = support.client("dynamodb")
        for name in ("iam-orders", "iam-audit"):
            ddb.create_table(
                TableName=name, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                      {"AttributeName": "m", "AttributeType": "S"}],
                GlobalSecondaryIndexes=[{"IndexName": "by-m", "KeySchema": [{"AttributeName": "m", "KeyType": "HASH"}],
                                         "Projection": {"ProjectionType": "ALL"}}])
        cls.orders = f"arn:aws:dynamodb:{support.REGION}:{support.ACCOUNT}:table/iam-orders"
        cls.audit = f"arn:aws:dynamodb:{support.REGION}:{support.ACCOUNT}:table/iam-audit"
        role = support.role("iam-requests", "lambda.amazonaws.com", [
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"],
             "Resource": cls.orders},
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": cls.audit},
            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": cls.orders + "/index/by-m"},
            {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": cls.audit,
             "Condition": {"StringEquals": {"aws:PrincipalType": "AssumedRole"},
                           "Null": {"dynamodb:EnclosingOperation": "true"}}},
        ])
        cls.session = iam.assume_role_for_service(role, "lambda.amazonaws.com", {}, session_name="requests")
        cls.ddb = support.client("dynamodb", cls.session)

    def error(self, call):
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as raised:
            call()
        return raised.exception.response["Error"]

    def test_an_allowed_call_succeeds_and_another_table_is_denied_as_aws_words_it(self):
        self.ddb.get_item(TableName="iam-orders", Key={"id": {"S": "x"}})
        error = self.error(lambda: self.ddb.get_item(TableName="iam-audit", Key={"id": {"S": "x"}}))
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn(f"is not authorized to perform: dynamodb:GetItem on resource: {self.audit} "
                      "because no identity-based policy allows the dynamodb:GetItem action", error["Message"])
        self.assertIn(":assumed-role/iam-requests/requests", error["Message"])

    def test_a_query_on_an_index_needs_the_index_arn(self):
        self.ddb.query(TableName="iam-orders", IndexName="by-m", KeyConditionExpression="m = :m",
                       ExpressionAttributeValues={":m": {"S": "1"}})
        error = self.error(lambda: self.ddb.query(TableName="iam-orders", KeyConditionExpression="id = :i",
                                                  ExpressionAttributeValues={":i": {"S": "1"}}))
        self.assertIn(f"dynamodb:Query on resource: {self.orders} ", error["Message"])

    def test_a_transaction_needs_each_items_own_action_on_its_table(self):
        def put(table, key):
            return {"Put": {"TableName": table, "Item": {"id": {"S": key}}}}

        check = {"ConditionCheck": {"TableName": "iam-orders", "Key": {"id": {"S": "c"}},
                                    "ConditionExpression": "attribute_not_exists(id)"}}
        # The explicit Deny on audit puts applies only outside a transaction.
        self.ddb.transact_write_items(TransactItems=[put("iam-orders", "t1"), put("iam-audit", "t1"), check])
        self.error(lambda: self.ddb.put_item(TableName="iam-audit", Item={"id": {"S": "direct"}}))
        update = {"Update": {"TableName": "iam-orders", "Key": {"id": {"S": "t1"}},
                             "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "1"}}}}
        error = self.error(lambda: self.ddb.transact_write_items(TransactItems=[update]))
        self.assertIn(f"dynamodb:UpdateItem on resource: {self.orders}", error["Message"])

    def test_an_explicit_deny_is_reported_as_such(self):
        error = self.error(lambda: self.ddb.put_item(TableName="iam-audit", Item={"id": {"S": "d"}}))
        self.assertIn("with an explicit deny in an identity-based policy", error["Message"])

    def test_lambda_sns_states_s3_and_secrets_are_checked_on_their_own_resources(self):
        session = iam.assume_role_for_service(
            support.role("iam-services", "lambda.amazonaws.com", [
                {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                 "Resource": f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:function:allowed"},
                {"Effect": "Allow", "Action": "sns:Publish",
                 "Resource": f"arn:aws:sns:{support.REGION}:{support.ACCOUNT}:allowed"},
                {"Effect": "Allow", "Action": "states:StartExecution",
                 "Resource": f"arn:aws:states:{support.REGION}:{support.ACCOUNT}:stateMachine:allowed"},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::iam-bucket/receipts/*"},
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": f"arn:aws:secretsmanager:{support.REGION}:{support.ACCOUNT}:secret:allowed-*"},
            ]), "lambda.amazonaws.com", {}, session_name="services")
        sns = support.client("sns", session)
        support.client("sns").create_topic(Name="denied")
        error = self.error(lambda: sns.publish(
            TopicArn=f"arn:aws:sns:{support.REGION}:{support.ACCOUNT}:denied", Message="m"))
        self.assertEqual(error["Code"], "AuthorizationError")  # SNS's code for access denied
        error = self.error(lambda: support.client("lambda", session).invoke(FunctionName="denied"))
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn("lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:123456789012:function:denied",
                      error["Message"])
        error = self.error(lambda: support.client("stepfunctions", session).start_execution(
            stateMachineArn=f"arn:aws:states:{support.REGION}:{support.ACCOUNT}:stateMachine:denied"))
        self.assertIn("states:StartExecution on resource: arn:aws:states:eu-west-1:123456789012:stateMachine:denied",
                      error["Message"])
        admin_s3 = support.client("s3")
        admin_s3.create_bucket(Bucket="iam-bucket", CreateBucketConfiguration={"LocationConstraint": support.REGION})
        s3 = support.client("s3", session)
        s3.put_object(Bucket="iam-bucket", Key="receipts/a.json", Body=b"{}")
        self.assertEqual(self.error(lambda: s3.put_object(Bucket="iam-bucket", Key="other/a.json", Body=b"{}"))["Code"],
                         "AccessDenied")
        self.assertEqual(self.error(lambda: s3.get_object(Bucket="iam-bucket", Key="receipts/a.json"))["Code"],
                         "AccessDenied")
        # Without s3:ListBucket a missing object is a 403, not a 404 (S3 API reference,
        # GetObject: "If you don't have the s3:ListBucket permission, Amazon S3 returns an
        # HTTP status code 403 Access Denied error.").
        reader = iam.assume_role_for_service(support.role("iam-s3-reader", "lambda.amazonaws.com", [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iam-bucket/*"}]),
            "lambda.amazonaws.com", {})
        s3_reader = support.client("s3", reader)
        s3_reader.get_object(Bucket="iam-bucket", Key="receipts/a.json")
        self.assertEqual(self.error(lambda: s3_reader.get_object(Bucket="iam-bucket", Key="receipts/none.json"))["Code"],
                         "AccessDenied")
        self.assertEqual(self.error(lambda: s3.get_object(Bucket="iam-bucket", Key="missing"))["Code"], "AccessDenied")
        lister = iam.assume_role_for_service(support.role("iam-s3-lister", "lambda.amazonaws.com", [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iam-bucket/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::iam-bucket"}]),
            "lambda.amazonaws.com", {})
        self.assertEqual(self.error(lambda: support.client("s3", lister).get_object(
            Bucket="iam-bucket", Key="receipts/none.json"))["Code"], "NoSuchKey")
        secrets = support.client("secretsmanager")
        secrets.create_secret(Name="allowed", SecretString="s")
        secrets.create_secret(Name="denied", SecretString="s")
        support.client("secretsmanager", session).get_secret_value(SecretId="allowed")
        error = self.error(lambda: support.client("secretsmanager", session).get_secret_value(SecretId="denied"))
        self.assertIn("secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:eu-west-1:123456789012:secret:denied-",
                      error["Message"])

    def test_a_bucket_policy_deny_applies_only_when_its_condition_holds(self):
        s3 = support.client("s3")
        s3.create_bucket(Bucket="iam-tls-bucket", CreateBucketConfiguration={"LocationConstraint": support.REGION})
        s3.put_bucket_policy(Bucket="iam-tls-bucket", Policy=json.dumps(policy(
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::iam-tls-bucket/*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::iam-tls-bucket/*"})))
        s3.put_object(Bucket="iam-tls-bucket", Key="k", Body=b"1")  # moto alone answers 403 here
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as denied:  # moto answers this 403 with an empty body
            s3.delete_object(Bucket="iam-tls-bucket", Key="k")
        self.assertEqual(denied.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_unsigned_and_badly_signed_requests_are_refused(self):
        import urllib.request

        port, _, admin = support.emulator()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}", headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"})
        with self.assertRaises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        self.assertEqual(refused.exception.code, 403)
        # DynamoDB Developer Guide, "Error handling with DynamoDB": InvalidSignatureException,
        # UnrecognizedClientException ("The access key ID or security token is invalid.");
        # query-protocol services keep SignatureDoesNotMatch / InvalidClientTokenId.
        forged = dict(admin, SecretAccessKey="not-the-secret")
        self.assertEqual(self.error(lambda: support.client("dynamodb", forged).list_tables())["Code"],
                         "InvalidSignatureException")
        unknown = dict(admin, AccessKeyId="AKIAUNKNOWN")
        self.assertEqual(self.error(lambda: support.client("dynamodb", unknown).list_tables())["Code"],
                         "UnrecognizedClientException")
        self.assertEqual(self.error(lambda: support.client("sns", forged).list_topics())["Code"], "SignatureDoesNotMatch")

    def test_the_admin_credentials_file_is_written_for_the_harness(self):
        _, work_dir, admin = support.emulator()
        with open(os.path.join(work_dir, iam.CREDENTIALS_FILE)) as f:
            self.assertEqual(json.load(f), admin)
        support.client("dynamodb").list_tables()


class ServicesActWithTheirRoles(unittest.TestCase):
    """Lambda runs a function with its execution role's credentials; Step Functions calls
    Lambda with the state machine's role; CreateFunction refuses a role Lambda cannot
    assume ("The role defined for the function cannot be assumed by Lambda.",
    InvalidParameterValueException: aws-samples/aws-ct-vpc-flowlogs#1)."""

    @classmethod
    def setUpClass(cls):
        support.emulator()
        support.client("dynamodb").create_table(
            TableName="iam-merchants", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        cls.table = f"arn:aws:dynamodb:{support.REGION}:{support.ACCOUNT}:table/iam-merchants"

    @staticmethod
    def reader(event, env):
        """A function that reads one merchant with the credentials Lambda gave it."""
        from botocore.exceptions import ClientError

        try:
            support.client("dynamodb", support.credentials_of(env)).get_item(
                TableName="iam-merchants", Key={"id": {"S": "m"}})
            return json.dumps({"read": True, "key": env["AWS_ACCESS_KEY_ID"][:4]}), False
        except ClientError as error:
            return json.dumps({"errorType": error.response["Error"]["Code"],
                               "errorMessage": error.response["Error"]["Message"]}), True

    def invoke(self, name):
        answer = support.client("lambda").invoke(FunctionName=name, Payload=b"{}")
        return json.loads(answer["Payload"].read()), answer.get("FunctionError")

    def test_a_function_calls_aws_with_its_execution_role(self):
        allowed = support.role("iam-fn-reader", "lambda.amazonaws.com",
                               [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": self.table}])
        support.function("iam-fn-reader", allowed, self.reader)
        self.assertEqual(self.invoke("iam-fn-reader"), ({"read": True, "key": "ASIA"}, None))
        other = support.role("iam-fn-other", "lambda.amazonaws.com",
                             [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": self.table}])
        support.function("iam-fn-other", other, self.reader)
        body, error = self.invoke("iam-fn-other")
        self.assertEqual((body["errorType"], error is not None), ("AccessDeniedException", True))
        self.assertIn("assumed-role/iam-fn-other/iam-fn-other is not authorized to perform: dynamodb:GetItem",
                      body["errorMessage"])

    def test_calls_from_a_function_carry_its_source_function_arn(self):
        # "Lambda injects the source function ARN into the credentials context" (Lambda
        # guide, "Using source function ARN to control function access behavior").
        function = f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:function:iam-fn-source"
        role = support.role("iam-fn-source", "lambda.amazonaws.com", [
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": self.table},
            {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": "*",
             "Condition": {"ArnEquals": {"lambda:SourceFunctionArn": function}}}])
        support.function("iam-fn-source", role, self.reader)
        body, _ = self.invoke("iam-fn-source")
        self.assertEqual(body["errorType"], "AccessDeniedException")

    def test_create_function_refuses_a_role_lambda_cannot_assume(self):
        from botocore.exceptions import ClientError

        role = support.role("iam-fn-ec2", "ec2.amazonaws.com", [])
        with self.assertRaises(ClientError) as refused:
            support.function("iam-fn-ec2", role, self.reader)
        self.assertEqual(refused.exception.response["Error"]["Message"],
                         "The role defined for the function cannot be assumed by Lambda.")

    def test_a_state_machine_invokes_only_what_its_role_allows(self):
        support.function("iam-sm-target", support.role("iam-sm-target", "lambda.amazonaws.com", []),
                         lambda event, env: (json.dumps({"ok": True}), False))
        support.function("iam-sm-other", support.role("iam-sm-other", "lambda.amazonaws.com", []),
                         lambda event, env: (json.dumps({"ok": True}), False))
        target = f"arn:aws:lambda:{support.REGION}:{support.ACCOUNT}:function:iam-sm-target"
        role = support.role("iam-sm-role", "states.amazonaws.com",
                            [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": target}],
                            {"StringEquals": {"aws:SourceAccount": support.ACCOUNT}})
        sfn = support.client("stepfunctions")

        def run(function):
            definition = {"StartAt": "Call", "States": {"Call": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload": {}}, "End": True}}}
            machine = sfn.create_state_machine(name=f"iam-sm-{function.split(':')[-1]}", definition=json.dumps(definition),
                                               roleArn=role, type="EXPRESS")["stateMachineArn"]
            return sfn.start_sync_execution(stateMachineArn=machine, input="{}")

        self.assertEqual(run(target)["status"], "SUCCEEDED")
        denied = run(target.replace("iam-sm-target", "iam-sm-other"))
        self.assertEqual(denied["status"], "FAILED")
        self.assertIn("AccessDeniedException", denied.get("error", "") + denied.get("cause", ""))


class KeptMutant(unittest.TestCase):
    """The mutant issue 14 asks for: a role missing one permission the code uses makes
    the call fail with AccessDenied. A stack deploys a function and its role; updating the
    stack without the permission (as a template edit would) must break the call, which
    moto alone would not notice (it keeps a role's first policies on update)."""

    def test_removing_a_permission_the_code_uses_fails_the_call(self):
        support.emulator()
        support.client("dynamodb").create_table(
            TableName="iam-mutant", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        s3 = support.client("s3")
        s3.create_bucket(Bucket="iam-mutant-code", CreateBucketConfiguration={"LocationConstraint": support.REGION})
        s3.put_object(Bucket="iam-mutant-code", Key="f.zip", Body=support.stub_zip())
        import lambda_env

        def handler(event, env):
            from botocore.exceptions import ClientError

            try:
                support.client("dynamodb", support.credentials_of(env)).get_item(
                    TableName="iam-mutant", Key={"id": {"S": "x"}})
                return "{}", False
            except ClientError as error:
                return json.dumps({"errorType": error.response["Error"]["Code"]}), True

        lambda_env.PYTHON_HANDLERS["iam-mutant-f"] = handler

        def stack(actions):
            statements = [{"Effect": "Allow", "Action": actions,
                           "Resource": {"Fn::Sub": "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/iam-mutant"}}]
            return json.dumps({"Resources": {
                "Role": {"Type": "AWS::IAM::Role", "Properties": {
                    "RoleName": "iam-mutant-role",
                    "AssumeRolePolicyDocument": json.loads(support.trust(
                        "lambda.amazonaws.com", {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}})),
                    "Policies": [{"PolicyName": "f", "PolicyDocument": {"Version": "2012-10-17",
                                                                        "Statement": statements}}]}},
                "Function": {"Type": "AWS::Lambda::Function", "Properties": {
                    "FunctionName": "iam-mutant-f", "Runtime": "provided.al2023", "Handler": "bootstrap",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": "iam-mutant-code", "S3Key": "f.zip"}}}}})

        cfn = support.client("cloudformation")
        cfn.create_stack(StackName="iam-mutant", TemplateBody=stack(["dynamodb:GetItem", "dynamodb:PutItem"]))
        lam = support.client("lambda")
        self.assertNotIn("FunctionError", lam.invoke(FunctionName="iam-mutant-f", Payload=b"{}"))
        cfn.update_stack(StackName="iam-mutant", TemplateBody=stack(["dynamodb:PutItem"]))
        self.assertEqual(cfn.describe_stacks(StackName="iam-mutant")["Stacks"][0]["StackStatus"], "UPDATE_COMPLETE")
        answer = lam.invoke(FunctionName="iam-mutant-f", Payload=b"{}")
        self.assertEqual(json.loads(answer["Payload"].read()), {"errorType": "AccessDeniedException"})


if __name__ == "__main__":
    unittest.main()
