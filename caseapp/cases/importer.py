"""Import of existing case files from a spreadsheet (XLSX or CSV) laid out as the template.

Every row is checked with the form's own rules (``services.check_input``) before anything is stored;
one problem anywhere and nothing is stored. A problem names the spreadsheet row and the template's
column, never a cell's value, so the error report may leave the page without carrying identities.
Rows that may be people who already have a file (blind-index match in any commune) are imported and
flagged for officers by ``services.create_case``, which never says where the other file is.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import openpyxl
import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from caseapp import audit, authz
from caseapp.cases import services
from caseapp.cases.models import (
    CATEGORY_LABELS,
    CATEGORY_SHORT,
    DRUG_LABELS,
    EDUCATION_LABELS,
    OCCUPATION_LABELS,
    SEX_LABELS,
    Category,
    DrugType,
    Education,
    Occupation,
)
from caseapp.cases.validation import parse_day
from caseapp.crypto import name_dob_key, normalise_cccd, normalise_name
from caseapp.errors import FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.users.models import Role, User

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 2000
MAX_COLUMNS = 50
# An XLSX file is a zip archive: its unpacked size is checked before any XML is parsed.
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
# Commune spreadsheets often carry a title or two above the header row.
HEADER_SEARCH_ROWS = 10
HEADER_MIN_KNOWN = 2
HEADER_ECHO_MAX = 60
CCCD_DIGITS = 12
# A report cell starting with one of these would be run as a formula by a spreadsheet.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXCEL_DATE_FORMAT = "{0.day:02d}/{0.month:02d}/{0.year:04d}"


class Kind(StrEnum):
    TEXT = "text"
    DATE = "date"
    CCCD = "cccd"
    CHOICE = "choice"
    DRUGS = "drugs"
    COMMUNE = "commune"


@dataclass(frozen=True)
class Column:
    """One column of the template. The header is Vietnamese in every language: it is the format."""

    field: str
    header: str
    required: bool
    kind: Kind
    help: Any  # a lazy string, shown in the user's language
    example: str
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("full_name", "Họ và tên", True, Kind.TEXT,
           _l("Họ, chữ đệm và tên, gõ có dấu."), "Nguyễn Văn An", ("Họ tên",)),
    Column("date_of_birth", "Ngày sinh", True, Kind.DATE,
           _l("Ngày/tháng/năm (dd/mm/yyyy). Từ 12 đến 30 tuổi vào ngày tiếp nhận."), "05/09/2008",
           ("Ngày tháng năm sinh",)),
    Column("sex", "Giới tính", True, Kind.CHOICE, _l("Theo giấy tờ tùy thân."), "Nam"),
    Column("national_id", "Số CCCD", False, Kind.CCCD,
           _l("12 chữ số, khớp với năm sinh và giới tính. Định dạng cột là Văn bản (Text) để "
              "Excel giữ số 0 ở đầu. Để trống nếu chưa có."), "034208012345",
           ("CCCD", "Số định danh cá nhân", "Số định danh cá nhân (CCCD)", "Số căn cước",
            "Số căn cước công dân")),
    Column("phone", "Số điện thoại", False, Kind.TEXT, _l("Có thể để trống."), "0912 345 678",
           ("Điện thoại", "SĐT")),
    Column("address", "Nơi ở hiện tại", False, Kind.TEXT, _l("Có thể để trống."),
           "Thôn Đông, xã ...", ("Địa chỉ", "Nơi ở")),
    Column("guardian_name", "Người giám hộ", False, Kind.TEXT,
           _l("Họ tên người đại diện hợp pháp; bắt buộc với người dưới 18 tuổi."),
           "Nguyễn Thị Bình",
           ("Họ tên người giám hộ", "Họ tên người giám hộ (người đại diện hợp pháp)",
            "Người đại diện hợp pháp")),
    Column("guardian_relation", "Quan hệ với người giám hộ", False, Kind.TEXT,
           _l("Ví dụ: Mẹ, Bố, Ông, Bà."), "Mẹ", ("Quan hệ",)),
    Column("guardian_phone", "Số điện thoại người giám hộ", False, Kind.TEXT,
           _l("Có thể để trống."), "0987 654 321",
           ("SĐT người giám hộ", "Điện thoại người giám hộ")),
    Column("commune_code", "Xã, phường", True, Kind.COMMUNE,
           _l("Mã xã, phường (5 chữ số) hoặc tên đúng như trong danh sách; phải thuộc phạm vi bạn "
              "phụ trách."), "12452", ("Mã xã", "Mã xã, phường", "Xã, phường quản lý")),
    Column("category", "Đối tượng", True, Kind.CHOICE,
           _l("Một trong các đối tượng quản lý (tên đầy đủ hoặc tên ngắn)."), "Người nghiện ma túy",
           ("Loại đối tượng",)),
    Column("intake_on", "Ngày tiếp nhận", False, Kind.DATE,
           _l("Ngày/tháng/năm (dd/mm/yyyy), không ở tương lai; để trống là hôm nay."), "15/01/2025",
           ("Ngày lập hồ sơ",)),
    Column("education", "Trình độ học vấn", False, Kind.CHOICE, _l("Có thể để trống."),
           "Trung học cơ sở", ("Học vấn",)),
    Column("occupation", "Tình trạng việc làm", False, Kind.CHOICE, _l("Có thể để trống."),
           "Không có việc làm", ("Việc làm", "Nghề nghiệp")),
    Column("drug_types", "Loại ma túy", False, Kind.DRUGS,
           _l("Một hoặc nhiều loại, cách nhau bằng dấu chấm phẩy (;). Có thể để trống."),
           "Ma túy đá; Cần sa", ("Loại ma túy sử dụng", "Ma túy sử dụng")),
    Column("notes", "Ghi chú", False, Kind.TEXT, _l("Có thể để trống."), ""),
)  # fmt: skip
COLUMN_BY_FIELD = {c.field: c for c in COLUMNS}
# A running number column is common in commune spreadsheets; it is read past.
IGNORED_HEADERS = ("STT", "Số thứ tự", "TT")

# Short names people write, besides the code and the labels shown in the app.
EXTRA_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "category": {
        Category.USER: ("Người sử dụng", "Sử dụng trái phép"),
        Category.ADDICTED: ("Người nghiện",),
        Category.IN_REHAB: ("Đang cai nghiện",),
        Category.POST_REHAB: ("Sau cai nghiện", "Người sau cai nghiện"),
        Category.POST_PRISON: ("Sau chấp hành án phạt tù",),
    },
    "education": {
        Education.LOWER_SECONDARY: ("THCS",),
        Education.UPPER_SECONDARY: ("THPT",),
        Education.VOCATIONAL: ("Trung cấp",),
        Education.HIGHER: ("Đại học",),
    },
    "occupation": {
        Occupation.STUDENT: ("Học sinh", "Sinh viên"),
        Occupation.SELF_EMPLOYED: ("Tự kinh doanh", "Làm nông"),
        Occupation.UNEMPLOYED: ("Thất nghiệp",),
    },
    "drug_types": {
        DrugType.OPIOIDS: ("Heroin", "Thuốc phiện", "Chất dạng thuốc phiện"),
        DrugType.METHAMPHETAMINE: ("Ma túy đá", "Methamphetamine"),
        DrugType.ECSTASY: ("Thuốc lắc", "MDMA"),
        DrugType.SYNTHETIC_CANNABINOIDS: ("Cần sa tổng hợp", "Thuốc lá điện tử chứa ma túy"),
        DrugType.NITROUS_OXIDE: ("Khí cười", "N2O"),
        DrugType.OTHER: ("Khác",),
    },
}
LABELS: dict[str, Mapping[Any, Any]] = {
    "sex": SEX_LABELS,
    "category": CATEGORY_LABELS,
    "education": EDUCATION_LABELS,
    "occupation": OCCUPATION_LABELS,
    "drug_types": DRUG_LABELS,
}
# What the template and the page list as the usual way to write each value.
SHORT_LABELS: dict[str, Mapping[Any, Any]] = {**LABELS, "category": CATEGORY_SHORT}


@dataclass(frozen=True)
class Problem:
    """Something wrong in the file: its row (1 = the first line) and column, never a value."""

    row: int | None
    column: str | None
    message: str


@dataclass
class Checked:
    """The outcome of checking a file: the rows ready to store, or the problems."""

    kind: str = ""
    rows: int = 0
    valid: list[tuple[int, services.CaseData]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.valid)

    @property
    def rows_in_error(self) -> int:
        return len({p.row for p in self.problems if p.row is not None})


@dataclass(frozen=True)
class Imported:
    count: int
    flagged_rows: list[int]


class _RefusedError(Exception):
    """The file as a whole cannot be read; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Cells = tuple[object, ...]


