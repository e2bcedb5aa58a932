"""DynamoDB Streams delivered to Lambda as Lambda's event source mapping does it.

moto (5.2.5) invokes every mapped function synchronously inside the table write, with all
records since the last success, restarts sequence numbers after each delivery and names
every record's Region us-east-1. Here the table only appends records to its stream and a
poller per mapping delivers them, following the Lambda guide:

* "Using AWS Lambda with Amazon DynamoDB" (with-ddb), "Lambda parameters for Amazon
  DynamoDB event source mappings" (services-ddb-params), "Configuring error handling for
  DynamoDB event sources" (services-dynamodb-errors), "Configuring partial batch response
  with DynamoDB and Lambda" (services-ddb-batchfailurereporting), "Using event filtering
  with a DynamoDB event source" (with-ddb-filtering), "Control which events Lambda sends to
  your function" (invocation-eventfiltering). Research notes:
  /work/plan/facts-data-limits-pci.md section 2.

Per mapping: records in shard order, one batch in flight (ParallelizationFactor 1),
BatchSize and MaximumBatchingWindowInSeconds, StartingPosition TRIM_HORIZON/LATEST,
FilterCriteria (records matching no filter are dropped), retries of a failed batch until
MaximumRetryAttempts or MaximumRecordAgeInSeconds (records expire after 24 hours),
BisectBatchOnFunctionError, ReportBatchItemFailures (resume from the lowest failed
sequence number) and DestinationConfig.OnFailure to an SQS queue with the invocation
record Lambda sends. A batch the function never received (throttled: 429) is retried
without using up MaximumRetryAttempts: "If a Lambda event source mapping is unable to invoke
the function due to throttling or other issues, it retries until the records expire or
exceed the maximum age" (services-dynamodb-errors, "Before invocation"). The stream is read, and the destination written, with the
function's execution role (iam.role_allows), as Lambda does.
"""

import datetime
import json
import os
import threading
import time
import uuid

import iam
import settings

RETENTION_S = 24 * 3600  # "The data retention limit for DynamoDB Streams is 24 hours." (services-ddb-params)
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                       "dynamodb:ListStreams")
POLL_S = 0.1  # how often an idle poller looks at its shard (AWS: about four times a second)


def stream_record(table, event_name, old, new, sequence_number, region):
    """One stream record, as GetRecords and the Lambda event carry it (with-ddb example
    event: eventVersion "1.1", ApproximateCreationDateTime in epoch seconds)."""
    view = table.stream_specification["StreamViewType"]
    source = old if old is not None else new
    keys = {table.hash_key_attr: source.hash_key.to_json()}
    if table.range_key_attr is not None:
        keys[table.range_key_attr] = source.range_key.to_json()
    dynamodb = {"ApproximateCreationDateTime": float(int(time.time())), "Keys": keys}
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and new is not None:
        dynamodb["NewImage"] = new.to_json()["Attributes"]
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and old is not None:
        dynamodb["OldImage"] = old.to_json()["Attributes"]
    dynamodb["SequenceNumber"] = str(sequence_number)
    # Approximation: the size of the record's JSON (AWS counts the item's attribute bytes).
    dynamodb["SizeBytes"] = len(json.dumps({k: v for k, v in dynamodb.items() if k in ("Keys", "NewImage", "OldImage")}))
    dynamodb["StreamViewType"] = view
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
    }


class Record:
    """A stream record in moto's shard (moto's readers call to_json())."""

    def __init__(self, record):
        self.record = record
        self.arrival = time.time()

    def to_json(self):
        return self.record


def patch_streams():
    from moto.dynamodb.models.table import StreamShard

    def add(self, old, new):
        # Appended only: delivery is the pollers' job. Sequence numbers only grow.
        event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        with _SHARD_LOCK:
            sequence = self.starting_sequence_number + getattr(self, "appended", 0)
            self.appended = getattr(self, "appended", 0) + 1
            self.items.append(Record(stream_record(self.table, event_name, old, new, sequence, self.table.region_name)))

    StreamShard.add = add
    patch_mapping_validation()


