"""Event-sourcing plumbing: pydantic persistence, the system of applications, the outbox relay."""
