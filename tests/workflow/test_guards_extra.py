"""Guards added after review: minimum terms, order of steps, closed cases, officers' steps."""

from __future__ import annotations

from datetime import date

import pytest

from caseapp.cases.models import CloseReason
from caseapp.cases.services import close_case
from caseapp.errors import InvalidInputError
from caseapp.workflow import services
from caseapp.workflow.models import RehabForm, RehabOutcome
from caseapp.workflow.services import RehabStart
from tests.workflow.test_steps import TODAY, _addicted, _messages


def test_completion_not_before_the_minimum_term(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    _addicted(case, worker, on=date(2025, 2, 2))
    episode = services.start_rehab(
        case, RehabStart(RehabForm.VOLUNTARY_COMMUNITY, date(2025, 3, 1), 6),
        actor=worker, today=TODAY,
    )  # fmt: skip
    for _ in range(2):
        services.advance_stage(case, episode, actor=worker)
    with pytest.raises(InvalidInputError) as exc:
        services.end_rehab(
            case, episode, ended_on=date(2025, 3, 2), outcome=RehabOutcome.COMPLETED,
            certificate_number="GCN", actor=worker, today=TODAY,
        )  # fmt: skip
    assert "sớm nhất ngày 01/09/2025" in _messages(exc)
    # Quitting early is a fact, not a completion: allowed.
    services.end_rehab(
        case, episode, ended_on=date(2025, 3, 2), outcome=RehabOutcome.QUIT,
        certificate_number=None, actor=worker, today=TODAY,
    )  # fmt: skip


def test_compulsory_may_end_after_half_its_term(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2024, 1, 10))
    _addicted(case, worker, on=date(2024, 2, 2))
    episode = services.start_rehab(
        case,
        RehabStart(RehabForm.COMPULSORY, date(2024, 3, 1), 24, "9/QĐ", date(2024, 2, 20)),
        actor=worker, today=TODAY,
    )  # fmt: skip
    for _ in range(4):
        services.advance_stage(case, episode, actor=worker)
    with pytest.raises(InvalidInputError):
        services.end_rehab(
            case, episode, ended_on=date(2025, 2, 28), outcome=RehabOutcome.COMPLETED,
            certificate_number="GCN", actor=worker, today=TODAY,
        )  # fmt: skip
    services.end_rehab(
        case, episode, ended_on=date(2025, 3, 1), outcome=RehabOutcome.COMPLETED,
        certificate_number="GCN", actor=worker, today=TODAY,
    )  # fmt: skip


def test_rehab_not_before_the_determination(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    _addicted(case, worker, on=date(2025, 2, 2))
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            case, RehabStart(RehabForm.VOLUNTARY_COMMUNITY, date(2025, 2, 1), 6),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "sau ngày xác định tình trạng nghiện" in _messages(exc)


def _completed_voluntary_rehab(new_case, actor):
    """An adult's six-month voluntary episode (03/2024–09/2024), ended as completed by ``actor``."""
    case = new_case(date(2000, 3, 1), intake=date(2024, 1, 10))
    _addicted(case, actor, on=date(2024, 2, 2))
    episode = services.start_rehab(
        case, RehabStart(RehabForm.VOLUNTARY_FACILITY, date(2024, 3, 1), 6),
        actor=actor, today=TODAY,
    )  # fmt: skip
    for _ in range(2):
        services.advance_stage(case, episode, actor=actor)
    services.end_rehab(
        case, episode, ended_on=date(2024, 9, 1), outcome=RehabOutcome.COMPLETED,
        certificate_number="GCN", actor=actor, today=TODAY,
    )  # fmt: skip
    return case, episode


def test_post_rehab_ends_at_its_planned_end(new_case, worker, officer):
    case, episode = _completed_voluntary_rehab(new_case, worker)
    services.approve_rehab(case, episode, actor=officer)
    period = services.start_post_rehab(case, started_on=date(2024, 9, 2), actor=worker, today=TODAY)
    with pytest.raises(InvalidInputError) as exc:
        services.end_post_rehab(
            case, period, ended_on=date(2024, 9, 3), certificate_number="G2", actor=worker,
            today=TODAY,
        )  # fmt: skip
    assert "02/09/2025" in _messages(exc)


def test_no_approval_on_a_closed_case(new_case, worker, officer):
    case, episode = _completed_voluntary_rehab(new_case, worker)
    close_case(case, CloseReason.MOVED_AWAY, "", actor=officer)
    with pytest.raises(InvalidInputError) as exc:
        services.approve_rehab(case, episode, actor=officer)
    assert "Hồ sơ đã đóng" in _messages(exc)


def test_four_eyes_on_completions(new_case, officer):
    """An officer who records a completion cannot approve it; another officer can."""
    import uuid

    from caseapp.extensions import db
    from caseapp.users.models import Role, ScopeKind
    from caseapp.users.services import UserInput, create_user

    case, episode = _completed_voluntary_rehab(new_case, officer)
    with pytest.raises(InvalidInputError) as exc:
        services.approve_rehab(case, episode, actor=officer)
    assert "không thể tự phê duyệt" in _messages(exc)
    from flask import current_app

    other, _ = create_user(
        current_app.extensions["caseapp.settings"],
        UserInput(f"o{uuid.uuid4().hex[:6]}", "Cán bộ khác", Role.OFFICER, ScopeKind.PROVINCE),
        actor=None,
    )
    db.session.flush()
    services.approve_rehab(case, episode, actor=other)
    assert episode.approved_by_id == other.id