_SHARD_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------
# Event filtering (invocation-eventfiltering, "Filter rule syntax")


def _value_matches(rule, value, present):
    """One entry of a pattern's value list against one value of the record."""
    if not isinstance(rule, dict):
        return present and value == rule
    if "exists" in rule:
        return present == bool(rule["exists"])
    if not present:
        return False
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(rule["prefix"])
    if "suffix" in rule:
        return isinstance(value, str) and value.endswith(rule["suffix"])
    if "equals-ignore-case" in rule:
        return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
    if "anything-but" in rule:
        excluded = rule["anything-but"]
        if isinstance(excluded, dict) and "prefix" in excluded:
            return not (isinstance(value, str) and value.startswith(excluded["prefix"]))
        return value not in (excluded if isinstance(excluded, list) else [excluded])
    if "numeric" in rule:
        # "DynamoDB ... numeric operators are not supported (numbers are strings)": a
        # DynamoDB number is {"N": "12"}, a string; it never matches a numeric rule.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        terms, ok = rule["numeric"], True
        for op, bound in zip(terms[::2], terms[1::2], strict=False):
            ok = ok and {"=": value == bound, "<": value < bound, "<=": value <= bound,
                         ">": value > bound, ">=": value >= bound}[op]
        return ok
    return False


def pattern_matches(pattern, document):
    """Every key of the pattern must match (AND); a list of values matches when any does
    (OR). `exists` works only on leaf nodes ("The Exists operator only works on leaf nodes
    in the event JSON", with-ddb-filtering)."""
    for key, rule in pattern.items():
        present = isinstance(document, dict) and key in document
        value = document.get(key) if present else None
        if isinstance(rule, dict):
            # An absent branch is matched as empty: only `exists: false` leaves can match it.
            if not pattern_matches(rule, value if present and isinstance(value, dict) else {}):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(r, v, present and not isinstance(v, dict)) for r in rule for v in values):
            return False
    return True


def record_passes(filters, record):
    """Filters are ORed; "If none of your filters are satisfied, Lambda discards the record."""
    if not filters:
        return True
    return any(pattern_matches(f, record) for f in filters)


def parsed_filters(mapping):
    criteria = mapping.filter_criteria or {}
    return [json.loads(f["Pattern"]) for f in criteria.get("Filters", []) if f.get("Pattern")]


# ---------------------------------------------------------------------------------------
# Validation when a mapping is created (CreateEventSourceMapping / CloudFormation)


def _stream_arn_of(mapping_or_spec):
    arn = mapping_or_spec.get("EventSourceArn", "") if isinstance(mapping_or_spec, dict) else mapping_or_spec.event_source_arn
    return arn if ":dynamodb:" in arn and "/stream/" in arn else None


