"""The main menu on narrow screens: Bootstrap's collapse, opened as a user opens it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

# Bootstrap marks the menu "collapsing" while it slides open and "collapse show" once it is open.
_OPEN = re.compile(r"(^|\s)show(\s|$)")


def open_menu(page: Page) -> None:
    """Tap "Mở menu" and wait until the menu has finished opening.

    While the menu slides open its entries sit in a box still growing, clipped, so a tap then
    may land beside them; a user sees the menu open before tapping an entry, so the tests wait
    for the same moment.
    """
    # Let a navigation that is still under way finish, so the toggler tapped is this page's.
    page.wait_for_load_state()
    toggler = page.get_by_role("button", name="Mở menu")
    toggler.click()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#main-menu")).to_have_class(_OPEN)
