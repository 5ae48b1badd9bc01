"""Break-glass access (issue 7 item 5, SECURITY Z8): an officer or administrator reads one file
outside their scope for a limited time after giving a reason; read-only, audited with its purpose
(ids only), the supervisors e-mailed (no identity, no reason) and shown the grants to review."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from caseapp import audit, authz
from caseapp.audit import AuditEvent
from caseapp.break_glass.models import BreakGlassGrant
from caseapp.cases.codes import display, new_code
from caseapp.cases.models import Case
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.scheduler.models import OutboxMessage
from caseapp.users.models import Role, ScopeKind, User
from tests.cases.conftest import ADDR, CCCD, NAME, open_case
from tests.conftest import login

REASON = "Phối hợp xác minh theo công văn số 12 của xã Vũ Tiên về việc chuyển nơi cư trú"
VU_THU = 344  # the former district of C2; the case below is in C1 (former Thái Bình city)


@pytest.fixture
def case_code(app, make_account):
    """A file in commune C1, opened by its worker."""
    client = app.test_client()
    login(client, make_account(Role.WORKER, username="worker.c1"))
    return open_case(client)


@pytest.fixture
def district_officer(make_account):
    """An officer over former Vũ Thư: the C1 file is outside their scope."""
    return make_account(
        Role.OFFICER, scope=ScopeKind.FORMER_DISTRICT, former_district=VU_THU, username="pt.vuthu"
    )


def _client(app, account):
    client = app.test_client()
    response = login(client, account)
    assert response.status_code == 302
    return client


def _missing_code(existing: str) -> str:
    code = new_code()
    while code == existing:
        code = new_code()
    return code


def _ask(client, code, reason=REASON, acknowledge=True):
    data = {"reason": reason}
    if acknowledge:
        data["acknowledge"] = "y"
    return client.post(f"/break-glass/cases/{code}", data=data)


def _grants(app):
    with app.app_context():
        return db.session.scalars(sa.select(BreakGlassGrant).order_by(BreakGlassGrant.id)).all()


def _events(app, action):
    with app.app_context():
        return db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def _main(response) -> str:
    """The page's own content (the menus differ from one account to another)."""
    html = response.get_data(as_text=True)
    return html[html.index("<main") : html.index("</main>")]


def _case_id(app, code):
    with app.app_context():
        return db.session.scalar(sa.select(Case.id).where(Case.code == code))


