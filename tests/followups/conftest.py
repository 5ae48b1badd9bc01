"""Follow-up fixtures: the clock frozen on a known day (plans are written from "today"), and a
youth whose file reaches the step a test needs. Synthetic people only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
import time_machine

from caseapp.cases.models import Case
from caseapp.extensions import db
from caseapp.followups.models import FollowUp, Status
from caseapp.workflow import services
from caseapp.workflow.models import (
    RehabEpisode,
    RehabForm,
)
from caseapp.workflow.services import RehabStart
from tests.workflow.conftest import ctx, new_case, officer, worker  # noqa: F401 - shared fixtures
from tests.workflow.support_setup import determined

TODAY = date(2026, 11, 28)
# 09:00 in Asia/Ho_Chi_Minh on TODAY.
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[time_machine.Coordinates]:
    """The clock stands at 09:00 on TODAY in the communes' time zone (and ticks from there)."""
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


def community_rehab(case: Case, actor, started_on: date, months: int = 6) -> RehabEpisode:
    determined(case, actor, started_on, TODAY)
    return services.start_rehab(
        case,
        RehabStart(RehabForm.VOLUNTARY_COMMUNITY, started_on, months, representative_consent=True),
        actor=actor, today=TODAY,
    )  # fmt: skip


def rows(case: Case, *statuses: Status) -> list[FollowUp]:
    query = sa.select(FollowUp).where(FollowUp.case_id == case.id).order_by(FollowUp.due_on)
    if statuses:
        query = query.where(FollowUp.status.in_([s.value for s in statuses]))
    return list(db.session.scalars(query))


def dues(case: Case, *statuses: Status) -> list[date]:
    return [r.due_on for r in rows(case, *statuses)]
