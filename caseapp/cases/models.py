"""The case file: plain fields for statistics, encrypted identity, a timeline, duplicate pairs.

Identity (name, date of birth, CCCD, phone, address, guardian, notes) is encrypted per value with
AES-256-GCM bound to this table, column and the case's UUID; keyed blind indexes on the normalised
CCCD and on name + date of birth find duplicates without decrypting anything.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.crypto import EncryptedDateField, EncryptedField
from caseapp.db import UTCDateTime, allowed_values, utcnow
from caseapp.extensions import Model
from caseapp.geo.models import Commune
from caseapp.users.models import User

NAME_MAX = 100
ADDRESS_MAX = 255
RELATION_MAX = 50
NOTES_MAX = 4000
REASON_MAX = 500
AGE_MIN, AGE_MAX = 12, 30  # the plan's youth: 12 to 30 at intake


class Category(StrEnum):
    USER = "user"
    ADDICTED = "addicted"
    IN_REHAB = "in_rehab"
    POST_REHAB = "post_rehab"
    POST_PRISON = "post_prison"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Phase(StrEnum):
    INTAKE = "intake"
    SCREENING = "screening"
    ASSESSMENT = "assessment"
    TREATMENT = "treatment"
    POST_REHAB = "post_rehab"
    SUPPORT = "support"
    REINTEGRATED = "reintegrated"


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CloseReason(StrEnum):
    REINTEGRATED = "reintegrated"
    MOVED_AWAY = "moved_away"
    AGED_OUT = "aged_out"
    DECEASED = "deceased"
    MERGED = "merged"
    OTHER = "other"


class Education(StrEnum):
    NONE = "none"
    PRIMARY = "primary"
    LOWER_SECONDARY = "lower_secondary"
    UPPER_SECONDARY = "upper_secondary"
    VOCATIONAL = "vocational"
    HIGHER = "higher"


class Occupation(StrEnum):
    STUDENT = "student"
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    OTHER = "other"


class DrugType(StrEnum):
    OPIOIDS = "opioids"
    METHAMPHETAMINE = "methamphetamine"
    ECSTASY = "ecstasy"
    CANNABIS = "cannabis"
    KETAMINE = "ketamine"
    SYNTHETIC_CANNABINOIDS = "synthetic_cannabinoids"
    NITROUS_OXIDE = "nitrous_oxide"
    OTHER = "other"


CATEGORY_LABELS = {
    Category.USER: _l("Người sử dụng trái phép chất ma túy"),
    Category.ADDICTED: _l("Người nghiện ma túy"),
    Category.IN_REHAB: _l("Đang cai nghiện ma túy"),
    Category.POST_REHAB: _l("Người sau cai nghiện ma túy"),
    Category.POST_PRISON: _l("Người chấp hành xong án phạt tù về tội phạm ma túy"),
}
CATEGORY_SHORT = {
    Category.USER: _l("Sử dụng"),
    Category.ADDICTED: _l("Nghiện"),
    Category.IN_REHAB: _l("Đang cai"),
    Category.POST_REHAB: _l("Sau cai"),
    Category.POST_PRISON: _l("Sau chấp hành án"),
}
SEX_LABELS = {Sex.MALE: _l("Nam"), Sex.FEMALE: _l("Nữ")}
PHASE_LABELS = {
    Phase.INTAKE: _l("Tiếp nhận"),
    Phase.SCREENING: _l("Sàng lọc"),
    Phase.ASSESSMENT: _l("Xác định tình trạng nghiện"),
    Phase.TREATMENT: _l("Điều trị, cai nghiện"),
    Phase.POST_REHAB: _l("Quản lý sau cai nghiện"),
    Phase.SUPPORT: _l("Học tập, học nghề, việc làm"),
    Phase.REINTEGRATED: _l("Tái hòa nhập cộng đồng"),
}
STATUS_LABELS = {Status.OPEN: _l("Đang quản lý"), Status.CLOSED: _l("Đã đóng")}
CLOSE_REASON_LABELS = {
    CloseReason.REINTEGRATED: _l("Đã tái hòa nhập cộng đồng"),
    CloseReason.MOVED_AWAY: _l("Chuyển đi nơi khác"),
    CloseReason.AGED_OUT: _l("Quá độ tuổi thanh niên"),
    CloseReason.DECEASED: _l("Đã mất"),
    CloseReason.MERGED: _l("Trùng, đã gộp vào hồ sơ khác"),
    CloseReason.OTHER: _l("Lý do khác"),
}
EDUCATION_LABELS = {
    Education.NONE: _l("Chưa đi học"),
    Education.PRIMARY: _l("Tiểu học"),
    Education.LOWER_SECONDARY: _l("Trung học cơ sở"),
    Education.UPPER_SECONDARY: _l("Trung học phổ thông"),
    Education.VOCATIONAL: _l("Trung cấp, cao đẳng nghề"),
    Education.HIGHER: _l("Cao đẳng, đại học trở lên"),
}
OCCUPATION_LABELS = {
    Occupation.STUDENT: _l("Đang đi học"),
    Occupation.EMPLOYED: _l("Có việc làm"),
    Occupation.SELF_EMPLOYED: _l("Tự kinh doanh, làm nông"),
    Occupation.UNEMPLOYED: _l("Không có việc làm"),
    Occupation.OTHER: _l("Khác"),
}
DRUG_LABELS = {
    DrugType.OPIOIDS: _l("Chất dạng thuốc phiện (heroin...)"),
    DrugType.METHAMPHETAMINE: _l("Ma túy đá (methamphetamine)"),
    DrugType.ECSTASY: _l("Thuốc lắc (MDMA)"),
    DrugType.CANNABIS: _l("Cần sa"),
    DrugType.KETAMINE: _l("Ketamine"),
    DrugType.SYNTHETIC_CANNABINOIDS: _l("Cần sa tổng hợp, thuốc lá điện tử chứa ma túy"),
    DrugType.NITROUS_OXIDE: _l("Khí cười (N₂O)"),
    DrugType.OTHER: _l("Loại khác"),
}


class Case(Model):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(
        sa.String(36), unique=True, default=lambda: str(uuid_module.uuid4())
    )
    code: Mapped[str] = mapped_column(sa.String(9), unique=True)
    commune_code: Mapped[int] = mapped_column(sa.ForeignKey("communes.code"), index=True)
    assigned_worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    category: Mapped[str] = mapped_column(sa.String(16))
    # The category the worker declared (intake or edit); ``category`` follows the recorded steps.
    # Reports read a past day's category from the steps dated up to it, then from this.
    declared_category: Mapped[str] = mapped_column(sa.String(16))
    phase: Mapped[str] = mapped_column(sa.String(16), default=Phase.INTAKE.value)
    status: Mapped[str] = mapped_column(sa.String(8), default=Status.OPEN.value, index=True)
    close_reason: Mapped[str | None] = mapped_column(sa.String(16))
    sex: Mapped[str] = mapped_column(sa.String(8))
    birth_year: Mapped[int] = mapped_column(sa.SmallInteger)
    intake_on: Mapped[date] = mapped_column(sa.Date)
    education: Mapped[str | None] = mapped_column(sa.String(16))
    occupation: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The earliest due date among the case's next steps (kept by the workflow); None when closed.
    next_due_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)

    # Encrypted identity: ciphertext columns, read and written through the fields below.
    # Identity is erased (NULL) once the file is anonymised; until then the services require it.
    full_name_ct: Mapped[str | None] = mapped_column(sa.Text)
    date_of_birth_ct: Mapped[str | None] = mapped_column(sa.Text)
    national_id_ct: Mapped[str | None] = mapped_column(sa.Text)
    phone_ct: Mapped[str | None] = mapped_column(sa.Text)
    address_ct: Mapped[str | None] = mapped_column(sa.Text)
    guardian_name_ct: Mapped[str | None] = mapped_column(sa.Text)
    guardian_relation_ct: Mapped[str | None] = mapped_column(sa.Text)
    guardian_phone_ct: Mapped[str | None] = mapped_column(sa.Text)
    notes_ct: Mapped[str | None] = mapped_column(sa.Text)
    # Keyed blind indexes (HMAC): exact look-up and duplicate detection, nothing else.
    national_id_bidx: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    name_dob_bidx: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Retention (ASVS 14.2.7): a closed file is anonymised RETENTION_YEARS after its closure,
    # unless a legal hold stops it. The hold's reason is free text, so it is encrypted.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    legal_hold_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    legal_hold_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    legal_hold_reason_ct: Mapped[str | None] = mapped_column(sa.Text)

    full_name = EncryptedField("full_name_ct")
    date_of_birth = EncryptedDateField("date_of_birth_ct")
    national_id = EncryptedField("national_id_ct")
    phone = EncryptedField("phone_ct")
    address = EncryptedField("address_ct")
    guardian_name = EncryptedField("guardian_name_ct")
    guardian_relation = EncryptedField("guardian_relation_ct")
    guardian_phone = EncryptedField("guardian_phone_ct")
    notes = EncryptedField("notes_ct")
    legal_hold_reason = EncryptedField("legal_hold_reason_ct")

    commune: Mapped[Commune] = relationship(lazy="joined", innerjoin=True)
    assigned_worker: Mapped[User | None] = relationship(
        lazy="joined", foreign_keys=[assigned_worker_id]
    )
    legal_hold_by: Mapped[User | None] = relationship(foreign_keys=[legal_hold_by_id])
    drug_types: Mapped[list[CaseDrugType]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CaseDrugType.drug_type"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 -- SQLAlchemy's own convention
    __table_args__ = (
        allowed_values("category", Category),
        allowed_values("declared_category", Category),
        allowed_values("phase", Phase),
        allowed_values("status", Status),
        allowed_values("sex", Sex),
        sa.CheckConstraint("birth_year BETWEEN 1900 AND 2100", name="birth_year_range"),
        sa.Index("ix_cases_commune_status", "commune_code", "status"),
        # Lists, newest first, a page at a time; status and next due date in the index too, so
        # "open and overdue" is checked on the index entries while walking it, not row by row.
        sa.Index("ix_cases_newest", "created_at", "id", "status", "next_due_on"),
        sa.Index("ix_cases_status_due", "status", "next_due_on"),  # overdue: found and counted
        sa.Index("ix_cases_retention", "status", "closed_at"),
    )

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None

    @property
    def is_on_legal_hold(self) -> bool:
        return self.legal_hold_at is not None

    def age_on(self, day: date) -> int:
        """Age in whole years on ``day`` (decrypts the date of birth)."""
        born = self.date_of_birth
        if born is None:
            return day.year - self.birth_year
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def __repr__(self) -> str:
        return f"<Case {self.code}>"


class CaseDrugType(Model):
    __tablename__ = "case_drug_types"

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    drug_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)

    __table_args__ = (allowed_values("drug_type", DrugType),)


class CaseEvent(Model):
    """The case timeline: what happened, when, by whom; field names and codes, never values."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column(sa.Integer)  # the case's version after the event
    details: Mapped[dict[str, object]] = mapped_column(sa.JSON, default=dict)

    actor: Mapped[User | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<CaseEvent {self.id} {self.kind}>"


class DuplicateStatus(StrEnum):
    OPEN = "open"
    DISMISSED = "dismissed"
    MERGED = "merged"


class DuplicateMatch(StrEnum):
    NATIONAL_ID = "national_id"
    NAME_DOB = "name_dob"


class DuplicatePair(Model):
    """Two case files that may be the same person (matched by blind index), for officers."""

    __tablename__ = "case_duplicates"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_a_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    case_b_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    matched_on: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default=DuplicateStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    case_a: Mapped[Case] = relationship(foreign_keys=[case_a_id])
    case_b: Mapped[Case] = relationship(foreign_keys=[case_b_id])

    __table_args__ = (
        sa.UniqueConstraint("case_a_id", "case_b_id", name="uq_case_duplicates_pair"),
        sa.CheckConstraint("case_a_id < case_b_id", name="ordered_pair"),
        allowed_values("status", DuplicateStatus),
        sa.Index("ix_case_duplicates_status", "status"),
    )

    def __repr__(self) -> str:
        return f"<DuplicatePair {self.case_a_id}~{self.case_b_id}>"


EVENT_LABELS = {
    "created": _l("Mở hồ sơ"),
    "imported": _l("Nhập từ tệp"),
    "updated": _l("Cập nhật hồ sơ"),
    "duplicate_flagged": _l("Phát hiện hồ sơ có thể trùng"),
    "transferred": _l("Chuyển xã, phường"),
    "assigned": _l("Giao cán bộ phụ trách"),
    "closed": _l("Đóng hồ sơ"),
    "reopened": _l("Mở lại hồ sơ"),
    "merged": _l("Gộp hồ sơ trùng vào hồ sơ này"),
    "merged_into": _l("Gộp vào hồ sơ khác"),
    "screening": _l("Sàng lọc"),
    "determination": _l("Xác định tình trạng nghiện"),
    "counselling": _l("Tư vấn"),
    "rehab_started": _l("Bắt đầu cai nghiện, điều trị"),
    "rehab_stage": _l("Chuyển giai đoạn cai nghiện"),
    "rehab_ended": _l("Kết thúc đợt cai nghiện"),
    "rehab_approved": _l("Phê duyệt hoàn thành cai nghiện"),
    "post_rehab_started": _l("Bắt đầu quản lý sau cai"),
    "post_rehab_ended": _l("Kết thúc quản lý sau cai"),
    "post_rehab_approved": _l("Phê duyệt hoàn thành quản lý sau cai"),
    "schooling": _l("Học văn hóa"),
    "schooling_ended": _l("Kết thúc học văn hóa"),
    "training": _l("Đào tạo nghề"),
    "training_ended": _l("Kết thúc khóa học nghề"),
    "job_placed": _l("Giới thiệu việc làm"),
    "job_ended": _l("Nghỉ việc"),
    "job_check": _l("Theo dõi việc làm"),
    "consent_given": _l("Ghi sự đồng ý"),
    "consent_withdrawn": _l("Rút lại sự đồng ý"),
    "loan_referred": _l("Giới thiệu vay vốn"),
    "loan_application": _l("Nộp hồ sơ vay vốn"),
    "loan_approved": _l("Khoản vay được phê duyệt"),
    "loan_refused": _l("Khoản vay bị từ chối"),
    "loan_disbursed": _l("Giải ngân khoản vay"),
    "relapse": _l("Tái nghiện, tái sử dụng"),
    "reintegration_certified": _l("Chứng nhận tái hòa nhập cộng đồng"),
    "follow_up_recorded": _l("Ghi kết quả lần theo dõi"),
    "follow_up_rescheduled": _l("Hẹn lại lần theo dõi"),
    "follow_up_added": _l("Đặt lịch hẹn theo dõi"),
    "follow_up_cancelled": _l("Hủy lịch hẹn theo dõi"),
    "legal_hold_set": _l("Đặt lệnh giữ hồ sơ"),
    "legal_hold_lifted": _l("Gỡ lệnh giữ hồ sơ"),
    "anonymised": _l("Ẩn danh hồ sơ (hết thời hạn lưu trữ)"),
}
FIELD_LABELS = {
    "full_name": _l("Họ và tên"),
    "date_of_birth": _l("Ngày sinh"),
    "sex": _l("Giới tính"),
    "national_id": _l("Số CCCD"),
    "phone": _l("Số điện thoại"),
    "address": _l("Nơi ở hiện tại"),
    "guardian_name": _l("Người giám hộ"),
    "guardian_relation": _l("Quan hệ với người giám hộ"),
    "guardian_phone": _l("Số điện thoại người giám hộ"),
    "notes": _l("Ghi chú"),
    "commune_code": _l("Xã, phường"),
    "category": _l("Đối tượng"),
    "education": _l("Trình độ học vấn"),
    "occupation": _l("Tình trạng việc làm"),
    "drug_types": _l("Loại ma túy"),
    "assigned_worker_id": _l("Cán bộ được giao"),
    "intake_on": _l("Ngày tiếp nhận"),
}
