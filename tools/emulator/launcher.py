"""The embedded local AWS: moto server, patched where moto 5.2.5 cannot run this template.

The template is deployed to it unchanged; every gap is closed by one module per AWS
behaviour (DESIGN.md section 5):

* cloudformation.py: resource types and properties moto's CloudFormation misreads or lacks;
* stepfunctions.py: executing state machines, `StartSyncExecution`, Lambda's service errors
  named `Lambda.<Exception>`;
* dynamodb.py: atomic conditional writes and all-or-nothing, isolated transactions;
* lambda_env.py: invocations run the deployed `bootstrap` over the Lambda Runtime API,
  in warm execution environments (lambda_pool.py, runtime_api.py) within each function's
  concurrency; throttles are counted in CloudWatch (lambda_metrics.py);
* queues.py: Lambda's SQS poller (redelivery, partial batch failures, the DLQ);
* streams.py: Lambda's DynamoDB Streams poller (batches, retries, bisection, on-failure);
* iam.py: IAM authorization on every request; services act with their roles' credentials;
* faults.py: the end-to-end suite's fault injection;
* apigateway_cfn.py: the API Gateway resources moto's CloudFormation skips or truncates;
* sns_cfn.py: AWS::SNS::Subscription, which moto's CloudFormation skips;
* apigateway.py + vtl.py: the deployed REST API stages served over HTTP (--api-port).

Usage: python launcher.py --port PORT --work-dir DIR [--api-port PORT (default: PORT + 1)]
"""

import argparse
import os

import apigateway
import apigateway_cfn
import cloudformation
import dynamodb
import faults
import iam
import lambda_env
import queues
import settings
import sns_cfn
import stepfunctions
import streams


def start(port, work_dir):
    """Patch moto and start the pollers, before the server takes requests (also used
    by the unit tests, which serve with moto's ThreadedMotoServer)."""
    settings.PORT = port
    settings.WORK_DIR = os.path.abspath(work_dir)
    os.makedirs(settings.WORK_DIR, exist_ok=True)
    # moto's Step Functions interpreter calls Lambda through this server's port.
    os.environ["MOTO_PORT"] = str(settings.PORT)
    # Warm execution environments reuse their SDK connections to this server; werkzeug writes
    # a response's headers and body separately, so with Nagle's algorithm every reused
    # connection waits for the client's delayed ACK (40 ms on Linux) on each call.
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.disable_nagle_algorithm = True
    cloudformation.patch_cloudformation()
    apigateway_cfn.register()
    sns_cfn.register()
    # After apigateway_cfn: stack updates in dependency order that roll back on a failure.
    cloudformation.install_update_order()
    apigateway.patch_deployments()
    stepfunctions.patch_step_functions()
    lambda_env.patch_lambda()
    dynamodb.patch_dynamodb()
    streams.patch_streams()
    faults.install()
    iam.enable(settings.WORK_DIR)
    queues.start_queue_poller()
    streams.start_stream_poller()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--api-port", type=int)
    args = parser.parse_args()
    start(args.port, args.work_dir)
    settings.API_PORT = args.api_port or args.port + 1
    apigateway.start_server(settings.API_PORT)
    print(f"API Gateway stages served on http://127.0.0.1:{settings.API_PORT}/{{stage}}/{{path}}", flush=True)
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", str(settings.PORT)])


if __name__ == "__main__":
    main()
