"""I6: hypothesis drives every form the app serves and never gets a server error or a half-saved
record.

``TARGETS`` maps each form class of caseapp to the routes that accept it, the account that posts
and the state the case must be in. For every target, hypothesis writes bodies field by field:
``st.text()`` (any code point but surrogates: NUL, controls, combining marks), near-misses of the
field's type (31/02, huge and negative numbers, whitespace, overlong text, values outside the
choices) and valid values, with fields left out or sent twice. Each example asserts: no 5xx; a
refusal leaves every table as it was (a digest of the rows); an accepted post leads to a page that
renders. Examples per target: ``CASEAPP_FUZZ_EXAMPLES`` (default ``DEFAULT_EXAMPLES``).

``test_every_form_is_fuzzed`` fails when a form class is added to caseapp without a target here.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse
from wtforms.fields.core import UnboundField

import caseapp
from caseapp.auth.models import TotpCredential
from caseapp.cases.models import Case
from caseapp.extensions import db
from caseapp.followups.models import FollowUp, Status
from caseapp.users.models import Role, ScopeKind, User
from caseapp.workflow import services, support
from caseapp.workflow.models import (
    ConsentPurpose,
    JobPlacement,
    LoanProgramme,
    LoanReferral,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    RuleSet,
    Schooling,
    SchoolLevel,
    StudyResult,
    VocationalTraining,
)
from caseapp.workflow.services import RehabStart
from tests.cases.conftest import VIETNAM, case_form, open_case
from tests.conftest import C1, C2, Account, login, next_totp_code
from tests.workflow.support_setup import consent, determined, job, monthly_checks, to_post_rehab

DEFAULT_EXAMPLES = 20
EXAMPLES = int(os.environ.get("CASEAPP_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
# Not compared: reference data no form writes (the communes table is compared: the population
# form writes it), and the sign-in session's "last seen" touch, which any request may write.
NOT_COMPARED = frozenset({"former_districts", "former_units", "alembic_version", "user_sessions"})
# What a refused sign-in, password or code check still writes, on purpose: the throttle counts
# the failure, the audit trail records it, and a lock ends the account's sessions.
AUTH_BOOKKEEPING = frozenset(
    {"login_throttles", "audit_events", "audit_chain_head", "user_sessions"}
)
# The importer records every attempt, refused ones included (audit only; no case data).
AUDIT = frozenset({"audit_events", "audit_chain_head"})


class Valid:
    """Drawn in place of a field's value: the target's valid value, computed when sent."""

    def __repr__(self) -> str:
        return "<valid>"


VALID = Valid()


@dataclass
class Target:
    client: Callable[[], FlaskClient]  # called once per example (a fresh one for sign-in forms)
    url: str | Callable[[], str]
    valid: dict[str, Any] = field(default_factory=dict)  # values or callables, by field name
    method: str = "POST"
    prefix: str = ""
    ignore: frozenset[str] = frozenset()  # tables a refusal may still write (see the reasons)
    ok: Callable[[TestResponse], bool] | None = None  # an accepted post; default: a redirect
    form_class: type[FlaskForm] | None = None  # forms built inside a view
    # False when getting the client writes (then the tables must be read again before each post).
    steady: bool = True
    last: dict[str, str] | None = None  # the tables as a refusal left them (read once, not twice)


def _today() -> date:
    return datetime.now(VIETNAM).date()


def _day(days_ago: int = 0) -> str:
    return (_today() - timedelta(days=days_ago)).strftime("%d/%m/%Y")


class World:
    """The accounts, signed-in clients and cases one target needs, made on demand."""

    def __init__(self, app: Flask, make_account: Callable[..., Account]) -> None:
        self.app = app
        self.make_account = make_account
        self.accounts: dict[str, Account] = {}
        self.clients: dict[str, FlaskClient] = {}

    def account(self, role: Role, name: str = "", **options: Any) -> Account:
        key = name or role.value
        if key not in self.accounts:
            self.accounts[key] = self.make_account(role, **options)
        return self.accounts[key]

    def client(self, role: Role, name: str = "", **options: Any) -> FlaskClient:
        key = name or role.value
        if key not in self.clients:
            client = self.app.test_client()
            response = login(client, self.account(role, name, **options))
            assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
            self.clients[key] = client
        return self.clients[key]

    def signed_in(self, role: Role, name: str = "", **options: Any) -> Callable[[], FlaskClient]:
        client = self.client(role, name, **options)
        return lambda: client

    def case(
        self, setup: Callable[[Case, User, User], Any] | None = None, born: str = "05/09/2000"
    ) -> tuple[str, Any]:
        """A case opened through the form by the worker, then ``setup`` run on it (services)."""
        code = open_case(
            self.client(Role.WORKER),
            date_of_birth=born,
            national_id="",
            full_name=f"Người Thử {uuid.uuid4().hex[:6]}",
        )
        result = None
        if setup is not None:
            worker_id = self.account(Role.WORKER).id
            officer_id = self.account(Role.OFFICER).id
            with self.app.app_context():
                case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
                worker = db.session.get(User, worker_id)
                officer = db.session.get(User, officer_id)
                assert worker is not None
                assert officer is not None
                made = setup(case, worker, officer)
                db.session.commit()
                result = getattr(made, "id", made)
        return code, result

    def totp_now(self, account: Account) -> Callable[[], str]:
        """The current code of the account's credential (enrolled, or being enrolled)."""

        def code() -> str:
            with self.app.app_context():
                credential = db.session.scalars(
                    sa.select(TotpCredential).where(TotpCredential.user_id == account.id)
                ).one()
                return pyotp.TOTP(credential.secret).now()

        return code


