"""Retention (ASVS 14.2.7) with legal hold: which files are due, the hold that stops it, the pages,
the command and the nightly job, the indicators unchanged, and raw rows free of identity.
Synthetic people only; runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from caseapp import cli
from caseapp.audit import AuditEvent
from caseapp.cases import retention
from caseapp.cases.models import Case, CloseReason, Sex
from caseapp.cases.models import Category as CaseCategory
from caseapp.cases.services import CaseData, close_case, create_case
from caseapp.dates import local_day
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.followups import services as followups
from caseapp.followups.models import FollowUp
from caseapp.scheduler import jobs
from caseapp.scheduler.models import JobRun
from caseapp.users.models import Role, ScopeKind, User
from caseapp.workflow.models import JobPlacement
from tests.conftest import C1, C2, login
from tests.workflow.support_setup import job

NAME = "Nguyễn Văn Zzyzx"
CCCD = "001099012345"
PHONE = "+84912345678"
ADDR = "Số 7 ngõ Quỳnh"
GUARDIAN = "Trần Thị Qwyrt"
NOTE = "Ghi chú Xylophon"
EMPLOYER = "Xưởng mộc Plumbix"
FOLLOW_UP_NOTE = "Gặp tại nhà Vrelk"
HOLD_REASON = "Công văn 12/CV-ĐTra về Zzyzx"
YEARS = 5
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
TODAY = local_day()


def _case(worker: User, *, commune: int = C1, name: str = NAME) -> Case:
    data = CaseData(
        full_name=name,
        date_of_birth=date(1999, 3, 1),
        sex=Sex.MALE,
        national_id=CCCD,
        phone=PHONE,
        address=ADDR,
        guardian_name=GUARDIAN,
        guardian_relation="Mẹ",
        guardian_phone="+84987654321",
        notes=NOTE,
        commune_code=commune,
        category=CaseCategory.USER,
        education=None,
        occupation=None,
        drug_types=[],
        assigned_worker_id=None,
        intake_on=date(2019, 1, 10),
    )
    case, _ = create_case(data, actor=worker)
    db.session.commit()
    return case


def _closed(case: Case, officer: User, closed_at: datetime) -> Case:
    close_case(case, CloseReason.MOVED_AWAY, "", actor=officer)
    db.session.commit()
    db.session.execute(sa.update(Case).where(Case.id == case.id).values(closed_at=closed_at))
    db.session.commit()
    return case


def _user(account) -> User:
    return db.session.get(User, account.id)


def _audit(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def _fresh(case_id: int) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case_id)


@pytest.fixture
def people(app, worker_c1, officer):
    """A worker of C1 and a province officer, as accounts (to sign in) and as users."""
    return worker_c1, officer


def test_eligibility_boundary_and_legal_hold(app, people):
    worker_acc, officer_acc = people
    limit = retention.cutoff(NOW, YEARS)
    assert limit == datetime(2021, 11, 28, 2, 0, tzinfo=UTC)
    with app.app_context():
        worker, officer = _user(worker_acc), _user(officer_acc)
        due = _closed(_case(worker), officer, limit - timedelta(days=1))
        young = _closed(_case(worker), officer, limit + timedelta(days=1))
        held = _closed(_case(worker), officer, limit - timedelta(days=400))
        still_open = _case(worker)
        retention.set_legal_hold(held, "Yêu cầu của Tòa án", actor=officer)
        db.session.commit()
        ids = {"due": due.id, "young": young.id, "held": held.id, "open": still_open.id}
        assert retention.counts(limit) == retention.RetentionCounts(1, 1, 0)
        db.session.rollback()

        dry = retention.run(years=YEARS, apply=False, now=NOW)
        assert (dry.before, dry.anonymised, dry.after) == (
            retention.RetentionCounts(1, 1, 0),
            0,
            None,
        )
        assert _fresh(ids["due"]).anonymised_at is None  # a dry run changes nothing

        done = retention.run(years=YEARS, apply=True, now=NOW)
        assert done.anonymised == 1
        assert done.after == retention.RetentionCounts(0, 1, 1)
        states = {k: _fresh(v).anonymised_at is not None for k, v in ids.items()}
        assert states == {"due": True, "young": False, "held": False, "open": False}
        db.session.rollback()

        # The day after, the younger file is still within its period; a year later it is due.
        assert retention.run(years=YEARS, apply=True, now=NOW + timedelta(days=1)).anonymised == 0
        later = retention.run(years=YEARS, apply=True, now=NOW + timedelta(days=3))
        assert later.anonymised == 1
        assert _fresh(ids["young"]).anonymised_at is not None

        # Lifting the hold lets the next run anonymise the held file.
        retention.lift_legal_hold(_fresh(ids["held"]), actor=_user(officer_acc))
        db.session.commit()
        assert retention.run(years=YEARS, apply=True, now=NOW).anonymised == 1
        assert _fresh(ids["open"]).anonymised_at is None
        runs = _audit("retention_run")
        assert [json.loads(r.details).get("anonymised") for r in runs] == [None, 1, 0, 1, 1]
        assert json.loads(runs[0].details) == {
            "dry_run": True,
            "eligible": 1,
            "held": 1,
            "years": 5,
        }
        anonymised = _audit("case_anonymised")
        assert sorted(int(e.target_id) for e in anonymised) == sorted(
            [ids["due"], ids["young"], ids["held"]]
        )
        assert all(e.details == "{}" and e.target_type == "case" for e in anonymised)
        db.session.rollback()


def test_cutoff_on_29_february():
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert retention.cutoff(leap, 5) == datetime(2023, 2, 28, 12, 0, tzinfo=UTC)


def test_setting_is_checked(app_factory):
    from caseapp.config import ConfigError

    with pytest.raises(ConfigError, match="RETENTION_YEARS"):
        app_factory(RETENTION_YEARS=0)
    assert app_factory(RETENTION_YEARS="7").extensions["caseapp.settings"].RETENTION_YEARS == 7


def _hold_case(app, worker_acc, officer_acc, *, commune: int = C1) -> tuple[int, str]:
    with app.app_context():
        case = _case(_user(worker_acc), commune=commune)
        return case.id, case.code


def test_officer_sets_and_lifts_a_hold_worker_sees_it(app, people, make_account):
    worker_acc, officer_acc = people
    case_id, code = _hold_case(app, worker_acc, officer_acc)
    officer = app.test_client()
    login(officer, officer_acc)
    page = officer.get(f"/cases/{code}").get_data(as_text=True)
    assert "Đặt lệnh giữ hồ sơ" in page
    form = officer.get(f"/cases/{code}/legal-hold").get_data(as_text=True)
    assert '<label class="form-label" for="reason">' in form
    refused = officer.post(f"/cases/{code}/legal-hold", data={"reason": "   "})
    assert refused.status_code == 200
    with app.app_context():
        assert _fresh(case_id).legal_hold_at is None
    done = officer.post(f"/cases/{code}/legal-hold", data={"reason": HOLD_REASON})
    assert done.status_code == 302
    assert done.headers["Location"] == f"/cases/{code}"
    with app.app_context():
        case = _fresh(case_id)
        assert case.legal_hold_at is not None
        assert case.legal_hold_by_id == officer_acc.id
        assert case.legal_hold_reason == HOLD_REASON
        raw = db.session.execute(
            sa.text("SELECT legal_hold_reason_ct FROM cases WHERE id = :id"), {"id": case_id}
        ).scalar_one()
        assert "Zzyzx" not in raw  # encrypted
        (event,) = _audit("legal_hold_set")
        assert (event.actor_id, event.target_id, event.details) == (
            officer_acc.id,
            str(case_id),
            "{}",
        )
        db.session.rollback()

    # The commune's worker sees the banner and the reason, but no button, and may not change it.
    worker = app.test_client()
    login(worker, worker_acc)
    seen = worker.get(f"/cases/{code}").get_data(as_text=True)
    assert "Hồ sơ đang có lệnh giữ" in seen
    assert HOLD_REASON in seen
    assert "Gỡ lệnh giữ" not in seen
    assert worker.post(f"/cases/{code}/legal-hold/lift").status_code == 403
    assert worker.post(f"/cases/{code}/legal-hold", data={"reason": "x"}).status_code == 403

    # An officer whose scope is another commune: 404, audited.
    other = make_account(Role.OFFICER, scope=ScopeKind.COMMUNES, communes=(C2,))
    outsider = app.test_client()
    login(outsider, other)
    assert outsider.post(f"/cases/{code}/legal-hold/lift").status_code == 404

    confirm = officer.get(f"/cases/{code}/legal-hold/lift").get_data(as_text=True)
    assert "Xác nhận gỡ lệnh giữ" in confirm
    assert officer.post(f"/cases/{code}/legal-hold/lift").status_code == 302
    with app.app_context():
        case = _fresh(case_id)
        assert (case.legal_hold_at, case.legal_hold_reason_ct) == (None, None)
        assert [e.actor_id for e in _audit("legal_hold_lifted")] == [officer_acc.id]
        denied = _audit("case_access_denied")
        assert [(e.actor_id, e.target_id) for e in denied] == [(other.id, str(case_id))]
        db.session.rollback()


def test_admin_holds_by_code_without_seeing_the_file(app, people, admin):
    worker_acc, officer_acc = people
    case_id, code = _hold_case(app, worker_acc, officer_acc, commune=C2)
    client = app.test_client()
    login(client, admin)
    page = client.get("/admin/retention")
    assert page.status_code == 200
    assert "Đến hạn ẩn danh" in page.get_data(as_text=True)
    assert client.post("/admin/retention", data={"code": "nonsense"}).status_code == 200
    found = client.post("/admin/retention", data={"code": code.lower()})
    assert found.headers["Location"] == f"/cases/{code}/legal-hold"
    done = client.post(f"/cases/{code}/legal-hold", data={"reason": HOLD_REASON})
    assert done.headers["Location"] == "/admin/retention"
    listing = client.get("/admin/retention").get_data(as_text=True)
    assert code[:4] in listing
    assert NAME not in listing
    assert HOLD_REASON not in listing  # the reason is shown on the file, to those who see it
    assert client.get(f"/cases/{code}").status_code == 403  # still no access to the file
    assert client.post(f"/cases/{code}/legal-hold/lift").headers["Location"] == "/admin/retention"
    with app.app_context():
        assert _fresh(case_id).legal_hold_at is None
        assert [e.actor_id for e in _audit("legal_hold_set")] == [admin.id]
        assert [e.actor_id for e in _audit("legal_hold_lifted")] == [admin.id]
        db.session.rollback()


def test_anonymised_page_and_edits_refused(app, people):
    worker_acc, officer_acc = people
    with app.app_context():
        case = _closed(_case(_user(worker_acc)), _user(officer_acc), NOW - timedelta(days=2000))
        case_id, code = case.id, case.code
        retention.run(years=YEARS, apply=True, now=NOW)
        version = _fresh(case_id).version
        db.session.rollback()
    worker = app.test_client()
    login(worker, worker_acc)
    page = worker.get(f"/cases/{code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Hồ sơ đã được ẩn danh" in html
    assert "ngày 28/11/2026" in html
    for marker in (NAME, "012345", "0912 345 678", ADDR, GUARDIAN, NOTE, "01/03/1999"):
        assert marker not in html
    assert "1999" in html  # the birth year is kept for statistics
    assert f"/cases/{code}/edit" not in html
    listing = worker.get("/cases?status=closed").get_data(as_text=True)
    assert "(đã ẩn danh)" in listing
    assert NAME not in listing
    for method, path in (("GET", "edit"), ("POST", "edit")):
        refused = worker.open(f"/cases/{code}/{path}", method=method, data={"full_name": "X"})
        assert refused.status_code == 409
        assert "không thể sửa đổi" in refused.get_data(as_text=True)
    officer = app.test_client()
    login(officer, officer_acc)
    assert officer.post(f"/cases/{code}/reopen", data={"note": "x"}).status_code == 409
    assert officer.post(f"/cases/{code}/legal-hold", data={"reason": "x"}).status_code == 302
    with app.app_context():
        case = _fresh(case_id)
        assert (case.version, case.status, case.legal_hold_at) == (version, "closed", None)
        db.session.rollback()


def _snapshot_of_identity(case: Case) -> list[str]:
    """Every stored value of the case that identifies someone (ciphertexts, blind indexes)."""
    row = db.session.execute(sa.select(Case.__table__).where(Case.id == case.id)).mappings().one()
    values = [v for k, v in row.items() if (k.endswith(("_ct", "_bidx"))) and v]
    values += [
        v
        for v in db.session.scalars(
            sa.select(JobPlacement.employer_name_ct).where(JobPlacement.case_id == case.id)
        )
        if v
    ]
    values += [
        v
        for v in db.session.scalars(sa.select(FollowUp.note_ct).where(FollowUp.case_id == case.id))
        if v
    ]
    return values


def _all_rows_text() -> str:
    """Every row of every table, as text (raw, through Core)."""
    chunks = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            chunks.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(chunks)


def test_raw_storage_holds_no_identity_after_anonymisation(app, people):
    worker_acc, officer_acc = people
    with app.app_context():
        worker, officer = _user(worker_acc), _user(officer_acc)
        case = _case(worker)
        job(case, worker, date(2022, 2, 1), date(2022, 2, 1), employer_name=EMPLOYER)
        followups.add_appointment(
            case, due_on=TODAY, note=FOLLOW_UP_NOTE, actor=worker, today=TODAY
        )
        db.session.commit()
        twin = _case(worker)  # the same youth in a second file: a duplicate pair
        _closed(case, officer, NOW - timedelta(days=3000))
        identity = _snapshot_of_identity(case)
        assert len(identity) >= 12  # 9 identity columns, 2 blind indexes, employer, note
        assert twin.national_id_bidx == case.national_id_bidx
        case_id = case.id
        retention.run(years=YEARS, apply=True, now=NOW)
        stored = _all_rows_text()
        for value in identity:
            if value not in (twin.national_id_bidx, twin.name_dob_bidx):  # the twin keeps its own
                assert value not in stored
        raw = (
            db.session.execute(sa.select(Case.__table__).where(Case.id == case_id)).mappings().one()
        )
        assert all(raw[k] is None for k in raw if k.endswith(("_ct", "_bidx")))
        assert (raw["birth_year"], raw["sex"], raw["commune_code"]) == (1999, "male", C1)
        assert raw["category"] == "user"
        assert (
            db.session.scalar(
                sa.text(
                    "SELECT count(*) FROM case_duplicates WHERE case_a_id = :i OR case_b_id = :i"
                ),
                {"i": case_id},
            )
            == 0
        )
        placement = db.session.scalars(
            sa.select(JobPlacement).where(JobPlacement.case_id == case_id)
        ).one()
        assert (placement.sector, placement.started_on) == ("craft", date(2022, 2, 1))
        assert placement.employer_name_ct is None
        # Nothing identifying anywhere in the database (the twin is not anonymised: its own
        # values are the only place the markers' ciphertexts could be, and they are encrypted).
        for marker in (NAME, CCCD, PHONE, ADDR, GUARDIAN, NOTE, EMPLOYER, FOLLOW_UP_NOTE):
            assert marker not in stored
        db.session.rollback()


@pytest.fixture
def cli_app(app_factory, monkeypatch) -> Iterator:
    app = app_factory(RETENTION_YEARS=YEARS)
    monkeypatch.setattr(cli, "_app", lambda: app)
    umask = os.umask(0o022)
    os.umask(umask)
    yield app
    os.umask(umask)  # ``caseapp`` sets 0o077


def _three_files(app, worker_acc, officer_acc) -> list[int]:
    """Two files past the period (one held) and one within it."""
    with app.app_context():
        worker, officer = _user(worker_acc), _user(officer_acc)
        now = utcnow()
        old = _closed(_case(worker), officer, now - timedelta(days=365 * YEARS + 10))
        held = _closed(_case(worker), officer, now - timedelta(days=365 * YEARS + 10))
        recent = _closed(_case(worker), officer, now - timedelta(days=30))
        retention.set_legal_hold(held, HOLD_REASON, actor=officer)
        db.session.commit()
        return [old.id, held.id, recent.id]


def test_command_dry_run_then_apply(cli_app, people):
    ids = _three_files(cli_app, *people)
    dry = CliRunner().invoke(cli.main, ["retention"])
    assert dry.exit_code == 0, dry.output
    assert "Retention period: 5 years" in dry.output
    assert "Eligible: 1\nHeld (legal hold, skipped): 1\nAlready anonymised: 0\n" in dry.output
    assert "Dry run: nothing changed" in dry.output
    with cli_app.app_context():
        assert not any(_fresh(i).anonymised_at for i in ids)
        db.session.rollback()
    applied = CliRunner().invoke(cli.main, ["retention", "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "Anonymised now: 1\nEligible left: 0\n" in applied.output
    again = CliRunner().invoke(cli.main, ["retention"])
    assert "Eligible: 0\nHeld (legal hold, skipped): 1\nAlready anonymised: 1\n" in again.output
    for output in (dry.output, applied.output, again.output):
        for marker in (NAME, CCCD, HOLD_REASON, "Zzyzx"):
            assert marker not in output
    with cli_app.app_context():
        assert [_fresh(i).anonymised_at is not None for i in ids] == [True, False, False]
        db.session.rollback()


def test_job_is_idempotent_and_resumes_after_a_crash(app, people):
    worker_acc, officer_acc = people
    with app.app_context():
        worker, officer = _user(worker_acc), _user(officer_acc)
        ids = [
            _closed(_case(worker), officer, NOW - timedelta(days=365 * YEARS + 10 + n)).id
            for n in range(5)
        ]

        def crash_after_two(case_id: int) -> None:
            if case_id == ids[1]:
                raise RuntimeError("power cut")

        with pytest.raises(RuntimeError):
            retention.run(years=YEARS, apply=True, now=NOW, batch_size=2, on_case=crash_after_two)
        db.session.rollback()
        assert [_fresh(i).anonymised_at is not None for i in ids] == [True, True] + [False] * 3
        db.session.rollback()

    assert jobs.run_job(app, "retention", NOW, force=True)
    assert jobs.run_job(app, "retention", NOW + timedelta(minutes=5), force=True)
    with app.app_context():
        run = db.session.get(JobRun, "retention")
        assert run.ok, run.error
        assert run.summary == {
            "anonymised": 0,
            "eligible_left": 0,
            "held": 0,
            "already_anonymised": 5,
        }
        assert all(_fresh(i).anonymised_at is not None for i in ids)
        # Each file anonymised exactly once, whatever the number of runs.
        assert sorted(int(e.target_id) for e in _audit("case_anonymised")) == sorted(ids)
        db.session.rollback()


def test_job_is_bounded_per_run(app_factory, people):
    app = app_factory(RETENTION_MAX_PER_RUN=2)
    worker_acc, officer_acc = people
    with app.app_context():
        worker, officer = _user(worker_acc), _user(officer_acc)
        for n in range(3):
            _closed(_case(worker), officer, NOW - timedelta(days=365 * YEARS + 10 + n))
    assert jobs.run_job(app, "retention", NOW, force=True)
    with app.app_context():
        assert db.session.get(JobRun, "retention").summary["eligible_left"] == 1
        db.session.rollback()
    assert jobs.run_job(app, "retention", NOW + timedelta(days=1))
    with app.app_context():
        assert db.session.get(JobRun, "retention").summary == {
            "anonymised": 1,
            "eligible_left": 0,
            "held": 0,
            "already_anonymised": 2,
        }
        db.session.rollback()


def test_sqlite_file_keeps_no_erased_ciphertext(app, people, database_url):
    """After anonymisation and a checkpoint, the SQLite file's bytes (free space included: the
    connections run with secure_delete) hold none of the erased ciphertexts."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite file check")
    worker_acc, officer_acc = people
    database = Path(sa.engine.make_url(database_url).database or "")
    with app.app_context():
        case = _closed(_case(_user(worker_acc)), _user(officer_acc), NOW - timedelta(days=3000))
        twin_free = {case.national_id_bidx, case.name_dob_bidx}  # no twin here: all are erased
        tokens = [v for v in _snapshot_of_identity(case) if len(v) > 20]
        assert twin_free <= set(tokens)
        db.session.rollback()
        retention.run(years=YEARS, apply=True, now=NOW)
        raw = db.engine.raw_connection()  # outside a transaction: checkpoints need that
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    content = database.read_bytes()
    assert len(tokens) >= 10
    for token in tokens:
        assert token.encode() not in content
