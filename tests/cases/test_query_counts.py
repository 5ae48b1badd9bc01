"""A bounded number of queries per page, whatever the number of cases (no N+1 can come back)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa

from caseapp.extensions import db
from tests.cases.conftest import open_case


@contextlib.contextmanager
def counted(app) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _queries(app, client, path: str) -> int:
    with counted(app) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def test_list_and_detail_query_counts_do_not_grow(app, logged_in, worker_c1):
    client = logged_in(worker_c1)
    codes = [open_case(client, national_id="", full_name=f"Người Thử {i}") for i in range(2)]
    # The scope's commune names are read on the first list and then kept (one statement less).
    assert _queries(app, client, "/cases") == _queries(app, client, "/cases") + 1
    list_small = _queries(app, client, "/cases")
    detail_small = _queries(app, client, f"/cases/{codes[0]}")
    for i in range(2, 12):
        codes.append(open_case(client, national_id="", full_name=f"Người Thử {i}"))
    client.post(f"/cases/{codes[0]}/edit")  # more timeline entries on the first case
    assert _queries(app, client, "/cases") == list_small
    assert _queries(app, client, f"/cases/{codes[-1]}") == detail_small
    # The session with its account, the scope, the filters' choices, the count, the page, the
    # drug types, the bell and the audit row.
    assert list_small <= 12
    # The same and the case, which kinds of step it has (then one statement per kind present:
    # none yet), the timeline, duplicates and follow-ups.
    assert detail_small <= 13


def test_kept_commune_names_follow_communes_added_later(app, logged_in, officer):
    """The filter's commune names are kept per scope, but communes added afterwards (another
    province's, as ``caseapp demo --national`` loads) appear at once."""
    from caseapp.geo.models import Commune
    from caseapp.geo.services import load_communes

    client = logged_in(officer)
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Commune))
    page = client.get("/cases").get_data(as_text=True)
    assert page.count("<option value=") >= before
    with app.app_context():
        load_communes(1)  # Hà Nội
        db.session.commit()
        hanoi = db.session.scalars(
            sa.select(Commune).where(Commune.province_code == 1).order_by(Commune.code).limit(1)
        ).one()
        code, name = hanoi.code, hanoi.name
    assert f'value="{code}"' not in page
    page = client.get("/cases").get_data(as_text=True)
    assert f'<option value="{code}">{name}</option>' in page
