"""Bad input on the case form: a clear message on the right field, what was typed kept, nothing
stored."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseapp.cases.models import Case
from caseapp.extensions import db
from tests.cases.conftest import case_form


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Case))


def _post(client, **overrides):
    response = client.post("/cases/new", data=case_form(**overrides))
    return response, response.get_data(as_text=True)


@pytest.mark.plan("I2")
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("31/02/2010", "Ngày này không có trên lịch."),
        ("2010-13-01", "Ngày phải theo dạng dd/mm/yyyy"),
        ("00/00/0000", "Ngày này không có trên lịch."),
        ("40000", "Ngày phải theo dạng dd/mm/yyyy"),
        ("01/01/2099", "Ngày sinh không được ở tương lai."),
        ("01/01/1980", "hồ sơ chỉ dành cho thanh, thiếu niên từ 12 đến 30 tuổi"),
        ("01/01/2020", "hồ sơ chỉ dành cho thanh, thiếu niên từ 12 đến 30 tuổi"),
    ],
)
def test_bad_dates(app, logged_in, worker_c1, typed, message):
    client = logged_in(worker_c1)
    response, html = _post(client, date_of_birth=typed, national_id="")
    assert response.status_code == 200
    assert message in html
    assert f'value="{typed}"' in html
    assert 'value="Nguyễn Văn Zzyzx"' in html  # the rest of the form is kept
    assert _count(app) == 0


@pytest.mark.plan("I3")
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("03420801234", "Số CCCD phải gồm đúng 12 chữ số."),
        ("0342080123456", "Số CCCD phải gồm đúng 12 chữ số."),
        ("03420801234A", "Số CCCD phải gồm đúng 12 chữ số."),
        ("999208012345", "Ba số đầu của CCCD không phải mã tỉnh"),
        ("034008012345", "không khớp với thế kỷ của năm sinh"),
        ("034308012345", "không khớp với giới tính"),
        ("034207012345", "không khớp với năm sinh"),
    ],
)
def test_bad_cccd(app, logged_in, worker_c1, typed, message):
    client = logged_in(worker_c1)
    _response, html = _post(client, national_id=typed)
    assert message in html
    assert f'value="{typed}"' in html
    assert _count(app) == 0


@pytest.mark.plan("I3")
@pytest.mark.parametrize(
    "typed",
    ["０３４２０８０１２３４５", "034 208-012345", "٠٣٤٢٠٨٠١٢٣٤٥"],
)
def test_cccd_normalised(app, logged_in, worker_c1, typed):
    client = logged_in(worker_c1)
    response, _html = _post(client, national_id=typed)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(sa.select(Case)).one().national_id == "034208012345"


def test_guardian_required_for_minors(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    _response, html = _post(client, date_of_birth="01/06/2012", national_id="", guardian_name="")
    assert "Người dưới 18 tuổi cần có người đại diện hợp pháp" in html
    assert _count(app) == 0


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("phone", "12345", "Số điện thoại không hợp lệ."),
        ("guardian_phone", "abc", "Số điện thoại không hợp lệ."),
        ("full_name", "Tên\x07Lạ", "Có ký tự điều khiển không hợp lệ"),
        ("full_name", "   ", "Nhập họ và tên."),
        ("full_name", "A" * 101, "Không được dài quá 100 ký tự."),
        ("sex", "", "Hãy chọn một mục trong danh sách."),
        ("category", "", "Hãy chọn một mục trong danh sách."),
        ("intake_on", "01/01/2099", "Ngày tiếp nhận không được ở tương lai."),
    ],
)
def test_other_refusals_name_the_field(app, logged_in, worker_c1, field, typed, message):
    client = logged_in(worker_c1)
    _response, html = _post(client, **{field: typed, "national_id": ""})
    assert message in html
    assert 'aria-invalid="true"' in html
    assert _count(app) == 0


def test_all_problems_reported_at_once(logged_in, worker_c1):
    client = logged_in(worker_c1)
    _response, html = _post(client, date_of_birth="31/02/2010", phone="1", category="")
    assert "Ngày này không có trên lịch." in html
    assert "Số điện thoại không hợp lệ." in html
    assert "Hãy chọn một mục trong danh sách." in html


@pytest.mark.plan("I4")
def test_vietnamese_roundtrip_every_tone(app, logged_in, worker_c1):
    import unicodedata

    vowels = "ả ấ ầ ẩ ẫ ậ ắ ằ ẳ ẵ ặ ẻ ẽ ế ề ể ễ ệ ỉ ị ỏ ố ồ ổ ỗ ộ ớ ờ ở ỡ ợ ủ ứ ừ ử ữ ự ỳ ỷ ỹ ỵ đ Đ"
    client = logged_in(worker_c1)
    response, _html = _post(
        client, notes=unicodedata.normalize("NFD", vowels), national_id="", full_name="Hà Thị Ỷ"
    )
    assert response.status_code == 302
    with app.app_context():
        case = db.session.scalars(sa.select(Case)).one()
        assert case.notes == unicodedata.normalize("NFC", vowels)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert unicodedata.normalize("NFC", vowels) in html


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(max_size=120),
    born=st.text(max_size=20),
    cccd=st.text(max_size=16),
    phone=st.text(max_size=16),
)
def test_fuzzed_form_never_errors_or_half_saves(app, logged_in, worker_c1, name, born, cccd, phone):
    client = logged_in(worker_c1)
    before = _count(app)
    response = client.post(
        "/cases/new",
        data=case_form(full_name=name, date_of_birth=born, national_id=cccd, phone=phone),
    )
    assert response.status_code in (200, 302)
    after = _count(app)
    assert after == before + (1 if response.status_code == 302 else 0)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cccd=st.text(max_size=20))
def test_fuzzed_cccd_with_a_valid_person(app, logged_in, worker_c1, cccd):
    """With a valid date of birth and sex, the CCCD checks themselves run on any text."""
    client = logged_in(worker_c1)
    before = _count(app)
    response = client.post("/cases/new", data=case_form(national_id=cccd))
    assert response.status_code in (200, 302)
    assert _count(app) == before + (1 if response.status_code == 302 else 0)
