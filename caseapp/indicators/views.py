"""The indicators dashboard, the printable report, the report downloads and the anonymized
statistics export. Supervisors and officers see the plan's figures for their scope; nothing here
shows an identity or a single person's record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from wtforms import SelectChoice

from caseapp import audit, authz, web
from caseapp.cases.models import CATEGORY_LABELS, PHASE_LABELS, Phase
from caseapp.dates import local_day
from caseapp.errors import InvalidInputError
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.geo.services import province_name
from caseapp.indicators import (
    charts,
    document,
    export,
    periods,
    report,
    store,
    workbook,
)
from caseapp.indicators.periods import Period, PeriodKind
from caseapp.users.models import User
from caseapp.workflow.models import REHAB_FORM_LABELS

bp = Blueprint("indicators", __name__, url_prefix="/indicators")

OFFICIAL_LOCALE = "vi"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class ScopeError(LookupError):
    """A commune that does not exist or lies outside the user's scope."""


def _period(raw: str | None) -> Period:
    if not raw:
        return periods.containing(local_day(), PeriodKind.YEAR)
    return periods.parse(raw)


def _scope(user: User, raw: str | None) -> tuple[sa.Select[Any], Commune | None]:
    codes = authz.scope_commune_codes(user)
    if not raw:
        return codes, None
    commune = db.session.get(Commune, int(raw)) if raw.isdigit() and len(raw) <= 9 else None
    if commune is None or not authz.in_scope(user, commune.code):
        raise ScopeError(
            _("Không có xã, phường mã “%(code)s” trong phạm vi của bạn.", code=raw[:12])
        )
    return sa.select(Commune.code).where(Commune.code == commune.code), commune


def _scope_name(user: User, commune: Commune | None) -> str | None:
    if commune is not None:
        return commune.name
    return None


def _context(**extra: Any) -> dict[str, Any]:
    today = local_day()
    return {
        "period_choices": periods.choices(today),
        "communes": db.session.execute(
            sa.select(Commune.code, Commune.name)
            .where(Commune.code.in_(authz.scope_commune_codes(web.actor())))
            .order_by(Commune.name)
        ).all(),
        "today": today,
        "phase_labels": PHASE_LABELS,
        "phases": list(Phase),
        "category_labels": CATEGORY_LABELS,
        "form_labels": REHAB_FORM_LABELS,
        "sex_labels": report.SEX_LABELS,
        "band_labels": report.AGE_BAND_LABELS,
        "sex_band_keys": report.sex_band_keys(),
        "reintegration_labels": report.REINTEGRATION_LABELS,
        "Reintegration": report.Reintegration,
        **extra,
    }


def _load(trend: int) -> tuple[report.Report | None, dict[str, Any], int]:
    """The report the query string asks for, or the error to show (and its status)."""
    user = web.actor()
    args = {"period": request.args.get("period", ""), "commune": request.args.get("commune", "")}
    try:
        period = _period(args["period"])
        codes, commune = _scope(user, args["commune"])
    except InvalidInputError as exc:
        return None, {"error": exc.errors[0].message, "args": args}, 400
    except ScopeError as exc:
        return None, {"error": str(exc), "args": args}, 404
    built = report.build(
        period,
        communes=codes,
        scope_name=_scope_name(user, commune),
        today=local_day(),
        trend=trend,
        max_age=_max_age(),  # the figures the dashboard shows, when as fresh as it needs them
    )
    return built, {"args": args, "commune": commune, "scope_codes": codes}, 200


def _max_age() -> timedelta:
    return timedelta(minutes=web.settings().INDICATOR_CACHE_MINUTES)


@dataclass(frozen=True)
class Heading:
    """What the dashboard shows above its figures (the figures may come rendered from the cache)."""

    scope_name: str
    period: Period
    previous: Period
    is_provisional: bool
    computed_at: datetime


