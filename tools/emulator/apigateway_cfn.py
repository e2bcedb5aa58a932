"""API Gateway resources in moto's CloudFormation, as CloudFormation creates them on AWS.

moto 5.2.5 creates only RestApi/Resource/Method/Deployment and, for a Method, keeps only the
HTTP method, the API-key flag and the integration's type/URI/method: request templates,
integration responses, credentials, passthrough behaviour, timeout, models and validators are
dropped. It skips Stage, ApiKey, UsagePlan, UsagePlanKey, Model, RequestValidator,
GatewayResponse and Account altogether. Each is registered here on moto's own apigateway
backend, so `aws apigateway get-*` shows what the template declared and the HTTP front door
(apigateway.py) serves it.

A new Deployment must snapshot the API *after* the Method it DependsOn was updated: that needs
stack updates in dependency order, which cloudformation.py provides (moto itself adds new
resources before it modifies existing ones).
"""

import json


def _backend(account_id, region_name):
    from moto.apigateway.models import apigateway_backends

    return apigateway_backends[account_id][region_name]


def _tags(props):
    return {t["Key"]: t["Value"] for t in props.get("Tags", [])} or None


def _id(value):
    # `!Ref` of a moto model without physical_resource_id yields the model itself.
    return getattr(value, "id", value)


def _method_setting_key(setting):
    # GetStage shows method settings keyed "{resource path without leading /, / as ~1}/{method}".
    path = setting.get("ResourcePath", "/*")
    return path[1:].replace("/", "~1") + "/" + setting.get("HttpMethod", "*")


def _method_settings(settings):
    out = {}
    for setting in settings or []:
        # Defaults when a setting is absent: AWS's stage defaults (moto's _get_default_method_settings).
        out[_method_setting_key(setting)] = {
            "metricsEnabled": bool(setting.get("MetricsEnabled", False)),
            "loggingLevel": setting.get("LoggingLevel", "OFF"),
            "dataTraceEnabled": bool(setting.get("DataTraceEnabled", False)),
            "throttlingBurstLimit": int(setting.get("ThrottlingBurstLimit", 5000)),
            "throttlingRateLimit": float(setting.get("ThrottlingRateLimit", 10000.0)),
            "cachingEnabled": bool(setting.get("CachingEnabled", False)),
        }
    return out


# --- Method: keep everything the template says ----------------------------------------------


def _put_method(props, account_id, region_name):
    backend = _backend(account_id, region_name)
    api, resource, verb = _id(props["RestApiId"]), _id(props["ResourceId"]), props["HttpMethod"]
    method = backend.put_method(
        function_id=api,
        resource_id=resource,
        method_type=verb,
        authorization_type=props.get("AuthorizationType", "NONE"),
        api_key_required=bool(props.get("ApiKeyRequired", False)),
        request_parameters=props.get("RequestParameters"),
        request_models={k: _id(v) for k, v in (props.get("RequestModels") or {}).items()} or None,
        operation_name=props.get("OperationName"),
        authorizer_id=props.get("AuthorizerId"),
        authorization_scopes=props.get("AuthorizationScopes"),
        request_validator_id=_id(props.get("RequestValidatorId")),
    )
    for response in props.get("MethodResponses", []):
        backend.put_method_response(
            api, resource, verb, str(response["StatusCode"]), response.get("ResponseModels"), response.get("ResponseParameters")
        )
    integration = props.get("Integration")
    if integration:
        backend.put_integration(
            function_id=api,
            resource_id=resource,
            method_type=verb,
            integration_type=integration["Type"],
            uri=integration.get("Uri"),
            integration_method=integration.get("IntegrationHttpMethod"),
            credentials=integration.get("Credentials"),
            request_templates=integration.get("RequestTemplates"),
            # AWS defaults (Integration resource reference): WHEN_NO_MATCH, 29,000 ms.
            passthrough_behavior=integration.get("PassthroughBehavior", "WHEN_NO_MATCH"),
            timeout_in_millis=str(integration.get("TimeoutInMillis", 29000)),
            request_parameters=integration.get("RequestParameters"),
            content_handling=integration.get("ContentHandling"),
            connection_type=integration.get("ConnectionType"),
        )
        for response in integration.get("IntegrationResponses", []):
            backend.put_integration_response(
                function_id=api,
                resource_id=resource,
                method_type=verb,
                status_code=str(response["StatusCode"]),
                selection_pattern=response.get("SelectionPattern"),
                response_templates=response.get("ResponseTemplates") or {},
                response_parameters=response.get("ResponseParameters") or {},
                content_handling=response.get("ContentHandling"),
            )
    method.cfn_ids = (api, resource, verb)
    return method


