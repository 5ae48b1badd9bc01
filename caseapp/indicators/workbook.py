"""The six-monthly or yearly report as an Excel workbook in Vietnamese: a sheet per indicator
group, communes under their former district with subtotals, the province total, the period and
the data cut-off on every sheet, and a sheet saying how each figure is counted.

The official report is always in Vietnamese, whatever language the user's screens are in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
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


def add_row(sheet: Worksheet, values: Sequence[Value]) -> list[Any]:
    """Append a row and return its cells (``sheet.max_row`` would scan every cell: quadratic)."""
    sheet.append(list(values))
    row = sheet._current_row  # openpyxl's own counter of appended rows
    return [sheet.cell(row=row, column=column) for column in range(1, len(values) + 1)]


def _heading(sheet: Worksheet, built: Report, title: str, width: int) -> None:
    generated = built.generated_at.astimezone(VIETNAM)
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
    for text, size in lines:
        (cell,) = add_row(sheet, [text])
        cell.font = Font(name="Times New Roman", bold=size > 11, size=size)
        sheet.merge_cells(start_row=cell.row, start_column=1, end_row=cell.row, end_column=width)
    sheet.append([])


def _write_rows(sheet: Worksheet, built: Report, columns: Sequence[Col]) -> None:
    headers = ["STT", "Đơn vị", "Cấp", *(c.header for c in columns)]
    cells = add_row(sheet, headers)
    header_row = cells[0].row
    for cell in cells:
        cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    sheet.row_dimensions[header_row].height = 60
    number = 0
    for district in built.districts:
        for row in [district, *district.children]:
            label = "Huyện cũ" if row is district else "Xã, phường"
            if row is not district:
                number += 1
            cells = _append(
                sheet, [number if row is not district else None, row.name, label], row, columns
            )
            if row is district:
                for cell in cells:
                    cell.font, cell.fill = BOLD, GROUP_FILL
    for cell in _append(sheet, [None, built.province.name, "Tổng cộng"], built.province, columns):
        cell.font, cell.fill = BOLD, HEADER_FILL
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=3)
    sheet.column_dimensions["A"].width = 6
    sheet.column_dimensions["B"].width = 34
    sheet.column_dimensions["C"].width = 11
    for index, column in enumerate(columns, start=4):
        sheet.column_dimensions[get_column_letter(index)].width = column.width


def _append(sheet: Worksheet, lead: list[Value], row: Row, columns: Sequence[Col]) -> list[Any]:
    cells = add_row(sheet, [*lead, *(c.value(row) for c in columns)])
    for index, cell in enumerate(cells, start=1):
        cell.border, cell.font = BORDER, PLAIN
        if index > 3:
            column = columns[index - 4]
            if column.number_format:
                cell.number_format = column.number_format
            cell.alignment = Alignment(horizontal="right")
    return cells


def _breakdown_sheet(book: Workbook, built: Report) -> None:
    sheet = book.create_sheet("7. Giới tính, độ tuổi")
    measures = [
        ("ua", "Người sử dụng và người nghiện"),
        ("ua_supported", "Được hỗ trợ"),
        ("pr", "Sau cai nghiện, sau chấp hành án"),
        ("pr_supported", "Được hỗ trợ nghề, việc làm"),
        ("reintegrated", "Tái hòa nhập có việc làm ổn định"),
    ]
    _heading(sheet, built, "Theo giới tính và độ tuổi (huyện cũ và toàn tỉnh)", 3 + len(measures))
    for cell in add_row(
        sheet, ["Đơn vị", "Giới tính", "Độ tuổi", *(label for _k, label in measures)]
    ):
        cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for area in [*built.districts, built.province]:
        for sex in SEXES:
            for band in AGE_BANDS:
                counts = area.breakdown.get((sex, band), {})
                values = [area.name, SEX_VI[sex], BAND_VI[band]]
                for cell in add_row(sheet, [*values, *(counts.get(k, 0) for k, _l in measures)]):
                    cell.border, cell.font = BORDER, BOLD if area is built.province else PLAIN
    sheet.column_dimensions["A"].width = 34
    for index in range(4, 4 + len(measures)):
        sheet.column_dimensions[get_column_letter(index)].width = 16


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
    book = Workbook()
    summary = book.active
    assert summary is not None  # noqa: S101 -- a new workbook has one sheet
    summary.title = "Tổng hợp"
    _summary(summary, built)
    for name, title, columns in _sheets(built):
        sheet = book.create_sheet(name)
        _heading(sheet, built, title, 3 + len(columns))
        _write_rows(sheet, built, columns)
    _breakdown_sheet(book, built)
    method = book.create_sheet("Cách tính")
    _heading(method, built, "Cách tính các chỉ tiêu", 1)
    for number, line in enumerate(METHOD, start=1):
        (cell,) = add_row(method, [f"{number}. {line}"])
        cell.alignment, cell.font = Alignment(wrap_text=True), PLAIN
    method.column_dimensions["A"].width = 120
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _summary(sheet: Worksheet, built: Report) -> None:
    total = built.province
    _heading(sheet, built, "Tổng hợp các chỉ tiêu", 4)
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
    for cell in add_row(sheet, ["Chỉ tiêu", "Giá trị"]):
        cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, BORDER
    for label, value, number_format in rows:
        cells = add_row(sheet, [label, value])
        for cell in cells:
            cell.border, cell.font = BORDER, PLAIN
        if number_format:
            cells[1].number_format = number_format
    sheet.column_dimensions["A"].width = 60
    sheet.column_dimensions["B"].width = 16
