"""cloudformation.py's deploy lifecycle against the AWS documentation it follows:

* CreateStack / UpdateStack / CreateChangeSet / ValidateTemplate API reference:
  "TemplateBody ... Maximum length of 51,200 bytes"; TemplateURL: an S3 object of up to
  1 MB (research: /work/plan/facts-apigw-iam-sfn-cfn.md 6.1);
* "DeletionPolicy attribute" (CloudFormation User Guide) and What's New 2023-07-31
  (RetainExceptOnCreate "behaves like Retain for stack operations, except for the stack
  operation that initially created the resource");
* ROLLBACK_COMPLETE: "Stack:<arn> is in ROLLBACK_COMPLETE state and can not be updated."
  (raw AWS response in aws/aws-cli#6216); a CREATE change set for an existing stack:
  "Stack [name] already exists and cannot be created again with the changeSet [cs]."
  (compose-x/ecs_composex#785);
* change sets: a change set with no changes ends FAILED with "The submitted information
  didn't contain changes. Submit different information to create a change set." (aws-
  cloudformation/rain#94); names "must be unique among all change sets that are
  associated with the specified stack" (API reference) -> AlreadyExistsException;
* AWS::Lambda::Function Code: "Changes to a deployment package in Amazon S3 ... are not
  detected automatically during stack updates. To update the function code, change the
  object key or version in the template."
"""

import json
import os
import unittest

from botocore.exceptions import ClientError

from tests import support

ARTIFACTS = "cfn-test-artifacts"


def template(resources, outputs=None):
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    if outputs:
        body["Outputs"] = outputs
    return json.dumps(body)


def table(name, policy="Delete"):
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "Properties": {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}}


def log_group(name, policy="Delete"):
    return {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": policy, "Properties": {"LogGroupName": name}}


def queue(name, depends_on=None):
    resource = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}
    if depends_on:
        resource["DependsOn"] = depends_on
    return resource


class Lifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _, cls.work_dir, _ = support.emulator()
        cls.cfn = support.client("cloudformation")
        s3 = support.client("s3")
        s3.create_bucket(Bucket=ARTIFACTS, CreateBucketConfiguration={"LocationConstraint": support.REGION})

    def tearDown(self):
        path = os.path.join(self.work_dir, "faults.json")
        if os.path.exists(path):
            os.remove(path)

    def fail_next(self, logical_id):
        with open(os.path.join(self.work_dir, "faults.json"), "w") as f:
            json.dump({"cloudformation": {"fail_resource": logical_id, "remaining": 1}}, f)

    def error(self, call):
        with self.assertRaises(ClientError) as raised:
            call()
        return raised.exception.response["Error"]

    def status(self, stack):
        return self.cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]

    def test_a_template_body_over_51200_bytes_is_refused_and_a_template_url_is_not(self):
        padding = {"Description": "x" * 51_300}
        body = json.dumps(dict(json.loads(template({"Q": queue("cfn-size-q")})), **padding))
        self.assertGreater(len(body.encode()), 51_200)
        for call in (
            lambda: self.cfn.create_stack(StackName="cfn-size", TemplateBody=body),
            lambda: self.cfn.validate_template(TemplateBody=body),
            lambda: self.cfn.create_change_set(StackName="cfn-size", ChangeSetName="cs", TemplateBody=body,
                                               ChangeSetType="CREATE"),
        ):
            error = self.error(call)
            self.assertEqual(error["Code"], "ValidationError")
            self.assertIn("at 'templateBody' failed to satisfy constraint: Member must have length less than or "
                          "equal to 51200", error["Message"])
        support.client("s3").put_object(Bucket=ARTIFACTS, Key="big.json", Body=body.encode())
        url = f"https://{ARTIFACTS}.s3.{support.REGION}.amazonaws.com/big.json"
        self.cfn.create_stack(StackName="cfn-size", TemplateURL=url)
        self.assertEqual(self.status("cfn-size"), "CREATE_COMPLETE")
        error = self.error(lambda: self.cfn.update_stack(StackName="cfn-size", TemplateBody=body))
        self.assertIn("51200", error["Message"])
        self.assertEqual(self.error(lambda: self.cfn.create_stack(StackName="cfn-size-2", TemplateURL="s3://b/k"))["Code"],
                         "ValidationError")

    def test_a_failed_create_rolls_back_honouring_deletion_policies_and_blocks_a_retry(self):
        resources = {
            "Table": table("cfn-rb-table"),
            "Logs": log_group("/cfn/rb-retained", "Retain"),
            "Data": table("cfn-rb-data", "RetainExceptOnCreate"),
            "Last": queue("cfn-rb-queue", depends_on=["Table", "Logs", "Data"]),
        }
        # As a parameter arrives: the string "false" (CloudFormation makes it a Boolean).
        resources["Data"]["Properties"]["DeletionProtectionEnabled"] = "false"
        self.fail_next("Last")
        self.cfn.create_stack(StackName="cfn-rb", TemplateBody=template(resources))
        self.assertEqual(self.status("cfn-rb"), "ROLLBACK_COMPLETE")
        events = self.cfn.describe_stack_events(StackName="cfn-rb")["StackEvents"]
        seen = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(events)]
        self.assertIn(("Last", "CREATE_FAILED"), seen)
        self.assertIn(("Logs", "DELETE_SKIPPED"), seen)
        self.assertIn(("Data", "DELETE_COMPLETE"), seen)
        self.assertIn(("Table", "DELETE_COMPLETE"), seen)
        self.assertEqual(seen[-1], ("cfn-rb", "ROLLBACK_COMPLETE"))
        rollback = next(e for e in events if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS")
        self.assertEqual(rollback["ResourceStatusReason"],
                         "The following resource(s) failed to create: [Last]. Rollback requested by user.")
        # Deleted in reverse creation order: the table (created before Data) goes after it.
        self.assertLess(seen.index(("Data", "DELETE_COMPLETE")), seen.index(("Table", "DELETE_COMPLETE")))
        tables = support.client("dynamodb").list_tables()["TableNames"]
        self.assertNotIn("cfn-rb-table", tables)
        self.assertNotIn("cfn-rb-data", tables)  # RetainExceptOnCreate: deleted on a create rollback
        groups = support.client("logs").describe_log_groups(logGroupNamePrefix="/cfn/rb")["logGroups"]
        self.assertEqual([g["logGroupName"] for g in groups], ["/cfn/rb-retained"])

        stack_id = self.cfn.describe_stacks(StackName="cfn-rb")["Stacks"][0]["StackId"]
        expected = f"Stack:{stack_id} is in ROLLBACK_COMPLETE state and can not be updated."
        error = self.error(lambda: self.cfn.update_stack(StackName="cfn-rb", TemplateBody=template(resources)))
        self.assertEqual((error["Code"], error["Message"]), ("ValidationError", expected))
        error = self.error(lambda: self.cfn.create_change_set(
            StackName="cfn-rb", ChangeSetName="retry", TemplateBody=template(resources), ChangeSetType="UPDATE"))
        self.assertEqual(error["Message"], expected)
        error = self.error(lambda: self.cfn.create_change_set(
            StackName="cfn-rb", ChangeSetName="retry", TemplateBody=template(resources), ChangeSetType="CREATE"))
        self.assertEqual(error["Message"],
                         "Stack [cfn-rb] already exists and cannot be created again with the changeSet [retry].")
        self.assertEqual(self.error(lambda: self.cfn.create_stack(StackName="cfn-rb", TemplateBody=template(resources)))
                         ["Code"], "AlreadyExistsException")

        # The only way on: delete the stack. The retained log group still holds its name,
        # so the retry fails on it and rolls back again (review M11).
        self.cfn.delete_stack(StackName="cfn-rb")
        self.cfn.create_stack(StackName="cfn-rb", TemplateBody=template(resources))
        self.assertEqual(self.status("cfn-rb"), "ROLLBACK_COMPLETE")
        failed = [e for e in self.cfn.describe_stack_events(StackName="cfn-rb")["StackEvents"]
                  if e["ResourceStatus"] == "CREATE_FAILED"]
        self.assertEqual(failed[0]["LogicalResourceId"], "Logs")
        self.assertEqual(failed[0]["ResourceStatusReason"],
                         "Resource of type 'AWS::Logs::LogGroup' with identifier '/cfn/rb-retained' already exists.")
        # With RetainExceptOnCreate on the log group too, the next attempt would have been clean.
        self.cfn.delete_stack(StackName="cfn-rb")
        support.client("logs").delete_log_group(logGroupName="/cfn/rb-retained")
        fixed = dict(resources, Logs=log_group("/cfn/rb-retained", "RetainExceptOnCreate"))
        self.fail_next("Last")
        self.cfn.create_stack(StackName="cfn-rb", TemplateBody=template(fixed))
        self.cfn.delete_stack(StackName="cfn-rb")
        self.cfn.create_stack(StackName="cfn-rb", TemplateBody=template(fixed))
        self.assertEqual(self.status("cfn-rb"), "CREATE_COMPLETE")
        # A normal delete keeps RetainExceptOnCreate resources, as Retain does.
        self.cfn.delete_stack(StackName="cfn-rb")
        self.assertIn("cfn-rb-data", support.client("dynamodb").list_tables()["TableNames"])

    def test_a_failed_update_rolls_back_to_the_previous_template(self):
        first = {"Q": queue("cfn-up-q")}
        self.cfn.create_stack(StackName="cfn-up", TemplateBody=template(first))
        self.fail_next("Added")
        second = dict(first, Keep=table("cfn-up-keep"), Added=queue("cfn-up-added", depends_on=["Keep"]))
        self.cfn.update_stack(StackName="cfn-up", TemplateBody=template(second))
        self.assertEqual(self.status("cfn-up"), "UPDATE_ROLLBACK_COMPLETE")
        self.assertNotIn("cfn-up-keep", support.client("dynamodb").list_tables()["TableNames"])
        resources = self.cfn.list_stack_resources(StackName="cfn-up")["StackResourceSummaries"]
        self.assertEqual([r["LogicalResourceId"] for r in resources], ["Q"])
        self.cfn.update_stack(StackName="cfn-up", TemplateBody=template(second))  # UPDATE_ROLLBACK_COMPLETE can be updated
        self.assertEqual(self.status("cfn-up"), "UPDATE_COMPLETE")

    def test_change_sets_create_update_no_op_and_unique_names(self):
        first = {"Q": queue("cfn-cs-q")}
        # A GetAtt output: moto validates it against the resource map when the change set runs.
        outputs = {"QueueUrl": {"Value": {"Ref": "Q"}}, "QueueArn": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}}}
        self.cfn.create_change_set(StackName="cfn-cs", ChangeSetName="first", ChangeSetType="CREATE",
                                   TemplateBody=template(first, outputs))
        self.assertEqual(self.status("cfn-cs"), "REVIEW_IN_PROGRESS")
        self.assertEqual(self.cfn.describe_change_set(StackName="cfn-cs", ChangeSetName="first")["Status"],
                         "CREATE_COMPLETE")
        self.cfn.execute_change_set(StackName="cfn-cs", ChangeSetName="first")
        stack = self.cfn.describe_stacks(StackName="cfn-cs")["Stacks"][0]
        self.assertEqual(stack["StackStatus"], "CREATE_COMPLETE")
        values = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        self.assertTrue(values["QueueUrl"].endswith("/cfn-cs-q"))

        self.cfn.create_change_set(StackName="cfn-cs", ChangeSetName="same", ChangeSetType="UPDATE",
                                   TemplateBody=template(first, outputs))
        no_op = self.cfn.describe_change_set(StackName="cfn-cs", ChangeSetName="same")
        self.assertEqual((no_op["Status"], no_op["ExecutionStatus"], no_op["StatusReason"]), (
            "FAILED", "UNAVAILABLE",
            "The submitted information didn't contain changes. Submit different information to create a change set."))
        second = dict(first, T=table("cfn-cs-table"))
        error = self.error(lambda: self.cfn.create_change_set(
            StackName="cfn-cs", ChangeSetName="same", ChangeSetType="UPDATE", TemplateBody=template(second, outputs)))
        self.assertEqual(error["Code"], "AlreadyExistsException")
        self.cfn.create_change_set(StackName="cfn-cs", ChangeSetName="second", ChangeSetType="UPDATE",
                                   TemplateBody=template(second, outputs))
        changes = self.cfn.describe_change_set(StackName="cfn-cs", ChangeSetName="second")["Changes"]
        self.assertEqual([(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in changes],
                         [("Add", "T")])
        self.cfn.execute_change_set(StackName="cfn-cs", ChangeSetName="second")
        self.assertEqual(self.status("cfn-cs"), "UPDATE_COMPLETE")
        self.assertIn("cfn-cs-table", support.client("dynamodb").list_tables()["TableNames"])
        # A FAILED change set cannot be executed; UpdateStack with nothing new is refused.
        self.cfn.create_change_set(StackName="cfn-cs", ChangeSetName="nothing", ChangeSetType="UPDATE",
                                   TemplateBody=template(second, outputs))
        self.assertEqual(self.error(lambda: self.cfn.execute_change_set(StackName="cfn-cs", ChangeSetName="nothing"))
                         ["Code"], "InvalidChangeSetStatus")
        error = self.error(lambda: self.cfn.update_stack(StackName="cfn-cs", TemplateBody=template(second, outputs)))
        self.assertEqual((error["Code"], error["Message"]), ("ValidationError", "No updates are to be performed."))
        # Executing a change set deletes the stack's other change sets (ExecuteChangeSet).
        names = [c["ChangeSetName"] for c in self.cfn.list_change_sets(StackName="cfn-cs")["Summaries"]
                 if c["StackName"] == "cfn-cs"]
        self.assertNotIn("same", names)

    def test_lambda_code_changes_only_when_the_template_names_new_code(self):
        s3 = support.client("s3")
        s3.put_object(Bucket=ARTIFACTS, Key="v1/f.zip", Body=support.stub_zip())
        role = support.role("cfn-code-role", "lambda.amazonaws.com", [])

        def function(key, description):
            return {"F": {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": "cfn-code-f", "Runtime": "provided.al2023", "Handler": "bootstrap", "Role": role,
                "Description": description, "Code": {"S3Bucket": ARTIFACTS, "S3Key": key}}}}

        lam = support.client("lambda")
        self.cfn.create_stack(StackName="cfn-code", TemplateBody=template(function("v1/f.zip", "one")))
        first = lam.get_function(FunctionName="cfn-code-f")["Configuration"]["CodeSha256"]
        # Same key overwritten, another property changed: AWS does not pick up the new zip (M12).
        other = support.stub_zip() + b""
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("bootstrap", "#!/bin/sh\nexit 2\n")
        other = buffer.getvalue()
        s3.put_object(Bucket=ARTIFACTS, Key="v1/f.zip", Body=other)
        self.cfn.update_stack(StackName="cfn-code", TemplateBody=template(function("v1/f.zip", "two")))
        configuration = lam.get_function(FunctionName="cfn-code-f")["Configuration"]
        self.assertEqual((configuration["CodeSha256"], configuration["Description"]), (first, "two"))
        # A new key: the function runs the new code.
        s3.put_object(Bucket=ARTIFACTS, Key="v2/f.zip", Body=other)
        self.cfn.update_stack(StackName="cfn-code", TemplateBody=template(function("v2/f.zip", "two")))
        self.assertNotEqual(lam.get_function(FunctionName="cfn-code-f")["Configuration"]["CodeSha256"], first)

    def test_a_new_parameter_value_reaches_a_property_that_subs_it(self):
        # As the template names its code: S3Key !Sub "${ArtifactKeyPrefix}/f.zip", and a release
        # changes only the parameter. CloudFormation updates what the new value resolves to.
        s3 = support.client("s3")
        s3.put_object(Bucket=ARTIFACTS, Key="r1/g.zip", Body=support.stub_zip())
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("bootstrap", "#!/bin/sh\nexit 3\n")
        s3.put_object(Bucket=ARTIFACTS, Key="r2/g.zip", Body=buffer.getvalue())
        role = support.role("cfn-param-role", "lambda.amazonaws.com", [])
        body = json.dumps({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": {"Prefix": {"Type": "String"}},
            "Resources": {"G": {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": "cfn-param-g", "Runtime": "provided.al2023", "Handler": "bootstrap", "Role": role,
                "Code": {"S3Bucket": ARTIFACTS, "S3Key": {"Fn::Sub": "${Prefix}/g.zip"}}}}}})
        lam = support.client("lambda")
        self.cfn.create_stack(StackName="cfn-param", TemplateBody=body,
                              Parameters=[{"ParameterKey": "Prefix", "ParameterValue": "r1"}])
        first = lam.get_function(FunctionName="cfn-param-g")["Configuration"]["CodeSha256"]
        self.cfn.create_change_set(StackName="cfn-param", ChangeSetName="r2", ChangeSetType="UPDATE",
                                   TemplateBody=body, Parameters=[{"ParameterKey": "Prefix", "ParameterValue": "r2"}])
        changes = self.cfn.describe_change_set(StackName="cfn-param", ChangeSetName="r2")["Changes"]
        self.assertEqual([(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in changes],
                         [("Modify", "G")])
        self.cfn.execute_change_set(StackName="cfn-param", ChangeSetName="r2")
        self.assertEqual(self.status("cfn-param"), "UPDATE_COMPLETE")
        self.assertNotEqual(lam.get_function(FunctionName="cfn-param-g")["Configuration"]["CodeSha256"], first)

    def test_a_roles_inline_policy_reads_back_as_iam_keeps_it(self):
        # GetRolePolicy returns the URL-encoded JSON document, which the SDKs decode (IAM API
        # reference, GetRolePolicy: "The policy document returned in this structure is URL-encoded
        # compliant with RFC 3986"); moto alone hands back a Python repr of a template's policy.
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage",
                                                            "Resource": "*"}]}
        role = {"R": {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": "cfn-policy-role", "AssumeRolePolicyDocument": json.loads(support.trust("lambda.amazonaws.com")),
            "Policies": [{"PolicyName": "p", "PolicyDocument": document}]}}}
        self.cfn.create_stack(StackName="cfn-policy", TemplateBody=template(role))
        read = support.client("iam").get_role_policy(RoleName="cfn-policy-role", PolicyName="p")["PolicyDocument"]
        self.assertEqual(read, document)


if __name__ == "__main__":
    unittest.main()
