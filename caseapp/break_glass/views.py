"""Break-glass screens: the out-of-scope page with its request form, reading a file under a grant
(read-only, with the time left and "end now"), one's own grants, and the reviewers' list."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from caseapp import audit, authz, web
from caseapp.break_glass import queries, services
from caseapp.break_glass.forms import LookupForm, RequestForm
from caseapp.break_glass.models import STATE_LABELS, BreakGlassGrant
from caseapp.cases import detail as case_page
from caseapp.cases.codes import canonical
from caseapp.db import utcnow
from caseapp.errors import FieldError
from caseapp.extensions import db
from caseapp.forms import show_field_error

bp = Blueprint("break_glass", __name__, url_prefix="/break-glass")


@bp.route("/")
@authz.requires(authz.Action.BREAK_GLASS)
def start() -> ResponseReturnValue:
    """Type a case code to reach its out-of-scope page; the user's own grants below."""
    form = LookupForm(request.args)
    if "code" in request.args and form.validate():
        code = canonical(form.code.data or "")
        if code is not None:
            return redirect(url_for("break_glass.request_access", code=code))
        form.code.errors = [_("Mã hồ sơ không đúng dạng (9 ký tự, ví dụ 7K3M-9QXD-Z).")]
    return render_template(
        "break_glass/start.html",
        form=form,
        grants=queries.my_grants(web.actor()),
        now=utcnow(),
        state_labels=STATE_LABELS,
    )


@bp.route("/cases/<code>", methods=("GET", "POST"))
@authz.requires(authz.Action.BREAK_GLASS)
def request_access(code: str) -> ResponseReturnValue:
    """ "Hồ sơ ngoài phạm vi của bạn": the same page (and status) whether the file exists or
    not; a valid request for a missing code gets the 404 an in-scope look-up gets."""
    user = web.actor()
    canonical_code = canonical(code)
    if canonical_code is None:
        abort(404)  # malformed: says nothing about any file
    if canonical_code != code:
        return redirect(url_for("break_glass.request_access", code=canonical_code))
    case = queries.find_case(canonical_code)
    if case is not None and authz.can(user, authz.Action.VIEW_CASES, case.commune_code):
        return redirect(url_for("cases.detail", code=case.code))  # in scope: nothing to break
    if case is None and authz.sees_every_case(user):
        abort(404)  # whoever sees every file learns nothing here
    if case is not None:
        grant = services.active_grant(user, case)
        if grant is not None:
            return redirect(url_for("break_glass.view", grant_id=grant.id))
    settings = web.settings()
    form = RequestForm()
    if form.validate_on_submit():
        try:
            services.check_daily_limit(user, settings, utcnow())
            if case is None:
                services.record_not_found(user, context=web.audit_context())
                db.session.commit()
                abort(404)
            grant = services.grant_access(
                user, case, form.reason.data, settings=settings, context=web.audit_context()
            )
        except FieldError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "Đã mở quyền truy cập khẩn cấp trong %(n)d phút. Lãnh đạo đã được thông báo.",
                    n=settings.BREAK_GLASS_MINUTES,
                ),
                "warning",
            )
            return redirect(url_for("break_glass.view", grant_id=grant.id))
    # 403 until a reason is given (SECURITY Z8), for an existing file and a missing code alike.
    return render_template(
        "break_glass/request.html",
        form=form,
        code=canonical_code,
        minutes=settings.BREAK_GLASS_MINUTES,
    ), 403


@bp.route("/<id:grant_id>")
@authz.requires(authz.Action.BREAK_GLASS)
def view(grant_id: int) -> ResponseReturnValue:
    """The file, read-only, while the grant runs; every view audited with its purpose."""
    user = web.actor()
    grant = queries.grant_for(user, grant_id)
    if grant is None:
        abort(404)
    now = utcnow()
    if not grant.is_active(now):
        services.record_refused_view(grant, user, context=web.audit_context())
        db.session.commit()
        return render_template(
            "break_glass/ended.html",
            grant=grant,
            state=STATE_LABELS[grant.state(now)],
        ), 403
    case = grant.case
    html = render_template(
        "cases/detail.html",
        **case_page.page_context(case, today=web.today(), officer_tools=False),
        assign_form=None,
        break_glass=grant,
        minutes_left=services.minutes_left(grant, now),
    )
    services.record_view(grant, user, now=now, context=web.audit_context())
    db.session.commit()
    return html


@bp.route("/<id:grant_id>/end", methods=("POST",))
@authz.requires(authz.Action.BREAK_GLASS)
def end(grant_id: int) -> ResponseReturnValue:
    """ "Kết thúc ngay": the holder closes their own grant before it expires."""
    user = web.actor()
    grant = queries.grant_for(user, grant_id)
    if grant is None:
        abort(404)
    if services.end_grant(grant, user, context=web.audit_context()):
        db.session.commit()
        flash(_("Đã kết thúc truy cập khẩn cấp."), "success")
    else:
        flash(_("Quyền truy cập này đã kết thúc trước đó."), "info")
    return redirect(url_for("break_glass.start"))


@bp.route("/review")
@authz.requires(authz.Action.REVIEW_BREAK_GLASS)
def review() -> ResponseReturnValue:
    """Every grant with its reason, for supervisors and administrators (no identity shown)."""
    page = web.page_arg()
    pagination = queries.recent_grants(page=page, per_page=web.settings().PAGE_SIZE)
    html = render_template(
        "break_glass/review.html",
        pagination=pagination,
        now=utcnow(),
        state_labels=STATE_LABELS,
    )
    # The page shows the reasons (decrypted): audited like any other sensitive read.
    audit.record(
        "break_glass_review",
        actor=web.actor(),
        details={"page": page, "grants": [g.id for g in pagination.items]},
        context=web.audit_context(),
    )
    db.session.commit()
    return html


@bp.route("/review/<id:grant_id>/revoke", methods=("POST",))
@authz.requires(authz.Action.REVIEW_BREAK_GLASS)
def revoke(grant_id: int) -> ResponseReturnValue:
    """A reviewer ends someone's running grant."""
    grant = db.session.get(BreakGlassGrant, grant_id)
    if grant is None:
        abort(404)
    if services.end_grant(grant, web.actor(), context=web.audit_context()):
        db.session.commit()
        flash(_("Đã thu hồi quyền truy cập khẩn cấp."), "success")
    else:
        flash(_("Quyền truy cập này đã kết thúc trước đó."), "info")
    return redirect(url_for("break_glass.review"))
