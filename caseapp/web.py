"""Request plumbing shared by every page: sessions, locale, headers, errors, template helpers."""

from __future__ import annotations

import secrets
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from flask import Flask, current_app, g, has_request_context, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter
from werkzeug.wrappers import Response

from caseapp import audit, authz
from caseapp.config import Settings
from caseapp.errors import AnonymisedCaseError
from caseapp.extensions import db, login_manager
from caseapp.keys import DecryptionError
from caseapp.users.models import LOCALES, Role, ScopeKind, User

SESSION_TOKEN_KEY = "sid"  # noqa: S105 -- the name of a session key, not a secret
# Dates and numbers look the same in both languages: dd/mm/yyyy and 1.234.567 (Vietnamese usage).
DATE_FORMAT = "dd/MM/yyyy"
DATETIME_FORMAT = "dd/MM/yyyy HH:mm"
NUMBER_LOCALE = "vi"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

ROLE_LABELS = {
    Role.WORKER: _l("Cán bộ cấp xã"),
    Role.OFFICER: _l("Cán bộ phụ trách (cấp tỉnh)"),
    Role.SUPERVISOR: _l("Lãnh đạo, giám sát"),
    Role.ADMIN: _l("Quản trị hệ thống"),
}
SCOPE_LABELS = {
    ScopeKind.COMMUNES: _l("Một số xã, phường"),
    ScopeKind.FORMER_DISTRICT: _l("Một huyện cũ"),
    ScopeKind.PROVINCE: _l("Toàn tỉnh"),
    ScopeKind.NONE: _l("Không (quản trị hệ thống)"),
}
LOCALE_LABELS = {"vi": "Tiếng Việt", "en": "English"}


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: Any
    # Beyond the policy: is the entry of use to this user? (None: whenever the policy allows.)
    wanted: Callable[[Any], bool] | None = None


# The menu: each entry shows only to those the policy lets through to its endpoint.
NAV_ITEMS = (
    NavItem("main.index", _l("Trang chủ")),
    NavItem("followups.todo", _l("Việc cần làm")),
    NavItem("cases.index", _l("Hồ sơ")),
    NavItem("cases.create", _l("Mở hồ sơ mới")),
    NavItem("cases.duplicates", _l("Hồ sơ có thể trùng")),
    NavItem("workflow.approvals", _l("Chờ phê duyệt")),
    NavItem("followups.overdue", _l("Theo dõi quá hạn")),
    NavItem("indicators.dashboard", _l("Chỉ tiêu")),
    NavItem("admin.users", _l("Tài khoản")),
    NavItem("admin.communes", _l("Xã, phường")),
    NavItem("workflow.rule_sets", _l("Quy định")),
    NavItem("admin.audit_trail", _l("Nhật ký truy cập")),
    NavItem("admin.retention", _l("Thời hạn lưu trữ")),
    # A province-wide officer already sees every file.
    NavItem("break_glass.start", _l("Truy cập khẩn cấp"), authz.offers_break_glass),
    NavItem("break_glass.review", _l("Rà soát truy cập khẩn cấp")),
    NavItem("scheduler.status", _l("Lịch chạy tự động")),
)


def settings() -> Settings:
    """The running app's settings."""
    value: Settings = current_app.extensions["caseapp.settings"]
    return value


def audit_context() -> audit.AuditContext:
    """What the audit trail records about the current request."""
    return audit.AuditContext(request_id=g.get("request_id"))


def actor() -> User:
    """The signed-in user, for passing to services (which never read request globals)."""
    user: User = current_user._get_current_object()
    return user


def select_locale() -> str:
    """The signed-in user's language, or the one picked on the sign-in page, else Vietnamese."""
    if not has_request_context():  # CLI and scheduler: the deployment's language
        return settings().DEFAULT_LOCALE
    if current_user and current_user.is_authenticated:
        return str(current_user.locale)
    chosen = session.get("lang")
    return chosen if chosen in LOCALES else settings().DEFAULT_LOCALE


