"""Workflow screens: a short form per step, the officer's approval queue, the rule sets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import Field

from caseapp import audit, authz, web
from caseapp.cases.models import Case, DrugType, Status
from caseapp.errors import FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.forms import Form, show_field_error
from caseapp.workflow import services, support
from caseapp.workflow.forms import (
    ConfirmForm,
    ConsentForm,
    ConsentWithdrawForm,
    CounsellingForm,
    DeterminationForm,
    JobCheckForm,
    JobEndForm,
    JobForm,
    LoanAmountForm,
    LoanForm,
    LoanStepForm,
    PostRehabEndForm,
    PostRehabStartForm,
    RehabEndForm,
    RehabStartForm,
    ReintegrationForm,
    RelapseForm,
    SchoolingEndForm,
    SchoolingForm,
    ScreeningForm,
    TrainingEndForm,
    TrainingForm,
)
from caseapp.workflow.models import (
    Consent,
    ConsentPurpose,
    ContractType,
    CounsellingKind,
    CounsellingTopic,
    EmployerKind,
    IncomeBand,
    JobPlacement,
    JobSector,
    LoanProgramme,
    LoanReferral,
    LoanStatus,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    RuleSet,
    RuleSetRevision,
    Schooling,
    SchoolLevel,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
    StudyResult,
    VocationalTraining,
)
from caseapp.workflow.rules import PARAMS, POSITIVE_PARAMS, Rules

bp = Blueprint("workflow", __name__)


def _step(
    code: str,
    form: Form,
    title: Any,
    perform: Callable[[Case], object],
    *,
    action: authz.Action = authz.Action.EDIT_CASES,
    check: Callable[[Case], object] | None = None,
    intro: Callable[[Case], list[str]] | None = None,
) -> ResponseReturnValue:
    """Load and authorize the case, run the step on a valid form, or show the form again.

    ``check`` runs on every request (GET too): e.g. a 404 for an episode of another case.
    ``intro`` gives lines shown above the form (e.g. what a rule still needs).
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
    return render_template(
        "workflow/step.html",
        form=form,
        case=case,
        title=title,
        intro=intro(case) if intro is not None else [],
    )


def _day(field: Field) -> date:
    """A required date field's value (the form has validated it)."""
    value = field.data
    if not isinstance(value, date):
        abort(400)
    return value


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
            screened_on=_day(form.screened_on),
            source=ScreeningSource(form.source.data),
            method=ScreeningMethod(form.method.data),
            result=ScreeningResult(form.result.data),
            actor=web.actor(),
            today=web.today(),
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
            determined_on=_day(form.determined_on),
            facility=form.facility.data or "",
            is_addicted=form.is_addicted.data == "yes",
            form_reference=form.form_reference.data,
            actor=web.actor(),
            today=web.today(),
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
            held_on=_day(form.held_on),
            kind=CounsellingKind(form.kind.data),
            topic=CounsellingTopic(form.topic.data),
            counsellor=form.counsellor.data or "",
            actor=web.actor(),
            today=web.today(),
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
                started_on=_day(form.started_on),
                months=form.months.data,
                court_decision_number=form.court_decision_number.data,
                court_decision_on=form.court_decision_on.data,
                representative_consent=bool(form.representative_consent.data),
            ),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/rehab/<id:episode_id>/stage", methods=("GET", "POST"))
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


@bp.route("/cases/<code>/steps/rehab/<id:episode_id>/end", methods=("GET", "POST"))
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
            ended_on=_day(form.ended_on),
            outcome=RehabOutcome(form.outcome.data),
            certificate_number=form.certificate_number.data,
            actor=web.actor(),
            today=web.today(),
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
            started_on=_day(form.started_on),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/post-rehab/<id:period_id>/end", methods=("GET", "POST"))
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
            ended_on=_day(form.ended_on),
            certificate_number=form.certificate_number.data or "",
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        )

    return _step(code, form, _l("Kết thúc quản lý sau cai nghiện"), perform, check=period_of)


# --- Support after rehab ----------------------------------------------------------------------

T = TypeVar("T")


def _owned(model: type[T], case: Case, record_id: int) -> T:
    """A step record of this case, else 404 (a record of another case does not leak)."""
    record = db.session.get(model, record_id)
    if record is None or getattr(record, "case_id", None) != case.id:
        abort(404)
    return record


