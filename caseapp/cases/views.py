"""Case file screens: list, search, open, view with timeline, edit, transfer, assign, close."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError
from wtforms import SelectChoice

from caseapp import audit, authz, web
from caseapp.cases import detail as case_page
from caseapp.cases import queries, retention, services
from caseapp.cases.codes import canonical as canonical_code
from caseapp.cases.codes import display as display_code
from caseapp.cases.forms import (
    AssignForm,
    CaseForm,
    CloseForm,
    FilterForm,
    LegalHoldForm,
    LiftHoldForm,
    ReopenForm,
    SearchForm,
    TransferForm,
)
from caseapp.cases.models import (
    FIELD_LABELS,
    Case,
    Category,
    CloseReason,
    DuplicatePair,
    Phase,
    Status,
)
from caseapp.cases.validation import display_phone
from caseapp.errors import ConflictError, FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.forms import Form, show_field_error
from caseapp.users.models import Role

bp = Blueprint("cases", __name__, url_prefix="/cases")


def _case_form(case: Case | None = None) -> CaseForm:
    user = web.actor()
    communes = queries.communes_for_choice(user)
    form = CaseForm()
    form.set_choices(communes, queries.workers_for([c.code for c in communes]))
    if request.method == "GET":
        if case is None:
            form.intake_on.data = web.format_day(web.today())
            form.commune_code.data = communes[0].code if len(communes) == 1 else None
            form.assigned_worker_id.data = user.id if user.role == Role.WORKER else None
        else:
            _fill(form, case)
    return form


def _fill(form: CaseForm, case: Case) -> None:
    form.full_name.data = case.full_name
    form.date_of_birth.data = web.format_day(case.date_of_birth)
    form.sex.data = case.sex
    form.national_id.data = case.national_id or ""
    form.phone.data = display_phone(case.phone)
    form.address.data = case.address or ""
    form.guardian_name.data = case.guardian_name or ""
    form.guardian_relation.data = case.guardian_relation or ""
    form.guardian_phone.data = display_phone(case.guardian_phone)
    form.notes.data = case.notes or ""
    form.commune_code.data = case.commune_code
    form.category.data = case.category
    form.education.data = case.education or ""
    form.occupation.data = case.occupation or ""
    form.drug_types.data = [d.drug_type for d in case.drug_types]
    form.assigned_worker_id.data = case.assigned_worker_id
    form.intake_on.data = web.format_day(case.intake_on)
    form.version.data = str(case.version)


def _names_visible(case: Case) -> bool:
    """Lists show names only to the commune's own workers (DESIGN §2, issue 3)."""
    user = web.actor()
    return user.role == Role.WORKER and authz.in_scope(user, case.commune_code)


@bp.route("")
@authz.requires(authz.Action.VIEW_CASES)
def index() -> ResponseReturnValue:
    user = web.actor()
    form = FilterForm(request.args)
    form.commune.choices = [SelectChoice("", _("Tất cả")), *queries.commune_choices(user)]
    form.worker.choices = [
        SelectChoice("", _("Tất cả")),
        *(
            SelectChoice(w.id, w.display_name)
            for w in queries.workers_for(authz.scope_commune_codes(user))
        ),
    ]
    if "status" not in request.args:
        form.status.data = Status.OPEN.value
    filters = queries.CaseFilters(
        category=Category(form.category.data) if form.category.data in set(Category) else None,
        phase=Phase(form.phase.data) if form.phase.data in set(Phase) else None,
        status=Status(form.status.data) if form.status.data in set(Status) else None,
        commune_code=form.commune.data,
        worker_id=form.worker.data,
        overdue_on=web.today() if form.overdue.data == "1" else None,
    )
    page = web.page_arg()
    pagination = queries.list_cases(user, filters, page=page, per_page=web.settings().PAGE_SIZE)
    html = render_template(
        "cases/index.html",
        pagination=pagination,
        form=form,
        search_form=SearchForm(),
        today=web.today(),
        names_visible=_names_visible,
        args={k: v for k, v in request.args.items() if k != "page"},
    )
    # Rendered first (committing would expire every loaded row), then audited: if the audit row
    # cannot be written, the page is not sent.
    audit.record(
        "case_list",
        actor=user,
        details={"page": page, "filters": sorted(k for k, v in request.args.items() if v)},
        context=web.audit_context(),
    )
    db.session.commit()
    return html


