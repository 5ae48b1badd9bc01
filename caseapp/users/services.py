"""Creating and changing staff accounts (administrators, the CLI and the demo loader use these)."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _

from caseapp import audit
from caseapp.auth import services as auth_services
from caseapp.config import Settings
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.geo.models import Commune, FormerDistrict
from caseapp.users.models import LOCALES, ROLE_SCOPES, Role, ScopeKind, User

# Lower case and digits without look-alikes (0/o, 1/l/i): temporary passwords are read aloud or
# copied from paper. 20 symbols out of 31 is about 99 bits.
_PASSWORD_ALPHABET = "".join(
    ch for ch in string.ascii_lowercase + string.digits if ch not in "01oil"
)
TEMP_PASSWORD_LENGTH = 20
USERNAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "._-")


def generate_password(length: int = TEMP_PASSWORD_LENGTH) -> str:
    """A random password that meets the policy, grouped in fours for reading aloud."""
    raw = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + 4] for i in range(0, length, 4))


@dataclass
class UserInput:
    username: str
    display_name: str
    role: str
    scope_kind: str
    commune_codes: list[int] = field(default_factory=list)
    former_district_code: int | None = None
    email: str | None = None
    locale: str = "vi"


def _check(data: UserInput, *, existing: User | None) -> None:
    username = auth_services.normalise_username(data.username)
    if not username or not set(username) <= USERNAME_CHARS or len(username) < 3:
        raise FieldError(
            "username",
            _("Tên đăng nhập gồm 3–64 ký tự: chữ không dấu, số, dấu chấm, gạch ngang, gạch dưới."),
        )
    clash = db.session.execute(sa.select(User.id).where(User.username == username)).scalar()
    if clash is not None and (existing is None or clash != existing.id):
        raise FieldError("username", _("Tên đăng nhập này đã có người dùng."))
    try:
        role = Role(data.role)
        scope = ScopeKind(data.scope_kind)
    except ValueError:
        raise FieldError("role", _("Vai trò hoặc phạm vi không hợp lệ.")) from None
    if scope not in ROLE_SCOPES[role]:
        raise FieldError("scope_kind", _("Phạm vi này không dùng được cho vai trò đã chọn."))
    if scope is ScopeKind.COMMUNES:
        if not data.commune_codes:
            raise FieldError("commune_codes", _("Chọn ít nhất một xã, phường."))
        found = db.session.scalars(
            sa.select(Commune.code).where(Commune.code.in_(data.commune_codes))
        ).all()
        if len(set(found)) != len(set(data.commune_codes)):
            raise FieldError("commune_codes", _("Có xã, phường không thuộc tỉnh."))
    if scope is ScopeKind.FORMER_DISTRICT and (
        data.former_district_code is None
        or db.session.get(FormerDistrict, data.former_district_code) is None
    ):
        raise FieldError("former_district_code", _("Chọn một huyện cũ."))
    if data.locale not in LOCALES:
        raise FieldError("locale", _("Ngôn ngữ không hợp lệ."))


def _apply(user: User, data: UserInput) -> list[str]:
    """Copy the input onto the user; returns the names of the fields that changed."""
    scope = ScopeKind(data.scope_kind)
    communes = (
        list(db.session.scalars(sa.select(Commune).where(Commune.code.in_(data.commune_codes))))
        if scope is ScopeKind.COMMUNES
        else []
    )
    new = {
        "username": auth_services.normalise_username(data.username),
        "display_name": data.display_name.strip(),
        "email": (data.email or "").strip() or None,
        "role": Role(data.role).value,
        "scope_kind": scope.value,
        "former_district_code": (
            data.former_district_code if scope is ScopeKind.FORMER_DISTRICT else None
        ),
        "locale": data.locale,
    }
    changed = [name for name, value in new.items() if getattr(user, name, None) != value]
    for name, value in new.items():
        setattr(user, name, value)
    if sorted(c.code for c in user.communes) != sorted(c.code for c in communes):
        user.communes = communes
        changed.append("communes")
    return changed


def create_user(
    settings: Settings,
    data: UserInput,
    *,
    actor: User | None,
    password: str | None = None,
    context: audit.AuditContext | None = None,
) -> tuple[User, str]:
    """Create an account; returns it with its password (generated unless given).

    An account created by someone else must change its password at first sign-in.
    """
    _check(data, existing=None)
    # "!" matches no Argon2 hash; the real one is set just below, in the same transaction.
    user = User(password_hash="!", must_change_password=True, is_enabled=True)  # noqa: S106
    _apply(user, data)
    db.session.add(user)
    db.session.flush()
    password = password if password is not None else generate_password()
    auth_services.set_password(settings, user, password, must_change=True)
    audit.record(
        "user_created",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"role": user.role, "scope": user.scope_kind},
        context=context,
    )
    return user, password


def _keep_an_administrator(leaving: User) -> None:
    """Refuse a change that would leave the system without an enabled administrator."""
    others = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.is_enabled.is_(True), User.id != leaving.id)
    )
    if not others:
        raise FieldError("role", _("Hệ thống cần ít nhất một quản trị viên đang hoạt động."))


def update_user(
    user: User, data: UserInput, *, actor: User, context: audit.AuditContext | None = None
) -> list[str]:
    """Change an account; a change of role or scope ends the user's sessions."""
    _check(data, existing=user)
    if user.role == Role.ADMIN and data.role != Role.ADMIN:
        _keep_an_administrator(user)
    changed = _apply(user, data)
    if {"role", "scope_kind", "former_district_code", "communes"} & set(changed):
        auth_services.end_all_sessions(user)
    db.session.flush()
    if changed:
        audit.record(
            "user_updated",
            actor=actor,
            target_type="user",
            target_id=user.id,
            details={"fields": changed},
            context=context,
        )
    return changed


def set_enabled(
    user: User, enabled: bool, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """Disable (ending every session) or re-enable an account. Nobody disables themselves."""
    if user.id == actor.id and not enabled:
        raise FieldError(None, _("Bạn không thể tự khóa tài khoản của mình."))
    if not enabled and user.role == Role.ADMIN:
        _keep_an_administrator(user)
    user.is_enabled = enabled
    if not enabled:
        auth_services.end_all_sessions(user)
    db.session.flush()
    audit.record(
        "user_enabled" if enabled else "user_disabled",
        actor=actor,
        target_type="user",
        target_id=user.id,
        context=context,
    )


def reset_password(
    settings: Settings, user: User, *, actor: User, context: audit.AuditContext | None = None
) -> str:
    """Give the user a new temporary password (to change at sign-in); ends their sessions."""
    password = generate_password()
    auth_services.set_password(settings, user, password, must_change=True)
    auth_services.end_all_sessions(user)
    auth_services.clear_failures(settings, user.username)  # a reset also lifts a sign-in lock
    audit.record(
        "password_reset", actor=actor, target_type="user", target_id=user.id, context=context
    )
    return password
