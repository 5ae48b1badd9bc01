"""Support after rehab (issue 4, second half): schooling, vocational training, jobs and their
follow-ups, consents, social-bank loan referrals, relapses and the officer's reintegration
certificate.

The contract of ``caseapp.workflow.services`` holds here too: every guard runs first and reports
every problem at once (``InvalidInputError``, field + reason), nothing is written on a refusal;
then the record is stored with the rule set in force on its date, the case's phase is derived
again, and a timeline entry and an audit row are added (codes and ids only, never identities).
Services flush; the request commits once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from babel.numbers import format_decimal
from flask_babel import gettext as _

from caseapp import audit, authz
from caseapp.cases.models import Case, DrugType, Phase, Status
from caseapp.dates import add_months
from caseapp.errors import FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.users.models import User
from caseapp.workflow.models import (
    LOAN_STATUS_LABELS,
    SCHOOLING_MIN_AGE,
    TEXT_MAX,
    Consent,
    ConsentPurpose,
    ContractType,
    EmployerKind,
    IncomeBand,
    JobCheck,
    JobPlacement,
    JobSector,
    LoanProgramme,
    LoanReferral,
    LoanStatus,
    RehabForm,
    RehabOutcome,
    ReintegrationCertification,
    RelapseEvent,
    RelapseSubstance,
    Schooling,
    SchoolLevel,
    StudyResult,
    VocationalTraining,
)
from caseapp.workflow.rules import PROGRAMME_FROM, PROGRAMMES_NEEDING_POLICE_LIST, Rules
from caseapp.workflow.services import (
    CaseSteps,
    StableJob,
    _age_on,
    _check_day,
    _check_open,
    _finish,
    _rule_columns,
    format_day,
    load_steps,
    rule_set_on,
    rules_of,
    rules_on,
    stable_job,
)


def _day_problems(day: date, field: str, today: date, case: Case) -> list[FieldError]:
    try:
        _check_day(day, field, today, case)
    except InvalidInputError as exc:
        return exc.errors
    return []


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInputError(errors)


def _text(value: str | None) -> str:
    return (value or "").strip()


def _money(amount: int) -> str:
    return str(format_decimal(amount, locale="vi"))


def _end_problems(
    started_on: date, ended_on: date | None, result: StudyResult, today: date
) -> list[FieldError]:
    """An end date and a result that agree: in progress has none, completed or dropped has one."""
    errors = []
    if ended_on is not None:
        if ended_on < started_on:
            errors.append(FieldError("ended_on", _("Ngày kết thúc phải sau ngày bắt đầu.")))
        if ended_on > today:
            errors.append(FieldError("ended_on", _("Ngày không được ở tương lai.")))
        if result is StudyResult.IN_PROGRESS:
            errors.append(
                FieldError("result", _("Đã có ngày kết thúc: chọn kết quả hoàn thành hoặc bỏ học."))
            )
    elif result is not StudyResult.IN_PROGRESS:
        errors.append(
            FieldError("ended_on", _("Nhập ngày kết thúc khi đã hoàn thành hoặc bỏ học."))
        )
    return errors


# --- Schooling ------------------------------------------------------------------------------


def record_schooling(
    case: Case,
    *,
    level: SchoolLevel,
    started_on: date,
    ended_on: date | None,
    result: StudyResult,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> Schooling:
    """Record schooling (học văn hóa) of a youth aged 12 to under 18 on its first day."""
    _check_open(case)
    errors = _day_problems(started_on, "started_on", today, case)
    rule_set = rule_set_on(started_on)
    adult_age = rules_of(rule_set).adult_age
    age = _age_on(case, started_on)
    if not SCHOOLING_MIN_AGE <= age < adult_age:
        errors.append(
            FieldError(
                "started_on",
                _(
                    "Học văn hóa chỉ ghi cho người từ đủ %(low)d đến dưới %(high)d tuổi "
                    "(vào ngày bắt đầu: %(age)d tuổi).",
                    low=SCHOOLING_MIN_AGE,
                    high=adult_age,
                    age=age,
                ),
            )
        )
    errors += _end_problems(started_on, ended_on, result, today)
    if any(s.ended_on is None for s in load_steps(case).schoolings):
        errors.append(
            FieldError(
                None, _("Đang có một quá trình học văn hóa chưa kết thúc: ghi kết thúc trước.")
            )
        )
    _raise(errors)
    step = Schooling(
        case_id=case.id,
        **_rule_columns(rule_set),
        level=level.value,
        started_on=started_on,
        ended_on=ended_on,
        result=result.value,
        recorded_by_id=actor.id,
    )
    db.session.add(step)
    _finish(case, "schooling", actor, context, level=level.value, result=result.value)
    return step


def end_schooling(
    case: Case,
    schooling: Schooling,
    *,
    ended_on: date,
    result: StudyResult,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Record how schooling ended (completed or dropped)."""
    _check_open(case)
    if schooling.ended_on is not None:
        raise InvalidInputError([FieldError(None, _("Quá trình học này đã kết thúc."))])
    _raise(_end_problems(schooling.started_on, ended_on, result, today))
    schooling.ended_on, schooling.result = ended_on, result.value
    _finish(case, "schooling_ended", actor, context, result=result.value)


