"""Synthetic youth for demos and benchmarks: invented names, valid-looking CCCD numbers and phones,
and (with ``steps``) a plausible history for each one since 2024: screenings, counselling,
addiction determinations, rehab of every form, post-rehab management, school, vocational
training, consents, jobs and their checks, social-bank loans, relapses and reintegration, with the
follow-ups the plans call for and their outcomes.

Nothing here describes a real person; the CCCD numbers follow the format (province of Thái Bình,
century/sex digit, year digits) with random serials. Counsellors, facilities and course providers
are roles and kinds of place, never names of people.

How the histories stay true to the workflow: each step carries the rule set in force on its date
with a snapshot of its parameters, and respects its durations and conditions (rehab 6–12 months,
compulsory rehab for adults with a court decision, post-rehab 12 or 24 months, a loan only after
post-rehab management started and with a loan-referral consent, a certification only when the
stable-job rule holds, approvals by an officer who did not record the end). The case's category
and phase are set by ``workflow.services.derive`` itself and its follow-ups are planned by
``followups.plans.plans_of``, both run on the generated records before anything is written; the
next due date follows ``refresh_next_due``. tests/test_synthetic_steps.py checks a sample of cases
against the real services (derive, refresh_next_due, sync_case).

Speed: the cases are made in batches of a thousand, each from a seed of its own (the run's seed
and the batch's number), so a seed gives the same histories however the batches are shared out.
On a machine with more than one processor, forked worker processes write the histories, seal
the identities and turn every value into what the driver takes; the caller's process alone
talks to the database: it allots the ids (the sequence on PostgreSQL, after the highest id on
SQLite), fills in the references and writes each table of a batch at once (COPY on PostgreSQL,
executemany on SQLite), all in the caller's transaction. Identities are still encrypted one value
at a time, exactly as the models' encrypted fields do it (their text form, a fresh nonce,
bound to their table, column and the row's UUID), and blind-indexed as ``apply_case_data`` does.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import json
import multiprocessing
import operator
import os
import random
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa

from caseapp.cases import codes
from caseapp.cases.models import (
    Case,
    CaseDrugType,
    CaseEvent,
    Category,
    CloseReason,
    DrugType,
    Education,
    Occupation,
    Phase,
    Sex,
    Status,
)
from caseapp.cases.services import CaseData
from caseapp.crypto import (
    EncryptedDateField,
    EncryptedField,
    FieldCipher,
    current_cipher,
    name_dob_key,
)
from caseapp.dates import VIETNAM, add_months, add_working_days
from caseapp.db import UTCDateTime
from caseapp.extensions import Model, db
from caseapp.followups import plans
from caseapp.followups.models import ChangeReason, FollowUp, Outcome, Source
from caseapp.followups.models import Status as FollowUpStatus
from caseapp.workflow.models import (
    AddictionDetermination,
    Consent,
    ConsentPurpose,
    ContractType,
    CounsellingKind,
    CounsellingSession,
    CounsellingTopic,
    EmployerKind,
    IncomeBand,
    JobCheck,
    JobPlacement,
    JobSector,
    LoanProgramme,
    LoanReferral,
    LoanStatus,
    PostRehabPeriod,
    RehabEpisode,
    RehabForm,
    RehabOutcome,
    ReintegrationCertification,
    RelapseEvent,
    RelapseSubstance,
    RuleSet,
    Schooling,
    SchoolLevel,
    Screening,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
    StudyResult,
    VocationalTraining,
)
from caseapp.workflow.rules import PROGRAMME_FROM, PROGRAMMES_NEEDING_POLICE_LIST, Rules
from caseapp.workflow.services import (
    CaseSteps,
    _earliest_completion,
    _management_completed,
    allowed_months,
    derive,
    job_check_due,
    post_rehab_months,
    stable_job,
)

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# Histories start here: the first intake dates of the demo (the plan's 2024 baseline).
HISTORY_FROM = date(2024, 1, 1)

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"]
MIDDLE = {Sex.MALE: ["Văn", "Đức", "Minh", "Quang", "Hữu"], Sex.FEMALE: ["Thị", "Ngọc", "Thu"]}
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hùng", "Khánh", "Lan", "Linh", "Long",
         "Mai", "Nam", "Phong", "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Việt", "Xuân",
         "Yến"]  # fmt: skip

# Kinds of place and roles only: plain columns must never hold a person's name.
FACILITIES = ("Trung tâm Y tế khu vực", "Bệnh viện Tâm thần tỉnh", "Cơ sở cai nghiện ma túy tỉnh",
              "Bệnh viện Đa khoa tỉnh")  # fmt: skip
COUNSELLORS = ("Cán bộ Văn hóa - Xã hội xã", "Tư vấn viên Trạm Y tế xã", "Công an xã",
               "Cộng tác viên công tác xã hội", "Cán bộ Đoàn Thanh niên xã")  # fmt: skip
COURSES = ("Sửa chữa xe máy", "May công nghiệp", "Điện dân dụng", "Hàn điện", "Tin học văn phòng",
           "Kỹ thuật chế biến món ăn", "Trồng trọt, bảo vệ thực vật", "Lái xe hạng B")  # fmt: skip
PROVIDERS = ("Trung tâm Giáo dục nghề nghiệp - Giáo dục thường xuyên", "Trường Cao đẳng nghề tỉnh",
             "Trung tâm Dịch vụ việc làm tỉnh", "Cơ sở cai nghiện ma túy tỉnh")  # fmt: skip
# Employers are organisations, and their names are encrypted all the same (JobPlacement).
EMPLOYERS = ("Công ty TNHH May mặc Phú Lộc", "Hộ kinh doanh sửa xe Minh Phát",
             "Xưởng mộc Thành Công", "Hợp tác xã Nông nghiệp Đông Hưng",
             "Công ty Cổ phần Gạch ngói Hồng Hà", "Công ty TNHH Điện tử Hưng Thịnh",
             "Quán cơm Bình Dân số 5")  # fmt: skip


class _Pick(Generic[T]):
    """A weighted choice, prepared once."""

    def __init__(self, weights: dict[T, float]) -> None:
        self.values = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))

    def __call__(self, rng: random.Random) -> T:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def _values(weights: dict[E, float]) -> _Pick[str]:
    """A weighted choice among an enumeration's values (the plain strings the columns hold)."""
    return _Pick({member.value: weight for member, weight in weights.items()})


