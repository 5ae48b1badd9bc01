"""Synthetic histories (issue 8): what the generator writes is what the workflow's own services
would have written. Each test generates a few hundred cases with a fixed seed up to the real
today (the services read the real today), then checks them against those services: derive,
refresh_next_due, plans.sync_case, the stable-job rule and the rule sets in force."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from caseapp.cases.models import Case, Category, DrugType, Education, Occupation, Phase, Sex
from caseapp.cases.services import CaseData, apply_case_data
from caseapp.dates import add_months, local_day
from caseapp.extensions import db
from caseapp.followups import plans
from caseapp.followups.models import FollowUp, Source, Status
from caseapp.geo.models import Commune
from caseapp.synthetic import create_synthetic_cases
from caseapp.users.models import Role, User
from caseapp.workflow.models import (
    AddictionDetermination,
    Consent,
    ConsentPurpose,
    CounsellingSession,
    CounsellingTopic,
    JobCheck,
    JobPlacement,
    LoanProgramme,
    LoanReferral,
    LoanStatus,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    ReintegrationCertification,
    RelapseEvent,
    RuleSet,
    Schooling,
    Screening,
    VocationalTraining,
)
from caseapp.workflow.services import (
    derive,
    load_steps,
    refresh_next_due,
    rule_set_on,
    rules_of,
    stable_job,
)
from caseapp.workflow.support import loan_eligibility
from tests.conftest import C1, PROVINCE

COUNT, SEED = 300, 20
# Every date a step records about what happened (deadlines and planned ends excluded).
STEP_DATES = (
    (Screening, "screened_on"),
    (AddictionDetermination, "determined_on"),
    (CounsellingSession, "held_on"),
    (RehabEpisode, "court_decision_on"),
    (RehabEpisode, "started_on"),
    (RehabEpisode, "ended_on"),
    (PostRehabPeriod, "started_on"),
    (PostRehabPeriod, "ended_on"),
    (Schooling, "started_on"),
    (Schooling, "ended_on"),
    (VocationalTraining, "started_on"),
    (VocationalTraining, "ended_on"),
    (Consent, "given_on"),
    (JobPlacement, "started_on"),
    (JobPlacement, "ended_on"),
    (JobCheck, "checked_on"),
    (LoanReferral, "referred_on"),
    (LoanReferral, "applied_on"),
    (LoanReferral, "decided_on"),
    (LoanReferral, "disbursed_on"),
    (RelapseEvent, "relapsed_on"),
    (ReintegrationCertification, "certified_on"),
    (FollowUp, "done_on"),
)
STEP_MODELS = {model for model, _ in STEP_DATES if model is not FollowUp}


@pytest.fixture
def generated(app: Flask, worker_c1: Any, officer: Any) -> Flask:
    """COUNT synthetic cases over the province, a quarter in the worker's commune."""
    with app.app_context():
        communes = list(
            db.session.scalars(sa.select(Commune.code).where(Commune.province_code == PROVINCE))
        )
        made = create_synthetic_cases(
            COUNT,
            seed=SEED,
            communes=communes,
            focus_commune=C1,
            actor_id=worker_c1.id,
            today=local_day(),
            steps=True,
        )
        db.session.commit()
        assert made == COUNT
    return app


def _sample(per_phase: int = 8, total: int = 50) -> list[Case]:
    """Cases from every phase first (the rare ones are the interesting ones), then the rest."""
    cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
    chosen: list[Case] = []
    for phase in Phase:
        chosen += [c for c in cases if c.phase == phase][:per_phase]
    chosen += [c for c in cases if c not in chosen][: total - len(chosen)]
    return chosen[:total]


def test_category_phase_and_next_due_are_what_the_workflow_derives(generated: Flask) -> None:
    with generated.app_context():
        sample = _sample()
        assert len(sample) == 50
        assert {c.phase for c in sample} >= {Phase.TREATMENT, Phase.POST_REHAB, Phase.SUPPORT}
        for case in sample:
            stored = (case.category, case.phase, case.next_due_on)
            steps = load_steps(case)
            derive(case, steps)
            refresh_next_due(case, steps)
            assert (case.category, case.phase, case.next_due_on) == stored, case.code
            assert case.declared_category in {
                Category.USER,
                Category.ADDICTED,
                Category.POST_PRISON,
            }
        db.session.rollback()


