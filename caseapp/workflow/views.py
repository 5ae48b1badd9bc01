"""Workflow screens: a short form per step, the officer's approval queue, the rule sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from caseapp import audit, authz, web
from caseapp.cases.models import Case
from caseapp.cases.views import _today
from caseapp.errors import FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.forms import Form, show_field_error
from caseapp.workflow import services
from caseapp.workflow.forms import (
    ConfirmForm,
    CounsellingForm,
    DeterminationForm,
    PostRehabEndForm,
    PostRehabStartForm,
    RehabEndForm,
    RehabStartForm,
    ScreeningForm,
)
from caseapp.workflow.models import (
    CounsellingKind,
    CounsellingTopic,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    RuleSet,
    RuleSetRevision,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
)
from caseapp.workflow.rules import PARAMS, Rules

bp = Blueprint("workflow", __name__)


def _step(
    code: str,
    form: Form,
    title: Any,
    perform: Callable[[Case], object],
    *,
    action: authz.Action = authz.Action.EDIT_CASES,
    check: Callable[[Case], object] | None = None,
) -> ResponseReturnValue:
    """Load and authorize the case, run the step on a valid form, or show the form again.

    ``check`` runs on every request (GET too): e.g. a 404 for an episode of another case.
    """
    case = authz.get_case_or_404(code, action)
    if check is not None:
        check(case)
    if form.validate_on_submit():
        try:
            perform(case)
        except InvalidInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã ghi vào hồ sơ."), "success")
            return redirect(url_for("cases.detail", code=case.code))
    return render_template("workflow/step.html", form=form, case=case, title=title)


def _episode(case: Case, episode_id: int) -> RehabEpisode:
    episode = db.session.get(RehabEpisode, episode_id)
    if episode is None or episode.case_id != case.id:
        abort(404)
    return episode


@bp.route("/cases/<code>/steps/screening", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def screening(code: str) -> ResponseReturnValue:
    form = ScreeningForm()
    return _step(
        code,
        form,
        _l("Sàng lọc"),
        lambda case: services.record_screening(
            case,
            screened_on=form.screened_on.data,
            source=ScreeningSource(form.source.data),
            method=ScreeningMethod(form.method.data),
            result=ScreeningResult(form.result.data),
            actor=web.actor(),
            today=_today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/determination", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def determination(code: str) -> ResponseReturnValue:
    form = DeterminationForm()
    return _step(
        code,
        form,
        _l("Xác định tình trạng nghiện ma túy"),
        lambda case: services.record_determination(
            case,
            determined_on=form.determined_on.data,
            facility=form.facility.data or "",
            is_addicted=form.is_addicted.data == "yes",
            form_reference=form.form_reference.data,
            actor=web.actor(),
            today=_today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/counselling", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def counselling(code: str) -> ResponseReturnValue:
    form = CounsellingForm()
    return _step(
        code,
        form,
        _l("Tư vấn"),
        lambda case: services.record_counselling(
            case,
            held_on=form.held_on.data,
            kind=CounsellingKind(form.kind.data),
            topic=CounsellingTopic(form.topic.data),
            counsellor=form.counsellor.data or "",
            actor=web.actor(),
            today=_today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/rehab", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def rehab(code: str) -> ResponseReturnValue:
    form = RehabStartForm()
    return _step(
        code,
        form,
        _l("Bắt đầu cai nghiện, điều trị"),
        lambda case: services.start_rehab(
            case,
            services.RehabStart(
                form=RehabForm(form.form.data),
                started_on=form.started_on.data,
                months=form.months.data,
                court_decision_number=form.court_decision_number.data,
                court_decision_on=form.court_decision_on.data,
                representative_consent=bool(form.representative_consent.data),
            ),
            actor=web.actor(),
            today=_today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/rehab/<int:episode_id>/stage", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def rehab_stage(code: str, episode_id: int) -> ResponseReturnValue:
    form = ConfirmForm()
    return _step(
        code,
        form,
        _l("Chuyển sang giai đoạn cai tiếp theo"),
        lambda case: services.advance_stage(
            case, _episode(case, episode_id), actor=web.actor(), context=web.audit_context()
        ),
        check=lambda case: _episode(case, episode_id),
    )


@bp.route("/cases/<code>/steps/rehab/<int:episode_id>/end", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def end_rehab(code: str, episode_id: int) -> ResponseReturnValue:
    form = RehabEndForm()
    return _step(
        code,
        form,
        _l("Kết thúc đợt cai nghiện"),
        lambda case: services.end_rehab(
            case,
            _episode(case, episode_id),
            ended_on=form.ended_on.data,
            outcome=RehabOutcome(form.outcome.data),
            certificate_number=form.certificate_number.data,
            actor=web.actor(),
            today=_today(),
            context=web.audit_context(),
        ),
        check=lambda case: _episode(case, episode_id),
    )


@bp.route("/cases/<code>/steps/post-rehab", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def post_rehab(code: str) -> ResponseReturnValue:
    form = PostRehabStartForm()
    return _step(
        code,
        form,
        _l("Quản lý sau cai nghiện"),
        lambda case: services.start_post_rehab(
            case,
            started_on=form.started_on.data,
            actor=web.actor(),
            today=_today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/post-rehab/<int:period_id>/end", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def end_post_rehab(code: str, period_id: int) -> ResponseReturnValue:
    form = PostRehabEndForm()

    def period_of(case: Case) -> PostRehabPeriod:
        period = db.session.get(PostRehabPeriod, period_id)
        if period is None or period.case_id != case.id:
            abort(404)
        return period

    def perform(case: Case) -> None:
        period = period_of(case)
        services.end_post_rehab(
            case,
            period,
            ended_on=form.ended_on.data,
            certificate_number=form.certificate_number.data or "",
            actor=web.actor(),
            today=_today(),
            context=web.audit_context(),
        )

    return _step(code, form, _l("Kết thúc quản lý sau cai nghiện"), perform, check=period_of)


@bp.route("/approvals")
@authz.requires(authz.Action.APPROVE_STEPS)
def approvals() -> ResponseReturnValue:
    visible = authz.visible_cases(web.actor()).with_only_columns(Case.id)
    episodes = db.session.execute(
        sa.select(RehabEpisode, Case)
        .join(Case, Case.id == RehabEpisode.case_id)
        .where(
            RehabEpisode.case_id.in_(visible),
            RehabEpisode.outcome == RehabOutcome.COMPLETED.value,
            RehabEpisode.approved_at.is_(None),
        )
        .order_by(RehabEpisode.ended_on)
    ).all()
    periods = db.session.execute(
        sa.select(PostRehabPeriod, Case)
        .join(Case, Case.id == PostRehabPeriod.case_id)
        .where(
            PostRehabPeriod.case_id.in_(visible),
            PostRehabPeriod.ended_on.is_not(None),
            PostRehabPeriod.approved_at.is_(None),
        )
        .order_by(PostRehabPeriod.ended_on)
    ).all()
    return render_template(
        "workflow/approvals.html", episodes=episodes, periods=periods, form=ConfirmForm()
    )


@bp.route("/approvals/rehab/<int:episode_id>", methods=("POST",))
@authz.requires(authz.Action.APPROVE_STEPS)
def approve_rehab(episode_id: int) -> ResponseReturnValue:
    episode = db.session.get(RehabEpisode, episode_id) or abort(404)
    case = db.session.get(Case, episode.case_id) or abort(404)
    case = authz.get_case_or_404(case.code, authz.Action.APPROVE_STEPS)
    return _approve(
        lambda: services.approve_rehab(
            case, episode, actor=web.actor(), context=web.audit_context()
        )
    )


@bp.route("/approvals/post-rehab/<int:period_id>", methods=("POST",))
@authz.requires(authz.Action.APPROVE_STEPS)
def approve_post_rehab(period_id: int) -> ResponseReturnValue:
    period = db.session.get(PostRehabPeriod, period_id) or abort(404)
    case = db.session.get(Case, period.case_id) or abort(404)
    case = authz.get_case_or_404(case.code, authz.Action.APPROVE_STEPS)
    return _approve(
        lambda: services.approve_post_rehab(
            case, period, actor=web.actor(), context=web.audit_context()
        )
    )


def _approve(perform: Callable[[], None]) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        perform()
    except InvalidInputError as exc:
        db.session.rollback()
        flash(" ".join(e.message for e in exc.errors), "danger")
    else:
        db.session.commit()
        flash(_("Đã phê duyệt."), "success")
    return redirect(url_for("workflow.approvals"))


@bp.route("/admin/rules")
@authz.requires(authz.Action.MANAGE_RULES)
def rule_sets() -> ResponseReturnValue:
    rows = db.session.scalars(sa.select(RuleSet).order_by(RuleSet.effective_from)).all()
    return render_template("workflow/rule_sets.html", rule_sets=rows)


@bp.route("/admin/rules/<int:rule_set_id>", methods=("GET", "POST"))
@authz.requires(authz.Action.MANAGE_RULES)
def edit_rule_set(rule_set_id: int) -> ResponseReturnValue:
    rule_set = db.session.get(RuleSet, rule_set_id) or abort(404)
    form = _rule_form(rule_set)
    if form.validate_on_submit():
        after = {name: getattr(form, name).data for name in PARAMS}
        try:
            Rules.from_params(after)
        except ValueError as exc:
            show_field_error(form, FieldError(str(exc), _("Giá trị tối thiểu lớn hơn tối đa.")))
        else:
            if after != rule_set.params:
                changed = sorted(k for k in PARAMS if after[k] != rule_set.params.get(k))
                db.session.add(
                    RuleSetRevision(
                        rule_set_id=rule_set.id,
                        changed_by_id=web.actor().id,
                        before=dict(rule_set.params),
                        after=after,
                    )
                )
                rule_set.params = after
                audit.record(
                    "rule_set_updated",
                    actor=web.actor(),
                    target_type="rule_set",
                    target_id=rule_set.id,
                    details={"fields": changed},
                    context=web.audit_context(),
                )
                db.session.commit()
                flash(
                    _("Đã lưu bộ quy định. Các quyết định đã ghi vẫn giữ quy định cũ."), "success"
                )
            return redirect(url_for("workflow.rule_sets"))
    revisions = db.session.scalars(
        sa.select(RuleSetRevision)
        .where(RuleSetRevision.rule_set_id == rule_set.id)
        .order_by(RuleSetRevision.id.desc())
    ).all()
    return render_template(
        "workflow/rule_set.html", form=form, rule_set=rule_set, revisions=revisions, params=PARAMS
    )


def _rule_form(rule_set: RuleSet) -> Form:
    """A form with one whole-number field per parameter, filled from the rule set."""
    from wtforms import IntegerField, SubmitField
    from wtforms.validators import InputRequired, NumberRange

    class RuleSetForm(Form):
        submit = SubmitField(_l("Lưu"))

    for name, label in PARAMS.items():
        setattr(
            RuleSetForm,
            name,
            IntegerField(
                label,
                validators=[InputRequired(), NumberRange(min=0, max=1_000_000_000)],
                default=rule_set.params.get(name),
                render_kw={"inputmode": "numeric"},
            ),
        )
    return RuleSetForm()
