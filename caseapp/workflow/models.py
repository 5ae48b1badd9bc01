"""Rule sets and the records of each workflow step. Step rows hold no identity: plain facts for
the indicators, with the rule set each decision was made under. The one exception, an employer's
name, is encrypted like the case's identity."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.cases.models import DrugType
from caseapp.crypto import EncryptedField
from caseapp.db import UTCDateTime, allowed_values, utcnow
from caseapp.extensions import Model
from caseapp.users.models import User

TEXT_MAX = 200
REFERENCE_MAX = 64


class RuleSet(Model):
    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    legal_basis: Mapped[str] = mapped_column(sa.Text)
    effective_from: Mapped[date] = mapped_column(sa.Date)
    effective_to: Mapped[date | None] = mapped_column(sa.Date)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 -- SQLAlchemy's convention

    def __repr__(self) -> str:
        return f"<RuleSet {self.code}>"


class RuleSetRevision(Model):
    """The history of administrators' changes to a rule set (parameters only)."""

    __tablename__ = "rule_set_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_set_id: Mapped[int] = mapped_column(sa.ForeignKey("rule_sets.id"), index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    before: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class ScreeningSource(StrEnum):
    SCHOOL = "school"
    POLICE = "police"
    FAMILY = "family"
    SELF = "self"
    HEALTH = "health"
    OTHER = "other"


class ScreeningMethod(StrEnum):
    DRUG_TEST = "drug_test"
    INTERVIEW = "interview"
    QUESTIONNAIRE = "questionnaire"


