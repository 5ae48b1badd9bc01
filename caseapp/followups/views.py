"""Follow-up screens: the worker's to-do list, a follow-up's page, appointments, the officer's
overdue view, the notification bell and the digest preference."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from caseapp import audit, authz, web
from caseapp.cases.models import Case
from caseapp.db import utcnow
from caseapp.errors import InvalidInputError
from caseapp.extensions import db
from caseapp.followups import queries, services
from caseapp.followups.forms import (
    AppointmentForm,
    ConfirmForm,
    OutcomeForm,
    ReminderPreferencesForm,
    RescheduleForm,
)
from caseapp.followups.models import (
    KIND_LABELS,
    OUTCOME_LABELS,
    REASON_LABELS,
    REMINDER_LABELS,
    STATUS_LABELS,
    ChangeReason,
    FollowUp,
    Kind,
    Outcome,
    ReminderDispatch,
    Status,
)
from caseapp.forms import show_field_error
from caseapp.geo.models import Commune

bp = Blueprint("followups", __name__)

LABELS = {
    "kind_labels": KIND_LABELS,
    "status_labels": STATUS_LABELS,
    "outcome_labels": OUTCOME_LABELS,
    "reason_labels": REASON_LABELS,
    "reminder_labels": REMINDER_LABELS,
}


@bp.route("/todo")
@authz.requires(authz.Action.EDIT_CASES)
def todo() -> ResponseReturnValue:
    """Việc cần làm: overdue, due today, due this week."""
    today = web.today()
    user = web.actor()
    return render_template(
        "followups/todo.html",
        sections=queries.todo(user, today),
        counts=queries.counts(user, today),
        today=today,
        limit=queries.SECTION_LIMIT,
        **LABELS,
    )


def _follow_up(follow_up_id: int, action: authz.Action) -> tuple[Case, FollowUp]:
    """The follow-up and its case, authorized (another scope's follow-up is a 404)."""
    row = db.session.get(FollowUp, follow_up_id)
    case = db.session.get(Case, row.case_id) if row is not None else None
    if row is None or case is None:
        abort(404)
    return authz.get_case_or_404(case.code, action), row


@bp.route("/follow-ups/<id:follow_up_id>", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def follow_up(follow_up_id: int) -> ResponseReturnValue:
    case, row = _follow_up(follow_up_id, authz.Action.EDIT_CASES)
    today = web.today()
    outcome_form = OutcomeForm(prefix="o").for_kind(row.kind_enum)
    reschedule_form = RescheduleForm(prefix="r")
    if request.method == "GET":
        outcome_form.done_on.data = today
    elif reschedule_form.submit_reschedule.data:
        if reschedule_form.validate_on_submit():
            try:
                services.reschedule(
                    case,
                    row,
                    due_on=reschedule_form.due_on.data,
                    reason=ChangeReason(reschedule_form.reason.data),
                    actor=web.actor(),
                    today=today,
                    context=web.audit_context(),
                )
            except InvalidInputError as exc:
                db.session.rollback()
                show_field_error(reschedule_form, exc)
            else:
                db.session.commit()
                flash(_("Đã hẹn lại lần theo dõi."), "success")
                return redirect(_back(case))
    elif outcome_form.validate_on_submit():
        try:
            services.record_outcome(
                case,
                row,
                outcome=Outcome(outcome_form.outcome.data),
                done_on=outcome_form.done_on.data,
                note=outcome_form.note.data,
                actor=web.actor(),
                today=today,
                context=web.audit_context(),
            )
        except InvalidInputError as exc:
            db.session.rollback()
            show_field_error(outcome_form, exc)
        else:
            db.session.commit()
            flash(_("Đã ghi kết quả lần theo dõi."), "success")
            return redirect(_back(case))
    form = outcome_form if outcome_form.errors else reschedule_form
    return render_template(
        "followups/follow_up.html",
        case=case,
        row=row,
        form=form,  # the form in error names the page title
        outcome_form=outcome_form,
        reschedule_form=reschedule_form,
        cancel_form=ConfirmForm(prefix="c"),
        today=today,
        Kind=Kind,
        Status=Status,
        **LABELS,
    )


def _back(case: Case) -> str:
    """Back to the to-do list when the user came from it, else to the case."""
    if request.args.get("from") == "todo":
        return url_for("followups.todo")
    return url_for("cases.detail", code=case.code)


@bp.route("/follow-ups/<id:follow_up_id>/cancel", methods=("POST",))
@authz.requires(authz.Action.EDIT_CASES)
def cancel(follow_up_id: int) -> ResponseReturnValue:
    case, row = _follow_up(follow_up_id, authz.Action.EDIT_CASES)
    if not ConfirmForm(prefix="c").validate_on_submit():
        abort(400)
    try:
        services.cancel_appointment(case, row, actor=web.actor(), context=web.audit_context())
    except InvalidInputError as exc:
        db.session.rollback()
        flash(" ".join(e.message for e in exc.errors), "danger")
        return redirect(url_for("followups.follow_up", follow_up_id=row.id))
    db.session.commit()
    flash(_("Đã hủy lịch hẹn."), "success")
    return redirect(url_for("cases.detail", code=case.code))


@bp.route("/cases/<code>/follow-ups/new", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def new_appointment(code: str) -> ResponseReturnValue:
    case = authz.get_case_or_404(code, authz.Action.EDIT_CASES)
    form = AppointmentForm()
    if form.validate_on_submit():
        try:
            services.add_appointment(
                case,
                due_on=form.due_on.data,
                note=form.note.data,
                actor=web.actor(),
                today=web.today(),
                context=web.audit_context(),
            )
        except InvalidInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã đặt lịch hẹn theo dõi."), "success")
            return redirect(url_for("cases.detail", code=case.code))
    return render_template(
        "workflow/step.html", form=form, case=case, title=_("Đặt lịch hẹn theo dõi"), intro=[]
    )


@bp.route("/follow-ups/overdue")
@authz.requires(authz.Action.CHASE_FOLLOW_UPS)
def overdue() -> ResponseReturnValue:
    """The officer's view: overdue follow-ups by commune and worker, and the escalated ones."""
    user = web.actor()
    communes = db.session.scalars(
        sa.select(Commune)
        .where(Commune.code.in_(authz.scope_commune_codes(user)))
        .order_by(Commune.name)
    ).all()
    commune = request.args.get("commune", type=int)
    if commune is not None and commune not in {c.code for c in communes}:
        commune = None  # outside the scope, or unknown: the whole scope
    today = web.today()
    return render_template(
        "followups/overdue.html",
        rows=queries.overdue_by_worker(user, today, commune),
        escalated=queries.escalated(user, commune),
        communes=communes,
        commune=commune,
        today=today,
        **LABELS,
    )


@bp.route("/notifications")
@authz.requires(authz.Action.SIGNED_IN)
def notifications() -> ResponseReturnValue:
    return render_template(
        "followups/notifications.html",
        notices=queries.notifications(web.actor()),
        form=ConfirmForm(),
        **LABELS,
    )


@bp.route("/notifications/read", methods=("POST",))
@authz.requires(authz.Action.SIGNED_IN)
def mark_read() -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db.session.execute(
        sa.update(ReminderDispatch)
        .where(ReminderDispatch.user_id == web.actor().id, ReminderDispatch.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.commit()
    flash(_("Đã đánh dấu tất cả thông báo là đã đọc."), "success")
    return redirect(url_for("followups.notifications"))


@bp.route("/account/reminders", methods=("GET", "POST"))
@authz.requires(authz.Action.SIGNED_IN)
def preferences() -> ResponseReturnValue:
    user = web.actor()
    form = ReminderPreferencesForm(obj=user)
    if form.validate_on_submit():
        email = (form.email.data or "").strip() or None
        if form.wants_digest.data and not email:
            form.email.errors = [_("Nhập địa chỉ thư điện tử để nhận thư hằng ngày.")]
        else:
            user.email = email
            user.wants_digest = bool(form.wants_digest.data)
            audit.record(
                "reminder_preferences_changed",
                actor=user,
                target_type="user",
                target_id=user.id,
                details={"digest": user.wants_digest, "email_set": email is not None},
                context=web.audit_context(),
            )
            db.session.commit()
            flash(_("Đã lưu cài đặt nhắc việc."), "success")
            return redirect(url_for("followups.preferences"))
    return render_template(
        "followups/preferences.html",
        form=form,
        mail_configured=bool(web.settings().SMTP_HOST and web.settings().MAIL_FROM),
    )
