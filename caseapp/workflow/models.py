"""Rule sets and the records of each workflow step. Step rows hold no identity: plain facts for
the indicators, with the rule set each decision was made under."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import UTCDateTime, utcnow
from caseapp.extensions import Model

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


def _allowed(column: str, values: type[StrEnum]) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"{column} IN ({', '.join(repr(v.value) for v in values)})", name=f"{column}_allowed"
    )


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
        _allowed("source", ScreeningSource),
        _allowed("method", ScreeningMethod),
        _allowed("result", ScreeningResult),
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

    __table_args__ = (_allowed("kind", CounsellingKind), _allowed("topic", CounsellingTopic))


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
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rule_set: Mapped[RuleSet] = relationship(lazy="joined")

    __table_args__ = (
        _allowed("form", RehabForm),
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
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rule_set: Mapped[RuleSet] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="end_after_start"),
    )
