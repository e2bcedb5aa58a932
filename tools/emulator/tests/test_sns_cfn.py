"""sns_cfn.py against the CloudFormation resource reference, AWS::SNS::Subscription: Ref is
the subscription ARN; RawMessageDelivery delivers the message body alone to an SQS endpoint
(SNS guide, "Amazon SNS raw message delivery"); deleting the stack unsubscribes."""

import json
import unittest

from tests import support

TEMPLATE = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "sns-cfn-topic"}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "sns-cfn-queue"}},
        "Subscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "sqs",
                           "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]}, "RawMessageDelivery": True},
        },
    },
    "Outputs": {"SubscriptionArn": {"Value": {"Ref": "Subscription"}}},
}


class SubscriptionTest(unittest.TestCase):
    def test_a_subscription_of_the_template_delivers_raw_messages_until_the_stack_goes(self):
        cfn, sns, sqs = support.client("cloudformation"), support.client("sns"), support.client("sqs")
        cfn.create_stack(StackName="sns-cfn", TemplateBody=json.dumps(TEMPLATE))
        stack = cfn.describe_stacks(StackName="sns-cfn")["Stacks"][0]
        self.assertEqual(stack["StackStatus"], "CREATE_COMPLETE")
        arn = stack["Outputs"][0]["OutputValue"]
        topic = sns.create_topic(Name="sns-cfn-topic")["TopicArn"]
        self.assertIn(arn, [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]])
        sns.publish(TopicArn=topic, Message='{"transaction_id": "t-1"}')
        url = sqs.get_queue_url(QueueName="sns-cfn-queue")["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual([m["Body"] for m in messages], ['{"transaction_id": "t-1"}'])
        cfn.delete_stack(StackName="sns-cfn")
        self.assertNotIn(arn, [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]])


if __name__ == "__main__":
    unittest.main()