# -- Reading the file -----------------------------------------------------------------------------


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _trimmed(values: Iterable[object]) -> Cells:
    cells = list(values)
    while cells and _blank(cells[-1]):
        cells.pop()
    return tuple(cells)


def _collect(rows: Iterable[tuple[int, Iterable[object]]]) -> list[tuple[int, Cells]]:
    """The non-empty rows with their numbers, stopping once there are surely too many."""
    limit = HEADER_SEARCH_ROWS + MAX_ROWS + 1
    found: list[tuple[int, Cells]] = []
    for number, values in rows:
        cells = _trimmed(values)
        if cells:
            found.append((number, cells))
            if len(found) >= limit:
                break
    return found


def _read_xlsx(content: bytes) -> list[tuple[int, Cells]]:
    not_xlsx = _(
        "Tệp không phải bảng tính Excel (.xlsx) hợp lệ. Hãy mở tệp bằng Excel và lưu lại "
        "dạng .xlsx, hoặc lưu dạng CSV UTF-8."
    )
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _RefusedError(not_xlsx) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise _RefusedError(
            _("Nội dung tệp sau khi giải nén quá lớn; hãy chia thành nhiều tệp nhỏ.")
        )
    # openpyxl warns about features it drops (styles, extensions): irrelevant to the values read.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(
                io.BytesIO(content), read_only=True, data_only=True, keep_links=False
            )
        except Exception:  # any parser failure on an untrusted file means "not a workbook"
            raise _RefusedError(not_xlsx) from None
        try:
            if not book.worksheets:
                raise _RefusedError(not_xlsx)
            sheet = book.worksheets[0]
            # A declared size may be a lie (1,048,576 rows): read only the rows that exist.
            sheet.reset_dimensions()
            return _collect(
                enumerate(sheet.iter_rows(max_col=MAX_COLUMNS + 1, values_only=True), start=1)
            )
        except _RefusedError:
            raise
        except Exception:  # a broken sheet inside a well-formed archive
            raise _RefusedError(not_xlsx) from None
        finally:
            book.close()


