"""Step Functions as moto runs it, patched: state machines execute (moto's ASL
interpreter), `StartSyncExecution` is answered, waiting for the execution to end, tasks
call Lambda/SNS/SQS with the state machine role's credentials (assumed as
states.amazonaws.com through iam.py) instead of moto's fixed "ak"/"sk", and a Lambda
service error of a plain Lambda task keeps its name (`Lambda.TooManyRequestsException`)."""

import json
import sys
import time
import uuid

import iam

# Seen at run time when Step Functions cannot assume the role (lumigo-io/lumigo-CLI#83);
# AWS does not reject the role when the state machine is created.
CANNOT_ASSUME = ("Neither the global service principal states.amazonaws.com, nor the regional one "
                 "is authorized to assume the provided role.")


def patch_task_credentials():
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.utils import boto_client

    evaluate = StateTask._eval_state_credentials

    def eval_state_credentials(self, env):
        credentials = evaluate(self, env)
        # Which state machine asks: Step Functions sends aws:SourceArn (the state machine)
        # and aws:SourceAccount when it assumes the role (facts file, section 3).
        credentials.source_arn = env.states.context_object.context_object_data["StateMachine"]["Id"]
        credentials.account = env.aws_execution_details.account
        return credentials

    StateTask._eval_state_credentials = eval_state_credentials

    def boto_client_for(region, service, state_credentials=None):
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn:
            raise RuntimeError(CANNOT_ASSUME)
        source_arn = getattr(state_credentials, "source_arn", "")
        account = getattr(state_credentials, "account", None) or role_arn.split(":")[4]
        try:
            credentials = iam.assume_role_for_service(
                role_arn, "states.amazonaws.com", {"aws:SourceAccount": account, "aws:SourceArn": source_arn},
                session_name=source_arn.split(":")[-1] or "states")
        except iam.AssumeRoleDenied:
            raise RuntimeError(CANNOT_ASSUME) from None
        return boto3.client(
            service_name=service,
            region_name=region,
            endpoint_url=f"http://127.0.0.1:{boto_client.moto_server_port()}",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
        )

    # Modules bound the function when they were imported: replace it everywhere.
    boto_client.boto_client_for = boto_client_for
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions") and getattr(module, "boto_client_for", None) is not None:
            module.boto_client_for = boto_client_for


def patch_lambda_service_errors():
    """moto (5.2.5) names every Lambda service error of a `Resource: <function ARN>` task
    "Exception", so a Retry on `Lambda.TooManyRequestsException` never matches. Step Functions
    names them after the service's exception: "Lambda errors are reported as
    Lambda.ErrorName" and "When Lambda hits the maximum number of invocations, the error is
    Lambda.TooManyRequestsException" (Step Functions guide, "Handle Lambda service
    exceptions", https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
    The name and cause are built as moto's optimized `lambda:invoke` integration builds them;
    the history event stays LambdaFunctionFailed (which event AWS records for a throttled
    start is not documented: approximation)."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if getattr(StateTaskLambda, "_names_service_errors", False):
        return
    from_error = StateTaskLambda._from_error

    def named_from_error(self, env, ex):
        if not isinstance(ex, ClientError):
            return from_error(self, env, ex)
        error, cause = StateTaskServiceLambda._error_cause_from_client_error(ex)
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)),
        )

    StateTaskLambda._from_error = named_from_error
    StateTaskLambda._names_service_errors = True


def patch_step_functions():
    from moto.core.config import default_user_config
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.responses import StepFunctionResponse

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    patch_task_credentials()
    patch_lambda_service_errors()

    def start_sync_execution(self):
        backend = stepfunctions_parser_backends[self.current_account][self.region]
        name = self._get_param("name") or str(uuid.uuid4())
        execution = backend.start_execution(
            self._get_param("stateMachineArn"), name, self._get_param("input", if_none="{}")
        )
        deadline = time.time() + 60
        while execution.exec_status == "RUNNING" and time.time() < deadline:
            time.sleep(0.01)
        response = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": name,
            "startDate": execution.start_date,
            "stopDate": execution.stop_date,
            "status": getattr(execution.exec_status, "value", str(execution.exec_status)),
            "input": execution.input_data if isinstance(execution.input_data, str) else json.dumps(execution.input_data),
        }
        if execution.output is not None:
            response["output"] = execution.output if isinstance(execution.output, str) else json.dumps(execution.output)
        if execution.error is not None:
            response["error"] = execution.error
        if execution.cause is not None:
            response["cause"] = execution.cause
        return ActionResult(response)

    StepFunctionResponse.start_sync_execution = start_sync_execution