def test_officer_without_grant_gets_the_out_of_scope_page_that_reveals_nothing(
    app, case_code, district_officer
):
    client = _client(app, district_officer)
    missing = _missing_code(case_code)
    pages = {}
    for code in (case_code, missing):
        response = client.get(f"/cases/{code}")
        assert response.status_code == 302
        assert response.headers["Location"] == f"/break-glass/cases/{code}"
        page = client.get(response.headers["Location"])
        assert page.status_code == 403
        html = page.get_data(as_text=True)
        assert "Hồ sơ ngoài phạm vi của bạn" in html
        assert 'name="reason"' in html
        assert 'name="acknowledge"' in html
        for marker in (NAME, CCCD, ADDR, "Phường Trần Hưng Đạo"):
            assert marker not in html
        pages[code] = html.replace(display(code), "CODE").replace(code, "CODE")
    # The same page, word for word, for a file that exists and for one that does not.
    assert pages[case_code] == pages[missing]
    # A typed code is read leniently (lower case, no dashes) and shown canonically.
    response = client.get(f"/break-glass/cases/{case_code.lower()}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/break-glass/cases/{case_code}"
    # Malformed: a plain 404, as for anyone.
    assert client.get("/break-glass/cases/not-a-code").status_code == 404
    assert _grants(app) == []


def test_request_for_a_missing_code_is_a_404_like_an_in_scope_lookup(
    app, make_account, case_code, district_officer
):
    client = _client(app, district_officer)
    missing = _missing_code(case_code)
    response = _ask(client, missing)
    assert response.status_code == 404
    assert "Hồ sơ ngoài phạm vi" not in response.get_data(as_text=True)
    # What a province-wide officer (who sees every file) gets for the same code.
    province = _client(app, make_account(Role.OFFICER, username="pt.tinh"))
    in_scope = province.get(f"/cases/{missing}")
    assert in_scope.status_code == 404
    assert _main(response) == _main(in_scope)
    assert _grants(app) == []
    [event] = _events(app, "break_glass_not_found")
    assert event.actor_id == district_officer.id
    assert event.target_id is None
    assert missing not in event.details


@pytest.mark.parametrize(
    ("reason", "acknowledge", "message"),
    [
        ("", True, "Hãy ghi lý do cần xem hồ sơ."),
        ("   ", True, "Hãy ghi lý do cần xem hồ sơ."),
        ("cần xem gấp", True, "Lý do quá ngắn"),
        (REASON, False, "Hãy đánh dấu xác nhận trước khi yêu cầu truy cập."),
    ],
)
def test_reason_and_acknowledgement_required(
    app, case_code, district_officer, reason, acknowledge, message
):
    client = _client(app, district_officer)
    response = _ask(client, case_code, reason=reason, acknowledge=acknowledge)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert message in html
    if reason.strip():
        assert reason in html  # what was typed is kept
    assert NAME not in html
    assert _grants(app) == []
    assert _events(app, "break_glass_granted") == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_grant_lets_the_officer_read_but_not_edit(app, make_account, case_code, district_officer):
    client = _client(app, district_officer)
    response = _ask(client, case_code)
    assert response.status_code == 302
    [grant] = _grants(app)
    assert response.headers["Location"] == f"/break-glass/{grant.id}"
    assert grant.user_id == district_officer.id
    assert grant.case_id == _case_id(app, case_code)
    assert timedelta(minutes=59) < grant.expires_at - grant.created_at <= timedelta(minutes=60)
    assert grant.ended_at is None

    page = client.get(f"/break-glass/{grant.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert NAME in html
    assert "Truy cập khẩn cấp: chỉ đọc" in html
    assert re.search(r"Còn (59|60) phút", html)
    assert "Kết thúc ngay" in html
    assert f"/cases/{case_code}/edit" not in html
    assert f"/cases/{case_code}/close" not in html
    # Following the file's ordinary link leads back to the running grant.
    response = client.get(f"/cases/{case_code}")
    assert response.headers["Location"] == f"/break-glass/cases/{case_code}"
    assert client.get(response.headers["Location"]).headers["Location"] == (
        f"/break-glass/{grant.id}"
    )

    with app.app_context():
        version = db.session.get(Case, grant.case_id).version
    # Every change stays out of reach: out of scope is a 404, as without a grant.
    for path in (
        f"/cases/{case_code}/edit",
        f"/cases/{case_code}/close",
        f"/cases/{case_code}/transfer",
    ):
        response = client.post(path, data={"full_name": "Đổi Tên", "reason": "other"})
        assert response.status_code == 404
    with app.app_context():
        case = db.session.get(Case, grant.case_id)
        assert case.version == version
        assert case.full_name == NAME
        assert case.status == "open"
        assert db.session.get(BreakGlassGrant, grant.id).views == 1
    # Someone else's grant is not found.
    other = _client(
        app,
        make_account(
            Role.OFFICER, scope=ScopeKind.FORMER_DISTRICT, former_district=VU_THU, username="pt.2"
        ),
    )
    assert other.get(f"/break-glass/{grant.id}").status_code == 404
    assert other.post(f"/break-glass/{grant.id}/end").status_code == 404


def test_reason_is_stored_encrypted(app, case_code, district_officer):
    client = _client(app, district_officer)
    assert _ask(client, case_code).status_code == 302
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT reason_ct FROM break_glass_grants")).scalar_one()
        assert raw.startswith("v1.")
        assert "xác minh" not in raw
        assert db.session.scalars(sa.select(BreakGlassGrant)).one().reason == REASON


def test_access_ends_when_the_grant_expires(app_factory, make_account, case_code, district_officer):
    short = app_factory(BREAK_GLASS_MINUTES=20)
    client = _client(short, district_officer)
    assert _ask(client, case_code).status_code == 302
    [grant] = _grants(short)
    assert timedelta(minutes=19) < grant.expires_at - grant.created_at <= timedelta(minutes=20)
    assert client.get(f"/break-glass/{grant.id}").status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=21)):
        response = client.get(f"/break-glass/{grant.id}")
        assert response.status_code == 403
        html = response.get_data(as_text=True)
        assert "Truy cập khẩn cấp đã kết thúc" in html
        assert NAME not in html
        # The ordinary link now offers the request form again.
        follow = client.get(f"/break-glass/cases/{case_code}")
        assert follow.status_code == 403
        assert "Hồ sơ ngoài phạm vi của bạn" in follow.get_data(as_text=True)
    [refused] = _events(short, "break_glass_view_refused")
    assert refused.outcome == "denied"
    assert refused.target_id == str(grant.case_id)