# --- States of a case (service calls, as the workflow tests make them) -------------------------


def _screened(case: Case, worker: User, _officer: User) -> None:
    from caseapp.workflow.models import ScreeningMethod, ScreeningResult, ScreeningSource

    services.record_screening(
        case, screened_on=_today() - timedelta(days=30), source=ScreeningSource.POLICE,
        method=ScreeningMethod.DRUG_TEST, result=ScreeningResult.POSITIVE, actor=worker,
        today=_today(),
    )  # fmt: skip


def _determined(case: Case, worker: User, _officer: User) -> None:
    determined(case, worker, _today() - timedelta(days=30), _today())


def _in_rehab(case: Case, worker: User, _officer: User) -> RehabEpisode:
    start = _today() - timedelta(days=400)
    determined(case, worker, start, _today())
    return services.start_rehab(
        case,
        RehabStart(RehabForm.VOLUNTARY_COMMUNITY, start + timedelta(days=5), 6,
                   representative_consent=True),
        actor=worker, today=_today(),
    )  # fmt: skip


def _rehab_ending(case: Case, worker: User, officer: User) -> RehabEpisode:
    episode = _in_rehab(case, worker, officer)
    services.advance_stage(case, episode, actor=worker)
    services.advance_stage(case, episode, actor=worker)
    return episode


def _rehab_approved(case: Case, worker: User, officer: User) -> RehabEpisode:
    episode = _rehab_ending(case, worker, officer)
    services.end_rehab(
        case, episode, ended_on=services.add_months(episode.started_on, 6),
        outcome=RehabOutcome.COMPLETED, certificate_number="GCN-1", actor=worker,
        today=_today(),
    )  # fmt: skip
    return episode


def _approved(case: Case, worker: User, officer: User) -> None:
    episode = _rehab_approved(case, worker, officer)
    services.approve_rehab(case, episode, actor=officer)


def _post_rehab(case: Case, worker: User, officer: User) -> PostRehabPeriod:
    return to_post_rehab(
        case, worker, officer, start=_today() - timedelta(days=600), today=_today()
    )


def _schooling(case: Case, worker: User, officer: User) -> Schooling:
    _post_rehab(case, worker, officer)
    return support.record_schooling(
        case, level=SchoolLevel.UPPER_SECONDARY, started_on=_today() - timedelta(days=20),
        result=StudyResult.IN_PROGRESS, ended_on=None, actor=worker, today=_today(),
    )  # fmt: skip


def _training(case: Case, worker: User, officer: User) -> VocationalTraining:
    _post_rehab(case, worker, officer)
    return support.record_training(
        case,
        course_name="Sửa xe máy",
        provider="Trung tâm GDNN",
        started_on=_today() - timedelta(days=20),
        result=StudyResult.IN_PROGRESS,
        ended_on=None,
        certificate_number=None,
        actor=worker,
        today=_today(),
    )


def _job(case: Case, worker: User, officer: User) -> JobPlacement:
    _post_rehab(case, worker, officer)
    return job(case, worker, _today() - timedelta(days=40), _today())


def _consent(case: Case, worker: User, officer: User) -> Any:
    _post_rehab(case, worker, officer)
    return consent(
        case, worker, ConsentPurpose.LOAN_REFERRAL, _today() - timedelta(days=30), _today()
    )


def _loan(case: Case, worker: User, officer: User) -> LoanReferral:
    _consent(case, worker, officer)
    return support.refer_loan(
        case, programme=LoanProgramme.NATIONAL_EMPLOYMENT_FUND,
        referred_on=_today() - timedelta(days=20), amount_requested_vnd=50_000_000,
        on_police_list=False, actor=worker, today=_today(),
    )  # fmt: skip


def _stably_employed(case: Case, worker: User, officer: User) -> None:
    today = _today()
    period = to_post_rehab(case, worker, officer, start=today - timedelta(days=900), today=today)
    services.end_post_rehab(case, period, ended_on=period.planned_end_on,
                            certificate_number="GCN-2", actor=worker, today=today)  # fmt: skip
    services.approve_post_rehab(case, period, actor=officer)
    placed = job(case, worker, services.add_months(today, -7), today)
    monthly_checks(case, placed, worker, 6, today)


