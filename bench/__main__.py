"""``make bench``: time the pages that exist, through the app with a signed-in client.

Prints one line per measure, ``BENCH <name> p50_ms=<x> p95_ms=<y> n=<k>``, and appends them with
the date to ``bench/RESULTS.md``. The database is a fresh SQLite file (or
``CASEAPP_BENCH_DATABASE_URL``). CSRF protection and production password hashing stay on.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from caseapp import create_app
from caseapp.crypto import generate_keyring, write_private_file
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.geo.services import load_communes
from caseapp.users.models import Role, ScopeKind
from caseapp.users.services import UserInput, create_user

RESULTS = Path(__file__).with_name("RESULTS.md")


def measure(name: str, call: Callable[[], object], n: int) -> str:
    call()  # warm-up
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    line = f"BENCH {name} p50_ms={statistics.median(times):.2f} p95_ms={p95:.2f} n={n}"
    print(line, flush=True)
    return line


WORKER_COMMUNE = 12452


def seed_cases(count: int, seed: int) -> list[str]:
    """Insert ``count`` synthetic cases as `caseapp demo --cases` does, a quarter of them in the
    worker's commune; returns the codes of those."""
    from caseapp.cases.models import Case
    from caseapp.synthetic import create_synthetic_cases

    communes = list(db.session.scalars(sa.select(Commune.code)))
    create_synthetic_cases(
        count,
        seed=seed,
        communes=communes,
        focus_commune=WORKER_COMMUNE,
        actor_id=None,
        today=date.today(),  # noqa: DTZ011 -- synthetic intake dates only
    )
    db.session.commit()
    return list(db.session.scalars(sa.select(Case.code).where(Case.commune_code == WORKER_COMMUNE)))


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the first form on a page (CSRF protection stays on in benchmarks)."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def raw_list_query(user: object) -> None:
    """The list page's own query (first page of 50 and the total), without the page around it."""
    from caseapp import authz
    from caseapp.cases.models import Case, Status

    query = authz.visible_cases(user).where(Case.status == Status.OPEN.value)  # type: ignore[arg-type]
    db.session.scalars(query.order_by(Case.created_at.desc(), Case.id.desc()).limit(50)).all()
    db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    db.session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="requests per measure")
    parser.add_argument("--cases", type=int, default=2000, help="synthetic case files")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        write_private_file(instance / "keys.json", generate_keyring().to_json())
        url = os.environ.get("CASEAPP_BENCH_DATABASE_URL") or f"sqlite:///{instance / 'b.db'}"
        app = create_app(
            {"SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": url, "LOCAL_HTTP": True},
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
                ("bench.admin", Role.ADMIN, ScopeKind.NONE, []),
            ):
                user, _ = create_user(
                    settings,
                    UserInput(username, username, role, scope, communes),
                    actor=None,
                    password=password,
                )
                user.must_change_password = False
            db.session.commit()
            started = time.perf_counter()
            worker_codes = seed_cases(args.cases, args.seed)
            print(
                f"seeded {args.cases} cases in {time.perf_counter() - started:.1f} s "
                f"({len(worker_codes)} in the worker's commune)",
                flush=True,
            )

        def signed_in(username: str) -> FlaskClient:
            client = app.test_client()
            response = client.post(
                "/login",
                data={
                    "username": username,
                    "password": password,
                    "csrf_token": csrf_token(client, "/login"),
                },
            )
            assert response.status_code == 302, response.status_code
            return client

        anonymous = app.test_client()
        worker, admin = signed_in("bench.worker"), signed_in("bench.admin")
        officer = signed_in("bench.officer")
        detail_codes = itertools.cycle(worker_codes)
        worker_token = csrf_token(worker, "/cases")
        with app.app_context():
            from caseapp.users.models import User

            worker_user = db.session.scalars(
                sa.select(User).where(User.username == "bench.worker")
            ).one()
            list_sql = measure("case_list_50_raw_sql", lambda: raw_list_query(worker_user), args.n)
        lines = [
            list_sql,
            measure("case_list_50_worker", lambda: worker.get("/cases"), args.n),
            measure("case_list_50_officer_province", lambda: officer.get("/cases"), args.n),
            measure("case_detail", lambda: worker.get(f"/cases/{next(detail_codes)}"), args.n),
            measure(
                "case_search_name_in_scope",
                lambda: worker.post(
                    "/cases/search", data={"query": "van an", "csrf_token": worker_token}
                ),
                max(20, args.n // 5),
            ),
            measure("login_page", lambda: anonymous.get("/login"), args.n),
            measure("sign_in_argon2", lambda: signed_in("bench.worker"), max(10, args.n // 10)),
            measure("worker_home", lambda: worker.get("/"), args.n),
            measure("admin_users_list", lambda: admin.get("/admin/users"), args.n),
            measure("admin_communes_list_104", lambda: admin.get("/admin/communes"), args.n),
        ]
        with app.app_context():
            db.engine.dispose()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    backend = "postgresql" if os.environ.get("CASEAPP_BENCH_DATABASE_URL") else "sqlite"
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## {stamp} · {backend} · {args.cases} cases\n\n")
        handle.writelines(f"    {line}\n" for line in lines)


if __name__ == "__main__":
    main()
