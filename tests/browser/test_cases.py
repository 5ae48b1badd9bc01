"""A commune worker opens, finds and edits a case file in a real browser, in Vietnamese (issue 3).

Every person here is synthetic. The demo database is shared by the whole session, so each test
opens its own case under its own made-up name and never relies on another test's data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.browser.menu import open_menu

if TYPE_CHECKING:  # conftest is loaded by pytest itself; import it for annotations only
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

NARROW: ViewportSize = {"width": 360, "height": 740}
# Case codes as shown: 7K3M-9QXD-Z (Crockford base 32; the check symbol may also be *~$=U).
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z*~$=]")
CATEGORY = "Người sử dụng trái phép chất ma túy"
DRUG = "Ma túy đá (methamphetamine)"
SEARCH_LABEL = "Tìm theo mã hồ sơ, số CCCD hoặc họ tên"
NO_SUCH_DAY = "Ngày này không có trên lịch."


@dataclass(frozen=True)
class Person:
    """A synthetic young man born in 2008: the CCCD's 4th digit (2) and 5th–6th (08) agree."""

    full_name: str
    national_id: str
    marker: str  # an ASCII fragment of the name, to look for in URLs
    date_of_birth: str = "15/03/2008"
    phone: str = "0912 345 678"
    address: str = "Số 7, thôn Đông, xã Thử Nghiệm"
    guardian_name: str = "Nguyễn Thị Mẫu"

    def private_markers(self) -> list[str]:
        return [self.marker.lower(), self.national_id, self.phone.replace(" ", "")[1:]]


# --- helpers -------------------------------------------------------------------------------


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Điều hướng chính")


def nav_link(page: Page, name: str) -> Locator:
    return main_nav(page).get_by_role("link", name=name, exact=True)


def open_menu_if_collapsed(page: Page) -> None:
    # Let a navigation that is still under way finish, so the toggler looked at is this page's.
    page.wait_for_load_state()
    toggler = page.get_by_role("button", name="Mở menu")
    if toggler.is_visible() and toggler.get_attribute("aria-expanded", timeout=30_000) != "true":
        open_menu(page)


def sign_in_worker(page: Page, live_server: LiveServer) -> None:
    login = live_server.logins["worker"]
    assert login.username == "demo.canbo"
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(login.username)
    page.get_by_label("Mật khẩu").fill(login.password)
    page.get_by_role("button", name="Đăng nhập", exact=True).click()
    expect(page).to_have_url(live_server.url("/"))


def go_to(page: Page, nav_entry: str, heading: str) -> None:
    open_menu_if_collapsed(page)
    nav_link(page, nav_entry).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def record_requests(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def assert_local_and_private(urls: list[str], person: Person) -> None:
    """Nothing left 127.0.0.1, and no URL carries the person's name, CCCD or phone."""
    assert urls, "no requests were recorded"
    elsewhere = [url for url in urls if urlsplit(url).hostname != "127.0.0.1"]
    assert not elsewhere, f"requests left 127.0.0.1: {elsewhere}"
    for marker in person.private_markers():
        leaking = [url for url in urls if marker in unquote(url).lower()]
        assert not leaking, f"{marker!r} appears in request URLs: {leaking}"


def fill_case_form(page: Page, person: Person) -> None:
    page.get_by_label("Họ và tên").fill(person.full_name)
    page.get_by_label("Ngày sinh").fill(person.date_of_birth)
    page.get_by_label("Giới tính").select_option(label="Nam")
    page.get_by_label("Số định danh cá nhân (CCCD)").fill(person.national_id)
    page.get_by_label("Số điện thoại", exact=True).fill(person.phone)
    page.get_by_label("Nơi ở hiện tại").fill(person.address)
    page.get_by_label("Họ tên người giám hộ (người đại diện hợp pháp)").fill(person.guardian_name)
    page.get_by_label("Đối tượng").select_option(label=CATEGORY)
    page.get_by_role("group", name="Loại ma túy sử dụng").get_by_label(DRUG).check()


def open_case(page: Page, person: Person) -> str:
    """From any signed-in page: open a new case through the menu; returns its code as shown."""
    go_to(page, "Mở hồ sơ mới", "Mở hồ sơ mới")
    fill_case_form(page, person)
    page.get_by_role("button", name="Lưu hồ sơ").click()

    expect(confirmation(page)).to_be_visible()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(rf"^Hồ sơ {CODE.pattern}"))
    match = CODE.search(heading.inner_text())
    assert match is not None
    code = match.group(0)
    expect(detail_value(page, "Họ và tên")).to_have_text(person.full_name)
    return code


