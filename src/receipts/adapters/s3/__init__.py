"""S3 artifact stores (boto3, and aioboto3 for async workers)."""
