"""Read-only queries about accounts."""

from __future__ import annotations

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import selectinload

from caseapp.extensions import db
from caseapp.users.models import Role, User

PAGE_SIZE = 50


def list_users(*, role: Role | None = None, page: int = 1) -> Pagination:
    """Accounts by username, optionally of one role, a page at a time."""
    query = sa.select(User).options(selectinload(User.communes)).order_by(User.username)
    if role is not None:
        query = query.where(User.role == role.value)
    return db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
