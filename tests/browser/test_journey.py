"""A youth's whole journey through the real screens, by a commune worker and an officer (issue 4).

A synthetic young man goes from screening through community rehab, post-rehab management,
vocational training, a job and a loan referral to certified reintegration and the closing of his
file. The history is back-dated (dates cannot be in the future, and the rules need six months of
rehab, twelve of post-rehab management and six continuous months of confirmed employment), so
every date is computed from today in Asia/Ho_Chi_Minh, the deployment's time zone.

The demo officer's scope is a former district that does not hold the demo worker's commune, so the
administrator first widens it to the whole province through the account screen. The demo database
is shared by the session: this test opens its own case and relies on no other test's data.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.two_factor import answer_code_page

if TYPE_CHECKING:  # conftest is loaded by pytest itself; import it for annotations only
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z*~$=]")
SAVED = "Đã ghi vào hồ sơ."
OFFICER_NAME = "Cán bộ phụ trách Demo"
CHECK_SPACING_DAYS = 30  # a monthly follow-up of the job
MAX_CHECK_GAP_DAYS = 45  # the stable-job rule: at most this many days between confirmations


# --- dates ---------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier); the month's last day when it has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def dmy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


@dataclass(frozen=True)
class History:
    """A back-dated history that ends today, each step after the one before."""

    today: date
    intake: date
    determined: date
    rehab_start: date
    rehab_end: date
    post_start: date
    post_end: date
    training_start: date
    training_end: date
    job_start: date
    job_checks: tuple[date, ...]
    consent: date
    loan: date


def history_until(today: date) -> History:
    intake = add_months(today, -36)
    rehab_start = intake + timedelta(days=5)
    rehab_end = add_months(rehab_start, 6)  # the 6-month minimum of voluntary rehab
    post_start = rehab_end + timedelta(days=1)
    post_end = add_months(post_start, 12)  # 12 months of post-rehab management
    training_start = post_end + timedelta(days=14)
    job_start = add_months(today, -7)  # more than the 6 continuous months required
    span = (today - job_start).days
    count = round(span / CHECK_SPACING_DAYS)
    job_checks = tuple(
        job_start + timedelta(days=round(i * span / count)) for i in range(1, count + 1)
    )
    consent = job_start + timedelta(days=10)
    history = History(
        today=today,
        intake=intake,
        determined=intake + timedelta(days=2),
        rehab_start=rehab_start,
        rehab_end=rehab_end,
        post_start=post_start,
        post_end=post_end,
        training_start=training_start,
        training_end=add_months(training_start, 3),
        job_start=job_start,
        job_checks=job_checks,
        consent=consent,
        loan=consent + timedelta(days=2),
    )
    assert history.training_end < history.job_start
    assert job_checks[-1] == today
    gaps = [(b - a).days for a, b in zip((job_start, *job_checks[:-1]), job_checks, strict=True)]
    assert max(gaps) <= MAX_CHECK_GAP_DAYS, gaps
    return history


@dataclass(frozen=True)
class Youth:
    full_name: str = "Trần Văn Hành Trình"
    date_of_birth: str = "15/06/2000"  # an adult all along
    national_id: str = "034200135790"  # Thái Bình (034), a man born in the 2000s (2), 2000 (00)
    phone: str = "0987 654 321"
    address: str = "Số 9, tổ 3, phường Thử Nghiệm"


# --- page helpers --------------------------------------------------------------------------


def record_requests(page: Page, urls: list[str]) -> Page:
    page.on("request", lambda request: urls.append(request.url))
    return page


def sign_in(page: Page, live_server: LiveServer, role: str) -> None:
    login = live_server.logins[role]
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(login.username)
    page.get_by_label("Mật khẩu").fill(login.password)
    page.get_by_role("button", name="Đăng nhập", exact=True).click()
    answer_code_page(page, login.username)
    expect(page).to_have_url(live_server.url("/"))


def nav_link(page: Page, name: str) -> Locator:
    nav = page.get_by_role("navigation", name="Điều hướng chính")
    return nav.get_by_role("link", name=name, exact=True)


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def panel(page: Page) -> Locator:
    """The case page's "Bước tiếp theo" panel."""
    return page.get_by_role("region", name="Bước tiếp theo")


def next_step(page: Page, name: str) -> Locator:
    """A next step offered as a link in the panel's list (not the "Ghi thêm" shortcuts)."""
    return panel(page).get_by_role("list").get_by_role("link", name=name, exact=True)


