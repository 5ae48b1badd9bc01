"""Sign-in (password, then the second factor), sign-out, password change, two-factor settings
and language choice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import segno
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup

from caseapp import authz, web
from caseapp.auth import services, two_factor
from caseapp.auth.forms import (
    ChangePasswordForm,
    DisableTwoFactorForm,
    EnrolTwoFactorForm,
    LanguageForm,
    LoginCodeForm,
    LoginForm,
    RecoveryCodesForm,
)
from caseapp.db import utcnow
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.forms import Form

bp = Blueprint("auth", __name__)

# Between the password and the code, the (signed) Flask session holds only who is signing in,
# since when and where to go next: no server-side session exists yet (SECURITY A5).
PENDING_LOGIN_KEY = "pending_login"
PENDING_LOGIN_SECONDS = 5 * 60


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or len(target) > 2000:
        return None
    if any(ch in target for ch in "\\\r\n\t") or not target.startswith("/"):
        return None
    if target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=("GET", "POST"))
@authz.public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        result = services.authenticate(
            web.settings(),
            form.username.data or "",
            form.password.data or "",
            context=web.audit_context(),
        )
        if result.outcome is services.LoginOutcome.OK and result.user is not None:
            token = services.start_session(result.user)
            db.session.commit()
            _sign_in(token, result.user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
        db.session.commit()  # keep the throttle count and the audit rows
        if result.outcome is services.LoginOutcome.OTP_REQUIRED and result.user is not None:
            session[PENDING_LOGIN_KEY] = {
                "user_id": result.user.id,
                "since": int(utcnow().timestamp()),
                "next": safe_next(request.args.get("next")),
            }
            return redirect(url_for("auth.login_code"))
        if result.outcome is services.LoginOutcome.LOCKED and result.locked_until:
            form.form_errors.append(_locked_message(result.locked_until))
        else:
            form.form_errors.append(_("Tên đăng nhập hoặc mật khẩu không đúng."))
    return render_template("auth/login.html", form=form, language_form=LanguageForm())


def _locked_message(until: datetime) -> str:
    return str(
        _(
            "Đăng nhập sai quá nhiều lần. Tài khoản tạm khóa đến %(when)s; "
            "hãy thử lại sau thời điểm đó.",
            when=web.format_moment(until),
        )
    )


def _sign_in(token: str, user: Any) -> None:
    session.clear()  # a fresh session: nothing from before sign-in carries over
    session[web.SESSION_TOKEN_KEY] = token
    login_user(user)


@dataclass(frozen=True)
class PendingLogin:
    user_id: int
    next: str | None


def _pending_login() -> PendingLogin | None:
    """Who passed the password step in this browser, less than five minutes ago."""
    pending = session.get(PENDING_LOGIN_KEY)
    if not isinstance(pending, dict):
        return None
    user_id, since = pending.get("user_id"), pending.get("since")
    if not isinstance(user_id, int) or not isinstance(since, int):
        return None
    if not 0 <= utcnow().timestamp() - since <= PENDING_LOGIN_SECONDS:
        session.pop(PENDING_LOGIN_KEY, None)
        return None
    target = pending.get("next")
    return PendingLogin(user_id, safe_next(target) if isinstance(target, str) else None)


@bp.route("/login/code", methods=("GET", "POST"))
@authz.public
def login_code() -> ResponseReturnValue:
    """The second step of sign-in: a code from the authenticator app, or a recovery code."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    pending = _pending_login()
    if pending is None:
        flash(_("Hết thời gian nhập mã xác thực. Hãy đăng nhập lại."), "info")
        return redirect(url_for("auth.login"))
    form = LoginCodeForm()
    locked_message = None
    if form.validate_on_submit():
        result = two_factor.verify_second_factor(
            web.settings(), pending.user_id, form.code.data or "", context=web.audit_context()
        )
        if result.outcome is services.LoginOutcome.OK and result.user is not None:
            token = services.start_session(result.user)
            db.session.commit()
            _sign_in(token, result.user)
            if result.recovery_codes_left is not None:
                flash(
                    _(
                        "Bạn vừa dùng một mã khôi phục; còn %(n)d mã chưa dùng. Mỗi mã chỉ dùng "
                        "được một lần: khi sắp hết, hãy tạo bộ mã mới trong trang "
                        "Xác thực hai lớp.",
                        n=result.recovery_codes_left,
                    ),
                    "warning",
                )
            return redirect(pending.next or url_for("main.index"))
        db.session.commit()  # keep the throttle count and the audit rows
        if result.outcome is services.LoginOutcome.LOCKED and result.locked_until:
            session.pop(PENDING_LOGIN_KEY, None)  # start again from the password, later
            locked_message = _locked_message(result.locked_until)
        else:
            form.form_errors.append(
                _("Mã không đúng hoặc đã dùng rồi. Hãy nhập mã mới nhất trong ứng dụng xác thực.")
            )
    form.code.data = ""  # a code is never sent back
    return render_template("auth/login_code.html", form=form, locked_message=locked_message)


