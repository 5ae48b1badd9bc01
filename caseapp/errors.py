"""Domain errors that services raise and views show on the form, next to the field concerned."""

from __future__ import annotations

from datetime import datetime


class FieldError(ValueError):
    """A business rule refused a value; ``field`` names the form field (or None for the form)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidInputError(ValueError):
    """Several refusals at once, so the user can fix the whole form in one go."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class ConflictError(RuntimeError):
    """Someone else saved the record after it was loaded; nothing was written."""

    def __init__(self, current_version: int, changed_fields: list[str]) -> None:
        super().__init__("stale version")
        self.current_version = current_version
        self.changed_fields = changed_fields


class AnonymisedCaseError(Exception):
    """A change was asked of a file anonymised at the end of its retention period (409)."""

    def __init__(self, code: str, anonymised_at: datetime) -> None:
        super().__init__("the case file is anonymised")
        self.code = code
        self.anonymised_at = anonymised_at