def open_step(page: Page, link: str, title: str) -> None:
    next_step(page, link).click()
    expect(heading(page)).to_have_text(title)


def save_step(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_role("status").filter(has_text=SAVED)).to_be_visible()


def detail_value(page: Page, term: str) -> Locator:
    return (
        page.locator("dt")
        .filter(has_text=re.compile(rf"^{re.escape(term)}$"))
        .locator("xpath=following-sibling::dd[1]")
    )


def expect_phase(page: Page, phase: str, category: str | None = None) -> None:
    expect(detail_value(page, "Giai đoạn")).to_have_text(phase)
    if category is not None:
        expect(detail_value(page, "Đối tượng")).to_have_text(category)


def timeline(page: Page) -> Locator:
    return page.locator("h2:text-is('Diễn biến hồ sơ') + ol").get_by_role("listitem")


def expect_latest_event(page: Page, label: str, actor: str | None = None) -> None:
    latest = timeline(page).first
    expect(latest.locator("strong")).to_have_text(label)
    if actor is not None:
        expect(latest).to_contain_text(actor)


def step_row(page: Page, step: str) -> Locator:
    table = page.get_by_role("table", name="Các bước đã ghi")
    return table.get_by_role("row").filter(has=page.get_by_role("cell", name=step, exact=True))


def queue_item(page: Page, section: str, code: str) -> Locator:
    """The case's entry in one list of the officer's queue "Chờ phê duyệt"."""
    lists = page.locator(f"h2:text-is('{section}') + ul")
    return lists.get_by_role("listitem").filter(has=page.get_by_role("link", name=code, exact=True))


# --- the journey ---------------------------------------------------------------------------


def widen_officer_scope(page: Page, live_server: LiveServer) -> None:
    """The administrator gives the demo officer the whole province (its sessions then end)."""
    officer = live_server.logins["officer"].username
    sign_in(page, live_server, "admin")
    nav_link(page, "Tài khoản").click()
    expect(heading(page)).to_have_text("Tài khoản")
    page.get_by_role("link", name=officer, exact=True).click()
    expect(heading(page)).to_have_text(f"Sửa tài khoản {officer}")
    page.get_by_label("Phạm vi").select_option(label="Toàn tỉnh")
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(f"Đã lưu tài khoản {officer}.")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=officer, exact=True))
    expect(row).to_contain_text("Toàn tỉnh")


def open_case(page: Page, youth: Youth, history: History) -> str:
    nav_link(page, "Mở hồ sơ mới").click()
    expect(heading(page)).to_have_text("Mở hồ sơ mới")
    page.get_by_label("Họ và tên").fill(youth.full_name)
    page.get_by_label("Ngày sinh").fill(youth.date_of_birth)
    page.get_by_label("Giới tính").select_option(label="Nam")
    page.get_by_label("Số định danh cá nhân (CCCD)").fill(youth.national_id)
    page.get_by_label("Số điện thoại", exact=True).fill(youth.phone)
    page.get_by_label("Nơi ở hiện tại").fill(youth.address)
    page.get_by_label("Đối tượng").select_option(label="Người sử dụng trái phép chất ma túy")
    page.get_by_role("group", name="Loại ma túy sử dụng").get_by_label(
        "Ma túy đá (methamphetamine)"
    ).check()
    page.get_by_label("Ngày tiếp nhận").fill(dmy(history.intake))
    page.get_by_role("button", name="Lưu hồ sơ").click()

    expect(page.get_by_role("status").filter(has_text="Đã mở hồ sơ")).to_be_visible()
    expect(heading(page)).to_have_text(re.compile(rf"^Hồ sơ {CODE.pattern}"))
    match = CODE.search(heading(page).inner_text())
    assert match is not None
    expect(detail_value(page, "Họ và tên")).to_have_text(youth.full_name)
    expect(detail_value(page, "Ngày tiếp nhận")).to_have_text(dmy(history.intake))
    expect_phase(page, "Tiếp nhận", "Người sử dụng trái phép chất ma túy")
    expect_latest_event(page, "Mở hồ sơ")
    return match.group(0)


