"""Helpers for case tests: a valid form for a synthetic youth, and opening a case through the UI."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import C1

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
# Synthetic people only. The markers double as "must never appear in raw storage" checks.
NAME = "Nguyễn Văn Zzyzx"
CCCD = "034208012345"  # Thái Bình (034), male born 2000s (2), year 08
ADDR = "Số 7 ngõ Quỳnh"
PHONE = "0912 345 678"


def case_form(**overrides: object) -> dict[str, object]:
    """A complete, valid case form for a 17/18-year-old in commune C1."""
    data: dict[str, object] = {
        "full_name": NAME,
        "date_of_birth": "05/09/2008",
        "sex": "male",
        "national_id": CCCD,
        "phone": PHONE,
        "address": ADDR,
        "guardian_name": "Nguyễn Thị Mẹ",
        "guardian_relation": "Mẹ",
        "guardian_phone": "0987 654 321",
        "notes": "Ghi chú thử nghiệm",
        "commune_code": str(C1),
        "category": "user",
        "education": "lower_secondary",
        "occupation": "unemployed",
        "drug_types": ["methamphetamine", "cannabis"],
        "assigned_worker_id": "",
        "intake_on": datetime.now(VIETNAM).strftime("%d/%m/%Y"),
    }
    data.update(overrides)
    return data


def open_case(client, **overrides: object) -> str:
    """Open a case through the form; returns its code."""
    response = client.post("/cases/new", data=case_form(**overrides))
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    match = re.match(r"^/cases/([0-9A-Z*~$=]{9})$", response.headers["Location"])
    assert match, response.headers["Location"]
    assert client.get(response.headers["Location"]).status_code == 200  # as the browser would
    return match.group(1)


@pytest.fixture
def form_data():
    return case_form
