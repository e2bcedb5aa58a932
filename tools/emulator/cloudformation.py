"""CloudFormation as moto runs it, patched where moto 5.2.5 cannot deploy this template
unchanged: KMS key tags and SSM parameter tags in CloudFormation's format,
`!GetAtt Parameter.Value`, literal nulls kept (`ResultPath: null`), the state machine's
`Definition` object with its `DefinitionSubstitutions`, and `AWS::SecretsManager::Secret`
with a generated value.

And the deploy lifecycle as CloudFormation runs it (`patch_lifecycle`): request size
limits, a failed create rolled back to ROLLBACK_COMPLETE honouring DeletionPolicy, a
failed update rolled back to UPDATE_ROLLBACK_COMPLETE, change sets with AWS's rules, and
updates that change only what the template changed (Lambda code only when `Code` changes,
role policies when they change)."""

import json
import threading
import uuid

import faults


def patch_cloudformation():
    from moto.cloudformation import parsing
    from moto.kms.models import Key
    from moto.ssm.models import Parameter

    resolve = parsing.clean_json

    def clean_json(value, resources_map):
        # moto drops every key whose value resolves to None, literal nulls included; the
        # state machine's `ResultPath: null` (keep the input) must survive.
        is_intrinsic = isinstance(value, dict) and any(k == "Ref" or k.startswith("Fn::") for k in value)
        if not isinstance(value, dict) or is_intrinsic:
            return resolve(value, resources_map)
        cleaned = {}
        for key, item in value.items():
            if item is None:
                cleaned[key] = None
                continue
            resolved = clean_json(item, resources_map)
            if resolved is not None:
                cleaned[key] = resolved
        return cleaned

    parsing.clean_json = clean_json
    key_create = Key.create_from_cloudformation_json.__func__

    def create_key(cls, name, cfn, account_id, region_name, **kwargs):
        # moto reads KMS's TagKey/TagValue; CloudFormation writes Key/Value.
        props = cfn["Properties"]
        props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        return key_create(cls, name, cfn, account_id, region_name, **kwargs)

    Key.create_from_cloudformation_json = classmethod(create_key)

    parameter_create = Parameter.create_from_cloudformation_json.__func__

    def create_parameter(cls, name, cfn, account_id, region_name, **kwargs):
        # AWS::SSM::Parameter tags are a map in CloudFormation.
        props = cfn["Properties"]
        if isinstance(props.get("Tags"), dict):
            props["Tags"] = [{"Key": k, "Value": v} for k, v in props["Tags"].items()]
        return parameter_create(cls, name, cfn, account_id, region_name, **kwargs)

    def parameter_attribute(self, attribute):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute == "Value":
            return self.value
        if attribute == "Type":
            return self.parameter_type
        raise UnformattedGetAttTemplateException()

    Parameter.create_from_cloudformation_json = classmethod(create_parameter)
    Parameter.get_cfn_attribute = parameter_attribute
    Parameter.has_cfn_attr = classmethod(lambda cls, attribute: attribute in ("Value", "Type"))

    patch_state_machine_resource()
    register_secret_resource()
    patch_lifecycle()


def patch_state_machine_resource():
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    def create(cls, name, cfn, account_id, region_name, **kwargs):
        props = cfn["Properties"]
        definition = props.get("DefinitionString")
        if definition is None:
            definition = json.dumps(props["Definition"])
            for key, value in (props.get("DefinitionSubstitutions") or {}).items():
                definition = definition.replace("${" + key + "}", str(value))
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.create_state_machine(
            props.get("StateMachineName", name),
            definition,
            props.get("RoleArn", ""),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])],
            sm_type=props.get("StateMachineType", "STANDARD"),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create)


