"""dynamodb.py against the DynamoDB documentation: TransactWriteItems "either all of them
succeed, or all of them fail" (API reference), and transactions are SERIALIZABLE with
standard writes (Developer Guide, "Amazon DynamoDB Transactions: how it works", isolation
levels). moto (5.2.5) rolls a cancelled transaction back by restoring a copy of the whole
table, erasing writes other requests made meanwhile: the first test reproduces that
interleaving deterministically (a write lands while the transaction is checking)."""

import unittest

from botocore.exceptions import ClientError

from tests import support


def table(name, stream=False):
    spec = dict(TableName=name, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    if stream:
        spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    support.client("dynamodb").create_table(**spec)


def item(name, key):
    return support.client("dynamodb").get_item(TableName=name, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")


class TransactionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.emulator()
        from moto.dynamodb.models import dynamodb_backends

        cls.backend = dynamodb_backends[support.ACCOUNT][support.REGION]

    def test_a_cancelled_transaction_does_not_erase_a_write_made_meanwhile(self):
        table("tx-meanwhile")
        ddb = support.client("dynamodb")
        ddb.put_item(TableName="tx-meanwhile", Item={"id": {"S": "other"}, "v": {"S": "old"}})
        get_item = type(self.backend).get_item
        landed = []

        def get_item_and_a_concurrent_write(backend, *args, **kwargs):
            if not landed:  # another request's write, while the transaction checks its conditions
                landed.append(True)
                backend.put_item("tx-meanwhile", {"id": {"S": "other"}, "v": {"S": "new"}})
            return get_item(backend, *args, **kwargs)

        type(self.backend).get_item = get_item_and_a_concurrent_write
        try:
            with self.assertRaises(ClientError) as cancelled:
                ddb.transact_write_items(TransactItems=[{"Put": {
                    "TableName": "tx-meanwhile", "Item": {"id": {"S": "mine"}},
                    "ConditionExpression": "attribute_exists(id)"}}])
        finally:
            type(self.backend).get_item = get_item
        self.assertEqual(cancelled.exception.response["Error"]["Code"], "TransactionCanceledException")
        self.assertEqual(item("tx-meanwhile", "other")["v"], {"S": "new"}, "the other request's write stays")
        self.assertIsNone(item("tx-meanwhile", "mine"))

    def test_a_cancelled_transaction_writes_nothing_and_names_each_item(self):
        table("tx-all-or-nothing", stream=True)
        ddb = support.client("dynamodb")
        ddb.put_item(TableName="tx-all-or-nothing", Item={"id": {"S": "b"}})
        records_before = len(self.backend.get_table("tx-all-or-nothing").stream_shard.items)
        with self.assertRaises(ClientError) as cancelled:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "tx-all-or-nothing", "Item": {"id": {"S": "a"}}}},
                {"Put": {"TableName": "tx-all-or-nothing", "Item": {"id": {"S": "b"}},
                         "ConditionExpression": "attribute_not_exists(id)"}},
            ])
        reasons = [r["Code"] for r in cancelled.exception.response["CancellationReasons"]]
        self.assertEqual(reasons, ["None", "ConditionalCheckFailed"])
        self.assertIsNone(item("tx-all-or-nothing", "a"))
        self.assertEqual(len(self.backend.get_table("tx-all-or-nothing").stream_shard.items), records_before)

    def test_a_write_that_fails_while_applying_leaves_no_trace(self):
        table("tx-undo", stream=True)
        ddb = support.client("dynamodb")
        ddb.put_item(TableName="tx-undo", Item={"id": {"S": "n"}, "count": {"S": "not a number"}})
        records_before = len(self.backend.get_table("tx-undo").stream_shard.items)
        with self.assertRaises(ClientError):
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "tx-undo", "Item": {"id": {"S": "first"}}}},
                {"Update": {"TableName": "tx-undo", "Key": {"id": {"S": "n"}}, "UpdateExpression": "ADD #c :one",
                            "ExpressionAttributeNames": {"#c": "count"},
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ])
        self.assertIsNone(item("tx-undo", "first"))
        self.assertEqual(item("tx-undo", "n")["count"], {"S": "not a number"})
        self.assertEqual(len(self.backend.get_table("tx-undo").stream_shard.items), records_before)

    def test_a_transaction_that_holds_writes_every_item(self):
        table("tx-ok")
        ddb = support.client("dynamodb")
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "tx-ok", "Item": {"id": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(id)"}},
            {"Update": {"TableName": "tx-ok", "Key": {"id": {"S": "y"}}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "1"}}}},
        ])
        self.assertIsNotNone(item("tx-ok", "x"))
        self.assertEqual(item("tx-ok", "y")["v"], {"S": "1"})


class ClientRequestTokenTest(unittest.TestCase):
    """API reference, TransactWriteItems, ClientRequestToken: a repeated successful call with
    the same token changes nothing and succeeds; a different request with the token fails."""

    def test_a_retried_transaction_that_landed_succeeds_without_a_second_write(self):
        table("tx-token", stream=True)
        ddb = support.client("dynamodb")
        ddb.put_item(TableName="tx-token", Item={"id": {"S": "claim"}, "status": {"S": "INPROGRESS"}})
        complete = [{"Update": {"TableName": "tx-token", "Key": {"id": {"S": "claim"}},
                                "UpdateExpression": "SET #s = :done", "ConditionExpression": "#s = :in_progress",
                                "ExpressionAttributeNames": {"#s": "status"},
                                "ExpressionAttributeValues": {":done": {"S": "SETTLED"},
                                                              ":in_progress": {"S": "INPROGRESS"}}}}]
        ddb.transact_write_items(TransactItems=complete, ClientRequestToken="attempt-1")
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends[support.ACCOUNT][support.REGION].get_table("tx-token").stream_shard
        records = len(shard.items)
        # The SDK's retry of the same call (its first answer lost): success, nothing written.
        ddb.transact_write_items(TransactItems=complete, ClientRequestToken="attempt-1")
        self.assertEqual(len(shard.items), records)
        # Without the token the same request is a new one, and its condition now fails.
        with self.assertRaises(ClientError) as cancelled:
            ddb.transact_write_items(TransactItems=complete)
        self.assertEqual(cancelled.exception.response["Error"]["Code"], "TransactionCanceledException")
        with self.assertRaises(ClientError) as mismatch:
            ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "tx-token", "Item": {"id": {"S": "z"}}}}],
                                     ClientRequestToken="attempt-1")
        self.assertEqual(mismatch.exception.response["Error"]["Code"], "IdempotentParameterMismatchException")


if __name__ == "__main__":
    unittest.main()