def test_end_now(app, case_code, district_officer):
    client = _client(app, district_officer)
    _ask(client, case_code)
    [grant] = _grants(app)
    response = client.post(f"/break-glass/{grant.id}/end")
    assert response.status_code == 302
    assert response.headers["Location"] == "/break-glass/"
    page = client.get("/break-glass/").get_data(as_text=True)
    assert "Đã kết thúc truy cập khẩn cấp." in page
    assert "Đã kết thúc sớm" in page
    assert client.get(f"/break-glass/{grant.id}").status_code == 403
    [grant] = _grants(app)
    assert grant.ended_at is not None
    assert grant.ended_by_id == district_officer.id
    [ended] = _events(app, "break_glass_ended")
    assert ended.details == f'{{"grant_id": {grant.id}}}'
    # Ending twice changes nothing.
    client.post(f"/break-glass/{grant.id}/end")
    assert len(_events(app, "break_glass_ended")) == 1


def test_audit_rows_hold_purpose_and_ids_only(app, case_code, district_officer):
    client = _client(app, district_officer)
    _ask(client, case_code)
    [grant] = _grants(app)
    client.get(f"/break-glass/{grant.id}")
    client.get(f"/break-glass/{grant.id}")
    case_id = str(_case_id(app, case_code))
    [granted] = _events(app, "break_glass_granted")
    assert (granted.actor_id, granted.target_type, granted.target_id) == (
        district_officer.id,
        "case",
        case_id,
    )
    assert granted.details == f'{{"grant_id": {grant.id}, "minutes": 60}}'
    views = [e for e in _events(app, "case_viewed") if e.actor_id == district_officer.id]
    assert len(views) == 2
    for event in views:
        assert event.target_id == case_id
        assert event.details == f'{{"grant_id": {grant.id}, "purpose": "break_glass"}}'
    with app.app_context():
        assert db.session.get(BreakGlassGrant, grant.id).views == 2
        for event in db.session.scalars(sa.select(AuditEvent)):
            for marker in (REASON, "xác minh", NAME, CCCD, case_code):
                assert marker not in event.details
        assert audit.verify_chain().ok


def test_supervisors_are_emailed_without_identity_or_reason(
    app, make_account, case_code, district_officer
):
    supervisor = make_account(Role.SUPERVISOR, username="lanhdao")
    quiet = make_account(Role.SUPERVISOR, username="lanhdao.khongthu")  # no address: no e-mail
    with app.app_context():
        db.session.get(User, supervisor.id).email = "lanhdao@example.org"
        db.session.commit()
    client = _client(app, district_officer)
    _ask(client, case_code)
    [grant] = _grants(app)
    with app.app_context():
        [message] = db.session.scalars(sa.select(OutboxMessage)).all()
        assert message.user_id == supervisor.id
        assert message.user_id != quiet.id
        assert message.kind == f"bg-{grant.id}"
        text = message.subject + "\n" + message.body
    assert district_officer.username in text
    assert display(case_code) in text
    assert re.search(r"từ \d\d/\d\d/\d{4} \d\d:\d\d đến \d\d/\d\d/\d{4} \d\d:\d\d", text)
    for marker in (NAME, CCCD, ADDR, REASON, "xác minh", "Zzyzx"):
        assert marker not in text


