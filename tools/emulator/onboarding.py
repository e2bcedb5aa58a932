"""Merchant onboarding, as an operator does it on AWS after a deployment, with the same API
calls (here through boto3; the aws CLI equivalents are given):

1. the first merchant uses the template's own key (`ApiKey`, "Key of the first merchant
   integration"), already in the template's usage plan by `ApiUsagePlanKey`;
2. every other merchant gets a key of its own, added to the template's usage plan (a key
   works only in a usage plan of the stage: API Gateway guide, "Usage plans and API keys for
   REST APIs"):
     aws apigateway create-api-key --name payment-api-key-<env>-<merchant> --enabled
     aws apigateway create-usage-plan-key --usage-plan-id <plan> --key-id <id> --key-type API_KEY
3. the merchant record names the ids (never the values) of the keys that may submit its
   payments, `api_key_ids` (a String Set; PLAN.md, the merchant record):
     aws dynamodb put-item --table-name merchant-configs-<env> --item '{"merchant_id": {"S": ...},
       "active": {"BOOL": true}, "currencies": {"M": ...}, "api_key_ids": {"SS": ["<id>"]}}'

`cargo xtask up` and the end-to-end suite onboard the merchants of sample-merchants.json
(first in sorted order: the template's key) with `onboard`, then write endpoint.json.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def stack_resources(aws, stack):
    """Logical id -> (type, physical id) of the stack's resources."""
    paginator = aws["cloudformation"].get_paginator("list_stack_resources")
    found = {}
    for page in paginator.paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            found[resource["LogicalResourceId"]] = (resource["ResourceType"], resource.get("PhysicalResourceId"))
    return found


def api_of(aws, stack):
    """The deployed API: id, stage, the POST resource's path, the usage plan and the template's key."""
    resources = stack_resources(aws, stack)

    def one(kind, logical_id=None):
        ids = [physical for lid, (t, physical) in resources.items() if t == kind and logical_id in (None, lid)]
        if len(ids) != 1:
            raise SystemExit(f"the stack has {len(ids)} {kind} {logical_id or ''}: cannot onboard merchants")
        return ids[0]

    api_id = one("AWS::ApiGateway::RestApi")
    path = next(r["path"] for r in aws["apigateway"].get_resources(restApiId=api_id)["items"]
                if "POST" in r.get("resourceMethods", {}))
    return {
        "api_id": api_id,
        "stage": one("AWS::ApiGateway::Stage"),
        "path": path,
        "usage_plan_id": one("AWS::ApiGateway::UsagePlan", "ApiUsagePlan"),
        "template_key_id": one("AWS::ApiGateway::ApiKey", "ApiKey"),
    }


def sample_merchants():
    with open(os.path.join(HERE, "sample-merchants.json")) as f:
        return json.load(f)


def key_value(aws, key_id):
    return aws["apigateway"].get_api_key(apiKey=key_id, includeValue=True)["value"]


def create_key(aws, name, usage_plan_id):
    """A new enabled key in `usage_plan_id`: (id, value)."""
    key = aws["apigateway"].create_api_key(name=name, enabled=True, description="A merchant integration's key.")
    aws["apigateway"].create_usage_plan_key(usagePlanId=usage_plan_id, keyId=key["id"], keyType="API_KEY")
    return key["id"], key_value(aws, key["id"])


def merchant_item(merchant, key_ids):
    currencies = {
        code: {"M": {name: {"N": str(value)} for name, value in limits.items()}}
        for code, limits in merchant["currencies"].items()
    }
    return {
        "merchant_id": {"S": merchant["merchant_id"]},
        "active": {"BOOL": merchant["active"]},
        "currencies": {"M": currencies},
        "api_key_ids": {"SS": sorted(key_ids)},
    }


def bind_key(aws, merchants_table, merchant_id, key_id):
    """Adds one more key to a merchant's record (a second integration of the same merchant)."""
    aws["dynamodb"].update_item(
        TableName=merchants_table,
        Key={"merchant_id": {"S": merchant_id}},
        UpdateExpression="ADD api_key_ids :key",
        ConditionExpression="attribute_exists(merchant_id)",
        ExpressionAttributeValues={":key": {"SS": [key_id]}},
    )


def onboard(aws, stack, outputs, merchants=None):
    """Onboards `merchants` (default: sample-merchants.json); returns
    {merchant_id: {"api_key_id", "api_key"}} in onboarding order."""
    merchants = merchants if merchants is not None else sample_merchants()
    api = api_of(aws, stack)
    table = outputs["MerchantsTableArn"].split("/")[-1]
    template_key = aws["apigateway"].get_api_key(apiKey=api["template_key_id"], includeValue=True)
    onboarded = {}
    for position, merchant_id in enumerate(sorted(merchants)):
        merchant = merchants[merchant_id]
        if position == 0:
            key_id, value = template_key["id"], template_key["value"]
        else:
            key_id, value = create_key(aws, f"{template_key['name']}-{merchant_id}", api["usage_plan_id"])
        aws["dynamodb"].put_item(TableName=table, Item=merchant_item(merchant, [key_id]))
        onboarded[merchant_id] = {"api_key_id": key_id, "api_key": value}
    return onboarded


def endpoint(aws, stack, api_port, aws_port, onboarded):
    """What endpoint.json holds: the URL of POST /transactions, the first merchant's key, a key
    of another merchant (for trying the 403 MerchantNotBound answer), and the AWS endpoint
    (`cargo xtask deploy --emulator` reads it)."""
    api = api_of(aws, stack)
    keys = [entry["api_key"] for entry in onboarded.values()]
    return {
        "url": f"http://127.0.0.1:{api_port}/{api['stage']}{api['path']}",
        "api_key": keys[0] if keys else None,
        "other_merchant_api_key": keys[1] if len(keys) > 1 else None,
        "aws_endpoint_url": f"http://127.0.0.1:{aws_port}",
        "merchants": {merchant_id: entry["api_key_id"] for merchant_id, entry in onboarded.items()},
    }