@bp.route("/logout", methods=("POST",))
@authz.requires(authz.Action.SIGNED_IN)
def logout() -> ResponseReturnValue:
    from caseapp import audit

    token = session.get(web.SESSION_TOKEN_KEY)
    if token:
        services.end_session(token)
    audit.record(
        "logout",
        actor=web.actor(),
        target_type="user",
        target_id=current_user.id,
        context=web.audit_context(),
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("Bạn đã đăng xuất."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/sign-out-everywhere", methods=("POST",))
@authz.requires(authz.Action.SIGNED_IN)
def sign_out_everywhere() -> ResponseReturnValue:
    """End every session of this account, this one included (a lost phone, a shared computer)."""
    from caseapp import audit

    user = web.actor()
    ended = services.end_all_sessions(user)
    audit.record(
        "sessions_ended_everywhere",
        actor=user,
        target_type="user",
        target_id=user.id,
        details={"sessions": ended},
        context=web.audit_context(),
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("Đã đăng xuất khỏi mọi thiết bị (%(n)d phiên).", n=ended), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=("GET", "POST"))
@authz.requires(authz.Action.SIGNED_IN)
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            changed = services.change_own_password(
                web.settings(),
                web.actor(),
                form.current_password.data or "",
                form.new_password.data or "",
                keep_token=session.get(web.SESSION_TOKEN_KEY),
                context=web.audit_context(),
            )
        except services.PasswordPolicyError as exc:
            db.session.rollback()
            form.new_password.errors = [*form.new_password.errors, *exc.messages]
        else:
            db.session.commit()
            if changed is services.LoginOutcome.OK:
                flash(_("Đã đổi mật khẩu. Các phiên đăng nhập khác đã được đăng xuất."), "success")
                return redirect(url_for("main.index"))
            if changed is services.LoginOutcome.LOCKED:
                logout_user()
                session.clear()
                flash(_("Nhập sai mật khẩu hiện tại quá nhiều lần: bạn đã bị đăng xuất."), "danger")
                return redirect(url_for("auth.login"))
            form.current_password.errors = [
                *form.current_password.errors,
                _("Mật khẩu hiện tại không đúng."),
            ]
    return render_template("auth/change_password.html", form=form)


@bp.route("/language", methods=("POST",))
@authz.public
def choose_language() -> ResponseReturnValue:
    """The language picker on the sign-in page (before anyone is known)."""
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.locale.data
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=("GET", "POST"))
@authz.requires(authz.Action.SIGNED_IN)
def account() -> ResponseReturnValue:
    form = LanguageForm(locale=current_user.locale)
    if form.validate_on_submit():
        user = web.actor()
        user.locale = form.locale.data or "vi"
        db.session.commit()
        flash(_("Đã lưu lựa chọn ngôn ngữ."), "success")
        return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form)


# segno writes nothing but these elements: numeric path data and fixed attributes, never the URI
# or any text of ours. Checked before the markup goes into the page unescaped.
_QR_SVG = re.compile(
    r'<svg width="\d+" height="\d+" class="qr-code">(?:<g transform="scale\(\d+\)">)?'
    r'(?:<path (?:fill|stroke)="#[0-9a-f]{3}" d="[0-9MmHhVvZz .\-]+"/>)+(?:</g>)?</svg>'
)


def qr_code_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG (no script, no style: the CSP allows it)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, dark="#000", light="#fff", svgclass="qr-code", lineclass=None
    )
    if not _QR_SVG.fullmatch(svg):
        raise ValueError("unexpected SVG from the QR code generator")
    return Markup(svg)  # noqa: S704 -- checked just above: only shapes, no text, no attribute of ours


def _two_factor_page(
    *,
    enrol_form: EnrolTwoFactorForm | None = None,
    codes_form: RecoveryCodesForm | None = None,
    disable_form: DisableTwoFactorForm | None = None,
) -> ResponseReturnValue:
    user = web.actor()
    enrolled = two_factor.is_enrolled(user)
    secret = None if enrolled else two_factor.pending_secret(user)
    context: dict[str, Any] = {
        "enrolled": enrolled,
        "required": two_factor.required_for(user.role_enum),
        "start_form": Form(),
        "enrol_form": enrol_form or EnrolTwoFactorForm(formdata=None),
        "codes_form": codes_form or RecoveryCodesForm(formdata=None),
        "disable_form": disable_form or DisableTwoFactorForm(formdata=None),
        "codes_left": two_factor.recovery_codes_left(user.id) if enrolled else None,
        "since": user.totp.confirmed_at if enrolled and user.totp else None,
        "secret": two_factor.grouped(secret) if secret else None,
        "qr_code": qr_code_svg(two_factor.provisioning_uri(user, secret)) if secret else None,
    }
    return render_template("auth/two_factor.html", **context)


