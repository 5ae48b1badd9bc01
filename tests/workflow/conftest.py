"""Workflow fixtures: a case for a youth of a chosen birth date, and the actors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

import pytest
import sqlalchemy as sa

from caseapp.cases.models import Case, Category, Sex
from caseapp.cases.services import CaseData, create_case
from caseapp.extensions import db
from caseapp.users.models import Role, ScopeKind, User
from caseapp.users.services import UserInput, create_user
from tests.conftest import C1


@pytest.fixture
def ctx(app):
    """An application context for calling services directly (the request commits once)."""
    with app.app_context():
        yield


def _account(app, role: Role, scope: ScopeKind, communes: list[int]) -> User:
    """Created in the test's own session: a second session would wait on SQLite's write lock."""
    user, _ = create_user(
        app.extensions["caseapp.settings"],
        UserInput(f"{role.value}{uuid.uuid4().hex[:6]}", "Cán bộ thử", role, scope, communes),
        actor=None,
    )
    db.session.commit()
    return user


@pytest.fixture
def worker(app, ctx) -> User:
    return _account(app, Role.WORKER, ScopeKind.COMMUNES, [C1])


@pytest.fixture
def officer(app, ctx) -> User:
    return _account(app, Role.OFFICER, ScopeKind.PROVINCE, [])


@pytest.fixture
def new_case(ctx, worker) -> Callable[..., Case]:
    def make(born: date, *, intake: date, category: Category = Category.USER) -> Case:
        data = CaseData(
            full_name=f"Người Thử {uuid.uuid4().hex[:6]}",
            date_of_birth=born,
            sex=Sex.MALE,
            national_id=None,
            phone=None,
            address=None,
            guardian_name="Người Giám Hộ" if (intake.year - born.year) < 19 else None,
            guardian_relation=None,
            guardian_phone=None,
            notes=None,
            commune_code=C1,
            category=category,
            education=None,
            occupation=None,
            drug_types=[],
            assigned_worker_id=None,
            intake_on=intake,
        )
        case, _ = create_case(data, actor=worker)
        db.session.commit()
        return db.session.scalars(sa.select(Case).where(Case.id == case.id)).one()

    return make
