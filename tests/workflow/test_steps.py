"""Every workflow step and guard, under both regimes; past decisions keep their rules."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from caseapp.cases.models import Category, Phase
from caseapp.errors import InvalidInputError
from caseapp.extensions import db
from caseapp.workflow import services
from caseapp.workflow.models import (
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    RuleSet,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
)
from caseapp.workflow.services import RehabStart

TODAY = date(2026, 11, 28)


def _messages(exc: pytest.ExceptionInfo[InvalidInputError]) -> str:
    return " | ".join(e.message for e in exc.value.errors)


def _addicted(case, worker, on=date(2026, 2, 2)):
    services.record_screening(
        case, screened_on=on, source=ScreeningSource.POLICE, method=ScreeningMethod.DRUG_TEST,
        result=ScreeningResult.POSITIVE, actor=worker, today=TODAY,
    )  # fmt: skip
    services.record_determination(
        case, determined_on=on, facility="Trung tâm Y tế", is_addicted=True,
        form_reference="PX-1", actor=worker, today=TODAY,
    )  # fmt: skip
    db.session.commit()


def test_screening_then_determination_moves_phase_and_category(new_case, worker):
    case = new_case(date(2004, 3, 1), intake=date(2026, 1, 10))
    assert case.phase == Phase.INTAKE
    services.record_screening(
        case, screened_on=date(2026, 1, 12), source=ScreeningSource.SCHOOL,
        method=ScreeningMethod.DRUG_TEST, result=ScreeningResult.POSITIVE, actor=worker,
        today=TODAY,
    )  # fmt: skip
    assert case.phase == Phase.SCREENING
    assert case.category == Category.USER
    step = services.record_determination(
        case, determined_on=date(2026, 6, 5), facility="Bệnh viện Tâm thần", is_addicted=True,
        form_reference=None, actor=worker, today=TODAY,
    )  # fmt: skip
    assert case.category == Category.ADDICTED
    assert case.phase == Phase.ASSESSMENT
    assert step.register_by == date(2026, 6, 12)  # 5 working days
    steps = services.load_steps(case)
    labels = [s.label for s in services.next_steps(case, steps, TODAY)]
    assert labels[0] == "Đăng ký cai nghiện hoặc điều trị methadone"
    overdue = services.next_steps(case, steps, TODAY)[0]
    assert overdue.note is not None
    assert "cai nghiện bắt buộc" in overdue.note


def test_future_dates_and_dates_before_birth_refused(new_case, worker):
    case = new_case(date(2004, 3, 1), intake=date(2026, 1, 10))
    for day, message in ((date(2027, 1, 1), "tương lai"), (date(2003, 1, 1), "trước ngày sinh")):
        with pytest.raises(InvalidInputError) as exc:
            services.record_screening(
                case, screened_on=day, source=ScreeningSource.SELF,
                method=ScreeningMethod.INTERVIEW, result=ScreeningResult.NEGATIVE,
                actor=worker, today=TODAY,
            )  # fmt: skip
        assert message in _messages(exc)


def test_rehab_needs_a_determination(new_case, worker):
    case = new_case(date(2004, 3, 1), intake=date(2026, 1, 10))
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            case, RehabStart(RehabForm.VOLUNTARY_COMMUNITY, date(2026, 3, 1), 6),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "xác định tình trạng nghiện" in _messages(exc)


@pytest.mark.parametrize(
    ("months", "ok"), [(5, False), (6, True), (12, True), (13, False), (None, False)]
)
def test_voluntary_duration_range_2021(new_case, worker, months, ok):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    _addicted(case, worker)
    start = RehabStart(RehabForm.VOLUNTARY_COMMUNITY, date(2026, 3, 1), months)
    if ok:
        episode = services.start_rehab(case, start, actor=worker, today=TODAY)
        assert episode.planned_end_on == services.add_months(date(2026, 3, 1), months)
        assert case.category == Category.IN_REHAB
        assert case.phase == Phase.TREATMENT
    else:
        with pytest.raises(InvalidInputError) as exc:
            services.start_rehab(case, start, actor=worker, today=TODAY)
        assert "từ 6 đến 12 tháng" in _messages(exc)


def test_compulsory_rules(new_case, worker):
    adult = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    _addicted(adult, worker)
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            adult, RehabStart(RehabForm.COMPULSORY, date(2026, 3, 1), 12), actor=worker,
            today=TODAY,
        )  # fmt: skip
    assert "quyết định của Tòa án" in _messages(exc)
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            adult,
            RehabStart(RehabForm.COMPULSORY, date(2026, 3, 1), 12, "12/QĐ-TA", date(2026, 3, 5)),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "phải có trước ngày bắt đầu" in _messages(exc)
    episode = services.start_rehab(
        adult,
        RehabStart(RehabForm.COMPULSORY, date(2026, 3, 1), 24, "12/QĐ-TA", date(2026, 2, 20)),
        actor=worker, today=TODAY,
    )  # fmt: skip
    assert episode.rules_snapshot["compulsory_adult_max_months"] == 24


def test_compulsory_for_minors_and_under_twelve(new_case, worker):
    minor = new_case(date(2011, 1, 1), intake=date(2026, 1, 10))  # 15
    _addicted(minor, worker)
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            minor,
            RehabStart(RehabForm.COMPULSORY, date(2026, 3, 1), 18, "1/QĐ", date(2026, 2, 1)),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "từ 6 đến 12 tháng" in _messages(exc)
    child = new_case(date(2013, 11, 1), intake=date(2026, 1, 10))  # 12 at intake
    _addicted(child, worker, on=date(2026, 2, 2))
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            child,
            RehabStart(RehabForm.COMPULSORY, date(2025, 10, 1), 6, "1/QĐ", date(2025, 9, 1)),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "dưới 12 tuổi" in _messages(exc)


def test_minor_voluntary_needs_representative_and_methadone_parental_consent(new_case, worker):
    minor = new_case(date(2011, 1, 1), intake=date(2026, 1, 10))  # 15
    _addicted(minor, worker)
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            minor, RehabStart(RehabForm.VOLUNTARY_COMMUNITY, date(2026, 3, 1), 6),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "người đại diện hợp pháp" in _messages(exc)
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            minor, RehabStart(RehabForm.METHADONE, date(2026, 3, 1), None),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "cha mẹ đồng ý" in _messages(exc)
    episode = services.start_rehab(
        minor, RehabStart(RehabForm.METHADONE, date(2026, 3, 1), None, representative_consent=True),
        actor=worker, today=TODAY,
    )  # fmt: skip
    assert episode.planned_end_on is None


def test_full_rehab_to_post_rehab_with_approvals(new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    _addicted(case, worker, on=date(2025, 2, 2))
    episode = services.start_rehab(
        case, RehabStart(RehabForm.VOLUNTARY_COMMUNITY, date(2025, 3, 1), 6),
        actor=worker, today=TODAY,
    )  # fmt: skip
    with pytest.raises(InvalidInputError) as exc:  # overlapping episodes
        services.start_rehab(
            case, RehabStart(RehabForm.VOLUNTARY_FACILITY, date(2025, 4, 1), 6),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "chưa kết thúc" in _messages(exc)
    with pytest.raises(InvalidInputError) as exc:  # too early: only stage 1
        services.end_rehab(
            case, episode, ended_on=date(2025, 9, 1), outcome=RehabOutcome.COMPLETED,
            certificate_number="GCN-1", actor=worker, today=TODAY,
        )  # fmt: skip
    assert "ít nhất 3 giai đoạn" in _messages(exc)
    services.advance_stage(case, episode, actor=worker)
    services.advance_stage(case, episode, actor=worker)
    with pytest.raises(InvalidInputError) as exc:
        services.end_rehab(
            case, episode, ended_on=date(2025, 2, 1), outcome=RehabOutcome.COMPLETED,
            certificate_number="", actor=worker, today=TODAY,
        )  # fmt: skip
    assert "sau ngày bắt đầu" in _messages(exc)
    assert "giấy chứng nhận" in _messages(exc)
    services.end_rehab(
        case, episode, ended_on=date(2025, 9, 1), outcome=RehabOutcome.COMPLETED,
        certificate_number="GCN-1", actor=worker, today=TODAY,
    )  # fmt: skip
    assert case.category == Category.IN_REHAB  # until an officer approves
    with pytest.raises(InvalidInputError):
        services.start_post_rehab(case, started_on=date(2025, 9, 2), actor=worker, today=TODAY)
    services.approve_rehab(case, episode, actor=officer)
    assert case.category == Category.POST_REHAB
    period = services.start_post_rehab(case, started_on=date(2025, 9, 2), actor=worker, today=TODAY)
    assert period.planned_end_on == date(2026, 9, 2)  # 12 months after voluntary rehab
    assert case.phase == Phase.POST_REHAB
    services.end_post_rehab(
        case, period, ended_on=date(2026, 9, 2), certificate_number="GCN-2", actor=worker,
        today=TODAY,
    )  # fmt: skip
    services.approve_post_rehab(case, period, actor=officer)
    assert case.phase == Phase.SUPPORT
    db.session.commit()


def test_quitting_rehab_returns_to_addicted(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    _addicted(case, worker, on=date(2025, 2, 2))
    episode = services.start_rehab(
        case, RehabStart(RehabForm.VOLUNTARY_FACILITY, date(2025, 3, 1), 6),
        actor=worker, today=TODAY,
    )  # fmt: skip
    services.end_rehab(
        case, episode, ended_on=date(2025, 4, 1), outcome=RehabOutcome.QUIT,
        certificate_number=None, actor=worker, today=TODAY,
    )  # fmt: skip
    assert case.category == Category.ADDICTED
    assert case.phase == Phase.ASSESSMENT


def test_post_rehab_after_adult_compulsory_is_longer(new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2024, 1, 10))
    _addicted(case, worker, on=date(2024, 2, 2))
    episode = services.start_rehab(
        case,
        RehabStart(RehabForm.COMPULSORY, date(2024, 3, 1), 12, "9/QĐ", date(2024, 2, 20)),
        actor=worker, today=TODAY,
    )  # fmt: skip
    for _ in range(4):
        services.advance_stage(case, episode, actor=worker)
    services.end_rehab(
        case, episode, ended_on=date(2025, 3, 1), outcome=RehabOutcome.COMPLETED,
        certificate_number="GCN", actor=worker, today=TODAY,
    )  # fmt: skip
    services.approve_rehab(case, episode, actor=officer)
    period = services.start_post_rehab(case, started_on=date(2025, 3, 2), actor=worker, today=TODAY)
    assert period.planned_end_on == date(2027, 3, 2)  # 24 months


def test_regime_switch_changes_future_decisions_only(new_case, worker):
    before = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    _addicted(before, worker)
    kept = services.start_rehab(
        before,
        RehabStart(RehabForm.COMPULSORY, date(2026, 6, 30), 12, "1/QĐ", date(2026, 6, 1)),
        actor=worker, today=TODAY,
    )  # fmt: skip
    assert db.session.get(RuleSet, kept.rule_set_id).code == "law-73-2021"
    after = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    _addicted(after, worker)
    with pytest.raises(InvalidInputError) as exc:
        services.start_rehab(
            after,
            RehabStart(RehabForm.COMPULSORY, date(2026, 7, 1), 12, "2/QĐ", date(2026, 6, 25)),
            actor=worker, today=TODAY,
        )  # fmt: skip
    assert "từ 24 đến 24 tháng" in _messages(exc)
    db.session.commit()
    # An administrator changes the 2021 regime afterwards: the recorded decision keeps its rules.
    rule_set = db.session.get(RuleSet, kept.rule_set_id)
    rule_set.params = {**rule_set.params, "voluntary_min_stages": 5}
    db.session.commit()
    episode = db.session.scalars(sa.select(RehabEpisode).where(RehabEpisode.id == kept.id)).one()
    assert episode.rules_snapshot["voluntary_min_stages"] == 3
    assert episode.rules_snapshot["compulsory_adult_min_months"] == 12


def test_closed_case_takes_no_steps(new_case, worker, officer):
    from caseapp.cases.models import CloseReason
    from caseapp.cases.services import close_case

    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10))
    close_case(case, CloseReason.MOVED_AWAY, "", actor=officer)
    with pytest.raises(InvalidInputError) as exc:
        services.record_counselling(
            case, held_on=date(2026, 2, 1), kind=services.CounsellingKind.FAMILY,
            topic=services.CounsellingTopic.FAMILY, counsellor="Cán bộ A", actor=worker,
            today=TODAY,
        )  # fmt: skip
    assert "Hồ sơ đã đóng" in _messages(exc)
    assert services.next_steps(case, services.load_steps(case), TODAY) == []