def test_supervisor_reviews_grants_with_reason_but_no_identity(
    app, make_account, case_code, district_officer
):
    officer_client = _client(app, district_officer)
    _ask(officer_client, case_code)
    [grant] = _grants(app)
    officer_client.get(f"/break-glass/{grant.id}")
    supervisor = make_account(Role.SUPERVISOR, username="lanhdao")
    client = _client(app, supervisor)
    page = client.get("/break-glass/review")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert REASON in html
    assert district_officer.username in html
    assert display(case_code) in html
    assert "Đang hiệu lực" in html
    for marker in (NAME, CCCD, ADDR):
        assert marker not in html
    [reviewed] = _events(app, "break_glass_review")
    assert reviewed.actor_id == supervisor.id
    assert REASON not in reviewed.details
    # The reviewer may end a running grant; the officer's next view is refused.
    assert client.post(f"/break-glass/review/{grant.id}/revoke").status_code == 302
    [grant] = _grants(app)
    assert grant.ended_by_id == supervisor.id
    assert "Đã bị thu hồi" in client.get("/break-glass/review").get_data(as_text=True)
    assert officer_client.get(f"/break-glass/{grant.id}").status_code == 403
    assert len(_events(app, "break_glass_revoked")) == 1
    # Officers cannot review.
    assert officer_client.get("/break-glass/review").status_code == 403


def test_workers_and_supervisors_cannot_break_glass(app, make_account, case_code):
    worker = _client(app, make_account(Role.WORKER, communes=(13279,), username="worker.c2"))
    supervisor = _client(app, make_account(Role.SUPERVISOR, username="lanhdao"))
    assert worker.get(f"/cases/{case_code}").status_code == 404  # not offered: still a 404
    assert supervisor.get(f"/cases/{case_code}").status_code == 403
    for client in (worker, supervisor):
        assert client.get(f"/break-glass/cases/{case_code}").status_code == 403
        assert _ask(client, case_code).status_code == 403
        assert client.get("/break-glass/").status_code == 403
    assert _grants(app) == []


@pytest.mark.plan("Z8")
def test_admin_pii_access_is_break_glass(app, make_account, case_code):
    admin = make_account(Role.ADMIN, username="quantri")
    client = _client(app, admin)
    # Without a reason: refused, with the way to give one.
    refused = client.get(f"/cases/{case_code}")
    assert refused.status_code == 403
    assert f'href="/break-glass/cases/{case_code}"' in refused.get_data(as_text=True)
    page = client.get(f"/break-glass/cases/{case_code}")
    assert page.status_code == 403
    assert NAME not in page.get_data(as_text=True)
    response = _ask(client, case_code, reason="")
    assert response.status_code == 403
    assert "Hãy ghi lý do cần xem hồ sơ." in response.get_data(as_text=True)
    assert _grants(app) == []
    # With a reason: the file, read-only, audited with its purpose.
    response = _ask(client, case_code)
    assert response.status_code == 302
    [grant] = _grants(app)
    assert grant.user_id == admin.id
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert NAME in html
    assert "Sửa hồ sơ" not in html
    [viewed] = [e for e in _events(app, "case_viewed") if e.actor_id == admin.id]
    assert viewed.actor_role == "admin"
    assert viewed.target_id == str(grant.case_id)
    assert '"purpose": "break_glass"' in viewed.details
    assert client.post(f"/cases/{case_code}/edit", data={}).status_code == 403


def test_daily_cap_bounds_requests_found_or_not(app_factory, case_code, district_officer):
    capped = app_factory(BREAK_GLASS_DAILY_LIMIT=2)
    client = _client(capped, district_officer)
    for _ in range(2):
        assert _ask(client, _missing_code(case_code)).status_code == 404
    response = _ask(client, case_code)
    assert response.status_code == 403
    assert "mức tối đa cho phép" in response.get_data(as_text=True)
    assert _grants(capped) == []


