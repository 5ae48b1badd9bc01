"""``python -m bench.sweep``: time the daily follow-up sweep over a million follow-ups.

Measures ``caseapp.followups.reminders.sweep(now)`` (mark overdue follow-ups, remind the workers,
escalate to the officers), each run inside an app context and timed with its commit:

1. the first sweep of the day on a cold dataset (every reminder is new);
2. a second sweep the same day (idempotent: it must create no reminder and mark nothing);
3. the sweep of the next day.

The dataset is built first, and its building is timed: a fresh database at head with the
province's communes, a worker for every commune (two in every tenth), three province officers and
one former-district officer, ``--cases`` synthetic case files (``caseapp.synthetic``; 70 % assigned
to their commune's worker, 5 % closed) and ``--follow-ups`` follow-up rows bulk-inserted in
batches: due dates from 120 days ago to 240 days ahead, planned rows (source, plan id, sequence)
and manual ones, past rows mostly done, missed or cancelled, future rows mostly pending. The
generator also counts, independently of the sweep, the reminders each run should create; a
difference is printed as a ``FAIL`` line and the exit status is 1.

The database is a fresh SQLite file, or with ``CASEAPP_BENCH_DATABASE_URL`` (a PostgreSQL URL) a
throw-away database created on that server and dropped (``WITH (FORCE)``) at the end. Lines are
printed as ``BENCH <name> p50_ms=<x> p95_ms=<y> n=1`` with the sweep's counts, and appended with
the date, database kind and dataset size to the "Follow-up sweep" section of
``bench/RESULTS.md`` (``--no-record`` skips that). ``--explain`` prints the query plan of every
statement of the first sweep, slowest first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from caseapp import create_app
from caseapp.crypto import generate_keyring, write_private_file
from caseapp.dates import VIETNAM, local_day
from caseapp.extensions import db
from caseapp.followups.models import (
    ChangeReason,
    FollowUp,
    Kind,
    Outcome,
    ReminderDispatch,
    Source,
    Status,
    outcomes_for,
)
from caseapp.geo.models import Commune
from caseapp.users.models import Role, ScopeKind

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Follow-up sweep"
SECTION_INTRO = (
    "Appended by `python -m bench.sweep`: the daily sweep (`caseapp.followups.reminders.sweep`)\n"
    "timed with its commit, first run of the day (cold), a second run the same day (must create\n"
    "nothing) and the next day's run; dataset generation time and the sweep's counts below each.\n"
)
PROVINCE = 33
PAST_DAYS, FUTURE_DAYS = 120, 240  # due dates from PAST_DAYS ago to FUTURE_DAYS ahead
MANUAL_SHARE = 0.10  # follow-ups a worker set by hand (no plan)
ASSIGNED_PERCENT, CLOSED_PERCENT = 70, 5  # of the case files
CHEAP_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}
REMINDER_KEYS = ("due_reminders", "overdue_reminders", "escalation_reminders")
# What a planned follow-up's kind is, by the record it belongs to.
PLAN_KINDS = (
    (Source.REHAB, Kind.REHAB_CONTACT),
    (Source.REHAB, Kind.METHADONE_CONTACT),
    (Source.POST_REHAB, Kind.POST_REHAB_CONTACT),
    (Source.JOB, Kind.JOB_CHECK),
    (Source.LOAN, Kind.LOAN_OUTCOME),
)
USER_REASONS = (
    ChangeReason.YOUTH_UNAVAILABLE,
    ChangeReason.YOUTH_AWAY,
    ChangeReason.HEALTH,
    ChangeReason.PLAN_ENDED,
    ChangeReason.PLAN_CHANGED,
    ChangeReason.NOT_NEEDED,
)


# --- the database ---------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(tmp: Path) -> Iterator[tuple[str, str]]:
    """Yields (SQLAlchemy URL, kind): a fresh SQLite file in ``tmp``, or a throw-away PostgreSQL
    database on the server of ``CASEAPP_BENCH_DATABASE_URL``, dropped on the way out."""
    server_url = os.environ.get("CASEAPP_BENCH_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp / 'sweep.db'}", "sqlite"
        return
    name = f"caseapp_bench_sweep_{secrets.token_hex(4)}"
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(server_url).set(database=name)
        yield url.render_as_string(hide_password=False), url.get_backend_name()
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


# --- people and case files ------------------------------------------------------------------


@dataclass
class Population:
    """Who should receive what, per case: the sweep's expected audience, worked out here."""

    case_ids: list[int] = field(default_factory=list)
    is_open: list[bool] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)  # workers reminded per follow-up
    officers: list[int] = field(default_factory=list)  # officers an escalation reaches
    doer: list[int] = field(default_factory=list)  # the worker who records the outcome


