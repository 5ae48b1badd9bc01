"""THE workflow: which step may follow which, under which rules, and what it does to the case.

Every step checks its guards and raises ``InvalidInputError`` (field + reason in the user's
language) before anything is written; then it records the step with the rule set in force on the
step's date, updates the case's phase and category (derived from the records), adds a timeline
entry and an audit row. Services flush; the request commits once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from caseapp import audit, authz
from caseapp.cases.models import Case, Category, Phase, Status
from caseapp.cases.services import ADULT_AGE, record_event
from caseapp.dates import add_months, add_working_days, local_day
from caseapp.errors import FieldError, InvalidInputError
from caseapp.extensions import db
from caseapp.followups import plans
from caseapp.followups.models import FollowUp
from caseapp.followups.models import Status as FollowUpStatus
from caseapp.users.models import User
from caseapp.workflow.models import (
    SCHOOLING_MIN_AGE,
    AddictionDetermination,
    Consent,
    ConsentPurpose,
    CounsellingKind,
    CounsellingSession,
    CounsellingTopic,
    JobPlacement,
    LoanReferral,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    ReintegrationCertification,
    RelapseEvent,
    RuleSet,
    Schooling,
    Screening,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
    StudyResult,
    VocationalTraining,
)
from caseapp.workflow.rules import Rules

FINAL_STAGE = 5


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
    schoolings: list[Schooling] = field(default_factory=list)
    trainings: list[VocationalTraining] = field(default_factory=list)
    jobs: list[JobPlacement] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
    loans: list[LoanReferral] = field(default_factory=list)
    relapses: list[RelapseEvent] = field(default_factory=list)
    certifications: list[ReintegrationCertification] = field(default_factory=list)

    @property
    def active_episode(self) -> RehabEpisode | None:
        return next((e for e in self.episodes if e.ended_on is None), None)

    @property
    def active_post_rehab(self) -> PostRehabPeriod | None:
        return next((p for p in self.post_rehab if p.ended_on is None), None)

    @property
    def latest_determination(self) -> AddictionDetermination | None:
        return self.determinations[-1] if self.determinations else None

    def active_consent(self, purpose: ConsentPurpose, day: date) -> Consent | None:
        """The consent for ``purpose`` in force on ``day``, if any."""
        return next(
            (c for c in self.consents if c.purpose == purpose and c.is_active_on(day)), None
        )

    def period_on(self, day: date) -> PostRehabPeriod | None:
        """The post-rehab management period running on ``day``, if any."""
        return next(
            (
                p
                for p in self.post_rehab
                if p.started_on <= day and (p.ended_on is None or day <= p.ended_on)
            ),
            None,
        )

    @property
    def standing_certification(self) -> ReintegrationCertification | None:
        """The latest reintegration certificate, unless a relapse was recorded since."""
        if not self.certifications:
            return None
        latest = max(self.certifications, key=lambda c: (c.certified_on, c.id))
        if any(r.relapsed_on >= latest.certified_on for r in self.relapses):
            return None
        return latest

    @property
    def has_support(self) -> bool:
        return bool(self.schoolings or self.trainings or self.jobs or self.loans)

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


# The twelve kinds of step, in the order of CaseSteps' fields.
_STEP_MODELS: tuple[type, ...] = (
    Screening,
    AddictionDetermination,
    CounsellingSession,
    RehabEpisode,
    PostRehabPeriod,
    Schooling,
    VocationalTraining,
    JobPlacement,
    Consent,
    LoanReferral,
    RelapseEvent,
    ReintegrationCertification,
)


@functools.cache
def _kinds_present() -> sa.CompoundSelect[int]:
    """n for each kind of step (its place in ``_STEP_MODELS``) the case ``:case_id`` has: one
    statement, built once."""
    case_id = sa.bindparam("case_id", type_=sa.Integer)
    return sa.union_all(
        *(
            sa.select(sa.literal_column(str(n), sa.Integer)).where(
                sa.exists().where(model.case_id == case_id)  # type: ignore[attr-defined]
            )
            for n, model in enumerate(_STEP_MODELS)
        )
    )


def load_steps(case: Case) -> CaseSteps:
    """All step records of a case: one statement finds which kinds it has (most files have a
    few of the twelve), then one per kind present."""
    present = set(db.session.scalars(_kinds_present(), {"case_id": case.id}))
    return CaseSteps(
        *(_steps(model, case) if n in present else [] for n, model in enumerate(_STEP_MODELS))
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
    elif steps.has_support:  # e.g. after prison: school, training, a job or a loan
        case.phase = Phase.SUPPORT.value
    elif determination is not None or steps.screenings:
        case.phase = Phase.SCREENING.value
    else:
        case.phase = Phase.INTAKE.value
    # A certified reintegration stands until a relapse is recorded (or rehab starts again).
    if steps.standing_certification is not None and steps.active_episode is None:
        case.phase = Phase.REINTEGRATED.value


def _finish(
    case: Case, kind: str, actor: User, context: audit.AuditContext | None, **details: object
) -> None:
    steps = load_steps(case)
    derive(case, steps)
    plans.sync_case(case, steps, actor=actor)
    refresh_next_due(case, steps)
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
    elif data.started_on < determination.determined_on:
        errors.append(
            FieldError(
                "started_on", _("Ngày bắt đầu cai phải sau ngày xác định tình trạng nghiện.")
            )
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
        earliest = _earliest_completion(episode, rules)
        if earliest is not None and ended_on < earliest:
            errors.append(
                FieldError(
                    "ended_on",
                    _(
                        "Chưa đủ thời hạn tối thiểu: đợt cai này hoàn thành sớm nhất ngày %(day)s.",
                        day=earliest.strftime("%d/%m/%Y"),
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
    episode.ended_by_id = actor.id
    episode.outcome = outcome.value
    episode.certificate_number = (certificate_number or "").strip() or None
    _finish(case, "rehab_ended", actor, context, outcome=outcome.value)


def _earliest_completion(episode: RehabEpisode, rules: Rules) -> date | None:
    """The first day an episode may be completed: its form's minimum term (compulsory rehab may
    be cut after half its term, DESIGN §4); methadone is open-ended."""
    if episode.form == RehabForm.METHADONE or episode.months is None:
        return None
    if episode.form == RehabForm.COMPULSORY:
        return add_months(episode.started_on, max(1, episode.months // 2))
    return add_months(episode.started_on, rules.voluntary_min_months)


def _check_four_eyes(recorded_by: int | None, approver: User) -> None:
    """Whoever recorded a completion cannot also approve it."""
    if recorded_by is not None and recorded_by == approver.id:
        raise InvalidInputError(
            [FieldError(None, _("Người ghi kết quả không thể tự phê duyệt; cần cán bộ khác."))]
        )


def approve_rehab(
    case: Case, episode: RehabEpisode, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """An officer certifies a completed episode."""
    _check_open(case)
    if episode.outcome != RehabOutcome.COMPLETED or episode.approved_at is not None:
        raise InvalidInputError([FieldError(None, _("Không có gì cần phê duyệt."))])
    from caseapp.db import utcnow

    _check_four_eyes(episode.ended_by_id, actor)
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
    if ended_on < period.planned_end_on:
        errors.append(
            FieldError(
                "ended_on",
                _(
                    "Quản lý sau cai kết thúc theo quy định vào ngày %(day)s.",
                    day=period.planned_end_on.strftime("%d/%m/%Y"),
                ),
            )
        )
    if ended_on < period.started_on:
        errors.append(FieldError("ended_on", _("Ngày kết thúc phải sau ngày bắt đầu.")))
    if ended_on > today:
        errors.append(FieldError("ended_on", _("Ngày không được ở tương lai.")))
    if not certificate_number.strip():
        errors.append(FieldError("certificate_number", _("Nhập số giấy chứng nhận hoàn thành.")))
    if errors:
        raise InvalidInputError(errors)
    period.ended_on = ended_on
    period.ended_by_id = actor.id
    period.certificate_number = certificate_number.strip()
    _finish(case, "post_rehab_ended", actor, context)


def approve_post_rehab(
    case: Case, period: PostRehabPeriod, *, actor: User, context: audit.AuditContext | None = None
) -> None:
    """An officer certifies the completion of post-rehab management."""
    _check_open(case)
    if period.ended_on is None or period.approved_at is not None:
        raise InvalidInputError([FieldError(None, _("Không có gì cần phê duyệt."))])
    from caseapp.db import utcnow

    _check_four_eyes(period.ended_by_id, actor)
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
    action: authz.Action = authz.Action.EDIT_CASES  # who may follow the link


def refresh_next_due(case: Case, steps: CaseSteps | None = None) -> None:
    """Store the earliest due date of the case's next steps and pending follow-ups (the lists
    sort and filter on it)."""
    if case.status != Status.OPEN:
        case.next_due_on = None
        return
    today = local_day()
    due = [s.due_on for s in next_steps(case, steps or load_steps(case), today) if s.due_on]
    db.session.flush()
    follow_up = db.session.scalar(
        sa.select(sa.func.min(FollowUp.due_on)).where(
            FollowUp.case_id == case.id, FollowUp.status == FollowUpStatus.PENDING
        )
    )
    if follow_up is not None:
        due.append(follow_up)
    case.next_due_on = min(due, default=None)


def next_steps(case: Case, steps: CaseSteps, today: date) -> list[NextStep]:
    """The next steps the workflow expects, most urgent first."""
    code: dict[str, object] = {"code": case.code}
    if case.status != Status.OPEN:
        return []
    result: list[NextStep] = []
    relapse = compulsory_rehab_indicated(case, steps)
    if relapse is not None:
        result.append(
            NextStep(
                _("Xem xét áp dụng biện pháp cai nghiện ma túy bắt buộc"),
                "workflow.rehab",
                code,
                note=_(
                    "Tái nghiện ngày %(day)s trong thời gian quản lý sau cai nghiện "
                    "của người từ đủ 18 tuổi.",
                    day=format_day(relapse.relapsed_on),
                ),
            )
        )
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
    elif _management_completed(steps):
        pass  # the support steps below take over
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
    result.extend(_support_steps(case, steps, today))
    result.append(NextStep(_("Ghi buổi tư vấn"), "workflow.counselling", code))
    return result


# --- Support after rehab: schooling, training, jobs, loans, relapse, reintegration ------------

# A follow-up confirms the job on its date, and recording the job confirms its start. More than
# ``stable_job_max_gap_days`` (a rule parameter, default 105: the 3-to-6-month follow-up, about
# 92 days, may slip by about two weeks) between two confirmations leaves a stretch nobody
# confirmed, so the continuous period starts again after it; the same limit applies between the
# last confirmation and the certification. The job's follow-up plan (1, 3 and 6 months by
# default) is a rule parameter too.
# "Giới thiệu việc làm" is suggested from this age (Labour Code 2019, Art. 143: younger workers
# may only do listed light work). A suggestion only: recording a job is not refused below it.
WORKING_AGE = 15


def format_day(day: date) -> str:
    """dd/mm/yyyy, as both languages write dates (for messages built in services)."""
    return day.strftime("%d/%m/%Y")


def whole_months(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (0 when ``end`` is earlier)."""
    months = max(0, (end.year - start.year) * 12 + end.month - start.month)
    while months and add_months(start, months) > end:
        months -= 1
    return months


