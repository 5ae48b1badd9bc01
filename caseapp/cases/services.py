"""Opening, changing, moving and closing case files. Services flush; the request commits once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from flask_babel import gettext as _

from caseapp import audit, authz
from caseapp.cases import codes
from caseapp.cases.models import (
    ADDRESS_MAX,
    AGE_MAX,
    AGE_MIN,
    NAME_MAX,
    NOTES_MAX,
    REASON_MAX,
    RELATION_MAX,
    Case,
    CaseDrugType,
    CaseEvent,
    Category,
    CloseReason,
    DrugType,
    DuplicateMatch,
    DuplicatePair,
    DuplicateStatus,
    Education,
    Occupation,
    Sex,
    Status,
)
from caseapp.cases.validation import check_cccd, check_phone, clean_text, parse_day
from caseapp.crypto import blind_index, name_dob_key, normalise_cccd
from caseapp.db import utcnow
from caseapp.errors import ConflictError, FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.users.models import Role, User

T = TypeVar("T")
ADULT_AGE = 18
# Fields whose change is recorded by name on the timeline and in the audit trail.
TRACKED = (
    "full_name", "date_of_birth", "sex", "national_id", "phone", "address", "guardian_name",
    "guardian_relation", "guardian_phone", "notes", "commune_code", "category", "education",
    "occupation", "drug_types", "assigned_worker_id", "intake_on",
)  # fmt: skip


@dataclass
class CaseInput:
    """What a person typed, as text (the form checks shape; ``check_input`` the rules)."""

    full_name: str = ""
    date_of_birth: str = ""
    sex: str = ""
    national_id: str = ""
    phone: str = ""
    address: str = ""
    guardian_name: str = ""
    guardian_relation: str = ""
    guardian_phone: str = ""
    notes: str = ""
    commune_code: int | None = None
    category: str = ""
    education: str = ""
    occupation: str = ""
    drug_types: list[str] = field(default_factory=list)
    assigned_worker_id: int | None = None
    intake_on: str = ""


@dataclass
class CaseData:
    """Checked values, ready to store."""

    full_name: str
    date_of_birth: date
    sex: Sex
    national_id: str | None
    phone: str | None
    address: str | None
    guardian_name: str | None
    guardian_relation: str | None
    guardian_phone: str | None
    notes: str | None
    commune_code: int
    category: Category
    education: Education | None
    occupation: Occupation | None
    drug_types: list[DrugType]
    assigned_worker_id: int | None
    intake_on: date


def _enum(kind: type, raw: str, name: str, errors: list[FieldError], *, optional: bool = False):  # type: ignore[no-untyped-def]
    if optional and not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        errors.append(FieldError(name, _("Hãy chọn một mục trong danh sách.")))
        return None


def check_input(data: CaseInput, *, actor: User, today: date) -> CaseData:
    """Every rule of a case file, all problems reported at once (``InvalidInputError``)."""
    errors: list[FieldError] = []

    def attempt(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return call(*args, **kwargs)
        except FieldError as exc:
            errors.append(exc)
            return None

    full_name = attempt(clean_text, data.full_name, "full_name", NAME_MAX)
    if full_name is not None and not full_name:
        errors.append(FieldError("full_name", _("Nhập họ và tên.")))
    sex = _enum(Sex, data.sex, "sex", errors)
    if not data.date_of_birth.strip():
        errors.append(FieldError("date_of_birth", _("Nhập ngày sinh.")))
        born = None
    else:
        born = attempt(parse_day, data.date_of_birth, "date_of_birth")
    intake = attempt(parse_day, data.intake_on, "intake_on") if data.intake_on else today
    if intake is not None and intake > today:
        errors.append(FieldError("intake_on", _("Ngày tiếp nhận không được ở tương lai.")))
    age = None
    if born is not None:
        if born > today:
            errors.append(FieldError("date_of_birth", _("Ngày sinh không được ở tương lai.")))
        elif intake is not None:
            age = intake.year - born.year - ((intake.month, intake.day) < (born.month, born.day))
            if not AGE_MIN <= age <= AGE_MAX:
                errors.append(
                    FieldError(
                        "date_of_birth",
                        _(
                            "Tuổi khi tiếp nhận là %(age)d: hồ sơ chỉ dành cho thanh, thiếu niên "
                            "từ %(min)d đến %(max)d tuổi.",
                            age=age,
                            min=AGE_MIN,
                            max=AGE_MAX,
                        ),
                    )
                )
    national_id = None
    if data.national_id.strip():
        if born is not None and sex is not None:
            national_id = attempt(check_cccd, data.national_id, born, sex)
        elif not normalise_cccd(data.national_id).isdigit():
            errors.append(FieldError("national_id", _("Số CCCD phải gồm đúng 12 chữ số.")))
    phone = attempt(check_phone, data.phone, "phone") if data.phone.strip() else None
    address = attempt(clean_text, data.address, "address", ADDRESS_MAX)
    guardian_name = attempt(clean_text, data.guardian_name, "guardian_name", NAME_MAX)
    guardian_relation = attempt(
        clean_text, data.guardian_relation, "guardian_relation", RELATION_MAX
    )
    guardian_phone = (
        attempt(check_phone, data.guardian_phone, "guardian_phone")
        if data.guardian_phone.strip()
        else None
    )
    if age is not None and age < ADULT_AGE and not guardian_name:
        errors.append(
            FieldError(
                "guardian_name",
                _("Người dưới 18 tuổi cần có người đại diện hợp pháp: nhập họ tên người giám hộ."),
            )
        )
    notes = attempt(clean_text, data.notes, "notes", NOTES_MAX, multiline=True)
    category = _enum(Category, data.category, "category", errors)
    education = _enum(Education, data.education, "education", errors, optional=True)
    occupation = _enum(Occupation, data.occupation, "occupation", errors, optional=True)
    drugs: list[DrugType] = []
    for raw in dict.fromkeys(data.drug_types):
        drug = _enum(DrugType, raw, "drug_types", errors)
        if drug is not None:
            drugs.append(drug)

    commune = db.session.get(Commune, data.commune_code) if data.commune_code else None
    if commune is None or not authz.can(actor, authz.Action.EDIT_CASES, commune.code):
        errors.append(FieldError("commune_code", _("Chọn một xã, phường trong phạm vi của bạn.")))
    worker_id = data.assigned_worker_id
    if worker_id is not None and commune is not None:
        worker = db.session.get(User, worker_id)
        if (
            worker is None
            or worker.role != Role.WORKER
            or not worker.is_enabled
            or not authz.in_scope(worker, commune.code)
        ):
            errors.append(
                FieldError("assigned_worker_id", _("Cán bộ được giao phải phụ trách xã này."))
            )
    if errors:
        raise InvalidInputError(errors)
    # Every None below was reported as an error above; these narrow the types for mypy.
    assert full_name is not None  # noqa: S101
    assert born is not None  # noqa: S101
    assert sex is not None  # noqa: S101
    assert category is not None  # noqa: S101
    assert intake is not None  # noqa: S101
    assert commune is not None  # noqa: S101
    return CaseData(
        full_name=full_name,
        date_of_birth=born,
        sex=sex,
        national_id=national_id,
        phone=phone,
        address=address or None,
        guardian_name=guardian_name or None,
        guardian_relation=guardian_relation or None,
        guardian_phone=guardian_phone,
        notes=notes or None,
        commune_code=commune.code,
        category=category,
        education=education,
        occupation=occupation,
        drug_types=drugs,
        assigned_worker_id=worker_id,
        intake_on=intake,
    )


def _snapshot(case: Case) -> dict[str, object]:
    return {
        "full_name": case.full_name,
        "date_of_birth": case.date_of_birth,
        "sex": case.sex,
        "national_id": case.national_id,
        "phone": case.phone,
        "address": case.address,
        "guardian_name": case.guardian_name,
        "guardian_relation": case.guardian_relation,
        "guardian_phone": case.guardian_phone,
        "notes": case.notes,
        "commune_code": case.commune_code,
        "category": case.category,
        "education": case.education,
        "occupation": case.occupation,
        "drug_types": sorted(d.drug_type for d in case.drug_types),
        "assigned_worker_id": case.assigned_worker_id,
        "intake_on": case.intake_on,
    }


def apply_case_data(case: Case, data: CaseData) -> None:
    """Copy checked values onto a case: encrypted fields, blind indexes, plain statistics."""
    case.full_name = data.full_name
    case.date_of_birth = data.date_of_birth
    case.birth_year = data.date_of_birth.year
    case.sex = data.sex.value
    case.national_id = data.national_id
    case.phone = data.phone
    case.address = data.address
    case.guardian_name = data.guardian_name
    case.guardian_relation = data.guardian_relation
    case.guardian_phone = data.guardian_phone
    case.notes = data.notes
    case.commune_code = data.commune_code
    case.category = data.category.value
    case.declared_category = data.category.value
    case.education = data.education.value if data.education else None
    case.occupation = data.occupation.value if data.occupation else None
    wanted = {d.value for d in data.drug_types}
    case.drug_types = [d for d in case.drug_types if d.drug_type in wanted] + [
        CaseDrugType(drug_type=d) for d in sorted(wanted - {d.drug_type for d in case.drug_types})
    ]
    case.assigned_worker_id = data.assigned_worker_id
    case.intake_on = data.intake_on
    case.national_id_bidx = (
        blind_index("cases.national_id", data.national_id) if data.national_id else None
    )
    case.name_dob_bidx = blind_index(
        "cases.name_dob", name_dob_key(data.full_name, data.date_of_birth)
    )


def record_event(case: Case, kind: str, *, actor: User | None, **details: object) -> CaseEvent:
    """Add a timeline entry (ids, codes and field names only)."""
    event = CaseEvent(
        case_id=case.id,
        kind=kind,
        actor_id=actor.id if actor else None,
        version=case.version,
        details=details,
    )
    db.session.add(event)
    return event


def _unique_code() -> str:
    while True:
        code = codes.new_code()
        if db.session.scalar(sa.select(Case.id).where(Case.code == code)) is None:
            return code


def flag_duplicates(case: Case) -> int:
    """Pair the case with every other file sharing a blind index, in any commune."""
    matches: list[tuple[int, DuplicateMatch]] = []
    if case.national_id_bidx:
        matches += [
            (other, DuplicateMatch.NATIONAL_ID)
            for other in db.session.scalars(
                sa.select(Case.id).where(
                    Case.national_id_bidx == case.national_id_bidx, Case.id != case.id
                )
            )
        ]
    matches += [
        (other, DuplicateMatch.NAME_DOB)
        for other in db.session.scalars(
            sa.select(Case.id).where(Case.name_dob_bidx == case.name_dob_bidx, Case.id != case.id)
        )
    ]
    created = 0
    for other, matched_on in dict(reversed(matches)).items():  # CCCD wins when both match
        first, second = sorted((case.id, other))
        exists = db.session.scalar(
            sa.select(DuplicatePair.id).where(
                DuplicatePair.case_a_id == first, DuplicatePair.case_b_id == second
            )
        )
        if exists is None:
            db.session.add(
                DuplicatePair(case_a_id=first, case_b_id=second, matched_on=matched_on.value)
            )
            created += 1
    db.session.flush()
    return created


def create_case(
    data: CaseData,
    *,
    actor: User,
    context: audit.AuditContext | None = None,
    event_kind: str = "created",
) -> tuple[Case, int]:
    """Open a case file; returns it and how many possible duplicates were found elsewhere."""
    # The UUID is set now: encrypted fields bind their ciphertext to it.
    case = Case(code=_unique_code(), uuid=str(uuid.uuid4()), status=Status.OPEN.value)
    db.session.add(case)
    apply_case_data(case, data)
    db.session.flush()
    record_event(case, event_kind, actor=actor, commune=case.commune_code)
    duplicates = flag_duplicates(case)
    if duplicates:
        record_event(case, "duplicate_flagged", actor=actor, count=duplicates)
    audit.record(
        "case_created",
        actor=actor,
        target_type="case",
        target_id=case.id,
        details={"commune": case.commune_code, "duplicates": duplicates},
        context=context,
    )
    return case, duplicates


def update_case(
    case: Case,
    data: CaseData,
    *,
    expected_version: int,
    actor: User,
    context: audit.AuditContext | None = None,
) -> list[str]:
    """Save an edit made on ``expected_version``; a newer save in between is a ConflictError."""
    if case.anonymised_at is not None:  # the views refuse first (authz); this holds for all callers
        raise FieldError(None, _("Hồ sơ đã được ẩn danh: không thể sửa đổi."))
    if case.version != expected_version:
        raise ConflictError(case.version, changed_since(case, expected_version))
    moves = data.commune_code != case.commune_code or (
        data.assigned_worker_id != case.assigned_worker_id
    )
    if moves and not authz.can(actor, authz.Action.REASSIGN_CASES, case.commune_code):
        # Transfer and assignment are the officer's steps, with their own events.
        raise InvalidInputError(
            [FieldError("commune_code", _("Chỉ cán bộ phụ trách được chuyển hoặc giao hồ sơ."))]
        )
    before = _snapshot(case)
    apply_case_data(case, data)
    after = _snapshot(case)
    changed = [name for name in TRACKED if before[name] != after[name]]
    if not changed:
        return []
    from caseapp.workflow.services import derive, load_steps, refresh_next_due

    steps = load_steps(case)
    derive(case, steps)  # the category and phase follow the recorded steps, not the form
    refresh_next_due(case, steps)
    db.session.flush()  # bumps the version, or raises StaleDataError on a race
    record_event(case, "updated", actor=actor, fields=changed)
    duplicates = 0
    if {"full_name", "date_of_birth", "national_id"} & set(changed):
        duplicates = flag_duplicates(case)
        if duplicates:
            record_event(case, "duplicate_flagged", actor=actor, count=duplicates)
    audit.record(
        "case_updated",
        actor=actor,
        target_type="case",
        target_id=case.id,
        details={"fields": changed, "duplicates": duplicates},
        context=context,
    )
    return changed


def changed_since(case: Case, version: int) -> list[str]:
    """Names of the fields changed by saves after ``version`` (from the timeline)."""
    fields: list[str] = []
    for details in db.session.scalars(
        sa.select(CaseEvent.details)
        .where(CaseEvent.case_id == case.id, CaseEvent.version > version)
        .order_by(CaseEvent.id)
    ):
        names = details.get("fields") if isinstance(details, dict) else None
        for name in names if isinstance(names, list) else []:
            if str(name) not in fields:
                fields.append(str(name))
    return fields


def transfer_case(
    case: Case,
    commune_code: int,
    reason: str,
    *,
    actor: User,
    context: audit.AuditContext | None = None,
) -> None:
    """Move a file to another commune (the youth moved); its worker assignment is cleared."""
    reason = clean_text(reason, "reason", REASON_MAX)
    if not reason:
        raise FieldError("reason", _("Nhập lý do chuyển hồ sơ."))
    commune = db.session.get(Commune, commune_code)
    if commune is None or not authz.can(actor, authz.Action.REASSIGN_CASES, commune.code):
        raise FieldError("commune_code", _("Chọn một xã, phường trong phạm vi của bạn."))
    if commune.code == case.commune_code:
        raise FieldError("commune_code", _("Hồ sơ đang ở xã, phường này."))
    previous = case.commune_code
    case.commune_code = commune.code
    case.assigned_worker_id = None
    from caseapp.followups import plans  # follow-ups build on case files

    plans.note_transfer(case, actor)
    db.session.flush()
    record_event(case, "transferred", actor=actor, from_commune=previous, to_commune=commune.code)
    audit.record(
        "case_transferred",
        actor=actor,
        target_type="case",
        target_id=case.id,
        details={"from": previous, "to": commune.code},
        context=context,
    )


def close_case(
    case: Case,
    reason: CloseReason,
    note: str,
    *,
    actor: User,
    context: audit.AuditContext | None = None,
) -> None:
    """Close an open file with a reason."""
    if case.status == Status.CLOSED:
        raise FieldError(None, _("Hồ sơ đã đóng."))
    note = clean_text(note, "note", REASON_MAX)
    if reason is CloseReason.OTHER and not note:
        raise FieldError("note", _("Ghi rõ lý do khác."))
    case.status = Status.CLOSED.value
    case.close_reason = reason.value
    case.closed_at = utcnow()
    case.next_due_on = None
    from caseapp.followups import plans  # follow-ups build on case files

    plans.sync_case(case, None, actor=actor)
    db.session.flush()
    record_event(case, "closed", actor=actor, reason=reason.value)
    audit.record(
        "case_closed",
        actor=actor,
        target_type="case",
        target_id=case.id,
        details={"reason": reason.value},
        context=context,
    )


def reopen_case(
    case: Case, note: str, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """Reopen a closed file; the reason is required."""
    if case.status == Status.OPEN:
        raise FieldError(None, _("Hồ sơ đang mở."))
    note = clean_text(note, "note", REASON_MAX)
    if not note:
        raise FieldError("note", _("Nhập lý do mở lại hồ sơ."))
    case.status = Status.OPEN.value
    case.close_reason = None
    case.closed_at = None
    from caseapp.followups import plans  # the workflow and follow-ups build on case files
    from caseapp.workflow.services import load_steps, refresh_next_due

    steps = load_steps(case)
    plans.sync_case(case, steps, actor=actor)
    refresh_next_due(case, steps)
    db.session.flush()
    record_event(case, "reopened", actor=actor)
    audit.record(
        "case_reopened", actor=actor, target_type="case", target_id=case.id, context=context
    )


def resolve_duplicate(
    pair: DuplicatePair,
    *,
    merge_into: Case | None,
    actor: User,
    context: audit.AuditContext | None = None,
) -> None:
    """Dismiss a pair (not the same person), or merge: close the other file into ``merge_into``."""
    if pair.status != DuplicateStatus.OPEN:
        raise FieldError(None, _("Cặp hồ sơ này đã được xử lý."))
    pair.resolved_at = utcnow()
    pair.resolved_by_id = actor.id
    if merge_into is None:
        pair.status = DuplicateStatus.DISMISSED.value
        audit.record(
            "duplicate_dismissed",
            actor=actor,
            target_type="duplicate",
            target_id=pair.id,
            context=context,
        )
        db.session.flush()
        return
    other = pair.case_b if merge_into.id == pair.case_a_id else pair.case_a
    pair.status = DuplicateStatus.MERGED.value
    kept = {d.drug_type for d in merge_into.drug_types}
    merge_into.drug_types += [
        CaseDrugType(drug_type=d.drug_type) for d in other.drug_types if d.drug_type not in kept
    ]
    if other.status == Status.OPEN:
        other.status = Status.CLOSED.value
        other.close_reason = CloseReason.MERGED.value
        other.closed_at = utcnow()
        other.next_due_on = None
        from caseapp.followups import plans  # follow-ups build on case files

        plans.sync_case(other, None, actor=actor)
    db.session.flush()
    record_event(merge_into, "merged", actor=actor, absorbed=other.code)
    record_event(other, "merged_into", actor=actor, kept=merge_into.code)
    audit.record(
        "duplicate_merged",
        actor=actor,
        target_type="duplicate",
        target_id=pair.id,
        details={"kept": merge_into.id, "closed": other.id},
        context=context,
    )


def assign_worker(
    case: Case, worker_id: int | None, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """Give the file to a worker of its commune (or to nobody)."""
    if worker_id is not None:
        worker = db.session.get(User, worker_id)
        if (
            worker is None
            or worker.role != Role.WORKER
            or not worker.is_enabled
            or not authz.in_scope(worker, case.commune_code)
        ):
            raise FieldError("worker_id", _("Cán bộ được giao phải phụ trách xã này."))
    if case.assigned_worker_id == worker_id:
        return
    case.assigned_worker_id = worker_id
    db.session.flush()
    record_event(case, "assigned", actor=actor, worker=worker_id)
    audit.record(
        "case_assigned",
        actor=actor,
        target_type="case",
        target_id=case.id,
        details={"worker": worker_id},
        context=context,
    )
