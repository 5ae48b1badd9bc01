"""Blind indexes and the normalisers behind them (E8, I3, I4)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from caseapp import create_app
from caseapp.crypto import blind_index, name_dob_key, normalise_cccd, normalise_name
from caseapp.extensions import db
from caseapp.keys import load_keyring
from tests.conftest import base_overrides, make_instance
from tests.crypto.models import CCCD, DOB, NAME, Sample, make_sample


@pytest.mark.parametrize(
    "typed",
    [
        "001099012345",
        "001 099-012345",
        "001.099.012.345",
        " 001\u00a0099\u2013012\u2212345 ",  # no-break space, en dash, minus sign
        "００１０９９０１２３４５",  # full-width
        "٠٠١٠٩٩٠١٢٣٤٥",  # Arabic-Indic
        "۰۰۱۰۹۹۰۱۲۳۴۵",  # extended Arabic-Indic (Persian)
        "००१०९९०१२३४५",  # Devanagari
        "001\u200b099012345",  # zero-width space
    ],
)
def test_cccd_normalised_to_ascii_digits(typed):
    assert normalise_cccd(typed) == CCCD


def test_cccd_keeps_leading_zeros_and_leaves_other_characters_for_validation():
    assert normalise_cccd("000000000001") == "000000000001"
    assert normalise_cccd("00109901234A") == "00109901234A"
    assert not normalise_cccd("0010990123ab").isdigit()
    assert normalise_cccd("") == ""


@pytest.mark.parametrize(
    "typed",
    [
        "Nguyễn Văn A",
        unicodedata.normalize("NFD", "NGUYỄN  VĂN A"),
        "  nguyen\tvan   a ",
        "NGUYEN VAN A",
    ],
)
def test_names_match_without_case_diacritics_or_extra_spaces(typed):
    assert normalise_name(typed) == "nguyen van a"


@pytest.mark.plan("I4")
def test_every_vietnamese_letter_loses_its_marks():
    letters = (
        "ả ấ ầ ẩ ẫ ậ ắ ằ ẳ ẵ ặ ẻ ẽ ế ề ể ễ ệ ỉ ị ỏ ố ồ ổ ỗ ộ ớ ờ ở ỡ ợ ủ ứ ừ ử ữ ự ỳ ỷ ỹ ỵ đ Đ"
    )
    assert normalise_name(letters) == (
        "a a a a a a a a a a a e e e e e e e i i o o o o o o o o o o o u u u u u u y y y y d d"
    )
    assert normalise_name(unicodedata.normalize("NFD", letters)) == normalise_name(letters)
    assert normalise_name("Đặng Thị Ánh") == "dang thi anh"
    assert normalise_name("\u00d0ặng Thị Ánh") == "dang thi anh"  # Ð (eth) typed for Đ


def test_name_dob_key():
    assert name_dob_key(" Nguyễn  Văn A", date(2006, 3, 4)) == "nguyen van a|2006-03-04"


@pytest.mark.plan("E1", "E2", "E8")
def test_blind_index_is_keyed_and_differs_per_column(app, instance_path):
    with app.app_context():
        by_cccd = blind_index("cases.national_id", CCCD)
        by_other = blind_index("cases.guardian_id", CCCD)
        assert re.fullmatch("[0-9a-f]{64}", by_cccd)
        assert by_cccd != hashlib.sha256(CCCD.encode()).hexdigest()
        assert by_cccd != by_other
        assert blind_index("cases.national_id", CCCD) == by_cccd  # deterministic
    master = load_keyring(instance_path / "keys.json").blind_index_key
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"caseapp blind index|cases.national_id",
    ).derive(master)
    assert by_cccd == hmac.new(key, CCCD.encode(), hashlib.sha256).hexdigest()


def test_blind_index_depends_on_the_key_file(app, database_url, tmp_path):
    with app.app_context():
        ours = blind_index("cases.national_id", CCCD)
    elsewhere = create_app(
        base_overrides(database_url), instance_path=make_instance(tmp_path / "elsewhere")
    )
    with elsewhere.app_context():
        assert blind_index("cases.national_id", CCCD) != ours
        db.session.remove()
        db.engine.dispose()


@pytest.mark.plan("E8")
def test_search_finds_the_stored_row(samples):
    with samples.app_context():
        sample = make_sample(full_name="Nguyễn Văn A", national_id=CCCD, date_of_birth=DOB)
        sample.national_id_bidx = blind_index("samples.national_id", normalise_cccd(CCCD))
        sample.name_dob_bidx = blind_index("samples.name_dob", name_dob_key("Nguyễn Văn A", DOB))
        db.session.add_all([sample, make_sample(full_name=NAME, date_of_birth=DOB)])
        db.session.commit()
        by_name = blind_index(
            "samples.name_dob",
            name_dob_key(unicodedata.normalize("NFD", "NGUYỄN  VĂN A"), DOB),
        )
        by_cccd = blind_index("samples.national_id", normalise_cccd("001 099-012345"))
        for column, wanted in ((Sample.name_dob_bidx, by_name), (Sample.national_id_bidx, by_cccd)):
            found = db.session.scalars(sa.select(Sample.id).where(column == wanted)).all()
            assert found == [sample.id]