@dataclass(frozen=True)
class StableJob:
    """What the stable-job rule (DESIGN §5) finds for a job on a day."""

    job: JobPlacement | None
    required_months: int
    max_gap_days: int
    on: date
    months: int = 0  # whole months confirmed without a break
    since: date | None = None  # the start of the unbroken confirmed stretch
    last_confirmed_on: date | None = None
    gap: tuple[date, date] | None = None  # the latest break in continuity
    relapse_on: date | None = None  # the latest relapse since the job started
    ended_on: date | None = None  # the job ended (or a follow-up found it lost)

    @property
    def is_current(self) -> bool:
        return (
            self.ended_on is None
            and self.last_confirmed_on is not None
            and (self.on - self.last_confirmed_on).days <= self.max_gap_days
        )

    @property
    def met(self) -> bool:
        return (
            self.job is not None
            and self.relapse_on is None
            and self.is_current
            and self.months >= self.required_months
        )

    def reasons(self) -> list[str]:
        """What is missing, in the user's language (empty when the rule holds)."""
        if self.job is None:
            return [_("Chưa ghi việc làm nào.")]
        reasons = []
        if self.relapse_on is not None:
            reasons.append(
                _(
                    "Có tái nghiện ngày %(day)s, sau khi bắt đầu việc làm.",
                    day=format_day(self.relapse_on),
                )
            )
        if self.ended_on is not None:
            reasons.append(_("Việc làm đã kết thúc ngày %(day)s.", day=format_day(self.ended_on)))
        elif not self.is_current and self.last_confirmed_on is not None:
            reasons.append(
                _(
                    "Lần xác nhận gần nhất (%(day)s) đã quá %(n)d ngày: cần xác nhận còn làm việc.",
                    day=format_day(self.last_confirmed_on),
                    n=self.max_gap_days,
                )
            )
        if self.months < self.required_months and self.since and self.last_confirmed_on:
            reasons.append(
                _(
                    "Mới xác nhận còn làm việc liên tục %(months)d/%(n)d tháng "
                    "(từ %(since)s đến %(last)s).",
                    months=self.months,
                    n=self.required_months,
                    since=format_day(self.since),
                    last=format_day(self.last_confirmed_on),
                )
            )
        if self.gap is not None and not self.met:
            reasons.append(
                _(
                    "Giữa hai lần xác nhận %(first)s và %(second)s cách quá %(n)d ngày "
                    "nên thời gian liên tục tính lại từ %(second)s.",
                    first=format_day(self.gap[0]),
                    second=format_day(self.gap[1]),
                    n=self.max_gap_days,
                )
            )
        return reasons


