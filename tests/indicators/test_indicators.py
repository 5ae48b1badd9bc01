"""Every indicator on the hand-built province of ``conftest.province``, against values worked out
by hand from the story told there (runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from caseapp.errors import InvalidInputError
from caseapp.extensions import db
from caseapp.followups.models import FollowUp
from caseapp.indicators import periods, queries, report
from caseapp.indicators.report import Reintegration
from tests.conftest import C1, C2
from tests.indicators.conftest import TODAY


def _build(key: str, communes=None) -> report.Report:
    return report.build(periods.parse(key), communes=communes, today=TODAY, trend=3)


def _row(built: report.Report, code: int) -> report.Row:
    return next(r for r in built.communes if r.code == code)


def test_periods_follow_the_cut_off_days(app):
    with app.app_context():
        h1, year, cy = periods.parse("2026-h1"), periods.parse("2026"), periods.parse("2026-CY")
        assert (h1.start, h1.end) == (date(2025, 12, 15), date(2026, 6, 14))
        assert (year.start, year.end) == (date(2025, 12, 15), date(2026, 12, 14))
        assert (cy.start, cy.end) == (date(2026, 1, 1), date(2026, 12, 31))
        h2 = periods.parse("2026-H2")
        assert (h2.start, h2.end) == (date(2026, 6, 15), date(2026, 12, 14))
        assert h1.previous() == periods.parse("2025-H2")
        assert year.previous().key == "2025"
        assert periods.containing(date(2026, 12, 15), periods.PeriodKind.YEAR).key == "2027"
        assert periods.containing(date(2026, 6, 14), periods.PeriodKind.HALF_YEAR).key == "2026-H1"
        assert h1.label == "6 tháng đầu năm 2026 (15/12/2025 – 14/06/2026)"
        for bad in ("2026-H3", "26", "2019", "abc", "2026-h1; drop table cases"):
            with pytest.raises(InvalidInputError) as exc:
                periods.parse(bad)
            assert "không hợp lệ" in exc.value.errors[0].message


def test_configured_cut_off_days(app_factory):
    app = app_factory(REPORT_HALF_YEAR_END="06-30", REPORT_YEAR_END="12-31")
    with app.app_context():
        h1 = periods.parse("2026-H1")
        assert (h1.start, h1.end) == (date(2026, 1, 1), date(2026, 6, 30))


def test_managed_youth_by_category_and_commune(province):
    built = _build("2026")
    total = built.province
    # Managed in 2026: A B C D E G I (F closed in June 2025); opened in 2026: B G I.
    assert total["managed"] == 7
    assert total["opened"] == 3
    # Categories on 14/12/2026: users A B C G; in rehab I; post-rehab D; post-prison E.
    assert (total["cat_user"], total["cat_addicted"], total["cat_in_rehab"]) == (4, 0, 1)
    assert (total["cat_post_rehab"], total["cat_post_prison"]) == (1, 1)
    assert total["ua"] == 5
    assert total["pr"] == 2
    c1, c2 = _row(built, C1), _row(built, C2)
    assert (c1["managed"], c1["ua"], c1["pr"]) == (5, 4, 1)
    assert (c2["managed"], c2["ua"], c2["pr"]) == (2, 1, 1)
    # 2025 (15/12/2024 – 14/12/2025): A C D F managed as users (D's steps came later), E
    # post-prison.
    assert total.previous["managed"] == 5
    assert total.previous["ua"] == 4
    assert (c1.previous["ua"], c2.previous["ua"]) == (3, 1)
    assert (total.ua_change, c1.ua_change, c2.ua_change) == (1, 1, 0)


def test_support_shares_against_the_target(province):
    total = _build("2026").province
    # Users and addicts: A screened, B counselled + educated, G screened, I screened + assessed +
    # treated; C had nothing. 4 of 5 = 80 %, which does not beat the ">80 %" target.
    assert (total["ua_screened"], total["ua_assessed"], total["ua_counselled"]) == (3, 1, 1)
    assert (total["ua_educated"], total["ua_treated"], total["ua_supported"]) == (1, 1, 4)
    assert total.share("ua_supported", "ua") == pytest.approx(80.0)
    assert report.support_target(2026) == 80
    assert report.support_target(2030) == 90
    # After rehab or prison: D trained and referred for a loan, E in a job: 2 of 2.
    assert (total["pr_trained"], total["pr_job"], total["pr_other"]) == (1, 1, 1)
    assert total["pr_supported"] == 2
    assert total.share("pr_supported", "pr") == pytest.approx(100)


def test_reintegration_per_commune_and_status(province):
    built = _build("2026")
    assert built.province["reintegrated"] == 1
    c1, c2 = _row(built, C1), _row(built, C2)
    assert (c1["reintegrated"], c2["reintegrated"]) == (0, 1)
    # 2026 is not over on 28/11/2026: C1 has nobody in work (D trains), so it is at risk.
    assert c2.reintegration(built.period, TODAY) is Reintegration.MET
    assert c1.reintegration(built.period, TODAY) is Reintegration.AT_RISK
    # The first half ended on 14/06/2026, before E's certification: neither commune met it.
    first_half = _build("2026-H1")
    assert first_half.province["reintegrated"] == 0
    assert first_half.province["managed"] == 6
    assert {r.reintegration(first_half.period, TODAY) for r in first_half.communes} == {
        Reintegration.NOT_MET
    }


def test_commune_alert_needs_a_population(province):
    built = _build("2026")
    c1, c2 = _row(built, C1), _row(built, C2)
    # C1: 4 users and addicts for 800 residents = 50 per 10,000, the threshold itself.
    assert c1.per_10000() == pytest.approx(50.0)
    assert c1.alert(50) is True
    assert c1.alert(51) is False
    assert c2.per_10000() is None
    assert c2.alert(50) is None
    # A former district or the province misses a figure when one of its communes does.
    assert built.province.per_10000() is None


def test_sex_and_age_bands(province):
    total = _build("2026").province
    ua = {key: counts["ua"] for key, counts in total.breakdown.items() if counts["ua"]}
    # Ages reached in 2026: A 16, C 14, G 15, B 26, I 27 (D 28 and E 31 are post-rehab/prison).
    assert ua == {
        ("male", "12-15"): 1,
        ("male", "16-17"): 1,
        ("male", "18-30"): 1,
        ("female", "12-15"): 1,
        ("female", "18-30"): 1,
    }
    assert total.breakdown[("female", "18-30")]["reintegrated"] == 1  # E, 31, in the last band
    assert total.breakdown[("male", "18-30")]["pr_supported"] == 1  # D


def test_rehab_training_jobs_loans(province):
    total = _build("2026").province
    assert total["rehab_started_voluntary_community"] == 1
    assert total["rehab_completed_voluntary_community"] == 1
    assert total["rehab_running_voluntary_community"] == 0
    assert (total["rehab_started_methadone"], total["rehab_running_methadone"]) == (1, 1)
    assert total["rehab_started_compulsory"] == 0
    assert total["relapses"] == 1
    assert (total["trainings_started"], total["trainings_completed"]) == (1, 0)
    assert (total["jobs_started"], total["jobs_running"]) == (1, 1)
    assert (total["loans_referred"], total["loans_requested_vnd"]) == (1, 50_000_000)
    assert (total["loans_approved"], total["loans_approved_vnd"]) == (1, 40_000_000)
    assert (total["loans_disbursed"], total["loans_disbursed_vnd"]) == (1, 40_000_000)
    assert total["loans_refused"] == 0
    # The first half saw D's rehab start but none of the loan.
    first_half = _build("2026-H1").province
    assert first_half["rehab_started_voluntary_community"] == 1
    assert first_half["loans_referred"] == 0
    assert first_half["rehab_completed_voluntary_community"] == 0


def test_follow_ups_due_in_the_period(province):
    total = _build("2026").province
    period = periods.parse("2026")
    rows = db.session.scalars(
        sa.select(FollowUp).where(FollowUp.due_on.between(period.start, period.end))
    ).all()
    live = [r for r in rows if r.status != "cancelled"]
    assert live, "the rehab, post-rehab and job plans have follow-ups in 2026"
    assert total["follow_ups_due"] == len(live)
    assert total["follow_ups_on_time"] == sum(r.status == "done" and not r.is_late for r in live)
    assert total["follow_ups_late"] == sum(r.status == "done" and r.is_late for r in live)
    assert total["follow_ups_overdue"] == sum(
        r.status == "pending" and r.due_on < TODAY for r in live
    )


def test_scope_limits_every_figure(province):
    only_c2 = sa.select(sa.literal(C2))
    built = _build("2026", communes=only_c2)
    assert [r.code for r in built.communes] == [C2]
    assert built.province["managed"] == 2
    assert built.province["reintegrated"] == 1
    assert built.province["loans_referred"] == 0  # D's loan is in C1


def test_a_period_without_data_gives_zeros(province):
    built = _build("2021")
    assert built.is_empty
    assert not built.is_provisional
    assert set(built.province.counts.values()) == {0}
    assert built.province.share("ua_supported", "ua") is None
    assert len(built.communes) == 104  # fixed geography: every commune, with zeros


def test_trend_lists_the_periods_before(province):
    built = _build("2026")
    assert [p.key for p, _c in built.trend] == ["2024", "2025", "2026"]
    assert [c["ua"] for _p, c in built.trend] == [1, 4, 5]  # 2024: only F (E is post-prison)


def test_cube_groups_without_loops(province):
    cube = queries.cube(periods.parse("2026"))
    assert sum(c["managed"] for c in cube.values()) == 7
    assert {key[0] for key in cube} == {C1, C2}


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in counts.items() if value}


def test_figures_read_back_from_the_cache_are_the_computed_ones(province):
    """The dashboard keeps per-commune totals, the scope's sex × age breakdown and the trend
    totals, not the whole cube: what it reads back must be exactly what it computed."""
    from datetime import timedelta

    live = _build("2026")
    kept = report.build(periods.parse("2026"), today=TODAY, trend=3, max_age=timedelta(hours=1))
    db.session.commit()
    reused = report.build(periods.parse("2026"), today=TODAY, trend=3, max_age=timedelta(hours=1))
    assert reused.computed_at == kept.computed_at  # read back, not computed again
    for built in (kept, reused):
        for mine, theirs in zip(built.communes, live.communes, strict=True):
            assert mine.code == theirs.code
            assert _nonzero(mine.counts) == _nonzero(theirs.counts)
            assert _nonzero(mine.previous) == _nonzero(theirs.previous)
            assert _nonzero(mine.activity) == _nonzero(theirs.activity)
        assert _nonzero(built.province.counts) == _nonzero(live.province.counts)
        assert _nonzero(built.province.previous) == _nonzero(live.province.previous)
        breakdown = {k: _nonzero(v) for k, v in built.province.breakdown.items() if _nonzero(v)}
        expected = {k: _nonzero(v) for k, v in live.province.breakdown.items() if _nonzero(v)}
        assert breakdown == expected
        assert expected  # the fixture's youth fall in several sex and age bands
        assert [(p.key, _nonzero(c)) for p, c in built.trend] == [
            (p.key, _nonzero(c)) for p, c in live.trend
        ]
    assert live.province.counts["ua"] > 0


def test_downloads_from_kept_figures_equal_those_computed_fresh(province):
    """The downloads reuse the figures the dashboard keeps (here kept by the refresh button):
    the workbook and the anonymized export made from them are cell for cell the fresh ones."""
    import io
    from datetime import timedelta

    from openpyxl import load_workbook

    from caseapp.db import utcnow
    from caseapp.indicators import export, store, workbook

    period, hour = periods.parse("2026"), timedelta(hours=1)
    fresh = report.build(period, today=TODAY)
    store.refresh([period, period.previous()], None, TODAY)
    db.session.commit()
    refreshed = utcnow()
    kept = report.build(period, today=TODAY, max_age=hour)
    assert kept.computed_at <= refreshed  # read back, not computed again
    kept.generated_at, kept.computed_at = fresh.generated_at, fresh.computed_at

    def cells(built: report.Report) -> dict[str, list[tuple[object, ...]]]:
        book = load_workbook(io.BytesIO(workbook.report_workbook(built)))
        return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}

    assert cells(kept) == cells(fresh)
    districts = [row for row in kept.districts if any(_nonzero(c) for c in row.breakdown.values())]
    assert districts  # the breakdown by sex and age of the former districts is read back too
    assert kept.province.previous["ua"] == fresh.province.previous["ua"] > 0

    def shown(found: list[export.Table]) -> list[tuple[str, str]]:
        return [
            (t.code, t.shown(key, c.key)) for t in found for key, *_ in t.rows for c in t.columns
        ]

    assert shown(export.tables(period, today=TODAY, threshold=5, max_age=hour)) == shown(
        export.tables(period, today=TODAY, threshold=5)
    )
