"""Read-only queries about communes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from caseapp import authz
from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict
from caseapp.users.models import User


def communes_in_scope(user: User) -> list[Commune]:
    """The communes the user works in, by name."""
    return list(
        db.session.scalars(
            sa.select(Commune)
            .where(Commune.code.in_(authz.scope_commune_codes(user)))
            .options(joinedload(Commune.former_district))
            .order_by(Commune.name)
        )
    )


def all_communes() -> list[Commune]:
    """Every commune of the province, grouped by former district then name."""
    return list(
        db.session.scalars(
            sa.select(Commune)
            .options(joinedload(Commune.former_district))
            .order_by(
                Commune.former_district_code.is_(None), Commune.former_district_code, Commune.name
            )
        )
    )


def former_districts() -> list[FormerDistrict]:
    """The former districts, by name."""
    return list(db.session.scalars(sa.select(FormerDistrict).order_by(FormerDistrict.name)))
