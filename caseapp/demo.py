"""Demo accounts for a first look at CaseApp (synthetic people only)."""

from __future__ import annotations

import sqlalchemy as sa

from caseapp.config import Settings
from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict
from caseapp.geo.services import province_name
from caseapp.users.models import Role, ScopeKind
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
        f"{'role':<12} {'username':<16} {'password':<26} scope",
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
        lines.append(
            f"{data.role:<12} {data.username:<16} {password:<26} {scopes[Role(data.role)]}"
        )
    db.session.flush()
    lines += [
        "",
        "Sign in at /login on the address `caseapp serve` prints (default 127.0.0.1:5000).",
    ]
    return "\n".join(lines) + "\n"