def confirmation(page: Page) -> Locator:
    return page.get_by_role("status").filter(has_text="Đã mở hồ sơ")


def detail_value(page: Page, term: str) -> Locator:
    """The <dd> after the <dt> of that name on a case's detail page."""
    return (
        page.locator("dt")
        .filter(has_text=re.compile(rf"^{re.escape(term)}$"))
        .locator("xpath=following-sibling::dd[1]")
    )


def timeline(page: Page) -> Locator:
    expect(page.get_by_role("heading", name="Diễn biến hồ sơ")).to_be_visible()
    return page.locator("h2:text-is('Diễn biến hồ sơ') + ol").get_by_role("listitem")


def search(page: Page, text: str) -> None:
    box = page.get_by_label(SEARCH_LABEL)
    box.fill(text)
    box.press("Enter")


def horizontal_overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


# --- tests ---------------------------------------------------------------------------------


def test_worker_opens_a_case_through_the_labelled_form(page: Page, live_server: LiveServer) -> None:
    person = Person("Nguyễn Văn Zzyzx", national_id="034208012345", marker="zzyzx")
    urls = record_requests(page)
    sign_in_worker(page, live_server)

    code = open_case(page, person)

    expect(page).to_have_title(re.compile(rf"^Hồ sơ {re.escape(code)}"))
    expect(detail_value(page, "Ngày sinh")).to_contain_text(person.date_of_birth)
    expect(detail_value(page, "Giới tính")).to_have_text("Nam")
    expect(detail_value(page, "Số CCCD")).to_have_text(person.national_id)
    expect(detail_value(page, "Số điện thoại")).to_have_text(person.phone)
    expect(detail_value(page, "Nơi ở hiện tại")).to_have_text(person.address)
    expect(detail_value(page, "Người giám hộ")).to_contain_text(person.guardian_name)
    expect(detail_value(page, "Đối tượng")).to_have_text(CATEGORY)
    expect(detail_value(page, "Loại ma túy")).to_have_text(DRUG)
    expect(detail_value(page, "Cán bộ được giao")).to_have_text("Cán bộ Demo (xã)")
    expect(timeline(page).first).to_contain_text("Mở hồ sơ")

    page.wait_for_load_state("networkidle")
    assert_local_and_private(urls, person)
    # The confirmation names the code as people read and type it (XXXX-XXXX-X), like the heading.
    expect(confirmation(page)).to_have_text(f"Đã mở hồ sơ {code}.")


def test_worker_finds_a_case_by_name_without_diacritics_cccd_and_code(
    page: Page, live_server: LiveServer
) -> None:
    person = Person("Hoàng Văn Zzyzx Tìm", national_id="001208054321", marker="zzyzx")
    urls = record_requests(page)
    sign_in_worker(page, live_server)
    code = open_case(page, person)

    go_to(page, "Hồ sơ", "Hồ sơ quản lý")
    search(page, "van zzyzx")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tìm hồ sơ")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=code, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(person.full_name)  # the commune's own worker sees the name
    expect(page.get_by_label(SEARCH_LABEL)).to_have_value("van zzyzx")

    search(page, person.national_id)
    expect(page.get_by_role("table")).to_contain_text(code)
    expect(page.get_by_role("row")).to_have_count(2)  # the header and this one case

    go_to(page, "Hồ sơ", "Hồ sơ quản lý")
    search(page, code.lower())  # typed leniently: lower case, with dashes
    expect(page).to_have_url(live_server.url("/cases/" + code.replace("-", "")))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Hồ sơ {code}")
    expect(detail_value(page, "Họ và tên")).to_have_text(person.full_name)

    page.wait_for_load_state("networkidle")
    assert_local_and_private(urls, person)


