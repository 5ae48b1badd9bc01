"""Social-bank loan referrals: each eligibility condition (DESIGN §4, Decision 08/2026/QĐ-TTg),
the consent, both rule regimes, and the only order a loan moves in."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from caseapp.cases.models import CaseEvent, Category
from caseapp.errors import InvalidInputError
from caseapp.extensions import db
from caseapp.workflow import services, support
from caseapp.workflow.models import (
    ConsentPurpose,
    LoanProgramme,
    LoanStatus,
    RehabForm,
    RuleSet,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
)
from caseapp.workflow.services import RehabStart
from tests.workflow.support_setup import consent, to_post_rehab

TODAY = date(2026, 11, 28)
DECISION_08 = LoanProgramme.DECISION_08_2026


def _messages(exc: pytest.ExceptionInfo[InvalidInputError]) -> str:
    return " | ".join(e.message for e in exc.value.errors)


def _refer(case, worker, on, *, programme=DECISION_08, amount=50_000_000, listed=True,
           today=TODAY):  # fmt: skip
    return support.refer_loan(
        case, programme=programme, referred_on=on, amount_requested_vnd=amount,
        on_police_list=listed, actor=worker, today=today,
    )  # fmt: skip


@pytest.fixture
def eligible(new_case, worker, officer):
    """An adult in post-rehab management since 02/09/2025, consenting to a loan referral."""
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    period = to_post_rehab(case, worker, officer, start=date(2025, 2, 1), today=TODAY)
    assert period.started_on == date(2025, 8, 7)
    consent(case, worker, ConsentPurpose.LOAN_REFERRAL, date(2026, 1, 5), TODAY)
    return case


def test_an_eligible_referral_under_decision_08(eligible, worker):
    loan = _refer(eligible, worker, date(2026, 5, 1), amount=200_000_000)  # the first day, the cap
    assert loan.status == LoanStatus.REFERRAL
    assert loan.rules_snapshot["loan_max_vnd"] == 200_000_000
    assert loan.consent_id is not None
    event = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == eligible.id).order_by(CaseEvent.id.desc())
    ).first()
    assert (event.kind, event.details) == (
        "loan_referred", {"loan": loan.id, "programme": "decision_08_2026"}
    )  # fmt: skip


def test_decision_08_only_from_1_may_2026(eligible, worker):
    with pytest.raises(InvalidInputError) as exc:
        _refer(eligible, worker, date(2026, 4, 30))
    assert "chỉ áp dụng cho giới thiệu từ ngày 01/05/2026" in _messages(exc)
    assert [e.field for e in exc.value.errors] == ["programme"]
    # The other programmes existed before: the same day is fine for them.
    fund = _refer(eligible, worker, date(2026, 4, 30), programme=LoanProgramme.YOUTH_STARTUP)
    assert fund.programme == "youth_startup"


def test_decision_08_needs_the_commune_police_list(eligible, worker):
    with pytest.raises(InvalidInputError) as exc:
        _refer(eligible, worker, date(2026, 6, 1), listed=False)
    assert "danh sách do Công an cấp xã lập" in _messages(exc)
    _refer(eligible, worker, date(2026, 6, 1), programme=LoanProgramme.NATIONAL_EMPLOYMENT_FUND,
           listed=False)  # fmt: skip


@pytest.mark.parametrize(
    ("amount", "message"),
    [(200_000_001, "Mức vay tối đa là 200.000.000 đồng"), (0, "Số tiền phải lớn hơn 0")],
)
def test_amount_within_the_rules(eligible, worker, amount, message):
    with pytest.raises(InvalidInputError) as exc:
        _refer(eligible, worker, date(2026, 6, 1), amount=amount)
    assert message in _messages(exc)


def test_a_referral_needs_an_active_loan_consent(new_case, worker, officer):
    case = new_case(date(2000, 3, 1), intake=date(2025, 1, 10))
    to_post_rehab(case, worker, officer, start=date(2025, 2, 1), today=TODAY)
    with pytest.raises(InvalidInputError) as exc:
        _refer(case, worker, date(2026, 6, 1))
    assert "Cần sự đồng ý (mục đích: giới thiệu vay vốn)" in _messages(exc)
    # A consent for another purpose does not count.
    consent(case, worker, ConsentPurpose.EMPLOYER_CONTACT, date(2026, 1, 5), TODAY)
    with pytest.raises(InvalidInputError):
        _refer(case, worker, date(2026, 6, 1))
    given = consent(case, worker, ConsentPurpose.LOAN_REFERRAL, date(2026, 1, 5), TODAY)
    support.withdraw_consent(case, given, withdrawn_on=date(2026, 5, 20), actor=worker, today=TODAY)
    with pytest.raises(InvalidInputError) as exc:
        _refer(case, worker, date(2026, 6, 1))
    assert "còn hiệu lực vào ngày giới thiệu" in _messages(exc)
    assert _refer(case, worker, date(2026, 5, 19)).status == "referral"  # before the withdrawal


def test_only_after_rehab_or_methadone_and_a_post_rehab_decision(new_case, worker):
    case = new_case(date(2000, 3, 1), intake=date(2026, 1, 10), category=Category.POST_PRISON)
    consent(case, worker, ConsentPurpose.LOAN_REFERRAL, date(2026, 1, 15), TODAY)
    with pytest.raises(InvalidInputError) as exc:
        _refer(case, worker, date(2026, 6, 1))
    messages = _messages(exc)
    assert (
        "sau khi hoàn thành cai nghiện (đã được phê duyệt) hoặc đã điều trị methadone" in messages
    )
    assert "Chưa có quyết định quản lý sau cai nghiện" in messages
    # Methadone counts as treatment; the window still needs a post-rehab decision.
    services.record_screening(
        case, screened_on=date(2026, 2, 1), source=ScreeningSource.POLICE,
        method=ScreeningMethod.DRUG_TEST, result=ScreeningResult.POSITIVE, actor=worker,
        today=TODAY,
    )  # fmt: skip
    services.record_determination(
        case, determined_on=date(2026, 2, 1), facility="Trung tâm Y tế", is_addicted=True,
        form_reference=None, actor=worker, today=TODAY,
    )  # fmt: skip
    services.start_rehab(case, RehabStart(RehabForm.METHADONE, date(2026, 2, 10), None),
                         actor=worker, today=TODAY)  # fmt: skip
    with pytest.raises(InvalidInputError) as exc:
        _refer(case, worker, date(2026, 6, 1))
    messages = _messages(exc)
    assert "hoặc đã điều trị methadone" not in messages
    assert "Chưa có quyết định quản lý sau cai nghiện" in messages


def test_within_ten_years_of_the_post_rehab_decision(new_case, worker, officer):
    later = date(2033, 1, 1)  # "today" ten years on
    case = new_case(date(2000, 3, 1), intake=date(2022, 1, 3))
    period = to_post_rehab(case, worker, officer, start=date(2022, 1, 5), today=later)
    assert period.started_on == date(2022, 7, 11)
    consent(case, worker, ConsentPurpose.LOAN_REFERRAL, date(2031, 1, 5), later)
    with pytest.raises(InvalidInputError) as exc:
        _refer(case, worker, date(2032, 7, 12), today=later)
    assert "Đã quá 10 năm kể từ quyết định quản lý sau cai nghiện ngày 11/07/2022" in _messages(exc)
    assert "hết hạn ngày 11/07/2032" in _messages(exc)
    assert _refer(case, worker, date(2032, 7, 11), today=later).status == "referral"


def test_age_and_window_follow_the_rule_set_in_force(eligible, worker):
    """An administrator raises the minimum age in the Law 120/2025 regime only."""
    rule_set = db.session.scalars(sa.select(RuleSet).where(RuleSet.code == "law-120-2025")).one()
    rule_set.params = {**rule_set.params, "loan_min_age": 30, "loan_max_vnd": 100_000_000}
    db.session.commit()
    with pytest.raises(InvalidInputError) as exc:
        _refer(eligible, worker, date(2026, 7, 1), amount=150_000_000)
    messages = _messages(exc)
    assert "Người vay phải từ đủ 30 tuổi vào ngày giới thiệu (khi đó 26 tuổi)" in messages
    assert "Mức vay tối đa là 100.000.000 đồng" in messages
    loan = _refer(eligible, worker, date(2026, 6, 30), amount=150_000_000)  # 2021 regime
    assert loan.rules_snapshot["loan_min_age"] == 12


def _move(case, loan, worker, to, on, amount=None):
    support.advance_loan(case, loan, to=to, dated_on=on, amount_vnd=amount, actor=worker,
                         today=TODAY)  # fmt: skip


def test_status_moves_only_in_order_with_dates_and_amounts(eligible, worker):
    loan = _refer(eligible, worker, date(2026, 6, 1), amount=80_000_000)
    with pytest.raises(InvalidInputError) as exc:
        _refer(eligible, worker, date(2026, 6, 2))  # one referral per programme at a time
    assert "chưa kết thúc" in _messages(exc)
    for to in (LoanStatus.APPROVED, LoanStatus.DISBURSED, LoanStatus.REFUSED):
        with pytest.raises(InvalidInputError) as exc:
            _move(eligible, loan, worker, to, date(2026, 6, 5), 10_000_000)
        assert "thứ tự là giới thiệu → nộp hồ sơ" in _messages(exc)
    with pytest.raises(InvalidInputError) as exc:
        _move(eligible, loan, worker, LoanStatus.APPLICATION, date(2026, 5, 31))
    assert "từ ngày của bước trước (01/06/2026)" in _messages(exc)
    _move(eligible, loan, worker, LoanStatus.APPLICATION, date(2026, 6, 10))
    assert (loan.status, loan.applied_on) == ("application", date(2026, 6, 10))
    with pytest.raises(InvalidInputError):
        _move(eligible, loan, worker, LoanStatus.DISBURSED, date(2026, 6, 20), 10_000_000)
    for amount, message in (
        (None, "Nhập số tiền"),
        (90_000_000, "không được vượt số tiền đề nghị"),
    ):
        with pytest.raises(InvalidInputError) as exc:
            _move(eligible, loan, worker, LoanStatus.APPROVED, date(2026, 6, 20), amount)
        assert message in _messages(exc)
    _move(eligible, loan, worker, LoanStatus.APPROVED, date(2026, 6, 20), 60_000_000)
    with pytest.raises(InvalidInputError) as exc:
        _move(eligible, loan, worker, LoanStatus.DISBURSED, date(2026, 7, 1), 60_000_001)
    assert "không được vượt số tiền được duyệt (60.000.000 đồng)" in _messages(exc)
    _move(eligible, loan, worker, LoanStatus.DISBURSED, date(2026, 7, 1), 60_000_000)
    assert (loan.status, loan.amount_approved_vnd, loan.amount_disbursed_vnd) == (
        "disbursed", 60_000_000, 60_000_000
    )  # fmt: skip
    assert loan.next_statuses == ()
    with pytest.raises(InvalidInputError):
        _move(eligible, loan, worker, LoanStatus.DISBURSED, date(2026, 7, 2), 1)
    kinds = list(
        db.session.scalars(
            sa.select(CaseEvent.kind)
            .where(CaseEvent.case_id == eligible.id, CaseEvent.kind.like("loan_%"))
            .order_by(CaseEvent.id)
        )
    )
    assert kinds == ["loan_referred", "loan_application", "loan_approved", "loan_disbursed"]
    _refer(eligible, worker, date(2026, 7, 2))  # the first loan is over: a new referral is fine


def test_refusal_is_final_and_a_withdrawn_consent_stops_the_application(eligible, worker):
    loan = _refer(eligible, worker, date(2026, 6, 1))
    given = services.load_steps(eligible).active_consent(ConsentPurpose.LOAN_REFERRAL, TODAY)
    support.withdraw_consent(
        eligible, given, withdrawn_on=date(2026, 6, 5), actor=worker, today=TODAY
    )
    with pytest.raises(InvalidInputError) as exc:
        _move(eligible, loan, worker, LoanStatus.APPLICATION, date(2026, 6, 10))
    assert "không còn hiệu lực" in _messages(exc)
    _move(eligible, loan, worker, LoanStatus.APPLICATION, date(2026, 6, 4))  # before withdrawal
    _move(eligible, loan, worker, LoanStatus.REFUSED, date(2026, 6, 20))
    assert (loan.status, loan.decided_on, loan.amount_approved_vnd) == (
        "refused", date(2026, 6, 20), None
    )  # fmt: skip
    with pytest.raises(InvalidInputError):
        _move(eligible, loan, worker, LoanStatus.DISBURSED, date(2026, 6, 21), 1)
    assert loan.status_on == date(2026, 6, 20)