def register_secret_resource():
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class CfnSecret(CloudFormationModel):
        # moto's model metaclass names the service after the module.
        __module__ = "moto.secretsmanager.launcher"

        def __init__(self, arn):
            self.arn = arn

        @property
        def physical_resource_id(self):
            return self.arn

        @staticmethod
        def cloudformation_type():
            return "AWS::SecretsManager::Secret"

        @staticmethod
        def cloudformation_name_type():
            return "Name"

        @classmethod
        def create_from_cloudformation_json(cls, name, cfn, account_id, region_name, **kwargs):
            props = cfn["Properties"]
            backend = secretsmanager_backends[account_id][region_name]
            value = props.get("SecretString")
            generate = props.get("GenerateSecretString")
            if value is None and generate is not None:
                secret = json.loads(generate.get("SecretStringTemplate", "{}"))
                secret[generate["GenerateStringKey"]] = uuid.uuid4().hex + uuid.uuid4().hex
                value = json.dumps(secret)
            created = backend.create_secret(
                name=props.get("Name", name),
                secret_string=value,
                secret_binary=None,
                description=props.get("Description"),
                tags=props.get("Tags", []),
                kms_key_id=props.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
            return cls(json.loads(created)["ARN"])

    # Subclassing CloudFormationModel registers the type with moto's CloudFormation.
    return CfnSecret


# ---------------------------------------------------------------------------------------
# The deploy lifecycle

# "TemplateBody ... Maximum length of 51,200 bytes" (CreateStack / UpdateStack /
# CreateChangeSet / ValidateTemplate API reference; botocore's model). Research:
# /work/plan/facts-apigw-iam-sfn-cfn.md 6.1.
TEMPLATE_BODY_MAX = 51_200
# TemplateURL: an S3 object of up to 1 MB (current SDK docs; older docs said 460,800 bytes),
# a URL of up to 1,024 characters that starts with https://.
TEMPLATE_URL_OBJECT_MAX = 1_048_576
TEMPLATE_URL_MAX = 1024
RETAINED = ("Retain", "RetainExceptOnCreate")


class ResourceFailed(Exception):
    def __init__(self, logical_id, resource_type, reason):
        super().__init__(reason)
        self.logical_id, self.resource_type, self.reason = logical_id, resource_type, reason


def _backend(account_id, region):
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[account_id][region]


def _stack_of(resources_map):
    try:
        return _backend(resources_map._account_id, resources_map._region_name).stacks.get(resources_map.stack_id)
    except KeyError:
        return None


def _event(stack, logical_id, resource_type, status, reason=None, physical_id=""):
    from moto.cloudformation.models import Event

    if stack is None:
        return
    stack.events.append(Event(
        stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
        physical_resource_id=physical_id or "", resource_type=resource_type, resource_status=status,
        resource_status_reason=reason, resource_properties=None))


def _physical_id(resource):
    try:
        return str(resource.physical_resource_id)
    except Exception:
        return ""


def _failure_reason(resource_type, resource_json, error):
    """What CloudFormation writes in CREATE_FAILED for a resource whose name is taken:
    "Resource of type '<type>' with identifier '<name>' already exists." (the handler
    contract's AlreadyExists error); otherwise the service's own message."""
    from moto.cloudformation.parsing import resource_name_property_from_type

    text = getattr(error, "message", None) or str(error)
    name_property = resource_name_property_from_type(resource_type)
    name = (resource_json.get("Properties") or {}).get(name_property) if name_property else None
    if "already exist" in text.lower() or type(error).__name__ in (
            "ResourceInUseException", "ResourceAlreadyExistsException", "BucketAlreadyExists",
            "EntityAlreadyExists", "BucketAlreadyOwnedByYou"):
        return f"Resource of type '{resource_type}' with identifier '{name or text}' already exists."
    return text or type(error).__name__


_OPERATION = threading.local()  # what the running stack operation created / changed


def patch_lifecycle():
    from moto.cloudformation import parsing, responses
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Stack

    create_resource = parsing.parse_and_create_resource
    update_resource = parsing.parse_and_update_resource

    def create(logical_id, resource_json, resources_map, account_id, region_name):
        stack = _stack_of(resources_map)
        resource_type = resource_json.get("Type", "")
        reason = faults.cloudformation_fault(logical_id)
        if reason is None:
            try:
                resource = create_resource(logical_id, resource_json, resources_map, account_id, region_name)
            except ResourceFailed:
                raise
            except Exception as error:
                reason = _failure_reason(resource_type, resource_json, error)
        if reason is not None:
            _event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
            _event(stack, logical_id, resource_type, "CREATE_FAILED", reason)
            raise ResourceFailed(logical_id, resource_type, reason)
        if resource is not None:
            _event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
            _event(stack, logical_id, resource_type, "CREATE_COMPLETE", physical_id=_physical_id(resource))
            created = getattr(_OPERATION, "created", None)
            if created is not None:
                created.append(logical_id)
        return resource

    def update(logical_id, resource_json, resources_map, account_id, region_name):
        stack = _stack_of(resources_map)
        resource_type = resource_json.get("Type", "")
        reason = faults.cloudformation_fault(logical_id)
        if reason is None:
            try:
                resource = update_resource(logical_id, resource_json, resources_map, account_id, region_name)
            except ResourceFailed:
                raise
            except Exception as error:
                reason = _failure_reason(resource_type, resource_json, error)
        _event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS")
        if reason is not None:
            _event(stack, logical_id, resource_type, "UPDATE_FAILED", reason)
            raise ResourceFailed(logical_id, resource_type, reason)
        _event(stack, logical_id, resource_type, "UPDATE_COMPLETE", physical_id=_physical_id(resource))
        return resource

    parsing.parse_and_create_resource = create
    parsing.parse_and_update_resource = update
    install_update_order()
    parsing.ResourceMap.delete = _delete_resources
    Stack.create_resources = _create_stack_resources
    Stack.update = _update_stack
    ChangeSet.apply = _apply_change_set
    ChangeSet.diff = _diff_with_parameters(ChangeSet.diff)
    CloudFormationBackend.create_change_set = _checked_create_change_set(CloudFormationBackend.create_change_set)
    CloudFormationBackend.execute_change_set = _execute_change_set
    _limit_request_sizes(responses.CloudFormationResponse)
    validate_different_update = responses.CloudFormationResponse._validate_different_update

    def different_update(self, incoming_params, stack_body, old_stack):
        # A change set with no changes is created, and FAILED ("The submitted information
        # didn't contain changes..."): only UpdateStack answers "No updates are to be
        # performed." -- also when no parameters are passed (moto checks only with some).
        from moto.cloudformation.exceptions import ValidationError

        if self._get_action() == "CreateChangeSet" or old_stack.status == "ROLLBACK_COMPLETE":
            return  # (a ROLLBACK_COMPLETE stack is refused as such, by _validate_status)
        validate_different_update(self, incoming_params, stack_body, old_stack)
        if not incoming_params and stack_body and old_stack.has_template(stack_body) and not old_stack.parameters:
            raise ValidationError(old_stack.name, message="No updates are to be performed.")

    responses.CloudFormationResponse._validate_different_update = different_update
    _patch_lambda_code_updates()
    _patch_role_updates()


def _delete_in_order(resources_map, logical_ids, stack, on_create_rollback):
    """Delete `logical_ids` (given in creation order) in reverse order, honouring
    DeletionPolicy: Delete deletes; Retain keeps; RetainExceptOnCreate keeps except when a
    create is rolled back ("DeletionPolicy attribute", CloudFormation User Guide; What's
    New 2023-07-31). Retained resources leave the stack (they are no longer managed)."""
    for logical_id in reversed(logical_ids):
        resource = resources_map._parsed_resources.get(logical_id)
        resource_json = resources_map._resource_json_map.get(logical_id) or {}
        resource_type = resource_json.get("Type", "")
        if resource is None or isinstance(resource, str):
            continue
        policy = resource_json.get("DeletionPolicy", "Delete")
        if policy == "Retain" or (policy == "RetainExceptOnCreate" and not on_create_rollback):
            _event(stack, logical_id, resource_type, "DELETE_SKIPPED", physical_id=_physical_id(resource))
            resources_map._parsed_resources.pop(logical_id, None)
            continue
        _event(stack, logical_id, resource_type, "DELETE_IN_PROGRESS", physical_id=_physical_id(resource))
        try:
            resources_map._delete_resource(resource, resource_json)
        except Exception as error:  # moto lacks a delete: the resource stays, as DELETE_FAILED would
            _event(stack, logical_id, resource_type, "DELETE_FAILED", str(error), _physical_id(resource))
            continue
        resources_map._parsed_resources.pop(logical_id, None)
        _event(stack, logical_id, resource_type, "DELETE_COMPLETE", physical_id=_physical_id(resource))


def _resource_ids(resources_map):
    return [k for k in resources_map._parsed_resources if k in resources_map._resource_json_map]


def _delete_resources(self):
    """DeleteStack: every resource but the retained ones, in reverse creation order."""
    stack = _stack_of(self)
    _delete_in_order(self, _resource_ids(self), stack, on_create_rollback=False)


def _create_stack_resources(self):
    """CreateStack (and executing a CREATE change set): on a resource failure, roll back
    (CREATE_FAILED, ROLLBACK_IN_PROGRESS, deletes, ROLLBACK_COMPLETE), unless the caller
    asked for no rollback (OnFailure=DO_NOTHING / DisableRollback: CREATE_FAILED)."""
    self.status = "CREATE_IN_PROGRESS"
    try:
        self.resource_map.create(self.template_dict)
    except ResourceFailed as failure:
        _roll_back_create(self, failure)
        return
    self.description = self.template_dict.get("Description")
    self.output_map = self._create_output_map()
    self.mark_creation_complete()


def _roll_back_create(stack, failure):
    if getattr(stack, "disable_rollback", False):
        stack.status = "CREATE_FAILED"
        stack._add_stack_event("CREATE_FAILED", f"The following resource(s) failed to create: [{failure.logical_id}]. ")
        return
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        f"The following resource(s) failed to create: [{failure.logical_id}]. Rollback requested by user.")
    _delete_in_order(stack.resource_map, _resource_ids(stack.resource_map), stack, on_create_rollback=True)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.output_map = _empty_outputs(stack)