def screen_and_determine(page: Page, history: History) -> None:
    open_step(page, "Ghi kết quả sàng lọc", "Sàng lọc")
    page.get_by_label("Ngày sàng lọc").fill(dmy(history.intake))
    page.get_by_label("Nguồn phát hiện").select_option(label="Công an")
    page.get_by_label("Phương pháp").select_option(label="Xét nghiệm chất ma túy trong cơ thể")
    page.get_by_label("Kết quả").select_option(label="Dương tính / có sử dụng")
    save_step(page, "Lưu kết quả sàng lọc")
    expect_phase(page, "Sàng lọc")
    expect_latest_event(page, "Sàng lọc")

    open_step(
        page, "Xác định tình trạng nghiện tại cơ sở y tế", "Xác định tình trạng nghiện ma túy"
    )
    page.get_by_label("Ngày xác định").fill(dmy(history.determined))
    page.get_by_label("Cơ sở y tế đủ điều kiện").fill("Trung tâm Y tế Thử Nghiệm")
    page.get_by_label("Kết luận").select_option(label="Nghiện ma túy")
    page.get_by_label("Số phiếu kết quả").fill("XĐN-0427")
    save_step(page, "Lưu kết quả")
    expect_phase(page, "Xác định tình trạng nghiện", "Người nghiện ma túy")
    expect_latest_event(page, "Xác định tình trạng nghiện")
    expect(next_step(page, "Đăng ký cai nghiện hoặc điều trị methadone")).to_be_visible()


def community_rehab(page: Page, history: History) -> None:
    open_step(page, "Đăng ký cai nghiện hoặc điều trị methadone", "Bắt đầu cai nghiện, điều trị")
    form = "Cai nghiện tự nguyện tại gia đình, cộng đồng"
    page.get_by_label("Hình thức cai nghiện").select_option(label=form)
    page.get_by_label("Ngày bắt đầu").fill(dmy(history.rehab_start))
    page.get_by_label("Thời hạn (tháng)").fill("3")  # shorter than the law allows
    page.get_by_role("button", name="Bắt đầu đợt cai").click()

    # The refusal names the allowed range next to the field; what was typed is kept.
    allowed = re.compile(r"Thời hạn phải từ 6 đến 12 tháng theo .+\.")
    expect(page).to_have_title(re.compile(r"^Lỗi:"))
    months = page.get_by_label("Thời hạn (tháng)")
    expect(months).to_have_attribute("aria-invalid", "true")
    expect(months).to_have_accessible_description(allowed)
    expect(page.get_by_role("alert")).to_contain_text("Thời hạn phải từ 6 đến 12 tháng")
    expect(months).to_have_value("3")
    expect(page.get_by_label("Ngày bắt đầu")).to_have_value(dmy(history.rehab_start))
    expect(page.get_by_label("Hình thức cai nghiện").locator("option:checked")).to_have_text(form)

    months.fill("6")
    save_step(page, "Bắt đầu đợt cai")
    expect_phase(page, "Điều trị, cai nghiện", "Đang cai nghiện ma túy")
    expect_latest_event(page, "Bắt đầu cai nghiện, điều trị")
    expect(step_row(page, form)).to_have_count(1)  # the refused attempt wrote nothing
    expect(step_row(page, form)).to_contain_text(
        f"Giai đoạn 1/5: Tiếp nhận, phân loại · dự kiến kết thúc {dmy(history.rehab_end)}"
    )

    for stage in range(2, 6):
        open_step(page, "Cập nhật giai đoạn cai nghiện", "Chuyển sang giai đoạn cai tiếp theo")
        save_step(page, "Xác nhận")
        expect(step_row(page, form)).to_contain_text(f"Giai đoạn {stage}/5")
        expect_latest_event(page, "Chuyển giai đoạn cai nghiện")
    expect(step_row(page, form)).to_contain_text("Chuẩn bị tái hòa nhập cộng đồng")
    expect(next_step(page, "Cập nhật giai đoạn cai nghiện")).to_have_count(0)

    open_step(page, "Kết thúc đợt cai nghiện", "Kết thúc đợt cai nghiện")
    page.get_by_label("Ngày kết thúc").fill(dmy(history.rehab_end))
    page.get_by_label("Kết quả").select_option(label="Hoàn thành")
    page.get_by_label("Số giấy chứng nhận hoàn thành").fill("GCN-CN-0117")
    save_step(page, "Kết thúc đợt cai")
    expect_latest_event(page, "Kết thúc đợt cai nghiện")
    expect(step_row(page, form)).to_contain_text("Hoàn thành · chờ phê duyệt")
    # Until the officer approves, the youth is still in treatment and the worker can only wait.
    expect_phase(page, "Điều trị, cai nghiện", "Đang cai nghiện ma túy")
    expect(panel(page)).to_contain_text("Chờ cán bộ phụ trách phê duyệt hoàn thành cai nghiện")
    expect(next_step(page, "Bắt đầu quản lý sau cai nghiện")).to_have_count(0)