class ScreeningResult(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    INCONCLUSIVE = "inconclusive"


class CounsellingKind(StrEnum):
    INDIVIDUAL = "individual"
    FAMILY = "family"
    GROUP = "group"


class CounsellingTopic(StrEnum):
    BEHAVIOUR_CHANGE = "behaviour_change"
    RELAPSE_PREVENTION = "relapse_prevention"
    FAMILY = "family"
    HEALTH = "health"
    LEGAL = "legal"
    CAREER = "career"


class RehabForm(StrEnum):
    VOLUNTARY_COMMUNITY = "voluntary_community"
    VOLUNTARY_FACILITY = "voluntary_facility"
    COMPULSORY = "compulsory"
    METHADONE = "methadone"


class RehabOutcome(StrEnum):
    COMPLETED = "completed"
    QUIT = "quit"
    USED_DURING = "used_during"
    TRANSFERRED = "transferred"


SOURCE_LABELS = {
    ScreeningSource.SCHOOL: _l("Nhà trường"),
    ScreeningSource.POLICE: _l("Công an"),
    ScreeningSource.FAMILY: _l("Gia đình"),
    ScreeningSource.SELF: _l("Tự khai báo"),
    ScreeningSource.HEALTH: _l("Cơ sở y tế"),
    ScreeningSource.OTHER: _l("Khác"),
}
METHOD_LABELS = {
    ScreeningMethod.DRUG_TEST: _l("Xét nghiệm chất ma túy trong cơ thể"),
    ScreeningMethod.INTERVIEW: _l("Phỏng vấn"),
    ScreeningMethod.QUESTIONNAIRE: _l("Bảng hỏi sàng lọc"),
}
RESULT_LABELS = {
    ScreeningResult.POSITIVE: _l("Dương tính / có sử dụng"),
    ScreeningResult.NEGATIVE: _l("Âm tính / không sử dụng"),
    ScreeningResult.INCONCLUSIVE: _l("Chưa kết luận"),
}
COUNSELLING_KIND_LABELS = {
    CounsellingKind.INDIVIDUAL: _l("Cá nhân"),
    CounsellingKind.FAMILY: _l("Gia đình"),
    CounsellingKind.GROUP: _l("Nhóm"),
}
TOPIC_LABELS = {
    CounsellingTopic.BEHAVIOUR_CHANGE: _l("Giáo dục thay đổi hành vi"),
    CounsellingTopic.RELAPSE_PREVENTION: _l("Phòng, chống tái nghiện"),
    CounsellingTopic.FAMILY: _l("Hỗ trợ gia đình"),
    CounsellingTopic.HEALTH: _l("Sức khỏe"),
    CounsellingTopic.LEGAL: _l("Pháp luật"),
    CounsellingTopic.CAREER: _l("Học tập, nghề nghiệp"),
}
REHAB_FORM_LABELS = {
    RehabForm.VOLUNTARY_COMMUNITY: _l("Cai nghiện tự nguyện tại gia đình, cộng đồng"),
    RehabForm.VOLUNTARY_FACILITY: _l("Cai nghiện tự nguyện tại cơ sở cai nghiện"),
    RehabForm.COMPULSORY: _l("Cai nghiện ma túy bắt buộc"),
    RehabForm.METHADONE: _l("Điều trị thay thế bằng methadone"),
}
OUTCOME_LABELS = {
    RehabOutcome.COMPLETED: _l("Hoàn thành"),
    RehabOutcome.QUIT: _l("Bỏ dở"),
    RehabOutcome.USED_DURING: _l("Sử dụng ma túy trong thời gian cai"),
    RehabOutcome.TRANSFERRED: _l("Chuyển hình thức hoặc nơi cai"),
}
STAGE_LABELS = {
    1: _l("Tiếp nhận, phân loại"),
    2: _l("Điều trị cắt cơn, giải độc"),
    3: _l("Giáo dục, tư vấn, phục hồi hành vi"),
    4: _l("Lao động trị liệu, học nghề"),
    5: _l("Chuẩn bị tái hòa nhập cộng đồng"),
}


class _StepMixin:
    """Columns every step record has."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    rule_set_id: Mapped[int] = mapped_column(sa.ForeignKey("rule_sets.id"))
    # The parameters in force when the step was recorded: editing a rule set later never
    # changes a past decision.
    rules_snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Screening(_StepMixin, Model):
    __tablename__ = "screenings"

    screened_on: Mapped[date] = mapped_column(sa.Date)
    source: Mapped[str] = mapped_column(sa.String(16))
    method: Mapped[str] = mapped_column(sa.String(16))
    result: Mapped[str] = mapped_column(sa.String(16))

    __table_args__ = (
        allowed_values("source", ScreeningSource),
        allowed_values("method", ScreeningMethod),
        allowed_values("result", ScreeningResult),
    )


class AddictionDetermination(_StepMixin, Model):
    __tablename__ = "addiction_determinations"

    determined_on: Mapped[date] = mapped_column(sa.Date)
    facility: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    is_addicted: Mapped[bool] = mapped_column(sa.Boolean)
    form_reference: Mapped[str | None] = mapped_column(sa.String(REFERENCE_MAX))
    register_by: Mapped[date | None] = mapped_column(sa.Date)


class CounsellingSession(_StepMixin, Model):
    __tablename__ = "counselling_sessions"

    held_on: Mapped[date] = mapped_column(sa.Date)
    kind: Mapped[str] = mapped_column(sa.String(16))
    topic: Mapped[str] = mapped_column(sa.String(24))
    counsellor: Mapped[str] = mapped_column(sa.String(TEXT_MAX))

    __table_args__ = (
        allowed_values("kind", CounsellingKind),
        allowed_values("topic", CounsellingTopic),
    )


class RehabEpisode(_StepMixin, Model):
    __tablename__ = "rehab_episodes"

    form: Mapped[str] = mapped_column(sa.String(24))
    started_on: Mapped[date] = mapped_column(sa.Date)
    months: Mapped[int | None] = mapped_column(sa.Integer)
    planned_end_on: Mapped[date | None] = mapped_column(sa.Date)
    court_decision_number: Mapped[str | None] = mapped_column(sa.String(REFERENCE_MAX))
    court_decision_on: Mapped[date | None] = mapped_column(sa.Date)
    representative_consent: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    stage: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    certificate_number: Mapped[str | None] = mapped_column(sa.String(REFERENCE_MAX))
    # Who recorded the end: the officer who approves must be someone else (four eyes).
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rule_set: Mapped[RuleSet] = relationship(lazy="joined")

    __table_args__ = (
        allowed_values("form", RehabForm),
        sa.CheckConstraint("stage BETWEEN 1 AND 5", name="stage_range"),
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="end_after_start"),
    )

    @property
    def is_active(self) -> bool:
        return self.ended_on is None


class PostRehabPeriod(_StepMixin, Model):
    __tablename__ = "post_rehab_periods"

    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("rehab_episodes.id"))
    started_on: Mapped[date] = mapped_column(sa.Date)
    planned_end_on: Mapped[date] = mapped_column(sa.Date)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    certificate_number: Mapped[str | None] = mapped_column(sa.String(REFERENCE_MAX))
    # Who recorded the end: the officer who approves must be someone else (four eyes).
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rule_set: Mapped[RuleSet] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="end_after_start"),
    )


# --- Support after rehab (issue 4, second half): school, training, jobs, loans, consents, relapse,
# reintegration. Rows stay free of identity except the employer's name, which is encrypted.

# Schooling (học văn hóa) is recorded for minors from this age; the upper bound is the rule set's
# adult age. 12 is the plan's youngest youth (cases.models.AGE_MIN) and the law's.
SCHOOLING_MIN_AGE = 12


class SchoolLevel(StrEnum):
    PRIMARY = "primary"
    LOWER_SECONDARY = "lower_secondary"
    UPPER_SECONDARY = "upper_secondary"
    CONTINUING = "continuing"


class StudyResult(StrEnum):
    """The result of schooling or of a vocational course."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DROPPED = "dropped"


class JobSector(StrEnum):
    AGRICULTURE = "agriculture"
    CRAFT = "craft"
    MANUFACTURING = "manufacturing"
    CONSTRUCTION = "construction"
    TRADE = "trade"
    TRANSPORT = "transport"
    SERVICES = "services"
    OTHER = "other"


class EmployerKind(StrEnum):
    HOUSEHOLD_BUSINESS = "household_business"
    ENTERPRISE = "enterprise"
    COOPERATIVE = "cooperative"
    SELF_EMPLOYED = "self_employed"
    PUBLIC = "public"


class ContractType(StrEnum):
    NONE = "none"
    SHORT = "short"
    LONG = "long"
    INDEFINITE = "indefinite"


class IncomeBand(StrEnum):
    UNDER_3M = "under_3m"
    FROM_3M = "3m_5m"
    FROM_5M = "5m_8m"
    FROM_8M = "8m_plus"
    UNKNOWN = "unknown"


class ConsentPurpose(StrEnum):
    EMPLOYER_CONTACT = "employer_contact"
    LOAN_REFERRAL = "loan_referral"
    FACILITY_SHARING = "facility_sharing"


class LoanProgramme(StrEnum):
    DECISION_08_2026 = "decision_08_2026"
    NATIONAL_EMPLOYMENT_FUND = "national_employment_fund"
    YOUTH_STARTUP = "youth_startup"


class LoanStatus(StrEnum):
    REFERRAL = "referral"
    APPLICATION = "application"
    APPROVED = "approved"
    REFUSED = "refused"
    DISBURSED = "disbursed"


# The only order a loan moves in: referral → application → approved | refused → disbursed.
LOAN_TRANSITIONS: dict[LoanStatus, tuple[LoanStatus, ...]] = {
    LoanStatus.REFERRAL: (LoanStatus.APPLICATION,),
    LoanStatus.APPLICATION: (LoanStatus.APPROVED, LoanStatus.REFUSED),
    LoanStatus.APPROVED: (LoanStatus.DISBURSED,),
    LoanStatus.REFUSED: (),
    LoanStatus.DISBURSED: (),
}

SCHOOL_LEVEL_LABELS = {
    SchoolLevel.PRIMARY: _l("Tiểu học"),
    SchoolLevel.LOWER_SECONDARY: _l("Trung học cơ sở"),
    SchoolLevel.UPPER_SECONDARY: _l("Trung học phổ thông"),
    SchoolLevel.CONTINUING: _l("Giáo dục thường xuyên"),
}
STUDY_RESULT_LABELS = {
    StudyResult.IN_PROGRESS: _l("Đang học"),
    StudyResult.COMPLETED: _l("Hoàn thành"),
    StudyResult.DROPPED: _l("Bỏ học giữa chừng"),
}
SECTOR_LABELS = {
    JobSector.AGRICULTURE: _l("Nông, lâm nghiệp, thủy sản"),
    JobSector.CRAFT: _l("Tiểu thủ công nghiệp, làng nghề"),
    JobSector.MANUFACTURING: _l("Công nghiệp chế biến, chế tạo"),
    JobSector.CONSTRUCTION: _l("Xây dựng"),
    JobSector.TRADE: _l("Thương mại, bán hàng"),
    JobSector.TRANSPORT: _l("Vận tải, giao hàng"),
    JobSector.SERVICES: _l("Dịch vụ (ăn uống, sửa chữa, làm đẹp...)"),
    JobSector.OTHER: _l("Ngành khác"),
}
EMPLOYER_KIND_LABELS = {
    EmployerKind.HOUSEHOLD_BUSINESS: _l("Hộ kinh doanh"),
    EmployerKind.ENTERPRISE: _l("Doanh nghiệp"),
    EmployerKind.COOPERATIVE: _l("Hợp tác xã"),
    EmployerKind.SELF_EMPLOYED: _l("Tự làm"),
    EmployerKind.PUBLIC: _l("Cơ quan, đơn vị nhà nước"),
}
CONTRACT_LABELS = {
    ContractType.NONE: _l("Không có hợp đồng lao động"),
    ContractType.SHORT: _l("Hợp đồng dưới 12 tháng"),
    ContractType.LONG: _l("Hợp đồng xác định thời hạn từ 12 đến 36 tháng"),
    ContractType.INDEFINITE: _l("Hợp đồng không xác định thời hạn"),
}
INCOME_LABELS = {
    IncomeBand.UNDER_3M: _l("Dưới 3 triệu đồng/tháng"),
    IncomeBand.FROM_3M: _l("Từ 3 đến dưới 5 triệu đồng/tháng"),
    IncomeBand.FROM_5M: _l("Từ 5 đến dưới 8 triệu đồng/tháng"),
    IncomeBand.FROM_8M: _l("Từ 8 triệu đồng/tháng trở lên"),
    IncomeBand.UNKNOWN: _l("Chưa rõ"),
}
CONSENT_PURPOSE_LABELS = {
    ConsentPurpose.EMPLOYER_CONTACT: _l("Liên hệ người sử dụng lao động"),
    ConsentPurpose.LOAN_REFERRAL: _l("Giới thiệu vay vốn"),
    ConsentPurpose.FACILITY_SHARING: _l("Chia sẻ thông tin với cơ sở cai nghiện, cơ sở y tế"),
}
LOAN_PROGRAMME_LABELS = {
    LoanProgramme.DECISION_08_2026: _l("Quyết định 08/2026/QĐ-TTg (người sau cai nghiện)"),
    LoanProgramme.NATIONAL_EMPLOYMENT_FUND: _l("Quỹ quốc gia về việc làm"),
    LoanProgramme.YOUTH_STARTUP: _l("Thanh niên khởi nghiệp"),
}
LOAN_STATUS_LABELS = {
    LoanStatus.REFERRAL: _l("Đã giới thiệu"),
    LoanStatus.APPLICATION: _l("Đã nộp hồ sơ vay"),
    LoanStatus.APPROVED: _l("Được phê duyệt"),
    LoanStatus.REFUSED: _l("Bị từ chối"),
    LoanStatus.DISBURSED: _l("Đã giải ngân"),
}


class Schooling(_StepMixin, Model):
    """Schooling (học văn hóa) of a youth aged 12 to under 18."""

    __tablename__ = "schoolings"

    level: Mapped[str] = mapped_column(sa.String(16))
    started_on: Mapped[date] = mapped_column(sa.Date)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    result: Mapped[str] = mapped_column(sa.String(16))

    __table_args__ = (
        allowed_values("level", SchoolLevel),
        allowed_values("result", StudyResult),
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="end_after_start"),
    )