def _empty_outputs(stack):
    from moto.cloudformation.parsing import OutputMap

    return OutputMap(stack.resource_map, {}, stack.stack_id)


def _references(value, names):
    """Logical ids a resource's properties refer to (Ref, Fn::GetAtt, ${...} in Fn::Sub)."""
    found = set()
    if isinstance(value, dict):
        if value.get("Ref") in names:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"][0] if isinstance(value["Fn::Sub"], list) else value["Fn::Sub"]
            found.update(n for n in names if "${" + n + "}" in str(text) or "${" + n + "." in str(text))
        for item in value.values():
            found |= _references(item, names)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item, names)
    return found & names


def dependency_order(resources):
    """Logical ids, each after its DependsOn, Ref, GetAtt and Sub targets: the order in which
    CloudFormation creates and updates resources ("DependsOn attribute", User Guide)."""
    names, ordered, done = set(resources), [], set()

    def visit(name, path=()):
        if name in done or name in path:
            return
        body = resources[name] or {}
        depends = body.get("DependsOn", [])
        for dependency in sorted(set([depends] if isinstance(depends, str) else depends) & names
                                 | _references(body.get("Properties", {}), names)):
            visit(dependency, path + (name,))
        done.add(name)
        ordered.append(name)

    for name in resources:
        visit(name)
    return ordered


