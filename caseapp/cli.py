"""The ``caseapp`` console command: set-up and operations."""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask

from caseapp.config import ConfigError, instance_path_from_env, load_settings
from caseapp.crypto import generate_keyring, load_keyring, write_private_file

DEMO_LOGINS_FILE = "demo-logins.txt"
STATISTICS_AFTER = 1000  # generated files after which the planner's statistics are refreshed


def _instance() -> Path:
    return instance_path_from_env()


def _app() -> Flask:
    from caseapp import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _database_has_tables(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return bool(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@click.group()
def main() -> None:
    """CaseApp: case files for communes helping young people leave drugs behind."""
    os.umask(0o077)  # the database, its WAL and every file we write are private to this user


@main.command()
def init() -> None:
    """Create the instance folder, secrets and keys, migrate the database, load the communes.

    Safe to run again: existing secrets and keys are kept, and nothing stored is touched.
    """
    from flask_migrate import upgrade

    from caseapp.extensions import db
    from caseapp.geo import services as geo_services

    instance = _instance()
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_file = instance / "config.py"
    if not config_file.exists():
        write_private_file(
            config_file,
            "# CaseApp instance settings, written by `caseapp init`. Keep this file secret.\n"
            f"SECRET_KEY = {secrets.token_urlsafe(48)!r}\n",
        )
        click.echo(f"Created {config_file} (mode 0600).")
    try:
        settings = load_settings(instance)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    keys = settings.keyring_path
    if keys.exists():
        try:
            load_keyring(keys)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
    elif _database_has_tables(settings.database_url):
        raise click.ClickException(
            f"Key file {keys} is missing but the database already holds data. New keys could "
            "not read it: restore the key file from your key escrow. Nothing was changed."
        )
    else:
        write_private_file(keys, generate_keyring().to_json())
        click.echo(f"Created {keys} (mode 0600). Keep a copy in your key escrow.")

    app = _app()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        report = geo_services.load_communes(settings.PROVINCE)
        db.session.commit()
        click.echo(
            f"Database ready at revision head; {report.communes} communes of "
            f"{geo_services.province_name(settings.PROVINCE)}, "
            f"{report.former_districts} former districts."
        )


@main.command()
@click.option(
    "--if-empty",
    is_flag=True,
    help="When accounts already exist, load nothing and show the saved demo logins.",
)
@click.option("--cases", "case_count", type=int, default=None, help="Synthetic case files.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--national",
    is_flag=True,
    help="Spread the cases over all 34 provinces' communes (loaded first if missing).",
)
def demo(if_empty: bool, case_count: int | None, seed: int, national: bool) -> None:
    """Demo data (synthetic people only): one account per role with generated passwords, saved
    0600 and printed, and synthetic case files with their history since 2024 (60 by default;
    --cases N adds N more later), over the configured province or, with --national, the whole
    country."""
    import time
    from collections import Counter

    from caseapp.dates import local_day
    from caseapp.demo import create_demo_accounts, load_national_communes
    from caseapp.synthetic import create_synthetic_cases

    app = _app()
    logins_file = Path(app.instance_path) / DEMO_LOGINS_FILE
    with app.app_context():
        from caseapp.extensions import db
        from caseapp.geo.models import Commune
        from caseapp.users.models import Role, User

        has_accounts = bool(db.session.scalar(sa.select(sa.func.count()).select_from(User)))
        if has_accounts and case_count is None:
            if if_empty:
                click.echo("Accounts already exist: demo data not loaded again.")
                if logins_file.exists():
                    click.echo(logins_file.read_text(encoding="utf-8"))
                return
            raise click.ClickException("Accounts already exist: the demo needs an empty system.")
        settings = app.extensions["caseapp.settings"]
        text = None
        if not has_accounts:
            text = create_demo_accounts(settings)
        if national:
            added = load_national_communes()
            if added:
                click.echo(f"Loaded {added:,} communes of the other provinces.")
        worker = db.session.scalars(
            sa.select(User).where(User.role == Role.WORKER.value).order_by(User.id)
        ).first()
        query = sa.select(Commune.code).order_by(Commune.code)
        if not national:
            query = query.where(Commune.province_code == settings.PROVINCE)
        communes = list(db.session.scalars(query))
        today = local_day()  # the communes' today, as the workflow's due dates use
        counts: Counter[str] = Counter()
        started = time.perf_counter()
        made = create_synthetic_cases(
            60 if case_count is None else case_count,
            seed=seed,
            communes=communes,
            focus_commune=worker.communes[0].code if worker and worker.communes else None,
            actor_id=worker.id if worker else None,
            today=today,
            steps=True,
            counts=counts,
        )
        elapsed = time.perf_counter() - started
        if text is not None and worker is not None:
            from caseapp.demo import add_demo_follow_ups
            from caseapp.followups.reminders import sweep

            add_demo_follow_ups(worker, today)
            sweep()  # the reminders of the overdue ones: the bell rings on first sign-in
        started = time.perf_counter()
        db.session.commit()  # the accounts exist before their logins are written down
        elapsed += time.perf_counter() - started
        if made >= STATISTICS_AFTER:
            from caseapp.db import refresh_statistics

            refresh_statistics(db.engine)
    if text is not None:
        if logins_file.exists():
            logins_file.unlink()
        write_private_file(logins_file, text)
        click.echo(text)
        click.echo(f"Saved to {logins_file} (mode 0600).")
    rate = made / elapsed if elapsed else 0
    steps = sum(n for name, n in counts.items() if name not in ("cases", "case_events"))
    click.echo(
        f"{made} synthetic case files in {elapsed:.1f} s ({rate:,.0f} per second), over "
        f"{len(communes):,} communes: {steps - counts['follow_ups']:,} step records, "
        f"{counts['follow_ups']:,} follow-ups, {counts['case_events']:,} timeline entries."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@main.command()
@click.option(
    "--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST or 127.0.0.1"
)
@click.option(
    "--port",
    type=int,
    default=lambda: int(os.environ.get("PORT", "5000")),
    show_default="PORT or 5000",
)
@click.option("--threads", type=int, default=8, show_default=True)
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Run the scheduler in this process (the embedded single-process mode). With a "
    "separate `caseapp scheduler` process, this one stays idle: only one leads.",
)
def serve(host: str, port: int, threads: int, scheduler: bool) -> None:
    """Serve the web application with waitress."""
    from waitress import serve as waitress_serve  # type: ignore[import-untyped,unused-ignore]

    app = _app()
    if app.extensions["caseapp.settings"].LOCAL_HTTP and not _is_loopback(host):
        raise click.ClickException(
            f"LOCAL_HTTP (plain HTTP, cookies without Secure) is only for 127.0.0.1; {host} would "
            "expose sign-ins to the network. Serve behind a TLS proxy instead (see README)."
        )
    if scheduler:
        from caseapp.scheduler.runner import start_background

        background, _leader = start_background(app)
        click.echo("Scheduler: running in this process (follow-up sweep, digests, snapshot).")
    click.echo(f"CaseApp: http://{host}:{port}/  (Ctrl+C to stop)")
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="CaseApp")
    finally:
        if scheduler:
            background.shutdown(wait=False)
            _leader.lock.release()


@main.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler: the one process that sweeps follow-ups, sends digests and takes the
    nightly snapshot. A second one started against the same database stays idle."""
    from caseapp.scheduler.runner import run_forever

    app = _app()
    click.echo("CaseApp scheduler started (Ctrl+C to stop).")
    run_forever(app)


@main.command("run-job")
@click.argument("name", type=click.Choice(["sweep", "snapshot", "retention", "digest", "outbox"]))
def run_job_command(name: str) -> None:
    """Run one scheduler job now, whatever the time (for operators)."""
    from caseapp.extensions import db
    from caseapp.scheduler import jobs
    from caseapp.scheduler.leader import LeaderLock
    from caseapp.scheduler.models import JobRun

    app = _app()
    with app.app_context():
        lock = LeaderLock(db.engine, holder=f"run-job:{os.getpid()}")
        if not lock.acquire():
            raise click.ClickException(
                "Another scheduler holds the lock: it runs the jobs (see Administration → "
                "Scheduler). Stop it first to run a job by hand."
            )
        try:
            jobs.run_job(app, name, force=True)
        finally:
            lock.release()
        # Read after the release: on SQLite a read transaction would hold up the lease's write.
        run = db.session.get(JobRun, name)
        if run is None or not run.ok:
            raise click.ClickException(f"{name} failed: {run.error if run else 'no run'}")
        click.echo(f"{name}: {run.summary}")


@main.command("retention")
@click.option("--apply", "apply_changes", is_flag=True, help="Anonymise (default: count only).")
@click.option(
    "--limit", type=click.IntRange(min=1), help="Anonymise at most this many files in this run."
)
def retention_command(apply_changes: bool, limit: int | None) -> None:
    """Anonymise closed files past the retention period (RETENTION_YEARS), except those under a
    legal hold. Without --apply, only counts what would be done. Prints counts, never identities."""
    from caseapp.cases import retention
    from caseapp.db import utcnow
    from caseapp.web import format_day

    app = _app()
    settings = app.extensions["caseapp.settings"]
    now = utcnow()
    with app.app_context():
        before_day = format_day(retention.cutoff(now, settings.RETENTION_YEARS))
        result = retention.run(
            years=settings.RETENTION_YEARS, apply=apply_changes, now=now, limit=limit
        )
    click.echo(
        f"Retention period: {settings.RETENTION_YEARS} years (files closed before {before_day})."
    )
    shown = result.before
    click.echo(f"Eligible: {shown.eligible}")
    click.echo(f"Held (legal hold, skipped): {shown.held}")
    click.echo(f"Already anonymised: {shown.anonymised}")
    if result.after is None:
        click.echo("Dry run: nothing changed. Run with --apply to anonymise the eligible files.")
        return
    click.echo(f"Anonymised now: {result.anonymised}")
    click.echo(f"Eligible left: {result.after.eligible}")


@main.command("create-user")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="The staff member's full name.")
@click.option(
    "--role", type=click.Choice(["worker", "officer", "supervisor", "admin"]), required=True
)
@click.option(
    "--scope",
    type=click.Choice(["communes", "former_district", "province", "none"]),
    help="Default: communes for workers, province for officers and supervisors, none for admins.",
)
@click.option("--commune", "communes", type=int, multiple=True, help="Commune code (repeatable).")
@click.option("--former-district", type=int, help="Former district code.")
@click.option("--email")
def create_user(
    username: str,
    display_name: str,
    role: str,
    scope: str | None,
    communes: tuple[int, ...],
    former_district: int | None,
    email: str | None,
) -> None:
    """Create an account with a one-time password, to be changed at first sign-in."""
    from caseapp.errors import FieldError
    from caseapp.extensions import db
    from caseapp.users.services import UserInput
    from caseapp.users.services import create_user as create

    default_scope = {"worker": "communes", "admin": "none"}.get(role, "province")
    app = _app()
    with app.app_context():
        try:
            user, password = create(
                app.extensions["caseapp.settings"],
                UserInput(
                    username=username,
                    display_name=display_name,
                    role=role,
                    scope_kind=scope or default_scope,
                    commune_codes=list(communes),
                    former_district_code=former_district,
                    email=email,
                ),
                actor=None,
            )
        except FieldError as exc:
            db.session.rollback()
            raise click.ClickException(f"{exc.field or 'input'}: {exc.message}") from None
        db.session.commit()
        click.echo(f"Created {user.username} ({user.role}).")
        click.echo(f"One-time password: {password}")
        click.echo("It must be changed at first sign-in.")


@main.command("audit-verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain; exit 1 at the first broken link."""
    from caseapp.audit import verify_chain

    app = _app()
    with app.app_context():
        report = verify_chain()
    if report.ok:
        click.echo(f"Audit trail intact: {report.checked} events verified.")
        return
    click.echo(
        f"Audit trail BROKEN at event {report.first_broken_id} "
        f"({report.checked} events before it verified).",
        err=True,
    )
    sys.exit(1)


def _import_models(modules: tuple[str, ...]) -> None:
    """Import modules declaring encrypted models that the app does not load (tests, plug-ins)."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise click.ClickException(f"Cannot import {name}: {exc}") from None


@main.command("rotate-keys")
@click.option(
    "--new-kek",
    is_flag=True,
    help="Generate a new key-encryption key and add it to the key file as the primary.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Rows per commit.",
)
@click.option("--stop-after-batches", type=click.IntRange(min=1), hidden=True)
@click.option("--import-models", "model_modules", multiple=True, hidden=True)
def rotate_keys(
    new_kek: bool, batch_size: int, stop_after_batches: int | None, model_modules: tuple[str, ...]
) -> None:
    """Re-wrap the data keys, start a new one and re-encrypt every field under it.

    Each batch is its own transaction: if stopped, run it again to finish. Exit 1 until done.
    """
    from caseapp.crypto import DecryptionError
    from caseapp.keys import KeyManagementError
    from caseapp.keys import rotate_keys as rotate

    _import_models(model_modules)
    app = _app()
    with app.app_context():
        try:
            report = rotate(
                app.extensions["caseapp.cipher"],
                new_kek=new_kek,
                batch_size=batch_size,
                stop_after_batches=stop_after_batches,
                progress=click.echo,
            )
        except (KeyManagementError, DecryptionError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"{report.reencrypted} row(s) re-encrypted in {report.batches} batch(es); "
        f"{report.conflicts} changed meanwhile; retired data key(s): "
        f"{', '.join(report.retired) or 'none'}."
    )
    for where in report.unreadable[:20]:
        click.echo(f"Cannot decrypt {where}: left as it is.", err=True)
    if report.finished:
        click.echo(f"Done: every value uses data key {report.primary_dek_id}.")
        return
    click.echo(
        f"Not finished: {report.remaining} value(s) still use an older data key. "
        "Run `caseapp rotate-keys` again.",
        err=True,
    )
    sys.exit(1)


@main.group("keys")
def keys_group() -> None:
    """Key-encryption keys in the key file."""


@keys_group.command("retire-kek")
@click.argument("kek_id")
@click.option("--import-models", "model_modules", multiple=True, hidden=True)
def retire_kek(kek_id: str, model_modules: tuple[str, ...]) -> None:
    """Remove KEK_ID from the key file, once no data key is wrapped by it any more."""
    from caseapp.crypto import DecryptionError
    from caseapp.keys import KeyManagementError
    from caseapp.keys import retire_kek as retire

    _import_models(model_modules)
    app = _app()
    with app.app_context():
        try:
            retire(app.extensions["caseapp.cipher"], kek_id)
        except (KeyManagementError, DecryptionError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"Removed {kek_id} from the key file. Keep it in escrow while backups made before the "
        "rotation may still be restored."
    )


@main.command()
@click.option("--output", type=click.Path(path_type=Path), help="Default: instance/backups/…")
def backup(output: Path | None) -> None:
    """Write an encrypted backup of the database (SQLite online backup or pg_dump)."""
    from caseapp.backup import BackupError, create_backup

    app = _app()
    instance = Path(app.instance_path)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = output or instance / "backups" / f"caseapp-{stamp}.backup"
    with app.app_context():
        try:
            header = create_backup(instance, target)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
    rows = sum(header["counts"].values())
    click.echo(f"Backup written to {target} ({rows} rows, revision {header['revision']}).")
    click.echo(f"It needs backup key {header['backup_key']} and KEK(s) {header['kek_ids']}.")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(path: Path) -> None:
    """Restore a backup into an empty database and verify it (counts, revision, audit chain)."""
    from caseapp.audit import verify_chain
    from caseapp.backup import BackupError, restore_backup

    app = _app()
    with app.app_context():
        try:
            header = restore_backup(
                Path(app.instance_path), path, app.extensions["caseapp.keyring"]
            )
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        report = verify_chain()
    if not report.ok:
        raise click.ClickException(
            f"Restored, but the audit chain breaks at event {report.first_broken_id}."
        )
    rows = sum(header["counts"].values())
    click.echo(f"Restored {rows} rows from {header['created_at']}; audit chain intact.")


@main.command("export-stats")
@click.option("--period", "period_key", required=True, help="2026-H1, 2026-H2, 2026 or 2026-CY.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: thong-ke-an-danh-<period>.<format> here).",
)
def export_stats(period_key: str, fmt: str, output: Path | None) -> None:
    """Anonymized statistics of a period, as supervisors download them: small cells suppressed,
    audited (the actor is the operator's shell account, recorded as the command)."""
    from caseapp import audit
    from caseapp.dates import local_day
    from caseapp.errors import InvalidInputError
    from caseapp.extensions import db
    from caseapp.indicators import export, periods

    app = _app()
    with app.app_context():
        try:
            period = periods.parse(period_key)
        except InvalidInputError as exc:
            raise click.ClickException(exc.errors[0].message) from None
        threshold = app.extensions["caseapp.settings"].STATISTICS_MIN_CELL
        tables = export.tables(period, today=local_day(), threshold=threshold)
        target = output or Path(f"thong-ke-an-danh-{period.key}.{fmt}")
        if fmt == "xlsx":
            target.write_bytes(export.to_xlsx(tables, period))
        else:
            with target.open("w", encoding="utf-8", newline="") as out:
                out.writelines(export.to_csv(tables, period))
        audit.record(
            "statistics_exported",
            actor=None,
            target_type="statistics",
            target_id=period.key,
            details={"format": fmt, "threshold": threshold, "via": "cli", "file": target.name},
        )
        db.session.commit()
    click.echo(f"{len(tables)} tables of {period.label} written to {target}.")
