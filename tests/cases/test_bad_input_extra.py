"""Bad input found in review: huge ids and numbers, exotic digits, control characters, moving a
file through the edit form."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from caseapp.cases.models import Case
from caseapp.extensions import db
from tests.cases.conftest import case_form, open_case
from tests.conftest import C1, login

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "path",
    [
        f"/cases?page={HUGE}",
        f"/cases?commune={HUGE}",
        f"/cases?worker={HUGE}",
        f"/admin/users?page={HUGE}",
    ],
)
def test_huge_query_numbers_are_ignored(app, make_account, path):
    from caseapp.users.models import Role

    client = app.test_client()
    login(client, make_account(Role.ADMIN if "admin" in path else Role.OFFICER))
    assert client.get(path).status_code == 200


@pytest.mark.plan("I7")
def test_huge_ids_in_paths_are_404(app, logged_in, worker_c1, make_account):
    from caseapp.users.models import Role

    client = logged_in(worker_c1)
    code = open_case(client, national_id="")
    for path in (
        f"/cases/{code}/steps/rehab/{HUGE}/end",
        f"/cases/{code}/steps/post-rehab/{HUGE}/end",
    ):
        assert client.get(path).status_code == 404
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    for path in (f"/approvals/rehab/{HUGE}", f"/cases/duplicates/{HUGE}"):
        assert officer.post(path).status_code == 404


def test_huge_version_is_a_conflict_not_an_error(logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client, national_id="")
    response = client.post(f"/cases/{code}/edit", data=case_form(version=HUGE))
    assert response.status_code == 409


@pytest.mark.plan("I3")
@pytest.mark.parametrize("digit", ["\u1369", "\U00010a41"])
def test_exotic_digits_in_cccd_are_refused_cleanly(app, logged_in, worker_c1, digit):
    client = logged_in(worker_c1)
    response = client.post("/cases/new", data=case_form(national_id=f"034{digit}08012345"))
    assert response.status_code == 200
    assert "Số CCCD phải gồm đúng 12 chữ số." in response.get_data(as_text=True)


def test_control_characters_refused_in_step_forms(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client, national_id="")
    response = client.post(
        f"/cases/{code}/steps/counselling",
        data={"held_on": "01/01/2026", "kind": "family", "topic": "family",
              "counsellor": "A\x00\x1b[31mB"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Có ký tự điều khiển không hợp lệ" in response.get_data(as_text=True)


def test_worker_cannot_move_or_reassign_through_the_edit_form(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client, national_id="")
    page = client.get(f"/cases/{code}/edit").get_data(as_text=True)
    assert re.search(
        r'<select[^>]*disabled[^>]*id="commune_code"|id="commune_code"[^>]*disabled', page
    )
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    response = client.post(
        f"/cases/{code}/edit",
        data=case_form(address="Nhà mới", assigned_worker_id=str(worker_c1.id), version=version),
    )
    assert response.status_code == 302
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        assert case.address == "Nhà mới"
        assert case.assigned_worker_id is None  # as opened: assigning is the officer's step
        assert case.commune_code == C1