def install_update_order():
    """ResourceMap.update as CloudFormation runs an update (`_update_resources`). Also called
    by launcher.start() after apigateway_cfn.register(), whose own ResourceMap.update wrapper
    (dependency order, failures retried) it replaces: failures must roll the update back."""
    from moto.cloudformation import parsing

    parsing.ResourceMap.update = _update_resources


def _update_resources(self, template, parameters=None):
    """moto's ResourceMap.update, in CloudFormation's order: create new resources, update
    changed ones, and only then (cleanup) delete removed ones ("Update behaviors of stack
    resources", CloudFormation User Guide). A failure raises ResourceFailed with the
    previous state restored: added resources deleted, changed ones re-applied."""
    from moto.cloudformation.parsing import parse_and_update_resource

    diff = self.build_resource_diff(template, parameters)
    _modify_resources_whose_parameters_changed(self, template, parameters, diff)
    old = {"template": self._template, "json": self._resource_json_map, "parameters": self.input_parameters}
    self._template = template
    if parameters:
        self.input_parameters = parameters
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = template["Resources"]
    added, modified = [], []
    _OPERATION.created = added
    try:
        for logical_id in dependency_order(self._resource_json_map):
            if logical_id in diff["Add"]:
                _ = self[logical_id]
            elif logical_id in diff["Modify"]:
                resource = parse_and_update_resource(logical_id, self._resource_json_map[logical_id], self,
                                                     account_id=self._account_id, region_name=self._region_name)
                if resource is not None:
                    self._parsed_resources[logical_id] = resource
                modified.append(logical_id)
    except ResourceFailed:
        stack = _stack_of(self)
        _delete_in_order(self, added, stack, on_create_rollback=True)
        self._template, self._resource_json_map, self.input_parameters = old["template"], old["json"], old["parameters"]
        self.load_parameters()
        self.load_conditions()
        for logical_id in modified:
            try:
                resource = parse_and_update_resource(logical_id, self._resource_json_map[logical_id], self,
                                                     account_id=self._account_id, region_name=self._region_name)
                if resource is not None:
                    self._parsed_resources[logical_id] = resource
            except ResourceFailed:
                pass
        raise
    finally:
        _OPERATION.created = None
    stack = _stack_of(self)
    removed = [k for k in old["json"] if k in diff["Remove"]]
    saved = self._resource_json_map
    self._resource_json_map = dict(old["json"], **saved)
    _delete_in_order(self, [k for k in _resource_ids(self) if k in removed], stack, on_create_rollback=False)
    for logical_id in removed:
        self._parsed_resources.pop(logical_id, None)
    self._resource_json_map = saved


