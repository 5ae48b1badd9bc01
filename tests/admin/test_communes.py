"""Administrators enter each commune's resident population."""

from __future__ import annotations

import pytest

from caseapp.extensions import db
from caseapp.geo.models import Commune
from tests.conftest import C1


def _page(response) -> str:
    return response.get_data(as_text=True)


def test_commune_list_shows_all_104_grouped(logged_in, admin):
    html = _page(logged_in(admin).get("/admin/communes"))
    assert "104 xã, phường" in html
    assert "Huyện Thái Thụy" in html


@pytest.mark.parametrize(("typed", "stored"), [("12.345", 12345), ("12 345", 12345), ("800", 800)])
def test_population_typed_the_vietnamese_way(app, logged_in, admin, typed, stored):
    client = logged_in(admin)
    response = client.post(f"/admin/communes/{C1}", data={"population": typed})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Commune, C1).population == stored
    assert "12.345" in _page(client.get("/admin/communes")) or stored == 800


@pytest.mark.parametrize("typed", ["-5", "mười nghìn", "12,5e3", "99999999999"])
def test_bad_population_keeps_input_and_stores_nothing(app, logged_in, admin, typed):
    client = logged_in(admin)
    client.post(f"/admin/communes/{C1}", data={"population": "5.000"})
    html = _page(client.post(f"/admin/communes/{C1}", data={"population": typed}))
    assert "Dân số phải là số nguyên từ 0 đến 10.000.000." in html
    assert f'value="{typed}"' in html
    with app.app_context():
        assert db.session.get(Commune, C1).population == 5000


def test_population_can_be_cleared(app, logged_in, admin):
    client = logged_in(admin)
    client.post(f"/admin/communes/{C1}", data={"population": "5.000"})
    client.post(f"/admin/communes/{C1}", data={"population": ""})
    with app.app_context():
        assert db.session.get(Commune, C1).population is None


def test_unknown_commune_is_404(logged_in, admin):
    assert logged_in(admin).get("/admin/communes/1").status_code == 404
