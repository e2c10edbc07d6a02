"""Domain errors: each names the rule that was broken."""

from __future__ import annotations

from uuid import UUID


class DomainError(Exception):
    """A command broke a domain rule; nothing was recorded."""


class IllegalTransition(DomainError):
    def __init__(self, entity: str, entity_id: UUID, action: str, status: str) -> None:
        super().__init__(f"{entity} {entity_id} cannot {action}: it is {status}")
        self.entity = entity
        self.entity_id = entity_id
        self.action = action
        self.status = status


class StaleAttempt(DomainError):
    """A worker tried to end an attempt that another attempt has replaced or ended."""

    def __init__(
        self, entity: str, entity_id: UUID, action: str, attempt: int, current: int
    ) -> None:
        super().__init__(
            f"{entity} {entity_id} cannot {action} attempt {attempt}: it is no longer the"
            f" current attempt (attempt {current} is the latest)"
        )
        self.entity_id = entity_id
        self.attempt = attempt
        self.current = current


class NotFound(DomainError, LookupError):
    entity = "entity"

    def __init__(self, key: object) -> None:
        super().__init__(f"{self.entity} not found: {key}")
        self.key = key


class JobNotFound(NotFound):
    entity = "job"


class ExportJobNotFound(NotFound):
    entity = "export job"


class OCRJobNotFound(NotFound):
    entity = "OCR job"


class DuplicateJobName(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a job named {name!r} already exists")
        self.name = name


class InvalidInput(DomainError, ValueError):
    """Input was refused; `problems` lists one `field: reason` line per bad field."""

    def __init__(self, what: str, problems: list[str]) -> None:
        super().__init__(f"invalid {what}: " + "; ".join(problems))
        self.what = what
        self.problems = problems