def _modify_resources_whose_parameters_changed(resource_map, template, parameters, diff):
    """CloudFormation updates a resource whose resolved properties change, whatever changed
    them. moto marks a resource modified by a new parameter value only when it names the
    parameter with `Ref`; `!Sub "${ArtifactKeyPrefix}/validator.zip"` was missed, so a new
    release's code never reached the functions (review M12, on the emulator's side)."""
    if not isinstance(parameters, dict):
        return
    changed = {name for name, value in parameters.items() if resource_map.input_parameters.get(name) != value}
    if not changed:
        return
    for logical_id, resource_json in template["Resources"].items():
        if logical_id in diff["Add"] or logical_id in diff["Modify"]:
            continue
        if _references(resource_json, changed):
            diff["Modify"].append(logical_id)


def _diff_with_parameters(diff):
    """A change set lists what executing it would change: a resource whose properties resolve
    differently under the new parameter values too (moto lists only changed template text, so
    a new release showed an empty change set to its approver)."""
    from moto.cloudformation.models import Change

    def listed(self):
        changes = diff(self)
        if self.change_set_type != "UPDATE":
            return changes
        names = {c.logical_resource_id for c in changes}
        extra = {"Add": list(names), "Modify": [], "Remove": []}  # already listed: skipped
        _modify_resources_whose_parameters_changed(self.stack.resource_map, self.template_dict, self.parameters, extra)
        for logical_id in extra["Modify"]:
            changes.append(Change(action="Modify", logical_resource_id=logical_id,
                                  resource_type=self.template_dict["Resources"][logical_id]["Type"]))
        return changes

    return listed


def _update_stack(self, template, role_arn=None, parameters=None, tags=None):
    """UpdateStack / an UPDATE change set: UPDATE_COMPLETE, or on a resource failure
    UPDATE_ROLLBACK_IN_PROGRESS -> UPDATE_ROLLBACK_COMPLETE with the old template."""
    previous = (self.template, self.template_dict, self.parameters)
    self.status = "UPDATE_IN_PROGRESS"
    self._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
    self.template = template
    self._parse_template()
    try:
        self.resource_map.update(self.template_dict, parameters)
    except ResourceFailed as failure:
        self.template, self.template_dict, self.parameters = previous
        self.status = "UPDATE_ROLLBACK_IN_PROGRESS"
        self._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS",
                              f"The following resource(s) failed to update: [{failure.logical_id}]. ")
        self.status = "UPDATE_ROLLBACK_COMPLETE"
        self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        self.output_map = self._create_output_map()
        return False
    self.output_map = self._create_output_map()
    self.status = "UPDATE_COMPLETE"
    self._add_stack_event("UPDATE_COMPLETE")
    self.role_arn = role_arn
    if parameters:
        self.parameters = parameters
    if tags is not None:
        self.tags = tags
    return True


def _apply_change_set(self):
    stack = self.stack
    if self.change_set_type == "CREATE":
        stack.template = self.template
        stack._parse_template()
        stack.parameters = self.parameters
        stack.resource_map.input_parameters = self.parameters
        stack.resource_map._template = stack.template_dict
        # load() validates the outputs' GetAtt targets against the resource map: set it first.
        stack.resource_map._resource_json_map = stack.template_dict.get("Resources", {})
        stack.resource_map.load()
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.create_resources()
    else:
        stack.update(self.template, self.role_arn, parameters=self.parameters, tags=self.tags)


