"""Read-only queries on case files. Every listing starts from ``authz.visible_cases``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import aliased
from wtforms import SelectChoice

from caseapp import authz
from caseapp.audit import AuditEvent
from caseapp.cases import codes
from caseapp.cases.models import (
    Case,
    CaseEvent,
    Category,
    DuplicatePair,
    DuplicateStatus,
    Phase,
    Status,
)
from caseapp.crypto import blind_index, normalise_cccd, normalise_name
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.users.models import Role, ScopeKind, User

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class CaseFilters:
    category: Category | None = None
    phase: Phase | None = None
    status: Status | None = Status.OPEN
    commune_code: int | None = None
    worker_id: int | None = None
    overdue_on: date | None = None  # only files whose next step was due before this day


def list_cases(user: User, filters: CaseFilters, *, page: int, per_page: int) -> Pagination:
    """A page of the cases the user may see, newest first."""
    query = authz.visible_cases(user)
    if filters.category:
        query = query.where(Case.category == filters.category.value)
    if filters.phase:
        query = query.where(Case.phase == filters.phase.value)
    if filters.status:
        query = query.where(Case.status == filters.status.value)
    if filters.commune_code:
        query = query.where(Case.commune_code == filters.commune_code)
    if filters.worker_id:
        query = query.where(Case.assigned_worker_id == filters.worker_id)
    if filters.overdue_on:
        query = query.where(Case.next_due_on < filters.overdue_on)
    # Counted on the ids alone: the page's query joins the commune and the worker for display.
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.with_only_columns(Case.id).subquery())
    )
    query = query.order_by(Case.created_at.desc(), Case.id.desc())
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False, count=False)
    pagination.total = total
    return pagination


def find_by_code(user: User, text: str) -> Case | None:
    """The visible case with that code (typed leniently), or None."""
    code = codes.canonical(text)
    if code is None:
        return None
    return db.session.scalar(authz.visible_cases(user).where(Case.code == code))


def find_by_national_id(user: User, text: str) -> list[Case]:
    """Visible cases whose CCCD is exactly this one (blind index: nothing is decrypted)."""
    digits = normalise_cccd(text)
    if len(digits) != 12 or not digits.isdigit():
        return []
    bidx = blind_index("cases.national_id", digits)
    return list(db.session.scalars(authz.visible_cases(user).where(Case.national_id_bidx == bidx)))


def search_by_name(user: User, text: str) -> list[Case]:
    """Visible cases whose name contains the typed words (with or without diacritics).

    Decrypts only the names in the user's own scope; open files first.
    """
    wanted = normalise_name(text)
    if not wanted:
        return []
    found: list[Case] = []
    query = authz.visible_cases(user).order_by(Case.status.desc(), Case.id.desc())
    for case in db.session.scalars(query).unique():
        name = normalise_name(case.full_name or "")
        if all(word in name for word in wanted.split()):
            found.append(case)
            if len(found) >= SEARCH_LIMIT:
                break
    return found


def timeline(case: Case) -> list[CaseEvent]:
    """Everything recorded on the case, newest first."""
    return list(
        db.session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc())
        )
    )


def viewers(case: Case, limit: int = 50) -> list[tuple[AuditEvent, User | None]]:
    """Who opened this file, newest first (from the audit trail)."""
    rows = db.session.execute(
        sa.select(AuditEvent, User)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.target_type == "case",
            AuditEvent.target_id == str(case.id),
            AuditEvent.action == "case_viewed",
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows]


@dataclass(frozen=True)
class WorkerName:
    """A commune worker as a choice: the id and the name shown."""

    id: int
    display_name: str


def workers_for(commune_codes: list[int] | sa.Select[Any]) -> list[WorkerName]:
    """Enabled commune workers who cover any of these communes (a list, or a select of codes),
    by name: the id and name only (choices need no account object)."""
    from caseapp.users.models import user_communes

    covering = sa.select(user_communes.c.user_id).where(
        user_communes.c.commune_code.in_(commune_codes)
    )
    rows = db.session.execute(
        sa.select(User.id, User.display_name)
        .where(
            User.role == Role.WORKER.value,
            User.is_enabled.is_(True),
            User.id.in_(covering),
        )
        .order_by(User.display_name, User.id)
    )
    return [WorkerName(row.id, row.display_name) for row in rows]


def open_duplicates(user: User) -> list[DuplicatePair]:
    """Open pairs where the user sees both files (officers over both communes)."""
    a, b = aliased(Case), aliased(Case)
    scope = authz.scope_commune_codes(user)
    return list(
        db.session.scalars(
            sa.select(DuplicatePair)
            .join(a, a.id == DuplicatePair.case_a_id)
            .join(b, b.id == DuplicatePair.case_b_id)
            .where(
                DuplicatePair.status == DuplicateStatus.OPEN.value,
                a.commune_code.in_(scope),
                b.commune_code.in_(scope),
            )
            .order_by(DuplicatePair.id)
        )
    )


def has_open_duplicate(case: Case) -> bool:
    """Is there an unresolved possible duplicate of this file?"""
    return (
        db.session.scalar(
            sa.select(DuplicatePair.id)
            .where(
                DuplicatePair.status == DuplicateStatus.OPEN.value,
                sa.or_(DuplicatePair.case_a_id == case.id, DuplicatePair.case_b_id == case.id),
            )
            .limit(1)
        )
        is not None
    )


_NAMES_KEPT = 256  # distinct scopes whose commune names a process keeps


def commune_choices(user: User) -> tuple[SelectChoice, ...]:
    """Every commune in the user's scope as a choice (code, name), by name: a filter's choices.

    A national scope has 3,321: they are read once per scope and kept by the app. Communes are
    only ever added (``caseapp init``, ``demo --national``), which the count in the key notices;
    names come from the ``vietnam-provinces`` package, so new ones arrive with an upgrade, which
    restarts the app."""
    scope = ScopeKind(user.scope_kind)
    scope_key: tuple[object, ...] = (scope.value,)
    if scope is ScopeKind.FORMER_DISTRICT:
        scope_key = (scope.value, user.former_district_code)
    elif scope is ScopeKind.COMMUNES:
        scope_key = (scope.value, *sorted(c.code for c in user.communes))
    known = db.session.scalar(sa.select(sa.func.count()).select_from(Commune))
    key = (*scope_key, known)
    kept: dict[tuple[object, ...], tuple[SelectChoice, ...]] = current_app.extensions.setdefault(
        "caseapp.commune_choices", {}
    )
    names = kept.get(key)
    if names is None:
        rows = db.session.execute(
            sa.select(Commune.code, Commune.name)
            .where(Commune.code.in_(authz.scope_commune_codes(user)))
            .order_by(Commune.name)
        )
        names = tuple(SelectChoice(int(code), str(name)) for code, name in rows)
        if len(kept) >= _NAMES_KEPT:
            kept.clear()
        kept[key] = names
    return names


def communes_for_choice(user: User) -> list[Commune]:
    """Communes the user may put a case in, by name."""
    return list(
        db.session.scalars(
            sa.select(Commune)
            .where(Commune.code.in_(authz.scope_commune_codes(user)))
            .order_by(Commune.name)
        )
    )