def approve_in_queue(page: Page, section: str, code: str) -> None:
    nav_link(page, "Chờ phê duyệt").click()
    expect(heading(page)).to_have_text("Chờ phê duyệt")
    item = queue_item(page, section, code)
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Phê duyệt").click()
    expect(page.get_by_role("status")).to_have_text("Đã phê duyệt.")
    expect(queue_item(page, section, code)).to_have_count(0)


def post_rehab_management(page: Page, history: History) -> None:
    open_step(page, "Bắt đầu quản lý sau cai nghiện", "Quản lý sau cai nghiện")
    page.get_by_label("Ngày bắt đầu quản lý sau cai").fill(dmy(history.post_start))
    save_step(page, "Bắt đầu quản lý sau cai")
    expect_phase(page, "Quản lý sau cai nghiện", "Người sau cai nghiện ma túy")
    expect_latest_event(page, "Bắt đầu quản lý sau cai")
    row = step_row(page, "Quản lý sau cai nghiện")
    expect(row).to_contain_text(f"dự kiến kết thúc {dmy(history.post_end)}")  # 12 months

    open_step(page, "Kết thúc quản lý sau cai nghiện", "Kết thúc quản lý sau cai nghiện")
    page.get_by_label("Ngày kết thúc").fill(dmy(history.post_end))
    page.get_by_label("Số giấy chứng nhận hoàn thành").fill("GCN-SC-0093")
    save_step(page, "Kết thúc quản lý sau cai")
    expect_latest_event(page, "Kết thúc quản lý sau cai")
    expect(row).to_contain_text(f"{dmy(history.post_start)} – {dmy(history.post_end)}")
    expect(row).to_contain_text("chờ phê duyệt")
    expect_phase(page, "Quản lý sau cai nghiện")
    expect(panel(page)).to_contain_text("Chờ cán bộ phụ trách phê duyệt hoàn thành quản lý sau cai")


def training_and_job(page: Page, history: History) -> None:
    open_step(page, "Học nghề", "Đào tạo nghề (học nghề)")
    page.get_by_label("Nghề, khóa học").fill("Mộc dân dụng")
    page.get_by_label("Cơ sở đào tạo").fill("Trường Trung cấp nghề Thử Nghiệm")
    page.get_by_label("Ngày bắt đầu").fill(dmy(history.training_start))
    page.get_by_label("Kết quả").select_option(label="Hoàn thành")
    page.get_by_label("Ngày kết thúc").fill(dmy(history.training_end))
    page.get_by_label("Số chứng chỉ, giấy chứng nhận").fill("CC-MOC-0451")
    save_step(page, "Lưu khóa học nghề")
    expect_latest_event(page, "Đào tạo nghề")
    expect(step_row(page, "Đào tạo nghề")).to_contain_text("Hoàn thành · chứng chỉ CC-MOC-0451")
    expect(next_step(page, "Học nghề")).to_have_count(0)  # the course is completed

    open_step(page, "Giới thiệu việc làm", "Giới thiệu việc làm")
    page.get_by_label("Ngày bắt đầu làm việc").fill(dmy(history.job_start))
    page.get_by_label("Ngành nghề").select_option(label="Tiểu thủ công nghiệp, làng nghề")
    page.get_by_label("Nơi làm việc").select_option(label="Hộ kinh doanh")
    page.get_by_label("Tên người sử dụng lao động").fill("Xưởng mộc Thử Nghiệm")
    page.get_by_label("Hợp đồng lao động").select_option(
        label="Hợp đồng xác định thời hạn từ 12 đến 36 tháng"
    )
    page.get_by_label("Thu nhập").select_option(label="Từ 5 đến dưới 8 triệu đồng/tháng")
    save_step(page, "Lưu việc làm")
    expect_latest_event(page, "Giới thiệu việc làm")
    job_row = step_row(page, "Việc làm")
    expect(job_row).to_contain_text("Xưởng mộc Thử Nghiệm")
    expect(job_row).to_contain_text("Chưa có lần theo dõi nào")

    for checked_on in history.job_checks:  # monthly follow-ups, the last one today
        open_step(page, "Xác nhận còn làm việc", "Xác nhận còn làm việc")
        page.get_by_label("Ngày theo dõi").fill(dmy(checked_on))
        page.get_by_label("Kết quả").select_option(label="Còn làm việc")
        save_step(page, "Lưu lần theo dõi")
        expect_latest_event(page, "Theo dõi việc làm")
    expect(job_row).to_contain_text(
        f"Đã xác nhận còn làm việc {len(history.job_checks)} lần, gần nhất {dmy(history.today)}"
    )