def validate(spec, role_arn):
    """What Lambda checks at creation, for a DynamoDB stream. Returns an error message."""
    position = spec.get("StartingPosition")
    if position not in ("TRIM_HORIZON", "LATEST"):
        # AT_TIMESTAMP "is supported only for Amazon Kinesis streams, Amazon DocumentDB,
        # Amazon MSK, and self-managed Apache Kafka" (API reference, StartingPosition).
        return "StartingPosition must be TRIM_HORIZON or LATEST for a DynamoDB stream."
    for raw in (spec.get("FilterCriteria") or {}).get("Filters", []):
        try:
            pattern = json.loads(raw.get("Pattern", ""))
        except ValueError:
            return f"Invalid filter pattern definition: {raw.get('Pattern')}"
        # "DynamoDB event source mappings only support filtering on the dynamodb key."
        # (with-ddb-filtering). AWS's own CDK examples filter on eventName, so whether AWS
        # rejects it is uncertain: the emulator refuses it (fails rather than passes).
        others = sorted(set(pattern) - {"dynamodb"})
        if others:
            return (f"emulator: DynamoDB event source mappings only support filtering on the dynamodb key "
                    f"(Lambda guide, with-ddb-filtering); this pattern also filters on {', '.join(others)}.")
    stream = spec["EventSourceArn"]
    # InvalidParameterValueException at CreateEventSourceMapping, e.g.
    # aws-samples/lambda-refarch-webapp#7, aws-amplify/amplify-cli#12965.
    for action in STREAM_READ_ACTIONS:
        allowed, _ = iam.role_allows(role_arn, action, stream)
        if not allowed:
            return (f"Cannot access stream {stream}. Please ensure the role can perform the GetRecords, "
                    "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM.")
    destination = ((spec.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if destination:
        if ":sqs:" in destination:
            if destination.endswith(".fifo"):
                # "Standard Amazon SQS queue or standard Amazon SNS topic destination for
                # discarded records" (services-ddb-params).
                return "The destination of a DynamoDB stream mapping must be a standard SQS queue."
            allowed, _ = iam.role_allows(role_arn, "sqs:SendMessage", destination)
            if not allowed:
                return "The provided execution role does not have permissions to call SendMessage on SQS"
        elif ":sns:" in destination:
            allowed, _ = iam.role_allows(role_arn, "sns:Publish", destination)
            if not allowed:
                return "The provided execution role does not have permissions to call Publish on SNS"
    return None


def patch_mapping_validation():
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend

    create = LambdaBackend.create_event_source_mapping

    def create_checked(self, spec):
        if _stream_arn_of(spec):
            function = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec.get("FunctionName", ""))
            message = validate(spec, function.role)
            if message:
                raise InvalidParameterValueException(message)
        mapping = create(self, spec)
        if _stream_arn_of(spec):
            # moto would invoke on every write through table.lambda_event_source_mappings.
            _detach_from_table(self, mapping)
            _start_position(mapping)
        return mapping

    LambdaBackend.create_event_source_mapping = create_checked


def _table_of(account, region, stream_arn):
    from moto.dynamodb.models import dynamodb_backends

    name = stream_arn.split(":", 5)[5].split("/")[1]
    try:
        return dynamodb_backends[account][region].get_table(name)
    except Exception:
        return None


def _detach_from_table(backend, mapping):
    table = _table_of(backend.account_id, backend.region_name, mapping.event_source_arn)
    if table is not None:
        table.lambda_event_source_mappings.pop(mapping.function_arn, None)


_STATE = {}  # mapping uuid -> MappingState
_STATE_LOCK = threading.Lock()


class MappingState:
    def __init__(self, position):
        self.position = position  # index into the shard's records: the next one to read
        self.thread = None


def _start_position(mapping):
    table = _table_of(mapping.account_id, mapping.region, mapping.event_source_arn)
    shard = table.stream_shard if table is not None else None
    records = len(shard.items) if shard is not None else 0
    # LATEST: only what is written from now on; TRIM_HORIZON: everything still retained.
    # setdefault: the supervisor may have seen the new mapping first (one poller per mapping).
    with _STATE_LOCK:
        _STATE.setdefault(mapping.uuid, MappingState(records if mapping.starting_position == "LATEST" else 0))


# ---------------------------------------------------------------------------------------
# Delivery


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _log(message):
    if settings.WORK_DIR is None:
        return
    with open(os.path.join(settings.WORK_DIR, "streams.log"), "a") as out:
        out.write(f"{_iso(time.time())} {message}\n")


def event_of(batch, mapping):
    return {"Records": [dict(r.record, eventSourceARN=mapping.event_source_arn) for r in batch]}


def invoke(lambda_backend, mapping, batch):
    """(errored, failed_sequence_numbers or None, function_error). A response with
    batchItemFailures names records by SequenceNumber; a malformed one fails the batch.
    `errored` is None when the function was not invoked at all (throttled, missing)."""
    headers = {}
    try:
        body = lambda_backend.invoke(mapping.function_arn, None, json.dumps(event_of(batch, mapping)), {}, headers)
    except Exception as error:
        # Throttled or missing: the function never ran, and the records wait for it. Any
        # other exception (an emulator fault) fails the batch visibly, as an invocation.
        name = getattr(error, "error_type", None) or type(error).__name__
        if name in ("TooManyRequestsException", "ResourceNotFoundException"):
            return None, None, name
        return True, None, name
    if "x-amz-function-error" in headers:
        return True, None, "Unhandled"
    if "ReportBatchItemFailures" not in (mapping.function_response_types or []):
        return False, None, None
    try:
        answer = json.loads(body) if body else None
    except (ValueError, TypeError):
        return False, None, None
    failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    if not failures:
        return False, None, None
    known = {r.record["dynamodb"]["SequenceNumber"] for r in batch}
    failed = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in known:
            # "an empty or null itemIdentifier, or a wrong key name, counts as a whole-batch failure"
            return True, None, None
        failed.append(identifier)
    return False, failed, None


def on_failure_record(mapping, batch, condition, invocations, function_error):
    """The invocation record Lambda sends to an SQS/SNS on-failure destination (with-ddb,
    "Example invocation record"): metadata only, not the records themselves."""
    first, last = batch[0], batch[-1]
    table_stream = mapping.event_source_arn
    record = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": mapping.function_arn,
            "condition": condition,
            "approximateInvokeCount": invocations,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "version": "1.0",
        "timestamp": _iso(time.time()),
        "DDBStreamBatchInfo": {
            "shardId": _shard_id(mapping),
            "startSequenceNumber": first.record["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last.record["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first.arrival),
            "approximateArrivalOfLastRecord": _iso(last.arrival),
            "batchSize": len(batch),
            "streamArn": table_stream,
        },
    }
    if function_error:
        record["responseContext"]["functionError"] = function_error
    return record