def _checked_create_change_set(create_change_set):
    from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError

    def checked(self, stack_name, change_set_name, template, parameters, description, change_set_type, **kwargs):
        live = [s for s in self.stacks.values() if s.name == stack_name]
        if change_set_type == "CREATE" and any(s.status != "REVIEW_IN_PROGRESS" for s in live):
            # compose-x/ecs_composex#785 (AWS's ValidationError text).
            raise ValidationError(message=f"Stack [{stack_name}] already exists and cannot be created again with "
                                          f"the changeSet [{change_set_name}].")
        if change_set_type == "UPDATE":
            if not live or live[0].status == "REVIEW_IN_PROGRESS":
                raise ValidationError(message=f"Stack [{stack_name}] does not exist")  # boto/boto3#2327
            if live[0].status == "ROLLBACK_COMPLETE":
                # aws/aws-cli#6216: the raw AWS response for CreateChangeSet/UpdateStack.
                raise ValidationError(message=f"Stack:{live[0].stack_id} is in ROLLBACK_COMPLETE state and can not be updated.")
        stack_ids = {s.stack_id for s in live}
        for change_set in self.change_sets.values():
            if change_set.change_set_name == change_set_name and change_set.stack_id in stack_ids:
                # "must be unique among all change sets that are associated with the
                # specified stack" (API reference); the message text is uncertain.
                raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists and cannot be created again.")
        if change_set_type == "CREATE" and live:
            # Another CREATE change set for a stack still in review: reuse that stack.
            self.stacks.pop(live[0].stack_id)
            change_set_id, stack_id = create_change_set(self, stack_name, change_set_name, template, parameters,
                                                        description, change_set_type, **kwargs)
            new = self.stacks.pop(stack_id)
            self.stacks[live[0].stack_id] = live[0]
            self.change_sets[change_set_id].stack = live[0]
            self.change_sets[change_set_id].stack_id = live[0].stack_id
            del new
            return change_set_id, live[0].stack_id
        return create_change_set(self, stack_name, change_set_name, template, parameters, description,
                                 change_set_type, **kwargs)

    return checked


def _execute_change_set(self, change_set_name, stack_name=None):
    from moto.cloudformation.exceptions import ValidationError

    change_set = self.change_sets.get(change_set_name)
    if change_set is None:
        for candidate in self.change_sets.values():
            if candidate.change_set_name == change_set_name and (
                    stack_name in (None, candidate.stack_name, candidate.stack_id)):
                change_set = candidate
    if change_set is None:
        raise ValidationError(message=f"ChangeSet [{change_set_name}] does not exist")
    if change_set.execution_status != "AVAILABLE":
        # InvalidChangeSetStatusException (ExecuteChangeSet API reference); text approximated.
        raise _invalid_change_set_status(f"ChangeSet [{change_set.change_set_id}] cannot be executed in its "
                                         f"current status of [{change_set.status}]")
    stack = self.stacks[change_set.stack_id]
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    change_set.apply()
    change_set.execution_status = "EXECUTE_COMPLETE" if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE") \
        else "EXECUTE_FAILED"
    # "After the execution of a change set, CloudFormation deletes all other change sets
    # associated with the stack" (ExecuteChangeSet API reference).
    for change_set_id in [k for k, v in self.change_sets.items() if v.stack_id == stack.stack_id and v is not change_set]:
        del self.change_sets[change_set_id]


def _invalid_change_set_status(message):
    from moto.cloudformation.exceptions import CloudFormationError

    class InvalidChangeSetStatus(CloudFormationError):
        # moto serialises an error with the service model named by its class's module.
        __module__ = "moto.cloudformation.exceptions"
        code = "InvalidChangeSetStatus"

    return InvalidChangeSetStatus(message)


def _limit_request_sizes(response_class):
    from moto.cloudformation.exceptions import ValidationError

    def checked(method, field):
        def call(self):
            body = self._get_param("TemplateBody")
            if body is not None and len(body.encode("utf-8")) > TEMPLATE_BODY_MAX:
                shown = body if len(body) < 100 else body[:60] + "..."
                raise ValidationError(message=(
                    f"1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {TEMPLATE_BODY_MAX}"))
            url = self._get_param("TemplateURL")
            if url is not None:
                _check_template_url(self, url)
            return method(self)

        return call

    for name in ("create_stack", "update_stack", "create_change_set", "validate_template", "get_template_summary"):
        setattr(response_class, name, checked(getattr(response_class, name), "templateBody"))

    create_stack = response_class.create_stack

    def create_stack_with_options(self):
        # OnFailure=DO_NOTHING or DisableRollback=true: no rollback (CreateStack API reference).
        _OPERATION.disable_rollback = (self._get_param("OnFailure") == "DO_NOTHING"
                                       or str(self._get_param("DisableRollback")).lower() == "true")
        try:
            return create_stack(self)
        finally:
            _OPERATION.disable_rollback = False

    response_class.create_stack = create_stack_with_options

    from moto.cloudformation.models import Stack

    init = Stack.__init__

    def stack_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.disable_rollback = getattr(_OPERATION, "disable_rollback", False)

    Stack.__init__ = stack_init


