"""DynamoDB: the event store (an eventsourcing persistence module), read models and labels."""
