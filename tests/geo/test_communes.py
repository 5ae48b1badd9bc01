"""Communes come from the vietnam-provinces package; former districts from the 2025 table."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict, FormerUnit
from caseapp.geo.services import UnknownProvinceError, load_communes, province_name


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_hung_yen_has_104_units_65_from_thai_binh(app):
    with app.app_context():
        assert _count(Commune) == 104
        with_district = sa.select(sa.func.count()).where(Commune.former_district_code.is_not(None))
        assert db.session.scalar(with_district.select_from(Commune)) == 65
        assert _count(FormerDistrict) == 8
        assert _count(FormerUnit) == 242
        assert province_name(33) == "Tỉnh Hưng Yên"


def test_commune_grouped_by_the_district_that_gave_most_units(app):
    with app.app_context():
        # Phường Thái Bình took 4 units of Thái Bình city (336) and 3 of Vũ Thư (344).
        assert db.session.get(Commune, 13225).former_district_code == 336
        assert db.session.get(FormerDistrict, 341).name == "Huyện Thái Thụy"


def test_package_codes_win_over_the_table(app):
    with app.app_context():
        # The 2025 table gives Xã Tân Tiến as 12583; the package (the authority) says 12478.
        assert db.session.get(Commune, 12583) is None
        tan_tien = db.session.get(Commune, 12478)
        assert tan_tien.name == "Xã Tân Tiến"
        assert tan_tien.former_district_code is not None
        units = db.session.scalars(
            sa.select(FormerUnit.name).where(FormerUnit.commune_code == 12478)
        ).all()
        assert "Xã An Dục" in units


def test_reloading_keeps_populations_and_changes_nothing(app):
    with app.app_context():
        db.session.get(Commune, 12452).population = 25_000
        db.session.commit()
        report = load_communes(33)
        db.session.commit()
        assert report.communes == 104
        assert _count(Commune) == 104
        assert db.session.get(Commune, 12452).population == 25_000


def test_unknown_province_refused(app):
    with app.app_context(), pytest.raises(UnknownProvinceError):
        load_communes(99)