def test_every_step_lies_between_intake_and_today(generated: Flask) -> None:
    today = local_day()
    with generated.app_context():
        for model, name in STEP_DATES:
            column = getattr(model, name)
            rows = db.session.execute(
                sa.select(column, Case.intake_on)
                .join(Case, Case.id == model.case_id)  # type: ignore[attr-defined]
                .where(column.is_not(None))
            ).all()
            assert rows, f"no {model.__tablename__}.{name}"
            wrong = [(day, intake) for day, intake in rows if not intake <= day <= today]
            assert not wrong, f"{model.__tablename__}.{name}: {wrong[:3]}"
        for model in STEP_MODELS:  # recorded on the day of the step, in the communes' time zone
            for recorded_at in db.session.scalars(sa.select(model.recorded_at).limit(200)):  # type: ignore[attr-defined]
                assert local_day(recorded_at) <= today


def test_steps_carry_the_rule_set_in_force_and_respect_it(generated: Flask) -> None:
    with generated.app_context():
        snapshots = {r.id: r.params for r in db.session.scalars(sa.select(RuleSet))}
        for screening in db.session.scalars(sa.select(Screening).limit(100)):
            assert screening.rule_set_id == rule_set_on(screening.screened_on).id
            assert screening.rules_snapshot == snapshots[screening.rule_set_id]
        officers = set(db.session.scalars(sa.select(User.id).where(User.role == Role.OFFICER)))
        for episode in db.session.scalars(sa.select(RehabEpisode)):
            case = db.session.get(Case, episode.case_id)
            assert case is not None
            assert episode.rule_set_id == rule_set_on(episode.started_on).id
            params = episode.rules_snapshot
            if episode.form == RehabForm.METHADONE:
                assert episode.months is None
                assert episode.planned_end_on is None
            elif episode.form == RehabForm.COMPULSORY:  # adults only here, by court decision
                assert case.age_on(episode.started_on) >= params["adult_age"]
                assert episode.court_decision_number
                assert episode.court_decision_on
                assert episode.court_decision_on <= episode.started_on
                assert (
                    params["compulsory_adult_min_months"]
                    <= episode.months
                    <= params["compulsory_adult_max_months"]
                )
            else:
                assert (
                    params["voluntary_min_months"]
                    <= episode.months
                    <= params["voluntary_max_months"]
                )
            if episode.months:
                assert episode.planned_end_on == add_months(episode.started_on, episode.months)
            if episode.outcome == RehabOutcome.COMPLETED:
                # Five stages (Law 73, Art. 29); methadone treatment has none of its own.
                assert episode.stage == 5 or episode.form == RehabForm.METHADONE
                assert episode.certificate_number
                if episode.approved_at is not None:  # four eyes: an officer, not the recorder
                    assert episode.approved_by_id in officers
                    assert episode.approved_by_id != episode.ended_by_id
        for period in db.session.scalars(sa.select(PostRehabPeriod)):
            params = period.rules_snapshot
            months = (period.planned_end_on.year - period.started_on.year) * 12 + (
                period.planned_end_on.month - period.started_on.month
            )
            assert months in (
                params["post_rehab_months"],
                params["post_rehab_compulsory_adult_months"],
            )
            if period.ended_on is not None:
                assert period.ended_on >= period.planned_end_on
            if period.approved_at is not None:
                assert period.approved_by_id in officers
                assert period.approved_by_id != period.ended_by_id
        for certification in db.session.scalars(sa.select(ReintegrationCertification)):
            case = db.session.get(Case, certification.case_id)
            assert case is not None
            steps = load_steps(case)
            rules = rule_set_on(certification.certified_on)
            found = stable_job(
                steps.jobs,
                steps.relapses,
                rules_of(rules),
                certification.certified_on,
            )
            assert certification.certified_by_id in officers
            assert found.met
            assert found.months == certification.months_confirmed
        db.session.rollback()


def test_loans_follow_the_rules_and_have_a_loan_referral_consent(generated: Flask) -> None:
    with generated.app_context():
        loans = db.session.scalars(sa.select(LoanReferral)).all()
        assert loans
        for loan in loans:
            consent = db.session.get(Consent, loan.consent_id)
            assert consent is not None
            assert consent.purpose == ConsentPurpose.LOAN_REFERRAL
            assert consent.given_on <= loan.referred_on
            case = db.session.get(Case, loan.case_id)
            assert case is not None
            steps = load_steps(case)
            problems = loan_eligibility(
                case,
                steps,
                programme=LoanProgramme(loan.programme),
                referred_on=loan.referred_on,
                amount_requested_vnd=loan.amount_requested_vnd,
                on_police_list=loan.on_police_list,
                rules=rules_of(rule_set_on(loan.referred_on)),
            )
            assert not problems, [p.message for p in problems]
            dates = [loan.referred_on, loan.applied_on, loan.decided_on, loan.disbursed_on]
            known = [d for d in dates if d is not None]
            assert known == sorted(known)
            if loan.status == LoanStatus.DISBURSED:
                assert loan.amount_disbursed_vnd
                assert loan.amount_approved_vnd
                assert loan.amount_disbursed_vnd <= loan.amount_approved_vnd
            if loan.amount_approved_vnd is not None:
                assert loan.amount_approved_vnd <= loan.amount_requested_vnd
        db.session.rollback()


