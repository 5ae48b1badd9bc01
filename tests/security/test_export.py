"""Export rows of the security test plan: the supervisors' export has only the allowed columns
(P1), and it is aggregate only, so the k-anonymity row for record-level exports (P3) has nothing to
apply to: no export yields a row per person, whatever the number of people."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa

from caseapp.cases.models import Sex
from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict
from caseapp.indicators import export, periods
from tests.conftest import C1
from tests.followups.conftest import frozen  # noqa: F401 - shared fixture
from tests.indicators.conftest import NAMES, TODAY, _case, province  # noqa: F401 - fixture
from tests.workflow.conftest import ctx, officer, worker  # noqa: F401 - shared fixtures

COLUMNS = ["Bảng", "Kỳ báo cáo", "Từ ngày", "Đến ngày", "Cấp", "Mã", "Tên", "Chỉ tiêu", "Giá trị"]
LEVELS = {"Xã, phường", "Huyện cũ", "Tỉnh"}
PERIOD = "2026"


def _rows() -> list[list[str]]:
    found = export.tables(periods.parse(PERIOD), today=TODAY, threshold=5)
    text = "".join(export.to_csv(found, periods.parse(PERIOD)))
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def _geography() -> tuple[set[str], set[str]]:
    codes = {str(c) for c in db.session.scalars(sa.select(Commune.code))}
    codes |= {str(c) for c in db.session.scalars(sa.select(FormerDistrict.code))}
    names = set(db.session.scalars(sa.select(Commune.name)))
    names |= set(db.session.scalars(sa.select(FormerDistrict.name)))
    return codes, names


@pytest.mark.plan("P1")
def test_export_columns_are_the_allowlist(province):  # noqa: F811 - the shared fixture
    rows = _rows()
    assert rows[0] == COLUMNS
    codes, names = _geography()
    labels = {c.label for t in export.tables(periods.parse(PERIOD), today=TODAY, threshold=5)
              for c in t.columns}  # fmt: skip
    identities = {*NAMES.values(), *province.codes.values()}
    identities |= {c.uuid for c in province.cases.values()}
    for row in rows[1:]:
        assert len(row) == len(COLUMNS)
        assert row[1] == PERIOD
        assert row[4] in LEVELS
        # A commune, a former district (the communes of former Hưng Yên form one group without
        # a code) or the province.
        assert row[5] in codes or (row[4] != "Xã, phường" and not row[5].strip("0123456789"))
        assert row[4] != "Xã, phường" or row[6] in names, row
        assert row[7] in labels
        assert row[8] == "<5" or row[8].isdigit()
        assert not identities & set(row)


def _record_level_shape(rows: list[list[str]]) -> list[tuple[str, ...]]:
    """What identifies a row of the export: table, level, place and measure (not the value)."""
    return [(r[0], r[4], r[5], r[7]) for r in rows[1:]]


@pytest.mark.plan("P3")
def test_no_export_is_record_level(province, worker):  # noqa: F811 - the shared fixtures
    """Every exported row is a cell of a fixed table (place × measure); adding people changes
    counts, never the rows; so no equivalence class of people is ever published."""
    before = _rows()
    assert len(before) > 1
    shape = _record_level_shape(before)
    assert len(shape) == len(set(shape))  # one row per cell: no row repeats for several people
    for number, born in enumerate((2006, 2007, 2008)):
        _case(worker, "A", commune=C1, sex=Sex.MALE, born=born, intake=date(2026, 2, 1 + number))
    after = _rows()
    assert _record_level_shape(after) == shape
    assert after != before  # the counts did move: the new people are in the figures
    province_total = [r for r in after if r[4] == "Tỉnh" and r[0] == after[1][0]]
    assert all(r[8] == "<5" or r[8].isdigit() for r in province_total)
