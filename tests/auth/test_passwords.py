"""Passwords: Argon2id at the configured cost, the policy, changing one's own, first sign-in."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from caseapp.auth import passwords
from caseapp.extensions import db
from caseapp.users.models import Role, User
from tests.conftest import login

NEW = "Một câu thật dài dễ nhớ 2026"


def _page(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.plan("A1")
def test_password_stored_as_argon2id_with_production_cost(app_factory, make_account):
    app = app_factory(ARGON2_TIME_COST=3, ARGON2_MEMORY_COST=65536, ARGON2_PARALLELISM=4)
    settings = app.extensions["caseapp.settings"]
    stored = passwords.hash_password(settings, NEW)
    assert stored.startswith("$argon2id$")
    assert "m=65536,t=3" in stored
    assert passwords.verify_password(settings, stored, NEW)
    # The default settings (outside tests) are at least that strong.
    from caseapp.config import Settings

    defaults = Settings(INSTANCE_PATH=app.instance_path)
    assert defaults.ARGON2_MEMORY_COST >= 65536
    assert defaults.ARGON2_TIME_COST >= 3


@pytest.mark.plan("A1")
def test_plaintext_password_not_in_database(app, worker_c1):
    with app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash).where(User.id == worker_c1.id))
    assert worker_c1.password not in stored
    assert stored.startswith("$argon2id$")


@pytest.mark.plan("A7")
def test_password_policy(app):
    settings = app.extensions["caseapp.settings"]
    with app.test_request_context():
        assert passwords.policy_errors(settings, "matkhau123")
        assert passwords.policy_errors(settings, "a" * 11 + "b") == [
            "Mật khẩu này quá dễ đoán, hãy chọn mật khẩu khác."
        ]
        assert passwords.policy_errors(settings, "abcdefghijk")  # 11 characters
        passphrase = "Tôi đi học về nhà ăn cơm với bố mẹ và em gái ở quê Thái Bình!"[:64]
        assert passwords.policy_errors(settings, passphrase) == []
        assert passwords.policy_errors(settings, "x" * 257)
        assert passwords.policy_errors(settings, "worker.c1 is my name", "worker.c1")
        assert passwords.policy_errors(settings, "tab\tinside password")


@pytest.mark.plan("A7")
def test_nfc_and_nfd_passphrases_are_the_same_password(app):
    import unicodedata

    settings = app.extensions["caseapp.settings"]
    stored = passwords.hash_password(settings, unicodedata.normalize("NFC", NEW))
    assert passwords.verify_password(settings, stored, unicodedata.normalize("NFD", NEW))


@pytest.mark.plan("A8")
def test_change_password_requires_current_and_ends_other_sessions(app, worker_c1):
    first, second = app.test_client(), app.test_client()
    login(first, worker_c1)
    login(second, worker_c1)
    wrong = first.post(
        "/account/password",
        data={"current_password": "not it at all", "new_password": NEW, "confirm_password": NEW},
    )
    assert "Mật khẩu hiện tại không đúng." in _page(wrong)
    response = first.post(
        "/account/password",
        data={
            "current_password": worker_c1.password,
            "new_password": NEW,
            "confirm_password": NEW,
        },
    )
    assert response.status_code == 302
    assert first.get("/").status_code == 200  # this browser stays signed in
    assert second.get("/").status_code == 302  # the other one is signed out
    fresh = app.test_client()
    assert login(fresh, worker_c1).status_code == 200  # old password no longer works
    assert login(fresh, worker_c1, password=NEW).status_code == 302


def test_change_password_errors_keep_nothing_and_store_nothing(app, client, worker_c1):
    login(client, worker_c1)
    response = client.post(
        "/account/password",
        data={
            "current_password": worker_c1.password,
            "new_password": "short",
            "confirm_password": "different",
        },
    )
    html = _page(response)
    assert "Hai lần nhập mật khẩu mới không khớp." in html
    assert worker_c1.password not in html
    response = client.post(
        "/account/password",
        data={
            "current_password": worker_c1.password,
            "new_password": "short",
            "confirm_password": "short",
        },
    )
    assert "Mật khẩu phải có ít nhất 12 ký tự." in _page(response)
    assert 'aria-invalid="true"' in _page(response)
    assert login(app.test_client(), worker_c1).status_code == 302  # unchanged


def test_new_password_must_differ(client, worker_c1):
    login(client, worker_c1)
    response = client.post(
        "/account/password",
        data={
            "current_password": worker_c1.password,
            "new_password": worker_c1.password,
            "confirm_password": worker_c1.password,
        },
    )
    assert "Mật khẩu mới phải khác mật khẩu hiện tại." in _page(response)


def test_must_change_password_on_first_login(app, client, make_account):
    account = make_account(Role.WORKER, must_change_password=True)
    login(client, account)
    for path in ("/", "/account", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/account/password"
    page = _page(client.get("/account/password"))
    assert "hãy đặt mật khẩu của riêng bạn" in page
    client.post(
        "/account/password",
        data={"current_password": account.password, "new_password": NEW, "confirm_password": NEW},
    )
    assert client.get("/").status_code == 200
    with app.app_context():
        assert db.session.get(User, account.id).must_change_password is False
