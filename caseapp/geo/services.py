"""Loading the province's communes from ``vietnam-provinces`` and the former-district table."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import sqlalchemy as sa
from babel.numbers import format_decimal
from flask_babel import gettext as _
from vietnam_provinces import Province, ProvinceCode, Ward

from caseapp import audit
from caseapp.db import utcnow
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.geo.models import POPULATION_MAX, Commune, FormerDistrict, FormerUnit
from caseapp.users.models import User

OLD_TO_NEW_CSV = "thai_binh_old_to_new_communes_2025.csv"
_NAME_AND_CODE = re.compile(r"^(?P<name>.+?)\s*\((?P<code>\d+)\)\s*$")


class UnknownProvinceError(ValueError):
    """The configured province code is not one of the 34 provinces."""


@dataclass(frozen=True)
class LoadReport:
    communes: int
    former_districts: int
    former_units: int


def province_name(code: int) -> str:
    """The province's Vietnamese name, e.g. 'Tỉnh Hưng Yên'."""
    try:
        province = Province.from_code(ProvinceCode(code))
    except ValueError:
        raise UnknownProvinceError(f"{code} is not a province code") from None
    return f"{province.division_type.value.capitalize()} {province.name}"


def _split(label: str) -> tuple[str, int]:
    match = _NAME_AND_CODE.match(label)
    if match is None:
        raise ValueError(f"unexpected label in {OLD_TO_NEW_CSV}: {label!r}")
    return match["name"], int(match["code"])


def _former_rows(province_code: int) -> list[dict[str, str]]:
    text = resources.files("caseapp").joinpath("data", OLD_TO_NEW_CSV).read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return [r for r in rows if _split(r["new_province"])[1] == province_code]


def _commune_resolver(wards: list[Ward]) -> Callable[[dict[str, str]], int]:
    """Map a row of the conversion table to a commune code of the package.

    The package is the authority for codes. For a few units the published conversion table uses
    another code than the package (e.g. Xã Tân Tiến 12583 vs 12478); those are matched by name,
    which is unique within a province.
    """
    by_code = {int(w.code) for w in wards}
    by_name = {w.name: int(w.code) for w in wards}

    def resolve(row: dict[str, str]) -> int:
        code = int(row["new_commune_code"])
        if code in by_code:
            return code
        try:
            return by_name[row["new_commune_name"]]
        except KeyError:
            raise ValueError(
                f"{OLD_TO_NEW_CSV}: commune {code} {row['new_commune_name']!r} is not in the "
                "vietnam-provinces package"
            ) from None

    return resolve


def load_communes(province_code: int) -> LoadReport:
    """Insert or refresh the province's communes and former districts; keeps populations."""
    try:
        wards = list(Ward.iter_by_province(ProvinceCode(province_code)))
    except ValueError:
        raise UnknownProvinceError(f"{province_code} is not a province code") from None
    if not wards:
        raise UnknownProvinceError(f"{province_code} has no communes")
    former = _former_rows(province_code)
    resolve = _commune_resolver(wards)

    districts: dict[int, tuple[str, int]] = {}
    contributions: dict[int, Counter[int]] = defaultdict(Counter)
    for row in former:
        name, code = _split(row["old_district"])
        _, old_province = _split(row["old_province"])
        districts[code] = (name, old_province)
        contributions[resolve(row)][code] += 1

    existing_districts = {d.code: d for d in db.session.scalars(sa.select(FormerDistrict))}
    for code, (name, old_province) in districts.items():
        district = existing_districts.get(code) or FormerDistrict(code=code)
        district.name = name
        district.province_code = old_province
        db.session.add(district)
    db.session.flush()

    existing = {c.code: c for c in db.session.scalars(sa.select(Commune))}
    for ward in wards:
        commune = existing.get(int(ward.code)) or Commune(code=int(ward.code))
        commune.name = ward.name
        commune.division_type = ward.division_type.value
        commune.province_code = int(ward.province_code)
        counts = contributions.get(int(ward.code))
        # The former district that gave most of the old units (no ties in the 2025 table).
        commune.former_district_code = counts.most_common(1)[0][0] if counts else None
        db.session.add(commune)
    db.session.flush()

    known_units = {u.code: u for u in db.session.scalars(sa.select(FormerUnit))}
    for row in former:
        unit = known_units.get(int(row["old_commune_code"])) or FormerUnit(
            code=int(row["old_commune_code"])
        )
        unit.name = row["old_commune_name"]
        unit.former_district_code = _split(row["old_district"])[1]
        unit.commune_code = resolve(row)
        db.session.add(unit)
    db.session.flush()
    return LoadReport(
        communes=len(wards), former_districts=len(districts), former_units=len(former)
    )


def set_population(
    commune: Commune,
    population: int | None,
    *,
    actor: User,
    context: audit.AuditContext | None = None,
) -> None:
    """Record the commune's resident population (used by the commune alert indicator)."""
    if population is not None and not 0 <= population <= POPULATION_MAX:
        raise FieldError(
            "population",
            _(
                "Dân số phải từ 0 đến %(max)s người.",
                max=format_decimal(POPULATION_MAX, locale="vi"),
            ),
        )
    if commune.population == population:
        return
    commune.population = population
    commune.population_updated_at = utcnow()
    db.session.flush()
    audit.record(
        "commune_population_set",
        actor=actor,
        target_type="commune",
        target_id=commune.code,
        details={"population": population},
        context=context,
    )
