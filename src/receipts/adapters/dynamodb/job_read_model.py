"""Job summaries in the seeds' single-table layout, kept current by the JobCatalog projection.

| item | PK | SK | GSI1PK | GSI1SK |
|---|---|---|---|---|
| job summary | `JOB#<job id>` | `JOB` | `STATUS#<status>` | updated_at (ISO 8601) |
| projection position | `PROJECTION#jobs` | `POSITION` | | |

`list jobs by status` and `latest job by status` are Queries on GSI1 (newest first);
`job by name` goes through the event store's JobName index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from botocore.exceptions import ClientError

from receipts.adapters.dynamodb.clients import client
from receipts.application.job_views import JobSummary
from receipts.domain.aggregate import iso
from receipts.domain.job import JobStatus

GSI = "GSI1"


class ReadModelTableMissing(LookupError):
    def __init__(self, table: str) -> None:
        super().__init__(f"DynamoDB table {table!r} (job read model) does not exist")


class DynamoDBJobReadModel:
    def __init__(self, table: str, dynamodb: Any | None = None) -> None:
        self.table = table
        self.db = dynamodb or client("dynamodb")

    def create_table(self) -> None:
        try:
            self.db.create_table(
                TableName=self.table,
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"}
                    for name in ("PK", "SK", "GSI1PK", "GSI1SK")
                ],
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": GSI,
                        "KeySchema": [
                            {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                            {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            self.db.get_waiter("table_exists").wait(TableName=self.table)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise

    def position(self) -> int:
        item = self._call(
            "get_item",
            TableName=self.table,
            Key={"PK": {"S": "PROJECTION#jobs"}, "SK": {"S": "POSITION"}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["position"]["N"]) if item else 0

    def apply(self, summaries: Iterable[JobSummary], position: int) -> None:
        for summary in summaries:
            self._call("put_item", TableName=self.table, Item=_item(summary))
        # the position only moves forward, so a slower projector cannot rewind it
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item={
                    "PK": {"S": "PROJECTION#jobs"},
                    "SK": {"S": "POSITION"},
                    "position": {"N": str(position)},
                },
                ConditionExpression="attribute_not_exists(PK) OR #p < :p",
                ExpressionAttributeNames={"#p": "position"},
                ExpressionAttributeValues={":p": {"N": str(position)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def get(self, job_id: UUID) -> JobSummary | None:
        item = self._call(
            "get_item",
            TableName=self.table,
            Key={"PK": {"S": f"JOB#{job_id}"}, "SK": {"S": "JOB"}},
            ConsistentRead=True,
        ).get("Item")
        return _summary(item) if item else None

    def by_status(self, status: JobStatus) -> list[JobSummary]:
        """Newest first, as the GSI orders them."""
        items = self._query_index(f"STATUS#{status.value}")
        return [_summary(item) for item in items]

    def all(self) -> list[JobSummary]:
        jobs = [job for status in JobStatus for job in self.by_status(status)]
        return sorted(jobs, key=lambda s: (s.created_at, s.name))

    def _query_index(self, key: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": GSI,
            "KeyConditionExpression": "GSI1PK = :k",
            "ExpressionAttributeValues": {":k": {"S": key}},
            "ScanIndexForward": False,
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self._call("query", **kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.db, operation)(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                raise ReadModelTableMissing(self.table) from None
            raise


def _item(summary: JobSummary) -> dict[str, Any]:
    return {
        "PK": {"S": f"JOB#{summary.job_id}"},
        "SK": {"S": "JOB"},
        "GSI1PK": {"S": f"STATUS#{summary.status.value}"},
        "GSI1SK": {"S": iso(summary.updated_at)},
        "TYPE": {"S": "JOB"},
        "summary": {"S": summary.model_dump_json()},
    }


def _summary(item: dict[str, Any]) -> JobSummary:
    return JobSummary.model_validate_json(item["summary"]["S"])
