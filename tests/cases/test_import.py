"""Importing existing case files from XLSX or CSV: all rows checked first, nothing stored unless the
whole file is valid, problems named by row and column (never by value), duplicates reported."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseapp.audit import AuditEvent
from caseapp.cases.models import Case, CaseEvent, DuplicatePair
from caseapp.extensions import db
from caseapp.users.models import Role
from tests.cases.conftest import CCCD, NAME, open_case
from tests.conftest import C1, C2, login
from tests.test_pages import check_page

URL = "/cases/import"
HEADERS = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số CCCD", "Xã, phường", "Đối tượng",
           "Loại ma túy", "Ngày tiếp nhận"]  # fmt: skip
# Synthetic people, adults (no guardian needed), born 2000: CCCD 034 (Thái Bình), 2 (male, 2000s)
# or 3 (female, 2000s), 00 (year), six more digits.
PEOPLE = [
    ["1", "Phạm Văn Qxa", "15/03/2000", "Nam", "034200000101", str(C1), "Người nghiện ma túy",
     "Ma túy đá; Cần sa", "02/01/2025"],
    ["2", "Lê Thị Qxb", "20/07/2000", "Nữ", "034300000102", str(C1), "Sử dụng", "", ""],
    ["3", "Vũ Văn Qxc", "01/12/2000", "nam", "", str(C1), "sau cai",
     "Cần sa tổng hợp, thuốc lá điện tử chứa ma túy, heroin", "10/10/2025"],
]  # fmt: skip


def csv_bytes(rows: list[list[object]], headers=HEADERS, *, delimiter=",", bom=True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def xlsx_bytes(rows: list[list[object]], headers=HEADERS, *, title=None, above=()) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    for row in above:
        sheet.append(row)
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, content: bytes, filename: str = "ho-so.csv", button: str = "submit"):
    """POST the file as a browser does. The body is built here: werkzeug's test client spools a
    large one to a temporary file that it never closes (a ResourceWarning, an error here)."""
    boundary = "----caseapp-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{button}"\r\n\r\n1\r\n'
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        URL,
        input_stream=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=len(body),
    )


def page(response) -> str:
    return response.get_data(as_text=True)


def count_cases(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Case.id)))


def test_page_lists_the_template_and_offers_it(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    html = page(client.get(URL))
    check_page(html)
    for header in ("Họ và tên", "Ngày sinh", "Số CCCD", "Xã, phường", "Đối tượng", "Loại ma túy"):
        assert header in html
    assert 'enctype="multipart/form-data"' in html
    assert "Nhập từ tệp" in page(client.get("/cases"))
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"{URL}/template.xlsx").data))
    headers = [c.value for c in book.worksheets[0][1]]
    assert headers[:3] == ["Họ và tên", "Ngày sinh", "Giới tính"]
    assert "Hướng dẫn" in book.sheetnames
    template_csv = client.get(f"{URL}/template.csv")
    assert template_csv.mimetype == "text/csv"
    assert template_csv.data.startswith("\ufeffHọ và tên,Ngày sinh".encode())


@pytest.mark.parametrize("fmt", ["csv-semicolon", "csv-comma-no-bom", "xlsx"])
def test_valid_file_imports_every_row(app, logged_in, worker_c1, fmt):
    client = logged_in(worker_c1)
    if fmt == "xlsx":
        content, name = xlsx_bytes(PEOPLE, title="DANH SÁCH THANH THIẾU NIÊN"), "ds.xlsx"
    elif fmt == "csv-semicolon":
        content, name = csv_bytes(PEOPLE, delimiter=";"), "ds.csv"
    else:
        content, name = csv_bytes(PEOPLE, bom=False), "ds.csv"
    response = upload(client, content, name)
    assert response.status_code == 302, page(response)[-2000:]
    html = page(client.get(response.headers["Location"]))
    assert "Đã nhập 3 hồ sơ từ tệp." in html
    listing = page(client.get("/cases"))
    for person in PEOPLE:
        assert person[1] in listing
    with app.app_context():
        cases = {c.full_name: c for c in db.session.scalars(sa.select(Case))}
        assert set(cases) == {p[1] for p in PEOPLE}
        first = cases["Phạm Văn Qxa"]
        assert first.national_id == "034200000101"
        assert first.date_of_birth.isoformat() == "2000-03-15"
        assert first.intake_on.isoformat() == "2025-01-02"
        assert (first.category, first.sex, first.commune_code) == ("addicted", "male", C1)
        assert first.assigned_worker_id == worker_c1.id
        assert sorted(d.drug_type for d in first.drug_types) == ["cannabis", "methamphetamine"]
        third = cases["Vũ Văn Qxc"]
        assert third.national_id is None
        assert third.category == "post_rehab"
        assert sorted(d.drug_type for d in third.drug_types) == [
            "opioids",
            "synthetic_cannabinoids",
        ]
        assert cases["Lê Thị Qxb"].sex == "female"
        kinds = set(db.session.scalars(sa.select(CaseEvent.kind)))
        assert kinds == {"imported"}
        code = first.code
    assert "Nhập từ tệp" in page(client.get(f"/cases/{code}"))  # the timeline


def test_filled_in_template_imports(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"{URL}/template.xlsx").data))
    sheet = book.worksheets[0]
    position = {cell.value: cell.column for cell in sheet[1]}
    values = {"Họ và tên": "Đỗ Thị Qxd", "Ngày sinh": date(2001, 4, 9), "Giới tính": "Nữ",
              "Số CCCD": "034301000103", "Xã, phường": "Phường Trần Hưng Đạo",
              "Đối tượng": "Người sử dụng trái phép chất ma túy",
              "Trình độ học vấn": "THPT", "Tình trạng việc làm": "Có việc làm"}  # fmt: skip
    for header, value in values.items():
        sheet.cell(row=2, column=position[header], value=value)
    out = io.BytesIO()
    book.save(out)
    assert upload(client, out.getvalue(), "mau.xlsx").status_code == 302
    with app.app_context():
        case = db.session.scalars(sa.select(Case)).one()
        assert (case.full_name, case.commune_code) == ("Đỗ Thị Qxd", C1)
        assert case.date_of_birth.isoformat() == "2001-04-09"
        assert (case.education, case.occupation) == ("upper_secondary", "employed")


BAD_ROWS = {
    "bad date": ({2: "31/02/2000"}, "Ngày sinh", "Ngày này không có trên lịch."),
    "bad CCCD": ({4: "034200000102"}, "Số CCCD", "Số thứ 4 của CCCD không khớp với giới tính."),
    "out of scope": ({5: str(C2)}, "Xã, phường", "không thuộc phạm vi bạn phụ trách"),
    "unknown category": ({6: "Đối tượng lạ"}, "Đối tượng", "Không nhận ra giá trị này"),
    "empty required": ({1: ""}, "Họ và tên", "Ô bắt buộc, không được để trống."),
    "bad drug": ({7: "Ma túy đá; bột lạ"}, "Loại ma túy", "loại ma túy thứ 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_one_bad_row_stores_nothing_and_is_named(app, logged_in, worker_c1, case):
    changes, column, message = BAD_ROWS[case]
    client = logged_in(worker_c1)
    rows = [list(p) for p in PEOPLE]
    for index, value in changes.items():
        rows[1][index] = value
    response = upload(client, csv_bytes(rows))
    assert response.status_code == 200
    html = page(response)
    check_page(html)
    assert count_cases(app) == 0
    assert "chưa có hồ sơ nào được lưu" in html
    cells = [c.strip() for c in html.split('id="import-errors"')[1].split("<td>")[1:4]]
    assert cells[0].startswith("3<")  # row 3 of the spreadsheet: the second person
    assert cells[1].startswith(f"{column}<")
    assert message in cells[2]
    assert 'aria-describedby="file-help file-error"' in html
    assert 'aria-invalid="true"' in html


def test_error_report_names_rows_and_columns_only(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    rows = [list(p) for p in PEOPLE]
    rows[0][2] = "1999-13-45"
    rows[2][4] = "34200000103"  # the leading zero lost
    response = upload(client, csv_bytes(rows), button="report")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    text = response.data.decode("utf-8-sig")
    report = list(csv.reader(io.StringIO(text)))
    assert report[0] == ["Dòng", "Cột", "Lỗi"]
    assert [r[:2] for r in report[1:]] == [["2", "Ngày sinh"], ["4", "Số CCCD"]]
    assert "bỏ số 0 ở đầu" in report[2][2]
    for person in PEOPLE:
        for value in person[1:5]:
            assert not value or value not in text
    assert count_cases(app) == 0


def test_duplicates_within_the_file_are_reported(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    rows = [list(p) for p in PEOPLE]
    same_cccd = [*rows[0]]
    same_cccd[1] = "Phạm Văn Khác"
    same_person = [*rows[1]]
    same_person[1] = "  lê thị   qxb "  # same name and date of birth, typed differently
    same_person[4] = ""
    response = upload(client, csv_bytes([*rows, same_cccd, same_person]))
    html = page(response)
    assert "Trùng số CCCD với dòng 2 trong tệp." in html
    assert "Trùng họ tên và ngày sinh với dòng 3 trong tệp." in html
    assert count_cases(app) == 0


def test_duplicate_of_a_case_in_another_commune_is_imported_and_flagged(app, worker_c1, worker_c2):
    other = app.test_client()
    login(other, worker_c2)
    other_code = open_case(other, commune_code=str(C2))
    client = app.test_client()
    login(client, worker_c1)
    same = ["1", NAME, "05/09/2008", "Nam", CCCD, str(C1), "Người nghiện ma túy", "", ""]
    response = upload(client, csv_bytes([same, PEOPLE[0]]))
    assert response.status_code == 302
    html = page(client.get(URL))
    assert "Đã nhập 2 hồ sơ từ tệp." in html
    assert "1 người có thể đã có hồ sơ" in html
    assert "dòng 2." in html
    assert "Xã Vũ Tiên" not in html  # where the other file is stays unsaid
    assert other_code not in html
    with app.app_context():
        pair = db.session.scalars(sa.select(DuplicatePair)).one()
        assert pair.matched_on == "national_id"
        communes = {pair.case_a.commune_code, pair.case_b.commune_code}
        assert communes == {C1, C2}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([h for h in HEADERS if h != "Đối tượng"], ["Đối tượng", "Thiếu cột bắt buộc."]),
        ([*HEADERS[:-1], "Cột lạ"], ["Cột lạ", "Cột này không có trong mẫu"]),
        ([*HEADERS[:-1], "Ngày sinh"], ["Ngày sinh", "Cột này xuất hiện hai lần."]),
        (["ho va ten", "NGAY SINH", "Gioi tinh", "So CCCD", "xa/phuong", "Doi tuong"], None),
    ],
)
def test_headers_are_matched_loosely_and_wrong_ones_named(app, logged_in, worker_c1, headers,
                                                          expected):  # fmt: skip
    client = logged_in(worker_c1)
    rows = [[p[h] for h in range(len(headers))] for p in PEOPLE] if expected else [
        p[1:7] for p in PEOPLE
    ]  # fmt: skip
    response = upload(client, csv_bytes(rows, headers))
    if expected is None:
        assert response.status_code == 302
        assert count_cases(app) == 3
        return
    html = page(response)
    for text in expected:
        assert text in html
    assert count_cases(app) == 0


def test_file_without_a_header_row_does_not_echo_its_first_line(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    content = csv_bytes(PEOPLE[1:], PEOPLE[0])
    html = page(upload(client, content))
    assert "Không nhận ra dòng tiêu đề" in html
    assert "Phạm Văn Qxa" not in html
    assert "034200000101" not in html


def test_a_person_above_the_header_row_is_not_skipped_quietly(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    html = page(upload(client, xlsx_bytes(PEOPLE[1:], title=None, above=[PEOPLE[0]]), "a.xlsx"))
    assert "Dòng này nằm trên dòng tiêu đề" in html
    assert count_cases(app) == 0


def _zip_not_xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "xin chào")
    return out.getvalue()


UNREADABLE = {
    "empty": (b"", "a.csv", "Tệp trống."),
    "blank lines": (b"\r\n ; \r\n", "a.csv", "Tệp trống."),
    "header only": (csv_bytes([]), "a.csv", "Tệp chỉ có dòng tiêu đề"),
    "pdf renamed": (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        "a.xlsx",
        "không phải bảng tính Excel",
    ),
    "zip renamed": (_zip_not_xlsx(), "a.xlsx", "không phải bảng tính Excel"),
    "xlsx named csv": (xlsx_bytes(PEOPLE), "a.csv", "đổi tên thành .xlsx"),
    "old xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a.xls", "Định dạng .xls cũ"),
    "other type": (b"hello", "a.txt", "Chỉ nhận tệp .xlsx hoặc .csv."),
    "not utf-8": (b"Ho va ten,Ng\xe0y sinh\n", "a.csv", "UTF-8"),  # Windows-1258
    "binary csv": (b"\x00\x01\x02abc", "a.csv", "không phải tệp CSV"),
    "broken quote": (b'"H\xc6\xa1,\n' + b"x" * 200_000, "a.csv", "Không đọc được tệp CSV"),
    "too large": (csv_bytes([]) + b"x" * (5 * 1024 * 1024), "a.csv", "Tệp lớn hơn 5 MB."),
    "too many rows": (csv_bytes([PEOPLE[1]] * 2001), "a.csv", "Tệp có hơn 2.000 dòng"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_or_oversized_files_are_refused_clearly(app, logged_in, worker_c1, case):
    content, name, message = UNREADABLE[case]
    client = logged_in(worker_c1)
    response = upload(client, content, name)
    assert response.status_code == 200
    html = page(response)
    check_page(html)
    assert message in html
    assert count_cases(app) == 0


CELL = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=30),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.booleans(),
    st.sampled_from(["Nam", "Nữ", str(C1), str(C2), "15/03/2000", "034200000101", "Nghiện"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text_rows=st.lists(st.lists(st.text(max_size=30), max_size=10), max_size=4),
    cell_rows=st.lists(st.lists(CELL, max_size=10), max_size=4),
    raw=st.binary(max_size=300),
    extension=st.sampled_from(["csv", "xlsx"]),
)
def test_fuzzed_files_never_fail_or_half_save(
    app, logged_in, worker_c1, text_rows, cell_rows, raw, extension
):
    client = logged_in(worker_c1)
    for content, name in (
        (csv_bytes(text_rows, HEADERS[1:]), "f.csv"),
        (xlsx_bytes(cell_rows, HEADERS[1:]), "f.xlsx"),
        (raw, f"f.{extension}"),
    ):
        before = count_cases(app)
        response = upload(client, content, name)
        assert response.status_code in (200, 302)
        if response.status_code == 200:
            assert count_cases(app) == before


def test_numeric_cccd_and_date_cells_of_a_workbook(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    rows = [list(p) for p in PEOPLE[:2]]
    rows[0][4] = 34200000101  # typed into a number cell: the leading zero is gone
    rows[1][2] = 36727  # a date typed into a number cell
    rows[1][5] = C1  # a commune code as a number is fine
    html = page(upload(client, xlsx_bytes(rows), "ds.xlsx"))
    assert "mất số 0 ở đầu" in html
    assert "định dạng cột là Văn bản (Text)" in html
    assert "Ô ngày đang ở dạng số" in html
    assert count_cases(app) == 0


def test_report_neutralises_formula_like_cells(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    headers = [*HEADERS, '=HYPERLINK("http://x.invalid","bấm")', "+1", "@SUM(A1)", "-2", "\tx"]
    response = upload(client, csv_bytes([], headers), button="report")
    report = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    columns = [row[1] for row in report[1:]]
    assert columns == ["'=HYPERLINK(\"http://x.invalid\",\"bấm\")", "'+1", "'@SUM(A1)", "'-2",
                       "x"]  # fmt: skip
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in report for cell in r)


def test_check_only_stores_nothing_and_import_is_audited_with_counts(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    html = page(upload(client, csv_bytes(PEOPLE), button="check"))
    assert "Tệp hợp lệ: 3 dòng có thể nhập." in html
    report = upload(client, csv_bytes(PEOPLE), button="report")  # nothing to report: the page
    assert report.mimetype == "text/html"
    assert "Tệp hợp lệ: 3 dòng có thể nhập." in page(report)
    assert count_cases(app) == 0
    upload(client, csv_bytes(PEOPLE))
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "case_import").order_by(AuditEvent.id)
        ).all()
        assert [json.loads(e.details)["mode"] for e in events] == ["check", "report", "import"]
        details = json.loads(events[-1].details)
        assert details == {"mode": "import", "format": "csv", "rows": 3, "errors": 0,
                           "rows_in_error": 0, "imported": 3, "possible_duplicates": 0}  # fmt: skip
        assert events[-1].actor_id == worker_c1.id
        trail = " ".join(db.session.scalars(sa.select(AuditEvent.details)))
        for person in PEOPLE:
            assert person[1] not in trail
        assert "034200000101" not in trail


def test_officer_imports_into_communes_named_or_coded(app, logged_in, make_account):
    client = logged_in(make_account(Role.OFFICER))
    rows = [list(p) for p in PEOPLE]
    rows[0][5] = "xã vũ tiên"
    rows[1][5] = "Xa Vu Tien"
    response = upload(client, csv_bytes(rows))
    assert response.status_code == 302, page(response)[-2000:]
    with app.app_context():
        cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
        assert [c.commune_code for c in cases] == [C2, C2, C1]
        assert {c.assigned_worker_id for c in cases} == {None}


def test_missing_file_is_a_field_error(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    html = page(client.post(URL, data={"submit": "1"}, content_type="multipart/form-data"))
    check_page(html)
    assert "Chọn tệp cần nhập." in html


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_may_not_import(app, make_account, role):
    client = app.test_client()
    login(client, make_account(role))
    for path in (URL, f"{URL}/template.xlsx", f"{URL}/template.csv"):
        assert client.get(path).status_code == 403
    assert upload(client, csv_bytes(PEOPLE)).status_code == 403
    assert count_cases(app) == 0
