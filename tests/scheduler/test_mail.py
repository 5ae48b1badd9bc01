"""E-mail: the digest's content (codes and counts, never an identity), at most once a day, the
outbox surviving a crash mid-send (J3) and a broken SMTP server (retried, reported, never
stopping the sweep), all against a real SMTP server on loopback."""

from __future__ import annotations

import gc
import smtplib
import warnings
from collections import Counter
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from markupsafe import escape

from caseapp import mail
from caseapp.db import utcnow
from caseapp.extensions import db
from caseapp.followups import digest, reminders
from caseapp.followups.models import ReminderDispatch
from caseapp.scheduler import jobs
from caseapp.scheduler.leader import LEASE_SECONDS, LeaderLock
from caseapp.scheduler.models import JobRun, OutboxMessage, OutboxStatus
from caseapp.scheduler.runner import Leader
from caseapp.users.models import Role, ScopeKind, User
from tests.cases.conftest import ADDR, CCCD, NAME, PHONE
from tests.conftest import C2, PG_URL, login
from tests.scheduler.conftest import (
    MAIL_FROM,
    count,
    due,
    engine_of,
    free_port,
    local,
    make_case,
    make_user,
    smtp_settings,
    terminate_lock_holder,
)

DAY = date(2025, 12, 8)
NOW = local(DAY, 7, 0)  # after the digest's 06:30
BORN = date(2008, 9, 5)


def _settings(app):
    return app.extensions["caseapp.settings"]


def _outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def _queue(users, *, at=NOW) -> list[int]:
    """One pending message per user, inserted directly (committed); returns their ids."""
    rows = [
        OutboxMessage(
            user_id=user.id,
            kind="digest",
            day=DAY,
            subject=f"CaseApp thử {n}",
            body=f"Thư thử số {n}",
            next_attempt_at=at,
        )
        for n, user in enumerate(users, start=1)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _digest_readers(app, n: int):
    """``n`` workers who want the digest, each with a file of their own due today."""
    users = [
        make_user(app, email=f"canbo{i}@xa.example", wants_digest=True) for i in range(1, n + 1)
    ]
    for user in users:
        due(make_case(user, assigned=user), DAY)
    return users


def test_digest_has_codes_and_counts_never_an_identity(mail_ctx, smtp_server):
    app = mail_ctx
    reader = make_user(app, email="canbo.xa@xa.example", wants_digest=True)
    youth = make_case(
        reader,
        assigned=reader,
        full_name=NAME,
        born=BORN,
        national_id=CCCD,
        phone=PHONE,
        address=ADDR,
    )
    other = make_case(reader, assigned=reader)
    due(youth, DAY - timedelta(days=2))
    due(youth, DAY)
    due(other, DAY + timedelta(days=3))
    not_asked = make_user(app, email="khong.nhan@xa.example", wants_digest=False)
    due(make_case(not_asked, assigned=not_asked), DAY)
    nothing_due = make_user(app, communes=(C2,), email="xa.khac@xa.example", wants_digest=True)

    digest.queue_digests(_settings(app), NOW)
    db.session.commit()
    assert [(r.user_id, r.status) for r in _outbox()] == [(reader.id, OutboxStatus.PENDING.value)]
    assert mail.send_pending(_settings(app), NOW) == {"sent": 1, "failed": 0}

    [received] = smtp_server.inbox.received
    assert received.rcpt_tos == [reader.email]
    assert received.mail_from == MAIL_FROM
    message = received.message
    assert message["To"] == reader.email
    assert message["Subject"] == "CaseApp 08/12/2025: 1 việc quá hạn, 1 việc hôm nay"
    text = received.text
    for expected in (
        "Quá hạn: 1",
        "Đến hạn hôm nay: 1",
        "Trong 7 ngày tới: 1",
        f"  {youth.code}",
        "https://caseapp.xa.example/todo",
    ):
        assert expected in text
    assert other.code not in text  # only what is overdue or due today is listed by code
    raw = received.raw.decode("ascii")  # 7-bit on the wire: headers and body are encoded
    for identity in (NAME, *NAME.split(), CCCD, ADDR, PHONE, PHONE.replace(" ", ""), "05/09/2008"):
        assert identity not in text, identity
        assert identity not in raw, identity
    # The birth year nowhere in what a reader sees (headers aside: the Message-ID is random
    # digits).
    assert "2008" not in text.split("\n\n", 1)[1]
    assert "2008" not in message["Subject"]
    for address in (not_asked.email, nothing_due.email):
        assert smtp_server.inbox.to(address) == []

    row = db.session.scalars(sa.select(OutboxMessage)).one()
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT.value, 1, None)
    assert row.sent_at is not None
    assert NAME not in row.body
    assert CCCD not in row.body