@bp.route("/search", methods=("POST",))
@authz.requires(authz.Action.VIEW_CASES)
def search() -> ResponseReturnValue:
    user = web.actor()
    form = SearchForm()
    results: list[Case] = []
    kind = None
    if form.validate_on_submit():
        text = form.query.data or ""
        found = queries.find_by_code(user, text)
        if found is not None:
            kind = "code"
            results = [found]
        elif sum(ch.isdigit() for ch in text) >= 9:
            kind = "national_id"
            results = queries.find_by_national_id(user, text)
        else:
            kind = "name"
            results = queries.search_by_name(user, text)
        if kind == "code" and results:
            target = url_for("cases.detail", code=results[0].code)
            _audit_search(kind, len(results))
            return redirect(target)
    # A well-formed code found nowhere in scope: whoever may break glass is offered that page,
    # whether or not the file exists (the link is the same either way).
    break_glass_code = (
        canonical_code(form.query.data or "")
        if kind is not None and not results and authz.offers_break_glass(user)
        else None
    )
    html = render_template(
        "cases/search.html",
        form=form,
        results=results,
        kind=kind,
        today=web.today(),
        names_visible=_names_visible,
        break_glass_code=break_glass_code,
    )
    if kind is not None:
        _audit_search(kind, len(results))
    return html


def _audit_search(kind: str, results: int) -> None:
    """What was searched for is never recorded: only how, and how many were found."""
    audit.record(
        "case_search",
        actor=web.actor(),
        details={"kind": kind, "results": results},
        context=web.audit_context(),
    )
    db.session.commit()


