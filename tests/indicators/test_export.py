"""Anonymized statistics: no count from 1 to 4 is visible or can be worked out from the totals,
and nothing identifies the fixture people, in the CSV, the XLSX, the report workbook or the
Word report; every export is audited."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from caseapp import cli
from caseapp.audit import AuditEvent
from caseapp.cli import main
from caseapp.extensions import db
from caseapp.indicators import export, periods, report, workbook
from tests.indicators.conftest import NAMES, TODAY
from tests.indicators.test_suppression import _recover


@pytest.fixture
def tables(province):
    return export.tables(periods.parse("2026"), today=TODAY, threshold=5)


@pytest.mark.plan("P2")
def test_no_small_cell_is_visible_or_derivable(tables):
    assert [t.code for t in tables][:2] == ["ua", "ua_supported"]
    small_cells = 0
    for table in tables:
        values = table.result.values
        small_cells += sum(1 for v in values.values() if 1 <= v <= 4)
        for key, value in values.items():
            shown = table.result.shown(key)
            assert shown is None or not 1 <= shown <= 4, (table.code, key, value)
            assert shown is None or shown == value
        assert _recover(values, table.relations, table.result.hidden) == {}, table.code
    assert small_cells > 0, "the fixture has small counts: the test would prove nothing"


@pytest.mark.plan("P2")
def test_csv_shows_only_suppressed_or_safe_counts(tables, province):
    text = "".join(export.to_csv(tables, periods.parse("2026")))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][-1] == "Giá trị"
    shown = [row[-1] for row in rows[1:]]
    assert "<5" in shown
    assert all(v == "<5" or int(v) == 0 or int(v) >= 5 for v in shown)
    for secret in [*NAMES.values(), *province.codes.values()]:
        assert secret not in text


def _zip_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


@pytest.mark.plan("P1")
def test_no_identity_in_any_download(app, tables, province):
    period = periods.parse("2026")
    built = report.build(period, today=TODAY)
    xml = _zip_text(export.to_xlsx(tables, period)) + _zip_text(workbook.report_workbook(built))
    from caseapp.indicators import document

    xml += _zip_text(document.report_document(built))
    assert "Tổng hợp" in xml
    for secret in [*NAMES.values(), *province.codes.values()]:
        assert secret not in xml
    for case in province.cases.values():
        assert case.uuid not in xml


@pytest.mark.plan("L1")
def test_cli_export_stats_writes_and_audits(app, province, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_app", lambda: app)
    target = tmp_path / "stats.xlsx"
    db.session.rollback()  # the fixture's last read holds SQLite's write lock otherwise
    result = CliRunner().invoke(
        main, ["export-stats", "--period", "2026-H1", "--format", "xlsx", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "6 tables" in result.output
    text = _zip_text(target.read_bytes())
    assert "&lt;5" in text or "<5" in text
    for secret in NAMES.values():
        assert secret not in text
    db.session.remove()
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "statistics_exported")
        )
        == 1
    )
    bad = CliRunner().invoke(main, ["export-stats", "--period", "2026-H9"])
    assert bad.exit_code != 0
    assert "không hợp lệ" in bad.output
