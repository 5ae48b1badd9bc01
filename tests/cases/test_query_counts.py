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