def _stable_job_of(
    job: JobPlacement, relapses: list[RelapseEvent], rules: Rules, on: date
) -> StableJob:
    since = last = job.started_on
    gap = None
    ended = job.ended_on if job.ended_on is not None and job.ended_on <= on else None
    for check in sorted(job.checks, key=lambda c: c.checked_on):
        if check.checked_on > on:
            break
        if not check.still_employed:
            ended = min(ended or check.checked_on, check.checked_on)
            break
        if (check.checked_on - last).days > rules.stable_job_max_gap_days:
            gap, since = (last, check.checked_on), check.checked_on
        last = check.checked_on
    relapse_on = max(
        (r.relapsed_on for r in relapses if job.started_on <= r.relapsed_on <= on), default=None
    )
    return StableJob(
        job=job,
        required_months=rules.stable_job_months,
        max_gap_days=rules.stable_job_max_gap_days,
        on=on,
        months=whole_months(since, last),
        since=since,
        last_confirmed_on=last,
        gap=gap,
        relapse_on=relapse_on,
        ended_on=ended,
    )


def stable_job(
    jobs: list[JobPlacement], relapses: list[RelapseEvent], rules: Rules, on: date
) -> StableJob:
    """The stable-job rule on ``on``: one job confirmed by follow-ups for ``stable_job_months``
    continuous months up to that day, and no relapse recorded since the job started. Returns the
    job that comes closest, to say what is missing."""
    found = [_stable_job_of(j, relapses, rules, on) for j in jobs if j.started_on <= on]
    if not found:
        return StableJob(
            job=None,
            required_months=rules.stable_job_months,
            max_gap_days=rules.stable_job_max_gap_days,
            on=on,
        )
    return max(found, key=lambda r: (r.met, r.relapse_on is None, r.is_current, r.months, r.since))


