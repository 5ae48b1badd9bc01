"""Sign-in, sign-out, password change and language choice."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from caseapp import authz, web
from caseapp.auth import services
from caseapp.auth.forms import ChangePasswordForm, LanguageForm, LoginForm
from caseapp.extensions import db

bp = Blueprint("auth", __name__)


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
            target = safe_next(request.args.get("next"))
            session.clear()  # a fresh session: nothing from before sign-in carries over
            session[web.SESSION_TOKEN_KEY] = token
            login_user(result.user)
            return redirect(target or url_for("main.index"))
        db.session.commit()  # keep the throttle count and the audit rows
        if result.outcome is services.LoginOutcome.LOCKED and result.locked_until:
            form.form_errors.append(
                _(
                    "Đăng nhập sai quá nhiều lần. Tài khoản tạm khóa đến %(when)s; "
                    "hãy thử lại sau thời điểm đó.",
                    when=web.format_moment(result.locked_until),
                )
            )
        else:
            form.form_errors.append(_("Tên đăng nhập hoặc mật khẩu không đúng."))
    return render_template("auth/login.html", form=form, language_form=LanguageForm())


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
