"""The six-monthly or yearly report as a Word document laid out as an official Vietnamese
administrative report (Nghị định 30/2020/NĐ-CP về công tác văn thư), ready to number, sign and
send: A4 portrait, Times New Roman, the issuing body and the national motto on top, the numbered
sections of the report, its tables, the recipients and the signature block, and an appendix by
commune.

The official report is always in Vietnamese, whatever language the user's screens are in: its
sentences are plain Vietnamese literals, not gettext messages, and the labels it shares with the
screens (the period, sex, age bands, rehab forms, reintegration status) are rendered with the
locale forced to Vietnamese. Area names are read from the geography tables, not from the report's
(translated) row names.

Only aggregates appear: no name, case code, identity number or anything else about one person.
The issuing body comes from the instance setting ``REPORT_ISSUER`` (default "SỞ NỘI VỤ"; the
social-affairs line joined the Department of Home Affairs in 2025) and the symbol after "/BC-" from
``REPORT_ISSUER_CODE`` (default: the initials of the issuer, "SNV").
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date
from typing import Any

import sqlalchemy as sa
from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from flask_babel import force_locale
from vietnam_provinces import Province, ProvinceCode

from caseapp import web
from caseapp.dates import VIETNAM
from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict
from caseapp.indicators import report
from caseapp.indicators.queries import AGE_BANDS, SEXES
from caseapp.indicators.report import Reintegration, Report, Row
from caseapp.workflow.models import REHAB_FORM_LABELS, RehabForm

FONT = "Times New Roman"
BODY = 14  # pt: body text (Decree 30: 13–14)
SMALL = 13
TABLE = 11
DEFAULT_ISSUER = "SỞ NỘI VỤ"
SIGNER = "THỦ TRƯỞNG CƠ QUAN"
PLAN = "Kế hoạch phòng, chống ma túy trong thanh, thiếu niên"
NAMES_LISTED = 10  # communes named in a sentence before "và N xã, phường khác"
# Page: A4 portrait; margins per Decree 30 (top and bottom 20–25, left 30–35, right 15–20 mm).
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
TOP_MM, BOTTOM_MM, LEFT_MM, RIGHT_MM = 20, 20, 30, 15
TEXT_WIDTH_CM = (PAGE_WIDTH_MM - LEFT_MM - RIGHT_MM) / 10
CELL_MARGINS_CM = 0.38  # Word's default cell padding, left and right together
HEADER_COLUMNS_CM = (6.5, TEXT_WIDTH_CM - 6.5)
FOOTER_COLUMNS_CM = (7.0, TEXT_WIDTH_CM - 7.0)
# The line under the motto is as long as the motto (Times New Roman bold 13 pt).
MOTTO = "Độc lập - Tự do - Hạnh phúc"
MOTTO_WIDTH_CM = 5.35
BOLD_CAPS_CM_PER_CHAR = 0.22  # rough width of a 13 pt bold upper-case character with spaces

Container = DocumentObject | _Cell
# The elements that follow w:pBdr in a paragraph's properties (the schema fixes their order).
_AFTER_BORDERS = (
    *("shd", "tabs", "suppressAutoHyphens", "kinsoku", "wordWrap", "overflowPunct"),
    *("topLinePunct", "autoSpaceDE", "autoSpaceDN", "bidi", "adjustRightInd", "snapToGrid"),
    *("spacing", "ind", "contextualSpacing", "mirrorIndents", "suppressOverlap", "jc"),
    *("textDirection", "textAlignment", "textboxTightWrap", "outlineLvl", "divId", "cnfStyle"),
    *("rPr", "sectPr", "pPrChange"),
)


# ----- Vietnamese formatting ---------------------------------------------------------------


def number(value: int) -> str:
    """1.234.567: dots between thousands."""
    return f"{value:,}".replace(",", ".")


def decimal(value: float) -> str:
    """12,5: one decimal, with a decimal comma."""
    return f"{value:.1f}".replace(".", ",")


def percent(value: float | None) -> str:
    """82,5 % (one decimal, Vietnamese comma), or an en dash when there is nobody to count."""
    return "–" if value is None else f"{decimal(value)} %"


def money(value: int) -> str:
    return f"{number(value)} đồng"


def day(value: date) -> str:
    return f"{value:%d/%m/%Y}"


def dated(place: str, value: date) -> str:
    """Hưng Yên, ngày 05 tháng 02 năm 2026: days under 10 and months 1 and 2 get a leading zero
    (Decree 30, appendix I)."""
    month = f"{value.month:02d}" if value.month < 3 else str(value.month)
    return f"{place}, ngày {value.day:02d} tháng {month} năm {value.year}"


def listing(names: Sequence[str], limit: int = NAMES_LISTED) -> str:
    """A, B, C và 4 xã, phường khác."""
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f"{shown} và {rest} xã, phường khác" if rest > 0 else shown


def initials(issuer: str) -> str:
    """The symbol of an issuing body from its name: SỞ NỘI VỤ -> SNV, SỞ Y TẾ -> SYT."""
    letters = []
    for word in issuer.replace("-", " ").split():
        if word.upper() in {"VÀ", "&"}:
            continue
        base = unicodedata.normalize("NFD", word[0].upper())
        letters.append("".join(c for c in base if not unicodedata.combining(c)))
    return "".join(letters)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _count_and_share(part: int, whole: int) -> str:
    return f"{number(part)}/{number(whole)} người, đạt tỷ lệ {percent(report.share(part, whole))}"


# ----- Word building blocks ----------------------------------------------------------------


def _format(
    paragraph: Paragraph,
    *,
    align: Any = WD_ALIGN_PARAGRAPH.JUSTIFY,
    indent: bool = False,
    before: float = 0,
    after: float = 0,
    keep_next: bool = False,
) -> Paragraph:
    fmt = paragraph.paragraph_format
    fmt.alignment = align
    fmt.first_line_indent = Cm(1) if indent else None
    fmt.space_before = Pt(before)
    fmt.space_after = Pt(after)
    fmt.line_spacing = 1.0
    if keep_next:
        fmt.keep_with_next = True
    return paragraph


def _run(
    paragraph: Paragraph,
    text: str,
    *,
    size: float = BODY,
    bold: bool = False,
    italic: bool = False,
) -> None:
    run = paragraph.add_run(text)
    run.font.size = Pt(size)
    run.bold = bold or None
    run.italic = italic or None


def _para(
    parent: Container,
    text: str = "",
    *,
    size: float = BODY,
    bold: bool = False,
    italic: bool = False,
    align: Any = WD_ALIGN_PARAGRAPH.JUSTIFY,
    indent: bool = True,
    before: float = 0,
    after: float = 6,
    keep_next: bool = False,
) -> Paragraph:
    """A paragraph; in a cell, its first (empty) paragraph is used before adding more."""
    paragraph: Paragraph
    first = parent.paragraphs[0] if isinstance(parent, _Cell) else None
    if first is not None and not first.runs and len(parent.paragraphs) == 1:
        paragraph = first
    else:
        paragraph = parent.add_paragraph()
    _format(paragraph, align=align, indent=indent, before=before, after=after, keep_next=keep_next)
    if text:
        _run(paragraph, text, size=size, bold=bold, italic=italic)
    return paragraph


def _centred(parent: Container, text: str, **options: Any) -> Paragraph:
    options.setdefault("after", 0)
    return _para(parent, text, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False, **options)


def _heading(document: DocumentObject, text: str) -> None:
    _para(document, text, bold=True, before=6, keep_next=True)


def _rule(parent: Container, length_cm: float, available_cm: float) -> None:
    """A centred horizontal line ``length_cm`` long: the top border of a 1 pt high paragraph."""
    paragraph = _para(parent, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False, after=0)
    side = Cm(max((available_cm - length_cm) / 2, 0))
    fmt = paragraph.paragraph_format
    fmt.left_indent = side
    fmt.right_indent = side
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = Pt(1)
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for name, value in (("val", "single"), ("sz", "6"), ("space", "0"), ("color", "auto")):
        top.set(qn(f"w:{name}"), value)
    borders.append(top)
    paragraph._p.get_or_add_pPr().insert_element_before(
        borders,
        *(f"w:{tag}" for tag in _AFTER_BORDERS),
    )


def _no_borders(table: Table) -> None:
    properties = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    properties.insert_element_before(
        borders,
        *("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption"),
        *("w:tblDescription", "w:tblPrChange"),
    )


def _widths(table: Table, widths: Sequence[float]) -> None:
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Cm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Cm(width)


def _layout_table(document: DocumentObject, widths: Sequence[float], rows: int = 1) -> Table:
    """A borderless table for the header and signature blocks."""
    table: Table = document.add_table(rows=rows, cols=len(widths))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _no_borders(table)
    _widths(table, widths)
    return table


def _merge(first: _Cell, last: _Cell) -> None:
    """Merge the cells from ``first`` to ``last``, keeping only the paragraphs with text."""
    merged = first.merge(last)
    for paragraph in merged.paragraphs[1:]:
        if not paragraph.text:
            paragraph._p.getparent().remove(paragraph._p)


def _repeat_header(table: Table, rows: int) -> None:
    for row in table.rows[:rows]:
        properties = row._tr.get_or_add_trPr()
        header = OxmlElement("w:tblHeader")
        header.set(qn("w:val"), "true")
        properties.append(header)
    for row in table.rows:
        properties = row._tr.get_or_add_trPr()
        keep = OxmlElement("w:cantSplit")
        keep.set(qn("w:val"), "true")
        properties.insert(0, keep)


def _cell(
    cell: _Cell,
    text: str,
    *,
    bold: bool = False,
    align: Any = WD_ALIGN_PARAGRAPH.LEFT,
    size: float = TABLE,
) -> None:
    paragraph = cell.paragraphs[0]
    _format(paragraph, align=align)
    _run(paragraph, text, size=size, bold=bold)
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER


def _data_table(
    document: DocumentObject,
    widths: Sequence[float],
    header: Sequence[Sequence[str | None]],
    body: Sequence[tuple[Sequence[str], bool]],
    *,
    text_columns: int,
    size: float = TABLE,
) -> Table:
    """A bordered table. ``header`` rows may hold None where a cell spans over it: the one to
    the left in the first row, the one above in the others. ``body`` rows are (cells, bold); the
    first ``text_columns`` columns are text (the first, the number, centred), the rest numbers,
    aligned right."""
    table: Table = document.add_table(rows=len(header) + len(body), cols=len(widths))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, widths)
    rows = list(table.rows)  # by row: Table.cell() walks the whole table on every call
    for row, labels in zip(rows, header, strict=False):
        for cell, label in zip(row.cells, labels, strict=True):
            if label is not None:
                _cell(cell, label, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, size=size)
    for row, (texts, bold) in zip(rows[len(header) :], body, strict=True):
        for c, (cell, text) in enumerate(zip(row.cells, texts, strict=True)):
            if c == 0:
                align = WD_ALIGN_PARAGRAPH.CENTER
            elif c < text_columns:
                align = WD_ALIGN_PARAGRAPH.LEFT
            else:
                align = WD_ALIGN_PARAGRAPH.RIGHT
            _cell(cell, text, bold=bold, align=align, size=size)
    for r, labels in enumerate(header):
        for c, label in enumerate(labels):
            if label is not None:
                continue
            if r == 0:  # spanned by the nearest labelled cell to the left
                left = max(k for k in range(c) if labels[k] is not None)
                _merge(rows[r].cells[left], rows[r].cells[c])
            else:  # spanned by the nearest labelled cell above
                top = max(k for k in range(r) if header[k][c] is not None)
                _merge(rows[top].cells[c], rows[r].cells[c])
    _repeat_header(table, len(header))
    return table


def _caption(document: DocumentObject, text: str) -> None:
    _centred(document, text, size=SMALL, bold=True, before=6, after=6, keep_next=True)


def _page_number(document: DocumentObject) -> None:
    """Page numbers centred in the header from the second page (Decree 30)."""
    section = document.sections[0]
    section.different_first_page_header_footer = True
    section.first_page_header.is_linked_to_previous = False
    paragraph = section.header.paragraphs[0]
    _format(paragraph, align=WD_ALIGN_PARAGRAPH.CENTER)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), " PAGE ")
    run = OxmlElement("w:r")
    properties = OxmlElement("w:rPr")
    size = OxmlElement("w:sz")
    size.set(qn("w:val"), str(SMALL * 2))
    properties.append(size)
    run.append(properties)
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _setup(document: DocumentObject) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM)
    section.top_margin, section.bottom_margin = Mm(TOP_MM), Mm(BOTTOM_MM)
    section.left_margin, section.right_margin = Mm(LEFT_MM), Mm(RIGHT_MM)
    section.header_distance, section.footer_distance = Mm(10), Mm(10)
    # The document defaults name theme fonts; replace them so nothing falls back to Calibri.
    defaults = document.styles.element.find(qn("w:docDefaults"))
    fonts = None if defaults is None else defaults.find(f".//{qn('w:rFonts')}")
    if fonts is not None:
        for name in list(fonts.attrib):
            del fonts.attrib[name]
        for name in ("ascii", "hAnsi", "eastAsia", "cs"):
            fonts.set(qn(f"w:{name}"), FONT)
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY)
    properties = normal.element.get_or_add_rPr()
    properties.get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    properties.get_or_add_rFonts().set(qn("w:cs"), FONT)
    language = OxmlElement("w:lang")
    language.set(qn("w:val"), "vi-VN")
    language.set(qn("w:eastAsia"), "vi-VN")
    properties.append(language)
    fmt = normal.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(0), Pt(0), 1.0


# ----- The report --------------------------------------------------------------------------


class _Facts:
    """What the document says about the scope, worked out once."""

    def __init__(self, built: Report) -> None:
        settings = web.settings()
        province = Province.from_code(ProvinceCode(settings.PROVINCE))
        self.division = province.division_type.value.lower()  # tỉnh, thành phố
        self.place = province.name
        self.authority = f"UBND {self.division} {province.name}".upper()
        raw = settings.EXTRA.get("REPORT_ISSUER", DEFAULT_ISSUER)
        self.issuer = str(raw or "").strip().upper() or DEFAULT_ISSUER
        code = settings.EXTRA.get("REPORT_ISSUER_CODE")
        self.symbol = f"BC-{str(code).strip() if code else initials(self.issuer)}"
        self.built = built
        district_codes = [r.code for r in built.districts if r.code is not None]
        found = db.session.scalars(
            sa.select(FormerDistrict).where(FormerDistrict.code.in_(district_codes))
        )
        self.district_names: dict[int | None, str] = {d.code: f"{d.name} (cũ)" for d in found}
        self.commune_district: dict[int | None, str] = {}
        for district in built.districts:
            for commune in district.children:
                self.commune_district[commune.code] = self.district(district)
        in_province = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Commune)
            .where(Commune.province_code == settings.PROVINCE)
        )
        self.whole = len(built.communes) >= (in_province or 0)
        if self.whole:
            self.scope, self.area = None, f"địa bàn {self.division}"
        elif len(built.communes) == 1:
            self.scope = built.communes[0].name
            self.area = f"địa bàn {_lower_first(self.scope)}"
        elif len(built.districts) == 1:
            name = self.district(built.districts[0])
            self.scope = f"Các xã, phường thuộc {_lower_first(name)}"
            self.area = (
                f"địa bàn {number(len(built.communes))} xã, phường thuộc {_lower_first(name)}"
            )
        else:
            self.scope = f"{number(len(built.communes))} xã, phường trong phạm vi báo cáo"
            self.area = f"địa bàn {number(len(built.communes))} xã, phường trong phạm vi báo cáo"
        self.period = built.period.official_name  # "năm 2026", in Vietnamese whatever the locale
        self.previous = built.previous.official_name

    def district(self, row: Row) -> str:
        return self.district_names.get(row.code, "Các xã, phường khác")


def _header_block(document: DocumentObject, facts: _Facts) -> None:
    left_cm, right_cm = HEADER_COLUMNS_CM
    table = _layout_table(document, HEADER_COLUMNS_CM, rows=2)
    agency, nation = table.cell(0, 0), table.cell(0, 1)
    _centred(agency, facts.authority, size=SMALL)
    _centred(agency, facts.issuer, size=SMALL, bold=True)
    # The line under the issuing body: about half as long as its name (Decree 30: 1/3 to 1/2).
    issuer_cm = min(BOLD_CAPS_CM_PER_CHAR * len(facts.issuer), left_cm - CELL_MARGINS_CM)
    _rule(agency, max(issuer_cm / 2, 1.0), left_cm - CELL_MARGINS_CM)
    _centred(nation, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=12, bold=True)
    _centred(nation, MOTTO, size=SMALL, bold=True)
    _rule(nation, MOTTO_WIDTH_CM, right_cm - CELL_MARGINS_CM)
    number_cell, date_cell = table.cell(1, 0), table.cell(1, 1)
    _centred(number_cell, f"Số:        /{facts.symbol}", size=SMALL, before=6)
    _centred(date_cell, dated(facts.place, facts.built.today), size=BODY, italic=True, before=6)


def _title(document: DocumentObject, facts: _Facts) -> None:
    built = facts.built
    _centred(document, "BÁO CÁO", bold=True, before=18)
    _centred(document, f"Kết quả thực hiện {PLAN} {facts.period}", bold=True)
    if facts.scope:
        _centred(document, f"Phạm vi: {facts.scope}", bold=True)
    _rule(document, 4.0, TEXT_WIDTH_CM)
    generated = built.computed_at  # when the figures were computed (maybe kept a few minutes)
    if generated.tzinfo is None:
        generated = generated.replace(tzinfo=UTC)
    local = generated.astimezone(VIETNAM)
    note = (
        f"Số liệu tính từ ngày {day(built.period.start)} đến ngày {day(built.period.end)}; "
        f"trích xuất lúc {local:%H:%M} ngày {day(local.date())}."
    )
    if built.is_provisional:
        note += f" Số liệu tạm tính: kỳ báo cáo chưa kết thúc (tính đến ngày {day(built.today)})."
    _centred(document, note, size=SMALL, italic=True, before=6, after=12)


def _general(document: DocumentObject, facts: _Facts) -> None:
    built, total = facts.built, facts.built.province
    _heading(document, "I. TÌNH HÌNH CHUNG")
    if built.is_empty:
        _para(
            document,
            "Kỳ báo cáo này chưa có số liệu: không có thanh, thiếu niên nào có hồ sơ quản lý và "
            "không có hoạt động nào được ghi nhận; các chỉ tiêu đều bằng 0.",
        )
    _para(
        document,
        f"Trong kỳ báo cáo, trên {facts.area} có {number(total['managed'])} thanh, thiếu niên "
        f"có hồ sơ quản lý, trong đó: {number(total['ua'])} người sử dụng trái phép chất ma túy "
        f"và người nghiện ma túy (người sử dụng trái phép: {number(total['cat_user'])}; người "
        f"nghiện: {number(total['cat_addicted'])}; đang cai nghiện: "
        f"{number(total['cat_in_rehab'])}); {number(total['pr'])} người sau cai nghiện ma túy "
        f"và người chấp hành xong án phạt tù về tội phạm ma túy (sau cai nghiện: "
        f"{number(total['cat_post_rehab'])}; chấp hành xong án phạt tù: "
        f"{number(total['cat_post_prison'])}). Số hồ sơ lập mới trong kỳ: "
        f"{number(total['opened'])}.",
    )
    now, before, change = total["ua"], total.previous.get("ua", 0), total.ua_change
    if change > 0:
        trend = f"tăng {number(change)} người (từ {number(before)} lên {number(now)} người)"
    elif change < 0:
        trend = f"giảm {number(-change)} người (từ {number(before)} xuống {number(now)} người)"
    else:
        trend = f"không thay đổi ({number(now)} người)"
    _para(
        document,
        f"So với kỳ trước ({facts.previous}), số người sử dụng trái phép chất ma túy và người "
        f"nghiện ma túy có hồ sơ quản lý {trend}.",
    )
    alerted, counted, missing = _alerts(built)
    text = (
        f"Số xã, phường ở mức cảnh báo (từ {number(built.alert_per_10000)} người sử dụng, người "
        f"nghiện có hồ sơ quản lý trên 10.000 dân trở lên): {number(len(alerted))}/"
        f"{number(counted)} xã, phường đã nhập dân số."
    )
    if missing:
        text += f" Có {number(missing)} xã, phường chưa nhập dân số nên chưa tính được tỷ lệ."
    _para(document, text)


def _alerts(built: Report) -> tuple[list[Row], int, int]:
    """Communes at the alert level, how many have a population, how many have none."""
    alerted = [r for r in built.communes if r.alert(built.alert_per_10000)]
    missing = sum(1 for r in built.communes if r.per_10000() is None)
    return alerted, len(built.communes) - missing, missing


def _under_target(built: Report) -> list[Row]:
    target = built.target
    return [
        r for r in built.ranking() if r["ua"] and not 100 * r["ua_supported"] > target * r["ua"]
    ]


def _not_reintegrated(built: Report) -> list[Row]:
    return [
        r
        for r in built.communes
        if r.reintegration(built.period, built.today) is not Reintegration.MET
    ]


def _results(document: DocumentObject, facts: _Facts) -> None:
    built, total = facts.built, facts.built.province
    target = (
        f"chỉ tiêu của Kế hoạch: trên {report.SUPPORT_TARGET_2025}% năm 2025, trên "
        f"{report.SUPPORT_TARGET_2030}% năm 2030; chỉ tiêu áp dụng cho kỳ này: trên "
        f"{built.target}%"
    )
    _heading(document, "II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU")
    _heading(
        document,
        "1. Tỷ lệ người sử dụng trái phép chất ma túy, người nghiện ma túy được tư vấn, sàng lọc, "
        "đánh giá, giáo dục thay đổi hành vi, điều trị, cai nghiện",
    )
    if total["ua"]:
        met = 100 * total["ua_supported"] > built.target * total["ua"]
        _para(
            document,
            f"Số người được hỗ trợ ít nhất một hình thức: "
            f"{_count_and_share(total['ua_supported'], total['ua'])} ({target}), "
            f"{'đạt' if met else 'chưa đạt'} chỉ tiêu.",
        )
    else:
        _para(
            document,
            "Trong kỳ không có người sử dụng trái phép chất ma túy, người nghiện ma túy có hồ sơ "
            f"quản lý nên chưa tính được tỷ lệ ({target}).",
        )
    _para(
        document,
        f"Trong đó (một người có thể được nhiều hình thức hỗ trợ): được sàng lọc "
        f"{number(total['ua_screened'])} người; được xác định tình trạng nghiện "
        f"{number(total['ua_assessed'])} người; được tư vấn {number(total['ua_counselled'])} "
        f"người; được giáo dục thay đổi hành vi {number(total['ua_educated'])} người; được điều "
        f"trị, cai nghiện {number(total['ua_treated'])} người.",
    )
    _heading(
        document,
        "2. Tỷ lệ người sau cai nghiện ma túy, người chấp hành xong án phạt tù về tội phạm ma túy "
        "được hỗ trợ học nghề, việc làm, tái hòa nhập cộng đồng",
    )
    if total["pr"]:
        _para(
            document,
            f"Số người được hỗ trợ: {_count_and_share(total['pr_supported'], total['pr'])}. "
            f"Trong đó: học nghề {number(total['pr_trained'])} người; có việc làm "
            f"{number(total['pr_job'])} người; hỗ trợ khác (học văn hóa, giới thiệu vay vốn, tư "
            f"vấn) {number(total['pr_other'])} người.",
        )
    else:
        _para(
            document,
            "Trong kỳ không có người sau cai nghiện ma túy, người chấp hành xong án phạt tù về "
            "tội phạm ma túy có hồ sơ quản lý nên chưa tính được tỷ lệ.",
        )
    _heading(document, "3. Thanh, thiếu niên tái hòa nhập cộng đồng có việc làm ổn định")
    statuses = built.reintegration_counts()
    with force_locale("vi"):
        parts = [
            f"{_lower_first(str(report.REINTEGRATION_LABELS[status]))}: {number(statuses[status])}"
            for status in Reintegration
            if status is not Reintegration.MET and statuses[status]
        ]
    _para(
        document,
        f"Trong kỳ có {number(total['reintegrated'])} người sau cai nghiện, sau chấp hành án "
        f"phạt tù được xác nhận tái hòa nhập cộng đồng có việc làm ổn định (chỉ tiêu: mỗi năm ít "
        f"nhất 1 người trên mỗi xã, phường và trên toàn {facts.division}). Số xã, phường đạt chỉ "
        f"tiêu: {number(statuses[Reintegration.MET])}/{number(len(built.communes))}"
        + (f"; {'; '.join(parts)}" if parts else "")
        + f". Số trường hợp đang có việc làm: {number(total['jobs_running'])}.",
    )
    _heading(document, "4. Xã, phường ở mức cảnh báo")
    alerted, counted, missing = _alerts(built)
    if alerted:
        names = [f"{r.name} ({decimal(r.per_10000() or 0.0)})" for r in alerted]
        text = (
            f"Có {number(len(alerted))}/{number(counted)} xã, phường đã nhập dân số ở mức cảnh "
            f"báo (từ {number(built.alert_per_10000)} người sử dụng, người nghiện có hồ sơ quản "
            f"lý trên 10.000 dân trở lên): {listing(names)}."
        )
    else:
        text = (
            f"Không có xã, phường nào ở mức cảnh báo (từ {number(built.alert_per_10000)} người "
            f"sử dụng, người nghiện có hồ sơ quản lý trên 10.000 dân trở lên) trong số "
            f"{number(counted)} xã, phường đã nhập dân số."
        )
    if missing:
        text += f" Có {number(missing)} xã, phường chưa nhập dân số nên chưa tính được tỷ lệ."
    _para(document, text)
    _heading(document, "5. Cai nghiện ma túy và tái nghiện")
    with force_locale("vi"):
        forms = [(form, str(REHAB_FORM_LABELS[form])) for form in RehabForm]
    for form, label in forms:
        _para(
            document,
            f"- {label}: bắt đầu {number(total[f'rehab_started_{form.value}'])}; hoàn thành "
            f"{number(total[f'rehab_completed_{form.value}'])}; đang thực hiện cuối kỳ "
            f"{number(total[f'rehab_running_{form.value}'])} trường hợp.",
        )
    _para(
        document,
        f"- Số lần tái nghiện, tái sử dụng được ghi nhận trong kỳ: {number(total['relapses'])}.",
    )
    _heading(document, "6. Đào tạo nghề, việc làm, vay vốn")
    _para(
        document,
        f"- Học nghề: bắt đầu {number(total['trainings_started'])} lượt; hoàn thành "
        f"{number(total['trainings_completed'])} lượt.",
    )
    _para(
        document,
        f"- Việc làm: {number(total['jobs_started'])} trường hợp có việc làm mới; "
        f"{number(total['jobs_running'])} trường hợp đang có việc làm.",
    )
    _para(
        document,
        f"- Vay vốn Ngân hàng Chính sách xã hội: giới thiệu {number(total['loans_referred'])} "
        f"hồ sơ, số tiền đề nghị {money(total['loans_requested_vnd'])}; được phê duyệt "
        f"{number(total['loans_approved'])} hồ sơ, số tiền {money(total['loans_approved_vnd'])}; "
        f"bị từ chối {number(total['loans_refused'])} hồ sơ; đã giải ngân "
        f"{number(total['loans_disbursed'])} hồ sơ, số tiền "
        f"{money(total['loans_disbursed_vnd'])}.",
    )
    _heading(document, "7. Theo dõi, hỗ trợ định kỳ")
    _para(
        document,
        f"Có {number(total['follow_ups_due'])} lần theo dõi, hỗ trợ đến hạn trong kỳ: thực "
        f"hiện đúng hạn {number(total['follow_ups_on_time'])}; thực hiện muộn "
        f"{number(total['follow_ups_late'])}; không gặp được {number(total['follow_ups_missed'])}; "
        f"quá hạn chưa thực hiện (tính đến ngày {day(built.today)}) "
        f"{number(total['follow_ups_overdue'])}.",
    )
    _district_table(document, facts)
    _breakdown_table(document, facts)


def _district_table(document: DocumentObject, facts: _Facts) -> None:
    built = facts.built

    def cells(row: Row) -> list[str]:
        return [
            number(row["ua"]),
            number(row.previous.get("ua", 0)),
            number(row["ua_supported"]),
            percent(row.share("ua_supported", "ua")),
            number(row["pr"]),
            percent(row.share("pr_supported", "pr")),
            number(row["reintegrated"]),
        ]

    body: list[tuple[Sequence[str], bool]] = [
        ([str(n), facts.district(row), *cells(row)], False)
        for n, row in enumerate(built.districts, start=1)
    ]
    body.append((["", "Tổng cộng", *cells(built.province)], True))
    _caption(document, "Bảng 1. Kết quả thực hiện các chỉ tiêu theo địa bàn huyện cũ")
    _data_table(
        document,
        [0.9, 3.7, 1.6, 1.6, 1.6, 1.8, 1.6, 1.8, 1.9],
        [
            [
                "STT",
                "Huyện cũ",
                "Người sử dụng, người nghiện có hồ sơ",
                None,
                "Được hỗ trợ",
                None,
                "Sau cai nghiện, sau chấp hành án",
                None,
                "Tái hòa nhập có việc làm ổn định",
            ],
            [
                None,
                None,
                "Kỳ này",
                "Kỳ trước",
                "Số người",
                "Tỷ lệ",
                "Số người",
                "Tỷ lệ được hỗ trợ",
                None,
            ],
        ],
        body,
        text_columns=2,
    )


def _breakdown_table(document: DocumentObject, facts: _Facts) -> None:
    total = facts.built.province
    measures = ("ua", "ua_supported", "pr", "pr_supported", "reintegrated")
    body: list[tuple[Sequence[str], bool]] = []
    with force_locale("vi"):
        for sex in SEXES:
            for index, band in enumerate(AGE_BANDS):
                counts = total.breakdown.get((sex, band), {})
                body.append(
                    (
                        [
                            str(report.SEX_LABELS[sex]) if index == 0 else "",
                            str(report.AGE_BAND_LABELS[band]),
                            *(number(counts.get(m, 0)) for m in measures),
                        ],
                        False,
                    )
                )
    body.append((["Tổng cộng", "", *(number(total[m]) for m in measures)], True))
    _caption(document, f"Bảng 2. Kết quả theo giới tính và độ tuổi ({_scope_label(facts)})")
    table = _data_table(
        document,
        [1.9, 2.8, 2.4, 2.3, 2.4, 2.3, 2.4],
        [
            [
                "Giới tính",
                "Độ tuổi",
                "Người sử dụng, người nghiện có hồ sơ",
                "Trong đó được hỗ trợ",
                "Sau cai nghiện, sau chấp hành án",
                "Trong đó được hỗ trợ",
                "Tái hòa nhập có việc làm ổn định",
            ]
        ],
        body,
        text_columns=2,
    )
    rows, bands = list(table.rows), len(AGE_BANDS)
    for index in range(len(SEXES)):
        first = 1 + index * bands
        _merge(rows[first].cells[0], rows[first + bands - 1].cells[0])
    _merge(rows[len(body)].cells[0], rows[len(body)].cells[1])


def _scope_label(facts: _Facts) -> str:
    return f"toàn {facts.division}" if facts.whole else "phạm vi báo cáo"


def _assessment(document: DocumentObject, facts: _Facts) -> None:
    built, total = facts.built, facts.built.province
    _heading(document, "III. ĐÁNH GIÁ CHUNG")
    if built.is_empty:
        _para(
            document,
            "Kỳ báo cáo này chưa có số liệu; các chỉ tiêu đều bằng 0, chưa đủ cơ sở để đánh giá.",
        )
        return
    sentences = []
    change = total.ua_change
    if change > 0:
        sentences.append(
            f"Số người sử dụng trái phép chất ma túy, người nghiện ma túy có hồ sơ quản lý tăng "
            f"{number(change)} người so với kỳ trước, chưa đạt yêu cầu không để tăng."
        )
    elif change < 0:
        sentences.append(
            f"Số người sử dụng trái phép chất ma túy, người nghiện ma túy có hồ sơ quản lý giảm "
            f"{number(-change)} người so với kỳ trước."
        )
    else:
        sentences.append(
            "Số người sử dụng trái phép chất ma túy, người nghiện ma túy có hồ sơ quản lý không "
            "tăng so với kỳ trước."
        )
    if total["ua"]:
        met = 100 * total["ua_supported"] > built.target * total["ua"]
        under = _under_target(built)
        sentence = (
            f"Tỷ lệ người sử dụng, người nghiện được hỗ trợ đạt "
            f"{percent(total.share('ua_supported', 'ua'))}, {'đạt' if met else 'chưa đạt'} chỉ "
            f"tiêu trên {built.target}%"
        )
        if under:
            sentence += f"; {number(len(under))} xã, phường có tỷ lệ chưa đạt chỉ tiêu"
        sentences.append(sentence + ".")
    statuses = built.reintegration_counts()
    reintegrated = total["reintegrated"]
    sentences.append(
        f"Có {number(reintegrated)} thanh, thiếu niên tái hòa nhập cộng đồng có việc làm ổn định "
        f"({'đạt' if reintegrated >= report.REINTEGRATION_TARGET else 'chưa đạt'} chỉ tiêu trên "
        f"{_scope_label(facts)}); {number(statuses[Reintegration.MET])}/"
        f"{number(len(built.communes))} xã, phường đạt chỉ tiêu."
    )
    alerted, _counted, missing = _alerts(built)
    if alerted:
        sentences.append(f"Có {number(len(alerted))} xã, phường ở mức cảnh báo.")
    else:
        sentences.append("Không có xã, phường nào đã nhập dân số ở mức cảnh báo.")
    if missing:
        sentences.append(f"Còn {number(missing)} xã, phường chưa nhập dân số.")
    if total["follow_ups_overdue"]:
        sentences.append(
            f"Còn {number(total['follow_ups_overdue'])} lần theo dõi, hỗ trợ quá hạn chưa thực "
            "hiện."
        )
    if built.is_provisional:
        sentences.append("Số liệu tạm tính vì kỳ báo cáo chưa kết thúc.")
    _para(document, " ".join(sentences))


def _recommendations(document: DocumentObject, facts: _Facts) -> None:
    built = facts.built
    _heading(document, "IV. PHƯƠNG HƯỚNG, KIẾN NGHỊ")
    under = _under_target(built)
    lagging = _not_reintegrated(built)
    if under:
        _para(
            document,
            "Đề nghị các xã, phường có tỷ lệ người sử dụng, người nghiện được hỗ trợ chưa đạt chỉ "
            f"tiêu ({listing([r.name for r in under])}) tăng cường tư vấn, sàng lọc, đánh giá, "
            "giáo dục thay đổi hành vi và điều trị, cai nghiện ma túy.",
        )
    if lagging:
        _para(
            document,
            "Đề nghị các xã, phường có chỉ tiêu tái hòa nhập cộng đồng có việc làm ổn định chưa "
            f"đạt ({listing([r.name for r in lagging])}) tăng cường hỗ trợ học nghề, giới thiệu "
            "việc làm, vay vốn cho người sau cai nghiện, người chấp hành xong án phạt tù.",
        )
    if not under and not lagging:
        _para(document, "Đề nghị các xã, phường tiếp tục duy trì kết quả đã đạt được.")
    _para(
        document,
        f"Trên đây là báo cáo kết quả thực hiện {PLAN} {facts.period}./.",
        keep_next=True,
    )


def _signature(document: DocumentObject, facts: _Facts) -> None:
    table = _layout_table(document, FOOTER_COLUMNS_CM)
    recipients, signer = table.cell(0, 0), table.cell(0, 1)
    _para(recipients, "Nơi nhận:", size=12, bold=True, italic=True, indent=False, after=0, before=6)
    for line in (f"- UBND {facts.division} (để b/c);", "- Lưu: VT."):
        _para(recipients, line, size=11, align=WD_ALIGN_PARAGRAPH.LEFT, indent=False, after=0)
    _centred(signer, SIGNER, bold=True, before=6)
    _centred(signer, "(Ký, ghi rõ họ tên, đóng dấu)", italic=True)
    for _line in range(5):
        _centred(signer, "")


def _appendix(document: DocumentObject, facts: _Facts) -> None:
    built = facts.built
    heading = _centred(document, "PHỤ LỤC", bold=True)
    heading.paragraph_format.page_break_before = True
    _centred(document, "Kết quả thực hiện các chỉ tiêu theo xã, phường", bold=True)
    _centred(
        document,
        f"(Kèm theo Báo cáo số        /{facts.symbol} ngày {day(built.today)})",
        size=SMALL,
        italic=True,
        after=12,
    )
    body: list[tuple[Sequence[str], bool]] = []
    with force_locale("vi"):
        labels = {status: str(label) for status, label in report.REINTEGRATION_LABELS.items()}
    for n, row in enumerate(built.communes, start=1):
        rate = row.per_10000()
        shown = "Chưa nhập dân số" if rate is None else decimal(rate)
        body.append(
            (
                [
                    str(n),
                    row.name,
                    facts.commune_district.get(row.code, "Các xã, phường khác"),
                    number(row["ua"]),
                    percent(row.share("ua_supported", "ua")),
                    number(row["reintegrated"]),
                    labels[row.reintegration(built.period, built.today)],
                    shown,
                ],
                False,
            )
        )
    total = built.province
    rate = total.per_10000()
    body.append(
        (
            [
                "",
                "Tổng cộng",
                "",
                number(total["ua"]),
                percent(total.share("ua_supported", "ua")),
                number(total["reintegrated"]),
                labels[total.reintegration(built.period, built.today)],
                "Chưa nhập dân số" if rate is None else decimal(rate),
            ],
            True,
        )
    )
    _caption(document, "Bảng 3. Kết quả theo xã, phường")
    table = _data_table(
        document,
        [0.9, 3.4, 3.0, 1.7, 1.8, 1.6, 2.3, 1.8],
        [
            [
                "STT",
                "Xã, phường",
                "Huyện cũ",
                "Người sử dụng, người nghiện có hồ sơ",
                "Tỷ lệ được hỗ trợ",
                "Tái hòa nhập có việc làm ổn định",
                "Chỉ tiêu tái hòa nhập",
                "Trên 10.000 dân",
            ]
        ],
        body,
        text_columns=3,
    )
    for row, cells in zip(built.communes, (r.cells for r in list(table.rows)[1:]), strict=False):
        if row.alert(built.alert_per_10000):
            for run in cells[7].paragraphs[0].runs:
                run.bold = True
        for cell in cells[6:8]:
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    notes = [
        "Người có hồ sơ quản lý trong kỳ: hồ sơ lập đến ngày cuối kỳ và chưa đóng trước ngày đầu "
        "kỳ; hồ sơ được tính cho xã, phường đang quản lý.",
        "Được hỗ trợ: được sàng lọc, xác định tình trạng nghiện, tư vấn, giáo dục thay đổi hành "
        "vi hoặc điều trị, cai nghiện ma túy trong kỳ.",
        "Tái hòa nhập có việc làm ổn định: được cán bộ phụ trách xác nhận trong kỳ. Chỉ tiêu: "
        "mỗi năm ít nhất 1 người trên mỗi xã, phường.",
        f"Trên 10.000 dân: người sử dụng, người nghiện có hồ sơ quản lý trên 10.000 dân; số in "
        f"đậm là ở mức cảnh báo (từ {number(built.alert_per_10000)} trở lên).",
    ]
    _para(document, "Ghi chú:", size=12, bold=True, italic=True, indent=False, before=6, after=0)
    for line in notes:
        _para(document, f"- {line}", size=12, italic=True, indent=False, after=0)


def _properties(document: DocumentObject, facts: _Facts) -> None:
    built = facts.built
    core = document.core_properties
    core.title = f"Báo cáo kết quả thực hiện {PLAN} {facts.period}"
    core.subject = PLAN
    core.author = facts.issuer
    core.last_modified_by = facts.issuer
    core.comments = ""
    core.keywords = ""
    core.category = "Báo cáo"
    core.language = "vi-VN"
    core.revision = 1
    moment = built.generated_at.astimezone(UTC).replace(tzinfo=None)
    core.created = moment
    core.modified = moment
    # The template's thumbnail shows another document: drop it rather than mislead.
    relationships = document.part.package.rels
    for key, relationship in list(relationships.items()):
        if relationship.reltype.endswith("/metadata/thumbnail"):
            relationships.pop(key)


def report_document(built: Report) -> bytes:
    """The report as DOCX bytes, in Vietnamese (call inside an application context)."""
    facts = _Facts(built)
    document = Document()
    _setup(document)
    _page_number(document)
    _properties(document, facts)
    _header_block(document, facts)
    _title(document, facts)
    _general(document, facts)
    _results(document, facts)
    _assessment(document, facts)
    _recommendations(document, facts)
    _signature(document, facts)
    _appendix(document, facts)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