def stable_job_on(case: Case, day: date) -> StableJob | None:
    """The stable-job rule for a case on ``day`` under the rules then in force (None: no rules)."""
    rules = rules_on(day)
    if rules is None:
        return None
    steps = load_steps(case)
    return stable_job(steps.jobs, steps.relapses, rules, day)


def job_check_due(job: JobPlacement) -> date:
    """When the next follow-up of a job is due: the next of its plan's follow-ups (1, 3 and 6
    months by default), and at the latest the stable-job rule's gap after the previous
    confirmation (otherwise the rule could never be met). The job's own rules apply."""
    rules = Rules.from_params(job.rules_snapshot)
    confirmed = [c.checked_on for c in job.checks if c.still_employed]
    last = max([job.started_on, *confirmed])
    due = last + timedelta(days=rules.stable_job_max_gap_days)
    milestones = [add_months(job.started_on, m) for m in rules.job_check_months]
    upcoming = [m for m in milestones if m > last]
    return min([due, *upcoming[:1]])


def _management_completed(steps: CaseSteps) -> bool:
    """Post-rehab management ended and approved, with no new determination since."""
    if not steps.post_rehab or steps.post_rehab[-1].approved_at is None:
        return False
    determination = steps.latest_determination
    return determination is None or determination.determined_on <= steps.post_rehab[-1].started_on


