"""``make bench``: time the pages of issue 8 through the real app, with signed-in clients, on a
generated dataset (``caseapp.synthetic``: youth with their steps, follow-ups and outcomes).

Prints one line per measure, ``BENCH <name> p50_ms=<x> p95_ms=<y> n=<k>``, with the target and
whether it is met; for the list and detail pages also the time of the same SQL statements replayed
on their own (``raw_sql_ms``) and the ratio. The figures are appended with the date, the database
and the dataset size to ``bench/RESULTS.md``.

The database is a fresh SQLite file, or with ``CASEAPP_BENCH_DATABASE_URL`` (a PostgreSQL server
URL) a throw-away database on that server, dropped at the end. CSRF protection and production
password hashing stay on. Default: 50,000 cases; ``--cases 250000`` for the national target.
"""

from __future__ import annotations

import argparse
import itertools
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from bench.sweep import bench_database, size
from caseapp import create_app
from caseapp.auth import two_factor
from caseapp.crypto import generate_keyring, write_private_file
from caseapp.db import refresh_statistics
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.geo.services import load_communes
from caseapp.users.models import Role, ScopeKind
from caseapp.users.services import UserInput, create_user

RESULTS = Path(__file__).with_name("RESULTS.md")
WORKER_COMMUNE = 12452
TOTP_SECRET = pyotp.random_base32()


@dataclass(frozen=True)
class Figure:
    name: str
    p50: float
    p95: float
    n: int
    target: float | None = None  # p95 target in ms
    raw: float | None = None  # the same SQL replayed on its own, p50 ms
    extra: str = ""

    @property
    def line(self) -> str:
        text = f"BENCH {self.name} p50_ms={self.p50:.2f} p95_ms={self.p95:.2f} n={self.n}"
        if self.raw is not None:
            text += f" raw_sql_ms={self.raw:.2f} ratio={self.p50 / max(self.raw, 0.01):.1f}"
        if self.extra:
            text += f" {self.extra}"
        if self.target is not None:
            verdict = "met" if self.p95 <= self.target else "MISSED"
            text += f" target_p95_ms={self.target:.0f} {verdict}"
        return text


def timings(
    call: Callable[[], object], n: int, *, before: Callable[[], object] | None = None
) -> list[float]:
    """``n`` timed calls after a warm-up; ``before`` runs ahead of each, untimed."""
    if before is not None:
        before()
    call()  # warm-up
    times = []
    for _ in range(n):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def p95(times: list[float]) -> float:
    return times[max(0, int(len(times) * 0.95) - 1)]


def measure(
    name: str,
    call: Callable[[], object],
    n: int,
    *,
    target: float | None = None,
    raw: float | None = None,
    extra: str = "",
    before: Callable[[], object] | None = None,
) -> Figure:
    times = timings(call, n, before=before)
    figure = Figure(name, statistics.median(times), p95(times), n, target, raw, extra)
    print(figure.line, flush=True)
    return figure


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) run on ``engine`` inside the block."""
    statements: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def raw_sql_ms(app: Flask, call: Callable[[], object], n: int) -> float:
    """The median time of replaying on their own, on one connection, the reads (SELECT) one call
    of a page runs: the page's own SQL without the Python around it."""
    with app.app_context():
        engine = db.engine
    with captured(engine) as statements:
        call()
    reads = [s for s in statements if s[0].lstrip().upper().startswith(("SELECT", "WITH"))]
    times = []
    for _ in range(n):
        with engine.connect() as connection:
            cursor = connection.connection.cursor()
            start = time.perf_counter()
            for statement, parameters in reads:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            times.append((time.perf_counter() - start) * 1000)
            cursor.close()
            connection.rollback()
    return statistics.median(times)


