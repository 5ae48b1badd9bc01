"""Anonymized statistics for supervisors: fixed tables over fixed periods and fixed geography
(communes under their former district, and the province), counts only.

Counts from 1 to the threshold minus one are shown as "<5"; secondary suppression
(``suppression``) hides enough other cells that no hidden count can be worked out from the totals.
Loan amounts and anything else that could single a person out stay in the official report only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from wtforms import RadioField, SelectChoice, SelectField
from wtforms.validators import InputRequired

from caseapp.forms import Form
from caseapp.indicators import report as report_module
from caseapp.indicators.periods import Period
from caseapp.indicators.queries import AGE_BANDS, SEXES
from caseapp.indicators.report import Report, Row
from caseapp.indicators.suppression import Relation, Suppressed, grid_relations, suppress
from caseapp.indicators.workbook import add_row
from caseapp.workflow.models import REHAB_FORM_LABELS, RehabForm

TOTAL = "total"
PROVINCE = ("province", 0)


class ExportForm(Form):
    period = SelectField(_l("Kỳ báo cáo"), validators=[InputRequired()])
    format = RadioField(
        _l("Định dạng"),
        choices=[SelectChoice("csv", _l("CSV (UTF-8)")), SelectChoice("xlsx", _l("Excel (XLSX)"))],
        default="csv",
        validators=[InputRequired()],
    )


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: str  # how a row's value is read: a counts key, or "<measure>|<sex>|<band>"


@dataclass
class Table:
    code: str
    title: str
    columns: list[Column]
    rows: list[tuple[Hashable, str, str, str]]  # key, level label, code, name
    result: Suppressed
    threshold: int
    relations: list[Relation]

    def shown(self, row: Hashable, column: str) -> str:
        value = self.result.shown((row, column))
        return f"<{self.threshold}" if value is None else str(value)


def _by_sex_and_age(measure: str) -> list[Column]:
    columns = [
        Column(
            f"{sex}_{band}",
            f"{report_module.SEX_LABELS[sex]} {report_module.AGE_BAND_LABELS[band]}",
            f"{measure}|{sex}|{band}",
        )
        for sex in SEXES
        for band in AGE_BANDS
    ]
    return [*columns, Column(TOTAL, _("Tổng số"), measure)]


def _by_form() -> list[Column]:
    columns = [
        Column(form.value, str(REHAB_FORM_LABELS[form]), f"rehab_started_{form.value}")
        for form in RehabForm
    ]
    return [*columns, Column(TOTAL, _("Tổng số"), "")]


def _value(row: Row, column: Column, columns: Sequence[Column]) -> int:
    if column.key == TOTAL and not column.cell:
        return sum(_value(row, c, columns) for c in columns if c.key != TOTAL)
    if "|" in column.cell:
        measure, sex, band = column.cell.split("|")
        return row.breakdown.get((sex, band), {}).get(measure, 0)
    return row[column.cell]


def _levels() -> dict[report_module.Level, str]:
    """The level labels, translated once per table (not once per row: 3,321 communes)."""
    return {
        report_module.Level.COMMUNE: str(_("Xã, phường")),
        report_module.Level.DISTRICT: str(_("Huyện cũ")),
        report_module.Level.PROVINCE: str(_("Tỉnh")),
    }


def _table(code: str, title: str, columns: list[Column], built: Report, threshold: int) -> Table:
    levels = _levels()
    rows: list[tuple[Hashable, str, str, str]] = []
    values: dict[tuple[Hashable, Hashable], int] = {}
    groups: dict[Hashable, list[Hashable]] = {PROVINCE: []}
    for index, district in enumerate(built.districts):
        district_key = ("district", index)
        groups[PROVINCE].append(district_key)
        groups[district_key] = []
        rows.append((district_key, levels[district.level], str(district.code or ""), district.name))
        for row in [district, *district.children]:
            key = district_key if row is district else ("commune", row.code)
            if row is not district:
                groups[district_key].append(key)
                rows.append((key, levels[row.level], str(row.code), row.name))
            for column in columns:
                values[(key, column.key)] = _value(row, column, columns)
    rows.append(
        (PROVINCE, levels[built.province.level], str(built.province.code), built.province.name)
    )
    for column in columns:
        values[(PROVINCE, column.key)] = _value(built.province, column, columns)
    relations = grid_relations(
        [r[0] for r in rows],
        [c.key for c in columns],
        row_total=PROVINCE,
        column_total=TOTAL,
        row_groups=groups,
    )
    result = suppress(values, relations, threshold)
    return Table(code, title, columns, rows, result, threshold, relations)


def tables(
    period: Period, *, today: date, threshold: int, max_age: timedelta | None = None
) -> list[Table]:
    """The fixed tables of the anonymized export, for the whole province; with ``max_age``, from
    figures computed less than that long ago today when there are such (``report.build``)."""
    built = report_module.build(period, today=today, max_age=max_age)
    specs = [
        ("ua", _("Người sử dụng trái phép và người nghiện ma túy có hồ sơ quản lý"), "ua"),
        (
            "ua_supported",
            _(
                "Trong đó được tư vấn, sàng lọc, đánh giá, giáo dục thay đổi hành vi hoặc "
                "điều trị, cai nghiện trong kỳ"
            ),
            "ua_supported",
        ),
        ("pr", _("Người sau cai nghiện, người chấp hành xong án phạt tù có hồ sơ quản lý"), "pr"),
        (
            "pr_supported",
            _("Trong đó được hỗ trợ học nghề, việc làm hoặc tái hòa nhập trong kỳ"),
            "pr_supported",
        ),
        (
            "reintegrated",
            _("Tái hòa nhập cộng đồng có việc làm ổn định (được xác nhận trong kỳ)"),
            "reintegrated",
        ),
    ]
    found = [
        _table(code, title, _by_sex_and_age(measure), built, threshold)
        for code, title, measure in specs
    ]
    found.append(
        _table(
            "rehab_started",
            _("Bắt đầu cai nghiện trong kỳ, theo hình thức"),
            _by_form(),
            built,
            threshold,
        )
    )
    return found


def _header(period: Period, threshold: int) -> list[str]:
    return [
        _("Số liệu thống kê ẩn danh – %(period)s", period=period.label),
        _("Ô có giá trị từ 1 đến %(n)d được ghi “<%(m)d”; một số ô khác cũng được ẩn để không "
          "suy ra được các ô đó từ số tổng.", n=threshold - 1, m=threshold),
    ]  # fmt: skip


def to_csv(found: list[Table], period: Period) -> Iterator[str]:
    """One long table, UTF-8 with a byte-order mark so spreadsheet programs read the accents."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    buffer.write("\ufeff")
    writer.writerow(
        [
            _("Bảng"),
            _("Kỳ báo cáo"),
            _("Từ ngày"),
            _("Đến ngày"),
            _("Cấp"),
            _("Mã"),
            _("Tên"),
            _("Chỉ tiêu"),
            _("Giá trị"),
        ]
    )
    yield flush()
    start, end = f"{period.start:%d/%m/%Y}", f"{period.end:%d/%m/%Y}"
    for table in found:
        for key, level, code, name in table.rows:
            for column in table.columns:
                writer.writerow(
                    [
                        table.title,
                        period.key,
                        start,
                        end,
                        level,
                        code,
                        name,
                        column.label,
                        table.shown(key, column.key),
                    ]
                )
        yield flush()


def to_xlsx(found: list[Table], period: Period) -> bytes:
    """A sheet per table, in Vietnamese, with the period and the suppression rule on top."""
    book = Workbook()
    first = book.active
    if first is not None:
        book.remove(first)
    bold = Font(bold=True)
    for number, table in enumerate(found, start=1):
        sheet = book.create_sheet(f"{number}. {table.code}"[:31])
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True, size=13)
        for line in _header(period, table.threshold):
            sheet.append([line])
        sheet.append([])
        for cell in add_row(
            sheet, [_("Cấp"), _("Mã"), _("Tên"), *(c.label for c in table.columns)]
        ):
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for key, level, code, name in table.rows:
            shown = [table.result.shown((key, c.key)) for c in table.columns]
            cells = add_row(
                sheet,
                [level, code, name, *(f"<{table.threshold}" if v is None else v for v in shown)],
            )
            if not (isinstance(key, tuple) and key[0] == "commune"):
                for cell in cells:
                    cell.font = bold
        sheet.column_dimensions["A"].width = 12
        sheet.column_dimensions["C"].width = 36
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