def _closed(case: Case, worker: User, officer: User) -> None:
    from caseapp.cases.models import CloseReason
    from caseapp.cases.services import close_case

    close_case(case, CloseReason.MOVED_AWAY, "", actor=officer)


def _follow_up(world: World) -> int:
    code, _ = world.case(_post_rehab)
    client = world.client(Role.WORKER)
    assert (
        client.post(f"/cases/{code}/follow-ups/new", data={"due_on": _day(-5)}).status_code == 302
    )
    with world.app.app_context():
        case_id = db.session.scalars(sa.select(Case.id).where(Case.code == code)).one()
        row = db.session.scalars(
            sa.select(FollowUp.id)
            .where(FollowUp.case_id == case_id, FollowUp.status == Status.PENDING.value)
            .order_by(FollowUp.due_on)
        ).first()
    assert row is not None, "a case in post-rehab has follow-ups planned"
    return row


def _step(
    path: str, setup: Callable[..., Any] | None, born: str = "05/09/2000", **valid: Any
) -> Callable[[World], Target]:
    """A workflow step posted by the worker on a case in the state ``setup`` leaves it in;
    ``{id}`` in the path is the row ``setup`` returns."""

    def build(world: World) -> Target:
        code, made = world.case(setup, born)
        return Target(
            world.signed_in(Role.WORKER),
            f"/cases/{code}/steps/" + path.format(id=made),
            valid=valid,
        )

    return build


def _recovery_page(response: TestResponse) -> bool:
    return response.status_code == 200 and "Mã khôi phục</h1>" in response.get_data(as_text=True)


def _password_issued(response: TestResponse) -> bool:
    return response.status_code == 200 and "password-issued" in response.get_data(as_text=True)


def _download(response: TestResponse) -> bool:
    return response.status_code == 200 and "attachment" in response.headers.get(
        "Content-Disposition", ""
    )


# --- The table: form -> targets ----------------------------------------------------------------


def _login(world: World) -> Target:
    account = world.account(Role.WORKER)
    return Target(
        world.app.test_client,
        "/login",
        valid={"username": account.username, "password": account.password},
        ignore=AUTH_BOOKKEEPING,
    )


def _login_code(world: World) -> Target:
    account = world.account(Role.OFFICER)

    def pending() -> FlaskClient:
        client = world.app.test_client()
        with world.app.app_context():  # a shortcut only tests take: forget earlier failures
            db.session.execute(sa.text("DELETE FROM login_throttles"))
            db.session.commit()
        client.post("/login", data={"username": account.username, "password": account.password})
        return client

    return Target(
        pending,
        "/login/code",
        valid={"code": lambda: next_totp_code(world.app, account)},
        ignore=AUTH_BOOKKEEPING,
        steady=False,
    )


def _change_password(world: World) -> Target:
    account = world.account(Role.WORKER)
    new = "Mật khẩu mới khá dài 2026"
    return Target(
        world.signed_in(Role.WORKER),
        "/account/password",
        valid={"current_password": account.password, "new_password": new, "confirm_password": new},
        ignore=AUTH_BOOKKEEPING,
    )


def _enrol(world: World) -> Target:
    account = world.account(Role.WORKER, "plain", two_factor_on=False)
    client = world.client(Role.WORKER, "plain", two_factor_on=False)
    assert client.post("/account/two-factor/start").status_code == 302
    return Target(
        lambda: client,
        "/account/two-factor/confirm",
        valid={"code": world.totp_now(account), "current_password": account.password},
        ignore=AUTH_BOOKKEEPING,
        ok=_recovery_page,
    )


def _recovery_codes(world: World) -> Target:
    account = world.account(Role.OFFICER)
    return Target(
        world.signed_in(Role.OFFICER),
        "/account/two-factor/recovery-codes",
        valid={"codes_password": account.password},
        ignore=AUTH_BOOKKEEPING,
        ok=_recovery_page,
    )


def _disable(world: World) -> Target:
    account = world.account(Role.WORKER, "enrolled", two_factor_on=True)
    return Target(
        world.signed_in(Role.WORKER, "enrolled", two_factor_on=True),
        "/account/two-factor/disable",
        valid={"disable_password": account.password, "disable_code": world.totp_now(account)},
        ignore=AUTH_BOOKKEEPING,
    )


def _admin_user(world: World) -> int:
    return world.account(Role.WORKER, "managed").id


USER_FORM = {
    "username": "Nguyen.Thi.Demo",
    "display_name": "Cán bộ Thử Nghiệm",
    "email": "",
    "role": "worker",
    "scope_kind": "communes",
    "commune_codes": str(C1),
    "former_district_code": "",
    "locale": "vi",
}


