"""Two-factor sign-in for the browser tests: codes computed with pyotp from the TOTP secrets
that ``caseapp demo`` prints in demo-logins.txt, as an authenticator app would compute them."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page

# Demo usernames -> TOTP secrets (from demo-logins.txt), and the last time step each one was
# signed in with: the server refuses a code for a step it has already accepted (replay).
TOTP_SECRETS: dict[str, str] = {}
_LAST_STEP: dict[str, int] = {}


def totp_code(username: str) -> str:
    """A code the live server accepts now for ``username``: this step's or the next one's (drift
    allows both), never a step already used; waits for the next step when both are used."""
    totp = pyotp.TOTP(TOTP_SECRETS[username])
    while True:
        current = int(time.time()) // totp.interval
        last = _LAST_STEP.get(username)
        for step in (current, current + 1):
            if last is None or step > last:
                _LAST_STEP[username] = step
                return totp.generate_otp(step)
        time.sleep(totp.interval - time.time() % totp.interval + 0.2)


def answer_code_page(page: Page, username: str) -> None:
    """After the password step: type a current code when the server asks for one."""
    page.wait_for_load_state()  # the page the password form led to
    if urlsplit(page.url).path != "/login/code":
        return
    page.get_by_label("Mã xác thực").fill(totp_code(username))
    page.get_by_role("button", name="Xác nhận", exact=True).click()
