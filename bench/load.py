"""``python -m bench.load``: a bounded load run on loopback. gunicorn (4 workers by default) serves
CaseApp on a generated dataset; ``--users`` simulated commune workers, each signed in with its own
session, mix case-list pages (70 %) and case-detail pages (30 %) for ``--seconds`` seconds. With
``--writes 0.2`` a fifth of their actions are writes instead: open the counselling form of one of
their open files and save a session whose counsellor field carries a unique token.

Prints ``BENCH load_<workers>w requests=… rps=… p50_ms=… p95_ms=… errors=…`` (an error is any
status other than 200 or a failed connection) and appends it to ``bench/RESULTS.md``. With writes,
it then reads the database: every write the server acknowledged (redirected to the file) must be
stored exactly once (``lost_writes=0``, ``duplicated_writes=0``).

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
from caseapp.db import refresh_statistics
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.geo.services import load_communes
from caseapp.users.models import Role, ScopeKind
from caseapp.users.services import UserInput, create_user

RESULTS = Path(__file__).with_name("RESULTS.md")
LIST_SHARE = 0.7
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
MARK = "load-"


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
                    sa.select(Case.code)
                    .where(Case.commune_code == commune, Case.status == "open")
                    .limit(200)
                )
            )
        db.session.commit()
        refresh_statistics(db.engine)  # as autovacuum would soon after a bulk load
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

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        """Submit a form; the status and the address the answer ended at (after redirects)."""
        data = urllib.parse.urlencode(fields).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                response.read()
                return response.status, response.geturl()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    def write(self, code: str, token: str) -> tuple[int, bool]:
        """A counselling session on ``code``, through its form: (status, acknowledged)."""
        path = f"/cases/{code}/steps/counselling"
        status, page = self.get(path)
        csrf = CSRF.search(page)
        if status != 200 or csrf is None:
            return status, False
        status, landed = self.post(
            path,
            {
                "csrf_token": csrf.group(1),
                "held_on": date.today().strftime("%d/%m/%Y"),  # noqa: DTZ011 -- the server's day
                "kind": "individual",
                "topic": "relapse_prevention",
                "counsellor": token,
            },
        )
        return status, landed.endswith(f"/cases/{code}")

    def sign_in(self, username: str, password: str) -> None:
        _status, page = self.get("/login")
        token = CSRF.search(page)
        assert token is not None
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrf_token": token.group(1)}
        ).encode()
        with self.opener.open(self.base + "/login", data=data, timeout=30) as response:
            assert "/login" not in response.geturl(), "sign-in failed"


def run_load(
    base: str, clients: list[tuple[Client, int, list[str]]], seconds: float, writes: float = 0.0
) -> dict:
    times: list[float] = []
    errors: list[str] = []
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def user(
        number: int, client: Client, commune: int, codes: list[str], rng: random.Random
    ) -> None:
        mine: list[float] = []
        bad: list[str] = []
        written: list[str] = []
        while time.perf_counter() < stop:
            start = time.perf_counter()
            roll = rng.random()
            if roll < writes and codes:
                path = "write"
                token = f"{MARK}{number}-{len(written) + len(bad)}-{len(mine)}"
                try:
                    status, ok = client.write(rng.choice(codes), token)
                except OSError as exc:
                    status, ok = 0, False
                    bad.append(f"{path}: {type(exc).__name__}")
                if ok:
                    written.append(token)
                elif status == 200:
                    status = -1  # the form came back: the write was refused
            else:
                if roll < writes + (1 - writes) * LIST_SHARE or not codes:
                    path = f"/cases?commune={commune}&page={rng.randint(1, 3)}"
                else:
                    path = f"/cases/{rng.choice(codes)}"
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
            acknowledged.extend(written)

    threads = [
        threading.Thread(target=user, args=(i, c, commune, codes, random.Random(i)))
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
        "acknowledged": acknowledged,
    }


def stored_writes(instance: Path) -> list[str]:
    """The counsellor tokens of the sessions the run wrote, as the database holds them."""
    from caseapp.workflow.models import CounsellingSession

    app = create_app(instance_path=instance)
    with app.app_context():
        found = list(
            db.session.scalars(
                sa.select(CounsellingSession.counsellor).where(
                    CounsellingSession.counsellor.startswith(MARK)
                )
            )
        )
        db.engine.dispose()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--writes", type=float, default=0.0, help="share of actions that write")
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
            found = run_load(base, clients, args.seconds, args.writes)
        finally:
            server.terminate()
            server.wait(timeout=30)
        stored = stored_writes(instance) if args.writes else []
    acked = found["acknowledged"]
    lost = len(set(acked) - set(stored))
    duplicated = len(stored) - len(set(stored))
    met = found["rps"] >= 200 and not found["errors"] and not lost and not duplicated
    line = (
        f"BENCH load_gunicorn_{args.workers}w users={args.users} seconds={args.seconds:.0f} "
        f"requests={found['requests']} rps={found['rps']:.1f} p50_ms={found['p50']:.1f} "
        f"p95_ms={found['p95']:.1f} errors={len(found['errors'])}"
    )
    if args.writes:
        line += (
            f" writes_acknowledged={len(acked)} writes_stored={len(stored)}"
            f" lost_writes={lost} duplicated_writes={duplicated}"
        )
    line += f" target_rps=200 {'met' if met else 'MISSED'}"
    print(line, flush=True)
    for error in found["errors"][:10]:
        print(f"    {error}")
    reads = 1 - args.writes
    mix = f"list {reads * LIST_SHARE:.0%} / detail {reads * (1 - LIST_SHARE):.0%}"
    if args.writes:
        mix += f" / counselling saved {args.writes:.0%}"
    if not args.no_record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(
                f"\n## {stamp} · load run · {backend} · {size(args.cases)} youth · {mix}\n\n"
                f"    {line}\n"
            )
    return 1 if found["errors"] or lost or duplicated else 0


if __name__ == "__main__":
    sys.exit(main())