def test_every_category_rehab_form_and_loan_status_appears(generated: Flask) -> None:
    with generated.app_context():
        categories = Counter(db.session.scalars(sa.select(Case.category)))
        assert set(categories) == set(Category)
        assert categories[Category.USER] == max(categories.values())  # most youth are users
        forms = set(db.session.scalars(sa.select(RehabEpisode.form)))
        assert forms == set(RehabForm)
        outcomes = set(db.session.scalars(sa.select(RehabEpisode.outcome)))
        assert outcomes >= {RehabOutcome.COMPLETED, RehabOutcome.QUIT, RehabOutcome.USED_DURING}
        assert set(db.session.scalars(sa.select(LoanReferral.status))) == set(LoanStatus)
        topics = set(db.session.scalars(sa.select(CounsellingSession.topic)))
        assert CounsellingTopic.BEHAVIOUR_CHANGE in topics
        purposes = set(db.session.scalars(sa.select(Consent.purpose)))
        assert purposes == {ConsentPurpose.EMPLOYER_CONTACT, ConsentPurpose.LOAN_REFERRAL}
        for model in (Schooling, VocationalTraining, JobPlacement, JobCheck, RelapseEvent):
            assert db.session.scalar(sa.select(sa.func.count()).select_from(model)), model
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReintegrationCertification))
        # Schooling is for minors only.
        for schooling in db.session.scalars(sa.select(Schooling)):
            case = db.session.get(Case, schooling.case_id)
            assert case is not None
            assert 12 <= case.age_on(schooling.started_on) < 18
        # The commune's worker has most of its files.
        in_c1 = (
            db.session.execute(sa.select(Case.assigned_worker_id).where(Case.commune_code == C1))
            .scalars()
            .all()
        )
        assert sum(w is not None for w in in_c1) > len(in_c1) / 2


def _case_data(case: Case) -> CaseData:
    return CaseData(
        full_name=case.full_name or "",
        date_of_birth=case.date_of_birth or date.min,
        sex=Sex(case.sex),
        national_id=case.national_id,
        phone=case.phone,
        address=case.address,
        guardian_name=case.guardian_name,
        guardian_relation=case.guardian_relation,
        guardian_phone=case.guardian_phone,
        notes=case.notes,
        commune_code=case.commune_code,
        category=Category(case.declared_category),
        education=Education(case.education) if case.education else None,
        occupation=Occupation(case.occupation) if case.occupation else None,
        drug_types=[DrugType(d.drug_type) for d in case.drug_types],
        assigned_worker_id=case.assigned_worker_id,
        intake_on=case.intake_on,
    )


def test_identities_are_encrypted_as_real_ones_and_never_stored_in_clear(
    generated: Flask,
) -> None:
    with generated.app_context():
        cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
        secrets: set[str] = set()
        for case in cases[:60]:
            assert case.full_name
            assert case.national_id
            assert case.phone
            assert 12 <= case.age_on(case.intake_on) <= 30
            assert (case.guardian_name is not None) == (case.age_on(case.intake_on) < 18)
            for column in ("full_name_ct", "date_of_birth_ct", "national_id_ct", "phone_ct"):
                assert getattr(case, column).startswith("v1.")
            # The same values through apply_case_data give the same indexes and plain columns.
            twin = Case(uuid=case.uuid)
            apply_case_data(twin, _case_data(case))
            for column in ("name_dob_bidx", "national_id_bidx", "birth_year", "sex", "intake_on"):
                assert getattr(twin, column) == getattr(case, column), column
            assert twin.category == case.declared_category
            secrets |= {case.full_name, case.national_id, case.phone}
        for job in db.session.scalars(sa.select(JobPlacement)):
            if job.employer_name_ct is not None:
                assert job.employer_name_ct.startswith("v1.")
                secrets.add(job.employer_name or "")
        db.session.expunge_all()
        found = []
        for table in db.metadata.sorted_tables:
            text = "\n".join(repr(tuple(row)) for row in db.session.execute(sa.select(table)))
            found += [(table.name, s) for s in secrets if s and s in text]
        assert not found


