"""The report as a Word document (Decree 30/2020/NĐ-CP layout): built from a small synthetic
dataset through the real services, reopened with python-docx. Synthetic people only."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import date

import pytest
import sqlalchemy as sa
import time_machine
from docx import Document
from docx.document import Document as DocumentObject
from docx.oxml.ns import qn
from docx.shared import Length
from docx.table import Table
from flask import Flask

from caseapp.cases.models import Case, Category, Sex
from caseapp.cases.services import CaseData, create_case
from caseapp.dates import VIETNAM
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.geo.services import set_population
from caseapp.indicators import periods, report
from caseapp.indicators.document import dated, initials, listing, money, percent, report_document
from caseapp.users.models import Role, ScopeKind, User
from caseapp.users.services import UserInput, create_user
from caseapp.workflow import services
from caseapp.workflow.models import ScreeningMethod, ScreeningResult, ScreeningSource
from tests.conftest import C1, C2
from tests.indicators.conftest import NAMES, Province

TODAY = date(2026, 11, 28)
NAME = "Nguyễn Văn Thử"
CCCD = "034210123456"  # Thái Bình, male born in 2010


def _account(app: Flask, role: Role, scope: ScopeKind, communes: list[int]) -> User:
    user, _password = create_user(
        app.extensions["caseapp.settings"],
        UserInput(f"{role.value}.docx", "Cán bộ thử", role, scope, communes),
        actor=None,
    )
    db.session.commit()
    return user


def _case(
    worker: User, name: str, born: date, sex: Sex, commune: int, national_id: str | None = None
) -> Case:
    data = CaseData(
        full_name=name,
        date_of_birth=born,
        sex=sex,
        national_id=national_id,
        phone=None,
        address=None,
        guardian_name="Người Giám Hộ Thử",
        guardian_relation=None,
        guardian_phone=None,
        notes=None,
        commune_code=commune,
        category=Category.USER,
        education=None,
        occupation=None,
        drug_types=[],
        assigned_worker_id=None,
        intake_on=date(2026, 3, 1),
    )
    case, _duplicates = create_case(data, actor=worker)
    db.session.commit()
    return case


@pytest.fixture
def dataset(app: Flask, frozen: time_machine.Coordinates) -> str:
    """Two youth in C1 (one screened positive) and one in C2; C1 has 400 residents, so its two
    users are exactly at the alert level (50 per 10,000). Returns the named youth's case code."""
    with app.app_context():
        worker = _account(app, Role.WORKER, ScopeKind.COMMUNES, [C1, C2])
        admin = _account(app, Role.ADMIN, ScopeKind.NONE, [])
        named = _case(worker, NAME, date(2010, 5, 4), Sex.MALE, C1, national_id=CCCD)
        services.record_screening(
            named, screened_on=date(2026, 3, 5), source=ScreeningSource.POLICE,
            method=ScreeningMethod.DRUG_TEST, result=ScreeningResult.POSITIVE,
            actor=worker, today=TODAY,
        )  # fmt: skip
        _case(worker, "Trần Thị Mẫu", date(2011, 8, 9), Sex.FEMALE, C1)
        _case(worker, "Lê Văn Giả", date(2000, 1, 2), Sex.MALE, C2)
        commune = db.session.get(Commune, C1)
        assert commune is not None
        set_population(commune, 400, actor=admin)
        db.session.commit()
        return db.session.get(Case, named.id).code  # type: ignore[union-attr]


def _open(data: bytes) -> DocumentObject:
    return Document(io.BytesIO(data))


def _texts(document: DocumentObject) -> list[str]:
    """Every paragraph of the body, the tables (nested too) and the headers, in order."""
    found = [p.text for p in document.paragraphs]

    def walk(tables: list[Table]) -> None:
        for table in tables:
            for row in table.rows:
                for cell in row.cells:
                    found.extend(p.text for p in cell.paragraphs)
                    walk(cell.tables)

    walk(document.tables)
    for section in document.sections:
        found.extend(p.text for p in section.header.paragraphs)
    return found


