"""The follow-up screens through the app: to-do list, recording and rescheduling with bad input,
scope, the officer's overdue view, the bell, the digest preference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine

from caseapp.dates import local_day
from caseapp.extensions import db
from caseapp.followups import reminders
from caseapp.followups.models import FollowUp, ReminderDispatch, Status
from caseapp.users.models import Role, User
from tests.cases.conftest import CCCD, NAME, open_case
from tests.conftest import login
from tests.test_pages import check_page


def _ddmm(day) -> str:
    return day.strftime("%d/%m/%Y")


def _appointment(client, code: str, due) -> FollowUp:
    response = client.post(f"/cases/{code}/follow-ups/new", data={"due_on": _ddmm(due)})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    return db.session.scalars(sa.select(FollowUp).order_by(FollowUp.id.desc())).first()


def test_todo_lists_today_and_a_tap_records_the_outcome(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client)
    today = local_day()
    with app.app_context():
        row = _appointment(client, code, today)
        row_id = row.id
    html = client.get("/todo").get_data(as_text=True)
    check_page(html)
    assert "Hôm nay" in html
    assert code[:4] in html
    assert NAME not in html
    assert CCCD not in html
    page = client.get(f"/follow-ups/{row_id}?from=todo").get_data(as_text=True)
    check_page(page)
    assert f'value="{_ddmm(today)}"' in page  # the date is filled in: one tap and save
    response = client.post(
        f"/follow-ups/{row_id}?from=todo",
        data={"o-outcome": "met", "o-done_on": _ddmm(today), "o-submit": "1"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/todo"
    with app.app_context():
        row = db.session.get(FollowUp, row_id)
        assert (row.status, row.outcome, row.done_on) == (Status.DONE, "met", today)
    assert "Không có lần theo dõi nào đến hạn" in client.get("/todo").get_data(as_text=True)


def test_bad_input_keeps_what_was_typed_and_stores_nothing(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    code = open_case(client)
    with app.app_context():
        row_id = _appointment(client, code, local_day()).id
    # An outcome without a date, and an impossible date.
    html = client.post(
        f"/follow-ups/{row_id}",
        data={"o-outcome": "met", "o-done_on": "", "o-note": "Ghi chú thử", "o-submit": "1"},
    ).get_data(as_text=True)
    assert "Nhập ngày thực hiện." in html
    assert "Ghi chú thử" in html
    check_page(html)
    html = client.post(
        f"/follow-ups/{row_id}",
        data={"o-outcome": "met", "o-done_on": "31/02/2026", "o-submit": "1"},
    ).get_data(as_text=True)
    assert "31/02/2026" in html
    # A reschedule without a reason, then into the past.
    html = client.post(
        f"/follow-ups/{row_id}",
        data={"r-due_on": _ddmm(local_day() + timedelta(days=3)), "r-reason": "",
              "r-submit_reschedule": "1"},
    ).get_data(as_text=True)  # fmt: skip
    assert "Chọn lý do hẹn lại." in html
    html = client.post(
        f"/follow-ups/{row_id}",
        data={"r-due_on": _ddmm(local_day() - timedelta(days=1)), "r-reason": "health",
              "r-submit_reschedule": "1"},
    ).get_data(as_text=True)  # fmt: skip
    assert "Ngày hẹn không được ở quá khứ." in html
    check_page(html)
    # A new appointment in the past.
    html = client.post(
        f"/cases/{code}/follow-ups/new", data={"due_on": _ddmm(local_day() - timedelta(days=2))}
    ).get_data(as_text=True)
    assert "Ngày hẹn không được ở quá khứ." in html
    with app.app_context():
        row = db.session.get(FollowUp, row_id)
        assert (row.status, row.due_on, row.reschedule_count) == (Status.PENDING, local_day(), 0)
        assert db.session.scalar(sa.select(sa.func.count(FollowUp.id))) == 1
    response = client.post(
        f"/follow-ups/{row_id}",
        data={"r-due_on": _ddmm(local_day() + timedelta(days=3)), "r-reason": "health",
              "r-submit_reschedule": "1"},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get(f"/follow-ups/{row_id}").get_data(as_text=True)
    assert "Lý do sức khỏe" in page  # the reason is shown in the follow-up's history


def test_another_communes_follow_up_is_not_found(app, client, logged_in, worker_c1, worker_c2):
    owner = logged_in(worker_c1)
    code = open_case(owner)
    with app.app_context():
        row_id = _appointment(owner, code, local_day()).id
    other = app.test_client()
    login(other, worker_c2)
    assert other.get(f"/follow-ups/{row_id}").status_code == 404
    assert other.post(f"/follow-ups/{row_id}", data={"o-outcome": "met"}).status_code == 404
    assert code[:4] not in other.get("/todo").get_data(as_text=True)


def test_overdue_is_escalated_to_the_officer_and_rings_the_bell(
    app, logged_in, worker_c1, make_account
):
    officer = make_account(Role.OFFICER)  # province scope (this folder's `officer` is a User)
    client = logged_in(worker_c1)
    code = open_case(client)
    with app.app_context():
        row_id = _appointment(client, code, local_day()).id
    # Ten days later the follow-up is still pending: the sweep reminds and escalates.
    with time_machine.travel(datetime.now(UTC) + timedelta(days=10), tick=True):
        with app.app_context():
            counts = reminders.sweep()
            db.session.commit()
            assert counts["escalated"] == 1
            assert db.session.get(FollowUp, row_id).escalated_on == local_day()
            worker = db.session.scalars(
                sa.select(User).where(User.username == worker_c1.username)
            ).one()
            kinds = set(
                db.session.scalars(
                    sa.select(ReminderDispatch.kind).where(ReminderDispatch.user_id == worker.id)
                )
            )
            assert kinds == {"overdue"}
        login(client, worker_c1)  # ten days on, the old session has expired
        home = client.get("/todo").get_data(as_text=True)
        assert 'class="badge text-bg-warning">1<' in home  # the bell
        assert "quá 10 ngày" in home
        notices = client.get("/notifications").get_data(as_text=True)
        check_page(notices)
        assert "Quá hạn" in notices
        assert code[:4] in notices
        client.post("/notifications/read")
        assert 'text-bg-warning">1<' not in client.get("/todo").get_data(as_text=True)
        boss = app.test_client()
        login(boss, officer)
        view = boss.get("/follow-ups/overdue").get_data(as_text=True)
        check_page(view)
        assert "Chưa giao" in view
        assert code[:4] in view
        assert 'text-bg-warning">1<' in boss.get("/").get_data(as_text=True)


def test_digest_preference_needs_an_address(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    html = client.post("/account/reminders", data={"wants_digest": "y", "email": ""}).get_data(
        as_text=True
    )
    assert "Nhập địa chỉ thư điện tử để nhận thư hằng ngày." in html
    check_page(html)
    response = client.post(
        "/account/reminders", data={"wants_digest": "y", "email": "canbo.xa@example.org"}
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == worker_c1.username)).one()
        assert (user.wants_digest, user.email) == (True, "canbo.xa@example.org")


def test_follow_up_forms_need_the_csrf_token(app_csrf, worker_c1):
    client = app_csrf.test_client()
    login(client, worker_c1)
    assert client.post("/notifications/read").status_code == 400
    assert client.post("/account/reminders", data={"wants_digest": "y"}).status_code in {200, 400}
    with app_csrf.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == worker_c1.username)).one()
        assert user.wants_digest is False