def _check_template_url(response, url):
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.utils import get_stack_from_s3_url

    if len(url) > TEMPLATE_URL_MAX:
        raise ValidationError(message=f"1 validation error detected: Value '{url}' at 'templateURL' failed to satisfy "
                                      f"constraint: Member must have length less than or equal to {TEMPLATE_URL_MAX}")
    if not url.startswith("https://"):
        # "The location for an Amazon S3 bucket must start with https://." (API reference)
        raise ValidationError(message="TemplateURL must be a supported URL.")
    try:
        body = get_stack_from_s3_url(url, account_id=response.current_account, partition=response.partition)
    except Exception:
        raise ValidationError(message="TemplateURL must reference a valid S3 object to which you have access.") from None
    if len(body.encode("utf-8")) > TEMPLATE_URL_OBJECT_MAX:
        raise ValidationError(message=f"Template may not exceed {TEMPLATE_URL_OBJECT_MAX} bytes in size.")


def _patch_lambda_code_updates():
    """"Changes to a deployment package in Amazon S3 ... are not detected automatically
    during stack updates. To update the function code, change the object key or version in
    the template." (AWS::Lambda::Function Code). moto re-reads the object on every update
    of the function, so a changed Description alone would ship the overwritten zip."""
    from moto.awslambda.models import LambdaFunction

    create = LambdaFunction.create_from_cloudformation_json.__func__
    update = LambdaFunction.update_from_cloudformation_json.__func__

    def created(cls, name, cfn, account_id, region_name, **kwargs):
        function = create(cls, name, cfn, account_id, region_name, **kwargs)
        function.cfn_code = json.dumps(cfn["Properties"].get("Code"), sort_keys=True)
        return function

    def updated(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        properties = cloudformation_json["Properties"]
        code = json.dumps(properties.get("Code"), sort_keys=True)
        if code != getattr(original_resource, "cfn_code", None):
            function = update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        else:
            original_resource.update_configuration(properties)
            function = original_resource
        function.cfn_code = code
        return function

    LambdaFunction.create_from_cloudformation_json = classmethod(created)
    LambdaFunction.update_from_cloudformation_json = classmethod(updated)


def _patch_role_updates():
    """moto's AWS::IAM::Role update changes only the description: its trust policy, inline
    Policies and ManagedPolicyArns stay as first created, so a permission removed from the
    template would keep working locally. Update them as CloudFormation does."""
    from moto.iam.models import Role, iam_backends
    from moto.utilities.utils import get_partition

    update = Role.update_from_cloudformation_json.__func__
    create = Role.create_from_cloudformation_json.__func__

    def created(cls, name, cfn, account_id, region_name, **kwargs):
        # moto stores an inline policy from a template as a Python dict, which GetRolePolicy
        # then returns as its repr (not JSON): store the JSON text, as IAM keeps it.
        role = create(cls, name, cfn, account_id, region_name, **kwargs)
        for policy_name, document in list(role.policies.items()):
            if not isinstance(document, str):
                role.put_policy(policy_name, json.dumps(document))
        return role

    def updated(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        role = update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        properties = cloudformation_json["Properties"]
        backend = iam_backends[account_id][get_partition(region_name)]
        trust = properties.get("AssumeRolePolicyDocument")
        if trust is not None:
            role.assume_role_policy_document = trust if isinstance(trust, str) else json.dumps(trust)
        wanted = {p["PolicyName"]: p["PolicyDocument"] for p in properties.get("Policies", [])}
        for name in list(role.policies):
            if name not in wanted:
                role.delete_policy(name)
        for name, document in wanted.items():
            role.put_policy(name, document if isinstance(document, str) else json.dumps(document))
        managed = set(properties.get("ManagedPolicyArns", []))
        for arn in list(role.managed_policies):
            if arn not in managed:
                backend.detach_role_policy(arn, role.name)
        for arn in managed - set(role.managed_policies):
            backend.attach_role_policy(arn, role.name)
        return role

    Role.create_from_cloudformation_json = classmethod(created)
    Role.update_from_cloudformation_json = classmethod(updated)