def test_digest_in_english_for_an_english_reader(mail_ctx, smtp_server):
    app = mail_ctx
    reader = make_user(app, email="reader@xa.example", wants_digest=True, locale="en")
    case = make_case(reader, assigned=reader, full_name=NAME, national_id=CCCD)
    due(case, DAY)
    digest.queue_digests(_settings(app), NOW)
    db.session.commit()
    mail.send_pending(_settings(app), NOW)
    [received] = smtp_server.inbox.received
    assert case.code in received.text
    assert NAME not in received.text
    assert CCCD not in received.text
    assert "Đến hạn hôm nay" not in received.text  # translated


def test_digest_job_twice_the_same_day_sends_once(mail_app, smtp_server):
    app = mail_app
    with app.app_context():
        [reader] = _digest_readers(app, 1)
        email = reader.email
    assert jobs.run_job(app, "digest", NOW)
    assert not jobs.run_job(app, "digest", NOW + timedelta(hours=1))  # done for today
    assert jobs.run_job(app, "digest", NOW + timedelta(hours=2), force=True)
    assert jobs.run_job(app, "outbox", NOW + timedelta(hours=3))
    with app.app_context():
        assert count(OutboxMessage) == 1
        run = db.session.get(JobRun, "digest")
        assert (run.ok, run.last_day, run.summary["sent"]) == (True, DAY, 0)
        assert db.session.get(JobRun, "outbox").summary == {"sent": 0, "failed": 0}
    assert [r.rcpt_tos for r in smtp_server.inbox.received] == [[email]]

    # The next day's digest is a new message.
    assert jobs.run_job(app, "digest", NOW + timedelta(days=1))
    assert len(smtp_server.inbox.to(email)) == 2


def test_digest_summary_counts_what_it_queued(mail_ctx):
    app = mail_ctx
    _digest_readers(app, 2)
    assert digest.queue_digests(_settings(app), NOW) == 2
    db.session.commit()
    assert digest.queue_digests(_settings(app), NOW + timedelta(hours=1)) == 0
    db.session.commit()
    assert count(OutboxMessage) == 2


def test_server_refusing_midway_resumes_with_back_off(mail_app, smtp_server):
    """The server answers 451 from the 4th message on: 3 sent, the 4th waits its back-off, the
    rest go on the next run; in the end all 10 are sent, each received once."""
    app = mail_app
    inbox = smtp_server.inbox
    with app.app_context():
        users = [make_user(app, email=f"nguoi{i}@xa.example") for i in range(10)]
        ids = _queue(users)
        emails = [u.email for u in users]
    inbox.refuse_from = 4

    assert jobs.run_job(app, "outbox", NOW)
    with app.app_context():
        run = db.session.get(JobRun, "outbox")
        assert (run.ok, run.summary) == (True, {"sent": 3, "failed": 1})
        rows = _outbox()
        assert [r.status for r in rows] == ["sent"] * 3 + ["pending"] * 7
        assert [r.attempts for r in rows] == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
        fourth = rows[3]
        assert fourth.next_attempt_at == NOW + timedelta(minutes=mail.RETRY_MINUTES[0])
        assert "451" in fourth.last_error
        assert "try again later" in fourth.last_error
    assert [r.rcpt_tos for r in inbox.received] == [[e] for e in emails[:3]]

    inbox.refuse_from = None  # the server recovers
    assert jobs.run_job(app, "outbox", NOW + timedelta(minutes=1))
    with app.app_context():
        rows = _outbox()
        assert [r.id for r in rows if r.status == "pending"] == [ids[3]]  # still backing off
    assert jobs.run_job(app, "outbox", NOW + timedelta(minutes=6))
    with app.app_context():
        rows = _outbox()
        assert {r.status for r in rows} == {"sent"}
        assert [r.attempts for r in rows] == [1, 1, 1, 2, 1, 1, 1, 1, 1, 1]
        assert all(r.last_error is None for r in rows)
    assert Counter(e for r in inbox.received for e in r.rcpt_tos) == Counter(emails)


