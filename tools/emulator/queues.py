"""Lambda's SQS event source, which moto lacks."""

import json
import threading
import time

import iam

# "Lambda needs the following permissions to manage messages in your Amazon SQS queue"
# (Lambda guide, "Using Lambda with Amazon SQS", execution role permissions).
QUEUE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def start_queue_poller():
    """Lambda's SQS poller, which moto lacks (it invokes once, when a message is sent, and
    never again). Every second each enabled queue mapping receives a batch with the queue's
    own visibility timeout; successful records are deleted, records named in
    `batchItemFailures` and every record of a failed invocation stay until their
    visibility timeout ends, and moto's redrive moves a message to the DLQ after
    `maxReceiveCount` receives."""
    from moto.awslambda.utils import get_backend
    from moto.sqs.models import sqs_backends

    def poll():
        while True:
            time.sleep(1)
            for account_id, regions in list(sqs_backends.items()):
                for region, backend in list(regions.items()):
                    for queue in list(backend.queues.values()):
                        for function_arn, mapping in list(queue.lambda_event_source_mappings.items()):
                            if mapping.enabled:
                                deliver(backend, queue, function_arn, mapping, get_backend(account_id, region))

    def deliver(backend, queue, function_arn, mapping, lambda_backend):
        # Lambda reads the queue with the function's execution role.
        function = lambda_backend._lambdas.get_arn(function_arn)
        if function is None or not all(iam.role_allows(function.role, a, queue.queue_arn)[0] for a in QUEUE_ACTIONS):
            return
        messages = backend.receive_message(queue.name, mapping.batch_size, 0, queue.visibility_timeout)
        if not messages:
            return
        event = {"Records": [{
            "messageId": m.id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": {"ApproximateReceiveCount": str(m.approximate_receive_count)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": queue.queue_arn,
            "awsRegion": queue.region,
        } for m in messages]}
        headers = {}
        try:
            body = lambda_backend.invoke(function_arn, None, json.dumps(event), {}, headers)
        except Exception:
            return
        if "x-amz-function-error" in headers:
            return
        try:
            failed = {f["itemIdentifier"] for f in json.loads(body or b"{}").get("batchItemFailures", [])}
        except (ValueError, AttributeError):
            failed = set()
        for message in messages:
            if message.id not in failed:
                backend.delete_message(queue.name, message.receipt_handle)

    threading.Thread(target=poll, daemon=True).start()
