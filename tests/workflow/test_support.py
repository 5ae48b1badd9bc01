"""Support after rehab: schooling, training, consents, jobs and follow-ups, relapses, the
stable-job rule and the officer's reintegration certificate (loans: test_support_loans.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from caseapp import authz
from caseapp.cases.models import CaseEvent, Category, DrugType, Phase
from caseapp.errors import InvalidInputError
from caseapp.extensions import db
from caseapp.workflow import services, support
from caseapp.workflow.models import (
    ConsentPurpose,
    ContractType,
    EmployerKind,
    IncomeBand,
    JobPlacement,
    JobSector,
    RehabForm,
    RuleSet,
    SchoolLevel,
    StudyResult,
)
from caseapp.workflow.services import RehabStart
from tests.workflow.support_setup import consent, job, monthly_checks, to_post_rehab

TODAY = date(2026, 11, 28)


def _messages(exc: pytest.ExceptionInfo[InvalidInputError]) -> str:
    return " | ".join(e.message for e in exc.value.errors)


def _fields(exc: pytest.ExceptionInfo[InvalidInputError]) -> set[str | None]:
    return {e.field for e in exc.value.errors}


def _labels(case) -> list[str]:
    return [s.label for s in services.next_steps(case, services.load_steps(case), TODAY)]


def _schooling(case, worker, started_on, **kwargs):
    values = {"level": SchoolLevel.LOWER_SECONDARY, "ended_on": None,
              "result": StudyResult.IN_PROGRESS, **kwargs}  # fmt: skip
    return support.record_schooling(
        case, started_on=started_on, actor=worker, today=TODAY, **values
    )


@pytest.mark.parametrize(
    ("born", "intake", "ok"),
    [
        (date(2014, 10, 1), date(2026, 11, 1), False),  # 11 on the first day of school
        (date(2014, 9, 5), date(2026, 11, 1), True),  # 12 that very day
        (date(2008, 9, 6), date(2026, 1, 10), True),  # 17, the day before turning 18
        (date(2008, 9, 5), date(2026, 1, 10), False),  # 18
    ],
)
def test_schooling_only_from_12_to_under_18(new_case, worker, born, intake, ok):
    case = new_case(born, intake=intake)
    if ok:
        step = _schooling(case, worker, date(2026, 9, 5))
        assert step.rules_snapshot["adult_age"] == 18
        assert case.phase == Phase.SUPPORT
    else:
        with pytest.raises(InvalidInputError) as exc:
            _schooling(case, worker, date(2026, 9, 5))
        assert "từ đủ 12 đến dưới 18 tuổi" in _messages(exc)
        assert _fields(exc) == {"started_on"}


def test_schooling_end_and_result_must_agree(new_case, worker):
    case = new_case(date(2011, 1, 1), intake=date(2026, 1, 10))
    with pytest.raises(InvalidInputError) as exc:
        _schooling(case, worker, date(2026, 2, 1), ended_on=date(2026, 5, 1))
    assert _fields(exc) == {"result"}
    with pytest.raises(InvalidInputError) as exc:
        _schooling(case, worker, date(2026, 2, 1), result=StudyResult.COMPLETED)
    assert _fields(exc) == {"ended_on"}
    step = _schooling(case, worker, date(2026, 2, 1))
    with pytest.raises(InvalidInputError) as exc:
        _schooling(case, worker, date(2026, 3, 1))
    assert "chưa kết thúc" in _messages(exc)
    with pytest.raises(InvalidInputError) as exc:
        support.end_schooling(case, step, ended_on=date(2026, 1, 1),
                              result=StudyResult.DROPPED, actor=worker, today=TODAY)  # fmt: skip
    assert "sau ngày bắt đầu" in _messages(exc)
    support.end_schooling(case, step, ended_on=date(2026, 6, 1), result=StudyResult.COMPLETED,
                          actor=worker, today=TODAY)  # fmt: skip
    assert (step.ended_on, step.result) == (date(2026, 6, 1), "completed")
    with pytest.raises(InvalidInputError):
        support.end_schooling(case, step, ended_on=date(2026, 6, 2),
                              result=StudyResult.DROPPED, actor=worker, today=TODAY)  # fmt: skip


def test_training_guards_and_certificate(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10), category=Category.POST_PRISON)
    assert {"Học nghề", "Giới thiệu việc làm"} <= set(_labels(case))
    with pytest.raises(InvalidInputError) as exc:
        support.record_training(
            case, course_name=" ", provider="", started_on=date(2026, 3, 1), ended_on=None,
            result=StudyResult.IN_PROGRESS, certificate_number="CC-1", actor=worker, today=TODAY,
        )  # fmt: skip
    assert _fields(exc) == {"course_name", "provider", "certificate_number"}
    training = support.record_training(
        case, course_name="May công nghiệp", provider="Trung tâm GDNN-GDTX",
        started_on=date(2026, 3, 1), ended_on=None, result=StudyResult.IN_PROGRESS,
        certificate_number=None, actor=worker, today=TODAY,
    )  # fmt: skip
    assert case.phase == Phase.SUPPORT
    assert case.category == Category.POST_PRISON  # support never changes the category
    assert "Học nghề" not in _labels(case)  # a course is under way
    support.end_training(
        case, training, ended_on=date(2026, 6, 1), result=StudyResult.COMPLETED,
        certificate_number="CC-7", actor=worker, today=TODAY,
    )  # fmt: skip
    assert training.certificate_number == "CC-7"
    labels = _labels(case)
    assert "Giới thiệu việc làm" in labels
    assert "Học nghề" not in labels  # completed already


def test_consents_per_purpose_dated_and_withdrawable(new_case, worker):
    minor = new_case(date(2010, 1, 1), intake=date(2026, 1, 10))
    with pytest.raises(InvalidInputError) as exc:
        support.give_consent(
            minor, purpose=ConsentPurpose.EMPLOYER_CONTACT, given_on=date(2026, 2, 1),
            with_representative=False, actor=worker, today=TODAY,
        )  # fmt: skip
    assert _fields(exc) == {"with_representative"}
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    given = support.give_consent(
        case, purpose=ConsentPurpose.LOAN_REFERRAL, given_on=date(2026, 2, 1),
        with_representative=False, actor=worker, today=TODAY,
    )  # fmt: skip
    with pytest.raises(InvalidInputError) as exc:
        consent(case, worker, ConsentPurpose.LOAN_REFERRAL, date(2026, 3, 1), TODAY)
    assert "chưa rút lại" in _messages(exc)
    consent(case, worker, ConsentPurpose.FACILITY_SHARING, date(2026, 3, 1), TODAY)  # another one
    with pytest.raises(InvalidInputError) as exc:
        support.withdraw_consent(case, given, withdrawn_on=date(2026, 1, 31), actor=worker,
                                 today=TODAY)  # fmt: skip
    assert "từ ngày đồng ý" in _messages(exc)
    support.withdraw_consent(case, given, withdrawn_on=date(2026, 4, 1), actor=worker, today=TODAY)
    assert given.is_active_on(date(2026, 3, 31))
    assert not given.is_active_on(date(2026, 4, 1))  # effective on its own date
    assert not given.is_active_on(date(2026, 1, 31))
    with pytest.raises(InvalidInputError) as exc:
        support.withdraw_consent(case, given, withdrawn_on=date(2026, 5, 1), actor=worker,
                                 today=TODAY)  # fmt: skip
    assert "đã được rút lại" in _messages(exc)
    consent(case, worker, ConsentPurpose.LOAN_REFERRAL, date(2026, 5, 1), TODAY)  # given again
    kinds = set(db.session.scalars(sa.select(CaseEvent.kind).where(CaseEvent.case_id == case.id)))
    assert {"consent_given", "consent_withdrawn"} <= kinds


def _place(case, worker, **overrides):
    data = {"sector": JobSector.SERVICES, "employer_kind": EmployerKind.ENTERPRISE,
            "started_on": date(2026, 4, 1), "contract_type": ContractType.LONG,
            "income_band": IncomeBand.FROM_5M, "employer_name": "Công ty Zzyzx",
            "employer_contacted": True, **overrides}  # fmt: skip
    return support.place_job(case, support.JobStart(**data), actor=worker, today=TODAY)


def test_contacting_an_employer_needs_an_active_consent(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    with pytest.raises(InvalidInputError) as exc:
        _place(case, worker)
    assert _fields(exc) == {"employer_contacted"}
    assert "sự đồng ý" in _messages(exc)
    with pytest.raises(InvalidInputError) as exc:
        _place(case, worker, employer_name="")
    assert _fields(exc) == {"employer_contacted", "employer_name"}
    with pytest.raises(InvalidInputError) as exc:
        _place(case, worker, employer_kind=EmployerKind.SELF_EMPLOYED)
    assert {"employer_contacted", "contract_type"} <= _fields(exc)
    given = consent(case, worker, ConsentPurpose.EMPLOYER_CONTACT, date(2026, 4, 2), TODAY)
    with pytest.raises(InvalidInputError):  # given only after the job started
        _place(case, worker)
    support.withdraw_consent(case, given, withdrawn_on=date(2026, 4, 3), actor=worker, today=TODAY)
    earlier = consent(case, worker, ConsentPurpose.EMPLOYER_CONTACT, date(2026, 3, 1), TODAY)
    placed = _place(case, worker)
    assert placed.consent_id == earlier.id
    support.withdraw_consent(
        case, earlier, withdrawn_on=date(2026, 5, 1), actor=worker, today=TODAY
    )
    with pytest.raises(InvalidInputError) as exc:  # withdrawn before this job's start
        _place(case, worker, started_on=date(2026, 5, 2))
    assert _fields(exc) == {"employer_contacted"}
    quiet = _place(case, worker, started_on=date(2026, 5, 2), employer_contacted=False,
                   employer_name=None)  # fmt: skip
    assert quiet.employer_name is None
    assert quiet.employer_name_ct is None


def test_employer_name_is_stored_encrypted(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    consent(case, worker, ConsentPurpose.EMPLOYER_CONTACT, date(2026, 3, 1), TODAY)
    placed = _place(case, worker, employer_name="Xưởng Mộc Zzyzx")
    db.session.commit()
    # Raw SQL on the session's own connection (a second connection would wait on SQLite's lock).
    raw = db.session.execute(
        sa.text("SELECT employer_name_ct FROM job_placements WHERE id = :id"), {"id": placed.id}
    ).one()
    events = " ".join(
        str(d) for d in db.session.execute(sa.text("SELECT details FROM audit_events")).scalars()
    )
    timeline = " ".join(
        str(d) for d in db.session.execute(sa.text("SELECT details FROM case_events")).scalars()
    )
    assert raw.employer_name_ct.startswith("v1.")
    assert "Zzyzx" not in raw.employer_name_ct
    assert "Zzyzx" not in events
    assert "Zzyzx" not in timeline
    db.session.expire_all()
    again = db.session.get(JobPlacement, placed.id)
    assert again.employer_name == "Xưởng Mộc Zzyzx"
    assert "Zzyzx" not in repr(again)


def test_job_follow_ups_and_their_due_dates(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10), category=Category.POST_PRISON)
    placed = job(case, worker, date(2026, 6, 1), TODAY)
    assert case.phase == Phase.SUPPORT
    assert services.job_check_due(placed) == date(2026, 7, 1)  # one month after the start
    steps = services.next_steps(case, services.load_steps(case), TODAY)
    check = next(s for s in steps if s.label == "Xác nhận còn làm việc")
    assert (check.endpoint, check.args["job_id"], check.due_on) == (
        "workflow.job_check", placed.id, date(2026, 7, 1)
    )  # fmt: skip

    def follow_up(day, employed=True):
        return support.record_job_check(case, placed, checked_on=day, still_employed=employed,
                                        actor=worker, today=TODAY)  # fmt: skip

    follow_up(date(2026, 7, 1))
    assert services.job_check_due(placed) == date(2026, 9, 1)  # the 3-month follow-up
    follow_up(date(2026, 8, 15))  # an extra confirmation does not move the plan's next date
    assert services.job_check_due(placed) == date(2026, 9, 1)
    follow_up(date(2026, 9, 1))
    assert services.job_check_due(placed) == date(2026, 12, 1)  # the 6-month follow-up
    # After the plan's last follow-up, the stable-job rule's gap (105 days) sets the next one.
    rules = dict(placed.rules_snapshot, followup_job_third_months=0)
    placed.rules_snapshot = rules
    assert services.job_check_due(placed) == date(2026, 9, 1) + timedelta(days=105)
    for day, message in (
        (date(2026, 5, 31), "từ ngày bắt đầu việc làm"),
        (date(2026, 9, 1), "Đã có lần xác nhận ngày này"),
        (date(2026, 12, 1), "tương lai"),
    ):
        with pytest.raises(InvalidInputError) as exc:
            follow_up(day)
        assert message in _messages(exc)
    follow_up(date(2026, 10, 1), employed=False)
    assert not placed.is_current
    with pytest.raises(InvalidInputError) as exc:
        follow_up(date(2026, 10, 20))
    assert "không còn làm việc" in _messages(exc)
    labels = _labels(case)
    assert "Xác nhận còn làm việc" not in labels
    assert "Ghi ngày nghỉ việc" in labels
    with pytest.raises(InvalidInputError) as exc:
        support.end_job(case, placed, ended_on=date(2026, 8, 1), actor=worker, today=TODAY)
    assert "sau ngày này" in _messages(exc)
    support.end_job(case, placed, ended_on=date(2026, 9, 20), actor=worker, today=TODAY)
    with pytest.raises(InvalidInputError) as exc:
        follow_up(date(2026, 9, 25))
    assert "đã kết thúc" in _messages(exc)
    assert "Ghi ngày nghỉ việc" not in _labels(case)


def _certify(case, actor, on):
    return support.certify_reintegration(case, certified_on=on, actor=actor, today=TODAY)


def _employed(new_case, worker, officer, months, *, start=date(2026, 1, 5)):
    """A post-rehab adult with a job from ``start`` confirmed monthly for ``months`` months."""
    case = new_case(date(2000, 3, 1), intake=date(2024, 1, 10))
    period = to_post_rehab(case, worker, officer, start=date(2024, 2, 1), today=TODAY)
    services.end_post_rehab(case, period, ended_on=period.planned_end_on,
                            certificate_number="GCN-2", actor=worker, today=TODAY)  # fmt: skip
    services.approve_post_rehab(case, period, actor=officer)
    placed = job(case, worker, start, TODAY)
    monthly_checks(case, placed, worker, months, TODAY)
    return case, placed


def test_stable_job_met_with_six_continuous_months(new_case, worker, officer):
    case, placed = _employed(new_case, worker, officer, 6)
    labels = _labels(case)
    assert "Chứng nhận tái hòa nhập (cán bộ phụ trách)" not in labels  # 05/07: too long ago
    assert "Đăng ký cai nghiện hoặc điều trị methadone" not in labels  # management is over
    assert labels[0] == "Xác nhận còn làm việc"
    steps = services.next_steps(case, services.load_steps(case), date(2026, 7, 10))
    certify = next(s for s in steps if s.endpoint == "workflow.reintegration")
    assert certify.label == "Chứng nhận tái hòa nhập (cán bộ phụ trách)"
    assert certify.action is authz.Action.APPROVE_STEPS
    with pytest.raises(InvalidInputError) as exc:  # a worker may not certify
        _certify(case, worker, date(2026, 7, 10))
    assert "Chỉ cán bộ phụ trách" in _messages(exc)
    certification = _certify(case, officer, date(2026, 7, 10))
    assert certification.certified_by_id == officer.id
    assert (certification.job_id, certification.months_confirmed) == (placed.id, 6)
    assert certification.rules_snapshot["stable_job_months"] == 6
    assert case.phase == Phase.REINTEGRATED
    assert case.category == Category.POST_REHAB
    assert "Đóng hồ sơ: đã tái hòa nhập cộng đồng" in _labels(case)
    with pytest.raises(InvalidInputError) as exc:
        _certify(case, officer, date(2026, 7, 20))
    assert "Đã chứng nhận tái hòa nhập cộng đồng ngày 10/07/2026" in _messages(exc)
    # A relapse afterwards: the certificate stays on record, the phase falls back.
    support.record_relapse(case, relapsed_on=date(2026, 9, 1), substances=[DrugType.CANNABIS],
                           actor=worker, today=TODAY)  # fmt: skip
    assert case.phase == Phase.SUPPORT
    assert services.load_steps(case).standing_certification is None


def test_stable_job_not_met_with_five_months(new_case, worker, officer):
    case, _ = _employed(new_case, worker, officer, 5)
    with pytest.raises(InvalidInputError) as exc:
        _certify(case, officer, date(2026, 6, 10))
    assert "5/6 tháng" in _messages(exc)
    assert "từ 05/01/2026 đến 05/06/2026" in _messages(exc)
    assert case.phase == Phase.SUPPORT


@pytest.mark.parametrize(("gap_days", "met"), [(105, True), (106, False)])
def test_a_gap_over_105_days_breaks_continuity(new_case, worker, officer, gap_days, met):
    case = new_case(date(2000, 3, 1), intake=date(2024, 1, 10), category=Category.POST_PRISON)
    placed = job(case, worker, date(2025, 10, 1), TODAY)
    day = placed.started_on
    for step in (30, 30, gap_days, 30, 30, 30):
        day += timedelta(days=step)
        support.record_job_check(case, placed, checked_on=day, still_employed=True,
                                 actor=worker, today=TODAY)  # fmt: skip
    if met:
        assert _certify(case, officer, day).months_confirmed == 8  # 01/10/2025 to 14/06/2026
    else:
        with pytest.raises(InvalidInputError) as exc:
            _certify(case, officer, day)
        assert "cách quá 105 ngày nên thời gian liên tục tính lại" in _messages(exc)
        assert "2/6 tháng" in _messages(exc)  # 16/03 to 15/06


def test_stale_follow_up_and_relapse_refuse_certification(new_case, worker, officer):
    case, _ = _employed(new_case, worker, officer, 6)
    with pytest.raises(InvalidInputError) as exc:  # last confirmed 05/07, 106 days before
        _certify(case, officer, date(2026, 10, 19))
    assert "Lần xác nhận gần nhất (05/07/2026) đã quá 105 ngày" in _messages(exc)
    support.record_relapse(case, relapsed_on=date(2026, 3, 15), substances=[DrugType.OTHER],
                           actor=worker, today=TODAY)  # fmt: skip
    with pytest.raises(InvalidInputError) as exc:
        _certify(case, officer, date(2026, 7, 10))
    assert "Có tái nghiện ngày 15/03/2026" in _messages(exc)
    assert "Chứng nhận tái hòa nhập (cán bộ phụ trách)" not in [
        s.label for s in services.next_steps(case, services.load_steps(case), date(2026, 7, 10))
    ]


def test_relapse_before_the_job_does_not_count(new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2024, 1, 10), category=Category.POST_PRISON)
    support.record_relapse(case, relapsed_on=date(2025, 12, 1), substances=[DrugType.KETAMINE],
                           actor=worker, today=TODAY)  # fmt: skip
    placed = job(case, worker, date(2026, 1, 5), TODAY)
    monthly_checks(case, placed, worker, 6, TODAY)
    assert _certify(case, officer, date(2026, 7, 5)).months_confirmed == 6


def test_stable_job_months_follow_the_rule_set_in_force(new_case, worker, officer):
    """The 2021 regime keeps 6 months; an administrator sets 3 in the 2025 regime."""
    rule_set = db.session.scalars(sa.select(RuleSet).where(RuleSet.code == "law-120-2025")).one()
    rule_set.params = {**rule_set.params, "stable_job_months": 3}
    db.session.commit()
    case, _ = _employed(new_case, worker, officer, 3, start=date(2026, 3, 1))
    with pytest.raises(InvalidInputError) as exc:
        _certify(case, officer, date(2026, 6, 30))  # 2021 regime
    assert "3/6 tháng" in _messages(exc)
    certification = _certify(case, officer, date(2026, 7, 1))  # Law 120/2025 regime
    assert certification.rules_snapshot["stable_job_months"] == 3
    assert db.session.get(RuleSet, certification.rule_set_id).code == "law-120-2025"


def test_relapse_during_post_rehab_of_an_adult_suggests_compulsory_rehab(new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    period = to_post_rehab(case, worker, officer, start=date(2025, 2, 1), today=TODAY)
    with pytest.raises(InvalidInputError) as exc:
        support.record_relapse(case, relapsed_on=date(2025, 4, 1), substances=[], actor=worker,
                               today=TODAY)  # fmt: skip
    assert _fields(exc) == {"relapsed_on", "substances"}  # during rehab, nothing chosen
    relapse = support.record_relapse(
        case, relapsed_on=period.started_on + timedelta(days=30),
        substances=[DrugType.METHAMPHETAMINE, DrugType.CANNABIS], actor=worker, today=TODAY,
    )  # fmt: skip
    assert relapse.during_post_rehab
    assert sorted(s.drug_type for s in relapse.substances) == ["cannabis", "methamphetamine"]
    with pytest.raises(InvalidInputError) as exc:
        support.record_relapse(case, relapsed_on=relapse.relapsed_on,
                               substances=[DrugType.OTHER], actor=worker, today=TODAY)  # fmt: skip
    assert "Đã ghi tái nghiện ngày này" in _messages(exc)
    steps = services.next_steps(case, services.load_steps(case), TODAY)
    assert steps[0].label == "Xem xét áp dụng biện pháp cai nghiện ma túy bắt buộc"
    assert steps[0].endpoint == "workflow.rehab"
    # A court decision and compulsory rehab follow: the suggestion is answered.
    services.start_rehab(
        case,
        RehabStart(RehabForm.COMPULSORY, date(2026, 5, 1), 12, "5/QĐ-TA", date(2026, 4, 20)),
        actor=worker, today=TODAY,
    )  # fmt: skip
    assert "Xem xét áp dụng biện pháp cai nghiện ma túy bắt buộc" not in _labels(case)


def test_relapse_of_a_minor_or_outside_management_suggests_nothing_compulsory(
    new_case, worker, officer
):
    minor = new_case(date(2010, 6, 1), intake=date(2025, 1, 10))
    period = to_post_rehab(minor, worker, officer, start=date(2025, 2, 1), today=TODAY)
    labels = _labels(minor)
    assert "Học văn hóa (giáo dục phổ thông)" in labels  # 16 years old
    assert "Giới thiệu vay vốn Ngân hàng Chính sách xã hội" in labels
    relapse = support.record_relapse(
        minor, relapsed_on=period.started_on + timedelta(days=10),
        substances=[DrugType.ECSTASY], actor=worker, today=TODAY,
    )  # fmt: skip
    assert relapse.during_post_rehab
    assert "Xem xét áp dụng biện pháp cai nghiện ma túy bắt buộc" not in _labels(minor)
    user = new_case(date(2000, 3, 1), intake=date(2026, 1, 10), category=Category.POST_PRISON)
    outside = support.record_relapse(
        user, relapsed_on=date(2026, 2, 1), substances=[DrugType.OPIOIDS], actor=worker,
        today=TODAY,
    )  # fmt: skip
    assert not outside.during_post_rehab
    assert "Xem xét áp dụng biện pháp cai nghiện ma túy bắt buộc" not in _labels(user)


def test_post_rehab_adult_without_training_or_job_is_offered_both(new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    to_post_rehab(case, worker, officer, start=date(2025, 2, 1), today=TODAY)
    steps = services.next_steps(case, services.load_steps(case), TODAY)
    labels = [s.label for s in steps]
    assert {"Học nghề", "Giới thiệu việc làm"} <= set(labels)
    assert "Học văn hóa (giáo dục phổ thông)" not in labels  # an adult
    loan = next(s for s in steps if s.endpoint == "workflow.loan")
    assert loan.note is not None  # no loan-referral consent yet
    assert case.phase == Phase.POST_REHAB
    job(case, worker, date(2026, 10, 1), TODAY)
    labels = _labels(case)
    assert "Xác nhận còn làm việc" in labels
    assert "Giới thiệu việc làm" not in labels
    assert case.phase == Phase.POST_REHAB  # support happens within management
