"""A supervisor reads the plan's indicators on a phone: charts readable at 360 px, the numbers
as a table from the keyboard, and the Excel report downloaded."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.menu import open_menu
from tests.browser.test_roles import main_nav, nav_link, sign_in

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 360, "height": 740}


def test_supervisor_reads_the_indicators_on_a_phone(
    new_page: Callable[..., Page], live_server: LiveServer
) -> None:
    page = new_page(viewport=PHONE)
    login = live_server.logins["supervisor"]
    sign_in(page, login.username, login.password)
    open_menu(page)
    expect(main_nav(page).get_by_role("link", name="Chỉ tiêu")).to_be_visible()
    nav_link(page, "Chỉ tiêu").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chỉ tiêu của Kế hoạch")
    chart = page.get_by_role("img", name=re.compile("Tỷ lệ người sử dụng, người nghiện"))
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] <= PHONE["width"]
    # The same numbers as a table, opened from the keyboard.
    summary = page.locator("summary").first
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("details").first.get_by_role("table")).to_be_visible()
    assert int(page.evaluate("document.documentElement.scrollWidth")) <= PHONE["width"]
    # Another period from the picker, then the Excel report.
    page.get_by_label("Kỳ báo cáo").select_option(value="2026-H1")
    page.get_by_role("button", name="Xem").click()
    expect(page.locator("p", has_text="6 tháng đầu năm 2026 (15/12/2025").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải báo cáo Excel (XLSX)").click()
    assert download.value.suggested_filename == "bao-cao-2026-H1.xlsx"