def _export(world: World) -> Target:
    from caseapp.dates import local_day
    from caseapp.indicators import periods

    with world.app.test_request_context():
        keys = [p.key for p in periods.choices(local_day())]
    return Target(
        world.signed_in(Role.SUPERVISOR),
        "/indicators/export",
        valid={"period": keys[len(keys) // 2], "format": "csv"},
        ok=_download,
    )


def _import(world: World) -> Target:
    from tests.cases.test_import import PEOPLE, csv_bytes

    return Target(
        world.signed_in(Role.WORKER),
        "/cases/import",
        valid={"file": lambda: (io.BytesIO(csv_bytes(PEOPLE[:1])), "ho-so.csv")},
        ignore=AUDIT,
        ok=lambda r: r.status_code == 302 or _download(r),
    )


def _rule_set(world: World) -> Target:
    from caseapp.workflow.views import PARAMS, _rule_form

    with world.app.app_context():
        rule_set = db.session.scalars(sa.select(RuleSet).order_by(RuleSet.id)).first()
        assert rule_set is not None
        valid = {name: str(rule_set.params.get(name, 1)) for name in PARAMS}
        with world.app.test_request_context():
            form_class = type(_rule_form(rule_set))
        url = f"/admin/rules/{rule_set.id}"
    return Target(world.signed_in(Role.ADMIN), url, valid=valid, form_class=form_class)


def _case_version(world: World, code: str) -> Callable[[], str]:
    def version() -> str:
        with world.app.app_context():
            return str(db.session.scalars(sa.select(Case.version).where(Case.code == code)).one())

    return version


def _edit_case(world: World) -> Target:
    code, _ = world.case()
    valid = {**case_form(full_name="Người Sửa"), "version": _case_version(world, code)}
    return Target(world.signed_in(Role.WORKER), f"/cases/{code}/edit", valid=valid)


def _officer_on_case(path: str, setup: Any = None, **valid: Any) -> Callable[[World], Target]:
    def build(world: World) -> Target:
        code, _ = world.case(setup)
        return Target(world.signed_in(Role.OFFICER), f"/cases/{code}/{path}", valid=valid)

    return build


def _assign(world: World) -> Target:
    code, _ = world.case()
    worker = world.account(Role.WORKER)
    return Target(
        world.signed_in(Role.OFFICER), f"/cases/{code}/assign", valid={"worker_id": worker.id}
    )


def _approve_rehab(world: World) -> Target:
    _, episode = world.case(_rehab_approved)
    return Target(world.signed_in(Role.OFFICER), f"/approvals/rehab/{episode}")


def _approve_reintegration(world: World) -> Target:
    code, _ = world.case(_stably_employed)
    return Target(world.signed_in(Role.OFFICER), f"/approvals/reintegration/{code}")


def _reintegration(world: World) -> Target:
    code, _ = world.case(_stably_employed)
    return Target(
        world.signed_in(Role.OFFICER),
        f"/cases/{code}/steps/reintegration",
        valid={"certified_on": _day()},
    )


def _outcome(world: World) -> Target:
    row = _follow_up(world)
    return Target(
        world.signed_in(Role.WORKER),
        f"/follow-ups/{row}",
        prefix="o-",
        valid={"outcome": "met", "done_on": _day()},
    )


def _reschedule(world: World) -> Target:
    row = _follow_up(world)
    return Target(
        world.signed_in(Role.WORKER),
        f"/follow-ups/{row}",
        prefix="r-",
        valid={"due_on": _day(-3), "reason": "youth_unavailable", "submit_reschedule": "y"},
    )


def _cancel(world: World) -> Target:
    row = _follow_up(world)
    return Target(world.signed_in(Role.WORKER), f"/follow-ups/{row}/cancel", prefix="c-")


def _appointment(world: World) -> Target:
    code, _ = world.case(_post_rehab)
    return Target(
        world.signed_in(Role.WORKER),
        f"/cases/{code}/follow-ups/new",
        valid={"due_on": _day(-5), "note": "Gặp tại nhà"},
    )


def _held(case: Case, _worker: User, officer: User) -> None:
    from caseapp.cases import retention

    retention.set_legal_hold(case, "Công văn số 12/CV của cơ quan điều tra", actor=officer)


def _break_glass(world: World) -> Target:
    """An officer of another commune asks to read a file outside their scope."""
    code, _ = world.case()
    client = world.signed_in(Role.OFFICER, "elsewhere", scope=ScopeKind.COMMUNES, communes=(C2,))
    return Target(
        client,
        f"/break-glass/cases/{code}",
        valid={"reason": "Thanh niên đến cư trú tại xã, cần xem hồ sơ gấp", "acknowledge": "y"},
        ignore=AUDIT,  # every request is audited, refused ones and the daily cap included
    )


def _break_glass_lookup(world: World) -> Target:
    code, _ = world.case()
    client = world.signed_in(Role.OFFICER, "elsewhere", scope=ScopeKind.COMMUNES, communes=(C2,))
    return Target(
        client,
        "/break-glass/",
        method="GET",
        valid={"code": code},
        ignore=AUDIT,
        # A look-up writes nothing, whatever it answers: it leads to the request page, which
        # answers 403 until a reason is given (SECURITY Z8), so every answer counts as a refusal.
        ok=lambda _response: False,
    )


def _hold_lookup(world: World) -> Target:
    code, _ = world.case()
    return Target(world.signed_in(Role.ADMIN), "/admin/retention", valid={"code": code})


def _simple(
    role: Role, url: str | Callable[[World], str], *, name: str = "", **extra: Any
) -> Callable[[World], Target]:
    def build(world: World) -> Target:
        client = world.signed_in(role, name)
        return Target(client, url(world) if callable(url) else url, **extra)

    return build


TARGETS: dict[str, list[Callable[[World], Target]]] = {
    # Base form, posted bare by the "start enrolment" button.
    "caseapp.forms:Form": [
        _simple(Role.WORKER, "/account/two-factor/start", name="plain", ignore=AUTH_BOOKKEEPING)
    ],
    # Sign-in, password, language, second factor.
    "caseapp.auth.forms:LoginForm": [_login],
    "caseapp.auth.forms:LoginCodeForm": [_login_code],
    "caseapp.auth.forms:ChangePasswordForm": [_change_password],
    "caseapp.auth.forms:LanguageForm": [
        _simple(Role.WORKER, "/language", valid={"locale": "en"}),
        _simple(Role.WORKER, "/account", valid={"locale": "vi"}),
    ],
    "caseapp.auth.forms:EnrolTwoFactorForm": [_enrol],
    "caseapp.auth.forms:RecoveryCodesForm": [_recovery_codes],
    "caseapp.auth.forms:DisableTwoFactorForm": [_disable],
    # Administration.
    "caseapp.admin.forms:UserForm": [
        _simple(Role.ADMIN, "/admin/users/new", valid=USER_FORM, ok=_password_issued),
        _simple(
            Role.ADMIN,
            lambda w: f"/admin/users/{_admin_user(w)}",
            valid={**USER_FORM, "username": "worker.managed"},
        ),
    ],
    "caseapp.admin.forms:ConfirmForm": [
        _simple(Role.ADMIN, lambda w: f"/admin/users/{_admin_user(w)}/enabled"),
        _simple(
            Role.ADMIN,
            lambda w: f"/admin/users/{_admin_user(w)}/password",
            ok=_password_issued,
        ),
        _simple(Role.ADMIN, lambda w: f"/admin/users/{_admin_user(w)}/two-factor/reset"),
    ],
    "caseapp.admin.forms:TwoFactorPolicyForm": [
        _simple(Role.ADMIN, "/admin/users/two-factor-policy", valid={"workers_required": "y"})
    ],
    "caseapp.admin.forms:PopulationForm": [
        _simple(Role.ADMIN, f"/admin/communes/{C1}", valid={"population": "5.000"})
    ],
    "caseapp.workflow.views:RuleSetForm": [_rule_set],
    # Case files.
    "caseapp.cases.forms:CaseForm": [
        _simple(Role.WORKER, "/cases/new", valid=case_form()),
        _edit_case,
    ],
    # Listing and searching files are audited, refused filters and searches included.
    "caseapp.cases.forms:FilterForm": [_simple(Role.WORKER, "/cases", method="GET", ignore=AUDIT)],
    "caseapp.cases.forms:SearchForm": [
        _simple(Role.WORKER, "/cases/search", valid={"query": "Người Thử"}, ignore=AUDIT)
    ],
    "caseapp.cases.forms:TransferForm": [
        _officer_on_case("transfer", commune_code=str(C2), reason="Chuyển nơi ở")
    ],
    "caseapp.cases.forms:CloseForm": [_officer_on_case("close", reason="moved_away", note="")],
    "caseapp.cases.forms:ReopenForm": [_officer_on_case("reopen", _closed, note="Quay lại")],
    "caseapp.cases.forms:AssignForm": [_assign],
    # Legal hold (retention) and break-glass access.
    "caseapp.cases.forms:LegalHoldForm": [
        _officer_on_case("legal-hold", reason="Công văn số 7/CV của thanh tra tỉnh")
    ],
    "caseapp.cases.forms:LiftHoldForm": [_officer_on_case("legal-hold/lift", _held)],
    "caseapp.cases.forms:HoldLookupForm": [_hold_lookup],
    "caseapp.break_glass.forms:RequestForm": [_break_glass],
    "caseapp.break_glass.forms:LookupForm": [_break_glass_lookup],
    "caseapp.cases.import_views:ImportForm": [_import],
    "caseapp.indicators.export:ExportForm": [_export],
    # Workflow steps.
    "caseapp.workflow.forms:ScreeningForm": [
        _step(
            "screening",
            None,
            screened_on=_day(30),
            source="police",
            method="drug_test",
            result="positive",
        )
    ],
    "caseapp.workflow.forms:DeterminationForm": [
        _step(
            "determination",
            _screened,
            determined_on=_day(10),
            facility="Trung tâm Y tế",
            is_addicted="yes",
        )
    ],
    "caseapp.workflow.forms:CounsellingForm": [
        _step(
            "counselling",
            _determined,
            held_on=_day(5),
            kind="individual",
            topic="relapse_prevention",
            counsellor="Cán bộ A",
        )
    ],
    "caseapp.workflow.forms:RehabStartForm": [
        _step(
            "rehab",
            _determined,
            form="voluntary_community",
            started_on=_day(20),
            months="6",
            representative_consent="y",
        )
    ],
    "caseapp.workflow.forms:ConfirmForm": [
        _step("rehab/{id}/stage", _in_rehab),
        _approve_rehab,
        _approve_reintegration,
    ],
    "caseapp.workflow.forms:RehabEndForm": [
        _step(
            "rehab/{id}/end",
            _rehab_ending,
            ended_on=_day(),
            outcome="completed",
            certificate_number="GCN-7",
        )
    ],
    "caseapp.workflow.forms:PostRehabStartForm": [
        _step("post-rehab", _approved, started_on=_day(1))
    ],
    "caseapp.workflow.forms:PostRehabEndForm": [
        _step("post-rehab/{id}/end", _post_rehab, ended_on=_day(), certificate_number="GCN-2")
    ],
    "caseapp.workflow.forms:SchoolingForm": [
        _step(
            "schooling",
            _post_rehab,
            level="upper_secondary",
            started_on=_day(10),
            result="in_progress",
            ended_on="",
            born="05/09/2010",
        )
    ],
    "caseapp.workflow.forms:SchoolingEndForm": [
        _step(
            "schooling/{id}/end", _schooling, ended_on=_day(), result="completed", born="05/09/2010"
        )
    ],
    "caseapp.workflow.forms:TrainingForm": [
        _step(
            "training",
            _post_rehab,
            course_name="Hàn",
            provider="Trung tâm",
            started_on=_day(10),
            result="in_progress",
        )
    ],
    "caseapp.workflow.forms:TrainingEndForm": [
        _step(
            "training/{id}/end",
            _training,
            ended_on=_day(),
            result="completed",
            certificate_number="CC-1",
        )
    ],
    "caseapp.workflow.forms:JobForm": [
        _step(
            "job",
            _post_rehab,
            started_on=_day(20),
            sector="craft",
            employer_kind="household_business",
            employer_name="Xưởng Mộc",
            contract_type="short",
            income_band="3m_5m",
        )
    ],
    "caseapp.workflow.forms:JobEndForm": [_step("job/{id}/end", _job, ended_on=_day())],
    "caseapp.workflow.forms:JobCheckForm": [
        _step("job/{id}/check", _job, checked_on=_day(5), still_employed="yes")
    ],
    "caseapp.workflow.forms:ConsentForm": [
        _step("consent", _post_rehab, purpose="employer_contact", given_on=_day(5))
    ],
    "caseapp.workflow.forms:ConsentWithdrawForm": [
        _step("consent/{id}/withdraw", _consent, withdrawn_on=_day())
    ],
    "caseapp.workflow.forms:LoanForm": [
        _step(
            "loan",
            _consent,
            programme="national_employment_fund",
            referred_on=_day(3),
            amount_requested_vnd="50.000.000 đ",
        )
    ],
    "caseapp.workflow.forms:LoanStepForm": [
        _step("loan/{id}/application", _loan, dated_on=_day(2))
    ],
    "caseapp.workflow.forms:LoanAmountForm": [
        _step("loan/{id}/approved", _loan, dated_on=_day(1), amount_vnd="40.000.000")
    ],
    "caseapp.workflow.forms:RelapseForm": [
        _step("relapse", _post_rehab, relapsed_on=_day(), substances="cannabis")
    ],
    "caseapp.workflow.forms:ReintegrationForm": [_reintegration],
    # Follow-ups.
    "caseapp.followups.forms:OutcomeForm": [_outcome],
    "caseapp.followups.forms:RescheduleForm": [_reschedule],
    "caseapp.followups.forms:AppointmentForm": [_appointment],
    "caseapp.followups.forms:ConfirmForm": [
        _cancel,
        _simple(Role.WORKER, "/notifications/read", ok=lambda r: r.status_code in (200, 302)),
    ],
    "caseapp.followups.forms:ReminderPreferencesForm": [
        _simple(Role.WORKER, "/account/reminders", valid={"wants_digest": "y", "email": ""})
    ],
}


# --- Which forms exist --------------------------------------------------------------------------


def declared_forms() -> set[str]:
    """Every class in caseapp's sources deriving (through any chain) from a FlaskForm."""
    root = Path(caseapp.__file__).parent
    classes: list[tuple[str, str, set[str]]] = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else b.attr
                    for b in node.bases
                    if isinstance(b, ast.Name | ast.Attribute)
                }
                classes.append((module, node.name, bases))
    forms = {"FlaskForm"}
    found: set[str] = set()
    while True:
        new = {(m, n) for m, n, bases in classes if bases & forms} - {
            tuple(k.split(":")) for k in found
        }
        if not new:
            return found
        found |= {f"{m}:{n}" for m, n in new}
        forms |= {n for _, n in new}


def test_every_form_is_fuzzed(app: Flask) -> None:
    declared = declared_forms() | {"caseapp.forms:Form"}
    # Classes built at run time (none should escape the source scan, but check what is loaded).
    pending = list(FlaskForm.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("caseapp"):
            declared.add(f"{cls.__module__}:{cls.__qualname__.rsplit('.', 1)[-1]}")
    assert declared - set(TARGETS) == set(), "forms without a fuzz target"
    assert set(TARGETS) - declared == set(), "targets for forms that no longer exist"


# --- Bodies -------------------------------------------------------------------------------------

NEAR_DATES = (
    "31/02/2026", "29/02/2025", "00/00/0000", "32/01/2026", "01/13/2026", "2026-01-01",
    "40000", "01/01/0001", "31/12/9999", "1/1/26", " 01/01/2026 ", "01-01-2026", "01/01/1900",
    "99/99/99999999", "-1/-1/-2026", "１２/０１/２０２６", "٠١/٠١/٢٠٢٦", "\u00a001/01/2026",
)  # fmt: skip
NEAR_NUMBERS = (
    "-1", "0", "1e9", "6.5", "NaN", "inf", "99999999999999999999999999", "-99999999999999999999",
    " 6 ", "6\x00", "٦", "６", "1_000", "0x10", "+6", "1.000.000.000.000.000", "12 tháng",
)  # fmt: skip
# Outside the choices: absent ids, ids past any integer column, a commune by the wrong type.
SELECT_MISSES = (
    "__none__", "0", "-1", "99999", "None", str(C1), " ", "99999999999999999999",
    "-9223372036854775809", "2147483648", "1.5", "１２４５２",
)  # fmt: skip
NEAR_TEXT = ("", " ", "\t\n", "\x00", "\u200b", "\ufeff", "e\u0301", "a" * 300, "🙂" * 70)


def _typed_dates() -> st.SearchStrategy[str]:
    near_today = st.integers(-800, 800).map(lambda d: _day(d))
    anyday = st.dates(date(1, 1, 1), date(9999, 12, 31)).map(lambda d: d.strftime("%d/%m/%Y"))
    return st.one_of(near_today, anyday, st.sampled_from(NEAR_DATES))


def _numbers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-(10**30), 10**30).map(str), st.integers(-5, 30).map(str),
        st.sampled_from(NEAR_NUMBERS),
    )  # fmt: skip