def peak_memory(name: str, call: Callable[[], object], *, target_mb: float) -> Figure:
    """One call's time and its peak Python memory (tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    call()
    elapsed = (time.perf_counter() - start) * 1000
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    verdict = "met" if peak / 2**20 <= target_mb else "MISSED"
    figure = Figure(
        name,
        elapsed,
        elapsed,
        1,
        extra=f"peak_mb={peak / 2**20:.1f} target_mb={target_mb:.0f} {verdict}",
    )
    print(figure.line, flush=True)
    return figure


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the first form on a page (CSRF protection stays on in benchmarks)."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found is not None, path
    return found.group(1)


def seed(app: Flask, count: int, seed_value: int, *, national: bool) -> tuple[list[str], float]:
    """The dataset: communes, one account per role, ``count`` youth with their steps."""
    from caseapp.cases.models import Case
    from caseapp.synthetic import create_synthetic_cases

    with app.app_context():
        if national:
            from caseapp.demo import load_national_communes

            load_national_communes()
        communes = list(db.session.scalars(sa.select(Commune.code)))
        started = time.perf_counter()
        create_synthetic_cases(
            count,
            seed=seed_value,
            communes=communes,
            focus_commune=None,  # every commune its natural share (about 480 at 50,000)
            actor_id=None,
            today=date.today(),  # noqa: DTZ011 -- synthetic dates around today
            steps=True,
        )
        db.session.commit()
        elapsed = time.perf_counter() - started
        refresh_statistics(db.engine)  # as autovacuum would soon after a bulk load
        codes = list(
            db.session.scalars(
                sa.select(Case.code).where(Case.commune_code == WORKER_COMMUNE).limit(5000)
            )
        )
    return codes, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="requests per page measure")
    parser.add_argument("--cases", type=int, default=50_000, help="synthetic youth")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--national", action="store_true", help="spread over all 34 provinces")
    parser.add_argument("--no-record", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_database(Path(tmp)) as (url, backend):
        instance = Path(tmp)
        write_private_file(instance / "keys.json", generate_keyring().to_json())
        app = create_app(
            {
                "SECRET_KEY": secrets.token_urlsafe(32),
                "DATABASE_URL": url,
                "LOCAL_HTTP": True,
            },
            instance_path=instance,
        )
        password = secrets.token_urlsafe(16)
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            load_communes(33)
            settings = app.extensions["caseapp.settings"]
            for username, role, scope, communes in (
                ("bench.worker", Role.WORKER, ScopeKind.COMMUNES, [WORKER_COMMUNE]),
                ("bench.officer", Role.OFFICER, ScopeKind.PROVINCE, []),
                ("bench.supervisor", Role.SUPERVISOR, ScopeKind.PROVINCE, []),
            ):
                user, _ = create_user(
                    settings,
                    UserInput(username, username, role, scope, communes),
                    actor=None,
                    password=password,
                )
                user.must_change_password = False
                if role is not Role.WORKER:  # the policy asks them for a second factor
                    db.session.flush()
                    two_factor.enrol_with_secret(user, secret=TOTP_SECRET)
            db.session.commit()
        worker_codes, seconds = seed(app, args.cases, args.seed, national=args.national)
        rate = args.cases / seconds if seconds else 0
        print(f"seeded {args.cases} youth in {seconds:.1f} s ({rate:,.0f} per second)", flush=True)
        figures = run(app, password, worker_codes, args.n)
    if not args.no_record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        scope = "national" if args.national else "province 33"
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(
                f"\n## {stamp} · {backend} · {size(args.cases)} youth ({scope}) · "
                f"generated at {rate:,.0f}/s\n\n"
            )
            handle.writelines(f"    {figure.line}\n" for figure in figures)


def run(app: Flask, password: str, worker_codes: list[str], n: int) -> list[Figure]:
    def signed_in(username: str) -> FlaskClient:
        client = app.test_client()
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, response.status_code
        if response.headers["Location"] == "/login/code":
            token = csrf_token(client, "/login/code")
            code = pyotp.TOTP(TOTP_SECRET).now()
            response = client.post("/login/code", data={"code": code, "csrf_token": token})
            assert response.status_code == 302, response.get_data(as_text=True)
        return client

    worker, officer = signed_in("bench.worker"), signed_in("bench.officer")
    supervisor = signed_in("bench.supervisor")
    codes = itertools.cycle(worker_codes)
    year = str(date.today().year)  # noqa: DTZ011 -- the reporting year the data fills
    export_token = csrf_token(supervisor, "/indicators/export")
    few = max(3, n // 30)

    def case_list() -> object:
        return worker.get(f"/cases?commune={WORKER_COMMUNE}")

    def officer_overdue() -> object:
        return officer.get("/cases?overdue=1")

    def detail() -> object:
        return worker.get(f"/cases/{next(codes)}")

    def todo() -> object:
        return worker.get("/todo")

    def dashboard() -> object:
        return supervisor.get(f"/indicators/?period={year}")

    def dashboard_fresh() -> object:
        return supervisor.post(
            "/indicators/refresh",
            data={"period": year, "commune": "", "csrf_token": export_token},
        )

    def export_csv() -> object:
        return supervisor.post(
            "/indicators/export", data={"period": year, "format": "csv", "csrf_token": export_token}
        ).get_data()

    def forget_figures() -> None:
        """Drop the kept indicator figures: the next download computes its own."""
        from caseapp.indicators.models import IndicatorCache

        with app.app_context():
            db.session.execute(sa.delete(IndicatorCache))
            db.session.commit()

    def workbook() -> object:
        return supervisor.get(f"/indicators/report.xlsx?period={year}").get_data()

    raw_n = max(5, n // 5)
    return [
        measure("case_list_50_commune", case_list, n, target=50,
                raw=raw_sql_ms(app, case_list, raw_n)),
        measure("officer_list_province_overdue", officer_overdue, n, target=100,
                raw=raw_sql_ms(app, officer_overdue, raw_n)),
        measure("case_detail", detail, n, target=50, raw=raw_sql_ms(app, detail, raw_n)),
        measure("todo_page", todo, n, target=50, raw=raw_sql_ms(app, todo, raw_n)),
        measure("dashboard_province_cached", dashboard, n, target=300),
        measure("dashboard_province_recomputed", dashboard_fresh, few),
        # Downloads reuse the figures the dashboard keeps while they are fresh (the dashboard
        # has just computed them); "computed" is the same download with nothing kept.
        measure("report_workbook_year_xlsx", workbook, few, target=10_000),
        measure("report_workbook_year_xlsx_computed", workbook, few, target=10_000,
                before=forget_figures),
        measure("report_word_year_docx", lambda: supervisor.get(
            f"/indicators/report.docx?period={year}").get_data(), few),
        measure("anonymized_export_csv_year", export_csv, few, target=10_000),
        measure("anonymized_export_csv_year_computed", export_csv, few, target=10_000,
                before=forget_figures),
        peak_memory("anonymized_export_csv_year_memory", export_csv, target_mb=300),
        sweep(app),
    ]  # fmt: skip


def sweep(app: Flask) -> Figure:
    """The daily follow-up sweep over the dataset's follow-ups, cold."""
    from caseapp.followups import reminders
    from caseapp.followups.models import FollowUp

    with app.app_context():
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp))
        start = time.perf_counter()
        counts = reminders.sweep(datetime.now(UTC))
        db.session.commit()
        elapsed = (time.perf_counter() - start) * 1000
    figure = Figure(
        "follow_up_sweep", elapsed, elapsed, 1, target=60_000,
        extra=f"follow_ups={rows} marked_overdue={counts['marked_overdue']}",
    )  # fmt: skip
    print(figure.line, flush=True)
    return figure


if __name__ == "__main__":
    main()