@bp.route("/")
@authz.requires(authz.Action.VIEW_INDICATORS)
def dashboard() -> ResponseReturnValue:
    """The figures are computed at most every INDICATOR_CACHE_MINUTES, and rendered once for
    each period, scope and language in between (a national scope has 3,321 communes)."""
    max_age = _max_age()
    user, today = web.actor(), local_day()
    args = {"period": request.args.get("period", ""), "commune": request.args.get("commune", "")}
    try:
        period = _period(args["period"])
        codes, commune = _scope(user, args["commune"])
    except InvalidInputError as exc:
        extra = {"error": exc.errors[0].message, "args": args}
        return render_template("indicators/dashboard.html", **_context(**extra)), 400
    except ScopeError as exc:
        extra = {"error": str(exc), "args": args}
        return render_template("indicators/dashboard.html", **_context(**extra)), 404
    key, language = store.scope_key(codes), str(get_locale() or OFFICIAL_LOCALE)
    kept = store.page(period, key, language, today=today, max_age=max_age)
    if kept is not None:
        figures, computed_at = Markup(kept[0]), kept[1]  # noqa: S704 -- our own rendered page
    else:
        built = report.build(
            period,
            communes=codes,
            scope_name=_scope_name(user, commune),
            today=today,
            trend=report.TREND_PERIODS,
            max_age=max_age,
        )
        pipeline, counted_at = store.pipeline(codes, today=today, max_age=max_age, key=key)
        computed_at = min(built.computed_at, counted_at)
        html = render_template(
            "indicators/_figures.html",
            **_context(
                report=built,
                pipeline=pipeline,
                charts=_charts(built, pipeline),
                commune_limit=DASHBOARD_COMMUNES,
                args=args,
            ),
        )
        figures = Markup(html)  # noqa: S704 -- rendered by Jinja with autoescape
        store.keep_page(period, key, language, html, computed_at, today)
    db.session.commit()  # the figures and the page kept for the next views
    head = Heading(
        scope_name=_scope_name(user, commune) or province_name(web.settings().PROVINCE),
        period=period,
        previous=period.previous(),
        is_provisional=period.end >= today,
        computed_at=computed_at,
    )
    return render_template(
        "indicators/dashboard.html",
        **_context(head=head, figures=figures, args=args, commune=commune),
    )


RANKING_LIMIT = 20
DASHBOARD_COMMUNES = 150  # a larger scope lists the communes needing help most; downloads list all


def _charts(built: report.Report, pipeline: dict[str, int]) -> dict[str, charts.Chart]:
    trend = built.trend
    support = charts.columns(
        _("Tỷ lệ người sử dụng, người nghiện được hỗ trợ"),
        [
            (
                p.short_label,
                report.share(c["ua_supported"], c["ua"]),
                percent(report.share(c["ua_supported"], c["ua"])),
            )
            for p, c in trend
        ],
        top=100,
        targets=[
            (_("Chỉ tiêu 2025: >80%"), report.SUPPORT_TARGET_2025),
            (_("Chỉ tiêu 2030: >90%"), report.SUPPORT_TARGET_2030),
        ],
    )
    managed = charts.columns(
        _("Người sử dụng, người nghiện có hồ sơ quản lý"),
        [(p.short_label, float(c["ua"]), web.format_number(c["ua"])) for p, c in trend],
    )
    stages = charts.rows(
        _("Hồ sơ đang mở theo giai đoạn"),
        [
            (
                str(PHASE_LABELS[phase]),
                float(pipeline.get(phase.value, 0)),
                web.format_number(pipeline.get(phase.value, 0)),
                "primary",
            )
            for phase in Phase
        ],
    )
    ranked = built.ranking()
    if len(ranked) > RANKING_LIMIT + 5:
        ranked = ranked[:RANKING_LIMIT]
    target = built.target

    def tone(value: float | None) -> str:
        if value is None:
            return "muted"
        return "ok" if value > target else "warn"

    ranking = charts.rows(
        _("Xếp hạng xã, phường theo tỷ lệ được hỗ trợ (thấp nhất trước)"),
        [
            (
                row.name,
                row.share("ua_supported", "ua"),
                percent(row.share("ua_supported", "ua")),
                tone(row.share("ua_supported", "ua")),
            )
            for row in ranked
        ],
        top=100,
        target=(_("Chỉ tiêu >%(n)d%%", n=target), float(target)),
    )
    return {"support": support, "managed": managed, "stages": stages, "ranking": ranking}