def _choice_values(unbound: UnboundField) -> list[str]:
    choices = unbound.kwargs.get("choices") or []
    if callable(choices):
        return []
    values: list[str] = []
    for choice in choices:
        value = getattr(choice, "value", None)
        if value is None and isinstance(choice, tuple | list):
            value = choice[0]
        if value is not None:
            values.append(str(value))
    return values


def _value_strategy(unbound: UnboundField, valid: bool) -> st.SearchStrategy[Any]:
    kind = unbound.field_class.__name__
    options: list[st.SearchStrategy[Any]] = [st.text(max_size=40), st.sampled_from(NEAR_TEXT)]
    if valid:
        options.append(st.just(VALID))
    if kind == "DayField":
        options.append(_typed_dates())
    elif kind in ("IntegerField", "DecimalField", "FloatField", "VndField", "HiddenField"):
        options.append(_numbers())
    elif kind in ("SelectField", "RadioField", "SelectMultipleField", "MultiCheckboxField"):
        values = _choice_values(unbound)
        if values:
            options.append(st.sampled_from(values))
        options.append(st.sampled_from(SELECT_MISSES))
    elif kind in ("BooleanField", "SubmitField"):
        options.append(st.sampled_from(("y", "1", "on", "false", "n")))
    elif kind == "FileField":
        files = st.tuples(st.binary(max_size=300), st.text(max_size=20)).map(
            lambda pair: (io.BytesIO(pair[0]), pair[1] or "f.csv")
        )
        options = [files, *([st.just(VALID)] if valid else [])]
    else:
        options.append(st.integers(0, 3000).map(lambda n: "x" * n))
    return st.one_of(*options)