def rules_on(day: date) -> Rules | None:
    try:
        return rules_of(rule_set_on(day))
    except InvalidInputError:
        return None


def compulsory_rehab_indicated(case: Case, steps: CaseSteps) -> RelapseEvent | None:
    """A relapse during post-rehab management of an adult, with no rehab started since: the law
    then provides for compulsory rehab (DESIGN §4), which the worker should consider."""
    for relapse in sorted(steps.relapses, key=lambda r: r.relapsed_on, reverse=True):
        if any(e.started_on >= relapse.relapsed_on for e in steps.episodes):
            return None
        adult_age = Rules.from_params(relapse.rules_snapshot).adult_age
        if relapse.during_post_rehab and _age_on(case, relapse.relapsed_on) >= adult_age:
            return relapse
        return None
    return None


def _support_steps(case: Case, steps: CaseSteps, today: date) -> list[NextStep]:
    code: dict[str, object] = {"code": case.code}
    result: list[NextStep] = []
    if steps.active_episode is not None:
        return result
    if steps.standing_certification is not None:
        result.append(
            NextStep(
                _("Đóng hồ sơ: đã tái hòa nhập cộng đồng"),
                "cases.close",
                code,
                action=authz.Action.APPROVE_STEPS,
            )
        )
        return result
    after_rehab = bool(steps.post_rehab) or case.category == Category.POST_PRISON
    if not (after_rehab or steps.has_support):
        return result
    rules = rules_on(today)
    age = _age_on(case, today)
    adult_age = rules.adult_age if rules else ADULT_AGE
    if SCHOOLING_MIN_AGE <= age < adult_age and not any(
        s.ended_on is None for s in steps.schoolings
    ):
        result.append(NextStep(_("Học văn hóa (giáo dục phổ thông)"), "workflow.schooling", code))
    training_now = any(t.ended_on is None for t in steps.trainings)
    current_jobs = [j for j in steps.jobs if j.is_current]
    if not training_now and not current_jobs:
        if not any(t.result == StudyResult.COMPLETED for t in steps.trainings):
            result.append(NextStep(_("Học nghề"), "workflow.training", code))
        if age >= WORKING_AGE:
            result.append(NextStep(_("Giới thiệu việc làm"), "workflow.job", code))
    for job in current_jobs:
        result.append(
            NextStep(
                _("Xác nhận còn làm việc"),
                "workflow.job_check",
                {**code, "job_id": job.id},
                due_on=job_check_due(job),
            )
        )
    for job in steps.jobs:
        if job.ended_on is None and job.left_on is not None:
            result.append(
                NextStep(
                    _("Ghi ngày nghỉ việc"),
                    "workflow.end_job",
                    {**code, "job_id": job.id},
                    note=_(
                        "Lần theo dõi ngày %(day)s: không còn làm việc.",
                        day=format_day(job.left_on),
                    ),
                )
            )
    if rules is not None and stable_job(steps.jobs, steps.relapses, rules, today).met:
        result.append(
            NextStep(
                _("Chứng nhận tái hòa nhập (cán bộ phụ trách)"),
                "workflow.reintegration",
                code,
                action=authz.Action.APPROVE_STEPS,
            )
        )
    if steps.post_rehab and not steps.loans:
        result.append(
            NextStep(
                _("Giới thiệu vay vốn Ngân hàng Chính sách xã hội"),
                "workflow.loan",
                code,
                note=None
                if steps.active_consent(ConsentPurpose.LOAN_REFERRAL, today)
                else _("Cần ghi sự đồng ý cho mục đích giới thiệu vay vốn trước."),
            )
        )
    return result
