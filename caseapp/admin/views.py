"""Accounts, communes and the audit trail, for administrators."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from caseapp import audit, authz, web
from caseapp.admin.forms import ConfirmForm, PopulationForm, TwoFactorPolicyForm, UserForm
from caseapp.auth import two_factor
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.forms import show_field_error
from caseapp.geo import queries as geo_queries
from caseapp.geo import services as geo_services
from caseapp.geo.models import Commune
from caseapp.users import queries as user_queries
from caseapp.users import services as user_services
from caseapp.users.models import Role, User

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _user_form(user: User | None = None) -> UserForm:
    form = UserForm(obj=user)
    form.set_choices(geo_queries.all_communes(), geo_queries.former_districts())
    if user is not None and request.method == "GET":
        form.commune_codes.data = [c.code for c in user.communes]
    return form


@bp.route("/users")
@authz.requires(authz.Action.MANAGE_USERS)
def users() -> ResponseReturnValue:
    role = request.args.get("role", "")
    role_filter = Role(role) if role in set(Role) else None
    page = web.page_arg()
    pagination = user_queries.list_users(role=role_filter, page=page)
    policy_form = TwoFactorPolicyForm(
        formdata=None, workers_required=two_factor.required_for(Role.WORKER)
    )
    return render_template(
        "admin/users.html",
        pagination=pagination,
        role=role_filter,
        roles=list(Role),
        policy_form=policy_form,
    )


@bp.route("/users/two-factor-policy", methods=("POST",))
@authz.requires(authz.Action.MANAGE_USERS)
def two_factor_policy() -> ResponseReturnValue:
    """Require (or stop requiring) the second factor for commune social workers."""
    form = TwoFactorPolicyForm()
    if not form.validate_on_submit():
        abort(400)
    required = bool(form.workers_required.data)
    if two_factor.set_required(
        Role.WORKER, required, actor=web.actor(), context=web.audit_context()
    ):
        db.session.commit()
        flash(
            _("Từ nay cán bộ cấp xã bắt buộc dùng xác thực hai lớp.")
            if required
            else _("Cán bộ cấp xã không còn bắt buộc dùng xác thực hai lớp."),
            "success",
        )
    return redirect(url_for("admin.users"))


@bp.route("/users/new", methods=("GET", "POST"))
@authz.requires(authz.Action.MANAGE_USERS)
def create_user() -> ResponseReturnValue:
    form = _user_form()
    if form.validate_on_submit():
        try:
            user, password = user_services.create_user(
                web.settings(), form.to_input(), actor=web.actor(), context=web.audit_context()
            )
        except FieldError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            # Shown once, in this response only: never in a flash cookie, a URL or a log.
            return render_template("admin/password_issued.html", user=user, password=password)
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<id:user_id>", methods=("GET", "POST"))
@authz.requires(authz.Action.MANAGE_USERS)
def edit_user(user_id: int) -> ResponseReturnValue:
    user = _user_or_404(user_id)
    form = _user_form(user)
    if form.validate_on_submit():
        try:
            user_services.update_user(
                user, form.to_input(), actor=web.actor(), context=web.audit_context()
            )
        except FieldError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã lưu tài khoản %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user, confirm=ConfirmForm())


@bp.route("/users/<id:user_id>/enabled", methods=("POST",))
@authz.requires(authz.Action.MANAGE_USERS)
def toggle_user(user_id: int) -> ResponseReturnValue:
    user = _user_or_404(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        user_services.set_enabled(
            user, not user.is_enabled, actor=web.actor(), context=web.audit_context()
        )
    except FieldError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        message = (
            _("Đã mở khóa tài khoản %(name)s.", name=user.username)
            if user.is_enabled
            else _(
                "Đã khóa tài khoản %(name)s; mọi phiên đăng nhập của họ đã kết thúc.",
                name=user.username,
            )
        )
        flash(message, "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<id:user_id>/password", methods=("POST",))
@authz.requires(authz.Action.MANAGE_USERS)
def reset_password(user_id: int) -> ResponseReturnValue:
    user = _user_or_404(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    password = user_services.reset_password(
        web.settings(), user, actor=web.actor(), context=web.audit_context()
    )
    db.session.commit()
    return render_template("admin/password_issued.html", user=user, password=password)


@bp.route("/users/<id:user_id>/two-factor/reset", methods=("POST",))
@authz.requires(authz.Action.MANAGE_USERS)
def reset_two_factor(user_id: int) -> ResponseReturnValue:
    """A lost phone: remove the user's second factor; they set it up again at next sign-in."""
    user = _user_or_404(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    two_factor.reset(user, actor=web.actor(), context=web.audit_context())
    db.session.commit()
    flash(
        _(
            "Đã đặt lại xác thực hai lớp của %(name)s; mọi phiên đăng nhập của họ đã kết thúc.",
            name=user.username,
        ),
        "success",
    )
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/communes")
@authz.requires(authz.Action.MANAGE_COMMUNES)
def communes() -> ResponseReturnValue:
    return render_template("admin/communes.html", communes=geo_queries.all_communes())


@bp.route("/communes/<id:code>", methods=("GET", "POST"))
@authz.requires(authz.Action.MANAGE_COMMUNES)
def edit_commune(code: int) -> ResponseReturnValue:
    commune = db.session.get(Commune, code)
    if commune is None:
        abort(404)
    form = PopulationForm()
    if request.method == "GET" and commune.population is not None:
        form.population.data = web.format_number(commune.population)
    if form.validate_on_submit():
        try:
            geo_services.set_population(
                commune, form.population_value(), actor=web.actor(), context=web.audit_context()
            )
        except FieldError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã lưu dân số của %(name)s.", name=commune.name), "success")
            return redirect(url_for("admin.communes"))
    return render_template("admin/commune_form.html", form=form, commune=commune)


@bp.route("/retention", methods=("GET", "POST"))
@authz.requires(authz.Action.VIEW_SYSTEM_STATUS)
def retention() -> ResponseReturnValue:
    """Retention at a glance (counts only) and the legal holds, set and lifted by file code."""
    from caseapp.cases import retention as case_retention
    from caseapp.cases.codes import canonical
    from caseapp.cases.forms import HoldLookupForm
    from caseapp.db import utcnow

    form = HoldLookupForm()
    if form.validate_on_submit():
        code = canonical(form.code.data or "")
        if code:
            return redirect(url_for("cases.set_legal_hold", code=code))
        form.code.errors = [_("Mã hồ sơ không đúng.")]
    years = web.settings().RETENTION_YEARS
    counts = case_retention.counts(case_retention.cutoff(utcnow(), years))
    return render_template(
        "admin/retention.html",
        form=form,
        years=years,
        counts=counts,
        held=case_retention.held_cases(),
    )


@bp.route("/audit")
@authz.requires(authz.Action.MANAGE_USERS)
def audit_trail() -> ResponseReturnValue:
    page = web.page_arg()
    pagination = db.paginate(
        sa.select(audit.AuditEvent).order_by(audit.AuditEvent.id.desc()),
        page=page,
        per_page=web.settings().PAGE_SIZE,
        error_out=False,
    )
    actor_ids = {e.actor_id for e in pagination.items if e.actor_id is not None}
    usernames = {
        row.id: row.username
        for row in db.session.execute(
            sa.select(User.id, User.username).where(User.id.in_(actor_ids))
        )
    }
    return render_template(
        "admin/audit.html",
        pagination=pagination,
        usernames=usernames,
        action_labels=AUDIT_ACTION_LABELS,
    )


AUDIT_ACTION_LABELS = {
    "login": _l("Đăng nhập"),
    "login_failed": _l("Đăng nhập sai"),
    "login_locked": _l("Tạm khóa đăng nhập"),
    "login_refused_locked": _l("Từ chối đăng nhập (đang khóa)"),
    "logout": _l("Đăng xuất"),
    "password_changed": _l("Đổi mật khẩu"),
    "password_change_failed": _l("Đổi mật khẩu sai"),
    "password_reset": _l("Cấp lại mật khẩu"),
    "user_created": _l("Tạo tài khoản"),
    "user_updated": _l("Sửa tài khoản"),
    "user_disabled": _l("Khóa tài khoản"),
    "user_enabled": _l("Mở khóa tài khoản"),
    "access_denied": _l("Bị từ chối truy cập"),
    "login_password_ok": _l("Đăng nhập: mật khẩu đúng, chờ mã xác thực"),
    "otp_ok": _l("Mã xác thực đúng"),
    "otp_failed": _l("Mã xác thực sai"),
    "otp_replay": _l("Mã xác thực dùng lại (bị từ chối)"),
    "integrity_failure": _l("Dữ liệu mã hóa bị thay đổi (lỗi kiểm tra toàn vẹn)"),
    "recovery_code_used": _l("Dùng mã khôi phục"),
    "otp_enrolment_started": _l("Bắt đầu cài đặt xác thực hai lớp"),
    "otp_enrolment_failed": _l("Cài đặt xác thực hai lớp không thành"),
    "otp_enrolled": _l("Bật xác thực hai lớp"),
    "otp_disabled": _l("Tắt xác thực hai lớp"),
    "otp_disable_failed": _l("Tắt xác thực hai lớp không thành"),
    "otp_reset": _l("Đặt lại xác thực hai lớp"),
    "recovery_codes_regenerated": _l("Tạo lại mã khôi phục"),
    "recovery_codes_regenerate_failed": _l("Tạo lại mã khôi phục không thành"),
    "two_factor_policy_changed": _l("Đổi quy định xác thực hai lớp"),
    "commune_population_set": _l("Cập nhật dân số xã"),
    "case_created": _l("Mở hồ sơ"),
    "case_viewed": _l("Xem hồ sơ"),
    "case_list": _l("Xem danh sách hồ sơ"),
    "case_search": _l("Tìm hồ sơ"),
    "case_updated": _l("Sửa hồ sơ"),
    "case_edit_conflict": _l("Sửa hồ sơ bị trùng lượt"),
    "case_access_denied": _l("Truy cập hồ sơ ngoài phạm vi"),
    "case_transferred": _l("Chuyển hồ sơ"),
    "case_assigned": _l("Giao hồ sơ"),
    "case_closed": _l("Đóng hồ sơ"),
    "case_reopened": _l("Mở lại hồ sơ"),
    "duplicate_dismissed": _l("Đánh dấu không trùng"),
    "duplicate_merged": _l("Gộp hồ sơ trùng"),
    "legal_hold_set": _l("Đặt lệnh giữ hồ sơ"),
    "legal_hold_lifted": _l("Gỡ lệnh giữ hồ sơ"),
    "case_anonymised": _l("Ẩn danh hồ sơ hết thời hạn lưu trữ"),
    "retention_run": _l("Chạy ẩn danh theo thời hạn lưu trữ"),
    "break_glass_granted": _l("Mở truy cập khẩn cấp"),
    "break_glass_not_found": _l("Yêu cầu truy cập khẩn cấp: không có hồ sơ"),
    "break_glass_view_refused": _l("Xem hồ sơ khi truy cập khẩn cấp đã kết thúc (bị từ chối)"),
    "break_glass_ended": _l("Kết thúc truy cập khẩn cấp"),
    "break_glass_revoked": _l("Thu hồi truy cập khẩn cấp"),
    "break_glass_review": _l("Rà soát truy cập khẩn cấp"),
}
