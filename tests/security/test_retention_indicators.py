"""Anonymisation keeps every indicator: the hand-built province of ``tests/indicators`` gives the
same figures before and after all its files are anonymised (SQLite and PostgreSQL)."""

from __future__ import annotations

from caseapp.cases import retention
from caseapp.cases.models import Case, CloseReason
from caseapp.cases.services import close_case
from caseapp.extensions import db
from tests.followups.conftest import frozen  # noqa: F401 - shared fixture
from tests.indicators.conftest import province  # noqa: F401 - shared fixture
from tests.workflow.conftest import ctx, officer, worker  # noqa: F401 - shared fixtures


def _fresh(case_id: int) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case_id)


def test_indicators_unchanged_by_anonymisation(province, officer):  # noqa: F811 - fixtures
    from caseapp.indicators import periods, queries, report
    from tests.indicators.conftest import TODAY

    for case in province.cases.values():
        if case.status == "open":
            close_case(case, CloseReason.AGED_OUT, "", actor=officer)
    db.session.commit()

    def figures() -> list[object]:
        out: list[object] = [queries.pipeline()]
        for key in ("2025", "2026", "2026-H1", "2026-H2", "2027"):
            period = periods.parse(key)
            built = report.build(period, communes=None, today=TODAY, trend=3)
            out += [queries.cube(period), built.province, built.districts, built.communes]
        db.session.rollback()
        return out

    before = figures()
    for case_id in [c.id for c in province.cases.values()]:
        retention.anonymise_case(_fresh(case_id), actor=None)
        db.session.commit()
    assert all(_fresh(c.id).anonymised_at for c in province.cases.values())
    assert figures() == before
    total = before[2]  # the 2025 report's province row: the story still counts
    assert total["managed"] == 5
