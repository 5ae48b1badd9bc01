"""THE authorization module: every role and scope rule of DESIGN §2 is written here only.

Views declare what they need with ``@requires(Action.X)`` (or ``@public``); a ``before_request``
hook enforces it. An endpoint with no declared decision is refused, so a new route cannot be open by
accident, and a test sweeps the URL map to prove every endpoint has one.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from caseapp.cases.models import Case
from caseapp.geo.models import Commune
from caseapp.users.models import Role, ScopeKind, User

F = TypeVar("F", bound=Callable[..., Any])


class Action(StrEnum):
    SIGNED_IN = "signed_in"  # anything a signed-in account does for itself
    VIEW_CASES = "view_cases"
    EDIT_CASES = "edit_cases"
    VIEW_IDENTITIES = "view_identities"
    APPROVE_STEPS = "approve_steps"
    REASSIGN_CASES = "reassign_cases"
    VIEW_INDICATORS = "view_indicators"
    EXPORT_STATISTICS = "export_statistics"
    MANAGE_USERS = "manage_users"
    MANAGE_COMMUNES = "manage_communes"
    MANAGE_KEYS = "manage_keys"
    MANAGE_RULES = "manage_rules"
    CHASE_FOLLOW_UPS = "chase_follow_ups"  # the officer's overdue view
    VIEW_SYSTEM_STATUS = "view_system_status"  # the scheduler's heartbeat, the outbox
    # Set or lift a legal hold (retention): officers in scope, administrators on any file, by its
    # code and without seeing who it is about.
    MANAGE_LEGAL_HOLD = "manage_legal_hold"
    # Read one file outside one's scope for a limited time, after giving a reason (audited, the
    # supervisors told); and review those accesses.
    BREAK_GLASS = "break_glass"
    REVIEW_BREAK_GLASS = "review_break_glass"


_READS = frozenset({Action.VIEW_CASES, Action.VIEW_IDENTITIES})
_CASEWORK = frozenset({Action.VIEW_CASES, Action.EDIT_CASES, Action.VIEW_IDENTITIES})

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.WORKER: frozenset({Action.SIGNED_IN}) | _CASEWORK,
    Role.OFFICER: frozenset(
        {
            Action.SIGNED_IN,
            Action.APPROVE_STEPS,
            Action.REASSIGN_CASES,
            Action.VIEW_INDICATORS,
            Action.CHASE_FOLLOW_UPS,
            Action.MANAGE_LEGAL_HOLD,
            Action.BREAK_GLASS,
        }
    )
    | _CASEWORK,
    Role.SUPERVISOR: frozenset(
        {
            Action.SIGNED_IN,
            Action.VIEW_INDICATORS,
            Action.EXPORT_STATISTICS,
            Action.REVIEW_BREAK_GLASS,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Action.SIGNED_IN,
            Action.MANAGE_USERS,
            Action.MANAGE_COMMUNES,
            Action.MANAGE_KEYS,
            Action.MANAGE_RULES,
            Action.VIEW_SYSTEM_STATUS,
            Action.MANAGE_LEGAL_HOLD,
            Action.BREAK_GLASS,  # an administrator reads a file only this way (SECURITY Z8)
            Action.REVIEW_BREAK_GLASS,
        }
    ),
}
# Actions a role performs on any commune's files although its own scope is empty.
SYSTEM_WIDE: dict[Role, frozenset[Action]] = {Role.ADMIN: frozenset({Action.MANAGE_LEGAL_HOLD})}

# Endpoints of extensions that serve files and need no decorator of ours.
PUBLIC_ENDPOINTS = frozenset({"static", "bootstrap.static"})
# While a password must be changed, only these endpoints answer.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.logout"})
# While the role requires a second factor the account has not set up, only these answer.
TWO_FACTOR_ENROL_ENDPOINTS = frozenset(
    {"auth.two_factor", "auth.two_factor_start", "auth.two_factor_confirm", "auth.logout"}
)

_PUBLIC_ATTR = "_authz_public"
_ACTION_ATTR = "_authz_action"


def public(view: F) -> F:
    """Mark a view as reachable without signing in (login page, health check)."""
    setattr(view, _PUBLIC_ATTR, True)
    return view


def requires(action: Action) -> Callable[[F], F]:
    """Declare the action a view performs; the request hook checks it before the view runs."""

    def decorate(view: F) -> F:
        setattr(view, _ACTION_ATTR, action)
        return view

    return decorate


def endpoint_decision(app: Flask, endpoint: str) -> Action | str | None:
    """``"public"``, the required ``Action``, or ``None`` when the endpoint declares nothing."""
    if endpoint in PUBLIC_ENDPOINTS:
        return "public"
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    if getattr(view, _PUBLIC_ATTR, False):
        return "public"
    action: Action | None = getattr(view, _ACTION_ATTR, None)
    return action


def can(user: User | Any, action: Action, commune_code: int | None = None) -> bool:
    """May ``user`` perform ``action`` (in ``commune_code``, when the action is about one)?"""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    role = Role(user.role)
    if action not in ROLE_ACTIONS[role]:
        return False
    if commune_code is None or action in SYSTEM_WIDE.get(role, frozenset()):
        return True
    return in_scope(user, commune_code)


def in_scope(user: User, commune_code: int) -> bool:
    """Is the commune within the user's scope?"""
    scope = ScopeKind(user.scope_kind)
    if scope is ScopeKind.PROVINCE:
        return True
    if scope is ScopeKind.FORMER_DISTRICT:
        if user.former_district_code is None:  # never matches the communes without a district
            return False
        commune = current_app.extensions["sqlalchemy"].session.get(Commune, commune_code)
        return commune is not None and commune.former_district_code == user.former_district_code
    if scope is ScopeKind.COMMUNES:
        return any(c.code == commune_code for c in user.communes)
    return False