def _shard_id(mapping):
    table = _table_of(mapping.account_id, mapping.region, mapping.event_source_arn)
    return table.stream_shard.id if table is not None and table.stream_shard is not None else ""


def send_to_destination(mapping, role_arn, record):
    destination = ((mapping.destination_config or {}).get("OnFailure") or {}).get("Destination")
    if not destination:
        return
    if ":sqs:" in destination:
        allowed, message = iam.role_allows(role_arn, "sqs:SendMessage", destination)
        if not allowed:
            _log(f"{mapping.uuid}: on-failure record dropped: {message}")
            return
        from moto.sqs.models import sqs_backends

        region, account = destination.split(":")[3], destination.split(":")[4]
        backend = sqs_backends[account][region]
        for queue in backend.queues.values():
            if queue.queue_arn == destination:
                backend.send_message(queue.name, json.dumps(record))
                return
    elif ":sns:" in destination:
        allowed, message = iam.role_allows(role_arn, "sns:Publish", destination)
        if allowed:
            from moto.sns.models import sns_backends

            sns_backends[destination.split(":")[4]][destination.split(":")[3]].publish(json.dumps(record), arn=destination)
        else:
            _log(f"{mapping.uuid}: on-failure record dropped: {message}")


def _expired(record, mapping, now):
    age = now - record.arrival
    limit = mapping.max_record_age if mapping.max_record_age not in (None, -1) else RETENTION_S
    return age > min(limit, RETENTION_S)