@pytest.mark.plan("J3")
def test_crash_mid_job_resumes(app_factory, smtp_server, monkeypatch):
    """The leader dies after the server has taken the 4th of 10 digests, before recording it.
    The other scheduler takes over once the lease has expired (SQLite) or the dead session's
    advisory lock is gone (PostgreSQL): all 10 are sent, none lost, only the 4th twice."""
    settings = smtp_settings(smtp_server.port)
    app_a, app_b = app_factory(**settings), app_factory(**settings)
    with app_a.app_context():
        emails = [u.email for u in _digest_readers(app_a, 10)]
    a = Leader(app_a, LeaderLock(engine_of(app_a), holder="scheduler-a"))
    b = Leader(app_b, LeaderLock(engine_of(app_b), holder="scheduler-b"))

    class Crash(BaseException):
        """The process dies (nothing in the job catches this)."""

    real_send = smtplib.SMTP.send_message
    sent = 0

    def send_then_die(self, message, *args, **kwargs):
        nonlocal sent
        result = real_send(self, message, *args, **kwargs)
        sent += 1
        if sent == 4:
            raise Crash
        return result

    monkeypatch.setattr(smtplib.SMTP, "send_message", send_then_die)
    try:
        with pytest.raises(Crash):
            a.tick(NOW)
        monkeypatch.setattr(smtplib.SMTP, "send_message", real_send)
        with app_b.app_context():
            rows = _outbox()
            assert [r.status for r in rows] == ["sent"] * 3 + ["pending"] * 7
            assert rows[3].attempts == 0  # in flight when the process died
            in_flight = rows[3].user_id
            assert db.session.get(JobRun, "digest") is None
            assert db.session.get(JobRun, "sweep").last_day == DAY

        assert b.tick(NOW + timedelta(seconds=30)) is False  # a's lease still runs
        after_lease = NOW + timedelta(seconds=LEASE_SECONDS + 1)
        if PG_URL:
            assert b.tick(after_lease) is False  # a's session (and lock) outlive the lease
            terminate_lock_holder(engine_of(app_b))  # the dead process's session ends
        assert b.tick(after_lease) is True
    finally:
        a.lock.release()
        b.lock.release()

    with app_b.app_context():
        rows = _outbox()
        assert {r.status for r in rows} == {"sent"}
        assert len(rows) == 10
        run = db.session.get(JobRun, "digest")
        assert (run.ok, run.last_day, run.summary["sent"]) == (True, DAY, 7)
        twice = db.session.get(User, in_flight).email
        assert count(ReminderDispatch) == 10  # a's sweep, not repeated by b
    delivered = Counter(e for r in smtp_server.inbox.received for e in r.rcpt_tos)
    assert set(delivered) == set(emails)  # none lost
    assert delivered == Counter(emails) + Counter([twice])  # only the in-flight one twice


def test_refused_recipient_does_not_stop_the_others(mail_ctx, smtp_server):
    app = mail_ctx
    users = [make_user(app, email=f"nhan{i}@xa.example") for i in range(3)]
    smtp_server.inbox.refuse_rcpt = {users[1].email}
    _queue(users)
    assert mail.send_pending(_settings(app), NOW) == {"sent": 2, "failed": 1}
    rows = _outbox()
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("pending", 1), ("sent", 1)]
    assert "550" in rows[1].last_error
    assert [r.rcpt_tos for r in smtp_server.inbox.received] == [[users[0].email], [users[2].email]]


def test_retry_back_off_then_gives_up(app_factory):
    app = app_factory(**smtp_settings(free_port()))
    with app.app_context():
        user = make_user(app, email="canbo@xa.example")
        [message_id] = _queue([user])
        settings = _settings(app)
        at = NOW
        for attempt, minutes in enumerate(mail.RETRY_MINUTES, start=1):
            with pytest.raises(mail.SmtpFailedError, match="ConnectionRefusedError"):
                mail.send_pending(settings, at)
            row = db.session.get(OutboxMessage, message_id)
            assert (row.status, row.attempts) == (OutboxStatus.PENDING.value, attempt)
            assert row.next_attempt_at == at + timedelta(minutes=minutes)
            # Not retried before its time.
            assert mail.send_pending(settings, row.next_attempt_at - timedelta(seconds=1)) == {
                "sent": 0,
                "failed": 0,
            }
            at = row.next_attempt_at
        with pytest.raises(mail.SmtpFailedError):
            mail.send_pending(settings, at)
        row = db.session.get(OutboxMessage, message_id)
        assert (row.status, row.attempts) == (OutboxStatus.FAILED.value, 6)
        assert mail.send_pending(settings, at + timedelta(days=1)) == {"sent": 0, "failed": 0}
        assert db.session.get(OutboxMessage, message_id).attempts == 6


