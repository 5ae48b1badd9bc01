"""The six-monthly or yearly report as an Excel workbook in Vietnamese: a sheet per indicator
group, communes under their former district with subtotals, the province total, the period and
the data cut-off on every sheet, and a sheet saying how each figure is counted.

The official report is always in Vietnamese, whatever language the user's screens are in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from copy import copy
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

from caseapp.dates import VIETNAM
from caseapp.indicators.queries import AGE_BANDS, SEXES
from caseapp.indicators.report import Level, Reintegration, Report, Row, share
from caseapp.workflow.models import RehabForm

REINTEGRATION_VI = {
    Reintegration.MET: "Đạt",
    Reintegration.ON_TRACK: "Đang tiến triển",
    Reintegration.AT_RISK: "Có nguy cơ không đạt",
    Reintegration.NOT_MET: "Không đạt",
}
FORM_VI = {
    RehabForm.VOLUNTARY_COMMUNITY: "Tự nguyện tại gia đình, cộng đồng",
    RehabForm.VOLUNTARY_FACILITY: "Tự nguyện tại cơ sở",
    RehabForm.COMPULSORY: "Bắt buộc",
    RehabForm.METHADONE: "Methadone",
}
SEX_VI = {"male": "Nam", "female": "Nữ"}
BAND_VI = {"12-15": "12 – dưới 16", "16-17": "16 – dưới 18", "18-30": "18 – 30"}
PERCENT = "0.0%"
MONEY = "#,##0"

Value = int | float | str | None


@dataclass(frozen=True)
class Col:
    header: str
    value: Callable[[Row], Value]
    number_format: str | None = None
    width: int = 12


def _ratio(part: int, whole: int) -> float | None:
    found = share(part, whole)
    return None if found is None else found / 100


def _measure(key: str, header: str) -> Col:
    return Col(header, lambda r: r[key])


def _sheets(built: Report) -> list[tuple[str, str, list[Col]]]:
    period, today = built.period, built.today
    alert = built.alert_per_10000

    def per_10000(row: Row) -> Value:
        rate = row.per_10000()
        if rate is None:
            return "Chưa nhập dân số"
        return round(rate, 1)

    def alert_text(row: Row) -> Value:
        flagged = row.alert(alert)
        if flagged is None:
            return "Chưa nhập dân số"
        return "Cảnh báo" if flagged else "Không"

    return [
        (
            "1. Quản lý",
            "Người có hồ sơ quản lý trong kỳ, theo đối tượng",
            [
                _measure("managed", "Tổng số có hồ sơ quản lý"),
                _measure("cat_user", "Người sử dụng trái phép"),
                _measure("cat_addicted", "Người nghiện"),
                _measure("cat_in_rehab", "Đang cai nghiện"),
                _measure("cat_post_rehab", "Sau cai nghiện"),
                _measure("cat_post_prison", "Chấp hành xong án phạt tù"),
                _measure("ua", "Người sử dụng và người nghiện (kỳ này)"),
                Col("Kỳ trước", lambda r: r.previous.get("ua", 0)),
                Col("Tăng (+) / giảm (-)", lambda r: r.ua_change),
                _measure("opened", "Hồ sơ mở trong kỳ"),
                Col("Dân số", lambda r: r.population if not r.missing_population else None),
                Col(
                    f"Trên 10.000 dân (cảnh báo từ {alert})",
                    per_10000,
                    width=16,
                ),
                Col("Cảnh báo", alert_text),
            ],
        ),
        (
            "2. Hỗ trợ",
            f"Tỷ lệ được hỗ trợ (chỉ tiêu >{built.target}%)",
            [
                _measure("ua", "Người sử dụng và người nghiện"),
                _measure("ua_screened", "Được sàng lọc"),
                _measure("ua_assessed", "Được xác định tình trạng nghiện"),
                _measure("ua_counselled", "Được tư vấn"),
                _measure("ua_educated", "Được giáo dục thay đổi hành vi"),
                _measure("ua_treated", "Được điều trị, cai nghiện"),
                _measure("ua_supported", "Được ít nhất một hỗ trợ"),
                Col("Tỷ lệ", lambda r: _ratio(r["ua_supported"], r["ua"]), PERCENT),
                Col(
                    "Đạt chỉ tiêu",
                    lambda r: (
                        None
                        if r["ua"] == 0
                        else (
                            "Đạt"
                            if 100 * r["ua_supported"] > built.target * r["ua"]
                            else "Chưa đạt"
                        )
                    ),
                ),
                _measure("pr", "Sau cai nghiện, sau chấp hành án"),
                _measure("pr_trained", "Được học nghề"),
                _measure("pr_job", "Có việc làm"),
                _measure("pr_other", "Hỗ trợ khác (học văn hóa, vay vốn, tư vấn)"),
                _measure("pr_supported", "Được ít nhất một hỗ trợ"),
                Col("Tỷ lệ", lambda r: _ratio(r["pr_supported"], r["pr"]), PERCENT),
            ],
        ),
        (
            "3. Tái hòa nhập",
            "Tái hòa nhập cộng đồng có việc làm ổn định (chỉ tiêu: ít nhất 1 người/xã/năm)",
            [
                _measure("reintegrated", "Số người được xác nhận trong kỳ"),
                _measure("jobs_running", "Đang có việc làm cuối kỳ"),
                Col(
                    "Tình trạng",
                    lambda r: (
                        REINTEGRATION_VI[r.reintegration(period, today)]
                        if r.level is Level.COMMUNE
                        else None
                    ),
                    width=20,
                ),
            ],
        ),
        (
            "4. Cai nghiện",
            "Cai nghiện theo hình thức, hoàn thành và tái nghiện",
            [
                *(
                    _measure(f"rehab_started_{f.value}", f"Bắt đầu: {FORM_VI[f]}")
                    for f in RehabForm
                ),
                *(
                    _measure(f"rehab_completed_{f.value}", f"Hoàn thành: {FORM_VI[f]}")
                    for f in RehabForm
                ),
                *(
                    _measure(f"rehab_running_{f.value}", f"Đang cai cuối kỳ: {FORM_VI[f]}")
                    for f in RehabForm
                ),
                _measure("relapses", "Số lần tái nghiện"),
            ],
        ),
        (
            "5. Nghề, việc làm, vay vốn",
            "Đào tạo nghề, việc làm và vay vốn Ngân hàng Chính sách xã hội",
            [
                _measure("trainings_started", "Bắt đầu học nghề"),
                _measure("trainings_completed", "Hoàn thành học nghề"),
                _measure("jobs_started", "Có việc làm mới"),
                _measure("loans_referred", "Giới thiệu vay vốn"),
                Col("Số tiền đề nghị (đồng)", lambda r: r["loans_requested_vnd"], MONEY, 16),
                _measure("loans_approved", "Được phê duyệt"),
                Col("Số tiền phê duyệt (đồng)", lambda r: r["loans_approved_vnd"], MONEY, 16),
                _measure("loans_refused", "Bị từ chối"),
                _measure("loans_disbursed", "Đã giải ngân"),
                Col("Số tiền giải ngân (đồng)", lambda r: r["loans_disbursed_vnd"], MONEY, 16),
            ],
        ),
        (
            "6. Theo dõi",
            "Các lần theo dõi, hỗ trợ đến hạn trong kỳ",
            [
                _measure("follow_ups_due", "Đến hạn"),
                _measure("follow_ups_on_time", "Làm đúng hạn"),
                _measure("follow_ups_late", "Làm muộn"),
                _measure("follow_ups_missed", "Không gặp được"),
                _measure("follow_ups_overdue", "Quá hạn chưa làm"),
            ],
        ),
    ]


THIN = Side(style="thin", color="808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
BOLD = Font(name="Times New Roman", bold=True, size=12)
PLAIN = Font(name="Times New Roman", size=12)
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
GROUP_FILL = PatternFill("solid", fgColor="F2F2F2")
HEADER_ALIGN = Alignment(wrap_text=True, vertical="center", horizontal="center")
RIGHT = Alignment(horizontal="right")
WRAP = Alignment(wrap_text=True)
HEADING_FONTS = {
    size: Font(name="Times New Roman", bold=size > 11, size=size) for size in (11, 13, 14)
}


def add_row(sheet: Worksheet, values: Sequence[Value]) -> list[Any]:
    """Append a row and return its cells (``sheet.max_row`` would scan every cell: quadratic)."""
    sheet.append(list(values))
    row = sheet._current_row  # openpyxl's own counter of appended rows
    return [sheet.cell(row=row, column=column) for column in range(1, len(values) + 1)]


@dataclass(frozen=True, eq=False)  # hashed by identity: openpyxl's styles hash slowly
class Style:
    font: Font | None = None
    fill: PatternFill | None = None
    border: Border | None = None
    alignment: Alignment | None = None
    number_format: str | None = None


HEADING_STYLES = {size: Style(font=font) for size, font in HEADING_FONTS.items()}
HEADER = Style(font=BOLD, fill=HEADER_FILL, border=BORDER, alignment=HEADER_ALIGN)


class _Sheet:
    """A sheet of a write-only workbook (rows streamed as they are appended: a national scope
    writes 3,321 communes on six sheets). Column widths, frozen panes and row heights are set
    before the rows they concern; each style is registered with the workbook once, then copied
    to the cells that use it."""

    def __init__(self, book: Workbook, title: str, widths: dict[int, float]) -> None:
        self.sheet: Any = book.create_sheet(title)
        self.rows = 0
        self._styles: dict[Style, Any] = {}
        for index, width in widths.items():
            self.sheet.column_dimensions[get_column_letter(index)].width = width

    def cell(self, value: Value, style: Style) -> WriteOnlyCell:
        found = self._styles.get(style)
        if found is None:
            probe = WriteOnlyCell(self.sheet)
            if style.font is not None:
                probe.font = style.font
            if style.fill is not None:
                probe.fill = style.fill
            if style.border is not None:
                probe.border = style.border
            if style.alignment is not None:
                probe.alignment = style.alignment
            if style.number_format is not None:
                probe.number_format = style.number_format
            found = self._styles[style] = probe._style
        cell = WriteOnlyCell(self.sheet, value)
        cell._style = copy(found)
        return cell

    def append(self, cells: Sequence[WriteOnlyCell | Value]) -> int:
        self.sheet.append(list(cells))
        self.rows += 1
        return self.rows

    def styled(self, values: Sequence[Value], style: Style) -> int:
        return self.append([self.cell(value, style) for value in values])

    def merge(self, row: int, width: int) -> None:
        self.sheet.merged_cells.add(CellRange(min_col=1, min_row=row, max_col=width, max_row=row))


def _heading_lines(built: Report, title: str) -> list[tuple[str, int]]:
    generated = built.computed_at.astimezone(VIETNAM)  # the figures' time (maybe kept ones)
    lines = [
        (f"BÁO CÁO {built.period.official_name.upper()} – {built.province.name.upper()}", 14),
        (title, 13),
        (
            f"Kỳ báo cáo: từ ngày {built.period.start:%d/%m/%Y} "
            f"đến ngày {built.period.end:%d/%m/%Y}"
            f" · Số liệu trích xuất lúc {generated:%H:%M} ngày {generated:%d/%m/%Y}"
            + (" · Số liệu tạm tính (kỳ chưa kết thúc)" if built.is_provisional else ""),
            11,
        ),
    ]
    if built.is_empty:
        lines.append(("Kỳ này chưa có số liệu: các chỉ tiêu đều bằng 0.", 11))
    return lines


def _heading(sheet: _Sheet, lines: list[tuple[str, int]], width: int) -> None:
    for text, size in lines:
        row = sheet.styled([text], HEADING_STYLES[size])
        sheet.merge(row, width)
    sheet.append([])


def _write_rows(
    book: Workbook, name: str, title: str, built: Report, columns: Sequence[Col]
) -> None:
    widths: dict[int, float] = {1: 6, 2: 34, 3: 11}
    widths.update({index: column.width for index, column in enumerate(columns, start=4)})
    sheet = _Sheet(book, name, widths)
    lines = _heading_lines(built, title)
    header_row = len(lines) + 2
    sheet.sheet.freeze_panes = f"C{header_row + 1}"
    sheet.sheet.row_dimensions[header_row].height = 60
    _heading(sheet, lines, 3 + len(columns))
    sheet.styled(["STT", "Đơn vị", "Cấp", *(c.header for c in columns)], HEADER)
    plain = Style(font=PLAIN, border=BORDER)
    group = Style(font=BOLD, fill=GROUP_FILL, border=BORDER)
    total = Style(font=BOLD, fill=HEADER_FILL, border=BORDER)

    def figure(style: Style, column: Col) -> Style:
        return Style(style.font, style.fill, style.border, RIGHT, column.number_format)

    figures = {
        style: [figure(style, column) for column in columns] for style in (plain, group, total)
    }

    def append(lead: list[Value], row: Row, style: Style) -> None:
        cells = [sheet.cell(value, style) for value in lead]
        for column, look in zip(columns, figures[style], strict=True):
            cells.append(sheet.cell(column.value(row), look))
        sheet.append(cells)

    number = 0
    for district in built.districts:
        append([None, district.name, "Huyện cũ"], district, group)
        for row in district.children:
            number += 1
            append([number, row.name, "Xã, phường"], row, plain)
    append([None, built.province.name, "Tổng cộng"], built.province, total)


def _breakdown_sheet(book: Workbook, built: Report) -> None:
    measures = [
        ("ua", "Người sử dụng và người nghiện"),
        ("ua_supported", "Được hỗ trợ"),
        ("pr", "Sau cai nghiện, sau chấp hành án"),
        ("pr_supported", "Được hỗ trợ nghề, việc làm"),
        ("reintegrated", "Tái hòa nhập có việc làm ổn định"),
    ]
    widths: dict[int, float] = {1: 34, **dict.fromkeys(range(4, 4 + len(measures)), 16)}
    sheet = _Sheet(book, "7. Giới tính, độ tuổi", widths)
    title = "Theo giới tính và độ tuổi (huyện cũ và toàn tỉnh)"
    _heading(sheet, _heading_lines(built, title), 3 + len(measures))
    sheet.styled(["Đơn vị", "Giới tính", "Độ tuổi", *(label for _k, label in measures)], HEADER)
    plain, bold = Style(font=PLAIN, border=BORDER), Style(font=BOLD, border=BORDER)
    for area in [*built.districts, built.province]:
        style = bold if area is built.province else plain
        for sex in SEXES:
            for band in AGE_BANDS:
                counts = area.breakdown.get((sex, band), {})
                values = [area.name, SEX_VI[sex], BAND_VI[band]]
                sheet.styled([*values, *(counts.get(k, 0) for k, _l in measures)], style)


METHOD = [
    "Người có hồ sơ quản lý trong kỳ: hồ sơ mở trước hoặc trong ngày cuối kỳ và chưa đóng trước "
    "ngày đầu kỳ (không tính hồ sơ đã gộp vào hồ sơ khác). Hồ sơ tính cho xã, phường đang quản lý.",
    "Đối tượng tại ngày cuối kỳ được xác định từ các bước đã ghi đến ngày đó: đang cai nghiện; "
    "sau cai nghiện (đã bắt đầu quản lý sau cai hoặc đã hoàn thành cai nghiện); người nghiện (có "
    "kết luận nghiện hoặc đã cai nghiện); còn lại theo đối tượng khai khi mở hồ sơ.",
    "Người sử dụng và người nghiện: người sử dụng trái phép, người nghiện, người đang cai nghiện.",
    "Được hỗ trợ: được sàng lọc, xác định tình trạng nghiện, tư vấn, giáo dục thay đổi hành vi "
    "hoặc điều trị, cai nghiện (đợt cai diễn ra trong kỳ) trong kỳ báo cáo.",
    "Người sau cai nghiện, sau chấp hành án được hỗ trợ: học nghề hoặc có việc làm trong kỳ, hoặc "
    "được hỗ trợ khác (học văn hóa, giới thiệu vay vốn, tư vấn), hoặc được xác nhận tái hòa nhập.",
    "Tái hòa nhập có việc làm ổn định: được cán bộ phụ trách xác nhận trong kỳ (việc làm được xác "
    "nhận liên tục theo quy định, không tái nghiện). Tình trạng: Đạt (từ 1 người); Đang tiến "
    "triển (kỳ chưa kết thúc, có người đang có việc làm); Có nguy cơ không đạt; Không đạt.",
    "Cảnh báo: người sử dụng và người nghiện có hồ sơ trên 10.000 dân từ mức quy định (Quyết "
    "định 28/2025/QĐ-TTg), theo dân số do quản trị hệ thống nhập.",
    "Độ tuổi tính theo năm sinh, là số tuổi tròn trong năm của ngày cuối kỳ.",
]


def report_workbook(built: Report) -> bytes:
    """The report as XLSX bytes."""
    book = Workbook(write_only=True)
    _summary(book, built)
    for name, title, columns in _sheets(built):
        _write_rows(book, name, title, built, columns)
    _breakdown_sheet(book, built)
    method = _Sheet(book, "Cách tính", {1: 120})
    _heading(method, _heading_lines(built, "Cách tính các chỉ tiêu"), 1)
    wrapped = Style(font=PLAIN, alignment=WRAP)
    for number, line in enumerate(METHOD, start=1):
        method.styled([f"{number}. {line}"], wrapped)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _summary(book: Workbook, built: Report) -> None:
    total = built.province
    sheet = _Sheet(book, "Tổng hợp", {1: 60, 2: 16})
    _heading(sheet, _heading_lines(built, "Tổng hợp các chỉ tiêu"), 4)
    met = built.reintegration_counts()
    alerts = sum(1 for r in built.communes if r.alert(built.alert_per_10000))
    no_population = sum(1 for r in built.communes if r.population is None)
    rows: list[tuple[str, Value, str | None]] = [
        ("Người sử dụng và người nghiện có hồ sơ quản lý (kỳ này)", total["ua"], None),
        ("Cùng chỉ tiêu kỳ trước", total.previous.get("ua", 0), None),
        ("Tăng (+) / giảm (-) so với kỳ trước", total.ua_change, None),
        (
            f"Tỷ lệ được hỗ trợ (chỉ tiêu >{built.target}%)",
            _ratio(total["ua_supported"], total["ua"]),
            PERCENT,
        ),
        ("Người sau cai nghiện, sau chấp hành án có hồ sơ", total["pr"], None),
        (
            "Tỷ lệ được hỗ trợ học nghề, việc làm, tái hòa nhập",
            _ratio(total["pr_supported"], total["pr"]),
            PERCENT,
        ),
        ("Tái hòa nhập có việc làm ổn định (toàn tỉnh)", total["reintegrated"], None),
        ("Số xã, phường đạt chỉ tiêu tái hòa nhập", met[Reintegration.MET], None),
        ("Số xã, phường chưa đạt", len(built.communes) - met[Reintegration.MET], None),
        ("Số xã, phường cảnh báo", alerts, None),
        ("Số xã, phường chưa nhập dân số", no_population, None),
        ("Số lần theo dõi quá hạn chưa làm", total["follow_ups_overdue"], None),
    ]
    sheet.styled(["Chỉ tiêu", "Giá trị"], Style(font=BOLD, fill=HEADER_FILL, border=BORDER))
    plain, percent = Style(font=PLAIN, border=BORDER), Style(PLAIN, None, BORDER, None, PERCENT)
    for label, value, number_format in rows:
        figure = percent if number_format == PERCENT else plain
        sheet.append([sheet.cell(label, plain), sheet.cell(value, figure)])
