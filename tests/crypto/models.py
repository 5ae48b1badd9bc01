"""A test-only model with encrypted fields, on a declarative base and metadata of its own.

``caseapp rotate-keys --import-models tests.crypto.models`` loads it in a subprocess.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from caseapp.crypto import EncryptedDateField, EncryptedField
from caseapp.db import UTCDateTime, utcnow

NAME = "Nguyễn Văn Zzyzx"
CCCD = "001099012345"
ADDR = "Số 7 ngõ Quỳnh"
DOB = date(2006, 3, 14)


class SampleBase(DeclarativeBase):
    metadata = sa.MetaData()


class Sample(SampleBase):
    __tablename__ = "crypto_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    full_name_ct: Mapped[str | None] = mapped_column(sa.Text)
    national_id_ct: Mapped[str | None] = mapped_column(sa.Text)
    address_ct: Mapped[str | None] = mapped_column(sa.Text)
    date_of_birth_ct: Mapped[str | None] = mapped_column(sa.Text)
    national_id_bidx: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    name_dob_bidx: Mapped[str | None] = mapped_column(sa.String(64), index=True)

    full_name = EncryptedField("full_name_ct")
    national_id = EncryptedField("national_id_ct")
    address = EncryptedField("address_ct")
    date_of_birth = EncryptedDateField("date_of_birth_ct")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 -- SQLAlchemy's own convention

    def __repr__(self) -> str:
        return f"<Sample {self.id}>"


def make_sample(**values: object) -> Sample:
    """A sample with its UUID set first, as encrypted fields need."""
    sample = Sample(uuid=str(uuid.uuid4()))
    for name, value in values.items():
        setattr(sample, name, value)
    return sample