def _xml(data: bytes) -> str:
    """Every part of the package (XML or not), as text."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "\n".join(
            archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist()
        )


def _rows(table: Table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _build(app: Flask, key: str = "2026") -> tuple[report.Report, bytes]:
    with app.app_context():
        built = report.build(periods.parse(key), today=TODAY)
        return built, report_document(built)


def test_layout_follows_decree_30(app: Flask, dataset: str) -> None:
    built, data = _build(app)
    document = _open(data)
    section = document.sections[0]
    sizes = (
        section.page_width,
        section.page_height,
        section.top_margin,
        section.bottom_margin,
        section.left_margin,
        section.right_margin,
    )
    # Stored in twentieths of a point: equal to the millimetre within rounding.
    assert [round(Length(s).mm, 1) for s in sizes] == [210, 297, 20, 20, 30, 15]
    normal = document.styles["Normal"]
    assert normal.font.name == "Times New Roman"
    fonts = normal.element.rPr.rFonts
    assert fonts.get(qn("w:eastAsia")) == "Times New Roman"
    assert normal.font.size.pt in (13, 14)

    texts = _texts(document)
    assert "UBND TỈNH HƯNG YÊN" in texts
    assert "SỞ NỘI VỤ" in texts
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in texts
    assert "Độc lập - Tự do - Hạnh phúc" in texts
    assert "Hưng Yên, ngày 28 tháng 11 năm 2026" in texts
    assert any(re.fullmatch(r"Số:\s+/BC-SNV", t) for t in texts)
    assert "BÁO CÁO" in texts
    title = next(t for t in texts if t.startswith("Kết quả thực hiện Kế hoạch"))
    assert title == (
        "Kết quả thực hiện Kế hoạch phòng, chống ma túy trong thanh, thiếu niên năm 2026"
    )
    assert title.endswith(built.period.official_name)
    headings = [t for t in texts if re.match(r"(I|II|III|IV)\. ", t)]
    assert headings == [
        "I. TÌNH HÌNH CHUNG",
        "II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU",
        "III. ĐÁNH GIÁ CHUNG",
        "IV. PHƯƠNG HƯỚNG, KIẾN NGHỊ",
    ]
    assert any(t.startswith("Số liệu tính từ ngày 15/12/2025 đến ngày 14/12/2026") for t in texts)
    extracted = built.computed_at.astimezone(VIETNAM)
    assert any(f"trích xuất lúc {extracted:%H:%M} ngày {extracted:%d/%m/%Y}" in t for t in texts)
    assert any("Số liệu tạm tính" in t for t in texts)  # the year ends on 14/12/2026
    assert "Nơi nhận:" in texts
    assert "- Lưu: VT." in texts
    assert "THỦ TRƯỞNG CƠ QUAN" in texts
    assert "PHỤ LỤC" in texts
    # Page numbers in the header from the second page only.
    assert section.different_first_page_header_footer
    assert 'w:instr=" PAGE "' in section.header._element.xml
    assert "PAGE" not in section.first_page_header._element.xml


def test_tables_add_up_to_the_report(app: Flask, dataset: str) -> None:
    built, data = _build(app)
    total = built.province
    assert (total["ua"], total["ua_supported"]) == (3, 1)  # the dataset as the report sees it
    document = _open(data)
    _header, districts, breakdown, _signature, communes = document.tables

    assert _rows(districts)[-1][1:] == [
        "Tổng cộng",
        _number(total["ua"]),
        _number(total.previous.get("ua", 0)),
        _number(total["ua_supported"]),
        percent(total.share("ua_supported", "ua")),
        _number(total["pr"]),
        percent(total.share("pr_supported", "pr")),
        _number(total["reintegrated"]),
    ]
    assert len(_rows(districts)) == 2 + len(built.districts) + 1
    assert sum(int(r[2]) for r in _rows(districts)[2:-1]) == total["ua"]

    rows = _rows(breakdown)
    assert [r[1] for r in rows[1:7]] == ["12 – dưới 16", "16 – dưới 18", "18 – 30"] * 2
    assert rows[1][0] == rows[3][0] == "Nam"  # merged over the three age bands
    assert rows[4][0] == "Nữ"
    assert sum(int(r[2]) for r in rows[1:7]) == total["ua"] == int(rows[-1][2])
    assert rows[2][2] == "1"  # the male youth born in 2010 is 16 in 2026

    rows = _rows(communes)
    by_name = {r[1]: r for r in rows[1:-1]}
    assert len(by_name) == len(built.communes)
    with app.app_context():
        c1 = db.session.get(Commune, C1)
        c2 = db.session.get(Commune, C2)
        assert c1 is not None
        assert c2 is not None
        c1_row, c2_row = by_name[c1.name], by_name[c2.name]
    # Two users, one screened; nobody reintegrated nor in work yet, the year not over.
    assert c1_row[3:] == ["2", "50,0 %", "0", "Có nguy cơ không đạt", "50,0"]
    assert c2_row[7] == "Chưa nhập dân số"
    cell = communes.cell(list(by_name).index(c1.name) + 1, 7)
    assert all(run.bold for run in cell.paragraphs[0].runs)  # at the alert level: bold
    assert rows[-1][1] == "Tổng cộng"
    assert rows[-1][3] == _number(total["ua"])

    texts = _texts(document)
    assert any(c1.name in t and "mức cảnh báo" in t for t in texts)
    assert any("chưa nhập dân số" in t for t in texts)


def test_no_identity_anywhere(app: Flask, dataset: str) -> None:
    _built, data = _build(app)
    xml = _xml(data)
    for secret in (NAME, "Trần Thị Mẫu", "Lê Văn Giả", "Người Giám Hộ Thử", dataset, CCCD):
        assert secret not in xml
    assert "python-docx" not in xml  # the document's properties name the issuer instead


def test_empty_period_says_so(app: Flask, dataset: str) -> None:
    built, data = _build(app, "2021")
    assert built.is_empty
    texts = _texts(_open(data))
    assert any("chưa có số liệu" in t and "các chỉ tiêu đều bằng 0" in t for t in texts)
    assert not any("Số liệu tạm tính" in t for t in texts)
    districts = _open(data).tables[1]
    assert _rows(districts)[-1][2:5] == ["0", "0", "0"]


def test_issuer_is_configurable_and_text_stays_vietnamese(
    app_factory: Callable[..., Flask], frozen: time_machine.Coordinates
) -> None:
    app = app_factory(REPORT_ISSUER="Sở Y tế", DEFAULT_LOCALE="en")
    with app.app_context():
        built = report.build(periods.parse("2025-H1"), today=TODAY)
        data = report_document(built)
    texts = _texts(_open(data))
    assert "SỞ Y TẾ" in texts
    assert any(re.fullmatch(r"Số:\s+/BC-SYT", t) for t in texts)
    assert "Nam" in texts  # the sex labels are rendered in Vietnamese, whatever the locale
    assert "Male" not in texts
    assert any(
        t.startswith("Kết quả thực hiện Kế hoạch") and "6 tháng đầu năm 2025" in t for t in texts
    )


def test_formatting_helpers() -> None:
    assert money(1_234_567) == "1.234.567 đồng"
    assert percent(82.5) == "82,5 %"
    assert percent(None) == "–"
    assert dated("Hưng Yên", date(2026, 2, 5)) == "Hưng Yên, ngày 05 tháng 02 năm 2026"
    assert dated("Hưng Yên", date(2026, 11, 28)) == "Hưng Yên, ngày 28 tháng 11 năm 2026"
    assert initials("SỞ NỘI VỤ") == "SNV"
    assert initials("SỞ LAO ĐỘNG - THƯƠNG BINH VÀ XÃ HỘI") == "SLĐTBXH"
    names = [f"Xã {n}" for n in range(12)]
    assert listing(names).endswith("Xã 9 và 2 xã, phường khác")
    assert listing(names[:2]) == "Xã 0, Xã 1"


def test_activity_of_the_shared_province(province: Province) -> None:
    """The hand-built province of ``conftest``: rehab, relapse, training, a loan and a
    reintegration reach the document's sentences, and none of its people do."""
    built = report.build(periods.parse("2026"), today=TODAY)
    data = report_document(built)
    texts = _texts(_open(data))
    body = "\n".join(texts)
    assert (
        "- Vay vốn Ngân hàng Chính sách xã hội: giới thiệu 1 hồ sơ, số tiền đề nghị 50.000.000 "
        "đồng; được phê duyệt 1 hồ sơ, số tiền 40.000.000 đồng; bị từ chối 0 hồ sơ; đã giải "
        "ngân 1 hồ sơ, số tiền 40.000.000 đồng."
    ) in texts
    assert (
        "- Điều trị thay thế bằng methadone: bắt đầu 1; hoàn thành 0; đang thực hiện cuối kỳ 1 "
        "trường hợp."
    ) in texts
    assert "- Số lần tái nghiện, tái sử dụng được ghi nhận trong kỳ: 1." in texts
    assert f"Trong kỳ có {built.province['reintegrated']} người sau cai nghiện" in body
    statuses = built.reintegration_counts()
    assert f"Số xã, phường đạt chỉ tiêu: {statuses[report.Reintegration.MET]}/" in body
    xml = _xml(data)
    for name in NAMES.values():
        assert name not in xml
    for code in province.codes.values():
        assert code not in xml


def test_a_commune_report_names_its_scope(app: Flask, dataset: str) -> None:
    with app.app_context():
        commune = db.session.get(Commune, C1)
        assert commune is not None
        name = commune.name
        built = report.build(
            periods.parse("2026"),
            communes=sa.select(Commune.code).where(Commune.code == C1),
            scope_name=name,
            today=TODAY,
        )
        data = report_document(built)
    texts = _texts(_open(data))
    assert f"Phạm vi: {name}" in texts
    assert any(
        f"trên địa bàn {name[0].lower()}{name[1:]} có 2 thanh, thiếu niên" in t for t in texts
    )
    assert "UBND TỈNH HƯNG YÊN" in texts  # the issuing body stays the province's
    _header, districts, _breakdown, _signature, communes = _open(data).tables
    assert len(_rows(districts)) == 2 + 1 + 1
    assert [r[1] for r in _rows(communes)[1:]] == [name, "Tổng cộng"]
