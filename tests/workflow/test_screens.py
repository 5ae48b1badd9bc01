"""The workflow through the pages: next-step panel, step forms, errors kept, officer approvals."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from caseapp.audit import AuditEvent
from caseapp.extensions import db
from caseapp.users.models import Role
from caseapp.workflow.models import RehabEpisode
from tests.cases.conftest import VIETNAM, open_case
from tests.conftest import login
from tests.test_pages import check_page


def _page(response) -> str:
    return response.get_data(as_text=True)


def _today() -> str:
    return datetime.now(VIETNAM).strftime("%d/%m/%Y")


def _ago(days: int) -> str:
    from datetime import timedelta

    return (datetime.now(VIETNAM) - timedelta(days=days)).strftime("%d/%m/%Y")


def test_worker_walks_a_case_to_rehab_and_officer_approves(app, make_account, worker_c1):
    worker = app.test_client()
    login(worker, worker_c1)
    code = open_case(worker, date_of_birth="05/09/2000", national_id="")
    detail = _page(worker.get(f"/cases/{code}"))
    assert "Bước tiếp theo" in detail
    assert "Ghi kết quả sàng lọc" in detail
    form = worker.get(f"/cases/{code}/steps/screening")
    check_page(_page(form))
    response = worker.post(
        f"/cases/{code}/steps/screening",
        data={"screened_on": "31/02/2026", "source": "police", "method": "drug_test",
              "result": "positive"},
    )  # fmt: skip
    html = _page(response)
    assert "Ngày này không có trên lịch." in html
    assert 'value="31/02/2026"' in html
    worker.post(
        f"/cases/{code}/steps/screening",
        data={"screened_on": _ago(220), "source": "police", "method": "drug_test",
              "result": "positive"},
    )  # fmt: skip
    assert "Xác định tình trạng nghiện tại cơ sở y tế" in _page(worker.get(f"/cases/{code}"))
    worker.post(
        f"/cases/{code}/steps/determination",
        data={"determined_on": _ago(215), "facility": "Trung tâm Y tế", "is_addicted": "yes"},
    )
    html = _page(worker.post(
        f"/cases/{code}/steps/rehab",
        data={"form": "voluntary_community", "started_on": _ago(213), "months": "3"},
    ))  # fmt: skip
    assert "Thời hạn phải từ 6 đến 12 tháng" in html
    check_page(html)
    worker.post(
        f"/cases/{code}/steps/rehab",
        data={"form": "voluntary_community", "started_on": _ago(213), "months": "6"},
    )
    with app.app_context():
        episode = db.session.scalars(sa.select(RehabEpisode)).one()
    for _ in range(2):
        assert worker.post(f"/cases/{code}/steps/rehab/{episode.id}/stage").status_code == 302
    worker.post(
        f"/cases/{code}/steps/rehab/{episode.id}/end",
        data={"ended_on": _today(), "outcome": "completed", "certificate_number": "GCN-7"},
    )
    detail = _page(worker.get(f"/cases/{code}"))
    assert "Chờ cán bộ phụ trách phê duyệt hoàn thành cai nghiện" in detail
    assert "Kết thúc đợt cai nghiện" in detail  # on the timeline
    check_page(detail)
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    queue = _page(officer.get("/approvals"))
    check_page(queue)
    assert "GCN-7" in queue
    assert worker.post(f"/approvals/rehab/{episode.id}").status_code == 403
    assert officer.post(f"/approvals/rehab/{episode.id}").status_code == 302
    assert "Không có đợt cai nào chờ phê duyệt." in _page(officer.get("/approvals"))
    assert "Bắt đầu quản lý sau cai nghiện" in _page(worker.get(f"/cases/{code}"))
    with app.app_context():
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"step_screening", "step_rehab_started", "step_rehab_approved"} <= actions


def test_steps_out_of_scope_are_404(app, worker_c1, worker_c2):
    first = app.test_client()
    login(first, worker_c1)
    code = open_case(first, national_id="")
    other = app.test_client()
    login(other, worker_c2)
    for path in ("screening", "determination", "counselling", "rehab", "post-rehab"):
        assert other.get(f"/cases/{code}/steps/{path}").status_code == 404
    assert first.get(f"/cases/{code}/steps/rehab/999/end").status_code == 404
    response = first.post(
        f"/cases/{code}/steps/rehab/999/end",
        data={"ended_on": _today(), "outcome": "quit"},
    )
    assert response.status_code == 404


def test_list_shows_next_due_date_and_filters_overdue(app, make_account, worker_c1):
    from datetime import timedelta

    worker = app.test_client()
    login(worker, worker_c1)
    late = open_case(worker, date_of_birth="05/09/2000", national_id="", full_name="Người Trễ Hạn")
    on_time = open_case(worker, date_of_birth="05/09/2001", national_id="", full_name="Người Đúng")
    month_ago = (datetime.now(VIETNAM) - timedelta(days=30)).strftime("%d/%m/%Y")
    for code, day in ((late, month_ago), (on_time, _today())):
        worker.post(
            f"/cases/{code}/steps/determination",
            data={"determined_on": day, "facility": "Trung tâm Y tế", "is_addicted": "yes"},
        )
    listing = _page(worker.get("/cases"))
    assert listing.count("quá hạn</strong>") == 1
    overdue = _page(worker.get("/cases?overdue=1"))
    assert "Người Trễ Hạn" in overdue
    assert "Người Đúng" not in overdue
    assert "1 hồ sơ" in overdue
    officer = app.test_client()
    login(officer, make_account(Role.OFFICER))
    officer.post(f"/cases/{late}/close", data={"reason": "moved_away", "note": ""})
    assert "0 hồ sơ" in _page(worker.get("/cases?overdue=1"))