def _load_user(user_id: str) -> User | None:
    from caseapp.auth import services

    token = session.get(SESSION_TOKEN_KEY)
    if not token or not user_id.isdigit():
        return None
    user = services.resume_session(settings(), token, int(user_id))
    if db.session.dirty:
        # Loading the user is the first thing a request does, so this commits only the session's
        # last-seen time (at most once a minute) or its expiry, even if the request writes nothing.
        db.session.commit()
    if user is None:
        session.clear()
    return user


def _begin_request() -> None:
    g.request_id = secrets.token_hex(8)


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # same-origin, not no-referrer: Flask-WTF's CSRF check over HTTPS requires a same-site Referer.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not settings().LOCAL_HTTP:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint not in authz.PUBLIC_ENDPOINTS:
        # Pages may show identities: no browser or proxy keeps a copy.
        response.headers["Cache-Control"] = "no-store"
    return response


def _end_request(exc: BaseException | None) -> None:
    if exc is not None:
        db.session.rollback()


ERROR_TITLES = {
    400: _l("Yêu cầu không hợp lệ"),
    403: _l("Không có quyền truy cập"),
    404: _l("Không tìm thấy trang"),
    405: _l("Thao tác không được phép"),
    413: _l("Dữ liệu gửi lên quá lớn"),
    429: _l("Quá nhiều yêu cầu"),
    500: _l("Hệ thống gặp lỗi"),
}
ERROR_MESSAGES = {
    400: _l("Yêu cầu gửi lên không đúng. Hãy quay lại và thử lại."),
    403: _l("Tài khoản của bạn không được phép xem trang này."),
    404: _l("Trang bạn tìm không có hoặc đã bị chuyển đi."),
    405: _l("Trang này không nhận thao tác đó."),
    413: _l("Dữ liệu hoặc tệp gửi lên vượt quá giới hạn cho phép."),
    429: _l("Bạn đã gửi quá nhiều yêu cầu. Hãy chờ một lát rồi thử lại."),
    500: _l("Đã có lỗi ngoài ý muốn. Dữ liệu chưa lưu đã được hủy; hãy thử lại sau."),
}


def render_error(code: int, message: Any = None) -> ResponseReturnValue:
    """The Vietnamese error page: a title, a sentence, a way back; never a stack trace."""
    return (
        render_template(
            "errors/error.html",
            code=code,
            title=ERROR_TITLES.get(code, ERROR_TITLES[500]),
            message=message or ERROR_MESSAGES.get(code, ERROR_MESSAGES[500]),
        ),
        code,
    )


def _handle_http_error(exc: HTTPException) -> ResponseReturnValue:
    code = exc.code or 500
    if code == 403 and current_user.is_authenticated:
        _audit_denied()
    if code not in ERROR_TITLES:
        code = 400 if 400 <= code < 500 else 500
    return render_error(code)


def _audit_denied() -> None:
    _audit_on_its_own("access_denied", "denied", actor(), "a refused request")


def _handle_csrf_error(_exc: CSRFError) -> ResponseReturnValue:
    return render_error(
        400,
        _("Biểu mẫu đã hết hạn hoặc không hợp lệ (mã bảo vệ CSRF). Hãy tải lại trang và gửi lại."),
    )


def _handle_anonymised(exc: AnonymisedCaseError) -> ResponseReturnValue:
    db.session.rollback()
    return (
        render_template(
            "errors/anonymised.html", code=exc.code, anonymised_on=format_day(exc.anonymised_at)
        ),
        409,
    )


def _handle_unexpected(exc: Exception) -> ResponseReturnValue:
    if isinstance(exc, HTTPException):
        return _handle_http_error(exc)
    db.session.rollback()
    # Type, request id and code locations only: messages and arguments may carry submitted values.
    frames = " < ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}"
        for f in reversed(traceback.extract_tb(exc.__traceback__)[-6:])
    )
    current_app.logger.error(
        "unhandled %s in %s (request %s) at %s",
        type(exc).__name__,
        request.endpoint,
        g.get("request_id"),
        frames,
    )
    if isinstance(exc, DecryptionError):
        _audit_integrity_failure()
    return render_error(500)