@bp.route("/new", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def create() -> ResponseReturnValue:
    form = _case_form()
    if form.validate_on_submit():
        try:
            data = services.check_input(form.to_input(), actor=web.actor(), today=web.today())
            case, _duplicates = services.create_case(
                data, actor=web.actor(), context=web.audit_context()
            )
        except InvalidInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã mở hồ sơ %(code)s.", code=display_code(case.code)), "success")
            return redirect(url_for("cases.detail", code=case.code))
    return render_template("cases/form.html", form=form, case=None)


@bp.route("/<code>")
@authz.requires(authz.Action.VIEW_CASES)
def detail(code: str) -> ResponseReturnValue:
    # Out of scope (or no such file), an officer who may break glass is offered that page.
    case = authz.get_case_or_404(code, authz.Action.VIEW_IDENTITIES, offer_break_glass=True)
    user = web.actor()
    officer_tools = authz.can(user, authz.Action.REASSIGN_CASES, case.commune_code)
    html = render_template(
        "cases/detail.html",
        **case_page.page_context(case, today=web.today(), officer_tools=officer_tools),
        assign_form=_assign_form(case) if officer_tools else None,
    )
    case_id = case.id
    audit.record("case_viewed", actor=user, target_type="case", target_id=case_id,
                 context=web.audit_context())  # fmt: skip
    db.session.commit()
    return html


def _assign_form(case: Case) -> AssignForm:
    form = AssignForm()
    form.worker_id.choices = [
        SelectChoice("", _("— Chưa giao —")),
        *(SelectChoice(w.id, w.display_name) for w in queries.workers_for([case.commune_code])),
    ]
    if request.method == "GET":
        form.worker_id.data = case.assigned_worker_id
    return form


@bp.route("/<code>/edit", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def edit(code: str) -> ResponseReturnValue:
    case = authz.get_case_or_404(code, authz.Action.EDIT_CASES)
    form = _case_form(case)
    if not authz.can(web.actor(), authz.Action.REASSIGN_CASES, case.commune_code):
        # A worker edits the file; moving or giving it to someone else is the officer's step.
        form.commune_code.render_kw = {"disabled": True}
        form.assigned_worker_id.render_kw = {"disabled": True}
        if request.method == "POST":
            form.commune_code.data = case.commune_code
            form.assigned_worker_id.data = case.assigned_worker_id
    if form.validate_on_submit():
        loaded = web.small_int(form.version.data, default=-1) or -1
        try:
            data = services.check_input(form.to_input(), actor=web.actor(), today=web.today())
            changed = services.update_case(
                case,
                data,
                expected_version=loaded,
                actor=web.actor(),
                context=web.audit_context(),
            )
            db.session.commit()
        except InvalidInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        except (ConflictError, StaleDataError) as exc:
            db.session.rollback()
            return _conflict(form, code, exc)
        else:
            if changed:
                flash(_("Đã lưu hồ sơ."), "success")
            else:
                flash(_("Không có gì thay đổi."), "info")
            return redirect(url_for("cases.detail", code=case.code))
    return render_template("cases/form.html", form=form, case=case)


def _conflict(form: CaseForm, code: str, exc: Exception) -> ResponseReturnValue:
    """Someone saved first: keep this person's input, say what changed, change nothing."""
    case = authz.get_case_or_404(code, authz.Action.EDIT_CASES)
    loaded = web.small_int(form.version.data, default=0) or 0
    changed = (
        exc.changed_fields
        if isinstance(exc, ConflictError)
        else services.changed_since(case, loaded)
    )
    audit.record(
        "case_edit_conflict", actor=web.actor(), target_type="case", target_id=case.id,
        outcome="conflict", details={"fields": changed}, context=web.audit_context(),
    )  # fmt: skip
    db.session.commit()
    form.version.data = str(case.version)  # saving again now is a deliberate overwrite
    labels = [str(FIELD_LABELS.get(name, name)) for name in changed]
    return render_template(
        "cases/form.html", form=form, case=case, conflict=labels or [_("(không rõ)")]
    ), 409


@bp.route("/<code>/transfer", methods=("GET", "POST"))
@authz.requires(authz.Action.REASSIGN_CASES)
def transfer(code: str) -> ResponseReturnValue:
    case = authz.get_case_or_404(code, authz.Action.REASSIGN_CASES)
    form = TransferForm()
    form.commune_code.choices = [SelectChoice("", _("— Chọn —"))] + [
        SelectChoice(c.code, c.name)
        for c in queries.communes_for_choice(web.actor())
        if c.code != case.commune_code
    ]
    if form.validate_on_submit():
        try:
            services.transfer_case(
                case,
                form.commune_code.data or 0,
                form.reason.data or "",
                actor=web.actor(),
                context=web.audit_context(),
            )
        except FieldError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã chuyển hồ sơ sang %(name)s.", name=case.commune.name), "success")
            return redirect(url_for("cases.detail", code=case.code))
    return render_template("cases/transfer.html", form=form, case=case)


@bp.route("/<code>/assign", methods=("POST",))
@authz.requires(authz.Action.REASSIGN_CASES)
def assign(code: str) -> ResponseReturnValue:
    case = authz.get_case_or_404(code, authz.Action.REASSIGN_CASES)
    form = _assign_form(case)
    if form.validate_on_submit():
        try:
            services.assign_worker(
                case, form.worker_id.data, actor=web.actor(), context=web.audit_context()
            )
        except FieldError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        else:
            db.session.commit()
            flash(_("Đã cập nhật cán bộ được giao."), "success")
    else:
        flash(_("Chọn một cán bộ trong danh sách."), "danger")
    return redirect(url_for("cases.detail", code=case.code))


@bp.route("/<code>/close", methods=("GET", "POST"))
@authz.requires(authz.Action.APPROVE_STEPS)
def close(code: str) -> ResponseReturnValue:
    form = CloseForm()
    return _change_status(
        code,
        form,
        closing=True,
        perform=lambda case: services.close_case(
            case,
            CloseReason(form.reason.data),
            form.note.data or "",
            actor=web.actor(),
            context=web.audit_context(),
        ),
    )


@bp.route("/<code>/reopen", methods=("GET", "POST"))
@authz.requires(authz.Action.APPROVE_STEPS)
def reopen(code: str) -> ResponseReturnValue:
    form = ReopenForm()
    return _change_status(
        code,
        form,
        closing=False,
        perform=lambda case: services.reopen_case(
            case, form.note.data or "", actor=web.actor(), context=web.audit_context()
        ),
    )


def _change_status(
    code: str, form: Form, *, closing: bool, perform: Callable[[Case], None]
) -> ResponseReturnValue:
    """Close or reopen a file with its reason (an officer's step)."""
    case = authz.get_case_or_404(code, authz.Action.APPROVE_STEPS)
    if (case.status == Status.CLOSED) == closing:
        flash(_("Hồ sơ đã đóng.") if closing else _("Hồ sơ đang mở."), "info")
        return redirect(url_for("cases.detail", code=case.code))
    if form.validate_on_submit():
        try:
            perform(case)
        except FieldError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã đóng hồ sơ.") if closing else _("Đã mở lại hồ sơ."), "success")
            return redirect(url_for("cases.detail", code=case.code))
    return render_template("cases/status.html", form=form, case=case, closing=closing)


def _after_hold(case: Case) -> ResponseReturnValue:
    """Back to the file, or for an administrator (who never sees files) to the retention page."""
    if authz.can(web.actor(), authz.Action.VIEW_CASES, case.commune_code):
        return redirect(url_for("cases.detail", code=case.code))
    return redirect(url_for("admin.retention"))


@bp.route("/<code>/legal-hold", methods=("GET", "POST"))
@authz.requires(authz.Action.MANAGE_LEGAL_HOLD)
def set_legal_hold(code: str) -> ResponseReturnValue:
    case = authz.get_case_for_legal_hold(code)
    if case.anonymised_at is not None or case.legal_hold_at is not None:
        flash(
            _("Hồ sơ đã được ẩn danh: không thể đặt lệnh giữ.")
            if case.anonymised_at is not None
            else _("Hồ sơ đã có lệnh giữ."),
            "info",
        )
        return _after_hold(case)
    form = LegalHoldForm()
    if form.validate_on_submit():
        try:
            retention.set_legal_hold(
                case, form.reason.data or "", actor=web.actor(), context=web.audit_context()
            )
        except FieldError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã đặt lệnh giữ hồ sơ %(code)s.", code=display_code(case.code)), "success")
            return _after_hold(case)
    return render_template("cases/legal_hold.html", form=form, case=case, lifting=False)


@bp.route("/<code>/legal-hold/lift", methods=("GET", "POST"))
@authz.requires(authz.Action.MANAGE_LEGAL_HOLD)
def lift_legal_hold(code: str) -> ResponseReturnValue:
    case = authz.get_case_for_legal_hold(code)
    if case.legal_hold_at is None:
        flash(_("Hồ sơ không có lệnh giữ."), "info")
        return _after_hold(case)
    form = LiftHoldForm()
    if form.validate_on_submit():
        retention.lift_legal_hold(case, actor=web.actor(), context=web.audit_context())
        db.session.commit()
        flash(_("Đã gỡ lệnh giữ hồ sơ %(code)s.", code=display_code(case.code)), "success")
        return _after_hold(case)
    return render_template("cases/legal_hold.html", form=form, case=case, lifting=True)


@bp.route("/duplicates")
@authz.requires(authz.Action.REASSIGN_CASES)
def duplicates() -> ResponseReturnValue:
    pairs = queries.open_duplicates(web.actor())
    return render_template("cases/duplicates.html", pairs=pairs, today=web.today())


@bp.route("/duplicates/<id:pair_id>", methods=("POST",))
@authz.requires(authz.Action.REASSIGN_CASES)
def resolve_duplicate(pair_id: int) -> ResponseReturnValue:
    pair = db.session.get(DuplicatePair, pair_id)
    user = web.actor()
    if pair is None or pair not in queries.open_duplicates(user):
        abort(404)
    choice = request.form.get("decision", "")
    keep = {"keep_a": pair.case_a, "keep_b": pair.case_b}.get(choice)
    if choice != "dismiss" and keep is None:
        abort(400)
    try:
        services.resolve_duplicate(pair, merge_into=keep, actor=user, context=web.audit_context())
    except FieldError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("Đã gộp hồ sơ.") if keep is not None else _("Đã đánh dấu không trùng."), "success")
    return redirect(url_for("cases.duplicates"))


@bp.app_context_processor
def _labels() -> dict[str, object]:
    from caseapp.cases import models

    return {
        "category_labels": models.CATEGORY_LABELS,
        "category_short": models.CATEGORY_SHORT,
        "phase_labels": models.PHASE_LABELS,
        "sex_labels": models.SEX_LABELS,
        "status_labels": models.STATUS_LABELS,
        "close_reason_labels": models.CLOSE_REASON_LABELS,
        "education_labels": models.EDUCATION_LABELS,
        "occupation_labels": models.OCCUPATION_LABELS,
        "drug_labels": models.DRUG_LABELS,
        "event_labels": models.EVENT_LABELS,
        **_workflow_labels(),
    }


def _workflow_labels() -> dict[str, object]:
    from caseapp.workflow import models as steps

    return {
        "result_labels": steps.RESULT_LABELS,
        "source_labels": steps.SOURCE_LABELS,
        "topic_labels": steps.TOPIC_LABELS,
        "counselling_kind_labels": steps.COUNSELLING_KIND_LABELS,
        "rehab_form_labels": steps.REHAB_FORM_LABELS,
        "outcome_labels": steps.OUTCOME_LABELS,
        "stage_labels": steps.STAGE_LABELS,
        "school_level_labels": steps.SCHOOL_LEVEL_LABELS,
        "study_result_labels": steps.STUDY_RESULT_LABELS,
        "sector_labels": steps.SECTOR_LABELS,
        "employer_kind_labels": steps.EMPLOYER_KIND_LABELS,
        "contract_labels": steps.CONTRACT_LABELS,
        "income_labels": steps.INCOME_LABELS,
        "consent_purpose_labels": steps.CONSENT_PURPOSE_LABELS,
        "loan_programme_labels": steps.LOAN_PROGRAMME_LABELS,
        "loan_status_labels": steps.LOAN_STATUS_LABELS,
    }


@bp.app_template_filter("field_label")
def _field_label(name: str) -> object:
    from caseapp.cases.models import FIELD_LABELS

    return FIELD_LABELS.get(name, name)


@bp.app_template_filter("case_code")
def _case_code(code: str) -> str:
    from caseapp.cases.codes import display

    return display(code)