def test_mail_not_configured(ctx):
    app = ctx
    _digest_readers(app, 1)
    with pytest.raises(mail.MailNotConfiguredError):
        mail.send_pending(_settings(app), NOW)
    db.session.commit()
    assert jobs.run_job(app, "digest", NOW)
    assert jobs.run_job(app, "outbox", NOW)
    skipped = {"skipped": "smtp_not_configured"}
    assert db.session.get(JobRun, "digest").summary == skipped
    assert db.session.get(JobRun, "outbox").summary == skipped
    assert count(OutboxMessage) == 0


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("closed_port", "SmtpFailedError: ConnectionRefusedError: "),
        ("no_starttls", "SmtpFailedError: SMTPNotSupportedError: STARTTLS extension not supported"),
    ],
)
def test_smtp_failure_is_reported_and_the_sweep_still_runs(
    app_factory, smtp_server, admin, fault, error
):
    if fault == "closed_port":
        overrides = smtp_settings(free_port())
    else:
        overrides = {**smtp_settings(smtp_server.port), "SMTP_SECURITY": "starttls"}
    app = app_factory(**overrides)
    with app.app_context():
        [reader] = _digest_readers(app, 1)
        reader_id = reader.id

    with warnings.catch_warnings():
        # A failed STARTTLS leaks its socket: test_failed_starttls_closes_its_connection.
        warnings.simplefilter("ignore", ResourceWarning)
        assert jobs.run_job(app, "digest", NOW, force=True)
        gc.collect()
    assert jobs.run_job(app, "sweep", NOW)
    with app.app_context():
        digest_run = db.session.get(JobRun, "digest")
        assert digest_run.ok is False
        assert digest_run.error.startswith(error)
        assert digest_run.last_day is None  # retried on the next tick
        assert digest_run.finished_at is not None
        row = db.session.scalars(sa.select(OutboxMessage)).one()
        assert (row.user_id, row.status, row.attempts) == (reader_id, "pending", 1)
        assert row.next_attempt_at == NOW + timedelta(minutes=mail.RETRY_MINUTES[0])
        assert row.next_attempt_at > NOW
        last_error = row.last_error
        assert last_error
        assert last_error in digest_run.error
        sweep_run = db.session.get(JobRun, "sweep")
        assert (sweep_run.ok, sweep_run.error, sweep_run.last_day) == (True, None, DAY)
        assert count(ReminderDispatch, ReminderDispatch.user_id == reader_id) == 1
    assert smtp_server.inbox.received == []

    client = app.test_client()
    assert login(client, admin).status_code == 302

    def page() -> str:
        response = client.get("/admin/scheduler")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    html = page()
    assert str(escape(digest_run.error)) in html
    assert str(escape(last_error)) in html
    assert "Chờ gửi: 1" in html
    assert f"127.0.0.1:{overrides['SMTP_PORT']} ({overrides['SMTP_SECURITY']})" in html
    assert "Bộ lập lịch chưa chạy lần nào" in html  # no heartbeat ever

    lock = LeaderLock(engine_of(app), holder="scheduler-a")
    try:
        assert lock.acquire()
        assert "Bộ lập lịch đang chạy" in page()
        assert lock.acquire(utcnow() - timedelta(minutes=10))  # its last heartbeat, long ago
        assert "Bộ lập lịch không chạy" in page()
    finally:
        lock.release()


def test_failed_starttls_closes_its_connection(app_factory, smtp_server):
    app = app_factory(**{**smtp_settings(smtp_server.port), "SMTP_SECURITY": "starttls"})
    with app.app_context():
        _queue([make_user(app, email="canbo@xa.example")])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(mail.SmtpFailedError, match="STARTTLS"):
                mail.send_pending(_settings(app), NOW)
            gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_scheduler_page_is_for_administrators(client, worker_c1):
    assert login(client, worker_c1).status_code == 302
    assert client.get("/admin/scheduler").status_code == 403


def test_officer_digest_counts_the_escalations_in_scope(mail_ctx, smtp_server):
    app = mail_ctx
    officer = make_user(app, Role.OFFICER, email="phutrach@tinh.example", wants_digest=True)
    elsewhere = make_user(
        app, Role.OFFICER, communes=(C2,), scope=ScopeKind.COMMUNES,
        email="xa.khac@tinh.example", wants_digest=True,
    )  # fmt: skip
    worker = make_user(app)
    late = make_case(worker)
    due(late, DAY - timedelta(days=10))
    reminders.sweep(NOW)  # ten days overdue: escalated to the officers over the commune
    db.session.commit()
    digest.queue_digests(_settings(app), NOW)
    db.session.commit()
    assert [r.user_id for r in _outbox()] == [officer.id]  # C2's officer has nothing to hear
    mail.send_pending(_settings(app), NOW)
    [received] = smtp_server.inbox.received
    assert received.rcpt_tos == [officer.email]
    assert "Quá hạn đã báo cán bộ phụ trách, trong phạm vi: 1" in received.text
    assert f"  {late.code}" in received.text
    assert elsewhere.id not in [r.user_id for r in _outbox()]