# --- Vocational training -------------------------------------------------------------------


def _certificate_problems(result: StudyResult, certificate_number: str) -> list[FieldError]:
    if certificate_number and result is not StudyResult.COMPLETED:
        return [
            FieldError("certificate_number", _("Chỉ ghi số chứng chỉ khi đã hoàn thành khóa học."))
        ]
    return []


def record_training(
    case: Case,
    *,
    course_name: str,
    provider: str,
    started_on: date,
    ended_on: date | None,
    result: StudyResult,
    certificate_number: str | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> VocationalTraining:
    """Record a vocational course (đào tạo nghề)."""
    _check_open(case)
    errors = _day_problems(started_on, "started_on", today, case)
    if not _text(course_name):
        errors.append(FieldError("course_name", _("Nhập tên nghề, khóa học.")))
    if not _text(provider):
        errors.append(FieldError("provider", _("Nhập cơ sở đào tạo.")))
    errors += _end_problems(started_on, ended_on, result, today)
    errors += _certificate_problems(result, _text(certificate_number))
    _raise(errors)
    step = VocationalTraining(
        case_id=case.id,
        **_rule_columns(rule_set_on(started_on)),
        course_name=_text(course_name),
        provider=_text(provider),
        started_on=started_on,
        ended_on=ended_on,
        result=result.value,
        certificate_number=_text(certificate_number) or None,
        recorded_by_id=actor.id,
    )
    db.session.add(step)
    _finish(case, "training", actor, context, result=result.value)
    return step


def end_training(
    case: Case,
    training: VocationalTraining,
    *,
    ended_on: date,
    result: StudyResult,
    certificate_number: str | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Record how a vocational course ended, with its certificate when completed."""
    _check_open(case)
    if training.ended_on is not None:
        raise InvalidInputError([FieldError(None, _("Khóa học này đã kết thúc."))])
    errors = _end_problems(training.started_on, ended_on, result, today)
    errors += _certificate_problems(result, _text(certificate_number))
    _raise(errors)
    training.ended_on, training.result = ended_on, result.value
    training.certificate_number = _text(certificate_number) or None
    _finish(case, "training_ended", actor, context, result=result.value)


# --- Consents -------------------------------------------------------------------------------


def give_consent(
    case: Case,
    *,
    purpose: ConsentPurpose,
    given_on: date,
    with_representative: bool,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> Consent:
    """Record a consent for one purpose (Law 91/2025/QH15: sensitive personal data)."""
    _check_open(case)
    errors = _day_problems(given_on, "given_on", today, case)
    rule_set = rule_set_on(given_on)
    adult_age = rules_of(rule_set).adult_age
    if _age_on(case, given_on) < adult_age and not with_representative:
        errors.append(
            FieldError(
                "with_representative",
                _(
                    "Người dưới %(n)d tuổi: cần cả sự đồng ý của người đại diện hợp pháp.",
                    n=adult_age,
                ),
            )
        )
    earlier = next(
        (c for c in load_steps(case).consents if c.purpose == purpose and c.withdrawn_on is None),
        None,
    )
    if earlier is not None:
        errors.append(
            FieldError(
                "purpose",
                _(
                    "Đã có sự đồng ý cho mục đích này từ ngày %(day)s, chưa rút lại.",
                    day=format_day(earlier.given_on),
                ),
            )
        )
    _raise(errors)
    consent = Consent(
        case_id=case.id,
        **_rule_columns(rule_set),
        purpose=purpose.value,
        given_on=given_on,
        with_representative=with_representative,
        recorded_by_id=actor.id,
    )
    db.session.add(consent)
    _finish(case, "consent_given", actor, context, purpose=purpose.value)
    return consent


def withdraw_consent(
    case: Case,
    consent: Consent,
    *,
    withdrawn_on: date,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Record the withdrawal of a consent: from that day it no longer covers anything new."""
    _check_open(case)
    if consent.withdrawn_on is not None:
        raise InvalidInputError([FieldError(None, _("Sự đồng ý này đã được rút lại."))])
    errors = []
    if withdrawn_on < consent.given_on:
        errors.append(
            FieldError(
                "withdrawn_on",
                _("Ngày rút lại phải từ ngày đồng ý (%(day)s).", day=format_day(consent.given_on)),
            )
        )
    if withdrawn_on > today:
        errors.append(FieldError("withdrawn_on", _("Ngày không được ở tương lai.")))
    _raise(errors)
    consent.withdrawn_on = withdrawn_on
    _finish(case, "consent_withdrawn", actor, context, purpose=consent.purpose)


# --- Jobs -----------------------------------------------------------------------------------


@dataclass
class JobStart:
    sector: JobSector
    employer_kind: EmployerKind
    started_on: date
    contract_type: ContractType
    income_band: IncomeBand
    employer_name: str | None = None
    employer_contacted: bool = False


def place_job(
    case: Case,
    data: JobStart,
    *,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> JobPlacement:
    """Record a job placement; contacting the employer needs an employer-contact consent."""
    _check_open(case)
    errors = _day_problems(data.started_on, "started_on", today, case)
    employer = _text(data.employer_name)
    self_employed = data.employer_kind is EmployerKind.SELF_EMPLOYED
    if len(employer) > TEXT_MAX:
        errors.append(FieldError("employer_name", _("Không được dài quá %(n)d ký tự.", n=TEXT_MAX)))
    if self_employed and data.contract_type is not ContractType.NONE:
        errors.append(FieldError("contract_type", _("Tự làm: không có hợp đồng lao động.")))
    consent = None
    if data.employer_contacted:
        if self_employed:
            errors.append(
                FieldError(
                    "employer_contacted", _("Tự làm: không có người sử dụng lao động để liên hệ.")
                )
            )
        if not employer:
            errors.append(
                FieldError("employer_name", _("Nhập tên người sử dụng lao động đã liên hệ."))
            )
        consent = load_steps(case).active_consent(ConsentPurpose.EMPLOYER_CONTACT, data.started_on)
        if consent is None:
            errors.append(
                FieldError(
                    "employer_contacted",
                    _(
                        "Liên hệ người sử dụng lao động cần sự đồng ý (mục đích: liên hệ người "
                        "sử dụng lao động) còn hiệu lực vào ngày bắt đầu việc làm."
                    ),
                )
            )
    _raise(errors)
    job = JobPlacement(
        case_id=case.id,
        uuid=str(uuid.uuid4()),  # before the employer's name: its ciphertext is bound to it
        **_rule_columns(rule_set_on(data.started_on)),
        sector=data.sector.value,
        employer_kind=data.employer_kind.value,
        started_on=data.started_on,
        contract_type=data.contract_type.value,
        income_band=data.income_band.value,
        employer_contacted=data.employer_contacted,
        consent_id=consent.id if consent is not None else None,
        recorded_by_id=actor.id,
    )
    job.employer_name = employer or None
    db.session.add(job)
    db.session.flush()
    _finish(
        case,
        "job_placed",
        actor,
        context,
        job=job.id,
        sector=job.sector,
        employer_kind=job.employer_kind,
        contract_type=job.contract_type,
    )
    return job


def end_job(
    case: Case,
    job: JobPlacement,
    *,
    ended_on: date,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Record the last day of a job."""
    _check_open(case)
    if job.ended_on is not None:
        raise InvalidInputError([FieldError(None, _("Việc làm này đã kết thúc."))])
    errors = []
    if ended_on < job.started_on:
        errors.append(FieldError("ended_on", _("Ngày kết thúc phải sau ngày bắt đầu.")))
    if ended_on > today:
        errors.append(FieldError("ended_on", _("Ngày không được ở tương lai.")))
    confirmed = [c.checked_on for c in job.checks if c.still_employed and c.checked_on > ended_on]
    if confirmed:
        errors.append(
            FieldError(
                "ended_on",
                _(
                    "Đã xác nhận còn làm việc ngày %(day)s, sau ngày này.",
                    day=format_day(max(confirmed)),
                ),
            )
        )
    _raise(errors)
    job.ended_on = ended_on
    _finish(case, "job_ended", actor, context, job=job.id)


def record_job_check(
    case: Case,
    job: JobPlacement,
    *,
    checked_on: date,
    still_employed: bool,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> JobCheck:
    """Record a follow-up of a job: is the youth still employed? (The stable-job rule reads
    these; the follow-up scheduler will create them through this same service.)"""
    _check_open(case)
    errors = _day_problems(checked_on, "checked_on", today, case)
    if checked_on < job.started_on:
        errors.append(
            FieldError(
                "checked_on",
                _(
                    "Ngày xác nhận phải từ ngày bắt đầu việc làm (%(day)s).",
                    day=format_day(job.started_on),
                ),
            )
        )
    if job.ended_on is not None and checked_on > job.ended_on:
        errors.append(
            FieldError(
                "checked_on",
                _("Việc làm này đã kết thúc ngày %(day)s.", day=format_day(job.ended_on)),
            )
        )
    elif job.left_on is not None and checked_on > job.left_on:
        errors.append(
            FieldError(
                "checked_on",
                _(
                    "Lần theo dõi ngày %(day)s đã ghi không còn làm việc: "
                    "nếu có việc làm mới, hãy ghi việc làm mới.",
                    day=format_day(job.left_on),
                ),
            )
        )
    if any(c.checked_on == checked_on for c in job.checks):
        errors.append(FieldError("checked_on", _("Đã có lần xác nhận ngày này.")))
    _raise(errors)
    check = JobCheck(
        case_id=case.id,
        **_rule_columns(rule_set_on(checked_on)),
        checked_on=checked_on,
        still_employed=still_employed,
        recorded_by_id=actor.id,
    )
    job.checks.append(check)  # keeps the loaded collection current for the rule below
    db.session.flush()
    _finish(case, "job_check", actor, context, job=job.id, still_employed=still_employed)
    return check


# --- Social-bank loans ----------------------------------------------------------------------


def loan_window(steps: CaseSteps, rules: Rules, day: date) -> tuple[date, date] | None:
    """The loan window open on ``day``: from the latest post-rehab management decision up to
    and including the same day ``loan_window_years`` later (Civil Code 2015, Art. 147–148: a
    period in years ends on the corresponding day of its last year). None without a decision."""
    starts = [p.started_on for p in steps.post_rehab if p.started_on <= day]
    if not starts:
        return None
    start = max(starts)
    return start, add_months(start, 12 * rules.loan_window_years)


def loan_eligibility(
    case: Case,
    steps: CaseSteps,
    *,
    programme: LoanProgramme,
    referred_on: date,
    amount_requested_vnd: int,
    on_police_list: bool,
    rules: Rules,
) -> list[FieldError]:
    """Every condition a referral fails (empty when eligible), each named exactly."""
    errors: list[FieldError] = []
    available_from = PROGRAMME_FROM.get(programme.value)
    if available_from is not None and referred_on < available_from:
        errors.append(
            FieldError(
                "programme",
                _(
                    "Quyết định 08/2026/QĐ-TTg chỉ áp dụng cho giới thiệu từ ngày %(day)s.",
                    day=format_day(available_from),
                ),
            )
        )
    if programme.value in PROGRAMMES_NEEDING_POLICE_LIST and not on_police_list:
        errors.append(
            FieldError(
                "on_police_list",
                _(
                    "Quyết định 08/2026/QĐ-TTg: người vay phải có tên trong danh sách do Công an "
                    "cấp xã lập, Ủy ban nhân dân cấp xã xác nhận."
                ),
            )
        )
    age = _age_on(case, referred_on)
    if age < rules.loan_min_age:
        errors.append(
            FieldError(
                None,
                _(
                    "Người vay phải từ đủ %(n)d tuổi vào ngày giới thiệu (khi đó %(age)d tuổi).",
                    n=rules.loan_min_age,
                    age=age,
                ),
            )
        )
    after_rehab = any(
        e.outcome == RehabOutcome.COMPLETED
        and e.approved_at is not None
        and e.ended_on is not None
        and e.ended_on <= referred_on
        for e in steps.episodes
    )
    methadone = any(
        e.form == RehabForm.METHADONE and e.started_on <= referred_on for e in steps.episodes
    )
    if not (after_rehab or methadone):
        errors.append(
            FieldError(
                None,
                _(
                    "Chỉ giới thiệu vay sau khi hoàn thành cai nghiện (đã được phê duyệt) "
                    "hoặc đã điều trị methadone."
                ),
            )
        )
    window = loan_window(steps, rules, referred_on)
    if window is None:
        errors.append(
            FieldError(
                None,
                _(
                    "Chưa có quyết định quản lý sau cai nghiện trước ngày giới thiệu: "
                    "không tính được thời hạn %(n)d năm.",
                    n=rules.loan_window_years,
                ),
            )
        )
    elif referred_on > window[1]:
        errors.append(
            FieldError(
                "referred_on",
                _(
                    "Đã quá %(n)d năm kể từ quyết định quản lý sau cai nghiện ngày %(start)s "
                    "(hết hạn ngày %(end)s).",
                    n=rules.loan_window_years,
                    start=format_day(window[0]),
                    end=format_day(window[1]),
                ),
            )
        )
    if amount_requested_vnd <= 0:
        errors.append(FieldError("amount_requested_vnd", _("Số tiền phải lớn hơn 0.")))
    elif amount_requested_vnd > rules.loan_max_vnd:
        errors.append(
            FieldError(
                "amount_requested_vnd",
                _("Mức vay tối đa là %(max)s đồng.", max=_money(rules.loan_max_vnd)),
            )
        )
    if steps.active_consent(ConsentPurpose.LOAN_REFERRAL, referred_on) is None:
        errors.append(
            FieldError(
                None,
                _("Cần sự đồng ý (mục đích: giới thiệu vay vốn) còn hiệu lực vào ngày giới thiệu."),
            )
        )
    return errors


def refer_loan(
    case: Case,
    *,
    programme: LoanProgramme,
    referred_on: date,
    amount_requested_vnd: int,
    on_police_list: bool,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> LoanReferral:
    """Refer the youth for a social-bank loan, after checking eligibility (DESIGN §4)."""
    _check_open(case)
    errors = _day_problems(referred_on, "referred_on", today, case)
    rule_set = rule_set_on(referred_on)
    steps = load_steps(case)
    errors += loan_eligibility(
        case,
        steps,
        programme=programme,
        referred_on=referred_on,
        amount_requested_vnd=amount_requested_vnd,
        on_police_list=on_police_list,
        rules=rules_of(rule_set),
    )
    if any(
        loan.programme == programme and loan.next_statuses for loan in steps.loans
    ):  # a referral still in progress
        errors.append(
            FieldError("programme", _("Đang có một khoản vay của chương trình này chưa kết thúc."))
        )
    _raise(errors)
    consent = steps.active_consent(ConsentPurpose.LOAN_REFERRAL, referred_on)
    assert consent is not None  # noqa: S101 -- loan_eligibility refused otherwise
    loan = LoanReferral(
        case_id=case.id,
        **_rule_columns(rule_set),
        programme=programme.value,
        referred_on=referred_on,
        on_police_list=on_police_list,
        consent_id=consent.id,
        status=LoanStatus.REFERRAL.value,
        amount_requested_vnd=amount_requested_vnd,
        recorded_by_id=actor.id,
    )
    db.session.add(loan)
    db.session.flush()
    _finish(case, "loan_referred", actor, context, loan=loan.id, programme=programme.value)
    return loan


def advance_loan(
    case: Case,
    loan: LoanReferral,
    *,
    to: LoanStatus,
    dated_on: date,
    amount_vnd: int | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Move a loan one step: referral → application → approved | refused → disbursed."""
    _check_open(case)
    # Two people recording the bank's answer at once: the second waits, then sees the first.
    db.session.refresh(loan, with_for_update=True)
    current = LoanStatus(loan.status)
    if to not in loan.next_statuses:
        raise InvalidInputError(
            [
                FieldError(
                    None,
                    _(
                        "Không thể chuyển từ “%(current)s” sang “%(to)s”: thứ tự là giới thiệu → "
                        "nộp hồ sơ → được phê duyệt hoặc bị từ chối → giải ngân.",
                        current=LOAN_STATUS_LABELS[current],
                        to=LOAN_STATUS_LABELS[to],
                    ),
                )
            ]
        )
    errors = []
    if dated_on < loan.status_on:
        errors.append(
            FieldError(
                "dated_on",
                _(
                    "Ngày này phải từ ngày của bước trước (%(day)s).",
                    day=format_day(loan.status_on),
                ),
            )
        )
    if dated_on > today:
        errors.append(FieldError("dated_on", _("Ngày không được ở tương lai.")))
    if to is LoanStatus.APPLICATION and (
        load_steps(case).active_consent(ConsentPurpose.LOAN_REFERRAL, dated_on) is None
    ):
        errors.append(
            FieldError(
                None,
                _(
                    "Sự đồng ý giới thiệu vay vốn không còn hiệu lực vào ngày này: "
                    "không thể chuyển hồ sơ vay."
                ),
            )
        )
    if to in (LoanStatus.APPROVED, LoanStatus.DISBURSED):
        errors += _amount_problems(loan, to, amount_vnd)
    _raise(errors)
    if to is LoanStatus.APPLICATION:
        loan.applied_on = dated_on
    elif to in (LoanStatus.APPROVED, LoanStatus.REFUSED):
        loan.decided_on = dated_on
        loan.amount_approved_vnd = amount_vnd if to is LoanStatus.APPROVED else None
    else:
        loan.disbursed_on, loan.amount_disbursed_vnd = dated_on, amount_vnd
    loan.status = to.value
    _finish(case, f"loan_{to.value}", actor, context, loan=loan.id, programme=loan.programme)


def _amount_problems(loan: LoanReferral, to: LoanStatus, amount: int | None) -> list[FieldError]:
    if amount is None:
        return [FieldError("amount_vnd", _("Nhập số tiền."))]
    if amount <= 0:
        return [FieldError("amount_vnd", _("Số tiền phải lớn hơn 0."))]
    if to is LoanStatus.APPROVED:
        ceiling = min(
            loan.amount_requested_vnd, Rules.from_params(loan.rules_snapshot).loan_max_vnd
        )
        if amount > ceiling:
            return [
                FieldError(
                    "amount_vnd",
                    _(
                        "Số tiền được duyệt không được vượt số tiền đề nghị và mức tối đa "
                        "(%(max)s đồng).",
                        max=_money(ceiling),
                    ),
                )
            ]
    elif loan.amount_approved_vnd is not None and amount > loan.amount_approved_vnd:
        return [
            FieldError(
                "amount_vnd",
                _(
                    "Số tiền giải ngân không được vượt số tiền được duyệt (%(max)s đồng).",
                    max=_money(loan.amount_approved_vnd),
                ),
            )
        ]
    return []


# --- Relapse --------------------------------------------------------------------------------


def record_relapse(
    case: Case,
    *,
    relapsed_on: date,
    substances: list[DrugType],
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> RelapseEvent:
    """Record a relapse: its date and substance categories, no free text."""
    _check_open(case)
    errors = _day_problems(relapsed_on, "relapsed_on", today, case)
    if not substances:
        errors.append(FieldError("substances", _("Chọn ít nhất một loại chất (hoặc “Loại khác”).")))
    steps = load_steps(case)
    in_rehab = any(
        e.form != RehabForm.METHADONE
        and e.started_on <= relapsed_on
        and (e.ended_on is None or relapsed_on <= e.ended_on)
        for e in steps.episodes
    )
    if in_rehab:
        errors.append(
            FieldError(
                "relapsed_on",
                _(
                    "Ngày này đang trong đợt cai nghiện: ghi kết quả đợt cai là "
                    "“Sử dụng ma túy trong thời gian cai”."
                ),
            )
        )
    if any(r.relapsed_on == relapsed_on for r in steps.relapses):
        errors.append(FieldError("relapsed_on", _("Đã ghi tái nghiện ngày này.")))
    _raise(errors)
    during = steps.period_on(relapsed_on) is not None
    relapse = RelapseEvent(
        case_id=case.id,
        **_rule_columns(rule_set_on(relapsed_on)),
        relapsed_on=relapsed_on,
        during_post_rehab=during,
        substances=[RelapseSubstance(drug_type=d.value) for d in sorted(set(substances))],
        recorded_by_id=actor.id,
    )
    db.session.add(relapse)
    _finish(case, "relapse", actor, context, during_post_rehab=during)
    return relapse


# --- Reintegration --------------------------------------------------------------------------


def certify_reintegration(
    case: Case,
    *,
    certified_on: date,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> ReintegrationCertification:
    """An officer certifies reintegration when the stable-job rule holds on ``certified_on``."""
    _check_open(case)
    if not authz.can(actor, authz.Action.APPROVE_STEPS, case.commune_code):
        raise InvalidInputError(
            [FieldError(None, _("Chỉ cán bộ phụ trách được chứng nhận tái hòa nhập cộng đồng."))]
        )
    errors = _day_problems(certified_on, "certified_on", today, case)
    steps = load_steps(case)
    standing = steps.standing_certification
    if standing is not None:
        errors.append(
            FieldError(
                None,
                _(
                    "Đã chứng nhận tái hòa nhập cộng đồng ngày %(day)s.",
                    day=format_day(standing.certified_on),
                ),
            )
        )
    rule_set = rule_set_on(certified_on)
    found = stable_job(steps.jobs, steps.relapses, rules_of(rule_set), certified_on)
    if not found.met:
        errors.append(
            FieldError(
                None,
                _(
                    "Chưa đủ điều kiện việc làm ổn định: %(n)d tháng liên tục được xác nhận, "
                    "không tái nghiện (%(rules)s).",
                    n=found.required_months,
                    rules=rule_set.name,
                ),
            )
        )
        errors += [FieldError(None, reason) for reason in found.reasons()]
    _raise(errors)
    assert found.job is not None  # noqa: S101 -- the rule holds, so it found a job
    certification = ReintegrationCertification(
        case_id=case.id,
        **_rule_columns(rule_set),
        certified_on=certified_on,
        certified_by_id=actor.id,
        job_id=found.job.id,
        months_confirmed=found.months,
        recorded_by_id=actor.id,
    )
    db.session.add(certification)
    _finish(
        case,
        "reintegration_certified",
        actor,
        context,
        job=found.job.id,
        months=found.months,
    )
    return certification


def ready_for_reintegration(
    visible_ids: sa.Select[Any], today: date
) -> list[tuple[Case, StableJob]]:
    """Open cases among ``visible_ids`` whose stable-job rule holds today and which are not yet
    certified: the officer's queue (a bounded number of queries, whatever the number of cases)."""
    rules = rules_on(today)
    if rules is None:
        return []
    cases = list(
        db.session.scalars(
            sa.select(Case)
            .where(
                Case.id.in_(visible_ids),
                Case.status == Status.OPEN.value,
                Case.phase != Phase.REINTEGRATED.value,
                Case.id.in_(sa.select(JobPlacement.case_id).where(JobPlacement.ended_on.is_(None))),
            )
            .order_by(Case.code)
        )
    )
    ids = [c.id for c in cases]
    jobs: dict[int, list[JobPlacement]] = {}
    relapses: dict[int, list[RelapseEvent]] = {}
    if ids:
        for job in db.session.scalars(sa.select(JobPlacement).where(JobPlacement.case_id.in_(ids))):
            jobs.setdefault(job.case_id, []).append(job)
        for relapse in db.session.scalars(
            sa.select(RelapseEvent).where(RelapseEvent.case_id.in_(ids))
        ):
            relapses.setdefault(relapse.case_id, []).append(relapse)
    ready = []
    for case in cases:
        found = stable_job(jobs.get(case.id, []), relapses.get(case.id, []), rules, today)
        if found.met:
            ready.append((case, found))
    return ready