class VocationalTraining(_StepMixin, Model):
    """A vocational course (đào tạo nghề): provider and course are organisations, not people."""

    __tablename__ = "vocational_trainings"

    course_name: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    provider: Mapped[str] = mapped_column(sa.String(TEXT_MAX))
    started_on: Mapped[date] = mapped_column(sa.Date)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    result: Mapped[str] = mapped_column(sa.String(16))
    certificate_number: Mapped[str | None] = mapped_column(sa.String(REFERENCE_MAX))

    __table_args__ = (
        allowed_values("result", StudyResult),
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="end_after_start"),
    )


class Consent(_StepMixin, Model):
    """Consent for one purpose (Law 91/2025: drug use is sensitive data), dated and withdrawable."""

    __tablename__ = "consents"

    purpose: Mapped[str] = mapped_column(sa.String(24))
    given_on: Mapped[date] = mapped_column(sa.Date)
    with_representative: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    withdrawn_on: Mapped[date | None] = mapped_column(sa.Date)

    __table_args__ = (
        allowed_values("purpose", ConsentPurpose),
        sa.CheckConstraint(
            "withdrawn_on IS NULL OR withdrawn_on >= given_on", name="withdrawn_after_given"
        ),
    )

    def is_active_on(self, day: date) -> bool:
        """In force on ``day``: a withdrawal takes effect on its own date."""
        return self.given_on <= day and (self.withdrawn_on is None or day < self.withdrawn_on)


