"""Read-only queries on break-glass grants."""

from __future__ import annotations

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination

from caseapp.break_glass.models import BreakGlassGrant
from caseapp.cases import codes
from caseapp.cases.models import Case
from caseapp.extensions import db
from caseapp.users.models import User

MY_GRANTS = 20


def find_case(code: str) -> Case | None:
    """The case with this code (typed leniently), whatever its commune: the caller has a grant
    or is about to record one."""
    canonical = codes.canonical(code)
    if canonical is None:
        return None
    return db.session.scalar(sa.select(Case).where(Case.code == canonical))


def grant_for(user: User, grant_id: int) -> BreakGlassGrant | None:
    """The user's own grant with this id (someone else's is not found)."""
    grant = db.session.get(BreakGlassGrant, grant_id)
    return grant if grant is not None and grant.user_id == user.id else None


def my_grants(user: User) -> list[BreakGlassGrant]:
    """The user's latest grants, newest first."""
    return list(
        db.session.scalars(
            sa.select(BreakGlassGrant)
            .where(BreakGlassGrant.user_id == user.id)
            .order_by(BreakGlassGrant.id.desc())
            .limit(MY_GRANTS)
        )
    )


def recent_grants(*, page: int, per_page: int) -> Pagination:
    """Every grant, newest first, for the reviewers."""
    query = sa.select(BreakGlassGrant).order_by(BreakGlassGrant.id.desc())
    return db.paginate(query, page=page, per_page=per_page, error_out=False, count=True)