def _rand(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` at a fraction of the cost (the generator draws millions)."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


# What the file is opened as. With the determinations below, about a third end up addicted.
DECLARED = _Pick({Category.USER: 64, Category.ADDICTED: 24, Category.POST_PRISON: 12})
DRUGS = _Pick({
    DrugType.METHAMPHETAMINE: 40, DrugType.CANNABIS: 14, DrugType.OPIOIDS: 14,
    DrugType.ECSTASY: 10, DrugType.SYNTHETIC_CANNABINOIDS: 10, DrugType.KETAMINE: 7,
    DrugType.NITROUS_OXIDE: 6, DrugType.OTHER: 2,
})  # fmt: skip
SOURCES = _values({
    ScreeningSource.POLICE: 45, ScreeningSource.FAMILY: 15, ScreeningSource.SCHOOL: 12,
    ScreeningSource.HEALTH: 12, ScreeningSource.SELF: 10, ScreeningSource.OTHER: 6,
})  # fmt: skip
METHODS = _values({
    ScreeningMethod.DRUG_TEST: 70, ScreeningMethod.QUESTIONNAIRE: 15, ScreeningMethod.INTERVIEW: 15
})  # fmt: skip
USER_RESULTS = _Pick({
    ScreeningResult.POSITIVE: 85, ScreeningResult.NEGATIVE: 12, ScreeningResult.INCONCLUSIVE: 3
})  # fmt: skip
TOPICS = _values({
    CounsellingTopic.BEHAVIOUR_CHANGE: 42, CounsellingTopic.FAMILY: 14, CounsellingTopic.HEALTH: 12,
    CounsellingTopic.LEGAL: 10, CounsellingTopic.RELAPSE_PREVENTION: 12,
    CounsellingTopic.CAREER: 10,
})  # fmt: skip
TOPICS_AFTER_REHAB = _values({
    CounsellingTopic.RELAPSE_PREVENTION: 40, CounsellingTopic.CAREER: 25,
    CounsellingTopic.BEHAVIOUR_CHANGE: 15, CounsellingTopic.FAMILY: 12,
    CounsellingTopic.HEALTH: 8,
})  # fmt: skip
COUNSELLING_KINDS = _values(
    {CounsellingKind.INDIVIDUAL: 60, CounsellingKind.FAMILY: 25, CounsellingKind.GROUP: 15}
)
FORMS = _values({RehabForm.VOLUNTARY_COMMUNITY: 55, RehabForm.VOLUNTARY_FACILITY: 30,
               RehabForm.COMPULSORY: 15})  # fmt: skip
SECTORS = _values({
    JobSector.MANUFACTURING: 22, JobSector.AGRICULTURE: 18, JobSector.CONSTRUCTION: 15,
    JobSector.SERVICES: 15, JobSector.TRADE: 10, JobSector.TRANSPORT: 10, JobSector.CRAFT: 7,
    JobSector.OTHER: 3,
})  # fmt: skip
EMPLOYER_KINDS = _values({
    EmployerKind.HOUSEHOLD_BUSINESS: 30, EmployerKind.ENTERPRISE: 30,
    EmployerKind.SELF_EMPLOYED: 22, EmployerKind.COOPERATIVE: 12, EmployerKind.PUBLIC: 6,
})  # fmt: skip
CONTRACTS = _values({ContractType.NONE: 35, ContractType.SHORT: 30, ContractType.LONG: 25,
                   ContractType.INDEFINITE: 10})  # fmt: skip
INCOMES = _values({IncomeBand.UNDER_3M: 15, IncomeBand.FROM_3M: 40, IncomeBand.FROM_5M: 30,
                 IncomeBand.FROM_8M: 8, IncomeBand.UNKNOWN: 7})  # fmt: skip
EDUCATIONS, OCCUPATIONS = tuple(Education), tuple(Occupation)
# Where loans stand today, taken in turn: most are paid out, and every status shows in a sample.
LOAN_OUTCOMES = (
    LoanStatus.DISBURSED, LoanStatus.REFUSED, LoanStatus.APPLICATION, LoanStatus.DISBURSED,
    LoanStatus.REFERRAL, LoanStatus.APPROVED, LoanStatus.DISBURSED, LoanStatus.REFUSED,
    LoanStatus.APPLICATION, LoanStatus.DISBURSED, LoanStatus.APPROVED, LoanStatus.DISBURSED,
)  # fmt: skip
# The furthest status a loan can have reached when time is short.
LOAN_FALLBACK = {
    LoanStatus.DISBURSED: LoanStatus.APPROVED, LoanStatus.APPROVED: LoanStatus.APPLICATION,
    LoanStatus.REFUSED: LoanStatus.APPLICATION, LoanStatus.APPLICATION: LoanStatus.REFERRAL,
}  # fmt: skip
LOAN_MILLIONS = (20, 30, 40, 50, 50, 60, 80, 100, 100, 150, 200)
SCREENING_DELAYS = (0, 0, 0, 1, 2, 3, 5, 7, 10, 14, 21, 30)  # days from intake
APPROVAL_DELAYS = (0, 1, 1, 2, 3, 5, 7, 10)  # days from the end an officer approves
WORKING_AGE = 15  # jobs are suggested from this age (workflow.services.WORKING_AGE)
MINOR_VOCATIONAL_AGE = 15


def synthetic_case(
    rng: random.Random, commune_code: int, today: date, *, since: date = HISTORY_FROM
) -> CaseData:
    """One invented youth aged 13–29 at an intake between ``since`` and ``today``."""
    sex = _pick(rng, [Sex.MALE, Sex.MALE, Sex.MALE, Sex.FEMALE])
    intake = since + timedelta(days=_rand(rng, 0, max(0, (today - since).days)))
    intake = min(intake, today)
    born = intake - timedelta(days=_rand(rng, 13 * 365, 29 * 365))
    century_digit = (0 if born.year < 2000 else 2) + (1 if sex is Sex.FEMALE else 0)
    cccd = f"034{century_digit}{born.year % 100:02d}{_rand(rng, 0, 999_999):06d}"
    minor = _age(born, intake) < 18  # minors have a legal representative on file
    drugs = {DRUGS(rng) for _ in range(1 if rng.random() < 0.7 else 2)}
    return CaseData(
        full_name=f"{_pick(rng, FAMILY)} {_pick(rng, MIDDLE[sex])} {_pick(rng, GIVEN)}",
        date_of_birth=born,
        sex=sex,
        national_id=cccd,
        phone=f"+849{_rand(rng, 10_000_000, 99_999_999)}",
        address=f"Thôn {_rand(rng, 1, 12)}",
        guardian_name=f"{_pick(rng, FAMILY)} Thị {_pick(rng, GIVEN)}" if minor else None,
        guardian_relation="Mẹ" if minor else None,
        guardian_phone=None,
        notes=None,
        commune_code=commune_code,
        # Categories a file is opened with; rehab categories come from recorded steps.
        category=DECLARED(rng),
        education=_pick(rng, EDUCATIONS),
        occupation=_pick(rng, OCCUPATIONS),
        drug_types=sorted(drugs),
        assigned_worker_id=None,
        intake_on=intake,
    )


def _age(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _days(n: int) -> timedelta:
    return timedelta(days=n)


# --- Rule sets and staff, loaded once ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _RuleSet:
    id: int
    effective_from: date
    effective_to: date | None
    params: dict[str, Any]
    rules: Rules


class _RuleBook:
    """The rule sets, read once: ``on(day)`` answers as ``workflow.services.rule_set_on``."""

    def __init__(self) -> None:
        rows = db.session.execute(
            sa.select(RuleSet.id, RuleSet.effective_from, RuleSet.effective_to, RuleSet.params)
        ).all()
        self.sets = sorted(
            (
                _RuleSet(
                    r.id,
                    r.effective_from,
                    r.effective_to,
                    dict(r.params),
                    Rules.from_params(r.params),
                )
                for r in rows
            ),
            key=lambda s: s.effective_from,
            reverse=True,
        )
        self._by_day: dict[date, _RuleSet] = {}

    def on(self, day: date) -> _RuleSet:
        found = self._by_day.get(day)
        if found is None:
            found = next(
                (
                    s
                    for s in self.sets
                    if s.effective_from <= day and (s.effective_to is None or s.effective_to >= day)
                ),
                None,
            )
            if found is None:
                raise ValueError(f"no rule set is in force on {day.isoformat()}")
            self._by_day[day] = found
        return found


@dataclass
class _Staff:
    """Who records and who approves: the enabled workers of each commune and the officers whose
    scope covers it (any officer when none does; none at all in an empty system)."""

    workers: dict[int, list[int]]
    officers: dict[int, list[int]]
    any_officers: list[int]

    @classmethod
    def load(cls) -> _Staff:
        from caseapp import authz
        from caseapp.users.models import Role, User, user_communes

        workers: dict[int, list[int]] = {}
        for user_id, code in db.session.execute(
            sa.select(User.id, user_communes.c.commune_code)
            .join(user_communes, user_communes.c.user_id == User.id)
            .where(User.role == Role.WORKER.value, User.is_enabled.is_(True))
            .order_by(User.id)
        ):
            workers.setdefault(cast(int, code), []).append(cast(int, user_id))
        officers: dict[int, list[int]] = {}
        for officer_id, scoped in db.session.execute(authz.scope_pairs(Role.OFFICER)):
            officers.setdefault(scoped, []).append(officer_id)
        any_officers = sorted({o for ids in officers.values() for o in ids}) or list(
            db.session.scalars(
                sa.select(User.id)
                .where(User.role == Role.OFFICER.value, User.is_enabled.is_(True))
                .order_by(User.id)
            )
        )
        return cls(workers, officers, any_officers)

    def officer(self, rng: random.Random, commune: int, not_id: int | None) -> int | None:
        """An officer over ``commune`` other than ``not_id`` (four eyes), if there is one."""
        choices = [o for o in self.officers.get(commune) or self.any_officers if o != not_id]
        return _pick(rng, choices) if choices else None


# --- The records of one history (attribute names as on the models: the workflow's own
# functions read them) ----------------------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class _Step:
    rule: _RuleSet
    recorded_by_id: int | None
    recorded_at: datetime
    id: int = 0  # a key within the case until inserted, then the row's id

    @property
    def rule_set_id(self) -> int:
        return self.rule.id

    @property
    def rules_snapshot(self) -> dict[str, Any]:
        return self.rule.params


@dataclass(eq=False, kw_only=True)
class _Screening(_Step):
    screened_on: date
    source: str
    method: str
    result: str


@dataclass(eq=False, kw_only=True)
class _Determination(_Step):
    determined_on: date
    facility: str
    is_addicted: bool
    form_reference: str | None
    register_by: date | None


@dataclass(eq=False, kw_only=True)
class _Counselling(_Step):
    held_on: date
    kind: str
    topic: str
    counsellor: str


@dataclass(eq=False, kw_only=True)
class _Episode(_Step):
    form: str
    started_on: date
    months: int | None
    planned_end_on: date | None
    court_decision_number: str | None = None
    court_decision_on: date | None = None
    representative_consent: bool = False
    stage: int = 1
    ended_on: date | None = None
    outcome: str | None = None
    certificate_number: str | None = None
    ended_by_id: int | None = None
    approved_by_id: int | None = None
    approved_at: datetime | None = None


@dataclass(eq=False, kw_only=True)
class _Period(_Step):
    episode: _Episode
    started_on: date
    planned_end_on: date
    ended_on: date | None = None
    certificate_number: str | None = None
    ended_by_id: int | None = None
    approved_by_id: int | None = None
    approved_at: datetime | None = None

    @property
    def episode_id(self) -> int:
        return self.episode.id


@dataclass(eq=False, kw_only=True)
class _Schooling(_Step):
    level: str
    started_on: date
    ended_on: date | None
    result: str


@dataclass(eq=False, kw_only=True)
class _Training(_Step):
    course_name: str
    provider: str
    started_on: date
    ended_on: date | None
    result: str
    certificate_number: str | None


@dataclass(eq=False, kw_only=True)
class _Consent(_Step):
    purpose: str
    given_on: date
    with_representative: bool


@dataclass(eq=False, kw_only=True)
class _Check(_Step):
    job: _Job
    checked_on: date
    still_employed: bool


@dataclass(eq=False)
class _Answer:
    """How a planned job or loan follow-up was answered."""

    status: FollowUpStatus
    outcome: Outcome
    done_on: date


@dataclass(eq=False, kw_only=True)
class _Job(_Step):
    uuid: str
    sector: str
    employer_kind: str
    started_on: date
    contract_type: str
    income_band: str
    ended_on: date | None = None
    employer_contacted: bool = False
    consent: _Consent | None = None
    employer_name_ct: str | None = None
    checks: list[_Check] = field(default_factory=list)
    answers: dict[int, _Answer] = field(default_factory=dict)  # plan occurrence → its answer

    @property
    def left_on(self) -> date | None:
        return next((c.checked_on for c in self.checks if not c.still_employed), None)

    @property
    def is_current(self) -> bool:
        return self.ended_on is None and self.left_on is None


@dataclass(eq=False, kw_only=True)
class _Loan(_Step):
    programme: str
    referred_on: date
    on_police_list: bool
    consent: _Consent
    status: str
    amount_requested_vnd: int
    applied_on: date | None = None
    decided_on: date | None = None
    amount_approved_vnd: int | None = None
    disbursed_on: date | None = None
    amount_disbursed_vnd: int | None = None


@dataclass(eq=False, kw_only=True)
class _Relapse(_Step):
    relapsed_on: date
    during_post_rehab: bool
    substances: list[str]


@dataclass(eq=False, kw_only=True)
class _Certification(_Step):
    certified_on: date
    certified_by_id: int
    job: _Job
    months_confirmed: int


@dataclass(eq=False)
class _FollowUp:
    owner: _Step
    source: str
    kind: str
    seq: int
    due_on: date
    status: str = FollowUpStatus.PENDING.value
    outcome: str | None = None
    done_on: date | None = None
    done_by_id: int | None = None
    cancel_reason: str | None = None


@dataclass(eq=False)
class _Event:
    at: datetime
    kind: str
    actor_id: int | None
    details: dict[str, object]
    # The record whose id goes into the details under this key (known once inserted).
    ref: tuple[str, _Step] | None = None


@dataclass(eq=False)
class _Story:
    """One synthetic case file and everything recorded on it."""

    data: CaseData
    uuid: str
    code: str
    assigned_worker_id: int | None
    recorder_id: int | None
    category: str
    phase: str = Phase.INTAKE.value
    status: str = Status.OPEN.value
    close_reason: str | None = None
    closed_on: date | None = None
    closed_at: datetime | None = None
    next_due_on: date | None = None
    id: int = 0
    screenings: list[_Screening] = field(default_factory=list)
    determinations: list[_Determination] = field(default_factory=list)
    counselling: list[_Counselling] = field(default_factory=list)
    episodes: list[_Episode] = field(default_factory=list)
    post_rehab: list[_Period] = field(default_factory=list)
    schoolings: list[_Schooling] = field(default_factory=list)
    trainings: list[_Training] = field(default_factory=list)
    jobs: list[_Job] = field(default_factory=list)
    consents: list[_Consent] = field(default_factory=list)
    loans: list[_Loan] = field(default_factory=list)
    relapses: list[_Relapse] = field(default_factory=list)
    certifications: list[_Certification] = field(default_factory=list)
    follow_ups: list[_FollowUp] = field(default_factory=list)
    events: list[_Event] = field(default_factory=list)

    def steps(self) -> CaseSteps:
        """The records as the workflow's functions read them (duck-typed: same attributes)."""
        return CaseSteps(
            screenings=cast(Any, self.screenings),
            determinations=cast(Any, self.determinations),
            counselling=cast(Any, self.counselling),
            episodes=cast(Any, self.episodes),
            post_rehab=cast(Any, self.post_rehab),
            schoolings=cast(Any, self.schoolings),
            trainings=cast(Any, self.trainings),
            jobs=cast(Any, self.jobs),
            consents=cast(Any, self.consents),
            loans=cast(Any, self.loans),
            relapses=cast(Any, self.relapses),
            certifications=cast(Any, self.certifications),
        )

    def age_on(self, day: date) -> int:
        return _age(self.data.date_of_birth, day)


@dataclass(frozen=True)
class _Sealer:
    """Encrypts as the models' encrypted fields do, under the primary data key the caller's
    transaction found (read once there: worker processes must not touch the session)."""

    cipher: FieldCipher
    key: tuple[str, bytes]

    def seal(
        self, field: EncryptedField | EncryptedDateField, value: Any, row_uuid: str
    ) -> str | None:
        """What assigning ``value`` to the encrypted ``field`` stores: its text (NFC, or ISO
        date) encrypted under the primary data key, bound to the field's table and column and
        the row; a fresh nonce per value."""
        if value is None:
            return None
        text = field._to_text(value)
        return self.cipher.encrypt_under(
            self.key, text, table=field.table, column=field.name, row_uuid=row_uuid
        )

    def identity(self, data: CaseData, row_uuid: str) -> list[str | None]:
        """The identity columns (``IDENTITY_COLUMNS``) exactly as ``apply_case_data`` writes
        them: each value encrypted as Case's encrypted fields do, and the two blind indexes."""
        seal, cipher = self.seal, self.cipher
        return [
            seal(Case.full_name, data.full_name, row_uuid),
            seal(Case.date_of_birth, data.date_of_birth, row_uuid),
            seal(Case.national_id, data.national_id, row_uuid),
            seal(Case.phone, data.phone, row_uuid),
            seal(Case.address, data.address, row_uuid),
            seal(Case.guardian_name, data.guardian_name, row_uuid),
            seal(Case.guardian_relation, data.guardian_relation, row_uuid),
            seal(Case.guardian_phone, data.guardian_phone, row_uuid),
            seal(Case.notes, data.notes, row_uuid),
            cipher.blind_index("cases.national_id", data.national_id) if data.national_id else None,
            cipher.blind_index("cases.name_dob", name_dob_key(data.full_name, data.date_of_birth)),
        ]


IDENTITY_COLUMNS = (
    "full_name_ct", "date_of_birth_ct", "national_id_ct", "phone_ct", "address_ct",
    "guardian_name_ct", "guardian_relation_ct", "guardian_phone_ct", "notes_ct",
    "national_id_bidx", "name_dob_bidx",
)  # fmt: skip


# --- Writing a history ------------------------------------------------------------------------


class _Author:
    """Writes one plausible history per case, in date order, up to ``today``."""

    def __init__(
        self,
        rng: random.Random,
        today: date,
        book: _RuleBook,
        staff: _Staff,
        actor_id: int | None,
        *,
        sealer: _Sealer,
        now: datetime,
    ) -> None:
        self.rng = rng
        self.today = today
        self.now = now
        # Asia/Ho_Chi_Minh keeps UTC+7 all year (no daylight saving since 1975).
        self.utc_offset = VIETNAM.utcoffset(self.now) or timedelta(0)
        self.book = book
        self.staff = staff
        self.actor_id = actor_id
        self.serial = itertools.count(1)
        self.sealer = sealer
        self.loan_turns = itertools.cycle(LOAN_OUTCOMES)
        self.loans_owed: list[LoanStatus] = []

    # Helpers ---------------------------------------------------------------------------------

    def moment(self, day: date) -> datetime:
        """A working hour of ``day`` in the communes' time zone (never later than now)."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - self.utc_offset
        return min(midnight + timedelta(minutes=_rand(self.rng, 7 * 60, 17 * 60 - 1)), self.now)

    def between(self, first: date, last: date) -> date:
        return first + _days(_rand(self.rng, 0, max(0, (last - first).days)))

    def common(self, s: _Story, day: date, by: int | None = None) -> dict[str, Any]:
        return {
            "rule": self.book.on(day),
            "recorded_by_id": s.recorder_id if by is None else by,
            "recorded_at": self.moment(day),
            "id": next(self.serial),
        }

    def event(
        self,
        s: _Story,
        at: datetime,
        kind: str,
        actor_id: int | None = None,
        ref: tuple[str, _Step] | None = None,
        **details: object,
    ) -> None:
        s.events.append(_Event(at, kind, actor_id or s.recorder_id, details, ref))

    def number(self, suffix: str, day: date) -> str:
        return f"{_rand(self.rng, 1, 999):03d}/{day.year}/{suffix}"

    # The whole history --------------------------------------------------------------------------

    def write(self, data: CaseData, *, steps: bool) -> _Story:
        rng = self.rng
        workers = self.staff.workers.get(data.commune_code, []) if steps else []
        assigned = None
        if workers:
            recent = (self.today - data.intake_on).days < 30  # new files wait to be assigned
            if rng.random() < (0.3 if recent else 0.85):
                assigned = _pick(rng, workers)
        s = _Story(
            data=data,
            uuid=str(uuid.uuid4()),
            code="",
            assigned_worker_id=assigned,
            recorder_id=assigned or (workers[0] if workers else self.actor_id),
            category=data.category.value,
        )
        self.event(
            s, self.moment(data.intake_on), "created",
            commune=data.commune_code, synthetic=True,
        )  # fmt: skip
        if steps:
            self.history(s)
            records = s.steps()
            derive(cast(Case, s), records)
            self.plan_follow_ups(s, records)
            s.next_due_on = self.next_due(s, records)
        s.events.sort(key=lambda e: e.at)
        return s

    def history(self, s: _Story) -> None:
        rng, today, intake = self.rng, self.today, s.data.intake_on
        declared = s.data.category
        first = intake + _days(_pick(rng, SCREENING_DELAYS))
        positive_on = None
        if first <= today:
            if declared is Category.ADDICTED:
                result = ScreeningResult.POSITIVE
            elif declared is Category.POST_PRISON:
                result = (
                    ScreeningResult.POSITIVE if rng.random() < 0.2 else ScreeningResult.NEGATIVE
                )
            else:
                result = USER_RESULTS(rng)
            self.screen(s, first, result)
            positive_on = first if result is ScreeningResult.POSITIVE else None
        determination = None
        if positive_on is not None:
            referred = {Category.ADDICTED: 0.95, Category.POST_PRISON: 0.5}.get(declared, 0.3)
            if rng.random() < referred:
                wait = _rand(rng, 3, 40) if declared is Category.ADDICTED else _rand(rng, 7, 60)
                if positive_on + _days(wait) <= today:
                    addicted = rng.random() < (0.93 if declared is Category.ADDICTED else 0.6)
                    determination = self.determine(s, positive_on + _days(wait), addicted)
        if s.screenings and (determination is None or not determination.is_addicted):
            # Youth under management are tested again every few months.
            day = max(
                s.screenings[-1].screened_on,
                determination.determined_on if determination else intake,
            )
            for _ in range(3):
                day += _days(_rand(rng, 90, 180))
                if day > today or rng.random() < 0.45:
                    break
                again = (
                    ScreeningResult.POSITIVE if rng.random() < 0.45 else ScreeningResult.NEGATIVE
                )
                self.screen(s, day, again)
        support_from, period = None, None
        if determination is not None and determination.is_addicted:
            period = self.rehab(s, determination)
            support_from = period.started_on if period else None
        elif declared is Category.POST_PRISON and s.screenings:
            support_from = s.screenings[0].screened_on + _days(_rand(rng, 7, 60))
        elif s.screenings and s.age_on(intake) < 17 and rng.random() < 0.1:
            self.schooling(s, intake + _days(_rand(rng, 15, 90)))
        if support_from is not None and support_from <= today:
            self.support(s, support_from, period)
        self.counsel(s, period)
        self.close(s)

    # Screening, determination, counselling -----------------------------------------------------

    def screen(self, s: _Story, day: date, result: ScreeningResult) -> None:
        step = _Screening(
            **self.common(s, day),
            screened_on=day,
            source=SOURCES(self.rng),
            method=METHODS(self.rng),
            result=result.value,
        )
        s.screenings.append(step)
        self.event(s, step.recorded_at, "screening", result=result.value)

    def determine(self, s: _Story, day: date, addicted: bool) -> _Determination:
        common = self.common(s, day)
        rules = common["rule"].rules
        step = _Determination(
            **common,
            determined_on=day,
            facility=_pick(self.rng, FACILITIES),
            is_addicted=addicted,
            form_reference=self.number("XĐTTN", day),
            register_by=(
                add_working_days(day, rules.register_within_working_days) if addicted else None
            ),
        )
        s.determinations.append(step)
        self.event(s, step.recorded_at, "determination", addicted=addicted)
        return step

    def counsel(self, s: _Story, period: _Period | None) -> None:
        rng, today = self.rng, self.today
        if s.episodes or s.post_rehab or s.data.category is Category.POST_PRISON:
            count = _pick(rng, (1, 2, 2, 3, 3, 4, 5))
        else:
            count = _pick(rng, (0, 1, 1, 1, 2, 2, 3))
        days = sorted(self.between(s.data.intake_on, today) for _ in range(count))
        for day in days:
            after = period is not None and day >= period.started_on
            topic = (TOPICS_AFTER_REHAB if after else TOPICS)(rng)
            step = _Counselling(
                **self.common(s, day),
                held_on=day,
                kind=COUNSELLING_KINDS(rng),
                topic=topic,
                counsellor=_pick(rng, COUNSELLORS),
            )
            s.counselling.append(step)
            self.event(s, step.recorded_at, "counselling", topic=topic)

    # Rehab and post-rehab management ----------------------------------------------------------

    def rehab(self, s: _Story, determination: _Determination) -> _Period | None:
        """Registration, one or two episodes, approval and post-rehab management."""
        rng, today = self.rng, self.today
        register_by = determination.register_by or determination.determined_on
        draw = rng.random()
        if draw < 0.70:  # registered in time
            start = determination.determined_on + _days(
                _rand(rng, 1, max(1, (register_by - determination.determined_on).days))
            )
            pressed = False
        elif draw < 0.88:  # late: often ordered by a court in the end
            start, pressed = register_by + _days(_rand(rng, 5, 120)), True
        else:
            return None  # never registered (the next step stays overdue)
        for attempt in range(2):
            if start > today:
                return None
            episode = self.episode(s, start, determination, pressed=pressed)
            if episode.ended_on is None:
                return None
            if episode.outcome == RehabOutcome.COMPLETED:
                approved_on = self.approve_episode(s, episode)
                return (
                    None if approved_on is None else self.start_post_rehab(s, episode, approved_on)
                )
            if attempt == 0 and rng.random() < 0.5:  # quit or used: a second, firmer attempt
                start, pressed = episode.ended_on + _days(_rand(rng, 15, 120)), True
                continue
            return None
        return None

    def episode(
        self, s: _Story, start: date, determination: _Determination, *, pressed: bool
    ) -> _Episode:
        rng, today = self.rng, self.today
        common = self.common(s, start)
        rules: Rules = common["rule"].rules
        age = s.age_on(start)
        adult = age >= rules.adult_age and age >= rules.compulsory_min_age
        if pressed and adult and rng.random() < 0.6:
            form = RehabForm.COMPULSORY
        elif DrugType.OPIOIDS in s.data.drug_types and rng.random() < 0.75:
            form = RehabForm.METHADONE
        else:
            form = RehabForm(FORMS(rng))
            if form is RehabForm.COMPULSORY and not adult:  # compulsory rehab of adults only here
                form = RehabForm.VOLUNTARY_FACILITY
        allowed = allowed_months(rules, form, age)
        months = None
        if allowed is not None:
            wanted = (12, 18, 24, 24) if form is RehabForm.COMPULSORY else (6, 6, 6, 9, 12, 12)
            fits = [m for m in wanted if allowed[0] <= m <= allowed[1]] or [allowed[0]]
            months = _pick(rng, fits)
        episode = _Episode(
            **common,
            form=form.value,
            started_on=start,
            months=months,
            planned_end_on=add_months(start, months) if months else None,
            representative_consent=(
                form in (RehabForm.VOLUNTARY_COMMUNITY, RehabForm.VOLUNTARY_FACILITY)
                and age < rules.adult_age
            )
            or (form is RehabForm.METHADONE and age < rules.methadone_parental_consent_under_age),
        )
        if form is RehabForm.COMPULSORY:
            decided = max(determination.determined_on, start - _days(_rand(rng, 5, 30)))
            episode.court_decision_on = decided
            episode.court_decision_number = self.number("QĐ-TA", decided)
        s.episodes.append(episode)
        self.event(s, episode.recorded_at, "rehab_started", form=form.value)
        # How it ends (if it has ended by today).
        outcome, end = None, None
        draw = rng.random()
        if episode.planned_end_on is None:  # methadone: open-ended
            if draw < 0.12:
                outcome, end = RehabOutcome.COMPLETED, start + _days(_rand(rng, 365, 900))
            elif draw < 0.37:
                outcome, end = RehabOutcome.QUIT, start + _days(_rand(rng, 60, 540))
        else:
            planned = episode.planned_end_on
            if draw < 0.68:
                earliest = _earliest_completion(cast(RehabEpisode, episode), rules) or planned
                end = planned if rng.random() < 0.7 else self.between(earliest, planned)
                outcome = RehabOutcome.COMPLETED
            else:
                outcome = RehabOutcome.QUIT if draw < 0.86 else RehabOutcome.USED_DURING
                end = start + _days(_rand(rng, 20, max(20, (planned - start).days - 1)))
        span = max(1, ((episode.planned_end_on or start + _days(365)) - start).days)
        if end is not None and end <= today and outcome is not None:
            episode.ended_on, episode.outcome = end, outcome.value
            episode.ended_by_id = s.recorder_id
            if outcome is RehabOutcome.COMPLETED:
                episode.stage = 5
                episode.certificate_number = self.number("GCN", end)
            else:
                episode.stage = 1 + min(4, 5 * (end - start).days // span)
            self.event(s, self.moment(end), "rehab_ended", outcome=outcome.value)
        else:
            episode.stage = 1 + min(4, 5 * (today - start).days // span)
        if form is RehabForm.METHADONE:
            episode.stage = min(episode.stage, 3)
        return episode

    def approve_episode(self, s: _Story, episode: _Episode) -> date | None:
        """An officer approves a completion a few days later (a few are still waiting)."""
        assert episode.ended_on is not None  # noqa: S101 -- only ended episodes are approved
        day = episode.ended_on + _days(_pick(self.rng, APPROVAL_DELAYS))
        if day > self.today or self.rng.random() < 0.03:
            return None
        episode.approved_by_id = self.staff.officer(
            self.rng, s.data.commune_code, episode.ended_by_id
        )
        episode.approved_at = self.moment(day)
        self.event(s, episode.approved_at, "rehab_approved", actor_id=episode.approved_by_id)
        return day

    def start_post_rehab(self, s: _Story, episode: _Episode, approved_on: date) -> _Period | None:
        rng, today = self.rng, self.today
        start = approved_on + _days(_rand(rng, 0, 14))
        if start > today:
            return None
        common = self.common(s, start)
        months = post_rehab_months(
            common["rule"].rules, cast(RehabEpisode, episode), s.age_on(episode.started_on)
        )
        period = _Period(
            **common,
            episode=episode,
            started_on=start,
            planned_end_on=add_months(start, months),
        )
        s.post_rehab.append(period)
        self.event(s, period.recorded_at, "post_rehab_started", months=months)
        if rng.random() < 0.15:  # a relapse during management
            last = min(period.planned_end_on, today)
            if (last - start).days > 20:
                self.relapse(s, start + _days(_rand(rng, 20, (last - start).days)), during=True)
        end = period.planned_end_on + _days(_rand(rng, 0, 20))
        if end <= today and rng.random() < 0.9:
            period.ended_on, period.ended_by_id = end, s.recorder_id
            period.certificate_number = self.number("GCN-QLSC", end)
            self.event(s, self.moment(end), "post_rehab_ended")
            approved = end + _days(_rand(rng, 1, 10))
            if approved <= today and rng.random() < 0.95:
                period.approved_by_id = self.staff.officer(rng, s.data.commune_code, s.recorder_id)
                period.approved_at = self.moment(approved)
                self.event(s, period.approved_at, "post_rehab_approved", period.approved_by_id)
        return period

    def relapse(self, s: _Story, day: date, *, during: bool) -> None:
        if any(r.relapsed_on == day for r in s.relapses):
            return
        step = _Relapse(
            **self.common(s, day),
            relapsed_on=day,
            during_post_rehab=during,
            substances=sorted({d.value for d in s.data.drug_types[:1]}),
        )
        s.relapses.append(step)
        self.event(s, step.recorded_at, "relapse", during_post_rehab=during)

    # Support: school, training, jobs, loans, reintegration ---------------------------------------

    def support(self, s: _Story, since: date, period: _Period | None) -> None:
        rng, today = self.rng, self.today
        if period is None and rng.random() < 0.08:  # after prison: relapses happen too
            self.relapse(s, self.between(since, today), during=False)
        methadone = next((e for e in s.episodes if e.form == RehabForm.METHADONE), None)
        if methadone is not None and rng.random() < 0.1:
            last = methadone.ended_on or today
            if (last - methadone.started_on).days > 30:
                self.relapse(s, self.between(methadone.started_on + _days(30), last), during=False)
        adult_age = self.book.on(since).rules.adult_age
        if s.age_on(since) < adult_age and rng.random() < 0.6:
            self.schooling(s, since + _days(_rand(rng, 10, 60)))
        job_from = since + _days(_rand(rng, 30, 200))
        if s.age_on(since) >= MINOR_VOCATIONAL_AGE and rng.random() < 0.5:
            training = self.training(s, since + _days(_rand(rng, 15, 150)))
            if training is not None and training.result == StudyResult.COMPLETED.value:
                assert training.ended_on is not None  # noqa: S101 -- completed courses end
                job_from = training.ended_on
        job_start = job_from + _days(_rand(rng, 7, 60))
        if job_start <= today and s.age_on(job_start) >= WORKING_AGE and rng.random() < 0.62:
            job = self.job(s, job_start)
            self.certify(s, job)
        if period is not None and rng.random() < 0.6:
            loan = self.loan(s, period, period.started_on + _days(_rand(rng, 30, 120)), None)
            refused = loan is not None and loan.status == LoanStatus.REFUSED
            if refused and loan and loan.decided_on and rng.random() < 0.5:
                # Refused: another programme a few months later.
                self.loan(s, period, loan.decided_on + _days(_rand(rng, 60, 120)), loan.programme)

    def schooling(self, s: _Story, start: date) -> None:
        rng, today = self.rng, self.today
        common = self.common(s, start)
        age = s.age_on(start)
        if start > today or not 12 <= age < common["rule"].rules.adult_age:
            return
        older = (SchoolLevel.UPPER_SECONDARY, SchoolLevel.CONTINUING)
        level = SchoolLevel.LOWER_SECONDARY if age < 15 else _pick(rng, older)
        end: date | None
        if rng.random() < 0.25:
            end, result = start + _days(_rand(rng, 30, 200)), StudyResult.DROPPED
        else:
            end, result = start + _days(_rand(rng, 240, 300)), StudyResult.COMPLETED
        if end > today:
            end, result = None, StudyResult.IN_PROGRESS
        step = _Schooling(
            **common, level=level.value, started_on=start, ended_on=end, result=result.value
        )
        s.schoolings.append(step)
        self.event(s, step.recorded_at, "schooling", level=level.value, result=result.value)

    def training(self, s: _Story, start: date) -> _Training | None:
        rng, today = self.rng, self.today
        if start > today:
            return None
        length = _rand(rng, 60, 180)
        end: date | None
        if rng.random() < 0.22:
            end, result = start + _days(_rand(rng, 10, length)), StudyResult.DROPPED
        else:
            end, result = start + _days(length), StudyResult.COMPLETED
        if end > today:
            end, result = None, StudyResult.IN_PROGRESS
        step = _Training(
            **self.common(s, start),
            course_name=_pick(rng, COURSES),
            provider=_pick(rng, PROVIDERS),
            started_on=start,
            ended_on=end,
            result=result.value,
            certificate_number=self.number("CCN", end)
            if end and result is StudyResult.COMPLETED
            else None,
        )
        s.trainings.append(step)
        self.event(s, step.recorded_at, "training", result=result.value)
        return step

    def consent(self, s: _Story, purpose: ConsentPurpose, day: date) -> _Consent:
        found = next((c for c in s.consents if c.purpose == purpose.value), None)
        if found is not None:
            return found
        common = self.common(s, day)
        step = _Consent(
            **common,
            purpose=purpose.value,
            given_on=day,
            with_representative=s.age_on(day) < common["rule"].rules.adult_age,
        )
        s.consents.append(step)
        self.event(s, step.recorded_at, "consent_given", purpose=purpose.value)
        return step

    def job(self, s: _Story, start: date) -> _Job:
        rng, today = self.rng, self.today
        kind = EMPLOYER_KINDS(rng)
        self_employed = kind == EmployerKind.SELF_EMPLOYED
        employer = None if self_employed or rng.random() < 0.25 else _pick(rng, EMPLOYERS)
        consent = None
        if employer is not None and rng.random() < 0.55:  # the worker contacts the employer
            given = max(s.data.intake_on, start - _days(_rand(rng, 1, 20)))
            consent = self.consent(s, ConsentPurpose.EMPLOYER_CONTACT, given)
        common = self.common(s, start)
        job = _Job(
            **common,
            uuid=str(uuid.uuid4()),
            sector=SECTORS(rng),
            employer_kind=kind,
            started_on=start,
            contract_type=ContractType.NONE.value if self_employed else CONTRACTS(rng),
            income_band=INCOMES(rng),
            employer_contacted=consent is not None,
            consent=consent,
        )
        if employer is not None:  # encrypted as JobPlacement.employer_name, bound to the job
            job.employer_name_ct = self.sealer.seal(JobPlacement.employer_name, employer, job.uuid)
        s.jobs.append(job)
        self.event(
            s, job.recorded_at, "job_placed", ref=("job", job), sector=job.sector,
            employer_kind=job.employer_kind, contract_type=job.contract_type,
        )  # fmt: skip
        ends = None
        if rng.random() < 0.08:
            ends = self.between(start + _days(20), max(start + _days(20), today))
            ends = ends if ends <= today else None
        # The plan's follow-ups (1, 3 and 6 months by default) answered as a worker would.
        rules: Rules = common["rule"].rules
        last = start
        open_question = False
        for seq, due in enumerate((add_months(start, m) for m in rules.job_check_months), 1):
            if job.left_on is not None or (ends is not None and due > ends) or due > today:
                break
            late = (today - due).days
            draw = rng.random()
            if 3 <= late <= 40 and draw < 0.2:
                open_question = True  # not yet done: overdue
                break
            if late > 2 and draw < 0.27:
                job.answers[seq] = _Answer(
                    FollowUpStatus.MISSED, Outcome.NOT_REACHED,
                    min(today, due + _days(_rand(rng, 0, 7))),
                )  # fmt: skip
                continue
            day = min(today, due + _days(_pick(rng, (0, 0, 0, 1, 2, 3, 5, 8))))
            if ends is not None:
                day = min(day, ends)
            if day <= last:
                continue
            still = rng.random() >= 0.08
            self.job_check(s, job, day, still)
            job.answers[seq] = _Answer(
                FollowUpStatus.DONE,
                Outcome.STILL_EMPLOYED if still else Outcome.NOT_EMPLOYED,
                day,
            )
            last = day
        if not open_question and job.left_on is None:
            # After the plan: the worker keeps confirming on the job's page every few months.
            day = max(last, add_months(start, max(rules.job_check_months, default=0)))
            while True:
                day += _days(_rand(rng, 70, 100))
                if day > today or (ends is not None and day > ends) or rng.random() < 0.04:
                    break
                still = rng.random() >= 0.05
                self.job_check(s, job, day, still)
                if not still:
                    break
        if ends is not None:
            job.ended_on = ends
        elif job.left_on is not None and rng.random() < 0.6:  # the end date, recorded later
            confirmed = [c.checked_on for c in job.checks if c.still_employed]
            job.ended_on = max([start, *confirmed, job.left_on - _days(_rand(rng, 0, 30))])
        if job.ended_on is not None:
            self.event(s, self.moment(job.ended_on), "job_ended", ref=("job", job))
        return job

    def job_check(self, s: _Story, job: _Job, day: date, still: bool) -> None:
        check = _Check(**self.common(s, day), job=job, checked_on=day, still_employed=still)
        job.checks.append(check)
        self.event(s, check.recorded_at, "job_check", ref=("job", job), still_employed=still)

    def certify(self, s: _Story, job: _Job) -> None:
        """An officer certifies reintegration once the stable-job rule holds (some do)."""
        officer = self.staff.officer(self.rng, s.data.commune_code, None)
        if officer is None:
            return
        for check in job.checks:
            day = check.checked_on + _days(_rand(self.rng, 0, 30))
            if day > self.today:
                return
            if not check.still_employed or self.rng.random() >= 0.35:
                continue
            common = self.common(s, day, by=officer)
            found = stable_job(cast(Any, s.jobs), cast(Any, s.relapses), common["rule"].rules, day)
            if not found.met:
                continue
            step = _Certification(
                **common, certified_on=day, certified_by_id=officer, job=job,
                months_confirmed=found.months,
            )  # fmt: skip
            s.certifications.append(step)
            self.event(
                s, step.recorded_at, "reintegration_certified", officer, ("job", job),
                months=found.months,
            )  # fmt: skip
            return

    def loan(
        self, s: _Story, period: _Period, earliest: date, not_programme: str | None
    ) -> _Loan | None:
        """A loan referred on or after ``earliest``. Where it stands today comes in turn from
        LOAN_OUTCOMES, as far as the time since ``earliest`` allows (a status it cannot reach
        yet goes to the next loan), and its dates are counted back from today: every status
        shows in a few hundred cases, whatever the day."""
        rng, today = self.rng, self.today
        span = (today - earliest).days
        if span < 0:
            return None
        wanted = self.loans_owed.pop(0) if self.loans_owed else next(self.loan_turns)
        # The bank takes weeks at each stage.
        to_apply, to_decide, to_pay = _rand(rng, 10, 60), _rand(rng, 30, 150), _rand(rng, 10, 90)
        reach = {
            LoanStatus.REFERRAL: 0,
            LoanStatus.APPLICATION: to_apply,
            LoanStatus.APPROVED: to_apply + to_decide,
            LoanStatus.REFUSED: to_apply + to_decide,
            LoanStatus.DISBURSED: to_apply + to_decide + to_pay,
        }
        status = wanted
        while reach[status] > span:
            status = LOAN_FALLBACK[status]
        if status is not wanted:  # too recent for it: the next loan will try
            self.loans_owed.append(wanted)
        # Time spent in that status so far: less than the next stage takes, unless it is final.
        stage = {
            LoanStatus.REFERRAL: to_apply,
            LoanStatus.APPLICATION: to_decide,
            LoanStatus.APPROVED: to_pay,
        }.get(status)
        room = span - reach[status]
        referred = today - _days(reach[status] + _rand(rng, 0, min(room, (stage or room + 1) - 1)))
        rules = self.book.on(referred).rules
        if s.age_on(referred) < rules.loan_min_age:
            return None
        consent = self.consent(
            s,
            ConsentPurpose.LOAN_REFERRAL,
            max(period.started_on, referred - _days(_rand(rng, 0, 10))),
        )
        decision_08 = LoanProgramme.DECISION_08_2026
        others = [
            p
            for p in (LoanProgramme.NATIONAL_EMPLOYMENT_FUND, LoanProgramme.YOUTH_STARTUP)
            if p != not_programme
        ]
        if (
            referred >= PROGRAMME_FROM[decision_08.value]
            and not_programme != decision_08
            and rng.random() < 0.7
        ):
            programme = decision_08
        else:
            programme = _pick(rng, others)
        requested = min(rules.loan_max_vnd, _pick(rng, LOAN_MILLIONS) * 1_000_000)
        loan = _Loan(
            **self.common(s, referred),
            programme=programme.value,
            referred_on=referred,
            on_police_list=programme.value in PROGRAMMES_NEEDING_POLICE_LIST or rng.random() < 0.5,
            consent=consent,
            status=LoanStatus.REFERRAL.value,
            amount_requested_vnd=requested,
        )
        s.loans.append(loan)
        self.event(
            s, loan.recorded_at, "loan_referred", ref=("loan", loan), programme=loan.programme
        )
        if status is LoanStatus.REFERRAL:
            return loan
        self.advance(s, loan, LoanStatus.APPLICATION, referred + _days(to_apply))
        decided = referred + _days(to_apply + to_decide)
        if status is LoanStatus.REFUSED:
            self.advance(s, loan, LoanStatus.REFUSED, decided)
        elif status is not LoanStatus.APPLICATION:
            share = 1 if rng.random() < 0.6 else 0.6  # sometimes less than asked
            approved = max(5_000_000, int(requested * share) // 5_000_000 * 5_000_000)
            self.advance(s, loan, LoanStatus.APPROVED, decided, approved)
            if status is LoanStatus.DISBURSED:
                paid_on = decided + _days(to_pay)
                self.advance(s, loan, LoanStatus.DISBURSED, paid_on, approved)
        return loan

    def advance(
        self, s: _Story, loan: _Loan, to: LoanStatus, day: date, amount: int | None = None
    ) -> None:
        if to is LoanStatus.APPLICATION:
            loan.applied_on = day
        elif to is LoanStatus.DISBURSED:
            loan.disbursed_on, loan.amount_disbursed_vnd = day, amount
        else:
            loan.decided_on, loan.amount_approved_vnd = day, amount
        loan.status = to.value
        self.event(
            s, self.moment(day), f"loan_{to.value}", ref=("loan", loan), programme=loan.programme
        )

    # Closing, follow-ups, next due date -----------------------------------------------------------

    def close(self, s: _Story) -> None:
        rng, today = self.rng, self.today
        last = max(e.at for e in s.events).astimezone(VIETNAM).date()
        certification = s.steps().standing_certification
        if certification is not None and rng.random() < 0.4:
            reason = CloseReason.REINTEGRATED
            day = certification.certified_on + _days(_rand(rng, 30, 150))
        elif s.age_on(today) > 30 and rng.random() < 0.5:
            reason, day = CloseReason.AGED_OUT, last + _days(_rand(rng, 10, 90))
        elif rng.random() < 0.015:
            reason, day = CloseReason.MOVED_AWAY, last + _days(_rand(rng, 10, 120))
        else:
            return
        if day > today or day < last:
            return
        s.status, s.close_reason, s.closed_on = Status.CLOSED.value, reason.value, day
        s.closed_at = self.moment(day)
        self.event(s, s.closed_at, "closed", reason=reason.value)

    def plan_follow_ups(self, s: _Story, steps: CaseSteps) -> None:
        """The rows ``plans.sync_case`` keeps for these records, answered as a worker would: past
        ones mostly done (some late, some missed), a few overdue, the rest ahead; the occurrences
        of a plan that ended early cancelled; everything pending cancelled when the file closed."""
        on = s.closed_on or self.today  # a closed file's plans stopped on its closing day
        owners: dict[tuple[str, int], _Step] = {}
        owners.update(((Source.REHAB.value, e.id), e) for e in s.episodes)
        owners.update(((Source.POST_REHAB.value, p.id), p) for p in s.post_rehab)
        owners.update(((Source.JOB.value, j.id), j) for j in s.jobs)
        owners.update(((Source.LOAN.value, loan.id), loan) for loan in s.loans)
        for plan in plans.plans_of(steps, on):
            owner = owners[(plan.source.value, plan.source_id)]
            wanted = [(seq, d) for seq, d in enumerate(plan.dates, 1) if d >= plan.recorded_on]
            for seq, due in wanted:
                row = _FollowUp(owner, plan.source.value, plan.kind.value, seq, due)
                if isinstance(owner, _Job):
                    self.answer_job(row, owner)
                elif isinstance(owner, _Loan):
                    self.answer_loan(row, owner, on)
                else:
                    self.answer_contact(row, on)
                s.follow_ups.append(row)
            for seq, due in self.ended_early(owner, len(plan.dates)):
                row = _FollowUp(owner, plan.source.value, plan.kind.value, seq, due)
                if isinstance(owner, _Job) and seq in owner.answers:
                    self.answer_job(row, owner)
                else:
                    row.status, row.cancel_reason = (
                        FollowUpStatus.CANCELLED.value, ChangeReason.PLAN_ENDED.value
                    )  # fmt: skip
                s.follow_ups.append(row)
        if s.status == Status.CLOSED:
            for row in s.follow_ups:
                if row.status == FollowUpStatus.PENDING:
                    row.status = FollowUpStatus.CANCELLED.value
                    row.cancel_reason = ChangeReason.CASE_CLOSED.value
        done_by = s.assigned_worker_id or s.recorder_id
        for row in s.follow_ups:
            if row.done_on is not None and row.done_by_id is None:
                row.done_by_id = done_by

    def ended_early(self, owner: _Step, kept: int) -> list[tuple[int, date]]:
        """Occurrences written while the plan ran and cancelled when it ended early."""
        if isinstance(owner, _Episode) and owner.ended_on is not None:
            rules = owner.rule.rules
            if owner.form == RehabForm.VOLUNTARY_COMMUNITY and owner.planned_end_on is not None:
                dates = plans._series(
                    owner.started_on, owner.planned_end_on, days=rules.followup_rehab_days
                )
            elif owner.form == RehabForm.METHADONE:
                horizon = owner.ended_on + _days(plans.OPEN_ENDED_HORIZON_DAYS)
                dates = plans._series(
                    owner.started_on, horizon, months=rules.followup_methadone_months
                )
            else:
                return []
        elif isinstance(owner, _Job) and not owner.is_current:
            dates = [add_months(owner.started_on, m) for m in owner.rule.rules.job_check_months]
        else:
            return []
        return list(enumerate(dates, 1))[kept:]

    def answer_contact(self, row: _FollowUp, on: date) -> None:
        rng, due = self.rng, row.due_on
        if due > on:
            return
        late = (on - due).days
        draw = rng.random()
        if late <= 2 or draw >= 0.16:  # done: on the day, or some days late
            row.status = FollowUpStatus.DONE.value
            row.outcome = (Outcome.MET if rng.random() < 0.6 else Outcome.CONTACTED).value
            row.done_on = (
                due if late <= 2 or draw >= 0.38 else due + _days(_rand(rng, 1, min(10, late)))
            )
        elif draw < 0.07 and late <= 45:
            return  # overdue
        else:
            row.status, row.outcome = FollowUpStatus.MISSED.value, Outcome.NOT_REACHED.value
            row.done_on = due + _days(_rand(rng, 0, min(7, late)))

    def answer_job(self, row: _FollowUp, job: _Job) -> None:
        answer = job.answers.get(row.seq)
        if answer is not None:
            row.status, row.outcome, row.done_on = (
                answer.status.value,
                answer.outcome.value,
                answer.done_on,
            )

    def answer_loan(self, row: _FollowUp, loan: _Loan, on: date) -> None:
        """Decided before the check was done: the decision answers it (``_settle_loans``)."""
        rng, due = self.rng, row.due_on
        if loan.decided_on is not None and loan.decided_on <= due + _days(3):
            row.status, row.outcome = FollowUpStatus.DONE.value, Outcome.LOAN_DECIDED.value
            row.done_on, row.done_by_id = loan.decided_on, loan.recorded_by_id
            return
        if due > on:
            return
        late = (on - due).days
        draw = rng.random()
        if loan.decided_on is None and late > 2 and draw < 0.15 and late <= 45:
            return  # overdue
        if late > 2 and draw < 0.25:
            row.status, row.outcome = FollowUpStatus.MISSED.value, Outcome.NOT_REACHED.value
        else:
            row.status, row.outcome = FollowUpStatus.DONE.value, Outcome.LOAN_IN_PROGRESS.value
        row.done_on = due + _days(_rand(rng, 0, min(3, late)))

    def next_due(self, s: _Story, steps: CaseSteps) -> date | None:
        """What ``workflow.services.refresh_next_due`` stores: the earliest due date among the
        next steps (``next_steps``) and the pending follow-ups."""
        if s.status != Status.OPEN:
            return None
        due = [f.due_on for f in s.follow_ups if f.status == FollowUpStatus.PENDING]
        main = _main_step_due(steps)
        if main is not None:
            due.append(main)
        # _support_steps: the current jobs' next confirmation.
        if steps.active_episode is None and steps.standing_certification is None:
            after_rehab = bool(steps.post_rehab) or s.category == Category.POST_PRISON
            if after_rehab or steps.has_support:
                due += [job_check_due(j) for j in steps.jobs if j.is_current]
        return min(due, default=None)


def _main_step_due(steps: CaseSteps) -> date | None:
    """The due date of the main next step: the ``if``/``elif`` chain of ``next_steps``."""
    episode = steps.active_episode
    determination = steps.latest_determination
    last_period = steps.post_rehab[-1] if steps.post_rehab else None
    if not steps.screenings and determination is None:
        return None
    if episode is not None:
        return episode.planned_end_on
    if any(e.outcome == RehabOutcome.COMPLETED and not e.approved_at for e in steps.episodes):
        return None
    if steps.completed_episode_awaiting_post_rehab() is not None:
        return None
    if steps.active_post_rehab is not None:
        return steps.active_post_rehab.planned_end_on
    if last_period is not None and last_period.ended_on and not last_period.approved_at:
        return None
    if _management_completed(steps):
        return None
    if determination is not None and determination.is_addicted:
        return determination.register_by
    return None


# --- Writing the rows -------------------------------------------------------------------------


# The work is split in batches, each composed from a seed of its own (the run's seed and the
# batch's number) into finished column values: a batch is the same whichever process composes
# it, so a seed gives the same data with or without the pool. Worker processes (forked, sharing
# the rule sets, staff and keys read here) write the histories, seal the identities and convert
# the values; the caller's process alone talks to the database: it allots the ids, fills in the
# references and inserts everything in its one transaction (the caller commits or rolls back).

BATCH_SIZE = 1000
POOL_FROM = 3  # batches: fewer are composed in-process (starting workers would cost more)
# The demo worker's commune gets a quarter of a small demo, so its pages are full; of a large
# one about FOCUS_MAX files (a busy commune's caseload), not a quarter of the country.
FOCUS_SHARE = 0.25
FOCUS_MAX = 600


def _table(model: type[Model]) -> sa.Table:
    return cast(sa.Table, model.__table__)


@dataclass(frozen=True)
class _Plan:
    """What every batch is composed from, read once in the caller's process."""

    seed: int
    count: int
    batch_size: int
    today: date
    now: datetime
    communes: list[int]
    focus_commune: int | None
    actor_id: int | None
    steps: bool
    book: _RuleBook
    staff: _Staff
    sealer: _Sealer
    dialect: sa.Dialect

    def size(self, index: int) -> int:
        return min(self.batch_size, self.count - index * self.batch_size)


@dataclass
class _Rows:
    """One table's rows of a batch, column by column, with the columns' bind processing done.
    Columns in ``refs`` hold positions within the batch (-1 for none) among the rows of the
    tables named, to be replaced by their ids; ``keyed`` tables have their ids allotted first
    (later rows refer to them)."""

    table: str
    columns: list[str]
    values: list[list[Any]]
    refs: dict[int, tuple[str, ...]] = field(default_factory=dict)
    keyed: bool = False
    counted: bool = True
    # Timeline details naming a record: (row, key, table, position, details without the key).
    patches: list[tuple[int, str, str, int, dict[str, object]]] = field(default_factory=list)


@dataclass
class _Batch:
    size: int
    tables: list[_Rows]


def _sqlite_utc(value: datetime) -> str:
    if value.tzinfo is UTC:  # as the generator makes them: its text without "+00:00"
        return value.isoformat(" ", "microseconds")[:26]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _processor(column: sa.Column[Any], dialect: sa.Dialect) -> Any:
    """The column's bind processing, or an equivalent shortcut proven equal on samples: SQLite's
    date and UTC datetime processors build a dict per value."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        # The default serializer (the engine is given none): text, which COPY takes as well.
        return _json_text
    process = kind._cached_bind_processor(dialect)
    if process is None or dialect.name != "sqlite":
        return process
    samples: list[Any]
    if isinstance(kind, UTCDateTime):
        fast: Any = _sqlite_utc
        samples = [
            datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
            datetime(2024, 5, 6, 7, 8, tzinfo=UTC),
            datetime(2025, 12, 31, 23, 0, tzinfo=VIETNAM),
        ]
    elif type(kind) is sa.Date:
        fast, samples = date.isoformat, [date(2024, 1, 2), date(2031, 12, 31)]
    else:
        return process
    return fast if all(fast(v) == process(v) for v in samples) else process


def _json_text(value: object) -> str:
    return json.dumps(value)


class _Columns:
    """Column values of one table, processed for the dialect."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.dialect = dialect
        self.processors: dict[tuple[str, str], Any] = {}

    def rows(
        self,
        model: type[Model],
        values: dict[str, list[Any]],
        *,
        refs: dict[str, tuple[str, ...]] | None = None,
        keyed: bool = False,
        counted: bool = True,
        ready: tuple[str, ...] = (),
    ) -> _Rows:
        table = _table(model)
        names = list(values)
        processed = []
        for name, column in values.items():
            process = None if name in ready else self.processor(table, name)
            if process is _json_text:
                column = [None if v is None else process(v) for v in column]
            elif process is not None:  # dates and times: each distinct one converted once
                done = {v: None if v is None else process(v) for v in set(column)}
                column = list(map(done.__getitem__, column))
            processed.append(column)
        return _Rows(
            table.name,
            names,
            processed,
            {names.index(name): targets for name, targets in (refs or {}).items()},
            keyed,
            counted,
        )

    def processor(self, table: sa.Table, name: str) -> Any:
        key = (table.name, name)
        if key not in self.processors:
            self.processors[key] = _processor(table.c[name], self.dialect)
        return self.processors[key]


_PLAN: _Plan | None = None  # the plan the forked workers inherit


def _compose(index: int) -> _Batch:
    """Batch ``index`` of the plan: its histories written, identities sealed and every value
    ready for the driver. Touches no database."""
    plan = _PLAN
    if plan is None:
        raise RuntimeError("no synthetic plan in this process")
    rng = random.Random(f"caseapp synthetic {plan.seed} {index}")
    author = _Author(
        rng, plan.today, plan.book, plan.staff, plan.actor_id, sealer=plan.sealer, now=plan.now
    )
    stories = []
    communes, focus = plan.communes, plan.focus_commune
    share = min(FOCUS_SHARE, FOCUS_MAX / max(plan.count, 1))
    for _ in range(plan.size(index)):
        commune = focus if focus is not None and rng.random() < share else _pick(rng, communes)
        stories.append(author.write(synthetic_case(rng, commune, plan.today), steps=plan.steps))
    return _Batch(len(stories), _columns(stories, plan))


def _each(stories: list[_Story], name: str) -> tuple[list[int], list[Any]]:
    """The records of kind ``name`` in the batch, numbered by their position, with the position
    of their case."""
    cases, records = [], []
    for position, s in enumerate(stories):
        found = getattr(s, name)
        cases += [position] * len(found)
        records += found
    for position, record in enumerate(records):
        record.id = position  # the within-case keys served their purpose: positions from now
    return cases, records


def _columns(stories: list[_Story], plan: _Plan) -> list[_Rows]:
    """Every row of a batch of histories, parents before children."""
    out = _Columns(plan.dialect)
    tables = []
    datas = [s.data for s in stories]
    identities = [plan.sealer.identity(s.data, s.uuid) for s in stories]
    case_values: dict[str, list[Any]] = {
        "uuid": [s.uuid for s in stories],
        # Drawn here, made unique among the stored ones by the caller.
        "code": [codes.new_code() for _ in stories],
        "commune_code": [d.commune_code for d in datas],
        "assigned_worker_id": [s.assigned_worker_id for s in stories],
        "category": [s.category for s in stories],
        "declared_category": [d.category.value for d in datas],
        "phase": [s.phase for s in stories],
        "status": [s.status for s in stories],
        "close_reason": [s.close_reason for s in stories],
        "sex": [d.sex.value for d in datas],
        "birth_year": [d.date_of_birth.year for d in datas],
        "intake_on": [d.intake_on for d in datas],
        "education": [d.education.value if d.education else None for d in datas],
        "occupation": [d.occupation.value if d.occupation else None for d in datas],
        "created_at": [s.events[0].at for s in stories],
        "updated_at": [max(s.events[-1].at, s.events[0].at) for s in stories],
        "closed_at": [s.closed_at for s in stories],
        "next_due_on": [s.next_due_on for s in stories],
        "version": [len(s.events) for s in stories],
    }
    for position, name in enumerate(IDENTITY_COLUMNS):
        case_values[name] = [identity[position] for identity in identities]
    tables.append(out.rows(Case, case_values, keyed=True))
    drug_cases, drugs = [], []
    for position, d in enumerate(datas):
        kinds = sorted(set(d.drug_types))
        drug_cases += [position] * len(kinds)
        drugs += [k.value for k in kinds]
    tables.append(
        out.rows(
            CaseDrugType,
            {"case_id": drug_cases, "drug_type": drugs},
            refs={"case_id": ("cases",)},
            counted=False,
        )
    )
    snapshots: dict[int, str] = {}

    def steps(
        model: type[Model],
        name: str,
        columns: dict[str, Any],
        *,
        refs: dict[str, tuple[str, ...]] | None = None,
        keyed: bool = False,
    ) -> list[Any]:
        cases, records = _each(stories, name)
        rules = [r.rule for r in records]
        for rule in rules:
            if rule.id not in snapshots:
                snapshots[rule.id] = _json_text(rule.params)
        values: dict[str, list[Any]] = {
            "case_id": cases,
            "rule_set_id": [rule.id for rule in rules],
            "rules_snapshot": [snapshots[rule.id] for rule in rules],
            "recorded_by_id": [r.recorded_by_id for r in records],
            "recorded_at": [r.recorded_at for r in records],
        }
        for column, get in columns.items():
            values[column] = [get(r) for r in records]
        tables.append(
            out.rows(
                model,
                values,
                refs={"case_id": ("cases",), **(refs or {})},
                keyed=keyed,
                ready=("rules_snapshot",),
            )
        )
        return records

    def attr(name: str) -> Any:
        return operator.attrgetter(name)

    steps(Screening, "screenings", {
        name: attr(name) for name in ("screened_on", "source", "method", "result")
    })  # fmt: skip
    steps(AddictionDetermination, "determinations", {
        name: attr(name)
        for name in ("determined_on", "facility", "is_addicted", "form_reference", "register_by")
    })  # fmt: skip
    steps(CounsellingSession, "counselling", {
        name: attr(name) for name in ("held_on", "kind", "topic", "counsellor")
    })  # fmt: skip
    steps(RehabEpisode, "episodes", {
        name: attr(name)
        for name in (
            "form", "started_on", "months", "planned_end_on", "court_decision_number",
            "court_decision_on", "representative_consent", "stage", "ended_on", "outcome",
            "certificate_number", "ended_by_id", "approved_by_id", "approved_at",
        )
    }, keyed=True)  # fmt: skip
    steps(PostRehabPeriod, "post_rehab", {
        "episode_id": attr("episode.id"),
        **{
            name: attr(name)
            for name in (
                "started_on", "planned_end_on", "ended_on", "certificate_number", "ended_by_id",
                "approved_by_id", "approved_at",
            )
        },
    }, refs={"episode_id": ("rehab_episodes",)}, keyed=True)  # fmt: skip
    steps(Schooling, "schoolings", {
        name: attr(name) for name in ("level", "started_on", "ended_on", "result")
    })  # fmt: skip
    steps(VocationalTraining, "trainings", {
        name: attr(name)
        for name in (
            "course_name", "provider", "started_on", "ended_on", "result", "certificate_number"
        )
    })  # fmt: skip
    steps(Consent, "consents", {
        **{name: attr(name) for name in ("purpose", "given_on", "with_representative")},
        "withdrawn_on": lambda x: None,
    }, keyed=True)  # fmt: skip
    jobs = steps(JobPlacement, "jobs", {
        **{
            name: attr(name)
            for name in (
                "uuid", "sector", "employer_kind", "started_on", "ended_on", "contract_type",
                "income_band", "employer_contacted",
            )
        },
        "consent_id": lambda x: x.consent.id if x.consent else -1,
        "employer_name_ct": attr("employer_name_ct"),
    }, refs={"consent_id": ("consents",)}, keyed=True)  # fmt: skip
    for s in stories:  # job checks are kept on their jobs
        s.job_checks = [c for job in s.jobs for c in job.checks]  # type: ignore[attr-defined]
    steps(JobCheck, "job_checks", {
        "job_id": attr("job.id"), "checked_on": attr("checked_on"),
        "still_employed": attr("still_employed"),
    }, refs={"job_id": ("job_placements",)})  # fmt: skip
    loans = steps(LoanReferral, "loans", {
        **{
            name: attr(name)
            for name in (
                "programme", "referred_on", "on_police_list", "status", "amount_requested_vnd",
                "applied_on", "decided_on", "amount_approved_vnd", "disbursed_on",
                "amount_disbursed_vnd",
            )
        },
        "consent_id": attr("consent.id"),
    }, refs={"consent_id": ("consents",)}, keyed=True)  # fmt: skip
    relapses = steps(RelapseEvent, "relapses", {
        "relapsed_on": attr("relapsed_on"), "during_post_rehab": attr("during_post_rehab"),
    }, keyed=True)  # fmt: skip
    tables.append(
        out.rows(
            RelapseSubstance,
            {
                "relapse_id": [r.id for r in relapses for _ in r.substances],
                "drug_type": [d for r in relapses for d in r.substances],
            },
            refs={"relapse_id": ("relapse_events",)},
            counted=False,
        )
    )
    steps(ReintegrationCertification, "certifications", {
        name: attr(name) for name in ("certified_on", "certified_by_id", "months_confirmed")
    } | {"job_id": attr("job.id")}, refs={"job_id": ("job_placements",)})  # fmt: skip
    tables.append(_follow_up_rows(stories, out, plan.now, jobs, loans))
    tables.append(_event_rows(stories, out))
    return tables


# A follow-up's source is one of these records: its source_id is a position among all of them.
OWNERS = ("rehab_episodes", "post_rehab_periods", "job_placements", "loan_referrals")


def _follow_up_rows(
    stories: list[_Story], out: _Columns, stamp: datetime, jobs: list[Any], loans: list[Any]
) -> _Rows:
    episodes = sum(len(s.episodes) for s in stories)
    periods = sum(len(s.post_rehab) for s in stories)
    offset = {
        _Episode: 0,
        _Period: episodes,
        _Job: episodes + periods,
        _Loan: episodes + periods + len(jobs),
    }
    rows: list[tuple[Any, ...]] = []
    for position, s in enumerate(stories):
        for f in s.follow_ups:
            owner = f.owner
            done_at = (
                min(datetime.combine(f.done_on, owner.recorded_at.timetz()).astimezone(UTC), stamp)
                if f.done_on
                else None
            )
            rows.append((
                str(uuid.uuid4()), position, f.kind, f.source, offset[type(owner)] + owner.id,
                f.seq, f.due_on, f.due_on, f.status, f.outcome, f.done_on,
                f.done_on is not None and f.done_on > f.due_on, f.done_by_id, done_at,
                f.cancel_reason, 0, owner.rule.id, owner.recorded_by_id, owner.recorded_at,
                done_at or owner.recorded_at,
            ))  # fmt: skip
    names = (
        "uuid", "case_id", "kind", "source", "source_id", "seq", "due_on", "planned_on", "status",
        "outcome", "done_on", "is_late", "done_by_id", "done_at", "cancel_reason",
        "reschedule_count", "rule_set_id", "created_by_id", "created_at", "updated_at",
    )  # fmt: skip
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in names]
    return out.rows(
        FollowUp,
        dict(zip(names, columns, strict=True)),
        refs={"case_id": ("cases",), "source_id": OWNERS},
    )


def _event_rows(stories: list[_Story], out: _Columns) -> _Rows:
    tables = {"job": "job_placements", "loan": "loan_referrals"}
    cases: list[int] = []
    at: list[datetime] = []
    actors: list[int | None] = []
    kinds: list[str] = []
    versions: list[int] = []
    details: list[dict[str, object]] = []
    patches: list[tuple[int, str, str, int, dict[str, object]]] = []
    for position, s in enumerate(stories):
        for version, e in enumerate(s.events, 1):
            if e.ref is not None:  # the record's id is added by the caller, once known
                key, record = e.ref
                patches.append((len(details), key, tables[key], record.id, dict(e.details)))
            cases.append(position)
            at.append(e.at)
            actors.append(e.actor_id)
            kinds.append(e.kind)
            versions.append(version)
            details.append(e.details)
    rows = out.rows(
        CaseEvent,
        {
            "case_id": cases,
            "occurred_at": at,
            "actor_id": actors,
            "kind": kinds,
            "version": versions,
            "details": details,
        },
        refs={"case_id": ("cases",)},
    )
    rows.patches = patches
    return rows


def _allot(table: str, n: int) -> list[int]:
    """``n`` fresh ids of ``table``: from its sequence on PostgreSQL, after the highest id on
    SQLite (the transaction holds the write lock, so nobody else takes them)."""
    if db.session.get_bind().dialect.name == "postgresql":
        allot = f"SELECT nextval('{table}_id_seq') FROM generate_series(1, :n)"  # noqa: S608
        return list(db.session.scalars(sa.text(allot), {"n": n}))
    highest = db.session.scalar(sa.text(f"SELECT coalesce(max(id), 0) FROM {table}"))  # noqa: S608
    first = int(highest or 0) + 1
    return list(range(first, first + n))


def _execute(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Write ``rows`` through the driver: COPY on PostgreSQL, executemany on SQLite."""
    connection = db.session.connection()
    raw: Any = connection.connection.dbapi_connection
    names = ", ".join(columns)  # our own table and column names: nothing from outside
    cursor = raw.cursor()
    try:
        if connection.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
    finally:
        cursor.close()


def _put(batch: _Batch, taken: set[str], counts: Counter[str]) -> None:
    """Insert a composed batch in the current transaction, parents before children."""
    ids: dict[str, list[int]] = {}
    for rows in batch.tables:
        values, n = rows.values, len(rows.values[0])
        if not n:
            continue
        for position, targets in rows.refs.items():
            found: list[int | None] = [i for name in targets for i in ids.get(name, [])]
            found.append(None)  # position -1: no record
            values[position] = list(map(found.__getitem__, values[position]))
        if rows.table == "cases":
            position = rows.columns.index("code")
            values[position] = [_unique(code, taken) for code in values[position]]
        if rows.patches:
            details = values[rows.columns.index("details")]
            for row, key, target, position, found_details in rows.patches:
                found_details[key] = ids[target][position]
                details[row] = _json_text(found_details)
        columns = rows.columns
        if rows.keyed:
            ids[rows.table] = _allot(rows.table, n)
            values = [*values, ids[rows.table]]
            columns = [*columns, "id"]
        _execute(rows.table, columns, list(zip(*values, strict=True)))
        if rows.counted:
            counts[rows.table] += n


def _unique(code: str, taken: set[str]) -> str:
    while code in taken:  # codes are random: make sure of uniqueness
        code = codes.new_code()
    taken.add(code)
    return code


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _start_worker() -> None:
    # What the parent held stays as it is (no collection walks it, no page gets copied); each
    # batch's own garbage (jobs and their checks refer to each other) is collected after it.
    gc.freeze()


def _compose_in_worker(index: int) -> _Batch:
    batch = _compose(index)
    gc.collect()
    return batch


def _compose_all(plan: _Plan, put: Any, *, processes: int | None) -> None:
    """Compose the plan's batches, in a pool of forked workers when there are enough of them
    and more than one processor, and hand them to ``put`` in order."""
    global _PLAN
    batches = range(-(-plan.count // plan.batch_size))
    processes = _workers() if processes is None else processes
    pooled = (
        processes > 1
        and len(batches) >= POOL_FROM
        and "fork" in multiprocessing.get_all_start_methods()
    )
    _PLAN = plan
    try:
        if not pooled:
            for index in batches:
                put(_compose(index))
            return
        context = multiprocessing.get_context("fork")
        with context.Pool(processes, initializer=_start_worker) as pool:
            pending: deque[Any] = deque()
            waiting = iter(batches)
            for index in itertools.islice(waiting, 2 * processes):
                pending.append(pool.apply_async(_compose_in_worker, (index,)))
            while pending:
                batch = pending.popleft().get()
                following = next(waiting, None)
                if following is not None:
                    pending.append(pool.apply_async(_compose_in_worker, (following,)))
                put(batch)
    finally:
        _PLAN = None


def create_synthetic_cases(
    count: int,
    *,
    seed: int,
    communes: list[int],
    focus_commune: int | None,
    actor_id: int | None,
    today: date,
    batch_size: int = BATCH_SIZE,
    steps: bool = False,
    counts: Counter[str] | None = None,
    processes: int | None = None,
) -> int:
    """Insert ``count`` synthetic cases in batches (encryption still per value); a quarter of them
    in ``focus_commune`` when given, but about ``FOCUS_MAX`` at most. With ``steps``, each gets
    a history up to ``today`` (pass the communes' today, ``dates.local_day()``, for next due
    dates that agree with the workflow's) and is assigned to a worker of its commune when there
    is one; without, files are opened only (the benchmarks plan their own follow-ups).
    ``counts`` receives the rows written per table. The batches are composed by forked worker
    processes (``processes``, by default one per processor; 1 composes in this process) and
    written here; the same seed gives the same data either way. Executes per batch; the caller
    commits."""
    counts = counts if counts is not None else Counter()
    if count <= 0:
        return 0
    cipher = current_cipher()
    cipher.blind_index("cases.national_id", "")  # its keys derived once, before any fork
    cipher.blind_index("cases.name_dob", "")
    plan = _Plan(
        seed=seed,
        count=count,
        batch_size=batch_size,
        today=today,
        now=datetime.now(UTC),
        communes=communes,
        focus_commune=focus_commune,
        actor_id=actor_id,
        steps=steps,
        book=_RuleBook(),
        staff=_Staff.load() if steps else _Staff({}, {}, []),
        sealer=_Sealer(cipher, cipher.keys.primary()),
        dialect=db.session.get_bind().dialect,
    )
    taken = set(db.session.scalars(sa.select(Case.code)))
    # A batch is many small objects that all live until it is written: the cyclic collector
    # would scan them again and again (it doubled the time).
    collecting = gc.isenabled()
    gc.disable()
    sqlite = plan.dialect.name == "sqlite"
    if sqlite:
        # The whole run is one transaction: with SQLite's default 2 MB page cache its indexes
        # spill to the WAL and are read back again and again. Put back afterwards.
        cache_size: int = db.session.execute(sa.text("PRAGMA cache_size")).scalar_one()
        db.session.execute(sa.text("PRAGMA cache_size = -262144"))  # 256 MB
    try:
        _compose_all(plan, lambda batch: _put(batch, taken, counts), processes=processes)
        if sqlite:  # (after a failure the caller rolls back: the session takes no statement)
            db.session.execute(sa.text(f"PRAGMA cache_size = {int(cache_size)}"))
    finally:
        if collecting:
            gc.enable()
    return count
