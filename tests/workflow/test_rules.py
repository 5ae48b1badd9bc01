"""Rule sets: the regime in force on a date, the switch on 01/07/2026, and edits with history."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from caseapp.extensions import db
from caseapp.workflow import services
from caseapp.workflow.models import RuleSet, RuleSetRevision
from caseapp.workflow.rules import SEEDED, Rules
from tests.conftest import login


def test_both_regimes_seeded_and_valid(ctx):
    rule_sets = db.session.scalars(sa.select(RuleSet).order_by(RuleSet.effective_from)).all()
    assert [r.code for r in rule_sets] == [s["code"] for s in SEEDED]
    for rule_set in rule_sets:
        Rules.from_params(rule_set.params)


@pytest.mark.parametrize(
    ("day", "code"),
    [
        (date(2024, 5, 1), "law-73-2021"),
        (date(2026, 6, 30), "law-73-2021"),
        (date(2026, 7, 1), "law-120-2025"),
        (date(2030, 1, 1), "law-120-2025"),
    ],
)
def test_rule_set_on_each_side_of_the_switch(ctx, day, code):
    assert services.rule_set_on(day).code == code


def test_no_rule_set_before_the_first(ctx):
    from caseapp.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        services.rule_set_on(date(2015, 1, 1))


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"voluntary_min_months": 13}, "voluntary_min_months"),
        ({"adult_age": "18"}, "adult_age"),
        ({"loan_max_vnd": -1}, "loan_max_vnd"),
    ],
)
def test_rules_refuse_bad_parameters(params, bad):
    with pytest.raises(ValueError, match=bad):
        Rules.from_params({**SEEDED[0]["params"], **params})


def test_dates_helpers():
    assert services.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert services.add_months(date(2025, 11, 15), 14) == date(2027, 1, 15)
    # Friday 5 June 2026 + 5 working days = Friday 12 June.
    assert services.add_working_days(date(2026, 6, 5), 5) == date(2026, 6, 12)


def test_admin_edits_rules_with_history_and_audit(app, logged_in, admin):
    client = logged_in(admin)
    with app.app_context():
        rule_set = db.session.scalars(sa.select(RuleSet).where(RuleSet.code == "law-73-2021")).one()
        params = dict(rule_set.params)
    page = client.get(f"/admin/rules/{rule_set.id}").get_data(as_text=True)
    assert "Cai tự nguyện: tối thiểu (tháng)" in page
    bad = client.post(
        f"/admin/rules/{rule_set.id}", data={**params, "voluntary_min_months": "20"}
    ).get_data(as_text=True)
    assert "Giá trị tối thiểu lớn hơn tối đa." in bad
    response = client.post(
        f"/admin/rules/{rule_set.id}", data={**params, "voluntary_max_months": "18"}
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(RuleSet, rule_set.id).params["voluntary_max_months"] == 18
        revision = db.session.scalars(sa.select(RuleSetRevision)).one()
        assert revision.before["voluntary_max_months"] == 12
        assert revision.after["voluntary_max_months"] == 18
    assert "12 → 18" in client.get(f"/admin/rules/{rule_set.id}").get_data(as_text=True)


def test_workers_cannot_edit_rules(app, make_account):
    from caseapp.users.models import Role

    client = app.test_client()
    login(client, make_account(Role.WORKER))
    assert client.get("/admin/rules").status_code == 403
    assert client.post("/admin/rules/1", data={}).status_code == 403
