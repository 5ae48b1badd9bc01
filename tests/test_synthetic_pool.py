"""Synthetic data composed by worker processes: the same seed gives the same histories whether
the batches are composed by a pool of forked workers or in the caller's process, and what the
workers send back is written whole, with every reference pointing at the right rows."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from caseapp import synthetic
from caseapp.cases.models import Case, CaseDrugType, CaseEvent
from caseapp.dates import local_day
from caseapp.extensions import db
from caseapp.followups.models import FollowUp, Source
from caseapp.geo.models import Commune
from caseapp.synthetic import POOL_FROM, create_synthetic_cases
from caseapp.workflow.models import (
    Consent,
    JobCheck,
    JobPlacement,
    LoanReferral,
    PostRehabPeriod,
    RehabEpisode,
    ReintegrationCertification,
    RelapseEvent,
    RelapseSubstance,
)
from tests.conftest import C1, PROVINCE

COUNT, BATCH, SEED = 240, 40, 7  # six batches: enough for the pool
OWNERS: dict[str | None, type[Any]] = {
    Source.REHAB.value: RehabEpisode,
    Source.POST_REHAB.value: PostRehabPeriod,
    Source.JOB.value: JobPlacement,
    Source.LOAN.value: LoanReferral,
}


def _generate(app: Flask, actor_id: int, processes: int) -> Counter[str]:
    with app.app_context():
        communes = list(
            db.session.scalars(sa.select(Commune.code).where(Commune.province_code == PROVINCE))
        )
        counts: Counter[str] = Counter()
        made = create_synthetic_cases(
            COUNT,
            seed=SEED,
            communes=communes,
            focus_commune=C1,
            actor_id=actor_id,
            today=local_day(),
            batch_size=BATCH,
            steps=True,
            counts=counts,
            processes=processes,
        )
        db.session.commit()
        assert made == COUNT
        return counts


def _fingerprint(after: int) -> list[tuple[Any, ...]]:
    """Every case after id ``after`` in creation order with what was recorded on it, ids and
    random draws (UUIDs, codes, nonces) left out."""
    found = []
    for case in db.session.scalars(sa.select(Case).where(Case.id > after).order_by(Case.id)):

        def rows(model: type[Any], *columns: str, c: Case = case) -> list[tuple[Any, ...]]:
            found: list[Any] = list(
                db.session.scalars(
                    sa.select(model)
                    .where(model.case_id == c.id)
                    .order_by(*model.__table__.primary_key.columns)
                )
            )
            return [tuple(getattr(r, name) for name in columns) for r in found]

        found.append((
            case.full_name, case.date_of_birth, case.national_id, case.phone, case.address,
            case.guardian_name, case.commune_code, case.category, case.declared_category,
            case.phase, case.status, case.close_reason, case.intake_on, case.next_due_on,
            case.assigned_worker_id, case.version, case.created_at, case.closed_at,
            case.name_dob_bidx, case.national_id_bidx,
            rows(CaseDrugType, "drug_type"),
            rows(RehabEpisode, "form", "started_on", "ended_on", "outcome", "approved_by_id"),
            rows(PostRehabPeriod, "started_on", "ended_on"),
            rows(JobPlacement, "sector", "started_on", "ended_on", "employer_name"),
            rows(LoanReferral, "programme", "status", "referred_on", "amount_requested_vnd"),
            rows(FollowUp, "source", "kind", "seq", "due_on", "status", "outcome", "done_on"),
            [
                (kind, version, {k: v for k, v in details.items() if k not in ("job", "loan")})
                for kind, version, details in rows(CaseEvent, "kind", "version", "details")
            ],
        ))  # fmt: skip
    return found


def _check_references() -> None:
    """Each reference filled in by the caller's process points at a row of the same case."""
    case_of: dict[tuple[type[Any], Any], int] = {}
    owners: tuple[type[Any], ...] = (
        RehabEpisode,
        PostRehabPeriod,
        JobPlacement,
        LoanReferral,
        Consent,
    )
    for model in owners:
        for row_id, case_id in db.session.execute(sa.select(model.id, model.case_id)):
            case_of[(model, row_id)] = int(case_id)
    for period in db.session.scalars(sa.select(PostRehabPeriod)):
        assert case_of[(RehabEpisode, period.episode_id)] == period.case_id
    for job in db.session.scalars(sa.select(JobPlacement)):
        if job.consent_id is not None:
            assert case_of[(Consent, job.consent_id)] == job.case_id
    for loan in db.session.scalars(sa.select(LoanReferral)):
        assert case_of[(Consent, loan.consent_id)] == loan.case_id
    checked: tuple[type[Any], ...] = (JobCheck, ReintegrationCertification)
    for model in checked:
        row: Any
        for row in db.session.scalars(sa.select(model)):
            assert case_of[(JobPlacement, row.job_id)] == row.case_id
    for relapse in db.session.scalars(sa.select(RelapseEvent)):
        substances = db.session.scalars(
            sa.select(RelapseSubstance.drug_type).where(RelapseSubstance.relapse_id == relapse.id)
        ).all()
        assert substances
    planned = 0
    for follow_up in db.session.scalars(sa.select(FollowUp).where(FollowUp.source.is_not(None))):
        assert case_of[(OWNERS[follow_up.source], follow_up.source_id)] == follow_up.case_id
        planned += 1
    assert planned
    named = 0
    for event in db.session.scalars(sa.select(CaseEvent)):
        for key, model in (("job", JobPlacement), ("loan", LoanReferral)):
            if key in event.details:
                assert case_of[(model, event.details[key])] == event.case_id
                named += 1
    assert named


def test_pooled_and_in_process_runs_of_a_seed_write_the_same_histories(
    app: Flask, worker_c1: Any, officer: Any
) -> None:
    assert COUNT // BATCH >= POOL_FROM
    counts = _generate(app, worker_c1.id, processes=1)
    with app.app_context():
        first = db.session.scalar(sa.select(sa.func.max(Case.id)))
        assert first is not None
        alone = _fingerprint(0)
        _check_references()
    pooled_counts = _generate(app, worker_c1.id, processes=2)  # the same seed once more
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 2 * COUNT
        pooled = _fingerprint(first)
        _check_references()
    assert pooled_counts == counts
    assert len(alone) == len(pooled) == COUNT
    assert pooled == alone


class _BatchFailedError(Exception):
    pass


def test_a_failing_batch_leaves_nothing_once_the_caller_rolls_back(
    app: Flask, worker_c1: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's error reaches the caller after earlier batches were inserted; the caller's
    rollback takes them all back (the workers never write)."""
    compose = synthetic._compose

    def failing(index: int) -> Any:
        if index == 4:
            raise _BatchFailedError(index)
        return compose(index)

    monkeypatch.setattr(synthetic, "_compose", failing)  # the forked workers inherit it
    with app.app_context():
        with pytest.raises(_BatchFailedError):
            create_synthetic_cases(
                COUNT,
                seed=SEED,
                communes=[C1],
                focus_commune=None,
                actor_id=worker_c1.id,
                today=local_day(),
                batch_size=BATCH,
                steps=True,
                processes=2,
            )
        written = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
        assert written is not None
        assert written >= BATCH  # the batches before the failing one
        db.session.rollback()
        for model in (Case, CaseEvent, FollowUp, JobPlacement, RehabEpisode):
            assert not db.session.scalar(sa.select(sa.func.count()).select_from(model))