@bp.route("/cases/<code>/steps/schooling", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def schooling(code: str) -> ResponseReturnValue:
    form = SchoolingForm()
    return _step(
        code,
        form,
        _l("Học văn hóa (giáo dục phổ thông)"),
        lambda case: support.record_schooling(
            case,
            level=SchoolLevel(form.level.data),
            started_on=_day(form.started_on),
            ended_on=form.ended_on.data,
            result=StudyResult(form.result.data),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/schooling/<id:schooling_id>/end", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def end_schooling(code: str, schooling_id: int) -> ResponseReturnValue:
    form = SchoolingEndForm()
    return _step(
        code,
        form,
        _l("Kết thúc học văn hóa"),
        lambda case: support.end_schooling(
            case,
            _owned(Schooling, case, schooling_id),
            ended_on=_day(form.ended_on),
            result=StudyResult(form.result.data),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
        check=lambda case: _owned(Schooling, case, schooling_id),
    )


@bp.route("/cases/<code>/steps/training", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def training(code: str) -> ResponseReturnValue:
    form = TrainingForm()
    return _step(
        code,
        form,
        _l("Đào tạo nghề (học nghề)"),
        lambda case: support.record_training(
            case,
            course_name=form.course_name.data or "",
            provider=form.provider.data or "",
            started_on=_day(form.started_on),
            ended_on=form.ended_on.data,
            result=StudyResult(form.result.data),
            certificate_number=form.certificate_number.data,
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/training/<id:training_id>/end", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def end_training(code: str, training_id: int) -> ResponseReturnValue:
    form = TrainingEndForm()
    return _step(
        code,
        form,
        _l("Kết thúc khóa học nghề"),
        lambda case: support.end_training(
            case,
            _owned(VocationalTraining, case, training_id),
            ended_on=_day(form.ended_on),
            result=StudyResult(form.result.data),
            certificate_number=form.certificate_number.data,
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
        check=lambda case: _owned(VocationalTraining, case, training_id),
    )


@bp.route("/cases/<code>/steps/job", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def job(code: str) -> ResponseReturnValue:
    form = JobForm()
    return _step(
        code,
        form,
        _l("Giới thiệu việc làm"),
        lambda case: support.place_job(
            case,
            support.JobStart(
                sector=JobSector(form.sector.data),
                employer_kind=EmployerKind(form.employer_kind.data),
                started_on=_day(form.started_on),
                contract_type=ContractType(form.contract_type.data),
                income_band=IncomeBand(form.income_band.data),
                employer_name=form.employer_name.data,
                employer_contacted=bool(form.employer_contacted.data),
            ),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/job/<id:job_id>/end", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def end_job(code: str, job_id: int) -> ResponseReturnValue:
    form = JobEndForm()
    return _step(
        code,
        form,
        _l("Ghi ngày nghỉ việc"),
        lambda case: support.end_job(
            case,
            _owned(JobPlacement, case, job_id),
            ended_on=_day(form.ended_on),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
        check=lambda case: _owned(JobPlacement, case, job_id),
    )


@bp.route("/cases/<code>/steps/job/<id:job_id>/check", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def job_check(code: str, job_id: int) -> ResponseReturnValue:
    form = JobCheckForm()
    return _step(
        code,
        form,
        _l("Xác nhận còn làm việc"),
        lambda case: support.record_job_check(
            case,
            _owned(JobPlacement, case, job_id),
            checked_on=_day(form.checked_on),
            still_employed=form.still_employed.data == "yes",
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
        check=lambda case: _owned(JobPlacement, case, job_id),
    )


@bp.route("/cases/<code>/steps/consent", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def consent(code: str) -> ResponseReturnValue:
    form = ConsentForm()
    return _step(
        code,
        form,
        _l("Ghi sự đồng ý"),
        lambda case: support.give_consent(
            case,
            purpose=ConsentPurpose(form.purpose.data),
            given_on=_day(form.given_on),
            with_representative=bool(form.with_representative.data),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/consent/<id:consent_id>/withdraw", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def withdraw_consent(code: str, consent_id: int) -> ResponseReturnValue:
    form = ConsentWithdrawForm()
    return _step(
        code,
        form,
        _l("Rút lại sự đồng ý"),
        lambda case: support.withdraw_consent(
            case,
            _owned(Consent, case, consent_id),
            withdrawn_on=_day(form.withdrawn_on),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
        check=lambda case: _owned(Consent, case, consent_id),
    )


@bp.route("/cases/<code>/steps/loan", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def loan(code: str) -> ResponseReturnValue:
    form = LoanForm()
    return _step(
        code,
        form,
        _l("Giới thiệu vay vốn Ngân hàng Chính sách xã hội"),
        lambda case: support.refer_loan(
            case,
            programme=LoanProgramme(form.programme.data),
            referred_on=_day(form.referred_on),
            amount_requested_vnd=form.amount_requested_vnd.data or 0,
            on_police_list=bool(form.on_police_list.data),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


LOAN_STEP_TITLES = {
    LoanStatus.APPLICATION: _l("Ghi nộp hồ sơ vay"),
    LoanStatus.APPROVED: _l("Ghi khoản vay được phê duyệt"),
    LoanStatus.REFUSED: _l("Ghi khoản vay bị từ chối"),
    LoanStatus.DISBURSED: _l("Ghi giải ngân khoản vay"),
}


@bp.route("/cases/<code>/steps/loan/<id:loan_id>/<status>", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def loan_step(code: str, loan_id: int, status: str) -> ResponseReturnValue:
    """One move of a loan; the case page posts here from a small inline form."""
    if status not in {s.value for s in LOAN_STEP_TITLES}:
        abort(404)
    to = LoanStatus(status)
    with_amount = to in (LoanStatus.APPROVED, LoanStatus.DISBURSED)
    form = LoanAmountForm() if with_amount else LoanStepForm()
    return _step(
        code,
        form,
        LOAN_STEP_TITLES[to],
        lambda case: support.advance_loan(
            case,
            _owned(LoanReferral, case, loan_id),
            to=to,
            dated_on=_day(form.dated_on),
            amount_vnd=form.amount_vnd.data if isinstance(form, LoanAmountForm) else None,
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
        check=lambda case: _owned(LoanReferral, case, loan_id),
    )


@bp.route("/cases/<code>/steps/relapse", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def relapse(code: str) -> ResponseReturnValue:
    form = RelapseForm()
    return _step(
        code,
        form,
        _l("Ghi tái nghiện, tái sử dụng"),
        lambda case: support.record_relapse(
            case,
            relapsed_on=_day(form.relapsed_on),
            substances=[DrugType(d) for d in form.substances.data or []],
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
    )


@bp.route("/cases/<code>/steps/reintegration", methods=("GET", "POST"))
@authz.requires(authz.Action.APPROVE_STEPS)
def reintegration(code: str) -> ResponseReturnValue:
    form = ReintegrationForm()
    if request.method == "GET":
        form.certified_on.data = web.today()
    return _step(
        code,
        form,
        _l("Chứng nhận tái hòa nhập cộng đồng"),
        lambda case: support.certify_reintegration(
            case,
            certified_on=_day(form.certified_on),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        ),
        action=authz.Action.APPROVE_STEPS,
        intro=_stable_job_summary,
    )


def _stable_job_summary(case: Case) -> list[str]:
    """What the stable-job rule finds today, shown above the certification form."""
    found = services.stable_job_on(case, web.today())
    if found is None:
        return [_("Không có bộ quy định nào áp dụng cho ngày này.")]
    if found.met:
        return [
            _(
                "Đủ điều kiện việc làm ổn định: đã xác nhận còn làm việc liên tục %(months)d "
                "tháng (từ %(since)s), không tái nghiện.",
                months=found.months,
                since=services.format_day(found.since or web.today()),
            )
        ]
    return found.reasons()


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
            Case.status == Status.OPEN.value,
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
            Case.status == Status.OPEN.value,
        )
        .order_by(PostRehabPeriod.ended_on)
    ).all()
    return render_template(
        "workflow/approvals.html",
        episodes=episodes,
        periods=periods,
        ready=support.ready_for_reintegration(visible, web.today()),
        form=ConfirmForm(),
    )


@bp.route("/approvals/rehab/<id:episode_id>", methods=("POST",))
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


@bp.route("/approvals/post-rehab/<id:period_id>", methods=("POST",))
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


@bp.route("/approvals/reintegration/<code>", methods=("POST",))
@authz.requires(authz.Action.APPROVE_STEPS)
def approve_reintegration(code: str) -> ResponseReturnValue:
    """Certify from the queue, dated today."""
    case = authz.get_case_or_404(code, authz.Action.APPROVE_STEPS)
    return _approve(
        lambda: support.certify_reintegration(
            case,
            certified_on=web.today(),
            actor=web.actor(),
            today=web.today(),
            context=web.audit_context(),
        )
    )


def _approve(perform: Callable[[], object]) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        perform()
    except InvalidInputError:
        db.session.rollback()
        # The reasons can name health facts (relapse dates…): a flash lives in a readable
        # cookie, so it only points to the case page, which explains them.
        flash(_("Chưa thể phê duyệt: điều kiện chưa đủ. Mở hồ sơ để xem chi tiết."), "danger")
    else:
        db.session.commit()
        flash(_("Đã phê duyệt."), "success")
    return redirect(url_for("workflow.approvals"))


@bp.route("/admin/rules")
@authz.requires(authz.Action.MANAGE_RULES)
def rule_sets() -> ResponseReturnValue:
    rows = db.session.scalars(sa.select(RuleSet).order_by(RuleSet.effective_from)).all()
    return render_template("workflow/rule_sets.html", rule_sets=rows)


@bp.route("/admin/rules/<id:rule_set_id>", methods=("GET", "POST"))
@authz.requires(authz.Action.MANAGE_RULES)
def edit_rule_set(rule_set_id: int) -> ResponseReturnValue:
    rule_set = db.session.get(RuleSet, rule_set_id) or abort(404)
    form = _rule_form(rule_set)
    if form.validate_on_submit():
        after = {name: getattr(form, name).data for name in PARAMS}
        try:
            Rules.from_params(after)
        except ValueError as exc:
            message = (
                _("Phải lớn hơn 0.")
                if str(exc) in POSITIVE_PARAMS
                else _("Giá trị tối thiểu lớn hơn tối đa.")
            )
            show_field_error(form, FieldError(str(exc), message))
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
