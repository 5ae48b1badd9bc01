"""``make bench``: time the pages that exist, through the app with a signed-in client.

Prints one line per measure, ``BENCH <name> p50_ms=<x> p95_ms=<y> n=<k>``, and appends them with
the date to ``bench/RESULTS.md``. The database is a fresh SQLite file (or
``CASEAPP_BENCH_DATABASE_URL``). CSRF protection and production password hashing stay on.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask.testing import FlaskClient
from flask_migrate import upgrade

from caseapp import create_app
from caseapp.crypto import generate_keyring, write_private_file
from caseapp.extensions import db
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="requests per measure")
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
                ("bench.worker", Role.WORKER, ScopeKind.COMMUNES, [12452]),
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

        def signed_in(username: str) -> FlaskClient:
            client = app.test_client()
            page = client.get("/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            assert token is not None
            response = client.post(
                "/login",
                data={"username": username, "password": password, "csrf_token": token.group(1)},
            )
            assert response.status_code == 302, response.status_code
            return client

        anonymous = app.test_client()
        worker, admin = signed_in("bench.worker"), signed_in("bench.admin")
        lines = [
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
        handle.write(f"\n## {stamp} · {backend} · foundation pages (no case data yet)\n\n")
        handle.writelines(f"    {line}\n" for line in lines)


if __name__ == "__main__":
    main()