def scope_commune_codes(user: User) -> sa.Select[int]:
    """A subquery of the commune codes in the user's scope (empty for administrators)."""
    scope = ScopeKind(user.scope_kind)
    query = sa.select(Commune.code)
    if scope is ScopeKind.PROVINCE:
        return query
    if scope is ScopeKind.FORMER_DISTRICT:
        if user.former_district_code is None:
            return query.where(sa.false())
        return query.where(Commune.former_district_code == user.former_district_code)
    if scope is ScopeKind.COMMUNES:
        return query.where(Commune.code.in_([c.code for c in user.communes]))
    return query.where(sa.false())


def scope_pairs(role: Role) -> sa.CompoundSelect[int, int]:
    """``(user_id, commune_code)`` for every enabled account of ``role`` and every commune in its
    scope: the set-based form of ``scope_commune_codes`` (reminders to everyone concerned)."""
    from caseapp.users.models import user_communes

    active = sa.and_(User.role == role.value, User.is_enabled.is_(True))
    return sa.union_all(
        sa.select(User.id.label("user_id"), Commune.code.label("commune_code"))
        .join(Commune, sa.true())
        .where(active, User.scope_kind == ScopeKind.PROVINCE.value),
        sa.select(User.id, Commune.code)
        .join(Commune, Commune.former_district_code == User.former_district_code)
        .where(active, User.scope_kind == ScopeKind.FORMER_DISTRICT.value),
        sa.select(User.id, user_communes.c.commune_code)
        .join(user_communes, user_communes.c.user_id == User.id)
        .where(active, User.scope_kind == ScopeKind.COMMUNES.value),
    )


