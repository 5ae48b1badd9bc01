"""Sign-in, role menus, sign-out, small screens and keyboard use, in a real browser."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.browser.menu import open_menu
from tests.browser.two_factor import answer_code_page

if TYPE_CHECKING:  # conftest is loaded by pytest itself; import it for annotations only
    from tests.browser.conftest import LiveServer, Login

pytestmark = pytest.mark.browser

ADMIN_ENTRIES = ("Tài khoản", "Xã, phường", "Nhật ký truy cập")
GENERIC_LOGIN_ERROR = "Tên đăng nhập hoặc mật khẩu không đúng."
SKIP_LINK = "Bỏ qua, đến nội dung chính"
NARROW: ViewportSize = {"width": 360, "height": 740}
GREETING = re.compile(r"^\s*Xin chào,")


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Điều hướng chính")


def nav_link(page: Page, name: str) -> Locator:
    # exact: the account link reads "… (tài khoản của tôi)", which must not count as "Tài khoản".
    return main_nav(page).get_by_role("link", name=name, exact=True)


def sign_in(page: Page, username: str, password: str) -> None:
    """The password, then (for officers, supervisors and administrators) a code computed from
    the TOTP secret that demo-logins.txt prints, as an authenticator app would."""
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập", exact=True).click()
    answer_code_page(page, username)


def expect_home(page: Page, live_server: LiveServer) -> None:
    expect(page).to_have_url(live_server.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(GREETING)


def expect_signed_out(page: Page, live_server: LiveServer) -> None:
    expect(page).to_have_url(live_server.url("/login"))
    expect(page.get_by_role("button", name="Đăng nhập", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Đăng xuất")).to_have_count(0)


def horizontal_overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.mark.parametrize("role", ["worker", "officer", "supervisor", "admin"])
def test_sign_in_menu_and_sign_out_per_role(page: Page, live_server: LiveServer, role: str) -> None:
    login: Login = live_server.logins[role]
    sign_in(page, login.username, login.password)

    expect_home(page, live_server)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(nav_link(page, "Trang chủ")).to_be_visible()
    for entry in ADMIN_ENTRIES:
        if role == "admin":
            expect(nav_link(page, entry)).to_be_visible()
        else:
            expect(nav_link(page, entry)).to_have_count(0)

    main_nav(page).get_by_role("button", name="Đăng xuất").click()
    expect_signed_out(page, live_server)
    # The session is really over: the home page sends us back to sign in.
    page.goto("/")
    expect(page).to_have_url(re.compile(re.escape(live_server.url("/login"))))


def test_wrong_password_shows_generic_message_and_keeps_only_username(
    page: Page, live_server: LiveServer
) -> None:
    username = live_server.logins["supervisor"].username
    sign_in(page, username, "sai-mat-khau-hoan-toan")

    expect(page).to_have_url(re.compile(re.escape(live_server.url("/login"))))
    expect(page.get_by_role("alert")).to_contain_text(GENERIC_LOGIN_ERROR)
    expect(page.get_by_label("Tên đăng nhập")).to_have_value(username)
    expect(page.get_by_label("Mật khẩu")).to_have_value("")
    expect(page.get_by_role("heading", level=1)).not_to_have_text(GREETING)


def test_narrow_screen_menu_and_no_horizontal_scroll(
    new_page: Callable[..., Page], live_server: LiveServer
) -> None:
    page = new_page(viewport=NARROW)
    page.goto("/login")
    assert horizontal_overflow(page) <= NARROW["width"]

    login = live_server.logins["worker"]
    sign_in(page, login.username, login.password)
    expect_home(page, live_server)
    assert horizontal_overflow(page) <= NARROW["width"]

    toggler = page.get_by_role("button", name="Mở menu")
    sign_out = main_nav(page).get_by_role("button", name="Đăng xuất")
    expect(toggler).to_be_visible()
    expect(sign_out).to_be_hidden()
    open_menu(page)
    expect(sign_out).to_be_visible()
    assert horizontal_overflow(page) <= NARROW["width"]

    sign_out.click()
    expect_signed_out(page, live_server)


def _focus_from_document_start(page: Page) -> None:
    """Put the Tab starting point at the top of <body>, as when arriving from the address bar.

    The sign-in page autofocuses the username field, so a fresh load starts there; a user who
    tabs into the page from the browser's own controls starts at the top instead.
    """
    page.evaluate(
        """() => {
            const marker = document.createElement("span");
            marker.tabIndex = -1;
            document.body.prepend(marker);
            marker.focus();
            marker.remove();
        }"""
    )


def _tab_until(page: Page, target: Locator, max_presses: int = 5) -> int:
    for presses in range(1, max_presses + 1):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return presses
    pytest.fail(f"{target} not reached with {max_presses} presses of Tab")


def _outline_style(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.activeElement).outlineStyle"))


def test_keyboard_reaches_skip_link_first_then_username(page: Page) -> None:
    page.goto("/login")
    username = page.get_by_label("Tên đăng nhập")
    expect(username).to_be_focused()  # autofocus

    _focus_from_document_start(page)
    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name=SKIP_LINK)
    expect(skip_link).to_be_focused()
    expect(skip_link).to_have_attribute("href", "#main")
    assert (skip_link.bounding_box() or {"width": 0})["width"] > 1, "skip link shown on focus"
    assert _outline_style(page) != "none"

    _tab_until(page, username)
    expect(username).to_be_focused()


def test_keyboard_focus_on_username_has_visible_outline(page: Page) -> None:
    page.goto("/login")
    _focus_from_document_start(page)
    _tab_until(page, page.get_by_label("Tên đăng nhập"))
    assert _outline_style(page) != "none"


def test_no_external_resources_during_login(page: Page, live_server: LiveServer) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    login = live_server.logins["worker"]
    sign_in(page, login.username, login.password)
    expect_home(page, live_server)
    page.wait_for_load_state("networkidle")

    assert requested, "no requests were recorded"
    elsewhere = [url for url in requested if urlsplit(url).hostname != "127.0.0.1"]
    assert not elsewhere, f"requests left 127.0.0.1: {elsewhere}"