def test_worker_edits_a_case_and_sees_a_refused_date_next_to_its_field(
    page: Page, live_server: LiveServer
) -> None:
    person = Person("Lê Văn Qxqwz", national_id="036208098765", marker="qxqwz")
    new_address = "Số 12, thôn Tây, xã Thử Nghiệm"
    urls = record_requests(page)
    sign_in_worker(page, live_server)
    code = open_case(page, person)

    page.get_by_role("link", name="Sửa hồ sơ").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sửa hồ sơ {code}")
    expect(page.get_by_label("Họ và tên")).to_have_value(person.full_name)
    page.get_by_label("Nơi ở hiện tại").fill(new_address)
    page.get_by_role("button", name="Lưu hồ sơ").click()

    expect(page.get_by_role("status").filter(has_text="Đã lưu hồ sơ.")).to_be_visible()
    expect(detail_value(page, "Nơi ở hiện tại")).to_have_text(new_address)
    latest = timeline(page).first
    expect(latest).to_contain_text("Cập nhật hồ sơ")
    expect(latest).to_contain_text("Nơi ở hiện tại")

    page.get_by_role("link", name="Sửa hồ sơ").click()
    date_of_birth = page.get_by_label("Ngày sinh")
    date_of_birth.fill("31/02/2010")
    page.get_by_role("button", name="Lưu hồ sơ").click()

    expect(page).to_have_title(re.compile(r"^Lỗi:"))
    date_of_birth = page.get_by_label("Ngày sinh")
    expect(date_of_birth).to_have_value("31/02/2010")
    expect(date_of_birth).to_have_attribute("aria-invalid", "true")
    expect(date_of_birth).to_have_accessible_description(re.compile(re.escape(NO_SUCH_DAY)))
    # Next to the field: in the field's own block, under the input.
    field_block = date_of_birth.locator("xpath=..")
    expect(field_block.get_by_text(NO_SUCH_DAY)).to_be_visible()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text(NO_SUCH_DAY)
    expect(summary.get_by_role("link", name="Ngày sinh")).to_have_attribute(
        "href", "#date_of_birth"
    )
    # The rest of what was typed is kept, and nothing was saved.
    expect(page.get_by_label("Nơi ở hiện tại")).to_have_value(new_address)
    page.goto(f"/cases/{code.replace('-', '')}")
    expect(detail_value(page, "Ngày sinh")).to_contain_text(person.date_of_birth)

    page.wait_for_load_state("networkidle")
    assert_local_and_private(urls, person)


def test_phone_screen_case_list_and_form_have_no_horizontal_scroll(
    new_page: Callable[..., Page], live_server: LiveServer
) -> None:
    page = new_page(viewport=NARROW)
    person = Person("Vũ Văn Zzqxv", national_id="031208011111", marker="zzqxv")
    urls = record_requests(page)
    sign_in_worker(page, live_server)

    go_to(page, "Mở hồ sơ mới", "Mở hồ sơ mới")
    assert horizontal_overflow(page) <= NARROW["width"], "empty case form"
    page.get_by_role("button", name="Lưu hồ sơ").click()  # nothing filled in: errors shown
    expect(page).to_have_title(re.compile(r"^Lỗi:"))
    assert horizontal_overflow(page) <= NARROW["width"], "case form with errors"

    fill_case_form(page, person)
    page.get_by_role("button", name="Lưu hồ sơ").click()
    expect(confirmation(page)).to_be_visible()

    go_to(page, "Hồ sơ", "Hồ sơ quản lý")
    expect(page.get_by_role("row").filter(has_text=person.full_name)).to_have_count(1)
    assert horizontal_overflow(page) <= NARROW["width"], "case list"

    page.wait_for_load_state("networkidle")
    assert_local_and_private(urls, person)