def _field_strategy(name: str, unbound: UnboundField, valid: bool) -> st.SearchStrategy[Any]:
    """A field left out, sent once or sent twice."""
    value = _value_strategy(unbound, valid)
    return st.one_of(
        st.just([]),
        value.map(lambda v: [(name, v)]),
        st.lists(value, min_size=2, max_size=3).map(lambda vs: [(name, v) for v in vs]),
    )


def form_fields(target: Target, key: str) -> list[tuple[str, UnboundField]]:
    if target.form_class is not None:
        cls: type = target.form_class
    else:
        module, name = key.split(":")
        cls = getattr(importlib.import_module(module), name)
    found = [
        (name, value)
        for name in dir(cls)
        if not name.startswith("_") and isinstance(value := getattr(cls, name), UnboundField)
    ]
    return sorted(found, key=lambda pair: pair[0])


def bodies(target: Target, key: str) -> st.SearchStrategy[list[tuple[str, Any]]]:
    parts = [
        _field_strategy(target.prefix + name, unbound, name in target.valid)
        for name, unbound in form_fields(target, key)
    ]
    junk = st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=2)
    mostly_valid = st.lists(st.sampled_from(range(len(parts))), max_size=2) if parts else None
    fuzzed = st.tuples(*parts, junk).map(lambda drawn: [pair for part in drawn for pair in part])
    if mostly_valid is None or not target.valid:
        return fuzzed
    # Also near the happy path: every field valid but one or two fuzzed ones.
    names = [target.prefix + n for n, _ in form_fields(target, key)]
    valid_pairs = [(target.prefix + n, VALID) for n in target.valid]

    def near(drawn: tuple[Any, ...]) -> list[tuple[str, Any]]:
        *fuzz, changed = drawn
        body = [pair for pair in valid_pairs if pair[0] not in {names[i] for i in changed}]
        for i in changed:
            body.extend(fuzz[i])
        return body

    return st.one_of(fuzzed, st.tuples(*parts, mostly_valid).map(near))


