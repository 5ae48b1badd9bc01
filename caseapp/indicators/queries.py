"""The plan's indicators as SQL aggregates (DESIGN §5): one grouped query per table, never a
Python loop over cases. Python only adds up the groups (commune × sex × age band).

Definitions (the report's "Cách tính" section says the same in Vietnamese):
- A youth is **managed in a period** when the file was opened on or before the period's last day
  and not closed before its first day (files merged into another are left out).
- The **category on the last day** is read from the steps dated up to that day, as the case page
  derives it today: in rehab (an episode running), post-rehab (post-rehab management begun or rehab
  completed), addicted (an addiction determination or any rehab), else the category the worker
  declared (user or post-prison).
- **Users and addicts** are those in the categories user, addicted and in rehab; **post-rehab and
  post-prison** youth are the other two.
- A service counts in a period when it happened in it: screened, assessed (addiction
  determination), counselled, behaviour-change education (counselling on that topic), treated (a
  rehab or methadone episode running at some time in the period); for post-rehab and post-prison
  youth: vocational training or a job running in the period, or other reintegration support
  (schooling, a loan referral, counselling).
- **Reintegrated with a stable job**: an officer's reintegration certification dated in the period.
- Ages are whole years reached in the period's last year (only the birth year is stored in
  plain): 12–<16, 16–<18 and 18–30 (older youth still on record count in the last band).
- A case counts in the commune its file is in now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa

from caseapp.cases.models import Case, Category, CloseReason
from caseapp.dates import VIETNAM
from caseapp.extensions import db
from caseapp.followups.models import FollowUp
from caseapp.followups.models import Status as FollowUpStatus
from caseapp.indicators.periods import Period
from caseapp.workflow.models import (
    AddictionDetermination,
    CounsellingSession,
    CounsellingTopic,
    JobPlacement,
    LoanReferral,
    LoanStatus,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    ReintegrationCertification,
    RelapseEvent,
    Schooling,
    Screening,
    StudyResult,
    VocationalTraining,
)

USERS_AND_ADDICTS = (Category.USER, Category.ADDICTED, Category.IN_REHAB)
AFTER_REHAB_OR_PRISON = (Category.POST_REHAB, Category.POST_PRISON)
AGE_BANDS = ("12-15", "16-17", "18-30")  # 12–<16, 16–<18, 18–30
SEXES = ("male", "female")

# Per-case measures, summed per commune × sex × age band.
CASE_MEASURES = (
    "managed",
    "opened",
    "cat_user",
    "cat_addicted",
    "cat_in_rehab",
    "cat_post_rehab",
    "cat_post_prison",
    "ua",
    "ua_screened",
    "ua_assessed",
    "ua_counselled",
    "ua_educated",
    "ua_treated",
    "ua_supported",
    "pr",
    "pr_trained",
    "pr_job",
    "pr_other",
    "pr_supported",
    "reintegrated",
)
# Event counts per commune.
ACTIVITY_MEASURES = (
    *(f"rehab_started_{f.value}" for f in RehabForm),
    *(f"rehab_completed_{f.value}" for f in RehabForm),
    *(f"rehab_running_{f.value}" for f in RehabForm),
    "relapses",
    "trainings_started",
    "trainings_completed",
    "jobs_started",
    "jobs_running",
    "loans_referred",
    "loans_requested_vnd",
    "loans_approved",
    "loans_approved_vnd",
    "loans_refused",
    "loans_disbursed",
    "loans_disbursed_vnd",
    "follow_ups_due",
    "follow_ups_on_time",
    "follow_ups_late",
    "follow_ups_missed",
    "follow_ups_overdue",
)

Counts = dict[str, int]
CubeKey = tuple[int, str, str]  # commune code, sex, age band


def _flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.max(sa.case((condition, 1), else_=0))


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _start_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=VIETNAM)


def _scoped(query: Any, communes: sa.Select[Any] | None) -> Any:
    if communes is None:
        return query
    return query.where(Case.commune_code.in_(communes))


def managed_in(period: Period) -> sa.ColumnElement[bool]:
    """Managed in the period: opened by its end, not closed before its start, not merged."""
    return sa.and_(
        Case.intake_on <= period.end,
        sa.or_(Case.closed_at.is_(None), Case.closed_at >= _start_utc(period.start)),
        sa.or_(Case.close_reason.is_(None), Case.close_reason != CloseReason.MERGED.value),
    )


def _per_case(period: Period, *, services: bool = True) -> sa.Subquery:
    """One row per case managed in the period: its commune, sex, age band, category on the
    period's last day and (unless ``services`` is False: the category only) the services it
    received in the period (0/1)."""
    s, e = period.start, period.end

    def grouped(model: Any, *columns: sa.ColumnElement[Any], where: Any, name: str) -> sa.Subquery:
        return (
            sa.select(model.case_id.label("case_id"), *columns)
            .where(where)
            .group_by(model.case_id)
            .subquery(name)
        )

    screening = grouped(
        Screening,
        sa.literal(1).label("screened"),
        where=Screening.screened_on.between(s, e),
        name="scr",
    )
    determination = grouped(
        AddictionDetermination,
        _flag(AddictionDetermination.is_addicted.is_(True)).label("addicted"),
        _flag(AddictionDetermination.determined_on >= s).label("assessed"),
        where=AddictionDetermination.determined_on <= e,
        name="det",
    )
    counselling = grouped(
        CounsellingSession,
        sa.literal(1).label("counselled"),
        _flag(CounsellingSession.topic == CounsellingTopic.BEHAVIOUR_CHANGE.value).label(
            "educated"
        ),
        where=CounsellingSession.held_on.between(s, e),
        name="cou",
    )
    episode = grouped(
        RehabEpisode,
        _flag(sa.or_(RehabEpisode.ended_on.is_(None), RehabEpisode.ended_on > e)).label("in_rehab"),
        _flag(
            sa.and_(
                RehabEpisode.outcome == RehabOutcome.COMPLETED.value, RehabEpisode.ended_on <= e
            )
        ).label("completed"),
        _flag(sa.or_(RehabEpisode.ended_on.is_(None), RehabEpisode.ended_on >= s)).label("treated"),
        where=RehabEpisode.started_on <= e,
        name="epi",
    )
    post_rehab = grouped(
        PostRehabPeriod,
        sa.literal(1).label("post"),
        where=PostRehabPeriod.started_on <= e,
        name="prp",
    )

    def running(model: Any, label: str) -> sa.Subquery:
        return grouped(
            model,
            sa.literal(1).label(label),
            where=sa.and_(
                model.started_on <= e, sa.or_(model.ended_on.is_(None), model.ended_on >= s)
            ),
            name=label[:3] + "_s",
        )

    training = running(VocationalTraining, "trained")
    job = running(JobPlacement, "job")
    schooling = running(Schooling, "schooled")
    loan = grouped(
        LoanReferral,
        sa.literal(1).label("loan"),
        where=LoanReferral.referred_on.between(s, e),
        name="loa",
    )
    certification = grouped(
        ReintegrationCertification,
        sa.literal(1).label("reintegrated"),
        where=ReintegrationCertification.certified_on.between(s, e),
        name="cer",
    )

    def on(sub: sa.Subquery, column: str) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sub.c[column], 0)

    category = sa.case(
        (on(episode, "in_rehab") == 1, Category.IN_REHAB.value),
        (
            sa.or_(on(post_rehab, "post") == 1, on(episode, "completed") == 1),
            Category.POST_REHAB.value,
        ),
        (
            sa.or_(on(determination, "addicted") == 1, episode.c.case_id.is_not(None)),
            Category.ADDICTED.value,
        ),
        else_=Case.declared_category,
    )
    age = e.year - Case.birth_year
    band = sa.case((age < 16, AGE_BANDS[0]), (age < 18, AGE_BANDS[1]), else_=AGE_BANDS[2])
    if not services:  # the category needs the determinations, rehab and post-rehab only
        lean = sa.select(
            Case.id.label("case_id"),
            Case.commune_code.label("commune_code"),
            category.label("category"),
        ).where(managed_in(period))
        for sub in (determination, episode, post_rehab):
            lean = lean.outerjoin(sub, sub.c.case_id == Case.id)
        return lean.subquery("per_case")
    query = sa.select(
        Case.id.label("case_id"),
        Case.commune_code.label("commune_code"),
        Case.sex.label("sex"),
        band.label("band"),
        category.label("category"),
        sa.case((Case.intake_on >= s, 1), else_=0).label("opened"),
        on(screening, "screened").label("screened"),
        on(determination, "assessed").label("assessed"),
        on(counselling, "counselled").label("counselled"),
        on(counselling, "educated").label("educated"),
        on(episode, "treated").label("treated"),
        on(training, "trained").label("trained"),
        on(job, "job").label("job"),
        sa.case(
            (
                sa.or_(
                    schooling.c.case_id.is_not(None),
                    loan.c.case_id.is_not(None),
                    counselling.c.case_id.is_not(None),
                ),
                1,
            ),
            else_=0,
        ).label("other_support"),
        on(certification, "reintegrated").label("reintegrated"),
    ).where(managed_in(period))
    for sub in (
        screening,
        determination,
        counselling,
        episode,
        post_rehab,
        training,
        job,
        schooling,
        loan,
        certification,
    ):
        query = query.outerjoin(sub, sub.c.case_id == Case.id)
    return query.subquery("per_case")


def cube(period: Period, communes: sa.Select[Any] | None = None) -> dict[CubeKey, Counts]:
    """The per-case measures summed by commune × sex × age band, for the cases managed in the
    period in the given communes (all when ``communes`` is None)."""
    c = _per_case_scoped(period, communes).c
    ua = c.category.in_([x.value for x in USERS_AND_ADDICTS])
    pr = c.category.in_([x.value for x in AFTER_REHAB_OR_PRISON])
    ua_any = sa.or_(
        c.screened == 1, c.assessed == 1, c.counselled == 1, c.educated == 1, c.treated == 1
    )
    pr_any = sa.or_(c.trained == 1, c.job == 1, c.other_support == 1, c.reintegrated == 1)
    columns: dict[str, sa.ColumnElement[Any]] = {
        "managed": sa.func.count(),
        "opened": sa.func.sum(c.opened),
        **{f"cat_{cat.value}": _count(c.category == cat.value) for cat in Category},
        "ua": _count(ua),
        "ua_screened": _count(sa.and_(ua, c.screened == 1)),
        "ua_assessed": _count(sa.and_(ua, c.assessed == 1)),
        "ua_counselled": _count(sa.and_(ua, c.counselled == 1)),
        "ua_educated": _count(sa.and_(ua, c.educated == 1)),
        "ua_treated": _count(sa.and_(ua, c.treated == 1)),
        "ua_supported": _count(sa.and_(ua, ua_any)),
        "pr": _count(pr),
        "pr_trained": _count(sa.and_(pr, c.trained == 1)),
        "pr_job": _count(sa.and_(pr, c.job == 1)),
        "pr_other": _count(sa.and_(pr, c.other_support == 1)),
        "pr_supported": _count(sa.and_(pr, pr_any)),
        "reintegrated": sa.func.sum(c.reintegrated),
    }
    query = sa.select(c.commune_code, c.sex, c.band, *columns.values()).group_by(
        c.commune_code, c.sex, c.band
    )
    result: dict[CubeKey, Counts] = {}
    for row in db.session.execute(query):
        values = [int(v or 0) for v in row[3:]]
        result[(row[0], row[1], row[2])] = dict(zip(columns, values, strict=True))
    return result


def users_and_addicts(period: Period, communes: sa.Select[Any] | None = None) -> dict[int, int]:
    """Users and addicts managed in the period per commune (communes without any left out): the
    ``ua`` of ``cube`` added up over sex and age band, with only the joins the category needs (the
    comparison period of a report shows nothing else)."""
    c = _per_case_scoped(period, communes, services=False).c
    ua = c.category.in_([x.value for x in USERS_AND_ADDICTS])
    query = sa.select(c.commune_code, sa.func.count()).where(ua).group_by(c.commune_code)
    return {int(row[0]): int(row[1]) for row in db.session.execute(query)}


def _per_case_scoped(
    period: Period, communes: sa.Select[Any] | None, *, services: bool = True
) -> sa.Subquery:
    sub = _per_case(period, services=services)
    if communes is None:
        return sub
    return sa.select(sub).where(sub.c.commune_code.in_(communes)).subquery("scoped")


def activity(
    period: Period, today: date, communes: sa.Select[Any] | None = None
) -> dict[int, Counts]:
    """Events in the period per commune: rehab by form, relapses, training, jobs, loans (counts
    and VND) and follow-ups."""
    s, e = period.start, period.end
    found: dict[int, Counts] = defaultdict(lambda: dict.fromkeys(ACTIVITY_MEASURES, 0))
    not_merged = sa.or_(Case.close_reason.is_(None), Case.close_reason != CloseReason.MERGED.value)

    def collect(query: Any, names: Iterable[str]) -> None:
        keys = tuple(names)
        for row in db.session.execute(_scoped(query.where(not_merged), communes)):
            counts = found[row[0]]
            for key, value in zip(keys, row[1:], strict=True):
                counts[key] += int(value or 0)

    def by_form(name: str, condition: sa.ColumnElement[bool]) -> None:
        query = (
            sa.select(Case.commune_code, RehabEpisode.form, sa.func.count())
            .select_from(RehabEpisode)
            .join(Case, Case.id == RehabEpisode.case_id)
            .where(condition)
            .group_by(Case.commune_code, RehabEpisode.form)
        )
        for row in db.session.execute(_scoped(query.where(not_merged), communes)):
            commune, form, count = int(row[0]), str(row[1]), int(row[2])
            found[commune][f"{name}_{form}"] += count

    by_form("rehab_started", RehabEpisode.started_on.between(s, e))
    by_form(
        "rehab_completed",
        sa.and_(
            RehabEpisode.ended_on.between(s, e),
            RehabEpisode.outcome == RehabOutcome.COMPLETED.value,
        ),
    )
    by_form(
        "rehab_running",
        sa.and_(
            RehabEpisode.started_on <= e,
            sa.or_(RehabEpisode.ended_on.is_(None), RehabEpisode.ended_on > e),
        ),
    )
    collect(
        sa.select(Case.commune_code, sa.func.count())
        .select_from(RelapseEvent)
        .join(Case, Case.id == RelapseEvent.case_id)
        .where(RelapseEvent.relapsed_on.between(s, e))
        .group_by(Case.commune_code),
        ["relapses"],
    )
    vt = VocationalTraining
    collect(
        sa.select(
            Case.commune_code,
            _count(vt.started_on >= s),
            _count(sa.and_(vt.ended_on.between(s, e), vt.result == StudyResult.COMPLETED.value)),
        )
        .select_from(vt)
        .join(Case, Case.id == vt.case_id)
        .where(vt.started_on <= e, sa.or_(vt.ended_on.is_(None), vt.ended_on >= s))
        .group_by(Case.commune_code),
        ["trainings_started", "trainings_completed"],
    )
    jp = JobPlacement
    collect(
        sa.select(
            Case.commune_code,
            _count(jp.started_on >= s),
            _count(sa.or_(jp.ended_on.is_(None), jp.ended_on > e)),
        )
        .select_from(jp)
        .join(Case, Case.id == jp.case_id)
        .where(jp.started_on <= e, sa.or_(jp.ended_on.is_(None), jp.ended_on >= s))
        .group_by(Case.commune_code),
        ["jobs_started", "jobs_running"],
    )
    lr = LoanReferral
    referred = lr.referred_on.between(s, e)
    decided = sa.and_(
        lr.decided_on.between(s, e),
        lr.status.in_([LoanStatus.APPROVED.value, LoanStatus.DISBURSED.value]),
    )
    refused = sa.and_(lr.decided_on.between(s, e), lr.status == LoanStatus.REFUSED.value)
    disbursed = lr.disbursed_on.between(s, e)
    collect(
        sa.select(
            Case.commune_code,
            _count(referred),
            sa.func.sum(sa.case((referred, lr.amount_requested_vnd), else_=0)),
            _count(decided),
            sa.func.sum(sa.case((decided, sa.func.coalesce(lr.amount_approved_vnd, 0)), else_=0)),
            _count(refused),
            _count(disbursed),
            sa.func.sum(
                sa.case((disbursed, sa.func.coalesce(lr.amount_disbursed_vnd, 0)), else_=0)
            ),
        )
        .select_from(lr)
        .join(Case, Case.id == lr.case_id)
        .where(sa.or_(referred, lr.decided_on.between(s, e), disbursed))
        .group_by(Case.commune_code),
        [
            "loans_referred",
            "loans_requested_vnd",
            "loans_approved",
            "loans_approved_vnd",
            "loans_refused",
            "loans_disbursed",
            "loans_disbursed_vnd",
        ],
    )
    fu = FollowUp
    done = fu.status == FollowUpStatus.DONE.value
    collect(
        sa.select(
            Case.commune_code,
            sa.func.count(),
            _count(sa.and_(done, sa.not_(fu.is_late))),
            _count(sa.and_(done, fu.is_late)),
            _count(fu.status == FollowUpStatus.MISSED.value),
            _count(sa.and_(fu.status == FollowUpStatus.PENDING.value, fu.due_on < today)),
        )
        .select_from(fu)
        .join(Case, Case.id == fu.case_id)
        .where(fu.due_on.between(s, e), fu.status != FollowUpStatus.CANCELLED.value)
        .group_by(Case.commune_code),
        [
            "follow_ups_due",
            "follow_ups_on_time",
            "follow_ups_late",
            "follow_ups_missed",
            "follow_ups_overdue",
        ],
    )
    return dict(found)


def add(total: Counts, more: Mapping[str, int]) -> None:
    get = total.get  # called some 10,000 times for a national dashboard
    for key, value in more.items():
        total[key] = get(key, 0) + value


def pipeline(communes: sa.Select[Any] | None = None) -> dict[str, int]:
    """Open files by phase now: how many youth are at each step of the way."""
    query = sa.select(Case.phase, sa.func.count()).where(Case.status == "open").group_by(Case.phase)
    return {str(row[0]): int(row[1]) for row in db.session.execute(_scoped(query, communes))}
