"""THE workflow: which step may follow which, under which rules, and what it does to the case.

Every step checks its guards and raises ``InvalidInputError`` (field + reason in the user's
language) before anything is written; then it records the step with the rule set in force on the
step's date, updates the case's phase and category (derived from the records), adds a timeline
entry and an audit row. Services flush; the request commits once.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from caseapp import audit
from caseapp.cases.models import Case, Category, Phase, Status
from caseapp.cases.services import record_event
from caseapp.errors import FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.users.models import User
from caseapp.workflow.models import (
    AddictionDetermination,
    CounsellingKind,
    CounsellingSession,
    CounsellingTopic,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    RuleSet,
    Screening,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
)
from caseapp.workflow.rules import Rules

FINAL_STAGE = 5


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has no such day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_working_days(day: date, count: int) -> date:
    """``count`` working days (Monday–Friday) after ``day``."""
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def rule_set_on(day: date) -> RuleSet:
    """The rule set in force on ``day``."""
    rule_set = db.session.scalars(
        sa.select(RuleSet)
        .where(
            RuleSet.effective_from <= day,
            sa.or_(RuleSet.effective_to.is_(None), RuleSet.effective_to >= day),
        )
        .order_by(RuleSet.effective_from.desc())
        .limit(1)
    ).first()
    if rule_set is None:
        raise InvalidInputError(
            [FieldError(None, _("Không có bộ quy định nào áp dụng cho ngày này."))]
        )
    return rule_set


def rules_of(rule_set: RuleSet) -> Rules:
    """The typed parameters of a rule set."""
    return Rules.from_params(rule_set.params)


def _rule_columns(rule_set: RuleSet) -> dict[str, object]:
    return {"rule_set_id": rule_set.id, "rules_snapshot": dict(rule_set.params)}


def _age_on(case: Case, day: date) -> int:
    return case.age_on(day)


def _check_open(case: Case) -> None:
    if case.status != Status.OPEN:
        raise InvalidInputError([FieldError(None, _("Hồ sơ đã đóng: mở lại trước khi ghi."))])


def _check_day(day: date, field: str, today: date, case: Case) -> None:
    if day > today:
        raise InvalidInputError([FieldError(field, _("Ngày không được ở tương lai."))])
    born = case.date_of_birth
    if born is not None and day < born:
        raise InvalidInputError([FieldError(field, _("Ngày này trước ngày sinh."))])


def _steps(model: type, case: Case) -> list:  # type: ignore[type-arg]
    return list(
        db.session.scalars(
            sa.select(model).where(model.case_id == case.id).order_by(model.id)  # type: ignore[attr-defined]
        )
    )


@dataclass
class CaseSteps:
    """Everything recorded on a case, loaded once."""

    screenings: list[Screening]
    determinations: list[AddictionDetermination]
    counselling: list[CounsellingSession]
    episodes: list[RehabEpisode]
    post_rehab: list[PostRehabPeriod]

    @property
    def active_episode(self) -> RehabEpisode | None:
        return next((e for e in self.episodes if e.ended_on is None), None)

    @property
    def active_post_rehab(self) -> PostRehabPeriod | None:
        return next((p for p in self.post_rehab if p.ended_on is None), None)

    @property
    def latest_determination(self) -> AddictionDetermination | None:
        return self.determinations[-1] if self.determinations else None

    def completed_episode_awaiting_post_rehab(self) -> RehabEpisode | None:
        used = {p.episode_id for p in self.post_rehab}
        return next(
            (
                e
                for e in reversed(self.episodes)
                if e.outcome == RehabOutcome.COMPLETED and e.approved_at and e.id not in used
            ),
            None,
        )


def load_steps(case: Case) -> CaseSteps:
    """All step records of a case."""
    return CaseSteps(
        screenings=_steps(Screening, case),
        determinations=_steps(AddictionDetermination, case),
        counselling=_steps(CounsellingSession, case),
        episodes=_steps(RehabEpisode, case),
        post_rehab=_steps(PostRehabPeriod, case),
    )


def derive(case: Case, steps: CaseSteps) -> None:
    """Set the case's phase and category from what has been recorded."""
    latest_episode = steps.episodes[-1] if steps.episodes else None
    determination = steps.latest_determination
    last_period = steps.post_rehab[-1] if steps.post_rehab else None
    if steps.active_episode is not None:
        case.phase, case.category = Phase.TREATMENT.value, Category.IN_REHAB.value
    elif last_period is not None:
        # Management runs until an officer approves its completion; then support continues.
        done = last_period.approved_at is not None
        case.phase = Phase.SUPPORT.value if done else Phase.POST_REHAB.value
        case.category = Category.POST_REHAB.value
    elif latest_episode is not None and latest_episode.outcome == RehabOutcome.COMPLETED:
        if latest_episode.approved_at is not None:
            case.phase, case.category = Phase.POST_REHAB.value, Category.POST_REHAB.value
        else:  # completion not yet certified by an officer
            case.phase, case.category = Phase.TREATMENT.value, Category.IN_REHAB.value
    elif latest_episode is not None or (determination is not None and determination.is_addicted):
        case.phase, case.category = Phase.ASSESSMENT.value, Category.ADDICTED.value
    elif determination is not None or steps.screenings:
        case.phase = Phase.SCREENING.value
    else:
        case.phase = Phase.INTAKE.value