def loan_referral(page: Page, history: History) -> None:
    loan_step = "Giới thiệu vay vốn Ngân hàng Chính sách xã hội"
    consent_note = "Cần ghi sự đồng ý cho mục đích giới thiệu vay vốn trước."
    expect(panel(page)).to_contain_text(consent_note)

    panel(page).get_by_role("link", name="Sự đồng ý", exact=True).click()
    expect(heading(page)).to_have_text("Ghi sự đồng ý")
    page.get_by_label("Mục đích").select_option(label="Giới thiệu vay vốn")
    page.get_by_label("Ngày đồng ý").fill(dmy(history.consent))
    save_step(page, "Lưu sự đồng ý")
    expect_latest_event(page, "Ghi sự đồng ý")
    expect(step_row(page, "Sự đồng ý")).to_contain_text("Giới thiệu vay vốn · còn hiệu lực")
    expect(panel(page)).not_to_contain_text(consent_note)

    open_step(page, loan_step, loan_step)
    page.get_by_label("Chương trình").select_option(label="Quỹ quốc gia về việc làm")
    page.get_by_label("Ngày giới thiệu").fill(dmy(history.loan))
    page.get_by_label("Số tiền đề nghị vay (đồng)").fill("50.000.000")
    save_step(page, "Giới thiệu vay vốn")
    expect_latest_event(page, "Giới thiệu vay vốn")
    loan_row = step_row(page, "Vay vốn")
    expect(loan_row).to_contain_text("Quỹ quốc gia về việc làm · Đã giới thiệu")
    expect(loan_row).to_contain_text("Đề nghị 50.000.000 đồng")
    expect(next_step(page, loan_step)).to_have_count(0)