class JobPlacement(_StepMixin, Model):
    """A job (giới thiệu việc làm); the employer's name is encrypted, bound to this row's UUID."""

    __tablename__ = "job_placements"

    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    sector: Mapped[str] = mapped_column(sa.String(16))
    employer_kind: Mapped[str] = mapped_column(sa.String(24))
    started_on: Mapped[date] = mapped_column(sa.Date)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    contract_type: Mapped[str] = mapped_column(sa.String(16))
    income_band: Mapped[str] = mapped_column(sa.String(16))
    # The worker contacts the employer about the youth: only with an employer-contact consent.
    employer_contacted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    consent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consents.id"))
    employer_name_ct: Mapped[str | None] = mapped_column(sa.Text)

    employer_name = EncryptedField("employer_name_ct")

    checks: Mapped[list[JobCheck]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="JobCheck.checked_on"
    )

    __table_args__ = (
        allowed_values("sector", JobSector),
        allowed_values("employer_kind", EmployerKind),
        allowed_values("contract_type", ContractType),
        allowed_values("income_band", IncomeBand),
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="end_after_start"),
    )

    def __repr__(self) -> str:
        return f"<JobPlacement {self.id}>"

    @property
    def left_on(self) -> date | None:
        """The first follow-up that found the youth no longer employed, if any."""
        return next((c.checked_on for c in self.checks if not c.still_employed), None)

    @property
    def is_current(self) -> bool:
        return self.ended_on is None and self.left_on is None


