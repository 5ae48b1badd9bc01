"""Communes (cấp xã) after 1 July 2025, and the former districts (huyện cũ) they came from."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import UTCDateTime
from caseapp.extensions import Model

POPULATION_MAX = 10_000_000


class FormerDistrict(Model):
    """A pre-2025 district; officers still think in them ("Thái Thụy cũ")."""

    __tablename__ = "former_districts"

    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(sa.String(120))
    province_code: Mapped[int] = mapped_column(sa.Integer)

    communes: Mapped[list[Commune]] = relationship(
        back_populates="former_district", order_by="Commune.name"
    )

    def __repr__(self) -> str:
        return f"<FormerDistrict {self.code}>"


class Commune(Model):
    """A commune or ward; codes are permanent (Decision 19/2025/QĐ-TTg)."""

    __tablename__ = "communes"

    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(sa.String(120))
    division_type: Mapped[str] = mapped_column(sa.String(16))
    province_code: Mapped[int] = mapped_column(sa.Integer, index=True)
    # The former district that contributed most of the commune's old units (reports group by it).
    former_district_code: Mapped[int | None] = mapped_column(
        sa.ForeignKey("former_districts.code"), index=True
    )
    population: Mapped[int | None] = mapped_column(sa.Integer)
    population_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    former_district: Mapped[FormerDistrict | None] = relationship(back_populates="communes")

    __table_args__ = (
        sa.CheckConstraint(
            f"population IS NULL OR (population >= 0 AND population <= {POPULATION_MAX})",
            name="population_range",
        ),
    )

    def __repr__(self) -> str:
        return f"<Commune {self.code}>"


class FormerUnit(Model):
    """A pre-2025 commune and the new commune it was merged into whole."""

    __tablename__ = "former_units"

    code: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(sa.String(120))
    former_district_code: Mapped[int] = mapped_column(sa.ForeignKey("former_districts.code"))
    commune_code: Mapped[int] = mapped_column(sa.ForeignKey("communes.code"), index=True)

    def __repr__(self) -> str:
        return f"<FormerUnit {self.code}>"