def process(lambda_backend, mapping, batch, role_arn):
    """Deliver one batch until it succeeds or is given up. Failed halves (bisect) and the
    unprocessed tail of a partial failure are retried before anything later in the shard."""
    max_retries = mapping.max_retry_attempts if mapping.max_retry_attempts is not None else -1
    pending = [(batch, 0, 0)]  # (records, retries used, invocations so far)
    while pending:
        records, retries, invocations = pending.pop(0)
        now = time.time()
        if any(_expired(r, mapping, now) for r in records):
            send_to_destination(mapping, role_arn, on_failure_record(mapping, records, "RecordAgeExceeded", invocations, None))
            continue
        errored, failed, function_error = invoke(lambda_backend, mapping, records)
        if errored is None:
            # Not invoked: retried until the records expire, the retry quota untouched.
            pending.insert(0, (records, retries, invocations))
            time.sleep(1.0)
            continue
        invocations += 1
        if not errored and not failed:
            continue
        if failed:
            # "Lambda uses the record with the lowest sequence number as the checkpoint.
            # Lambda then retries all records starting from that checkpoint."
            lowest = min(int(s) for s in failed)
            records = [r for r in records if int(r.record["dynamodb"]["SequenceNumber"]) >= lowest]
        elif mapping.bisect_on_error and len(records) > 1:
            # "Splitting batches doesn't consume the retry quota." (services-dynamodb-errors)
            half = len(records) // 2
            pending[:0] = [(records[:half], retries, invocations), (records[half:], retries, invocations)]
            continue
        if max_retries != -1 and retries >= max_retries:
            send_to_destination(mapping, role_arn,
                                on_failure_record(mapping, records, "RetryAttemptsExhausted", invocations, function_error))
            continue
        pending.insert(0, (records, retries + 1, invocations))
        time.sleep(min(0.2 * (retries + 1), 1.0))  # Lambda backs off between retries


def poll_mapping(mapping_uuid, lambda_backend):
    """One mapping's poller: one batch in flight at a time, in shard order."""
    while True:
        mapping = lambda_backend._event_source_mappings.get(mapping_uuid)
        state = _STATE.get(mapping_uuid)
        if mapping is None or state is None:
            _STATE.pop(mapping_uuid, None)
            return
        time.sleep(POLL_S)
        if not mapping.enabled:
            continue
        table = _table_of(mapping.account_id, mapping.region, mapping.event_source_arn)
        if table is None or table.stream_shard is None or not mapping.event_source_arn.endswith(table.latest_stream_label or "-"):
            continue  # the stream is gone (table deleted or stream disabled)
        function = lambda_backend._lambdas.get_arn(mapping.function_arn)
        if function is None:
            continue
        allowed, message = iam.role_allows(function.role, "dynamodb:GetRecords", mapping.event_source_arn)
        if not allowed:
            _log(f"{mapping_uuid}: PROBLEM: {message}")
            continue
        items = table.stream_shard.items
        filters = parsed_filters(mapping)
        batch = []
        position = state.position
        now = time.time()
        while position < len(items) and len(batch) < (mapping.batch_size or 100):
            record = items[position]
            position += 1
            if now - record.arrival > RETENTION_S:
                continue  # trimmed from the stream
            if record_passes(filters, record.record):
                batch.append(record)
        if not batch:
            state.position = position  # only filtered-out records: dropped, checkpointed
            continue
        window = mapping.max_batch_window or 0
        if len(batch) < (mapping.batch_size or 100) and now - batch[0].arrival < window:
            continue  # MaximumBatchingWindowInSeconds: wait for a fuller batch
        process(lambda_backend, mapping, batch, function.role)
        state.position = position


def start_stream_poller():
    """Starts one poller thread per DynamoDB-stream mapping, as mappings appear."""
    from moto.awslambda.models import lambda_backends

    def supervise():
        while True:
            time.sleep(POLL_S)
            for regions in list(lambda_backends.values()):
                for backend in list(regions.values()):
                    for mapping_uuid, mapping in list(backend._event_source_mappings.items()):
                        if not _stream_arn_of(mapping):
                            continue
                        if mapping_uuid not in _STATE:
                            _start_position(mapping)
                        state = _STATE[mapping_uuid]
                        if state.thread is None or not state.thread.is_alive():
                            state.thread = threading.Thread(target=poll_mapping, args=(mapping_uuid, backend), daemon=True)
                            state.thread.start()

    threading.Thread(target=supervise, daemon=True).start()