def test_policy_table_has_the_new_routes(app):
    decisions = {
        "break_glass.start": authz.Action.BREAK_GLASS,
        "break_glass.request_access": authz.Action.BREAK_GLASS,
        "break_glass.view": authz.Action.BREAK_GLASS,
        "break_glass.end": authz.Action.BREAK_GLASS,
        "break_glass.review": authz.Action.REVIEW_BREAK_GLASS,
        "break_glass.revoke": authz.Action.REVIEW_BREAK_GLASS,
    }
    for endpoint, action in decisions.items():
        assert authz.endpoint_decision(app, endpoint) == action
    may_break = {
        r for r, actions in authz.ROLE_ACTIONS.items() if authz.Action.BREAK_GLASS in actions
    }
    may_review = {
        r for r, actions in authz.ROLE_ACTIONS.items() if authz.Action.REVIEW_BREAK_GLASS in actions
    }
    assert may_break == {Role.OFFICER, Role.ADMIN}
    assert may_review == {Role.SUPERVISOR, Role.ADMIN}


def test_search_for_an_out_of_scope_code_offers_break_glass_alike(app, case_code, district_officer):
    client = _client(app, district_officer)
    missing = _missing_code(case_code)
    pages = {}
    for code in (case_code, missing):
        response = client.post("/cases/search", data={"query": display(code)})
        assert response.status_code == 200
        html = _main(response)
        assert f'href="/break-glass/cases/{code}"' in html
        assert NAME not in html
        pages[code] = html.replace(display(code), "CODE").replace(code, "CODE")
    assert pages[case_code] == pages[missing]


def test_break_glass_views_are_marked_in_who_viewed_and_the_audit_trail(
    app, make_account, case_code, district_officer
):
    client = _client(app, district_officer)
    _ask(client, case_code)
    [grant] = _grants(app)
    client.get(f"/break-glass/{grant.id}")
    province = _client(app, make_account(Role.OFFICER, username="pt.tinh"))
    html = province.get(f"/cases/{case_code}").get_data(as_text=True)
    viewers = html[html.index("Ai đã xem hồ sơ này") :]
    assert "Cán bộ pt.vuthu" in viewers
    assert "truy cập khẩn cấp" in viewers
    admin = _client(app, make_account(Role.ADMIN, username="quantri"))
    trail = admin.get("/admin/audit").get_data(as_text=True)
    assert "Mở truy cập khẩn cấp" in trail
    assert "Xem hồ sơ (truy cập khẩn cấp)" in trail
    assert REASON not in trail


def test_key_rotation_reencrypts_the_reason(app, case_code, district_officer):
    from caseapp.crypto import key_id_of
    from caseapp.keys import rotate_keys

    client = _client(app, district_officer)
    _ask(client, case_code)
    with app.app_context():
        before = db.session.execute(sa.text("SELECT reason_ct FROM break_glass_grants")).scalar()
        db.session.commit()
        report = rotate_keys(app.extensions["caseapp.cipher"])
        assert report.finished
        after = db.session.execute(sa.text("SELECT reason_ct FROM break_glass_grants")).scalar()
        assert key_id_of(after) == report.primary_dek_id != key_id_of(before)
        db.session.expire_all()
        assert db.session.scalars(sa.select(BreakGlassGrant)).one().reason == REASON


@pytest.mark.plan("Z8")
def test_menu_offers_break_glass_only_to_those_who_may_need_it(app, make_account, district_officer):
    """A province-wide officer already sees every file: no "Truy cập khẩn cấp" in the menu; an
    officer of one former district and an administrator have it; a worker does not."""
    province_officer = make_account(Role.OFFICER, username="officer.tinh")
    worker = make_account(Role.WORKER, username="worker.c1")
    admin = make_account(Role.ADMIN, username="admin")
    for account, offered in (
        (district_officer, True),
        (admin, True),
        (province_officer, False),
        (worker, False),
    ):
        page = _client(app, account).get("/").get_data(as_text=True)
        assert ('href="/break-glass/"' in page) is offered, account.username
