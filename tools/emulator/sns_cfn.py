"""AWS::SNS::Subscription, which moto's CloudFormation (5.2.5) skips: the template's durable
subscriber of the failed-transactions topic (an SQS queue, raw delivery) would otherwise
never exist, and the alerts it keeps would never be seen.

Follows the resource reference (AWS::SNS::Subscription, CloudFormation User Guide): `Ref`
returns the subscription ARN; TopicArn, Protocol and Endpoint are required and replace the
subscription when they change; RawMessageDelivery, FilterPolicy, FilterPolicyScope,
RedrivePolicy and DeliveryPolicy are subscription attributes, updated in place. Not
emulated: the Region property (cross-Region subscriptions), confirmation of e-mail/HTTP
endpoints (moto confirms every subscription), and the queue policy check SNS makes when it
delivers (moto's CloudFormation skips AWS::SQS::QueueInlinePolicy as well)."""

import json

# FilterPolicyScope before FilterPolicy: moto validates the policy against the scope set.
ATTRIBUTES = ("RawMessageDelivery", "FilterPolicyScope", "FilterPolicy", "RedrivePolicy", "DeliveryPolicy")


def _value(name, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def register():
    """Call once at start-up, before the first stack is created (moto caches its type map)."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.sns.models import sns_backends

    class CfnSubscription(CloudFormationModel):
        # moto names the service of a model after its module.
        __module__ = "moto.sns.emulator"

        def __init__(self, arn, topic_arn, protocol, endpoint):
            self.arn, self.topic_arn, self.protocol, self.endpoint = arn, topic_arn, protocol, endpoint

        @property
        def physical_resource_id(self):
            return self.arn

        @staticmethod
        def cloudformation_type():
            return "AWS::SNS::Subscription"

        @staticmethod
        def cloudformation_name_type():
            return ""

        @classmethod
        def has_cfn_attr(cls, attribute):
            return attribute == "Arn"

        def get_cfn_attribute(self, attribute):
            return self.arn

        @staticmethod
        def _apply(backend, arn, props):
            for name in ATTRIBUTES:
                if name not in props:
                    continue
                if name == "RawMessageDelivery" and _value(name, props[name]) != "true":
                    # moto tests the attribute for truth: the string "false" would turn it on.
                    for subscription in backend.subscriptions.values():
                        if subscription.arn == arn:
                            subscription.attributes[name] = False
                    continue
                backend.set_subscription_attributes(arn, name, _value(name, props[name]))

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            backend = sns_backends[account_id][region_name]
            subscription = backend.subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
            cls._apply(backend, subscription.arn, props)
            return cls(subscription.arn, props["TopicArn"], props["Protocol"], props["Endpoint"])

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            props = cloudformation_json["Properties"]
            backend = sns_backends[account_id][region_name]
            same = (props["TopicArn"], props["Protocol"], props["Endpoint"]) == (
                original_resource.topic_arn, original_resource.protocol, original_resource.endpoint)
            if not same:  # "Replacement" for each of the three
                backend.unsubscribe(original_resource.arn)
                return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                           region_name)
            cls._apply(backend, original_resource.arn, props)
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            sns_backends[account_id][region_name].unsubscribe(resource_name)

        def delete(self, account_id, region_name):
            sns_backends[account_id][region_name].unsubscribe(self.arn)

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    return CfnSubscription