class JobCheck(_StepMixin, Model):
    """A follow-up confirming (or not) that the youth still holds the job."""

    __tablename__ = "job_checks"

    job_id: Mapped[int] = mapped_column(
        sa.ForeignKey("job_placements.id", ondelete="CASCADE"), index=True
    )
    checked_on: Mapped[date] = mapped_column(sa.Date)
    still_employed: Mapped[bool] = mapped_column(sa.Boolean)

    __table_args__ = (sa.UniqueConstraint("job_id", "checked_on", name="uq_job_checks_job_day"),)


class LoanReferral(_StepMixin, Model):
    """A social-bank loan referral and its progress; amounts in whole đồng."""

    __tablename__ = "loan_referrals"

    programme: Mapped[str] = mapped_column(sa.String(32))
    referred_on: Mapped[date] = mapped_column(sa.Date)
    # Decision 08/2026: on the commune police's list, certified by the commune People's Committee.
    on_police_list: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    consent_id: Mapped[int] = mapped_column(sa.ForeignKey("consents.id"))
    status: Mapped[str] = mapped_column(sa.String(16), default=LoanStatus.REFERRAL.value)
    amount_requested_vnd: Mapped[int] = mapped_column(sa.BigInteger)
    applied_on: Mapped[date | None] = mapped_column(sa.Date)
    decided_on: Mapped[date | None] = mapped_column(sa.Date)
    amount_approved_vnd: Mapped[int | None] = mapped_column(sa.BigInteger)
    disbursed_on: Mapped[date | None] = mapped_column(sa.Date)
    amount_disbursed_vnd: Mapped[int | None] = mapped_column(sa.BigInteger)

    __table_args__ = (
        allowed_values("programme", LoanProgramme),
        allowed_values("status", LoanStatus),
        sa.CheckConstraint("amount_requested_vnd > 0", name="requested_positive"),
        sa.CheckConstraint(
            "amount_approved_vnd IS NULL OR "
            "(amount_approved_vnd > 0 AND amount_approved_vnd <= amount_requested_vnd)",
            name="approved_range",
        ),
        sa.CheckConstraint(
            "amount_disbursed_vnd IS NULL OR "
            "(amount_disbursed_vnd > 0 AND amount_disbursed_vnd <= amount_approved_vnd)",
            name="disbursed_range",
        ),
    )

    @property
    def next_statuses(self) -> tuple[LoanStatus, ...]:
        return LOAN_TRANSITIONS[LoanStatus(self.status)]

    @property
    def status_on(self) -> date:
        """The date of the latest transition."""
        return self.disbursed_on or self.decided_on or self.applied_on or self.referred_on


class RelapseEvent(_StepMixin, Model):
    """A relapse (tái nghiện, tái sử dụng): the date and substance categories, no free text."""

    __tablename__ = "relapse_events"

    relapsed_on: Mapped[date] = mapped_column(sa.Date)
    during_post_rehab: Mapped[bool] = mapped_column(sa.Boolean, default=False)

    substances: Mapped[list[RelapseSubstance]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="RelapseSubstance.drug_type"
    )


class RelapseSubstance(Model):
    __tablename__ = "relapse_substances"

    relapse_id: Mapped[int] = mapped_column(
        sa.ForeignKey("relapse_events.id", ondelete="CASCADE"), primary_key=True
    )
    drug_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)

    __table_args__ = (allowed_values("drug_type", DrugType),)


class ReintegrationCertification(_StepMixin, Model):
    """An officer certifies reintegration with a stable job (DESIGN §5, indicator 3)."""

    __tablename__ = "reintegration_certifications"

    certified_on: Mapped[date] = mapped_column(sa.Date)
    certified_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("job_placements.id"))
    # What the stable-job rule saw: months confirmed without a break, up to the certification.
    months_confirmed: Mapped[int] = mapped_column(sa.SmallInteger)

    certified_by: Mapped[User] = relationship(foreign_keys=[certified_by_id], lazy="joined")