def test_follow_ups_are_planned_answered_and_in_step_with_sync_case(generated: Flask) -> None:
    today = local_day()
    with generated.app_context():
        planned = {
            (source, source_id)
            for source, source_id in db.session.execute(
                sa.select(FollowUp.source, FollowUp.source_id).where(FollowUp.source.is_not(None))
            )
        }
        active = db.session.execute(
            sa.select(RehabEpisode.id)
            .join(Case, Case.id == RehabEpisode.case_id)
            .where(
                RehabEpisode.ended_on.is_(None),
                RehabEpisode.form.in_([RehabForm.VOLUNTARY_COMMUNITY, RehabForm.METHADONE]),
                Case.status == "open",
            )
        ).scalars()
        for episode_id in active:
            assert (Source.REHAB, episode_id) in planned
        for period_id in db.session.scalars(
            sa.select(PostRehabPeriod.id).where(PostRehabPeriod.ended_on.is_(None))
        ):
            assert (Source.POST_REHAB, period_id) in planned
        current_jobs = [j for j in db.session.scalars(sa.select(JobPlacement)) if j.is_current]
        assert current_jobs
        for job in current_jobs:
            assert (Source.JOB, job.id) in planned
        rows = db.session.scalars(sa.select(FollowUp)).all()
        statuses = Counter(r.status for r in rows)
        assert statuses[Status.DONE] > statuses[Status.MISSED] > 0
        assert statuses[Status.PENDING]
        assert statuses[Status.CANCELLED]
        assert any(r.is_late for r in rows)
        assert any(r.status == Status.PENDING and r.due_on < today for r in rows)  # overdue
        # Idempotent: sync_case finds nothing to add or change, on cases of every plan kind.
        by_source: dict[str, list[int]] = {}
        for row in rows:
            if row.source is not None:
                by_source.setdefault(row.source, []).append(row.case_id)
        sample = sorted({case_id for ids in by_source.values() for case_id in ids[::7][:6]})
        assert len(sample) >= 10
        for case_id in sample:
            case = db.session.get(Case, case_id)
            assert case is not None
            before = _follow_up_state(case_id)
            plans.sync_case(case, load_steps(case), actor=None)
            db.session.flush()
            assert _follow_up_state(case_id) == before, case.code
        db.session.rollback()


def _follow_up_state(case_id: int) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in db.session.execute(
            sa.select(
                FollowUp.id,
                FollowUp.status,
                FollowUp.due_on,
                FollowUp.planned_on,
                FollowUp.done_on,
                FollowUp.cancel_reason,
            )
            .where(FollowUp.case_id == case_id)
            .order_by(FollowUp.id)
        )
    ]


def test_without_steps_files_are_only_opened(app: Flask) -> None:
    with app.app_context():
        made = create_synthetic_cases(
            20, seed=1, communes=[C1], focus_commune=None, actor_id=None, today=local_day()
        )
        db.session.commit()
        assert made == 20
        cases = db.session.scalars(sa.select(Case)).all()
        assert {c.phase for c in cases} == {Phase.INTAKE}
        assert all(c.category == c.declared_category for c in cases)
        assert all(c.next_due_on is None and c.assigned_worker_id is None for c in cases)
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(Screening))
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp))


def test_a_large_demo_gives_the_workers_commune_a_busy_communes_caseload(app: Flask) -> None:
    """A quarter of a small demo goes to the demo worker's commune; of a large one about
    FOCUS_MAX (a quarter of 250,000 would be a commune of 62,000 youth)."""
    from caseapp.synthetic import FOCUS_MAX

    count = 8 * FOCUS_MAX
    with app.app_context():
        communes = list(
            db.session.scalars(sa.select(Commune.code).where(Commune.province_code == PROVINCE))
        )
        create_synthetic_cases(
            count, seed=SEED, communes=communes, focus_commune=C1, actor_id=None,
            today=local_day(), processes=1,
        )  # fmt: skip
        db.session.commit()
        in_focus = db.session.scalar(
            sa.select(sa.func.count()).select_from(Case).where(Case.commune_code == C1)
        )
    natural = count / len(communes)
    assert FOCUS_MAX * 0.8 < in_focus < FOCUS_MAX * 1.2 + natural  # a quarter would be 1,200
