"""Domain errors that services raise and views show on the form, next to the field concerned."""

from __future__ import annotations


class FieldError(ValueError):
    """A business rule refused a value; ``field`` names the form field (or None for the form)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
