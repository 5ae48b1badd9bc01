"""Fixtures for the encryption tests: the test-only table, created and dropped around each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from caseapp.extensions import db
from tests.crypto.models import SampleBase


@pytest.fixture
def samples(app: Flask) -> Iterator[Flask]:
    """The app, with the ``crypto_samples`` table in its database."""
    with app.app_context():
        SampleBase.metadata.create_all(db.engine)
    yield app
    with app.app_context():
        db.session.remove()
        SampleBase.metadata.drop_all(db.engine)