# --- Checking one example -----------------------------------------------------------------------


def snapshot(app: Flask, ignore: frozenset[str]) -> dict[str, str]:
    """A digest of every table's rows (raw, as stored), by table: on PostgreSQL worked out by
    the server in one query, on SQLite read in process."""
    with app.app_context():
        conn = db.session.connection()
        tables = [
            t
            for t in db.metadata.sorted_tables
            if t.name not in NOT_COMPARED and t.name not in ignore
        ]
        # Names from our own metadata, never from input.
        if conn.dialect.name == "postgresql":
            digest = (
                "(SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {} x)"
            )
            query = "SELECT " + ", ".join(digest.format(f'"{t.name}"') for t in tables)
            row = conn.exec_driver_sql(query).one()
            digests = {t.name: str(value) for t, value in zip(tables, row, strict=True)}
        else:
            digests = {}
            for table in tables:
                order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns) or "1"
                query = f'SELECT * FROM "{table.name}" ORDER BY {order}'  # noqa: S608
                rows = conn.exec_driver_sql(query).all()
                digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        db.session.remove()
    return digests


def _resolve(target: Target, body: list[tuple[str, Any]]) -> MultiDict[str, Any]:
    sent: MultiDict[str, Any] = MultiDict()
    for name, value in body:
        if value is VALID:
            wanted = target.valid[name.removeprefix(target.prefix)]
            value = wanted() if callable(wanted) else wanted
        sent.add(name, value)
    return sent


