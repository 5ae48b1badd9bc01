"""``python -m bench.load``: a bounded load run on loopback. gunicorn (4 workers by default) serves
CaseApp on a generated dataset; ``--users`` simulated commune workers, each signed in with its own
session, mix case-list pages (70 %) and case-detail pages (30 %) for ``--seconds`` seconds.

Prints ``BENCH load_<workers>w requests=… rps=… p50_ms=… p95_ms=… errors=…`` (an error is any
status other than 200 or a failed connection) and appends it to ``bench/RESULTS.md``.

The database is a throw-away PostgreSQL database on ``CASEAPP_BENCH_DATABASE_URL`` (or, without
it, a SQLite file). The clients run on the same two cores as the server: the figure is a floor.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

from bench.sweep import bench_database, size
from caseapp import create_app
from caseapp.crypto import generate_keyring, write_private_file
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.geo.services import load_communes
from caseapp.users.models import Role, ScopeKind
from caseapp.users.services import UserInput, create_user

RESULTS = Path(__file__).with_name("RESULTS.md")
LIST_SHARE = 0.7


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(instance: Path, url: str, cases: int, users: int, seed: int) -> tuple[str, dict]:
    """Migrations, communes, one worker account per simulated user, ``cases`` youth."""
    from caseapp.cases.models import Case
    from caseapp.synthetic import create_synthetic_cases

    secret = secrets.token_urlsafe(32)
    (instance / "config.py").write_text(
        f"SECRET_KEY = {secret!r}\nDATABASE_URL = {url!r}\nLOCAL_HTTP = True\n", "utf-8"
    )
    write_private_file(instance / "keys.json", generate_keyring().to_json())
    app = create_app(instance_path=instance)
    password = secrets.token_urlsafe(16)
    codes_by_commune: dict[int, list[str]] = {}
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        load_communes(33)
        communes = list(db.session.scalars(sa.select(Commune.code).order_by(Commune.code)))
        create_synthetic_cases(
            cases, seed=seed, communes=communes, focus_commune=None, actor_id=None,
            today=date.today(), steps=True,  # noqa: DTZ011 -- synthetic dates around today
        )  # fmt: skip
        settings = app.extensions["caseapp.settings"]
        for number in range(users):
            commune = communes[number % len(communes)]
            user, _ = create_user(
                settings,
                UserInput(f"load.{number}", f"load {number}", Role.WORKER, ScopeKind.COMMUNES,
                          [commune]),
                actor=None,
                password=password,
            )  # fmt: skip
            user.must_change_password = False
            codes_by_commune[commune] = list(
                db.session.scalars(
                    sa.select(Case.code).where(Case.commune_code == commune).limit(200)
                )
            )
        db.session.commit()
        db.engine.dispose()
    return password, codes_by_commune


class Client:
    """One simulated worker: its own cookies, signed in through the real form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    def sign_in(self, username: str, password: str) -> None:
        _status, page = self.get("/login")
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        assert token is not None
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrf_token": token.group(1)}
        ).encode()
        with self.opener.open(self.base + "/login", data=data, timeout=30) as response:
            assert "/login" not in response.geturl(), "sign-in failed"


def run_load(base: str, clients: list[tuple[Client, int, list[str]]], seconds: float) -> dict:
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def user(client: Client, commune: int, codes: list[str], rng: random.Random) -> None:
        mine: list[float] = []
        bad: list[str] = []
        while time.perf_counter() < stop:
            if rng.random() < LIST_SHARE or not codes:
                path = f"/cases?commune={commune}&page={rng.randint(1, 3)}"
            else:
                path = f"/cases/{rng.choice(codes)}"
            start = time.perf_counter()
            try:
                status, _body = client.get(path)
            except OSError as exc:
                status = 0
                bad.append(f"{path}: {type(exc).__name__}")
            mine.append((time.perf_counter() - start) * 1000)
            if status != 200:
                bad.append(f"{path}: {status}")
        with lock:
            times.extend(mine)
            errors.extend(bad)

    threads = [
        threading.Thread(target=user, args=(c, commune, codes, random.Random(i)))
        for i, (c, commune, codes) in enumerate(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    times.sort()
    return {
        "requests": len(times),
        "rps": len(times) / elapsed,
        "p50": statistics.median(times) if times else 0.0,
        "p95": times[max(0, int(len(times) * 0.95) - 1)] if times else 0.0,
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if gunicorn is None:
        print("gunicorn is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, bench_database(Path(tmp)) as (url, backend):
        instance = Path(tmp) / "instance"
        instance.mkdir()
        password, codes = prepare(instance, url, args.cases, args.users, args.seed)
        port = free_port()
        env = {**os.environ, "CASEAPP_INSTANCE": str(instance)}
        server = subprocess.Popen(  # noqa: S603 -- our own command line
            [gunicorn, "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--log-level",
             "warning", "caseapp:create_app()"],
            env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310
                        break
                except OSError:
                    time.sleep(0.1)
            communes = sorted(codes)
            clients = []
            for number in range(args.users):
                client = Client(base)
                client.sign_in(f"load.{number}", password)
                commune = communes[number % len(communes)]
                clients.append((client, commune, codes[commune]))
            found = run_load(base, clients, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    line = (
        f"BENCH load_gunicorn_{args.workers}w users={args.users} seconds={args.seconds:.0f} "
        f"requests={found['requests']} rps={found['rps']:.1f} p50_ms={found['p50']:.1f} "
        f"p95_ms={found['p95']:.1f} errors={len(found['errors'])} target_rps=200 "
        f"{'met' if found['rps'] >= 200 and not found['errors'] else 'MISSED'}"
    )
    print(line, flush=True)
    for error in found["errors"][:10]:
        print(f"    {error}")
    if not args.no_record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(
                f"\n## {stamp} · load run · {backend} · {size(args.cases)} youth · "
                f"list 70 % / detail 30 %\n\n    {line}\n"
            )
    return 1 if found["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