def _audit_integrity_failure() -> None:
    """A stored value failed its integrity check (altered, moved or keyed elsewhere): the
    request has failed and rolled back, so the event is written in a transaction of its own."""
    who = actor() if current_user.is_authenticated else None
    _audit_on_its_own("integrity_failure", "error", who, "an integrity failure")


def _audit_on_its_own(action: str, outcome: str, who: User | None, what: str) -> None:
    """Audit an event of the endpoint in a transaction of its own (the request's is rolled
    back); if even that fails, log it: the page the user is owed must still be sent."""
    try:
        db.session.rollback()
        audit.record(
            action,
            actor=who,
            target_type="endpoint",
            target_id=request.endpoint,
            outcome=outcome,
            context=audit_context(),
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        current_app.logger.exception("could not audit %s", what)


def today() -> date:
    """Today in the deployment's time zone (Asia/Ho_Chi_Minh): the day dates are checked against."""
    return datetime.now(ZoneInfo(settings().TIMEZONE)).date()


def format_day(value: date | datetime | None) -> str:
    """dd/mm/yyyy (in Asia/Ho_Chi_Minh for timestamps)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str(format_datetime(value, DATE_FORMAT))
    return str(format_date(value, DATE_FORMAT))


def format_moment(value: datetime | None) -> str:
    """dd/mm/yyyy HH:mm in Asia/Ho_Chi_Minh."""
    return "" if value is None else str(format_datetime(value, DATETIME_FORMAT))


def format_number(value: float | None) -> str:
    """1.234.567 with Vietnamese separators."""
    if value is None:
        return ""
    if isinstance(value, int):  # the common case, 30 times faster than Babel: 1.234.567
        return f"{value:,}".replace(",", ".")
    return str(format_decimal(value, locale=NUMBER_LOCALE))


def _nav() -> list[NavItem]:
    items = []
    for item in NAV_ITEMS:
        decision = authz.endpoint_decision(current_app, item.endpoint)
        if not isinstance(decision, authz.Action) or not authz.can(current_user, decision):
            continue
        if item.wanted is None or item.wanted(current_user):
            items.append(item)
    return items


def _unread() -> int:
    """The bell's count: unread reminders (one query per page, for people who get them)."""
    if not authz.can(current_user, authz.Action.EDIT_CASES):
        return 0
    from caseapp.followups.queries import unread_count  # a feature's query, used by the layout

    return unread_count(current_user)


def _template_context() -> dict[str, Any]:
    return {
        "current_locale": str(get_locale() or "vi"),
        "nav_items": _nav() if current_user.is_authenticated else [],
        "unread_reminders": _unread() if current_user.is_authenticated else 0,
        "role_labels": ROLE_LABELS,
        "scope_labels": SCOPE_LABELS,
        "locale_labels": LOCALE_LABELS,
        "Action": authz.Action,
        "can": authz.can,
    }


MAX_ID = 2**31 - 1  # the largest key PostgreSQL's integer holds


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive database id; anything larger is simply not found (404)."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def small_int(text: object, *, default: int | None = None, limit: int = MAX_ID) -> int | None:
    """An ASCII whole number from a query or form value within ``limit``, else ``default``."""
    raw = str(text or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(limit)):
        return default
    value = int(raw)
    return value if value <= limit else default


def page_arg() -> int:
    """The ``page`` query argument, bounded (a huge page number is simply page 1)."""
    return small_int(request.args.get("page"), default=1, limit=100_000) or 1


def init_app(app: Flask) -> None:
    """Wire the hooks, handlers and template helpers."""
    app.url_map.converters["id"] = IdConverter
    login_manager.user_loader(_load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Vui lòng đăng nhập để tiếp tục.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # server-side sessions do this job
    app.before_request(_begin_request)
    app.before_request(authz.enforce)
    app.after_request(_security_headers)
    app.teardown_request(_end_request)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(AnonymisedCaseError, _handle_anonymised)
    app.register_error_handler(Exception, _handle_unexpected)
    app.context_processor(_template_context)
    app.add_template_filter(format_day, "day")
    app.add_template_filter(format_moment, "moment")
    app.add_template_filter(format_number, "number")
