"""Fixtures for the browser tests: the real CaseApp server and Debian's Chromium.

The server is started exactly as an operator would: ``caseapp init``, ``caseapp demo --if-empty``
and ``caseapp serve`` (waitress) on a free port of 127.0.0.1, with a temporary SQLite instance.
No browser is ever downloaded: Playwright drives ``/usr/bin/chromium`` from Debian.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.browser.two_factor import TOTP_SECRETS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROLES = ("worker", "officer", "supervisor", "admin")
CHROMIUM_MISSING = (
    "Debian Chromium (/usr/bin/chromium) is not installed: apt-get install -y chromium"
)
STARTUP_TIMEOUT = 30.0
# Assertions wait this long: a loaded CI machine (the server's scheduler thread, a parallel
# benchmark) can take more than Playwright's default 5 s to answer one request.
expect.set_options(timeout=15_000)
COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    password: str
    scope: str
    totp_secret: str | None = None  # officer, supervisor, administrator: two-factor sign-in


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    logins: dict[str, Login]  # by role: worker, officer, supervisor, admin
    log_file: Path

    def url(self, path: str) -> str:
        return self.base_url + path


def _caseapp_command() -> str:
    script = Path(sys.executable).parent / "caseapp"
    if not script.exists():
        pytest.fail(f"The caseapp console script is missing next to {sys.executable}")
    return str(script)


def _server_env(instance: Path) -> dict[str, str]:
    """The caller's environment without any CASEAPP_* setting (no external database URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEAPP_")}
    env["CASEAPP_INSTANCE"] = str(instance)
    env["CASEAPP_LOCAL_HTTP"] = "1"
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        args, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_demo_logins(text: str) -> dict[str, Login]:
    """Rows of ``role  username  password  totp-secret  scope`` from ``demo-logins.txt``; the
    secret is ``-`` for a role signing in without a second factor."""
    logins: dict[str, Login] = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=4)
        if len(parts) >= 4 and parts[0] in ROLES:
            role, username, password, secret = parts[:4]
            totp_secret = None if secret == "-" else secret
            scope = parts[4] if len(parts) > 4 else ""
            logins[role] = Login(role, username, password, scope, totp_secret)
            if totp_secret:
                TOTP_SECRETS[username] = totp_secret
    missing = set(ROLES) - set(logins)
    if missing:
        pytest.fail(f"demo-logins.txt lacks the roles {sorted(missing)}:\n{text}")
    for role in ("officer", "supervisor", "admin"):
        if logins[role].totp_secret is None:
            pytest.fail(f"demo-logins.txt has no TOTP secret for the {role}:\n{text}")
    return logins


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"caseapp serve exited with {proc.returncode}:\n{log_file.read_text('utf-8')}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http://127.0.0.1
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = repr(exc)
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer 200 in {STARTUP_TIMEOUT}s ({last_error})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app: a fresh instance with the demo accounts, served by waitress."""
    caseapp = _caseapp_command()
    instance = tmp_path_factory.mktemp("caseapp-instance")
    env = _server_env(instance)
    _run([caseapp, "init"], env)
    _run([caseapp, "demo", "--if-empty"], env)
    logins = parse_demo_logins((instance / "demo-logins.txt").read_text("utf-8"))

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_file = instance / "serve.log"
    with log_file.open("wb") as log:
        # Output goes to a file, not a pipe: nothing to drain, nothing left open.
        proc = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [caseapp, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(base_url + "/healthz", proc, log_file)
        yield LiveServer(base_url=base_url, logins=logins, log_file=log_file)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(CHROMIUM_MISSING)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@pytest.fixture
def new_page(browser: Browser, live_server: LiveServer) -> Iterator[Callable[..., Page]]:
    """Open pages in fresh browser contexts (no cookies), in Vietnamese; all closed afterwards."""
    contexts: list[BrowserContext] = []

    def open_page(viewport: ViewportSize | None = None) -> Page:
        context = browser.new_context(
            base_url=live_server.base_url, locale="vi-VN", viewport=viewport or DESKTOP
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A desktop-sized page in a fresh browser context."""
    return new_page()