def create_people(app: Flask) -> Counter[str]:
    """A worker per commune (a second one in every tenth), three province officers and an
    officer over one former district; accounts as the admin screens create them."""
    from caseapp.users.services import UserInput, create_user

    settings = app.extensions["caseapp.settings"]
    password = secrets.token_urlsafe(16)
    communes = db.session.execute(
        sa.select(Commune.code, Commune.former_district_code).order_by(Commune.code)
    ).all()
    district = next(d for _, d in communes if d is not None)
    accounts: list[tuple[str, Role, ScopeKind, list[int], int | None]] = []
    for index, (code, _) in enumerate(communes):
        accounts.append((f"bench.xa.{code}", Role.WORKER, ScopeKind.COMMUNES, [code], None))
        if index % 10 == 0:
            accounts.append((f"bench.xa.{code}.b", Role.WORKER, ScopeKind.COMMUNES, [code], None))
    accounts += [
        (f"bench.phutrach.{n}", Role.OFFICER, ScopeKind.PROVINCE, [], None) for n in (1, 2, 3)
    ]
    accounts.append(("bench.phutrach.huyen", Role.OFFICER, ScopeKind.FORMER_DISTRICT, [], district))
    made: Counter[str] = Counter()
    for username, role, scope, codes, district_code in accounts:
        user, _ = create_user(
            settings,
            UserInput(username, username, role, scope, codes, former_district_code=district_code),
            actor=None,
            password=password,
        )
        user.must_change_password = False
        made[role.value] += 1
    db.session.commit()
    return made


