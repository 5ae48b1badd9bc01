"""Shared form helpers: putting a service's ``FieldError`` on the right field."""

from __future__ import annotations

from flask_wtf import FlaskForm

from caseapp.errors import FieldError


def show_field_error(form: FlaskForm, error: FieldError) -> None:
    """Attach a business-rule refusal to its field, or to the form when no field is named."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
