"""DynamoDB writes as AWS makes them, where moto (5.2.5) does not.

* TransactWriteItems is all-or-nothing and isolated from other writes: "The actions are
  completed atomically so that either all of them succeed, or all of them fail" (API
  reference, TransactWriteItems), and "Isolation levels for DynamoDB transactions":
  SERIALIZABLE between a transaction and any standard write (PutItem, UpdateItem,
  DeleteItem), read-committed for GetItem (Developer Guide, "Amazon DynamoDB Transactions:
  how it works"). moto deep-copies every table a transaction touches (its stream records
  included) and, when one condition fails, puts the copies back: every write other requests
  made to those tables in between is erased, their stream records vanish, and the copying
  slows down as the tables grow. Under the end-to-end suite's concurrency that turned a
  recorded DECLINED back into an old INPROGRESS claim, and a notified payment back into a
  pending one.
* A conditional write checks and writes in one step (moto checks, then writes, unlocked).
* TransactWriteItems with a ClientRequestToken is idempotent (moto ignores the token):
  "multiple identical calls have the same effect as one single call ... If the original
  TransactWriteItems call was successful, the subsequent TransactWriteItems calls with the
  same client token return successfully without making any changes ... A client request
  token is valid for 10 minutes after the first request that uses it is completed ... If you
  submit a request with the same client token but a change in other parameters within the
  10-minute idempotency window, DynamoDB returns an IdempotentParameterMismatch exception"
  (API reference, TransactWriteItems, ClientRequestToken). This is what makes an SDK retry of
  a completing write that did land (its attempt timed out on the way back) succeed instead of
  being cancelled by the write's own conditions. A call that was cancelled is not kept: the
  same token runs again (the reference speaks only of successful calls: uncertain).

* A table's `DeletionProtectionEnabled` from a template is a Boolean: CloudFormation turns a
  parameter's "false" into false. moto keeps the string, and "false" is truthy in Python, so
  a table deployed with `TableDeletionProtection: "false"` refused every delete (a rolled-back
  create left it behind, blocking the retry).

Here every write, and GetItem, runs under one lock per process, and a transaction checks all
its conditions before it writes anything; if applying a checked write still fails (an update
expression invalid for the stored item), the items it touched and their stream records are
put back, so the transaction leaves no trace, as on AWS.
"""

import copy
import json
import threading
import time

LOCK = threading.RLock()
TOKEN_WINDOW_S = 600  # "valid for 10 minutes"
_TOKENS = {}  # ClientRequestToken -> (the request's items, when it completed, its answer)


def _locked(method):
    def call(self, *args, **kwargs):
        with LOCK:
            return method(self, *args, **kwargs)

    call.__wrapped__ = method
    return call


def _key_of(table, op_type, op):
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def transact_write_items(self, transact_items):
    """moto's checks and error shapes, without its table-wide snapshot and rollback."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with LOCK:
        seen, errors, plan = set(), [], []
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                errors.append(("ValidationError", "Unsupported transaction operation", None))
                continue
            table = self.get_table(op["TableName"])
            key = _key_of(table, op_type, op)
            identity = (op["TableName"], str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(condition, op.get("ExpressionAttributeNames"),
                                              op.get("ExpressionAttributeValues"))
                if not check.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                    continue
            errors.append((None, None, None))
            plan.append((op_type, op, table, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        # Everything holds: write, keeping what is needed to undo a write that still fails.
        undo = []
        streams = {id(t): (t, len(t.stream_shard.items)) for _, _, t, _ in plan if t.stream_shard is not None}
        try:
            for op_type, op, table, key in plan:
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                undo.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(op["TableName"], op["Item"], expression_attribute_names=names,
                                  expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(op["TableName"], key, expression_attribute_names=names,
                                     expression_attribute_values=values)
                elif op_type == "Update":
                    self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"],
                                     expression_attribute_names=names, expression_attribute_values=values)
        except Exception as error:
            for table, hash_value, range_value, before in reversed(undo):
                _restore(table, hash_value, range_value, before)
            for table, length in streams.values():
                del table.stream_shard.items[length:]
            errors = [(type(error).__name__, str(error), None) if i == len(undo) - 1 else (None, None, None)
                      for i in range(len(transact_items))]
            raise TransactionCanceledException(errors) from error


def _restore(table, hash_value, range_value, before):
    if range_value is not None:
        if before is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items.setdefault(hash_value, {})[range_value] = before
    elif before is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = before


def idempotent(handler):
    """DynamoHandler.transact_write_items, honouring ClientRequestToken."""
    from moto.dynamodb.exceptions import DynamodbException

    def transact_write_items(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return handler(self)
        items = json.dumps(self.body.get("TransactItems"), sort_keys=True)
        with LOCK:
            now = time.time()
            for old in [t for t, (_, done, _) in _TOKENS.items() if now - done > TOKEN_WINDOW_S]:
                del _TOKENS[old]
            seen = _TOKENS.get(token)
            if seen is not None:
                if seen[0] != items:
                    raise DynamodbException(
                        "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                        "The request uses the same client token as a previous, but non-identical request.")
                return seen[2]
            answer = handler(self)  # a cancelled transaction raises: not kept
            _TOKENS[token] = (items, time.time(), answer)
            return answer

    return transact_write_items


def patch_dynamodb():
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoDBBackend, "_atomic_writes", False):
        return
    for name in ("put_item", "update_item", "delete_item", "get_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoHandler.transact_write_items = idempotent(DynamoHandler.transact_write_items)
    _boolean_deletion_protection()
    DynamoDBBackend._atomic_writes = True


def _boolean_deletion_protection():
    from moto.dynamodb.models.table import Table

    create = Table.create_from_cloudformation_json.__func__

    def created(cls, name, cfn, account_id, region_name, **kwargs):
        properties = cfn.get("Properties", {})
        value = properties.get("DeletionProtectionEnabled")
        if isinstance(value, str):
            properties["DeletionProtectionEnabled"] = value.lower() == "true"
        return create(cls, name, cfn, account_id, region_name, **kwargs)

    Table.create_from_cloudformation_json = classmethod(created)