def _accepted(target: Target, response: TestResponse) -> bool:
    if target.ok is not None:
        return target.ok(response)
    location = response.headers.get("Location", "")
    return response.status_code in (302, 303) and not location.startswith("/login")


def check(target: Target, app: Flask, body: list[tuple[str, Any]]) -> None:
    client = target.client()
    url = target.url() if callable(target.url) else target.url
    data = _resolve(target, body)  # first: working out a valid code may write
    before, target.last = target.last or snapshot(app, target.ignore), None
    if target.method == "GET":
        response = client.get(url, query_string=data)
    else:
        response = client.open(url, method=target.method, data=data)
    text = response.get_data().decode(errors="replace")
    assert response.status_code < 500, f"{url} {data!r}: {response.status_code}\n{text[-3000:]}"
    if _accepted(target, response):
        location = response.headers.get("Location")
        if location:
            page = client.get(location)
            assert page.status_code < 400, f"{url} {data!r}: then {location} {page.status_code}"
        return
    after = snapshot(app, target.ignore)
    changed = sorted(name for name in before if before[name] != after.get(name))
    assert not changed, f"{url} {data!r}: refused ({response.status_code}) but wrote {changed}"
    target.last = after if target.steady else None


def _cases() -> Iterator[Any]:
    for key, builders in sorted(TARGETS.items()):
        for index in range(len(builders)):
            yield pytest.param(key, index, id=f"{key.rsplit(':', 1)[1]}-{key}-{index}")


@pytest.mark.plan("I6")
@pytest.mark.parametrize(("key", "index"), list(_cases()))
def test_forms_fuzz(app: Flask, make_account: Callable[..., Account], key: str, index: int) -> None:
    target = TARGETS[key][index](World(app, make_account))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies(target, key))
    def fuzz(body: list[tuple[str, Any]]) -> None:
        check(target, app, body)

    fuzz()


def test_snapshot_sees_a_write(app: Flask, make_account: Callable[..., Account]) -> None:
    """The oracle itself: a row written anywhere changes its table's digest."""
    before = snapshot(app, frozenset())
    make_account(Role.WORKER)
    after = snapshot(app, frozenset())
    assert {name for name in before if before[name] != after[name]} >= {"users", "audit_events"}