def _after_lock() -> ResponseReturnValue:
    logout_user()
    session.clear()
    flash(_("Nhập sai quá nhiều lần: bạn đã bị đăng xuất."), "danger")
    return redirect(url_for("auth.login"))


def _recovery_codes_page(codes: list[str], *, first_time: bool) -> ResponseReturnValue:
    # Shown once, in this response only: never in a flash cookie, a URL or a log.
    return render_template("auth/recovery_codes.html", codes=codes, first_time=first_time)


@bp.route("/account/two-factor", endpoint="two_factor")
@authz.requires(authz.Action.SIGNED_IN)
def two_factor_settings() -> ResponseReturnValue:
    """Turn the second factor on (a QR code and the secret as text), or manage it."""
    return _two_factor_page()


@bp.route("/account/two-factor/start", methods=("POST",))
@authz.requires(authz.Action.SIGNED_IN)
def two_factor_start() -> ResponseReturnValue:
    """Prepare a new secret to scan (replacing one not confirmed yet)."""
    if Form().validate_on_submit():
        try:
            two_factor.start_enrolment(web.actor(), context=web.audit_context())
        except FieldError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        else:
            db.session.commit()
    return redirect(url_for("auth.two_factor"))


@bp.route("/account/two-factor/confirm", methods=("POST",))
@authz.requires(authz.Action.SIGNED_IN)
def two_factor_confirm() -> ResponseReturnValue:
    form = EnrolTwoFactorForm()
    if form.validate_on_submit():
        try:
            result = two_factor.confirm_enrolment(
                web.settings(),
                web.actor(),
                form.code.data or "",
                form.current_password.data or "",
                keep_token=session.get(web.SESSION_TOKEN_KEY),
                context=web.audit_context(),
            )
        except FieldError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for("auth.two_factor"))
        db.session.commit()
        if result.outcome is two_factor.TwoFactorOutcome.OK:
            return _recovery_codes_page(result.recovery_codes, first_time=True)
        if result.outcome is two_factor.TwoFactorOutcome.LOCKED:
            return _after_lock()
        if result.outcome is two_factor.TwoFactorOutcome.WRONG_PASSWORD:
            form.current_password.errors = [
                *form.current_password.errors,
                _("Mật khẩu hiện tại không đúng."),
            ]
        else:
            form.code.errors = [
                *form.code.errors,
                _("Mã xác thực không đúng. Hãy nhập 6 chữ số ứng dụng đang hiện."),
            ]
    form.code.data = ""  # nothing typed is sent back
    return _two_factor_page(enrol_form=form)


@bp.route("/account/two-factor/recovery-codes", methods=("POST",))
@authz.requires(authz.Action.SIGNED_IN)
def recovery_codes() -> ResponseReturnValue:
    """A new set of recovery codes; the old ones stop working."""
    form = RecoveryCodesForm()
    if form.validate_on_submit():
        try:
            result = two_factor.regenerate_recovery_codes(
                web.settings(),
                web.actor(),
                form.codes_password.data or "",
                keep_token=session.get(web.SESSION_TOKEN_KEY),
                context=web.audit_context(),
            )
        except FieldError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for("auth.two_factor"))
        db.session.commit()
        if result.outcome is two_factor.TwoFactorOutcome.OK:
            return _recovery_codes_page(result.recovery_codes, first_time=False)
        if result.outcome is two_factor.TwoFactorOutcome.LOCKED:
            return _after_lock()
        form.codes_password.errors = [
            *form.codes_password.errors,
            _("Mật khẩu hiện tại không đúng."),
        ]
    return _two_factor_page(codes_form=form)


@bp.route("/account/two-factor/disable", methods=("POST",))
@authz.requires(authz.Action.SIGNED_IN)
def two_factor_disable() -> ResponseReturnValue:
    """Turn the second factor off, where the role does not require it."""
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            result = two_factor.disable(
                web.settings(),
                web.actor(),
                form.disable_password.data or "",
                form.disable_code.data or "",
                keep_token=session.get(web.SESSION_TOKEN_KEY),
                context=web.audit_context(),
            )
        except FieldError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for("auth.two_factor"))
        db.session.commit()
        if result.outcome is two_factor.TwoFactorOutcome.OK:
            flash(
                _("Đã tắt xác thực hai lớp. Các phiên đăng nhập khác đã được đăng xuất."),
                "success",
            )
            return redirect(url_for("auth.two_factor"))
        if result.outcome is two_factor.TwoFactorOutcome.LOCKED:
            return _after_lock()
        if result.outcome is two_factor.TwoFactorOutcome.WRONG_PASSWORD:
            form.disable_password.errors = [
                *form.disable_password.errors,
                _("Mật khẩu hiện tại không đúng."),
            ]
        else:
            form.disable_code.errors = [
                *form.disable_code.errors,
                _("Mã không đúng hoặc đã dùng rồi."),
            ]
    form.disable_code.data = ""
    return _two_factor_page(disable_form=form)