def certify_and_close(page: Page, code: str, history: History) -> None:
    stable = f"việc làm ổn định 7 tháng liên tục, từ {dmy(history.job_start)}"
    nav_link(page, "Chờ phê duyệt").click()
    expect(queue_item(page, "Chứng nhận tái hòa nhập cộng đồng", code)).to_contain_text(stable)
    queue_item(page, "Chứng nhận tái hòa nhập cộng đồng", code).get_by_role(
        "link", name=code
    ).click()
    expect(heading(page)).to_contain_text(f"Hồ sơ {code}")

    title = "Chứng nhận tái hòa nhập cộng đồng"
    open_step(page, "Chứng nhận tái hòa nhập (cán bộ phụ trách)", title)
    expect(page.get_by_text("Đủ điều kiện việc làm ổn định")).to_have_text(
        "Đủ điều kiện việc làm ổn định: đã xác nhận còn làm việc liên tục 7 tháng "
        f"(từ {dmy(history.job_start)}), không tái nghiện."
    )
    expect(page.get_by_label("Ngày chứng nhận")).to_have_value(dmy(history.today))
    save_step(page, title)
    expect_phase(page, "Tái hòa nhập cộng đồng")
    expect_latest_event(page, title, OFFICER_NAME)
    expect(step_row(page, title)).to_contain_text(
        f"Việc làm ổn định 7 tháng liên tục · {OFFICER_NAME}"
    )

    next_step(page, "Đóng hồ sơ: đã tái hòa nhập cộng đồng").click()
    expect(heading(page)).to_have_text(f"Đóng hồ sơ {code}")
    page.get_by_label("Lý do đóng hồ sơ").select_option(label="Đã tái hòa nhập cộng đồng")
    page.get_by_role("button", name="Đóng hồ sơ", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Đã đóng hồ sơ.")).to_be_visible()
    expect(heading(page)).to_contain_text("Đã đóng")
    expect(detail_value(page, "Lý do đóng")).to_have_text("Đã tái hòa nhập cộng đồng")
    expect(panel(page)).to_contain_text("Hồ sơ đã đóng.")
    expect_latest_event(page, "Đóng hồ sơ", OFFICER_NAME)


EXPECTED_TIMELINE = [  # oldest first
    "Mở hồ sơ",
    "Sàng lọc",
    "Xác định tình trạng nghiện",
    "Bắt đầu cai nghiện, điều trị",
    *["Chuyển giai đoạn cai nghiện"] * 4,
    "Kết thúc đợt cai nghiện",
    "Phê duyệt hoàn thành cai nghiện",
    "Bắt đầu quản lý sau cai",
    "Kết thúc quản lý sau cai",
    "Phê duyệt hoàn thành quản lý sau cai",
    "Đào tạo nghề",
    "Giới thiệu việc làm",
    # the job follow-ups come here
    "Ghi sự đồng ý",
    "Giới thiệu vay vốn",
    "Chứng nhận tái hòa nhập cộng đồng",
    "Đóng hồ sơ",
]


def test_youth_journey_from_screening_to_certified_reintegration_and_closure(
    new_page: Callable[..., Page], live_server: LiveServer
) -> None:
    history = history_until(datetime.now(VIETNAM).date())
    youth = Youth()
    urls: list[str] = []
    admin = record_requests(new_page(), urls)
    worker = record_requests(new_page(), urls)
    officer = record_requests(new_page(), urls)

    widen_officer_scope(admin, live_server)
    sign_in(worker, live_server, "worker")
    sign_in(officer, live_server, "officer")

    # The worker opens the file, back-dated to the intake, and records the first steps.
    code = open_case(worker, youth, history)
    case_url = worker.url
    screen_and_determine(worker, history)
    community_rehab(worker, history)

    # The officer approves the rehab completion; the case moves to post-rehab management.
    approve_in_queue(officer, "Hoàn thành cai nghiện", code)
    officer.goto(case_url)
    expect_phase(officer, "Quản lý sau cai nghiện", "Người sau cai nghiện ma túy")
    expect_latest_event(officer, "Phê duyệt hoàn thành cai nghiện", OFFICER_NAME)
    expect(step_row(officer, "Cai nghiện tự nguyện tại gia đình, cộng đồng")).to_contain_text(
        "Hoàn thành · đã phê duyệt"
    )

    worker.reload()
    post_rehab_management(worker, history)

    approve_in_queue(officer, "Hoàn thành quản lý sau cai nghiện", code)
    worker.reload()
    expect_phase(worker, "Học tập, học nghề, việc làm", "Người sau cai nghiện ma túy")
    expect_latest_event(worker, "Phê duyệt hoàn thành quản lý sau cai", OFFICER_NAME)
    expect(step_row(worker, "Quản lý sau cai nghiện")).to_contain_text("đã phê duyệt")

    training_and_job(worker, history)
    loan_referral(worker, history)
    # Only the officer certifies: the worker sees the step, without a link to it.
    certify_label = "Chứng nhận tái hòa nhập (cán bộ phụ trách)"
    expect(panel(worker).get_by_role("list")).to_contain_text(certify_label)
    expect(next_step(worker, certify_label)).to_have_count(0)
    expect_phase(worker, "Học tập, học nghề, việc làm")

    certify_and_close(officer, code, history)

    # The worker sees the closed file: no next step, and the whole story in the timeline.
    worker.reload()
    expect(detail_value(worker, "Lý do đóng")).to_have_text("Đã tái hòa nhập cộng đồng")
    expect(panel(worker).get_by_role("list").get_by_role("link")).to_have_count(0)
    labels = [label.strip() for label in timeline(worker).locator("strong").all_inner_texts()]
    checks = len(history.job_checks)
    follow_ups = EXPECTED_TIMELINE.index("Ghi sự đồng ý")
    expected = [
        *EXPECTED_TIMELINE[:follow_ups],
        *["Theo dõi việc làm"] * checks,
        *EXPECTED_TIMELINE[follow_ups:],
    ]
    assert labels[::-1] == expected

    for page in (admin, worker, officer):
        page.wait_for_load_state("networkidle")
    assert urls, "no requests were recorded"
    elsewhere = [url for url in urls if urlsplit(url).hostname != "127.0.0.1"]
    assert not elsewhere, f"requests left 127.0.0.1: {elsewhere}"
