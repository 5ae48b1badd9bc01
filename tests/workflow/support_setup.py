"""Helpers for the support-step tests: a youth taken through rehab to post-rehab management, and
a job with monthly follow-ups. Synthetic people only."""

from __future__ import annotations

from datetime import date, timedelta

from caseapp.cases.models import Case
from caseapp.users.models import User
from caseapp.workflow import services, support
from caseapp.workflow.models import (
    ConsentPurpose,
    ContractType,
    EmployerKind,
    IncomeBand,
    JobPlacement,
    JobSector,
    PostRehabPeriod,
    RehabForm,
    RehabOutcome,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
)
from caseapp.workflow.services import RehabStart


def determined(case: Case, worker: User, on: date, today: date) -> None:
    """A positive screening and an addiction determination on ``on``."""
    services.record_screening(
        case, screened_on=on, source=ScreeningSource.POLICE, method=ScreeningMethod.DRUG_TEST,
        result=ScreeningResult.POSITIVE, actor=worker, today=today,
    )  # fmt: skip
    services.record_determination(
        case, determined_on=on, facility="Trung tâm Y tế", is_addicted=True,
        form_reference=None, actor=worker, today=today,
    )  # fmt: skip


def to_post_rehab(
    case: Case, worker: User, officer: User, *, start: date, today: date
) -> PostRehabPeriod:
    """Screening and determination on ``start``, six months of community rehab from five days
    later, the officer's approval, and post-rehab management from the day after it ended."""
    determined(case, worker, start, today)
    begun = start + timedelta(days=5)
    episode = services.start_rehab(
        case,
        RehabStart(RehabForm.VOLUNTARY_COMMUNITY, begun, 6, representative_consent=True),
        actor=worker, today=today,
    )  # fmt: skip
    services.advance_stage(case, episode, actor=worker)
    services.advance_stage(case, episode, actor=worker)
    ended = services.add_months(begun, 6)
    services.end_rehab(
        case, episode, ended_on=ended, outcome=RehabOutcome.COMPLETED,
        certificate_number="GCN-1", actor=worker, today=today,
    )  # fmt: skip
    services.approve_rehab(case, episode, actor=officer)
    return services.start_post_rehab(
        case, started_on=ended + timedelta(days=1), actor=worker, today=today
    )


def consent(case: Case, worker: User, purpose: ConsentPurpose, on: date, today: date):
    return support.give_consent(
        case, purpose=purpose, given_on=on, with_representative=True, actor=worker, today=today
    )


def job(
    case: Case,
    worker: User,
    started_on: date,
    today: date,
    *,
    employer_name: str | None = None,
    contacted: bool = False,
) -> JobPlacement:
    return support.place_job(
        case,
        support.JobStart(
            sector=JobSector.CRAFT,
            employer_kind=EmployerKind.HOUSEHOLD_BUSINESS,
            started_on=started_on,
            contract_type=ContractType.SHORT,
            income_band=IncomeBand.FROM_3M,
            employer_name=employer_name,
            employer_contacted=contacted,
        ),
        actor=worker,
        today=today,
    )


def monthly_checks(case: Case, job_: JobPlacement, worker: User, months: int, today: date) -> None:
    """Follow-ups confirming the job 1, 2, ... ``months`` months after it started."""
    for month in range(1, months + 1):
        support.record_job_check(
            case, job_, checked_on=services.add_months(job_.started_on, month),
            still_employed=True, actor=worker, today=today,
        )  # fmt: skip