def enforce() -> ResponseReturnValue | None:
    """``before_request``: sign-in, forced password change, forced two-factor enrolment, then the
    declared action."""
    from caseapp.auth import two_factor  # auth's services import the models this module uses

    endpoint = request.endpoint
    if endpoint is None:  # no route matched: Flask answers 404/405 itself
        return None
    decision = endpoint_decision(current_app, endpoint)
    if decision == "public":
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined,no-any-return]
    if decision is None:
        current_app.logger.error("endpoint %s declares no authorization decision", endpoint)
        abort(403)
    if current_user.must_change_password:
        if endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            return redirect(url_for("auth.change_password"))
    elif endpoint not in TWO_FACTOR_ENROL_ENDPOINTS and two_factor.enrolment_required(
        current_user._get_current_object()
    ):
        return redirect(url_for("auth.two_factor"))
    if not can(current_user, Action(decision)):
        abort(403)  # the 403 handler writes the audit row
    return None


def visible_cases(user: User) -> sa.Select[Case]:
    """Every case listing starts here: the cases whose commune is in the user's scope."""
    query = sa.select(Case)
    if not can(user, Action.VIEW_CASES):
        return query.where(sa.false())
    if ScopeKind(user.scope_kind) is ScopeKind.PROVINCE:
        return query
    return query.where(Case.commune_code.in_(scope_commune_codes(user)))


def sees_every_case(user: User) -> bool:
    """Does the user's normal scope hold every case (a province-wide officer)?"""
    return can(user, Action.VIEW_CASES) and ScopeKind(user.scope_kind) is ScopeKind.PROVINCE


def offers_break_glass(user: User) -> bool:
    """Is a file the user cannot see offered through break-glass access instead of a 404?"""
    return can(user, Action.BREAK_GLASS) and not sees_every_case(user)


def get_case_or_404(code: str, action: Action, *, offer_break_glass: bool = False) -> Case:
    """Load a case and authorize ``action`` on it: out of scope is a 404 (existence does not
    leak, the attempt is audited); in scope but not permitted is a 403.

    ``offer_break_glass``: a user who may break glass is sent to the break-glass page instead of
    the 404, for a missing code and an out-of-scope file alike (the same redirect: existence still
    does not leak).
    """
    canonical_code, case = _find_case(code)
    user = current_user._get_current_object()
    to_break_glass = bool(offer_break_glass and canonical_code and offers_break_glass(user))
    if case is None:
        if to_break_glass:
            abort(redirect(url_for("break_glass.request_access", code=canonical_code)))
        abort(404)
    if not can(user, Action.VIEW_CASES, case.commune_code):
        _record_denial(user, case)
        if to_break_glass:
            abort(redirect(url_for("break_glass.request_access", code=canonical_code)))
        abort(404)
    if not can(user, action, case.commune_code):
        abort(403)
    if case.anonymised_at is not None and action not in _READS:
        from caseapp.errors import AnonymisedCaseError

        raise AnonymisedCaseError(case.code, case.anonymised_at)  # shown as a 409 page
    return case


def get_case_for_legal_hold(code: str) -> Case:
    """Load a case to set or lift its legal hold: officers in scope, administrators on any file
    (they never see its identity). Unknown or out of scope: 404, the attempt audited."""
    _code, case = _find_case(code)
    if case is None:
        abort(404)
    user = current_user._get_current_object()
    if not can(user, Action.MANAGE_LEGAL_HOLD, case.commune_code):
        _record_denial(user, case)
        abort(404)
    return case


def _find_case(code: str) -> tuple[str | None, Case | None]:
    """The code as typed made canonical, and the file with that code if any."""
    from caseapp.cases.codes import canonical
    from caseapp.extensions import db

    canonical_code = canonical(code)
    if not canonical_code:
        return None, None
    return canonical_code, db.session.scalar(sa.select(Case).where(Case.code == canonical_code))


def _record_denial(user: User, case: Case) -> None:
    """Audit an attempt on a file outside the user's scope (committed: the request ends in 404)."""
    from caseapp import audit
    from caseapp.extensions import db

    audit.record(
        "case_access_denied",
        actor=user,
        target_type="case",
        target_id=case.id,
        outcome="denied",
        context=audit.AuditContext(request_id=g.get("request_id")),
    )
    db.session.commit()