def create_cases(count: int, seed: int, today: date) -> None:
    """Synthetic case files, then 70 % assigned to their commune's first worker and 5 % closed
    (as closing does: status, reason, time, no next due date)."""
    from caseapp.cases.models import Case, CloseReason
    from caseapp.cases.models import Status as CaseStatus
    from caseapp.synthetic import create_synthetic_cases
    from caseapp.users.models import User, user_communes

    communes = list(db.session.scalars(sa.select(Commune.code).order_by(Commune.code)))
    create_synthetic_cases(
        count, seed=seed, communes=communes, focus_commune=None, actor_id=None, today=today
    )
    db.session.commit()
    first_worker = (
        sa.select(sa.func.min(user_communes.c.user_id))
        .join(User, User.id == user_communes.c.user_id)
        .where(user_communes.c.commune_code == Case.commune_code, User.role == Role.WORKER)
        .scalar_subquery()
    )
    db.session.execute(
        sa.update(Case)
        .where(Case.id % 100 < ASSIGNED_PERCENT)
        .values(assigned_worker_id=first_worker)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(Case)
        .where(Case.id % 100 >= 100 - CLOSED_PERCENT)
        .values(
            status=CaseStatus.CLOSED.value,
            close_reason=CloseReason.REINTEGRATED.value,
            closed_at=datetime.now(UTC),
            next_due_on=None,
            version=Case.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def population() -> Population:
    """Each case's reminder audience, computed from the accounts (not by the sweep's query)."""
    from caseapp.cases.models import Case
    from caseapp.cases.models import Status as CaseStatus
    from caseapp.users.models import User, user_communes

    workers: dict[int, list[int]] = {}
    for user_id, code in db.session.execute(
        sa.select(User.id, user_communes.c.commune_code)
        .join(user_communes, user_communes.c.user_id == User.id)
        .where(User.role == Role.WORKER, User.is_enabled.is_(True))
        .order_by(User.id)
    ):
        workers.setdefault(cast(int, code), []).append(user_id)
    districts = dict(
        db.session.execute(sa.select(Commune.code, Commune.former_district_code)).all()
    )
    officers = db.session.execute(
        sa.select(User.scope_kind, User.former_district_code).where(
            User.role == Role.OFFICER, User.is_enabled.is_(True)
        )
    ).all()
    result = Population()
    for case_id, code, status, assigned in db.session.execute(
        sa.select(Case.id, Case.commune_code, Case.status, Case.assigned_worker_id).order_by(
            Case.id
        )
    ):
        local = workers.get(code, [])
        result.case_ids.append(case_id)
        result.is_open.append(status == CaseStatus.OPEN)
        result.recipients.append(
            len(local) if assigned is None else int(assigned in local)
        )  # an assigned file reminds its worker only (when it works in that commune)
        result.officers.append(
            sum(
                scope == ScopeKind.PROVINCE
                or (scope == ScopeKind.FORMER_DISTRICT and district == districts[code])
                for scope, district in officers
            )
        )
        result.doer.append(assigned or (local[0] if local else 0))
    return result


# --- follow-ups -----------------------------------------------------------------------------


@dataclass
class Expected:
    """Pending follow-ups by due-date offset from today: rows (any case), worker reminders and
    officer reminders (open cases). Enough to say what each sweep must do."""

    rows: Counter[int] = field(default_factory=Counter)
    workers: Counter[int] = field(default_factory=Counter)
    officers: Counter[int] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    def first(self, escalate_days: int) -> dict[str, int]:
        """The first sweep of day 0 on a cold dataset."""
        return {
            "marked_overdue": sum(n for o, n in self.rows.items() if o < 0),
            "due_reminders": self.workers[0],
            "overdue_reminders": sum(n for o, n in self.workers.items() if o < 0),
            "escalated": sum(n for o, n in self.rows.items() if o <= -escalate_days),
            "escalation_reminders": sum(n for o, n in self.officers.items() if o <= -escalate_days),
        }

    def next_day(self, escalate_before: int, escalate_days: int) -> dict[str, int]:
        """The sweep of day 1, after day 0's (escalation thresholds of both days)."""
        newly = range(1 - escalate_before, 2 - escalate_days)  # offsets escalated on day 1 only
        return {
            "marked_overdue": self.rows[0],
            "due_reminders": self.workers[1],
            "overdue_reminders": self.workers[0],
            "escalated": sum(self.rows[o] for o in newly),
            "escalation_reminders": sum(self.officers[o] for o in newly),
        }


def follow_up_rows(
    people: Population, total: int, today: date, rule_set_id: int | None, seed: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``total`` follow-up rows spread evenly over the cases, each with its case's index: per case
    one plan (source, plan id, sequence 1…n in date order) and about 10 % manual rows."""
    rng = random.Random(seed)
    stamp = datetime.now(UTC)
    per_case, extra = divmod(total, len(people.case_ids))
    plan_ids: Counter[str] = Counter()
    for index in range(len(people.case_ids)):
        count = per_case + (index < extra)
        manual = sum(rng.random() < MANUAL_SHARE for _ in range(count))
        source, kind = rng.choice(PLAN_KINDS)
        plan_ids[source] += 1
        planned = sorted(rng.randint(-PAST_DAYS, FUTURE_DAYS) for _ in range(count - manual))
        for seq, offset in enumerate(planned, start=1):
            yield index, follow_up_row(
                rng, people, index, offset, today, stamp,
                kind=kind.value, source=source.value, source_id=plan_ids[source], seq=seq,
                rule_set_id=rule_set_id, created_by_id=None,
            )  # fmt: skip
        for _ in range(manual):
            yield index, follow_up_row(
                rng, people, index, rng.randint(-PAST_DAYS, FUTURE_DAYS), today, stamp,
                kind=Kind.MANUAL.value, source=None, source_id=None, seq=None,
                rule_set_id=None, created_by_id=people.doer[index] or None,
            )  # fmt: skip


def follow_up_row(
    rng: random.Random,
    people: Population,
    index: int,
    offset: int,
    today: date,
    stamp: datetime,
    **plan: Any,
) -> dict[str, Any]:
    """One row due ``offset`` days from today, with a status that fits its date and case."""
    due = today + timedelta(days=offset)
    draw = rng.random()
    if offset < 0:
        status = (
            Status.DONE if draw < 0.65
            else Status.MISSED if draw < 0.73
            else Status.CANCELLED if draw < 0.80
            else Status.PENDING
        )  # fmt: skip
    elif offset == 0:
        status = Status.DONE if draw < 0.15 else Status.PENDING
    else:
        status = Status.CANCELLED if draw < 0.03 else Status.PENDING
    cancel_reason = None
    if status is Status.PENDING and not people.is_open[index]:
        status, cancel_reason = Status.CANCELLED, ChangeReason.CASE_CLOSED.value  # as closing does
    elif status is Status.CANCELLED:
        cancel_reason = rng.choice(USER_REASONS).value
    done_on = outcome = done_at = done_by_id = None
    if status in (Status.DONE, Status.MISSED):
        done_on = min(today, due + timedelta(days=rng.randint(-3, 5)))
        outcome = (
            Outcome.NOT_REACHED.value
            if status is Status.MISSED
            else outcomes_for(Kind(plan["kind"]))[0].value
        )
        done_at = datetime.combine(done_on, clock(9, 30), VIETNAM)
        done_by_id = people.doer[index] or None
    return {
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "case_id": people.case_ids[index],
        "due_on": due,
        "planned_on": due,
        "status": status.value,
        "outcome": outcome,
        "done_on": done_on,
        "is_late": done_on is not None and done_on > due,
        "done_by_id": done_by_id,
        "done_at": done_at,
        "cancel_reason": cancel_reason,
        "overdue_since": None,
        "escalated_on": None,
        "reschedule_count": 0,
        "created_at": stamp,
        "updated_at": stamp,
        "note_ct": None,
        **plan,
    }


def insert_follow_ups(
    people: Population, total: int, today: date, seed: int, batch_size: int
) -> Expected:
    """Bulk-insert the follow-ups (Core executemany of ``batch_size`` rows, a commit per batch);
    returns what the sweeps should find."""
    from caseapp.workflow.services import rule_set_on

    rule_set_id = rule_set_on(today).id
    expected = Expected()
    insert = sa.insert(cast(sa.Table, FollowUp.__table__))
    batch: list[dict[str, Any]] = []
    for index, row in follow_up_rows(people, total, today, rule_set_id, seed):
        expected.statuses[row["status"]] += 1
        if row["status"] == Status.PENDING.value:
            offset = (row["due_on"] - today).days
            expected.rows[offset] += 1
            if people.is_open[index]:
                expected.workers[offset] += people.recipients[index]
                expected.officers[offset] += people.officers[index]
        batch.append(row)
        if len(batch) >= batch_size:
            db.session.execute(insert, batch)
            db.session.commit()
            batch = []
    if batch:
        db.session.execute(insert, batch)
        db.session.commit()
    return expected


# --- the sweeps -----------------------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    parameters: Any
    seconds: float
    rows: int


@contextlib.contextmanager
def statements_of(engine: sa.Engine) -> Iterator[list[Statement]]:
    """Every statement the engine runs inside the block, with its time and row count."""
    seen: list[Statement] = []
    started: list[float] = []

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(
        _conn: Any, cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        seconds = time.perf_counter() - started.pop()
        seen.append(Statement(sql, parameters, seconds, int(getattr(cursor, "rowcount", -1))))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


@dataclass
class Run:
    name: str
    seconds: float
    counts: dict[str, int]
    statements: list[Statement]
    rows: dict[str, int]

    @property
    def line(self) -> str:
        ms = self.seconds * 1000
        return f"BENCH {self.name} p50_ms={ms:.2f} p95_ms={ms:.2f} n=1"


def row_counts() -> dict[str, int]:
    counts = {
        "follow_ups": db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp)) or 0,
        "reminder_dispatches": (
            db.session.scalar(sa.select(sa.func.count()).select_from(ReminderDispatch)) or 0
        ),
    }
    for kind, count in db.session.execute(
        sa.select(ReminderDispatch.kind, sa.func.count())
        .group_by(ReminderDispatch.kind)
        .order_by(ReminderDispatch.kind)
    ):
        counts[f"reminders_{kind}"] = count
    return counts


def run_sweep(app: Flask, name: str, now: datetime) -> Run:
    """One sweep in its own app context, timed with its commit."""
    from caseapp.followups import reminders

    with app.app_context(), statements_of(db.engine) as statements:
        started = time.perf_counter()
        counts = reminders.sweep(now)
        db.session.commit()
        seconds = time.perf_counter() - started
    with app.app_context():
        run = Run(name, seconds, counts, list(statements), row_counts())
    print(run.line, flush=True)
    print(f"    counts {run.counts}", flush=True)
    print(f"    rows {run.rows}", flush=True)
    for statement in sorted(run.statements, key=lambda s: -s.seconds)[:4]:
        print(
            f"    {statement.seconds * 1000:10.1f} ms {statement.rows:>8} rows  "
            f"{' '.join(statement.sql.split())[:90]}",
            flush=True,
        )
    return run


def compare(run: Run, expected: dict[str, int]) -> list[str]:
    """FAIL lines for every count that differs from what the dataset calls for."""
    return [
        f"FAIL {run.name}: {key}={run.counts.get(key)} expected {want}"
        for key, want in expected.items()
        if run.counts.get(key) != want
    ]


def explain(app: Flask, run: Run) -> None:
    """The query plans of a run's statements, slowest first (EXPLAIN / EXPLAIN QUERY PLAN)."""
    with app.app_context():
        connection = db.session.connection()
        prefix = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
        for statement in sorted(run.statements, key=lambda s: -s.seconds):
            if not statement.sql.lstrip().upper().startswith(("INSERT", "UPDATE", "SELECT")):
                continue
            print(f"\n-- {statement.seconds * 1000:.1f} ms, {statement.rows} rows")
            print(" ".join(statement.sql.split()))
            for row in connection.exec_driver_sql(prefix + statement.sql, statement.parameters):
                print("   ", " | ".join(str(value) for value in row))
        db.session.rollback()


# --- results --------------------------------------------------------------------------------


def size(n: int) -> str:
    """1000000 → 1M, 20000 → 20k."""
    for unit, scale in (("M", 1_000_000), ("k", 1000)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def record(heading: str, lines: list[str]) -> None:
    """Add an entry at the end of the "Follow-up sweep" section (created on first use), so the
    page benchmarks appended after it stay out of it."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    entry = f"\n### {heading}\n\n" + "".join(f"    {line}\n" for line in lines)
    existing = text.splitlines(keepends=True)
    if f"{SECTION}\n" not in existing:
        RESULTS.write_text(f"{text.rstrip()}\n\n{SECTION}\n\n{SECTION_INTRO}{entry}", "utf-8")
        return
    start = existing.index(f"{SECTION}\n") + 1
    end = next(
        (i for i in range(start, len(existing)) if existing[i].startswith("## ")), len(existing)
    )
    before, after = "".join(existing[:end]).rstrip(), "".join(existing[end:])
    RESULTS.write_text(before + "\n" + entry + ("\n" + after if after else ""), "utf-8")


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--follow-ups", type=int, default=1_000_000, help="follow-up rows")
    parser.add_argument("--cases", type=int, default=50_000, help="synthetic case files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=10_000, help="rows per executemany")
    parser.add_argument("--explain", action="store_true", help="plans of the first sweep")
    parser.add_argument("--no-record", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()
    if args.cases < 1 or args.follow_ups < 1:
        parser.error("--cases and --follow-ups must be positive")
    # The sweep's day: 06:00 in Vietnam today (the scheduler's hour; never near midnight).
    today = local_day()
    now = datetime.combine(today, clock(6), VIETNAM).astimezone(UTC)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, bench_database(Path(tmp)) as (url, kind):
        instance = Path(tmp)
        write_private_file(instance / "keys.json", generate_keyring().to_json())
        app = create_app(
            {"SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": url, **CHEAP_HASHING},
            instance_path=instance,
        )
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            from caseapp.geo.services import load_communes

            load_communes(PROVINCE)
            db.session.commit()
            users = create_people(app)
            started = time.perf_counter()
            create_cases(args.cases, args.seed, today)
            cases_seconds = time.perf_counter() - started
            people = population()
            started = time.perf_counter()
            expected = insert_follow_ups(people, args.follow_ups, today, args.seed, args.batch_size)
            follow_ups_seconds = time.perf_counter() - started
            if kind == "postgresql":
                db.session.execute(sa.text("ANALYZE"))  # what autovacuum does after a bulk load
                db.session.commit()
            from caseapp.followups.reminders import escalate_after_days

            escalate = [escalate_after_days(today + timedelta(days=d)) for d in (0, 1)]
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(expected.statuses.items()))
        generation = (
            f"generated {args.cases} cases in {cases_seconds:.1f} s "
            f"({sum(people.is_open)} open), {args.follow_ups} follow-ups in "
            f"{follow_ups_seconds:.1f} s ({statuses}); {users['worker']} workers, "
            f"{users['officer']} officers"
        )
        print(generation, flush=True)
        label = size(args.follow_ups)
        first = run_sweep(app, f"sweep_first_{label}", now)
        again = run_sweep(app, f"sweep_again_same_day_{label}", now + timedelta(hours=1))
        next_day = run_sweep(app, f"sweep_next_day_{label}", now + timedelta(days=1))
        failures += compare(first, expected.first(escalate[0]))
        failures += compare(
            again, dict.fromkeys((*REMINDER_KEYS, "marked_overdue", "escalated"), 0)
        )
        failures += compare(next_day, expected.next_day(*escalate))
        if args.explain:
            explain(app, first)
        with app.app_context():
            db.engine.dispose()
    for line in failures:
        print(line, flush=True)
    if not failures:
        print("OK: every count as expected; the second run created nothing", flush=True)
    if not args.no_record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [generation]
        for run in (first, again, next_day):
            lines += [run.line, f"  counts {run.counts}", f"  rows {run.rows}"]
        lines += failures
        record(f"{stamp} · {kind} · {args.follow_ups} follow-ups, {args.cases} cases", lines)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