def _patch_method():
    from moto.apigateway.models import Method

    def create(cls, name, cfn, account_id, region_name, **kwargs):
        return _put_method(cfn["Properties"], account_id, region_name)

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        # Updating a Method changes the API, never a deployed stage (review M9).
        return _put_method(cloudformation_json["Properties"], account_id, region_name)

    def delete(self, account_id, region_name):
        api, resource, verb = self.cfn_ids
        _backend(account_id, region_name).delete_method(api, resource, verb)

    Method.create_from_cloudformation_json = classmethod(create)
    Method.update_from_cloudformation_json = classmethod(update)
    Method.delete = delete


def _patch_rest_api_and_deployment():
    from moto.apigateway.models import Deployment, Resource, RestAPI

    def keep(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        # moto has no update for these; without one it forgets the resource on any change.
        props = cloudformation_json["Properties"]
        if isinstance(original_resource, RestAPI):
            original_resource.name = props.get("Name", original_resource.name)
            original_resource.description = props.get("Description", "")
        return original_resource

    create_api = RestAPI.create_from_cloudformation_json.__func__

    def create_rest_api(cls, name, cfn, account_id, region_name, **kwargs):
        api = create_api(cls, name, cfn, account_id, region_name, **kwargs)
        # moto drops ApiKeySourceType (default HEADER, RestApi resource reference).
        api.api_key_source = cfn["Properties"].get("ApiKeySourceType", "HEADER")
        return api

    RestAPI.create_from_cloudformation_json = classmethod(create_rest_api)
    RestAPI.update_from_cloudformation_json = classmethod(keep)
    Resource.update_from_cloudformation_json = classmethod(keep)
    # `!Ref Deployment` is the deployment id.
    Deployment.physical_resource_id = property(lambda self: self.id)
    Deployment.has_cfn_attr = classmethod(lambda cls, attribute: attribute == "DeploymentId")
    Deployment.get_cfn_attribute = lambda self, attribute: self.id

    create = Deployment.create_from_cloudformation_json.__func__

    def create_deployment(cls, name, cfn, account_id, region_name, **kwargs):
        props = cfn["Properties"]
        props["RestApiId"] = _id(props["RestApiId"])
        deployment = create(cls, name, cfn, account_id, region_name, **kwargs)
        deployment.cfn_api_id = props["RestApiId"]
        return deployment

    def delete(self, account_id, region_name):
        _backend(account_id, region_name).get_rest_api(self.cfn_api_id).deployments.pop(self.id, None)

    Deployment.create_from_cloudformation_json = classmethod(create_deployment)
    Deployment.delete = delete


# --- the types moto skips --------------------------------------------------------------------


def _register_types():
    from moto.core.common_models import CloudFormationModel

    # moto finds CloudFormation types among the *direct* subclasses of CloudFormationModel, and
    # its model metaclass names the service after `__module__`: each class sets both.
    module = "moto.apigateway.emulator"

    class _ApiGatewayModel:
        attributes = {}

        def __init__(self, physical_id, api_id=None, **extra):
            self.physical_id = physical_id
            self.api_id = api_id
            self.__dict__.update(extra)

        @property
        def physical_resource_id(self):
            return self.physical_id

        @classmethod
        def has_cfn_attr(cls, attribute):
            return attribute in cls.attributes

        def get_cfn_attribute(self, attribute):
            return getattr(self, self.attributes[attribute])

        @staticmethod
        def cloudformation_name_type():
            return ""

        @classmethod
        def update_from_cloudformation_json(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        ):
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    class CfnStage(_ApiGatewayModel, CloudFormationModel):
        __module__ = module

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::Stage"

        @classmethod
        def _apply(cls, stage, props):
            stage.deployment_id = _id(props.get("DeploymentId"))
            stage.description = props.get("Description", "")
            stage.variables = dict(props.get("Variables") or {})
            stage.tracing_enabled = bool(props.get("TracingEnabled", False))
            stage.method_settings = _method_settings(props.get("MethodSettings"))
            log = props.get("AccessLogSetting")
            stage.access_log_settings = (
                {"destinationArn": log.get("DestinationArn"), "format": log.get("Format")} if log else None
            )

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            api = _id(props["RestApiId"])
            stage = _backend(account_id, region_name).create_stage(
                function_id=api,
                stage_name=props["StageName"],
                deploymentId=_id(props.get("DeploymentId")),
                description=props.get("Description", ""),
                cacheClusterEnabled=props.get("CacheClusterEnabled", False),
                cacheClusterSize=props.get("CacheClusterSize"),
                tags=_tags(props),
                tracing_enabled=props.get("TracingEnabled"),
            )
            cls._apply(stage, props)
            return cls(props["StageName"], api)

        @classmethod
        def update_from_cloudformation_json(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        ):
            props = cloudformation_json["Properties"]
            if props["StageName"] != original_resource.physical_id or _id(props["RestApiId"]) != original_resource.api_id:
                return super().update_from_cloudformation_json(
                    original_resource, new_resource_name, cloudformation_json, account_id, region_name
                )
            # Pointing the stage at another deployment is an in-place update, as on AWS.
            cls._apply(
                _backend(account_id, region_name).get_stage(original_resource.api_id, original_resource.physical_id), props
            )
            return original_resource

        def delete(self, account_id, region_name):
            _backend(account_id, region_name).get_rest_api(self.api_id).stages.pop(self.physical_id, None)

    class CfnApiKey(_ApiGatewayModel, CloudFormationModel):
        __module__ = module
        attributes = {"APIKeyId": "physical_id"}

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::ApiKey"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            payload = {
                "name": props.get("Name", name),
                "description": props.get("Description"),
                # CloudFormation's default is a disabled key (AWS::ApiGateway::ApiKey, Enabled).
                "enabled": bool(props.get("Enabled", False)),
                "customerId": props.get("CustomerId"),
                "tags": _tags(props),
                "stageKeys": [
                    {"restApiId": _id(k.get("RestApiId")), "stageName": k.get("StageName")} for k in props.get("StageKeys", [])
                ],
            }
            if props.get("Value"):
                payload["value"] = props["Value"]
            # Without a Value, moto generates 40 characters of [A-Za-z0-9], as API Gateway does.
            key = _backend(account_id, region_name).create_api_key(payload)
            return cls(key.id)

        @classmethod
        def update_from_cloudformation_json(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        ):
            props = cloudformation_json["Properties"]
            key = _backend(account_id, region_name).get_api_key(original_resource.physical_id)
            if props.get("Value") and props["Value"] != key.value:
                return super().update_from_cloudformation_json(
                    original_resource, new_resource_name, cloudformation_json, account_id, region_name
                )
            key.enabled = bool(props.get("Enabled", False))
            key.description = props.get("Description")
            return original_resource

        def delete(self, account_id, region_name):
            _backend(account_id, region_name).keys.pop(self.physical_id, None)

    class CfnUsagePlan(_ApiGatewayModel, CloudFormationModel):
        __module__ = module
        attributes = {"Id": "physical_id"}

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::UsagePlan"

        @staticmethod
        def _payload(props, name):
            stages = []
            for stage in props.get("ApiStages", []):
                entry = {"apiId": _id(stage["ApiId"]), "stage": stage["Stage"]}
                if stage.get("Throttle"):
                    entry["throttle"] = {
                        path: {"rateLimit": float(t.get("RateLimit", 0)), "burstLimit": int(t.get("BurstLimit", 0))}
                        for path, t in stage["Throttle"].items()
                    }
                stages.append(entry)
            throttle = props.get("Throttle") or {}
            quota = props.get("Quota") or {}
            return {
                "name": props.get("UsagePlanName", name),
                "description": props.get("Description"),
                "apiStages": stages,
                "throttle": {
                    k: v
                    for k, v in {"rateLimit": throttle.get("RateLimit"), "burstLimit": throttle.get("BurstLimit")}.items()
                    if v is not None
                },
                "quota": {
                    k: v
                    for k, v in {
                        "limit": quota.get("Limit"),
                        "period": quota.get("Period"),
                        "offset": quota.get("Offset"),
                    }.items()
                    if v is not None
                },
                "tags": _tags(props),
            }

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            plan = _backend(account_id, region_name).create_usage_plan(cls._payload(cfn["Properties"], name))
            return cls(plan.id)

        @classmethod
        def update_from_cloudformation_json(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        ):
            plan = _backend(account_id, region_name).get_usage_plan(original_resource.physical_id)
            payload = cls._payload(cloudformation_json["Properties"], plan.name)
            plan.name, plan.description, plan.api_stages = payload["name"], payload["description"], payload["apiStages"]
            plan.throttle, plan.quota = payload["throttle"], payload["quota"]
            return original_resource

        def delete(self, account_id, region_name):
            backend = _backend(account_id, region_name)
            backend.usage_plans.pop(self.physical_id, None)
            backend.usage_plan_keys.pop(self.physical_id, None)

    class CfnUsagePlanKey(_ApiGatewayModel, CloudFormationModel):
        __module__ = module

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::UsagePlanKey"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            plan, key = _id(props["UsagePlanId"]), _id(props["KeyId"])
            _backend(account_id, region_name).create_usage_plan_key(
                plan, {"keyId": key, "keyType": props.get("KeyType", "API_KEY")}
            )
            return cls(key, plan_id=plan)

        def delete(self, account_id, region_name):
            _backend(account_id, region_name).usage_plan_keys.get(self.plan_id, {}).pop(self.physical_id, None)

    class CfnModel(_ApiGatewayModel, CloudFormationModel):
        __module__ = module

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::Model"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            api = _id(props["RestApiId"])
            schema = props.get("Schema")
            # The control plane stores the schema as a string (GetModel's `schema`).
            schema = json.dumps(schema) if isinstance(schema, (dict, list)) else schema
            model_name = props.get("Name") or kwargs.get("LogicalId", name).replace("-", "")
            _backend(account_id, region_name).create_model(
                api, model_name, props.get("ContentType"), props.get("Description"), schema
            )
            return cls(model_name, api)

        def delete(self, account_id, region_name):
            _backend(account_id, region_name).get_rest_api(self.api_id).models.pop(self.physical_id, None)

    class CfnRequestValidator(_ApiGatewayModel, CloudFormationModel):
        __module__ = module
        attributes = {"RequestValidatorId": "physical_id"}

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::RequestValidator"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            api = _id(props["RestApiId"])
            validator = _backend(account_id, region_name).create_request_validator(
                api,
                props.get("Name", name),
                bool(props.get("ValidateRequestBody", False)),
                bool(props.get("ValidateRequestParameters", False)),
            )
            return cls(validator.id, api)

        def delete(self, account_id, region_name):
            _backend(account_id, region_name).get_rest_api(self.api_id).request_validators.pop(self.physical_id, None)

    class CfnGatewayResponse(_ApiGatewayModel, CloudFormationModel):
        __module__ = module

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::GatewayResponse"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            api = _id(props["RestApiId"])
            status = props.get("StatusCode")
            _backend(account_id, region_name).put_gateway_response(
                api,
                props["ResponseType"],
                str(status) if status is not None else None,
                props.get("ResponseParameters"),
                props.get("ResponseTemplates"),
            )
            return cls(f"{api}-{props['ResponseType']}", api, response_type=props["ResponseType"])

        def delete(self, account_id, region_name):
            _backend(account_id, region_name).get_rest_api(self.api_id).gateway_responses.pop(self.response_type, None)

    class CfnAccount(_ApiGatewayModel, CloudFormationModel):
        __module__ = module

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::Account"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            # Approximation: AWS also checks that API Gateway can assume the role and that it may
            # write CloudWatch Logs ("The role ARN does not have required permissions").
            _backend(account_id, region_name).account.cloudwatch_role_arn = cfn["Properties"].get("CloudWatchRoleArn")
            return cls(name)

        def delete(self, account_id, region_name):
            pass  # the account setting outlives the stack on AWS too

    return [CfnStage, CfnApiKey, CfnUsagePlan, CfnUsagePlanKey, CfnModel, CfnRequestValidator, CfnGatewayResponse, CfnAccount]


def _deployments_wait_for_their_dependencies():
    """moto creates a resource early, and lazily, when another one `Ref`s it, without creating
    the resource's own DependsOn first; CloudFormation never does. For a Deployment that means a
    snapshot of the API before its methods exist ("The REST API doesn't contain any methods").
    (The general fix belongs to cloudformation.py; this covers the Deployment.)"""
    from moto.cloudformation import parsing

    create = parsing.parse_and_create_resource

    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
        if resource_json.get("Type") == "AWS::ApiGateway::Deployment":
            depends = resource_json.get("DependsOn", [])
            for dependency in [depends] if isinstance(depends, str) else depends:
                _ = resources_map[dependency]
        return create(logical_id, resource_json, resources_map, account_id, region_name)

    parsing.parse_and_create_resource = parse_and_create_resource


def register():
    """Call once at start-up, after cloudformation.patch_cloudformation() and before the first
    stack is created (moto caches its type map)."""
    from moto.cloudformation import parsing

    _deployments_wait_for_their_dependencies()
    _patch_method()
    _patch_rest_api_and_deployment()
    types = _register_types()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    return types
