"""SQS queues (boto3, and aioboto3 for async workers)."""