@bp.route("/refresh", methods=["POST"])
@authz.requires(authz.Action.VIEW_INDICATORS)
def refresh() -> ResponseReturnValue:
    """Recompute the dashboard's figures now (they are otherwise reused for a few minutes)."""
    args = {"period": request.form.get("period", ""), "commune": request.form.get("commune", "")}
    user = web.actor()
    try:
        period = _period(args["period"])
        codes, _commune = _scope(user, args["commune"])
    except InvalidInputError as exc:
        return render_template(
            "indicators/dashboard.html", **_context(error=exc.errors[0].message, args=args)
        ), 400
    except ScopeError as exc:
        return render_template(
            "indicators/dashboard.html", **_context(error=str(exc), args=args)
        ), 404
    store.refresh([period, period.previous()], codes, local_day())
    db.session.commit()
    return redirect(url_for("indicators.dashboard", period=period.key, commune=args["commune"]))


@bp.route("/report")
@authz.requires(authz.Action.VIEW_INDICATORS)
def printable() -> ResponseReturnValue:
    built, extra, status = _load(trend=0)
    if built is None:
        return render_template("indicators/dashboard.html", **_context(**extra)), status
    return render_template("indicators/report.html", **_context(report=built, **extra))


def _download(kind: str) -> ResponseReturnValue:
    with force_locale(OFFICIAL_LOCALE):  # the official report is in Vietnamese
        built, extra, status = _load(trend=0)
        if built is not None:
            if kind == "xlsx":
                body, mimetype = workbook.report_workbook(built), XLSX
            else:
                body, mimetype = document.report_document(built), DOCX
    if built is None:
        return render_template("indicators/dashboard.html", **_context(**extra)), status
    audit.record(
        "report_downloaded",
        actor=web.actor(),
        target_type="report",
        target_id=built.period.key,
        details={"format": kind, "commune": extra["args"]["commune"] or None},
        context=web.audit_context(),
    )
    db.session.commit()
    name = f"bao-cao-{built.period.key}.{kind}"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/report.xlsx")
@authz.requires(authz.Action.VIEW_INDICATORS)
def report_xlsx() -> ResponseReturnValue:
    return _download("xlsx")


@bp.route("/report.docx")
@authz.requires(authz.Action.VIEW_INDICATORS)
def report_docx() -> ResponseReturnValue:
    return _download("docx")


@bp.route("/export", methods=["GET", "POST"])
@authz.requires(authz.Action.EXPORT_STATISTICS)
def export_statistics() -> ResponseReturnValue:
    """Anonymized statistics (CSV or XLSX): fixed tables, small cells suppressed, audited."""
    form = export.ExportForm()
    form.period.choices = [SelectChoice(p.key, p.label) for p in periods.choices(local_day())]
    if not form.is_submitted():
        form.period.data = periods.containing(local_day(), PeriodKind.YEAR).key
    if not form.validate_on_submit():
        threshold = web.settings().STATISTICS_MIN_CELL
        return render_template("indicators/export.html", form=form, threshold=threshold), (
            400 if form.is_submitted() else 200
        )
    period = periods.parse(form.period.data or "")
    fmt = form.format.data or "csv"
    threshold = web.settings().STATISTICS_MIN_CELL
    with force_locale(OFFICIAL_LOCALE):
        tables = export.tables(period, today=local_day(), threshold=threshold, max_age=_max_age())
    audit.record(
        "statistics_exported",
        actor=web.actor(),
        target_type="statistics",
        target_id=period.key,
        details={"format": fmt, "threshold": threshold, "tables": len(tables)},
        context=web.audit_context(),
    )
    db.session.commit()
    name = f"thong-ke-an-danh-{period.key}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "xlsx":
        with force_locale(OFFICIAL_LOCALE):
            body = export.to_xlsx(tables, period)
        return Response(body, mimetype=XLSX, headers=headers)
    return Response(
        stream_with_context(_in_vietnamese(export.to_csv(tables, period))),
        mimetype="text/csv; charset=utf-8",
        headers=headers,
    )


def _in_vietnamese(chunks: Iterator[str]) -> Iterator[str]:
    with force_locale(OFFICIAL_LOCALE):
        yield from chunks


def percent(value: float | None) -> str:
    """82,5 % (one decimal, Vietnamese comma), or an en dash when there is nobody to count."""
    if value is None:
        return "–"
    return f"{value:.1f}".replace(".", ",") + " %"


bp.add_app_template_filter(percent, "percent")
