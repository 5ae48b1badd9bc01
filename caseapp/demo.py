"""Demo accounts for a first look at CaseApp (synthetic people only)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from caseapp.auth import two_factor
from caseapp.cases.models import Case, Status
from caseapp.config import Settings
from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict
from caseapp.geo.services import load_communes, province_name
from caseapp.users.models import Role, ScopeKind, User
from caseapp.users.services import UserInput, create_user

DEMO_OFFICER_DISTRICT = 341  # Thái Thụy (former district), when the province has it


def create_demo_accounts(settings: Settings) -> str:
    """One account per role with generated passwords; returns the text to print and keep."""
    district = db.session.get(FormerDistrict, DEMO_OFFICER_DISTRICT)
    # The demo worker's commune lies inside the demo officer's scope, so the officer can approve
    # what the worker records.
    first_commune = db.session.scalars(
        sa.select(Commune)
        .where(Commune.former_district_code == district.code if district else sa.true())
        .order_by(Commune.name)
        .limit(1)
    ).one()
    accounts = [
        UserInput(
            username="demo.canbo",
            display_name="Cán bộ Demo (xã)",
            role=Role.WORKER,
            scope_kind=ScopeKind.COMMUNES,
            commune_codes=[first_commune.code],
        ),
        UserInput(
            username="demo.phutrach",
            display_name="Cán bộ phụ trách Demo",
            role=Role.OFFICER,
            scope_kind=ScopeKind.FORMER_DISTRICT if district else ScopeKind.PROVINCE,
            former_district_code=district.code if district else None,
        ),
        UserInput(
            username="demo.lanhdao",
            display_name="Lãnh đạo Demo",
            role=Role.SUPERVISOR,
            scope_kind=ScopeKind.PROVINCE,
        ),
        UserInput(
            username="demo.quantri",
            display_name="Quản trị Demo",
            role=Role.ADMIN,
            scope_kind=ScopeKind.NONE,
        ),
    ]
    lines = [
        f"CaseApp demo accounts — {province_name(settings.PROVINCE)} (synthetic data only)",
        "",
        f"{'role':<12} {'username':<16} {'password':<26} {'totp secret':<32} scope",
    ]
    scopes = {
        Role.WORKER: first_commune.name,
        Role.OFFICER: f"{district.name} (cũ)" if district else "toàn tỉnh",
        Role.SUPERVISOR: "toàn tỉnh",
        Role.ADMIN: "hệ thống",
    }
    for data in accounts:
        user, password = create_user(settings, data, actor=None)
        user.must_change_password = False  # demo logins are meant to be shared and tried at once
        # Roles that require a second factor are enrolled at once; add the secret to an
        # authenticator app (manual entry, time-based) to get the 6-digit codes.
        secret = (
            two_factor.enrol_with_secret(user) if two_factor.required_for(Role(data.role)) else "-"
        )
        lines.append(
            f"{data.role:<12} {data.username:<16} {password:<26} {secret:<32} "
            f"{scopes[Role(data.role)]}"
        )
    db.session.flush()
    lines += [
        "",
        "Sign in at /login on the address `caseapp serve` prints (default 127.0.0.1:5000).",
        "Officer, supervisor and administrator then type the 6-digit code of an authenticator app",
        "(FreeOTP, Aegis, Google or Microsoft Authenticator...) given the TOTP secret above.",
    ]
    return "\n".join(lines) + "\n"


# Appointments on the demo worker's cases, days from today: two overdue (one long enough to be
# escalated to the officer), one today, the rest this week.
DEMO_FOLLOW_UP_DAYS = (-9, -2, 0, 0, 1, 3, 6)


def add_demo_follow_ups(worker: User, today: date) -> int:
    """Give the demo worker's first cases follow-ups around today, so "Việc cần làm", the
    officer's overdue view and the bell have something to show on first sign-in."""
    from caseapp.followups import plans
    from caseapp.followups.models import Kind
    from caseapp.workflow.services import refresh_next_due

    # Open files first, unassigned ones before the rest: the escalated appointment then shows the
    # officer a file nobody has been given yet ("Chưa giao").
    cases = db.session.scalars(
        sa.select(Case)
        .where(
            Case.commune_code.in_([c.code for c in worker.communes]),
            Case.status == Status.OPEN.value,
        )
        .order_by(Case.assigned_worker_id.is_not(None), Case.id)
        .limit(len(DEMO_FOLLOW_UP_DAYS))
    ).all()
    for case, days in zip(cases, DEMO_FOLLOW_UP_DAYS, strict=False):
        plans.new_row(case, Kind.MANUAL, today + timedelta(days=days), created_by_id=worker.id)
        db.session.flush()
        refresh_next_due(case)
    db.session.flush()
    return len(cases)


def load_national_communes() -> int:
    """Load the communes of every province not loaded yet, as ``caseapp init`` loads the
    configured one (a national dataset: 34 provinces, 3,321 communes). Former districts exist
    only for the configured province. Returns how many communes were added."""
    from vietnam_provinces import ProvinceCode

    loaded = set(db.session.scalars(sa.select(Commune.province_code).distinct()))
    added = 0
    for code in ProvinceCode:
        if int(code) not in loaded:
            added += load_communes(int(code)).communes
    db.session.flush()
    return added