def _finish(
    case: Case, kind: str, actor: User, context: audit.AuditContext | None, **details: object
) -> None:
    derive(case, load_steps(case))
    db.session.flush()
    record_event(case, kind, actor=actor, **details)
    audit.record(
        f"step_{kind}",
        actor=actor,
        target_type="case",
        target_id=case.id,
        details=details,
        context=context,
    )


def record_screening(
    case: Case,
    *,
    screened_on: date,
    source: ScreeningSource,
    method: ScreeningMethod,
    result: ScreeningResult,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> Screening:
    """Record a screening (sàng lọc)."""
    _check_open(case)
    _check_day(screened_on, "screened_on", today, case)
    step = Screening(
        case_id=case.id,
        **_rule_columns(rule_set_on(screened_on)),
        screened_on=screened_on,
        source=source.value,
        method=method.value,
        result=result.value,
        recorded_by_id=actor.id,
    )
    db.session.add(step)
    _finish(case, "screening", actor, context, result=result.value)
    return step


def record_determination(
    case: Case,
    *,
    determined_on: date,
    facility: str,
    is_addicted: bool,
    form_reference: str | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> AddictionDetermination:
    """Record an addiction determination by a qualified health facility."""
    _check_open(case)
    _check_day(determined_on, "determined_on", today, case)
    if not facility.strip():
        raise InvalidInputError(
            [
                FieldError(
                    "facility", _("Nhập tên cơ sở y tế đủ điều kiện xác định tình trạng nghiện.")
                )
            ]
        )
    rule_set = rule_set_on(determined_on)
    rules = rules_of(rule_set)
    step = AddictionDetermination(
        case_id=case.id,
        **_rule_columns(rule_set),
        determined_on=determined_on,
        facility=facility.strip(),
        is_addicted=is_addicted,
        form_reference=(form_reference or "").strip() or None,
        register_by=(
            add_working_days(determined_on, rules.register_within_working_days)
            if is_addicted
            else None
        ),
        recorded_by_id=actor.id,
    )
    db.session.add(step)
    _finish(case, "determination", actor, context, addicted=is_addicted)
    return step


def record_counselling(
    case: Case,
    *,
    held_on: date,
    kind: CounsellingKind,
    topic: CounsellingTopic,
    counsellor: str,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> CounsellingSession:
    """Record a counselling session (including behaviour-change education)."""
    _check_open(case)
    _check_day(held_on, "held_on", today, case)
    if not counsellor.strip():
        raise InvalidInputError([FieldError("counsellor", _("Nhập người tư vấn."))])
    step = CounsellingSession(
        case_id=case.id,
        **_rule_columns(rule_set_on(held_on)),
        held_on=held_on,
        kind=kind.value,
        topic=topic.value,
        counsellor=counsellor.strip(),
        recorded_by_id=actor.id,
    )
    db.session.add(step)
    _finish(case, "counselling", actor, context, topic=topic.value)
    return step


@dataclass
class RehabStart:
    form: RehabForm
    started_on: date
    months: int | None
    court_decision_number: str | None = None
    court_decision_on: date | None = None
    representative_consent: bool = False


def allowed_months(rules: Rules, form: RehabForm, age: int) -> tuple[int, int] | None:
    """The allowed duration range for a form of rehab at an age (None: open-ended)."""
    if form is RehabForm.METHADONE:
        return None
    if form is RehabForm.COMPULSORY:
        if age >= rules.adult_age:
            return rules.compulsory_adult_min_months, rules.compulsory_adult_max_months
        return rules.compulsory_minor_min_months, rules.compulsory_minor_max_months
    return rules.voluntary_min_months, rules.voluntary_max_months


def start_rehab(
    case: Case,
    data: RehabStart,
    *,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> RehabEpisode:
    """Start a rehab episode, checking the law's conditions for its form."""
    _check_open(case)
    _check_day(data.started_on, "started_on", today, case)
    steps = load_steps(case)
    errors: list[FieldError] = []
    rule_set = rule_set_on(data.started_on)
    rules = rules_of(rule_set)
    age = _age_on(case, data.started_on)
    determination = steps.latest_determination
    if determination is None or not determination.is_addicted:
        errors.append(
            FieldError(None, _("Cần có kết quả xác định tình trạng nghiện trước khi cai nghiện."))
        )
    if steps.active_episode is not None:
        errors.append(FieldError("started_on", _("Đang có một đợt cai chưa kết thúc.")))
    for episode in steps.episodes:
        if episode.form == data.form and episode.ended_on and data.started_on <= episode.ended_on:
            errors.append(
                FieldError("started_on", _("Trùng thời gian với một đợt cai cùng hình thức."))
            )
    if data.form is RehabForm.COMPULSORY:
        if age < rules.compulsory_min_age:
            errors.append(
                FieldError(
                    "form",
                    _(
                        "Không áp dụng cai nghiện bắt buộc cho người dưới %(n)d tuổi.",
                        n=rules.compulsory_min_age,
                    ),
                )
            )
        if not (data.court_decision_number or "").strip() or data.court_decision_on is None:
            errors.append(
                FieldError(
                    "court_decision_number",
                    _("Cai nghiện bắt buộc cần số và ngày quyết định của Tòa án."),
                )
            )
        elif data.court_decision_on > data.started_on:
            errors.append(
                FieldError(
                    "court_decision_on", _("Quyết định của Tòa án phải có trước ngày bắt đầu.")
                )
            )
    if (
        data.form in (RehabForm.VOLUNTARY_COMMUNITY, RehabForm.VOLUNTARY_FACILITY)
        and age < rules.adult_age
        and not data.representative_consent
    ):
        errors.append(
            FieldError(
                "representative_consent",
                _(
                    "Người 12 đến dưới 18 tuổi cai tự nguyện qua người đại diện hợp pháp: "
                    "cần xác nhận."
                ),
            )
        )
    if (
        data.form is RehabForm.METHADONE
        and age < rules.methadone_parental_consent_under_age
        and not data.representative_consent
    ):
        errors.append(
            FieldError(
                "representative_consent",
                _(
                    "Người dưới %(n)d tuổi điều trị methadone cần cha mẹ đồng ý bằng văn bản.",
                    n=rules.methadone_parental_consent_under_age,
                ),
            )
        )
    allowed = allowed_months(rules, data.form, age)
    if allowed is not None and (data.months is None or not allowed[0] <= data.months <= allowed[1]):
        errors.append(
            FieldError(
                "months",
                _(
                    "Thời hạn phải từ %(low)d đến %(high)d tháng theo %(rules)s.",
                    low=allowed[0],
                    high=allowed[1],
                    rules=rule_set.name,
                ),
            )
        )
    if errors:
        raise InvalidInputError(errors)
    episode = RehabEpisode(
        case_id=case.id,
        **_rule_columns(rule_set),
        form=data.form.value,
        started_on=data.started_on,
        months=data.months if allowed is not None else None,
        planned_end_on=(
            add_months(data.started_on, data.months) if allowed and data.months else None
        ),
        court_decision_number=(data.court_decision_number or "").strip() or None,
        court_decision_on=data.court_decision_on,
        representative_consent=data.representative_consent,
        stage=1,
        recorded_by_id=actor.id,
    )
    db.session.add(episode)
    _finish(case, "rehab_started", actor, context, form=data.form.value)
    return episode


def advance_stage(
    case: Case, episode: RehabEpisode, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """Move an active episode to its next rehab stage (Law 73, Art. 29: five stages in order)."""
    _check_open(case)
    if not episode.is_active:
        raise InvalidInputError([FieldError(None, _("Đợt cai này đã kết thúc."))])
    if episode.stage >= FINAL_STAGE:
        raise InvalidInputError([FieldError(None, _("Đã ở giai đoạn cuối."))])
    episode.stage += 1
    _finish(case, "rehab_stage", actor, context, stage=episode.stage)


def end_rehab(
    case: Case,
    episode: RehabEpisode,
    *,
    ended_on: date,
    outcome: RehabOutcome,
    certificate_number: str | None,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """End an episode. A completion waits for an officer's approval before post-rehab starts."""
    _check_open(case)
    if not episode.is_active:
        raise InvalidInputError([FieldError(None, _("Đợt cai này đã kết thúc."))])
    errors: list[FieldError] = []
    if ended_on < episode.started_on:
        errors.append(FieldError("ended_on", _("Ngày kết thúc phải sau ngày bắt đầu.")))
    if ended_on > today:
        errors.append(FieldError("ended_on", _("Ngày không được ở tương lai.")))
    rules = Rules.from_params(episode.rules_snapshot)  # the rules the episode started under
    if outcome is RehabOutcome.COMPLETED:
        voluntary = episode.form in (RehabForm.VOLUNTARY_COMMUNITY, RehabForm.VOLUNTARY_FACILITY)
        if voluntary and episode.stage < rules.voluntary_min_stages:
            errors.append(
                FieldError(
                    "outcome",
                    _(
                        "Cai tự nguyện phải hoàn thành ít nhất %(n)d giai đoạn đầu "
                        "trước khi kết thúc.",
                        n=rules.voluntary_min_stages,
                    ),
                )
            )
        if not (certificate_number or "").strip():
            errors.append(
                FieldError("certificate_number", _("Hoàn thành cần số giấy chứng nhận hoàn thành."))
            )
    if errors:
        raise InvalidInputError(errors)
    episode.ended_on = ended_on
    episode.outcome = outcome.value
    episode.certificate_number = (certificate_number or "").strip() or None
    _finish(case, "rehab_ended", actor, context, outcome=outcome.value)


def approve_rehab(
    case: Case, episode: RehabEpisode, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """An officer certifies a completed episode."""
    if episode.outcome != RehabOutcome.COMPLETED or episode.approved_at is not None:
        raise InvalidInputError([FieldError(None, _("Không có gì cần phê duyệt."))])
    from caseapp.db import utcnow

    episode.approved_by_id = actor.id
    episode.approved_at = utcnow()
    _finish(case, "rehab_approved", actor, context)


def post_rehab_months(rules: Rules, episode: RehabEpisode, age_at_start: int) -> int:
    """Post-rehab management: longer after compulsory rehab of an adult (DESIGN §4)."""
    if episode.form == RehabForm.COMPULSORY and age_at_start >= rules.adult_age:
        return rules.post_rehab_compulsory_adult_months
    return rules.post_rehab_months


def start_post_rehab(
    case: Case,
    *,
    started_on: date,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> PostRehabPeriod:
    """Start post-rehab management after an approved completion."""
    _check_open(case)
    _check_day(started_on, "started_on", today, case)
    steps = load_steps(case)
    episode = steps.completed_episode_awaiting_post_rehab()
    if episode is None:
        raise InvalidInputError(
            [FieldError(None, _("Cần một đợt cai đã hoàn thành và được phê duyệt."))]
        )
    if episode.ended_on and started_on < episode.ended_on:
        raise InvalidInputError(
            [FieldError("started_on", _("Quản lý sau cai bắt đầu sau khi kết thúc đợt cai."))]
        )
    rule_set = rule_set_on(started_on)
    months = post_rehab_months(rules_of(rule_set), episode, _age_on(case, episode.started_on))
    period = PostRehabPeriod(
        case_id=case.id,
        **_rule_columns(rule_set),
        episode_id=episode.id,
        started_on=started_on,
        planned_end_on=add_months(started_on, months),
        recorded_by_id=actor.id,
    )
    db.session.add(period)
    _finish(case, "post_rehab_started", actor, context, months=months)
    return period


def end_post_rehab(
    case: Case,
    period: PostRehabPeriod,
    *,
    ended_on: date,
    certificate_number: str,
    actor: User,
    today: date,
    context: audit.AuditContext | None = None,
) -> None:
    """Record the end of post-rehab management with its completion certificate."""
    _check_open(case)
    errors: list[FieldError] = []
    if period.ended_on is not None:
        errors.append(FieldError(None, _("Quản lý sau cai đã kết thúc.")))
    if ended_on < period.started_on:
        errors.append(FieldError("ended_on", _("Ngày kết thúc phải sau ngày bắt đầu.")))
    if ended_on > today:
        errors.append(FieldError("ended_on", _("Ngày không được ở tương lai.")))
    if not certificate_number.strip():
        errors.append(FieldError("certificate_number", _("Nhập số giấy chứng nhận hoàn thành.")))
    if errors:
        raise InvalidInputError(errors)
    period.ended_on = ended_on
    period.certificate_number = certificate_number.strip()
    _finish(case, "post_rehab_ended", actor, context)


def approve_post_rehab(
    case: Case, period: PostRehabPeriod, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """An officer certifies the completion of post-rehab management."""
    if period.ended_on is None or period.approved_at is not None:
        raise InvalidInputError([FieldError(None, _("Không có gì cần phê duyệt."))])
    from caseapp.db import utcnow

    period.approved_by_id = actor.id
    period.approved_at = utcnow()
    _finish(case, "post_rehab_approved", actor, context)


@dataclass(frozen=True)
class NextStep:
    """What comes next on a case: a label, the page to do it, a due date, what is missing."""

    label: str
    endpoint: str | None
    args: dict[str, object]
    due_on: date | None = None
    note: str | None = None


def next_steps(case: Case, steps: CaseSteps, today: date) -> list[NextStep]:
    """The next steps the workflow expects, most urgent first."""
    code = {"code": case.code}
    if case.status != Status.OPEN:
        return []
    result: list[NextStep] = []
    episode = steps.active_episode
    determination = steps.latest_determination
    if not steps.screenings and determination is None:
        result.append(NextStep(_("Ghi kết quả sàng lọc"), "workflow.screening", code))
    elif episode is not None:
        if episode.stage < FINAL_STAGE:
            result.append(
                NextStep(
                    _("Cập nhật giai đoạn cai nghiện"),
                    "workflow.rehab_stage",
                    {**code, "episode_id": episode.id},
                )
            )
        result.append(
            NextStep(
                _("Kết thúc đợt cai nghiện"),
                "workflow.end_rehab",
                {**code, "episode_id": episode.id},
                due_on=episode.planned_end_on,
            )
        )
    elif any(e.outcome == RehabOutcome.COMPLETED and not e.approved_at for e in steps.episodes):
        result.append(NextStep(_("Chờ cán bộ phụ trách phê duyệt hoàn thành cai nghiện"), None, {}))
    elif steps.completed_episode_awaiting_post_rehab() is not None:
        result.append(NextStep(_("Bắt đầu quản lý sau cai nghiện"), "workflow.post_rehab", code))
    elif steps.active_post_rehab is not None:
        period = steps.active_post_rehab
        result.append(
            NextStep(
                _("Kết thúc quản lý sau cai nghiện"),
                "workflow.end_post_rehab",
                {**code, "period_id": period.id},
                due_on=period.planned_end_on,
            )
        )
    elif (
        steps.post_rehab and steps.post_rehab[-1].ended_on and not steps.post_rehab[-1].approved_at
    ):
        result.append(
            NextStep(_("Chờ cán bộ phụ trách phê duyệt hoàn thành quản lý sau cai"), None, {})
        )
    elif determination is not None and determination.is_addicted:
        overdue = determination.register_by is not None and determination.register_by < today
        result.append(
            NextStep(
                _("Đăng ký cai nghiện hoặc điều trị methadone"),
                "workflow.rehab",
                code,
                due_on=determination.register_by,
                note=_("Quá hạn đăng ký: có thể phải áp dụng cai nghiện bắt buộc.")
                if overdue
                else None,
            )
        )
    elif steps.screenings and steps.screenings[-1].result == ScreeningResult.POSITIVE:
        result.append(
            NextStep(_("Xác định tình trạng nghiện tại cơ sở y tế"), "workflow.determination", code)
        )
    result.append(NextStep(_("Ghi buổi tư vấn"), "workflow.counselling", code))
    return result