def _csv_records(text: str, delimiter: str) -> Iterable[list[str]]:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _sniff(text: str) -> str:
    """``;`` or ``,``: whichever makes more of the first lines' cells known headers."""
    sample = text[: 64 * 1024]

    def score(delimiter: str) -> tuple[int, int]:
        best, width = 0, 0
        try:
            for index, record in enumerate(_csv_records(sample, delimiter)):
                if index >= HEADER_SEARCH_ROWS:
                    break
                best = max(best, _known_count(record))
                width = width or len(record)
        except csv.Error:
            pass  # the sample may end inside a quoted cell
        return best, width

    return max((",", ";"), key=score)  # a tie keeps ","


def _read_csv(content: bytes) -> list[tuple[int, Cells]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _RefusedError(
            _("Tệp CSV phải dùng bảng mã UTF-8. Trong Excel, chọn Lưu thành → “CSV UTF-8”.")
        ) from None
    if "\x00" in text:
        raise _RefusedError(_("Tệp không phải tệp CSV dạng văn bản."))
    delimiter = None
    first_line, _newline, rest = text.partition("\n")
    if re.fullmatch(r"sep=[;,]\r?", first_line.strip(" ").lower()):  # Excel's own hint line
        delimiter, text = first_line.strip()[4], rest
    delimiter = delimiter or _sniff(text)
    try:
        return _collect(enumerate(_csv_records(text, delimiter), start=1))
    except csv.Error:
        raise _RefusedError(
            _("Không đọc được tệp CSV: có ô bị lỗi dấu ngoặc kép hoặc quá dài.")
        ) from None


def _read(filename: str, content: bytes) -> tuple[str, list[tuple[int, Cells]]]:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in {"xlsx", "csv"}:
        if extension == "xls":
            raise _RefusedError(_("Định dạng .xls cũ không được hỗ trợ: hãy lưu lại dạng .xlsx."))
        raise _RefusedError(_("Chỉ nhận tệp .xlsx hoặc .csv."))
    if not content:
        raise _RefusedError(_("Tệp trống."))
    if len(content) > MAX_BYTES:
        raise _RefusedError(
            _("Tệp lớn hơn %(mb)d MB. Hãy chia thành nhiều tệp nhỏ hơn.", mb=MAX_BYTES // 2**20)
        )
    if extension == "xlsx":
        return "xlsx", _read_xlsx(content)
    if content.startswith(b"PK\x03\x04"):
        raise _RefusedError(
            _("Tệp này là bảng tính Excel, không phải CSV: hãy đổi tên thành .xlsx.")
        )
    return "csv", _read_csv(content)


# -- Headers --------------------------------------------------------------------------------------


def _key(text: str) -> str:
    """Case-, diacritics- and punctuation-insensitive form: "Xã, phường" == "xa phuong"."""
    return " ".join(re.sub(r"[\W_]+", " ", normalise_name(text)).split())


HEADER_KEYS: dict[str, Column] = {
    _key(name): column for column in COLUMNS for name in (column.header, *column.aliases)
}
IGNORED_KEYS = frozenset(_key(name) for name in IGNORED_HEADERS)


def _known_count(cells: Iterable[object]) -> int:
    return sum(1 for c in cells if isinstance(c, str) and _key(c) in HEADER_KEYS)


def _echo(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= HEADER_ECHO_MAX else text[: HEADER_ECHO_MAX - 1] + "…"


def _map_headers(
    number: int, cells: Cells, width: int
) -> tuple[dict[int, Column], list[int], list[Problem]]:
    """Column positions → template columns; positions without a header; header problems."""
    mapping: dict[int, Column] = {}
    unnamed: list[int] = []
    problems: list[Problem] = []
    if not _known_count(cells):
        # Perhaps the first line is already a person: say nothing of what it holds.
        message = _(
            "Không nhận ra dòng tiêu đề. Dòng đầu tiên phải là tên các cột như trong tệp mẫu (ví "
            "dụ: Họ và tên, Ngày sinh, Giới tính, Xã, phường, Đối tượng)."
        )
        return {}, [], [Problem(number, None, message)]
    for index in range(width):
        value = _at(cells, index)
        if _blank(value):
            unnamed.append(index)
            continue
        text = _text_of(value)
        key = _key(text)
        column = HEADER_KEYS.get(key)
        if column is None:
            if key not in IGNORED_KEYS:
                problems.append(
                    Problem(
                        number,
                        _echo(text),
                        _("Cột này không có trong mẫu: hãy xóa hoặc đổi tên theo mẫu."),
                    )
                )
            continue
        if column in mapping.values():
            problems.append(Problem(number, column.header, _("Cột này xuất hiện hai lần.")))
            continue
        mapping[index] = column
    problems += [
        Problem(number, c.header, _("Thiếu cột bắt buộc."))
        for c in COLUMNS
        if c.required and c not in mapping.values()
    ]
    return mapping, unnamed, problems


# -- Cell values ----------------------------------------------------------------------------------


def _text_of(value: object) -> str:
    if isinstance(value, datetime | date):
        return EXCEL_DATE_FORMAT.format(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class _Lookups:
    """Accepted spellings of each listed value, and the communes by code and name."""

    choices: dict[str, dict[str, str]]
    usual: dict[str, str]  # the suggested values, for messages
    communes: dict[int, Commune]
    commune_names: dict[str, list[int]]
    commune_loose_names: dict[str, list[int]]


def _accepted_names(field_name: str) -> dict[str, list[str]]:
    """Each value's code, labels (in Vietnamese and English) and common short names."""
    names: dict[str, list[str]] = {}
    for member, label in LABELS[field_name].items():
        names[member.value] = [member.value, *EXTRA_NAMES.get(field_name, {}).get(member, ())]
        short = SHORT_LABELS[field_name].get(member)
        for locale in ("vi", "en"):
            with force_locale(locale):
                names[member.value] += [str(label), str(short)]
    return names


def _lookups() -> _Lookups:
    choices: dict[str, dict[str, str]] = {}
    for field_name in LABELS:
        table: dict[str, str] = {}
        for value, names in _accepted_names(field_name).items():
            for name in names:
                table.setdefault(_key(name), value)
        choices[field_name] = table
    communes = {c.code: c for c in db.session.scalars(sa.select(Commune))}
    exact: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    for commune in communes.values():
        exact.setdefault(_exact(commune.name), []).append(commune.code)
        loose.setdefault(_key(commune.name), []).append(commune.code)
    usual = {name: "; ".join(usual_values(name)) for name in LABELS}
    return _Lookups(choices, usual, communes, exact, loose)


def _exact(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def usual_values(field_name: str) -> list[str]:
    """The Vietnamese names the template suggests for a listed column."""
    with force_locale("vi"):
        return [str(label) for label in SHORT_LABELS[field_name].values()]


def full_values(field_name: str) -> list[str]:
    """The full Vietnamese labels of a listed column."""
    with force_locale("vi"):
        return [str(label) for label in LABELS[field_name].values()]


class _CellError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _cell_text(value: object, column: Column) -> str:
    """A cell as the text a person would have typed; refuses what a spreadsheet mangled."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise _CellError(_("Ô này chứa giá trị đúng/sai, không phải nội dung cần nhập."))
    if isinstance(value, time | timedelta):
        raise _CellError(_("Ô này chứa giờ, không phải nội dung cần nhập."))
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise _CellError(_("Giá trị không hợp lệ."))
        if column.kind is Kind.DATE:
            raise _CellError(
                _("Ô ngày đang ở dạng số: định dạng cột là Văn bản (Text) và gõ dd/mm/yyyy.")
            )
        if column.kind is Kind.CCCD:
            digits = str(int(value)) if float(value).is_integer() else ""
            if len(digits) < CCCD_DIGITS:
                raise _CellError(_leading_zero_message())
    return _text_of(value)


def _text_cccd_hint() -> str:
    return str(_("Hãy định dạng cột Số CCCD là Văn bản (Text), gõ lại đủ 12 chữ số rồi lưu."))


def _leading_zero_message() -> str:
    return str(_("Số CCCD bị lưu dạng số nên mất số 0 ở đầu.")) + " " + _text_cccd_hint()


def _choice(text: str, column: Column, lookups: _Lookups) -> str:
    value = lookups.choices[column.field].get(_key(text))
    if value is None:
        raise _CellError(
            _(
                "Không nhận ra giá trị này. Ghi một trong: %(values)s.",
                values=lookups.usual[column.field],
            )
        )
    return value


def _drugs(text: str, lookups: _Lookups) -> list[str]:
    """A list separated by ; or , — labels that contain a comma still match (longest first)."""
    table = lookups.choices["drug_types"]
    parts = [p for p in re.split(r"[;,]", text) if p.strip()]
    found: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(len(parts), start, -1):
            value = table.get(_key(" ".join(parts[start:end])))
            if value is not None:
                found.append(value)
                start = end
                break
        else:
            raise _CellError(
                _(
                    "Không nhận ra loại ma túy thứ %(n)d trong ô. Ghi các loại cách nhau bằng dấu "
                    "chấm phẩy, mỗi loại là một trong: %(values)s.",
                    n=len(found) + 1,
                    values=lookups.usual["drug_types"],
                )
            )
    return found


def _commune(text: str, actor: User, lookups: _Lookups) -> int:
    cleaned = text.strip()
    if re.fullmatch(r"\d{5}", cleaned):
        codes = [int(cleaned)] if int(cleaned) in lookups.communes else []
        if not codes:
            raise _CellError(_("Không có xã, phường nào mang mã này trong tỉnh."))
    else:
        codes = lookups.commune_names.get(_exact(cleaned)) or lookups.commune_loose_names.get(
            _key(cleaned), []
        )
        if not codes:
            raise _CellError(
                _(
                    "Không tìm thấy xã, phường này: ghi mã 5 chữ số hoặc tên đúng như trong danh "
                    "sách (ví dụ “Phường Trần Hưng Đạo”)."
                )
            )
        if len(codes) > 1:
            raise _CellError(_("Có nhiều xã, phường cùng tên này: hãy ghi mã 5 chữ số."))
    if not authz.can(actor, authz.Action.EDIT_CASES, codes[0]):
        raise _CellError(_("Xã, phường này không thuộc phạm vi bạn phụ trách."))
    return codes[0]


def _row_input(
    cells: Cells, mapping: dict[int, Column], actor: User, lookups: _Lookups
) -> tuple[services.CaseInput, dict[str, str]]:
    """The row as form input, and the problems found while reading its cells (by field)."""
    data = services.CaseInput(assigned_worker_id=actor.id if actor.role == Role.WORKER else None)
    problems: dict[str, str] = {}
    for index, column in mapping.items():
        try:
            text = _cell_text(_at(cells, index), column)
            if not text.strip():
                if column.required:
                    raise _CellError(_("Ô bắt buộc, không được để trống."))
                continue
            if column.kind is Kind.CHOICE:
                setattr(data, column.field, _choice(text, column, lookups))
            elif column.kind is Kind.DRUGS:
                data.drug_types = _drugs(text, lookups)
            elif column.kind is Kind.COMMUNE:
                data.commune_code = _commune(text, actor, lookups)
            else:
                if column.kind is Kind.CCCD:
                    digits = normalise_cccd(text)
                    # Province codes start with 0 (001-096): 10 or 11 digits lost theirs.
                    if digits.isdigit() and CCCD_DIGITS - 2 <= len(digits) < CCCD_DIGITS:
                        message = _(
                            "Số CCCD chỉ có %(n)d chữ số: có thể Excel đã bỏ số 0 ở đầu.",
                            n=len(digits),
                        )
                        raise _CellError(f"{message} {_text_cccd_hint()}")
                setattr(data, column.field, text)
        except _CellError as exc:
            problems[column.field] = exc.message
    return data, problems


# -- Checking and importing -----------------------------------------------------------------------


def _identity_keys(data: services.CaseInput) -> tuple[str | None, str | None]:
    """The row's normalised CCCD and name + date of birth, for duplicates within the file."""
    digits = normalise_cccd(data.national_id)
    cccd = digits if digits.isdigit() and len(digits) == CCCD_DIGITS else None
    name = unicodedata.normalize("NFC", data.full_name).strip()
    try:
        born = parse_day(data.date_of_birth, "date_of_birth") if name else None
    except FieldError:
        born = None
    return cccd, (name_dob_key(name, born) if born else None)


def check_file(filename: str, content: bytes, *, actor: User, today: date) -> Checked:
    """Read and check every row (nothing is written); all problems are reported at once."""
    checked = Checked()
    try:
        checked.kind, rows = _read(filename, content)
    except _RefusedError as exc:
        checked.problems.append(Problem(None, None, exc.message))
        return checked
    if not rows:
        checked.problems.append(Problem(None, None, _("Tệp trống.")))
        return checked
    head = next(
        (
            i
            for i, (_n, cells) in enumerate(rows[:HEADER_SEARCH_ROWS])
            if _known_count(cells) >= HEADER_MIN_KNOWN
        ),
        0,
    )
    header_number, header_cells = rows[head]
    data_rows = rows[head + 1 :]
    width = max(len(cells) for _n, cells in rows[head:])
    mapping, unnamed, problems = _map_headers(header_number, header_cells, width)
    # A title above the header is read past; a row that looks like a person is not ignored quietly.
    problems += [
        Problem(number, None, _("Dòng này nằm trên dòng tiêu đề nên không thể nhập: hãy xóa "
                                "dòng này hoặc đưa dòng tiêu đề lên trên."))
        for number, cells in rows[:head]
        if sum(not _blank(c) for c in cells) > HEADER_MIN_KNOWN
    ]  # fmt: skip
    checked.rows = len(data_rows)
    if len(data_rows) > MAX_ROWS:
        problems.append(
            Problem(
                None,
                None,
                _(
                    "Tệp có hơn %(n)s dòng dữ liệu: hãy chia thành nhiều tệp.",
                    n=f"{MAX_ROWS:,}".replace(",", "."),
                ),
            )
        )
    elif not data_rows and not problems:
        problems.append(Problem(None, None, _("Tệp chỉ có dòng tiêu đề, không có dòng dữ liệu.")))
    if not problems:
        checked.valid, problems = _check_rows(data_rows, mapping, unnamed, actor=actor, today=today)
    checked.problems = problems
    return checked


class _SeenInFile:
    """The first row of each CCCD and of each name + date of birth met so far in the file."""

    def __init__(self) -> None:
        self.cccd: dict[str, int] = {}
        self.name_dob: dict[str, int] = {}

    def check(self, number: int, data: services.CaseInput) -> list[tuple[str, str]]:
        cccd, name_dob = _identity_keys(data)
        found: list[tuple[str, str]] = []
        if cccd is not None:
            if cccd in self.cccd:
                message = _("Trùng số CCCD với dòng %(row)d trong tệp.", row=self.cccd[cccd])
                found.append(("national_id", message))
            self.cccd.setdefault(cccd, number)
        if name_dob is not None:
            if name_dob in self.name_dob:
                message = _(
                    "Trùng họ tên và ngày sinh với dòng %(row)d trong tệp.",
                    row=self.name_dob[name_dob],
                )
                found.append(("full_name", message))
            self.name_dob.setdefault(name_dob, number)
        return found


def _check_rows(
    data_rows: list[tuple[int, Cells]],
    mapping: dict[int, Column],
    unnamed: list[int],
    *,
    actor: User,
    today: date,
) -> tuple[list[tuple[int, services.CaseData]], list[Problem]]:
    """Every row through the form's rules, and duplicates within the file."""
    lookups = _lookups()
    order = {c.field: i for i, c in enumerate(mapping.values())}
    seen = _SeenInFile()
    valid: list[tuple[int, services.CaseData]] = []
    problems = _unnamed_problems(data_rows, unnamed)
    for number, cells in data_rows:
        data, found = _row_input(cells, mapping, actor, lookups)
        row_problems: list[tuple[str | None, str]] = list(found.items())
        try:
            case_data = services.check_input(data, actor=actor, today=today)
        except InvalidInputError as exc:
            # A cell that could not be read has said so already, in the file's own terms.
            row_problems += [(e.field, e.message) for e in exc.errors if e.field not in found]
        else:
            if not found:
                valid.append((number, case_data))
        row_problems += seen.check(number, data)
        row_problems.sort(key=lambda p: order.get(p[0] or "", len(order)))
        problems += [
            Problem(number, COLUMN_BY_FIELD[f].header if f in COLUMN_BY_FIELD else None, message)
            for f, message in dict.fromkeys(row_problems)
        ]
    problems.sort(key=lambda p: p.row or 0)
    return ([] if problems else valid), problems


def _unnamed_problems(data_rows: list[tuple[int, Cells]], unnamed: list[int]) -> list[Problem]:
    """A column with values but no header, once, at its first value."""
    problems: list[Problem] = []
    for index in unnamed:
        number = next((n for n, cells in data_rows if not _blank(_at(cells, index))), None)
        if number is not None:
            message = _(
                "Cột này có dữ liệu nhưng không có tiêu đề: hãy ghi tiêu đề theo mẫu hoặc xóa cột."
            )
            problems.append(Problem(number, get_column_letter(index + 1), message))
    return problems


def _at(cells: Cells, index: int) -> object:
    return cells[index] if index < len(cells) else None


def import_cases(
    checked: Checked, *, actor: User, context: audit.AuditContext | None = None
) -> Imported:
    """Store every row of a file that passed ``check_file`` (flushes; the caller commits once)."""
    if not checked.ok:
        raise ValueError("only a file without problems is imported")
    flagged: list[int] = []
    for number, data in checked.valid:
        _case, duplicates = services.create_case(
            data, actor=actor, context=context, event_kind="imported"
        )
        if duplicates:
            flagged.append(number)
    return Imported(count=len(checked.valid), flagged_rows=flagged)


def record_attempt(
    mode: str,
    checked: Checked,
    imported: Imported | None,
    *,
    actor: User,
    context: audit.AuditContext | None = None,
) -> None:
    """One audit row per upload: counts only, never a value from the file."""
    audit.record(
        "case_import",
        actor=actor,
        outcome="ok" if not checked.problems else "invalid",
        details={
            "mode": mode,
            "format": checked.kind or "unreadable",
            "rows": checked.rows,
            "errors": len(checked.problems),
            "rows_in_error": checked.rows_in_error,
            "imported": imported.count if imported else 0,
            "possible_duplicates": len(imported.flagged_rows) if imported else 0,
        },
        context=context,
    )


# -- Files handed out -----------------------------------------------------------------------------


def _neutralise(cell: str) -> str:
    """A leading apostrophe stops a spreadsheet from running the cell as a formula."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def error_report_csv(problems: list[Problem]) -> bytes:
    """The problems as CSV (UTF-8 with BOM, for Excel): row, column, message; no cell values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("Dòng"), _("Cột"), _("Lỗi")])
    for problem in problems:
        writer.writerow(
            [
                _neutralise(str(problem.row) if problem.row is not None else ""),
                _neutralise(problem.column or ""),
                _neutralise(problem.message),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_csv() -> bytes:
    """The template's header line (UTF-8 with BOM, so Excel reads the Vietnamese letters)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([c.header for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_xlsx(communes: list[Commune]) -> bytes:
    """The template workbook: the sheet to fill (text cells), a guide, and the value lists."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Hồ sơ"
    sheet.append([c.header for c in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet[f"{letter}1"].font = Font(bold=True)
        sheet.column_dimensions[letter].width = max(14, len(column.header) + 4)
        # Text cells: Excel keeps the CCCD's leading zero and does not turn dates into numbers.
        sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"

    guide = book.create_sheet("Hướng dẫn")
    guide.append([str(_("Cột")), str(_("Bắt buộc")), str(_("Cách ghi")), str(_("Ví dụ"))])
    for column in COLUMNS:
        how = str(column.help)
        if column.kind in {Kind.CHOICE, Kind.DRUGS}:
            how += " " + _("Giá trị: %(values)s.", values="; ".join(usual_values(column.field)))
        guide.append([column.header, _("Có") if column.required else "", how, column.example])
    guide.append([])
    guide.append(
        [
            _(
                "Mỗi dòng là một người; dòng 1 là tiêu đề, giữ nguyên tên các cột. Tệp chỉ "
                "được nhập khi mọi dòng đều hợp lệ."
            )
        ]
    )
    for cell in guide[1]:
        cell.font = Font(bold=True)
    guide.column_dimensions["A"].width = 28
    guide.column_dimensions["C"].width = 90
    guide.column_dimensions["D"].width = 24

    lists = book.create_sheet("Danh mục")
    listed = [c for c in COLUMNS if c.kind is Kind.CHOICE]
    commune_col = len(listed) + 1
    for index, column in enumerate(listed, start=1):
        lists.cell(row=1, column=index, value=column.header).font = Font(bold=True)
        values = full_values(column.field)
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=index, value=value)
        _suggest(sheet, lists.title, COLUMNS.index(column) + 1, index, len(values))
    lists.cell(row=1, column=commune_col, value="Xã, phường").font = Font(bold=True)
    lists.cell(row=1, column=commune_col + 1, value="Mã").font = Font(bold=True)
    for row, commune in enumerate(communes, start=2):
        lists.cell(row=row, column=commune_col, value=commune.name)
        lists.cell(row=row, column=commune_col + 1, value=str(commune.code))
    if communes:
        _suggest(
            sheet,
            lists.title,
            COLUMNS.index(COLUMN_BY_FIELD["commune_code"]) + 1,
            commune_col,
            len(communes),
        )
    for index in range(1, commune_col + 2):
        lists.column_dimensions[get_column_letter(index)].width = 30
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _suggest(sheet: Any, list_title: str, target: int, source: int, count: int) -> None:
    """A drop-down on the sheet's column ``target`` from the list in column ``source``."""
    letter = get_column_letter(source)
    validation = DataValidation(
        type="list",
        formula1=f"'{list_title}'!${letter}$2:${letter}${count + 1}",
        allow_blank=True,
        showErrorMessage=False,  # other spellings (codes, short names) are accepted too
    )
    target_letter = get_column_letter(target)
    validation.add(f"{target_letter}2:{target_letter}{MAX_ROWS + 1}")
    sheet.add_data_validation(validation)
