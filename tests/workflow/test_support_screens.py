"""Support steps through the pages: forms, next-step links, loan moves as small forms, errors that
keep what was typed, out-of-scope 404s, and the officer's reintegration certificate."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.cases.models import Case, Phase
from caseapp.extensions import db
from caseapp.users.models import Role, ScopeKind, User
from caseapp.workflow import services
from caseapp.workflow.models import JobPlacement, LoanReferral, ReintegrationCertification
from tests.cases.conftest import VIETNAM, open_case
from tests.conftest import C2, login
from tests.test_pages import check_page
from tests.workflow.support_setup import job, monthly_checks, to_post_rehab

PAGES = ("schooling", "training", "job", "consent", "loan", "relapse")


def _page(response) -> str:
    return response.get_data(as_text=True)


def _today() -> date:
    return datetime.now(VIETNAM).date()


def _day(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _with_case(app, code, worker_account, officer_account, setup) -> None:
    """Run service calls on the case (as the tests of services do), then commit."""
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        worker = db.session.get(User, worker_account.id)
        officer = db.session.get(User, officer_account.id) if officer_account else None
        setup(case, worker, officer)
        db.session.commit()


def _one(app, model):
    with app.app_context():
        return db.session.scalars(sa.select(model).order_by(model.id.desc())).first()


def _in_post_rehab(case, worker, officer):
    to_post_rehab(case, worker, officer, start=_today() - timedelta(days=600), today=_today())


def test_worker_records_support_steps_through_the_pages(app, make_account, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    officer = make_account(Role.OFFICER)
    code = open_case(worker, date_of_birth="05/09/2000", national_id="")
    _with_case(app, code, worker_c1, officer, _in_post_rehab)
    detail = _page(worker.get(f"/cases/{code}"))
    for label in ("Học nghề", "Giới thiệu việc làm", "Ghi thêm:"):
        assert label in detail
    check_page(detail)
    for path in PAGES:
        response = worker.get(f"/cases/{code}/steps/{path}")
        assert response.status_code == 200, path
        check_page(_page(response))
    today = _today()
    assert worker.post(f"/cases/{code}/steps/consent", data={
        "purpose": "employer_contact", "given_on": _day(today - timedelta(days=30)),
    }).status_code == 302  # fmt: skip
    assert worker.post(f"/cases/{code}/steps/job", data={
        "started_on": _day(today - timedelta(days=20)), "sector": "craft",
        "employer_kind": "household_business", "employer_name": "Xưởng Mộc Zzyzx",
        "contract_type": "short", "income_band": "3m_5m", "employer_contacted": "y",
    }).status_code == 302  # fmt: skip
    placed = _one(app, JobPlacement)
    detail = _page(worker.get(f"/cases/{code}"))
    assert "Xưởng Mộc Zzyzx" in detail  # decrypted for those who may see identities
    assert f"/cases/{code}/steps/job/{placed.id}/check" in detail
    check_page(_page(worker.get(f"/cases/{code}/steps/job/{placed.id}/check")))
    assert worker.post(f"/cases/{code}/steps/job/{placed.id}/check", data={
        "checked_on": _day(today - timedelta(days=5)), "still_employed": "yes",
    }).status_code == 302  # fmt: skip
    assert worker.post(f"/cases/{code}/steps/consent", data={
        "purpose": "loan_referral", "given_on": _day(today - timedelta(days=10)),
    }).status_code == 302  # fmt: skip
    assert worker.post(f"/cases/{code}/steps/loan", data={
        "programme": "national_employment_fund", "referred_on": _day(today - timedelta(days=3)),
        "amount_requested_vnd": "50.000.000 đ",
    }).status_code == 302  # fmt: skip
    loan = _one(app, LoanReferral)
    assert loan.amount_requested_vnd == 50_000_000
    detail = _page(worker.get(f"/cases/{code}"))
    assert f'action="/cases/{code}/steps/loan/{loan.id}/application"' in detail
    check_page(detail)  # the small loan forms: labelled, unique ids
    for status, data in (
        ("application", {"dated_on": _day(today - timedelta(days=2))}),
        ("approved", {"dated_on": _day(today - timedelta(days=1)), "amount_vnd": "40.000.000"}),
    ):
        assert (
            worker.post(f"/cases/{code}/steps/loan/{loan.id}/{status}", data=data).status_code
            == 302
        )
    detail = _page(worker.get(f"/cases/{code}"))
    assert "được duyệt 40.000.000 đồng" in detail
    assert f"/steps/loan/{loan.id}/disbursed" in detail
    assert f"/steps/loan/{loan.id}/refused" not in detail
    assert worker.post(f"/cases/{code}/steps/relapse", data={
        "relapsed_on": _day(today), "substances": ["cannabis", "ketamine"],
    }).status_code == 302  # fmt: skip
    detail = _page(worker.get(f"/cases/{code}"))
    assert "Xem xét áp dụng biện pháp cai nghiện ma túy bắt buộc" in detail
    for label in ("Giới thiệu việc làm", "Theo dõi việc làm", "Khoản vay được phê duyệt"):
        assert label in detail  # on the timeline
    check_page(detail)


def test_forms_keep_what_was_typed_on_errors(app, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker, date_of_birth="05/09/2000", national_id="")
    today = _day(_today())
    html = _page(worker.post(f"/cases/{code}/steps/job", data={
        "started_on": today, "sector": "craft", "employer_kind": "enterprise",
        "employer_name": "Xưởng Mộc Zzyzx", "contract_type": "long", "income_band": "5m_8m",
        "employer_contacted": "y",
    }))  # fmt: skip
    assert "cần sự đồng ý (mục đích: liên hệ người sử dụng lao động)" in html
    assert 'value="Xưởng Mộc Zzyzx"' in html
    assert re.search(r'<option selected value="5m_8m">', html)
    assert 'id="employer_contacted-error"' in html
    check_page(html)
    html = _page(worker.post(f"/cases/{code}/steps/loan", data={
        "programme": "decision_08_2026", "referred_on": today,
        "amount_requested_vnd": "250.000.000", "on_police_list": "y",
    }))  # fmt: skip
    assert "Mức vay tối đa là 200.000.000 đồng" in html
    assert "Cần sự đồng ý (mục đích: giới thiệu vay vốn)" in html
    assert 'value="250.000.000"' in html
    check_page(html)
    html = _page(worker.post(f"/cases/{code}/steps/loan", data={
        "programme": "youth_startup", "referred_on": "31/02/2026",
        "amount_requested_vnd": "năm mươi triệu",
    }))  # fmt: skip
    assert "Nhập số tiền bằng chữ số" in html
    assert "Ngày này không có trên lịch." in html
    assert 'value="năm mươi triệu"' in html
    assert 'value="31/02/2026"' in html
    html = _page(worker.post(f"/cases/{code}/steps/schooling", data={
        "level": "continuing", "started_on": today, "result": "in_progress",
    }))  # fmt: skip
    assert "từ đủ 12 đến dưới 18 tuổi" in html
    assert re.search(r'<option selected value="continuing">', html)
    html = _page(worker.post(f"/cases/{code}/steps/relapse", data={"relapsed_on": today}))
    assert "Chọn ít nhất một loại chất" in html
    assert f'value="{today}"' in html
    check_page(html)


def test_support_steps_out_of_scope_are_404(app, make_account, worker_c1, worker_c2):
    first = app.test_client()
    login(first, worker_c1)
    code = open_case(first, national_id="")
    other_code = open_case(first, national_id="", full_name="Người Thử Khác")
    _with_case(app, other_code, worker_c1, None,
               lambda case, worker, _: job(case, worker, _today(), _today()))  # fmt: skip
    foreign_job = _one(app, JobPlacement)
    other = app.test_client()
    login(other, worker_c2)
    for path in PAGES:
        assert other.get(f"/cases/{code}/steps/{path}").status_code == 404, path
        assert other.post(f"/cases/{code}/steps/{path}").status_code == 404, path
    for path in (f"job/{foreign_job.id}/check", f"job/{foreign_job.id}/end",
                 "loan/999/application", "consent/999/withdraw", "schooling/999/end",
                 "training/999/end"):  # fmt: skip
        assert first.get(f"/cases/{code}/steps/{path}").status_code == 404, path
    assert first.get(f"/cases/{code}/steps/loan/999/bogus").status_code == 404
    assert other.get(f"/cases/{other_code}/steps/job/{foreign_job.id}/check").status_code == 404
    far = app.test_client()
    login(far, make_account(Role.OFFICER, scope=ScopeKind.COMMUNES, communes=(C2,)))
    assert far.get(f"/cases/{code}/steps/reintegration").status_code == 404
    assert far.post(f"/approvals/reintegration/{code}").status_code == 404


def _stably_employed(case, worker, officer):
    today = _today()
    period = to_post_rehab(case, worker, officer, start=today - timedelta(days=900), today=today)
    services.end_post_rehab(case, period, ended_on=period.planned_end_on,
                            certificate_number="GCN-2", actor=worker, today=today)  # fmt: skip
    services.approve_post_rehab(case, period, actor=officer)
    placed = job(case, worker, services.add_months(today, -7), today)
    monthly_checks(case, placed, worker, 6, today)


def test_officer_certifies_reintegration_from_the_queue(app, make_account, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    officer_account = make_account(Role.OFFICER)
    code = open_case(worker, date_of_birth="05/09/2000", national_id="")
    waiting = open_case(worker, date_of_birth="05/09/2001", national_id="", full_name="Người B")
    _with_case(app, code, worker_c1, officer_account, _stably_employed)
    detail = _page(worker.get(f"/cases/{code}"))
    assert "Chứng nhận tái hòa nhập (cán bộ phụ trách)" in detail
    assert f"/cases/{code}/steps/reintegration" not in detail  # text only for a worker
    assert worker.get(f"/cases/{code}/steps/reintegration").status_code == 403
    assert worker.post(f"/approvals/reintegration/{code}").status_code == 403
    officer = app.test_client()
    login(officer, officer_account)
    assert f"/cases/{code}/steps/reintegration" in _page(officer.get(f"/cases/{code}"))
    queue = _page(officer.get("/approvals"))
    check_page(queue)
    assert f"/approvals/reintegration/{code}" in queue
    assert f"/approvals/reintegration/{waiting}" not in queue  # no job: not eligible
    page = _page(officer.get(f"/cases/{code}/steps/reintegration"))
    assert "Đủ điều kiện việc làm ổn định" in page
    check_page(page)
    assert officer.post(f"/approvals/reintegration/{code}").status_code == 302
    assert "Không có hồ sơ nào đủ điều kiện chứng nhận." in _page(officer.get("/approvals"))
    with app.app_context():
        case = db.session.scalars(sa.select(Case).where(Case.code == code)).one()
        certification = db.session.scalars(sa.select(ReintegrationCertification)).one()
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
        assert case.phase == Phase.REINTEGRATED
        assert certification.certified_by_id == officer_account.id
    assert "step_reintegration_certified" in actions
    detail = _page(officer.get(f"/cases/{code}"))
    assert "Việc làm ổn định 6 tháng liên tục" in detail
    assert "Đóng hồ sơ: đã tái hòa nhập cộng đồng" in detail
    check_page(detail)
    # Not eligible: the page says what is missing, and a try is refused with the reason.
    page = _page(officer.get(f"/cases/{waiting}/steps/reintegration"))
    assert "Chưa ghi việc làm nào." in page
    html = _page(officer.post(f"/cases/{waiting}/steps/reintegration",
                              data={"certified_on": _day(_today())}))  # fmt: skip
    assert "Chưa đủ điều kiện việc làm ổn định" in html
    check_page(html)
