"""The morning routine on a phone: "Việc cần làm", one follow-up recorded in a few taps, and the
officer's overdue view (demo data holds follow-ups around today)."""

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


def _badge_count(page: Page, heading: str) -> int:
    text = page.get_by_role("heading", name=re.compile(heading)).inner_text()
    return int(text.split()[-1])


def test_worker_records_an_overdue_follow_up_from_the_phone(
    new_page: Callable[..., Page], live_server: LiveServer
) -> None:
    page = new_page(viewport=PHONE)
    login = live_server.logins["worker"]
    sign_in(page, login.username, login.password)
    open_menu(page)
    expect(main_nav(page).get_by_role("link", name=re.compile("Thông báo"))).to_be_visible()
    nav_link(page, "Việc cần làm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Việc cần làm")
    overdue = _badge_count(page, "^Quá hạn")
    assert overdue >= 1
    # The most recent overdue one (the oldest, escalated, is left for the officer's test).
    section = page.get_by_role("region", name=re.compile("^Quá hạn"))
    section.get_by_role("link", name=re.compile("^Ghi kết quả")).last.click()
    # The date is already today's: choose what happened and save.
    page.get_by_label("Đã gặp trực tiếp").check()
    page.get_by_role("button", name="Ghi kết quả").click()
    expect(page.get_by_role("status").first).to_contain_text("Đã ghi kết quả lần theo dõi.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Việc cần làm")
    if overdue > 1:
        assert _badge_count(page, "^Quá hạn") == overdue - 1
    else:
        expect(page.get_by_role("heading", name=re.compile("^Quá hạn"))).to_have_count(0)
    assert int(page.evaluate("document.documentElement.scrollWidth")) <= PHONE["width"]


def test_officer_sees_the_escalated_follow_up(
    new_page: Callable[..., Page], live_server: LiveServer
) -> None:
    page = new_page()
    login = live_server.logins["officer"]
    sign_in(page, login.username, login.password)
    nav_link(page, "Theo dõi quá hạn").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Theo dõi quá hạn")
    expect(page.get_by_role("heading", name="Đã báo cán bộ phụ trách")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Chưa giao")  # demo files are unassigned
